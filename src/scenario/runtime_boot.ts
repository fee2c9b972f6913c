/**
 * Boot for `run` (and the fault benchmark): loads the device tree, boots it with bootKernel (src/boot), and
 * describes how tag storage reservation and migration are wired once the process layer exists: the buddy
 * allocator seen through BuddyMigrateMm, a Migrator and PageIsolation over the process layer's rmap and tag
 * store, TagReserve installed as the allocator's arch hooks (kernel-facts §2.4), and MteSwapTags sharing the
 * process layer's tags_by_pfn map.
 */
import { MteSwapTags } from '../arch/arm64/mteswap.js';
import { TagReserve } from '../arch/arm64/tag_reserve.js';
import { bootKernel, type BootedSystem } from '../boot/boot.js';
import { loadDt } from '../dt/load.js';
import type { DtTree } from '../dt/tree.js';
import { UsageError } from '../errors.js';
import { parsePageSize, type PageSize } from '../mm/geometry.js';
import { Migrator } from '../mm/migrate.js';
import { BuddyMigrateMm, PageIsolation } from '../mm/page_isolation.js';
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
    wire: (layer: ProcessLayer) => {
      const bmm = new BuddyMigrateMm(alloc, log);
      const swapTags = new MteSwapTags(layer.tags.bytesPerPage, layer.tags.tagsByPfn);
      const migrator = new Migrator(
        bmm,
        layer.rmap,
        { readPageTags: (pfn) => layer.tags.save(pfn), writePageTags: (pfn, t) => layer.tags.restore(pfn, t) },
        swapTags,
        { pfnTags: fixPfnTags },
      );
      const isolation = new PageIsolation(bmm, layer.rmap, migrator);
      const tagReserve = new TagReserve(sys.tagStorage, bmm, isolation, swapTags, log);
      if (sys.tagStorage.metadataEnabled) alloc.arch = tagReserve.archHooks();
      return { tagReserve, migrator };
    },
  };
}
