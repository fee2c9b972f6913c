/**
 * reserve_metadata_storage / free_metadata_storage (kernel-facts §2.2–§2.4) on the fake machine: which
 * blocks a tagged allocation takes, how they are shared and returned, and the failure paths.
 */
import { FakeMachine, GFP_HIGHUSER_MOVABLE, GFP_TAGGED, METADATA } from './fake.js';
import { MigFlag } from '../../src/mm/migrate.js';

const MEM = 32 * 512 * 2; // 32768 pages (128 MiB) of tagged memory, 1024 tag pages (2 pageblocks)
const TAGGED = GFP_HIGHUSER_MOVABLE | GFP_TAGGED;

function machine(blockSizePages: number, fixPfnTags = true): FakeMachine {
  return new FakeMachine({ memPages: blockSizePages === 3 ? 32 * 512 * 3 : MEM, blockSizePages, fixPfnTags });
}

describe('tag block look-up and reservation', () => {
  test.each([1, 2, 3])('order 0 at block size %i reserves exactly the covering block', (bs) => {
    const m = machine(bs);
    const p = m.allocPages(0, TAGGED);
    expect(p).toBeGreaterThanOrEqual(0);
    const tagStart = m.region.tag.start;
    const off = Math.floor(p / 32);
    const block = tagStart + off - (off % bs);
    expect([...m.ts.reservedBlocks]).toEqual([block]);
    expect(m.reserve.blockRefcount(block)).toBe(2);
    expect(m.ev('metadata_reserve_success')).toBe(bs);
    for (let q = block; q < block + bs; q++) expect(m.isFree(q)).toBe(false);
    expect(m.testFlag(p, MigFlag.TagStorageReserved)).toBe(true);
    // The tag pages outside the block are still free METADATA pages.
    expect(m.isFree(block + bs)).toBe(true);
    expect(m.pageblockMigratetype(block)).toBe(METADATA);
  });

  test('order 9 at block size 1 reserves 16 tag pages (2 MiB needs 16 tag pages)', () => {
    const m = machine(1);
    const p = m.allocPages(9, TAGGED);
    expect(p % 512).toBe(0);
    const blocks = [...m.ts.reservedBlocks].sort((a, b) => a - b);
    expect(blocks).toHaveLength(16);
    expect(blocks[0]).toBe(m.region.tag.start + p / 32);
    expect(blocks[15]! - blocks[0]!).toBe(15);
    for (const b of blocks) expect(m.pageRef(b)).toBe(1 + 32);
    expect(m.ev('metadata_reserve_success')).toBe(16);
    for (let q = p; q < p + 512; q++) expect(m.testFlag(q, MigFlag.TagStorageReserved)).toBe(true);
    m.freePages(p, 9);
    expect(m.ts.reservedBlocks.size).toBe(0);
    expect(m.ev('metadata_reserve_free')).toBe(16);
  });

  test('order 9 at block size 2 over-reserves B times (v1 order_to_num_blocks)', () => {
    const m = machine(2);
    const p = m.allocPages(9, TAGGED);
    const blocks = [...m.ts.reservedBlocks].sort((a, b) => a - b);
    expect(blocks).toHaveLength(16);
    expect(blocks[15]! - blocks[0]!).toBe(30);
    for (const b of blocks) expect(m.pageRef(b)).toBe(1 + 64);
    expect(m.ev('metadata_reserve_success')).toBe(32);
    m.freePages(p, 9);
    expect(m.ev('metadata_reserve_free')).toBe(32);
    expect(m.freeCount(m.region.tag.start, m.region.tag.end + 1)).toBe(m.region.tag.end - m.region.tag.start + 1);
  });

  test('the 32 pages of one tag page share one block; the last free returns it', () => {
    const m = machine(1);
    const pages: number[] = [];
    for (let i = 0; i < 32; i++) pages.push(m.allocPages(0, TAGGED));
    const blocks = new Set(pages.map((p) => m.region.tag.start + Math.floor(p / 32)));
    expect(blocks.size).toBe(1);
    const [block] = [...blocks] as [number];
    expect(m.pageRef(block)).toBe(33);
    expect(m.ev('metadata_reserve_success')).toBe(1);
    for (const p of pages.slice(0, 31)) m.freePages(p, 0);
    expect(m.reserve.isBlockReserved(block)).toBe(true);
    expect(m.pageRef(block)).toBe(2);
    expect(m.ev('metadata_reserve_free')).toBe(0);
    m.freePages(pages[31]!, 0);
    expect(m.reserve.isBlockReserved(block)).toBe(false);
    expect(m.isFree(block)).toBe(true);
    expect(m.ev('metadata_reserve_free')).toBe(1);
  });

  test('a page already PG_tag_storage_reserved is not reserved twice', () => {
    const m = machine(1);
    const p = m.allocPages(0, TAGGED);
    const block = m.region.tag.start + Math.floor(p / 32);
    expect(m.reserve.reserveMetadataStorage(p, 0, TAGGED)).toBe(0);
    expect(m.pageRef(block)).toBe(2);
    expect(m.reserve.stats.alreadyReserved).toBe(1);
  });
});

describe('failure paths', () => {
  test('an unmovable page in the block fails the reservation; the allocator takes another page', () => {
    const m = machine(1);
    const T = m.region.tag.start; // covers data pages 0..31
    // A kernel page living in tag storage (e.g. allocated before activation).
    m.free[T] = 0;
    m.ref[T] = 1;
    m.owner[T] = 2;
    const p = m.allocPages(0, TAGGED);
    expect(p).toBeGreaterThanOrEqual(32);
    expect(m.triedAndRefused).toBeGreaterThanOrEqual(1);
    expect(m.ev('metadata_reserve_fail')).toBe(m.triedAndRefused);
    // The refused page went back: page 0 is free again and its block is not reserved.
    expect(m.isFree(0)).toBe(true);
    expect(m.reserve.isBlockReserved(T)).toBe(false);
    expect(m.owner[T]).toBe(2);
    // alloc_contig_range was tried 5 times for the first refused page.
    expect(m.isolation.stats.busy).toBeGreaterThanOrEqual(5);
    expect(m.pageblockMigratetype(T)).toBe(METADATA);
  });

  test('a pinned user page in the block fails the reservation', () => {
    const m = machine(1);
    const T = m.region.tag.start;
    const data = m.fillTagStorageWithData(1000);
    m.pinned[T] = 1;
    const r = m.reserve.reserveMetadataStorage(0, 0, TAGGED);
    expect(r).toBe(-16);
    expect(m.ev('metadata_reserve_fail')).toBe(1);
    expect(m.owner[T]).toBe(1);
    expect(m.token[T]).toBe(1000 + T);
    expect(data).toContain(T);
  });

  test('the error path undoes the pins on already reserved blocks', () => {
    const m = machine(1);
    // Reserve the second block of the order-9 range at 0 first, then make the third unreservable.
    expect(m.reserve.reserveMetadataStorage(32, 0, TAGGED)).toBe(0);
    const start = 0;
    const blockA = m.region.tag.start + 1;
    expect(m.pageRef(blockA)).toBe(2);
    const blockB = blockA + 1;
    m.free[blockB] = 0;
    m.ref[blockB] = 1;
    m.owner[blockB] = 2;
    expect(m.reserve.reserveMetadataStorage(start, 9, TAGGED)).toBe(-16);
    expect(m.pageRef(blockA)).toBe(2);
    expect(m.ts.reservedBlocks.size).toBe(1);
    expect(m.ev('metadata_reserve_fail')).toBe(1);
    // Every block that was newly taken and given back is free again.
    expect(m.freeCount(m.region.tag.start, m.region.tag.end + 1)).toBe(m.region.tag.end - m.region.tag.start + 1 - 2);
  });

  test('a pfn outside every region WARNs once and succeeds (v1)', () => {
    const m = machine(1);
    const tagPfn = m.region.tag.start + 5;
    expect(m.reserve.reserveMetadataStorage(tagPfn, 0, TAGGED)).toBe(0);
    expect(m.reserve.reserveMetadataStorage(tagPfn + 1, 0, TAGGED)).toBe(0);
    const lines = m.log.all().filter((r) => r.text.startsWith('Missing tag storage block'));
    expect(lines.map((r) => r.text)).toEqual([`Missing tag storage block for pfn 0x${tagPfn.toString(16)}`]);
    expect(m.ts.reservedBlocks.size).toBe(0);
  });

  test('freeing a tagged page whose block is not reserved WARNs', () => {
    const m = machine(1);
    const p = m.allocPages(0, GFP_HIGHUSER_MOVABLE);
    m.setFlag(p, MigFlag.MteTagged);
    m.freePages(p, 0);
    const block = m.region.tag.start + Math.floor(p / 32);
    expect(m.log.all().map((r) => r.text)).toContain(
      `Block 0x${block.toString(16)} is not reserved for pfn 0x${p.toString(16)}`,
    );
  });

  test('freeing erases stale tags_by_pfn entries', () => {
    const m = machine(1);
    const p = m.allocPages(0, TAGGED);
    m.swapTags.savePageTagsByPfn(p, new Uint8Array(128).fill(0x33));
    expect(m.swapTags.pageMetadataInSwap(p)).toBe(true);
    m.freePages(p, 0);
    expect(m.swapTags.pageMetadataInSwap(p)).toBe(false);
    expect(m.tagStore.tagsByPfn.size).toBe(0);
  });
});

describe('tagged demand while tag storage holds data (#4 acceptance 3)', () => {
  test('data pages living in tag storage are migrated out with their tokens intact', () => {
    const m = machine(1);
    const data = m.fillTagStorageWithData(5000);
    expect(data).toHaveLength(1024);
    // 1 MiB of tagged pages: 256 pages → 8 tag blocks at block size 1.
    const pages: number[] = [];
    for (let i = 0; i < 256; i++) pages.push(m.allocPages(0, TAGGED));
    expect(pages.every((p) => p >= 0)).toBe(true);
    const blocks = new Set(pages.map((p) => m.region.tag.start + Math.floor(p / 32)));
    expect(blocks.size).toBeGreaterThanOrEqual(8);
    expect(m.ev('pgmigrate_success')).toBe(blocks.size);
    expect(m.ev('metadata_reserve_success')).toBe(blocks.size);
    for (const b of blocks) {
      const dst = m.moved.get(b);
      expect(dst).toBeDefined();
      expect(m.token[dst!]).toBe(5000 + b);
      expect(m.owner[dst!]).toBe(1);
      // The destination is ordinary movable memory, never the block being emptied.
      expect(blocks.has(dst!)).toBe(false);
      expect(m.owner[b]).toBe(0);
    }
    // Every other data page is where it was.
    for (const p of data) if (!blocks.has(p)) expect(m.token[p]).toBe(5000 + p);
  });
});

describe('fatal signal and free_contig_range (§2.3 steps 9–10)', () => {
  test('-EINTR takes the error path, counts the failure and returns 0 (v1 patch 34)', () => {
    const m = machine(1);
    m.fillTagStorageWithData(1);
    m.reserve.fatalSignalPending = () => true;
    expect(m.reserve.reserveMetadataStorage(0, 0, TAGGED)).toBe(0);
    expect(m.ev('metadata_reserve_fail')).toBe(1);
    expect(m.ts.reservedBlocks.size).toBe(0);
    expect(m.testFlag(0, MigFlag.TagStorageReserved)).toBe(false);
    expect(m.ev('pgmigrate_success')).toBe(0);
  });

  test('free_contig_range WARNs about pages still in use', () => {
    const m = machine(1);
    const T = m.region.tag.start;
    expect(m.isolation.allocContigRange(T, T + 2, METADATA, GFP_HIGHUSER_MOVABLE)).toBe(0);
    m.ref[T + 1] = 2;
    m.isolation.freeContigRange(T, 2);
    expect(m.log.all().map((r) => r.text)).toContain('1 pages are still in use!');
    expect(m.isFree(T)).toBe(true);
    expect(m.isFree(T + 1)).toBe(false);
  });

  test('alloc_contig_range of a METADATA range for another migratetype is refused (P24)', () => {
    const m = machine(1);
    const T = m.region.tag.start;
    expect(m.isolation.allocContigRange(T, T + 1, 1, GFP_HIGHUSER_MOVABLE)).toBe(-16);
    expect(m.pageblockMigratetype(T)).toBe(METADATA);
    expect(m.isFree(T)).toBe(true);
  });
});

describe('tags_by_pfn on free', () => {
  test('an untagged page freed with parked tags drops them, with no WARN', () => {
    const m = machine(1);
    const p = m.allocPages(0, GFP_HIGHUSER_MOVABLE);
    m.swapTags.savePageTagsByPfn(p, new Uint8Array(128).fill(7));
    m.freePages(p, 0);
    expect(m.swapTags.pageMetadataInSwap(p)).toBe(false);
    expect(m.log.all().filter((r) => r.level === 'warning')).toEqual([]);
  });
});

describe('blocksFor', () => {
  test('matches what a reservation pins, including v1 over-reservation at B = 2', () => {
    const m = machine(2);
    const p = m.allocPages(9, TAGGED);
    const f = m.reserve.blocksFor(p, 9)!;
    expect(f.blocks).toHaveLength(16);
    expect(f.count).toBe(64);
    expect([...m.ts.reservedBlocks].sort((a, b) => a - b)).toEqual(f.blocks);
    expect(m.reserve.blocksFor(m.region.tag.start, 0)).toBeUndefined();
  });
});

describe('v1 over-reservation at the end of a region', () => {
  test('blocks past the tag range are refused with the kernel error and the call fails', () => {
    const m = machine(2);
    const last = m.region.mem.end + 1 - 512;
    expect(m.reserve.reserveMetadataStorage(last, 9, TAGGED)).toBe(-34);
    const start = m.region.tag.start + last / 32;
    const past = m.region.tag.end + 1;
    const hex = (p: number): string => (p * 4096).toString(16);
    expect(m.log.all().map((r) => r.text)).toContain(
      `Block 0x${hex(past)}-0x${hex(past + 2)} is outside tag region 0x${hex(m.region.tag.start)}-0x${hex(m.region.tag.end)}`,
    );
    // The eight blocks inside the region that were taken on the way are given back.
    expect(m.ts.reservedBlocks.size).toBe(0);
    expect(m.isFree(start)).toBe(true);
    expect(m.ev('metadata_reserve_success')).toBe(16);
    expect(m.ev('metadata_reserve_fail')).toBe(2);
  });
});
