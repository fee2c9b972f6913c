/**
 * The memmap: per-page state (struct page) in one typed array, indexed densely by present sections
 * (CONFIG_SPARSEMEM: a section table maps pfn → dense index; a section's dense base is a multiple of the section
 * size, so the buddy arithmetic `idx ^ (1 << order)` holds on dense indices as on pfns — no buddy block is larger
 * than a section).
 *
 * Layout: 4 Uint32 words = 16 bytes per page, interleaved (page i at words 4i..4i+3), plus one byte per pageblock
 * for its migratetype:
 *   word 0  flags (bits 0-15, PG_* below) | order (bits 16-23) | aux (bits 24-31: for free and pcp pages the
 *           migratetype of the list the page is on; free for other owners otherwise)
 *   word 1  count: the page refcount (Int32 view)
 *   word 2  a: free/pcp pages: next link (dense index, NIL ends); in use: owner / rmap id (other modules)
 *   word 3  b: free/pcp pages: prev link; in use: content token (other modules)
 * Interleaving means the boot path, which touches one head page per MAX_ORDER block, dirties only one OS page in
 * four of the array; the zero-filled buffer is allocated lazily by the OS, so untouched pages cost no RSS.
 * A page whose words are all 0 is "reserved by boot" (never handed to the buddy allocator), as memmap_init leaves
 * every page PageReserved until memblock frees it.
 */
import type { Geometry } from './geometry.js';
import { MIGRATE_MOVABLE } from './zone.js';

export const PG_locked = 1 << 0;
export const PG_referenced = 1 << 1;
export const PG_uptodate = 1 << 2;
export const PG_dirty = 1 << 3;
export const PG_lru = 1 << 4;
export const PG_active = 1 << 5;
export const PG_reserved = 1 << 6;
export const PG_head = 1 << 7;
export const PG_swapbacked = 1 << 8;
/** PG_arch_2 on arm64. */
export const PG_mte_tagged = 1 << 9;
/** PG_arch_3. */
export const PG_mte_lock = 1 << 10;
/** PG_arch_4, v1 patch 25 (kernel-facts §2.3). */
export const PG_tag_storage_reserved = 1 << 11;
/** PageBuddy (a page_type in the kernel): head of a free buddy block. */
export const PG_buddy = 1 << 12;
/** Emulator bookkeeping: the page is on a per-cpu list (kernel: page on pcp->lists, not PageBuddy). */
export const PG_pcp = 1 << 13;
export const PG_anon = 1 << 14;
export const PG_unevictable = 1 << 15;

export const WORDS_PER_PAGE = 4;
const FLAGS_MASK = 0xffff;

export interface PfnRange {
  startPfn: number;
  /** Exclusive. */
  endPfn: number;
}

export class MemMap {
  readonly geometry: Geometry;
  /** The page words (see header). */
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** Number of dense page slots (present sections × pages per section). */
  readonly nrPages: number;
  /** Section number → dense section index, or -1 when the section is not present. */
  readonly sectionToDense: Int32Array;
  /** Dense section index → first pfn of the section. */
  readonly denseSectionPfn: Float64Array;
  /** Migratetype of each pageblock, indexed by dense index >> pageblock_order. */
  readonly pageblockMt: Uint8Array;
  private readonly shift: number;
  private readonly mask: number;

  /** Sections intersecting any of `ranges` become present (sparse_init / memory_present). */
  constructor(geometry: Geometry, ranges: readonly PfnRange[]) {
    this.geometry = geometry;
    this.shift = geometry.pfnSectionShift;
    this.mask = geometry.pagesPerSection - 1;
    const pps = geometry.pagesPerSection;
    const present = new Set<number>();
    let maxSection = -1;
    for (const r of ranges) {
      if (r.endPfn <= r.startPfn) continue;
      const first = Math.floor(r.startPfn / pps);
      const last = Math.floor((r.endPfn - 1) / pps);
      for (let s = first; s <= last; s++) present.add(s);
      maxSection = Math.max(maxSection, last);
    }
    const sorted = [...present].sort((x, y) => x - y);
    this.sectionToDense = new Int32Array(maxSection + 1).fill(-1);
    this.denseSectionPfn = new Float64Array(sorted.length);
    sorted.forEach((s, i) => {
      this.sectionToDense[s] = i;
      this.denseSectionPfn[i] = s * pps;
    });
    this.nrPages = sorted.length * pps;
    const buf = new ArrayBuffer(this.nrPages * WORDS_PER_PAGE * 4);
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    // memmap_init(): every pageblock starts MIGRATE_MOVABLE.
    this.pageblockMt = new Uint8Array(Math.ceil(this.nrPages / geometry.pageblockNrPages)).fill(MIGRATE_MOVABLE);
  }

  /** Number of present sections. */
  get nrSections(): number {
    return this.denseSectionPfn.length;
  }

  /** Dense index of `pfn`, or -1 when its section is not present (pfn_valid() false). */
  pfnToIdx(pfn: number): number {
    // A page's pfn and index are asked for back and forth along one allocation or fault: the last pair is kept.
    if (pfn === this.lastPfn) return this.lastIdx;
    const sec = pfn < 4294967296 ? pfn >>> this.shift : Math.floor(pfn / (this.mask + 1));
    if (sec >= this.sectionToDense.length || pfn < 0) return -1;
    const d = this.sectionToDense[sec] ?? -1;
    if (d < 0) return -1;
    const i = d * (this.mask + 1) + (pfn & this.mask);
    this.lastPfn = pfn;
    this.lastIdx = i;
    return i;
  }
  private lastPfn = -1;
  private lastIdx = -1;

  /** Dense indices are below 2^32 (they are stored in Uint32 links), so 32-bit shifts are exact. */
  idxToPfn(idx: number): number {
    const pfn = (this.denseSectionPfn[idx >>> this.shift] as number) + (idx & this.mask);
    this.lastPfn = pfn;
    this.lastIdx = idx;
    return pfn;
  }

  /** pfn_valid() for sparsemem: the pfn's section is present. */
  pfnValid(pfn: number): boolean {
    return this.pfnToIdx(pfn) >= 0;
  }

  /** Dense index or a RangeError: for API entry points given a pfn by another module. */
  idxOf(pfn: number): number {
    const i = this.pfnToIdx(pfn);
    if (i < 0) throw new RangeError(`pfn 0x${pfn.toString(16)} has no memmap`);
    return i;
  }

  // Word accessors by dense index (hot path).
  flagsAt(i: number): number {
    return (this.u32[i * 4] ?? 0) & FLAGS_MASK;
  }
  setFlagsAt(i: number, flags: number): void {
    const w = this.u32[i * 4] ?? 0;
    this.u32[i * 4] = ((w & ~FLAGS_MASK) | (flags & FLAGS_MASK)) >>> 0;
  }
  orderAt(i: number): number {
    return ((this.u32[i * 4] ?? 0) >>> 16) & 0xff;
  }
  auxAt(i: number): number {
    return (this.u32[i * 4] ?? 0) >>> 24;
  }
  setWord0(i: number, flags: number, order: number, aux: number): void {
    this.u32[i * 4] = ((flags & FLAGS_MASK) | (order << 16) | (aux << 24)) >>> 0;
  }
  countAt(i: number): number {
    return this.i32[i * 4 + 1] ?? 0;
  }
  setCountAt(i: number, c: number): void {
    this.i32[i * 4 + 1] = c;
  }
  aAt(i: number): number {
    return this.u32[i * 4 + 2] ?? 0;
  }
  setAAt(i: number, v: number): void {
    this.u32[i * 4 + 2] = v;
  }
  bAt(i: number): number {
    return this.u32[i * 4 + 3] ?? 0;
  }
  setBAt(i: number, v: number): void {
    this.u32[i * 4 + 3] = v;
  }

  // pfn-based conveniences for other modules.
  flags(pfn: number): number {
    return this.flagsAt(this.idxOf(pfn));
  }
  setFlag(pfn: number, flag: number, on: boolean): void {
    const i = this.idxOf(pfn);
    const f = this.flagsAt(i);
    this.setFlagsAt(i, on ? f | flag : f & ~flag);
  }
  testFlag(pfn: number, flag: number): boolean {
    return (this.flags(pfn) & flag) !== 0;
  }
  refcount(pfn: number): number {
    return this.countAt(this.idxOf(pfn));
  }
  setRefcount(pfn: number, c: number): void {
    this.setCountAt(this.idxOf(pfn), c);
  }
  owner(pfn: number): number {
    return this.aAt(this.idxOf(pfn));
  }
  setOwner(pfn: number, v: number): void {
    this.setAAt(this.idxOf(pfn), v >>> 0);
  }
  token(pfn: number): number {
    return this.bAt(this.idxOf(pfn));
  }
  setToken(pfn: number, v: number): void {
    this.setBAt(this.idxOf(pfn), v >>> 0);
  }

  /** get_pageblock_migratetype(). */
  pageblockMigratetypeAt(i: number): number {
    return this.pageblockMt[i >>> this.geometry.pageblockOrder] ?? MIGRATE_MOVABLE;
  }
  setPageblockMigratetypeAt(i: number, mt: number): void {
    this.pageblockMt[Math.floor(i / this.geometry.pageblockNrPages)] = mt;
  }

  /** Bytes of emulator memory per emulated page (words) — SPEC §8 budget, excluding the pageblock byte. */
  static readonly bytesPerPage = WORDS_PER_PAGE * 4;
}

/**
 * The index of a pfn's first word (idxOf(pfn) * 4) for the last two pfns asked: a migration asks about its
 * source and its destination in turn, several times each. A pfn's index never changes, so nothing goes stale.
 */
export class PfnWordCache {
  private pfnA = -1;
  private wordA = 0;
  private pfnB = -1;
  private wordB = 0;

  constructor(private readonly words: { idxOf(pfn: number): number }) {}

  of(pfn: number): number {
    if (pfn === this.pfnA) return this.wordA;
    if (pfn === this.pfnB) return this.wordB;
    const w = this.words.idxOf(pfn) * 4;
    this.pfnB = this.pfnA;
    this.wordB = this.wordA;
    this.pfnA = pfn;
    this.wordA = w;
    return w;
  }
}
