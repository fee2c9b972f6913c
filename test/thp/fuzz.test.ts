/**
 * Random statement sequences over fork, THP and the other movers (mprotect, partial mprotect, pageout, migrate,
 * settag, exit) on the bundled FVP platform (two zones), each run under --check: no invariant may break, nothing may throw.
 * Seeded, so a failure names a reproducible case.
 */
import { describe, expect, test } from '@jest/globals';
import { defaultDt } from '../../src/commands/run.js';
import { runScn } from '../fork/helpers.js';
import { Rng } from '../../src/scenario/runtime.js';

/** The scenario runtime's seeded PRNG (mulberry32), as a function. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function scenario(seed: number): string[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const out = ['config swap=32M', 'process p0', 'p0: mmap h 4M prot=rw+mte thp', 'p0: mmap x 1M prot=rw thp'];
  const procs = ['p0'];
  let next = 1;
  const ranges = ['0..4K', '0..1M', '1M..2M', '4K..8K', '512K..1536K'];
  for (let i = 0; i < 28; i++) {
    const p = pick(procs);
    const v = pick(['h', 'x']);
    const rg = v === 'x' ? pick(['0..4K', '4K..8K', '0..512K', '512K..1M']) : pick(ranges);
    switch (Math.floor(r() * 10)) {
      case 0:
        if (procs.length < 4) {
          const c = `p${next++}`;
          out.push(`${p}: fork ${c}`);
          procs.push(c);
        }
        break;
      case 1:
        out.push(`${p}: mprotect ${v} prot=${pick(['r', 'rw', 'rw+mte'])} ${rg}`);
        break;
      case 2:
        out.push(`${p}: settag ${v} ${rg} ${Math.floor(r() * 16)}`);
        break;
      case 3:
        out.push(`${p}: pageout ${v} ${rg}`);
        break;
      case 4:
        out.push(`${p}: migrate ${v} ${rg} to=${pick(['DMA', 'Normal'])}`);
        break;
      case 5:
        if (procs.length > 1 && p !== 'p0') {
          out.push(`${p}: exit`);
          procs.splice(procs.indexOf(p), 1);
        }
        break;
      default:
        out.push(`${p}: touch ${v} ${rg} ${pick(['read', 'write', 'write'])}`);
    }
  }
  for (const p of procs) out.push(`${p}: exit`);
  out.push('expect vmstat.nr_anon_pages == 0');
  out.push('expect vmstat.nr_anon_transparent_hugepages == 0');
  out.push('expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1');
  return out;
}

describe('random fork/THP sequences under --check', () => {
  test.each(Array.from({ length: Number(process.env['H10_FUZZ'] ?? 24) }, (_, i) => i + 1))('seed %i', async (seed) => {
    const lines = scenario(seed);
    // The FVP platform: two zones for `migrate`.
    const r = await runScn(lines, { dt: defaultDt() });
    // A touch of a read-only range is a SIGSEGV note, fine; failed expects and violations are not.
    if (r.err !== '') throw new Error(`seed ${seed}:\n${lines.join('\n')}\n---\n${r.err}`);
    expect(r.code).toBe(0);
  });
});
