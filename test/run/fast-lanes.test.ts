/**
 * The fast lanes of `touch` (src/process/fault.ts: anon write, PAGE_METADATA_NONE, swap-in, on the per-page
 * words) are the step machine's steps run back to back. Random workloads on the booted small platform — with
 * swap, pageout, mprotect(PROT_MTE), tags, fork, compaction and kernel pressure — must end in exactly the same
 * state with the lanes on and off: the same output, the same /proc files, the same memmap, PTEs and tags.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import path from 'node:path';
import { ROOT, runToText } from './state.js';

const DT = path.join(ROOT, 'test/run/fixtures/small-mte.dts');
const PROTS = ['r', 'rw', 'rw+mte', 'r+mte', 'none'];

/** One statement over VMAs v0..v2 of `sizes` pages (ranges in pages, clipped to the VMA). */
const stmt = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.constant('touch'), fc.nat(2), fc.nat(1023), fc.nat(1024), fc.boolean()) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('mprotect'), fc.nat(2), fc.nat(1023), fc.nat(1024), fc.nat(4)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('pageout'), fc.nat(2), fc.nat(1023), fc.nat(1024), fc.constant(0)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('settag'), fc.nat(2), fc.nat(1023), fc.nat(4), fc.nat(15)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('remap'), fc.nat(2), fc.constant(0), fc.constant(0), fc.nat(4)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constant('compact'), fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(0)),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constant('pressure'), fc.constant(0), fc.constant(0), fc.nat(64), fc.constant(0)),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant('fork'), fc.nat(2), fc.nat(1023), fc.nat(1024), fc.boolean()) },
  // The METADATA_NONE path: written untagged, then PROT_MTE, then touched again.
  { weight: 2, arbitrary: fc.tuple(fc.constant('mdnone'), fc.nat(2), fc.nat(1023), fc.nat(1024), fc.boolean()) },
);
type Stmt = [string, number, number, number, number | boolean];

function render(sizes: number[], prots: number[], body: Stmt[], swap: number): string {
  const lines = [`config swap=${swap}M min_free_kbytes=2048`, 'process a'];
  sizes.forEach((s, i) => lines.push(`a: mmap v${i} ${s * 4}K prot=${PROTS[prots[i]!]}`));
  let forks = 0;
  for (const [k, v, a0, n, x] of body) {
    const size = sizes[v]!;
    const a = Math.min(a0, size - 1);
    const r = `${a * 4}K..${Math.min(size, a + Math.max(1, n)) * 4}K`;
    switch (k) {
      case 'touch':
        lines.push(`a: touch v${v} ${r} ${x ? 'write' : 'read'}`);
        break;
      case 'mprotect':
        lines.push(`a: mprotect v${v} prot=${PROTS[x as number]} ${r}`);
        break;
      case 'pageout':
        lines.push(`a: pageout v${v} ${r}`);
        break;
      case 'settag':
        lines.push(`a: settag v${v} ${r} ${x as number}`);
        break;
      case 'remap':
        lines.push(`a: munmap v${v}`, `a: mmap v${v} ${size * 4}K prot=${PROTS[x as number]}`);
        break;
      case 'compact':
        lines.push('compact');
        break;
      case 'pressure':
        lines.push(`pressure ${n + 1}M`);
        break;
      case 'mdnone':
        lines.push(
          `a: mprotect v${v} prot=rw ${r}`,
          `a: touch v${v} ${r} write`,
          `a: mprotect v${v} prot=rw+mte ${r}`,
          `a: touch v${v} ${r} ${x ? 'write' : 'read'}`,
        );
        break;
      case 'fork': {
        // The child writes (copy-on-write) and exits.
        const c = `c${forks++}`;
        lines.push(`a: fork ${c}`, `${c}: touch v${v} ${r} ${x ? 'write' : 'read'}`, `${c}: exit`);
        break;
      }
    }
  }
  return lines.join('\n') + '\n';
}

const SMALL = { dt: DT };

describe('fast lanes change nothing', () => {
  // Each lane at least once, deterministically: anon write (untagged and tagged), METADATA_NONE after
  // mprotect(PROT_MTE) of written memory, swap-in of tagged memory, and copy-on-write after fork.
  test.each([
    ['anon write, untagged and tagged', 'a: mmap u 3M\na: touch u\na: mmap t 3M prot=rw+mte\na: touch t\n'],
    ['METADATA_NONE', 'a: mmap v 3M\na: touch v\na: mprotect v prot=rw+mte\na: touch v 0..1M read\na: touch v\n'],
    [
      'swap-in of tagged pages',
      'a: mmap t 2M prot=rw+mte\na: touch t\na: settag t 0..8K 9\na: pageout t\na: touch t 0..1M read\na: touch t\n',
    ],
    ['copy-on-write', 'a: mmap t 2M prot=rw+mte\na: touch t\na: fork c\nc: touch t write\na: touch t\n'],
  ])('%s', async (_name, body) => {
    const text = `config swap=64M\nprocess a\n${body}`;
    const on = await runToText(text, 'lane.scn', SMALL);
    expect(on).toBe(await runToText(text, 'lane.scn', { ...SMALL, fastLanes: false }));
  });

  test('random workloads end in the same state with the lanes on and off (40 workloads)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 1024 }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.nat(4), { minLength: 3, maxLength: 3 }),
        fc.array(stmt, { minLength: 1, maxLength: 14 }),
        fc.constantFrom(0, 8, 64),
        async (sizes, prots, body, swap) => {
          const text = render(sizes, prots, body as Stmt[], swap);
          const on = await runToText(text, 'lanes.scn', SMALL);
          const off = await runToText(text, 'lanes.scn', { ...SMALL, fastLanes: false });
          expect(on).toBe(off);
        },
      ),
      { numRuns: 40, seed: 4242 },
    );
  });
});
