#!/usr/bin/env node
// Deterministic cost of the fault paths: machine instructions per emulated fault, counted by valgrind
// (cachegrind without the cache model). The machine the team works on is a shared VM whose timings move by
// ±20% (and sometimes 1.6x) between runs, too much to see a 3% change; instruction counts, with V8 in its
// --predictable mode (one thread, no timing heuristics), move by about 0.3% (three runs: 3332, 3319, 3339).
// They ignore cache misses and branch mispredictions, so confirm a change with `npm run bench` too.
//
//   node scripts/bench-instructions.mjs [tagged|untagged|combined] [MiB]   (after `npm run build`; needs valgrind)
//
// Each count is the difference between a run of R and of R + 4 rounds (R = 8: past V8's warm-up), so boot,
// compilation and start-up cancel out. A round maps MiB (default 128) and touches it once (tagged: a PROT_MTE
// mapping; untagged: a plain one), or, like the fault benchmark's last line (combined), touches a plain mapping,
// mprotect(PROT_MTE)s it and touches it again: two faults per page, the mprotect counted with them. Mappings are
// kept, so nothing else runs in between.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../dist');

async function workload(kind, mib, rounds) {
  const imp = (p) => import(pathToFileURL(path.join(dist, p)).href);
  (await imp('src/v8tune.js')).tuneV8();
  const { VM_MTE, VM_READ, VM_WRITE } = await imp('src/process/mm.js');
  const { bootForRun } = await imp('src/scenario/runtime_boot.js');
  const { buildRuntime } = await imp('src/scenario/runtime_machine.js');
  const parts = await bootForRun({ dt: path.resolve(here, '../dts/fvp-base-revc-mte.dts') });
  const { layer } = buildRuntime(parts, { fixMetadataNone: true, fixPfnTags: true });
  const p = layer.createProcess('bench');
  const rw = VM_READ | VM_WRITE;
  for (let r = 0; r < rounds; r++) {
    const v = layer.mmap(p, `m${r}`, mib * 2 ** 20, kind === 'tagged' ? rw | VM_MTE : rw, false, false);
    if (kind === 'combined') {
      layer.touch(p, v.start, v.end, true);
      layer.mprotect(p, v.start, v.end, rw | VM_MTE);
    }
    const res = layer.touch(p, v.start, v.end, true);
    if (res.result !== 0) throw new Error(`touch failed in round ${r}: ${res.why}`);
  }
}

function instructions(kind, mib, rounds) {
  const r = spawnSync(
    'valgrind',
    [
      '--tool=cachegrind',
      '--cache-sim=no',
      '--cachegrind-out-file=/dev/null',
      '--smc-check=all',
      process.execPath,
      '--predictable',
      fileURLToPath(import.meta.url),
      '--inner',
      kind,
      String(mib),
      String(rounds),
    ],
    { encoding: 'utf8' },
  );
  if (r.error) throw new Error(`valgrind: ${r.error.message}`);
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`valgrind run failed:\n${r.stderr.slice(-2000)}`);
  return Number(m[1].replaceAll(',', ''));
}

const args = process.argv.slice(2);
if (args[0] === '--inner') {
  await workload(args[1], Number(args[2]), Number(args[3]));
} else {
  const kind = args[0] ?? 'tagged';
  const mib = Number(args[1] ?? 128);
  if (!['tagged', 'untagged', 'combined'].includes(kind) || !(mib > 0)) {
    console.error('usage: node scripts/bench-instructions.mjs [tagged|untagged|combined] [MiB]');
    process.exit(2);
  }
  const R = 8;
  const a = instructions(kind, mib, R);
  const b = instructions(kind, mib, R + 4);
  const faults = ((kind === 'combined' ? 2 : 1) * 4 * mib * 2 ** 20) / 4096;
  console.log(`${kind}: ${Math.round((b - a) / faults)} instructions per fault (${faults} faults counted)`);
}
