/**
 * setup_arch() up to free_area_init(), arm64 v6.5 order (arch/arm64/kernel/setup.c, arch/arm64/mm/init.c,
 * drivers/of/fdt.c, drivers/of/of_reserved_mem.c, mm/sparse.c, mm/mm_init.c):
 *
 *   setup_machine_fdt        `Machine model: %s`; early_init_dt_scan_nodes (root cells, /chosen, memory)
 *   parse_early_param        `mem=` → `Memory limited to %lldMB`
 *   mte_tag_storage_init     (v1 series) tag storage discovery, before arm64_memblock_init
 *   arm64_memblock_init      PA and linear-map limits, mem= cap, kernel image reserve,
 *                            early_init_fdt_scan_reserved_mem (/reserved-memory, /memreserve/, fdt_init_reserved_mem)
 *   bootmem_init             max_pfn, sparse_init (struct page array: 64 bytes per page of each present section,
 *                            one top-down memblock allocation per node), zone_sizes_init → free_area_init
 *
 * Every line logged here is a v6.5 format string, cited beside it. Memory the model does not allocate at boot:
 * the DTB itself, page tables, per-cpu areas, hash tables, NODE_DATA (documented in the README).
 */
import { InputError } from '../errors.js';
import type { Memblock } from '../mm/memblock.js';
import type { KernelLog } from '../sim/log.js';
import type { Platform } from '../platform/platform.js';
import { memparse, type KernelCmdline } from './cmdline.js';
import { layoutKernelImage, placeKernelImage, type KernelImage } from './kernel_image.js';
import { pagingInit, type PagingInit } from './paging.js';
import { ZONE_MOVABLE, ZONE_NAMES, arm64ZoneLimits, computeZones, memPfnRanges, type ZoneLayout } from './zones.js';

/** CONFIG_ARM64_PA_BITS = 48 (defconfig): memory above 2^48 is removed. */
export const PHYS_MASK_SHIFT = 48;
/** CONFIG_ARM64_VA_BITS = 48: the linear map covers 2^47 bytes. */
export const LINEAR_REGION_SIZE = 2 ** 47;
/** SMP_CACHE_BYTES on arm64 (L1_CACHE_BYTES). */
export const SMP_CACHE_BYTES = 64;
const SZ_1M = 1024 * 1024;
const HUGE = 2 ** 60;

/** `%#018Lx`: 0x plus 16 hex digits (also %pa). */
export function hex18(v: number): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}

/** ARM64_MEMSTART_ALIGN (asm/kernel-pgtable.h): max(PUD/CONT_PMD/PMD shift, SECTION_SIZE_BITS). */
function memstartAlign(pageShift: number, sectionSizeBits: number): number {
  const shift = pageShift === 12 ? 30 : pageShift === 14 ? 30 : 29;
  return 2 ** Math.max(shift, sectionSizeBits);
}

/** A `/reserved-memory` region after fdt_init_reserved_mem. */
export interface ReservedMem {
  readonly name: string;
  readonly path: string;
  readonly base: number;
  readonly size: number;
  readonly noMap: boolean;
  readonly reusable: boolean;
  /** The compatible the region was initialised with, if any. */
  readonly initialisedAs?: string;
}

export interface EarlyBootInput {
  readonly platform: Platform;
  readonly cmdline: KernelCmdline;
  readonly memblock: Memblock;
  readonly log: KernelLog;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly sectionSizeBits: number;
  readonly pagesPerSection: number;
  readonly kernelImageSize: number;
  readonly pageblockNrPages: number;
  /** mte_tag_storage_init(): runs between parse_early_param and arm64_memblock_init. */
  readonly discoverTagStorage: () => void;
}

export interface EarlyBootState {
  readonly image: KernelImage;
  /** The linear map's page tables (paging_init). */
  readonly paging: PagingInit;
  readonly reservedMem: readonly ReservedMem[];
  /** CMA areas declared by reusable shared-dma-pool regions, activated at core_initcall. */
  readonly cmaAreas: readonly CmaArea[];
  /** Physical ranges of the struct page arrays, per node. */
  readonly memmapAllocs: readonly { nid: number; base: number; size: number }[];
  readonly presentSections: ReadonlySet<number>;
  readonly zones: ZoneLayout;
  /** max_pfn / max_low_pfn. */
  readonly maxPfn: number;
  readonly minLowPfn: number;
}

/** early_init_dt_add_memory_arch() with arm64's MIN_MEMBLOCK_ADDR 0 and MAX_MEMBLOCK_ADDR U64_MAX. */
function addMemoryArch(mb: Memblock, log: KernelLog, base: number, size: number, nid: number, ps: number): void {
  const off = base % ps;
  if (size < ps - off) {
    // drivers/of/fdt.c: pr_warn("Ignoring memory block 0x%llx - 0x%llx\n", base, base + size)
    log.warn(`OF: fdt: Ignoring memory block 0x${base.toString(16)} - 0x${(base + size).toString(16)}`);
    return;
  }
  let b = base;
  let s = size;
  if (off !== 0) {
    s -= ps - off;
    b += ps - off;
  }
  s -= s % ps;
  mb.addNode(b, s, nid);
}

/** early_init_dt_reserve_memory(): 0 or -EBUSY (nomap over something already reserved). */
function reserveMemory(mb: Memblock, base: number, size: number, nomap: boolean, what: string): number {
  if (nomap) {
    if (mb.memory.overlaps(base, size) && mb.isRegionReserved(base, size)) return -16;
    mb.markNomap(base, size);
    return 0;
  }
  mb.reserve(base, size, what);
  return 0;
}

/** A CMA area declared from /reserved-memory (kernel/dma/contiguous.c rmem_cma_setup → cma_init_reserved_mem). */
export interface CmaArea {
  readonly name: string;
  readonly base: number;
  readonly size: number;
}

/** CMA_MIN_ALIGNMENT_BYTES: PAGE_SIZE * pageblock_nr_pages (include/linux/cma.h, v6.0+). */
function cmaMinAlignment(ps: number, pageblockNrPages: number): number {
  return ps * pageblockNrPages;
}

/** __reserved_mem_init_node(): the RESERVEDMEM_OF_DECLARE table entries mte-sim knows, in link order. */
function initReservedMemNode(
  node: Platform['reservedMemory'][number],
  base: number,
  size: number,
  log: KernelLog,
  cmaAlign: number,
  cma: CmaArea[],
): { err: number; compat?: string } {
  const compatible = node.compatible.map((c) => c.toLowerCase());
  if (!compatible.includes('shared-dma-pool')) return { err: -2 }; // -ENOENT: no initfn matches
  let ret: number;
  // kernel/dma/contiguous.c rmem_cma_setup() (before coherent.c in kernel/dma/Makefile link order).
  if (!node.reusable || node.noMap) {
    ret = -22;
  } else if ((base % cmaAlign) + (size % cmaAlign) !== 0) {
    log.err('Reserved memory: incorrect alignment of CMA region');
    ret = -22;
  } else {
    // cma_init_reserved_mem() accepts it (totalcma_pages grows); the area is activated at core_initcall.
    cma.push({ name: node.name, base, size });
    log.info(`Reserved memory: created CMA memory pool at ${hex18(base)}, size ${Math.floor(size / SZ_1M)} MiB`);
    ret = 0;
  }
  // kernel/dma/coherent.c rmem_dma_setup(): refuses reusable regions.
  if (ret !== 0 && !node.reusable) {
    log.info(`Reserved memory: created DMA memory pool at ${hex18(base)}, size ${Math.floor(size / SZ_1M)} MiB`);
    ret = 0;
  }
  if (ret !== 0) return { err: ret };
  // drivers/of/of_reserved_mem.c: pr_info("initialized node %s, compatible id %s\n", ...)
  log.info(`OF: reserved mem: initialized node ${node.name}, compatible id shared-dma-pool`);
  return { err: 0, compat: 'shared-dma-pool' };
}

/**
 * cma_declare_contiguous_nid() (mm/cma.c v6.5, pr_fmt "cma: ") for the global area, NUMA_NO_NODE: aligned to
 * CMA_MIN_ALIGNMENT_BYTES; a fixed region is reserved where asked; otherwise bottom-up from 4 GiB when the
 * memory reaches that far, else top-down below the limit. `Reserved %ld MiB at %pa on node %d`.
 */
function cmaDeclareContiguous(
  mb: Memblock,
  log: KernelLog,
  reqSize: number,
  reqBase: number,
  reqLimit: number,
  reqFixed: boolean,
  alignment: number,
): CmaArea | undefined {
  const SZ_4G = 2 ** 32;
  const memblockEnd = mb.endOfDram();
  let fixed = reqFixed;
  if (fixed && reqBase % alignment !== 0) {
    log.err(`cma: Region at ${hex18(reqBase)} must be aligned to ${hex18(alignment)} bytes`);
    log.err(`cma: Failed to reserve ${Math.floor(reqSize / SZ_1M)} MiB on node -1`);
    return undefined;
  }
  const base = Math.ceil(reqBase / alignment) * alignment;
  const size = Math.ceil(reqSize / alignment) * alignment;
  let limit = Math.floor(reqLimit / alignment) * alignment;
  if (base === 0) fixed = false;
  if (limit === 0 || limit > memblockEnd) limit = memblockEnd;
  const fail = (): undefined => {
    log.err(`cma: Failed to reserve ${Math.floor(size / SZ_1M)} MiB on node -1`);
    return undefined;
  };
  if (base + size > limit) {
    log.err(`cma: Size (${hex18(size)}) of region at ${hex18(base)} exceeds limit (${hex18(limit)})`);
    return fail();
  }
  let addr: number | undefined;
  if (fixed) {
    if (mb.isRegionReserved(base, size)) return fail();
    mb.reserve(base, size, 'cma');
    addr = base;
  } else {
    if (memblockEnd >= SZ_4G + size) addr = mb.allocRangeBottomUp(size, alignment, SZ_4G, limit, 'cma');
    addr ??= mb.allocRange(size, alignment, base, limit, undefined, 'cma');
    if (addr === undefined) return fail();
  }
  log.info(`cma: Reserved ${Math.floor(size / SZ_1M)} MiB at ${hex18(addr)} on node -1`);
  return { name: 'reserved', base: addr, size };
}

/** Runs setup_arch → bootmem_init for the platform. */
export function earlyBoot(inp: EarlyBootInput): EarlyBootState {
  const { platform, memblock: mb, log, pageSize: ps, cmdline } = inp;

  // setup_machine_fdt(): early_init_dt_scan() → early_init_dt_scan_nodes() first (/chosen, memory nodes) ...
  if (!platform.hasChosen) log.warn('OF: fdt: No chosen node found, continuing without');
  for (const b of platform.banks) addMemoryArch(mb, log, b.base, b.size, platform.numa ? b.nid : 0, ps);
  // ... then pr_info("Machine model: %s\n", name).
  if (platform.model !== undefined) log.info(`Machine model: ${platform.model}`);
  if (mb.memory.regions.length === 0) {
    throw new InputError(
      'no usable memory: the device tree has no memory node the kernel can boot from',
      platform.source,
    );
  }

  // parse_early_param(): arch/arm64/mm/init.c early_mem: pr_notice("Memory limited to %lldMB\n", ...)
  let memoryLimit: number | undefined;
  for (const arg of cmdline.memArgs) {
    const v = Math.floor((memparse(arg) ?? 0) / ps) * ps;
    memoryLimit = v;
    log.notice(`Memory limited to ${Math.floor(v / SZ_1M)}MB`);
  }

  // efi_init() → efi_get_fdt_params() (drivers/firmware/efi/fdtparams.c, pr_fmt "efi: "): a DT boot without
  // linux,uefi-system-table in /chosen. (UEFI boots take memory from the EFI memory map: not modelled.)
  if (!platform.uefi) log.info('efi: UEFI not found.');

  // The boot loader placed the Image before any of this ran (kernel_image.ts).
  const first = mb.memory.regions[0]!;
  const avoid = [
    ...platform.memreserve,
    ...platform.reservedMemory.flatMap((r) => r.reg.map((x) => ({ base: x.base, size: x.size }))),
  ];
  const at = placeKernelImage(first.base, first.base + first.size, inp.kernelImageSize, avoid);
  if (at === undefined) {
    throw new InputError(
      `the first memory bank (${hex18(first.base)}, ${first.size} bytes) has no 2 MiB aligned room for a ${inp.kernelImageSize}-byte kernel image`,
      platform.source,
    );
  }
  const image = layoutKernelImage(at, inp.kernelImageSize, ps);
  const imageNid = first.nid;

  inp.discoverTagStorage();

  // arm64_memblock_init()
  mb.removeMemory(2 ** PHYS_MASK_SHIFT, HUGE);
  const align = memstartAlign(inp.pageShift, inp.sectionSizeBits);
  let memstart = Math.floor(mb.startOfDram() / align) * align;
  if (mb.endOfDram() - memstart > LINEAR_REGION_SIZE) {
    log.warn("Memory doesn't fit in the linear mapping, VA_BITS too small");
  }
  const cut = Math.max(memstart + LINEAR_REGION_SIZE, image.end);
  mb.removeMemory(cut, HUGE);
  if (memstart + LINEAR_REGION_SIZE < mb.endOfDram()) {
    memstart = Math.ceil((mb.endOfDram() - LINEAR_REGION_SIZE) / align) * align;
    mb.removeMemory(0, memstart);
  }
  if (memoryLimit !== undefined) {
    mb.memLimitRemoveMap(memoryLimit);
    mb.addNode(image.text, image.end - image.text, imageNid);
  }
  mb.reserve(image.stext, image.end - image.stext, 'kernel');

  // early_init_fdt_scan_reserved_mem() → fdt_scan_reserved_mem()
  const saved: { node: Platform['reservedMemory'][number]; base: number; size: number }[] = [];
  if (platform.reservedMemoryUnsupported) {
    log.err('OF: fdt: Reserved memory: unsupported node format, ignoring');
  }
  for (const node of platform.reservedMemory) {
    if (node.badReg) {
      log.err(`OF: fdt: Reserved memory: invalid reg property in '${node.name}', skipping node.`);
      continue;
    }
    if (node.reg.length > 0) {
      for (const r of node.reg) {
        if (!(r.size > 0 && reserveMemory(mb, r.base, r.size, node.noMap, node.name) === 0)) {
          log.err(
            `OF: fdt: Reserved memory: failed to reserve memory for node '${node.name}': base ${hex18(r.base)}, size ${Math.floor(r.size / SZ_1M)} MiB`,
          );
        }
      }
      saved.push({ node, base: node.reg[0]!.base, size: node.reg[0]!.size });
    } else if (node.size !== undefined) {
      saved.push({ node, base: 0, size: 0 });
    }
  }
  // The header's /memreserve/ entries.
  for (const m of platform.memreserve) mb.reserve(m.base, m.size, 'memreserve');

  // fdt_init_reserved_mem(): __rmem_check_for_overlap, then allocate dynamic regions and initialise each.
  const sorted = [...saved].sort((x, y) => x.base - y.base);
  for (let i = 0; i + 1 < sorted.length; i++) {
    const t = sorted[i]!;
    const n = sorted[i + 1]!;
    if (t.size > 0 && t.base + t.size > n.base) {
      log.err('OF: reserved mem: OVERLAP DETECTED!');
      log.err(
        `${t.node.name} (${hex18(t.base)}--${hex18(t.base + t.size - 1)}) overlaps with ${n.node.name} (${hex18(n.base)}--${hex18(n.base + n.size - 1)})`,
      );
    }
  }
  const reservedMem: ReservedMem[] = [];
  const cmaAlign = cmaMinAlignment(ps, inp.pageblockNrPages);
  const cmaAreas: CmaArea[] = [];
  for (const s of saved) {
    const node = s.node;
    let { base, size } = s;
    let err = 0;
    if (size === 0) {
      const r = allocReservedSize(mb, log, node, cmaAlign);
      if (r === undefined) err = -22;
      else ({ base, size } = r);
    }
    if (err !== 0) continue;
    const init = initReservedMemNode(node, base, size, log, cmaAlign, cmaAreas);
    if (init.err !== 0 && init.err !== -2) {
      log.info(`OF: reserved mem: node ${node.name} compatible matching fail`);
      if (node.noMap) mb.clearNomap(base, size);
      else mb.freeReserved(base, size);
      continue;
    }
    // of_reserved_mem.c (v6.4+): pr_info("%pa..%pa (%lu KiB) %s %s %s\n", ...)
    log.info(
      `OF: reserved mem: ${hex18(base)}..${hex18(base + size - 1)} (${Math.floor(size / 1024)} KiB) ${node.noMap ? 'nomap' : 'map'} ${node.reusable ? 'reusable' : 'non-reusable'} ${node.name}`,
    );
    reservedMem.push({
      name: node.name,
      path: node.path,
      base,
      size,
      noMap: node.noMap,
      reusable: node.reusable,
      ...(init.compat !== undefined ? { initialisedAs: init.compat } : {}),
    });
  }

  // paging_init(): the linear map's page tables, and the early init_pg_dir given back.
  const paging = pagingInit(mb, image, memstart, inp.pageShift);

  // bootmem_init(): max_pfn = max_low_pfn = PFN_DOWN(memblock_end_of_DRAM()); min_low_pfn = PFN_UP(start)
  const maxPfn = Math.floor(mb.endOfDram() / ps);
  const minLowPfn = Math.ceil(mb.startOfDram() / ps);

  // sparse_init(): present sections, then the struct page array per node, top-down from memblock.
  const ranges = memPfnRanges(mb.memory.regions, inp.pageShift);
  const pps = inp.pagesPerSection;
  const presentSections = new Set<number>();
  const sectionsByNid = new Map<number, Set<number>>();
  for (const r of ranges) {
    for (let s = Math.floor(r.start / pps); s <= Math.floor((r.end - 1) / pps); s++) {
      presentSections.add(s);
      let set = sectionsByNid.get(r.nid);
      if (!set) sectionsByNid.set(r.nid, (set = new Set()));
      set.add(s);
    }
  }
  const memmapAllocs: { nid: number; base: number; size: number }[] = [];
  for (const nid of [...sectionsByNid.keys()].sort((a, b) => a - b)) {
    const nsec = sectionsByNid.get(nid)!.size;
    // Each section's struct pages: 64 bytes per page, whole pages (PMD-mapped 2 MiB blocks with 4K pages).
    const perSection = Math.ceil((pps * 64) / ps) * ps;
    const size = nsec * perSection;
    // sparse_buffer_init(): one buffer of map_count * section_map_size(), aligned to section_map_size()
    // = ALIGN(sizeof(struct page) * PAGES_PER_SECTION, PMD_SIZE), allocated top-down from the node; the
    // memmap is carved from its bottom and sparse_buffer_fini() frees the unused rest. When the buffer does
    // not fit (64K pages: 512 MiB per section), every vmemmap page comes from memblock on its own, top-down:
    // the same amount, just below the highest free memory.
    const pmdSize = 2 ** (2 * inp.pageShift - 3);
    const secMap = Math.ceil((pps * 64) / pmdSize) * pmdSize;
    let base = mb.allocRange(nsec * secMap, secMap, 0, Infinity, nid, 'memmap');
    if (base !== undefined && nsec * secMap > size) mb.freeReserved(base + size, nsec * secMap - size);
    base ??= mb.allocRange(size, ps, 0, Infinity, nid, 'memmap');
    if (base === undefined) {
      throw new InputError(`node ${nid}: no memory left for its ${size}-byte struct page array`, platform.source);
    }
    memmapAllocs.push({ nid, base, size });
  }

  // zone_sizes_init() → free_area_init()
  const lim = arm64ZoneLimits(mb.startOfDram(), mb.endOfDram(), inp.pageShift, platform.dmaMaxCpuAddress);
  const zones = computeZones(ranges, lim.maxZonePfn, ps, lim);
  logFreeAreaInit(log, zones, ranges, presentSections, inp.pageShift, pps);

  // dma_contiguous_reserve(arm64_dma_phys_limit): the global CMA area. The emulated kernel has no default
  // size (CONFIG_CMA_SIZE_MBYTES=0); `cma=` asks for one unless a reserved-memory pool is linux,cma-default.
  const defaultPool = cmaAreas.some((a) => platform.reservedMemory.find((r) => r.name === a.name)?.cmaDefault);
  if (cmdline.cma !== undefined && cmdline.cma.size > 0 && !defaultPool) {
    const c = cmdline.cma;
    const limit = c.limit !== 0 ? Math.min(c.limit, lim.dmaPhysLimit) : lim.dmaPhysLimit;
    const area = cmaDeclareContiguous(mb, log, c.size, c.base, limit, c.base + c.size === c.limit, cmaAlign);
    if (area) cmaAreas.push(area);
  }

  return { image, paging, reservedMem, cmaAreas, memmapAllocs, presentSections, zones, maxPfn, minLowPfn };
}

/** __reserved_mem_alloc_size() for a dynamic region (`size`, `alignment`, `alloc-ranges`). */
function allocReservedSize(
  mb: Memblock,
  log: KernelLog,
  node: Platform['reservedMemory'][number],
  cmaAlign: number,
): { base: number; size: number } | undefined {
  const name = node.name;
  if (node.size === undefined) return undefined;
  if (Number.isNaN(node.size)) {
    log.err(`OF: reserved mem: invalid size property in '${name}' node.`);
    return undefined;
  }
  if (node.badAlignment) {
    log.err(`OF: reserved mem: invalid alignment property in '${name}' node.`);
    return undefined;
  }
  const size = node.size;
  let align = node.alignment ?? 0;
  // A reusable shared-dma-pool becomes CMA: its alignment is raised to CMA_MIN_ALIGNMENT_BYTES (CONFIG_CMA).
  const isCma = node.compatible.some((c) => c.toLowerCase() === 'shared-dma-pool') && node.reusable && !node.noMap;
  if (isCma) align = Math.max(align, cmaAlign);
  if (align === 0) align = SMP_CACHE_BYTES;
  let base: number | undefined;
  const tryAlloc = (start: number, end: number): number | undefined => {
    const b = mb.allocRange(size, align, start, end === 0 ? Infinity : end, undefined, name);
    if (b !== undefined && node.noMap) mb.markNomap(b, size);
    return b;
  };
  if (node.badAllocRanges) {
    log.err(`OF: reserved mem: invalid alloc-ranges property in '${name}', skipping node.`);
    return undefined;
  }
  if (node.allocRanges) {
    for (const r of node.allocRanges) {
      base = tryAlloc(r.base, r.base + r.size);
      if (base !== undefined) break;
    }
  } else if (size > 0) {
    base = tryAlloc(0, 0);
  }
  if (base === undefined || base === 0) {
    log.err(`OF: reserved mem: failed to allocate memory for node '${name}': size ${Math.floor(size / SZ_1M)} MiB`);
    return undefined;
  }
  return { base, size };
}

/** free_area_init() and memmap_init() lines (mm/mm_init.c v6.5). */
function logFreeAreaInit(
  log: KernelLog,
  zl: ZoneLayout,
  ranges: readonly { start: number; end: number; nid: number }[],
  present: ReadonlySet<number>,
  pageShift: number,
  pps: number,
): void {
  const ps = 2 ** pageShift;
  log.info('Zone ranges:');
  for (let z = 0; z < ZONE_NAMES.length; z++) {
    if (z === ZONE_MOVABLE) continue;
    // pr_info("  %-8s ", zone_names[i]); pr_cont("empty\n") / pr_cont("[mem %#018Lx-%#018Lx]\n", ...)
    const head = `  ${ZONE_NAMES[z]!.padEnd(8)} `;
    if (zl.lowest[z] === zl.highest[z]) log.info(`${head}empty`);
    else log.info(`${head}[mem ${hex18(zl.lowest[z]! * ps)}-${hex18(zl.highest[z]! * ps - 1)}]`);
  }
  log.info('Movable zone start for each node');
  log.info('Early memory node ranges');
  for (const r of ranges)
    log.info(`  node ${String(r.nid).padStart(3)}: [mem ${hex18(r.start * ps)}-${hex18(r.end * ps - 1)}]`);
  for (const n of zl.nodes) {
    // free_area_init_node(): pr_info("Initmem setup node %d [mem %#018Llx-%#018Llx]\n", ...)
    log.info(
      `Initmem setup node ${n.nid} [mem ${hex18(n.startPfn * ps)}-${hex18(n.endPfn > 0 ? n.endPfn * ps - 1 : 0)}]`,
    );
  }
  // memmap_init(): holes inside present sections are "unavailable ranges", charged to the zone being walked.
  const countHoles = (spfn: number, epfn: number): number => {
    let n = 0;
    for (let s = Math.floor(spfn / pps); s * pps < epfn; s++) {
      if (!present.has(s)) continue;
      n += Math.max(0, Math.min(epfn, (s + 1) * pps) - Math.max(spfn, s * pps));
    }
    return n;
  };
  const report = (spfn: number, epfn: number, zone: number, nid: number): void => {
    const cnt = countHoles(spfn, epfn);
    // pr_info("On node %d, zone %s: %lld pages in unavailable ranges", ...)
    if (cnt > 0) log.info(`On node ${nid}, zone ${ZONE_NAMES[zone]}: ${cnt} pages in unavailable ranges`);
  };
  let holePfn = 0;
  let zoneId = 0;
  let lastNid = 0;
  let endPfn = 0;
  for (const r of ranges) {
    const node = zl.nodes.find((n) => n.nid === r.nid)!;
    lastNid = r.nid;
    endPfn = r.end;
    for (const z of node.zones) {
      if (z.presentPages === 0) continue;
      const zs = z.startPfn;
      const ze = z.startPfn + z.spannedPages;
      const s = Math.min(Math.max(r.start, zs), ze);
      const e = Math.min(Math.max(r.end, zs), ze);
      zoneId = z.index;
      if (s >= e) continue;
      if (holePfn < s) report(holePfn, s, z.index, r.nid);
      holePfn = e;
    }
  }
  const secEnd = Math.ceil(endPfn / pps) * pps;
  if (holePfn < secEnd) report(holePfn, secEnd, zoneId, lastNid);
}
