/**
 * The OOM killer (mm/oom_kill.c, v6.5) and show_mem (mm/show_mem.c, v6.5 + v1 patch 5), called from the
 * allocator's slow path (__alloc_pages_may_oom) when reclaim made no progress.
 *
 * Victim choice as oom_badness(): rss (MM_ANONPAGES + MM_FILEPAGES + MM_SHMEMPAGES) + MM_SWAPENTS +
 * mm_pgtables_bytes / PAGE_SIZE + oom_score_adj * totalpages / 1000 (oom_score_adj is 0 for every task here);
 * kernel threads and init are never chosen; tasks are walked in pid order (for_each_process) and a task whose
 * points equal the chosen one's replaces it (oom_evaluate_task skips only `points < oc->chosen_points`).
 *
 * The report, line by line, with the format strings of v6.5 (verified with the search tool in mm/oom_kill.c
 * and mm/show_mem.c builds and patches; kernel-facts §4.1 for the series' line):
 *   pr_warn  "%s invoked oom-killer: gfp_mask=%#x(%pGg), order=%d, oom_score_adj=%hd"
 *   (dump_stack(): not modelled — no call trace is printed)
 *   __show_mem: "Mem-Info:", show_free_areas (the global line, "Node %d ..." per node, one line per zone with
 *            "lowmem_reserve[]:", one buddy line per zone, hugetlb per node, "%ld total pagecache pages",
 *            show_swap_cache_info), then "%lu pages RAM", "%lu pages HighMem/MovableOnly", "%lu pages reserved",
 *            "%lu pages cma reserved", v1: "%lu pages metadata reserved", "%lu pages hwpoisoned"
 *   pr_info  "Tasks state (memory values in pages):"
 *   pr_info  "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name"
 *   pr_info  "[%7d] %5d %5d %8lu %8lu %8ld %8lu         %5hd %s"     (dump_task, one per task)
 *   pr_info  "oom-kill:constraint=%s,nodemask=%*pbl" + cpuset + memcg context + ",task=%s,pid=%d,uid=%d"
 *   pr_err   "%s: Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB,
 *             UID:%u pgtables:%lukB oom_score_adj:%hd"   (message "Out of memory")
 *   pr_info  "oom_reaper: reaped process %d (%s), now anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB"
 * The cpuset/memcg fields (",cpuset=/,mems_allowed=0,global_oom,task_memcg=/") are what a kernel with
 * CONFIG_CPUSETS and CONFIG_MEMCG prints for tasks in the root groups [I]. show_free_areas' plain printk lines
 * use the default loglevel (warning).
 */
import type { KernelLog } from '../sim/log.js';
import {
  __GFP_ACCOUNT,
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_FS,
  __GFP_HARDWALL,
  __GFP_HIGH,
  __GFP_HIGHMEM,
  __GFP_IO,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_NOFAIL,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIMABLE,
  __GFP_RETRY_MAYFAIL,
  __GFP_TAGGED,
  __GFP_THISNODE,
  __GFP_WRITE,
  __GFP_ZERO,
  gfpZone,
} from './gfp.js';
import type { PageAllocator } from './page_alloc.js';
import type { SwapState } from './swapfile.js';
import { KCONFIG, NODE_STAT, OOM_KILL, ZONE_STAT } from './vmstat.js';
import { MAX_RECLAIM_RETRIES, MIGRATE_TYPES, WMARK_HIGH, WMARK_LOW, WMARK_MIN, ZONE_NORMAL } from './zone.js';

/** PAGE_ALLOC_COSTLY_ORDER: __alloc_pages_may_oom never invokes the OOM killer above it. */
const PAGE_ALLOC_COSTLY_ORDER = 3;

/** The v6.5 values of the ___GFP_* bits (include/linux/gfp_types.h; no KASAN_HW_TAGS, no LOCKDEP). */
const KERNEL_GFP: readonly [number, number][] = [
  [__GFP_DMA, 0x01],
  [__GFP_HIGHMEM, 0x02],
  [__GFP_DMA32, 0x04],
  [__GFP_MOVABLE, 0x08],
  [__GFP_RECLAIMABLE, 0x10],
  [__GFP_HIGH, 0x20],
  [__GFP_IO, 0x40],
  [__GFP_FS, 0x80],
  [__GFP_ZERO, 0x100],
  [__GFP_DIRECT_RECLAIM, 0x400],
  [__GFP_KSWAPD_RECLAIM, 0x800],
  [__GFP_WRITE, 0x1000],
  [__GFP_NOWARN, 0x2000],
  [__GFP_RETRY_MAYFAIL, 0x4000],
  [__GFP_NOFAIL, 0x8000],
  [__GFP_NORETRY, 0x10000],
  [__GFP_MEMALLOC, 0x20000],
  [__GFP_COMP, 0x40000],
  [__GFP_NOMEMALLOC, 0x80000],
  [__GFP_HARDWALL, 0x100000],
  [__GFP_THISNODE, 0x200000],
  [__GFP_ACCOUNT, 0x400000],
  [__GFP_TAGGED, 0x800000],
];

/** The emulator's gfp bits as the kernel's gfp_t value. */
export function kernelGfp(gfp: number): number {
  let k = 0;
  for (const [ours, theirs] of KERNEL_GFP) if (gfp & ours) k |= theirs;
  return k >>> 0;
}

/**
 * __def_gfpflag_names of include/trace/events/mmflags.h (v6.5, with v1 patch 3's __GFP_TAGGED), in order: %pGg
 * prints each name whose bits are all still set and removes them, then any leftover bits as hex.
 */
const GFP_NAMES: readonly [number, string][] = (() => {
  const DIRECT = 0x400;
  const KSWAPD = 0x800;
  const RECLAIM = DIRECT | KSWAPD;
  const IO = 0x40;
  const FS = 0x80;
  const USER = RECLAIM | IO | FS | 0x100000;
  const HIGHUSER = USER | 0x02;
  const HIGHUSER_MOVABLE = HIGHUSER | 0x08;
  const TRANSHUGE_LIGHT = (HIGHUSER_MOVABLE | 0x40000 | 0x80000 | 0x2000) & ~RECLAIM;
  const KERNEL = RECLAIM | IO | FS;
  return [
    [TRANSHUGE_LIGHT | DIRECT, 'GFP_TRANSHUGE'],
    [TRANSHUGE_LIGHT, 'GFP_TRANSHUGE_LIGHT'],
    [HIGHUSER_MOVABLE, 'GFP_HIGHUSER_MOVABLE'],
    [HIGHUSER, 'GFP_HIGHUSER'],
    [USER, 'GFP_USER'],
    [KERNEL | 0x400000, 'GFP_KERNEL_ACCOUNT'],
    [KERNEL, 'GFP_KERNEL'],
    [RECLAIM | IO, 'GFP_NOFS'],
    [0x20 | KSWAPD, 'GFP_ATOMIC'],
    [RECLAIM, 'GFP_NOIO'],
    [KSWAPD, 'GFP_NOWAIT'],
    [0x01, 'GFP_DMA'],
    [0x02, '__GFP_HIGHMEM'],
    [0x04, 'GFP_DMA32'],
    [0x20, '__GFP_HIGH'],
    [IO, '__GFP_IO'],
    [FS, '__GFP_FS'],
    [0x2000, '__GFP_NOWARN'],
    [0x4000, '__GFP_RETRY_MAYFAIL'],
    [0x8000, '__GFP_NOFAIL'],
    [0x10000, '__GFP_NORETRY'],
    [0x40000, '__GFP_COMP'],
    [0x100, '__GFP_ZERO'],
    [0x80000, '__GFP_NOMEMALLOC'],
    [0x20000, '__GFP_MEMALLOC'],
    [0x100000, '__GFP_HARDWALL'],
    [0x200000, '__GFP_THISNODE'],
    [0x10, '__GFP_RECLAIMABLE'],
    [0x08, '__GFP_MOVABLE'],
    [0x400000, '__GFP_ACCOUNT'],
    [0x1000, '__GFP_WRITE'],
    [RECLAIM, '__GFP_RECLAIM'],
    [DIRECT, '__GFP_DIRECT_RECLAIM'],
    [KSWAPD, '__GFP_KSWAPD_RECLAIM'],
    [0x800000, '__GFP_TAGGED'],
  ];
})();

/** `%#x(%pGg)` of a kernel gfp_t value (lib/vsprintf.c format_flags; "none" for 0). */
export function formatGfp(k: number): string {
  const hex = k === 0 ? '0' : `0x${k.toString(16)}`;
  if (k === 0) return `${hex}(none)`;
  let rest = k;
  const parts: string[] = [];
  for (const [mask, name] of GFP_NAMES) {
    if ((rest & mask) !== mask || mask === 0) continue;
    parts.push(name);
    rest &= ~mask;
    if (rest === 0) break;
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return `${hex}(${parts.join('|')})`;
}

/** One task as the OOM killer sees it (all sizes in pages except pgtablesBytes). */
export interface OomTask {
  pid: number;
  tgid: number;
  uid: number;
  comm: string;
  totalVm: number;
  anonRss: number;
  fileRss: number;
  shmemRss: number;
  swapents: number;
  pgtablesBytes: number;
  oomScoreAdj: number;
}

/** The tasks and the power to kill them (the process layer, src/process/swap.ts). */
export interface OomTasks {
  /** User tasks with an mm, in pid order (kernel threads are never candidates). */
  tasks(): OomTask[];
  /** The allocating task (`current`). */
  currentTask(): { pid: number; comm: string; oomScoreAdj: number };
  /**
   * SIGKILL + the OOM reaper. Returns true if the victim's memory was freed now; false if the victim is the
   * allocating task itself, whose memory returns when the current operation ends (exit on the way to user).
   */
  kill(pid: number): boolean;
}

const K = (pages: number, pageSize: number): number => (pages * pageSize) / 1024;

export class OomKiller {
  /** A victim killed but not yet reaped (the allocating task itself): no new victim is chosen meanwhile. */
  pendingVictim = -1;
  /** Kills so far (also vmstat oom_kill). */
  kills = 0;

  constructor(
    readonly alloc: PageAllocator,
    readonly log: KernelLog,
    readonly swap: SwapState,
    public tasks: OomTasks | undefined,
  ) {}

  /** Installs outOfMemory as the allocator's slow-path hook. */
  install(): void {
    this.alloc.hooks.outOfMemory = (order, gfp) => this.allocPagesMayOom(order, gfp);
  }

  /**
   * __alloc_pages_may_oom(): no OOM kill for costly orders, __GFP_RETRY_MAYFAIL, __GFP_THISNODE or requests
   * limited to zones below ZONE_NORMAL; out_of_memory() returns without killing for !__GFP_FS requests. Returns
   * true when memory was freed and the allocation should retry.
   */
  allocPagesMayOom(order: number, gfp: number): boolean {
    if (order > PAGE_ALLOC_COSTLY_ORDER) return false;
    if (gfp & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE)) return false;
    // "The OOM killer does not needlessly kill tasks for lowmem" (ac->highest_zoneidx < ZONE_NORMAL).
    if (gfpZone(gfp) < ZONE_NORMAL) return false;
    if (!(gfp & __GFP_FS)) return false;
    return this.outOfMemory(order, gfp);
  }

  /** oom_badness(). */
  badness(t: OomTask, totalpages: number): number {
    const ps = this.alloc.geometry.pageSize;
    const adj = t.oomScoreAdj * Math.floor(totalpages / 1000);
    return t.anonRss + t.fileRss + t.shmemRss + t.swapents + Math.floor(t.pgtablesBytes / ps) + adj;
  }

  /** out_of_memory(): choose, report, kill. */
  outOfMemory(order: number, gfp: number): boolean {
    const src = this.tasks;
    if (src === undefined) return false;
    // oom_evaluate_task aborts while an earlier victim has not released its memory yet.
    if (this.pendingVictim >= 0) return false;
    const totalpages = this.alloc.totalramPages() + this.swap.totalPages;
    const tasks = src.tasks();
    let victim: OomTask | undefined;
    let best = -Infinity;
    for (const t of tasks) {
      const pts = this.badness(t, totalpages);
      if (pts >= best) {
        best = pts;
        victim = t;
      }
    }
    this.dumpHeader(order, gfp, tasks, victim);
    if (victim === undefined) {
      // The kernel panics here ("System is deadlocked on memory"); the emulator lets the allocation fail.
      this.log.warn('Out of memory and no killable processes...');
      return false;
    }
    return this.oomKillProcess(victim);
  }

  private dumpHeader(order: number, gfp: number, tasks: OomTask[], victim: OomTask | undefined): void {
    const log = this.log;
    const cur = this.tasks!.currentTask();
    log.warn(
      `${cur.comm} invoked oom-killer: gfp_mask=${formatGfp(kernelGfp(gfp))}, order=${order}, oom_score_adj=${cur.oomScoreAdj}`,
    );
    for (const line of this.showMem(gfpZone(gfp))) log.warn(line);
    log.info('Tasks state (memory values in pages):');
    log.info('[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name');
    for (const t of tasks) {
      const rss = t.anonRss + t.fileRss + t.shmemRss;
      log.info(
        `[${pad(t.pid, 7)}] ${pad(t.uid, 5)} ${pad(t.tgid, 5)} ${pad(t.totalVm, 8)} ${pad(rss, 8)} ` +
          `${pad(t.pgtablesBytes, 8)} ${pad(t.swapents, 8)}         ${pad(t.oomScoreAdj, 5)} ${t.comm}`,
      );
    }
    if (victim !== undefined) {
      log.info(
        `oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=${this.memsAllowed()},` +
          `global_oom,task_memcg=/,task=${victim.comm},pid=${victim.pid},uid=${victim.uid}`,
      );
    }
  }

  /** %*pbl of the online nodes with memory (e.g. "0" or "0-1"). */
  private memsAllowed(): string {
    const ids = this.alloc.nodes.filter((n) => n.hasMemory).map((n) => n.nodeId);
    const out: string[] = [];
    for (let i = 0; i < ids.length;) {
      let j = i;
      while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++;
      out.push(j > i ? `${ids[i]}-${ids[j]}` : `${ids[i]}`);
      i = j + 1;
    }
    return out.join(',');
  }

  /** __oom_kill_process(): count, log, SIGKILL, reap. */
  private oomKillProcess(v: OomTask): boolean {
    const ps = this.alloc.geometry.pageSize;
    this.alloc.events.count(OOM_KILL);
    this.kills++;
    this.log.err(
      `Out of memory: Killed process ${v.pid} (${v.comm}) total-vm:${K(v.totalVm, ps)}kB, ` +
        `anon-rss:${K(v.anonRss, ps)}kB, file-rss:${K(v.fileRss, ps)}kB, shmem-rss:${K(v.shmemRss, ps)}kB, ` +
        `UID:${v.uid} pgtables:${Math.floor(v.pgtablesBytes / 1024)}kB oom_score_adj:${v.oomScoreAdj}`,
    );
    const freedNow = this.tasks!.kill(v.pid);
    if (!freedNow) {
      this.pendingVictim = v.pid;
      return false;
    }
    this.reaped(v);
    return true;
  }

  /** The oom_reaper's line once the victim's address space is torn down. */
  reaped(v: { pid: number; comm: string }): void {
    if (this.pendingVictim === v.pid) this.pendingVictim = -1;
    this.log.info(`oom_reaper: reaped process ${v.pid} (${v.comm}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB`);
  }

  /** __show_mem(SHOW_MEM_FILTER_NODES, NULL, max_zone_idx): the lines, in order. */
  showMem(maxZoneIdx: number): string[] {
    const a = this.alloc;
    const ps = a.geometry.pageSize;
    const k = (p: number): number => K(p, ps);
    const out: string[] = ['Mem-Info:'];
    const zones = a.zones.filter((z) => z.populated && z.idx <= maxZoneIdx);
    const node = (name: string): number => {
      let s = 0;
      for (const n of a.nodes) s += n.state(NODE_STAT[name]!);
      return s;
    };
    const zoneSum = (name: string): number => {
      let s = 0;
      for (const z of a.zones) s += z.state(ZONE_STAT[name]!);
      return s;
    };
    let freePcp = 0;
    for (const z of zones) freePcp += z.pcpPages();
    out.push(
      `active_anon:${node('nr_active_anon')} inactive_anon:${node('nr_inactive_anon')} isolated_anon:${node('nr_isolated_anon')}`,
      ` active_file:${node('nr_active_file')} inactive_file:${node('nr_inactive_file')} isolated_file:${node('nr_isolated_file')}`,
      ` unevictable:${node('nr_unevictable')} dirty:${node('nr_dirty')} writeback:${node('nr_writeback')}`,
      ` slab_reclaimable:${node('nr_slab_reclaimable')} slab_unreclaimable:${node('nr_slab_unreclaimable')}`,
      ` mapped:${node('nr_mapped')} shmem:${node('nr_shmem')} pagetables:${node('nr_page_table_pages')}`,
      ` sec_pagetables:${node('nr_sec_page_table_pages')} bounce:${zoneSum('nr_bounce')}`,
      ` kernel_misc_reclaimable:${node('nr_kernel_misc_reclaimable')}`,
      ` free:${zoneSum('nr_free_pages')} free_pcp:${freePcp} free_cma:${zoneSum('nr_free_cma')}`,
    );
    for (const n of a.nodes) {
      if (!n.zones.some((z) => z.idx <= maxZoneIdx && z.managedPages > 0)) continue;
      const s = (name: string): number => k(n.state(NODE_STAT[name]!));
      out.push(
        `Node ${n.nodeId} active_anon:${s('nr_active_anon')}kB inactive_anon:${s('nr_inactive_anon')}kB` +
          ` active_file:${s('nr_active_file')}kB inactive_file:${s('nr_inactive_file')}kB` +
          ` unevictable:${s('nr_unevictable')}kB isolated(anon):${s('nr_isolated_anon')}kB` +
          ` isolated(file):${s('nr_isolated_file')}kB mapped:${s('nr_mapped')}kB dirty:${s('nr_dirty')}kB` +
          ` writeback:${s('nr_writeback')}kB shmem:${s('nr_shmem')}kB` +
          (KCONFIG.TRANSPARENT_HUGEPAGE
            ? ` shmem_thp:${s('nr_shmem_hugepages')}kB shmem_pmdmapped:${s('nr_shmem_pmdmapped')}kB` +
              ` anon_thp:${s('nr_anon_transparent_hugepages')}kB`
            : '') +
          ` writeback_tmp:${s('nr_writeback_temp')}kB kernel_stack:${n.state(NODE_STAT['nr_kernel_stack']!)}kB` +
          ` pagetables:${s('nr_page_table_pages')}kB sec_pagetables:${s('nr_sec_page_table_pages')}kB` +
          ` all_unreclaimable? ${n.kswapdFailures >= MAX_RECLAIM_RETRIES ? 'yes' : 'no'}`,
      );
    }
    const numa = KCONFIG.NUMA ? (nid: number): string => `Node ${nid} ` : (): string => '';
    for (const z of zones) {
      const s = (name: string): number => k(z.state(ZONE_STAT[name]!));
      const localPcp = z.pcp[a.cpu]?.count ?? 0;
      out.push(
        `${numa(z.nid)}${z.name} free:${s('nr_free_pages')}kB boost:${k(z.watermarkBoost)}kB` +
          ` min:${k(z.wmarkPages(WMARK_MIN))}kB low:${k(z.wmarkPages(WMARK_LOW))}kB high:${k(z.wmarkPages(WMARK_HIGH))}kB` +
          ` reserved_highatomic:${k(z.nrReservedHighatomic)}KB active_anon:${s('nr_zone_active_anon')}kB` +
          ` inactive_anon:${s('nr_zone_inactive_anon')}kB active_file:${s('nr_zone_active_file')}kB` +
          ` inactive_file:${s('nr_zone_inactive_file')}kB unevictable:${s('nr_zone_unevictable')}kB` +
          ` writepending:${s('nr_zone_write_pending')}kB present:${k(z.presentPages)}kB managed:${k(z.managedPages)}kB` +
          ` mlocked:${s('nr_mlock')}kB bounce:${s('nr_bounce')}kB free_pcp:${k(z.pcpPages())}kB` +
          ` local_pcp:${k(localPcp)}kB free_cma:${s('nr_free_cma')}kB`,
      );
      out.push(`lowmem_reserve[]:${[...z.lowmemReserve].map((r) => ` ${r}`).join('')}`);
    }
    for (const z of zones) {
      let line = `${numa(z.nid)}${z.name}: `;
      let total = 0;
      for (let order = 0; order < z.nrFree.length; order++) {
        const nr = z.nrFree[order]!;
        total += nr * 2 ** order;
        line += `${nr}*${k(2 ** order)}kB `;
        if (nr > 0) line += `(${migrationTypes(z, order)}) `;
      }
      out.push(`${line}= ${k(total)}kB`);
    }
    if (KCONFIG.HUGETLB_PAGE) {
      for (const n of a.nodes) {
        for (const size of hugepageSizesKb(ps)) {
          out.push(`Node ${n.nodeId} hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=${size}kB`);
        }
      }
    }
    out.push(`${node('nr_file_pages')} total pagecache pages`);
    // show_swap_cache_info(); the swap cache is bypassed (synchronous device), so it holds nothing.
    out.push(`${node('nr_swapcached')} pages in swap cache`);
    out.push(`Free swap  = ${k(this.swap.freePages)}kB`);
    out.push(`Total swap = ${k(this.swap.totalPages)}kB`);
    let total = 0;
    let reserved = 0;
    for (const z of a.zones) {
      if (!z.populated) continue;
      total += z.presentPages;
      reserved += z.presentPages - z.managedPages;
    }
    out.push(`${total} pages RAM`);
    out.push('0 pages HighMem/MovableOnly');
    out.push(`${reserved} pages reserved`);
    if (KCONFIG.CMA) out.push(`${a.totalcmaPages} pages cma reserved`);
    // v1 patch 5 (kernel-facts §4.1): right after the CMA line.
    if (KCONFIG.MEMORY_METADATA) out.push(`${a.totalmetadataPages} pages metadata reserved`);
    if (KCONFIG.MEMORY_FAILURE) out.push('0 pages hwpoisoned');
    return out;
  }
}

/**
 * show_migration_types(): one letter per non-empty free list at the order. v1 adds MIGRATE_METADATA between CMA and
 * ISOLATE without a letter [I: no name was found in the series], so its slot in the char array is NUL and ends the
 * printed string there.
 */
const MT_CHARS = ['U', 'M', 'E', 'H', 'C', '', 'I'];
function migrationTypes(z: { freeListCount(order: number, mt: number): number }, order: number): string {
  let s = '';
  for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
    if (z.freeListCount(order, mt) === 0) continue;
    const c = MT_CHARS[mt] ?? '';
    if (c === '') return s;
    s += c;
  }
  return s;
}

/**
 * arm64 hstates in hugetlbpage_init() registration order [I]: PUD (4K pages only), CONT_PMD, PMD, CONT_PTE.
 * Sizes in kB for the page size.
 */
function hugepageSizesKb(pageSize: number): number[] {
  if (pageSize === 4096) return [1048576, 32768, 2048, 64];
  if (pageSize === 16384) return [1048576, 32768, 2048];
  return [16777216, 524288, 2048];
}

function pad(v: number, w: number): string {
  return String(v).padStart(w, ' ');
}
