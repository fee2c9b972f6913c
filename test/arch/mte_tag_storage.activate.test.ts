import { Memblock } from '../../src/mm/memblock.js';
import { KernelLog } from '../../src/sim/log.js';
import {
  activateTagStorage,
  blockRefCount,
  mteFromCmdline,
  orderToNumBlocks,
  TagStorage,
  tagStorageFindBlockInRegion,
  type TagRegion,
  type TagStorageMm,
} from '../../src/arch/arm64/mte_tag_storage.js';

function region(memStart: number, memPages: number, tagStart: number, bs: number): TagRegion {
  return {
    mem: { start: memStart, end: memStart + memPages - 1 },
    tag: { start: tagStart, end: tagStart + memPages / 32 - 1 },
    blockSizePages: bs,
    blockSizeBytes: bs * 4096,
    nid: 0,
    node: '/metadata',
    memoryNode: '/memory',
  };
}

describe('tag_storage_find_block_in_region (§2.2)', () => {
  // 4K pages: memory 0x80000..+0x7c000 pages, tags 0xfc000..+0x3e00.
  test.each([1, 2, 3])('block size %i: block = tag.start + rounddown((pfn - mem.start) / 32, B)', (bs) => {
    const mem = 0x80000;
    const r = region(mem, 0x3e00 * 32 - (0x3e00 % bs) * 32, 0xfc000, bs);
    for (const off of [0, 1, 31, 32, 33, 95, 96, 97, 1000, 32 * bs - 1, 32 * bs, 12345]) {
      const block = tagStorageFindBlockInRegion(mem + off, r, 4096);
      const tagPage = Math.floor(off / 32);
      expect(block).toBe(0xfc000 + tagPage - (tagPage % bs));
      expect((block - 0xfc000) % bs).toBe(0);
      expect(block).toBeLessThanOrEqual(0xfc000 + tagPage);
    }
    // Outside the tagged memory: -ERANGE.
    expect(tagStorageFindBlockInRegion(mem - 1, r, 4096)).toBe(-34);
    expect(tagStorageFindBlockInRegion(r.mem.end + 1, r, 4096)).toBe(-34);
    // The last pfn maps into the last block.
    const last = tagStorageFindBlockInRegion(r.mem.end, r, 4096);
    expect(last + bs - 1).toBe(r.tag.end);
  });

  test('one block of B pages serves 32 * B tagged pages', () => {
    for (const bs of [1, 2, 3, 4]) {
      const r = region(0, 32 * 12 * 4, 1 << 20, bs);
      const blocks = new Map<number, number>();
      for (let pfn = r.mem.start; pfn <= r.mem.end; pfn++) {
        const b = tagStorageFindBlockInRegion(pfn, r, 4096);
        blocks.set(b, (blocks.get(b) ?? 0) + 1);
      }
      expect([...blocks.values()].every((n) => n === 32 * bs)).toBe(true);
      expect(blocks.size).toBe((12 * 4) / bs);
    }
  });

  test('a block past the end of the tag region prints the kernel error with physical addresses', () => {
    // 3-page blocks over a tag range of 4 pages: the block at offset 3 ends past the region.
    const r: TagRegion = { ...region(0x100, 128, 0x1000, 3), tag: { start: 0x1000, end: 0x1003 } };
    const log = new KernelLog();
    expect(tagStorageFindBlockInRegion(0x100 + 3 * 32, r, 4096, log)).toBe(-34);
    expect(log.all().map((x) => [x.level, x.text])).toEqual([
      ['err', 'Block 0x1003000-0x1006000 is outside tag region 0x1000000-0x1003000'],
    ]);
  });

  test.each([
    [4096, 0x80000000, 0xfc000000],
    [16384, 0x80000000, 0xfc000000],
    [65536, 0x80000000, 0xfc000000],
  ])(
    'with %i-byte pages the byte mapping is tag = tag_base + (addr - mem_base) / 32, rounded to the block',
    (ps, memBase, tagBase) => {
      for (const bs of [1, 2, 3]) {
        const memPages = 32 * 6 * 64;
        const r: TagRegion = {
          ...region(memBase / ps, memPages, tagBase / ps, bs),
          blockSizeBytes: bs * ps,
        };
        for (const addr of [memBase, memBase + 5 * ps, memBase + 32 * ps * 7 + ps, memBase + (memPages - 1) * ps]) {
          const pfn = addr / ps;
          const block = tagStorageFindBlockInRegion(pfn, r, ps);
          const tagByte = tagBase + Math.floor((addr - memBase) / 32);
          const tagPfn = Math.floor(tagByte / ps);
          expect(block).toBe(tagPfn - ((tagPfn - tagBase / ps) % bs));
        }
      }
    },
  );

  test('order_to_num_blocks and the per-block count (v1)', () => {
    expect([0, 1, 4, 5, 6, 9, 10].map(orderToNumBlocks)).toEqual([1, 1, 1, 1, 2, 16, 32]);
    const r3 = region(0, 32 * 96, 1000, 3);
    expect([0, 5, 6, 7, 9].map((o) => blockRefCount(o, r3))).toEqual([1, 32, 64, 96, 96]);
  });
});

/** A fake page allocator: zones by pfn, a log of calls, and a canned answer for reserve_metadata_storage. */
class FakeMm implements TagStorageMm {
  free = new Set<number>();
  ref = new Map<number, number>();
  calls: string[] = [];
  events = new Map<string, number>();
  busy = new Set<number>();
  constructor(readonly zoneBoundary = Infinity) {}
  zoneOf(pfn: number) {
    return pfn < this.zoneBoundary ? 'DMA' : 'Normal';
  }
  initReservedPageblock(pfn: number, mt: 'movable' | 'metadata') {
    this.calls.push(`init ${pfn.toString(16)} ${mt}`);
    for (let p = pfn; p < pfn + 512; p++) this.free.add(p);
  }
  /** What reserve_metadata_storage returns (TagReserve, tested in test/tagres, is the real one). */
  reserveRet = 0;
  reserveMetadataStorage(pfn: number, order: number) {
    this.calls.push(`reserve ${pfn.toString(16)} ${order}`);
    return this.reserveRet;
  }
}

function setup(regions: TagRegion[], opts: { mte?: boolean; kasan?: boolean; zone?: number; zero?: number } = {}) {
  const ts = new TagStorage(4096, 512);
  ts.regions.push(...regions);
  ts.state = 'discovered';
  const memblock = new Memblock();
  memblock.addNode(0x80000000, 0x80000000, 0);
  memblock.addNode(0x880000000, 0x80000000, 0);
  const log = new KernelLog();
  const mm = new FakeMm(opts.zone);
  const ctx = {
    log,
    memblock,
    mteSupported: opts.mte ?? true,
    kasanHwTags: opts.kasan ?? false,
    zeroPagePfn: opts.zero ?? 0x81000,
    mm,
  };
  return { ts, log, mm, ctx, lines: () => log.all().map((r) => r.text) };
}

// Two FVP regions (kernel-facts §1.1): memory 0x80000 + 0x7c000 pages, tags 0xfc000 + 0x3e00 pages.
const FVP0 = region(0x80000, 0x7c000, 0xfc000, 1);
const FVP1 = region(0x880000, 0x7c000, 0x8fc000, 1);

describe('activateTagStorage (§1.1 activation)', () => {
  test('no regions: silent, nothing done', () => {
    const { ts, ctx, mm, lines } = setup([]);
    expect(activateTagStorage(ctx, ts)).toBe(0);
    expect(lines()).toEqual([]);
    expect(mm.calls).toEqual([]);
  });

  test('enabled: every pageblock to METADATA in order, then the zero page block, then the key', () => {
    const { ts, ctx, mm, lines, log } = setup([FVP0, FVP1]);
    expect(activateTagStorage(ctx, ts)).toBe(0);
    const inits = mm.calls.filter((c) => c.startsWith('init'));
    expect(inits).toHaveLength((2 * 0x3e00) / 512);
    expect(inits[0]).toBe('init fc000 metadata');
    expect(inits[inits.length - 1]).toBe(`init ${(0x8fc000 + 0x3e00 - 512).toString(16)} metadata`);
    // The zero page's block is reserved after the last pageblock is freed (test/tagres/integration.test.ts
    // checks the block, its count and the event on a real allocator).
    expect(mm.calls.slice(-1)).toEqual(['reserve 81000 0']);
    expect(lines()).toEqual(['MTE tag storage enabled']);
    expect(log.all()[0]!.level).toBe('info');
    expect(ts.metadataEnabled).toBe(true);
    expect(ts.totalMetadataPages).toBe(2 * 0x3e00);
    expect(ts.state).toBe('enabled');
  });

  test('outside addressable memory: the first offending region, start and exclusive end, nothing freed', () => {
    const { ts, ctx, mm, lines, log } = setup([FVP0, FVP1]);
    ctx.memblock.removeMemory(0x8c0000000, 0x40000000);
    expect(activateTagStorage(ctx, ts)).toBe(-22);
    expect(lines()).toEqual(['Tag storage region 0x8fc000000-0x8ffe00000 outside addressable memory']);
    expect(log.all()[0]!.level).toBe('err');
    expect(mm.calls).toEqual([]);
    expect(ts.state).toBe('left-reserved');
  });

  test('arm64.nomte: every pageblock to MOVABLE, silently, before the KASAN and zone checks', () => {
    const { ts, ctx, mm, lines } = setup([FVP0], { mte: false, kasan: true, zone: 0xfc001 });
    expect(activateTagStorage(ctx, ts)).toBe(0);
    expect(lines()).toEqual([]);
    expect(mm.calls.every((c) => c.endsWith('movable'))).toBe(true);
    expect(mm.calls).toHaveLength(0x3e00 / 512);
    expect(ts.movablePages).toBe(0x3e00);
    expect(ts.metadataEnabled).toBe(false);
    expect(ts.state).toBe('movable');
  });

  test('KASAN hardware tags: one info line, regions left reserved, returns 0', () => {
    const { ts, ctx, mm, lines, log } = setup([FVP0], { kasan: true });
    expect(activateTagStorage(ctx, ts)).toBe(0);
    expect(lines()).toEqual(['KASAN HW tags enabled, disabling tag storage']);
    expect(log.all()[0]!.level).toBe('info');
    expect(mm.calls).toEqual([]);
    expect(ts.state).toBe('left-reserved');
  });

  test('zones: a 3-page block across a zone boundary is refused; 1-page blocks skip the check', () => {
    const r3 = region(0x80000, 0x600 * 32, 0xffe00, 3);
    const a = setup([r3], { zone: 0x100000 });
    expect(activateTagStorage(a.ctx, a.ts)).toBe(-22);
    expect(a.lines()).toEqual(['Tag block pages in different zones']);
    expect(a.mm.calls).toEqual([]);
    // The same region with the boundary on a block edge is fine.
    const b = setup([r3], { zone: 0xffe00 + 3 * 100 });
    expect(activateTagStorage(b.ctx, b.ts)).toBe(0);
    const r1 = region(0x80000, 0x600 * 32, 0xffe00, 1);
    const c = setup([r1], { zone: 0x100000 });
    expect(activateTagStorage(c.ctx, c.ts)).toBe(0);
    expect(c.lines()).toEqual(['MTE tag storage enabled']);
  });

  test('the zero page block cannot be taken: "MTE tag storage disabled", key off, the error returned', () => {
    const { ts, ctx, mm, lines } = setup([FVP0]);
    // reserve_metadata_storage gave up (its 5 alloc_contig_range tries: test/tagres/reserve.test.ts).
    mm.reserveRet = -16;
    expect(activateTagStorage(ctx, ts)).toBe(-16);
    expect(mm.calls.slice(-1)).toEqual(['reserve 81000 0']);
    expect(lines()).toEqual(['MTE tag storage disabled']);
    expect(ts.metadataEnabled).toBe(false);
    expect(ts.state).toBe('metadata-unused');
  });
});

describe('mteFromCmdline', () => {
  test.each([
    ['', true, false],
    ['arm64.nomte', false, false],
    ['kasan=on', true, true],
    ['kasan=on kasan=off', true, false],
    ['kasan=on arm64.nomte', false, false],
    ['console=ttyAMA0 id_aa64pfr1.mte=0', false, false],
  ])('%j → MTE %s, KASAN HW tags %s', (cmd, mte, kasan) => {
    expect(mteFromCmdline(cmd)).toEqual({ mteSupported: mte, kasanHwTags: kasan });
  });
});
