/**
 * MmPort over the real machine: the buddy allocator and memmap of src/mm, the tag storage table of
 * src/arch/arm64/mte_tag_storage.ts and, when present, the reservation code of src/arch/arm64/tag_reserve.ts.
 *
 * Page words: owner = memmap word a, token = word b (memmap.ts header). Page flags map onto PG_mte_tagged,
 * PG_tag_storage_reserved and PG_anon; page-table pages are recognised by their owner word (OWNER_PGTABLE),
 * as the memmap has no spare flag bit for PG_table.
 *
 * Counters: `count(name)` adds to a vm event, a node stat (node 0: the process layer batches per run step,
 * not per node — exact for single-node platforms) or a zone stat (the Normal zone, else the highest
 * populated one) by name.
 */
import type { TagStorage, TagRegion } from '../arch/arm64/mte_tag_storage.js';
import type { TagReserve } from '../arch/arm64/tag_reserve.js';
import {
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL_ACCOUNT,
  GFP_TRANSHUGE,
  __GFP_COMP,
  __GFP_TAGGED,
  __GFP_ZERO,
} from '../mm/gfp.js';
import { PG_anon, PG_mte_tagged, PG_tag_storage_reserved } from '../mm/memmap.js';
import type { PageAllocator } from '../mm/page_alloc.js';
import { NODE_STAT, VM_EVENT, ZONE_STAT } from '../mm/vmstat.js';
import { MIGRATE_ISOLATE, MIGRATE_METADATA, type Zone } from '../mm/zone.js';
import type { MmPort, PageFlag, PortWords } from './port.js';
import { ENOMEM, Gfp, OWNER_PGTABLE } from './port.js';

/** GFP_PGTABLE_USER = GFP_PGTABLE_KERNEL | __GFP_ACCOUNT = GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT (asm-generic/pgalloc.h). */
const GFP_PGTABLE_USER = GFP_KERNEL_ACCOUNT | __GFP_ZERO;

const FLAG_BITS = [PG_mte_tagged, PG_tag_storage_reserved, PG_anon, 0];

export interface MachinePortDeps {
  alloc: PageAllocator;
  tagStorage?: TagStorage;
  tagReserve?: TagReserve;
  zeroPfn: number;
}

export class MachinePort implements MmPort {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly zeroPfn: number;
  readonly maxOrder: number;
  readonly words: PortWords;
  private readonly alloc: PageAllocator;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly ts: TagStorage | undefined;
  private tr: TagReserve | undefined;
  private readonly gfpTable: number[] = [];
  private lastRegion: TagRegion | undefined;
  private readonly zoneIndex = new Map<Zone, number>();

  constructor(d: MachinePortDeps) {
    this.alloc = d.alloc;
    this.pageSize = d.alloc.geometry.pageSize;
    this.pageShift = Math.log2(this.pageSize);
    this.zeroPfn = d.zeroPfn;
    this.maxOrder = d.alloc.geometry.maxOrder;
    this.u32 = d.alloc.memmap.u32;
    this.i32 = d.alloc.memmap.i32;
    this.ts = d.tagStorage;
    this.tr = d.tagReserve;
    const memmap = d.alloc.memmap;
    this.words = {
      u32: memmap.u32,
      i32: memmap.i32,
      idxOf: (pfn) => memmap.idxOf(pfn),
      mteTaggedBit: PG_mte_tagged,
      tagStorageReservedBit: PG_tag_storage_reserved,
      anonBit: PG_anon,
    };
    d.alloc.zones.forEach((z, i) => this.zoneIndex.set(z, i));
    for (let g = 0; g < 32; g++) {
      let k = 0;
      if (g & Gfp.Transhuge) k |= GFP_TRANSHUGE | __GFP_COMP;
      else if (g & Gfp.HighuserMovable) k |= GFP_HIGHUSER_MOVABLE;
      if (g & Gfp.Tagged) k |= __GFP_TAGGED;
      if (g & Gfp.PgtableUser) k |= GFP_PGTABLE_USER;
      if (g & Gfp.Zero) k |= __GFP_ZERO;
      this.gfpTable.push(k);
    }
  }

  /** Installs the reservation code once it is wired (it needs the process layer's rmap first). */
  setTagReserve(tr: TagReserve): void {
    this.tr = tr;
  }

  private lastPfn = -1;
  private lastIdx = -1;
  private prevPfn = -1;
  private prevIdx = -1;

  /**
   * Dense memmap index of pfn. The fault path asks about the same page several times in a row, migration
   * about a source and a destination in turn: the last two answers are kept.
   */
  private idx(pfn: number): number {
    if (pfn === this.lastPfn) return this.lastIdx;
    let i: number;
    if (pfn === this.prevPfn) i = this.prevIdx;
    else i = this.alloc.memmap.idxOf(pfn);
    this.prevPfn = this.lastPfn;
    this.prevIdx = this.lastIdx;
    this.lastPfn = pfn;
    this.lastIdx = i;
    return i;
  }

  allocPages(order: number, gfp: number): number {
    return this.alloc.allocPages(order, this.gfpTable[gfp & 31]!);
  }

  freePages(pfn: number, order: number): void {
    this.alloc.freePages(pfn, order);
  }

  pageRef(pfn: number): number {
    return this.i32[this.idx(pfn) * 4 + 1]!;
  }
  setPageRef(pfn: number, count: number): void {
    this.i32[this.idx(pfn) * 4 + 1] = count;
  }
  getOwner(pfn: number): number {
    return this.u32[this.idx(pfn) * 4 + 2]!;
  }
  setOwner(pfn: number, v: number): void {
    this.u32[this.idx(pfn) * 4 + 2] = v >>> 0;
  }
  getToken(pfn: number): number {
    return this.u32[this.idx(pfn) * 4 + 3]!;
  }
  setToken(pfn: number, v: number): void {
    this.u32[this.idx(pfn) * 4 + 3] = v >>> 0;
  }

  testFlag(pfn: number, flag: PageFlag): boolean {
    if (flag === 3) return this.getOwner(pfn) === OWNER_PGTABLE;
    return (this.u32[this.idx(pfn) * 4]! & FLAG_BITS[flag]!) !== 0;
  }
  setFlag(pfn: number, flag: PageFlag): void {
    const bit = FLAG_BITS[flag]!;
    if (bit === 0) return;
    const w = this.idx(pfn) * 4;
    this.u32[w] = (this.u32[w]! | bit) >>> 0;
  }
  clearFlag(pfn: number, flag: PageFlag): void {
    const bit = FLAG_BITS[flag]!;
    if (bit === 0) return;
    const w = this.idx(pfn) * 4;
    this.u32[w] = (this.u32[w]! & ~bit) >>> 0;
  }

  isFree(pfn: number): boolean {
    return this.alloc.isFree(pfn);
  }
  isIsolatedPageblock(pfn: number): boolean {
    return this.alloc.pageblockMigratetype(pfn) === MIGRATE_ISOLATE;
  }
  isMetadataPage(pfn: number): boolean {
    return this.alloc.pageblockMigratetype(pfn) === MIGRATE_METADATA;
  }

  metadataEnabled(): boolean {
    return this.alloc.arch.metadataEnabled;
  }

  reserveMetadata(pfn: number, order: number, gfp: number): number {
    const g = this.gfpTable[gfp & 31]!;
    if (this.tr !== undefined) return this.tr.reserveMetadataStorage(pfn, order, g);
    return this.alloc.arch.reserveMetadata(pfn, order, g) ? 0 : ENOMEM;
  }

  private regionOf(pfn: number): TagRegion | undefined {
    const r = this.lastRegion;
    if (r !== undefined && r.mem.start <= pfn && pfn <= r.mem.end) return r;
    const found = this.ts?.regionForPfn(pfn);
    if (found !== undefined) this.lastRegion = found;
    return found;
  }

  tagPageOf(pfn: number): number {
    const r = this.regionOf(pfn);
    if (r === undefined) return -1;
    return r.tag.start + Math.floor((pfn - r.mem.start) / 32);
  }

  tagBlockOf(pfn: number): number {
    const r = this.regionOf(pfn);
    if (r === undefined) return -1;
    const off = Math.floor((pfn - r.mem.start) / 32);
    return r.tag.start + off - (off % r.blockSizePages);
  }

  tagBlockRefcount(pfn: number): number {
    const b = this.tagBlockOf(pfn);
    if (b < 0 || this.ts === undefined) return -1;
    return this.ts.reservedBlocks.has(b) ? this.pageRef(b) : 0;
  }

  isTagBlockReserved(tagPfn: number): boolean {
    const ts = this.ts;
    if (ts === undefined) return false;
    for (const r of ts.regions) {
      if (tagPfn < r.tag.start || tagPfn > r.tag.end) continue;
      const off = tagPfn - r.tag.start;
      return ts.reservedBlocks.has(r.tag.start + off - (off % r.blockSizePages));
    }
    return false;
  }

  tagBlockPagesAt(tagPfn: number): number {
    for (const r of this.ts?.regions ?? []) if (tagPfn >= r.tag.start && tagPfn <= r.tag.end) return r.blockSizePages;
    return 0;
  }

  reservedBlocks(): Iterable<[number, number]> {
    const ts = this.ts;
    if (ts === undefined) return [];
    return [...ts.reservedBlocks].map((b): [number, number] => [b, this.pageRef(b)]);
  }

  checkFreeLists(): string[] {
    return this.alloc.checkInvariants();
  }

  private zoneLo = 0;
  private zoneHi = 0;
  private zoneLast = 0;

  zoneIndexOf(pfn: number): number {
    if (pfn >= this.zoneLo && pfn < this.zoneHi) return this.zoneLast;
    const z = this.alloc.zoneForPfn(pfn);
    if (z === undefined) return 0;
    // The span cache is only right when no two zones' spans overlap (interleaved NUMA nodes).
    if (!this.alloc.zonesOverlap) {
      this.zoneLo = z.zoneStartPfn;
      this.zoneHi = z.zoneEndPfn;
    }
    this.zoneLast = this.zoneIndex.get(z) ?? 0;
    return this.zoneLast;
  }

  countZone(zoneIndex: number, name: string, delta: number): void {
    const zs = ZONE_STAT[name];
    const z = this.alloc.zones[zoneIndex];
    if (zs !== undefined && z !== undefined) z.vmStat[zs] = (z.vmStat[zs] ?? 0) + delta;
  }

  count(name: string, delta: number): void {
    const a = this.alloc;
    const ev = VM_EVENT[name];
    if (ev !== undefined) {
      a.events.count(ev, delta);
      return;
    }
    const ns = NODE_STAT[name];
    if (ns !== undefined) {
      const node = a.nodes[0];
      if (node !== undefined) node.vmStat[ns] = (node.vmStat[ns] ?? 0) + delta;
      return;
    }
    const zs = ZONE_STAT[name];
    if (zs !== undefined) {
      const populated = a.zones.filter((z) => z.presentPages > 0);
      const z = populated.find((x) => x.name === 'Normal') ?? populated[populated.length - 1];
      if (z !== undefined) z.vmStat[zs] = (z.vmStat[zs] ?? 0) + delta;
    }
  }
}
