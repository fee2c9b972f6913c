/**
 * The kernel image in physical memory, laid out like arch/arm64/kernel/vmlinux.lds.S (v6.5):
 *
 *   _text | .head.text (64K) | _stext .text _etext | __start_rodata RO_DATA __end_rodata |
 *   idmap/tramp/reserved/swapper pg dirs | __init_begin init text+data __init_end |
 *   _sdata RW_DATA _edata | __bss_start BSS __bss_stop | init_pg_dir | _end
 *
 * Each section boundary is SEGMENT_ALIGN (64K) aligned where the script aligns it. Only the total size is
 * configurable (`--kernel-image`, default 32 MiB); the split is mte-sim's model of an arm64 defconfig
 * Image: text 3/8, rodata 7/32, init 5/32, data 3/32, bss the rest. arm64_memblock_init() reserves
 * [_stext, _end) — the 64K head is not reserved — and request_standard_resources() shows
 * `Kernel code` [_stext, __init_begin) and `Kernel data` [_sdata, _end) in /proc/iomem.
 *
 * Placement: the boot loader puts the Image at a 2 MiB aligned address (arm64 booting.txt); mte-sim takes
 * the lowest 2 MiB aligned address in the first memory bank where the whole image fits without touching a
 * /memreserve/ entry or a static /reserved-memory range (on FVP: 0x80200000, above the spin table at
 * 0x80000000).
 */
export const SZ_64K = 0x10000;
export const SZ_2M = 0x200000;
export const DEFAULT_KERNEL_IMAGE_SIZE = 32 * 1024 * 1024;
/** Smallest image mte-sim accepts: one 64K segment per section plus bss. */
export const MIN_KERNEL_IMAGE_SIZE = 1024 * 1024;

export interface KernelImage {
  readonly text: number; // _text
  readonly stext: number;
  readonly etext: number;
  readonly startRodata: number;
  readonly endRodata: number;
  readonly initBegin: number;
  readonly initEnd: number;
  readonly sdata: number;
  readonly edata: number;
  readonly bssStart: number;
  readonly bssStop: number;
  readonly end: number; // _end
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;

/** Lays the image out from `base` (_text). `size` is _end - _text, rounded up to 64K. */
export function layoutKernelImage(base: number, size: number, pageSize: number): KernelImage {
  const total = alignUp(size, SZ_64K);
  const seg = (frac: number): number => Math.max(SZ_64K, alignDown(total * frac, SZ_64K));
  const text = base;
  const stext = text + SZ_64K;
  const etext = stext + seg(3 / 8);
  const startRodata = etext;
  // RO_DATA ends page aligned; four page-table pages follow (idmap, tramp, reserved, swapper), then 64K.
  const endRodata = startRodata + seg(7 / 32) - 4 * pageSize;
  const initBegin = alignUp(endRodata + 4 * pageSize, SZ_64K);
  const initEnd = initBegin + seg(5 / 32);
  const sdata = initEnd;
  const edata = sdata + seg(3 / 32);
  const bssStart = alignUp(edata, pageSize);
  const end = text + total;
  // init_pg_dir (a few pages) sits between __bss_stop and _end.
  const bssStop = Math.max(bssStart + pageSize, end - 4 * pageSize);
  if (bssStop > end) throw new RangeError(`kernel image of ${size} bytes is too small`);
  return { text, stext, etext, startRodata, endRodata, initBegin, initEnd, sdata, edata, bssStart, bssStop, end };
}

/**
 * Where the boot loader places the image: lowest 2 MiB aligned `_text` in [bankBase, bankEnd) with room for
 * `size` bytes that overlaps none of `avoid`. Returns undefined when nothing fits.
 */
export function placeKernelImage(
  bankBase: number,
  bankEnd: number,
  size: number,
  avoid: readonly { base: number; size: number }[],
): number | undefined {
  const total = alignUp(size, SZ_64K);
  for (let at = alignUp(bankBase, SZ_2M); at + total <= bankEnd; at += SZ_2M) {
    if (!avoid.some((r) => r.base < at + total && r.base + r.size > at)) return at;
  }
  return undefined;
}
