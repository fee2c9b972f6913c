/**
 * swiotlb_init() as arm64 v6.5 mem_init() calls it, before memblock_free_all(): with
 * CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC (selected by arm64 since v6.5) the bounce buffer is always set up, at
 * its default size IO_TLB_DEFAULT_SIZE (64 MiB) unless `swiotlb=` says otherwise (not modelled).
 * kernel/dma/swiotlb.c (v6.5, pr_fmt "software IO TLB: "):
 *
 *   swiotlb_adjust_nareas(num_possible_cpus())  `area num %d.` (rounded up to a power of two)
 *   swiotlb_memblock_alloc()                    memblock_alloc_low(PAGE_ALIGN(nslabs << IO_TLB_SHIFT), PAGE_SIZE):
 *                                               top-down below ARCH_LOW_ADDRESS_LIMIT (arm64_dma_phys_limit - 1);
 *                                               on failure `%s: Failed to allocate %zu bytes tlb structure` and
 *                                               half the slabs (down to IO_TLB_MIN_SLABS, 1 MiB)
 *   mem->slots                                  memblock_alloc(PAGE_ALIGN(nslabs * sizeof(struct io_tlb_slot)))
 *   mem->areas                                  memblock_alloc(nareas * sizeof(struct io_tlb_area), SMP_CACHE_BYTES)
 *   swiotlb_print_info()                        `mapped [mem %pa-%pa] (%luMB)` (end exclusive)
 *
 * struct io_tlb_slot is 24 bytes in v6.5 (orig_addr, alloc_size, list), struct io_tlb_area 16 bytes (used,
 * index, an arch spinlock) — mte-sim's reading of the structures, documented as such.
 */
import type { Memblock } from '../mm/memblock.js';
import type { KernelLog } from '../sim/log.js';

export const IO_TLB_SHIFT = 11;
export const IO_TLB_SEGSIZE = 128;
export const IO_TLB_DEFAULT_SIZE = 64 * 1024 * 1024;
const IO_TLB_MIN_SLABS = (1 << 20) >> IO_TLB_SHIFT;
const SIZEOF_IO_TLB_SLOT = 24;
const SIZEOF_IO_TLB_AREA = 16;
const SMP_CACHE_BYTES = 64;

export interface SwiotlbBuffer {
  readonly start: number;
  readonly bytes: number;
  readonly nareas: number;
}

const hex18 = (v: number): string => `0x${v.toString(16).padStart(16, '0')}`;
const roundUpPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Sets up the default bounce buffer; returns it, or undefined when no low memory could hold even 1 MiB. */
export function swiotlbInit(
  mb: Memblock,
  log: KernelLog,
  dmaPhysLimit: number,
  possibleCpus: number,
  pageSize: number,
): SwiotlbBuffer | undefined {
  const nareas = possibleCpus > 0 ? roundUpPow2(possibleCpus) : 1;
  log.info(`software IO TLB: area num ${nareas}.`);
  let nslabs = IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT;
  const pageAlign = (v: number): number => Math.ceil(v / pageSize) * pageSize;
  let start: number | undefined;
  for (;;) {
    const bytes = pageAlign(nslabs * 2 ** IO_TLB_SHIFT);
    start = mb.allocRange(bytes, pageSize, 0, dmaPhysLimit, undefined, 'swiotlb');
    if (start !== undefined) break;
    log.warn(`software IO TLB: swiotlb_memblock_alloc: Failed to allocate ${bytes} bytes tlb structure`);
    if (nslabs <= IO_TLB_MIN_SLABS) return undefined;
    nslabs = Math.ceil(nslabs / 2 / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
  }
  const bytes = pageAlign(nslabs * 2 ** IO_TLB_SHIFT);
  mb.allocRange(pageAlign(nslabs * SIZEOF_IO_TLB_SLOT), pageSize, 0, Infinity, undefined, 'swiotlb slots');
  mb.allocRange(nareas * SIZEOF_IO_TLB_AREA, SMP_CACHE_BYTES, 0, Infinity, undefined, 'swiotlb areas');
  log.info(
    `software IO TLB: mapped [mem ${hex18(start)}-${hex18(start + bytes)}] (${(nslabs * 2 ** IO_TLB_SHIFT) / 2 ** 20}MB)`,
  );
  return { start, bytes, nareas };
}
