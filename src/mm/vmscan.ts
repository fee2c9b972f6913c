/**
 * Page reclaim (mm/vmscan.c, v6.5) for anonymous memory: kswapd-like background reclaim when an allocation finds
 * a zone below its low watermark (balanced until the high watermark), and direct reclaim when an allocation
 * fails, both driven by the allocator's slow-path hooks (page_alloc.ts SlowpathHooks).
 *
 * ## The LRU (a documented approximation)
 * The kernel keeps per-lruvec active/inactive lists. The emulator keeps no per-page list (the memmap budget is
 * 16 bytes per page): it sweeps anon pages in pfn order with a persistent hand (a CLOCK), and uses the PTE young
 * bits as the reference bit, as folio_referenced()/folio_check_references() do: a referenced page has its young
 * bits cleared and is kept (second chance); an unreferenced one is reclaimed. Only anonymous pages exist (no page
 * cache), so reclaim needs swap space (can_reclaim_anon_pages). The page itself is unmapped and written out by the
 * ReclaimTarget (src/process/swap.ts: try_to_unmap + swap_writepage).
 *
 * ## Counters (kernel-facts §7.3)
 * pgscan_kswapd / pgscan_direct and pgscan_anon count the anon pages scanned; pgsteal_kswapd / pgsteal_direct
 * and pgsteal_anon the pages reclaimed (shrink_inactive_list); allocstall_<zone> once per direct reclaim
 * (do_try_to_free_pages: __count_zid_vm_events(ALLOCSTALL, sc->reclaim_idx, 1)); pageoutrun once per
 * balance_pgdat priority pass. pgdat->kswapd_failures counts kswapd runs that reclaimed nothing; at
 * MAX_RECLAIM_RETRIES the node is hopeless and kswapd is no longer woken (wakeup_kswapd), and a successful direct
 * reclaim resets it (shrink_node). kswapd_*_wmark_hit_quickly stay 0: kswapd never goes to sleep early here.
 *
 * kswapd is a thread of its own: wakeup_kswapd() only records the node (and the largest order / highest zone
 * asked for), and kswapd's balance_pgdat runs when the emulated CPU is next free — after the statement (or race
 * step) that woke it, through `kswapd()`. Within one long operation the allocations therefore run down to the
 * min watermark, use METADATA pages as the last resort (§3.2) and fall back on direct reclaim, as when the real
 * kswapd cannot keep up. Direct reclaim runs synchronously inside the allocating call. Reclaim never recurses
 * (PF_MEMALLOC: reclaim's own allocations do not reclaim).
 */
import { __GFP_IO } from './gfp.js';
import type { PageAllocator } from './page_alloc.js';
import { PG_anon } from './memmap.js';
import { ALLOCSTALL_DMA, NR_FREE_CMA_PAGES, NR_FREE_METADATA_PAGES, NR_FREE_PAGES, VM_EVENT } from './vmstat.js';
import { MAX_RECLAIM_RETRIES, WMARK_HIGH, type PgData, type Zone } from './zone.js';

/** SWAP_CLUSTER_MAX: the batch of direct reclaim (try_to_free_pages' nr_to_reclaim). */
export const SWAP_CLUSTER_MAX = 32;
/** DEF_PRIORITY: balance_pgdat's passes run from priority 12 down. */
export const DEF_PRIORITY = 12;

/** What reclaimPage() did with one page. */
export const Reclaim = {
  /** Not a reclaim candidate (free, not anon, busy, pinned, shared memory). */
  Skip: -1,
  /** Referenced: young bits cleared, kept for now. */
  Kept: 0,
  /** Unmapped, written to swap and freed. */
  Reclaimed: 1,
  /** Could not be written: no swap space left. */
  NoSwap: 2,
} as const;
export type Reclaim = (typeof Reclaim)[keyof typeof Reclaim];

/** The owner of anon pages: unmaps and swaps out one page (src/process/swap.ts). */
export interface ReclaimTarget {
  /** can_reclaim_anon_pages(): a free swap slot exists. */
  canReclaimAnon(): boolean;
  /** shrink_folio_list for one anon folio: see Reclaim. */
  reclaimPage(pfn: number, ignoreReferences: boolean): Reclaim;
  /** Hands batched counters to vmstat after a reclaim run. */
  flush(): void;
  /**
   * shrink_slab(): the shrinkers that free memory outside the LRU; here the THP deferred split queue
   * (deferred_split_scan), which splits folios left partly mapped and frees their unmapped pages.
   */
  shrinkSlab?(): void;
}

const ev = (name: string): number => {
  const i = VM_EVENT[name];
  if (i === undefined) throw new Error(`no vm event ${name}`);
  return i;
};
const PGSCAN_KSWAPD = ev('pgscan_kswapd');
const PGSCAN_DIRECT = ev('pgscan_direct');
const PGSTEAL_KSWAPD = ev('pgsteal_kswapd');
const PGSTEAL_DIRECT = ev('pgsteal_direct');
const PGSCAN_ANON = ev('pgscan_anon');
const PGSTEAL_ANON = ev('pgsteal_anon');
const PAGEOUTRUN = ev('pageoutrun');

export interface ShrinkResult {
  scanned: number;
  reclaimed: number;
}

export class Vmscan {
  target: ReclaimTarget | undefined;
  /** Dense memmap index where the next scan starts (the CLOCK hand). */
  private hand = 0;
  /** PF_MEMALLOC: set while reclaiming, so that reclaim never recurses. */
  private inReclaim = false;
  /** kswapd runs (balance_pgdat calls), for tests and reports. */
  kswapdRuns = 0;
  /** Nodes whose kswapd was woken and has not run yet: the largest order and highest zone index asked for. */
  private readonly woken = new Map<PgData, { order: number; highest: number }>();

  constructor(readonly alloc: PageAllocator) {}

  /** Installs wakeKswapd and directReclaim as the allocator's slow-path hooks (other hooks are kept). */
  install(): void {
    const h = this.alloc.hooks;
    h.wakeKswapd = (z, order, highest) => this.wakeupKswapd(z, order, highest);
    h.directReclaim = (order, gfp, highest) => this.tryToFreePages(order, gfp, highest);
  }

  /**
   * zone_watermark_ok_safe(zone, order, mark, highest_zoneidx) with alloc_flags 0 (pgdat_balanced): free CMA
   * and, with v1 patch 5, free METADATA pages are unusable for a request without ALLOC_CMA/ALLOC_FROM_METADATA
   * (kernel-facts §3.4).
   */
  zoneBalanced(z: Zone, order: number, mark: number, highest: number): boolean {
    const free =
      z.state(NR_FREE_PAGES) - z.state(NR_FREE_CMA_PAGES) - z.state(NR_FREE_METADATA_PAGES) - (2 ** order - 1);
    return free > mark + (z.lowmemReserve[highest] ?? 0);
  }

  /** pgdat_balanced(): some managed zone up to highest_zoneidx meets its high watermark (or none is managed). */
  pgdatBalanced(pgdat: PgData, order: number, highest: number): boolean {
    let managed = false;
    for (const z of pgdat.zones) {
      if (z.idx > highest || z.managedPages === 0) continue;
      managed = true;
      if (this.zoneBalanced(z, order, z.wmarkPages(WMARK_HIGH), highest)) return true;
    }
    return !managed;
  }

  private pgdatOf(z: Zone): PgData | undefined {
    return this.alloc.nodes.find((n) => n.nodeId === z.nid);
  }

  /**
   * wakeup_kswapd(): a hopeless node (kswapd_failures >= MAX_RECLAIM_RETRIES) or a balanced one is left alone;
   * otherwise kswapd is woken (pgdat->kswapd_order / kswapd_highest_zoneidx keep the largest request) and runs
   * at the next `kswapd()`.
   */
  wakeupKswapd(z: Zone, order: number, highest: number): void {
    if (this.target === undefined || !z.populated) return;
    const pgdat = this.pgdatOf(z);
    if (pgdat === undefined) return;
    if (pgdat.kswapdFailures >= MAX_RECLAIM_RETRIES) return;
    if (this.pgdatBalanced(pgdat, order, highest)) return;
    const w = this.woken.get(pgdat);
    if (w === undefined) this.woken.set(pgdat, { order, highest });
    else {
      w.order = Math.max(w.order, order);
      w.highest = Math.max(w.highest, highest);
    }
  }

  /** Returns true if some node's kswapd was woken and has not run yet. */
  get kswapdPending(): boolean {
    return this.woken.size > 0;
  }

  /** The kswapd threads run: balance_pgdat for every woken node (in node order). Returns the pages reclaimed. */
  kswapd(): number {
    if (this.inReclaim || this.woken.size === 0) return 0;
    const runs = [...this.woken].sort((a, b) => a[0].nodeId - b[0].nodeId);
    this.woken.clear();
    let n = 0;
    for (const [pgdat, w] of runs) {
      if (pgdat.kswapdFailures >= MAX_RECLAIM_RETRIES || this.pgdatBalanced(pgdat, w.order, w.highest)) continue;
      n += this.balancePgdat(pgdat, w.order, w.highest);
    }
    return n;
  }

  /**
   * balance_pgdat(): priority passes from DEF_PRIORITY down, each reclaiming at least SWAP_CLUSTER_MAX or the
   * high watermark of the zones (kswapd_shrink_node's nr_to_reclaim), until the node is balanced or a pass makes
   * no progress. A run that reclaims nothing counts a kswapd failure.
   */
  balancePgdat(pgdat: PgData, order: number, highest: number): number {
    this.kswapdRuns++;
    let total = 0;
    const a = this.alloc;
    // set_reclaim_active(): ZONE_RECLAIM_ACTIVE shrinks the pcp high mark while kswapd works (nr_pcp_high).
    const active = pgdat.zones.filter((z) => z.idx <= highest && z.managedPages > 0);
    for (const z of active) z.reclaimActive = true;
    try {
      for (let priority = DEF_PRIORITY; priority >= 1; priority--) {
        a.events.count(PAGEOUTRUN);
        let want = 0;
        for (const z of active) want += z.wmarkPages(WMARK_HIGH);
        const r = this.shrink(highest, Math.max(SWAP_CLUSTER_MAX, want), true, false);
        total += r.reclaimed;
        if (this.pgdatBalanced(pgdat, order, highest)) break;
        if (r.reclaimed === 0) break;
      }
    } finally {
      for (const z of active) z.reclaimActive = false; // clear_reclaim_active()
    }
    if (total === 0) pgdat.kswapdFailures++;
    return total;
  }

  /**
   * try_to_free_pages() → do_try_to_free_pages(): counts allocstall for the request's highest zone and reclaims
   * up to SWAP_CLUSTER_MAX pages. Anon pages need __GFP_IO to be swapped. Returns the pages reclaimed.
   */
  tryToFreePages(order: number, gfp: number, highest: number): number {
    if (this.inReclaim || this.target === undefined) return 0;
    this.alloc.events.count(ALLOCSTALL_DMA + highest);
    if ((gfp & __GFP_IO) === 0) return 0;
    const r = this.shrink(highest, Math.max(SWAP_CLUSTER_MAX, 2 ** order), false, false);
    if (r.reclaimed > 0) {
      for (const n of this.alloc.nodes) n.kswapdFailures = 0;
      // __alloc_pages_direct_reclaim: "If an allocation failed after direct reclaim, it could be because pages
      // are pinned on the per-cpu lists" — drain_all_pages() and retry. The reclaimed pages were freed to the
      // pcp lists, where the watermark checks do not see them; the allocator's slow path has no drain of its
      // own, so it is done here whenever reclaim made progress (the kernel drains when the retry fails).
      this.alloc.drainAllPages();
    }
    return r.reclaimed;
  }

  /**
   * shrink_node / shrink_inactive_list over the anon pages of zones up to `reclaimIdx`, from the hand, until
   * `nrToReclaim` pages are reclaimed, swap runs out, or every page was looked at twice (the second look finds
   * the pages whose young bits the first one cleared).
   */
  shrink(reclaimIdx: number, nrToReclaim: number, kswapd: boolean, ignoreReferences: boolean): ShrinkResult {
    const target = this.target;
    const res: ShrinkResult = { scanned: 0, reclaimed: 0 };
    if (target === undefined) return res;
    // shrink_node → shrink_slab runs whether or not anon pages can be swapped.
    target.shrinkSlab?.();
    if (!target.canReclaimAnon()) return res;
    const a = this.alloc;
    const mm = a.memmap;
    const u32 = mm.u32;
    const n = mm.nrPages;
    if (n === 0) return res;
    this.inReclaim = true;
    try {
      let i = this.hand % n;
      for (let looked = 0; looked < 2 * n && res.reclaimed < nrToReclaim; looked++, i = i + 1 === n ? 0 : i + 1) {
        if ((u32[i * 4]! & PG_anon) === 0) continue;
        const pfn = mm.idxToPfn(i);
        const z = a.zoneForPfn(pfn);
        if (z === undefined || z.idx > reclaimIdx) continue;
        const r = target.reclaimPage(pfn, ignoreReferences);
        if (r === Reclaim.Skip) continue;
        res.scanned++;
        if (r === Reclaim.Reclaimed) res.reclaimed++;
        else if (r === Reclaim.NoSwap) break;
      }
      this.hand = i;
    } finally {
      this.inReclaim = false;
      target.flush();
    }
    const ev = a.events;
    ev.count(kswapd ? PGSCAN_KSWAPD : PGSCAN_DIRECT, res.scanned);
    ev.count(PGSCAN_ANON, res.scanned);
    ev.count(kswapd ? PGSTEAL_KSWAPD : PGSTEAL_DIRECT, res.reclaimed);
    ev.count(PGSTEAL_ANON, res.reclaimed);
    return res;
  }

  /** Returns true while reclaim is running (PF_MEMALLOC). */
  get reclaiming(): boolean {
    return this.inReclaim;
  }
}
