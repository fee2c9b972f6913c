/**
 * Random platforms (banks, holes, tag storage right or wrong, reserved memory, mem=, page sizes) either boot
 * with every counter consistent or fail with an InputError — never an internal error.
 */
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { NR_FREE_PAGES } from '../../src/mm/vmstat.js';
import { board, boot } from './helpers.js';

const MiB = 1024 * 1024;
const hi = (v: number): string => `0x${Math.floor(v / 2 ** 32).toString(16)}`;
const lo = (v: number): string => `0x${(v % 2 ** 32).toString(16)}`;
const cells = (a: number, s: number): string => `${hi(a)} ${lo(a)} ${hi(s)} ${lo(s)}`;

const bankArb = fc.record({
  slot: fc.integer({ min: 0, max: 15 }),
  sizeMiB: fc.integer({ min: 1, max: 2048 }),
  offsetKiB: fc.integer({ min: 0, max: 4096 }),
  tags: fc.constantFrom('none', 'good', 'bad-ratio', 'unaligned'),
  blockSize: fc.constantFrom(0x1000, 0x2000, 0x3000, 0x10000),
});

const platformArb = fc.record({
  banks: fc.array(bankArb, { minLength: 1, maxLength: 4 }),
  cma: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
  noMapMiB: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
  mem: fc.option(fc.integer({ min: 64, max: 8192 }), { nil: undefined }),
  pageSize: fc.constantFrom(4096 as const, 16384 as const, 65536 as const),
  cmdline: fc.constantFrom('', 'arm64.nomte', 'kasan=on'),
});

type Plat = typeof platformArb extends fc.Arbitrary<infer T> ? T : never;

function source(p: Plat): string {
  let body = '';
  const seen = new Set<number>();
  p.banks.forEach((b, i) => {
    if (seen.has(b.slot)) return;
    seen.add(b.slot);
    const base = 0x80000000 + b.slot * 8 * 1024 * MiB + b.offsetKiB * 1024;
    const size = b.sizeMiB * MiB;
    body += `mem${i}: memory@${base.toString(16)} { device_type = "memory"; reg = <${cells(base, size)}>; };\n`;
    if (b.tags !== 'none') {
      let tagSize = size / 32;
      if (b.tags === 'bad-ratio') tagSize += 2 * MiB;
      let tagBase = Math.ceil((base + size) / (2 * MiB)) * 2 * MiB;
      if (b.tags === 'unaligned') tagBase += 4096;
      body += `metadata@${tagBase.toString(16)} { compatible = "arm,mte-tag-storage"; reg = <${cells(tagBase, tagSize)}>;
        block-size = <${b.blockSize}>; memory = <&mem${i}>; };\n`;
    }
  });
  let rm = '';
  if (p.cma !== undefined) rm += `cma { compatible = "shared-dma-pool"; reusable; size = <0 ${p.cma * 4 * MiB}>; };\n`;
  if (p.noMapMiB !== undefined) rm += `fw { size = <0 ${p.noMapMiB * MiB}>; no-map; };\n`;
  if (rm) body += `reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;\n${rm}};\n`;
  const args = [p.cmdline, p.mem !== undefined ? `mem=${p.mem}M` : ''].filter((x) => x).join(' ');
  body += `chosen { bootargs = "${args}"; };\n`;
  return body;
}

test('random platforms boot consistently or fail as bad input', () => {
  fc.assert(
    fc.property(platformArb, (p) => {
      let s;
      try {
        s = boot(board(source(p)), { pageSize: p.pageSize });
      } catch (e) {
        if (e instanceof InputError) return;
        throw e;
      }
      expect(s.mm.checkInvariants()).toEqual([]);
      let listed = 0;
      for (const z of s.mm.zones) s.mm.forEachFreeBlock(z, (_pfn, o) => (listed += 2 ** o));
      expect(listed).toBe(s.mm.globalZoneState(NR_FREE_PAGES));
      const m = s.memoryLine;
      expect(m.availableKb + m.reservedKb + m.cmaReservedKb).toBe(m.physKb);
      expect(s.mm.totalramPages()).toBeLessThanOrEqual(s.physpages);
    }),
    { numRuns: 60, seed: 4242 },
  );
});
