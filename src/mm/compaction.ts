/**
 * mm/compaction.c: "compact all zones" (/proc/sys/vm/compact_memory → compact_node → compact_zone with
 * order -1, MIGRATE_SYNC), with the MIGRATE_METADATA rules of the v1 series (kernel-facts §3.5):
 *
 * - the migrate scanner walks pageblocks up from the zone start and isolates movable order-0 user pages
 *   (compound pages are skipped, as v6.5's isolate_migratepages_block does outside alloc_contig);
 *   a METADATA pageblock is a valid source except for direct compaction without ALLOC_FROM_METADATA (P9);
 * - the free scanner walks pageblocks down from the zone end and isolates free pages of MOVABLE pageblocks
 *   and, unless a source is tagged, METADATA pageblocks (is_migrate_movable includes METADATA, P10:
 *   not as targets for sources with metadata);
 * - a tagged source needs a destination with tag storage: the free page gets reserve_metadata_storage
 *   (P20; a failure counts as an isolation failure and the page goes back);
 * - the scanners meet → done; unused free pages go back to the buddy.
 *
 * Counters: compact_migrate_scanned, compact_free_scanned, compact_isolated; pgmigrate_* come from
 * migrate_pages. "Heavily depends upon page migration to do all the real heavy lifting" (compaction.c).
 */
import { MigFlag, MigrateReason, type DestAllocator, type Migrator } from './migrate.js';
import type { IsolationMm, IsolationRmap } from './page_isolation.js';

/** One zone's span, [startPfn, endPfn). */
export interface CompactZone {
  readonly name: string;
  readonly startPfn: number;
  readonly endPfn: number;
  /**
   * When zones of interleaved nodes overlap: returns true if the pageblock at pfn belongs to this zone
   * (pageblock_pfn_to_page() checks page_zone(); other pageblocks are skipped like holes). Absent: the span says.
   */
  readonly owns?: (pfn: number) => boolean;
}

export interface CompactionMm extends IsolationMm {
  readonly migrateMovable: number;
  /** Returns true if pfn has a memmap (holes inside a zone span are skipped). */
  pfnValid(pfn: number): boolean;
}

export interface CompactOptions {
  /** Direct compaction for an allocation without ALLOC_FROM_METADATA: METADATA sources skipped (P9). */
  directWithoutMetadata?: boolean;
  /**
   * Direct compaction for an order > 0 request: stop as soon as `finished()` says a free block of that order
   * is there (__compact_finished).
   */
  finished?: () => boolean;
}

export interface CompactResult {
  migrated: number;
  failed: number;
  migrateScanned: number;
  freeScanned: number;
  isolated: number;
}

const COMPACT_CLUSTER_MAX = 32;

/** Runs a step generator to its end and returns its result. */
function drive<T>(g: Generator<void, T, void>): T {
  for (;;) {
    const r = g.next();
    if (r.done === true) return r.value;
  }
}

/**
 * `compact` as a kernel operation in flight: `step()` performs one atomic step (one step of one page's
 * migration; scanning between migrations is part of the next step) and returns true when done.
 */
export class CompactOp {
  result: CompactResult | undefined;
  private readonly g: Generator<void, CompactResult, void>;

  constructor(c: Compaction, zones: readonly CompactZone[]) {
    this.g = c.compactAllSteps(zones);
  }

  get done(): boolean {
    return this.result !== undefined;
  }

  step(): boolean {
    if (this.result !== undefined) return true;
    const r = this.g.next();
    if (r.done === true) this.result = r.value;
    return this.result !== undefined;
  }
}

export class Compaction {
  constructor(
    readonly mm: CompactionMm,
    readonly rmap: IsolationRmap,
    readonly migrator: Migrator,
    /** reserve_metadata_storage for a destination of a tagged source (P20): 0 or a negative errno. */
    readonly reserveMetadata: (pfn: number, order: number) => number,
  ) {}

  /** compact_node(): compacts every zone. */
  compactAll(zones: readonly CompactZone[], opts: CompactOptions = {}): CompactResult {
    return drive(this.compactAllSteps(zones, opts));
  }

  /** compact_node() as a generator that yields after every atomic migration step (for `race` threads). */
  *compactAllSteps(zones: readonly CompactZone[], opts: CompactOptions = {}): Generator<void, CompactResult, void> {
    const total: CompactResult = { migrated: 0, failed: 0, migrateScanned: 0, freeScanned: 0, isolated: 0 };
    for (const z of zones) {
      const r = yield* this.compactZoneSteps(z, opts);
      total.migrated += r.migrated;
      total.failed += r.failed;
      total.migrateScanned += r.migrateScanned;
      total.freeScanned += r.freeScanned;
      total.isolated += r.isolated;
    }
    return total;
  }

  /** compact_zone() with order -1: runs until the migrate and free scanners meet. */
  compactZone(zone: CompactZone, opts: CompactOptions = {}): CompactResult {
    return drive(this.compactZoneSteps(zone, opts));
  }

  /** compact_zone() as a generator: yields after every atomic step of every page migration. */
  *compactZoneSteps(zone: CompactZone, opts: CompactOptions = {}): Generator<void, CompactResult, void> {
    const mm = this.mm;
    const nr = mm.pageblockNrPages;
    const res: CompactResult = { migrated: 0, failed: 0, migrateScanned: 0, freeScanned: 0, isolated: 0 };
    if (zone.endPfn <= zone.startPfn) return res;
    let migratePfn = zone.startPfn;
    // The free scanner starts at the last pageblock of the zone and moves down a pageblock at a time.
    let freePb = zone.endPfn - 1 - ((zone.endPfn - 1) % nr);
    const freepages: number[] = [];
    let sourceHasMetadata = false;

    const isolateFreepages = (): void => {
      // isolate_freepages: fill the list from the next suitable pageblock(s) below the free scanner.
      while (freepages.length === 0 && freePb > migratePfn - (migratePfn % nr)) {
        const pb = freePb;
        freePb -= nr;
        // A hole in the zone span (no memmap), or another zone's pageblock: pageblock_pfn_to_page() finds nothing.
        if (!mm.pfnValid(pb) || (zone.owns !== undefined && !zone.owns(pb))) continue;
        const mt = mm.pageblockMigratetype(pb);
        const suitable = mt === mm.migrateMovable || (mt === mm.migrateMetadata && !sourceHasMetadata);
        if (!suitable) continue;
        const lo = Math.max(pb, zone.startPfn);
        const hi = Math.min(pb + nr, zone.endPfn);
        for (let pfn = lo; pfn < hi;) {
          res.freeScanned++;
          if (!mm.pfnValid(pfn)) {
            pfn++;
            continue;
          }
          const order = mm.freeBlockHead(pfn) === pfn ? mm.freeBlockOrder(pfn) : -1;
          if (order < 0 || pfn + (1 << order) > hi || !mm.takeFreeBlock(pfn, order)) {
            pfn++;
            continue;
          }
          // split_map_pages: order-0 pages, each with a count of 1.
          for (let p = pfn + (1 << order) - 1; p >= pfn; p--) freepages.push(p);
          res.freeScanned += (1 << order) - 1;
          res.isolated += 1 << order;
          pfn += 1 << order;
        }
      }
    };

    const dest: DestAllocator = {
      alloc: (src, order) => {
        if (order !== 0) return -1;
        for (;;) {
          if (freepages.length === 0) isolateFreepages();
          const p = freepages.pop();
          if (p === undefined) return -1;
          if (mm.metadataEnabled() && mm.testFlag(src, MigFlag.MteTagged)) {
            if (mm.pageblockMigratetype(p) === mm.migrateMetadata || this.reserveMetadata(p, 0) !== 0) {
              this.putFree(p);
              continue;
            }
          }
          return p;
        }
      },
      release: (dst) => {
        // A destination with tag storage goes back to the buddy (its blocks are released there).
        if (mm.testFlag(dst, MigFlag.TagStorageReserved)) this.putFree(dst);
        else freepages.push(dst);
      },
    };

    // compact_scanners_met(): done when the free scanner's pageblock is at or below the migrate scanner's.
    while (migratePfn < zone.endPfn && migratePfn - (migratePfn % nr) < freePb) {
      // isolate_migratepages: one pageblock (or what is left of it) per round.
      const pbEnd = Math.min(migratePfn - (migratePfn % nr) + nr, zone.endPfn);
      if (!mm.pfnValid(migratePfn) || (zone.owns !== undefined && !zone.owns(migratePfn))) {
        migratePfn = pbEnd;
        continue;
      }
      const mt = mm.pageblockMigratetype(migratePfn);
      const list: number[] = [];
      const skipBlock = mt === mm.migrateIsolate || (opts.directWithoutMetadata === true && mt === mm.migrateMetadata);
      let pfn = migratePfn;
      if (skipBlock) pfn = pbEnd;
      while (pfn < pbEnd && list.length < COMPACT_CLUSTER_MAX) {
        res.migrateScanned++;
        if (!mm.pfnValid(pfn)) {
          pfn++;
          continue;
        }
        const head = mm.freeBlockHead(pfn);
        if (head >= 0) {
          const end = head + (1 << mm.freeBlockOrder(head));
          res.migrateScanned += end - pfn - 1;
          pfn = end;
          continue;
        }
        if (mm.pageRef(pfn) > 0 && this.rmap.isMovable(pfn)) {
          const h = this.rmap.folioHead(pfn);
          const fo = this.rmap.folioOrder(h);
          if (fo === 0 && !this.rmap.isPinned(h) && !this.migrator.isIsolated(h)) {
            list.push(h);
            if (mm.testFlag(h, MigFlag.MteTagged)) sourceHasMetadata = true;
          }
          pfn = h + (1 << fo);
          continue;
        }
        pfn++;
      }
      migratePfn = pfn >= pbEnd || skipBlock ? pbEnd : pfn;
      if (list.length > 0) {
        res.isolated += list.length;
        const n = list.length;
        const ret = yield* this.migrator.migratePagesSteps(
          list,
          MigrateReason.MR_COMPACTION,
          mm.gfpHighuserMovable,
          undefined,
          dest,
        );
        res.migrated += n - list.length;
        res.failed += list.length;
        if (ret < 0) break;
        if (opts.finished?.() === true) break;
      }
    }
    // release_freepages.
    for (const p of freepages) this.putFree(p);
    mm.count('compact_migrate_scanned', res.migrateScanned);
    mm.count('compact_free_scanned', res.freeScanned);
    mm.count('compact_isolated', res.isolated);
    return res;
  }

  /**
   * __alloc_pages_direct_compact → try_to_compact_pages for an order > 0 allocation: compacts each zone up to
   * the request's highest zone until `suitable()` finds a free block of the order (P8: a free METADATA block
   * counts when the request may use METADATA; P9: without ALLOC_FROM_METADATA, METADATA sources are skipped).
   * Counts compact_stall, then compact_success or compact_fail. Returns true if pages moved (progress).
   */
  directCompact(
    zones: readonly CompactZone[],
    allocFromMetadata: boolean,
    suitable: () => boolean,
  ): { progress: boolean; success: boolean } {
    this.mm.count('compact_stall', 1);
    let migrated = 0;
    let success = suitable();
    for (const z of zones) {
      if (success) break;
      const r = this.compactZone(z, { directWithoutMetadata: !allocFromMetadata, finished: suitable });
      migrated += r.migrated;
      success = suitable();
    }
    this.mm.count(success ? 'compact_success' : 'compact_fail', 1);
    return { progress: migrated > 0, success };
  }

  private putFree(pfn: number): void {
    this.mm.setPageRef(pfn, 0);
    this.mm.freePages(pfn, 0);
  }
}
