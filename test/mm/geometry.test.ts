import { describe, expect, test } from '@jest/globals';
import { geometryFor, parsePageSize } from '../../src/mm/geometry.js';
import { MemMap } from '../../src/mm/memmap.js';

describe('geometry (arm64 v6.5 defaults)', () => {
  test.each([
    // pageSize, PAGE_SHIFT, MAX_ORDER, pageblock_order, pageblock pages, SECTION_SIZE_BITS, pages/section
    [4096, 12, 10, 9, 512, 27, 32768],
    [16384, 14, 11, 11, 2048, 27, 8192],
    [65536, 16, 13, 13, 8192, 29, 8192],
  ] as const)('%i-byte pages', (ps, shift, maxOrder, pbOrder, pbPages, secBits, pps) => {
    const g = geometryFor(ps);
    expect(g.pageShift).toBe(shift);
    expect(g.maxOrder).toBe(maxOrder);
    expect(g.nrOrders).toBe(maxOrder + 1);
    expect(g.pageblockOrder).toBe(pbOrder);
    expect(g.pageblockNrPages).toBe(pbPages);
    expect(g.pageblockNrPages * ps).toBe([2, 32, 512][[4096, 16384, 65536].indexOf(ps)]! * 1024 * 1024);
    expect(g.sectionSizeBits).toBe(secBits);
    expect(g.pagesPerSection).toBe(pps);
    // A MAX_ORDER block never spans two sections, so buddy arithmetic on dense indices is sound.
    expect(2 ** g.maxOrder).toBeLessThanOrEqual(g.pagesPerSection);
  });

  test('parsePageSize', () => {
    expect(parsePageSize('4K')).toBe(4096);
    expect(parsePageSize('16k')).toBe(16384);
    expect(parsePageSize('65536')).toBe(65536);
    expect(parsePageSize('8K')).toBeUndefined();
  });
});

describe('memmap sparse indexing', () => {
  const g = geometryFor(4096);
  // 128 MiB at 2 GiB and 64 MiB at 34 GiB: two present sections, a huge hole between them.
  const mm = new MemMap(g, [
    { startPfn: 0x80000, endPfn: 0x88000 },
    { startPfn: 0x880000, endPfn: 0x884000 },
  ]);

  test('only present sections get page slots', () => {
    expect(mm.nrSections).toBe(2);
    expect(mm.nrPages).toBe(2 * 32768);
    expect(mm.u32.length).toBe(mm.nrPages * 4);
  });

  test('pfn ↔ dense index round trip; holes are invalid', () => {
    for (const pfn of [0x80000, 0x87fff, 0x880000, 0x883fff, 0x887fff]) {
      const i = mm.pfnToIdx(pfn);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(mm.idxToPfn(i)).toBe(pfn);
    }
    expect(mm.pfnToIdx(0x88000)).toBe(-1);
    expect(mm.pfnToIdx(0x7ffff)).toBe(-1);
    expect(mm.pfnToIdx(0x10000000)).toBe(-1);
    expect(mm.pfnValid(0x880001)).toBe(true);
  });

  test('buddy arithmetic agrees on pfns and dense indices', () => {
    for (const pfn of [0x880000, 0x880400, 0x881234, 0x80c00]) {
      for (let o = 0; o < g.maxOrder; o++) {
        const buddyPfn = pfn ^ (1 << o);
        expect(mm.pfnToIdx(buddyPfn)).toBe(mm.pfnToIdx(pfn) ^ (1 << o));
      }
    }
  });

  test('every pageblock starts MIGRATE_MOVABLE (memmap_init)', () => {
    expect(mm.pageblockMigratetypeAt(0)).toBe(1);
    expect(mm.pageblockMigratetypeAt(mm.nrPages - 1)).toBe(1);
  });

  test('16 bytes per page', () => {
    expect(MemMap.bytesPerPage).toBe(16);
    expect(mm.u32.byteLength / mm.nrPages).toBe(16);
  });
});
