/**
 * arch/arm64/mm/mteswap.c: the two side stores that keep a page's MTE tags while they cannot live in
 * the tag storage (kernel-facts.md §6.1–§6.2).
 *
 * - `tags_by_swp_entry` (v6.5 `mte_pages`, renamed by v1 patch 2): tags of a swapped-out page, keyed by
 *   the swap entry value; saved by `arch_prepare_to_swap`, restored by `arch_swap_restore`, erased by
 *   `arch_swap_invalidate_page/area`.
 * - `tags_by_pfn` (v1 patch 33, CONFIG_ARM64_MTE_TAG_STORAGE): tags of a page that is meant to be tagged
 *   but has no tag storage yet (swap-in into an untagged page, copy_highpage into a destination without
 *   tag storage). Restored by `set_pte_at`/`mte_sync_tags` once the page has tag storage, erased by
 *   `free_metadata_storage`.
 *
 * A buffer is MTE_PAGE_TAG_STORAGE bytes: 4 bits per 16-byte granule, 128 bytes per 4 KiB page (§7.1).
 * This module only keeps buffers; reading or writing the tag storage itself belongs to the tag model.
 * `tags_by_pfn` is a sparse map keyed by pfn (it is shared with the tag model and rarely holds more than a few
 * pages). `tags_by_swp_entry` can hold every page of a large swap-out, so it is a typed table indexed by the
 * swap offset (`SwpEntryTags`): no object and no allocation per saved page.
 */

/** MTE_GRANULE_SIZE (§7.1). */
export const MTE_GRANULE_SIZE = 16;

/** MTE_PAGE_TAG_STORAGE for a page of `pageSize` bytes: granules * 4 bits / 8 (128 B for 4 KiB). */
export function mtePageTagStorageSize(pageSize: number): number {
  return ((pageSize / MTE_GRANULE_SIZE) * 4) / 8;
}

/** One xarray: key → tag buffer. */
export class TagXarray {
  /** `map` may be shared with another module that keeps the same store (one xarray, several views). */
  constructor(private readonly map = new Map<number, Uint8Array>()) {}

  get size(): number {
    return this.map.size;
  }

  load(key: number): Uint8Array | undefined {
    return this.map.get(key);
  }

  has(key: number): boolean {
    return this.map.has(key);
  }

  /** xa_store: returns the buffer it replaced (the caller frees it, i.e. drops it). */
  store(key: number, buf: Uint8Array): Uint8Array | undefined {
    const old = this.map.get(key);
    this.map.set(key, buf);
    return old;
  }

  erase(key: number): Uint8Array | undefined {
    const old = this.map.get(key);
    if (old !== undefined) this.map.delete(key);
    return old;
  }

  keys(): IterableIterator<number> {
    return this.map.keys();
  }

  clear(): void {
    this.map.clear();
  }
}

/** log2 of the swap entries per chunk of SwpEntryTags (128 KiB of tags per chunk with 4K pages). */
const SWP_CHUNK_SHIFT = 10;
const SWP_CHUNK = 1 << SWP_CHUNK_SHIFT;

/**
 * tags_by_swp_entry: the tag buffer (MTE_PAGE_TAG_STORAGE bytes) saved for each swap entry, as a table indexed by
 * the entry value — one area, so the value is the swap offset (src/mm/swapfile.ts), a small dense integer. The
 * bytes live in chunks of SWP_CHUNK entries allocated on first use, with a presence byte per entry; a store copies
 * the caller's bytes in (xa_store of the kmalloc'ed copy) and a load copies them out, so an entry never aliases
 * a caller's buffer, as the kernel's kmalloc'ed copies do not.
 */
export class SwpEntryTags {
  private readonly bytes: (Uint8Array | undefined)[] = [];
  /** The same chunks as 32-bit words (tag buffers are a multiple of 4 bytes for every page size). */
  private readonly words: (Int32Array | undefined)[] = [];
  private readonly present: (Uint8Array | undefined)[] = [];
  private count = 0;
  /** peek()'s buffer, and its words. */
  private readonly scratch: Uint8Array;
  private readonly scratchWords: Int32Array | undefined;

  constructor(readonly tagBytes: number) {
    this.scratch = new Uint8Array(tagBytes);
    this.scratchWords = tagBytes % 4 === 0 ? new Int32Array(this.scratch.buffer) : undefined;
  }

  /** Entries holding tags. */
  get size(): number {
    return this.count;
  }

  has(key: number): boolean {
    return key >= 0 && this.present[key >>> SWP_CHUNK_SHIFT]?.[key & (SWP_CHUNK - 1)] === 1;
  }

  /** Where slot()/find() put the entry's bytes: slotBytes[slotOff, slotOff + tagBytes). */
  slotBytes: Uint8Array = new Uint8Array(0);
  slotOff = 0;

  /** Makes `key` hold tags (xa_store of a buffer the caller fills at slotBytes/slotOff). */
  slot(key: number): void {
    const n = this.tagBytes;
    const c = key >>> SWP_CHUNK_SHIFT;
    const i = key & (SWP_CHUNK - 1);
    let pres = this.present[c];
    let bytes = this.bytes[c];
    if (pres === undefined || bytes === undefined) {
      pres = new Uint8Array(SWP_CHUNK);
      bytes = new Uint8Array(SWP_CHUNK * n);
      this.present[c] = pres;
      this.bytes[c] = bytes;
      if (n % 4 === 0) this.words[c] = new Int32Array(bytes.buffer);
    }
    if (pres[i] === 0) {
      pres[i] = 1;
      this.count++;
    }
    // The chunk changes once per SWP_CHUNK entries: storing the same references again would still pay V8's
    // write barrier on every call (measured: several hundred instructions a page on the tagged swap path).
    if (this.slotBytes !== bytes) {
      this.slotBytes = bytes;
      this.slotWords = this.words[c]!;
    }
    this.slotOff = i * n;
    this.slotWord = (i * n) >> 2;
  }
  slotWords: Int32Array = new Int32Array(0);
  slotWord = 0;

  /** xa_load: points slotBytes/slotOff at the tags of `key`; false when there are none. */
  find(key: number): boolean {
    if (!this.has(key)) return false;
    const bytes = this.bytes[key >>> SWP_CHUNK_SHIFT]!;
    if (this.slotBytes !== bytes) {
      this.slotBytes = bytes;
      this.slotWords = this.words[key >>> SWP_CHUNK_SHIFT]!;
    }
    this.slotOff = (key & (SWP_CHUNK - 1)) * this.tagBytes;
    this.slotWord = this.slotOff >> 2;
    return true;
  }

  /** xa_store of a copy of `tags` (tagBytes long) for `key`, replacing (freeing) any previous buffer. */
  store(key: number, tags: Uint8Array): void {
    if (!Number.isInteger(key) || key < 0 || key > 0xffffffff) throw new RangeError(`bad swap entry ${key}`);
    const n = this.tagBytes;
    if (tags.length !== n) throw new RangeError(`tag buffer of ${tags.length} bytes, expected ${n}`);
    this.slot(key);
    this.slotBytes.set(tags, this.slotOff);
  }

  /**
   * The tags saved for `key` in a buffer owned by the table, valid until the next peek (the caller copies them
   * on), or undefined when there are none: xa_load without a buffer per call.
   */
  peek(key: number): Uint8Array | undefined {
    if (!this.has(key)) return undefined;
    const n = this.tagBytes;
    const c = key >>> SWP_CHUNK_SHIFT;
    const i = key & (SWP_CHUNK - 1);
    const out = this.scratch;
    const sw = this.scratchWords;
    if (sw !== undefined) {
      const w = this.words[c]!;
      const nw = n >> 2;
      const off = i * nw;
      for (let k = 0; k < nw; k++) sw[k] = w[off + k]!;
    } else {
      const b = this.bytes[c]!;
      const off = i * n;
      for (let k = 0; k < n; k++) out[k] = b[off + k]!;
    }
    return out;
  }

  /** A new buffer holding the tags saved for `key`, or undefined when there are none (xa_load, then a copy). */
  load(key: number): Uint8Array | undefined {
    return this.peek(key)?.slice();
  }

  /** xa_erase: returns true if tags were saved for `key` (their buffer is freed). */
  erase(key: number): boolean {
    if (!this.has(key)) return false;
    this.present[key >>> SWP_CHUNK_SHIFT]![key & (SWP_CHUNK - 1)] = 0;
    this.count--;
    return true;
  }

  /** The entries holding tags, ascending. */
  keys(): number[] {
    const out: number[] = [];
    if (this.count === 0) return out;
    for (let c = 0; c < this.present.length; c++) {
      const pres = this.present[c];
      if (pres === undefined) continue;
      for (let i = 0; i < SWP_CHUNK; i++) if (pres[i] === 1) out.push(c * SWP_CHUNK + i);
    }
    return out;
  }

  clear(): void {
    for (const pres of this.present) pres?.fill(0);
    this.count = 0;
  }
}

/**
 * The two tag stores of arch/arm64/mm/mteswap.c. `tagBytes` is MTE_PAGE_TAG_STORAGE for the platform's
 * page size; every stored buffer has exactly that length (a copy of what the caller passed).
 */
export class MteSwapTags {
  readonly tagsBySwpEntry: SwpEntryTags;
  readonly tagsByPfn: TagXarray;

  /**
   * `byPfn`: an existing map to use as the tags_by_pfn store (src/process/tags.ts keeps a `tagsByPfn` map;
   * passing it here makes both views one xarray).
   */
  constructor(
    readonly tagBytes: number,
    byPfn?: Map<number, Uint8Array>,
  ) {
    if (!Number.isInteger(tagBytes) || tagBytes <= 0) throw new RangeError(`bad tag buffer size ${tagBytes}`);
    this.tagsByPfn = new TagXarray(byPfn);
    this.tagsBySwpEntry = new SwpEntryTags(tagBytes);
  }

  private copyIn(tags: Uint8Array): Uint8Array {
    if (tags.length !== this.tagBytes) {
      throw new RangeError(`tag buffer of ${tags.length} bytes, expected ${this.tagBytes}`);
    }
    return tags.slice();
  }

  // --- by swap entry (§6.1) ------------------------------------------------------------------------

  /** mte_save_page_tags_by_swp_entry: the tags of a tagged page going to swap entry `entry`. */
  savePageTagsBySwpEntry(entry: number, tags: Uint8Array): void {
    if (tags.length !== this.tagBytes) {
      throw new RangeError(`tag buffer of ${tags.length} bytes, expected ${this.tagBytes}`);
    }
    this.tagsBySwpEntry.store(entry, tags);
  }

  /** A copy of the saved tags of `entry`, if any (mte_restore_page_tags_by_swp_entry reads them; they stay). */
  loadPageTagsBySwpEntry(entry: number): Uint8Array | undefined {
    return this.tagsBySwpEntry.load(entry);
  }

  /** mte_invalidate_tags (arch_swap_invalidate_page): returns true if an entry was erased. */
  invalidateTags(entry: number): boolean {
    return this.tagsBySwpEntry.erase(entry);
  }

  /** mte_invalidate_tags_area: erases every entry in [first, first + count). */
  invalidateTagsArea(first: number, count: number): number {
    const store = this.tagsBySwpEntry;
    let n = 0;
    if (count > store.size) {
      for (const k of store.keys()) if (k >= first && k < first + count && store.erase(k)) n++;
    } else {
      for (let e = first; e < first + count; e++) if (store.erase(e)) n++;
    }
    return n;
  }

  // --- by pfn (§6.2) -------------------------------------------------------------------------------

  /** mte_save_page_tags_by_pfn: stores a copy of `tags` for `pfn`, freeing any buffer it replaces. */
  savePageTagsByPfn(pfn: number, tags: Uint8Array): void {
    this.tagsByPfn.store(pfn, this.copyIn(tags));
  }

  /** mte_erase_page_tags_by_pfn: removes and returns the buffer for `pfn`. */
  erasePageTagsByPfn(pfn: number): Uint8Array | undefined {
    return this.tagsByPfn.erase(pfn);
  }

  /** The buffer for `pfn` without removing it. */
  loadPageTagsByPfn(pfn: number): Uint8Array | undefined {
    return this.tagsByPfn.load(pfn);
  }

  /** page_metadata_in_swap: returns true if tags are pending for `pfn` in tags_by_pfn. */
  pageMetadataInSwap(pfn: number): boolean {
    return this.tagsByPfn.has(pfn);
  }

  /**
   * Erases the entries of [pfn, pfn + nr) (free_metadata_storage step 4). Returns how many were erased.
   * Walks whichever is smaller, the range or the store, so freeing a 1 GiB range stays cheap.
   */
  erasePageTagsByPfnRange(pfn: number, nr: number): number {
    const store = this.tagsByPfn;
    if (store.size === 0) return 0;
    let n = 0;
    if (nr > store.size) {
      for (const k of [...store.keys()]) if (k >= pfn && k < pfn + nr && store.erase(k)) n++;
    } else {
      for (let p = pfn; p < pfn + nr; p++) if (store.erase(p)) n++;
    }
    return n;
  }

  /** The pfns with pending tags, ascending (for invariants and reports). */
  pendingPfns(): number[] {
    return [...this.tagsByPfn.keys()].sort((a, b) => a - b);
  }
}
