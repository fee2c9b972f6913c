/**
 * Boot for `run` (and the fault benchmark): loads the device tree, boots it with bootKernel (src/boot), and
 * describes how tag storage reservation and migration are wired once the process layer exists: the boot's
 * TagStorageReuse (isolation, migration, reserve/free_metadata_storage as the allocator's arch hooks,
 * kernel-facts §2.4) attached to the process layer's rmap, tag store and tags_by_pfn map.
 */
import { bootKernel, type BootedSystem } from '../boot/boot.js';
import { loadDt } from '../dt/load.js';
import type { DtTree } from '../dt/tree.js';
import { UsageError } from '../errors.js';
import { parsePageSize, type PageSize } from '../mm/geometry.js';
import { formatIomem } from '../proc/iomem.js';
import type { ProcessLayer } from '../process/layer.js';
import type { BootedParts } from './runtime_machine.js';

export interface BootForRunOptions {
  dt?: string;
  /** An already parsed tree (tests, benchmarks); wins over `dt`. */
  tree?: DtTree;
  include?: string[];
  cmdline?: string;
  /** --page-size as typed (4K, 16K, 64K). */
  pageSize?: string;
  /** The scenario's `config page_size` in bytes (the CLI flag wins). */
  scenarioPageSize?: number;
  kernelImageSize?: number;
  minFreeKbytes?: number;
  fixPfnTags?: boolean;
}

export async function bootForRun(o: BootForRunOptions): Promise<BootedParts> {
  let pageSize: PageSize | undefined;
  if (o.pageSize !== undefined) {
    pageSize = parsePageSize(o.pageSize);
    if (pageSize === undefined) throw new UsageError(`--page-size expects 4K, 16K or 64K, got '${o.pageSize}'`);
  } else if (o.scenarioPageSize !== undefined) {
    pageSize = o.scenarioPageSize as PageSize;
  }
  const tree = o.tree ?? loadDt(o.dt ?? '', { includeDirs: o.include ?? [] });
  const sys = bootKernel({
    tree,
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
    ...(o.kernelImageSize !== undefined ? { kernelImageSize: o.kernelImageSize } : {}),
    ...(o.minFreeKbytes !== undefined ? { minFreeKbytes: o.minFreeKbytes } : {}),
  });
  return partsFromBoot(sys, o.fixPfnTags ?? true);
}

/** The BootedParts of a booted system, with the reservation/migration wiring. */
export function partsFromBoot(sys: BootedSystem, fixPfnTags: boolean): BootedParts {
  const alloc = sys.mm;
  const log = sys.log;
  return {
    alloc,
    log,
    zeroPfn: sys.ctx.zeroPagePfn,
    tagStorage: sys.tagStorage,
    meminfoExtras: { vmallocTotalKb: sys.vmallocTotalKb },
    iomem: () => formatIomem(sys.iomem),
    tree: sys.ctx.tree,
    wire: (layer: ProcessLayer) => {
      layer.fixPfnTags = fixPfnTags;
      // The TagStorageReuse boot installed (its arch hooks follow the key) gets the process layer.
      const reuse = sys.reuse;
      reuse.attachProcessLayer(layer);
      return { tagReserve: reuse.reserve, migrator: reuse.migrator, reuse };
    },
  };
}
