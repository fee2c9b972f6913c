/**
 * The hardware a device tree describes, frozen: what the kernel's early FDT scan reads before any
 * allocator exists (drivers/of/fdt.c early_init_dt_scan_nodes, fdt_scan_reserved_mem, the /memreserve/
 * block). Raw DT facts only — page-size clipping, mem= and memblock effects are boot's job.
 *
 * Addresses and sizes are byte counts in JS numbers: exact below 2^53; anything larger (a 2-cell value
 * above the 52-bit arm64 physical range) is saturated to 2^53 and removed later by the PA limit.
 */

/** One `reg` (or `linux,usable-memory`) range of a `device_type = "memory"` node. */
export interface MemoryBank {
  readonly base: number;
  readonly size: number;
  /** `numa-node-id` of the node, or 0 when absent. */
  readonly nid: number;
  /** Absolute path of the memory node, e.g. `/memory@80000000`. */
  readonly node: string;
  readonly hotpluggable: boolean;
}

export interface MemReserveEntry {
  readonly base: number;
  readonly size: number;
}

/** A child of `/reserved-memory` (static `reg`, or dynamic `size`/`alignment`/`alloc-ranges`). */
export interface ReservedMemoryNode {
  /** Node name with unit address (the kernel's `uname`), e.g. `vram@18000000`. */
  readonly name: string;
  readonly path: string;
  /** Static ranges from `reg`, in root cells; empty for a dynamic node. */
  readonly reg: readonly { base: number; size: number }[];
  /** True when `reg` exists but its length is not a multiple of the root cells (kernel skips the node). */
  readonly badReg: boolean;
  /** Dynamic: `size` (undefined when absent; NaN when its length is not the root size cells). */
  readonly size?: number;
  readonly alignment?: number;
  readonly allocRanges?: readonly { base: number; size: number }[];
  /** True when `alignment` / `alloc-ranges` have the wrong length. */
  readonly badAlignment: boolean;
  readonly badAllocRanges: boolean;
  readonly noMap: boolean;
  readonly reusable: boolean;
  readonly compatible: readonly string[];
  /** `linux,cma-default` present. */
  readonly cmaDefault: boolean;
}

export interface Platform {
  /** Where the tree came from (file name), for messages. */
  readonly source: string;
  /** `/model`, else the first string of `/compatible` (of_flat_dt_get_machine_name), else undefined. */
  readonly model?: string;
  readonly compatible: readonly string[];
  /** Root `#address-cells` / `#size-cells` (DT spec defaults 2 and 1, as dt_root_*_cells). */
  readonly addressCells: number;
  readonly sizeCells: number;
  /** Memory ranges in DT order (the order early_init_dt_scan_memory adds them). */
  readonly banks: readonly MemoryBank[];
  /** `/memreserve/` entries up to the first of size 0 (the kernel's loop stops there). */
  readonly memreserve: readonly MemReserveEntry[];
  /** `/reserved-memory` children that are available; empty when the node is absent or unsupported. */
  readonly reservedMemory: readonly ReservedMemoryNode[];
  /** `/reserved-memory` exists but its cells differ from the root's or it lacks `ranges`. */
  readonly reservedMemoryUnsupported: boolean;
  readonly hasChosen: boolean;
  /** `/chosen` has `linux,uefi-system-table` (a UEFI boot; mte-sim still reads memory from the DT). */
  readonly uefi: boolean;
  /** `/chosen/bootargs`, if any. */
  readonly bootargs?: string;
  /** Number of `device_type = "cpu"` nodes under `/cpus`. */
  readonly cpus: number;
  /** `numa-node-id` of each of those cpus (0 when absent). */
  readonly cpuNodes: readonly number[];
  /** True when any memory node has `numa-node-id`. */
  readonly numa: boolean;
  /** Lowest end address covered by any `dma-ranges` (of_dma_get_max_cpu_address), or undefined. */
  readonly dmaMaxCpuAddress?: number;
}
