/**
 * Zone boundaries and per-node zone sizes as arm64 v6.5 computes them:
 *
 * - arch/arm64/mm/init.c zone_sizes_init(): zone_dma_bits = min(32, fls64(of_dma_get_max_cpu_address()))
 *   (no ACPI), ZONE_DMA ends at max_zone_phys(zone_dma_bits), ZONE_DMA32 at max_zone_phys(32), ZONE_NORMAL
 *   at max_pfn; max_zone_phys() moves the limit to all of memory when DRAM starts above 4 GiB, and to 4 GiB
 *   when DRAM starts above the zone mask. arm64 defconfig has both CONFIG_ZONE_DMA and CONFIG_ZONE_DMA32.
 * - mm/mm_init.c free_area_init(): arch_zone_{lowest,highest}_possible_pfn (each zone starts where the
 *   previous one ended, the first at the start of DRAM), zone_spanned_pages_in_node() /
 *   zone_absent_pages_in_node() clamp the node's span and count memblock memory (NOMAP included) per zone,
 *   calc_memmap_size() for the early managed-page estimate that `Built 1 zonelists ... Total pages` shows.
 * - ZONE_MOVABLE stays empty (no kernelcore=/movablecore=/movable_node).
 */
import type { MemblockRegion } from '../mm/memblock.js';

export const ZONE_NAMES = ['DMA', 'DMA32', 'Normal', 'Movable'] as const;
export type ZoneName = (typeof ZONE_NAMES)[number];
export const ZONE_DMA = 0;
export const ZONE_DMA32 = 1;
export const ZONE_NORMAL = 2;
export const ZONE_MOVABLE = 3;
export const MAX_NR_ZONES = 4;

const U32_MAX = 0xffffffff;
const SIZEOF_STRUCT_PAGE = 64;

/** fls64(): index of the highest set bit, 1-based; 0 for 0. */
export function fls64(v: number): number {
  if (v <= 0) return 0;
  return Math.floor(v).toString(2).length;
}

/** max_zone_phys(zone_bits) of arch/arm64/mm/init.c: an exclusive physical limit. */
export function maxZonePhys(zoneBits: number, dramStart: number, dramEnd: number): number {
  let zoneMask = 2 ** zoneBits - 1;
  if (dramStart > U32_MAX) zoneMask = Infinity;
  else if (dramStart > zoneMask) zoneMask = U32_MAX;
  return Math.min(zoneMask, dramEnd - 1) + 1;
}

/** max_zone_pfns[] of zone_sizes_init(), plus zone_dma_bits and arm64_dma_phys_limit. */
export function arm64ZoneLimits(
  dramStart: number,
  dramEnd: number,
  pageShift: number,
  dmaMaxCpuAddress?: number,
): { maxZonePfn: number[]; zoneDmaBits: number; dmaPhysLimit: number } {
  const dtZoneDmaBits = dmaMaxCpuAddress === undefined ? 64 : fls64(dmaMaxCpuAddress);
  const zoneDmaBits = Math.min(32, dtZoneDmaBits);
  const dmaPhysLimit = maxZonePhys(zoneDmaBits, dramStart, dramEnd);
  const dma32 = maxZonePhys(32, dramStart, dramEnd);
  const pfn = (a: number): number => Math.floor(a / 2 ** pageShift);
  const maxPfn = pfn(dramEnd);
  return { maxZonePfn: [pfn(dmaPhysLimit), pfn(dma32), maxPfn, 0], zoneDmaBits, dmaPhysLimit };
}

export interface ZoneSpan {
  readonly index: number;
  readonly name: ZoneName;
  readonly nid: number;
  /** zone_start_pfn; for an empty zone the clamp point. */
  readonly startPfn: number;
  readonly spannedPages: number;
  readonly presentPages: number;
  /** The early managed estimate of free_area_init_core(): present minus calc_memmap_size(). */
  readonly managedEstimate: number;
}

export interface NodeSpan {
  readonly nid: number;
  readonly startPfn: number;
  readonly endPfn: number;
  readonly zones: readonly ZoneSpan[];
}

export interface ZoneLayout {
  /** arch_zone_lowest/highest_possible_pfn per zone (Movable left 0/0). */
  readonly lowest: readonly number[];
  readonly highest: readonly number[];
  readonly nodes: readonly NodeSpan[];
  readonly zoneDmaBits: number;
  readonly dmaPhysLimit: number;
  readonly maxPfn: number;
}

/** PFN ranges of memblock.memory (for_each_mem_pfn_range: PFN_UP(base)..PFN_DOWN(end), empty ones dropped). */
export function memPfnRanges(
  regions: readonly MemblockRegion[],
  pageShift: number,
): { start: number; end: number; nid: number }[] {
  const ps = 2 ** pageShift;
  const out: { start: number; end: number; nid: number }[] = [];
  for (const r of regions) {
    const start = Math.ceil(r.base / ps);
    const end = Math.floor((r.base + r.size) / ps);
    if (start < end) out.push({ start, end, nid: r.nid });
  }
  return out;
}

function calcMemmapSize(spanned: number, present: number, pageSize: number): number {
  let pages = spanned;
  if (spanned > present + Math.floor(present / 16)) pages = present;
  return Math.ceil((pages * SIZEOF_STRUCT_PAGE) / pageSize);
}

/** free_area_init(): zone boundaries and per-node spans from the memblock memory ranges. */
export function computeZones(
  ranges: readonly { start: number; end: number; nid: number }[],
  maxZonePfn: readonly number[],
  pageSize: number,
  extra: { zoneDmaBits: number; dmaPhysLimit: number },
): ZoneLayout {
  const lowest = [0, 0, 0, 0];
  const highest = [0, 0, 0, 0];
  let start = ranges.length > 0 ? ranges[0]!.start : 0;
  for (let z = 0; z < MAX_NR_ZONES; z++) {
    if (z === ZONE_MOVABLE) continue;
    const end = Math.max(maxZonePfn[z]!, start);
    lowest[z] = start;
    highest[z] = end;
    start = end;
  }
  const nids = [...new Set(ranges.map((r) => r.nid))].sort((a, b) => a - b);
  const nodes: NodeSpan[] = nids.map((nid) => {
    const mine = ranges.filter((r) => r.nid === nid);
    const nodeStart = Math.min(...mine.map((r) => r.start));
    const nodeEnd = Math.max(...mine.map((r) => r.end));
    const zones: ZoneSpan[] = [];
    for (let z = 0; z < MAX_NR_ZONES; z++) {
      // zone_spanned_pages_in_node(): the zone's arch range clamped to the node's span.
      const zs = Math.min(Math.max(lowest[z]!, nodeStart), nodeEnd);
      const ze = Math.min(Math.max(highest[z]!, nodeStart), nodeEnd);
      const spanned = z === ZONE_MOVABLE ? 0 : ze - zs;
      let present = 0;
      if (spanned > 0) {
        for (const r of mine) present += Math.max(0, Math.min(r.end, ze) - Math.max(r.start, zs));
      }
      const memmap = calcMemmapSize(spanned, present, pageSize);
      let managed = present;
      if (present >= memmap) managed -= memmap;
      zones.push({
        index: z,
        name: ZONE_NAMES[z]!,
        nid,
        startPfn: spanned > 0 ? zs : 0,
        spannedPages: spanned,
        presentPages: present,
        managedEstimate: managed,
      });
    }
    return { nid, startPfn: nodeStart, endPfn: nodeEnd, zones };
  });
  return { lowest, highest, nodes, ...extra, maxPfn: maxZonePfn[ZONE_NORMAL]! };
}
