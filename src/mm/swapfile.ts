/**
 * The swap device (mm/swapfile.c, v6.5): one swap area of `config swap=SIZE`, its swap map and slot allocation,
 * and the global figures si_swapinfo() reports (SwapTotal / SwapFree in /proc/meminfo, `Total swap` / `Free swap`
 * in show_mem).
 *
 * Model (documented choices):
 * - One area, swap type 0, so a swap entry's value is its offset (swp_entry(0, offset).val == offset) and that is
 *   the key of the tags_by_swp_entry store (kernel-facts §6.1).
 * - Page 0 of the area is the swap header (`union swap_header`), never allocated: `pages` = SIZE/PAGE_SIZE - 1,
 *   as swapon's nr_good_pages for an area without bad pages.
 * - The device is a synchronous block device (SWP_SYNCHRONOUS_IO and non-rotational, like /dev/pmem0), so
 *   writes complete at once and do_swap_page bypasses the swap cache for an entry whose swap count is 1
 *   (v6.5 mm/memory.c). What the device stores is the page's data token (the model's stand-in for the
 *   page contents), one Uint32 per slot; the swap count per slot is a Uint8 (swap_map). Both live in chunks of
 *   65536 slots allocated on first use, so an area of any size costs host memory only for the slots in use.
 * - Slot allocation is scan_swap_map_slots reduced to a scan from a cursor that never passes a free slot (a
 *   freed slot below it pulls it back), so the lowest free slot is used first; no clusters. Deterministic.
 *
 * The swapon line is `pr_info("Adding %uk swap on %s.  Priority:%d extents:%d across:%lluk %s%s%s%s\n")` of
 * v6.5 (frontswap's "FS" field was removed in 6.5); the first area without a priority gets -2 (least_priority
 * starts at -1 and is pre-decremented); a block device is one extent spanning all its good pages; "SS" marks
 * SWP_SOLIDSTATE. Source: mm/swapfile.c SYSCALL_DEFINE2(swapon) as found with the search tool.
 */
import type { KernelLog } from '../sim/log.js';

/** SWAP_MAP_MAX (0x3e): the largest count swap_map holds without continuation pages. */
export const SWAP_MAP_MAX = 0x3e;

const CHUNK_SHIFT = 16;
const CHUNK = 1 << CHUNK_SHIFT;

export class SwapDevice {
  /** swap_info_struct->max: pages of the area including the header page. */
  readonly max: number;
  /** swap_info_struct->pages: usable slots (max - 1). */
  readonly pages: number;
  /** swap_map[] in chunks: references (swap PTEs) per slot; 0 = free. A missing chunk is all free. */
  private readonly mapChunks: (Uint8Array | undefined)[];
  /** The data token written to each slot (the page contents as the model sees them), in chunks. */
  private readonly tokenChunks: (Uint32Array | undefined)[];
  /** swap_info_struct->inuse_pages. */
  inusePages = 0;
  readonly prio = -2;
  readonly name: string;
  private cursor = 1;

  constructor(
    bytes: number,
    readonly pageSize: number,
    name = '/dev/pmem0',
  ) {
    this.max = Math.floor(bytes / pageSize);
    if (this.max < 2) throw new RangeError(`swap area of ${bytes} bytes is smaller than two pages`);
    this.pages = this.max - 1;
    const chunks = Math.ceil(this.max / CHUNK);
    this.mapChunks = new Array<Uint8Array | undefined>(chunks);
    this.tokenChunks = new Array<Uint32Array | undefined>(chunks);
    this.name = name;
  }

  private mapChunk(off: number): Uint8Array {
    const c = off >>> CHUNK_SHIFT;
    let m = this.mapChunks[c];
    if (m === undefined) {
      m = new Uint8Array(CHUNK);
      this.mapChunks[c] = m;
      this.tokenChunks[c] = new Uint32Array(CHUNK);
    }
    return m;
  }

  /** The data token stored in slot `off` (0 for a free slot). */
  tokenOf(off: number): number {
    const t = this.tokenChunks[off >>> CHUNK_SHIFT];
    return t === undefined ? 0 : t[off & (CHUNK - 1)]!;
  }

  /** swap_writepage: the page's data token goes to slot `off` (which must be in use). */
  setToken(off: number, token: number): void {
    let t = this.tokenChunks[off >>> CHUNK_SHIFT];
    if (t === undefined) {
      this.mapChunk(off);
      t = this.tokenChunks[off >>> CHUNK_SHIFT]!;
    }
    t[off & (CHUNK - 1)] = token;
  }

  /** nr_swap_pages contribution: free slots. */
  get freePages(): number {
    return this.pages - this.inusePages;
  }

  /** The swapon log line (kernel format above). */
  swaponLine(): string {
    const kb = (this.pages * this.pageSize) / 1024;
    return `Adding ${kb}k swap on ${this.name}.  Priority:${this.prio} extents:1 across:${kb}k SS`;
  }

  /**
   * get_swap_pages(1, ...) / scan_swap_map_slots: a free slot with count 1, or 0 when the area is full (0 is
   * the header page, never a valid entry).
   */
  getSwapPage(count = 1): number {
    if (this.inusePages >= this.pages) return 0;
    const max = this.max;
    let off = this.cursor;
    for (let n = 0; n < max; n++) {
      if (off >= max) off = 1;
      // A chunk not yet allocated is all free: its first slot is the one taken, so allocate it now.
      const m = this.mapChunks[off >>> CHUNK_SHIFT] ?? this.mapChunk(off);
      const i = off & (CHUNK - 1);
      if (m[i] === 0) {
        m[i] = count;
        this.inusePages++;
        this.cursor = off + 1;
        return off;
      }
      off++;
    }
    return 0;
  }

  /** __swap_count(entry). */
  count(off: number): number {
    if (off <= 0 || off >= this.max) return 0;
    const m = this.mapChunks[off >>> CHUNK_SHIFT];
    return m === undefined ? 0 : m[off & (CHUNK - 1)]!;
  }

  /** swap_duplicate(entry): one more reference (fork copying a swap PTE). Returns false when the count is full. */
  duplicate(off: number): boolean {
    const c = this.count(off);
    if (c === 0 || c >= SWAP_MAP_MAX) return false;
    this.mapChunk(off)[off & (CHUNK - 1)] = c + 1;
    return true;
  }

  /**
   * swap_free(entry): drops one reference. Returns true when it was the last one and the slot became free
   * (the caller then runs arch_swap_invalidate_page).
   */
  free(off: number): boolean {
    const c = this.count(off);
    if (c === 0) throw new RangeError(`swap_free of free swap entry ${off}`);
    const i = off & (CHUNK - 1);
    this.mapChunks[off >>> CHUNK_SHIFT]![i] = c - 1;
    if (c > 1) return false;
    this.tokenChunks[off >>> CHUNK_SHIFT]![i] = 0;
    this.inusePages--;
    if (off < this.cursor) this.cursor = off;
    return true;
  }
}

/** The swap areas of the machine (si_swapinfo over swap_info[]); the model has at most one. */
export class SwapState {
  device: SwapDevice | undefined;

  /** total_swap_pages. */
  get totalPages(): number {
    return this.device?.pages ?? 0;
  }

  /** get_nr_swap_pages(). */
  get freePages(): number {
    return this.device?.freePages ?? 0;
  }

  /** swapon(2) of a new area of `bytes`; logs the kernel's line. Replaces no existing area. */
  swapon(bytes: number, pageSize: number, log: KernelLog): SwapDevice {
    if (this.device !== undefined) throw new RangeError('a swap area is already active');
    const d = new SwapDevice(bytes, pageSize);
    this.device = d;
    log.info(d.swaponLine());
    return d;
  }
}
