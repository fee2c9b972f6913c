import { describe, expect, test } from '@jest/globals';
import {
  ALLOC_FROM_METADATA,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_DMA,
  GFP_KERNEL,
  __GFP_DMA,
  __GFP_MOVABLE,
  __GFP_RECLAIMABLE,
  __GFP_TAGGED,
  gfpMigratetype,
  gfpToAllocFlagsFast,
  gfpZone,
  ALLOC_CMA,
} from '../../src/mm/gfp.js';
import { PG_buddy } from '../../src/mm/memmap.js';
import { NR_FREE_CMA_PAGES, NR_FREE_METADATA_PAGES, NR_FREE_PAGES, PGFREE, PGALLOC_DMA } from '../../src/mm/vmstat.js';
import {
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_METADATA,
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  NIL,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  type Zone,
} from '../../src/mm/zone.js';
import { makeMachine, recordingArch } from './machine.js';

const nrFree = (z: Zone): number[] => Array.from(z.nrFree);

describe('gfp rules', () => {
  test('zone and migratetype', () => {
    expect(gfpZone(GFP_KERNEL)).toBe(ZONE_NORMAL);
    expect(gfpZone(GFP_HIGHUSER_MOVABLE)).toBe(ZONE_MOVABLE);
    expect(gfpZone(GFP_KERNEL | __GFP_MOVABLE)).toBe(ZONE_NORMAL);
    expect(gfpMigratetype(GFP_KERNEL)).toBe(MIGRATE_UNMOVABLE);
    expect(gfpMigratetype(GFP_HIGHUSER_MOVABLE)).toBe(MIGRATE_MOVABLE);
    expect(gfpMigratetype(GFP_KERNEL | __GFP_RECLAIMABLE)).toBe(MIGRATE_RECLAIMABLE);
  });
  test('ALLOC_FROM_METADATA only for movable untagged requests with tag storage on (§3.2)', () => {
    expect(gfpToAllocFlagsFast(GFP_HIGHUSER_MOVABLE, 0, true) & ALLOC_FROM_METADATA).toBeTruthy();
    expect(gfpToAllocFlagsFast(GFP_HIGHUSER_MOVABLE, 0, false) & ALLOC_FROM_METADATA).toBe(0);
    expect(gfpToAllocFlagsFast(GFP_HIGHUSER_MOVABLE | __GFP_TAGGED, 0, true) & ALLOC_FROM_METADATA).toBe(0);
    expect(gfpToAllocFlagsFast(GFP_KERNEL, 0, true) & ALLOC_FROM_METADATA).toBe(0);
    expect(gfpToAllocFlagsFast(GFP_KERNEL | __GFP_RECLAIMABLE, 0, true) & ALLOC_FROM_METADATA).toBe(0);
    expect(gfpToAllocFlagsFast(GFP_HIGHUSER_MOVABLE | __GFP_TAGGED, 0, true) & ALLOC_CMA).toBeTruthy();
  });
});

describe('boot freeing (memblock_free_all)', () => {
  test('aligned memory lands as MAX_ORDER blocks, managed and counted', () => {
    const { alloc, dma, normal } = makeMachine({ noWatermarks: true, noPcp: true });
    expect(nrFree(dma)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16]);
    expect(dma.managedPages).toBe(16384);
    expect(dma.state(NR_FREE_PAGES)).toBe(16384);
    expect(normal.freeListCount(10, MIGRATE_MOVABLE)).toBe(16);
    expect(alloc.events.get(PGFREE)).toBe(32768);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('an unaligned range is cut into the largest aligned chunks and merges with what is free', () => {
    const { alloc, dma } = makeMachine({ dmaMiB: 8, noWatermarks: true, noPcp: true });
    // Take two whole MAX_ORDER blocks out, then give back an odd range inside them in two calls.
    const base = dma.zoneStartPfn;
    const got = [alloc.allocPages(10, GFP_DMA), alloc.allocPages(10, GFP_DMA)];
    expect(got.every((p) => dma.spansPfn(p))).toBe(true);
    const before = dma.state(NR_FREE_PAGES);
    const lo = Math.min(...got);
    expect(Math.max(...got)).toBe(lo + 1024);
    alloc.freeBootmem(lo + 1, lo + 1000);
    alloc.freeBootmem(lo + 1000, lo + 2048);
    // pfn lo is still allocated: every page but that one is back, as blocks of order 0..10 minus one chain.
    expect(dma.state(NR_FREE_PAGES)).toBe(before + 2047);
    expect(alloc.isFree(lo)).toBe(false);
    expect(alloc.isFree(lo + 1)).toBe(true);
    // The split chain of a block with only its first page missing: one block of each order 0..10.
    alloc.freePages(lo, 0);
    expect(alloc.freeBlockAt(lo + 5)?.order).toBe(10);
    expect(alloc.checkInvariants()).toEqual([]);
    expect(base).toBe(0x80000);
  });
});

describe('boot freeing over holes', () => {
  test('pfns without memmap or zone are skipped a section or a zone at a time', () => {
    const { alloc, dma, normal } = makeMachine({ noWatermarks: true, noPcp: true });
    const before = alloc.globalZoneState(NR_FREE_PAGES);
    // From the end of DMA (same section, no zone) across 2 GiB of missing sections to Normal's start.
    alloc.freeBootmem(dma.zoneEndPfn, normal.zoneStartPfn);
    expect(alloc.globalZoneState(NR_FREE_PAGES)).toBe(before);
    expect(alloc.checkInvariants()).toEqual([]);
  });
});

describe('buddy split and merge', () => {
  test('an order-0 allocation splits a MAX_ORDER block into one block of each lower order', () => {
    const { alloc, dma, normal } = makeMachine({ noWatermarks: true, noPcp: true });
    const pfn = alloc.allocPages(0, GFP_KERNEL | __GFP_MOVABLE);
    expect(normal.spansPfn(pfn)).toBe(true);
    expect(nrFree(normal)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 15]);
    expect(normal.state(NR_FREE_PAGES)).toBe(16383);
    expect(alloc.memmap.refcount(pfn)).toBe(1);
    alloc.freePages(pfn, 0);
    expect(nrFree(normal)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16]);
    expect(nrFree(dma)[10]).toBe(16);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('freeing 1024 pages in shuffled order merges back to the same MAX_ORDER blocks', () => {
    const { alloc, normal } = makeMachine({ noWatermarks: true, noPcp: true });
    const pfns: number[] = [];
    for (let k = 0; k < 1024; k++) pfns.push(alloc.allocPages(0, GFP_HIGHUSER_MOVABLE));
    expect(new Set(pfns).size).toBe(1024);
    let seed = 12345;
    for (let k = pfns.length - 1; k > 0; k--) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const j = seed % (k + 1);
      [pfns[k], pfns[j]] = [pfns[j]!, pfns[k]!];
    }
    for (const p of pfns) alloc.freePages(p, 0);
    expect(nrFree(normal)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16]);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('higher orders are naturally aligned and counted in pgalloc', () => {
    const { alloc } = makeMachine({ noWatermarks: true, noPcp: true });
    for (let o = 0; o <= 10; o++) {
      const p = alloc.allocPages(o, GFP_KERNEL);
      expect(p % 2 ** o).toBe(0);
    }
    expect(alloc.events.get(PGALLOC_DMA + ZONE_NORMAL)).toBe(2047);
    expect(alloc.checkInvariants()).toEqual([]);
  });
});

describe('MIGRATE_METADATA (v1 §3)', () => {
  test('activation frees tag storage pageblocks as METADATA and counts them', () => {
    const { alloc, normal } = makeMachine({ metadataMiB: 4 });
    expect(normal.metadataPages).toBe(1024);
    expect(alloc.totalmetadataPages).toBe(1024);
    expect(normal.state(NR_FREE_METADATA_PAGES)).toBe(1024);
    expect(alloc.freePagesOfType(normal, MIGRATE_METADATA)).toBe(1024);
    expect(normal.managedPages).toBe(16384);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('unmovable and tagged requests never get METADATA pages; they fail while METADATA is free', () => {
    const m = makeMachine({ dmaMiB: 4, normalMiB: 8, metadataMiB: 4, noWatermarks: true, noPcp: true });
    const { alloc } = m;
    const inMeta = (p: number): boolean => p >= m.metaStartPfn && p < m.metaEndPfn;
    for (const gfp of [GFP_KERNEL, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED, GFP_KERNEL | __GFP_RECLAIMABLE]) {
      const mm = makeMachine({ dmaMiB: 4, normalMiB: 8, metadataMiB: 4, noWatermarks: true, noPcp: true });
      const got: number[] = [];
      for (;;) {
        const p = mm.alloc.allocPages(0, gfp);
        if (p < 0) break;
        got.push(p);
      }
      expect(got.length).toBe(2048); // 4 MiB DMA + 4 MiB non-metadata Normal
      expect(got.some((p) => p >= mm.metaStartPfn && p < mm.metaEndPfn)).toBe(false);
      expect(mm.normal.state(NR_FREE_METADATA_PAGES)).toBe(1024);
      expect(mm.alloc.checkInvariants()).toEqual([]);
    }
    expect(inMeta(alloc.allocPages(0, GFP_KERNEL))).toBe(false);
  });

  test('movable untagged requests use METADATA after their own lists and before stealing', () => {
    const m = makeMachine({ dmaMiB: 4, normalMiB: 8, metadataMiB: 2, noWatermarks: true, noPcp: true });
    const { alloc, normal } = m;
    // An unmovable allocation in Normal steals a MAX_ORDER block (2 pageblocks become UNMOVABLE).
    const k = alloc.allocPages(0, GFP_KERNEL);
    expect(normal.spansPfn(k)).toBe(true);
    const unmovableBlocks = new Set<number>();
    for (let p = normal.zoneStartPfn; p < m.metaStartPfn; p += 512)
      if (alloc.pageblockMigratetype(p) === MIGRATE_UNMOVABLE) unmovableBlocks.add(p);
    expect(unmovableBlocks.size).toBe(2);
    const kind = (p: number): string => {
      if (!normal.spansPfn(p)) return 'dma';
      if (p >= m.metaStartPfn) return 'meta';
      return unmovableBlocks.has(p - (p % 512)) ? 'stolen' : 'movable';
    };
    const seq: string[] = [];
    for (;;) {
      const p = alloc.allocPages(0, GFP_HIGHUSER_MOVABLE);
      if (p < 0) break;
      const kd = kind(p);
      if (seq[seq.length - 1] !== kd) seq.push(kd);
    }
    // ALLOC_NOFRAGMENT (preferred zone Normal) lets the first pass steal only whole pageblocks, so once the
    // stolen blocks are fragmented DMA's own movable pages come first, then the retry without it steals the rest.
    expect(seq).toEqual(['movable', 'meta', 'stolen', 'dma', 'stolen']);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('a tagged request reserves tag storage; on failure the page goes to the tail and another is tried', () => {
    const m = makeMachine({ metadataMiB: 2, noWatermarks: true, noPcp: true });
    const { alloc } = m;
    let first = -1;
    const arch = recordingArch((pfn) => {
      if (first < 0) {
        first = pfn;
        return false;
      }
      return true;
    });
    alloc.arch = arch;
    const p = alloc.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).not.toBe(first);
    expect(arch.reserved.length).toBe(2);
    // The refused page is free again, at the tail of its list.
    const blk = alloc.freeBlockAt(first);
    expect(blk).not.toBeNull();
    const z = alloc.zoneForPfn(first)!;
    const tail = z.freeTail[blk!.order * MIGRATE_TYPES + blk!.mt]!;
    expect(alloc.memmap.idxToPfn(tail)).toBe(blk!.pfn);
    expect(alloc.checkInvariants()).toEqual([]);
    // Freeing a tagged page calls free_metadata_storage.
    alloc.freePages(p, 0);
    expect(arch.freed).toEqual([[p, 0]]);
  });

  test('when every reservation fails the allocation fails (OOM is left to the caller)', () => {
    const m = makeMachine({ dmaMiB: 4, normalMiB: 4, metadataMiB: 2, noWatermarks: true, noPcp: true });
    m.alloc.arch = recordingArch(() => false);
    expect(m.alloc.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED)).toBe(-1);
    expect(m.alloc.checkInvariants()).toEqual([]);
  });

  test('freed METADATA pages bypass the pcp lists (patch 7); tagged requests skip the MOVABLE pcp list (patch 6)', () => {
    const m = makeMachine({ dmaMiB: 4, normalMiB: 8, metadataMiB: 2, noWatermarks: true });
    const { alloc, normal } = m;
    const pcp = normal.pcp[0]!;
    pcp.high = 1000;
    pcp.batch = 7;
    // Exhaust Normal's MOVABLE lists so the next movable allocation takes METADATA.
    const held: number[] = [];
    for (;;) {
      const p = alloc.allocPages(0, GFP_HIGHUSER_MOVABLE);
      if (p >= m.metaStartPfn) {
        held.push(p);
        break;
      }
      held.push(p);
    }
    const meta = held[held.length - 1]!;
    alloc.drainAllPages();
    const before = pcp.count;
    alloc.freePages(meta, 0);
    expect(pcp.count).toBe(before);
    expect(alloc.isFree(meta)).toBe(true);
    expect(alloc.freeBlockAt(meta)!.mt).toBe(MIGRATE_METADATA);
    // Put a movable page on the pcp list, then make a tagged request: it must not take it.
    alloc.freePages(held[0]!, 0);
    expect(pcp.count).toBe(before + 1);
    alloc.arch = recordingArch(() => true);
    const t = alloc.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED);
    expect(t).not.toBe(held[0]);
    expect(pcp.count).toBe(before + 1);
    // ...while an untagged movable request does.
    expect(alloc.allocPages(0, GFP_HIGHUSER_MOVABLE)).toBe(held[0]);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('watermarks count free METADATA pages as unusable unless ALLOC_FROM_METADATA (§3.4)', () => {
    const m = makeMachine({ metadataMiB: 8 });
    const { alloc, normal } = m;
    const free = normal.state(NR_FREE_PAGES);
    const meta = normal.state(NR_FREE_METADATA_PAGES);
    const mark = free - meta + 10;
    expect(alloc.zoneWatermarkOk(normal, 0, mark, ZONE_NORMAL, ALLOC_CMA)).toBe(false);
    expect(alloc.zoneWatermarkOk(normal, 0, mark, ZONE_NORMAL, ALLOC_CMA | ALLOC_FROM_METADATA)).toBe(true);
    // Order 10: only METADATA has a free block of that order once the MAX_ORDER movable blocks are gone.
    const gone: number[] = [];
    while (normal.freeListCount(10, MIGRATE_MOVABLE) > 0) gone.push(alloc.allocPages(10, GFP_KERNEL | __GFP_MOVABLE));
    // (8 MiB of METADATA are 4 pageblocks, which never merge into order 10 with other types: they do merge
    // among themselves)
    expect(normal.freeListCount(10, MIGRATE_METADATA)).toBe(2);
    expect(alloc.zoneWatermarkOk(normal, 10, 0, ZONE_NORMAL, ALLOC_CMA)).toBe(false);
    expect(alloc.zoneWatermarkOk(normal, 10, 0, ZONE_NORMAL, ALLOC_CMA | ALLOC_FROM_METADATA)).toBe(true);
    expect(gone.every((p) => p >= 0)).toBe(true);
  });
});

describe('watermarks (init_per_zone_wmark_min + khugepaged)', () => {
  test('figures from the kernel formulas for 1 GiB DMA + 1 GiB Normal', () => {
    const { alloc, dma, normal } = makeMachine({ dmaMiB: 1024, normalMiB: 1024 });
    // calculate_min_free_kbytes: int_sqrt(2097152 * 16) = 5792, then set_recommended_min_free_kbytes:
    // 512 * 2 zones * (2 + 3 * 3) = 11264 pages = 45056 kB (below 5% of lowmem).
    expect(alloc.minFreeKbytes).toBe(45056);
    for (const z of [dma, normal]) {
      expect(z.minWmark()).toBe(5632); // 11264 * 262144 / 524288
      expect(z.lowWmark()).toBe(5632 + 1408); // + max(5632 / 4, 262144 * 10 / 10000)
      expect(z.highWmark()).toBe(5632 + 2 * 1408);
    }
    // lowmem_reserve: DMA protects 262144 / 256 = 1024 pages against Normal and Movable allocations.
    expect(Array.from(dma.lowmemReserve)).toEqual([0, 0, 1024, 1024]);
    expect(Array.from(normal.lowmemReserve)).toEqual([0, 0, 0, 0]);
    // pcp: batch = rounddown_pow_of_two(64 + 32) - 1 = 63; high = low / cpus(2) = 3520.
    expect(normal.pcp[0]!.batch).toBe(63);
    expect(normal.pcp[0]!.high).toBe(3520);
    // vm stats threshold = 2 * fls(2) * (1 + fls(1024 MiB / 128 MiB)) = 2 * 2 * 5 = 20.
    expect(normal.pcp[1]!.statThreshold).toBe(20);
    // totalreserve = sum over zones of min(max lowmem_reserve + high, managed).
    expect(alloc.totalreservePages).toBe(8448 + 1024 + 8448);
  });

  test('a user min_free_kbytes wins (sysctl)', () => {
    const { alloc, dma } = makeMachine({ dmaMiB: 1024, normalMiB: 1024, minFreeKbytes: 8192 });
    expect(alloc.minFreeKbytes).toBe(8192);
    expect(dma.minWmark()).toBe(1024);
  });

  test('allocations below the low watermark fall back to the next zone', () => {
    const { alloc, normal, dma } = makeMachine({ dmaMiB: 64, normalMiB: 64 });
    let inNormal = 0;
    let inDma = 0;
    for (let k = 0; k < 16384; k++) {
      const p = alloc.allocPages(0, GFP_KERNEL);
      if (normal.spansPfn(p)) inNormal++;
      else if (dma.spansPfn(p)) inDma++;
    }
    expect(inDma).toBeGreaterThan(0);
    // Normal was used until it reached its low watermark (plus what sits on pcp lists).
    expect(normal.state(NR_FREE_PAGES)).toBeLessThanOrEqual(normal.lowWmark() + 64);
    expect(inNormal + inDma).toBe(16384);
    expect(alloc.checkInvariants()).toEqual([]);
  });
});

describe('isolation and take-off helpers', () => {
  test('isolating a free pageblock hides its pages; unisolating gives them back', () => {
    const { alloc, dma } = makeMachine({ noWatermarks: true, noPcp: true });
    const pb = dma.zoneStartPfn + 512 * 3;
    const before = dma.state(NR_FREE_PAGES);
    expect(alloc.isolatePageblock(pb)).toBe(true);
    expect(alloc.isolatePageblock(pb)).toBe(false);
    expect(alloc.pageblockMigratetype(pb)).toBe(MIGRATE_ISOLATE);
    expect(dma.state(NR_FREE_PAGES)).toBe(before - 512);
    expect(alloc.freePagesOfType(dma, MIGRATE_ISOLATE)).toBe(512);
    expect(alloc.checkInvariants()).toEqual([]);
    for (let k = 0; k < 64; k++) {
      const p = alloc.allocPages(0, GFP_KERNEL | __GFP_MOVABLE);
      expect(p >= pb && p < pb + 512).toBe(false);
    }
    alloc.unisolatePageblock(pb, MIGRATE_MOVABLE);
    expect(alloc.pageblockMigratetype(pb)).toBe(MIGRATE_MOVABLE);
    expect(alloc.freePagesOfType(dma, MIGRATE_ISOLATE)).toBe(0);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('takeFreePage removes exactly one page from a free block', () => {
    const { alloc, dma } = makeMachine({ noWatermarks: true, noPcp: true });
    const pfn = dma.zoneStartPfn + 1024 * 5 + 777;
    const before = dma.state(NR_FREE_PAGES);
    expect(alloc.takeFreePage(pfn)).toBe(true);
    expect(alloc.isFree(pfn)).toBe(false);
    expect(alloc.isFree(pfn - 1)).toBe(true);
    expect(alloc.isFree(pfn + 1)).toBe(true);
    expect(dma.state(NR_FREE_PAGES)).toBe(before - 1);
    expect(alloc.takeFreePage(pfn)).toBe(false);
    expect(alloc.checkInvariants()).toEqual([]);
    alloc.freePages(pfn, 0);
    expect(alloc.freeBlockAt(pfn)!.order).toBe(10);
  });

  test('isolateFreePage takes a whole free block; forEachFreeBlock sees every free page', () => {
    const { alloc, dma } = makeMachine({ noWatermarks: true, noPcp: true });
    const head = dma.zoneStartPfn + 2048;
    expect(alloc.isolateFreePage(head, 10)).toBe(1024);
    expect(alloc.isolateFreePage(head, 10)).toBe(0);
    let pages = 0;
    alloc.forEachFreeBlock(dma, (_p, o) => (pages += 2 ** o));
    expect(pages).toBe(dma.state(NR_FREE_PAGES));
    expect(alloc.memmap.flags(head) & PG_buddy).toBe(0);
    expect(dma.freeHead[0]).toBe(NIL);
  });

  test('pcp pages are not counted free; drainAllPages returns them', () => {
    const { alloc, normal } = makeMachine({});
    const p = alloc.allocPages(0, GFP_HIGHUSER_MOVABLE);
    const pcp = normal.pcp[0]!;
    expect(pcp.count).toBe(pcp.batch - 1);
    alloc.freePages(p, 0);
    expect(pcp.count).toBe(pcp.batch);
    expect(normal.state(NR_FREE_PAGES) + normal.pcpPages()).toBe(normal.managedPages);
    alloc.drainAllPages();
    expect(pcp.count).toBe(0);
    expect(normal.state(NR_FREE_PAGES)).toBe(normal.managedPages);
    expect(alloc.checkInvariants()).toEqual([]);
  });
});

describe('slow path, hooks and guards', () => {
  test('double free is an internal error, not silent corruption', () => {
    const { alloc } = makeMachine({ noWatermarks: true, noPcp: true });
    const p = alloc.allocPages(0, GFP_KERNEL);
    alloc.freePages(p, 0);
    expect(() => alloc.freePages(p, 0)).toThrow(/already free/);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('below the watermarks the slow path wakes kswapd, reclaims, then calls the OOM hook', () => {
    const { alloc } = makeMachine({ dmaMiB: 4, normalMiB: 4 });
    const calls: string[] = [];
    const held: number[] = [];
    alloc.hooks = {
      wakeKswapd: () => void calls.push('kswapd'),
      directReclaim: () => {
        calls.push('reclaim');
        // A reclaim that finds less and less: 8 pages in all, then nothing.
        if (calls.filter((c) => c === 'reclaim').length > 8) return 0;
        const p = held.pop();
        if (p === undefined) return 0;
        alloc.freePages(p, 0);
        return 1;
      },
      outOfMemory: () => {
        calls.push('oom');
        return false;
      },
    };
    for (;;) {
      const p = alloc.allocPages(0, GFP_KERNEL);
      if (p < 0) break;
      held.push(p);
      if (held.length > 4096) throw new Error('no watermark stopped the allocations');
    }
    expect(calls).toContain('kswapd');
    expect(calls).toContain('reclaim');
    expect(calls[calls.length - 1]).toBe('oom');
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('an allocation made inside reserveMetadata (a migration target) does not hide the outer failure', () => {
    const m = makeMachine({ metadataMiB: 2, noWatermarks: true, noPcp: true });
    const { alloc } = m;
    let attempts = 0;
    alloc.arch = {
      metadataEnabled: true,
      reserveMetadata: () => {
        attempts++;
        const t = alloc.allocPages(0, GFP_HIGHUSER_MOVABLE);
        alloc.freePages(t, 0);
        return attempts >= 3;
      },
      freeMetadata: () => undefined,
      pageHasMetadata: () => false,
    };
    expect(alloc.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED)).toBeGreaterThanOrEqual(0);
    expect(attempts).toBe(3);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('buildAllZonelists: total pages from the early estimate, mobility grouping on', () => {
    const { alloc } = makeMachine({ dmaMiB: 64, normalMiB: 64 });
    // Each zone: 16384 present pages minus ceil(16384 * 64 / 4096) = 256 memmap pages.
    expect(alloc.buildAllZonelists()).toEqual({ nrZonelists: 1, mobilityGrouping: true, totalPages: 2 * 16128 });
  });
});

describe('CMA pageblocks (declared by boot)', () => {
  test('movable requests use CMA first while it holds more than half of the free memory; others never', () => {
    const { alloc, dma } = makeMachine({ dmaMiB: 8, normalMiB: 4, cmaMiB: 6, noWatermarks: true, noPcp: true });
    const cmaStart = dma.zoneEndPfn - 1536;
    expect(dma.state(NR_FREE_CMA_PAGES)).toBe(1536);
    const m = alloc.allocPages(0, GFP_KERNEL | __GFP_MOVABLE | __GFP_DMA);
    expect(m).toBeGreaterThanOrEqual(cmaStart);
    expect(dma.state(NR_FREE_CMA_PAGES)).toBe(1535);
    for (let k = 0; k < 600; k++) expect(alloc.allocPages(0, GFP_KERNEL | __GFP_DMA)).toBeLessThan(cmaStart);
    expect(dma.cmaPages).toBe(1536);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test('a freed CMA page waits on the MOVABLE pcp list and drains back to the CMA list', () => {
    const { alloc, dma } = makeMachine({ dmaMiB: 8, normalMiB: 4, cmaMiB: 6, noWatermarks: true });
    const p = alloc.allocPages(0, GFP_KERNEL | __GFP_MOVABLE | __GFP_DMA);
    alloc.drainAllPages();
    const cmaFree = dma.state(NR_FREE_CMA_PAGES);
    alloc.freePages(p, 0);
    expect(dma.pcp[0]!.count).toBe(1);
    expect(dma.state(NR_FREE_CMA_PAGES)).toBe(cmaFree);
    alloc.drainAllPages();
    expect(dma.state(NR_FREE_CMA_PAGES)).toBe(cmaFree + 1);
    expect(alloc.freeBlockAt(p)!.mt).toBe(4);
    expect(alloc.checkInvariants()).toEqual([]);
  });
});

describe('snapshot / restore', () => {
  test('restore brings back lists, counters, pcp and page words exactly', () => {
    const { alloc } = makeMachine({ metadataMiB: 2 });
    for (let k = 0; k < 200; k++) alloc.allocPages(k % 3, k % 2 ? GFP_KERNEL : GFP_HIGHUSER_MOVABLE);
    const snap = alloc.snapshot();
    const before = {
      words: Array.from(alloc.memmap.u32.slice(0, 4096)),
      buddy: formatState(alloc),
      next: alloc.allocPages(0, GFP_KERNEL),
    };
    alloc.restore(snap);
    for (let k = 0; k < 300; k++) alloc.allocPages(k % 4, GFP_HIGHUSER_MOVABLE);
    alloc.isolatePageblock(alloc.zones[0]!.zoneStartPfn);
    alloc.drainAllPages();
    alloc.restore(snap);
    expect(formatState(alloc)).toBe(before.buddy);
    expect(Array.from(alloc.memmap.u32.slice(0, 4096))).toEqual(before.words);
    expect(alloc.checkInvariants(true)).toEqual([]);
    // The same next step gives the same page: replay is deterministic.
    expect(alloc.allocPages(0, GFP_KERNEL)).toBe(before.next);
  });
});

function formatState(a: ReturnType<typeof makeMachine>['alloc']): string {
  return JSON.stringify({
    zones: a.zones.map((z) => [Array.from(z.nrFree), Array.from(z.vmStat), z.pcp.map((p) => p.count)]),
    ev: Array.from(a.events.v),
    mt: Array.from(a.memmap.pageblockMt),
  });
}

describe('HIGHATOMIC reserve', () => {
  test('a high-order atomic allocation in the slow path reserves its pageblock; pressure gives it back', () => {
    const { alloc, dma, normal } = makeMachine({ dmaMiB: 256, normalMiB: 256 });
    const held: number[] = [];
    while (dma.state(NR_FREE_PAGES) > dma.lowWmark() + 64 || normal.state(NR_FREE_PAGES) > normal.lowWmark() + 64) {
      held.push(alloc.allocPages(0, GFP_KERNEL));
    }
    alloc.drainAllPages();
    const p = alloc.allocPages(2, GFP_ATOMIC);
    expect(p).toBeGreaterThanOrEqual(0);
    const z = alloc.zoneForPfn(p)!;
    expect(z.nrReservedHighatomic).toBe(512);
    expect(alloc.pageblockMigratetype(p)).toBe(MIGRATE_HIGHATOMIC);
    // The next high-order atomic request is served from the reserve first.
    const q = alloc.allocPages(2, GFP_ATOMIC);
    expect(Math.floor(q / 512)).toBe(Math.floor(p / 512));
    expect(alloc.checkInvariants(true)).toEqual([]);
    // Exhausting memory with GFP_KERNEL ends by unreserving (force) before failing.
    while (alloc.allocPages(0, GFP_KERNEL) >= 0) {
      /* drain the machine */
    }
    expect(z.nrReservedHighatomic).toBe(0);
    expect(alloc.checkInvariants(true)).toEqual([]);
  });
});
