/**
 * The files a booted system shows under /proc (and `dmesg`), rendered by the pure formatters in src/proc.
 * One place that knows which formatter makes which file, for `boot --show`, `--proc-dir` and later `run`.
 */
import { meminfoLines, type MeminfoExtras } from '../mm/meminfo.js';
import { formatBuddyinfo } from '../proc/buddyinfo.js';
import { formatIomem } from '../proc/iomem.js';
import { formatMeminfo } from '../proc/meminfo.js';
import { formatPagetypeinfo } from '../proc/pagetypeinfo.js';
import { formatVmstat } from '../proc/vmstat.js';
import { formatZoneinfo } from '../proc/zoneinfo.js';
import type { BootedSystem } from './boot.js';

export const PROC_FILES = ['dmesg', 'meminfo', 'vmstat', 'buddyinfo', 'pagetypeinfo', 'zoneinfo', 'iomem'] as const;
export type ProcFile = (typeof PROC_FILES)[number];

export function isProcFile(name: string): name is ProcFile {
  return (PROC_FILES as readonly string[]).includes(name);
}

/** The heading printed before a file by `boot --show` (the style of `head`/`tail` with several files). */
export function procHeading(name: ProcFile): string {
  return name === 'dmesg' ? '==> dmesg <==' : `==> /proc/${name} <==`;
}

/** Renders one file exactly as the kernel prints it. */
export function renderProcFile(sys: BootedSystem, name: ProcFile, extras: MeminfoExtras = {}): string {
  switch (name) {
    case 'dmesg':
      return sys.log.dmesg();
    case 'meminfo':
      return formatMeminfo(meminfoLines(sys.mm, { vmallocTotalKb: sys.vmallocTotalKb, ...extras }));
    case 'vmstat':
      return formatVmstat(sys.mm);
    case 'buddyinfo':
      return formatBuddyinfo(sys.mm);
    case 'pagetypeinfo':
      return formatPagetypeinfo(sys.mm);
    case 'zoneinfo':
      return formatZoneinfo(sys.mm);
    case 'iomem':
      return formatIomem(sys.iomem);
  }
}
