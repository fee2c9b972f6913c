/**
 * memblock: the boot-time memory map, as mm/memblock.c keeps it — two sorted lists of physical
 * ranges, `memory` (what exists, with a node id and flags such as NOMAP) and `reserved` (what is
 * taken before the page allocator runs). Adjacent compatible ranges are merged like the kernel does.
 * Addresses are byte addresses held in JS numbers (exact up to 2^53, far above any physical address).
 */

export const MEMBLOCK_NONE = 0;
export const MEMBLOCK_HOTPLUG = 1;
export const MEMBLOCK_MIRROR = 2;
export const MEMBLOCK_NOMAP = 4;

export interface MemblockRegion {
  base: number;
  size: number;
  nid: number;
  flags: number;
}

export class MemblockType {
  readonly regions: MemblockRegion[] = [];

  constructor(readonly name: 'memory' | 'reserved') {}

  get totalSize(): number {
    let t = 0;
    for (const r of this.regions) t += r.size;
    return t;
  }

  /** Adds [base, base+size) — overlapping parts already present are kept as they are (memblock_add_range). */
  add(base: number, size: number, nid = 0, flags = MEMBLOCK_NONE): void {
    if (size <= 0) return;
    const end = base + size;
    // Insert the pieces of [base, end) not covered by existing regions.
    const pieces: MemblockRegion[] = [];
    let cur = base;
    for (const r of this.regions) {
      const rEnd = r.base + r.size;
      if (rEnd <= cur) continue;
      if (r.base >= end) break;
      if (r.base > cur) pieces.push({ base: cur, size: r.base - cur, nid, flags });
      cur = Math.max(cur, rEnd);
      if (cur >= end) break;
    }
    if (cur < end) pieces.push({ base: cur, size: end - cur, nid, flags });
    this.regions.push(...pieces);
    this.normalise();
  }

  /** Removes [base, base+size) from the list, splitting regions as needed (memblock_remove_range). */
  remove(base: number, size: number): void {
    if (size <= 0) return;
    const end = base + size;
    const out: MemblockRegion[] = [];
    for (const r of this.regions) {
      const rEnd = r.base + r.size;
      if (rEnd <= base || r.base >= end) {
        out.push(r);
        continue;
      }
      if (r.base < base) out.push({ ...r, size: base - r.base });
      if (rEnd > end) out.push({ ...r, base: end, size: rEnd - end });
    }
    this.regions.length = 0;
    this.regions.push(...out);
  }

  /** Sets or clears `flag` on [base, base+size), splitting regions at the edges (memblock_setclr_flag). */
  setFlag(base: number, size: number, flag: number, set: boolean): void {
    const end = base + size;
    const out: MemblockRegion[] = [];
    for (const r of this.regions) {
      const rEnd = r.base + r.size;
      if (rEnd <= base || r.base >= end) {
        out.push(r);
        continue;
      }
      const lo = Math.max(r.base, base);
      const hi = Math.min(rEnd, end);
      if (r.base < lo) out.push({ ...r, size: lo - r.base });
      out.push({ ...r, base: lo, size: hi - lo, flags: set ? r.flags | flag : r.flags & ~flag });
      if (hi < rEnd) out.push({ ...r, base: hi, size: rEnd - hi });
    }
    this.regions.length = 0;
    this.regions.push(...out);
    this.normalise();
  }

  /** True if any part of [base, base+size) is in the list. */
  overlaps(base: number, size: number): boolean {
    const end = base + size;
    return this.regions.some((r) => r.base < end && r.base + r.size > base);
  }

  /** True if all of [base, base+size) is in the list. */
  covers(base: number, size: number): boolean {
    let cur = base;
    const end = base + size;
    for (const r of this.regions) {
      if (r.base > cur) break;
      cur = Math.max(cur, r.base + r.size);
      if (cur >= end) return true;
    }
    return cur >= end;
  }

  private normalise(): void {
    this.regions.sort((x, y) => x.base - y.base);
    const merged: MemblockRegion[] = [];
    for (const r of this.regions) {
      const last = merged[merged.length - 1];
      if (last && last.base + last.size === r.base && last.nid === r.nid && last.flags === r.flags) {
        last.size += r.size;
      } else {
        merged.push({ ...r });
      }
    }
    this.regions.length = 0;
    this.regions.push(...merged);
  }
}

/** Why a reserved range was taken, for iomem-style reports and the `Memory:` line breakdown. */
export interface ReservationNote {
  base: number;
  size: number;
  what: string;
}

export class Memblock {
  readonly memory = new MemblockType('memory');
  readonly reserved = new MemblockType('reserved');
  readonly notes: ReservationNote[] = [];

  addNode(base: number, size: number, nid: number, flags = MEMBLOCK_NONE): void {
    this.memory.add(base, size, nid, flags);
  }

  removeMemory(base: number, size: number): void {
    this.memory.remove(base, size);
  }

  reserve(base: number, size: number, what = 'reserved'): void {
    this.reserved.add(base, size);
    this.notes.push({ base, size, what });
  }

  /** memblock_phys_free: gives a reserved range back. */
  freeReserved(base: number, size: number): void {
    this.reserved.remove(base, size);
  }

  markNomap(base: number, size: number): void {
    this.memory.setFlag(base, size, MEMBLOCK_NOMAP, true);
  }

  startOfDram(): number {
    return this.memory.regions[0]?.base ?? 0;
  }

  endOfDram(): number {
    const last = this.memory.regions[this.memory.regions.length - 1];
    return last ? last.base + last.size : 0;
  }

  physMemSize(): number {
    return this.memory.totalSize;
  }

  clearNomap(base: number, size: number): void {
    this.memory.setFlag(base, size, MEMBLOCK_NOMAP, false);
  }

  /** memblock_is_region_reserved(): any part of [base, base+size) reserved. */
  isRegionReserved(base: number, size: number): boolean {
    return this.reserved.overlaps(base, size);
  }

  /**
   * memblock_phys_alloc_range() / memblock_alloc_try_nid_raw(): the highest `align`-aligned free range of
   * `size` bytes inside [start, end) (top-down, the kernel's default direction), optionally only on node
   * `nid`; reserves it and returns its base, or undefined when nothing fits (the kernel returns 0).
   */
  allocRange(
    size: number,
    align: number,
    start = 0,
    end = Infinity,
    nid?: number,
    what = 'memblock',
  ): number | undefined {
    const ranges = this.freeRanges();
    for (let i = ranges.length - 1; i >= 0; i--) {
      const r = ranges[i]!;
      if (nid !== undefined && r.nid !== nid) continue;
      const lo = Math.max(r.base, start);
      const hi = Math.min(r.end, end);
      if (hi < size) continue;
      const cand = Math.floor((hi - size) / align) * align;
      if (cand >= lo) {
        this.reserve(cand, size, what);
        return cand;
      }
    }
    return undefined;
  }

  /** allocRange() with memblock_set_bottom_up(true): the lowest aligned free range inside [start, end). */
  allocRangeBottomUp(size: number, align: number, start = 0, end = Infinity, what = 'memblock'): number | undefined {
    for (const r of this.freeRanges()) {
      const lo = Math.ceil(Math.max(r.base, start) / align) * align;
      if (lo + size <= Math.min(r.end, end)) {
        this.reserve(lo, size, what);
        return lo;
      }
    }
    return undefined;
  }

  /**
   * memblock_cap_memory_range(base, size): drops memory outside [base, base+size) and the reserved ranges
   * outside it too.
   */
  capMemoryRange(base: number, size: number): void {
    const end = base + size;
    this.memory.remove(0, base);
    this.memory.remove(end, Number.MAX_SAFE_INTEGER - end);
    this.reserved.remove(0, base);
    this.reserved.remove(end, Number.MAX_SAFE_INTEGER - end);
  }

  /**
   * memblock_mem_limit_remove_map(limit): keeps the first `limit` bytes of memory (in address order, across
   * holes) and caps everything above them.
   */
  memLimitRemoveMap(limit: number): void {
    if (limit <= 0) return;
    let left = limit;
    let maxAddr: number | undefined;
    for (const r of this.memory.regions) {
      if (left <= r.size) {
        maxAddr = r.base + left;
        break;
      }
      left -= r.size;
    }
    if (maxAddr === undefined) return;
    this.capMemoryRange(0, maxAddr);
  }

  /** The reserved ranges, in address order (for_each_reserved_mem_range). */
  reservedRanges(): readonly MemblockRegion[] {
    return this.reserved.regions;
  }

  /**
   * Free ranges (memory minus reserved, NOMAP excluded), in address order — what memblock_free_all
   * hands to the buddy allocator (for_each_free_mem_range).
   */
  freeRanges(): { base: number; end: number; nid: number }[] {
    const out: { base: number; end: number; nid: number }[] = [];
    const res = this.reserved.regions;
    let ri = 0;
    for (const m of this.memory.regions) {
      if (m.flags & MEMBLOCK_NOMAP) continue;
      let cur = m.base;
      const end = m.base + m.size;
      while (ri < res.length && res[ri]!.base + res[ri]!.size <= cur) ri++;
      let j = ri;
      while (cur < end) {
        const r = res[j];
        if (!r || r.base >= end) {
          out.push({ base: cur, end, nid: m.nid });
          break;
        }
        if (r.base > cur) out.push({ base: cur, end: r.base, nid: m.nid });
        cur = Math.max(cur, r.base + r.size);
        j++;
      }
    }
    return out;
  }
}
