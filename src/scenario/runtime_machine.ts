/**
 * Turns a booted kernel (the allocator, the log, the tag storage table and, when wired, the reservation and
 * migration code) into what the interpreter runs on: a Machine (log, /proc text, counters) and a ProcessLayer
 * over MachinePort. Also the place where migration is hooked into the METADATA_NONE fault path.
 */
import type { TagStorage } from '../arch/arm64/mte_tag_storage.js';
import type { TagReserve, TagStorageReuse } from '../arch/arm64/tag_reserve.js';
import type { DtTree } from '../dt/tree.js';
import { meminfoMap, meminfoLines, type MeminfoExtras } from '../mm/meminfo.js';
import { MigrateReason, type Migrator } from '../mm/migrate.js';
import type { PageAllocator } from '../mm/page_alloc.js';
import { formatBuddyinfo } from '../proc/buddyinfo.js';
import { formatMeminfo } from '../proc/meminfo.js';
import { formatPagetypeinfo } from '../proc/pagetypeinfo.js';
import { formatVmstat, vmstatValues } from '../proc/vmstat.js';
import { formatZoneinfo } from '../proc/zoneinfo.js';
import { ProcessLayer } from '../process/layer.js';
import { MachinePort } from '../process/port_mm.js';
import { installSwap } from '../process/swap.js';
import type { KernelLog } from '../sim/log.js';
import type { CounterFile, ShowFile, ZoneName } from './ast.js';
import type { MigrationSupport } from './migrate_ops.js';
import type { Machine } from './runtime.js';

/** The parts of a booted kernel the run needs. */
export interface BootedParts {
  alloc: PageAllocator;
  log: KernelLog;
  zeroPfn: number;
  tagStorage?: TagStorage;
  /**
   * Wires tag storage reservation and migration once the process layer exists (they need its rmap and tag
   * store): creates isolation / Migrator / TagReserve, installs the allocator's arch hooks, and returns them.
   */
  wire?: (layer: ProcessLayer) => { tagReserve?: TagReserve; migrator?: Migrator; reuse?: TagStorageReuse };
  /** The booted device tree (migration targets by DT label or path). */
  tree?: DtTree;
  meminfoExtras?: MeminfoExtras;
  /** /proc/iomem text, when the boot code can build it. */
  iomem?: () => string;
}

export interface SessionFixes {
  fixMetadataNone: boolean;
  fixPfnTags: boolean;
}

export class BootedMachine implements Machine {
  readonly log: KernelLog;
  readonly pageSize: number;
  /** `migrate` / `compact` support (src/scenario/migrate_ops.ts), set by buildRuntime when wired. */
  migration?: MigrationSupport;
  constructor(readonly parts: BootedParts) {
    this.log = parts.log;
    this.pageSize = parts.alloc.geometry.pageSize;
  }

  procText(file: ShowFile): string | undefined {
    const a = this.parts.alloc;
    switch (file) {
      case 'dmesg':
        return this.log.dmesg();
      case 'meminfo':
        return formatMeminfo(meminfoLines(a, this.parts.meminfoExtras ?? {}));
      case 'vmstat':
        return formatVmstat(a);
      case 'buddyinfo':
        return formatBuddyinfo(a);
      case 'pagetypeinfo':
        return formatPagetypeinfo(a);
      case 'zoneinfo':
        return formatZoneinfo(a);
      case 'iomem':
        return this.parts.iomem?.();
    }
  }

  counter(file: CounterFile, name: string, zone?: ZoneName, order?: number): number | undefined {
    const a = this.parts.alloc;
    switch (file) {
      case 'meminfo':
        return meminfoMap(a, this.parts.meminfoExtras ?? {}).get(name);
      case 'vmstat':
        return vmstatValues(a).find(([n]) => n === name)?.[1];
      case 'buddyinfo': {
        const z = a.zones.find((x) => x.name === zone && x.populated);
        if (z === undefined || order === undefined || order >= z.nrFree.length) return undefined;
        return z.nrFree[order];
      }
      case 'zoneinfo': {
        // The zone's block of /proc/zoneinfo, field by its printed name (`min`, `nr_free_pages`, `metadata`, ...).
        const text = formatZoneinfo(a);
        const head = new RegExp(`^Node \\d+, zone +${zone ?? ''}$`, 'm');
        const m = head.exec(text);
        if (m === null) return undefined;
        const rest = text.slice(m.index + m[0].length);
        const end = rest.search(/^Node /m);
        const block = end < 0 ? rest : rest.slice(0, end);
        const f = new RegExp(`^\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:?\\s+(-?\\d+)$`, 'm').exec(block);
        return f === null ? undefined : Number(f[1]);
      }
    }
  }
}

/** Builds the Machine and the process layer over a booted kernel; hooks migration into the fault path. */
export function buildRuntime(parts: BootedParts, fixes: SessionFixes): { machine: BootedMachine; layer: ProcessLayer } {
  const port = new MachinePort({
    alloc: parts.alloc,
    zeroPfn: parts.zeroPfn,
    ...(parts.tagStorage !== undefined ? { tagStorage: parts.tagStorage } : {}),
  });
  const layer = new ProcessLayer(port, { log: parts.log, ...fixes });
  const wired = parts.wire?.(layer) ?? {};
  if (wired.tagReserve !== undefined) port.setTagReserve(wired.tagReserve);
  const migrator = wired.migrator;
  if (migrator !== undefined && layer.migration === undefined) {
    layer.setMigrationHooks({
      // migrate_metadata_none_page (§5.3 step 4): up to 5 tries while -EBUSY; the destination gets
      // __GFP_TAGGED through alloc_migration_target (§3.5 P11) because the fault path asks for a tagged page.
      migrateMetadataNonePage: (pfn) => {
        const gfp = migrator.mm.gfpHighuserMovable | migrator.mm.gfpTagged;
        for (let tries = 0; tries < 5; tries++) {
          const r = migrator.migratePage(pfn, MigrateReason.MR_METADATA_NONE, gfp);
          if (r.rc === 0) return true;
          if (r.rc !== -16) return false;
        }
        return false;
      },
    });
  }
  // Swap, reclaim and the OOM killer (src/process/swap.ts): layer.swap, the allocator's slow-path hooks, and
  // SwapTotal/SwapFree in meminfo.
  installSwap(layer, parts.log, parts.alloc, (parts.meminfoExtras ??= {}));
  const machine = new BootedMachine(parts);
  if (wired.reuse !== undefined) {
    machine.migration = {
      reuse: wired.reuse,
      alloc: parts.alloc,
      ...(parts.tree !== undefined ? { tree: parts.tree } : {}),
      ...(parts.tagStorage !== undefined ? { tagStorage: parts.tagStorage } : {}),
    };
  }
  return { machine, layer };
}
