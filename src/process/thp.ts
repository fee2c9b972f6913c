/**
 * Transparent huge pages for private anonymous memory (mm/huge_memory.c, v6.5) with the v1 series' PMD-level
 * PAGE_METADATA_NONE (kernel-facts §5.4) and the tag storage figures of §2.2 (a 2 MiB THP at 4K pages is order
 * 9 and needs 512/32 = 16 tag storage pages).
 *
 * ## Representation
 * A PMD mapping is kept in the VMA's per-page slots like 512 PTEs (so every per-page reader — tags, tokens,
 * `resident`, the invariants — works unchanged): the HPAGE_PMD_NR slots of an aligned range all carry PTE_PMD
 * and map head + k. The folio is an order-HPAGE_PMD_ORDER buddy allocation; each subpage keeps its own words
 * (owner = linear index, token, refcount = slots mapping it, PG_anon, tag flags), so a PMD mapping holds one
 * reference on each subpage. Per THP this file keeps one number (`folios`: head → entire (PMD) mapcount * 2^14 +
 * subpages still mapped); nothing per page.
 *
 * The PTE table page that __do_huge_pmd_anonymous_page deposits (pgtable_trans_huge_deposit) is the PTE table
 * the layer keeps for that 2 MiB span, so split_huge_pmd never allocates and page-table counts match.
 *
 * ## What happens when (kernel function → here)
 *   do_huge_pmd_anonymous_page   hugeAnonymousFault: a write fault on pmd_none in a VM_HUGEPAGE private VMA whose
 *                                aligned range lies inside the VMA allocates GFP_TRANSHUGE (+__GFP_TAGGED for
 *                                VM_MTE, v1 P23), thp_fault_alloc; no order-9 page → thp_fault_fallback, 4K path
 *   set_pmd_at (mte_sync_tags)   setPmdAt: METADATA_NONE for the whole PMD when the folio has no tag storage
 *                                (§5.5 net at PMD level), else tags cleared/restored for every subpage
 *   do_huge_pmd_wp_page          exclusive folio → PMD made writable; shared (fork) → split this PMD, 4K COW
 *   change_huge_pmd              mprotect of a whole PMD; gaining VM_MTE with the key on → PMD METADATA_NONE
 *   do_huge_pmd_metadata_none_page  §5.4: reserve with order HPAGE_PMD_ORDER, EINTR → retry, tags pending →
 *                                retry then OOM, tag storage page or failure → migrate the whole THP
 *   split_huge_pmd               partial munmap/mprotect (vma_adjust_trans_huge) or COW: thp_split_pmd
 *   zap_huge_pmd                 munmap/exit: the folio is freed as one order-9 block (free_metadata_storage(page,
 *                                9) returns its 16 tag pages)
 *   copy_huge_pmd                fork (src/process/fork.ts): both PMDs write-protected, one more PMD mapping
 *   deferred_split_folio         a folio left partly mapped is queued (thp_deferred_split_page); it stays whole
 *                                (unmapped pages and tag storage included) until it is freed whole, or memory
 *                                pressure runs deferred_split_scan from shrink_slab (src/mm/vmscan.ts, kswapd and
 *                                direct reclaim): split_huge_page, thp_split_page
 *   migrate_pages of a THP       rmap.unmap/remap/undo of the whole folio (PMD migration entries); a tail page
 *                                asked to migrate alone splits the folio first (as migrate_pages splits a THP
 *                                it cannot move whole)
 *   shrink_folio_list            swap-out splits first: arm64 with MTE has no THP swap (arch_thp_swp_supported()
 *                                is false), so add_to_swap fails for the folio: thp_swpout_fallback, split
 *
 * Counters: thp_fault_alloc, thp_fault_fallback, thp_split_pmd, thp_split_page, thp_deferred_split_page,
 * thp_swpout_fallback (vm events), nr_anon_transparent_hugepages (pages: AnonHugePages in meminfo, printed
 * divided by HPAGE_PMD_NR in vmstat) moves when a folio gains its first or loses its last PMD mapping,
 * nr_anon_pages counts every mapped subpage (as v6.5's NR_ANON_MAPPED).
 *
 * Not modelled: the huge zero page (a read fault of untouched THP memory maps the 4K zero page, as with
 * use_zero_page=0 but without a THP), khugepaged collapse, THP for shared (shmem) mappings
 * (shmem_enabled=never, the default), THP "always" mode (only VM_HUGEPAGE VMAs, i.e. `mmap ... thp`, get THPs:
 * enabled=madvise).
 */
import { FaultResult, type FaultCtx } from './fault.js';
import type { ProcessLayer } from './layer.js';
import type { Vma } from './mm.js';
import { VM_HUGEPAGE, VM_MTE, VM_READ, VM_SHARED, VM_WRITE } from './mm.js';
import type { MmPort } from './port.js';
import { EINTR, Gfp, PageFlag } from './port.js';
import {
  PAGE_METADATA_NONE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PMD,
  PTE_PRESENT_MASK,
  PTE_PROT_NONE,
  PTE_TAGGED,
  PTE_VALID,
  PTE_WRITE,
  PTE_YOUNG,
  pteMetadataNone,
} from './pte.js';

/** pmdFault result: not a huge PMD fault after all (or a split happened): continue with the PTE path. */
export const THP_FALLBACK = -1;
/** pmdFault result: replay the fault (the kernel returns 0 or VM_FAULT_RETRY and the access faults again). */
export const THP_REPLAY = -2;

/** Handle of a folio unmapped for migration (rmap.ts passes it back to remapFolio/undoFolio). */
export interface FolioHandle {
  readonly src: number;
  readonly folio: true;
}

/** Packing factor of `folios` values: above HPAGE_PMD_NR for every page size (8192 at 64K). */
const LIVE = 1 << 14;

export class Thp {
  /** HPAGE_PMD_ORDER: PMD_SHIFT - PAGE_SHIFT (9 for 4K pages, 11 for 16K, 13 for 64K). */
  readonly order: number;
  /** HPAGE_PMD_NR. */
  readonly nr: number;
  /** HPAGE_PMD_SIZE in bytes. */
  readonly size: number;
  /** has_transparent_hugepage(): the allocator can hand out order-HPAGE_PMD_ORDER blocks. */
  readonly enabled: boolean;
  /** Compound anon folios: head pfn → entire (PMD) mapcount * LIVE + subpages still mapped. */
  private readonly folios = new Map<number, number>();
  /** Folios queued by deferred_split_folio. */
  readonly deferred = new Set<number>();
  private readonly port: MmPort;

  constructor(private readonly L: ProcessLayer) {
    const port = L.port;
    this.port = port;
    this.order = port.pageShift - 3;
    this.nr = 1 << this.order;
    this.size = this.nr * port.pageSize;
    this.enabled = port.maxOrder !== undefined && this.order <= port.maxOrder;
  }

  /** Number of compound THPs in use. */
  get count(): number {
    return this.folios.size;
  }

  /** The heads of the compound THPs in use (mapped whole, in part, or waiting on the deferred split queue). */
  heads(): IterableIterator<number> {
    return this.folios.keys();
  }

  headOf(pfn: number): number {
    return pfn - (pfn % this.nr);
  }

  /** Returns true if pfn belongs to a compound (not yet split) anon THP. */
  isCompound(pfn: number): boolean {
    return this.folios.size !== 0 && this.folios.has(this.headOf(pfn));
  }

  /** Entire (PMD) mapcount of the folio whose head is `head` (0 if none or not a THP). */
  pmdMapcount(head: number): number {
    return Math.floor((this.folios.get(head) ?? 0) / LIVE);
  }

  /** folio_order for the rmap: HPAGE_PMD_ORDER for the head of a compound THP, else 0. */
  folioOrder(pfn: number): number {
    return this.folios.size !== 0 && this.folios.has(pfn) ? this.order : 0;
  }

  /** The head of the compound THP containing pfn, else pfn. */
  folioHead(pfn: number): number {
    if (this.folios.size === 0) return pfn;
    const h = this.headOf(pfn);
    return this.folios.has(h) ? h : pfn;
  }

  /** First slot of the PMD range containing slot idx of vma. */
  groupStart(vma: Vma, idx: number): number {
    const ps = this.port.pageSize;
    const addr = vma.start + idx * ps;
    return (addr - (addr % this.size) - vma.start) / ps;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Entire mapcount and NR_ANON_THPS

  private pmdMapped(head: number, delta: number): void {
    const v = this.folios.get(head);
    if (v === undefined) return;
    const before = Math.floor(v / LIVE);
    const after = before + delta;
    this.folios.set(head, after * LIVE + (v % LIVE));
    // page_add_anon_rmap / page_remove_rmap (compound): NR_ANON_THPS follows the first and last PMD mapping.
    if (before === 0 && after > 0) this.port.count('nr_anon_transparent_hugepages', this.nr);
    else if (before > 0 && after === 0) this.port.count('nr_anon_transparent_hugepages', -this.nr);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Faults

  /**
   * do_huge_pmd_anonymous_page for a fault on slot idx of vma whose PTE is none. Returns a FaultResult, or
   * THP_FALLBACK when the fault must take the 4K path (not a THP VMA, range not suitable, pmd not none, read
   * fault, or no order-HPAGE_PMD_ORDER page: thp_fault_fallback).
   */
  hugeAnonymousFault(vma: Vma, idx: number, write: boolean): number {
    if (!this.enabled || (vma.flags & (VM_HUGEPAGE | VM_SHARED)) !== VM_HUGEPAGE || !write) return THP_FALLBACK;
    const L = this.L;
    const port = this.port;
    const ps = port.pageSize;
    const i0 = this.groupStart(vma, idx);
    const haddr = vma.start + i0 * ps;
    // transhuge_vma_suitable: the whole aligned range lies inside the VMA.
    if (i0 < 0 || i0 + this.nr > vma.pages) return THP_FALLBACK;
    // pmd_none: no PTE table under this PMD yet.
    if (vma.mm.tables[0]!.has(Math.floor(haddr / this.size))) return THP_FALLBACK;
    for (let k = 0; k < this.nr; k++) if (vma.pte[i0 + k] !== 0) return THP_FALLBACK;
    const tagged = (vma.flags & VM_MTE) !== 0;
    // vma_thp_gfp_mask with defrag=madvise on a madvised VMA: GFP_TRANSHUGE; vma_alloc_folio adds __GFP_TAGGED (P23).
    const head = port.allocPages(this.order, Gfp.Transhuge | (tagged ? Gfp.Tagged : 0));
    if (head < 0) {
      port.count('thp_fault_fallback', 1);
      return THP_FALLBACK;
    }
    // pte_alloc_one: the table deposited with the PMD (here: the PTE table of this span).
    if (!L.ensureTables(vma.mm, haddr)) {
      port.setPageRef(head, 0);
      port.freePages(head, this.order);
      return FaultResult.Oom;
    }
    // clear_huge_page (+ tag_clear_highpage per subpage for __GFP_TAGGED), then page_add_new_anon_rmap.
    for (let k = 0; k < this.nr; k++) {
      L.prepNewPage(head + k, tagged);
      L.addAnonRmap(vma, i0 + k, head + k);
    }
    this.folios.set(head, this.nr);
    this.pmdMapped(head, 1);
    this.setPmdAt(vma, i0, head, this.pmdBits(vma, head, true, true));
    port.count('thp_fault_alloc', 1);
    L.writeData(vma, idx);
    return FaultResult.Ok;
  }

  /** The present PMD bits for the folio at head in vma (vm_page_prot, young, dirty, writable if exclusive). */
  private pmdBits(vma: Vma, head: number, write: boolean, exclusive: boolean): number {
    let f = PTE_VALID | PTE_YOUNG | PTE_PMD;
    if ((vma.flags & VM_MTE) !== 0) f |= PTE_TAGGED;
    if ((vma.flags & VM_WRITE) !== 0 && (exclusive || this.exclusive(head))) {
      f |= PTE_WRITE;
      if (write) f |= PTE_DIRTY;
    }
    return f;
  }

  /** Every subpage is mapped once (by this PMD only): the folio may be written in place. */
  private exclusive(head: number): boolean {
    const port = this.port;
    for (let k = 0; k < this.nr; k++) if (port.pageRef(head + k) !== 1) return false;
    return true;
  }

  /**
   * set_pmd_at with the series' mte_sync_tags (kernel-facts §5.5 at PMD level): a present tagged PMD for a folio
   * without PG_tag_storage_reserved becomes PAGE_METADATA_NONE (fix.metadata_none); otherwise every subpage's
   * tags are initialised once (restored from tags_by_pfn, or cleared) and PG_mte_tagged set.
   */
  setPmdAt(vma: Vma, i0: number, head: number, bits: number): void {
    const L = this.L;
    const port = this.port;
    const nr = this.nr;
    let f = bits | PTE_PMD;
    if ((f & (PTE_VALID | PTE_TAGGED)) === (PTE_VALID | PTE_TAGGED)) {
      if (L.fixMetadataNone && port.metadataEnabled() && !port.testFlag(head, PageFlag.TagStorageReserved)) {
        f = PAGE_METADATA_NONE | PTE_TAGGED | PTE_PMD;
      } else {
        const byPfn = L.tags.tagsByPfn;
        for (let k = 0; k < nr; k++) {
          const p = head + k;
          if (port.testFlag(p, PageFlag.MteTagged)) continue;
          const saved = byPfn.size === 0 ? undefined : byPfn.get(p);
          if (saved !== undefined && L.tags.tagStorageReady(p)) {
            L.tags.restore(p, saved);
            byPfn.delete(p);
          } else {
            L.tags.clear(p);
          }
          port.setFlag(p, PageFlag.MteTagged);
        }
      }
    }
    const pte = vma.pte;
    const pfn = vma.pfn;
    for (let k = 0; k < nr; k++) {
      pfn[i0 + k] = head + k;
      pte[i0 + k] = f;
    }
  }

  /**
   * A fault on a slot that carries PTE_PMD (__handle_mm_fault's huge PMD branch): returns a FaultResult,
   * THP_FALLBACK (continue on the PTE path: a migration entry, or the PMD was split for COW) or THP_REPLAY.
   */
  pmdFault(c: FaultCtx): number {
    const vma = c.vma;
    const port = this.port;
    const i0 = this.groupStart(vma, c.idx);
    const f = vma.pte[c.idx]!;
    if ((f & PTE_MIGRATION) !== 0 || (f & PTE_PMD) === 0) return THP_FALLBACK;
    const head = vma.pfn[i0]!;
    if ((f & PTE_VALID) !== 0) {
      if (!c.write || (f & PTE_WRITE) !== 0) {
        this.orBits(vma, i0, PTE_YOUNG | (c.write ? PTE_DIRTY : 0));
        return FaultResult.Ok;
      }
      // do_huge_pmd_wp_page: reuse an exclusive folio, else split this PMD and COW the 4K page.
      if (this.exclusive(head)) {
        this.orBits(vma, i0, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
        return FaultResult.Ok;
      }
      this.splitHugePmd(vma, i0);
      return THP_FALLBACK;
    }
    if (pteMetadataNone(f) && port.metadataEnabled()) return this.metadataNonePmd(c, vma, i0, head);
    // A protnone PMD in an accessible VMA (or a METADATA_NONE one with the key off): make it present again.
    this.setPmdAt(vma, i0, head, this.pmdBits(vma, head, c.write, false));
    return FaultResult.Ok;
  }

  private orBits(vma: Vma, i0: number, bits: number): void {
    const pte = vma.pte;
    for (let k = 0; k < this.nr; k++) pte[i0 + k] = pte[i0 + k]! | bits;
  }

  /**
   * do_huge_pmd_metadata_none_page (kernel-facts §5.4): the §5.3 logic with order HPAGE_PMD_ORDER — reserve tag
   * storage for the whole folio (16 tag pages for 2 MiB at 4K), remap the PMD with set_pmd_at; a folio in an
   * isolated pageblock replays; a folio on tag storage, or a failed reservation, migrates the whole THP (the
   * fault replays); EINTR replays; tags pending in tags_by_pfn replay once, then VM_FAULT_OOM.
   */
  private metadataNonePmd(c: FaultCtx, vma: Vma, i0: number, head: number): number {
    const L = this.L;
    const port = this.port;
    if ((vma.flags & VM_MTE) === 0) {
      this.setPmdAt(vma, i0, head, this.pmdBits(vma, head, c.write, false));
      return FaultResult.Ok;
    }
    if (port.isIsolatedPageblock(head)) return THP_REPLAY;
    if (port.isMetadataPage(head)) return this.migrateFolio(c, head);
    const ret = port.reserveMetadata(head, this.order, Gfp.HighuserMovable);
    if (ret === 0) {
      // Revalidate (the reservation may have migrated data pages but never this folio: it is mapped here).
      const f = vma.pte[i0]!;
      if (vma.pfn[i0] !== head || !pteMetadataNone(f) || (f & PTE_PMD) === 0) return THP_REPLAY;
      this.setPmdAt(vma, i0, head, this.pmdBits(vma, head, c.write, false));
      return FaultResult.Ok;
    }
    if (ret === EINTR) return THP_REPLAY;
    const byPfn = L.tags.tagsByPfn;
    if (byPfn.size > 0) {
      for (let k = 0; k < this.nr; k++) {
        if (!byPfn.has(head + k)) continue;
        // page_metadata_in_swap: "TODO: support migrating swap metadata with the page".
        if (c.tried) return FaultResult.Oom;
        c.tried = true;
        return THP_REPLAY;
      }
    }
    return this.migrateFolio(c, head);
  }

  private migrateFolio(c: FaultCtx, head: number): number {
    const hooks = this.L.migration;
    if (hooks === undefined) {
      c.why = 'migrating a PAGE_METADATA_NONE huge page (kernel-facts §5.4) needs page migration (src/mm/migrate.ts)';
      return FaultResult.NotModelled;
    }
    hooks.migrateMetadataNonePage(head);
    return THP_REPLAY;
  }

  // ---------------------------------------------------------------------------------------------------------
  // mprotect, split, zap

  /**
   * change_huge_pmd for the PMD whose slots start at i0 (mprotect over the whole range). With
   * MM_CP_PROT_METADATA_NONE (§5.2) the PMD becomes PAGE_METADATA_NONE unless it already is or the folio is
   * already tagged. Returns the slot after the PMD.
   */
  changeProtPmd(vma: Vma, idx: number, metadataNone: boolean): number {
    const i0 = this.groupStart(vma, idx);
    const f = vma.pte[i0]!;
    const head = vma.pfn[i0]!;
    const port = this.port;
    const end = i0 + this.nr;
    if ((f & PTE_PRESENT_MASK) === 0 || (f & PTE_PMD) === 0) return end;
    if (metadataNone) {
      if (pteMetadataNone(f)) return end;
      if (!port.testFlag(head, PageFlag.MteTagged)) {
        this.setAll(vma, i0, PAGE_METADATA_NONE | PTE_TAGGED | PTE_PMD);
        return end;
      }
    }
    let nf: number;
    if ((vma.flags & (VM_READ | VM_WRITE)) === 0) {
      nf = PTE_PROT_NONE | PTE_PMD | (f & PTE_TAGGED);
    } else {
      nf = PTE_VALID | PTE_PMD | (f & (PTE_YOUNG | PTE_DIRTY));
      if ((vma.flags & VM_MTE) !== 0) nf |= PTE_TAGGED;
      if ((vma.flags & VM_WRITE) !== 0 && ((f & PTE_WRITE) !== 0 || this.exclusive(head))) nf |= PTE_WRITE;
    }
    // fix.metadata_none off: the PMD is mapped tagged at once, so its tag storage is reserved now, order 9, as
    // src/process/migrate_mprotect.ts does for PTEs (the design the fix replaced).
    if (
      (nf & (PTE_VALID | PTE_TAGGED)) === (PTE_VALID | PTE_TAGGED) &&
      (f & PTE_TAGGED) === 0 &&
      !this.L.fixMetadataNone &&
      port.metadataEnabled() &&
      !port.testFlag(head, PageFlag.TagStorageReserved) &&
      !port.isMetadataPage(head)
    )
      port.reserveMetadata(head, this.order, Gfp.HighuserMovable);
    if ((nf & PTE_VALID) !== 0 && !pteMetadataNone(f)) this.setPmdAt(vma, i0, head, nf);
    else if ((nf & PTE_VALID) === 0) this.setAll(vma, i0, nf);
    return end;
  }

  private setAll(vma: Vma, i0: number, bits: number): void {
    const pte = vma.pte;
    for (let k = 0; k < this.nr; k++) pte[i0 + k] = bits;
  }

  /**
   * __split_huge_pmd for the PMD whose slots start at i0: the deposited PTE table takes over, each PTE keeps the
   * PMD's bits (present, protnone/METADATA_NONE or migration entry). The folio stays compound (PTE-mapped).
   */
  splitHugePmd(vma: Vma, i0: number): void {
    if ((vma.pte[i0]! & PTE_PMD) === 0) return;
    const pte = vma.pte;
    for (let k = 0; k < this.nr; k++) pte[i0 + k] = pte[i0 + k]! & ~PTE_PMD;
    this.port.count('thp_split_pmd', 1);
    this.pmdMapped(this.headOf(vma.pfn[i0]!), -1);
  }

  /** vma_adjust_trans_huge: before a VMA is cut at addr, a PMD that straddles addr is split. */
  splitPmdAt(vma: Vma, addr: number): void {
    if (addr % this.size === 0 || addr <= vma.start || addr >= vma.end) return;
    const idx = (addr - vma.start) / this.port.pageSize;
    if ((vma.pte[idx]! & PTE_PMD) !== 0) this.splitHugePmd(vma, this.groupStart(vma, idx));
  }

  /**
   * zap_huge_pmd for the PMD containing slot idx: every slot is cleared, each subpage loses the PMD's reference;
   * when no subpage is mapped any more the folio is freed in one piece (free_metadata_storage(page, 9)).
   */
  zapHugePmd(vma: Vma, idx: number): void {
    const L = this.L;
    const port = this.port;
    const i0 = this.groupStart(vma, idx);
    const head = vma.pfn[i0]!;
    const pte = vma.pte;
    for (let k = 0; k < this.nr; k++) {
      pte[i0 + k] = 0;
      vma.pfn[i0 + k] = 0;
      vma.token[i0 + k] = 0;
      vma.tagSum[i0 + k] = 0;
    }
    const v = this.folios.get(head);
    if (v === undefined) {
      // Not a compound folio any more (cannot happen while a PMD maps it): drop the references one by one.
      for (let k = 0; k < this.nr; k++) L.putPage(head + k);
      return;
    }
    this.pmdMapped(head, -1);
    let gone = 0;
    for (let k = 0; k < this.nr; k++) {
      const p = head + k;
      const r = port.pageRef(p) - 1;
      port.setPageRef(p, r);
      if (r > 0) continue;
      L.unaccountAnon(p);
      gone++;
    }
    if (gone > 0) this.subpagesUnmapped(head, gone);
  }

  /**
   * put_page of a subpage whose last mapping went (layer.putPage, after unaccounting it). Returns false if pfn
   * is not part of a compound THP (the caller frees it as a base page).
   */
  freeSubpage(pfn: number): boolean {
    const head = this.headOf(pfn);
    if (!this.folios.has(head)) return false;
    this.subpagesUnmapped(head, 1);
    return true;
  }

  private subpagesUnmapped(head: number, n: number): void {
    const v = this.folios.get(head)!;
    const live = (v % LIVE) - n;
    if (live <= 0) {
      // The last subpage went: the folio is freed whole.
      this.folios.delete(head);
      this.deferred.delete(head);
      const byPfn = this.L.tags.tagsByPfn;
      if (byPfn.size > 0) for (let k = 0; k < this.nr; k++) byPfn.delete(head + k);
      this.port.setPageRef(head, 0);
      this.port.freePages(head, this.order);
      return;
    }
    this.folios.set(head, v - n);
    if (!this.deferred.has(head)) {
      this.deferred.add(head);
      this.port.count('thp_deferred_split_page', 1);
    }
  }

  /** deferred_split_scan: every queued folio is split (called from layer.flush()). */
  deferredSplitScan(): void {
    for (const head of [...this.deferred]) this.splitFolio(head);
  }

  /**
   * split_huge_page: every PMD still mapping the folio is split (TTU_SPLIT_HUGE_PMD), subpages nobody maps are
   * freed, the others become base pages (their tag storage stays reserved per page). thp_split_page.
   */
  splitFolio(head: number): void {
    if (!this.folios.has(head)) return;
    const L = this.L;
    const port = this.port;
    const pmds: [Vma, number][] = [];
    if (port.pageRef(head) > 0) {
      L.rmap.walk(head, (vma, idx) => {
        if ((vma.pte[idx]! & PTE_PMD) !== 0) pmds.push([vma, idx]);
      });
    }
    for (const [vma, idx] of pmds) this.splitHugePmd(vma, this.groupStart(vma, idx));
    this.folios.delete(head);
    this.deferred.delete(head);
    port.count('thp_split_page', 1);
    for (let k = 0; k < this.nr; k++) {
      const p = head + k;
      if (port.pageRef(p) > 0) continue;
      port.freePages(p, 0);
    }
  }

  /**
   * shrink_folio_list / MADV_PAGEOUT meeting a THP subpage: without THP swap (arm64 with MTE) the folio is split
   * first; thp_swpout_fallback when it was PMD-mapped (add_to_swap failed for the whole folio).
   */
  splitForSwap(pfn: number): void {
    const head = this.headOf(pfn);
    if (!this.folios.has(head)) return;
    if (this.pmdMapcount(head) > 0) this.port.count('thp_swpout_fallback', 1);
    this.splitFolio(head);
  }

  // ---------------------------------------------------------------------------------------------------------
  // fork (copy_huge_pmd) and migration of a whole folio

  /** copy_huge_pmd: the child maps the same folio with a PMD of its own (one more reference on every subpage). */
  dupPmd(head: number): void {
    const port = this.port;
    for (let k = 0; k < this.nr; k++) port.setPageRef(head + k, port.pageRef(head + k) + 1);
    this.pmdMapped(head, 1);
  }

  /**
   * try_to_migrate for a folio: returns a handle with every mapping of every subpage turned into a migration
   * entry (a PMD becomes a PMD migration entry, PTE_PMD kept) and one isolation reference on each subpage; or
   * undefined when pfn is a tail page — then the folio is split (migrate_pages splitting a THP it cannot move
   * whole) and the caller migrates pfn as a base page; or null when it cannot be unmapped.
   */
  unmapFolio(pfn: number): FolioHandle | null | undefined {
    const head = this.headOf(pfn);
    if (pfn !== head) {
      // THP_MIGRATION_SPLIT: the folio is split so that its pages can move one by one.
      this.splitFolio(head);
      this.port.count('thp_migration_split', 1);
      return undefined;
    }
    const port = this.port;
    const rmap = this.L.rmap;
    for (let k = 0; k < this.nr; k++) if (port.pageRef(head + k) <= 0) return null;
    for (let k = 0; k < this.nr; k++) {
      const p = head + k;
      rmap.walk(p, (vma, idx) => {
        const f = vma.pte[idx]!;
        vma.pte[idx] = PTE_MIGRATION | (f & (PTE_WRITE | PTE_PMD));
      });
      port.setPageRef(p, port.pageRef(p) + 1);
    }
    return { src: head, folio: true };
  }

  /** remove_migration_ptes(src → dst) for a folio: mappings (PMD or PTE) move to the destination folio. */
  remapFolio(h: FolioHandle, dst: number): void {
    this.moveFolio(h.src, dst);
  }

  /** remove_migration_ptes(src → src): the migration failed, the folio's mappings come back. */
  undoFolio(h: FolioHandle): void {
    this.moveFolio(h.src, h.src);
  }

  private moveFolio(src: number, dst: number): void {
    const L = this.L;
    const port = this.port;
    const v = this.folios.get(src) ?? 0;
    const pmd = Math.floor(v / LIVE);
    const nr = this.nr;
    // Pass 1: the migration entries of every subpage (found while the source words are intact).
    const firstVma: (Vma | undefined)[] = new Array<Vma | undefined>(nr);
    const firstIdx = new Int32Array(nr);
    const slotVma: Vma[] = [];
    const slotIdx: number[] = [];
    const slotK: number[] = [];
    for (let k = 0; k < nr; k++) {
      const s = src + k;
      if (port.pageRef(s) <= 0) continue;
      L.rmap.walk(s, (vma, idx) => {
        const f = vma.pte[idx]!;
        if ((f & PTE_MIGRATION) === 0) return;
        if (firstVma[k] === undefined) {
          firstVma[k] = vma;
          firstIdx[k] = idx;
        }
        // A PMD migration entry is restored once, from its first slot (remove_migration_pmd → set_pmd_at).
        if ((f & PTE_PMD) !== 0 && k !== 0) return;
        slotVma.push(vma);
        slotIdx.push(idx);
        slotK.push(k);
      });
    }
    // Pass 2: references, owner and counters move subpage by subpage; the isolation reference goes.
    let live = 0;
    for (let k = 0; k < nr; k++) {
      const s = src + k;
      const d = dst + k;
      const ref = port.pageRef(s) - 1;
      const fv = firstVma[k];
      if (ref <= 0 || fv === undefined) {
        if (port.testFlag(s, PageFlag.Anon)) L.unaccountAnon(s);
        port.setPageRef(s, 0);
        if (d !== s) port.setPageRef(d, 0);
        continue;
      }
      live++;
      if (d === s) {
        port.setPageRef(s, ref);
        continue;
      }
      L.unaccountAnon(s);
      port.setPageRef(s, 0);
      port.setPageRef(d, ref);
      L.addAnonRmap(fv, firstIdx[k]!, d);
    }
    // Pass 3: the entries become mappings of the destination.
    for (let j = 0; j < slotVma.length; j++) {
      const vma = slotVma[j]!;
      const idx = slotIdx[j]!;
      const f = vma.pte[idx]!;
      if ((f & PTE_PMD) !== 0) {
        this.setPmdAt(vma, idx, dst, this.migrationBits(vma, f) | PTE_PMD);
        continue;
      }
      const d = dst + slotK[j]!;
      vma.pfn[idx] = d;
      L.setPteAt(vma, idx, d, this.migrationBits(vma, f));
    }
    if (dst !== src) {
      this.folios.delete(src);
      this.deferred.delete(src);
    }
    if (live === 0) {
      this.folios.delete(dst);
      this.deferred.delete(dst);
      port.freePages(dst, this.order);
      return;
    }
    this.folios.set(dst, pmd * LIVE + live);
    if (live < nr && !this.deferred.has(dst)) {
      this.deferred.add(dst);
      port.count('thp_deferred_split_page', 1);
    }
  }

  /** The bits a migration entry turns back into (remove_migration_pte): writable only if the entry was. */
  private migrationBits(vma: Vma, f: number): number {
    if ((vma.flags & (VM_READ | VM_WRITE)) === 0) return PTE_PROT_NONE | ((vma.flags & VM_MTE) !== 0 ? PTE_TAGGED : 0);
    let bits = PTE_VALID | PTE_YOUNG | ((vma.flags & VM_MTE) !== 0 ? PTE_TAGGED : 0);
    if ((f & PTE_WRITE) !== 0 && (vma.flags & VM_WRITE) !== 0) bits |= PTE_WRITE;
    return bits;
  }
}

/** Returns true if a slot's bits are a PMD mapping (or PMD migration entry) rather than a PTE. */
export function isPmdSlot(f: number): boolean {
  return (f & PTE_PMD) !== 0;
}
