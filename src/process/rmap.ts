/**
 * Reverse mapping (mm/rmap.c): from a physical page to the PTEs that map it, and the page-migration
 * primitives built on it. Page migration (src/mm/migrate.ts, `MigrateRmap`) and tag storage reservation
 * (alloc_contig_range moving data pages out of a tag block) use it.
 *
 * ## How a page is found (the kernel's anon_vma + page->index)
 * Every anonymous mapping gets an anon_vma and a range of *linear page indices* in one global index space
 * (starting at 1; like vm_pgoff = addr >> PAGE_SHIFT for anon VMAs, but never reused). An anon page in use
 * carries its linear index in the allocator's owner word (`a`). VMAs split from one mapping share the
 * anon_vma; a VMA's `pgoff` is the linear index of its first page, so the PTE of page P in VMA V is slot
 * `owner(P) - V.pgoff`. The anon_vma of an index is found by binary search over the index ranges.
 *
 * ## Reference counts
 * An anon page's refcount is the number of PTEs (present, PROT_NONE/METADATA_NONE, or migration entries)
 * referencing it, plus 1 while migration holds it isolated (unmap .. remap/undo). No gup pins yet.
 *
 * ## Interface for migration (matches src/mm/migrate.ts `MigrateRmap`)
 * ```
 * rmap.isMovable(pfn)        // an anon page mapped by a process, not pinned (isolate_lru_page would succeed)
 * rmap.isPinned(pfn)         // refcount above the references the rmap accounts for (never true yet)
 * rmap.folioOrder(pfn)       // HPAGE_PMD_ORDER for the head of a THP (src/process/thp.ts), else 0
 * rmap.folioHead(pfn)        // the THP's head for any of its pages, else pfn; unmap/remap/undo move a THP whole
 * rmap.unmap(pfn)            // try_to_migrate: PTEs -> migration entries, +1 isolation ref; handle or null
 * rmap.remap(handle, dst)    // remove_migration_ptes(src -> dst): entries -> dst through set_pte_at (mte_sync_tags
 *                            //   and the §5.5 METADATA_NONE net); owner, PageAnon and refcount move to dst.
 *                            //   src is left with refcount 0 and no owner: the caller frees it (freePages).
 * rmap.undo(handle)          // remove_migration_ptes(src -> src): migration failed, PTEs back, isolation ref dropped
 * rmap.rmapReplace(old, new) // unmap + remap in one atomic step; returns the number of PTEs moved
 * rmap.pageMapcount(pfn)     // PTEs referencing pfn
 * ```
 * The destination must be allocated by the caller (GFP_HIGHUSER_MOVABLE, + __GFP_TAGGED for a tagged
 * source, §3.5 P11) and its data/tags copied between unmap and remap (copy_highpage). Faults that meet a
 * migration entry replay until remap/undo (migration_entry_wait). Counters (nr_anon_pages, ...) do not
 * change across a migration: one page replaces another. pgmigrate_* are the caller's.
 *
 * The METADATA_NONE fault (§5.3 do_migrate) calls migration back through `MigrationHooks`, installed with
 * `layer.setMigrationHooks(...)`.
 */
import { PfnWordCache } from '../mm/memmap.js';
import type { MmPort, PortWords } from './port.js';
import { PageFlag } from './port.js';
import type { AnonVma, Vma } from './mm.js';
import { PTE_MIGRATION, PTE_PRESENT_MASK, PTE_WRITE } from './pte.js';
import type { FolioHandle, Thp } from './thp.js';

/** What the fault path needs from page migration (src/mm/migrate.ts). */
export interface MigrationHooks {
  /**
   * migrate_metadata_none_page (§5.3 step 4): isolate pfn, migrate it to a page allocated with
   * GFP_HIGHUSER_MOVABLE | __GFP_TAGGED (MR_METADATA_NONE, MIGRATE_SYNC, up to 5 tries while -EBUSY).
   * Returns true if the page was migrated. Either way the fault is replayed.
   */
  migrateMetadataNonePage(pfn: number): boolean;
}

/** What the rmap calls back into the process layer for. */
export interface RmapOwner {
  /** A migration entry becomes a mapping of pfn again (set_pte_at). */
  remapSlot(vma: Vma, idx: number, pfn: number): void;
  /** The last reference to an anon page went while it was isolated: unaccount it (not freed here). */
  unaccountAnon(pfn: number): void;
  /** Free a page the rmap found it no longer needs (a destination with nothing left to map). */
  releasePage(pfn: number): void;
  /** The LRU position moves from src to dst (per-zone counters follow the page's zone). */
  moveAccount(src: number, dst: number): void;
}

/** Opaque handle of an unmapped page (migration in flight). */
export interface MigrationHandle {
  readonly src: number;
}

export class Rmap {
  /** anon_vmas ordered by their first linear index. */
  private readonly ranges: AnonVma[] = [];
  private nextIndex = 1;
  /** Transparent huge pages: folio order/head and whole-folio migration (src/process/thp.ts). */
  folios: Thp | undefined;
  /**
   * The port's per-page words, when it has them: the migration primitives (isMovable, unmap, remap) then read
   * and write a page's flags, refcount and owner there, one index look-up per page instead of a port call per
   * field (the same words MachinePort's accessors use: flags, refcount, owner = words 0, 1, 2).
   */
  private readonly W: PortWords | undefined;
  private readonly wordCache: PfnWordCache | undefined;

  constructor(
    private readonly port: MmPort,
    private readonly owner: RmapOwner,
  ) {
    this.W = port.words;
    this.wordCache = this.W !== undefined ? new PfnWordCache(this.W) : undefined;
  }

  /** The index of pfn's first word in W (W must be defined), for the source and destination of a migration. */
  private wordOf(pfn: number): number {
    return this.wordCache!.of(pfn);
  }

  /** Creates the anon_vma of a new mapping of `pages` pages, with its own range of linear indices. */
  newAnonVma(pages: number, shared: boolean): AnonVma {
    const base = this.nextIndex;
    this.nextIndex += pages;
    if (this.nextIndex >= 0xfffffff0) throw new RangeError('linear page index space exhausted');
    const av: AnonVma = { base, end: base + pages, vmas: [], shared };
    this.ranges.push(av);
    return av;
  }

  /** Drops an anon_vma once no VMA uses it. */
  dropAnonVma(av: AnonVma): void {
    const i = this.ranges.indexOf(av);
    if (i >= 0) this.ranges.splice(i, 1);
  }

  /** The anon_vma whose index range contains `index`. */
  anonVmaOf(index: number): AnonVma | undefined {
    const r = this.ranges;
    let lo = 0;
    let hi = r.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const av = r[mid]!;
      if (index < av.base) hi = mid - 1;
      else if (index >= av.end) lo = mid + 1;
      else return av;
    }
    return undefined;
  }

  /** Returns true if pfn is a process page the rmap knows (anon or shared anon). */
  isAnonPage(pfn: number): boolean {
    return this.anonRef(pfn) > 0;
  }

  /** The refcount of pfn if it is a process page the rmap knows (isAnonPage), else 0. */
  private anonRef(pfn: number): number {
    const port = this.port;
    // A page in use holds a reference; a free page has none (and its flags were cleared when it was freed).
    if (pfn === port.zeroPfn) return 0;
    const W = this.W;
    if (W !== undefined) {
      const w = this.wordOf(pfn);
      if (((W.u32[w] as number) & W.anonBit) === 0) return 0;
      const r = W.i32[w + 1] as number;
      return r > 0 ? r : 0;
    }
    if (!port.testFlag(pfn, PageFlag.Anon)) return 0;
    const ref = port.pageRef(pfn);
    return ref > 0 ? ref : 0;
  }

  /** Calls fn(vma, slot) for every slot referencing pfn (present, protnone or migration entry). */
  walk(pfn: number, fn: (vma: Vma, idx: number) => void): void {
    if (!this.isAnonPage(pfn)) return;
    const index = this.port.getOwner(pfn);
    const av = this.anonVmaOf(index);
    if (av === undefined) return;
    for (const vma of av.vmas) {
      const idx = index - vma.pgoff;
      if (idx < 0 || idx >= vma.pages) continue;
      if (vma.pfn[idx] === pfn && (vma.pte[idx]! & (PTE_PRESENT_MASK | PTE_MIGRATION)) !== 0) fn(vma, idx);
    }
  }

  /** The slots walk() would visit, counted without a callback; `onlyMigration` counts migration entries only. */
  private countSlots(pfn: number, onlyMigration: boolean): number {
    const index = this.ownerOf(pfn);
    this.slotIndex = index;
    const av = this.anonVmaOf(index);
    if (av === undefined) return 0;
    const mask = onlyMigration ? PTE_MIGRATION : PTE_PRESENT_MASK | PTE_MIGRATION;
    let n = 0;
    let first = true;
    const vmas = av.vmas;
    for (let k = 0; k < vmas.length; k++) {
      const vma = vmas[k]!;
      const idx = index - vma.pgoff;
      if (idx < 0 || idx >= vma.pages) continue;
      if (vma.pfn[idx] === pfn && (vma.pte[idx]! & mask) !== 0) {
        if (first) {
          this.firstVma = vma;
          this.firstIdx = idx;
          first = false;
        }
        n++;
      }
    }
    return n;
  }
  /** The owner word of pfn: its linear index while it is an anon page. */
  private ownerOf(pfn: number): number {
    const W = this.W;
    return W !== undefined ? (W.u32[this.wordOf(pfn) + 2] as number) : this.port.getOwner(pfn);
  }

  /** The first slot countSlots found (valid when it returned > 0), and the linear index it looked up. */
  private firstVma: Vma | undefined;
  private firstIdx = 0;
  private slotIndex = 0;

  pageMapcount(pfn: number): number {
    return this.isAnonPage(pfn) ? this.countSlots(pfn, false) : 0;
  }

  /** Returns true if the page has references the rmap does not account for (a gup pin). */
  isPinned(pfn: number): boolean {
    const ref = this.anonRef(pfn);
    return ref > 0 && ref > this.countSlots(pfn, false);
  }

  /** Returns true if pfn is a mapped process page that migration may move. */
  isMovable(pfn: number): boolean {
    const ref = this.anonRef(pfn);
    if (ref === 0) return false;
    const n = this.countSlots(pfn, false);
    return n > 0 && ref <= n;
  }

  folioOrder(pfn: number): number {
    return this.folios !== undefined ? this.folios.folioOrder(pfn) : 0;
  }

  /** The head of the folio containing pfn (a THP's head, else pfn itself). */
  folioHead(pfn: number): number {
    return this.folios !== undefined ? this.folios.folioHead(pfn) : pfn;
  }

  /** try_to_migrate: every mapping of pfn becomes a migration entry (PTE_WRITE kept: writable entry). */
  unmap(pfn: number): MigrationHandle | null {
    if (this.folios !== undefined && this.folios.isCompound(pfn)) {
      const h = this.folios.unmapFolio(pfn); // a THP (src/process/thp.ts); undefined: split, go on as a base page
      if (h !== undefined) return h;
    }
    // walk() without a callback: every present/protnone/migration slot mapping pfn becomes a migration entry.
    const ref = this.anonRef(pfn);
    if (ref === 0) return null;
    const index = this.ownerOf(pfn);
    const av = this.anonVmaOf(index);
    if (av === undefined) return null;
    let n = 0;
    const vmas = av.vmas;
    for (let k = 0; k < vmas.length; k++) {
      const vma = vmas[k]!;
      const idx = index - vma.pgoff;
      if (idx < 0 || idx >= vma.pages) continue;
      const f = vma.pte[idx]!;
      if (vma.pfn[idx] === pfn && (f & (PTE_PRESENT_MASK | PTE_MIGRATION)) !== 0) {
        vma.pte[idx] = PTE_MIGRATION | (f & PTE_WRITE);
        n++;
      }
    }
    if (n === 0) return null;
    const W = this.W;
    if (W !== undefined) W.i32[this.wordOf(pfn) + 1] = ref + 1;
    else this.port.setPageRef(pfn, ref + 1);
    return { src: pfn };
  }

  private slotsOf(pfn: number): [Vma, number][] {
    const slots: [Vma, number][] = [];
    this.walk(pfn, (vma, idx) => {
      if ((vma.pte[idx]! & PTE_MIGRATION) !== 0) slots.push([vma, idx]);
    });
    return slots;
  }

  remap(handle: unknown, dst: number): void {
    if ((handle as FolioHandle).folio === true) return this.folios!.remapFolio(handle as FolioHandle, dst);
    const src = (handle as MigrationHandle).src;
    const port = this.port;
    // One mapping (the usual case): no slot list.
    if (this.anonRef(src) > 0 && this.countSlots(src, true) === 1) {
      const vma = this.firstVma!;
      const idx = this.firstIdx;
      this.firstVma = undefined;
      const W = this.W;
      if (W !== undefined) {
        // The port calls below, on the words (owner, PageAnon, refcount; then the source's cleared).
        const u = W.u32;
        const wd = this.wordOf(dst);
        u[wd + 2] = this.slotIndex >>> 0;
        u[wd] = ((u[wd] as number) | W.anonBit) >>> 0;
        W.i32[wd + 1] = 1;
        this.owner.moveAccount(src, dst);
        vma.pfn[idx] = dst;
        this.owner.remapSlot(vma, idx, dst);
        const ws = this.wordOf(src);
        W.i32[ws + 1] = 0;
        u[ws] = ((u[ws] as number) & ~W.anonBit) >>> 0;
        u[ws + 2] = 0;
        return;
      }
      port.setOwner(dst, this.slotIndex);
      port.setFlag(dst, PageFlag.Anon);
      port.setPageRef(dst, 1);
      this.owner.moveAccount(src, dst);
      vma.pfn[idx] = dst;
      this.owner.remapSlot(vma, idx, dst);
      port.setPageRef(src, 0);
      port.clearFlag(src, PageFlag.Anon);
      port.setOwner(src, 0);
      return;
    }
    const slots = this.slotsOf(src);
    if (slots.length === 0) {
      // Every mapping went while the page was isolated (munmap): nothing to map the destination into.
      this.owner.unaccountAnon(src);
      this.owner.releasePage(dst);
    } else {
      port.setOwner(dst, port.getOwner(src));
      port.setFlag(dst, PageFlag.Anon);
      port.setPageRef(dst, slots.length);
      this.owner.moveAccount(src, dst);
      for (const [vma, idx] of slots) {
        vma.pfn[idx] = dst;
        this.owner.remapSlot(vma, idx, dst);
      }
    }
    port.setPageRef(src, 0);
    port.clearFlag(src, PageFlag.Anon);
    port.setOwner(src, 0);
  }

  undo(handle: unknown): void {
    if ((handle as FolioHandle).folio === true) return this.folios!.undoFolio(handle as FolioHandle);
    const src = (handle as MigrationHandle).src;
    const slots = this.slotsOf(src);
    for (const [vma, idx] of slots) this.owner.remapSlot(vma, idx, src);
    const ref = this.port.pageRef(src) - 1;
    this.port.setPageRef(src, ref);
    if (ref === 0) {
      this.owner.unaccountAnon(src);
      this.owner.releasePage(src);
    }
  }

  rmapReplace(oldPfn: number, newPfn: number): number {
    const h = this.unmap(oldPfn);
    if (h === null) return 0;
    const n = this.slotsOf(oldPfn).length;
    this.remap(h, newPfn);
    return n;
  }
}
