/**
 * The boundary between the process layer (processes, page tables, faults, tags) and what sits below it:
 * the buddy allocator and its per-page arrays (src/mm), the arm64 tag storage table and its reservation
 * hooks (src/arch/arm64). The process layer only talks to the page allocator through this interface, so the
 * layer can be read without the allocator, and tests can hand it a small fake.
 *
 * Page state the process layer keeps on pages *it* owns (anon pages, page-table pages) lives in the
 * allocator's per-page words (src/mm/memmap.ts; like struct page's union, free-list links while free):
 *   a (owner):  anon page: its linear page index (page->index; a global index space, >= 1, that also
 *               names the anon_vma, see rmap.ts); page-table page: OWNER_PGTABLE
 *   b (token):  the data content token (0 = zero-filled), for every page that holds data
 * and the refcount: for an anon page it equals the number of PTEs (and migration entries) referencing it,
 * plus one while migration has it isolated; no gup pins are modelled yet.
 */

/** Page flags the process layer reads or writes (kernel-facts §7.2, §2.3). */
export const PageFlag = {
  /** PG_mte_tagged (PG_arch_2): the page's tags were initialised (cleared or restored). */
  MteTagged: 0,
  /** PG_tag_storage_reserved (PG_arch_4): the tag storage blocks covering the page are reserved. */
  TagStorageReserved: 1,
  /** PageAnon: an anonymous (or shmem) page mapped by a process. */
  Anon: 2,
  /** A page-table page (PageTable / PG_table). */
  PageTable: 3,
} as const;
export type PageFlag = (typeof PageFlag)[keyof typeof PageFlag];

/** gfp bits the process layer asks for; the adapter maps them onto src/mm/gfp's real values. */
export const Gfp = {
  /** GFP_HIGHUSER_MOVABLE: user pages, movable. */
  HighuserMovable: 1,
  /** __GFP_TAGGED (v1 patch 3, was __GFP_ZEROTAGS): the page needs tag storage and zeroed tags. */
  Tagged: 2,
  /** GFP_PGTABLE_USER: page-table pages (unmovable, zeroed, accounted). */
  PgtableUser: 4,
  /** __GFP_ZERO */
  Zero: 8,
  /** GFP_TRANSHUGE (a THP fault in a madvised VMA, src/process/thp.ts); replaces HighuserMovable. */
  Transhuge: 16,
} as const;

/** Marker in word `a` for page-table pages. */
export const OWNER_PGTABLE = 0xfffffffe;

/** Return codes of reserveMetadata (negative errno, as the kernel). */
export const EINTR = -4;
export const ENOMEM = -12;
export const EBUSY = -16;

/**
 * Direct views of the allocator's per-page words (see the header), for the process layer's per-page mechanisms: one
 * typed-array access instead of a port call per field. Word 0 holds the flags, word 1 the refcount, word 2
 * the owner, word 3 the token.
 */
export interface PortWords {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** Dense index of pfn (its words start at index * 4). */
  idxOf(pfn: number): number;
  /** Word-0 bits of PageFlag.MteTagged, PageFlag.TagStorageReserved and PageFlag.Anon. */
  readonly mteTaggedBit: number;
  readonly tagStorageReservedBit: number;
  readonly anonBit: number;
}

/**
 * What the process layer needs from below. Everything is pfn-based and allocation-free so that a fault is
 * a handful of typed-array operations.
 */
export interface MmPort {
  readonly pageSize: number;
  readonly pageShift: number;
  /** pfn of the shared zero page (ZERO_PAGE(0)). */
  readonly zeroPfn: number;
  /** MAX_ORDER of the allocator; absent: only order-0 allocations (no THP). */
  readonly maxOrder?: number;
  /** The per-page words, when the port has them as typed arrays (the fast lanes then use them directly). */
  readonly words?: PortWords;

  /** Allocates 2^order pages; returns the first pfn or -1 (the allocator has already logged any OOM). */
  allocPages(order: number, gfp: number): number;
  /** Frees 2^order pages starting at pfn (free_pages: runs free_metadata_storage for tagged pages). */
  freePages(pfn: number, order: number): void;

  pageRef(pfn: number): number;
  setPageRef(pfn: number, count: number): void;
  getOwner(pfn: number): number;
  setOwner(pfn: number, v: number): void;
  getToken(pfn: number): number;
  setToken(pfn: number, v: number): void;
  testFlag(pfn: number, flag: PageFlag): boolean;
  setFlag(pfn: number, flag: PageFlag): void;
  clearFlag(pfn: number, flag: PageFlag): void;
  /** Returns true if the page is on a free list of the buddy allocator (PageBuddy or a tail of one). */
  isFree(pfn: number): boolean;

  /** Returns true if pfn's pageblock is MIGRATE_ISOLATE (being isolated by alloc_contig_range). */
  isIsolatedPageblock(pfn: number): boolean;
  /** Returns true if pfn's pageblock is MIGRATE_METADATA, i.e. the page is tag storage. */
  isMetadataPage(pfn: number): boolean;

  /** static key `metadata_storage_enabled` (tag storage management active, kernel-facts §1.1). */
  metadataEnabled(): boolean;
  /** reserve_metadata_storage(page, order, gfp) (§2.3): 0 or a negative errno. */
  reserveMetadata(pfn: number, order: number, gfp: number): number;
  /**
   * The tag storage page holding pfn's tags, or -1 when pfn is outside every tag storage region (§2.2).
   * With tag storage management off the tags still exist in the hidden static carve-out; the process layer
   * then keeps them by data pfn.
   */
  tagPageOf(pfn: number): number;
  /** Reference count of the tag storage block covering data page pfn (1 + tagged pages, 0 if not reserved; -1 if none). */
  tagBlockRefcount?(pfn: number): number;
  /** First pfn of the tag block covering data page pfn (tag_storage_find_block), or -1. */
  tagBlockOf?(pfn: number): number;
  /** Returns true if tag storage page tagPfn belongs to a reserved tag block (in tag_blocks_reserved). */
  isTagBlockReserved?(tagPfn: number): boolean;
  /** Pages per tag block of the region holding tag storage page tagPfn (block_size_pages), or 0. */
  tagBlockPagesAt?(tagPfn: number): number;
  /** Every reserved tag block: [first pfn of the block, its refcount]. */
  reservedBlocks?(): Iterable<[number, number]>;
  /** The allocator's own free-list consistency check (SPEC §5.1): one message per problem. */
  checkFreeLists?(): string[];

  /** Index of pfn's zone in a small per-machine table (page_zone), for per-zone counters; absent: one zone. */
  zoneIndexOf?(pfn: number): number;
  /** Adds to a zone stat (`nr_zone_inactive_anon`) of the zone with that index. */
  countZone?(zoneIndex: number, name: string, delta: number): void;
  /** Adds to a /proc/vmstat event counter (`pgfault`) or a node/zone state (`nr_anon_pages`) by name. */
  count(name: string, delta: number): void;
}
