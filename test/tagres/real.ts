/**
 * A real machine for integration tests and the migration benchmark: the buddy allocator of
 * src/mm/page_alloc.ts with one Normal zone whose last 1/33 is tag storage (MIGRATE_METADATA pageblocks,
 * kernel-facts §1.1 step 6), the tag storage table of mte_tag_storage.ts, TagStorageReuse installed as the
 * allocator's arch hooks, and the process layer of src/process on an MmPort over all of it.
 */
import { KernelLog } from '../../src/sim/log.js';
import { geometryFor } from '../../src/mm/geometry.js';
import { MemMap, PG_anon, PG_locked, PG_mte_tagged, PG_tag_storage_reserved } from '../../src/mm/memmap.js';
import { PageAllocator } from '../../src/mm/page_alloc.js';
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL, __GFP_ACCOUNT, __GFP_TAGGED, __GFP_ZERO } from '../../src/mm/gfp.js';
import { VM_EVENT } from '../../src/mm/vmstat.js';
import {
  MIGRATE_ISOLATE,
  MIGRATE_METADATA,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  Zone,
} from '../../src/mm/zone.js';
import { TagStorage, type TagRegion } from '../../src/arch/arm64/mte_tag_storage.js';
import { TagStorageReuse } from '../../src/arch/arm64/tag_reserve.js';
import { Gfp, type MmPort } from '../../src/process/port.js';
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
  blockSizePages?: number;
  fixPfnTags?: boolean;
  fixMetadataNone?: boolean;
}

const FLAG_BITS = [PG_mte_tagged, PG_tag_storage_reserved, PG_anon, PG_locked];

function toGfp(g: number): number {
  let out = 0;
  if (g & Gfp.HighuserMovable) out |= GFP_HIGHUSER_MOVABLE;
  if (g & Gfp.Tagged) out |= __GFP_TAGGED;
  if (g & Gfp.PgtableUser) out |= GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT;
  if (g & Gfp.Zero) out |= __GFP_ZERO;
  return out;
}

export function makeRealMachine(o: RealOptions): RealMachine {
  const g = geometryFor(4096);
  const log = new KernelLog();
  const normStart = 0x100000000 / g.pageSize;
  const dataPages = (o.dataMiB * 1024 * 1024) / g.pageSize;
  const tagPages = dataPages / 32;
  const dmaStart = 0x80000000 / g.pageSize;
  const dmaPages = (16 * 1024 * 1024) / g.pageSize;
  const memmap = new MemMap(g, [
    { startPfn: dmaStart, endPfn: dmaStart + dmaPages },
    { startPfn: normStart, endPfn: normStart + dataPages + tagPages },
  ]);
  const cpus = 1;
  const z = (idx: number, start: number, pages: number): Zone =>
    new Zone({ idx, nid: 0, zoneStartPfn: start, spannedPages: pages, presentPages: pages }, g.nrOrders, cpus);
  const zones = [
    z(ZONE_DMA, dmaStart, dmaPages),
    z(ZONE_DMA32, 0, 0),
    z(ZONE_NORMAL, normStart, dataPages + tagPages),
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
    tag: { start: normStart + dataPages, end: normStart + dataPages + tagPages - 1 },
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

  const mm = memmap;
  const port: MmPort = {
    pageSize: g.pageSize,
    pageShift: g.pageShift,
    zeroPfn,
    allocPages: (order, gfp) => alloc.allocPages(order, toGfp(gfp)),
    freePages: (pfn, order) => alloc.freePages(pfn, order),
    pageRef: (pfn) => mm.refcount(pfn),
    setPageRef: (pfn, c) => mm.setRefcount(pfn, c),
    getOwner: (pfn) => mm.owner(pfn),
    setOwner: (pfn, v) => mm.setOwner(pfn, v),
    getToken: (pfn) => mm.token(pfn),
    setToken: (pfn, v) => mm.setToken(pfn, v),
    testFlag: (pfn, f) => mm.testFlag(pfn, FLAG_BITS[f]!),
    setFlag: (pfn, f) => mm.setFlag(pfn, FLAG_BITS[f]!, true),
    clearFlag: (pfn, f) => mm.setFlag(pfn, FLAG_BITS[f]!, false),
    // In-use pages have a count; only a page with none can be on a free list.
    isFree: (pfn) => mm.refcount(pfn) === 0 && alloc.isFree(pfn),
    isIsolatedPageblock: (pfn) => alloc.pageblockMigratetype(pfn) === MIGRATE_ISOLATE,
    isMetadataPage: (pfn) => alloc.pageblockMigratetype(pfn) === MIGRATE_METADATA,
    metadataEnabled: () => ts.metadataEnabled,
    reserveMetadata: (pfn, order, gfp) => reuse.reserve.reserveMetadataStorage(pfn, order, toGfp(gfp)),
    tagPageOf: (pfn) => {
      const r = ts.regionForPfn(pfn);
      return r === undefined ? -1 : r.tag.start + Math.floor((pfn - r.mem.start) / 32);
    },
    tagBlockOf: (pfn) => ts.findBlock(pfn)?.block ?? -1,
    tagBlockRefcount: (pfn) => {
      const b = ts.findBlock(pfn)?.block;
      return b === undefined ? -1 : reuse.reserve.blockRefcount(b);
    },
    isTagBlockReserved: (tagPfn) => {
      for (const r of ts.regions) {
        if (tagPfn < r.tag.start || tagPfn > r.tag.end) continue;
        const off = tagPfn - r.tag.start;
        return ts.reservedBlocks.has(r.tag.start + off - (off % r.blockSizePages));
      }
      return false;
    },
    reservedBlocks: () => [...ts.reservedBlocks].sort((a, b) => a - b).map((b) => [b, mm.refcount(b)]),
    checkFreeLists: () => alloc.checkInvariants(),
    count: (name, delta) => {
      const i = VM_EVENT[name];
      if (i !== undefined) alloc.events.count(i, delta);
    },
  };
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
