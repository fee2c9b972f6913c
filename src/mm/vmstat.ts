/**
 * Counter name tables, declared once in the kernel's order (mm/vmstat.c `vmstat_text[]`, v6.5, plus the v1
 * series; kernel-facts §7.3 and §4.1). Every /proc/vmstat, /proc/zoneinfo and /proc/meminfo line is printed by
 * walking these tables; the model bumps counters through the index constants (typed arrays, no string maps).
 *
 * Config decisions (arm64 defconfig of v6.5, kernel-facts §9.5 leaves presence open; each is ours, [I]):
 * NUMA=y, NUMA_BALANCING=y, SWAP=y, MIGRATION=y, COMPACTION=y, HUGETLB_PAGE=y, CMA=y, TRANSPARENT_HUGEPAGE=y,
 * MEMORY_BALLOON=y + BALLOON_COMPACTION=y (VIRTIO_BALLOON), KSM=y, MEMORY_FAILURE=y; not set: ZSMALLOC, ZSWAP,
 * SHADOW_CALL_STACK, UNACCEPTED_MEMORY, ZONE_DEVICE, HIGHMEM, DEBUG_TLBFLUSH, PER_VMA_LOCK_STATS, and no
 * HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD on arm64. The v1 series adds MEMORY_METADATA=y. Checked against a stored
 * torvalds/linux arch/arm64/configs/defconfig (a later one; these lines are long-standing): NUMA, NUMA_BALANCING,
 * KSM, MEMORY_FAILURE, TRANSPARENT_HUGEPAGE and MEMORY_HOTPLUG are set; ZSWAP and ZONE_DEVICE are not.
 *
 * Counters the emulated mm never drives stay at 0, their honest value (README "not modelled"): the file LRU and
 * page-cache items (nr_*_file, nr_file_pages, nr_dirty, nr_writeback*, nr_shmem*, nr_file_*hugepages, nr_mapped,
 * workingset_*, nr_dirtied, nr_written, nr_throttled_written), nr_bounce, cma_alloc_* (CMA pageblocks exist when
 * boot declares CMA areas, nobody calls cma_alloc), nr_kernel_misc_reclaimable, nr_foll_pin_*, nr_sec_page_table_pages, pgpromote_*,
 * numa_interleave and every NUMA-balancing event, pginodesteal, slabs_scanned, kswapd_inodesteal, drop_*,
 * htlb_buddy_alloc_*, unevictable_pgs_*, thp_file_*, thp_collapse_*, thp_scan_exceed_*, balloon_*, ksm/cow_ksm,
 * swap_ra*, pglazyfree(d), pgdemote_*, *_khugepaged. Others (e.g. slab, kernel stack) are set by whoever models
 * them; this module only declares them.
 */

export const KCONFIG = Object.freeze({
  NUMA: true,
  NUMA_BALANCING: true,
  SWAP: true,
  MIGRATION: true,
  COMPACTION: true,
  HUGETLB_PAGE: true,
  CMA: true,
  MEMORY_METADATA: true,
  TRANSPARENT_HUGEPAGE: true,
  MEMORY_BALLOON: true,
  BALLOON_COMPACTION: true,
  KSM: true,
  MEMORY_FAILURE: true,
  ZSMALLOC: false,
  ZSWAP: false,
  SHADOW_CALL_STACK: false,
  UNACCEPTED_MEMORY: false,
  ZONE_DEVICE: false,
});

function when<T>(cond: boolean, items: readonly T[]): readonly T[] {
  return cond ? items : [];
}

/** enum zone_stat_item, with v1's NR_FREE_METADATA_PAGES after nr_free_cma / [nr_unaccepted] (§4.1). */
export const ZONE_STAT_NAMES = [
  'nr_free_pages',
  'nr_zone_inactive_anon',
  'nr_zone_active_anon',
  'nr_zone_inactive_file',
  'nr_zone_active_file',
  'nr_zone_unevictable',
  'nr_zone_write_pending',
  'nr_mlock',
  'nr_bounce',
  ...when(KCONFIG.ZSMALLOC, ['nr_zspages']),
  'nr_free_cma',
  ...when(KCONFIG.UNACCEPTED_MEMORY, ['nr_unaccepted']),
  'nr_free_metadata',
] as const;

/** enum numa_stat_item (CONFIG_NUMA). */
export const NUMA_STAT_NAMES = [
  'numa_hit',
  'numa_miss',
  'numa_foreign',
  'numa_interleave',
  'numa_local',
  'numa_other',
] as const;

/** enum node_stat_item. Values are pages except nr_kernel_stack (kB); the THP items are kept in pages and
 * printed in THP units (vmstat_item_print_in_thp). nr_slab_* are kept in pages here. */
export const NODE_STAT_NAMES = [
  'nr_inactive_anon',
  'nr_active_anon',
  'nr_inactive_file',
  'nr_active_file',
  'nr_unevictable',
  'nr_slab_reclaimable',
  'nr_slab_unreclaimable',
  'nr_isolated_anon',
  'nr_isolated_file',
  'workingset_nodes',
  'workingset_refault_anon',
  'workingset_refault_file',
  'workingset_activate_anon',
  'workingset_activate_file',
  'workingset_restore_anon',
  'workingset_restore_file',
  'workingset_nodereclaim',
  'nr_anon_pages',
  'nr_mapped',
  'nr_file_pages',
  'nr_dirty',
  'nr_writeback',
  'nr_writeback_temp',
  'nr_shmem',
  'nr_shmem_hugepages',
  'nr_shmem_pmdmapped',
  'nr_file_hugepages',
  'nr_file_pmdmapped',
  'nr_anon_transparent_hugepages',
  'nr_vmscan_write',
  'nr_vmscan_immediate_reclaim',
  'nr_dirtied',
  'nr_written',
  'nr_throttled_written',
  'nr_kernel_misc_reclaimable',
  'nr_foll_pin_acquired',
  'nr_foll_pin_released',
  'nr_kernel_stack',
  ...when(KCONFIG.SHADOW_CALL_STACK, ['nr_shadow_call_stack']),
  'nr_page_table_pages',
  'nr_sec_page_table_pages',
  ...when(KCONFIG.SWAP, ['nr_swapcached']),
  ...when(KCONFIG.NUMA_BALANCING, ['pgpromote_success', 'pgpromote_candidate']),
] as const;

/** Node items printed divided by HPAGE_PMD_NR (mm/vmstat.c vmstat_item_print_in_thp). */
export const NODE_STAT_IN_THP: readonly string[] = [
  'nr_shmem_hugepages',
  'nr_shmem_pmdmapped',
  'nr_file_hugepages',
  'nr_file_pmdmapped',
  'nr_anon_transparent_hugepages',
];

/** enum writeback_stat_item. */
export const WRITEBACK_STAT_NAMES = ['nr_dirty_threshold', 'nr_dirty_background_threshold'] as const;

/** Zone names in zone_idx order (arm64: DMA, DMA32, Normal, Movable; no HighMem, no Device). */
export const ZONE_NAMES = ['DMA', 'DMA32', 'Normal', 'Movable'] as const;
const ZONE_SUFFIXES = ['dma', 'dma32', 'normal', 'movable'] as const;
const forAllZones = (prefix: string): string[] => ZONE_SUFFIXES.map((z) => `${prefix}_${z}`);

/** enum vm_event_item (include/linux/vm_event_item.h), v6.5 order + v1's metadata_reserve_* (§4.1). */
export const VM_EVENT_NAMES = [
  'pgpgin',
  'pgpgout',
  'pswpin',
  'pswpout',
  ...forAllZones('pgalloc'),
  ...forAllZones('allocstall'),
  ...forAllZones('pgskip'),
  'pgfree',
  'pgactivate',
  'pgdeactivate',
  'pglazyfree',
  'pgfault',
  'pgmajfault',
  'pglazyfreed',
  'pgrefill',
  'pgreuse',
  'pgsteal_kswapd',
  'pgsteal_direct',
  'pgsteal_khugepaged',
  'pgdemote_kswapd',
  'pgdemote_direct',
  'pgdemote_khugepaged',
  'pgscan_kswapd',
  'pgscan_direct',
  'pgscan_khugepaged',
  'pgscan_direct_throttle',
  'pgscan_anon',
  'pgscan_file',
  'pgsteal_anon',
  'pgsteal_file',
  ...when(KCONFIG.NUMA, ['zone_reclaim_failed']),
  'pginodesteal',
  'slabs_scanned',
  'kswapd_inodesteal',
  'kswapd_low_wmark_hit_quickly',
  'kswapd_high_wmark_hit_quickly',
  'pageoutrun',
  'pgrotated',
  'drop_pagecache',
  'drop_slab',
  'oom_kill',
  ...when(KCONFIG.NUMA_BALANCING, [
    'numa_pte_updates',
    'numa_huge_pte_updates',
    'numa_hint_faults',
    'numa_hint_faults_local',
    'numa_pages_migrated',
  ]),
  ...when(KCONFIG.MIGRATION, [
    'pgmigrate_success',
    'pgmigrate_fail',
    'thp_migration_success',
    'thp_migration_fail',
    'thp_migration_split',
  ]),
  ...when(KCONFIG.COMPACTION, [
    'compact_migrate_scanned',
    'compact_free_scanned',
    'compact_isolated',
    'compact_stall',
    'compact_fail',
    'compact_success',
    'compact_daemon_wake',
    'compact_daemon_migrate_scanned',
    'compact_daemon_free_scanned',
  ]),
  ...when(KCONFIG.HUGETLB_PAGE, ['htlb_buddy_alloc_success', 'htlb_buddy_alloc_fail']),
  ...when(KCONFIG.CMA, ['cma_alloc_success', 'cma_alloc_fail']),
  ...when(KCONFIG.MEMORY_METADATA, ['metadata_reserve_success', 'metadata_reserve_fail', 'metadata_reserve_free']),
  'unevictable_pgs_culled',
  'unevictable_pgs_scanned',
  'unevictable_pgs_rescued',
  'unevictable_pgs_mlocked',
  'unevictable_pgs_munlocked',
  'unevictable_pgs_cleared',
  'unevictable_pgs_stranded',
  ...when(KCONFIG.TRANSPARENT_HUGEPAGE, [
    'thp_fault_alloc',
    'thp_fault_fallback',
    'thp_fault_fallback_charge',
    'thp_collapse_alloc',
    'thp_collapse_alloc_failed',
    'thp_file_alloc',
    'thp_file_fallback',
    'thp_file_fallback_charge',
    'thp_file_mapped',
    'thp_split_page',
    'thp_split_page_failed',
    'thp_deferred_split_page',
    'thp_split_pmd',
    'thp_scan_exceed_none_pte',
    'thp_scan_exceed_swap_pte',
    'thp_scan_exceed_share_pte',
    'thp_zero_page_alloc',
    'thp_zero_page_alloc_failed',
    'thp_swpout',
    'thp_swpout_fallback',
  ]),
  ...when(KCONFIG.MEMORY_BALLOON, ['balloon_inflate', 'balloon_deflate']),
  ...when(KCONFIG.MEMORY_BALLOON && KCONFIG.BALLOON_COMPACTION, ['balloon_migrate']),
  ...when(KCONFIG.SWAP, ['swap_ra', 'swap_ra_hit']),
  ...when(KCONFIG.SWAP && KCONFIG.KSM, ['ksm_swpin_copy']),
  ...when(KCONFIG.KSM, ['cow_ksm']),
  ...when(KCONFIG.ZSWAP, ['zswpin', 'zswpout']),
] as const;

function indexTable(names: readonly string[]): Readonly<Record<string, number>> {
  const o: Record<string, number> = {};
  names.forEach((n, i) => (o[n] = i));
  return Object.freeze(o);
}

/** Name → index tables (for scenario `expect vmstat.x` and for setting up constants below). */
export const ZONE_STAT = indexTable(ZONE_STAT_NAMES);
export const NUMA_STAT = indexTable(NUMA_STAT_NAMES);
export const NODE_STAT = indexTable(NODE_STAT_NAMES);
export const VM_EVENT = indexTable(VM_EVENT_NAMES);

function idx(table: Readonly<Record<string, number>>, name: string): number {
  const i = table[name];
  if (i === undefined) throw new Error(`vmstat: no counter ${name}`);
  return i;
}

export const NR_VM_ZONE_STAT_ITEMS = ZONE_STAT_NAMES.length;
export const NR_VM_NUMA_EVENT_ITEMS = NUMA_STAT_NAMES.length;
export const NR_VM_NODE_STAT_ITEMS = NODE_STAT_NAMES.length;
export const NR_VM_EVENT_ITEMS = VM_EVENT_NAMES.length;

// Zone stat indices used by the allocator and others.
export const NR_FREE_PAGES = idx(ZONE_STAT, 'nr_free_pages');
export const NR_ZONE_INACTIVE_ANON = idx(ZONE_STAT, 'nr_zone_inactive_anon');
export const NR_ZONE_ACTIVE_ANON = idx(ZONE_STAT, 'nr_zone_active_anon');
export const NR_ZONE_UNEVICTABLE = idx(ZONE_STAT, 'nr_zone_unevictable');
export const NR_MLOCK = idx(ZONE_STAT, 'nr_mlock');
export const NR_BOUNCE = idx(ZONE_STAT, 'nr_bounce');
export const NR_FREE_CMA_PAGES = idx(ZONE_STAT, 'nr_free_cma');
export const NR_FREE_METADATA_PAGES = idx(ZONE_STAT, 'nr_free_metadata');

export const NUMA_HIT = idx(NUMA_STAT, 'numa_hit');
export const NUMA_MISS = idx(NUMA_STAT, 'numa_miss');
export const NUMA_FOREIGN = idx(NUMA_STAT, 'numa_foreign');
export const NUMA_LOCAL = idx(NUMA_STAT, 'numa_local');
export const NUMA_OTHER = idx(NUMA_STAT, 'numa_other');

export const NR_INACTIVE_ANON = idx(NODE_STAT, 'nr_inactive_anon');
export const NR_ACTIVE_ANON = idx(NODE_STAT, 'nr_active_anon');
export const NR_INACTIVE_FILE = idx(NODE_STAT, 'nr_inactive_file');
export const NR_ACTIVE_FILE = idx(NODE_STAT, 'nr_active_file');
export const NR_UNEVICTABLE = idx(NODE_STAT, 'nr_unevictable');
export const NR_SLAB_RECLAIMABLE = idx(NODE_STAT, 'nr_slab_reclaimable');
export const NR_SLAB_UNRECLAIMABLE = idx(NODE_STAT, 'nr_slab_unreclaimable');
export const NR_ISOLATED_ANON = idx(NODE_STAT, 'nr_isolated_anon');
export const NR_ANON_MAPPED = idx(NODE_STAT, 'nr_anon_pages');
export const NR_FILE_MAPPED = idx(NODE_STAT, 'nr_mapped');
export const NR_FILE_PAGES = idx(NODE_STAT, 'nr_file_pages');
export const NR_FILE_DIRTY = idx(NODE_STAT, 'nr_dirty');
export const NR_WRITEBACK = idx(NODE_STAT, 'nr_writeback');
export const NR_WRITEBACK_TEMP = idx(NODE_STAT, 'nr_writeback_temp');
export const NR_SHMEM = idx(NODE_STAT, 'nr_shmem');
export const NR_SHMEM_THPS = idx(NODE_STAT, 'nr_shmem_hugepages');
export const NR_SHMEM_PMDMAPPED = idx(NODE_STAT, 'nr_shmem_pmdmapped');
export const NR_FILE_THPS = idx(NODE_STAT, 'nr_file_hugepages');
export const NR_FILE_PMDMAPPED = idx(NODE_STAT, 'nr_file_pmdmapped');
export const NR_ANON_THPS = idx(NODE_STAT, 'nr_anon_transparent_hugepages');
export const NR_KERNEL_MISC_RECLAIMABLE = idx(NODE_STAT, 'nr_kernel_misc_reclaimable');
export const NR_KERNEL_STACK_KB = idx(NODE_STAT, 'nr_kernel_stack');
export const NR_PAGETABLE = idx(NODE_STAT, 'nr_page_table_pages');
export const NR_SECONDARY_PAGETABLE = idx(NODE_STAT, 'nr_sec_page_table_pages');
export const NR_SWAPCACHE = idx(NODE_STAT, 'nr_swapcached');

// Event indices.
export const PGALLOC_DMA = idx(VM_EVENT, 'pgalloc_dma'); // + zone_idx gives the zone's pgalloc_* counter
export const ALLOCSTALL_DMA = idx(VM_EVENT, 'allocstall_dma');
export const PGSKIP_DMA = idx(VM_EVENT, 'pgskip_dma');
export const PGFREE = idx(VM_EVENT, 'pgfree');
export const PGFAULT = idx(VM_EVENT, 'pgfault');
export const PGMAJFAULT = idx(VM_EVENT, 'pgmajfault');
export const PGPGIN = idx(VM_EVENT, 'pgpgin');
export const PGPGOUT = idx(VM_EVENT, 'pgpgout');
export const PSWPIN = idx(VM_EVENT, 'pswpin');
export const PSWPOUT = idx(VM_EVENT, 'pswpout');
export const OOM_KILL = idx(VM_EVENT, 'oom_kill');
export const PGMIGRATE_SUCCESS = idx(VM_EVENT, 'pgmigrate_success');
export const PGMIGRATE_FAIL = idx(VM_EVENT, 'pgmigrate_fail');
export const METADATA_RESERVE_SUCCESS = idx(VM_EVENT, 'metadata_reserve_success');
export const METADATA_RESERVE_FAIL = idx(VM_EVENT, 'metadata_reserve_fail');
export const METADATA_RESERVE_FREE = idx(VM_EVENT, 'metadata_reserve_free');

/** Global event counters (vm_event_states summed over cpus; the emulator keeps one array). */
export class VmEvents {
  readonly v = new Float64Array(NR_VM_EVENT_ITEMS);

  /** count_vm_events(item, delta). */
  count(item: number, delta = 1): void {
    this.v[item] = (this.v[item] as number) + delta;
  }

  get(item: number): number {
    return this.v[item] ?? 0;
  }

  byName(name: string): number | undefined {
    const i = VM_EVENT[name];
    return i === undefined ? undefined : (this.v[i] ?? 0);
  }
}
