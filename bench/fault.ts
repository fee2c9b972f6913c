/**
 * Page fault throughput (SPEC §8, issue #4 acceptance 8), on the bundled FVP platform booted as `run` boots it
 * (the real buddy allocator, tag storage reservation through the allocator's arch hooks, the process layer):
 *   - tagged first touch of 1 GiB (write faults in a PROT_MTE mapping: allocation + tag block reservation)
 *   - untagged touch of 1 GiB, mprotect(PROT_MTE), and touch again (PAGE_METADATA_NONE faults, §5.3)
 * Each rate is the best of a few rounds (the first round includes JIT warm-up), in emulated faults per second.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VM_MTE, VM_READ, VM_WRITE } from '../src/process/mm.js';
import { FaultResult } from '../src/process/fault.js';
import { bootForRun } from '../src/scenario/runtime_boot.js';
import { buildRuntime } from '../src/scenario/runtime_machine.js';
import type { Bench, BenchResult } from './index.js';

const GiB = 2 ** 30;
const ROUNDS = 3;

function rate(name: string, events: number, ms: number): BenchResult {
  const perSec = (events / ms) * 1000;
  return { name, rate: `${(perSec / 1e6).toFixed(2)} M faults/s (${events} faults in ${ms.toFixed(0)} ms)` };
}

const bench: Bench = async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dt = path.resolve(here, '../../dts/fvp-base-revc-mte.dts');
  const parts = await bootForRun({ dt });
  const { layer } = buildRuntime(parts, { fixMetadataNone: true, fixPfnTags: true });
  const p = layer.createProcess('bench');
  const pages = GiB / layer.port.pageSize;
  const best = { tagged: Infinity, untagged: Infinity, mprotect: Infinity, mdnone: Infinity };
  const now = (): number => performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    let v = layer.mmap(p, `t${r}`, GiB, VM_READ | VM_WRITE | VM_MTE, false, false)!;
    let t = now();
    if (layer.touch(p, v.start, v.end, true).result !== FaultResult.Ok) throw new Error('tagged touch failed');
    best.tagged = Math.min(best.tagged, now() - t);
    layer.munmap(p, v.start, v.end);

    v = layer.mmap(p, `u${r}`, GiB, VM_READ | VM_WRITE, false, false)!;
    t = now();
    if (layer.touch(p, v.start, v.end, true).result !== FaultResult.Ok) throw new Error('untagged touch failed');
    best.untagged = Math.min(best.untagged, now() - t);
    t = now();
    layer.mprotect(p, v.start, v.end, VM_READ | VM_WRITE | VM_MTE);
    best.mprotect = Math.min(best.mprotect, now() - t);
    t = now();
    if (layer.touch(p, v.start, v.end, true).result !== FaultResult.Ok) throw new Error('METADATA_NONE touch failed');
    best.mdnone = Math.min(best.mdnone, now() - t);
    layer.munmap(p, v.start, v.end);
  }
  return [
    rate('fault: tagged first touch 1 GiB', pages, best.tagged),
    rate('fault: untagged first touch 1 GiB', pages, best.untagged),
    {
      name: 'fault: mprotect(PROT_MTE) 1 GiB',
      rate: `${(((pages / best.mprotect) * 1000) / 1e6).toFixed(2)} M PTEs/s (${best.mprotect.toFixed(0)} ms)`,
    },
    rate('fault: METADATA_NONE touch 1 GiB', pages, best.mdnone),
    rate('fault: untagged touch + mprotect + touch 1 GiB', 2 * pages, best.untagged + best.mprotect + best.mdnone),
  ];
};

export default bench;
