/**
 * Migration benchmarks (SPEC §8, issue #4/#5): 1 GiB of tagged demand while tag storage is full of movable
 * data (every tag block taken forces an alloc_contig_range that migrates the data living there), and 1 GiB
 * of page migration (tagged pages: destination with tag storage, tags copied). Rates in pages per second.
 *
 * The machine: one Normal zone of tagged memory plus its 1/32 of tag storage as METADATA pageblocks, the
 * buddy allocator with TagStorageReuse installed, and the process layer on an MmPort over both.
 */
import type { Bench, BenchResult } from './index.js';
import { KernelLog } from '../src/sim/log.js';
import { geometryFor } from '../src/mm/geometry.js';
import { MemMap } from '../src/mm/memmap.js';
import { PageAllocator } from '../src/mm/page_alloc.js';
import { GFP_KERNEL } from '../src/mm/gfp.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES, VM_EVENT } from '../src/mm/vmstat.js';
import { ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL, Zone } from '../src/mm/zone.js';
import { MigrateReason } from '../src/mm/migrate.js';
import { TagStorage, type TagRegion } from '../src/arch/arm64/mte_tag_storage.js';
import { TagStorageReuse } from '../src/arch/arm64/tag_reserve.js';
import { MachinePort } from '../src/process/port_mm.js';
import { ProcessLayer } from '../src/process/layer.js';
import { VM_MTE, VM_READ, VM_WRITE } from '../src/process/mm.js';

const MiB = 1024 * 1024;
const RW = VM_READ | VM_WRITE;

interface BenchMachine {
  alloc: PageAllocator;
  ts: TagStorage;
  region: TagRegion;
  reuse: TagStorageReuse;
  layer: ProcessLayer;
  ev(name: string): number;
}

/** `dataMiB` of tagged memory at 4 GiB (Normal), its tag storage right after it, 16 MiB of DMA at 2 GiB. */
export function machine(dataMiB: number): BenchMachine {
  const g = geometryFor(4096);
  const log = new KernelLog();
  const normStart = 0x100000000 / g.pageSize;
  const dataPages = (dataMiB * MiB) / g.pageSize;
  const tagPages = dataPages / 32;
  const dmaStart = 0x80000000 / g.pageSize;
  const dmaPages = (16 * MiB) / g.pageSize;
  const memmap = new MemMap(g, [
    { startPfn: dmaStart, endPfn: dmaStart + dmaPages },
    { startPfn: normStart, endPfn: normStart + dataPages + tagPages },
  ]);
  const z = (idx: number, start: number, pages: number): Zone =>
    new Zone({ idx, nid: 0, zoneStartPfn: start, spannedPages: pages, presentPages: pages }, g.nrOrders, 1);
  const zones = [
    z(ZONE_DMA, dmaStart, dmaPages),
    z(ZONE_DMA32, 0, 0),
    z(ZONE_NORMAL, normStart, dataPages + tagPages),
    z(ZONE_MOVABLE, 0, 0),
  ];
  const alloc = new PageAllocator({ geometry: g, memmap, zones, cpus: 1 });
  alloc.freeBootmem(dmaStart, dmaStart + dmaPages);
  alloc.freeBootmem(normStart, normStart + dataPages);
  alloc.setupPerCpuPageset();
  const ts = new TagStorage(g.pageSize, g.pageblockNrPages);
  const region: TagRegion = {
    mem: { start: normStart, end: normStart + dataPages - 1 },
    tag: { start: normStart + dataPages, end: normStart + dataPages + tagPages - 1 },
    blockSizePages: 1,
    blockSizeBytes: g.pageSize,
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
  const zeroPfn = alloc.allocPages(0, GFP_KERNEL);
  const port = new MachinePort({ alloc, tagStorage: ts, tagReserve: reuse.reserve, zeroPfn });
  const layer = new ProcessLayer(port, { log });
  reuse.attachProcessLayer(layer);
  return { alloc, ts, region, reuse, layer, ev: (name) => alloc.events.get(VM_EVENT[name]!) };
}

function rate(pages: number, ms: number, extra = ''): string {
  return `${(((pages / ms) * 1000) / 1e6).toFixed(2)} M pages/s (${pages} pages in ${ms.toFixed(0)} ms${extra})`;
}

/** 1 GiB of tagged first touch after movable data has filled the tag storage. */
function taggedDemandOverData(): BenchResult {
  const m = machine(2048);
  const L = m.layer;
  // vm.min_free_kbytes small enough that the watermarks let movable data fill the tag storage (with THP's
  // recommended minimum, 44 MiB of a 2 GiB zone must stay free: more than most of its 64 MiB of tag storage).
  m.alloc.setMinFreeKbytes(2048);
  const hog = L.createProcess('hog');
  const metaFree = (): number => m.alloc.globalZoneState(NR_FREE_METADATA_PAGES);
  // One big untagged mapping. Its page tables (unmovable: never METADATA) are taken first, one page per
  // 2 MiB, then the data is written 4 MiB at a time until it has spilled into nearly all of the tag storage
  // (METADATA is the last resort for movable allocations, kernel-facts §3.2).
  const freeBytes = m.alloc.globalZoneState(NR_FREE_PAGES) * 4096;
  const big = L.mmap(hog, 'fill', freeBytes - (freeBytes % (4 * MiB)) - 8 * MiB, RW, false, false)!;
  for (let a = big.start; a < big.end; a += 2 * MiB) L.touch(hog, a, a + 4096, true);
  let filled = big.start;
  while (metaFree() > 64 && filled < big.end) {
    const r = L.touch(hog, filled, Math.min(filled + 4 * MiB, big.end), true);
    if (r.result !== 0) throw new Error(`fill failed: ${r.why} with ${metaFree()} METADATA pages free`);
    filled += 4 * MiB;
  }
  // Give back 1.25 GiB of data that lives outside the tag storage, 4 MiB at a time.
  let freed = 0;
  for (let a = big.start; a < filled && freed < 1280 * MiB; a += 4 * MiB) {
    const i0 = (a - big.start) / 4096;
    let inTag = false;
    for (let i = i0; i < i0 + 1024 && !inTag; i++) inTag = big.pfn[i]! >= m.region.tag.start;
    if (inTag) continue;
    L.munmap(hog, a, a + 4 * MiB);
    freed += 4 * MiB;
  }
  const mig0 = m.ev('pgmigrate_success');
  const t = L.createProcess('tagged');
  const v = L.mmap(t, 'mte', 1024 * MiB, RW | VM_MTE, false, false)!;
  const t0 = performance.now();
  const r = L.touch(t, v.start, v.end, true);
  const ms = performance.now() - t0;
  if (r.result !== 0) throw new Error(`tagged touch failed: ${r.why}`);
  const migrated = m.ev('pgmigrate_success') - mig0;
  return {
    name: 'tagged demand 1 GiB over full tag storage',
    rate: rate(v.pages, ms, `, ${m.ev('metadata_reserve_success')} tag blocks, ${migrated} data pages migrated`),
  };
}

/** Rounds of migrate1G; each rate is the best round (the first one includes JIT warm-up). */
const ROUNDS = 3;

/**
 * migrate_pages of 1 GiB of pages, one folio at a time: tagged (destinations need tag storage) and not.
 * Each round maps, touches and migrates a fresh 1 GiB; the rate is the best of ROUNDS rounds.
 */
function migrate1G(): BenchResult[] {
  const m = machine(3072);
  const L = m.layer;
  const p = L.createProcess('p');
  const best = { tagged: Infinity, untagged: Infinity };
  let pages = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const tagged of [true, false]) {
      const v = L.mmap(p, tagged ? 'mte' : 'plain', 1024 * MiB, RW | (tagged ? VM_MTE : 0), false, false)!;
      L.touch(p, v.start, v.end, true);
      const srcs = Array.from(v.pfn);
      const t0 = performance.now();
      let ok = 0;
      for (const pfn of srcs) if (m.reuse.migrator.migratePage(pfn, MigrateReason.MR_SYSCALL).rc === 0) ok++;
      const ms = performance.now() - t0;
      if (ok !== srcs.length) throw new Error(`${srcs.length - ok} pages not migrated`);
      pages = ok;
      if (tagged) best.tagged = Math.min(best.tagged, ms);
      else best.untagged = Math.min(best.untagged, ms);
      L.munmap(p, v.start, v.end);
    }
  }
  return [
    { name: 'migration 1 GiB (tagged)', rate: rate(pages, best.tagged, `, best of ${ROUNDS}`) },
    { name: 'migration 1 GiB (untagged)', rate: rate(pages, best.untagged, `, best of ${ROUNDS}`) },
  ];
}

const bench: Bench = () => [...migrate1G(), taggedDemandOverData()];
export default bench;
