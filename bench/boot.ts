/**
 * Boot benchmarks (SPEC §8): the bundled FVP DT (4 GiB), and generated platforms of 64 GiB and 1 TiB with
 * v1 tag storage (each slot: 32 GiB of tagged memory and its 1 GiB of tag storage right after it). Each case
 * runs in its own child process so its peak RSS is its own; the rate is GiB of described memory per second
 * of bootKernel() (DT parsing excluded, reported separately for the bundled DT).
 * Targets: ≥ 64 GiB/s, 1 TiB in < 16 s and < 4 GiB RSS.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DtNode, DtProperty, DtTree } from '../src/dt/tree.js';
import type { BenchResult } from './index.js';

const GiB = 2 ** 30;

function prop(name: string, value: Uint8Array): DtProperty {
  return { name, value, labels: [], markers: [] };
}
function str(name: string, s: string): DtProperty {
  return prop(name, new Uint8Array(Buffer.from(`${s}\0`, 'latin1')));
}
function cells(name: string, ...v: number[]): DtProperty {
  const b = new Uint8Array(v.length * 4);
  const dv = new DataView(b.buffer);
  v.forEach((x, i) => dv.setUint32(i * 4, x >>> 0));
  return prop(name, b);
}
const hi = (v: number): number => Math.floor(v / 2 ** 32);
const lo = (v: number): number => v % 2 ** 32;
function node(name: string, properties: DtProperty[], children: DtNode[] = []): DtNode {
  return { name, labels: [], properties, children };
}

/** A platform of `slots` × (32 GiB tagged + 1 GiB tag storage), slot i at 2 GiB + i × 64 GiB. */
export function generatedPlatform(slots: number): { tree: DtTree; describedBytes: number } {
  const kids: DtNode[] = [node('chosen', [str('bootargs', 'console=ttyAMA0')])];
  const tagged = 32 * GiB;
  for (let i = 0; i < slots; i++) {
    const base = 2 * GiB + i * 64 * GiB;
    const tags = base + tagged;
    kids.push(
      node(`memory@${base.toString(16)}`, [
        str('device_type', 'memory'),
        cells('reg', hi(base), lo(base), hi(tagged), lo(tagged)),
        cells('phandle', i + 1),
      ]),
      node(`metadata@${tags.toString(16)}`, [
        str('compatible', 'arm,mte-tag-storage'),
        cells('reg', hi(tags), lo(tags), hi(tagged / 32), lo(tagged / 32)),
        cells('block-size', 0x1000),
        cells('memory', i + 1),
      ]),
    );
  }
  const cpus = node(
    'cpus',
    [cells('#address-cells', 1), cells('#size-cells', 0)],
    Array.from({ length: 8 }, (_, i) => node(`cpu@${i}`, [str('device_type', 'cpu'), cells('reg', i)])),
  );
  const root = node(
    '',
    [str('model', `generated ${slots} x 33 GiB`), cells('#address-cells', 2), cells('#size-cells', 2)],
    [cpus, ...kids],
  );
  return {
    tree: { root, memreserve: [], bootCpuidPhys: 0, plugin: false, source: `<generated ${slots} slots>` },
    describedBytes: slots * (tagged + tagged / 32),
  };
}

interface ChildResult {
  name: string;
  describedBytes: number;
  loadMs: number;
  bootMs: number;
  maxRssKb: number;
  enabled: boolean;
}

async function child(which: string): Promise<ChildResult> {
  const { bootKernel } = await import('../src/boot/boot.js');
  const { loadDt } = await import('../src/dt/load.js');
  const { projectRoot } = await import('../src/version.js');
  let tree: DtTree;
  let describedBytes: number;
  const t0 = performance.now();
  if (which === 'fvp') {
    tree = loadDt(path.join(projectRoot(), 'dts', 'fvp-base-revc-mte.dts'));
    describedBytes = 2 * 0x7c000000 + 2 * 0x3e00000;
  } else {
    ({ tree, describedBytes } = generatedPlatform(which === '64g' ? 2 : 32));
  }
  const t1 = performance.now();
  const sys = bootKernel({ tree });
  const t2 = performance.now();
  return {
    name: which,
    describedBytes,
    loadMs: t1 - t0,
    bootMs: t2 - t1,
    maxRssKb: process.resourceUsage().maxRSS,
    enabled: sys.tagStorage.metadataEnabled,
  };
}

const CASES: [string, string][] = [
  ['fvp', 'boot: bundled FVP DT (4 GiB)'],
  ['64g', 'boot: generated 66 GiB (2 × 33 GiB) with tag storage'],
  ['1t', 'boot: generated 1056 GiB (32 × 33 GiB) with tag storage'],
];

export default function bench(): BenchResult[] {
  const self = fileURLToPath(import.meta.url);
  const out: BenchResult[] = [];
  for (const [which, label] of CASES) {
    const r = spawnSync(process.execPath, [self, '--child', which], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`${label}: child failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    const c = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
    const gib = c.describedBytes / GiB;
    const rate = gib / (c.bootMs / 1000);
    out.push({
      name: label,
      rate:
        `${rate.toFixed(1)} GiB/s (${gib.toFixed(1)} GiB in ${c.bootMs.toFixed(0)} ms; ` +
        `peak RSS ${(c.maxRssKb / 1024).toFixed(0)} MiB${which === 'fvp' ? `; DT parse ${c.loadMs.toFixed(1)} ms` : ''}` +
        `${c.enabled ? '' : '; tag storage NOT enabled'})`,
    });
  }
  return out;
}

if (process.argv[2] === '--child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await child(process.argv[3] ?? 'fvp');
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
