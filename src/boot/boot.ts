/**
 * `bootKernel()`: boots the emulated arm64 v6.5 kernel with the v1 tag storage series on a device tree, in
 * the kernel's order, and returns the booted state later stages (workloads, reports) run on:
 *
 *   setup_arch              early.ts (memory, tag storage discovery, memblock, memmap, zones)
 *   smp_prepare_boot_cpu    kasan_init_hw_tags() line when KASAN hardware tags are on
 *   (start_kernel)          `Kernel command line: %s`, print_unknown_bootoptions()
 *   mm_core_init            build_all_zonelists: `Fallback order for Node %d: `, `Built %u zonelists, mobility
 *                           grouping %s.  Total pages: %ld`, `Policy zone: %s`; mem_init → memblock_free_all
 *                           (PageAllocator.freeBootmem per free range), mem_init_print_info()
 *   setup_per_cpu_pageset
 *   core_initcall           mte_tag_storage_activate_regions (src/arch/arm64/mte_tag_storage.ts)
 *   postcore_initcall       init_per_zone_wmark_min (and khugepaged's recommended minimum, user min_free_kbytes)
 *   arch_initcall           reserve_memblock_reserved_regions (/proc/iomem)
 *
 * Depends on: platform, mm (memblock, memmap, zone, page_alloc), arch/arm64 (tag storage), sim (clock, log).
 */
import { activateTagStorage, discoverTagStorage, type TagStorage } from '../arch/arm64/mte_tag_storage.js';
import { TagStorageReuse } from '../arch/arm64/tag_reserve.js';
import { DtIndex, type DtTree } from '../dt/tree.js';
import { UsageError } from '../errors.js';
import { geometryFor, type Geometry, type PageSize } from '../mm/geometry.js';
import { Memblock } from '../mm/memblock.js';
import { MemMap, PG_mte_tagged, PG_reserved } from '../mm/memmap.js';
import { PageAllocator } from '../mm/page_alloc.js';
import { NR_FREE_PAGES } from '../mm/vmstat.js';
import { MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_TYPES, Zone } from '../mm/zone.js';
import { platformFromTree } from '../platform/from-dt.js';
import type { Platform } from '../platform/platform.js';
import { buildIomem, type IoResource } from '../proc/iomem.js';
import { Clock } from '../sim/clock.js';
import { KernelLog } from '../sim/log.js';
import { parseCmdline, unknownParamsLine, type KernelCmdline } from './cmdline.js';
import type { BootConfig, BootContext } from './context.js';
import { earlyBoot, type CmaArea, type EarlyBootState } from './early.js';
import { DEFAULT_KERNEL_IMAGE_SIZE, MIN_KERNEL_IMAGE_SIZE, type KernelImage } from './kernel_image.js';
import { swiotlbInit, type SwiotlbBuffer } from './swiotlb.js';
import { ZONE_MOVABLE, ZONE_NAMES, memPfnRanges } from './zones.js';

/** The boot clock: early boot happens at 0, initcall levels follow at fixed emulated times. */
export const INITCALL_START_NS = 4_000_000;
export const INITCALL_LEVEL_NS = 1_000_000;

export interface BootOptions {
  readonly tree: DtTree;
  readonly pageSize?: PageSize;
  /** Overrides /chosen/bootargs. */
  readonly cmdline?: string;
  readonly kernelImageSize?: number;
  readonly minFreeKbytes?: number;
}

/** The figures of mem_init_print_info()'s `Memory:` line, in kB. */
export interface MemoryLineFigures {
  readonly availableKb: number;
  readonly physKb: number;
  readonly codeKb: number;
  readonly rwdataKb: number;
  readonly rodataKb: number;
  readonly initKb: number;
  readonly bssKb: number;
  readonly reservedKb: number;
  readonly cmaReservedKb: number;
}

export interface BootedSystem {
  readonly ctx: BootContext;
  readonly platform: Platform;
  readonly config: BootConfig;
  readonly geometry: Geometry;
  readonly cmdline: KernelCmdline;
  readonly clock: Clock;
  readonly log: KernelLog;
  readonly memblock: Memblock;
  readonly image: KernelImage;
  readonly early: EarlyBootState;
  /** The buddy allocator with its memmap, zones and nodes. */
  readonly mm: PageAllocator;
  /** Tag storage regions, state and findings (H5's TagStorage). */
  readonly tagStorage: TagStorage;
  /**
   * Tag storage reuse wired onto the allocator (arch hooks, alloc_contig_range, migration, compaction); attach
   * the process layer with `reuse.attachProcessLayer(layer)` to run workloads.
   */
  readonly reuse: TagStorageReuse;
  readonly memoryLine: MemoryLineFigures;
  /** The swiotlb bounce buffer set up by mem_init(), if any. */
  readonly swiotlb?: SwiotlbBuffer;
  /** /proc/iomem resources (after the arch_initcall). */
  readonly iomem: readonly IoResource[];
  /** get_num_physpages(): present pages of all nodes. */
  readonly physpages: number;
  /** VMALLOC_TOTAL in kB for the configuration (meminfo VmallocTotal). */
  readonly vmallocTotalKb: number;
}

/** K(x): pages to kB. */
const kb = (pages: number, g: Geometry): number => pages * (g.pageSize / 1024);

/**
 * VMALLOC_END - VMALLOC_START for VA_BITS=48 (arch/arm64/include/asm/pgtable.h, memory.h v6.5): vmalloc runs
 * from MODULES_END (_PAGE_END(48) + 2 GiB) to VMEMMAP_START - 256 MiB, VMEMMAP_START = -(1 << (48 -
 * VMEMMAP_SHIFT)), VMEMMAP_SHIFT = PAGE_SHIFT - STRUCT_PAGE_MAX_SHIFT(6). 133141626880 kB with 4K pages.
 */
export function vmallocTotalKb(pageShift: number): number {
  const bytes = 2 ** 47 - 2 ** (48 - (pageShift - 6)) - 2 ** 28 - 2 ** 31;
  return bytes / 1024;
}

/**
 * cma_activate_area() (mm/cma.c, v6.5): every page of the area must be in one zone; then each pageblock is
 * freed to the buddy as MIGRATE_CMA (init_cma_reserved_pageblock: managed pages and zone->cma_pages grow).
 * Otherwise the pages are freed as ordinary memory and `cma: CMA area %s could not be activated`.
 */
function cmaActivateArea(mm: PageAllocator, log: KernelLog, a: CmaArea, g: Geometry): void {
  const start = a.base / g.pageSize;
  const count = a.size / g.pageSize;
  const zone = mm.zoneForPfn(start);
  let sameZone = zone !== undefined;
  for (let pfn = start; sameZone && pfn < start + count; pfn += g.pageblockNrPages) {
    if (mm.zoneForPfn(pfn) !== zone || mm.zoneForPfn(pfn + g.pageblockNrPages - 1) !== zone) sameZone = false;
  }
  if (sameZone) {
    // init_cma_reserved_pageblock() frees each pageblock with __free_pages(); the pages end on the CMA lists
    // (through the pcp lists, which keep their pageblock's type). The boundary does it directly: set the
    // pageblocks' type, then free the range into the buddy with the allocator's boot-time freeing.
    for (let pfn = start; pfn < start + count; pfn += g.pageblockNrPages) mm.setPageblockMigratetype(pfn, MIGRATE_CMA);
    mm.freeBootmem(start, start + count);
    zone!.cmaPages += count;
  } else {
    for (let pfn = start; pfn < start + count; pfn += g.pageblockNrPages)
      mm.initReservedPageblock(pfn, MIGRATE_MOVABLE);
  }
  if (!sameZone) {
    mm.totalcmaPages -= count;
    log.err(`cma: CMA area ${a.name} could not be activated`);
  }
}

/** Boots the platform the tree describes. Bad input throws InputError/UsageError (exit 2). */
export function bootKernel(opts: BootOptions): BootedSystem {
  const pageSize = opts.pageSize ?? 4096;
  const geometry = geometryFor(pageSize);
  const kernelImageSize = opts.kernelImageSize ?? DEFAULT_KERNEL_IMAGE_SIZE;
  if (!Number.isFinite(kernelImageSize) || kernelImageSize < MIN_KERNEL_IMAGE_SIZE) {
    throw new UsageError(`kernel image size must be at least ${MIN_KERNEL_IMAGE_SIZE / 1024 / 1024} MiB`);
  }
  const config: BootConfig = {
    pageSize,
    kernelImageSize,
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
    ...(opts.minFreeKbytes !== undefined ? { minFreeKbytes: opts.minFreeKbytes } : {}),
  };
  const tree = opts.tree;
  const dt = new DtIndex(tree);
  const platform = platformFromTree(tree, dt);
  const clock = new Clock();
  const log = new KernelLog(clock);
  const memblock = new Memblock();
  // CONFIG_CMDLINE is empty: the DT's bootargs, or the --cmdline override.
  const cmdline = parseCmdline(opts.cmdline ?? platform.bootargs ?? '');
  const mteSupported = !cmdline.nomte;
  // kasan_hw_tags_enabled(): kasan=on (the emulated kernel's default is off) and MTE present.
  const kasanHwTags = cmdline.kasan === 'on' && mteSupported;

  let tagStorage: TagStorage | undefined;
  const early = earlyBoot({
    platform,
    cmdline,
    memblock,
    log,
    pageSize,
    pageShift: geometry.pageShift,
    sectionSizeBits: geometry.sectionSizeBits,
    pagesPerSection: geometry.pagesPerSection,
    kernelImageSize,
    pageblockNrPages: geometry.pageblockNrPages,
    discoverTagStorage: () => {
      tagStorage = discoverTagStorage({
        dt,
        pageSize,
        pageblockNrPages: geometry.pageblockNrPages,
        memblock,
        log,
        numaNodeId: 0,
      });
    },
  });
  const ts = tagStorage!;
  const image = early.image;

  const ctx: BootContext = {
    tree,
    dt,
    platform,
    config,
    geometry,
    pageSize,
    pageblockNrPages: geometry.pageblockNrPages,
    cmdline,
    clock,
    log,
    memblock,
    image,
    mteSupported,
    kasanHwTags,
    numaNodeId: 0,
    zeroPagePfn: Math.floor(image.bssStart / pageSize),
  };

  // smp_prepare_boot_cpu() → kasan_init_hw_tags() (mm/kasan/hw_tags.c, pr_fmt "kasan: ").
  if (kasanHwTags)
    log.info('kasan: KernelAddressSanitizer initialized (hw-tags, mode=sync, vmalloc=on, stacktrace=on)');

  // start_kernel(): pr_notice("Kernel command line: %s\n", saved_command_line), then print_unknown_bootoptions()
  log.notice(`Kernel command line: ${cmdline.text}`);
  for (const m of cmdline.setupMessages) log.printk(m.level, m.text);
  const unknown = unknownParamsLine(cmdline);
  if (unknown) log.notice(unknown);

  // mm_core_init() → build_all_zonelists() (v6.4+ calls it from mm_core_init, after the command line):
  // build_zonelists() per node prints its fallback order (CONFIG_NUMA), then nr_free_zone_pages() over the
  // early managed estimate (watermarks are still 0) and the policy zone.
  const nodes = early.zones.nodes;
  for (const n of nodes) {
    // find_next_best_node() with the default distances: the local node, then the others, higher ids first.
    const order = [
      n.nid,
      ...nodes.map((m) => m.nid).filter((x) => x > n.nid),
      ...nodes.map((m) => m.nid).filter((x) => x < n.nid),
    ];
    log.info(`Fallback order for Node ${n.nid}: ${order.map((x) => `${x} `).join('')}`);
  }
  let vmTotal = 0;
  let policyZone = 0;
  for (const n of nodes) {
    for (const z of n.zones) {
      vmTotal += z.managedEstimate;
      // check_highest_zone(): the highest populated zone below ZONE_MOVABLE.
      if (z.presentPages > 0 && z.index < ZONE_MOVABLE && z.index > policyZone) policyZone = z.index;
    }
  }
  const mobilityOff = vmTotal < geometry.pageblockNrPages * MIGRATE_TYPES;
  log.info(
    `Built ${nodes.length} zonelists, mobility grouping ${mobilityOff ? 'off' : 'on'}.  Total pages: ${vmTotal}`,
  );
  log.info(`Policy zone: ${ZONE_NAMES[policyZone]}`);

  // The memmap and zones of free_area_init, as the allocator's typed arrays.
  const ranges = memPfnRanges(memblock.memory.regions, geometry.pageShift);
  const memmap = new MemMap(
    geometry,
    ranges.map((r) => ({ startPfn: r.start, endPfn: r.end })),
  );
  // The zero page is kernel bss (PageReserved); cpu_enable_mte() (smp_prepare_boot_cpu, MTE present) clears
  // its tags and marks it PG_mte_tagged, which is why activation reserves its tag block (kernel-facts §1.1).
  memmap.setFlag(ctx.zeroPagePfn, PG_reserved, true);
  if (mteSupported) memmap.setFlag(ctx.zeroPagePfn, PG_mte_tagged, true);
  const cpus = Math.max(1, platform.cpus);
  const zones: Zone[] = [];
  for (const n of nodes) {
    for (const z of n.zones) {
      zones.push(
        new Zone(
          {
            idx: z.index,
            nid: n.nid,
            zoneStartPfn: z.startPfn,
            spannedPages: z.spannedPages,
            presentPages: z.presentPages,
          },
          geometry.nrOrders,
          cpus,
        ),
      );
    }
  }
  // Each cpu on its DT node when that node has memory (of_numa_parse_cpu_nodes), else on the first node.
  const memNodes = new Set(nodes.map((n) => n.nid));
  const cpuToNode = Array.from({ length: cpus }, (_, i) => {
    const n = platform.numa ? (platform.cpuNodes[i] ?? 0) : 0;
    return memNodes.has(n) ? n : nodes[0]!.nid;
  });
  const mm = new PageAllocator({
    geometry,
    memmap,
    zones,
    cpus,
    cpuToNode,
    memRanges: ranges,
    ...(opts.minFreeKbytes !== undefined ? { minFreeKbytes: opts.minFreeKbytes } : {}),
  });
  mm.pageGroupByMobilityDisabled = mobilityOff;
  // cma_init_reserved_mem(): totalcma_pages counts every declared area from the start (cma-reserved).
  for (const a of early.cmaAreas) mm.totalcmaPages += a.size / pageSize;

  // mem_init(): swiotlb_init() first (64 MiB of low memory and its slot array), then memblock_free_all() →
  // free_low_memory_core_early(): for_each_free_mem_range (NOMAP skipped).
  const swiotlb = swiotlbInit(memblock, log, early.zones.dmaPhysLimit, cpus, pageSize);
  for (const r of memblock.freeRanges()) {
    const start = Math.ceil(r.base / pageSize);
    const end = Math.min(Math.floor(r.end / pageSize), early.maxPfn);
    if (start < end) mm.freeBootmem(start, end);
  }
  let physpages = 0;
  for (const z of mm.zones) physpages += z.presentPages;
  const totalram = mm.totalramPages();
  const memoryLine: MemoryLineFigures = {
    availableKb: kb(mm.globalZoneState(NR_FREE_PAGES), geometry),
    physKb: kb(physpages, geometry),
    codeKb: Math.floor((image.etext - image.stext) / 1024),
    rwdataKb: Math.floor((image.edata - image.sdata) / 1024),
    rodataKb: Math.floor((image.endRodata - image.startRodata) / 1024),
    initKb: Math.floor((image.initEnd - image.initBegin) / 1024),
    bssKb: Math.floor((image.bssStop - image.bssStart) / 1024),
    reservedKb: kb(physpages - totalram - mm.totalcmaPages, geometry),
    cmaReservedKb: kb(mm.totalcmaPages, geometry),
  };
  const m = memoryLine;
  // mm/mm_init.c mem_init_print_info()
  log.info(
    `Memory: ${m.availableKb}K/${m.physKb}K available (${m.codeKb}K kernel code, ${m.rwdataKb}K rwdata, ` +
      `${m.rodataKb}K rodata, ${m.initKb}K init, ${m.bssKb}K bss, ${m.reservedKb}K reserved, ${m.cmaReservedKb}K cma-reserved)`,
  );
  mm.setupPerCpuPageset();

  // Initcalls, each level a little later on the emulated clock.
  clock.set(INITCALL_START_NS);
  // core_initcall: cma_init_reserved_areas() (mm/cma.c), then mte_tag_storage_activate_regions(). The reservation protocol (reserve/free_metadata_storage)
  // is the allocator's arch hook from now on; its static key follows ts.metadataEnabled.
  for (const a of early.cmaAreas) cmaActivateArea(mm, log, a, geometry);
  const reuse = new TagStorageReuse(mm, ts, log).install();
  activateTagStorage(
    { log, memblock, mteSupported, kasanHwTags, zeroPagePfn: ctx.zeroPagePfn, mm: reuse.tagStorageMm() },
    ts,
  );
  clock.advance(INITCALL_LEVEL_NS);
  // postcore_initcall: init_per_zone_wmark_min(), then khugepaged and a user min_free_kbytes.
  mm.setupPerZoneWmarks();
  clock.advance(INITCALL_LEVEL_NS);
  // arch_initcall: reserve_memblock_reserved_regions()
  const iomem = buildIomem({
    memory: memblock.memory.regions,
    reserved: memblock.reserved.regions,
    kernelCode: { start: image.stext, end: image.initBegin },
    kernelData: { start: image.sdata, end: image.end },
    pageSize,
  });

  return {
    ctx,
    platform,
    config,
    geometry,
    cmdline,
    clock,
    log,
    memblock,
    image,
    early,
    mm,
    tagStorage: ts,
    reuse,
    memoryLine,
    iomem,
    ...(swiotlb !== undefined ? { swiotlb } : {}),
    physpages,
    vmallocTotalKb: vmallocTotalKb(geometry.pageShift),
  };
}
