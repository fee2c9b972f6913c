/**
 * A small synthetic machine for allocator and /proc tests: one node, ZONE_DMA of `dmaMiB` at 2 GiB
 * (pfn 0x80000 for 4K pages), an empty DMA32, ZONE_NORMAL of `normalMiB` at 4 GiB whose last `metadataMiB`
 * are tag storage turned into METADATA pageblocks (kernel-facts §1.1 step 6), and an empty Movable zone.
 * Boot order as the kernel's: memblock_free_all, setup_per_cpu_pageset, the METADATA pageblocks
 * (core_initcall), then init_per_zone_wmark_min and khugepaged's recommended minimum.
 */
import { geometryFor, type PageSize } from '../../src/mm/geometry.js';
import { MemMap } from '../../src/mm/memmap.js';
import { PageAllocator, type ArchHooks } from '../../src/mm/page_alloc.js';
import {
  MIGRATE_CMA,
  MIGRATE_METADATA,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  Zone,
} from '../../src/mm/zone.js';

export interface MachineOptions {
  pageSize?: PageSize;
  dmaMiB?: number;
  normalMiB?: number;
  metadataMiB?: number;
  /** The last `cmaMiB` of DMA are a CMA area (pageblocks typed MIGRATE_CMA before boot freeing). */
  cmaMiB?: number;
  cpus?: number;
  metadataEnabled?: boolean;
  minFreeKbytes?: number;
  /** Skip setupPerZoneWmarks (watermarks 0). */
  noWatermarks?: boolean;
  /** Leave the boot pagesets (high 0, batch 1): every pcp free goes straight back to the buddy lists. */
  noPcp?: boolean;
}

export interface Machine {
  alloc: PageAllocator;
  dma: Zone;
  normal: Zone;
  metaStartPfn: number;
  metaEndPfn: number;
}

export function makeMachine(o: MachineOptions = {}): Machine {
  const g = geometryFor(o.pageSize ?? 4096);
  const mib = (n: number): number => (n * 1024 * 1024) / g.pageSize;
  const dmaStart = 0x80000000 / g.pageSize;
  const dmaPages = mib(o.dmaMiB ?? 64);
  const normStart = 0x100000000 / g.pageSize;
  const normPages = mib(o.normalMiB ?? 64);
  const metaPages = mib(o.metadataMiB ?? 0);
  const memmap = new MemMap(g, [
    { startPfn: dmaStart, endPfn: dmaStart + dmaPages },
    { startPfn: normStart, endPfn: normStart + normPages },
  ]);
  const cpus = o.cpus ?? 2;
  const z = (idx: number, start: number, pages: number): Zone =>
    new Zone({ idx, nid: 0, zoneStartPfn: start, spannedPages: pages, presentPages: pages }, g.nrOrders, cpus);
  const dma = z(ZONE_DMA, dmaStart, dmaPages);
  const normal = z(ZONE_NORMAL, normStart, normPages);
  const zones = [dma, z(ZONE_DMA32, 0, 0), normal, z(ZONE_MOVABLE, 0, 0)];
  const alloc = new PageAllocator({
    geometry: g,
    memmap,
    zones,
    cpus,
    ...(o.minFreeKbytes !== undefined ? { minFreeKbytes: o.minFreeKbytes } : {}),
  });
  const metaStartPfn = normStart + normPages - metaPages;
  const cmaPages = mib(o.cmaMiB ?? 0);
  alloc.totalcmaPages = cmaPages; // cma_init_reserved_mem(); the area stays memblock-reserved until activation
  alloc.freeBootmem(dmaStart, dmaStart + dmaPages - cmaPages);
  alloc.freeBootmem(normStart, metaStartPfn);
  if (!o.noPcp) alloc.setupPerCpuPageset();
  // core_initcall cma_init_reserved_areas() → init_cma_reserved_pageblock() per pageblock.
  for (let p = dmaStart + dmaPages - cmaPages; p < dmaStart + dmaPages; p += g.pageblockNrPages)
    alloc.initReservedPageblock(p, MIGRATE_CMA);
  for (let p = metaStartPfn; p < normStart + normPages; p += g.pageblockNrPages)
    alloc.initReservedPageblock(p, MIGRATE_METADATA);
  if (metaPages > 0 && (o.metadataEnabled ?? true)) alloc.arch = { ...alloc.arch, metadataEnabled: true };
  if (!o.noWatermarks) alloc.setupPerZoneWmarks();
  if (o.noPcp) {
    for (const zz of zones) {
      for (const p of zz.pcp) {
        p.high = 0;
        p.batch = 1;
      }
    }
  }
  return { alloc, dma, normal, metaStartPfn, metaEndPfn: normStart + normPages };
}

/** Arch hooks recording calls, with a programmable reservation result. */
export function recordingArch(
  result: (pfn: number, order: number) => boolean,
): ArchHooks & { reserved: [number, number][]; freed: [number, number][]; tagged: Set<number> } {
  const reserved: [number, number][] = [];
  const freed: [number, number][] = [];
  const tagged = new Set<number>();
  return {
    metadataEnabled: true,
    reserved,
    freed,
    tagged,
    reserveMetadata(pfn, order) {
      reserved.push([pfn, order]);
      const ok = result(pfn, order);
      if (ok) tagged.add(pfn);
      return ok;
    },
    freeMetadata(pfn, order) {
      freed.push([pfn, order]);
      tagged.delete(pfn);
    },
    pageHasMetadata: (pfn) => tagged.has(pfn),
  };
}
