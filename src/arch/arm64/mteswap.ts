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
 * Both stores are sparse maps keyed by number: the emulator never holds an object per page.
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

/**
 * The two tag stores of arch/arm64/mm/mteswap.c. `tagBytes` is MTE_PAGE_TAG_STORAGE for the platform's
 * page size; every stored buffer has exactly that length (a copy of what the caller passed).
 */
export class MteSwapTags {
  readonly tagsBySwpEntry: TagXarray;
  readonly tagsByPfn: TagXarray;

  /**
   * `byPfn` / `bySwpEntry`: existing maps to use as the stores (src/process/tags.ts keeps a `tagsByPfn` map;
   * passing it here makes both views one xarray).
   */
  constructor(
    readonly tagBytes: number,
    byPfn?: Map<number, Uint8Array>,
    bySwpEntry?: Map<number, Uint8Array>,
  ) {
    this.tagsByPfn = new TagXarray(byPfn);
    this.tagsBySwpEntry = new TagXarray(bySwpEntry);
    if (!Number.isInteger(tagBytes) || tagBytes <= 0) throw new RangeError(`bad tag buffer size ${tagBytes}`);
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
    this.tagsBySwpEntry.store(entry, this.copyIn(tags));
  }

  /** The saved tags of `entry`, if any (mte_restore_page_tags_by_swp_entry reads them; they stay). */
  loadPageTagsBySwpEntry(entry: number): Uint8Array | undefined {
    return this.tagsBySwpEntry.load(entry);
  }

  /** mte_invalidate_tags (arch_swap_invalidate_page): returns true if an entry was erased. */
  invalidateTags(entry: number): boolean {
    return this.tagsBySwpEntry.erase(entry) !== undefined;
  }

  /** mte_invalidate_tags_area: erases every entry in [first, first + count). */
  invalidateTagsArea(first: number, count: number): number {
    let n = 0;
    if (count > this.tagsBySwpEntry.size) {
      for (const k of [...this.tagsBySwpEntry.keys()]) {
        if (k >= first && k < first + count && this.tagsBySwpEntry.erase(k)) n++;
      }
    } else {
      for (let e = first; e < first + count; e++) if (this.tagsBySwpEntry.erase(e)) n++;
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
