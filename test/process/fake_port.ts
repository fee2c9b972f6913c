/**
 * A small stand-in for the page allocator and tag storage behind MmPort, for unit tests of the process layer:
 * one order-0 free stack over [base, base + pages), one tag storage region at the top of that range covering
 * the rest (32 data pages per tag page, block size 1), reservation with per-block refcounts that fails when the
 * tag page is in use as data (no migration).
 */
import type { MmPort, PageFlag } from '../../src/process/port.js';
import { Gfp } from '../../src/process/port.js';

export class FakePort implements MmPort {
  readonly pageSize = 4096;
  readonly pageShift = 12;
  readonly zeroPfn: number;
  readonly flags: Uint8Array;
  readonly ref: Int32Array;
  readonly owner: Uint32Array;
  readonly tokens: Uint32Array;
  readonly free: number[] = [];
  readonly freeSet = new Set<number>();
  /** Tag pages [tagStart, end): data pages [base, tagStart) have their tags there. */
  readonly tagStart: number;
  readonly end: number;
  readonly blockRef = new Map<number, number>();
  readonly counters = new Map<string, number>();
  enabled = true;
  isolated = new Set<number>();
  reserveFailures = 0;

  constructor(
    readonly base = 0x80000,
    readonly pages = 33 * 256,
  ) {
    this.end = base + pages;
    this.tagStart = base + Math.floor((pages * 32) / 33);
    const n = pages;
    this.flags = new Uint8Array(n);
    this.ref = new Int32Array(n);
    this.owner = new Uint32Array(n);
    this.tokens = new Uint32Array(n);
    this.zeroPfn = base;
    this.ref[0] = 1;
    // Free stack: lowest pfn on top, data pages first, tag pages last (like METADATA: last resort).
    for (let p = this.end - 1; p > base; p--) {
      this.free.push(p);
      this.freeSet.add(p);
    }
    // The zero page is tagged and its block reserved at boot (v1 P27).
    this.flags[0] = (1 << 0) | (1 << 1);
    const zb = this.tagPageOf(base);
    this.blockRef.set(zb, 2);
    this.free.splice(this.free.indexOf(zb), 1);
    this.freeSet.delete(zb);
  }

  private i(pfn: number): number {
    return pfn - this.base;
  }

  allocPages(order: number, gfp: number): number {
    if (order !== 0) throw new Error('fake: order 0 only');
    const tried: number[] = [];
    let got = -1;
    while (this.free.length > 0) {
      const p = this.free.pop()!;
      const isTag = p >= this.tagStart;
      if ((gfp & Gfp.Tagged) !== 0 && isTag) {
        tried.push(p);
        continue;
      }
      if ((gfp & Gfp.Tagged) !== 0 && this.enabled && this.reserveMetadata(p, 0, gfp) !== 0) {
        tried.push(p);
        continue;
      }
      got = p;
      break;
    }
    for (let k = tried.length - 1; k >= 0; k--) this.free.push(tried[k]!);
    if (got < 0) return -1;
    this.freeSet.delete(got);
    this.ref[this.i(got)] = 1;
    this.bump(got >= this.tagStart ? 'pgalloc_metadata' : 'pgalloc_normal', 1);
    return got;
  }

  freePages(pfn: number, order: number): void {
    if (order !== 0) throw new Error('fake: order 0 only');
    if (this.freeSet.has(pfn)) throw new Error(`fake: double free of 0x${pfn.toString(16)}`);
    const i = this.i(pfn);
    if ((this.flags[i]! & (1 << 1)) !== 0) {
      const b = this.tagPageOf(pfn);
      const r = (this.blockRef.get(b) ?? 0) - 1;
      if (r <= 1) {
        this.blockRef.delete(b);
        this.bump('metadata_reserve_free', 1);
      } else this.blockRef.set(b, r);
    }
    this.flags[i] = 0;
    this.ref[i] = 0;
    this.owner[i] = 0;
    this.tokens[i] = 0;
    this.free.push(pfn);
    this.freeSet.add(pfn);
    this.bump('pgfree', 1);
  }

  pageRef(pfn: number): number {
    return this.ref[this.i(pfn)]!;
  }
  setPageRef(pfn: number, c: number): void {
    this.ref[this.i(pfn)] = c;
  }
  getOwner(pfn: number): number {
    return this.owner[this.i(pfn)]!;
  }
  setOwner(pfn: number, v: number): void {
    this.owner[this.i(pfn)] = v;
  }
  getToken(pfn: number): number {
    return this.tokens[this.i(pfn)]!;
  }
  setToken(pfn: number, v: number): void {
    this.tokens[this.i(pfn)] = v;
  }
  testFlag(pfn: number, flag: PageFlag): boolean {
    return (this.flags[this.i(pfn)]! & (1 << flag)) !== 0;
  }
  setFlag(pfn: number, flag: PageFlag): void {
    this.flags[this.i(pfn)]! |= 1 << flag;
  }
  clearFlag(pfn: number, flag: PageFlag): void {
    this.flags[this.i(pfn)]! &= ~(1 << flag);
  }
  isFree(pfn: number): boolean {
    return this.freeSet.has(pfn);
  }
  isIsolatedPageblock(pfn: number): boolean {
    return this.isolated.has(pfn);
  }
  isMetadataPage(pfn: number): boolean {
    return pfn >= this.tagStart;
  }
  metadataEnabled(): boolean {
    return this.enabled;
  }
  reserveMetadata(pfn: number, _order: number, _gfp: number): number {
    if (this.testFlag(pfn, 1)) return 0;
    const b = this.tagPageOf(pfn);
    if (b < 0) return 0;
    let r = this.blockRef.get(b);
    if (r === undefined) {
      // alloc_contig_range of the block: fails when the tag page holds data (no migration here).
      if (!this.freeSet.has(b)) {
        this.reserveFailures++;
        this.bump('metadata_reserve_fail', 1);
        return -16;
      }
      this.free.splice(this.free.indexOf(b), 1);
      this.freeSet.delete(b);
      this.bump('metadata_reserve_success', 1);
      r = 1;
    }
    this.blockRef.set(b, r + 1);
    this.setFlag(pfn, 1);
    return 0;
  }
  tagPageOf(pfn: number): number {
    if (pfn < this.base || pfn >= this.tagStart) return -1;
    return this.tagStart + Math.floor((pfn - this.base) / 32);
  }
  tagBlockOf(pfn: number): number {
    return this.tagPageOf(pfn);
  }
  isTagBlockReserved(tagPfn: number): boolean {
    return this.blockRef.has(tagPfn);
  }
  reservedBlocks(): Iterable<[number, number]> {
    return this.blockRef.entries();
  }
  tagBlockRefcount(pfn: number): number {
    const b = this.tagPageOf(pfn);
    return b < 0 ? -1 : (this.blockRef.get(b) ?? 0);
  }
  count(name: string, delta: number): void {
    this.bump(name, delta);
  }
  private bump(name: string, delta: number): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + delta);
  }
  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }
}
