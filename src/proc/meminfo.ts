/**
 * /proc/meminfo text (fs/proc/meminfo.c, v6.5 + v1 patch 5). show_val_kb() writes the 16-character label
 * (`MemTotal:       `) then the value with seq_put_decimal_ull_width(..., 8) and ` kB`; the hugetlb counts are
 * `HugePages_Total:   %5lu` (label padded to 19); HardwareCorrupted is `HardwareCorrupted: %5lu kB`
 * (kernel-facts §7.4). A pure function of the lines computed in src/mm/meminfo.ts.
 */
import type { MeminfoLine } from '../mm/meminfo.js';

export function formatMeminfoLine(l: MeminfoLine): string {
  const label = `${l.name}:`;
  switch (l.kind) {
    case 'kb':
      return `${label.padEnd(16)}${String(l.value).padStart(8)} kB`;
    case 'count':
      return `${label.padEnd(19)}${String(l.value).padStart(5)}`;
    case 'hwcorrupt':
      return `${label} ${String(l.value).padStart(5)} kB`;
  }
}

export function formatMeminfo(lines: readonly MeminfoLine[]): string {
  return lines.map((l) => formatMeminfoLine(l) + '\n').join('');
}
