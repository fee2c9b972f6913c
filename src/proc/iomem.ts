/**
 * /proc/iomem for the memory the model knows, built the way arm64 v6.5 builds it:
 *
 * - request_standard_resources() (arch/arm64/kernel/setup.c): one top-level resource per memblock.memory
 *   region — `System RAM` over [PFN_UP(base), PFN_DOWN(end)), or `reserved` over [PFN_DOWN(base), PFN_UP(end))
 *   for a NOMAP region — with `Kernel code` [_stext, __init_begin) and `Kernel data` [_sdata, _end) as
 *   children of the region that contains them. The v1 tag storage is in memblock.memory (the series adds it
 *   with memblock_add_node), so it shows as System RAM; a region removed at discovery does not show.
 * - reserve_memblock_reserved_regions() (arch_initcall; memblock is kept on arm64): every memblock.reserved
 *   range, widened to whole pages, is inserted under its System RAM as `reserved` with
 *   reserve_region_with_split() (kernel/resource.c), which fills only the gaps between existing children.
 * - r_show() (kernel/resource.c): `%*s%0*llx-%0*llx : %s`, two spaces per level, width 8 (iomem_resource
 *   ends above 0x10000), addresses as root sees them.
 *
 * Devices (uart, gic, ...) register their resources when their drivers probe; mte-sim models no drivers, so
 * only memory appears.
 */
import { MEMBLOCK_NOMAP } from '../mm/memblock.js';

export interface IoResource {
  readonly name: string;
  start: number;
  /** Inclusive, as struct resource. */
  end: number;
  readonly children: IoResource[];
}

export interface IomemInput {
  readonly memory: readonly { base: number; size: number; flags: number }[];
  readonly reserved: readonly { base: number; size: number }[];
  /** Kernel code [start, end) and Kernel data [start, end), physical. */
  readonly kernelCode: { start: number; end: number };
  readonly kernelData: { start: number; end: number };
  readonly pageSize: number;
}

/** __request_resource(): inserts `res` under `parent` unless it overlaps a child; returns the conflict. */
function requestResource(parent: IoResource, res: IoResource): IoResource | undefined {
  if (res.end < res.start || res.start < parent.start || res.end > parent.end) return parent;
  const kids = parent.children;
  let i = 0;
  for (; i < kids.length; i++) {
    const c = kids[i]!;
    if (c.start > res.end) break;
    if (c.end >= res.start) return c;
  }
  kids.splice(i, 0, res);
  return undefined;
}

/** __reserve_region_with_split(): inserts `name` over [start, end] in the gaps between root's children. */
function reserveRegionWithSplit(root: IoResource, start: number, end: number, name: string): void {
  let s = Math.max(start, root.start);
  const e0 = Math.min(end, root.end);
  if (s > e0) return;
  let res: IoResource = { name, start: s, end: e0, children: [] };
  let next: IoResource | undefined;
  for (;;) {
    const conflict = requestResource(root, res);
    if (!conflict) {
      if (!next) break;
      res = next;
      next = undefined;
      continue;
    }
    if (conflict.start <= res.start && conflict.end >= res.end) break;
    if (conflict.start > res.start) {
      const e = res.end;
      res.end = conflict.start - 1;
      if (conflict.end < e) next = { name, start: conflict.end + 1, end: e, children: [] };
    } else {
      s = conflict.end + 1;
      res.start = s;
    }
  }
}

/** The resource tree under iomem_resource after request_standard_resources + the arch_initcall. */
export function buildIomem(inp: IomemInput): IoResource[] {
  const ps = inp.pageSize;
  const root: IoResource = { name: 'PCI mem', start: 0, end: Number.MAX_SAFE_INTEGER, children: [] };
  const standard: IoResource[] = [];
  const code: IoResource = {
    name: 'Kernel code',
    start: inp.kernelCode.start,
    end: inp.kernelCode.end - 1,
    children: [],
  };
  const data: IoResource = {
    name: 'Kernel data',
    start: inp.kernelData.start,
    end: inp.kernelData.end - 1,
    children: [],
  };
  for (const r of inp.memory) {
    const end = r.base + r.size;
    const res: IoResource =
      r.flags & MEMBLOCK_NOMAP
        ? { name: 'reserved', start: Math.floor(r.base / ps) * ps, end: Math.ceil(end / ps) * ps - 1, children: [] }
        : { name: 'System RAM', start: Math.ceil(r.base / ps) * ps, end: Math.floor(end / ps) * ps - 1, children: [] };
    standard.push(res);
    requestResource(root, res);
    if (code.start >= res.start && code.end <= res.end) requestResource(res, code);
    if (data.start >= res.start && data.end <= res.end) requestResource(res, data);
  }
  for (const mem of standard) {
    const size = mem.end - mem.start + 1;
    if (!inp.reserved.some((r) => r.base < mem.start + size && r.base + r.size > mem.start)) continue;
    for (const r of inp.reserved) {
      const start = Math.max(Math.floor(r.base / ps) * ps, mem.start);
      const end = Math.min(Math.ceil((r.base + r.size) / ps) * ps - 1, mem.end);
      if (start > mem.end || end < mem.start) continue;
      reserveRegionWithSplit(mem, start, end, 'reserved');
    }
  }
  return root.children;
}

/** /proc/iomem text (r_show). */
export function formatIomem(resources: readonly IoResource[]): string {
  let out = '';
  const hex = (v: number): string => v.toString(16).padStart(8, '0');
  const walk = (list: readonly IoResource[], depth: number): void => {
    for (const r of list) {
      out += `${' '.repeat(depth * 2)}${hex(r.start)}-${hex(r.end)} : ${r.name}\n`;
      walk(r.children, depth + 1);
    }
  };
  walk(resources, 0);
  return out;
}
