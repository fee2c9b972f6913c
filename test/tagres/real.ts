/**
 * A real machine for integration tests and the migration benchmark: the buddy allocator of
 * src/mm/page_alloc.ts with one Normal zone whose last 1/33 is tag storage (MIGRATE_METADATA pageblocks,
 * kernel-facts §1.1 step 6), the tag storage table of mte_tag_storage.ts, TagStorageReuse installed as the
 * allocator's arch hooks, and the process layer of src/process on an MmPort over all of it.
 */
import { KernelLog } from '../../src/sim/log.js';
import { geometryFor } from '../../src/mm/geometry.js';
import { MemMap } from '../../src/mm/memmap.js';
import { PageAllocator } from '../../src/mm/page_alloc.js';
import { GFP_KERNEL } from '../../src/mm/gfp.js';
import { VM_EVENT } from '../../src/mm/vmstat.js';
import { ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL, Zone } from '../../src/mm/zone.js';
import { TagStorage, type TagRegion } from '../../src/arch/arm64/mte_tag_storage.js';
import { TagStorageReuse } from '../../src/arch/arm64/tag_reserve.js';
import type { MmPort } from '../../src/process/port.js';
import { MachinePort } from '../../src/process/port_mm.js';
import { ProcessLayer } from '../../src/process/layer.js';

export interface RealMachine {
  alloc: PageAllocator;
  ts: TagStorage;
  region: TagRegion;
  reuse: TagStorageReuse;
  layer: ProcessLayer;
  port: MmPort;
  log: KernelLog;
  ev(name: string): number;
}

export interface RealOptions {
  /** MiB of tagged memory (a multiple of 64: the tag storage is whole pageblocks). */
  dataMiB: number;
  /** A hole of this many MiB (a multiple of 128: whole sections) between the data and the tag storage. */
  holeMiB?: number;
  blockSizePages?: number;
  fixPfnTags?: boolean;
  fixMetadataNone?: boolean;
}

export function makeRealMachine(o: RealOptions): RealMachine {
  const g = geometryFor(4096);
  const log = new KernelLog();
  const normStart = 0x100000000 / g.pageSize;
  const dataPages = (o.dataMiB * 1024 * 1024) / g.pageSize;
  const tagPages = dataPages / 32;
  const holePages = ((o.holeMiB ?? 0) * 1024 * 1024) / g.pageSize;
  const tagStart = normStart + dataPages + holePages;
  const dmaStart = 0x80000000 / g.pageSize;
  const dmaPages = (16 * 1024 * 1024) / g.pageSize;
  const memmap = new MemMap(g, [
    { startPfn: dmaStart, endPfn: dmaStart + dmaPages },
    { startPfn: normStart, endPfn: normStart + dataPages },
    { startPfn: tagStart, endPfn: tagStart + tagPages },
  ]);
  const cpus = 1;
  const z = (idx: number, start: number, pages: number): Zone =>
    new Zone({ idx, nid: 0, zoneStartPfn: start, spannedPages: pages, presentPages: pages }, g.nrOrders, cpus);
  const zones = [
    z(ZONE_DMA, dmaStart, dmaPages),
    z(ZONE_DMA32, 0, 0),
    new Zone(
      {
        idx: ZONE_NORMAL,
        nid: 0,
        zoneStartPfn: normStart,
        spannedPages: tagStart + tagPages - normStart,
        presentPages: dataPages + tagPages,
      },
      g.nrOrders,
      cpus,
    ),
    z(ZONE_MOVABLE, 0, 0),
  ];
  const alloc = new PageAllocator({ geometry: g, memmap, zones, cpus });
  alloc.freeBootmem(dmaStart, dmaStart + dmaPages);
  alloc.freeBootmem(normStart, normStart + dataPages);
  alloc.setupPerCpuPageset();
  const ts = new TagStorage(g.pageSize, g.pageblockNrPages);
  const bs = o.blockSizePages ?? 1;
  const region: TagRegion = {
    mem: { start: normStart, end: normStart + dataPages - 1 },
    tag: { start: tagStart, end: tagStart + tagPages - 1 },
    blockSizePages: bs,
    blockSizeBytes: bs * g.pageSize,
    nid: 0,
    node: '/metadata@0',
    memoryNode: '/memory@100000000',
  };
  ts.regions.push(region);
  const reuse = new TagStorageReuse(alloc, ts, log).install();
  const tsm = reuse.tagStorageMm();
  for (let p = region.tag.start; p <= region.tag.end; p += g.pageblockNrPages) tsm.initReservedPageblock(p, 'metadata');
  alloc.setupPerZoneWmarks();
  ts.metadataEnabled = true;
  ts.state = 'enabled';
  // The zero page: an unmovable page outside every region (in the kernel image, in reality).
  const zeroPfn = alloc.allocPages(0, GFP_KERNEL);

  const port = new MachinePort({ alloc, tagStorage: ts, tagReserve: reuse.reserve, zeroPfn });
  const layer = new ProcessLayer(port, {
    log,
    fixPfnTags: o.fixPfnTags ?? true,
    fixMetadataNone: o.fixMetadataNone ?? true,
  });
  reuse.attachProcessLayer(layer);
  return {
    alloc,
    ts,
    region,
    reuse,
    layer,
    port,
    log,
    ev: (name) => alloc.events.get(VM_EVENT[name]!),
  };
}
