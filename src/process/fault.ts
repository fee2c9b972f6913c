/**
 * The page fault handler (mm/memory.c handle_pte_fault and friends) written as a small state machine, so
 * that a scheduler can interleave it with other kernel operations at the points where the kernel drops the
 * page table lock (PTL): a FaultCtx is one fault in flight, `faultStep()` runs one atomic step and returns
 * true when the fault is finished. `run` drives it to completion; a `race` block interleaves contexts.
 * A FaultCtx is reused for every fault of a sequential touch, so the hot path allocates no objects.
 *
 * Steps (each runs with the PTL held or without it, as the kernel):
 *   START       look at the PTE: none -> zero page / ANON_ALLOC; write to read-only -> reuse or COW_ALLOC;
 *               PAGE_METADATA_NONE -> MDNONE (kernel-facts §5.3); migration entry -> replay.
 *   ANON_ALLOC  (no PTL) allocate GFP_HIGHUSER_MOVABLE (+ __GFP_TAGGED for VM_MTE, §3.5 P23), clear data/tags
 *   ANON_MAP    (PTL) recheck pte_none, set_pte_at (mte_sync_tags, §5.5 net), counters
 *   COW_ALLOC   (no PTL) allocate and copy from the old page (or clear, for the zero page)
 *   COW_MAP     (PTL) recheck the PTE still maps the old page, switch, put the old page
 *   MDNONE      (PTL) revalidate, take a page reference (do_metadata_none_page step 1-3)
 *   MDNONE_RES  (no PTL) ISOLATE -> replay; METADATA page -> migrate; else reserve_metadata_storage
 *   MDNONE_MAP  (PTL) revalidate, make the PTE present (set_pte_at -> mte_sync_tags)
 */
import type { ProcessLayer } from './layer.js';
import type { Vma } from './mm.js';
import { VM_MTE, VM_READ, VM_SHARED, VM_WRITE } from './mm.js';
import { EINTR, Gfp } from './port.js';
import { THP_FALLBACK, THP_REPLAY } from './thp.js';
import {
  PTE_DIRTY,
  PTE_METADATA_NONE,
  PTE_MIGRATION,
  PTE_PMD,
  PTE_PROT_NONE,
  PTE_SWAP,
  PTE_TAGGED,
  PTE_VALID,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.js';

enum Step {
  Start,
  AnonAlloc,
  AnonMap,
  CowAlloc,
  CowMap,
  MdNone,
  MdNoneReserve,
  MdNoneMap,
  /** do_swap_page before the PTL: read the page (src/process/swap.ts, issue #5). */
  SwapIn,
  /** do_swap_page under the PTL: revalidate, restore tags, map, swap_free. */
  SwapMap,
  Done,
}

/** How a fault ended (VM_FAULT_* and the signal the task would get). */
export const FaultResult = {
  /** Mapped (or nothing to do). */
  Ok: 0,
  /** VM_FAULT_OOM: pagefault_out_of_memory. */
  Oom: 1,
  /** SIGSEGV SEGV_ACCERR: the VMA does not allow the access. */
  AccErr: 2,
  /** The fault needs a mechanism that is not modelled yet (swap-in, METADATA_NONE migration). */
  NotModelled: 3,
  /** The fault made no progress: replayed MAX_REPLAYS times (the kernel would keep retrying: a livelock). */
  Stuck: 4,
} as const;
export type FaultResult = (typeof FaultResult)[keyof typeof FaultResult];

export class FaultCtx {
  vma!: Vma;
  idx = 0;
  write = false;
  step: Step = Step.Done;
  /** The page allocated by ANON_ALLOC / COW_ALLOC, or the page MDNONE holds a reference on. */
  page = -1;
  /** The pfn the PTE held when the fault looked at it. */
  oldPfn = -1;
  /** FAULT_FLAG_TRIED: the fault was retried once already. */
  tried = false;
  /** Replays so far (bounded, so a fault can never spin forever). */
  replays = 0;
  result: FaultResult = FaultResult.Ok;
  /** Human-readable reason for NotModelled. */
  why = '';

  start(vma: Vma, idx: number, write: boolean): void {
    this.vma = vma;
    this.idx = idx;
    this.write = write;
    this.step = Step.Start;
    this.page = -1;
    this.oldPfn = -1;
    this.tried = false;
    this.replays = 0;
    this.result = FaultResult.Ok;
  }
}

/** Upper bound on replays of one fault before it is reported as stuck. */
const MAX_REPLAYS = 64;

function finish(c: FaultCtx, r: FaultResult): boolean {
  c.result = r;
  c.step = Step.Done;
  return true;
}

function replay(L: ProcessLayer, c: FaultCtx): boolean {
  c.replays++;
  if (c.replays > MAX_REPLAYS) {
    c.why = `fault at 0x${(c.vma.start + c.idx * L.port.pageSize).toString(16)} makes no progress (replayed ${MAX_REPLAYS} times)`;
    return finish(c, FaultResult.Stuck);
  }
  c.step = Step.Start;
  return false;
}

/** Runs one atomic step of the fault; returns true when the fault has finished (see c.result). */
export function faultStep(L: ProcessLayer, c: FaultCtx): boolean {
  const vma = c.vma;
  const idx = c.idx;
  const port = L.port;
  switch (c.step) {
    case Step.Start: {
      L.pend.pgfault++;
      if (vma.pages === 0 || vma.dead) return finish(c, FaultResult.AccErr);
      const need = c.write ? VM_WRITE : VM_READ;
      if ((vma.flags & need) === 0) return finish(c, FaultResult.AccErr);
      let f = vma.pte[idx]!;
      if ((f & PTE_PMD) !== 0) {
        // A huge PMD (src/process/thp.ts): wp, §5.4 METADATA_NONE, protnone; fallback after a split.
        const r = L.thp.pmdFault(c);
        if (r === THP_REPLAY) return replay(L, c);
        if (r !== THP_FALLBACK) return finish(c, r as FaultResult);
        f = vma.pte[idx]!;
      }
      if (f === 0) {
        if (c.write) {
          // do_huge_pmd_anonymous_page (src/process/thp.ts); THP_FALLBACK takes the 4K path below.
          const r = L.thp.hugeAnonymousFault(vma, idx, true);
          if (r !== THP_FALLBACK) return finish(c, r as FaultResult);
        }
        if (!c.write && (vma.flags & VM_SHARED) === 0) {
          // do_anonymous_page: a read of untouched private memory maps the zero page, read-only. Its tag
          // block was reserved at boot (v1 P27), so it needs nothing here even in a VM_MTE VMA.
          if (!L.ensureTables(vma.mm, vma.start + idx * port.pageSize)) return finish(c, FaultResult.Oom);
          vma.pfn[idx] = port.zeroPfn;
          vma.pte[idx] = PTE_VALID | PTE_YOUNG | ((vma.flags & VM_MTE) !== 0 ? PTE_TAGGED : 0);
          return finish(c, FaultResult.Ok);
        }
        c.step = Step.AnonAlloc;
        return false;
      }
      if ((f & PTE_VALID) !== 0) {
        if (!c.write || (f & PTE_WRITE) !== 0) {
          vma.pte[idx] = f | PTE_YOUNG | (c.write ? PTE_DIRTY : 0);
          return finish(c, FaultResult.Ok);
        }
        // do_wp_page: an exclusive anon page is reused, anything else (the zero page) is copied.
        const pfn = vma.pfn[idx]!;
        if (pfn !== port.zeroPfn && port.pageRef(pfn) === 1) {
          port.count('pgreuse', 1); // wp_page_reuse
          vma.pte[idx] = f | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
          return finish(c, FaultResult.Ok);
        }
        c.oldPfn = pfn;
        c.step = Step.CowAlloc;
        return false;
      }
      if ((f & PTE_MIGRATION) !== 0) return replay(L, c); // migration_entry_wait
      if ((f & PTE_SWAP) !== 0) {
        if (L.swap === undefined) {
          c.why = 'swap-in (do_swap_page) is not modelled yet';
          return finish(c, FaultResult.NotModelled);
        }
        c.oldPfn = vma.pfn[idx]!; // the swap entry
        c.step = Step.SwapIn;
        return false;
      }
      if ((f & PTE_METADATA_NONE) !== 0 && port.metadataEnabled()) {
        c.step = Step.MdNone;
        return false;
      }
      // A protnone PTE in an accessible VMA (NUMA hinting or a stale METADATA_NONE with the key off):
      // make it present again.
      L.setPteAt(vma, idx, vma.pfn[idx]!, L.presentBits(vma, vma.pfn[idx]!, c.write));
      return finish(c, FaultResult.Ok);
    }

    case Step.AnonAlloc: {
      const pfn = anonAlloc(L, vma);
      if (pfn < 0) return finish(c, FaultResult.Oom);
      L.hold(pfn);
      c.page = pfn;
      c.step = Step.AnonMap;
      return false;
    }

    case Step.AnonMap:
      L.unhold(c.page);
      return finish(c, anonMap(L, vma, idx, c.page, c.write));

    case Step.CowAlloc: {
      const tagged = (vma.flags & VM_MTE) !== 0;
      const pfn = port.allocPages(0, Gfp.HighuserMovable | (tagged ? Gfp.Tagged : 0));
      if (pfn < 0) return finish(c, FaultResult.Oom);
      L.prepNewPage(pfn, tagged);
      if (c.oldPfn !== port.zeroPfn) L.copyHighpage(pfn, c.oldPfn);
      L.hold(pfn);
      c.page = pfn;
      c.step = Step.CowMap;
      return false;
    }

    case Step.CowMap: {
      const pfn = c.page;
      L.unhold(pfn);
      if (vma.pfn[idx] !== c.oldPfn || (vma.pte[idx]! & PTE_VALID) === 0 || vma.dead) {
        L.releaseNewPage(pfn);
        return replay(L, c);
      }
      if (c.oldPfn !== port.zeroPfn) L.putPage(c.oldPfn);
      L.addAnonRmap(vma, idx, pfn);
      L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, true));
      L.writeData(vma, idx);
      return finish(c, FaultResult.Ok);
    }

    case Step.MdNone: {
      // do_metadata_none_page, kernel-facts §5.3 step 1-3: revalidate under the PTL, take a reference.
      const f = vma.pte[idx]!;
      if ((f & PTE_METADATA_NONE) === 0 || (f & PTE_PROT_NONE) === 0) return replay(L, c);
      const pfn = vma.pfn[idx]!;
      if (pfn === port.zeroPfn || (vma.flags & VM_MTE) === 0) {
        // "should never happen": no normal page, or the VMA lost VM_MTE — map it directly.
        L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, c.write));
        return finish(c, FaultResult.Ok);
      }
      port.setPageRef(pfn, port.pageRef(pfn) + 1);
      L.hold(pfn);
      c.page = pfn;
      c.step = Step.MdNoneReserve;
      return false;
    }

    case Step.MdNoneReserve: {
      const pfn = c.page;
      // Every path below drops the reference except a successful reservation, which keeps it until MDNONE_MAP.
      L.unhold(pfn);
      if (port.isIsolatedPageblock(pfn)) {
        L.putPage(pfn);
        return replay(L, c);
      }
      if (port.isMetadataPage(pfn)) {
        L.putPage(pfn);
        return doMigrate(L, c, pfn);
      }
      const ret = port.reserveMetadata(pfn, 0, Gfp.HighuserMovable);
      if (ret === 0) {
        L.hold(pfn);
        c.step = Step.MdNoneMap;
        return false;
      }
      return mdNoneReserveFailed(L, c, pfn, ret);
    }

    case Step.MdNoneMap: {
      const pfn = c.page;
      L.unhold(pfn);
      L.putPage(pfn);
      const f = vma.pte[idx]!;
      if (vma.pfn[idx] !== pfn || (f & PTE_METADATA_NONE) === 0 || (f & PTE_PROT_NONE) === 0) return replay(L, c);
      L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, c.write));
      return finish(c, FaultResult.Ok);
    }

    case Step.SwapIn: {
      const pfn = L.swap!.swapInRead(vma, idx, c.oldPfn);
      if (pfn === -1) return finish(c, FaultResult.Oom);
      if (pfn < 0) return replay(L, c);
      L.hold(pfn);
      c.page = pfn;
      c.step = Step.SwapMap;
      return false;
    }

    case Step.SwapMap: {
      L.unhold(c.page);
      if (!L.swap!.swapInMap(vma, idx, c.oldPfn, c.page, c.write)) return replay(L, c);
      return finish(c, FaultResult.Ok);
    }

    case Step.Done:
      return true;
  }
}

/** ANON_ALLOC: GFP_HIGHUSER_MOVABLE (+ __GFP_TAGGED for VM_MTE, §3.5 P23), cleared data and tags; -1 on OOM. */
function anonAlloc(L: ProcessLayer, vma: Vma): number {
  const tagged = (vma.flags & VM_MTE) !== 0;
  const pfn = L.port.allocPages(0, Gfp.HighuserMovable | (tagged ? Gfp.Tagged : 0));
  if (pfn >= 0) L.prepNewPage(pfn, tagged);
  return pfn;
}

/** ANON_MAP: recheck pte_none, the page tables, the rmap, set_pte_at (§5.5 net) and, for a write, the data. */
function anonMap(L: ProcessLayer, vma: Vma, idx: number, pfn: number, write: boolean): FaultResult {
  if (vma.pte[idx] !== 0 || vma.dead) {
    // Another fault (or an munmap, a reclaim, an OOM kill) got here first: drop our page.
    L.releaseNewPage(pfn);
    return FaultResult.Ok;
  }
  if (!L.ensureTables(vma.mm, vma.start + idx * L.port.pageSize)) {
    L.releaseNewPage(pfn);
    return FaultResult.Oom;
  }
  L.addAnonRmap(vma, idx, pfn);
  L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, write));
  if (write) L.writeData(vma, idx);
  return FaultResult.Ok;
}

/** MDNONE_RES after reserve_metadata_storage failed with `ret`: drop the reference, replay or migrate. */
function mdNoneReserveFailed(L: ProcessLayer, c: FaultCtx, pfn: number, ret: number): boolean {
  L.putPage(pfn);
  if (ret === EINTR) return replay(L, c);
  if (L.tags.tagsByPfn.has(pfn)) {
    // page_metadata_in_swap: "TODO: support migrating swap metadata with the page" — retry once, then OOM.
    if (c.tried) return finish(c, FaultResult.Oom);
    c.tried = true;
    return replay(L, c);
  }
  return doMigrate(L, c, pfn);
}

/** do_migrate of §5.3 step 4: migrate, then replay the fault whatever happened. */
function doMigrate(L: ProcessLayer, c: FaultCtx, pfn: number): boolean {
  const hooks = L.migration;
  if (hooks === undefined) {
    c.why =
      'migrating a PAGE_METADATA_NONE page to a tagged page (kernel-facts §5.3 do_migrate) is not modelled yet: ' +
      'it needs page migration (src/mm/migrate.ts)';
    return finish(c, FaultResult.NotModelled);
  }
  hooks.migrateMetadataNonePage(pfn);
  return replay(L, c);
}

/** Runs a fault to completion (sequential execution). */
export function handleMmFault(L: ProcessLayer, c: FaultCtx, vma: Vma, idx: number, write: boolean): FaultResult {
  c.start(vma, idx, write);
  while (!faultStep(L, c));
  return c.result;
}

// -------------------------------------------------------------------------------------------------------------
// Sequential fast lanes. `touch` runs its faults one after the other (no `race` interleaving, no in-flight
// tracking), so the common faults can run their steps back to back without the step dispatch. Each lane is
// exactly the steps above, in the same order with the same calls; the checks its caller has already made
// for the whole range (VMA flags, the PTE value) are not repeated. Anything uncommon is handed to the step
// machine at the point where it happens, so the outcome is the same as handleMmFault's.

/**
 * A write fault on a pte_none slot of a private VMA with VM_WRITE and without VM_HUGEPAGE (the caller checks
 * these and that no in-flight tracking is on): START (no THP: the 4K path) -> ANON_ALLOC -> ANON_MAP. The two
 * steps are written out here rather than shared with faultStep: as calls they cost about 8% of the tagged
 * fault rate (V8 stops inlining into `touch`); test/run/fast-lanes.test.ts keeps the two in step.
 */
export function anonWriteFault(L: ProcessLayer, vma: Vma, idx: number): FaultResult {
  L.pend.pgfault++;
  if (vma.dead) return FaultResult.AccErr;
  const pfn = anonAlloc(L, vma);
  if (pfn < 0) return FaultResult.Oom;
  return anonMap(L, vma, idx, pfn, true);
}

/** A fault on a swap PTE (no PMD, valid or migration bit) with swap hooks installed: START -> SWAP_IN -> SWAP_MAP. */
export function swapInFault(L: ProcessLayer, c: FaultCtx, vma: Vma, idx: number, write: boolean): FaultResult {
  L.pend.pgfault++;
  if (vma.pages === 0 || vma.dead) return FaultResult.AccErr;
  const sw = L.swap!;
  const entry = vma.pfn[idx]!;
  const pfn = sw.swapInRead(vma, idx, entry);
  if (pfn === -1) return FaultResult.Oom;
  if (pfn >= 0 && sw.swapInMap(vma, idx, entry, pfn, write)) return FaultResult.Ok;
  c.start(vma, idx, write);
  if (!replay(L, c)) while (!faultStep(L, c));
  return c.result;
}

/**
 * A fault on a PAGE_METADATA_NONE slot (kernel-facts §5.3) of a VM_MTE VMA that allows the access, with tag
 * storage management on (the caller checks these and that no in-flight tracking is on): START -> MDNONE ->
 * MDNONE_RES -> MDNONE_MAP. An isolated pageblock, a tag storage page, or a failed reservation continue in
 * the step machine.
 */
export function metadataNoneFault(L: ProcessLayer, c: FaultCtx, vma: Vma, idx: number, write: boolean): FaultResult {
  L.pend.pgfault++;
  if (vma.dead) return FaultResult.AccErr;
  const port = L.port;
  const pfn = vma.pfn[idx]!;
  // MDNONE (the caller saw PAGE_METADATA_NONE in the PTE)
  if (pfn === port.zeroPfn) {
    L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, write));
    return FaultResult.Ok;
  }
  port.setPageRef(pfn, port.pageRef(pfn) + 1);
  // MDNONE_RES
  if (port.isIsolatedPageblock(pfn) || port.isMetadataPage(pfn)) {
    c.start(vma, idx, write);
    c.page = pfn;
    c.step = Step.MdNoneReserve;
    while (!faultStep(L, c));
    return c.result;
  }
  const ret = port.reserveMetadata(pfn, 0, Gfp.HighuserMovable);
  if (ret !== 0) {
    c.start(vma, idx, write);
    if (!mdNoneReserveFailed(L, c, pfn, ret)) while (!faultStep(L, c));
    return c.result;
  }
  // MDNONE_MAP: put_page (the mapping still holds its reference, so the count stays above zero), revalidate.
  L.putPage(pfn);
  const f = vma.pte[idx]!;
  if (vma.pfn[idx] !== pfn || (f & PTE_METADATA_NONE) === 0 || (f & PTE_PROT_NONE) === 0) {
    c.start(vma, idx, write);
    if (!replay(L, c)) while (!faultStep(L, c));
    return c.result;
  }
  L.setPteAt(vma, idx, pfn, L.presentBits(vma, pfn, write));
  return FaultResult.Ok;
}
