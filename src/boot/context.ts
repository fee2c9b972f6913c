/**
 * The boot context: everything the emulated kernel has in hand while it boots, handed from stage to stage
 * (setup_arch → arm64_memblock_init → bootmem_init → mm_core_init → initcalls). Owned by src/boot; the tag
 * storage code (src/arch/arm64/mte_tag_storage.ts) takes the parts it needs through its own small context
 * interfaces, which a BootContext satisfies structurally (dt, pageSize, pageblockNrPages, memblock, log).
 *
 * What the machine *is* lives in the frozen Platform (from the DT); what the user chose for this session
 * (page size, kernel image size, command line override) lives in BootConfig.
 */
import type { DtIndex, DtTree } from '../dt/tree.js';
import type { Geometry, PageSize } from '../mm/geometry.js';
import type { Memblock } from '../mm/memblock.js';
import type { Clock } from '../sim/clock.js';
import type { KernelLog } from '../sim/log.js';
import type { Platform } from '../platform/platform.js';
import type { KernelCmdline } from './cmdline.js';
import type { KernelImage } from './kernel_image.js';

/** Session choices (CLI flags, scenario `config`), separate from the machine description. */
export interface BootConfig {
  readonly pageSize: PageSize;
  /** Replaces `/chosen/bootargs` when set (`--cmdline`). */
  readonly cmdline?: string;
  /** Size of the kernel image, _text.._end, in bytes (default 32 MiB). */
  readonly kernelImageSize: number;
  /** vm.min_free_kbytes set by the user after boot (a sysctl); undefined keeps the kernel's computed value. */
  readonly minFreeKbytes?: number;
}

export type { PageSize };

export interface BootContext {
  readonly tree: DtTree;
  readonly dt: DtIndex;
  readonly platform: Platform;
  readonly config: BootConfig;
  readonly geometry: Geometry;
  /** PAGE_SIZE and pageblock_nr_pages (repeated here for the tag storage contexts). */
  readonly pageSize: number;
  readonly pageblockNrPages: number;
  readonly cmdline: KernelCmdline;
  readonly clock: Clock;
  readonly log: KernelLog;
  readonly memblock: Memblock;
  /** Where the kernel image sits and its section boundaries (physical addresses). */
  readonly image: KernelImage;
  /** system_supports_mte(): false with arm64.nomte. */
  readonly mteSupported: boolean;
  /** kasan_hw_tags_enabled(). */
  readonly kasanHwTags: boolean;
  /** numa_node_id() of the boot CPU during setup_arch. */
  readonly numaNodeId: number;
  /** page_to_pfn(ZERO_PAGE(0)): empty_zero_page is page-aligned bss in the kernel image. */
  readonly zeroPagePfn: number;
}
