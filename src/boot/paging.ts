/**
 * paging_init() of arm64 v6.5 (arch/arm64/mm/mmu.c), as far as it takes memory from memblock:
 *
 * - map_mem(): the linear map of every memblock.memory range (NOMAP excluded). arm64 defconfig has
 *   CONFIG_RODATA_FULL_DEFAULT_ENABLED, so can_set_direct_map() is true and the linear map uses page
 *   mappings only (NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS): one last-level table page for every table span
 *   (2 MiB with 4K pages, 32 MiB with 16K, 512 MiB with 64K) that holds mapped memory, one next-level table
 *   page per span above, and so on up to the PGD, which is swapper_pg_dir in the image. The kernel's
 *   [_stext, __init_begin) is mapped separately with block mappings allowed, so a span lying entirely inside
 *   it needs no last-level table. Each table page comes from early_pgtable_alloc() →
 *   memblock_phys_alloc_range(PAGE_SIZE, PAGE_SIZE, 0, MEMBLOCK_ALLOC_NOLEAKTRACE): top-down, one at a time,
 *   which mte-sim takes as one block just below the highest free memory.
 * - memblock_phys_free(init_pg_dir, init_pg_end - init_pg_dir): the early page tables at the end of the image
 *   go back (in mte-sim's layout, [__bss_stop, _end)).
 *
 * Not modelled: the few table pages of map_kernel() and create_idmap(). VA_BITS = 48: 4 levels with 4K and
 * 16K pages, 3 with 64K. Linear VA = PAGE_OFFSET + (PA - memstart_addr).
 */
import type { Memblock } from '../mm/memblock.js';
import { MEMBLOCK_NOMAP } from '../mm/memblock.js';
import type { KernelImage } from './kernel_image.js';

export interface PagingInit {
  /** Table pages allocated for the linear map, per level from the last one up. */
  readonly tablePages: readonly number[];
  readonly base?: number;
  readonly bytes: number;
}

/** Spans covered by one table page at each level below the PGD (last level first). */
function tableSpans(pageShift: number): number[] {
  const bitsPerLevel = pageShift - 3;
  const levels = pageShift === 16 ? 3 : 4; // VA_BITS 48
  const spans: number[] = [];
  for (let l = 1; l < levels; l++) spans.push(2 ** (pageShift + l * bitsPerLevel));
  return spans;
}

/** Counts the distinct `span`-sized blocks touched by the sorted ranges (after subtracting `offset`). */
function countBlocks(ranges: readonly { start: number; end: number }[], span: number, offset: number): number {
  let n = 0;
  let last = -1;
  for (const r of ranges) {
    if (r.end <= r.start) continue;
    const first = Math.floor((r.start - offset) / span);
    const lastIdx = Math.floor((r.end - 1 - offset) / span);
    const from = Math.max(first, last + 1);
    if (lastIdx >= from) n += lastIdx - from + 1;
    last = Math.max(last, lastIdx);
  }
  return n;
}

export function pagingInit(mb: Memblock, image: KernelImage, memstart: number, pageShift: number): PagingInit {
  const ps = 2 ** pageShift;
  const mapped = mb.memory.regions
    .filter((r) => !(r.flags & MEMBLOCK_NOMAP))
    .map((r) => ({ start: r.base, end: r.base + r.size }));
  const spans = tableSpans(pageShift);
  const last = spans[0]!;
  // Last-level tables: every span with mapped memory, except spans lying wholly inside [_stext, __init_begin).
  const all = countBlocks(mapped, last, memstart);
  const kFirst = Math.ceil((image.stext - memstart) / last);
  const kEnd = Math.floor((image.initBegin - memstart) / last);
  let inside = 0;
  for (let b = kFirst; b < kEnd; b++) {
    const lo = memstart + b * last;
    if (mapped.some((r) => r.start <= lo && r.end >= lo + last)) inside++;
  }
  const tablePages = [all - inside, ...spans.slice(1).map((s) => countBlocks(mapped, s, memstart))];
  let pages = 0;
  for (const n of tablePages) pages += n;
  const bytes = pages * ps;
  let base: number | undefined;
  if (bytes > 0) {
    base = mb.allocRange(bytes, ps, 0, Infinity, undefined, 'page tables');
    if (base === undefined) {
      // Not one block free: page by page, as early_pgtable_alloc() does.
      for (let i = 0; i < pages; i++) mb.allocRange(ps, ps, 0, Infinity, undefined, 'page tables');
    }
  }
  // paging_init(): memblock_phys_free(init_pg_dir .. init_pg_end).
  if (image.end > image.bssStop) mb.freeReserved(image.bssStop, image.end - image.bssStop);
  return { tablePages, bytes, ...(base !== undefined ? { base } : {}) };
}
