/**
 * GFP flags (include/linux/gfp_types.h, v6.5, with v1 patch 3 renaming __GFP_ZEROTAGS to __GFP_TAGGED) and the
 * gfp → zone / migratetype / alloc-flags rules of mm/page_alloc.c and mm/internal.h.
 *
 * The bit values are the emulator's own (nothing prints them); the relations between flags are the kernel's.
 */
import {
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_MOVABLE,
  ZONE_NORMAL,
} from './zone.js';

export const __GFP_DMA = 0x01;
export const __GFP_HIGHMEM = 0x02;
export const __GFP_DMA32 = 0x04;
export const __GFP_MOVABLE = 0x08;
export const __GFP_RECLAIMABLE = 0x10;
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
export const __GFP_FS = 0x80;
export const __GFP_ZERO = 0x100;
export const __GFP_DIRECT_RECLAIM = 0x200;
export const __GFP_KSWAPD_RECLAIM = 0x400;
export const __GFP_WRITE = 0x800;
export const __GFP_NOWARN = 0x1000;
export const __GFP_RETRY_MAYFAIL = 0x2000;
export const __GFP_NOFAIL = 0x4000;
export const __GFP_NORETRY = 0x8000;
export const __GFP_MEMALLOC = 0x10000;
export const __GFP_COMP = 0x20000;
export const __GFP_NOMEMALLOC = 0x40000;
export const __GFP_HARDWALL = 0x80000;
export const __GFP_THISNODE = 0x100000;
export const __GFP_ACCOUNT = 0x200000;
/** v1 patch 3: `__GFP_ZEROTAGS` renamed; the allocation needs tag storage (kernel-facts §2.4, §3.2). */
export const __GFP_TAGGED = 0x400000;
export const __GFP_SKIP_ZERO = 0; // only with CONFIG_KASAN_HW_TAGS
export const __GFP_SKIP_KASAN = 0;

export const __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
export const GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;
export const GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE;
export const GFP_MOVABLE_SHIFT = 3;

export const GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
export const GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
export const GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
export const GFP_NOIO = __GFP_RECLAIM;
export const GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
export const GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
export const GFP_DMA = __GFP_DMA;
export const GFP_DMA32 = __GFP_DMA32;
export const GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
export const GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN;
export const GFP_TRANSHUGE_LIGHT =
  (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
export const GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

/** Alloc flags (mm/internal.h, v6.5; ALLOC_FROM_METADATA = 0x400 from v1 patch 4, kernel-facts §3.2). */
export const ALLOC_WMARK_MIN = 0; // WMARK_MIN
export const ALLOC_WMARK_LOW = 1; // WMARK_LOW
export const ALLOC_WMARK_HIGH = 2; // WMARK_HIGH
export const ALLOC_NO_WATERMARKS = 0x04;
export const ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1;
export const ALLOC_OOM = 0x08;
export const ALLOC_NON_BLOCK = 0x10;
export const ALLOC_MIN_RESERVE = 0x20;
export const ALLOC_CPUSET = 0x40;
export const ALLOC_CMA = 0x80;
export const ALLOC_NOFRAGMENT = 0x100;
export const ALLOC_HIGHATOMIC = 0x200;
export const ALLOC_FROM_METADATA = 0x400;
export const ALLOC_KSWAPD = 0x800;
export const ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM;

/**
 * gfp_zone(): the highest zone an allocation may use. arm64 has no HIGHMEM, so __GFP_HIGHMEM only matters
 * together with __GFP_MOVABLE (→ ZONE_MOVABLE, the GFP_ZONE_TABLE entry `___GFP_MOVABLE | ___GFP_HIGHMEM`).
 */
export function gfpZone(gfp: number): number {
  if (gfp & __GFP_DMA) return ZONE_DMA;
  if (gfp & __GFP_DMA32) return ZONE_DMA32;
  if ((gfp & (__GFP_MOVABLE | __GFP_HIGHMEM)) === (__GFP_MOVABLE | __GFP_HIGHMEM)) return ZONE_MOVABLE;
  return ZONE_NORMAL;
}

/** gfp_migratetype(): UNMOVABLE, MOVABLE (__GFP_MOVABLE) or RECLAIMABLE (__GFP_RECLAIMABLE). */
export function gfpMigratetype(gfp: number): number {
  const bits = (gfp & GFP_MOVABLE_MASK) >>> GFP_MOVABLE_SHIFT;
  if (bits === 1) return MIGRATE_MOVABLE;
  if (bits === 2) return MIGRATE_RECLAIMABLE;
  return MIGRATE_UNMOVABLE;
}

/** alloc_can_use_metadata_pages() on arm64 (v1 patch 13): only allocations that need no tag storage. */
export function allocCanUseMetadataPages(gfp: number): boolean {
  return (gfp & __GFP_TAGGED) === 0;
}

/**
 * gfp_to_alloc_flags_fast() (v1 patch 1 renamed gfp_to_alloc_flags_cma): ALLOC_CMA for movable requests
 * (CONFIG_CMA=y on arm64 defconfig); ALLOC_FROM_METADATA for movable untagged requests when tag storage
 * management is on (kernel-facts §3.2).
 */
export function gfpToAllocFlagsFast(gfp: number, allocFlags: number, metadataEnabled: boolean): number {
  if (gfpMigratetype(gfp) === MIGRATE_MOVABLE) {
    allocFlags |= ALLOC_CMA;
    if (metadataEnabled && allocCanUseMetadataPages(gfp)) allocFlags |= ALLOC_FROM_METADATA;
  }
  return allocFlags;
}

/** gfp_to_alloc_flags() of the slow path (v6.5), without cpusets and OOM-victim handling. */
export function gfpToAllocFlags(gfp: number, order: number, metadataEnabled: boolean): number {
  let f = ALLOC_WMARK_MIN | ALLOC_CPUSET;
  if (gfp & __GFP_HIGH) f |= ALLOC_MIN_RESERVE;
  if (gfp & __GFP_KSWAPD_RECLAIM) f |= ALLOC_KSWAPD;
  if (!(gfp & __GFP_DIRECT_RECLAIM)) {
    if (!(gfp & __GFP_NOMEMALLOC)) {
      f |= ALLOC_NON_BLOCK;
      if (order > 0) f |= ALLOC_HIGHATOMIC;
    }
    if (f & ALLOC_MIN_RESERVE) f &= ~ALLOC_CPUSET;
  }
  return gfpToAllocFlagsFast(gfp, f, metadataEnabled);
}
