/**
 * mm/page_isolation.c and the contiguous-range allocator of mm/page_alloc.c: `alloc_contig_range` taught
 * about MIGRATE_METADATA by v1 patch 24 (kernel-facts §3.5 P24), as reserve_metadata_storage uses it to
 * take tag storage blocks back from whoever holds them as data (§2.3 step 7).
 *
 *   start_isolate_page_range   every pageblock covering [start, end) becomes MIGRATE_ISOLATE (its free
 *                              pages move to the isolate lists, so nobody can allocate them), unless
 *                              has_unmovable_pages finds a page that cannot move (-EBUSY);
 *   __alloc_contig_migrate_range  the in-use movable pages of the range are migrated elsewhere (the
 *                              destination cannot land in the range: its free pages are isolated);
 *                              5 tries on a list that keeps failing, then -EBUSY;
 *   test_pages_isolated        every page of [start, end) must now be free, else -EBUSY;
 *   isolate_freepages_range    the free buddy blocks are taken off the lists; the parts outside the
 *                              range go back;
 *   undo_isolate_page_range    the pageblocks get the requested migratetype back.
 * On success every page of [start, end) is in use with a reference count of 1.
 *
 * Leans on migrate.ts for moving pages and on the buddy allocator through `IsolationMm`.
 */
import type { KernelLog } from '../sim/log.js';
import { GFP_HIGHUSER_MOVABLE, __GFP_NORETRY, __GFP_RETRY_MAYFAIL, __GFP_TAGGED } from './gfp.js';
import { PG_mte_tagged, PG_reserved, PG_tag_storage_reserved, type MemMap } from './memmap.js';
import { EBUSY, ENOMEM, MigFlag, MigrateReason, type MigrateMm, type Migrator, type PfnRange } from './migrate.js';
import type { PageAllocator } from './page_alloc.js';
import { VM_EVENT } from './vmstat.js';
import { MIGRATE_ISOLATE, MIGRATE_METADATA, MIGRATE_MOVABLE } from './zone.js';

/** What isolation needs from the buddy allocator beyond what migration needs. */
export interface IsolationMm extends MigrateMm {
  /** pageblock_nr_pages (512 for 4K pages). */
  readonly pageblockNrPages: number;
  /** MAX_ORDER (10 in v6.5; orders 0..MAX_ORDER). */
  readonly maxOrder: number;
  readonly migrateMetadata: number;
  readonly migrateIsolate: number;
  /** MIGRATE_CMA, or -1 when CMA is not modelled. */
  readonly migrateCma: number;
  pageblockMigratetype(pfn: number): number;
  /** set_migratetype_isolate: the pageblock becomes ISOLATE and its free pages move to the isolate lists. */
  isolatePageblock(pfn: number): void;
  /** unset_migratetype_isolate: the pageblock becomes `mt`, its free pages move (and merge) there. */
  unisolatePageblock(pfn: number, mt: number): void;
  /** The head pfn of the free buddy block containing pfn, or -1 (is_free_buddy_page). */
  freeBlockHead(pfn: number): number;
  /** The lowest pfn in [pfn, end) heading a free buddy block, or -1 (an index for scans; optional). */
  nextFreeHead?(pfn: number, end: number): number;
  /** The order of the free buddy block whose head is `head` (buddy_order), -1 if it is not one. */
  freeBlockOrder(head: number): number;
  /**
   * __isolate_free_page: removes the free buddy block at `head` from its list; each of its pages becomes in
   * use with a count of 1. False if it could not (watermark check outside isolated pageblocks).
   */
  takeFreeBlock(head: number, order: number): boolean;
  pageRef(pfn: number): number;
  setPageRef(pfn: number, count: number): void;
  /** PageReserved (memblock-reserved, never given to the buddy allocator). */
  isReservedPage(pfn: number): boolean;
  /** Flushes per-cpu free lists back to the buddy (drain_all_pages), if the allocator has them. */
  drainAllPages?(): void;
  /** drain_all_pages(zone) for the zone of pfn only. */
  drainZoneOf?(pfn: number): void;
  /** The kernel log, for WARN lines. */
  warn(text: string): void;
  /** The kernel log at debug level. */
  debug?(text: string): void;
}

/** Where the reverse map says a page belongs (a user folio) — needed to step over compound pages. */
export interface IsolationRmap {
  isMovable(pfn: number): boolean;
  isPinned(pfn: number): boolean;
  /** The head pfn of the folio containing pfn (pfn itself for a base page). */
  folioHead(pfn: number): number;
  folioOrder(head: number): number;
}

/** alloc_contig_range statistics, for reports and tests. */
export interface ContigStats {
  calls: number;
  ok: number;
  busy: number;
  nomem: number;
  migrated: number;
}

/** COMPACT_CLUSTER_MAX: isolate_migratepages_range collects at most this many folios at a time. */
const COMPACT_CLUSTER_MAX = 32;

export class PageIsolation {
  readonly stats: ContigStats = { calls: 0, ok: 0, busy: 0, nomem: 0, migrated: 0 };

  constructor(
    readonly mm: IsolationMm,
    readonly rmap: IsolationRmap,
    readonly migrator: Migrator,
  ) {}

  /** The head of the free buddy block that contains pfn, or -1 if pfn is not free. */
  freeBlockHeadOf(pfn: number): number {
    return this.mm.freeBlockHead(pfn);
  }

  /**
   * has_unmovable_pages for [start, end) inside one pageblock of type `pbMt`, asked for `mt` (v6.5 with
   * P24). Returns the first unmovable pfn, or -1 if everything can be moved or is free.
   */
  hasUnmovablePages(start: number, end: number, mt: number, pbMt: number): number {
    const mm = this.mm;
    // P24: a METADATA (like a CMA) pageblock is fine for a request of its own type, and never otherwise.
    if (pbMt === mm.migrateMetadata || (mm.migrateCma >= 0 && pbMt === mm.migrateCma)) {
      return mt === pbMt ? -1 : start;
    }
    for (let pfn = start; pfn < end;) {
      if (mm.isReservedPage(pfn)) return pfn;
      const head = this.freeBlockHeadOf(pfn);
      if (head >= 0) {
        pfn = head + (1 << mm.freeBlockOrder(head));
        continue;
      }
      if (mm.pageRef(pfn) === 0) {
        pfn++; // on a per-cpu list
        continue;
      }
      if (this.rmap.isMovable(pfn)) {
        const h = this.rmap.folioHead(pfn);
        if (this.migrator.isIsolated(h)) return pfn; // off the LRU: not movable by us
        pfn = h + (1 << this.rmap.folioOrder(h));
        continue;
      }
      return pfn;
    }
    return -1;
  }

  /**
   * start_isolate_page_range: isolates the pageblocks covering [start, end). Returns the pageblocks it
   * isolated with their old migratetypes, or EBUSY (nothing left isolated).
   */
  startIsolatePageRange(start: number, end: number, mt: number): number[] | number {
    const mm = this.mm;
    const nr = mm.pageblockNrPages;
    const done: number[] = [];
    for (let pb = start - (start % nr); pb < end; pb += nr) {
      const cur = mm.pageblockMigratetype(pb);
      const bad =
        cur === mm.migrateIsolate ? pb : this.hasUnmovablePages(Math.max(pb, start), Math.min(pb + nr, end), mt, cur);
      if (bad >= 0) {
        for (let i = done.length - 2; i >= 0; i -= 2) mm.unisolatePageblock(done[i]!, done[i + 1]!);
        return EBUSY;
      }
      // isolate_single_pageblock: a free buddy block larger than a pageblock that crosses its edge (an
      // order-10 block over two pageblocks) is split first, so that only this pageblock's pages are isolated.
      const head = mm.freeBlockHead(pb);
      const order = head >= 0 ? mm.freeBlockOrder(head) : -1;
      const split = head >= 0 && (head < pb || head + (1 << order) > pb + nr) && mm.takeFreeBlock(head, order);
      mm.isolatePageblock(pb);
      if (split) this.freeRangeAligned(head, head + (1 << order), Math.log2(nr));
      done.push(pb, cur);
    }
    return done;
  }

  /** undo_isolate_page_range: the isolated pageblocks become `mt`. */
  undoIsolatePageRange(isolated: number[], mt: number): void {
    for (let i = 0; i < isolated.length; i += 2) this.mm.unisolatePageblock(isolated[i]!, mt);
  }

  /**
   * isolate_migratepages_range (the alloc_contig part): collects up to COMPACT_CLUSTER_MAX movable,
   * unpinned folios from [pfn, end). Returns the pfn where it stopped.
   */
  private isolateMigratepagesRange(pfn: number, end: number, list: number[]): number {
    const mm = this.mm;
    while (pfn < end && list.length < COMPACT_CLUSTER_MAX) {
      const head = this.freeBlockHeadOf(pfn);
      if (head >= 0) {
        pfn = head + (1 << mm.freeBlockOrder(head));
        continue;
      }
      if (mm.pageRef(pfn) !== 0 && this.rmap.isMovable(pfn)) {
        const h = this.rmap.folioHead(pfn);
        // v6.5 skips an anonymous page with more references than mappings (gup pinned): it cannot move.
        if (!this.rmap.isPinned(h) && !this.migrator.isIsolated(h)) list.push(h);
        pfn = h + (1 << this.rmap.folioOrder(h));
        continue;
      }
      pfn++;
    }
    return pfn;
  }

  /** __alloc_contig_migrate_range (v6.5): 0, -EBUSY or -ENOMEM. */
  private allocContigMigrateRange(start: number, end: number, gfp: number, avoid: PfnRange): number {
    let pfn = start;
    let tries = 0;
    let ret = 0;
    const list: number[] = [];
    while (pfn < end || list.length > 0) {
      if (list.length === 0) {
        pfn = this.isolateMigratepagesRange(pfn, end, list);
        tries = 0;
        if (list.length === 0) continue;
      } else if (++tries === 5) {
        ret = EBUSY;
        break;
      }
      const before = list.length;
      ret = this.migrator.migratePages(list, MigrateReason.MR_CONTIG_RANGE, gfp, avoid);
      this.stats.migrated += before - list.length;
      if (ret === ENOMEM) break;
      ret = 0;
    }
    return ret;
  }

  /** test_pages_isolated: returns true if every page of [start, end) is free. */
  testPagesIsolated(start: number, end: number): boolean {
    for (let pfn = start; pfn < end;) {
      const head = this.freeBlockHeadOf(pfn);
      if (head < 0) return false;
      pfn = head + (1 << this.mm.freeBlockOrder(head));
    }
    return true;
  }

  /**
   * alloc_contig_range(start, end, migratetype, gfp): 0 with every page of [start, end) in use (count 1),
   * or -EBUSY / -ENOMEM with nothing taken.
   */
  allocContigRange(start: number, end: number, migratetype: number, gfp: number): number {
    const mm = this.mm;
    this.stats.calls++;
    const isolated = this.startIsolatePageRange(start, end, migratetype);
    if (typeof isolated === 'number') {
      this.stats.busy++;
      return isolated;
    }
    // drain_all_pages(cc.zone): pcp pages of the range become visible as free. Pages freed later by the
    // migrations land on the isolate lists directly (ISOLATE pages bypass the pcp lists).
    if (mm.drainZoneOf !== undefined) mm.drainZoneOf(start);
    else mm.drainAllPages?.();
    let ret = this.allocContigMigrateRange(start, end, gfp, { start, end });
    if (ret === 0) {
      if (!this.testPagesIsolated(start, end)) {
        // Until v5.x this was pr_info_ratelimited("%s: [%lx, %lx) PFNs busy\n"); whether v6.5 still prints it
        // is not confirmed, so the emulator keeps it at debug level (shown only with the debug log).
        mm.debug?.(`alloc_contig_range: [${start.toString(16)}, ${end.toString(16)}) PFNs busy`);
        ret = EBUSY;
      }
    }
    if (ret === 0) {
      // isolate_freepages_range: take the buddy blocks covering [start, end); the parts outside go back
      // (onto the isolate lists, as the pageblocks are still isolated).
      for (let pfn = start; pfn < end;) {
        const head = this.freeBlockHeadOf(pfn);
        const order = mm.freeBlockOrder(head);
        const blockEnd = head + (1 << order);
        if (!mm.takeFreeBlock(head, order)) {
          this.freeRangeAligned(start, Math.max(start, pfn));
          ret = EBUSY;
          break;
        }
        this.freeRangeAligned(head, Math.min(start, blockEnd));
        this.freeRangeAligned(Math.max(end, head), blockEnd);
        pfn = blockEnd;
      }
    }
    this.undoIsolatePageRange(isolated, migratetype);
    if (ret === 0) this.stats.ok++;
    else if (ret === ENOMEM) this.stats.nomem++;
    else this.stats.busy++;
    return ret;
  }

  /**
   * Takes a free block of 2^order pages inside [start, end) off the buddy (the smallest free block that holds
   * one, split; the rest goes back). Returns its pfn, each page in use with count 1, or -1. Scans from
   * `start`: a model shortcut for allocating on a given memory range (a DT memory node).
   */
  takeFreeInRange(start: number, end: number, order: number): number {
    const mm = this.mm;
    const n = 1 << order;
    for (let pfn = start + ((n - (start % n)) % n); pfn + n <= end;) {
      const head = mm.freeBlockHead(pfn);
      if (head < 0) {
        if (mm.nextFreeHead === undefined) {
          pfn += n;
          continue;
        }
        // No page between pfn and the next free block's head is free (a free block holding one of them would
        // hold pfn too, or start before that head), so the scan goes on from the first aligned pfn there.
        const next = mm.nextFreeHead(pfn + 1, end);
        if (next < 0) break;
        pfn = Math.max(pfn + n, next + ((n - (next % n)) % n));
        continue;
      }
      const o = mm.freeBlockOrder(head);
      const blockEnd = head + (1 << o);
      if (o < order || !mm.takeFreeBlock(head, o)) {
        pfn = Math.max(pfn + n, blockEnd - (blockEnd % n));
        continue;
      }
      this.freeRangeAligned(head, pfn);
      this.freeRangeAligned(pfn + n, blockEnd);
      return pfn;
    }
    return -1;
  }

  /** Gives [lo, hi) (pages in use with count 1) back to the buddy in maximal aligned blocks of at most maxOrder. */
  private freeRangeAligned(lo: number, hi: number, maxOrder = this.mm.maxOrder): void {
    const mm = this.mm;
    while (lo < hi) {
      let order = 0;
      while (order < maxOrder && lo % (2 << order) === 0 && lo + (2 << order) <= hi) order++;
      for (let p = lo; p < lo + (1 << order); p++) mm.setPageRef(p, 0);
      mm.freePages(lo, order);
      lo += 1 << order;
    }
  }

  private putPage(pfn: number): void {
    const c = this.mm.pageRef(pfn) - 1;
    this.mm.setPageRef(pfn, c);
    if (c === 0) this.mm.freePages(pfn, 0);
  }

  /** free_contig_range(pfn, nr_pages): drops one reference of each page; WARNs about pages still in use. */
  freeContigRange(pfn: number, nrPages: number): void {
    let busy = 0;
    for (let p = pfn; p < pfn + nrPages; p++) {
      if (this.mm.pageRef(p) !== 1) busy++;
      this.putPage(p);
    }
    if (busy !== 0) this.mm.warn(`${busy} pages are still in use!`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The buddy allocator of page_alloc.ts seen through IsolationMm (and CompactionMm: migrateMovable, pfnValid).

/** Adapts PageAllocator (and its memmap words) to what isolation, migration and compaction need. */
export class BuddyMigrateMm implements IsolationMm {
  readonly pageSize: number;
  readonly pageblockNrPages: number;
  readonly maxOrder: number;
  readonly migrateMetadata = MIGRATE_METADATA;
  readonly migrateIsolate = MIGRATE_ISOLATE;
  readonly migrateMovable = MIGRATE_MOVABLE;
  /** CMA is not modelled by the allocator (totalcma_pages stays 0). */
  readonly migrateCma = -1;
  readonly gfpTagged = __GFP_TAGGED;
  readonly gfpHighuserMovable = GFP_HIGHUSER_MOVABLE;
  readonly gfpNoretry = __GFP_NORETRY;
  readonly gfpRetryMayfail = __GFP_RETRY_MAYFAIL;
  readonly memmap: MemMap;
  private lastHead = -1;
  private lastOrder = -1;

  constructor(
    readonly alloc: PageAllocator,
    private readonly log: KernelLog,
  ) {
    this.memmap = alloc.memmap;
    this.pageSize = alloc.geometry.pageSize;
    this.pageblockNrPages = alloc.geometry.pageblockNrPages;
    this.maxOrder = alloc.geometry.maxOrder;
  }

  allocPages(order: number, gfp: number): number {
    return this.alloc.allocPages(order, gfp);
  }
  freePages(pfn: number, order: number): void {
    this.lastHead = -1;
    this.alloc.freePages(pfn, order);
  }
  private static bit(flag: MigFlag): number {
    return flag === MigFlag.MteTagged ? PG_mte_tagged : PG_tag_storage_reserved;
  }
  testFlag(pfn: number, flag: MigFlag): boolean {
    return this.memmap.testFlag(pfn, BuddyMigrateMm.bit(flag));
  }
  setFlag(pfn: number, flag: MigFlag): void {
    this.memmap.setFlag(pfn, BuddyMigrateMm.bit(flag), true);
  }
  clearFlag(pfn: number, flag: MigFlag): void {
    this.memmap.setFlag(pfn, BuddyMigrateMm.bit(flag), false);
  }
  getToken(pfn: number): number {
    return this.memmap.token(pfn);
  }
  setToken(pfn: number, token: number): void {
    this.memmap.setToken(pfn, token);
  }
  metadataEnabled(): boolean {
    return this.alloc.arch.metadataEnabled;
  }
  private lastEventName = '';
  private lastEvent = -1;
  count(name: string, delta: number): void {
    // Callers pass the same few literal names over and over: the last look-up is kept.
    let i: number | undefined = this.lastEvent;
    if (name !== this.lastEventName) {
      i = VM_EVENT[name];
      if (i !== undefined) {
        this.lastEventName = name;
        this.lastEvent = i;
      }
    }
    if (i === undefined) throw new Error(`vmstat: no event ${name}`);
    if (delta !== 0) this.alloc.events.count(i, delta);
  }
  pageblockMigratetype(pfn: number): number {
    return this.alloc.pageblockMigratetype(pfn);
  }
  isolatePageblock(pfn: number): void {
    this.lastHead = -1;
    this.alloc.isolatePageblock(pfn);
  }
  unisolatePageblock(pfn: number, mt: number): void {
    this.lastHead = -1;
    this.alloc.unisolatePageblock(pfn, mt);
  }
  freeBlockHead(pfn: number): number {
    const alloc = this.alloc;
    const head = alloc.freeBlockHeadOf(pfn);
    if (head < 0) return -1;
    this.lastHead = head;
    this.lastOrder = alloc.freeBlockOrder;
    return head;
  }
  nextFreeHead(pfn: number, end: number): number {
    return this.alloc.nextFreeHead(pfn, end);
  }
  freeBlockOrder(head: number): number {
    if (head === this.lastHead) return this.lastOrder;
    const alloc = this.alloc;
    return alloc.freeBlockHeadOf(head) === head ? alloc.freeBlockOrder : -1;
  }
  takeFreeBlock(head: number, order: number): boolean {
    this.lastHead = -1;
    if (this.alloc.isolateFreePage(head, order) === 0) return false;
    const mm = this.memmap;
    for (let p = head; p < head + (1 << order); p++) {
      const i = mm.idxOf(p);
      mm.setWord0(i, 0, 0, 0);
      mm.setCountAt(i, 1);
      mm.setAAt(i, 0);
      mm.setBAt(i, 0);
    }
    return true;
  }
  pageRef(pfn: number): number {
    return this.memmap.refcount(pfn);
  }
  setPageRef(pfn: number, count: number): void {
    this.memmap.setRefcount(pfn, count);
  }
  isReservedPage(pfn: number): boolean {
    const mm = this.memmap;
    const i = mm.pfnToIdx(pfn);
    if (i < 0) return true;
    return (mm.flagsAt(i) & PG_reserved) !== 0 || (mm.u32[i * 4] === 0 && mm.countAt(i) === 0 && mm.aAt(i) === 0);
  }
  pfnValid(pfn: number): boolean {
    return this.memmap.pfnValid(pfn);
  }
  drainAllPages(): void {
    this.lastHead = -1;
    this.alloc.drainAllPages();
  }
  drainZoneOf(pfn: number): void {
    this.lastHead = -1;
    const z = this.alloc.zoneForPfn(pfn);
    if (z !== undefined) this.alloc.drainZonePages(z);
    else this.alloc.drainAllPages();
  }
  warn(text: string): void {
    this.log.warn(text);
  }
  debug(text: string): void {
    this.log.debug(text);
  }
}
