/**
 * The numbers of /proc/meminfo (fs/proc/meminfo.c meminfo_proc_show, v6.5 + v1 patch 5), computed from the
 * allocator's state and from figures other modules own (swap, commit accounting, vmalloc, percpu, hugetlb),
 * which arrive as MeminfoExtras instead of being invented here. Also si_mem_available() and
 * global_dirty_limits() (for /proc/vmstat's nr_dirty_threshold lines).
 */
import type { PageAllocator } from './page_alloc.js';
import { KCONFIG } from './vmstat.js';
import {
  NR_ACTIVE_ANON,
  NR_ACTIVE_FILE,
  NR_ANON_MAPPED,
  NR_ANON_THPS,
  NR_BOUNCE,
  NR_FILE_DIRTY,
  NR_FILE_MAPPED,
  NR_FILE_PAGES,
  NR_FILE_PMDMAPPED,
  NR_FILE_THPS,
  NR_FREE_CMA_PAGES,
  NR_FREE_METADATA_PAGES,
  NR_FREE_PAGES,
  NR_INACTIVE_ANON,
  NR_INACTIVE_FILE,
  NR_KERNEL_MISC_RECLAIMABLE,
  NR_KERNEL_STACK_KB,
  NR_MLOCK,
  NR_PAGETABLE,
  NR_SECONDARY_PAGETABLE,
  NR_SHMEM,
  NR_SHMEM_PMDMAPPED,
  NR_SHMEM_THPS,
  NR_SLAB_RECLAIMABLE,
  NR_SLAB_UNRECLAIMABLE,
  NR_SWAPCACHE,
  NR_UNEVICTABLE,
  NR_WRITEBACK,
  NR_WRITEBACK_TEMP,
} from './vmstat.js';

/** Figures from outside the page allocator. All default to 0 (the honest value when nothing models them). */
export interface MeminfoExtras {
  /** total_swap_pages and nr_swap_pages (si_swapinfo). */
  swapTotalPages?: number;
  swapFreePages?: number;
  /** percpu_counter_read_positive(&vm_committed_as), pages. */
  committedAsPages?: number;
  /** sysctl_overcommit_ratio (default 50) and sysctl_overcommit_kbytes (default 0). */
  overcommitRatio?: number;
  overcommitKbytes?: number;
  /** VMALLOC_TOTAL >> 10 for the configuration (arch-specific; the boot code supplies it). */
  vmallocTotalKb?: number;
  /** vmalloc_nr_pages(). */
  vmallocUsedPages?: number;
  /** pcpu_nr_pages(). */
  percpuPages?: number;
  /** num_poisoned_pages. */
  hardwareCorruptedPages?: number;
  /** nr_blockdev_pages() (Buffers). */
  bufferPages?: number;
  /** hugetlb_report_meminfo for the default hstate. */
  hugePagesTotal?: number;
  hugePagesFree?: number;
  hugePagesRsvd?: number;
  hugePagesSurp?: number;
  /** Default huge page size in kB (arm64: PMD size, 2048 for 4K pages); computed from the geometry if absent. */
  hugepagesizeKb?: number;
}

/** How a line is printed: `%8lu kB` after a 16-char label, or hugetlb's `%5lu` counts, or HardwareCorrupted. */
export type MeminfoKind = 'kb' | 'count' | 'hwcorrupt';

export interface MeminfoLine {
  /** The label without the colon, e.g. `MemTotal`, `Active(anon)`. */
  readonly name: string;
  /** kB for 'kb'/'hwcorrupt' lines, a count for 'count' lines. */
  readonly value: number;
  readonly kind: MeminfoKind;
}

/** si_mem_available(), in pages. */
export function siMemAvailable(a: PageAllocator): number {
  let wmarkLow = 0;
  for (const z of a.zones) wmarkLow += z.lowWmark();
  let available = a.globalZoneState(NR_FREE_PAGES) - a.totalreservePages;
  let pagecache = a.globalNodeState(NR_ACTIVE_FILE) + a.globalNodeState(NR_INACTIVE_FILE);
  pagecache -= Math.min(Math.floor(pagecache / 2), wmarkLow);
  available += pagecache;
  let reclaimable = a.globalNodeState(NR_SLAB_RECLAIMABLE) + a.globalNodeState(NR_KERNEL_MISC_RECLAIMABLE);
  reclaimable -= Math.min(Math.floor(reclaimable / 2), wmarkLow);
  available += reclaimable;
  return Math.max(0, available);
}

/** global_dirty_limits() with vm_dirty_ratio 20, dirty_background_ratio 10, no *_bytes: [background, dirty]. */
export function globalDirtyLimits(a: PageAllocator): [number, number] {
  let x = a.globalZoneState(NR_FREE_PAGES);
  x -= Math.min(x, a.totalreservePages);
  x += a.globalNodeState(NR_INACTIVE_FILE) + a.globalNodeState(NR_ACTIVE_FILE);
  const avail = x + 1;
  const ps = a.geometry.pageSize;
  const ratio = Math.floor((20 * ps) / 100);
  const bgRatio = Math.floor((10 * ps) / 100);
  const thresh = Math.floor((ratio * avail) / ps);
  let bg = Math.floor((bgRatio * avail) / ps);
  if (bg >= thresh) bg = Math.floor(thresh / 2);
  return [bg, thresh];
}

/** All /proc/meminfo lines in the kernel's order, each driven by state (kernel-facts §7.4, §4.1). */
export function meminfoLines(a: PageAllocator, extras: MeminfoExtras = {}): MeminfoLine[] {
  const kbPerPage = a.geometry.pageSize / 1024;
  const out: MeminfoLine[] = [];
  const kb = (name: string, pages: number): void => {
    out.push({ name, value: pages * kbPerPage, kind: 'kb' });
  };
  const rawKb = (name: string, v: number): void => {
    out.push({ name, value: v, kind: 'kb' });
  };
  const node = (i: number): number => a.globalNodeState(i);
  const totalram = a.totalramPages();
  const bufferram = extras.bufferPages ?? 0;
  const swapcache = node(NR_SWAPCACHE);
  let cached = node(NR_FILE_PAGES) - swapcache - bufferram;
  if (cached < 0) cached = 0;
  const sreclaimable = node(NR_SLAB_RECLAIMABLE);
  const sunreclaim = node(NR_SLAB_UNRECLAIMABLE);
  const hugeTotal = extras.hugePagesTotal ?? 0;
  const hugeSizeKb = extras.hugepagesizeKb ?? a.geometry.hpagePmdNr * kbPerPage;
  const hugetlbPages = (hugeTotal * hugeSizeKb) / kbPerPage;
  const swapTotal = extras.swapTotalPages ?? 0;
  // vm_commit_limit()
  const commitLimit =
    (extras.overcommitKbytes
      ? Math.floor(extras.overcommitKbytes / kbPerPage)
      : Math.floor(((totalram - hugetlbPages) * (extras.overcommitRatio ?? 50)) / 100)) + swapTotal;

  kb('MemTotal', totalram);
  kb('MemFree', a.globalZoneState(NR_FREE_PAGES));
  kb('MemAvailable', siMemAvailable(a));
  kb('Buffers', bufferram);
  kb('Cached', cached);
  kb('SwapCached', swapcache);
  kb('Active', node(NR_ACTIVE_ANON) + node(NR_ACTIVE_FILE));
  kb('Inactive', node(NR_INACTIVE_ANON) + node(NR_INACTIVE_FILE));
  kb('Active(anon)', node(NR_ACTIVE_ANON));
  kb('Inactive(anon)', node(NR_INACTIVE_ANON));
  kb('Active(file)', node(NR_ACTIVE_FILE));
  kb('Inactive(file)', node(NR_INACTIVE_FILE));
  kb('Unevictable', node(NR_UNEVICTABLE));
  kb('Mlocked', a.globalZoneState(NR_MLOCK));
  kb('SwapTotal', swapTotal);
  kb('SwapFree', extras.swapFreePages ?? 0);
  kb('Dirty', node(NR_FILE_DIRTY));
  kb('Writeback', node(NR_WRITEBACK));
  kb('AnonPages', node(NR_ANON_MAPPED));
  kb('Mapped', node(NR_FILE_MAPPED));
  kb('Shmem', node(NR_SHMEM));
  kb('KReclaimable', sreclaimable + node(NR_KERNEL_MISC_RECLAIMABLE));
  kb('Slab', sreclaimable + sunreclaim);
  kb('SReclaimable', sreclaimable);
  kb('SUnreclaim', sunreclaim);
  rawKb('KernelStack', node(NR_KERNEL_STACK_KB));
  kb('PageTables', node(NR_PAGETABLE));
  kb('SecPageTables', node(NR_SECONDARY_PAGETABLE));
  kb('NFS_Unstable', 0);
  kb('Bounce', a.globalZoneState(NR_BOUNCE));
  kb('WritebackTmp', node(NR_WRITEBACK_TEMP));
  kb('CommitLimit', commitLimit);
  kb('Committed_AS', extras.committedAsPages ?? 0);
  rawKb('VmallocTotal', extras.vmallocTotalKb ?? 0);
  kb('VmallocUsed', extras.vmallocUsedPages ?? 0);
  kb('VmallocChunk', 0);
  kb('Percpu', extras.percpuPages ?? 0);
  if (KCONFIG.MEMORY_FAILURE)
    out.push({ name: 'HardwareCorrupted', value: (extras.hardwareCorruptedPages ?? 0) * kbPerPage, kind: 'hwcorrupt' });
  if (KCONFIG.TRANSPARENT_HUGEPAGE) {
    kb('AnonHugePages', node(NR_ANON_THPS));
    kb('ShmemHugePages', node(NR_SHMEM_THPS));
    kb('ShmemPmdMapped', node(NR_SHMEM_PMDMAPPED));
    kb('FileHugePages', node(NR_FILE_THPS));
    kb('FilePmdMapped', node(NR_FILE_PMDMAPPED));
  }
  if (KCONFIG.CMA) {
    kb('CmaTotal', a.totalcmaPages);
    kb('CmaFree', a.globalZoneState(NR_FREE_CMA_PAGES));
  }
  if (KCONFIG.MEMORY_METADATA) {
    kb('MetadataTotal', a.totalmetadataPages);
    kb('MetadataFree', a.globalZoneState(NR_FREE_METADATA_PAGES));
  }
  if (KCONFIG.HUGETLB_PAGE) {
    out.push({ name: 'HugePages_Total', value: hugeTotal, kind: 'count' });
    out.push({ name: 'HugePages_Free', value: extras.hugePagesFree ?? 0, kind: 'count' });
    out.push({ name: 'HugePages_Rsvd', value: extras.hugePagesRsvd ?? 0, kind: 'count' });
    out.push({ name: 'HugePages_Surp', value: extras.hugePagesSurp ?? 0, kind: 'count' });
    rawKb('Hugepagesize', hugeSizeKb);
    rawKb('Hugetlb', hugeTotal * hugeSizeKb);
  }
  return out;
}

/** meminfo as a name → value map (kB, or a count for HugePages_*), for scenario expectations. */
export function meminfoMap(a: PageAllocator, extras: MeminfoExtras = {}): Map<string, number> {
  return new Map(meminfoLines(a, extras).map((l) => [l.name, l.value]));
}
