/**
 * DtTree → frozen Platform, reading the tree the way the kernel's early FDT code does (drivers/of/fdt.c,
 * v6.5): early_init_dt_scan_root (root cells, defaulting to OF_ROOT_NODE_{ADDR,SIZE}_CELLS_DEFAULT = 1 and
 * 1 as include/linux/of.h has them — not the DT spec's 2/1, because the kernel reads a missing property that
 * way), early_init_dt_scan_memory (children of `/` with `device_type = "memory"`, available per `status`,
 * `linux,usable-memory` before `reg`, trailing partial entries ignored, size-0 entries skipped),
 * fdt_scan_reserved_mem (`/reserved-memory` must have the root's cells and `ranges`), the /memreserve/ block
 * (the kernel stops at the first entry of size 0) and setup_machine_fdt's model (`model`, else the first
 * `compatible` string).
 */
import type { DtNode, DtProperty, DtTree } from '../dt/tree.js';
import { DtIndex, getChild, getProp, propStrings, propU32 } from '../dt/tree.js';
import type { MemoryBank, Platform, ReservedMemoryNode } from './platform.js';

/** include/linux/of.h: OF_ROOT_NODE_ADDR_CELLS_DEFAULT / OF_ROOT_NODE_SIZE_CELLS_DEFAULT. */
export const ROOT_ADDR_CELLS_DEFAULT = 1;
export const ROOT_SIZE_CELLS_DEFAULT = 1;

const TWO53 = 2 ** 53;
const U64 = (1n << 64n) - 1n;

/** A u64 as a JS number, saturated at 2^53 (beyond any arm64 physical address). */
export function u64ToNumber(v: bigint): number {
  return v >= BigInt(TWO53) ? TWO53 : Number(v);
}

/** dt_mem_next_cell()/of_read_number(): `n` cells into a u64 (higher cells shift out, as in C). */
function readCells(cells: readonly number[], at: number, n: number): bigint {
  let v = 0n;
  for (let i = 0; i < n; i++) v = ((v << 32n) | BigInt(cells[at + i]!)) & U64;
  return v;
}

function cellsOf(p: DtProperty): number[] {
  // of_get_flat_dt_prop gives the raw bytes; a length that is not a multiple of 4 loses its tail.
  const n = Math.floor(p.value.length / 4);
  const dv = new DataView(p.value.buffer, p.value.byteOffset, n * 4);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(dv.getUint32(i * 4));
  return out;
}

/** (address, size) pairs of `ac`+`sc` cells; trailing partial entries are dropped like the kernel's loops. */
export function readRanges(p: DtProperty, ac: number, sc: number): { base: number; size: number }[] {
  const cells = cellsOf(p);
  const stride = ac + sc;
  const out: { base: number; size: number }[] = [];
  if (stride === 0) return out;
  for (let i = 0; i + stride <= cells.length; i += stride) {
    out.push({ base: u64ToNumber(readCells(cells, i, ac)), size: u64ToNumber(readCells(cells, i + ac, sc)) });
  }
  return out;
}

/** of_fdt_device_is_available(): no `status`, or `okay`/`ok`. */
export function isAvailable(node: DtNode): boolean {
  const s = getProp(node, 'status');
  if (!s) return true;
  const v = propStrings(s)?.[0] ?? '';
  return v === 'okay' || v === 'ok';
}

function cellProp(node: DtNode, name: string, dflt: number): number {
  const p = getProp(node, name);
  // early_init_dt_scan_root: be32_to_cpup on the first cell whatever the length.
  if (!p || p.value.length < 4) return dflt;
  return new DataView(p.value.buffer, p.value.byteOffset, 4).getUint32(0);
}

function strings(node: DtNode, name: string): string[] {
  const p = getProp(node, name);
  return (p && propStrings(p)) ?? [];
}

/** of_flat_dt_is_compatible(): case-insensitive match on any entry. */
export function isCompatible(node: DtNode, compat: string): boolean {
  return strings(node, 'compatible').some((s) => s.toLowerCase() === compat.toLowerCase());
}

function firstString(node: DtNode, name: string): string | undefined {
  const p = getProp(node, name);
  if (!p || p.value.length === 0) return undefined;
  const nul = p.value.indexOf(0);
  return Buffer.from(p.value.subarray(0, nul < 0 ? p.value.length : nul)).toString('latin1');
}

/**
 * of_dma_get_max_cpu_address(NULL): the lowest last CPU address reachable through any `dma-ranges` in the
 * available tree. mte-sim takes the parent bus address of each entry as the CPU address (no `ranges`
 * translation); undefined when no node has a non-empty `dma-ranges`.
 */
function dmaMaxCpuAddress(dt: DtIndex): number | undefined {
  let best: number | undefined;
  const walk = (node: DtNode, parent: DtNode | undefined): void => {
    const p = getProp(node, 'dma-ranges');
    if (p && p.value.length > 0 && parent) {
      const nac = cellProp(node, '#address-cells', 2);
      const nsc = cellProp(node, '#size-cells', 1);
      const pac = cellProp(parent, '#address-cells', 2);
      const cells = cellsOf(p);
      const stride = nac + pac + nsc;
      let cpuEnd = 0;
      for (let i = 0; stride > 0 && i + stride <= cells.length; i += stride) {
        const cpu = u64ToNumber(readCells(cells, i + nac, pac));
        const size = u64ToNumber(readCells(cells, i + nac + pac, nsc));
        if (cpu + size > cpuEnd) cpuEnd = cpu + size - 1;
      }
      if (best === undefined || cpuEnd < best) best = cpuEnd;
    }
    for (const c of node.children) if (isAvailable(c)) walk(c, node);
  };
  walk(dt.root, undefined);
  return best;
}

function reservedMemoryNode(node: DtNode, path: string, ac: number, sc: number): ReservedMemoryNode {
  const regP = getProp(node, 'reg');
  const tLen = (ac + sc) * 4;
  const badReg = regP !== undefined && regP.value.length > 0 && regP.value.length % tLen !== 0;
  const reg = regP && !badReg ? readRanges(regP, ac, sc) : [];
  const sizeP = getProp(node, 'size');
  const alignP = getProp(node, 'alignment');
  const arP = getProp(node, 'alloc-ranges');
  const size =
    sizeP === undefined
      ? undefined
      : sizeP.value.length === sc * 4
        ? u64ToNumber(readCells(cellsOf(sizeP), 0, sc))
        : Number.NaN;
  const badAlignment = alignP !== undefined && alignP.value.length !== ac * 4;
  const alignment = alignP && !badAlignment ? u64ToNumber(readCells(cellsOf(alignP), 0, ac)) : undefined;
  const badAllocRanges = arP !== undefined && arP.value.length % tLen !== 0;
  const allocRanges = arP && !badAllocRanges ? readRanges(arP, ac, sc) : undefined;
  return {
    name: node.name,
    path,
    reg,
    badReg,
    ...(size !== undefined ? { size } : {}),
    ...(alignment !== undefined ? { alignment } : {}),
    ...(allocRanges !== undefined ? { allocRanges } : {}),
    badAlignment,
    badAllocRanges,
    noMap: getProp(node, 'no-map') !== undefined,
    reusable: getProp(node, 'reusable') !== undefined,
    compatible: strings(node, 'compatible'),
    cmaDefault: getProp(node, 'linux,cma-default') !== undefined,
  };
}

/** Builds the frozen Platform a tree describes. Never throws on odd content: the kernel does not either. */
export function platformFromTree(tree: DtTree, index: DtIndex = new DtIndex(tree)): Platform {
  const root = tree.root;
  const ac = cellProp(root, '#address-cells', ROOT_ADDR_CELLS_DEFAULT);
  const sc = cellProp(root, '#size-cells', ROOT_SIZE_CELLS_DEFAULT);

  const banks: MemoryBank[] = [];
  let numa = false;
  for (const node of root.children) {
    if (firstString(node, 'device_type') !== 'memory' || !isAvailable(node)) continue;
    const regP = getProp(node, 'linux,usable-memory') ?? getProp(node, 'reg');
    if (!regP) continue;
    const nidP = getProp(node, 'numa-node-id');
    const nid = nidP ? (propU32(nidP) ?? 0) : 0;
    if (nidP) numa = true;
    const hotpluggable = getProp(node, 'hotpluggable') !== undefined;
    const path = index.path(node);
    for (const r of readRanges(regP, ac, sc)) {
      if (r.size === 0) continue;
      banks.push(Object.freeze({ base: r.base, size: r.size, nid, node: path, hotpluggable }));
    }
  }

  const memreserve: { base: number; size: number }[] = [];
  for (const m of tree.memreserve) {
    if (m.size === 0n) break;
    memreserve.push(Object.freeze({ base: u64ToNumber(m.address), size: u64ToNumber(m.size) }));
  }

  const reservedMemory: ReservedMemoryNode[] = [];
  let reservedMemoryUnsupported = false;
  const rm = getChild(root, 'reserved-memory');
  if (rm) {
    const rac = getProp(rm, '#address-cells');
    const rsc = getProp(rm, '#size-cells');
    const ok =
      rac !== undefined &&
      rsc !== undefined &&
      cellProp(rm, '#size-cells', -1) === sc &&
      cellProp(rm, '#address-cells', -1) === ac &&
      getProp(rm, 'ranges') !== undefined;
    if (!ok) reservedMemoryUnsupported = true;
    else {
      for (const c of rm.children) {
        if (!isAvailable(c)) continue;
        reservedMemory.push(Object.freeze(reservedMemoryNode(c, index.path(c), ac, sc)));
      }
    }
  }

  const chosen = getChild(root, 'chosen') ?? index.findPath('/chosen');
  const bootargs = chosen ? firstString(chosen, 'bootargs') : undefined;

  const cpuNodes: number[] = [];
  const cpusNode = getChild(root, 'cpus');
  if (cpusNode) {
    for (const c of cpusNode.children) {
      if (firstString(c, 'device_type') !== 'cpu' || !isAvailable(c)) continue;
      const n = getProp(c, 'numa-node-id');
      cpuNodes.push(n ? (propU32(n) ?? 0) : 0);
    }
  }
  const cpus = cpuNodes.length;

  const compatible = strings(root, 'compatible');
  const model = firstString(root, 'model') ?? compatible[0];
  const dmaMax = dmaMaxCpuAddress(index);

  const platform: Platform = {
    source: tree.source,
    ...(model !== undefined ? { model } : {}),
    compatible: Object.freeze(compatible),
    addressCells: ac,
    sizeCells: sc,
    banks: Object.freeze(banks),
    memreserve: Object.freeze(memreserve),
    reservedMemory: Object.freeze(reservedMemory),
    reservedMemoryUnsupported,
    hasChosen: chosen !== undefined,
    uefi: chosen !== undefined && getProp(chosen, 'linux,uefi-system-table') !== undefined,
    ...(bootargs !== undefined ? { bootargs } : {}),
    cpus,
    cpuNodes: Object.freeze(cpuNodes),
    numa,
    ...(dmaMax !== undefined ? { dmaMaxCpuAddress: dmaMax } : {}),
  };
  return Object.freeze(platform);
}
