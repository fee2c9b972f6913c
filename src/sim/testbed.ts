/**
 * A machine built without a device tree, for the benchmarks and the tests that need the real pieces at a given
 * size: the buddy allocator of src/mm/page_alloc.ts with `dataMiB` of tagged memory at 4 GiB (ZONE_NORMAL) and
 * its 1/32 of tag storage after it as MIGRATE_METADATA pageblocks (kernel-facts §1.1 step 6), optionally 16 MiB
 * of ZONE_DMA at 2 GiB, the tag storage table of mte_tag_storage.ts, TagStorageReuse installed as the
 * allocator's arch hooks, and the process layer of src/process on a MachinePort over all of it. `mte-sim run`
 * builds its machine from a booted DT instead (src/scenario/runtime_machine.ts).
 */
import { TagStorage, type TagRegion } from '../arch/arm64/mte_tag_storage.js';
import { TagStorageReuse } from '../arch/arm64/tag_reserve.js';
import { geometryFor } from '../mm/geometry.js';
import { GFP_KERNEL } from '../mm/gfp.js';
import { MemMap } from '../mm/memmap.js';
import { PageAllocator } from '../mm/page_alloc.js';
import { VM_EVENT } from '../mm/vmstat.js';
import { ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL, Zone } from '../mm/zone.js';
import { ProcessLayer } from '../process/layer.js';
import type { MmPort } from '../process/port.js';
import { MachinePort } from '../process/port_mm.js';
import { KernelLog } from './log.js';

export interface TestbedMachine {
  alloc: PageAllocator;
  ts: TagStorage;
  region: TagRegion;
  reuse: TagStorageReuse;
  layer: ProcessLayer;
  port: MmPort;
  log: KernelLog;
  /** A /proc/vmstat event by name. */
  ev(name: string): number;
}

export interface TestbedOptions {
  /** MiB of tagged memory (a multiple of 64: the tag storage is whole pageblocks). */
  dataMiB: number;
  /** A hole of this many MiB (a multiple of 128: whole sections) between the data and the tag storage. */
  holeMiB?: number;
  /** 16 MiB of ZONE_DMA at 2 GiB (default true). */
  dma?: boolean;
  blockSizePages?: number;
  fixPfnTags?: boolean;
  fixMetadataNone?: boolean;
  /** Called with the port before the process layer is built on it (a test may hide parts of it). */
  beforeLayer?: (port: MachinePort) => void;
}

export function makeTestbed(o: TestbedOptions): TestbedMachine {
  const g = geometryFor(4096);
  const MiB = 1024 * 1024;
  const log = new KernelLog();
  const normStart = 0x100000000 / g.pageSize;
  const dataPages = (o.dataMiB * MiB) / g.pageSize;
  const tagPages = dataPages / 32;
  const holePages = ((o.holeMiB ?? 0) * MiB) / g.pageSize;
  const tagStart = normStart + dataPages + holePages;
  const dmaStart = 0x80000000 / g.pageSize;
  const dmaPages = o.dma === false ? 0 : (16 * MiB) / g.pageSize;
  const ranges = [
    { startPfn: normStart, endPfn: normStart + dataPages },
    { startPfn: tagStart, endPfn: tagStart + tagPages },
  ];
  if (dmaPages > 0) ranges.unshift({ startPfn: dmaStart, endPfn: dmaStart + dmaPages });
  const memmap = new MemMap(g, ranges);
  const cpus = 1;
  const zone = (idx: number, start: number, spanned: number, present = spanned): Zone =>
    new Zone({ idx, nid: 0, zoneStartPfn: start, spannedPages: spanned, presentPages: present }, g.nrOrders, cpus);
  const zones = [
    dmaPages > 0 ? zone(ZONE_DMA, dmaStart, dmaPages) : zone(ZONE_DMA, 0, 0),
    zone(ZONE_DMA32, 0, 0),
    zone(ZONE_NORMAL, normStart, tagStart + tagPages - normStart, dataPages + tagPages),
    zone(ZONE_MOVABLE, 0, 0),
  ];
  const alloc = new PageAllocator({ geometry: g, memmap, zones, cpus });
  if (dmaPages > 0) alloc.freeBootmem(dmaStart, dmaStart + dmaPages);
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
  o.beforeLayer?.(port);
  const layer = new ProcessLayer(port, {
    log,
    fixPfnTags: o.fixPfnTags ?? true,
    fixMetadataNone: o.fixMetadataNone ?? true,
  });
  reuse.attachProcessLayer(layer);
  return { alloc, ts, region, reuse, layer, port, log, ev: (name) => alloc.events.get(VM_EVENT[name]!) };
}
