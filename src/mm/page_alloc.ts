/**
 * The buddy allocator (mm/page_alloc.c, v6.5) with the v1 series' MIGRATE_METADATA (kernel-facts §3, §4).
 *
 * The buddy system: free memory of each zone is kept in blocks of 2^order pages, naturally aligned, on
 * free_area[order].free_list[migratetype]. Freeing a block merges it with its buddy (the other half of the
 * 2^(order+1) block, found by flipping bit `order` of the index) while the buddy is free and of the same order;
 * allocating takes the smallest suitable block and splits off the unused halves (expand()). Each pageblock has a
 * migratetype; allocations of one type fall back to other types' lists and may steal whole pageblocks.
 *
 * Depends on: memmap.ts (page words, pageblock types), zone.ts (free lists, pcp, watermarks), vmstat.ts (counter
 * indices), gfp.ts. Depended on by: boot (freeBootmem, initReservedPageblock, setupPerZoneWmarks), the arm64 tag
 * storage code (the `arch` hooks, isolation and take-off helpers), workloads (allocPages / freePages).
 *
 * API (all pfns are physical frame numbers; -1 means "no page"):
 *   new PageAllocator({ geometry, memmap, zones, minFreeKbytes?, cpus, cpuToNode?, thp? })
 *   freeBootmem(startPfn, endPfn)                 memblock_free_all for one free range (FPI_TO_TAIL)
 *   initReservedPageblock(pfn, migratetype)       init_reserved_pageblock / init_metadata_reserved_pageblock
 *   setupPerCpuPageset()                          setup_per_cpu_pageset (after boot freeing)
 *   buildAllZonelists(): {nrZonelists, mobilityGrouping, totalPages}   the "Built N zonelists" figures
 *   setupPerZoneWmarks()                          init_per_zone_wmark_min + khugepaged's recommended minimum
 *   setMinFreeKbytes(kb)                          the vm.min_free_kbytes sysctl
 *   zoneForPfn(pfn): Zone | undefined
 *   allocPages(order, gfp, nid?): number          __alloc_pages (fast path, then a slow path with hooks)
 *   freePages(pfn, order)                         __free_pages for a page the caller owns
 *   drainAllPages(), drainZonePages(zone)
 *   pageblockMigratetype(pfn), setPageblockMigratetype(pfn, mt)
 *   isolatePageblock(pfn), unisolatePageblock(pfn, mt)       set/unset_migratetype_isolate (no movability check)
 *   isolateFreePage(pfn, order): number            __isolate_free_page (pages, or 0)
 *   takeFreePage(pfn): boolean                     take_page_off_buddy: remove one free page from the buddy
 *   freeBlockAt(pfn): {pfn, order, mt} | null, isFree(pfn), forEachFreeBlock(zone, fn)
 *   checkInvariants(): string[]                    SPEC §5 invariant 1 for the allocator's own state
 *   zoneWatermarkOk(zone, order, mark, highestZoneidx, allocFlags)   __zone_watermark_ok (compaction, kswapd)
 *   totalramPages(), globalZoneState(item), globalNodeState(item), nodes[], events (VmEvents), cpu (current)
 * Not modelled: cpusets, node reclaim,
 * page shuffling, deferred struct page init, guard pages, the pcp high auto-tuning of later kernels.
 *   snapshot(): PageAllocatorSnapshot, restore(s)  the whole allocator state, for deterministic replay
 *   arch: ArchHooks                                the series' hooks (§2.3, §2.4), default no-op
 *   hooks: SlowpathHooks                           reclaim / compaction / OOM, provided by other modules
 */
import { SimInvariantError } from '../errors.js';
import type { Geometry } from './geometry.js';
import {
  ALLOC_CMA,
  ALLOC_FROM_METADATA,
  ALLOC_HIGHATOMIC,
  ALLOC_KSWAPD,
  ALLOC_MIN_RESERVE,
  ALLOC_NO_WATERMARKS,
  ALLOC_NOFRAGMENT,
  ALLOC_NON_BLOCK,
  ALLOC_OOM,
  ALLOC_RESERVES,
  ALLOC_WMARK_LOW,
  ALLOC_WMARK_MASK,
  GFP_HIGHUSER_MOVABLE,
  GFP_USER,
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_KSWAPD_RECLAIM,
  __GFP_NOFAIL,
  __GFP_NORETRY,
  __GFP_TAGGED,
  __GFP_ZERO,
  gfpMigratetype,
  gfpToAllocFlags,
  gfpToAllocFlagsFast,
  gfpZone,
} from './gfp.js';
import { MemMap, PG_buddy, PG_head, PG_lru, PG_pcp } from './memmap.js';
import {
  NR_FREE_CMA_PAGES,
  NR_FREE_METADATA_PAGES,
  NR_FREE_PAGES,
  NUMA_FOREIGN,
  NUMA_HIT,
  NUMA_LOCAL,
  NUMA_MISS,
  NUMA_OTHER,
  PGALLOC_DMA,
  PGFREE,
  VmEvents,
} from './vmstat.js';
import {
  LOWMEM_RESERVE_RATIO,
  MAX_NR_ZONES,
  MAX_RECLAIM_RETRIES,
  MIGRATE_CMA,
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_METADATA,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  NIL,
  NR_LOWORDER_PCP_LISTS,
  NR_PCP_LISTS,
  PerCpuPages,
  PgData,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
  WMARK_PROMO,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  Zone,
  type ZoneSnapshot,
  migratetypeIsMergeable,
} from './zone.js';

/** The series' arch hooks into the generic allocator (kernel-facts §2.3, §2.4). */
export interface ArchHooks {
  /** metadata_storage_enabled(): the static key turned on at the end of activation (§1.1 step 7). */
  metadataEnabled: boolean;
  /** reserve_metadata_storage(page, order, gfp): true on success. */
  reserveMetadata(pfn: number, order: number, gfp: number): boolean;
  /** free_metadata_storage(page, order). */
  freeMetadata(pfn: number, order: number): void;
  /** page_has_metadata(page) (= page_mte_tagged on arm64). */
  pageHasMetadata(pfn: number): boolean;
}

/** Reclaim, compaction and OOM live in other modules; the slow path calls them through these hooks. */
export interface SlowpathHooks {
  /** wakeup_kswapd() for a zone (also on a boosted watermark). */
  wakeKswapd?(zone: Zone, order: number, highestZoneidx: number): void;
  /** __alloc_pages_direct_reclaim: returns pages reclaimed (progress). */
  directReclaim?(order: number, gfp: number, highestZoneidx: number): number;
  /** __alloc_pages_direct_compact: returns true if it made progress. */
  directCompact?(order: number, gfp: number, highestZoneidx: number): boolean;
  /** __alloc_pages_may_oom: returns true if memory was freed (e.g. a process killed) and a retry makes sense. */
  outOfMemory?(order: number, gfp: number): boolean;
}

export interface PageAllocatorOptions {
  geometry: Geometry;
  memmap: MemMap;
  /** Every zone of every node, empty ones included, ordered by node then zone_idx. */
  zones: Zone[];
  /** A user value for vm.min_free_kbytes, applied after the boot-time computation like the sysctl. */
  minFreeKbytes?: number;
  /** Online cpus. */
  cpus: number;
  /** Node of each cpu (default: all on the first node). */
  cpuToNode?: number[];
  /** CONFIG_TRANSPARENT_HUGEPAGE with khugepaged running (default true): set_recommended_min_free_kbytes. */
  thp?: boolean;
  /**
   * The memory's pfn ranges with their node (memblock.memory). Needed when nodes interleave, so that zone
   * spans of different nodes overlap: a page then belongs to the zone of its own node (the kernel keeps the
   * node and zone in page->flags), which the spans alone cannot tell.
   */
  memRanges?: readonly { start: number; end: number; nid: number }[];
}

const NOOP_ARCH: ArchHooks = {
  metadataEnabled: false,
  reserveMetadata: () => true,
  freeMetadata: () => undefined,
  pageHasMetadata: () => false,
};

export interface PageAllocatorSnapshot {
  readonly words: Uint32Array;
  readonly pageblockMt: Uint8Array;
  readonly zones: readonly ZoneSnapshot[];
  readonly nodes: readonly { vmStat: Float64Array; kswapdFailures: number; totalreserve: number }[];
  readonly events: Float64Array;
  readonly nrIsolatePageblock: Int32Array;
  readonly scalars: readonly number[];
}

interface AllocContext {
  gfp: number;
  node: number;
  zonelist: Zone[];
  highest: number;
  mt: number;
  preferred: Zone | undefined;
  allocFlags: number;
  meta: boolean;
}

const FPI_NONE = 0;
const FPI_TO_TAIL = 1 << 1;

/**
 * fallbacks[] of v6.5: the types an allocation of each pcp type may fall back to, in order. METADATA and CMA
 * are never fallback sources here (§3.2: METADATA has its own step in __rmqueue).
 */
const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // RECLAIMABLE
];

/** fls(): 1-based index of the highest set bit, 0 for 0. */
function fls(x: number): number {
  return x <= 0 ? 0 : Math.floor(Math.log2(x)) + 1;
}

function roundDownPowOfTwo(x: number): number {
  return x <= 0 ? 0 : 2 ** Math.floor(Math.log2(x));
}

/**
 * The intrusive doubly linked lists that buddy free lists and per-cpu lists both are (struct page's `lru`):
 * words 2 and 3 of a page's memmap record are next and prev (dense page indices, NIL at the ends); list `li`
 * has its ends in heads[li] and tails[li]. `tail` adds at the tail (list_add_tail), else at the head.
 */
function listLink(u: Uint32Array, heads: Uint32Array, tails: Uint32Array, li: number, i: number, tail: boolean): void {
  const w = i * 4;
  if (tail) {
    const t = tails[li] as number;
    u[w + 2] = NIL;
    u[w + 3] = t;
    if (t === NIL) heads[li] = i;
    else u[t * 4 + 2] = i;
    tails[li] = i;
  } else {
    const h = heads[li] as number;
    u[w + 2] = h;
    u[w + 3] = NIL;
    if (h === NIL) tails[li] = i;
    else u[h * 4 + 3] = i;
    heads[li] = i;
  }
}

/** Unlinks page i from list li (list_del) and clears its links. */
function listUnlink(u: Uint32Array, heads: Uint32Array, tails: Uint32Array, li: number, i: number): void {
  const w = i * 4;
  const next = u[w + 2] as number;
  const prev = u[w + 3] as number;
  if (prev === NIL) heads[li] = next;
  else u[prev * 4 + 2] = next;
  if (next === NIL) tails[li] = prev;
  else u[next * 4 + 3] = prev;
  u[w + 2] = 0;
  u[w + 3] = 0;
}

export class PageAllocator {
  readonly geometry: Geometry;
  readonly memmap: MemMap;
  readonly zones: Zone[];
  readonly nodes: PgData[];
  readonly events = new VmEvents();
  readonly cpus: number;
  readonly cpuToNode: number[];
  /** The emulated cpu doing allocations (per-cpu lists, NUMA locality). */
  cpu = 0;
  arch: ArchHooks = NOOP_ARCH;
  hooks: SlowpathHooks = {};

  minFreeKbytes = 1024;
  userMinFreeKbytes = -1;
  watermarkScaleFactor = 10;
  watermarkBoostFactor = 15000;
  private mobilityDisabled = false;
  /** page_group_by_mobility_disabled (build_all_zonelists: tiny machines only). */
  get pageGroupByMobilityDisabled(): boolean {
    return this.mobilityDisabled;
  }
  set pageGroupByMobilityDisabled(v: boolean) {
    this.mobilityDisabled = v;
    this.allocCtx.length = 0;
    this.lastCtx = undefined;
  }
  readonly thp: boolean;
  totalreservePages = 0;
  /** v1 totalmetadata_pages (MetadataTotal), never decremented (§4.1). */
  totalmetadataPages = 0;
  /** totalcma_pages (boot: cma_init_reserved_mem). */
  totalcmaPages = 0;
  /** Reservation failures seen by get_page_from_freelist since the last successful allocation. */
  private reserveFailures = 0;

  /** ZONELIST_FALLBACK per node: populated zones, local node first, each node's zones from high to low. */
  private readonly zonelists: Zone[][];
  /** Per dense section: index into `zones` of the one zone covering the whole section, or -1. */
  private readonly sectionZone: Int16Array;
  private readonly nrIsolatePageblock: Int32Array;
  /**
   * One bit per dense page index: set while the page heads a free buddy block (PageBuddy), kept by
   * addToFreeList / delFromFreeList. move_freepages_block walks it instead of every page of the pageblock
   * (an emulator index over the words; the same blocks are found in the same order).
   */
  private readonly buddyBits: Uint32Array;
  /**
   * True when two populated zones' spans overlap (interleaved NUMA nodes). Then `pageblockZone` gives each
   * pageblock its zone (page_zone from page->flags), and buddies and pageblocks are matched by zone, not span.
   */
  readonly zonesOverlap: boolean;
  /** Per dense pageblock: index into `zones` of the zone its pages belong to, or -1 (only with zonesOverlap). */
  private readonly pageblockZone: Int16Array | undefined;
  private readonly allocCtx: Map<number, AllocContext>[] = [];
  private lastCtx: AllocContext | undefined;
  private readonly userMinFree: number | undefined;

  constructor(opts: PageAllocatorOptions) {
    this.geometry = opts.geometry;
    this.memmap = opts.memmap;
    this.zones = opts.zones;
    this.cpus = Math.max(1, opts.cpus);
    this.cpuToNode = opts.cpuToNode ?? Array.from({ length: this.cpus }, () => this.zones[0]?.nid ?? 0);
    this.thp = opts.thp ?? true;
    this.userMinFree = opts.minFreeKbytes;
    const nids = [...new Set(this.zones.map((z) => z.nid))].sort((a, b) => a - b);
    this.nodes = nids.map(
      (nid) =>
        new PgData(
          nid,
          this.zones.filter((z) => z.nid === nid).sort((a, b) => a.idx - b.idx),
        ),
    );
    this.zonelists = [];
    this.buildZonelists();
    this.nrIsolatePageblock = new Int32Array(this.zones.length);
    const mm = this.memmap;
    this.buddyBits = new Uint32Array((mm.nrPages + 31) >>> 5);
    const pps = this.geometry.pagesPerSection;
    this.sectionZone = new Int16Array(mm.nrSections).fill(-1);
    for (let s = 0; s < mm.nrSections; s++) {
      const start = mm.denseSectionPfn[s] ?? 0;
      const end = start + pps;
      const hits = this.zones
        .map((z, zi) => ({ z, zi }))
        .filter(({ z }) => z.spannedPages > 0 && z.zoneStartPfn < end && z.zoneEndPfn > start);
      const only = hits[0];
      if (hits.length === 1 && only && only.z.zoneStartPfn <= start && only.z.zoneEndPfn >= end)
        this.sectionZone[s] = only.zi;
    }
    const spans = this.zones.filter((z) => z.spannedPages > 0);
    this.zonesOverlap = !spans.every((a) =>
      spans.every((b) => a === b || a.zoneEndPfn <= b.zoneStartPfn || b.zoneEndPfn <= a.zoneStartPfn),
    );
    if (this.zonesOverlap && opts.memRanges !== undefined) {
      // free_area_init → memmap_init: every page of a node's range gets the zone of that node spanning it.
      const pbn = this.geometry.pageblockNrPages;
      const pbz = new Int16Array(Math.ceil(mm.nrPages / pbn)).fill(-1);
      for (const r of opts.memRanges) {
        for (let pfn = r.start - (r.start % pbn); pfn < r.end; pfn += pbn) {
          const i = mm.pfnToIdx(Math.max(pfn, r.start));
          if (i < 0) continue;
          const zi = this.zones.findIndex(
            (z) => z.nid === r.nid && z.spannedPages > 0 && z.spansPfn(Math.max(pfn, r.start)),
          );
          if (zi >= 0) pbz[Math.floor(i / pbn)] = zi;
        }
      }
      this.pageblockZone = pbz;
    } else this.pageblockZone = undefined;
  }

  /** (Re)builds the fallback zonelists from the zones' present pages (build_zonelists). */
  buildZonelists(): void {
    this.zonelists.length = 0;
    for (const n of this.nodes) {
      const order = [n, ...this.nodes.filter((m) => m !== n)];
      const list: Zone[] = [];
      for (const m of order) {
        for (let zi = MAX_NR_ZONES - 1; zi >= 0; zi--) {
          const z = m.zones.find((x) => x.idx === zi);
          if (z && z.populated) list.push(z);
        }
      }
      this.zonelists[n.nodeId] = list;
    }
    this.allocCtx.length = 0;
    this.lastCtx = undefined;
  }

  /**
   * build_all_zonelists() at boot: zonelists, then vm_total_pages = nr_free_zone_pages(gfp_zone(
   * GFP_HIGHUSER_MOVABLE)) over the early managed-page estimate of free_area_init_core() (present pages minus
   * calc_memmap_size(), watermarks still 0), and page_group_by_mobility_disabled when that is below
   * pageblock_nr_pages * MIGRATE_TYPES. For the log line `Built %u zonelists, mobility grouping %s.  Total
   * pages: %ld` (nr_online_nodes, "on"/"off", vm_total_pages).
   */
  buildAllZonelists(): { nrZonelists: number; mobilityGrouping: boolean; totalPages: number } {
    this.buildZonelists();
    const zl = this.zonelists[this.cpuToNode[this.cpu] ?? 0] ?? [];
    const top = gfpZone(GFP_HIGHUSER_MOVABLE);
    let total = 0;
    for (const z of zl) if (z.idx <= top) total += this.earlyManagedEstimate(z);
    this.pageGroupByMobilityDisabled = total < this.geometry.pageblockNrPages * MIGRATE_TYPES;
    this.allocCtx.length = 0;
    this.lastCtx = undefined;
    return { nrZonelists: this.nodes.length, mobilityGrouping: !this.pageGroupByMobilityDisabled, totalPages: total };
  }

  /** free_area_init_core()'s freesize: present pages minus calc_memmap_size() (no dma_reserve on arm64). */
  earlyManagedEstimate(z: Zone): number {
    let pages = z.spannedPages;
    if (z.spannedPages > z.presentPages + Math.floor(z.presentPages / 16)) pages = z.presentPages;
    const ps = this.geometry.pageSize;
    const memmapPages = Math.ceil((pages * this.geometry.structPageSize) / ps);
    return z.presentPages >= memmapPages ? z.presentPages - memmapPages : z.presentPages;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Look-ups

  /** page_zone(): the zone spanning `pfn`, or undefined. */
  zoneForPfn(pfn: number): Zone | undefined {
    const last = this.lastZone;
    // A pfn inside the last zone's span is that zone's, unless spans of different zones overlap.
    if (last !== undefined && !this.zonesOverlap && pfn >= last.zoneStartPfn && pfn < last.zoneEndPfn) return last;
    const z = this.zoneForPfnSlow(pfn);
    this.lastZone = z;
    return z;
  }
  private lastZone: Zone | undefined;

  private zoneForPfnSlow(pfn: number): Zone | undefined {
    const i = this.memmap.pfnToIdx(pfn);
    if (i >= 0) {
      const zi = this.sectionZone[Math.floor(i / this.geometry.pagesPerSection)] ?? -1;
      if (zi >= 0) return this.zones[zi];
      const pbz = this.pageblockZone;
      if (pbz !== undefined) {
        const zj = pbz[Math.floor(i / this.geometry.pageblockNrPages)] ?? -1;
        if (zj >= 0) return this.zones[zj];
      }
    }
    for (const z of this.zones) if (z.spannedPages > 0 && z.spansPfn(pfn)) return z;
    return undefined;
  }

  private zoneOfIdx(i: number): Zone {
    const zi = this.sectionZone[i >>> this.geometry.pfnSectionShift] as number;
    if (zi >= 0) return this.zones[zi] as Zone;
    const z = this.zoneForPfn(this.memmap.idxToPfn(i));
    if (!z) throw new RangeError(`pfn 0x${this.memmap.idxToPfn(i).toString(16)} is in no zone`);
    return z;
  }

  nodeOf(nid: number): PgData | undefined {
    return this.nodes.find((n) => n.nodeId === nid);
  }

  /** Pages managed by the buddy allocator in all zones (totalram_pages). */
  totalramPages(): number {
    let n = 0;
    for (const z of this.zones) n += z.managedPages;
    return n;
  }

  /** global_zone_page_state(item). */
  globalZoneState(item: number): number {
    let n = 0;
    for (const z of this.zones) n += z.vmStat[item] ?? 0;
    return n;
  }

  /** global_node_page_state(item). */
  globalNodeState(item: number): number {
    let n = 0;
    for (const p of this.nodes) n += p.vmStat[item] ?? 0;
    return n;
  }

  pageblockMigratetype(pfn: number): number {
    return this.memmap.pageblockMigratetypeAt(this.memmap.idxOf(pfn));
  }

  /** set_pageblock_migratetype(). */
  setPageblockMigratetype(pfn: number, mt: number): void {
    this.memmap.setPageblockMigratetypeAt(this.memmap.idxOf(pfn), mt);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Free lists

  private addToFreeList(z: Zone, i: number, order: number, mt: number, tail: boolean): void {
    const u = this.memmap.u32;
    const li = order * MIGRATE_TYPES + mt;
    const w = i * 4;
    u[w] = (PG_buddy | (order << 16) | (mt << 24)) >>> 0;
    u[w + 1] = 0;
    this.buddyBits[i >>> 5] = (this.buddyBits[i >>> 5] as number) | (1 << (i & 31));
    listLink(u, z.freeHead, z.freeTail, li, i, tail);
    z.freeCount[li] = (z.freeCount[li] as number) + 1;
    z.nrFree[order] = (z.nrFree[order] as number) + 1;
  }

  /** del_page_from_free_list(): unlinks the block, clears PageBuddy. Returns the list's migratetype. */
  private delFromFreeList(z: Zone, i: number, order: number): number {
    const u = this.memmap.u32;
    const w = i * 4;
    const mt = (u[w] as number) >>> 24;
    const li = order * MIGRATE_TYPES + mt;
    listUnlink(u, z.freeHead, z.freeTail, li, i);
    u[w] = 0;
    this.buddyBits[i >>> 5] = (this.buddyBits[i >>> 5] as number) & ~(1 << (i & 31));
    z.freeCount[li] = (z.freeCount[li] as number) - 1;
    z.nrFree[order] = (z.nrFree[order] as number) - 1;
    return mt;
  }

  /** move_to_free_list(): list_move_tail onto another migratetype's list. */
  private moveToFreeList(z: Zone, i: number, order: number, mt: number): void {
    // del_page_from_free_list + add_to_free_list_tail written as one relink: the block stays PageBuddy (its bit
    // in buddyBits and nr_free[order] do not change), only its list and migratetype do.
    const u = this.memmap.u32;
    const w = i * 4;
    const old = (u[w] as number) >>> 24;
    const from = order * MIGRATE_TYPES + old;
    const to = order * MIGRATE_TYPES + mt;
    listUnlink(u, z.freeHead, z.freeTail, from, i);
    z.freeCount[from] = (z.freeCount[from] as number) - 1;
    u[w] = (PG_buddy | (order << 16) | (mt << 24)) >>> 0;
    u[w + 1] = 0;
    listLink(u, z.freeHead, z.freeTail, to, i, true);
    z.freeCount[to] = (z.freeCount[to] as number) + 1;
  }

  /** __mod_zone_freepage_state(): NR_FREE_PAGES, and the CMA / METADATA free counts (§4.1). */
  private modZoneFreepageState(z: Zone, nr: number, mt: number): void {
    const s = z.vmStat;
    s[NR_FREE_PAGES] = (s[NR_FREE_PAGES] as number) + nr;
    if (mt === MIGRATE_CMA) s[NR_FREE_CMA_PAGES] = (s[NR_FREE_CMA_PAGES] as number) + nr;
    else if (mt === MIGRATE_METADATA) s[NR_FREE_METADATA_PAGES] = (s[NR_FREE_METADATA_PAGES] as number) + nr;
  }

  /** page_is_buddy(): `b` heads a free block of exactly `order` in zone `z`. */
  private isBuddy(z: Zone, b: number, bPfn: number, order: number): boolean {
    const w0 = this.memmap.u32[b * 4] as number;
    if ((w0 & PG_buddy) === 0 || ((w0 >>> 16) & 0xff) !== order) return false;
    // page_zone_id(buddy) == page_zone_id(page): with interleaved nodes by the buddy's own zone.
    return this.zonesOverlap ? this.zoneForPfn(bPfn) === z : z.spansPfn(bPfn);
  }

  /**
   * __free_one_page(): merge with free buddies up to MAX_ORDER, then put the block at the head of its list, or at
   * the tail for FPI_TO_TAIL or when buddy_merge_likely(). Blocks of non-mergeable types (METADATA, ISOLATE, CMA,
   * HIGHATOMIC) do not merge with other types at pageblock order and above.
   */
  private freeOneIdx(z: Zone, i: number, pfn: number, order: number, mt: number, fpi: number): void {
    const mm = this.memmap;
    const maxOrder = this.geometry.maxOrder;
    const pbOrder = this.geometry.pageblockOrder;
    if (mt !== MIGRATE_ISOLATE) this.modZoneFreepageState(z, 1 << order, mt);
    let buddyPfn = -1;
    while (order < maxOrder) {
      const size = 1 << order;
      const b = (i & size) !== 0 ? i - size : i + size;
      buddyPfn = (i & size) !== 0 ? pfn - size : pfn + size;
      if (!this.isBuddy(z, b, buddyPfn, order)) break;
      if (order >= pbOrder) {
        const bmt = mm.pageblockMigratetypeAt(b);
        if (mt !== bmt && (!migratetypeIsMergeable(mt) || !migratetypeIsMergeable(bmt))) break;
      }
      this.delFromFreeList(z, b, order);
      if (b < i) {
        i = b;
        pfn = buddyPfn;
      }
      order++;
    }
    let toTail: boolean;
    if (fpi & FPI_TO_TAIL) toTail = true;
    else if (order >= maxOrder - 1 || buddyPfn < 0) toTail = false;
    else {
      // buddy_merge_likely(): is the buddy of the next-higher block free?
      const size = 1 << order;
      const hi = (i & size) !== 0 ? i - size : i;
      const hiPfn = (i & size) !== 0 ? pfn - size : pfn;
      const size2 = size * 2;
      const hb = (hi & size2) !== 0 ? hi - size2 : hi + size2;
      const hbPfn = (hi & size2) !== 0 ? hiPfn - size2 : hiPfn + size2;
      // The 2^(order+2) block holding both is at most a MAX_ORDER block, so inside one section.
      toTail = this.isBuddy(z, hb, hbPfn, order + 1);
    }
    this.addToFreeList(z, i, order, mt, toTail);
  }

  /** expand(): split a 2^high block down to 2^low, putting the upper halves on `mt`'s lists. */
  private expand(z: Zone, i: number, low: number, high: number, mt: number): void {
    while (high > low) {
      high--;
      this.addToFreeList(z, i + (1 << high), high, mt, false);
    }
  }

  /** __rmqueue_smallest(): returns the dense index, with the list's migratetype in the page's aux byte. */
  private rmqueueSmallest(z: Zone, order: number, mt: number): number {
    const maxOrder = this.geometry.maxOrder;
    for (let o = order; o <= maxOrder; o++) {
      const i = z.freeHead[o * MIGRATE_TYPES + mt] as number;
      if (i === NIL) continue;
      this.delFromFreeList(z, i, o);
      this.expand(z, i, order, o, mt);
      this.memmap.u32[i * 4] = (mt << 24) >>> 0; // set_pcppage_migratetype
      return i;
    }
    return -1;
  }

  /** can_steal_fallback(). */
  private canStealFallback(order: number, startMt: number): boolean {
    const pb = this.geometry.pageblockOrder;
    if (order >= pb) return true;
    return (
      order >= pb / 2 ||
      startMt === MIGRATE_RECLAIMABLE ||
      startMt === MIGRATE_UNMOVABLE ||
      this.pageGroupByMobilityDisabled
    );
  }

  /** find_suitable_fallback(): [fallback mt or -1, can_steal]. */
  private findSuitableFallback(z: Zone, order: number, mt: number): number {
    if ((z.nrFree[order] as number) === 0) return -1;
    const fb = FALLBACKS[mt];
    if (!fb) return -1;
    for (const f of fb) {
      if ((z.freeHead[order * MIGRATE_TYPES + f] as number) === NIL) continue;
      this.lastCanSteal = this.canStealFallback(order, mt);
      return f;
    }
    return -1;
  }
  private lastCanSteal = false;

  /**
   * move_freepages_block(): move every free block inside `i`'s pageblock onto `mt`'s lists; returns pages moved
   * and counts in-use movable (LRU) pages into movablePages. 0 when the pageblock crosses the zone's edge.
   */
  private moveFreepagesBlock(z: Zone, i: number, mt: number, countMovable = false): number {
    const mm = this.memmap;
    const nr = this.geometry.pageblockNrPages;
    const start = i - (i % nr);
    const pfn0 = mm.idxToPfn(start);
    this.movablePages = 0;
    if (this.zonesOverlap) {
      if (this.zoneForPfn(pfn0) !== z || this.zoneForPfn(pfn0 + nr - 1) !== z) return 0;
    } else if (!z.spansPfn(pfn0) || !z.spansPfn(pfn0 + nr - 1)) return 0;
    let moved = 0;
    const u = mm.u32;
    if (countMovable) {
      let movable = 0;
      for (let k = start; k < start + nr;) {
        const w0 = u[k * 4] as number;
        if ((w0 & PG_buddy) === 0) {
          if (w0 & PG_lru) movable++;
          k++;
          continue;
        }
        const o = (w0 >>> 16) & 0xff;
        this.moveToFreeList(z, k, o, mt);
        k += 1 << o;
        moved += 1 << o;
      }
      this.movablePages = movable;
      return moved;
    }
    // Without the movable count only the free blocks matter: their heads, in address order, from the bitmap
    // (pageblocks are at least 32 pages and aligned, so whole words). Pages inside a free block are not heads.
    const bits = this.buddyBits;
    for (let wi = start >>> 5, wend = (start + nr) >>> 5; wi < wend; wi++) {
      let b = bits[wi] as number;
      while (b !== 0) {
        const low = b & -b;
        const k = (wi << 5) + (31 - Math.clz32(low));
        b ^= low;
        const o = ((u[k * 4] as number) >>> 16) & 0xff;
        this.moveToFreeList(z, k, o, mt);
        moved += 1 << o;
      }
    }
    return moved;
  }
  private movablePages = 0;

  /** change_pageblock_range(). */
  private changePageblockRange(i: number, order: number, mt: number): void {
    const nr = this.geometry.pageblockNrPages;
    for (let k = 0; k < 1 << order; k += nr) this.memmap.setPageblockMigratetypeAt(i + k, mt);
  }

  /** boost_watermark(). */
  private boostWatermark(z: Zone): boolean {
    if (!this.watermarkBoostFactor) return false;
    const pbn = this.geometry.pageblockNrPages;
    if (pbn * 4 > z.managedPages) return false;
    const high = z.watermark[WMARK_HIGH] as number;
    let maxBoost = multFrac(high, this.watermarkBoostFactor, 10000);
    if (!maxBoost) return false;
    maxBoost = Math.max(pbn, maxBoost);
    z.watermarkBoost = Math.min(z.watermarkBoost + pbn, maxBoost);
    return true;
  }

  /** steal_suitable_fallback(). */
  private stealSuitableFallback(z: Zone, i: number, allocFlags: number, startType: number, wholeBlock: boolean): void {
    const mm = this.memmap;
    const curOrder = mm.orderAt(i);
    const oldType = mm.pageblockMigratetypeAt(i);
    const pbOrder = this.geometry.pageblockOrder;
    if (oldType !== MIGRATE_HIGHATOMIC) {
      if (curOrder >= pbOrder) {
        this.changePageblockRange(i, curOrder, startType);
      } else {
        if (this.boostWatermark(z) && allocFlags & ALLOC_KSWAPD) z.boostedWatermark = true;
        if (wholeBlock) {
          const freePages = this.moveFreepagesBlock(z, i, startType, true);
          if (freePages) {
            const movable = this.movablePages;
            let alike: number;
            if (startType === MIGRATE_MOVABLE) alike = movable;
            else if (oldType === MIGRATE_MOVABLE) alike = this.geometry.pageblockNrPages - (freePages + movable);
            else alike = 0;
            if (freePages + alike >= 2 ** (pbOrder - 1) || this.pageGroupByMobilityDisabled)
              mm.setPageblockMigratetypeAt(i, startType);
            return;
          }
        }
      }
    }
    this.moveToFreeList(z, i, curOrder, startType);
  }

  /** __rmqueue_fallback(): steal from another type; true if something was moved to startMt's lists. */
  private rmqueueFallback(z: Zone, order: number, startMt: number, allocFlags: number): boolean {
    const maxOrder = this.geometry.maxOrder;
    let minOrder = order;
    if (order < this.geometry.pageblockOrder && allocFlags & ALLOC_NOFRAGMENT) minOrder = this.geometry.pageblockOrder;
    let cur = -1;
    let fmt = -1;
    let canSteal = false;
    for (let o = maxOrder; o >= minOrder; o--) {
      const f = this.findSuitableFallback(z, o, startMt);
      if (f === -1) continue;
      canSteal = this.lastCanSteal;
      if (!canSteal && startMt === MIGRATE_MOVABLE && o > order) {
        // find_smallest
        for (let s = order; s <= maxOrder; s++) {
          const f2 = this.findSuitableFallback(z, s, startMt);
          if (f2 !== -1) {
            cur = s;
            fmt = f2;
            canSteal = this.lastCanSteal;
            break;
          }
        }
      } else {
        cur = o;
        fmt = f;
      }
      break;
    }
    if (cur < 0 || fmt < 0) return false;
    const i = z.freeHead[cur * MIGRATE_TYPES + fmt] as number;
    this.stealSuitableFallback(z, i, allocFlags, startMt, canSteal);
    return true;
  }

  /**
   * __rmqueue(): own list; CMA; then v1's METADATA as the last resort before stealing
   * (kernel-facts §3.2); then __rmqueue_fallback and retry.
   */
  private rmqueueIdx(z: Zone, order: number, mt: number, allocFlags: number): number {
    // v6.5: balance movable allocations between regular and CMA areas by using CMA first when it holds more
    // than half of the zone's free memory. METADATA gets no such rule (§3.2).
    if (
      allocFlags & ALLOC_CMA &&
      (z.vmStat[NR_FREE_CMA_PAGES] as number) > Math.floor((z.vmStat[NR_FREE_PAGES] as number) / 2)
    ) {
      const c = this.rmqueueSmallest(z, order, MIGRATE_CMA);
      if (c >= 0) return c;
    }
    for (;;) {
      let i = this.rmqueueSmallest(z, order, mt);
      if (i >= 0) return i;
      if (allocFlags & ALLOC_CMA) {
        i = this.rmqueueSmallest(z, order, MIGRATE_CMA);
        if (i >= 0) return i;
      }
      if (allocFlags & ALLOC_FROM_METADATA) {
        i = this.rmqueueSmallest(z, order, MIGRATE_METADATA);
        if (i >= 0) return i;
      }
      if (!this.rmqueueFallback(z, order, mt, allocFlags)) return -1;
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Per-cpu lists

  private orderToPindex(mt: number, order: number): number {
    if (order > this.geometry.costlyOrder) return NR_LOWORDER_PCP_LISTS;
    return MIGRATE_PCPTYPES * order + mt;
  }

  private pindexToOrder(pindex: number): number {
    if (pindex === NR_LOWORDER_PCP_LISTS) return this.geometry.pageblockOrder;
    return Math.floor(pindex / MIGRATE_PCPTYPES);
  }

  /** pcp_allowed_order(). */
  private pcpAllowedOrder(order: number): boolean {
    return order <= this.geometry.costlyOrder || (this.thp && order === this.geometry.pageblockOrder);
  }

  private pcpAdd(pcp: PerCpuPages, pindex: number, i: number, order: number, mt: number, tail: boolean): void {
    const u = this.memmap.u32;
    const w = i * 4;
    u[w] = (PG_pcp | (order << 16) | (mt << 24)) >>> 0;
    listLink(u, pcp.heads, pcp.tails, pindex, i, tail);
  }

  private pcpUnlink(pcp: PerCpuPages, pindex: number, i: number): void {
    const u = this.memmap.u32;
    const w = i * 4;
    listUnlink(u, pcp.heads, pcp.tails, pindex, i);
    u[w] = (u[w] as number) & ~PG_pcp;
  }

  /** rmqueue_bulk(): fill a pcp list from the buddy lists. */
  private rmqueueBulk(
    z: Zone,
    order: number,
    count: number,
    pcp: PerCpuPages,
    pindex: number,
    mt: number,
    allocFlags: number,
  ): number {
    const s = z.vmStat;
    let k = 0;
    for (; k < count; k++) {
      const i = this.rmqueueIdx(z, order, mt, allocFlags);
      if (i < 0) break;
      const pmt = (this.memmap.u32[i * 4] as number) >>> 24;
      this.pcpAdd(pcp, pindex, i, order, pmt, true);
      if (pmt === MIGRATE_CMA) s[NR_FREE_CMA_PAGES] = (s[NR_FREE_CMA_PAGES] as number) - (1 << order);
      else if (pmt === MIGRATE_METADATA)
        s[NR_FREE_METADATA_PAGES] = (s[NR_FREE_METADATA_PAGES] as number) - (1 << order);
    }
    s[NR_FREE_PAGES] = (s[NR_FREE_PAGES] as number) - k * (1 << order);
    return k;
  }

  /** free_pcppages_bulk(): return `count` pages from the pcp lists to the buddy, round robin from `pindex`. */
  private freePcppagesBulk(z: Zone, count: number, pcp: PerCpuPages, pindex: number): void {
    const mm = this.memmap;
    count = Math.min(pcp.count, count);
    const isolated = (this.nrIsolatePageblock[this.zones.indexOf(z)] ?? 0) > 0;
    pindex = pindex - 1;
    while (count > 0) {
      do {
        if (++pindex > NR_PCP_LISTS - 1) pindex = 0;
      } while ((pcp.heads[pindex] as number) === NIL);
      const order = this.pindexToOrder(pindex);
      const nr = 1 << order;
      do {
        const i = pcp.tails[pindex] as number;
        let mt = mm.auxAt(i);
        this.pcpUnlink(pcp, pindex, i);
        count -= nr;
        pcp.count -= nr;
        if (isolated) mt = mm.pageblockMigratetypeAt(i);
        this.freeOneIdx(z, i, mm.idxToPfn(i), order, mt, FPI_NONE);
      } while (count > 0 && (pcp.heads[pindex] as number) !== NIL);
    }
  }

  /** nr_pcp_free(). */
  private nrPcpFree(pcp: PerCpuPages, high: number, batch: number, freeHigh: boolean): number {
    if (freeHigh) return pcp.count;
    if (high < batch) return 1;
    const minNr = batch;
    const maxNr = high - batch;
    batch = batch * 2 ** pcp.freeFactor;
    if (batch < maxNr) pcp.freeFactor++;
    return Math.min(Math.max(batch, minNr), maxNr);
  }

  /** nr_pcp_high(). */
  private nrPcpHigh(pcp: PerCpuPages, z: Zone, freeHigh: boolean): number {
    const high = pcp.high;
    if (!high || freeHigh) return 0;
    if (!z.reclaimActive) return high;
    return Math.min(pcp.batch * 4, high);
  }

  /**
   * free_unref_page_commit(): `listMt` picks the pcp list (a pcp type), `pcpMt` is the page's pageblock type
   * remembered for the drain (set_pcppage_migratetype: CMA and HIGHATOMIC pages sit on the MOVABLE list).
   */
  private freeUnrefPageCommit(
    z: Zone,
    pcp: PerCpuPages,
    i: number,
    pcpMt: number,
    listMt: number,
    order: number,
  ): void {
    this.events.count(PGFREE, 1 << order);
    const pindex = this.orderToPindex(listMt, order);
    this.pcpAdd(pcp, pindex, i, order, pcpMt, false);
    pcp.count += 1 << order;
    const freeHigh = pcp.freeFactor > 0 && order > 0 && order <= this.geometry.costlyOrder;
    const high = this.nrPcpHigh(pcp, z, freeHigh);
    if (pcp.count >= high) this.freePcppagesBulk(z, this.nrPcpFree(pcp, high, pcp.batch, freeHigh), pcp, pindex);
  }

  /** rmqueue_pcplist() + __rmqueue_pcplist(). */
  private rmqueuePcplist(preferred: Zone, z: Zone, order: number, mt: number, allocFlags: number): number {
    const pcp = z.pcp[this.cpu] as PerCpuPages;
    pcp.freeFactor >>= 1;
    const pindex = this.orderToPindex(mt, order);
    if ((pcp.heads[pindex] as number) === NIL) {
      let batch = pcp.batch;
      if (batch > 1) batch = Math.max(batch >> order, 2);
      const alloced = this.rmqueueBulk(z, order, batch, pcp, pindex, mt, allocFlags);
      pcp.count += alloced * (1 << order);
      if ((pcp.heads[pindex] as number) === NIL) return -1;
    }
    const i = pcp.heads[pindex] as number;
    this.pcpUnlink(pcp, pindex, i);
    pcp.count -= 1 << order;
    this.countAlloc(preferred, z, order);
    return i;
  }

  private countAlloc(preferred: Zone, z: Zone, order: number): void {
    this.events.count(PGALLOC_DMA + z.idx, 1 << order);
    // zone_statistics(): one NUMA event per allocation (nr_account = 1).
    const localNid = this.cpuToNode[this.cpu] as number;
    const ne = z.numaEvents;
    if (z.nid === preferred.nid) ne[NUMA_HIT] = (ne[NUMA_HIT] as number) + 1;
    else {
      ne[NUMA_MISS] = (ne[NUMA_MISS] as number) + 1;
      preferred.numaEvents[NUMA_FOREIGN] = (preferred.numaEvents[NUMA_FOREIGN] as number) + 1;
    }
    const ls = z.nid === localNid ? NUMA_LOCAL : NUMA_OTHER;
    ne[ls] = (ne[ls] as number) + 1;
  }

  /** rmqueue_buddy(). */
  private rmqueueBuddy(preferred: Zone, z: Zone, order: number, allocFlags: number, mt: number): number {
    let i = -1;
    if (allocFlags & ALLOC_HIGHATOMIC) i = this.rmqueueSmallest(z, order, MIGRATE_HIGHATOMIC);
    if (i < 0) {
      i = this.rmqueueIdx(z, order, mt, allocFlags);
      if (i < 0) return -1;
    }
    this.modZoneFreepageState(z, -(1 << order), this.memmap.auxAt(i));
    this.countAlloc(preferred, z, order);
    return i;
  }

  /**
   * rmqueue(): pcp lists for small orders, else the buddy lists. v1 patch 6: the MOVABLE pcp list (which may hold
   * METADATA and CMA pages) is used only when ALLOC_CMA and, with tag storage on, ALLOC_FROM_METADATA are allowed
   * (kernel-facts §3.3; the "tag storage on" condition is our reading [I]).
   */
  private rmqueue(preferred: Zone, z: Zone, order: number, allocFlags: number, mt: number): number {
    let i = -1;
    if (this.pcpAllowedOrder(order)) {
      if (
        mt !== MIGRATE_MOVABLE ||
        (allocFlags & ALLOC_CMA && (!this.arch.metadataEnabled || allocFlags & ALLOC_FROM_METADATA))
      ) {
        i = this.rmqueuePcplist(preferred, z, order, mt, allocFlags);
      }
    }
    if (i < 0) i = this.rmqueueBuddy(preferred, z, order, allocFlags, mt);
    if (allocFlags & ALLOC_KSWAPD && z.boostedWatermark) {
      z.boostedWatermark = false;
      this.hooks.wakeKswapd?.(z, 0, z.idx);
    }
    return i;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Watermark checks

  /** __zone_watermark_unusable_free(): CMA and (v1 §3.4) METADATA free pages don't count unless allowed. */
  private unusableFree(z: Zone, order: number, allocFlags: number): number {
    let u = (1 << order) - 1;
    if (!(allocFlags & ALLOC_RESERVES)) u += z.nrReservedHighatomic;
    if (!(allocFlags & ALLOC_CMA)) u += z.vmStat[NR_FREE_CMA_PAGES] as number;
    if (!(allocFlags & ALLOC_FROM_METADATA)) u += z.vmStat[NR_FREE_METADATA_PAGES] as number;
    return u;
  }

  /** __zone_watermark_ok(). */
  zoneWatermarkOk(
    z: Zone,
    order: number,
    mark: number,
    highestZoneidx: number,
    allocFlags: number,
    freePages?: number,
  ): boolean {
    const free = (freePages ?? (z.vmStat[NR_FREE_PAGES] as number)) - this.unusableFree(z, order, allocFlags);
    let min = mark;
    if (allocFlags & ALLOC_RESERVES) {
      if (allocFlags & ALLOC_MIN_RESERVE) {
        min -= Math.floor(min / 2);
        if (allocFlags & ALLOC_NON_BLOCK) min -= Math.floor(min / 4);
      }
      if (allocFlags & ALLOC_OOM) min -= Math.floor(min / 2);
    }
    if (free <= min + (z.lowmemReserve[highestZoneidx] ?? 0)) return false;
    if (!order) return true;
    for (let o = order; o <= this.geometry.maxOrder; o++) {
      if (!(z.nrFree[o] as number)) continue;
      const base = o * MIGRATE_TYPES;
      for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++) if ((z.freeHead[base + mt] as number) !== NIL) return true;
      if (allocFlags & ALLOC_CMA && (z.freeHead[base + MIGRATE_CMA] as number) !== NIL) return true;
      if (allocFlags & ALLOC_FROM_METADATA && (z.freeHead[base + MIGRATE_METADATA] as number) !== NIL) return true;
      if (allocFlags & (ALLOC_HIGHATOMIC | ALLOC_OOM) && (z.freeHead[base + MIGRATE_HIGHATOMIC] as number) !== NIL)
        return true;
    }
    return false;
  }

  /** zone_watermark_fast(). */
  private zoneWatermarkFast(z: Zone, order: number, mark: number, highestZoneidx: number, allocFlags: number): boolean {
    const free = z.vmStat[NR_FREE_PAGES] as number;
    if (!order) {
      const reserved = this.unusableFree(z, 0, allocFlags);
      const usable = free - Math.min(free, reserved);
      if (usable > mark + (z.lowmemReserve[highestZoneidx] ?? 0)) return true;
    }
    if (this.zoneWatermarkOk(z, order, mark, highestZoneidx, allocFlags, free)) return true;
    if (!order && allocFlags & ALLOC_MIN_RESERVE && z.watermarkBoost && (allocFlags & ALLOC_WMARK_MASK) === WMARK_MIN) {
      return this.zoneWatermarkOk(z, order, z.watermark[WMARK_MIN] as number, highestZoneidx, allocFlags, free);
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Allocation

  /** alloc_flags_nofragment(): ALLOC_NOFRAGMENT when the preferred zone is Normal (CONFIG_ZONE_DMA32=y). */
  private allocFlagsNofragment(z: Zone | undefined, gfp: number): number {
    let f = gfp & __GFP_KSWAPD_RECLAIM ? ALLOC_KSWAPD : 0;
    if (!z || z.idx !== ZONE_NORMAL) return f;
    if (this.nodes.length > 1) {
      const node = this.nodeOf(z.nid);
      const dma32 = node?.zones.find((x) => x.idx === z.idx - 1);
      if (!dma32 || !dma32.populated) return f;
    }
    f |= ALLOC_NOFRAGMENT;
    return f;
  }

  /** get_page_from_freelist(): walk the zonelist from the highest allowed zone down. Returns a dense index. */
  private getPageFromFreelist(
    gfp: number,
    order: number,
    allocFlags: number,
    highest: number,
    mt: number,
    zonelist: Zone[],
    preferred: Zone,
  ): number {
    for (;;) {
      const noFallback = (allocFlags & ALLOC_NOFRAGMENT) !== 0;
      let retry = false;
      for (let k = 0; k < zonelist.length; k++) {
        const z = zonelist[k] as Zone;
        if (z.idx > highest) continue;
        if (noFallback && this.nodes.length > 1 && z !== preferred && z.nid !== preferred.nid) {
          allocFlags &= ~ALLOC_NOFRAGMENT;
          retry = true;
          break;
        }
        if (!(allocFlags & ALLOC_NO_WATERMARKS)) {
          const mark = z.wmarkPages(allocFlags & ALLOC_WMARK_MASK);
          if (!this.zoneWatermarkFast(z, order, mark, highest, allocFlags)) continue;
        }
        const i = this.rmqueue(preferred, z, order, allocFlags, mt);
        if (i < 0) continue;
        this.prepNewPage(i, order, gfp);
        if (gfp & __GFP_TAGGED && this.arch.metadataEnabled) {
          const pfn = this.memmap.idxToPfn(i);
          if (!this.arch.reserveMetadata(pfn, order, gfp)) {
            // v1 patch 19: return_page_to_buddy() to the tail of its free list, and move on (§2.4).
            this.reserveFailures++;
            this.returnPageToBuddy(z, i, order);
            continue;
          }
        }
        if (allocFlags & ALLOC_HIGHATOMIC) this.reserveHighatomicPageblock(i, z);
        return i;
      }
      if (retry) continue;
      if (allocFlags & ALLOC_NOFRAGMENT) {
        allocFlags &= ~ALLOC_NOFRAGMENT;
        continue;
      }
      return -1;
    }
  }

  /**
   * reserve_highatomic_pageblock(): a high-order atomic allocation reserves its pageblock as MIGRATE_HIGHATOMIC,
   * up to about 1% of the zone (nothing when 1% is under a pageblock); only mergeable pageblocks are taken.
   */
  private reserveHighatomicPageblock(i: number, z: Zone): void {
    const pbn = this.geometry.pageblockNrPages;
    const onePercent = Math.floor(z.managedPages / 100);
    if (onePercent < pbn) return;
    const maxManaged = Math.ceil(onePercent / pbn) * pbn;
    if (z.nrReservedHighatomic >= maxManaged) return;
    const mt = this.memmap.pageblockMigratetypeAt(i);
    if (!migratetypeIsMergeable(mt)) return;
    z.nrReservedHighatomic += pbn;
    this.memmap.setPageblockMigratetypeAt(i, MIGRATE_HIGHATOMIC);
    this.moveFreepagesBlock(z, i, MIGRATE_HIGHATOMIC);
  }

  /**
   * unreserve_highatomic_pageblock(): turn one HIGHATOMIC pageblock with free pages back to the requester's type
   * (keeping one pageblock per zone unless `force`). True if free pages were moved.
   */
  private unreserveHighatomicPageblock(zonelist: Zone[], highest: number, mt: number, force: boolean): boolean {
    const pbn = this.geometry.pageblockNrPages;
    for (const z of zonelist) {
      if (z.idx > highest) continue;
      if (!force && z.nrReservedHighatomic <= pbn) continue;
      for (let o = 0; o <= this.geometry.maxOrder; o++) {
        const i = z.freeHead[o * MIGRATE_TYPES + MIGRATE_HIGHATOMIC] as number;
        if (i === NIL) continue;
        if (this.memmap.pageblockMigratetypeAt(i) === MIGRATE_HIGHATOMIC)
          z.nrReservedHighatomic -= Math.min(pbn, z.nrReservedHighatomic);
        this.memmap.setPageblockMigratetypeAt(i, mt);
        if (this.moveFreepagesBlock(z, i, mt)) return true;
      }
    }
    return false;
  }

  /** The v1 return_page_to_buddy(): __free_one_page(..., FPI_TO_TAIL) of a page just allocated. */
  private returnPageToBuddy(z: Zone, i: number, order: number): void {
    const mm = this.memmap;
    this.clearPages(i, order);
    this.freeOneIdx(z, i, mm.idxToPfn(i), order, mm.pageblockMigratetypeAt(i), FPI_TO_TAIL);
  }

  /** prep_new_page(): refcount 1, compound head, zeroing (content token 0). */
  private prepNewPage(i: number, order: number, gfp: number): void {
    const mm = this.memmap;
    const u = mm.u32;
    const aux = (u[i * 4] as number) >>> 24;
    u[i * 4] = ((gfp & __GFP_COMP && order > 0 ? PG_head : 0) | (order << 16) | (aux << 24)) >>> 0;
    mm.i32[i * 4 + 1] = 1;
    u[i * 4 + 2] = 0;
    u[i * 4 + 3] = 0;
    if (gfp & __GFP_ZERO) for (let k = 1; k < 1 << order; k++) u[(i + k) * 4 + 3] = 0;
  }

  /** First zone of the zonelist at or below `highest` (first_zones_zonelist). */
  private preferredZone(zonelist: Zone[], highest: number): Zone | undefined {
    for (const z of zonelist) if (z.idx <= highest) return z;
    return undefined;
  }

  /**
   * __alloc_pages(): returns the pfn of a 2^order block (refcount 1 on the head) or -1. The fast path uses the
   * low watermark; the slow path the min watermark, then the reclaim / compaction / OOM hooks.
   */
  allocPages(order: number, gfp: number, nid?: number): number {
    if (order > this.geometry.maxOrder) return -1;
    const node = nid ?? (this.cpuToNode[this.cpu] as number);
    const meta = this.arch.metadataEnabled;
    // prepare_alloc_pages() + the fast-path alloc flags depend only on (node, gfp, static key): cached, keyed by
    // the gfp (a small integer) per node.
    let ctx = this.lastCtx;
    if (ctx === undefined || ctx.gfp !== gfp || ctx.node !== node || ctx.meta !== meta) {
      let cache = this.allocCtx[node];
      if (cache === undefined) {
        cache = new Map<number, AllocContext>();
        this.allocCtx[node] = cache;
      }
      ctx = cache.get(gfp);
      if (ctx === undefined || ctx.meta !== meta) {
        ctx = this.prepareAllocContext(gfp, node, meta);
        cache.set(gfp, ctx);
      }
      this.lastCtx = ctx;
    }
    if (!ctx.preferred) return -1;
    // reserveMetadata() may allocate (migration targets): keep the outer allocation's count.
    const outerFailures = this.reserveFailures;
    this.reserveFailures = 0;
    let i = this.getPageFromFreelist(gfp, order, ctx.allocFlags, ctx.highest, ctx.mt, ctx.zonelist, ctx.preferred);
    if (i < 0) i = this.allocPagesSlowpath(gfp, order, ctx.highest, ctx.mt, ctx.zonelist, ctx.preferred);
    this.reserveFailures = outerFailures;
    return i < 0 ? -1 : this.memmap.idxToPfn(i);
  }

  /** Forget cached allocation contexts (after zones are populated or mobility grouping changes). */
  invalidateAllocContexts(): void {
    this.allocCtx.length = 0;
    this.lastCtx = undefined;
  }

  private prepareAllocContext(gfp: number, node: number, meta: boolean): AllocContext {
    const zonelist = this.zonelists[node] ?? this.zonelists[this.nodes[0]?.nodeId ?? 0] ?? [];
    const highest = gfpZone(gfp);
    const mt = this.pageGroupByMobilityDisabled ? MIGRATE_UNMOVABLE : gfpMigratetype(gfp);
    const preferred = this.preferredZone(zonelist, highest);
    let allocFlags = gfpToAllocFlagsFast(gfp, ALLOC_WMARK_LOW, meta);
    allocFlags |= this.allocFlagsNofragment(preferred, gfp);
    return { gfp, node, zonelist, highest, mt, preferred, allocFlags, meta };
  }

  /** __alloc_pages_slowpath(), reduced to the steps the emulator models. */
  private allocPagesSlowpath(
    gfp: number,
    order: number,
    highest: number,
    mt: number,
    zonelist: Zone[],
    preferred: Zone,
  ): number {
    const allocFlags = gfpToAllocFlags(gfp, order, this.arch.metadataEnabled);
    const wake = (): void => {
      if (!(allocFlags & ALLOC_KSWAPD) || !this.hooks.wakeKswapd) return;
      for (const z of zonelist) if (z.idx <= highest) this.hooks.wakeKswapd(z, order, highest);
    };
    wake();
    let i = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt, zonelist, preferred);
    if (i >= 0) return i;
    if (!(gfp & __GFP_DIRECT_RECLAIM)) return -1;
    // Bounded like should_reclaim_retry(): MAX_RECLAIM_RETRIES rounds without progress. A tag storage
    // reservation that failed is progress of its own kind (the next round takes other pages, §2.4), bounded too.
    let noProgress = 0;
    let reserveRounds = 0;
    let oomRounds = 0;
    let drained = false;
    for (let round = 0; round < 1024; round++) {
      let progress = false;
      if (this.hooks.directReclaim && this.hooks.directReclaim(order, gfp, highest) > 0) progress = true;
      this.reserveFailures = 0;
      i = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt, zonelist, preferred);
      if (i >= 0) return i;
      if (!drained) {
        // __alloc_pages_direct_reclaim(): on failure, give back a spare HIGHATOMIC pageblock, drain the pcp
        // lists once and retry (pages there are not counted free).
        drained = true;
        this.unreserveHighatomicPageblock(zonelist, highest, mt, false);
        this.drainAllPages();
        i = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt, zonelist, preferred);
        if (i >= 0) return i;
      }
      if (order > 0 && this.hooks.directCompact?.(order, gfp, highest)) {
        progress = true;
        i = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt, zonelist, preferred);
        if (i >= 0) return i;
      }
      if (gfp & __GFP_NORETRY) return -1;
      if (this.reserveFailures > 0 && reserveRounds < MAX_RECLAIM_RETRIES) {
        reserveRounds++;
        continue;
      }
      noProgress = progress ? 0 : noProgress + 1;
      if (progress && noProgress === 0 && round < 4 * MAX_RECLAIM_RETRIES) continue;
      // should_reclaim_retry(): out of retries, the last HIGHATOMIC reserves are given up before the OOM killer.
      if (this.unreserveHighatomicPageblock(zonelist, highest, mt, true)) continue;
      if (oomRounds < MAX_RECLAIM_RETRIES && this.hooks.outOfMemory?.(order, gfp)) {
        oomRounds++;
        wake();
        continue;
      }
      break;
    }
    if (!(gfp & __GFP_NOFAIL)) return -1;
    // __GFP_NOFAIL with nothing left to try: ignore the watermarks (ALLOC_NO_WATERMARKS) as a last resort.
    return this.getPageFromFreelist(gfp, order, allocFlags | ALLOC_NO_WATERMARKS, highest, mt, zonelist, preferred);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Freeing

  /** Clears the page words of a block leaving the allocator (flags, refcount, owner, token). */
  private clearPages(i: number, order: number): void {
    const u = this.memmap.u32;
    if (order === 0) {
      u[i * 4] = 0;
      u[i * 4 + 1] = 0;
      u[i * 4 + 2] = 0;
      return;
    }
    const n = 1 << order;
    for (let k = 0; k < n; k++) {
      const w = (i + k) * 4;
      u[w] = 0;
      u[w + 1] = 0;
      u[w + 2] = 0;
    }
  }

  /**
   * __free_pages() of a block the caller owns: free_pages_prepare() (the series' free_metadata_storage when the
   * page has tag storage reserved, §2.3) then the pcp lists for pcp_allowed_order(), else __free_pages_ok().
   */
  freePages(pfn: number, order: number): void {
    const mm = this.memmap;
    const i = mm.idxOf(pfn);
    if ((mm.u32[i * 4] as number) & (PG_buddy | PG_pcp))
      throw new SimInvariantError(`freeing pfn 0x${pfn.toString(16)}, which is already free`);
    if (this.arch.metadataEnabled && this.arch.pageHasMetadata(pfn)) this.arch.freeMetadata(pfn, order);
    this.clearPages(i, order);
    const z = this.zoneOfIdx(i);
    const mt = mm.pageblockMigratetypeAt(i);
    if (this.pcpAllowedOrder(order)) {
      // free_unref_page(): ISOLATE and (v1 patch 7) METADATA pages bypass the pcp lists; HIGHATOMIC and CMA go
      // to the MOVABLE list. The bypass uses free_one_page(), which does not count PGFREE (as in v6.5).
      if (mt >= MIGRATE_PCPTYPES) {
        if (mt === MIGRATE_ISOLATE || mt === MIGRATE_METADATA) {
          this.freeOneIdx(z, i, pfn, order, mt, FPI_NONE);
          return;
        }
        this.freeUnrefPageCommit(z, z.pcp[this.cpu] as PerCpuPages, i, mt, MIGRATE_MOVABLE, order);
        return;
      }
      this.freeUnrefPageCommit(z, z.pcp[this.cpu] as PerCpuPages, i, mt, mt, order);
      return;
    }
    this.freeOneIdx(z, i, pfn, order, mt, FPI_NONE);
    this.events.count(PGFREE, 1 << order);
  }

  /** drain_pages_zone() for every cpu. */
  drainZonePages(z: Zone): void {
    for (const pcp of z.pcp) if (pcp.count) this.freePcppagesBulk(z, pcp.count, pcp, 0);
  }

  /** drain_all_pages(NULL). */
  drainAllPages(): void {
    for (const z of this.zones) if (z.populated) this.drainZonePages(z);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Boot

  /**
   * memblock_free_all() for one free range [startPfn, endPfn): __free_pages_memory() cuts it into the largest
   * naturally aligned chunks (order ≤ MAX_ORDER) and __free_pages_core() makes them managed and frees them with
   * FPI_TO_TAIL, counting PGFREE. Chunks never cross a zone edge or a missing section.
   */
  freeBootmem(startPfn: number, endPfn: number): void {
    const mm = this.memmap;
    const maxOrder = this.geometry.maxOrder;
    let pfn = startPfn;
    while (pfn < endPfn) {
      const i = mm.pfnToIdx(pfn);
      const z = i >= 0 ? this.zoneForPfn(pfn) : undefined;
      const secEnd = (Math.floor(pfn / this.geometry.pagesPerSection) + 1) * this.geometry.pagesPerSection;
      if (i < 0 || !z) {
        // No memmap or no zone here: skip to the next section or the next zone start, whichever is first.
        let next = secEnd;
        if (i >= 0)
          for (const y of this.zones)
            if (y.spannedPages > 0 && y.zoneStartPfn > pfn) next = Math.min(next, y.zoneStartPfn);
        pfn = next;
        continue;
      }
      const end = Math.min(endPfn, z.zoneEndPfn, secEnd);
      while (pfn < end) {
        let order = 0;
        while (order < maxOrder && pfn % (1 << (order + 1)) === 0) order++;
        while (pfn + (1 << order) > end) order--;
        const nr = 1 << order;
        const k = mm.pfnToIdx(pfn);
        z.managedPages += nr;
        this.freeOneIdx(z, k, pfn, order, mm.pageblockMigratetypeAt(k), FPI_TO_TAIL);
        this.events.count(PGFREE, nr);
        pfn += nr;
      }
    }
  }

  /**
   * init_reserved_pageblock(pfn, mt) of the series (§1.1 step 3/6, §3.7): set the pageblock's type, free its
   * pages with __free_pages(page, pageblock_order), adjust_managed_page_count(); for METADATA also
   * zone->metadata_pages and totalmetadata_pages (init_metadata_reserved_pageblock); for CMA zone->cma_pages
   * (init_cma_reserved_pageblock).
   */
  initReservedPageblock(pfn: number, migratetype: number): void {
    const mm = this.memmap;
    const nr = this.geometry.pageblockNrPages;
    const start = pfn - (pfn % nr);
    const i = mm.idxOf(start);
    const z = this.zoneOfIdx(i);
    mm.setPageblockMigratetypeAt(i, migratetype);
    this.clearPages(i, this.geometry.pageblockOrder);
    mm.i32[i * 4 + 1] = 1; // set_page_refcounted
    this.freePages(start, this.geometry.pageblockOrder);
    z.managedPages += nr;
    if (migratetype === MIGRATE_METADATA) {
      z.metadataPages += nr;
      this.totalmetadataPages += nr;
    } else if (migratetype === MIGRATE_CMA) {
      z.cmaPages += nr; // init_cma_reserved_pageblock(); totalcma_pages is counted when the area is declared
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Watermarks, reserves, pcp sizing

  /** nr_free_zone_pages(gfp_zone(GFP_USER)) over the zonelist of the current cpu's node. */
  nrFreeBufferPages(): number {
    const zl = this.zonelists[this.cpuToNode[this.cpu] ?? 0] ?? [];
    const top = gfpZone(GFP_USER);
    let sum = 0;
    for (const z of zl) {
      if (z.idx > top) continue;
      const high = z.highWmark();
      if (z.managedPages > high) sum += z.managedPages - high;
    }
    return sum;
  }

  /** calculate_min_free_kbytes(): sqrt(lowmem_kbytes * 16), clamped to [128, 262144]. */
  calculateMinFreeKbytes(): void {
    const lowmemKb = this.nrFreeBufferPages() * (this.geometry.pageSize / 1024);
    const n = Math.floor(Math.sqrt(lowmemKb * 16));
    if (n > this.userMinFreeKbytes) this.minFreeKbytes = Math.min(Math.max(n, 128), 262144);
  }

  /** __setup_per_zone_wmarks() + zone_pcp_update() of setup_per_zone_wmarks(). */
  setupPerZoneWmarksOnly(): void {
    const pagesMin = Math.floor(this.minFreeKbytes / (this.geometry.pageSize / 1024));
    let lowmem = 0;
    for (const z of this.zones) if (z.idx !== ZONE_MOVABLE) lowmem += z.managedPages;
    for (const z of this.zones) {
      let tmp = lowmem > 0 ? Math.floor((pagesMin * z.managedPages) / lowmem) : 0;
      if (z.idx === ZONE_MOVABLE) {
        const minPages = Math.min(Math.max(Math.floor(z.managedPages / 1024), 32), 128);
        z.watermark[WMARK_MIN] = minPages;
      } else {
        z.watermark[WMARK_MIN] = tmp;
      }
      tmp = Math.max(Math.floor(tmp / 4), multFrac(z.managedPages, this.watermarkScaleFactor, 10000));
      z.watermarkBoost = 0;
      z.watermark[WMARK_LOW] = z.minWmark() + tmp;
      z.watermark[WMARK_HIGH] = z.lowWmark() + tmp;
      z.watermark[WMARK_PROMO] = z.highWmark() + tmp;
    }
    this.calculateTotalreservePages();
    for (const z of this.zones) this.zonePcpUpdate(z);
  }

  /** calculate_totalreserve_pages(). */
  calculateTotalreservePages(): void {
    let total = 0;
    for (const n of this.nodes) {
      n.totalreservePages = 0;
      for (const z of n.zones) {
        let max = 0;
        for (let j = z.idx; j < MAX_NR_ZONES; j++) max = Math.max(max, z.lowmemReserve[j] ?? 0);
        max += z.highWmark();
        if (max > z.managedPages) max = z.managedPages;
        n.totalreservePages += max;
        total += max;
      }
    }
    this.totalreservePages = total;
  }

  /** setup_per_zone_lowmem_reserve(). */
  setupPerZoneLowmemReserve(): void {
    for (const n of this.nodes) {
      for (let i = 0; i < MAX_NR_ZONES - 1; i++) {
        const z = n.zones.find((x) => x.idx === i);
        if (!z) continue;
        const ratio = LOWMEM_RESERVE_RATIO[i] ?? 0;
        const clear = !ratio || !z.managedPages;
        let managed = 0;
        for (let j = i + 1; j < MAX_NR_ZONES; j++) {
          managed += n.zones.find((x) => x.idx === j)?.managedPages ?? 0;
          z.lowmemReserve[j] = clear ? 0 : Math.floor(managed / ratio);
        }
      }
    }
    this.calculateTotalreservePages();
  }

  /** refresh_zone_stat_thresholds() → calculate_normal_threshold() per populated zone. */
  refreshZoneStatThresholds(): void {
    for (const z of this.zones) {
      if (!z.populated) continue;
      const mem = Math.floor(z.managedPages / 2 ** (27 - this.geometry.pageShift));
      const t = Math.min(125, 2 * fls(this.cpus) * (1 + fls(mem)));
      for (const p of z.pcp) p.statThreshold = t;
    }
  }

  /** zone_batchsize(). */
  zoneBatchsize(z: Zone): number {
    let batch = Math.min(Math.floor(z.managedPages / 1024), Math.floor((1024 * 1024) / this.geometry.pageSize));
    batch = Math.floor(batch / 4);
    if (batch < 1) batch = 1;
    return roundDownPowOfTwo(batch + Math.floor(batch / 2)) - 1;
  }

  /** zone_highsize() with percpu_pagelist_high_fraction = 0 and cpu_online = 0. */
  zoneHighsize(z: Zone, batch: number): number {
    const total = z.lowWmark();
    let split = this.cpuToNode.filter((n) => n === z.nid).length;
    if (!split) split = this.cpus;
    return Math.max(Math.floor(total / split), batch * 4);
  }

  /** zone_pcp_update() → zone_set_pageset_high_and_batch(). */
  zonePcpUpdate(z: Zone): void {
    const batch = Math.max(1, this.zoneBatchsize(z));
    const high = this.zoneHighsize(z, batch);
    for (const p of z.pcp) {
      p.batch = batch;
      p.high = high;
    }
  }

  /** setup_per_cpu_pageset(): pcp high/batch of populated zones (after memblock_free_all) and thresholds. */
  setupPerCpuPageset(): void {
    for (const z of this.zones) if (z.populated) this.zonePcpUpdate(z);
    this.refreshZoneStatThresholds();
  }

  /**
   * init_per_zone_wmark_min() (postcore_initcall), then, with THP, khugepaged's set_recommended_min_free_kbytes()
   * (subsys_initcall hugepage_init → start_stop_khugepaged), then a user min_free_kbytes if one was given.
   */
  setupPerZoneWmarks(): void {
    this.calculateMinFreeKbytes();
    this.setupPerZoneWmarksOnly();
    this.refreshZoneStatThresholds();
    this.setupPerZoneLowmemReserve();
    if (this.thp) this.setRecommendedMinFreeKbytes();
    if (this.userMinFree !== undefined) this.setMinFreeKbytes(this.userMinFree);
  }

  /** set_recommended_min_free_kbytes() (mm/khugepaged.c). */
  setRecommendedMinFreeKbytes(): void {
    let nrZones = 0;
    const top = gfpZone(GFP_USER);
    for (const z of this.zones) if (z.populated && z.idx <= top) nrZones++;
    const pbn = this.geometry.pageblockNrPages;
    let rec = pbn * nrZones * 2;
    rec += pbn * nrZones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES;
    rec = Math.min(rec, Math.floor(this.nrFreeBufferPages() / 20));
    rec = rec * (this.geometry.pageSize / 1024);
    if (rec > this.minFreeKbytes) this.minFreeKbytes = rec;
    this.setupPerZoneWmarksOnly();
  }

  /** The vm.min_free_kbytes sysctl handler. */
  setMinFreeKbytes(kb: number): void {
    this.userMinFreeKbytes = kb;
    this.minFreeKbytes = kb;
    this.setupPerZoneWmarksOnly();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Snapshots

  /**
   * A copy of the allocator's whole state — memmap words, pageblock types, zones, pcp lists, node counters,
   * events and the global totals — for deterministic replay (`explore` runs each schedule from one state).
   * The arch and slow-path hooks are not part of it.
   */
  snapshot(): PageAllocatorSnapshot {
    return {
      words: this.memmap.u32.slice(),
      pageblockMt: this.memmap.pageblockMt.slice(),
      zones: this.zones.map((z) => z.snapshot()),
      nodes: this.nodes.map((n) => ({
        vmStat: n.vmStat.slice(),
        kswapdFailures: n.kswapdFailures,
        totalreserve: n.totalreservePages,
      })),
      events: this.events.v.slice(),
      nrIsolatePageblock: this.nrIsolatePageblock.slice(),
      scalars: [
        this.cpu,
        this.minFreeKbytes,
        this.userMinFreeKbytes,
        this.watermarkScaleFactor,
        this.watermarkBoostFactor,
        this.totalreservePages,
        this.totalmetadataPages,
        this.totalcmaPages,
        this.mobilityDisabled ? 1 : 0,
      ],
    };
  }

  /** Puts back a state taken by snapshot() on this allocator (same memmap and zones). */
  restore(s: PageAllocatorSnapshot): void {
    if (s.words.length !== this.memmap.u32.length) throw new SimInvariantError('snapshot of a different memmap');
    this.memmap.u32.set(s.words);
    this.memmap.pageblockMt.set(s.pageblockMt);
    const bits = this.buddyBits;
    bits.fill(0);
    for (let i = 0; i < this.memmap.nrPages; i++)
      if ((s.words[i * 4] as number) & PG_buddy) bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31));
    this.zones.forEach((z, k) => z.restore(s.zones[k] as ZoneSnapshot));
    this.lastZone = undefined;
    this.nodes.forEach((n, k) => {
      const ns = s.nodes[k];
      if (!ns) return;
      n.vmStat.set(ns.vmStat);
      n.kswapdFailures = ns.kswapdFailures;
      n.totalreservePages = ns.totalreserve;
    });
    this.events.v.set(s.events);
    this.nrIsolatePageblock.set(s.nrIsolatePageblock);
    const v = (k: number): number => s.scalars[k] ?? 0;
    this.cpu = v(0);
    this.minFreeKbytes = v(1);
    this.userMinFreeKbytes = v(2);
    this.watermarkScaleFactor = v(3);
    this.watermarkBoostFactor = v(4);
    this.totalreservePages = v(5);
    this.totalmetadataPages = v(6);
    this.totalcmaPages = v(7);
    this.pageGroupByMobilityDisabled = v(8) === 1;
    this.reserveFailures = 0;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Isolation and take-off helpers (for an emulated alloc_contig_range and for compaction)

  /**
   * A free block larger than a pageblock that contains pageblock `pb` (dense index of its first page) is cut so
   * that the pageblock becomes a block of its own (isolate_single_pageblock's split_free_page() at the pageblock
   * edges, done before the type changes). The pieces stay free on the same list; counters do not change.
   */
  private splitFreeBlockAroundPageblock(z: Zone, pb: number): void {
    const mm = this.memmap;
    const pbOrder = this.geometry.pageblockOrder;
    for (let o = pbOrder + 1; o <= this.geometry.maxOrder; o++) {
      const head = pb - (pb % (1 << o));
      const w0 = mm.u32[head * 4] as number;
      if (!(w0 & PG_buddy) || ((w0 >>> 16) & 0xff) !== o) continue;
      const mt = this.delFromFreeList(z, head, o);
      let high = o;
      let page = head;
      while (high > pbOrder) {
        high--;
        const size = 1 << high;
        let other: number;
        if (pb >= page + size) {
          other = page;
          page = page + size;
        } else {
          other = page + size;
        }
        this.addToFreeList(z, other, high, mt, false);
      }
      this.addToFreeList(z, page, pbOrder, mt, false);
      return;
    }
  }

  /**
   * start_isolate_page_range() for one pageblock: set_migratetype_isolate() (without the has_unmovable_pages()
   * check, which belongs to the caller) after splitting a free block that straddles the pageblock. False if the
   * pageblock was already isolated.
   */
  isolatePageblock(pfn: number): boolean {
    const mm = this.memmap;
    let i = mm.idxOf(pfn);
    i -= i % this.geometry.pageblockNrPages;
    const z = this.zoneOfIdx(i);
    const mt = mm.pageblockMigratetypeAt(i);
    if (mt === MIGRATE_ISOLATE) return false;
    this.splitFreeBlockAroundPageblock(z, i);
    mm.setPageblockMigratetypeAt(i, MIGRATE_ISOLATE);
    const zi = this.zones.indexOf(z);
    this.nrIsolatePageblock[zi] = (this.nrIsolatePageblock[zi] ?? 0) + 1;
    const nr = this.moveFreepagesBlock(z, i, MIGRATE_ISOLATE);
    this.modZoneFreepageState(z, -nr, mt);
    return true;
  }

  /** unset_migratetype_isolate(pfn, migratetype). */
  unisolatePageblock(pfn: number, migratetype: number): void {
    const mm = this.memmap;
    const pbn = this.geometry.pageblockNrPages;
    let i = mm.idxOf(pfn);
    i -= i % pbn;
    const z = this.zoneOfIdx(i);
    if (mm.pageblockMigratetypeAt(i) !== MIGRATE_ISOLATE) return;
    let isolatedOrder = -1;
    const w0 = mm.u32[i * 4] as number;
    if (w0 & PG_buddy) {
      const order = (w0 >>> 16) & 0xff;
      if (order >= this.geometry.pageblockOrder && order < this.geometry.maxOrder) {
        const size = 1 << order;
        const b = (i & size) !== 0 ? i - size : i + size;
        const p = mm.idxToPfn(i);
        const bp = (i & size) !== 0 ? p - size : p + size;
        if (this.isBuddy(z, b, bp, order) && mm.pageblockMigratetypeAt(b) !== MIGRATE_ISOLATE) {
          if (this.isolateFreeIdx(z, i, order)) isolatedOrder = order;
        }
      }
    }
    if (isolatedOrder < 0) {
      const nr = this.moveFreepagesBlock(z, i, migratetype);
      this.modZoneFreepageState(z, nr, migratetype);
    }
    mm.setPageblockMigratetypeAt(i, migratetype);
    if (isolatedOrder >= 0) this.freeOneIdx(z, i, mm.idxToPfn(i), isolatedOrder, migratetype, FPI_NONE);
    const zi = this.zones.indexOf(z);
    this.nrIsolatePageblock[zi] = (this.nrIsolatePageblock[zi] ?? 1) - 1;
  }

  private isolateFreeIdx(z: Zone, i: number, order: number): number {
    const mm = this.memmap;
    const mt = mm.pageblockMigratetypeAt(i);
    if (mt !== MIGRATE_ISOLATE) {
      const wm = (z.watermark[WMARK_MIN] as number) + (1 << order);
      // v1 patch 24: the WMARK_MIN check passes ALLOC_CMA | ALLOC_FROM_METADATA (§3.4).
      if (!this.zoneWatermarkOk(z, 0, wm, 0, ALLOC_CMA | ALLOC_FROM_METADATA)) return 0;
      this.modZoneFreepageState(z, -(1 << order), mt);
    }
    this.delFromFreeList(z, i, order);
    if (order >= this.geometry.pageblockOrder - 1) {
      const pbn = this.geometry.pageblockNrPages;
      for (let k = 0; k < 1 << order; k += pbn) {
        const m = mm.pageblockMigratetypeAt(i + k);
        if (migratetypeIsMergeable(m)) mm.setPageblockMigratetypeAt(i + k, MIGRATE_MOVABLE);
      }
    }
    return 1 << order;
  }

  /**
   * __isolate_free_page(): take the free block headed by `pfn` of `order` off the free lists (watermark-checked
   * unless its pageblock is isolated). Returns the number of pages, 0 on failure. The caller owns the pages.
   */
  isolateFreePage(pfn: number, order: number): number {
    const mm = this.memmap;
    const i = mm.idxOf(pfn);
    const w0 = mm.u32[i * 4] as number;
    if (!(w0 & PG_buddy) || ((w0 >>> 16) & 0xff) !== order) return 0;
    return this.isolateFreeIdx(this.zoneOfIdx(i), i, order);
  }

  /** The free buddy block containing `pfn`, if any (is_free_buddy_page). */
  freeBlockAt(pfn: number): { pfn: number; order: number; mt: number } | null {
    const mm = this.memmap;
    const i = mm.pfnToIdx(pfn);
    if (i < 0) return null;
    for (let o = 0; o <= this.geometry.maxOrder; o++) {
      const head = i - (i % (1 << o));
      const w0 = mm.u32[head * 4] as number;
      if (w0 & PG_buddy && ((w0 >>> 16) & 0xff) >= o) {
        return { pfn: pfn - (i - head), order: (w0 >>> 16) & 0xff, mt: w0 >>> 24 };
      }
    }
    return null;
  }

  /**
   * freeBlockAt without allocating: the head pfn of the free buddy block containing `pfn`, or -1; the block's
   * order is left in `freeBlockOrder`.
   */
  freeBlockHeadOf(pfn: number): number {
    const mm = this.memmap;
    const i = mm.pfnToIdx(pfn);
    if (i < 0) return -1;
    const u = mm.u32;
    const bits = this.buddyBits;
    const maxOrder = this.geometry.maxOrder;
    for (let o = 0; o <= maxOrder; o++) {
      const head = i & ~((1 << o) - 1);
      // The bitmap of free-block heads answers "not a head" without touching the page's words.
      if (((bits[head >>> 5] as number) & (1 << (head & 31))) === 0) continue;
      const w0 = u[head * 4] as number;
      if (w0 & PG_buddy && ((w0 >>> 16) & 0xff) >= o) {
        this.freeBlockOrder = (w0 >>> 16) & 0xff;
        return pfn - (i - head);
      }
    }
    return -1;
  }
  /** The order of the block freeBlockHeadOf() found last. */
  freeBlockOrder = -1;

  /**
   * The lowest pfn in [pfn, endPfn) that heads a free buddy block, or -1: the free-head bitmap read a word (32
   * pages) at a time, skipping sections that are not present. A scan for free memory uses it to step over
   * pages that are in use without looking at each one.
   */
  nextFreeHead(pfn: number, endPfn: number): number {
    const mm = this.memmap;
    const pps = this.geometry.pagesPerSection;
    const bits = this.buddyBits;
    while (pfn < endPfn) {
      const i = mm.pfnToIdx(pfn);
      const secEndPfn = (Math.floor(pfn / pps) + 1) * pps;
      if (i < 0) {
        pfn = secEndPfn;
        continue;
      }
      const iEnd = i + (Math.min(secEndPfn, endPfn) - pfn);
      let k = i;
      while (k < iEnd) {
        const word = (bits[k >>> 5] as number) >>> (k & 31);
        if (word === 0) {
          k = (k | 31) + 1;
          continue;
        }
        k += 31 - Math.clz32(word & -word);
        return k < iEnd ? pfn + (k - i) : -1;
      }
      pfn = secEndPfn;
    }
    return -1;
  }

  /** True if `pfn` is inside a free buddy block (pages on pcp lists are not "free" here: drain first). */
  isFree(pfn: number): boolean {
    return this.freeBlockHeadOf(pfn) >= 0;
  }

  /**
   * take_page_off_buddy(): remove the single page `pfn` from the free block holding it, splitting the block
   * (break_down_buddy_pages); the page leaves with refcount 0 and belongs to the caller. False if not free.
   */
  takeFreePage(pfn: number): boolean {
    const mm = this.memmap;
    const i = mm.pfnToIdx(pfn);
    if (i < 0) return false;
    for (let o = 0; o <= this.geometry.maxOrder; o++) {
      const head = i - (i % (1 << o));
      const w0 = mm.u32[head * 4] as number;
      const pageOrder = (w0 >>> 16) & 0xff;
      if (w0 & PG_buddy && pageOrder >= o) {
        const z = this.zoneOfIdx(head);
        const mt = mm.pageblockMigratetypeAt(head);
        this.delFromFreeList(z, head, pageOrder);
        let high = pageOrder;
        let page = head;
        while (high > 0) {
          high--;
          const size = 1 << high;
          let buddy: number;
          if (i >= page + size) {
            buddy = page;
            page = page + size;
          } else {
            buddy = page + size;
          }
          this.addToFreeList(z, buddy, high, mt, false);
        }
        if (mt !== MIGRATE_ISOLATE) this.modZoneFreepageState(z, -1, mt);
        return true;
      }
      if ((mm.i32[head * 4 + 1] as number) > 0) break;
    }
    return false;
  }

  /** Calls fn for every free block of the zone, list by list (order, then migratetype, head to tail). */
  forEachFreeBlock(z: Zone, fn: (pfn: number, order: number, mt: number) => void): void {
    const mm = this.memmap;
    for (let o = 0; o <= this.geometry.maxOrder; o++) {
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
        for (let i = z.freeHead[o * MIGRATE_TYPES + mt] as number; i !== NIL; i = mm.u32[i * 4 + 2] as number) {
          fn(mm.idxToPfn(i), o, mt);
        }
      }
    }
  }

  /** Free pages on `mt`'s lists of a zone (walking the lists). */
  freePagesOfType(z: Zone, mt: number): number {
    let n = 0;
    for (let o = 0; o <= this.geometry.maxOrder; o++) n += z.freeListCount(o, mt) * (1 << o);
    return n;
  }

  /**
   * The allocator's part of SPEC §5 invariant 1: every list well linked; each block a PageBuddy head of the
   * list's order and type, inside its zone; per-list counts and nr_free match; NR_FREE_PAGES equals the pages
   * on non-ISOLATE lists; nr_free_metadata equals the pages on METADATA lists; pcp counts match their lists.
   * `deep` also walks every free page: no page inside a free block is itself a free or pcp head or has a
   * reference (blocks do not overlap, nothing free is in use) — O(free pages), for tests and `--check` of small
   * machines. Returns the problems found (empty when consistent).
   */
  checkInvariants(deep = false): string[] {
    const mm = this.memmap;
    const errs: string[] = [];
    let listed = 0;
    for (const z of this.zones) {
      let free = 0;
      let meta = 0;
      for (let o = 0; o <= this.geometry.maxOrder; o++) {
        let orderBlocks = 0;
        for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
          const li = o * MIGRATE_TYPES + mt;
          let n = 0;
          let prev = NIL;
          for (let i = z.freeHead[li] as number; i !== NIL; i = mm.u32[i * 4 + 2] as number) {
            const w0 = mm.u32[i * 4] as number;
            const pfn = mm.idxToPfn(i);
            if (!(w0 & PG_buddy) || ((w0 >>> 16) & 0xff) !== o || w0 >>> 24 !== mt)
              errs.push(
                `${z.name}: pfn 0x${pfn.toString(16)} on list order ${o} type ${mt} has word0 0x${w0.toString(16)}`,
              );
            if ((mm.u32[i * 4 + 3] as number) !== prev)
              errs.push(`${z.name}: bad prev link at pfn 0x${pfn.toString(16)}`);
            if (!z.spansPfn(pfn) || !z.spansPfn(pfn + (1 << o) - 1))
              errs.push(`${z.name}: pfn 0x${pfn.toString(16)} outside zone`);
            if (i % (1 << o) !== 0) errs.push(`${z.name}: pfn 0x${pfn.toString(16)} misaligned for order ${o}`);
            if ((mm.i32[i * 4 + 1] as number) !== 0)
              errs.push(`${z.name}: free pfn 0x${pfn.toString(16)} has a refcount`);
            if (((this.buddyBits[i >>> 5] as number) & (1 << (i & 31))) === 0)
              errs.push(`${z.name}: free pfn 0x${pfn.toString(16)} is missing from the buddy bitmap`);
            listed++;
            if (deep) {
              for (let k = 1; k < 1 << o; k++) {
                const wk = mm.u32[(i + k) * 4] as number;
                if (wk & (PG_buddy | PG_pcp) || (mm.i32[(i + k) * 4 + 1] as number) !== 0) {
                  errs.push(
                    `${z.name}: pfn 0x${(pfn + k).toString(16)} inside free block 0x${pfn.toString(16)} is in use`,
                  );
                  break;
                }
              }
            }
            prev = i;
            if (++n > mm.nrPages) {
              errs.push(`${z.name}: list order ${o} type ${mt} loops`);
              break;
            }
          }
          if ((z.freeTail[li] as number) !== prev) errs.push(`${z.name}: bad tail order ${o} type ${mt}`);
          if (n !== z.freeCount[li])
            errs.push(`${z.name}: order ${o} type ${mt}: ${n} blocks, count ${z.freeCount[li]}`);
          orderBlocks += n;
          if (mt !== MIGRATE_ISOLATE) free += n * (1 << o);
          if (mt === MIGRATE_METADATA) meta += n * (1 << o);
        }
        if (orderBlocks !== z.nrFree[o])
          errs.push(`${z.name}: order ${o}: ${orderBlocks} blocks, nr_free ${z.nrFree[o]}`);
      }
      if (free !== z.vmStat[NR_FREE_PAGES])
        errs.push(`${z.name}: ${free} free pages on lists, nr_free_pages ${z.vmStat[NR_FREE_PAGES]}`);
      if (meta !== z.vmStat[NR_FREE_METADATA_PAGES])
        errs.push(`${z.name}: ${meta} METADATA pages on lists, nr_free_metadata ${z.vmStat[NR_FREE_METADATA_PAGES]}`);
      z.pcp.forEach((pcp, cpu) => {
        let n = 0;
        for (let p = 0; p < NR_PCP_LISTS; p++) {
          const order = this.pindexToOrder(p);
          for (let i = pcp.heads[p] as number; i !== NIL; i = mm.u32[i * 4 + 2] as number) {
            if (!((mm.u32[i * 4] as number) & PG_pcp)) errs.push(`${z.name}: cpu ${cpu} pcp page without PG_pcp`);
            n += 1 << order;
            if (n > mm.nrPages * 2) break;
          }
        }
        if (n !== pcp.count) errs.push(`${z.name}: cpu ${cpu} pcp lists hold ${n} pages, count ${pcp.count}`);
      });
    }
    let bitsSet = 0;
    for (let w = 0; w < this.buddyBits.length; w++) {
      let b = this.buddyBits[w] as number;
      while (b !== 0) {
        b &= b - 1;
        bitsSet++;
      }
    }
    if (bitsSet !== listed) errs.push(`buddy bitmap has ${bitsSet} heads, the free lists ${listed}`);
    return errs;
  }
}

/** mult_frac(x, n, d). */
function multFrac(x: number, n: number, d: number): number {
  return Math.floor(x / d) * n + Math.floor(((x % d) * n) / d);
}

export { FPI_TO_TAIL };
