/**
 * Swap for process memory (kernel-facts §6.1–6.3; SPEC §4 Swap): swap-out of mapped anonymous pages with their MTE
 * tags saved by swap entry, swap-in on fault through the series' arch_swap_prepare_to_restore, MADV_PAGEOUT
 * (`pageout`), the `pressure` kernel allocation, and the glue that hands reclaim (src/mm/vmscan.ts) and the OOM
 * killer (src/mm/oom_kill.ts) their view of processes.
 *
 * ## Swap-out (shrink_folio_list for one anon folio)
 * 1. add_to_swap: a slot with swap count = number of PTEs mapping the page (the swap device, src/mm/swapfile.ts).
 * 2. arch_prepare_to_swap → mte_save_page_tags_by_swp_entry: a PG_mte_tagged page's tags are saved in
 *    tags_by_swp_entry[entry] (src/arch/arm64/mteswap.ts). A page whose tags are still parked in tags_by_pfn
 *    (mapped METADATA_NONE, not yet restored) has that buffer moved to the swap entry instead, so the tags
 *    survive (the emulator's choice [I]; the series does not say).
 * 3. try_to_unmap: every PTE (found through the rmap) becomes a swap PTE (PTE_SWAP, the slot offset in `pfn`).
 * 4. swap_writepage: the data token goes to the slot; pswpout += 1, pgpgout += PAGE_SIZE/512 sectors.
 * 5. The page leaves the anon counters and is freed (free_metadata_storage for a page with tag storage).
 *
 * ## Swap-in (do_swap_page, as two atomic steps for `race`)
 * READ (no PTL): the device is synchronous (SWP_SYNCHRONOUS_IO), so the swap cache is bypassed: a page is
 *    allocated with vma_alloc_folio, which adds __GFP_TAGGED for VM_MTE VMAs (v1 P23, kernel-facts §3.5), the
 *    data token is read (pswpin, pgpgin, pgmajfault), then arch_swap_prepare_to_restore (§6.2 step 2): if tag
 *    storage management is on, the page is not tagged, has no tag storage, and swap tags exist, they are copied
 *    into tags_by_pfn[pfn] — only with `fix.pfn_tags` (the fix of the cover letter's race 2).
 * MAP (PTL): revalidate the swap PTE, arch_swap_restore → mte_restore_page_tags_by_swp_entry (§6.2 step 3):
 *    a page without tag storage returns early with the fix; without it the tags are written unconditionally into
 *    the page's tag storage location, which then holds data — race 2, caught by SPEC §5 invariant 6. Then the
 *    rmap, set_pte_at (mte_sync_tags: METADATA_NONE for a VM_MTE page without tag storage, or the tags_by_pfn
 *    restore, §6.2 step 4), and swap_free(entry) (arch_swap_invalidate_page when the slot frees).
 * Without a swap cache, an entry shared by several PTEs (after fork) is read into a separate page for each PTE
 * that faults (a copy-on-write break at swap-in); the data and tags are the same.
 *
 * Shared anonymous mappings (shmem) are not swapped (shmem_writepage is not modelled): reclaim skips them.
 */
import { MteSwapTags } from '../arch/arm64/mteswap.js';
import type { MeminfoExtras } from '../mm/meminfo.js';
import { GFP_KERNEL } from '../mm/gfp.js';
import { OomKiller, formatGfp, kernelGfp, type OomTask, type OomTasks } from '../mm/oom_kill.js';
import type { PageAllocator } from '../mm/page_alloc.js';
import { SwapState } from '../mm/swapfile.js';
import { Reclaim, Vmscan, type ReclaimTarget } from '../mm/vmscan.js';
import type { KernelLog } from '../sim/log.js';
import type { ProcessLayer } from './layer.js';
import { VM_MTE, type Process, type Vma } from './mm.js';
import { Gfp, PageFlag } from './port.js';
import { PTE_MIGRATION, PTE_PRESENT_MASK, PTE_SWAP, PTE_YOUNG } from './pte.js';

/** What the fault path and zap_pte_range call (installed as `layer.swap`). */
export interface SwapHooks {
  /**
   * do_swap_page before the PTL: returns the pfn of the page read from swap entry `entry`, -1 when no page could
   * be allocated (VM_FAULT_OOM), -2 when the entry is gone (the fault replays).
   */
  swapInRead(vma: Vma, idx: number, entry: number): number;
  /** do_swap_page under the PTL: maps pfn; false if the PTE changed meanwhile (pfn was dropped, replay). */
  swapInMap(vma: Vma, idx: number, entry: number, pfn: number, write: boolean): boolean;
  /** zap_pte_range for a swap PTE: free_swap_and_cache(entry). */
  freeSwapEntry(entry: number): void;
  /**
   * copy_nonpresent_pte for a swap PTE (fork): swap_duplicate(entry), one more reference to the slot. Returns
   * false when the entry is not in use (or its count is full), in which case the caller must not copy the PTE.
   */
  duplicateSwapEntry(entry: number): boolean;
}

/** The kernel thread a `pressure` allocation runs in (it has no process of its own). */
const PRESSURE_COMM = 'kworker/0:1';

export class SwapSystem implements SwapHooks, ReclaimTarget, OomTasks {
  readonly state = new SwapState();
  /** tags_by_swp_entry, and tags_by_pfn shared with the process layer's TagStore (one xarray). */
  readonly swapTags: MteSwapTags;
  vmscan: Vmscan | undefined;
  oom: OomKiller | undefined;
  alloc: PageAllocator | undefined;
  /** The task running the current statement (`current`), set by the interpreter; undefined: a kernel thread. */
  current: Process | undefined;
  /** OOM victims that were `current` when killed: they exit when the statement ends. */
  private readonly pendingExit: Process[] = [];
  /** Pages taken by `pressure` (kernel memory, never freed). */
  private pressurePages = new Int32Array(1024);
  pressureCount = 0;
  /** Reused slot lists of the page being reclaimed. */
  private readonly slotVma: Vma[] = [];
  private readonly slotIdx: number[] = [];
  private pendOut = 0;
  /** Swap-ins not yet handed to vmstat (pswpin, pgpgin, pgmajfault): flush() / background(). */
  private pendIn = 0;
  private readonly sectorsPerPage: number;

  constructor(
    readonly L: ProcessLayer,
    readonly log: KernelLog,
  ) {
    this.swapTags = new MteSwapTags(L.tags.bytesPerPage, L.tags.tagsByPfn);
    this.sectorsPerPage = L.port.pageSize / 512;
  }

  /** Wires reclaim and the OOM killer into a real allocator's slow path. */
  attach(alloc: PageAllocator): void {
    this.alloc = alloc;
    const vm = new Vmscan(alloc);
    vm.target = this;
    vm.install();
    this.vmscan = vm;
    const oom = new OomKiller(alloc, this.log, this.state, this);
    oom.install();
    this.oom = oom;
  }

  /** Makes SwapTotal / SwapFree of /proc/meminfo follow the swap device (live getters on the extras object). */
  bindMeminfo(extras: MeminfoExtras): MeminfoExtras {
    const st = this.state;
    Object.defineProperty(extras, 'swapTotalPages', { get: () => st.totalPages, enumerable: true, configurable: true });
    Object.defineProperty(extras, 'swapFreePages', { get: () => st.freePages, enumerable: true, configurable: true });
    return extras;
  }

  /** `config swap=SIZE`: swapon of a SIZE-byte area (0: no swap). */
  swapon(bytes: number): void {
    if (bytes <= 0) return;
    this.state.swapon(bytes, this.L.port.pageSize, this.log);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Swap-out

  /** can_reclaim_anon_pages(). */
  canReclaimAnon(): boolean {
    return this.state.freePages > 0;
  }

  /** Hands the batched swap counters to vmstat (pswpout, pgpgout; pswpin, pgpgin, pgmajfault). */
  flush(): void {
    const port = this.L.port;
    const out = this.pendOut;
    if (out !== 0) {
      this.pendOut = 0;
      port.count('pswpout', out);
      port.count('pgpgout', out * this.sectorsPerPage);
    }
    const n = this.pendIn;
    if (n !== 0) {
      this.pendIn = 0;
      port.count('pswpin', n);
      port.count('pgpgin', n * this.sectorsPerPage);
      port.count('pgmajfault', n);
    }
  }

  /** shrink_slab (src/mm/vmscan.ts): deferred_split_scan splits the THPs left partly mapped (src/process/thp.ts). */
  shrinkSlab(): void {
    const thp = this.L.thp;
    if (thp.deferred.size > 0) thp.deferredSplitScan();
  }

  /** shrink_folio_list for one page found by the LRU scan (src/mm/vmscan.ts). */
  reclaimPage(pfn: number, ignoreReferences: boolean): Reclaim {
    const L = this.L;
    const port = L.port;
    if (pfn === port.zeroPfn || !L.rmap.isAnonPage(pfn) || L.inflight.has(pfn)) return Reclaim.Skip;
    if (L.thp.count > 0 && L.thp.isCompound(pfn)) L.thp.splitForSwap(pfn); // no THP swap with MTE (thp.ts)
    // Large folios (THP) would need splitting first (split_folio_to_list): not modelled, they are skipped.
    if (L.rmap.folioOrder(pfn) > 0) return Reclaim.Skip;
    const av = L.rmap.anonVmaOf(port.getOwner(pfn));
    if (av === undefined || av.shared) return Reclaim.Skip;
    const vmas = this.slotVma;
    const idxs = this.slotIdx;
    vmas.length = 0;
    idxs.length = 0;
    let migrating = false;
    L.rmap.walk(pfn, (vma, idx) => {
      if ((vma.pte[idx]! & PTE_MIGRATION) !== 0) migrating = true;
      vmas.push(vma);
      idxs.push(idx);
    });
    const n = vmas.length;
    if (n === 0 || migrating || port.pageRef(pfn) !== n) return Reclaim.Skip;
    if (!ignoreReferences) {
      // folio_check_references: a young mapping buys the page another round (the young bits are cleared).
      let young = false;
      for (let k = 0; k < n; k++) {
        const v = vmas[k]!;
        const i = idxs[k]!;
        if ((v.pte[i]! & PTE_YOUNG) !== 0) {
          young = true;
          v.pte[i] = v.pte[i]! & ~PTE_YOUNG;
        }
      }
      if (young) return Reclaim.Kept;
    }
    return this.swapOut(pfn, n, vmas[0]!, idxs[0]!);
  }

  /**
   * add_to_swap + arch_prepare_to_swap + try_to_unmap + swap_writepage + free of a private anon page mapped by n
   * PTEs: (v0, i0) when n is 1, else the slots in slotVma/slotIdx.
   */
  private swapOut(pfn: number, n: number, v0: Vma, i0: number): Reclaim {
    const dev = this.state.device;
    if (dev === undefined) return Reclaim.NoSwap;
    const entry = dev.getSwapPage(n);
    if (entry === 0) return Reclaim.NoSwap;
    const L = this.L;
    const port = L.port;
    // arch_prepare_to_swap (§6.1)
    const byPfn = L.tags.tagsByPfn;
    if (port.testFlag(pfn, PageFlag.MteTagged)) {
      const st = this.swapTags.tagsBySwpEntry;
      st.slot(entry);
      L.tags.saveWords(pfn, st.slotWords, st.slotWord);
    } else if (byPfn.size > 0) {
      const parked = byPfn.get(pfn);
      if (parked !== undefined) this.swapTags.tagsBySwpEntry.store(entry, parked);
    }
    dev.setToken(entry, port.getToken(pfn));
    if (n === 1) {
      v0.pte[i0] = PTE_SWAP;
      v0.pfn[i0] = entry;
    } else {
      const vmas = this.slotVma;
      const idxs = this.slotIdx;
      for (let k = 0; k < n; k++) {
        const v = vmas[k]!;
        const i = idxs[k]!;
        v.pte[i] = PTE_SWAP;
        v.pfn[i] = entry;
      }
    }
    // unaccountAnon for a private anon page (shared ones are never swapped here): no anon_vma look-up needed.
    L.pend.anon--;
    L.pend.inactiveAnon--;
    port.clearFlag(pfn, PageFlag.Anon);
    port.setOwner(pfn, 0);
    port.setPageRef(pfn, 0);
    if (byPfn.size > 0) byPfn.delete(pfn);
    port.freePages(pfn, 0);
    this.pendOut++;
    return Reclaim.Reclaimed;
  }

  /**
   * MADV_PAGEOUT over [start, end) of p (madvise_cold_or_pageout_pte_range + reclaim_pages): every present
   * private anon page mapped only here is swapped out, references ignored. Returns the pages swapped out; stops
   * when swap is full.
   */
  pageout(p: Process, start: number, end: number): number {
    const L = this.L;
    const port = L.port;
    const ps = port.pageSize;
    let done = 0;
    try {
      for (const v of p.mm.vmas) {
        if (v.end <= start || v.start >= end || v.anonVma.shared) continue;
        const i0 = Math.max(0, Math.floor((start - v.start) / ps));
        const i1 = Math.min(v.pages, Math.ceil((end - v.start) / ps));
        const pte = v.pte;
        const pfns = v.pfn;
        for (let i = i0; i < i1; i++) {
          if ((pte[i]! & PTE_PRESENT_MASK) === 0) continue;
          const pfn = pfns[i]!;
          // folio_mapcount(folio) != 1 is skipped; refcount 1 means this PTE is the only reference.
          if (pfn === port.zeroPfn || port.pageRef(pfn) !== 1 || !port.testFlag(pfn, PageFlag.Anon)) continue;
          if (L.inflight.size > 0 && L.inflight.has(pfn)) continue;
          if (L.thp.count > 0 && L.thp.isCompound(pfn)) L.thp.splitForSwap(pfn); // no THP swap with MTE (thp.ts)
          if (L.rmap.folioOrder(pfn) > 0) continue; // THP: not split for swap here
          const r = this.swapOut(pfn, 1, v, i);
          if (r === Reclaim.NoSwap) return done;
          if (r === Reclaim.Reclaimed) done++;
        }
      }
    } finally {
      this.flush();
      L.flush();
    }
    return done;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Swap-in

  swapInRead(vma: Vma, idx: number, entry: number): number {
    const dev = this.state.device;
    if (dev === undefined || dev.count(entry) === 0) return -2;
    void idx;
    const L = this.L;
    const port = L.port;
    const tagged = (vma.flags & VM_MTE) !== 0;
    const pfn = port.allocPages(0, Gfp.HighuserMovable | (tagged ? Gfp.Tagged : 0));
    if (pfn < 0) return -1;
    if (dev.count(entry) === 0) {
      // The entry went while we allocated (reclaim or an OOM kill freed it): drop the page, replay.
      L.releaseNewPage(pfn);
      return -2;
    }
    port.setPageRef(pfn, 1);
    port.setToken(pfn, dev.tokenOf(entry));
    this.pendIn++;
    // arch_swap_prepare_to_restore (§6.2 step 2)
    const store = this.swapTags.tagsBySwpEntry;
    if (store.size === 0) return pfn;
    // The look-up last: a page with tag storage (the usual case) needs none. tagStorageReady is false only
    // with the key on (metadataEnabled) for a page in a region without PG_tag_storage_reserved.
    if (L.fixPfnTags && !port.testFlag(pfn, PageFlag.MteTagged) && !L.tags.tagStorageReady(pfn)) {
      const saved = store.load(entry); // a copy: the swap entry keeps its own
      if (saved !== undefined) L.tags.tagsByPfn.set(pfn, saved);
    }
    return pfn;
  }

  swapInMap(vma: Vma, idx: number, entry: number, pfn: number, write: boolean): boolean {
    const L = this.L;
    const port = L.port;
    if (vma.dead || (vma.pte[idx]! & PTE_SWAP) === 0 || vma.pfn[idx] !== entry) {
      L.tags.tagsByPfn.delete(pfn);
      L.releaseNewPage(pfn);
      return false;
    }
    // arch_swap_restore → mte_restore_page_tags_by_swp_entry (§6.1; §6.2 step 3)
    const store = this.swapTags.tagsBySwpEntry;
    if (store.size !== 0 && !port.testFlag(pfn, PageFlag.MteTagged) && store.find(entry)) {
      if (L.tags.tagStorageReady(pfn)) {
        L.tags.restoreReadyWords(pfn, store.slotWords, store.slotWord);
        port.setFlag(pfn, PageFlag.MteTagged);
      } else if (!L.fixPfnTags) {
        // Race 2 of the cover letter (§6.3): restored unconditionally into a page without tag storage.
        L.tags.restore(pfn, store.peek(entry)!);
        port.setFlag(pfn, PageFlag.MteTagged);
      }
      // With the fix the tags wait in tags_by_pfn (swapInRead) for set_pte_at on a page with tag storage.
    }
    L.addAnonRmap(vma, idx, pfn);
    L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, write));
    this.freeSwapEntry(entry);
    return true;
  }

  /** swap_free(entry), with arch_swap_invalidate_page when the slot becomes free. */
  freeSwapEntry(entry: number): void {
    const dev = this.state.device;
    if (dev === undefined || dev.count(entry) === 0) return;
    if (dev.free(entry) && this.swapTags.tagsBySwpEntry.size > 0) this.swapTags.invalidateTags(entry);
  }

  duplicateSwapEntry(entry: number): boolean {
    const dev = this.state.device;
    return dev !== undefined && dev.duplicate(entry);
  }

  // ---------------------------------------------------------------------------------------------------------
  // pressure, OOM

  /**
   * `pressure SIZE`: a kernel (unmovable, GFP_KERNEL) allocation of SIZE bytes, one page at a time, reclaiming
   * and OOM-killing as the allocator's slow path decides. The pages stay allocated (kernel memory). Returns the
   * pages obtained; on failure logs warn_alloc's first line and show_mem, as the kernel does.
   */
  pressure(bytes: number): number {
    const alloc = this.alloc;
    if (alloc === undefined) throw new Error('pressure needs the real page allocator');
    const want = Math.ceil(bytes / this.L.port.pageSize);
    const saved = this.current;
    this.current = undefined;
    let got = 0;
    try {
      for (; got < want; got++) {
        const pfn = alloc.allocPages(0, GFP_KERNEL);
        if (pfn < 0) {
          this.warnAlloc(0, GFP_KERNEL);
          break;
        }
        if (this.pressureCount === this.pressurePages.length) {
          const bigger = new Int32Array(this.pressurePages.length * 2);
          bigger.set(this.pressurePages);
          this.pressurePages = bigger;
        }
        this.pressurePages[this.pressureCount++] = pfn;
      }
    } finally {
      this.current = saved;
      this.L.flush();
    }
    return got;
  }

  /** warn_alloc(): "%s: page allocation failure: order:%u, mode:%#x(%pGg), nodemask=%*pbl" + cpuset, then show_mem. */
  private warnAlloc(order: number, gfp: number): void {
    const cur = this.current?.comm ?? PRESSURE_COMM;
    this.log.warn(
      `${cur}: page allocation failure: order:${order}, mode:${formatGfp(kernelGfp(gfp))}, nodemask=(null),cpuset=/,mems_allowed=0`,
    );
    if (this.oom !== undefined) for (const line of this.oom.showMem(2)) this.log.warn(line);
  }

  /** OomTasks: the live processes in pid order. */
  tasks(): OomTask[] {
    const L = this.L;
    const port = L.port;
    const out: OomTask[] = [];
    for (const p of L.processes.values()) {
      if (!p.alive) continue;
      let totalVm = 0;
      let anon = 0;
      let shmem = 0;
      let swapents = 0;
      for (const v of p.mm.vmas) {
        totalVm += v.pages;
        const pte = v.pte;
        const pfns = v.pfn;
        for (let i = 0; i < v.pages; i++) {
          const f = pte[i]!;
          if (f === 0) continue;
          if ((f & PTE_SWAP) !== 0) swapents++;
          else if ((f & (PTE_PRESENT_MASK | PTE_MIGRATION)) !== 0 && pfns[i] !== port.zeroPfn) {
            if (v.anonVma.shared) shmem++;
            else anon++;
          }
        }
      }
      let tables = 0;
      for (const t of p.mm.tables) tables += t.size;
      out.push({
        pid: p.pid,
        tgid: p.pid,
        uid: 0,
        comm: p.comm,
        totalVm,
        anonRss: anon,
        fileRss: 0,
        shmemRss: shmem,
        swapents,
        pgtablesBytes: tables * port.pageSize,
        oomScoreAdj: 0,
      });
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  /** OomTasks.current(). */
  currentTask(): { pid: number; comm: string; oomScoreAdj: number } {
    const c = this.current;
    return c === undefined
      ? { pid: 0, comm: PRESSURE_COMM, oomScoreAdj: 0 }
      : { pid: c.pid, comm: c.comm, oomScoreAdj: 0 };
  }

  /** OomTasks.kill(): the victim exits now, or (when it is `current`) at the end of the statement. */
  kill(pid: number): boolean {
    const L = this.L;
    let victim: Process | undefined;
    for (const p of L.processes.values()) if (p.pid === pid && p.alive) victim = p;
    if (victim === undefined) return false;
    victim.oomKilled = true;
    if (victim === this.current) {
      this.pendingExit.push(victim);
      return false;
    }
    L.exit(victim);
    return true;
  }

  /**
   * What runs when the emulated CPU is free between statements (and race steps): OOM victims that were busy
   * exit, then the kswapd threads woken meanwhile balance their nodes.
   */
  background(): void {
    this.reapPending();
    this.vmscan?.kswapd();
    this.flush();
    this.L.flush();
  }

  /** Ends the OOM victims that were busy in the statement that just ran (the memory returns). */
  reapPending(): void {
    while (this.pendingExit.length > 0) {
      const p = this.pendingExit.shift()!;
      if (p.alive) this.L.exit(p);
      this.oom?.reaped(p);
    }
  }
}

/**
 * Creates the swap system over a process layer: installs it as `layer.swap` (fault path, zap), wires reclaim and
 * the OOM killer into `alloc` when given, and makes SwapTotal/SwapFree of `meminfo` live.
 */
export function installSwap(
  L: ProcessLayer & { swap?: SwapHooks | undefined },
  log: KernelLog,
  alloc?: PageAllocator,
  meminfo?: MeminfoExtras,
): SwapSystem {
  const s = new SwapSystem(L, log);
  L.swap = s;
  if (alloc !== undefined) s.attach(alloc);
  if (meminfo !== undefined) s.bindMeminfo(meminfo);
  return s;
}
