/**
 * Zones and nodes (include/linux/mmzone.h, v6.5 + v1 patch 4): zone indices, migratetypes, struct zone with its
 * free_area[order][migratetype] lists (heads/tails of dense page indices linked through the memmap words a/b),
 * watermarks, lowmem_reserve, per-cpu page lists and per-zone counters; struct pglist_data with node counters.
 * Pure state: the rules that change it are in page_alloc.ts.
 */
import { NR_VM_NODE_STAT_ITEMS, NR_VM_NUMA_EVENT_ITEMS, NR_VM_ZONE_STAT_ITEMS, ZONE_NAMES } from './vmstat.js';

export const ZONE_DMA = 0;
export const ZONE_DMA32 = 1;
export const ZONE_NORMAL = 2;
export const ZONE_MOVABLE = 3;
/** arm64 v6.5 without CONFIG_ZONE_DEVICE (our defconfig decision, see vmstat.ts). */
export const MAX_NR_ZONES = 4;

/** enum migratetype in the v1 order (kernel-facts §3.1). CMA pageblocks exist only if boot declares CMA areas. */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
export const MIGRATE_PCPTYPES = 3;
export const MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES;
export const MIGRATE_CMA = 4;
export const MIGRATE_METADATA = 5;
export const MIGRATE_ISOLATE = 6;
export const MIGRATE_TYPES = 7;

/**
 * migratetype_names[] for /proc/pagetypeinfo. v6.5 has no METADATA entry and v1 adds none (kernel-facts §7.5,
 * §9.1); printing `Metadata` for it is the emulator's documented choice.
 */
export const MIGRATETYPE_NAMES = ['Unmovable', 'Movable', 'Reclaimable', 'HighAtomic', 'CMA', 'Metadata', 'Isolate'];

/** migratetype_is_mergeable(): only the pcp types merge across pageblocks of different types. */
export function migratetypeIsMergeable(mt: number): boolean {
  return mt < MIGRATE_PCPTYPES;
}

export const WMARK_MIN = 0;
export const WMARK_LOW = 1;
export const WMARK_HIGH = 2;
export const WMARK_PROMO = 3;

/** sysctl_lowmem_reserve_ratio[] defaults (mm/page_alloc.c v6.5): DMA 256, DMA32 256, Normal 32, Movable 0. */
export const LOWMEM_RESERVE_RATIO = [256, 256, 32, 0];

/** NR_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1 + NR_PCP_THP) (mmzone.h, THP=y). */
export const NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * 4;
export const NR_PCP_LISTS = MIGRATE_PCPTYPES * 5;

/** List terminator in the Uint32 link words. */
export const NIL = 0xffffffff;

export interface ZoneInit {
  /** zone_idx: ZONE_DMA .. ZONE_MOVABLE. */
  idx: number;
  nid: number;
  zoneStartPfn: number;
  spannedPages: number;
  presentPages: number;
}

/** struct per_cpu_pages for one cpu (lists linked through memmap a/b words, like page->pcp_list). */
export interface PerCpuPagesSnapshot {
  readonly count: number;
  readonly high: number;
  readonly batch: number;
  readonly freeFactor: number;
  readonly statThreshold: number;
  readonly heads: Uint32Array;
  readonly tails: Uint32Array;
}

export class PerCpuPages {
  count = 0;
  high = 0;
  batch = 1;
  freeFactor = 0;
  readonly heads = new Uint32Array(NR_PCP_LISTS).fill(NIL);
  readonly tails = new Uint32Array(NR_PCP_LISTS).fill(NIL);
  /** vm stats threshold (per_cpu_zonestat.stat_threshold), shown in zoneinfo. */
  statThreshold = 0;

  snapshot(): PerCpuPagesSnapshot {
    const { count, high, batch, freeFactor, statThreshold } = this;
    return { count, high, batch, freeFactor, statThreshold, heads: this.heads.slice(), tails: this.tails.slice() };
  }

  restore(s: PerCpuPagesSnapshot): void {
    this.count = s.count;
    this.high = s.high;
    this.batch = s.batch;
    this.freeFactor = s.freeFactor;
    this.statThreshold = s.statThreshold;
    this.heads.set(s.heads);
    this.tails.set(s.tails);
  }
}

export interface ZoneSnapshot {
  readonly scalars: readonly number[];
  readonly flags: readonly boolean[];
  readonly arrays: readonly Float64Array[];
  readonly freeHead: Uint32Array;
  readonly freeTail: Uint32Array;
  readonly pcp: readonly PerCpuPagesSnapshot[];
}

export class Zone {
  readonly idx: number;
  readonly name: string;
  readonly nid: number;
  zoneStartPfn: number;
  spannedPages: number;
  presentPages: number;
  managedPages = 0;
  /** zone->cma_pages (set by boot's cma_activate_area). */
  cmaPages = 0;
  /** v1 zone->metadata_pages: + pageblock_nr_pages per METADATA pageblock (kernel-facts §4.1). */
  metadataPages = 0;
  /** _watermark[WMARK_MIN..WMARK_PROMO] (pages, without boost). */
  readonly watermark = new Float64Array(4);
  watermarkBoost = 0;
  readonly lowmemReserve = new Float64Array(MAX_NR_ZONES);
  nrReservedHighatomic = 0;
  /** ZONE_BOOSTED_WATERMARK, ZONE_RECLAIM_ACTIVE bits of zone->flags. */
  boostedWatermark = false;
  reclaimActive = false;

  /** free_area[order].free_list[mt] heads and tails (dense page index or NIL), index order * MIGRATE_TYPES + mt. */
  readonly freeHead: Uint32Array;
  readonly freeTail: Uint32Array;
  /** Blocks on each list (same index); the kernel walks the list, we keep the count. */
  readonly freeCount: Float64Array;
  /** free_area[order].nr_free. */
  readonly nrFree: Float64Array;

  /** vm_stat[] (zone_page_state), indexed by the vmstat.ts zone item constants. */
  readonly vmStat = new Float64Array(NR_VM_ZONE_STAT_ITEMS);
  /** vm_numa_event[] (zone_numa_event_state). */
  readonly numaEvents = new Float64Array(NR_VM_NUMA_EVENT_ITEMS);
  /** per_cpu_pageset, one per cpu. */
  readonly pcp: PerCpuPages[];

  constructor(init: ZoneInit, nrOrders: number, cpus: number) {
    this.idx = init.idx;
    this.name = ZONE_NAMES[init.idx] ?? `zone${init.idx}`;
    this.nid = init.nid;
    this.zoneStartPfn = init.zoneStartPfn;
    this.spannedPages = init.spannedPages;
    this.presentPages = init.presentPages;
    this.freeHead = new Uint32Array(nrOrders * MIGRATE_TYPES).fill(NIL);
    this.freeTail = new Uint32Array(nrOrders * MIGRATE_TYPES).fill(NIL);
    this.freeCount = new Float64Array(nrOrders * MIGRATE_TYPES);
    this.nrFree = new Float64Array(nrOrders);
    this.pcp = Array.from({ length: cpus }, () => new PerCpuPages());
  }

  get zoneEndPfn(): number {
    return this.zoneStartPfn + this.spannedPages;
  }

  /** populated_zone(): true if the zone has present pages. */
  get populated(): boolean {
    return this.presentPages > 0;
  }

  /** zone_spans_pfn(). */
  spansPfn(pfn: number): boolean {
    return pfn >= this.zoneStartPfn && pfn < this.zoneStartPfn + this.spannedPages;
  }

  minWmark(): number {
    return (this.watermark[WMARK_MIN] ?? 0) + this.watermarkBoost;
  }
  lowWmark(): number {
    return (this.watermark[WMARK_LOW] ?? 0) + this.watermarkBoost;
  }
  highWmark(): number {
    return (this.watermark[WMARK_HIGH] ?? 0) + this.watermarkBoost;
  }
  /** wmark_pages(zone, i). */
  wmarkPages(i: number): number {
    return (this.watermark[i] ?? 0) + this.watermarkBoost;
  }

  /** zone_page_state(). */
  state(item: number): number {
    return this.vmStat[item] ?? 0;
  }

  /** Blocks on free_area[order].free_list[mt]. */
  freeListCount(order: number, mt: number): number {
    return this.freeCount[order * MIGRATE_TYPES + mt] ?? 0;
  }

  /** A copy of all mutable zone state (for deterministic replay: restore() brings it back exactly). */
  snapshot(): ZoneSnapshot {
    return {
      scalars: [
        this.zoneStartPfn,
        this.spannedPages,
        this.presentPages,
        this.managedPages,
        this.cmaPages,
        this.metadataPages,
        this.watermarkBoost,
        this.nrReservedHighatomic,
      ],
      flags: [this.boostedWatermark, this.reclaimActive],
      arrays: [this.watermark, this.lowmemReserve, this.freeCount, this.nrFree, this.vmStat, this.numaEvents].map((a) =>
        a.slice(),
      ),
      freeHead: this.freeHead.slice(),
      freeTail: this.freeTail.slice(),
      pcp: this.pcp.map((p) => p.snapshot()),
    };
  }

  restore(s: ZoneSnapshot): void {
    const v = (k: number): number => s.scalars[k] ?? 0;
    this.zoneStartPfn = v(0);
    this.spannedPages = v(1);
    this.presentPages = v(2);
    this.managedPages = v(3);
    this.cmaPages = v(4);
    this.metadataPages = v(5);
    this.watermarkBoost = v(6);
    this.nrReservedHighatomic = v(7);
    this.boostedWatermark = s.flags[0] ?? false;
    this.reclaimActive = s.flags[1] ?? false;
    [this.watermark, this.lowmemReserve, this.freeCount, this.nrFree, this.vmStat, this.numaEvents].forEach((a, k) =>
      a.set(s.arrays[k] as Float64Array),
    );
    this.freeHead.set(s.freeHead);
    this.freeTail.set(s.freeTail);
    this.pcp.forEach((p, k) => p.restore(s.pcp[k] as PerCpuPagesSnapshot));
  }

  /** Pages sitting on this zone's pcp lists (all cpus); not counted in NR_FREE_PAGES, as in the kernel. */
  pcpPages(): number {
    let n = 0;
    for (const p of this.pcp) n += p.count;
    return n;
  }
}

/** struct pglist_data: a node with its zones (all MAX_NR_ZONES, empty ones included) and node counters. */
export class PgData {
  readonly vmStat = new Float64Array(NR_VM_NODE_STAT_ITEMS);
  /** kswapd_failures (zoneinfo node_unreclaimable is kswapd_failures >= MAX_RECLAIM_RETRIES). */
  kswapdFailures = 0;
  totalreservePages = 0;

  constructor(
    readonly nodeId: number,
    readonly zones: Zone[],
  ) {}

  /** node_page_state_pages(). */
  state(item: number): number {
    return this.vmStat[item] ?? 0;
  }

  /** True if some zone of the node has present pages (N_MEMORY). */
  get hasMemory(): boolean {
    return this.zones.some((z) => z.populated);
  }
}

export const MAX_RECLAIM_RETRIES = 16;
