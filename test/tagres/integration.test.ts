/**
 * Tag storage reuse on the real allocator and process layer (#4 acceptance 1–4, #5 migration/compaction):
 * blocks reserved by tagged faults and returned on munmap, untagged data spilled into tag storage migrated
 * out by tagged demand, a tag storage page migrated after mprotect(PROT_MTE), compaction with tags.
 */
import { makeRealMachine, type RealMachine } from './real.js';
import { checkInvariants } from '../../src/invariants/check.js';
import { TagStorage, activateTagStorage } from '../../src/arch/arm64/mte_tag_storage.js';
import { TagStorageReuse } from '../../src/arch/arm64/tag_reserve.js';
import { Memblock } from '../../src/mm/memblock.js';
import { VM_MTE, VM_READ, VM_WRITE, type Vma } from '../../src/process/mm.js';
import { FaultResult } from '../../src/process/fault.js';
import { MigrateReason } from '../../src/mm/migrate.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../../src/mm/vmstat.js';
import { GFP_HIGHUSER_MOVABLE, __GFP_COMP, __GFP_TAGGED } from '../../src/mm/gfp.js';
import { MIGRATE_METADATA, MIGRATE_MOVABLE } from '../../src/mm/zone.js';

const RW = VM_READ | VM_WRITE;
const MiB = 1024 * 1024;

function freeMetadata(m: RealMachine): number {
  return m.alloc.globalZoneState(NR_FREE_METADATA_PAGES);
}

function clean(m: RealMachine): void {
  expect(checkInvariants(m.layer)).toEqual([]);
}

describe('tag storage reuse on the real allocator', () => {
  test('tagged first touch of 64 MiB reserves 512 blocks; munmap returns every one (#4 acc. 1)', () => {
    const m = makeRealMachine({ dataMiB: 256 });
    const boot = freeMetadata(m);
    const p = m.layer.createProcess('a');
    const v = m.layer.mmap(p, 'buf', 64 * MiB, RW | VM_MTE, false, false)!;
    expect(m.layer.touch(p, v.start, v.end, true).result).toBe(FaultResult.Ok);
    clean(m);
    expect(m.ts.reservedBlocks.size).toBeGreaterThanOrEqual(512);
    expect(m.ev('metadata_reserve_success')).toBe(m.ts.reservedBlocks.size);
    expect(freeMetadata(m)).toBe(boot - m.ts.reservedBlocks.size);
    for (const b of m.ts.reservedBlocks) expect(m.alloc.memmap.refcount(b)).toBeGreaterThan(1);
    const reserved = m.ts.reservedBlocks.size;
    m.layer.munmap(p, v.start, v.end);
    m.layer.exit(p);
    clean(m);
    expect(m.ts.reservedBlocks.size).toBe(0);
    expect(m.ev('metadata_reserve_free')).toBe(reserved);
    m.alloc.drainAllPages();
    expect(freeMetadata(m)).toBe(boot);
  });

  test('untagged data spilled into tag storage is migrated out by tagged demand (#4 acc. 3)', () => {
    const m = makeRealMachine({ dataMiB: 64 });
    const meta0 = freeMetadata(m);
    // Fill memory with untagged data until it spills into METADATA (the last resort, §3.2).
    const hog = m.layer.createProcess('hog');
    const maps: Vma[] = [];
    while (meta0 - freeMetadata(m) < 300) {
      const v = m.layer.mmap(hog, `fill${maps.length}`, MiB / 4, RW, false, false)!;
      expect(m.layer.touch(hog, v.start, v.end, true).result).toBe(FaultResult.Ok);
      maps.push(v);
    }
    // Free 16 MiB of the hog's memory in the data area, then ask for tagged memory.
    for (const v of maps.slice(0, 64)) m.layer.munmap(hog, v.start, v.end);
    clean(m);
    const t = m.layer.createProcess('tagged');
    const tv = m.layer.mmap(t, 'mte', 8 * MiB, RW | VM_MTE, false, false)!;
    expect(m.layer.touch(t, tv.start, tv.end, true).result).toBe(FaultResult.Ok);
    expect(m.ev('pgmigrate_success')).toBeGreaterThan(0);
    expect(m.ev('metadata_reserve_success')).toBeGreaterThanOrEqual(64);
    // Data tokens of every hog page are intact and every invariant holds (5: tokens, 3: no data in reserved blocks).
    clean(m);
  });

  test('a tag storage page touched after mprotect(PROT_MTE) is migrated to a tagged page (#4 acc. 4)', () => {
    const m = makeRealMachine({ dataMiB: 64 });
    const hog = m.layer.createProcess('hog');
    const total = m.alloc.globalZoneState(NR_FREE_PAGES) * 4096;
    const v = m.layer.mmap(hog, 'fill', total - 6 * MiB, RW, false, false)!;
    m.layer.touch(hog, v.start, v.end, true);
    const more = m.layer.mmap(hog, 'more', 2 * MiB, RW, false, false)!;
    m.layer.touch(hog, more.start, more.end, true);
    // Find a page of the mapping that lives in tag storage.
    let idx = -1;
    for (let i = v.pages - 1; i >= 0; i--) {
      const pfn = v.pfn[i]!;
      if (pfn >= m.region.tag.start && pfn <= m.region.tag.end) {
        idx = i;
        break;
      }
    }
    expect(idx).toBeGreaterThanOrEqual(0);
    const addr = v.start + idx * 4096;
    const old = v.pfn[idx]!;
    m.layer.munmap(hog, v.start, v.start + 8 * MiB); // room for tagged pages
    m.layer.mprotect(hog, addr, addr + 4096, RW | VM_MTE);
    expect(m.layer.touch(hog, addr, addr + 4096, true).result).toBe(FaultResult.Ok);
    const vv = hog.mm.findVma(addr)!;
    const now = vv.pfn[(addr - vv.start) / 4096]!;
    expect(now).not.toBe(old);
    expect(now < m.region.tag.start || now > m.region.tag.end).toBe(true);
    expect(m.ev('pgmigrate_success')).toBeGreaterThanOrEqual(1);
    clean(m);
  });

  test('compaction keeps data and tags on the real allocator', () => {
    const m = makeRealMachine({ dataMiB: 64 });
    const p = m.layer.createProcess('c');
    const maps: Vma[] = [];
    for (let i = 0; i < 16; i++) {
      const v = m.layer.mmap(p, `m${i}`, 1 * MiB, RW | (i % 2 === 0 ? VM_MTE : 0), false, false)!;
      m.layer.touch(p, v.start, v.end, true);
      maps.push(v);
    }
    for (let i = 0; i < 16; i += 2) m.layer.settag(p, maps[i]!.start, maps[i]!.start + 4096, 9);
    // Free every other mapping: holes everywhere.
    for (let i = 1; i < 16; i += 4) m.layer.munmap(p, maps[i]!.start, maps[i]!.end);
    clean(m);
    const before = m.ev('pgmigrate_success');
    const r = m.reuse.compactAll();
    expect(r.migrated).toBeGreaterThan(0);
    expect(m.ev('pgmigrate_success') - before).toBe(r.migrated);
    expect(m.ev('compact_isolated')).toBeGreaterThan(0);
    for (let i = 0; i < 16; i += 2) expect(m.layer.tagAt(p, maps[i]!.start)).toBe(9);
    clean(m);
  });
});

describe('direct compaction (§3.5 P8, P9)', () => {
  test('a THP allocation in fragmented memory compacts and succeeds', () => {
    const m = makeRealMachine({ dataMiB: 64 });
    m.reuse.installDirectCompaction();
    m.alloc.setMinFreeKbytes(128);
    const p = m.layer.createProcess('p');
    const free = m.alloc.globalZoneState(NR_FREE_PAGES) * 4096;
    const v = m.layer.mmap(p, 'f', free - 3 * MiB, RW, false, false)!;
    expect(m.layer.touch(p, v.start, v.end, true).result).toBe(FaultResult.Ok);
    // Every other page freed: half of memory free, no free block of order 9 anywhere.
    for (let a = v.start; a < v.end; a += 8192) m.layer.munmap(p, a, a + 4096);
    m.alloc.drainAllPages();
    for (const z of m.alloc.zones)
      for (let o = 9; o <= 10; o++) expect(z.populated ? z.freeListCount(o, MIGRATE_MOVABLE) : 0).toBe(0);
    const pfn = m.alloc.allocPages(9, GFP_HIGHUSER_MOVABLE | __GFP_COMP);
    expect(pfn).toBeGreaterThanOrEqual(0);
    expect(pfn % 512).toBe(0);
    expect(m.ev('compact_stall')).toBe(1);
    expect(m.ev('compact_success')).toBe(1);
    expect(m.ev('pgmigrate_success')).toBeGreaterThan(0);
    m.alloc.freePages(pfn, 9);
    clean(m);
  });
});

describe('isolation of a pageblock inside a larger free block', () => {
  test('an order-10 METADATA block over two pageblocks is split; only one pageblock is isolated', () => {
    const m = makeRealMachine({ dataMiB: 128 });
    const z = m.alloc.zones[2]!;
    expect(z.freeListCount(10, MIGRATE_METADATA)).toBe(1);
    const pfn = m.region.mem.start + 512 * 32; // its tag block is the first page of the second pageblock
    const r = m.reuse.reserve.reserveMetadataStorage(pfn, 0, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED);
    expect(r).toBe(0);
    expect([...m.ts.reservedBlocks]).toEqual([m.region.tag.start + 512]);
    expect(m.alloc.checkInvariants()).toEqual([]);
    expect(z.freeListCount(10, MIGRATE_METADATA)).toBe(0);
    expect(z.freeListCount(9, MIGRATE_METADATA)).toBe(1);
    expect(m.alloc.pageblockMigratetype(m.region.tag.start + 512)).toBe(MIGRATE_METADATA);
    expect(freeMetadata(m)).toBe(1023);
    m.reuse.reserve.freeMetadataStorage(pfn, 0);
    expect(m.alloc.checkInvariants()).toEqual([]);
    expect(z.freeListCount(10, MIGRATE_METADATA)).toBe(1);
  });
});

describe('activation through TagStorageReuse (H5 activateTagStorage)', () => {
  /**
   * A second, fresh tag storage table activated the way boot does it, against the allocator of a machine whose
   * tag storage pageblocks are already METADATA in the buddy (activation would free them again: skipped).
   */
  function activateFresh(zeroPfn: (m: ReturnType<typeof makeRealMachine>) => number) {
    const m = makeRealMachine({ dataMiB: 64 });
    const ts = new TagStorage(4096, 512);
    ts.regions.push(m.region);
    m.ts.metadataEnabled = false;
    const reuse = new TagStorageReuse(m.alloc, ts, m.log).install();
    const memblock = new Memblock();
    memblock.addNode(0x80000000, 0x100000000 + 0x4400000 - 0x80000000, 0);
    const tsm = { ...reuse.tagStorageMm(), initReservedPageblock: () => undefined };
    const zero = zeroPfn(m);
    const before = m.log.all().length;
    const ret = activateTagStorage(
      { log: m.log, memblock, mteSupported: true, kasanHwTags: false, zeroPagePfn: zero, mm: tsm },
      ts,
    );
    return { m, ts, tsm, zero, ret, lines: () => m.log.all().slice(before) };
  }

  test('the zero page block is reserved with alloc_contig_range and the key turns on', () => {
    // Pretend the zero page is in tagged memory.
    const { m, ts, ret } = activateFresh((x) => x.region.mem.start + 100);
    expect(ret).toBe(0);
    expect(ts.metadataEnabled).toBe(true);
    expect(m.log.dmesg()).toContain('MTE tag storage enabled');
    const block = m.region.tag.start + Math.floor(100 / 32);
    expect([...ts.reservedBlocks]).toEqual([block]);
    expect(m.alloc.memmap.refcount(block)).toBe(2);
    expect(m.ev('metadata_reserve_success')).toBe(1);
    expect(m.alloc.checkInvariants()).toEqual([]);
  });

  test('a zero page outside every tagged range WARNs once and the key still turns on (v1)', () => {
    // No region covers a tag storage page.
    const { ts, tsm, zero, ret, lines } = activateFresh((x) => x.region.tag.start + 3);
    expect(ret).toBe(0);
    expect(lines().map((r) => [r.level, r.text])).toEqual([
      ['warning', `Missing tag storage block for pfn 0x${zero.toString(16)}`],
      ['info', 'MTE tag storage enabled'],
    ]);
    expect(ts.metadataEnabled).toBe(true);
    expect(ts.reservedBlocks.size).toBe(0);
    // Once only: another look-up for a pfn outside every region prints nothing more.
    expect(tsm.reserveMetadataStorage(zero + 1, 0)).toBe(0);
    expect(lines()).toHaveLength(2);
  });
});

describe('migrate VMA to=TARGET (#5 acceptance 1)', () => {
  test('a tagged mapping moved to another memory range keeps its data and tags; tag blocks follow', () => {
    const m = makeRealMachine({ dataMiB: 64 });
    const p = m.layer.createProcess('p');
    const v = m.layer.mmap(p, 'buf', 1 * MiB, RW | VM_MTE, false, false)!;
    m.layer.touch(p, v.start, v.end, true);
    m.layer.settag(p, v.start, v.start + 16, 3);
    m.layer.settag(p, v.end - 16, v.end, 12);
    const before = Array.from(v.pfn).map((pfn) => m.layer.contentOf(pfn));
    const blocksBefore = [...m.ts.reservedBlocks];
    // 16 MiB of tagged memory not holding the mapping, like a DT memory node given as the target.
    let lo = m.region.mem.start;
    if (v.pfn.some((pfn) => pfn >= lo && pfn < lo + 4096)) lo = m.region.mem.end + 1 - 4096;
    const hi = lo + 4096;
    expect(v.pfn.every((pfn) => pfn < lo || pfn >= hi)).toBe(true);
    const dest = m.reuse.targetAllocator({ zoneIdx: 2, start: lo, end: hi });
    for (let i = 0; i < v.pages; i++) {
      const op = m.reuse.migrator.beginWith(v.pfn[i]!, MigrateReason.MR_SYSCALL, dest);
      while (!op.step());
      expect(op.rc).toBe(0);
    }
    for (let i = 0; i < v.pages; i++) {
      expect(v.pfn[i]!).toBeGreaterThanOrEqual(lo);
      expect(v.pfn[i]!).toBeLessThan(hi);
      expect(m.layer.contentOf(v.pfn[i]!)).toBe(before[i]);
    }
    expect(m.layer.tagAt(p, v.start)).toBe(3);
    expect(m.layer.tagAt(p, v.end - 16)).toBe(12);
    expect(m.ev('pgmigrate_success')).toBe(256);
    // Exactly the blocks covering the new pages are reserved (block size 1); the old ones were returned.
    const want = new Set(
      Array.from(v.pfn).map((pfn) => m.region.tag.start + Math.floor((pfn - lo) / 32) + (lo - m.region.mem.start) / 32),
    );
    expect([...m.ts.reservedBlocks].sort()).toEqual([...want].sort());
    for (const b of blocksBefore) expect(m.ts.reservedBlocks.has(b)).toBe(false);
    clean(m);
  });
});

describe('mprotect(PROT_MTE) defers reservation to the access (#4 acceptance 2)', () => {
  test('nothing is reserved by mprotect; touching 1 MiB reserves 8 blocks', () => {
    const m = makeRealMachine({ dataMiB: 256 });
    const p = m.layer.createProcess('p');
    const v = m.layer.mmap(p, 'buf', 64 * MiB, RW, false, false)!;
    m.layer.touch(p, v.start, v.end, true);
    m.layer.mprotect(p, v.start, v.end, RW | VM_MTE);
    expect(m.ts.reservedBlocks.size).toBe(0);
    expect(m.ev('metadata_reserve_success')).toBe(0);
    expect(m.layer.touch(p, v.start, v.start + MiB, false).result).toBe(FaultResult.Ok);
    // 256 pages: 8 tag pages when they are 32-aligned and contiguous, a few more otherwise.
    expect(m.ts.reservedBlocks.size).toBeGreaterThanOrEqual(8);
    expect(m.ts.reservedBlocks.size).toBeLessThanOrEqual(10);
    expect(m.ev('metadata_reserve_success')).toBe(m.ts.reservedBlocks.size);
    clean(m);
  });
});

describe('zones with holes', () => {
  test('compaction and direct compaction skip the pageblocks of a hole in the zone span', () => {
    const m = makeRealMachine({ dataMiB: 128, holeMiB: 128 });
    m.reuse.installDirectCompaction();
    const p = m.layer.createProcess('p');
    const v = m.layer.mmap(p, 'buf', 16 * MiB, RW | VM_MTE, false, false)!;
    m.layer.touch(p, v.start, v.end, true);
    for (let a = v.start; a < v.end; a += 8192) m.layer.munmap(p, a, a + 4096);
    const r = m.reuse.compactAll();
    expect(r.migrated).toBeGreaterThanOrEqual(0);
    expect(m.reuse.compactOp().step()).toBeDefined();
    clean(m);
  });
});
