/**
 * MTE allocation tags (SPEC §4, kernel-facts §7.1): 4 bits per 16-byte granule, two granules per byte (even
 * granule in the low nibble, as LDGM/STGM pack them), MTE_PAGE_TAG_STORAGE = PAGE_SIZE/32 bytes per page.
 *
 * Tags live where the hardware keeps them: in the tag storage page that covers the data page (§2.2: page p of
 * region r has its tags in tag page r.tag.start + (p - r.mem.start)/32, at byte ((p - r.mem.start) % 32) *
 * PAGE_SIZE/32). Tag storage pages get their bytes on first tag write (a sparse map, PAGE_SIZE bytes each).
 * Pages outside every region (static MTE, or management off) keep theirs in a per-pfn map, standing for the
 * firmware's hidden carve-out. The series' `tags_by_pfn` store (§6.2) is here too.
 *
 * Writing tags for a page whose tag storage is not reserved writes into a page that may hold data: the
 * corruption of the cover letter (§6.3). The store records it (SPEC §5.6) and reports it to the owner, which
 * changes the data token of the page living there (SPEC §5.5).
 */
import type { MmPort } from './port.js';
import { PageFlag } from './port.js';

/** Tag buffers per slab of TagStore.save (64 × 128 B = 8 KiB with 4K pages). */
const SLAB_BUFFERS = 64;

export class TagStore {
  /** Bytes of tag storage per data page (128 for 4K pages). */
  readonly bytesPerPage: number;
  private readonly tagPages = new Map<number, Uint8Array>();
  private readonly hidden = new Map<number, Uint8Array>();
  /** tags_by_pfn (v1 P33): tags waiting for the page to get tag storage. */
  readonly tagsByPfn = new Map<number, Uint8Array>();
  /** Tag writes that landed in tag storage not reserved for tags (invariant 6); each a message. */
  readonly corruptions: string[] = [];
  /** Set by slice(): the buffer and offset of the last page looked up (avoids allocating a pair). */
  private buf: Uint8Array = new Uint8Array(0);
  private off = 0;
  /** The 32-bit view of `buf` when slice() found a tag storage page (undefined for the hidden store). */
  private bufWords: Int32Array | undefined;
  /**
   * The two tag pages looked up last, most recent first, with a 32-bit view of each, or undefined for a page
   * not written yet (tagPages never drops a page, so the entries stay valid). Two, because a migration
   * alternates between the source's and the destination's tag page, each shared by 32 consecutive data pages.
   */
  private tpA = -1;
  private pageA: Uint8Array | undefined;
  private wordsA: Int32Array | undefined;
  private tpB = -1;
  private pageB: Uint8Array | undefined;
  private wordsB: Int32Array | undefined;
  /** 32-bit words of tag storage per data page (32 with 4K pages). */
  private readonly wordsPerPage: number;

  constructor(
    private readonly port: MmPort,
    /** Called with the tag storage pfn when tags are written into storage that is not reserved. */
    private readonly onCorrupt: (tagPfn: number) => void,
  ) {
    this.bytesPerPage = port.pageSize / 32;
    this.wordsPerPage = this.bytesPerPage >> 2;
  }

  /**
   * The tag page of tag storage pfn `tp` (most recent first in the two-entry cache; wordsA is its 32-bit
   * view), created zeroed when `create`; undefined if it was never written and !create. The cache remembers
   * an absent page too: pages are only ever added here, so the entry is updated when one is created.
   */
  private tagPage(tp: number, create: boolean): Uint8Array | undefined {
    let b: Uint8Array | undefined;
    let w: Int32Array | undefined;
    if (tp === this.tpA) {
      b = this.pageA;
      if (b !== undefined || !create) return b;
    } else if (tp === this.tpB) {
      b = this.pageB;
      w = this.wordsB;
    } else {
      b = this.tagPages.get(tp);
      if (b !== undefined) w = new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
    }
    if (b === undefined && create) {
      b = this.newTagPage();
      this.tagPages.set(tp, b);
      w = new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
    }
    if (tp !== this.tpA) {
      this.tpB = this.tpA;
      this.pageB = this.pageA;
      this.wordsB = this.wordsA;
      this.tpA = tp;
    }
    this.pageA = b;
    this.wordsA = w;
    return b;
  }

  /** Points buf/off at pfn's tag bytes; returns false if they were never written (all zero) and !create. */
  private slice(pfn: number, create: boolean): boolean {
    const tp = this.port.tagPageOf(pfn);
    if (tp < 0) {
      let b = this.hidden.get(pfn);
      if (b === undefined) {
        if (!create) return false;
        b = new Uint8Array(this.bytesPerPage);
        this.hidden.set(pfn, b);
      }
      this.buf = b;
      this.bufWords = undefined;
      this.off = 0;
      return true;
    }
    // Consecutive pages share a tag page (32 per page): the ones found last are tried first (never removed).
    const b = this.tagPage(tp, create);
    if (b === undefined) return false;
    // Consecutive pages share a tag page: store the references only when they change. A tag page is often young
    // (created this cycle) and this object old, so each store would take V8's write barrier slow path (measured:
    // two a page, ~160 instructions, on the tagged swap path).
    if (this.buf !== b) {
      this.buf = b;
      this.bufWords = this.wordsA;
    }
    // The offset of pfn inside its tag page is (pfn - region start) % 32; region starts are pageblock aligned
    // (§1.1), so pfn % 32 gives the same slot.
    this.off = (pfn % 32) * this.bytesPerPage;
    return true;
  }

  /**
   * Returns true if writing pfn's tags is safe: tag storage management is off, the page is outside every
   * region, or its tag storage is reserved (PG_tag_storage_reserved).
   */
  tagStorageReady(pfn: number): boolean {
    const p = this.port;
    // PG_tag_storage_reserved first: the usual answer, and the cheapest question.
    return p.testFlag(pfn, PageFlag.TagStorageReserved) || !p.metadataEnabled() || p.tagPageOf(pfn) < 0;
  }

  private beforeWrite(pfn: number): void {
    if (this.tagStorageReady(pfn)) return;
    this.reportUnreserved(pfn, this.port.tagPageOf(pfn));
  }

  /** Tags of pfn are about to land in tag storage page tp, which is not reserved for tags (§6.3). */
  private reportUnreserved(pfn: number, tp: number): void {
    this.corruptions.push(
      `tags of pfn 0x${pfn.toString(16)} written into tag storage page 0x${tp.toString(16)}, which is not reserved for tags`,
    );
    this.onCorrupt(tp);
  }

  getTag(pfn: number, granule: number): number {
    if (!this.slice(pfn, false)) return 0;
    const byte = this.buf[this.off + (granule >> 1)]!;
    return (granule & 1) === 0 ? byte & 0xf : byte >> 4;
  }

  /** STG over granules [g0, g1) of pfn. */
  setTags(pfn: number, g0: number, g1: number, tag: number): void {
    this.beforeWrite(pfn);
    this.slice(pfn, true);
    const buf = this.buf;
    const off = this.off;
    for (let g = g0; g < g1; g++) {
      const i = off + (g >> 1);
      buf[i] = (g & 1) === 0 ? (buf[i]! & 0xf0) | tag : (buf[i]! & 0x0f) | (tag << 4);
    }
  }

  /** mte_clear_page_tags: all granules of pfn get tag 0. */
  clear(pfn: number): void {
    this.beforeWrite(pfn);
    this.clearReady(pfn);
  }

  /** clear() for a caller that has just seen tagStorageReady(pfn) true (nothing to report). */
  clearReady(pfn: number): void {
    if (!this.slice(pfn, false)) return;
    this.buf.fill(0, this.off, this.off + this.bytesPerPage);
  }

  /**
   * The 32-bit words of the bytes slice() found: the tag page's own view, or (the hidden store, rare) a view
   * made for the page's buffer. pfn's tags start at word off / 4 of it.
   */
  private sliceWords(): Int32Array {
    return this.bufWords ?? new Int32Array(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength >> 2);
  }

  /** mte_save_tags into dst words [dstWord, dstWord + bytesPerPage/4) (zeros for tags never written). */
  saveWords(pfn: number, dst: Int32Array, dstWord: number): void {
    const nw = this.bytesPerPage >> 2;
    if (!this.slice(pfn, false)) {
      dst.fill(0, dstWord, dstWord + nw);
      return;
    }
    const w = this.sliceWords();
    const from = this.off >> 2;
    for (let k = 0; k < nw; k++) dst[dstWord + k] = w[from + k]!;
  }

  /** restoreReady() from src words [srcWord, srcWord + bytesPerPage/4). */
  restoreReadyWords(pfn: number, src: Int32Array, srcWord: number): void {
    this.slice(pfn, true);
    const nw = this.bytesPerPage >> 2;
    const w = this.sliceWords();
    const to = this.off >> 2;
    for (let k = 0; k < nw; k++) w[to + k] = src[srcWord + k]!;
  }

  /** A copy of pfn's tag bytes (mte_save_tags). */
  save(pfn: number): Uint8Array {
    const n = this.bytesPerPage;
    const out = this.newBuffer();
    if (this.slice(pfn, false)) {
      const from = this.buf;
      const off = this.off;
      for (let i = 0; i < n; i++) out[i] = from[off + i]!;
    }
    return out;
  }

  /**
   * A zeroed buffer of bytesPerPage bytes, carved out of a shared slab: a typed array with its own backing
   * store costs several times more than a view (saving tags is per page on the swap-out path). A slab lives
   * as long as any of its buffers (at most SLAB_BUFFERS of them).
   */
  private newBuffer(): Uint8Array {
    const n = this.bytesPerPage;
    if (this.slabOff + n > this.slab.byteLength) {
      this.slab = new ArrayBuffer(n * SLAB_BUFFERS);
      this.slabOff = 0;
    }
    const out = new Uint8Array(this.slab, this.slabOff, n);
    this.slabOff += n;
    return out;
  }
  private slab = new ArrayBuffer(0);
  private slabOff = 0;

  /** A zeroed tag page, a view of a 64 KiB slab (tag pages are never dropped, so no slab is ever half dead). */
  private newTagPage(): Uint8Array {
    const n = this.port.pageSize;
    if (this.pageSlabOff + n > this.pageSlab.byteLength) {
      this.pageSlab = new ArrayBuffer(Math.max(n, 65536));
      this.pageSlabOff = 0;
    }
    const out = new Uint8Array(this.pageSlab, this.pageSlabOff, n);
    this.pageSlabOff += n;
    return out;
  }
  private pageSlab = new ArrayBuffer(0);
  private pageSlabOff = 0;

  /** mte_restore_tags: writes saved tag bytes into pfn's tag storage. */
  restore(pfn: number, saved: Uint8Array): void {
    this.beforeWrite(pfn);
    this.restoreReady(pfn, saved);
  }

  /** restore() for a caller that has just seen tagStorageReady(pfn) true (nothing to report). */
  restoreReady(pfn: number, saved: Uint8Array): void {
    this.slice(pfn, true);
    this.buf.set(saved, this.off);
  }

  /**
   * mte_copy_page_tags(dst, src), without allocating: the same effect as restore(dst, save(src)). Tags never
   * written read as zero, so a source without a tag page zeroes the destination's bytes if it has any.
   */
  copy(dst: number, src: number): void {
    const port = this.port;
    const tpDst = port.tagPageOf(dst);
    const tpSrc = port.tagPageOf(src);
    if (tpDst < 0 || tpSrc < 0) {
      this.copySlices(dst, src);
      return;
    }
    // beforeWrite(dst), with dst's tag page already known (tagStorageReady's plain reads, the flag first).
    if (!port.testFlag(dst, PageFlag.TagStorageReserved) && port.metadataEnabled()) this.reportUnreserved(dst, tpDst);
    const n = this.wordsPerPage;
    const from = this.tagPage(tpSrc, false);
    if (from === undefined) {
      const to = this.tagPage(tpDst, false);
      if (to !== undefined) this.wordsA!.fill(0, (dst % 32) * n, (dst % 32) * n + n);
      return;
    }
    const fw = this.wordsA!;
    this.tagPage(tpDst, true);
    const tw = this.wordsA!;
    // Offsets as in slice(): region starts are pageblock aligned, so pfn % 32 is the slot in the tag page.
    const fo = (src % 32) * n;
    const to = (dst % 32) * n;
    if (tw === fw && fo === to) return;
    for (let i = 0; i < n; i++) tw[to + i] = fw[fo + i]!;
  }

  /** copy() when either page keeps its tags outside the tag storage regions (the hidden carve-out). */
  private copySlices(dst: number, src: number): void {
    this.beforeWrite(dst);
    const n = this.bytesPerPage;
    if (!this.slice(src, false)) {
      if (this.slice(dst, false)) this.buf.fill(0, this.off, this.off + n);
      return;
    }
    const from = this.buf;
    const fromOff = this.off;
    this.slice(dst, true);
    const to = this.buf;
    const toOff = this.off;
    if (to === from) to.copyWithin(toOff, fromOff, fromOff + n);
    else for (let i = 0; i < n; i++) to[toOff + i] = from[fromOff + i]!;
  }
}
