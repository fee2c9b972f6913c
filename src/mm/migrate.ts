/**
 * mm/migrate.c: moving an in-use user page to another physical page, with the MTE tag handling of the
 * v1 series (kernel-facts §3.5 P11, §6.2 copy_highpage).
 *
 * One migration is a sequence of atomic steps, in the kernel's order (migrate_folio_unmap, then
 * migrate_folio_move):
 *   1. allocate the destination (alloc_migration_target; __GFP_TAGGED when the source is tagged, P11),
 *   2. unmap the source (try_to_migrate: PTEs become migration entries),
 *   3. copy data and tags (copy_highpage, §6.2),
 *   4. remap (remove_migration_ptes: the PTEs point at the destination; set_pte_at runs there),
 *   5. free the source (free_metadata_storage runs for a tagged source).
 * `MigrationOp.step()` performs one step, so a scheduler can interleave a migration with an mprotect or a
 * fault (issue #5, the cover letter's races §6.3). `Migrator.migratePage` runs all of them at once.
 *
 * This file leans on three narrow interfaces so it can be read (and tested) without the whole machine:
 * `MigrateMm` (the buddy allocator and the per-page words), `MigrateRmap` (the process layer's reverse
 * map) and `MigrateTags` (where a page's tags live). The arm64 part (tag storage) is reached only through
 * `MigrateMm.metadataEnabled()` and the allocator's own __GFP_TAGGED hook.
 */
import type { MteSwapTags } from '../arch/arm64/mteswap.js';
import { PfnWordCache, PG_mte_tagged, PG_tag_storage_reserved, type MemMap } from './memmap.js';

// Negative errno values, as the kernel returns them.
export const EINTR = -4;
export const EAGAIN = -11;
export const ENOMEM = -12;
export const EBUSY = -16;
export const EINVAL = -22;
export const ERANGE = -34;

/** enum migrate_reason (include/linux/migrate_mode.h, v6.5) plus v1's MR_METADATA_NONE (§4.1, patch 30). */
export const MigrateReason = {
  MR_COMPACTION: 0,
  MR_MEMORY_FAILURE: 1,
  MR_MEMORY_HOTPLUG: 2,
  MR_SYSCALL: 3,
  MR_MEMPOLICY_MBIND: 4,
  MR_NUMA_MISPLACED: 5,
  MR_CONTIG_RANGE: 6,
  MR_LONGTERM_PIN: 7,
  MR_DEMOTION: 8,
  MR_METADATA_NONE: 9,
} as const;
export type MigrateReason = (typeof MigrateReason)[keyof typeof MigrateReason];

/**
 * migrate_reason_names (mm/debug.c, v6.5). kernel-facts §9.4: the string for MR_METADATA_NONE is not
 * known; "metadata_none" is our choice, in the style of the others.
 */
export const MIGRATE_REASON_NAMES: readonly string[] = [
  'compaction',
  'memory_failure',
  'memory_hotplug',
  'syscall_or_cpuset',
  'mempolicy_mbind',
  'numa_misplaced',
  'contig_range',
  'longterm_pin',
  'demotion',
  'metadata_none',
];

/** The page flags migration reads or writes (the adapter maps them onto the memmap's flag bits). */
export const MigFlag = {
  /** PG_mte_tagged (PG_arch_2). */
  MteTagged: 0,
  /** PG_tag_storage_reserved (PG_arch_4): the tag blocks covering the page are reserved (§2.3). */
  TagStorageReserved: 1,
} as const;
export type MigFlag = (typeof MigFlag)[keyof typeof MigFlag];

/** What migration needs from the buddy allocator and the per-page arrays. */
export interface MigrateMm {
  readonly pageSize: number;
  /** Allocates 2^order pages with `gfp` (the allocator runs reserve_metadata_storage for __GFP_TAGGED). */
  allocPages(order: number, gfp: number): number;
  /** Frees 2^order pages (free_pages_prepare runs free_metadata_storage for tagged pages). */
  freePages(pfn: number, order: number): void;
  testFlag(pfn: number, flag: MigFlag): boolean;
  setFlag(pfn: number, flag: MigFlag): void;
  clearFlag(pfn: number, flag: MigFlag): void;
  /**
   * The data content token of a page (what a process wrote; 0 = zeroes), when the model keeps it per
   * physical page. A model that keeps it with the mapping (the process layer does) leaves these out.
   */
  getToken?(pfn: number): number;
  setToken?(pfn: number, token: number): void;
  /** static key metadata_storage_enabled (tag storage management active). */
  metadataEnabled(): boolean;
  /** gfp bits: __GFP_TAGGED, and the gfp a user page migrates with (GFP_HIGHUSER_MOVABLE). */
  readonly gfpTagged: number;
  readonly gfpHighuserMovable: number;
  /** /proc/vmstat event counter by name. */
  count(name: string, delta: number): void;
  /** The kernel log at debug level (the emulator's own notes, hidden unless debug output is asked for). */
  debug?(text: string): void;
  /**
   * The memmap whose words testFlag/setFlag/getToken/setToken read and write, when there is one (MigFlag
   * MteTagged and TagStorageReserved are PG_mte_tagged and PG_tag_storage_reserved of word 0, the token is
   * word 3): copy_highpage of a base page then works on the words, one index look-up per page.
   */
  readonly memmap?: MemMap;
}

/** What migration needs from the process layer (src/process/rmap.ts). */
export interface MigrateRmap {
  /** Returns true if the page is a user page reachable through the reverse map (isolate_lru_page). */
  isMovable(pfn: number): boolean;
  /** Returns true if the page has extra references (gup pin) that make migration fail with -EAGAIN. */
  isPinned(pfn: number): boolean;
  /** Order of the folio whose head is pfn (0 for a base page, 9 for a THP). */
  folioOrder(pfn: number): number;
  /**
   * try_to_migrate: replaces every mapping of the folio at `pfn` by a migration entry and returns an
   * opaque handle for remap/undo, or null if the folio could not be unmapped.
   */
  unmap(pfn: number): unknown;
  /** remove_migration_ptes(src → dst): the mappings now point at `dst` (set_pte_at runs for each). */
  remap(handle: unknown, dst: number): void;
  /** remove_migration_ptes(src → src): migration failed after unmap, the old mappings come back. */
  undo(handle: unknown): void;
}

/** Where the tags of a data page live (the tag model of src/process). */
export interface MigrateTags {
  /** Tags of data page `pfn` read from its tag storage location (MTE_PAGE_TAG_STORAGE bytes). */
  readPageTags(pfn: number): Uint8Array;
  /**
   * Writes tags of data page `pfn` into its tag storage location, whatever that page holds at the time
   * (with the pfn_tags fix off this is the cover letter's corruption, §6.3 race 3).
   */
  writePageTags(pfn: number, tags: Uint8Array): void;
  /** writePageTags(dst, readPageTags(src)) without the intermediate copy (optional: a hot path). */
  copyPageTags?(dst: number, src: number): void;
}

/** Series fix switches (SPEC §4). */
export interface MigrateFixes {
  /** fix.pfn_tags: copy_highpage saves tags by pfn when the destination has no tag storage (§6.2). */
  pfnTags: boolean;
}

/** Outcome of one migration: 0 on success or a negative errno. */
export interface MigrateResult {
  readonly rc: number;
  readonly dst: number;
}

/**
 * A source of destination pages other than the page allocator: compaction hands migrate_pages the free
 * pages its free scanner isolated (compaction_alloc / compaction_free).
 */
export interface DestAllocator {
  /** A destination for the folio at src, or -1. */
  alloc(src: number, order: number): number;
  /** Takes back a destination that was not used. */
  release(dst: number, order: number): void;
}

/** A [start, end) pfn range a destination must avoid (the range alloc_contig_range is emptying). */
export interface PfnRange {
  readonly start: number;
  readonly end: number;
}

export const enum MigrateStep {
  AllocDest = 0,
  Unmap = 1,
  Copy = 2,
  Remap = 3,
  FreeSource = 4,
  Done = 5,
}

export const MIGRATE_STEP_NAMES = ['alloc-dest', 'unmap', 'copy', 'remap', 'free-source', 'done'] as const;

/** Moves pages; owns the counters pgmigrate_success/fail and the copy_highpage rules. */
export class Migrator {
  /** How many destinations that fell in an excluded range were given back (for tests). */
  excludedDestinations = 0;
  /**
   * The migration that performed the latest step (set by MigrationOp.step): a race thread running compaction
   * reads it to tell the invariant checker which pages the migration holds unmapped (src/scenario/migrate_ops.ts).
   */
  current: MigrationOp | undefined = undefined;
  /**
   * Folios taken off the LRU for migration (isolate_lru_page) and not yet put back. An isolated folio is
   * not movable for anyone else: a nested alloc_contig_range (reserving tag storage for the destination)
   * must not migrate the very page being migrated, as the kernel's LRU isolation guarantees.
   */
  // Usually a short list (one migrate_pages batch of 32 plus nested single migrations); a Set takes over
  // when a caller isolates a long list at once.
  private readonly isolated: number[] = [];
  private isolatedSet: Set<number> | undefined;

  /** Returns true if the folio at pfn is isolated for migration. */
  isIsolated(pfn: number): boolean {
    if (this.isolatedSet !== undefined) return this.isolatedSet.has(pfn);
    const l = this.isolated;
    for (let i = l.length - 1; i >= 0; i--) if (l[i] === pfn) return true;
    return false;
  }

  /** isolate_lru_page: false if the folio is already isolated. */
  isolateFolio(pfn: number): boolean {
    if (this.isIsolated(pfn)) return false;
    if (this.isolatedSet !== undefined) this.isolatedSet.add(pfn);
    else if (this.isolated.length < 64) this.isolated.push(pfn);
    else {
      this.isolatedSet = new Set(this.isolated);
      this.isolatedSet.add(pfn);
      this.isolated.length = 0;
    }
    return true;
  }

  /** putback_lru_page (or the end of a migration). */
  putbackFolio(pfn: number): void {
    if (this.isolatedSet !== undefined) {
      this.isolatedSet.delete(pfn);
      if (this.isolatedSet.size === 0) this.isolatedSet = undefined;
      return;
    }
    const l = this.isolated;
    let i = l.length - 1;
    while (i >= 0 && l[i] !== pfn) i--;
    if (i < 0) return;
    const last = l.pop()!;
    if (i < l.length) l[i] = last;
  }

  constructor(
    readonly mm: MigrateMm,
    public rmap: MigrateRmap,
    public tags: MigrateTags,
    public swapTags: MteSwapTags,
    readonly fixes: MigrateFixes,
  ) {}

  /**
   * migrate_metadata_none_page (kernel-facts §5.3 step 4, do_migrate): migrates a PAGE_METADATA_NONE page
   * (a tag storage page, or one whose reservation failed) to a page allocated with GFP_HIGHUSER_MOVABLE |
   * __GFP_TAGGED, MR_METADATA_NONE, up to 5 tries while migrate_pages returns -EBUSY. Returns true if it
   * moved; the caller replays the fault either way.
   */
  migrateMetadataNonePage(pfn: number): boolean {
    if (!this.rmap.isMovable(pfn)) return false; // isolate_lru_page failed
    const gfp = this.mm.gfpHighuserMovable | this.mm.gfpTagged;
    let ret: number;
    let tries = 0;
    do {
      ret = this.migratePages([pfn], MigrateReason.MR_METADATA_NONE, gfp);
    } while (ret === EBUSY && tries++ < 4);
    return ret === 0;
  }

  /**
   * alloc_migration_target (mm/migrate.c) with v1 patch 11: a tagged source gets a destination allocated
   * with __GFP_TAGGED so that its tag storage is reserved (§3.5 P11). A destination inside `avoid` is held
   * and another one tried (isolation keeps the allocator out of an isolated range; this is a safety net
   * for allocators that do not). Returns the pfn or -1.
   */
  allocMigrationTarget(src: number, order: number, gfp: number, avoid?: PfnRange): number {
    let g = gfp;
    // Both are plain reads; the page flag first, as most sources of a mixed workload are untagged.
    const words = this.mm.memmap;
    const tagged =
      words !== undefined
        ? ((words.u32[this.wordOf(words, src)] as number) & PG_mte_tagged) !== 0
        : this.mm.testFlag(src, MigFlag.MteTagged);
    if (tagged && this.mm.metadataEnabled()) g |= this.mm.gfpTagged;
    let dst = this.mm.allocPages(order, g);
    if (avoid === undefined || dst < 0) return dst;
    let held: number[] | undefined;
    const n = 1 << order;
    while (dst >= 0 && dst < avoid.end && dst + n > avoid.start) {
      (held ??= []).push(dst);
      this.excludedDestinations++;
      if (held.length > 64) {
        dst = -1;
        break;
      }
      dst = this.mm.allocPages(order, g);
    }
    if (held !== undefined) for (const p of held) this.mm.freePages(p, order);
    return dst;
  }

  /**
   * copy_highpage for a folio of 2^order pages (arch/arm64/mm/copypage.c with v1 patch 33, §6.2).
   * The data token is always copied. If the source is tagged:
   *  - the destination has tag storage (or tag storage management is off): tags are copied tag storage to
   *    tag storage and the destination becomes PG_mte_tagged;
   *  - the destination has no tag storage and fix.pfn_tags is on: the source tags are saved in
   *    tags_by_pfn[dst] and the tag copy is skipped (they are restored when the page is mapped tagged);
   *  - with the fix off: the tags are written to the destination's tag storage location anyway, which
   *    may hold someone's data (the cover letter's race 3).
   */
  copyHighpage(dst: number, src: number, order = 0): void {
    const mm = this.mm;
    if (order === 0 && mm.memmap !== undefined) {
      this.copyBasePage(mm.memmap, dst, src);
      return;
    }
    const tokens = mm.setToken !== undefined && mm.getToken !== undefined;
    // The static key, read once, and only when it decides something: a tagged page whose destination has
    // no tag storage (plain reads, so the order of the tests does not matter).
    let enabled = -1;
    for (let i = 0; i < 1 << order; i++) {
      const from = src + i;
      const to = dst + i;
      if (tokens) mm.setToken!(to, mm.getToken!(from));
      if (!mm.testFlag(from, MigFlag.MteTagged)) continue;
      if (!mm.testFlag(to, MigFlag.TagStorageReserved)) {
        if (enabled < 0) enabled = mm.metadataEnabled() ? 1 : 0;
        if (enabled === 1 && this.fixes.pfnTags) {
          this.swapTags.savePageTagsByPfn(to, this.tags.readPageTags(from));
          continue;
        }
      }
      // try_page_mte_tagging(to) fails if it is already tagged: the kernel then skips the copy.
      if (mm.testFlag(to, MigFlag.MteTagged)) continue;
      if (this.tags.copyPageTags !== undefined) this.tags.copyPageTags(to, from);
      else this.tags.writePageTags(to, this.tags.readPageTags(from));
      mm.setFlag(to, MigFlag.MteTagged);
    }
  }

  /** The index of pfn's first word in `words` (mm.memmap, which never changes), for the source and destination. */
  private wordOf(words: MemMap, pfn: number): number {
    return (this.wordCache ??= new PfnWordCache(words)).of(pfn);
  }
  private wordCache: PfnWordCache | undefined;

  /** copyHighpage of one base page on the memmap words: the same steps as the loop above, for i = 0. */
  private copyBasePage(words: MemMap, dst: number, src: number): void {
    const u = words.u32;
    const from = this.wordOf(words, src);
    const to = this.wordOf(words, dst);
    u[to + 3] = u[from + 3] as number;
    if (((u[from] as number) & PG_mte_tagged) === 0) return;
    const f = u[to] as number;
    if ((f & PG_tag_storage_reserved) === 0 && this.mm.metadataEnabled() && this.fixes.pfnTags) {
      this.swapTags.savePageTagsByPfn(dst, this.tags.readPageTags(src));
      return;
    }
    // try_page_mte_tagging(to) fails if it is already tagged: the kernel then skips the copy.
    if ((f & PG_mte_tagged) !== 0) return;
    if (this.tags.copyPageTags !== undefined) this.tags.copyPageTags(dst, src);
    else this.tags.writePageTags(dst, this.tags.readPageTags(src));
    u[to] = ((u[to] as number) | PG_mte_tagged) >>> 0;
  }

  /** Starts a stepwise migration of the folio at `src`; call `step()` until it returns true. */
  begin(src: number, reason: MigrateReason, gfp = this.mm.gfpHighuserMovable, avoid?: PfnRange): MigrationOp {
    return new MigrationOp(this, src, reason, gfp, avoid);
  }

  /**
   * Starts a stepwise migration whose destination comes from `dest` (a target zone, node or region chosen
   * by the caller, e.g. `migrate VMA to=TARGET`), instead of alloc_migration_target.
   */
  beginWith(src: number, reason: MigrateReason, dest: DestAllocator): MigrationOp {
    return new MigrationOp(this, src, reason, this.mm.gfpHighuserMovable, undefined, true, dest);
  }

  /** migrate_pages with a custom destination source (compaction); same return value as migratePages. */
  migratePagesWith(from: number[], reason: MigrateReason, dest: DestAllocator): number {
    return this.migratePages(from, reason, this.mm.gfpHighuserMovable, undefined, dest);
  }

  /**
   * migrate_pages for one folio, all steps at once. Counts pgmigrate_success/fail. The steps are those of
   * MigrationOp.step, in the same order, written out straight (the hot path of the METADATA_NONE fault's
   * migrate_metadata_none_page and of the migration benchmark; test/migrate/straight.test.ts holds the two
   * to the same outcome). Nothing runs between the steps, so no MigrationOp is needed for `current`, which
   * is left without one (what a race reader sees of a finished MigrationOp).
   */
  migratePage(src: number, reason: MigrateReason, gfp = this.mm.gfpHighuserMovable, avoid?: PfnRange): MigrateResult {
    const mm = this.mm;
    const rmap = this.rmap;
    this.current = undefined;
    const order = rmap.folioOrder(src);
    // alloc-dest: isolate_lru_page (fails for a folio someone else is migrating), then the destination.
    if (!this.isolateFolio(src)) return this.pageFailed(src, reason, order, EBUSY, false);
    if (!rmap.isMovable(src)) return this.pageFailed(src, reason, order, rmap.isPinned(src) ? EAGAIN : EBUSY, true);
    const dst = this.allocMigrationTarget(src, order, gfp, avoid);
    this.current = undefined; // reserving the destination's tag storage may have run nested migrations
    if (dst < 0) return this.pageFailed(src, reason, order, ENOMEM, true);
    // unmap: try_to_migrate.
    const h = rmap.unmap(src);
    if (h === null || h === undefined) {
      mm.freePages(dst, order);
      return this.pageFailed(src, reason, order, EAGAIN, true);
    }
    // copy, remap (remove_migration_ptes), free the source.
    this.copyHighpage(dst, src, order);
    rmap.remap(h, dst);
    mm.freePages(src, order);
    mm.count('pgmigrate_success', 1 << order);
    if (order > 0) mm.count('thp_migration_success', 1);
    this.putbackFolio(src);
    return { rc: 0, dst };
  }

  /** MigrationOp.fail for migratePage: puts the folio back if it was isolated here, counts the failure. */
  private pageFailed(src: number, reason: MigrateReason, order: number, rc: number, holding: boolean): MigrateResult {
    if (holding) this.putbackFolio(src);
    this.mm.debug?.(`mte-sim: migrate pfn 0x${src.toString(16)} (${MIGRATE_REASON_NAMES[reason]}) failed: ${rc}`);
    this.mm.count('pgmigrate_fail', 1 << order);
    if (order > 0) this.mm.count('thp_migration_fail', 1);
    return { rc, dst: -1 };
  }

  /**
   * migrate_pages(from, alloc_migration_target, ..., reason): migrates each folio, retrying -EAGAIN up to
   * NR_MAX_MIGRATE_PAGES_RETRY (10) passes like v6.5. Returns -ENOMEM (a destination could not be
   * allocated; the remaining folios are not tried) or the number of folios not migrated (0 = all done).
   * Folios not migrated stay in `from` (the kernel splices them back to the caller's list).
   */
  migratePages(
    from: number[],
    reason: MigrateReason,
    gfp = this.mm.gfpHighuserMovable,
    avoid?: PfnRange,
    dest?: DestAllocator,
  ): number {
    const g = this.migratePagesSteps(from, reason, gfp, avoid, dest);
    for (;;) {
      const r = g.next();
      if (r.done === true) return r.value;
    }
  }

  /** migratePages as a generator that yields after every atomic migration step (for `race` threads). */
  *migratePagesSteps(
    from: number[],
    reason: MigrateReason,
    gfp = this.mm.gfpHighuserMovable,
    avoid?: PfnRange,
    dest?: DestAllocator,
  ): Generator<void, number, void> {
    // The caller's list is isolated as a whole before the first folio moves (isolate_migratepages_range).
    let pending: number[] = [];
    const mine: number[] = [];
    for (const p of from) {
      if (this.isolateFolio(p)) mine.push(p);
      pending.push(p);
    }
    const failed: number[] = [];
    let rc = 0;
    for (let pass = 0; pass < NR_MAX_MIGRATE_PAGES_RETRY && pending.length > 0 && rc === 0; pass++) {
      const retry: number[] = [];
      for (let i = 0; i < pending.length; i++) {
        const src = pending[i]!;
        const op = new MigrationOp(this, src, reason, gfp, avoid, false, dest, true);
        while (!op.step()) yield;
        if (op.rc === 0) continue;
        if (op.rc === EAGAIN) {
          retry.push(src);
          continue;
        }
        failed.push(src);
        if (op.rc === ENOMEM) {
          // -ENOMEM ends migrate_pages at once: the folios not tried stay on the list.
          for (let j = i + 1; j < pending.length; j++) retry.push(pending[j]!);
          rc = ENOMEM;
          break;
        }
      }
      pending = retry;
    }
    failed.push(...pending);
    for (const p of mine) this.putbackFolio(p);
    this.countFailed(failed);
    from.length = 0;
    from.push(...failed);
    return rc < 0 ? rc : failed.length;
  }

  private countFailed(failed: number[]): void {
    let n = 0;
    let thp = 0;
    for (const p of failed) {
      const o = this.rmap.folioOrder(p);
      n += 1 << o;
      if (o > 0) thp++;
    }
    if (n > 0) this.mm.count('pgmigrate_fail', n);
    if (this.mm.debug !== undefined) {
      for (const p of failed) this.mm.debug(`mte-sim: migrate_pages: pfn 0x${p.toString(16)} not migrated`);
    }
    // The only large folios modelled are THPs (v6.5 counts THP_MIGRATION_* per THP folio).
    if (thp > 0) this.mm.count('thp_migration_fail', thp);
  }
}

/** NR_MAX_MIGRATE_PAGES_RETRY (mm/migrate.c, v6.5). */
export const NR_MAX_MIGRATE_PAGES_RETRY = 10;

/**
 * One migration of one folio, as a sequence of atomic steps. `rc` is 0 on success, -ENOMEM when no
 * destination could be allocated, -EAGAIN when the source is pinned or could not be unmapped, -EBUSY when
 * the source is not a movable user page.
 */
export class MigrationOp {
  next: MigrateStep = MigrateStep.AllocDest;
  rc = 0;
  dst = -1;
  readonly order: number;
  private handle: unknown = null;
  private holding = false;

  constructor(
    private readonly m: Migrator,
    readonly src: number,
    readonly reason: MigrateReason,
    private readonly gfp: number,
    private readonly avoid: PfnRange | undefined,
    /** Count pgmigrate_fail here (single-folio callers); migratePages counts after its retry passes. */
    private readonly countFail = true,
    private readonly dest?: DestAllocator,
    /** The caller (migratePages) has isolated the folio and puts it back itself. */
    private readonly preIsolated = false,
  ) {
    this.order = m.rmap.folioOrder(src);
  }

  get done(): boolean {
    return this.next === MigrateStep.Done;
  }

  /** The name of the step `step()` will perform next. */
  get nextName(): string {
    return MIGRATE_STEP_NAMES[this.next]!;
  }

  /** Performs one atomic step; returns true when the migration has finished (see `rc`). */
  step(): boolean {
    const m = this.m;
    m.current = this;
    switch (this.next) {
      case MigrateStep.AllocDest: {
        // isolate_lru_page: fails for a folio someone else is migrating; a pinned page could be isolated
        // but will not migrate (-EAGAIN, retried).
        if (!this.preIsolated) {
          if (!m.isolateFolio(this.src)) return this.fail(EBUSY);
          this.holding = true;
        }
        if (!m.rmap.isMovable(this.src)) return this.fail(m.rmap.isPinned(this.src) ? EAGAIN : EBUSY);
        const dst =
          this.dest !== undefined
            ? this.dest.alloc(this.src, this.order)
            : m.allocMigrationTarget(this.src, this.order, this.gfp, this.avoid);
        if (dst < 0) return this.fail(ENOMEM);
        this.dst = dst;
        m.current = this; // again: reserving the destination's tag storage may have run nested migrations
        this.next = MigrateStep.Unmap;
        return false;
      }
      case MigrateStep.Unmap: {
        const h = m.rmap.unmap(this.src);
        if (h === null || h === undefined) {
          if (this.dest !== undefined) this.dest.release(this.dst, this.order);
          else m.mm.freePages(this.dst, this.order);
          this.dst = -1;
          return this.fail(EAGAIN);
        }
        this.handle = h;
        this.next = MigrateStep.Copy;
        return false;
      }
      case MigrateStep.Copy:
        m.copyHighpage(this.dst, this.src, this.order);
        this.next = MigrateStep.Remap;
        return false;
      case MigrateStep.Remap:
        m.rmap.remap(this.handle, this.dst);
        this.handle = null;
        this.next = MigrateStep.FreeSource;
        return false;
      case MigrateStep.FreeSource:
        m.mm.freePages(this.src, this.order);
        m.mm.count('pgmigrate_success', 1 << this.order);
        if (this.order > 0) m.mm.count('thp_migration_success', 1);
        this.next = MigrateStep.Done;
        this.release();
        return true;
      default:
        return true;
    }
  }

  private release(): void {
    if (this.holding) this.m.putbackFolio(this.src);
    this.holding = false;
  }

  private fail(rc: number): boolean {
    this.rc = rc;
    this.next = MigrateStep.Done;
    this.release();
    if (this.countFail) {
      this.m.mm.debug?.(
        `mte-sim: migrate pfn 0x${this.src.toString(16)} (${MIGRATE_REASON_NAMES[this.reason]}) failed: ${rc}`,
      );
      this.m.mm.count('pgmigrate_fail', 1 << this.order);
      if (this.order > 0) this.m.mm.count('thp_migration_fail', 1);
    }
    return true;
  }
}

/**
 * `migrate VMA [RANGE] to=TARGET` (move_pages / mbind, MR_SYSCALL) as a sequence of atomic steps: each
 * `step()` performs one step of one page's migration, so a `race` can interleave it with mprotect or faults.
 * `pfnAt(i)` is read when page i's migration starts (another thread may have moved or unmapped it since);
 * it returns -1 for a slot with no page, which is skipped, like a page the kernel finds no longer mapped.
 */
export class MigrateRangeOp {
  /** Pages migrated, and pages that could not be (pinned, no destination). */
  migrated = 0;
  failed = 0;
  /** The errno of the last failure (0 if none). */
  lastError = 0;
  private i = 0;
  private op: MigrationOp | undefined;

  constructor(
    private readonly m: Migrator,
    private readonly count: number,
    private readonly pfnAt: (i: number) => number,
    private readonly dest?: DestAllocator,
    private readonly reason: MigrateReason = MigrateReason.MR_SYSCALL,
  ) {}

  get done(): boolean {
    return this.i >= this.count && this.op === undefined;
  }

  /** Performs one atomic step; returns true when every page has been handled. */
  step(): boolean {
    if (this.op === undefined) {
      while (this.i < this.count && this.pfnAt(this.i) < 0) this.i++;
      if (this.i >= this.count) return true;
      const src = this.pfnAt(this.i);
      this.op =
        this.dest !== undefined ? this.m.beginWith(src, this.reason, this.dest) : this.m.begin(src, this.reason);
    }
    if (!this.op.step()) return false;
    if (this.op.rc === 0) this.migrated += 1 << this.op.order;
    else {
      this.failed += 1 << this.op.order;
      this.lastError = this.op.rc;
    }
    this.op = undefined;
    this.i++;
    return this.i >= this.count;
  }

  /** Runs to the end. */
  run(): this {
    while (!this.step());
    return this;
  }
}
