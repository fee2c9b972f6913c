/**
 * Tag storage reservation on page allocation and release: `reserve_metadata_storage` and
 * `free_metadata_storage` of v1 patch 25 (arch/arm64/kernel/mte_tag_storage.c), kernel-facts §2.2–§2.4.
 *
 * A tagged page cannot be used until the tag storage block that holds its tags has been taken back from
 * whoever uses it as data: the block is allocated with alloc_contig_range(MIGRATE_METADATA), which isolates
 * it and migrates the data pages living there (src/mm/page_isolation.ts). Blocks are shared: the count of
 * the block's first page is 1 + the tagged pages using it, added per allocation as
 * `min(1 << order, 32 * block_size_pages)` (§2.3). When it falls back to 1 the block returns to the
 * METADATA free lists.
 *
 * The region table, the xarray of reserved blocks and the block look-up are H5's (mte_tag_storage.ts);
 * this file only adds the allocation-time protocol and installs it as the allocator's arch hook (§2.4).
 */
import type { KernelLog } from '../../sim/log.js';
import { CompactOp, Compaction, type CompactResult, type CompactZone } from '../../mm/compaction.js';
import {
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_HIGHMEM,
  __GFP_MOVABLE,
  __GFP_RETRY_MAYFAIL,
  __GFP_TAGGED,
  __GFP_THISNODE,
} from '../../mm/gfp.js';
import { ZONE_NAMES } from '../../mm/vmstat.js';
import {
  EBUSY,
  EINTR,
  MigFlag,
  Migrator,
  type DestAllocator,
  type MigrateRmap,
  type MigrateTags,
} from '../../mm/migrate.js';
import type { PageAllocator } from '../../mm/page_alloc.js';
import { BuddyMigrateMm, PageIsolation, type IsolationRmap } from '../../mm/page_isolation.js';
import { MIGRATE_METADATA, MIGRATE_MOVABLE, ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, type Zone } from '../../mm/zone.js';
import { PG_mte_tagged, PG_tag_storage_reserved, type MemMap } from '../../mm/memmap.js';
import { MteSwapTags, mtePageTagStorageSize } from './mteswap.js';
import {
  TAG_RATIO,
  blockRefCount,
  kprintf,
  orderToNumBlocks,
  type TagRegion,
  type TagStorage,
  type TagStorageMm,
} from './mte_tag_storage.js';

/** alloc_contig_range attempts per block while it returns -EBUSY (v1: 5, §2.3 step 7). */
export const RESERVE_CONTIG_TRIES = 5;

/** What reservation needs from the page allocator and the per-page arrays. */
export interface TagReserveMm {
  pageRef(pfn: number): number;
  setPageRef(pfn: number, count: number): void;
  testFlag(pfn: number, flag: MigFlag): boolean;
  setFlag(pfn: number, flag: MigFlag): void;
  clearFlag(pfn: number, flag: MigFlag): void;
  /** count_vm_events by /proc/vmstat name. */
  count(name: string, delta: number): void;
  readonly migrateMetadata: number;
  readonly gfpTagged: number;
  readonly gfpNoretry: number;
  readonly gfpRetryMayfail: number;
  /** The memmap words behind pageRef/testFlag/setFlag, when there is one: the allocation-time fast path uses them. */
  readonly memmap?: MemMap;
}

/** The arch hook object the buddy allocator calls (§2.4; H3's `arch`). */
export interface MetadataArchHooks {
  metadataEnabled: boolean;
  /** get_page_from_freelist after rmqueue for __GFP_TAGGED: false → the page goes back to the tail. */
  reserveMetadata(pfn: number, order: number, gfp: number): boolean;
  /** free_pages_prepare for a page with metadata. */
  freeMetadata(pfn: number, order: number): void;
  /** page_has_metadata(page) (= page_mte_tagged). */
  pageHasMetadata(pfn: number): boolean;
}

export interface TagReserveStats {
  reserveCalls: number;
  alreadyReserved: number;
  missingRegion: number;
  failed: number;
}

export class TagReserve {
  readonly stats: TagReserveStats = { reserveCalls: 0, alreadyReserved: 0, missingRegion: 0, failed: 0 };
  /** Returns true while a fatal signal is pending for the faulting task (v1 patch 34); none by default. */
  fatalSignalPending: () => boolean = () => false;

  constructor(
    readonly ts: TagStorage,
    readonly mm: TagReserveMm,
    readonly isolation: PageIsolation,
    public swapTags: MteSwapTags,
    readonly log: KernelLog,
  ) {}

  /** Returns true if the block whose first pfn is `block` is in tag_blocks_reserved. */
  isBlockReserved(block: number): boolean {
    return this.ts.reservedBlocks.has(block);
  }

  /** The refcount of a reserved block (1 + tagged pages), 0 when it is not reserved. */
  blockRefcount(block: number): number {
    return this.ts.reservedBlocks.has(block) ? this.mm.pageRef(block) : 0;
  }

  /** The region found by the last findBlock(), and its index in ts.regions when the loop found it. */
  private region: TagRegion | undefined;
  private regionIdx = -1;

  /**
   * tag_storage_find_block (§2.2) without allocating: the first pfn of the block holding pfn's tags, with the
   * region in `this.region`; -1 when no region serves pfn. Out-of-range blocks go through H5's look-up, which
   * prints the kernel's error.
   */
  /**
   * The block holding pfn's tags in the region the previous look-up found, or -1 when that region does not
   * serve pfn. The same answer as the loop of findBlock() (regions do not overlap); pages come in runs.
   */
  private blockInLastRegion(pfn: number): number {
    const last = this.region;
    if (last === undefined || pfn < last.mem.start || pfn > last.mem.end || this.ts.regions[this.regionIdx] !== last)
      return -1;
    const off = Math.floor((pfn - last.mem.start) / TAG_RATIO);
    const block = last.tag.start + off - (off % last.blockSizePages);
    return block + last.blockSizePages - 1 <= last.tag.end ? block : -1;
  }

  private findBlock(pfn: number): number {
    const cached = this.blockInLastRegion(pfn);
    if (cached >= 0) return cached;
    const regions = this.ts.regions;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i]!;
      if (pfn < r.mem.start || pfn > r.mem.end) continue;
      const off = Math.floor((pfn - r.mem.start) / TAG_RATIO);
      const block = r.tag.start + off - (off % r.blockSizePages);
      if (block + r.blockSizePages - 1 > r.tag.end) break;
      this.region = r;
      this.regionIdx = i;
      return block;
    }
    const found = this.ts.findBlock(pfn, this.log);
    if (found === undefined) return -1;
    this.region = found.region;
    return found.block;
  }

  /**
   * The blocks a reservation of (pfn, order) pins and what it adds to each: v1's `[start, start +
   * order_to_num_blocks(order) * B)` with `min(1 << order, 32 * B)` per block (§2.2, §2.3). With B > 1 and
   * order >= 6 this covers B times more tag pages than the allocation needs (v1's over-reservation), so an
   * invariant counting one block per tagged page must use this instead. Undefined outside every region.
   */
  blocksFor(pfn: number, order: number): { blocks: number[]; count: number } | undefined {
    const start = this.findBlock(pfn);
    if (start < 0) return undefined;
    const r = this.region!;
    const blocks: number[] = [];
    const end = start + orderToNumBlocks(order) * r.blockSizePages;
    for (let b = start; b < end; b += r.blockSizePages) blocks.push(b);
    return { blocks, count: blockRefCount(order, r) };
  }

  /** Two remembered answers of blockReserved (migration asks about a source's and a destination's block in turn). */
  private blockA = -1;
  private blockB = -1;
  private reservedA = false;
  private reservedB = false;
  private blockVersion = -1;

  /** ts.reservedBlocks.has(block), remembered for the last two blocks asked while the set is unchanged. */
  private blockReserved(block: number): boolean {
    const set = this.ts.reservedBlocks;
    if (set.version !== this.blockVersion) {
      this.blockVersion = set.version;
      this.blockA = this.blockB = -1;
    } else if (block === this.blockA) return this.reservedA;
    else if (block === this.blockB) return this.reservedB;
    const r = set.has(block);
    this.blockB = this.blockA;
    this.reservedB = this.reservedA;
    this.blockA = block;
    this.reservedA = r;
    return r;
  }

  /** Index in the memmap's i32 view of block's count word (the block asked last is kept: 32 pages share it). */
  private countWordOf(words: MemMap, block: number): number {
    if (block !== this.countBlock) {
      this.countBlock = block;
      this.countWord = words.idxOf(block) * 4 + 1;
    }
    return this.countWord;
  }
  private countBlock = -1;
  private countWord = -1;

  private blockRefAdd(block: number, n: number): number {
    const c = this.mm.pageRef(block) + n;
    this.mm.setPageRef(block, c);
    return c;
  }

  /**
   * reserve_metadata_storage(page, order, gfp), kernel-facts §2.3 steps 1–10: 0 on success (also when no
   * region covers the page, v1), else a negative errno with every pin and new reservation undone.
   */
  reserveMetadataStorage(pfn: number, order: number, gfp: number): number {
    const mm = this.mm;
    const ts = this.ts;
    this.stats.reserveCalls++;
    // The per-fault case first: one base page, in the region of the previous call, on the memmap words.
    // Steps 3 (the look-up of findBlock), 4, 5 and 8 for one block; anything else takes the general path.
    const words = mm.memmap;
    const block = order === 0 && words !== undefined ? this.blockInLastRegion(pfn) : -1;
    if (words !== undefined && block >= 0) {
      const u = words.u32;
      const i = words.idxOf(pfn);
      if (((u[i * 4] as number) & PG_tag_storage_reserved) !== 0) {
        this.stats.alreadyReserved++;
        return 0;
      }
      if (this.blockReserved(block)) {
        // blockRefCount(0, region) = min(1, 32 * B) = 1.
        const bi = this.countWordOf(words, block);
        words.i32[bi] = (words.i32[bi] as number) + 1;
        u[i * 4] = ((u[i * 4] as number) | PG_tag_storage_reserved) >>> 0;
        return 0;
      }
    }
    // Step 2: no recursion into reservation for the pages migrated out; retry hard unless told not to.
    let g = gfp & ~mm.gfpTagged;
    if ((g & mm.gfpNoretry) === 0) g |= mm.gfpRetryMayfail;

    // Step 3.
    const startBlock = this.findBlock(pfn);
    if (startBlock < 0) {
      ts.warnMissingBlock(this.log, pfn);
      this.stats.missingRegion++;
      return 0;
    }
    const region = this.region!;
    const bs = region.blockSizePages;
    const endBlock = startBlock + orderToNumBlocks(order) * bs;
    const count = blockRefCount(order, region);

    // Step 4: a concurrent fault already reserved it.
    if (mm.testFlag(pfn, MigFlag.TagStorageReserved)) {
      this.stats.alreadyReserved++;
      return 0;
    }

    // Step 5: pin the blocks already reserved so they cannot be freed under us.
    // One block already reserved (the usual case: 32 pages share a tag page): step 5 pins it, step 7 has
    // nothing to do and step 8 follows.
    if (endBlock - startBlock === bs && ts.reservedBlocks.has(startBlock)) {
      this.blockRefAdd(startBlock, count);
      for (let i = 0; i < 1 << order; i++) mm.setFlag(pfn + i, MigFlag.TagStorageReserved);
      return 0;
    }
    for (let b = startBlock; b < endBlock; b += bs) if (ts.reservedBlocks.has(b)) this.blockRefAdd(b, count);

    // Step 7.
    let ret = 0;
    for (let b = startBlock; b < endBlock; b += bs) {
      if (ts.reservedBlocks.has(b)) continue;
      // Past the region (v1's B-times over-reservation near the end of a region, §2.2): the kernel would
      // take whatever memory follows; we refuse with the look-up's own error.
      if (b + bs - 1 > region.tag.end) {
        this.log.err(
          kprintf('Block 0x%llx-0x%llx is outside tag region 0x%llx-0x%llx\n', [
            BigInt(b) * BigInt(ts.pageSize),
            BigInt(b + bs) * BigInt(ts.pageSize),
            BigInt(region.tag.start) * BigInt(ts.pageSize),
            BigInt(region.tag.end) * BigInt(ts.pageSize),
          ]),
        );
        ret = -34; // -ERANGE
        break;
      }
      let tries = RESERVE_CONTIG_TRIES;
      do {
        ret = this.fatalSignalPending() ? EINTR : this.isolation.allocContigRange(b, b + bs, mm.migrateMetadata, g);
      } while (ret === EBUSY && --tries > 0);
      if (ret !== 0) break;
      // tag_storage_reserve_block: dcache_inval_poc (nothing to model), xa_store, block_ref_add.
      ts.reservedBlocks.add(b);
      this.blockRefAdd(b, count);
      mm.count('metadata_reserve_success', bs);
    }

    if (ret === 0) {
      // Step 8.
      for (let i = 0; i < 1 << order; i++) mm.setFlag(pfn + i, MigFlag.TagStorageReserved);
      return 0;
    }

    // Step 9: undo the pins of step 5 and the reservations of step 7.
    for (let b = startBlock; b < endBlock; b += bs) {
      if (!ts.reservedBlocks.has(b)) continue;
      if (this.blockRefAdd(b, -count) === 1) {
        ts.reservedBlocks.delete(b);
        this.isolation.freeContigRange(b, bs);
      }
    }
    mm.count('metadata_reserve_fail', bs);
    this.stats.failed++;
    // Not a kernel message: the emulator's note of the failure, at debug level (SPEC §4 Log).
    this.log.debug(`mte-sim: reserve_metadata_storage: pfn 0x${pfn.toString(16)} order ${order} failed: ${ret}`);
    // Step 10: a fatal signal is a fake success; set_pte_at maps the page METADATA_NONE.
    return ret === EINTR ? 0 : ret;
  }

  /**
   * free_metadata_storage(page, order), kernel-facts §2.3: drops the page's share of each covering block
   * and returns a block whose count falls to 1 (metadata_reserve_free).
   */
  freeMetadataStorage(pfn: number, order: number): void {
    const mm = this.mm;
    const ts = this.ts;
    // The per-page case first (a tagged base page in the region of the previous call, its block reserved), on
    // the memmap words: the same steps as below for one page and one block.
    const words = mm.memmap;
    const block = order === 0 && words !== undefined ? this.blockInLastRegion(pfn) : -1;
    if (words !== undefined && block >= 0) {
      const u = words.u32;
      const i = words.idxOf(pfn);
      const f = u[i * 4] as number;
      if ((f & (PG_mte_tagged | PG_tag_storage_reserved)) !== 0 && this.blockReserved(block)) {
        this.swapTags.erasePageTagsByPfnRange(pfn, 1);
        u[i * 4] = (f & ~(PG_mte_tagged | PG_tag_storage_reserved)) >>> 0;
        // blockRefCount(0, region) = 1.
        const bi = this.countWordOf(words, block);
        const c = (words.i32[bi] as number) - 1;
        words.i32[bi] = c;
        if (c === 1) {
          const bs = this.region!.blockSizePages;
          ts.reservedBlocks.delete(block);
          this.isolation.freeContigRange(block, bs);
          mm.count('metadata_reserve_free', bs);
        }
        return;
      }
    }
    if (!mm.testFlag(pfn, MigFlag.MteTagged) && !mm.testFlag(pfn, MigFlag.TagStorageReserved)) {
      // Emulator choice: an untagged page freed with tags still parked in tags_by_pfn (swap-in into a page
      // never mapped tagged, §6.2) drops them here, so a later owner of the pfn cannot inherit them. The
      // kernel only calls this for tagged pages and would WARN.
      if (this.swapTags.erasePageTagsByPfnRange(pfn, 1 << order) > 0) return;
      this.log.warn(kprintf('pfn 0x%lx is not tagged', [pfn]));
      return;
    }
    const startBlock = this.findBlock(pfn);
    const nr = 1 << order;
    // Step 4 (patch 33): tags saved for these pages are stale now.
    this.swapTags.erasePageTagsByPfnRange(pfn, nr);
    for (let i = 0; i < nr; i++) {
      mm.clearFlag(pfn + i, MigFlag.TagStorageReserved);
      mm.clearFlag(pfn + i, MigFlag.MteTagged);
    }
    if (startBlock < 0) return;
    const region = this.region!;
    const bs = region.blockSizePages;
    const endBlock = startBlock + orderToNumBlocks(order) * bs;
    const count = blockRefCount(order, region);
    for (let b = startBlock; b < endBlock; b += bs) {
      if (!ts.reservedBlocks.has(b)) {
        this.log.warn(kprintf('Block 0x%lx is not reserved for pfn 0x%lx', [b, pfn]));
        continue;
      }
      if (this.blockRefAdd(b, -count) === 1) {
        ts.reservedBlocks.delete(b);
        this.isolation.freeContigRange(b, bs);
        mm.count('metadata_reserve_free', bs);
      }
    }
  }

  /** The hook object for the buddy allocator (§2.4). `metadataEnabled` follows the static key. */
  archHooks(): MetadataArchHooks {
    const mm = this.mm;
    const hooks: MetadataArchHooks = {
      // A plain field that follows the static key (read on every allocation and free).
      metadataEnabled: false,
      reserveMetadata: (pfn, order, gfp) => this.reserveMetadataStorage(pfn, order, gfp) === 0,
      freeMetadata: (pfn, order) => this.freeMetadataStorage(pfn, order),
      pageHasMetadata: (pfn) =>
        (mm.memmap !== undefined
          ? ((mm.memmap.u32[mm.memmap.idxOf(pfn) * 4] as number) & (PG_mte_tagged | PG_tag_storage_reserved)) !== 0
          : mm.testFlag(pfn, MigFlag.MteTagged) || mm.testFlag(pfn, MigFlag.TagStorageReserved)) ||
        this.swapTags.pageMetadataInSwap(pfn),
    };
    this.ts.watchKey((on) => {
      hooks.metadataEnabled = on;
    });
    return hooks;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Wiring: the allocator, the tag storage table, isolation, migration and compaction as one piece.

/** The process layer as migration sees it (src/process: `layer.rmap`, `layer.tags`, `setMigrationHooks`). */
export interface ProcessSide {
  readonly rmap: MigrateRmap & { folioHead?(pfn: number): number };
  readonly tags: {
    save(pfn: number): Uint8Array;
    restore(pfn: number, saved: Uint8Array): void;
    copy(dst: number, src: number): void;
    readonly tagsByPfn: Map<number, Uint8Array>;
  };
  /** fix.pfn_tags, read at each copy (scenario `config` may change it). */
  readonly fixPfnTags: boolean;
  setMigrationHooks(h: { migrateMetadataNonePage(pfn: number): boolean }): void;
}

/** An rmap that knows no user pages (before the process layer exists, e.g. during boot). */
const NO_RMAP: MigrateRmap & IsolationRmap = {
  isMovable: () => false,
  isPinned: () => false,
  folioOrder: () => 0,
  folioHead: (pfn) => pfn,
  unmap: () => null,
  remap: () => undefined,
  undo: () => undefined,
};

/**
 * Tag storage reuse on top of a PageAllocator: builds the adapters, installs the arch hooks (§2.4) and, once
 * the process layer exists, lets alloc_contig_range and METADATA_NONE faults migrate user pages.
 */
export class TagStorageReuse {
  readonly mm: BuddyMigrateMm;
  readonly migrator: Migrator;
  readonly isolation: PageIsolation;
  readonly reserve: TagReserve;
  readonly compaction: Compaction;
  swapTags: MteSwapTags;
  private rmapImpl: MigrateRmap & IsolationRmap = NO_RMAP;
  private fixPfnTags: () => boolean = () => true;

  constructor(
    readonly alloc: PageAllocator,
    readonly ts: TagStorage,
    readonly log: KernelLog,
  ) {
    this.mm = new BuddyMigrateMm(alloc, log);
    const tagBytes = mtePageTagStorageSize(alloc.geometry.pageSize);
    this.swapTags = new MteSwapTags(tagBytes);
    // Forwarders, so the process layer can be attached after boot.
    const rmap: MigrateRmap & IsolationRmap = {
      isMovable: (p) => this.rmapImpl.isMovable(p),
      isPinned: (p) => this.rmapImpl.isPinned(p),
      folioOrder: (p) => this.rmapImpl.folioOrder(p),
      folioHead: (p) => this.rmapImpl.folioHead(p),
      unmap: (p) => this.rmapImpl.unmap(p),
      remap: (h, d) => this.rmapImpl.remap(h, d),
      undo: (h) => this.rmapImpl.undo(h),
    };
    const noTags: MigrateTags = {
      readPageTags: () => new Uint8Array(tagBytes),
      writePageTags: () => undefined,
    };
    const fixPfnTags = (): boolean => this.fixPfnTags();
    this.migrator = new Migrator(this.mm, rmap, noTags, this.swapTags, {
      get pfnTags(): boolean {
        return fixPfnTags();
      },
    });
    this.isolation = new PageIsolation(this.mm, rmap, this.migrator);
    this.reserve = new TagReserve(ts, this.mm, this.isolation, this.swapTags, log);
    this.compaction = new Compaction(this.mm, rmap, this.migrator, (pfn, order) =>
      this.reserve.reserveMetadataStorage(pfn, order, GFP_HIGHUSER_MOVABLE | __GFP_TAGGED),
    );
  }

  /** Installs reserve/free_metadata_storage as the allocator's arch hooks (the key follows ts.metadataEnabled). */
  install(): this {
    this.alloc.arch = this.reserve.archHooks();
    return this;
  }

  /**
   * The page allocator as H5's activation (activateTagStorage) needs it, with alloc_contig_range and
   * free_contig_range from page_isolation.ts.
   */
  tagStorageMm(): TagStorageMm {
    const alloc = this.alloc;
    return {
      zoneOf: (pfn) => alloc.zones.indexOf(alloc.zoneForPfn(pfn)!),
      initReservedPageblock: (pfn, mt) =>
        alloc.initReservedPageblock(pfn, mt === 'metadata' ? MIGRATE_METADATA : MIGRATE_MOVABLE),
      // reserve_metadata_storage(page, order, GFP_KERNEL): TagReserve adds __GFP_RETRY_MAYFAIL (§2.3 step 2).
      reserveMetadataStorage: (pfn, order) => this.reserve.reserveMetadataStorage(pfn, order, GFP_KERNEL),
    };
  }

  /**
   * Connects the process layer: its rmap moves user pages, its tag store holds the tags, its tags_by_pfn map
   * becomes the one tags_by_pfn store (§6.2), and METADATA_NONE faults migrate through this migrator.
   */
  attachProcessLayer(layer: ProcessSide): void {
    const r = layer.rmap;
    this.rmapImpl = {
      isMovable: (p) => r.isMovable(p),
      isPinned: (p) => r.isPinned(p),
      folioOrder: (p) => r.folioOrder(p),
      folioHead: (p) => (r.folioHead !== undefined ? r.folioHead(p) : p),
      unmap: (p) => r.unmap(p),
      remap: (h, d) => r.remap(h, d),
      undo: (h) => r.undo(h),
    };
    const tags = layer.tags;
    this.migrator.tags = {
      readPageTags: (pfn) => tags.save(pfn),
      writePageTags: (pfn, t) => tags.restore(pfn, t),
      copyPageTags: (dst, src) => tags.copy(dst, src),
    };
    this.swapTags = new MteSwapTags(this.swapTags.tagBytes, tags.tagsByPfn);
    this.migrator.swapTags = this.swapTags;
    this.reserve.swapTags = this.swapTags;
    this.fixPfnTags = () => layer.fixPfnTags;
    layer.setMigrationHooks({ migrateMetadataNonePage: (pfn) => this.migrator.migrateMetadataNonePage(pfn) });
  }

  /**
   * Installs direct compaction as the allocator's slow-path hook (keeping the other hooks): an order > 0
   * allocation that failed compacts the zones up to its highest zone (§3.5 P8, P9).
   */
  installDirectCompaction(): this {
    const alloc = this.alloc;
    const directCompact = (order: number, gfp: number, highestZoneidx: number): boolean => {
      const fromMeta = this.ts.metadataEnabled && (gfp & __GFP_MOVABLE) !== 0 && (gfp & __GFP_TAGGED) === 0;
      // The zonelist order: highest zone first.
      const zones = alloc.zones.filter((z) => z.populated && z.idx <= highestZoneidx).sort((a, b) => b.idx - a.idx);
      const suitable = (): boolean => {
        for (const z of zones) {
          for (let o = order; o <= alloc.geometry.maxOrder; o++) {
            if (z.freeListCount(o, MIGRATE_MOVABLE) > 0) return true;
            if (fromMeta && z.freeListCount(o, MIGRATE_METADATA) > 0) return true;
          }
        }
        return false;
      };
      return this.compaction.directCompact(
        zones.map((z) => this.compactZone(z)),
        fromMeta,
        suitable,
      ).progress;
    };
    alloc.hooks = { ...alloc.hooks, directCompact };
    return this;
  }

  /**
   * A destination source for `migrate VMA to=TARGET` (move_pages / mbind style, MR_SYSCALL): pages from the
   * target zone (`zoneIdx`: the gfp zone bits ask for it, and pages that fall back to a lower zone are
   * refused), node (`nid`, like alloc_pages_node with __GFP_THISNODE) and/or pfn range (a DT memory node).
   * A tagged source gets __GFP_TAGGED (§3.5 P11). Pages outside the target are held while another is tried,
   * then given back. Use with `migrator.beginWith(src, MigrateReason.MR_SYSCALL, dest)`.
   */
  targetAllocator(target: { zoneIdx?: number; nid?: number; start?: number; end?: number }): DestAllocator {
    const alloc = this.alloc;
    const mm = this.mm;
    let gfp = GFP_HIGHUSER_MOVABLE;
    if (target.zoneIdx === ZONE_DMA) gfp = (gfp & ~(__GFP_HIGHMEM | __GFP_MOVABLE)) | __GFP_DMA | __GFP_MOVABLE;
    else if (target.zoneIdx === ZONE_DMA32)
      gfp = (gfp & ~(__GFP_HIGHMEM | __GFP_MOVABLE)) | __GFP_DMA32 | __GFP_MOVABLE;
    else if (target.zoneIdx === ZONE_NORMAL) gfp &= ~__GFP_HIGHMEM;
    if (target.nid !== undefined) gfp |= __GFP_THISNODE;
    const inTarget = (pfn: number, order: number): boolean => {
      if (target.start !== undefined && pfn < target.start) return false;
      if (target.end !== undefined && pfn + (1 << order) > target.end) return false;
      const z = alloc.zoneForPfn(pfn);
      if (z === undefined) return false;
      if (target.zoneIdx !== undefined && z.idx !== target.zoneIdx) return false;
      return target.nid === undefined || z.nid === target.nid;
    };
    const ranged = target.start !== undefined && target.end !== undefined;
    const rangeStart = target.start ?? 0;
    const rangeEnd = target.end ?? 0;
    return {
      alloc: (src, order) => {
        const tagged = mm.metadataEnabled() && mm.testFlag(src, MigFlag.MteTagged);
        const g = tagged ? gfp | __GFP_TAGGED : gfp;
        if (ranged) {
          // A memory range: take a free block there; a tagged source needs its tag storage (§3.5 P11).
          const refused: number[] = [];
          let dst = -1;
          for (;;) {
            const p = this.isolation.takeFreeInRange(rangeStart, rangeEnd, order);
            if (p < 0 || !inTarget(p, order)) {
              if (p >= 0) refused.push(p);
              break;
            }
            if (!tagged || this.reserve.reserveMetadataStorage(p, order, g) === 0) {
              dst = p;
              break;
            }
            refused.push(p);
          }
          for (const p of refused) {
            for (let q = p; q < p + (1 << order); q++) mm.setPageRef(q, 0);
            alloc.freePages(p, order);
          }
          return dst;
        }
        const held: number[] = [];
        let dst = -1;
        for (let tries = 0; tries < 1024; tries++) {
          const p = alloc.allocPages(order, g, target.nid);
          if (p < 0) break;
          if (inTarget(p, order)) {
            dst = p;
            break;
          }
          held.push(p);
        }
        for (const p of held) alloc.freePages(p, order);
        return dst;
      },
      release: (dst, order) => alloc.freePages(dst, order),
    };
  }

  /** `compact` in a race thread: compact_node() for every populated zone, one atomic step at a time. */
  compactOp(): CompactOp {
    return new CompactOp(this.compaction, this.populatedZones());
  }

  /** `compact`: compact_node() for every populated zone. */
  compactAll(): CompactResult {
    return this.compaction.compactAll(this.populatedZones());
  }

  private populatedZones(): CompactZone[] {
    return this.alloc.zones.filter((z) => z.populated).map((z) => this.compactZone(z));
  }

  /** A zone as compaction scans it: its span, and with interleaved nodes which pageblocks are its own. */
  private compactZone(z: Zone): CompactZone {
    const alloc = this.alloc;
    const base = { name: ZONE_NAMES[z.idx] ?? String(z.idx), startPfn: z.zoneStartPfn, endPfn: z.zoneEndPfn };
    return alloc.zonesOverlap ? { ...base, owns: (pfn: number) => alloc.zoneForPfn(pfn) === z } : base;
  }
}
