/**
 * Page-size geometry of an arm64 v6.5 kernel: every figure the mm derives from PAGE_SIZE.
 *
 * Sources (torvalds/linux, v6.5):
 * - arch/arm64/Kconfig `ARCH_FORCE_MAX_ORDER`: default 13 for 64K pages, 11 for 16K, 10 for 4K; MAX_ORDER is
 *   inclusive since v6.4 ("mm: Make MAX_ORDER inclusive"), so there are MAX_ORDER + 1 orders (buddyinfo columns).
 *   The same Kconfig comment table gives SECTION_SIZE_BITS 27 (4K, 16K) and 29 (64K)
 *   (arch/arm64/include/asm/sparsemem.h).
 * - include/linux/pageblock-flags.h: with CONFIG_HUGETLB_PAGE, pageblock_order = HUGETLB_PAGE_ORDER =
 *   HPAGE_SHIFT - PAGE_SHIFT, and arm64 HPAGE_SHIFT = PMD_SHIFT = 2 * PAGE_SHIFT - 3; always <= MAX_ORDER here,
 *   so it equals min(HPAGE_PMD_ORDER, MAX_ORDER): 9 (2 MiB), 11 (32 MiB), 13 (512 MiB).
 * - include/linux/mmzone.h: PAGE_ALLOC_COSTLY_ORDER = 3.
 */

export type PageSize = 4096 | 16384 | 65536;

export interface Geometry {
  readonly pageSize: PageSize;
  readonly pageShift: number;
  /** MAX_ORDER (inclusive): the largest buddy order. */
  readonly maxOrder: number;
  /** MAX_ORDER + 1: number of free_area entries and buddyinfo columns. */
  readonly nrOrders: number;
  readonly pageblockOrder: number;
  readonly pageblockNrPages: number;
  /** HPAGE_PMD_ORDER (a PMD-mapped THP). */
  readonly hpagePmdOrder: number;
  readonly hpagePmdNr: number;
  readonly sectionSizeBits: number;
  /** PFN_SECTION_SHIFT = SECTION_SIZE_BITS - PAGE_SHIFT. */
  readonly pfnSectionShift: number;
  readonly pagesPerSection: number;
  readonly costlyOrder: number;
  /** Bytes of struct page (the kernel's memmap cost per page, for the boot accounting). */
  readonly structPageSize: number;
}

const cache = new Map<number, Geometry>();

export function geometryFor(pageSize: PageSize = 4096): Geometry {
  const hit = cache.get(pageSize);
  if (hit) return hit;
  let pageShift: number;
  let maxOrder: number;
  let sectionSizeBits: number;
  switch (pageSize) {
    case 4096:
      pageShift = 12;
      maxOrder = 10;
      sectionSizeBits = 27;
      break;
    case 16384:
      pageShift = 14;
      maxOrder = 11;
      sectionSizeBits = 27;
      break;
    case 65536:
      pageShift = 16;
      maxOrder = 13;
      sectionSizeBits = 29;
      break;
    default:
      throw new RangeError(`unsupported page size ${String(pageSize)}`);
  }
  const hpagePmdOrder = pageShift - 3; // PMD_SHIFT - PAGE_SHIFT = (2 * PAGE_SHIFT - 3) - PAGE_SHIFT
  const pageblockOrder = Math.min(hpagePmdOrder, maxOrder);
  const pfnSectionShift = sectionSizeBits - pageShift;
  const g: Geometry = Object.freeze({
    pageSize,
    pageShift,
    maxOrder,
    nrOrders: maxOrder + 1,
    pageblockOrder,
    pageblockNrPages: 2 ** pageblockOrder,
    hpagePmdOrder,
    hpagePmdNr: 2 ** hpagePmdOrder,
    sectionSizeBits,
    pfnSectionShift,
    pagesPerSection: 2 ** pfnSectionShift,
    costlyOrder: 3,
    structPageSize: 64,
  });
  cache.set(pageSize, g);
  return g;
}

/** Parses `4K`, `16K`, `64K`, `4096`, ... into a page size, or undefined. */
export function parsePageSize(text: string): PageSize | undefined {
  const t = text.trim().toUpperCase();
  const map: Record<string, PageSize> = {
    '4K': 4096,
    '4096': 4096,
    '16K': 16384,
    '16384': 16384,
    '64K': 65536,
    '65536': 65536,
  };
  return map[t];
}
