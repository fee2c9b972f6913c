/**
 * A small stand-in machine for the tag storage reservation and migration tests: a page allocator that
 * keeps every free page as an order-0 "buddy" (enough for isolation: freeBlockOrder is 0 or -1), the
 * migratetype fallback rules of kernel-facts §3.2 (METADATA last resort for movable untagged requests,
 * never for __GFP_TAGGED), the §2.4 hook protocol (reserve after taking the page, give it back and try
 * another on failure), a reverse map of "user pages" and the real tag store of src/process/tags.ts.
 *
 * Layout: tagged memory [0, memPages), then each region's tag storage right after it.
 */
import { KernelLog } from '../../src/sim/log.js';
import { MteSwapTags } from '../../src/arch/arm64/mteswap.js';
import { TagStorage, type TagRegion } from '../../src/arch/arm64/mte_tag_storage.js';
import { TagReserve, type MetadataArchHooks } from '../../src/arch/arm64/tag_reserve.js';
import { MigFlag, Migrator, type MigrateMm, type MigrateRmap, type MigrateTags } from '../../src/mm/migrate.js';
import { PageIsolation, type IsolationMm, type IsolationRmap } from '../../src/mm/page_isolation.js';
import { TagStore } from '../../src/process/tags.js';
import type { MmPort } from '../../src/process/port.js';

export const UNMOVABLE = 0;
export const MOVABLE = 1;
export const METADATA = 5;
export const ISOLATE = 6;
export const GFP_TAGGED = 0x400000;
export const GFP_MOVABLE = 0x08;
export const GFP_NORETRY = 0x8000;
export const GFP_RETRY_MAYFAIL = 0x2000;
export const GFP_HIGHUSER_MOVABLE = 0x80000 | 0x600 | 0xc0 | GFP_MOVABLE;
export const GFP_KERNEL = 0x600 | 0xc0;
export const GFP_ZERO = 0x100;

const PAGEBLOCK = 512;

export interface FakeOptions {
  /** Pages of tagged memory (a multiple of 32 * 512). */
  memPages: number;
  blockSizePages: number;
  fixPfnTags?: boolean;
}

export class FakeMachine implements IsolationMm, MigrateMm, IsolationRmap, MigrateRmap, MigrateTags {
  readonly pageSize = 4096;
  readonly pageShift = 12;
  readonly pageblockNrPages = PAGEBLOCK;
  readonly maxOrder = 10;
  readonly migrateMetadata = METADATA;
  readonly migrateIsolate = ISOLATE;
  readonly migrateCma = -1;
  readonly migrateMovable = MOVABLE;
  readonly gfpTagged = GFP_TAGGED;
  readonly gfpHighuserMovable = GFP_HIGHUSER_MOVABLE;
  readonly gfpNoretry = GFP_NORETRY;
  readonly gfpRetryMayfail = GFP_RETRY_MAYFAIL;
  readonly minPfn = 0;
  readonly endPfn: number;
  readonly zeroPfn = -1;

  readonly free: Uint8Array;
  readonly ref: Int32Array;
  readonly flags: Uint8Array;
  readonly token: Uint32Array;
  readonly pbMt: Uint8Array;
  /** 1 = user page (movable through the rmap), 2 = kernel page (unmovable). */
  readonly owner: Uint8Array;
  readonly pinned: Uint8Array;
  readonly folio: Uint8Array;
  readonly events = new Map<string, number>();
  readonly log = new KernelLog();
  readonly ts: TagStorage;
  readonly region: TagRegion;
  readonly swapTags: MteSwapTags;
  readonly tagStore: TagStore;
  readonly isolation: PageIsolation;
  readonly migrator: Migrator;
  readonly reserve: TagReserve;
  readonly hooks: MetadataArchHooks;
  /** Pages the hook refused, tried again only after everything else. */
  triedAndRefused = 0;
  private cursor = 0;

  constructor(readonly opts: FakeOptions) {
    const mem = opts.memPages;
    const tagPages = mem / 32;
    this.endPfn = mem + tagPages;
    const n = this.endPfn;
    this.free = new Uint8Array(n).fill(1);
    this.ref = new Int32Array(n);
    this.flags = new Uint8Array(n);
    this.token = new Uint32Array(n);
    this.pbMt = new Uint8Array(Math.ceil(n / PAGEBLOCK)).fill(MOVABLE);
    this.owner = new Uint8Array(n);
    this.pinned = new Uint8Array(n);
    this.folio = new Uint8Array(n);
    for (let pb = mem / PAGEBLOCK; pb < n / PAGEBLOCK; pb++) this.pbMt[pb] = METADATA;
    this.ts = new TagStorage(this.pageSize, PAGEBLOCK);
    this.region = {
      mem: { start: 0, end: mem - 1 },
      tag: { start: mem, end: mem + tagPages - 1 },
      blockSizePages: opts.blockSizePages,
      blockSizeBytes: opts.blockSizePages * 4096,
      nid: 0,
      node: '/metadata@0',
      memoryNode: '/memory@0',
    };
    this.ts.regions.push(this.region);
    this.ts.metadataEnabled = true;
    this.ts.state = 'enabled';
    this.tagStore = new TagStore(this as unknown as MmPort, () => undefined);
    this.swapTags = new MteSwapTags(128, this.tagStore.tagsByPfn);
    this.migrator = new Migrator(this, this, this, this.swapTags, { pfnTags: opts.fixPfnTags ?? true });
    this.isolation = new PageIsolation(this, this, this.migrator);
    this.reserve = new TagReserve(this.ts, this, this.isolation, this.swapTags, this.log);
    this.hooks = this.reserve.archHooks();
  }

  // --- MmPort bits the tag store uses ---
  metadataEnabled(): boolean {
    return this.ts.metadataEnabled;
  }
  tagPageOf(pfn: number): number {
    const r = this.region;
    return pfn >= r.mem.start && pfn <= r.mem.end ? r.tag.start + Math.floor((pfn - r.mem.start) / 32) : -1;
  }

  count(name: string, delta: number): void {
    this.events.set(name, (this.events.get(name) ?? 0) + delta);
  }
  ev(name: string): number {
    return this.events.get(name) ?? 0;
  }
  warn(text: string): void {
    this.log.warn(text);
  }

  // --- allocator ---
  private candidateOk(pfn: number, nr: number, mt: number): boolean {
    if (pfn + nr > this.endPfn) return false;
    for (let p = pfn; p < pfn + nr; p++) {
      if (!this.free[p] || this.pbMt[Math.floor(p / PAGEBLOCK)] !== mt) return false;
    }
    return true;
  }

  private find(order: number, mt: number, skip: Set<number>): number {
    const nr = 1 << order;
    const n = this.endPfn;
    for (let i = 0; i < n; i += nr) {
      const pfn = (this.cursor + i) % n;
      const p = pfn - (pfn % nr);
      if (!skip.has(p) && this.candidateOk(p, nr, mt)) return p;
    }
    return -1;
  }

  allocPages(order: number, gfp: number): number {
    const nr = 1 << order;
    const movable = (gfp & GFP_MOVABLE) !== 0;
    const tagged = (gfp & GFP_TAGGED) !== 0;
    // §3.2: own type, METADATA only for movable untagged, then stealing (unmovable from movable).
    const types = movable ? (tagged ? [MOVABLE] : [MOVABLE, METADATA]) : [UNMOVABLE, MOVABLE];
    const refused = new Set<number>();
    for (const mt of types) {
      for (;;) {
        const p = this.find(order, mt, refused);
        if (p < 0) break;
        for (let q = p; q < p + nr; q++) {
          this.free[q] = 0;
          this.ref[q] = 1;
        }
        this.folio[p] = order;
        if (tagged && this.hooks.metadataEnabled && !this.hooks.reserveMetadata(p, order, gfp)) {
          // §2.4: back to the tail of the free list; try another page.
          for (let q = p; q < p + nr; q++) {
            this.free[q] = 1;
            this.ref[q] = 0;
          }
          refused.add(p);
          this.triedAndRefused++;
          continue;
        }
        // post_alloc_hook: __GFP_TAGGED with __GFP_ZERO clears the tags too (tag_clear_highpage).
        if (tagged && (gfp & GFP_ZERO) !== 0) for (let q = p; q < p + nr; q++) this.setFlag(q, MigFlag.MteTagged);
        this.cursor = (p + nr) % this.endPfn;
        return p;
      }
    }
    return -1;
  }

  freePages(pfn: number, order: number): void {
    const nr = 1 << order;
    if (this.hooks.metadataEnabled && this.hooks.pageHasMetadata(pfn)) this.hooks.freeMetadata(pfn, order);
    for (let q = pfn; q < pfn + nr; q++) {
      if (this.free[q]) throw new Error(`double free of pfn ${q}`);
      this.free[q] = 1;
      this.ref[q] = 0;
      this.flags[q] = 0;
      this.owner[q] = 0;
      this.pinned[q] = 0;
      this.token[q] = 0;
    }
    this.folio[pfn] = 0;
  }

  testFlag(pfn: number, flag: number): boolean {
    return (this.flags[pfn]! & (1 << flag)) !== 0;
  }
  setFlag(pfn: number, flag: number): void {
    this.flags[pfn] = this.flags[pfn]! | (1 << flag);
  }
  clearFlag(pfn: number, flag: number): void {
    this.flags[pfn] = this.flags[pfn]! & ~(1 << flag);
  }
  getToken(pfn: number): number {
    return this.token[pfn]!;
  }
  setToken(pfn: number, t: number): void {
    this.token[pfn] = t;
  }
  pageRef(pfn: number): number {
    return this.ref[pfn]!;
  }
  setPageRef(pfn: number, c: number): void {
    this.ref[pfn] = c;
  }
  isFree(pfn: number): boolean {
    return this.free[pfn] === 1;
  }
  pfnValid(pfn: number): boolean {
    return pfn >= 0 && pfn < this.endPfn;
  }
  isReservedPage(): boolean {
    return false;
  }
  pageblockMigratetype(pfn: number): number {
    return this.pbMt[Math.floor(pfn / PAGEBLOCK)]!;
  }
  isolatePageblock(pfn: number): void {
    this.pbMt[Math.floor(pfn / PAGEBLOCK)] = ISOLATE;
  }
  unisolatePageblock(pfn: number, mt: number): void {
    this.pbMt[Math.floor(pfn / PAGEBLOCK)] = mt;
  }
  freeBlockHead(pfn: number): number {
    return this.free[pfn] ? pfn : -1;
  }
  freeBlockOrder(pfn: number): number {
    return this.free[pfn] ? 0 : -1;
  }
  takeFreeBlock(pfn: number, order: number): boolean {
    for (let q = pfn; q < pfn + (1 << order); q++) {
      this.free[q] = 0;
      this.ref[q] = 1;
    }
    return true;
  }

  // --- rmap ---
  isMovable(pfn: number): boolean {
    return this.owner[this.folioHead(pfn)] === 1 && !this.free[pfn] && !this.isPinned(pfn);
  }
  isPinned(pfn: number): boolean {
    return this.pinned[this.folioHead(pfn)] === 1;
  }
  folioHead(pfn: number): number {
    return pfn;
  }
  folioOrder(pfn: number): number {
    return this.folio[pfn]!;
  }
  unmap(pfn: number): unknown {
    if (this.pinned[pfn]) return null;
    return { pfn };
  }
  /** Where each migrated user page went (src → dst), in order. */
  readonly moved = new Map<number, number>();
  remap(handle: unknown, dst: number): void {
    const src = (handle as { pfn: number }).pfn;
    this.moved.set(src, dst);
    this.owner[dst] = this.owner[src]!;
    this.ref[dst] = this.ref[src]!;
    this.ref[src] = 1;
  }
  undo(): void {}

  // --- tags ---
  readPageTags(pfn: number): Uint8Array {
    return this.tagStore.save(pfn);
  }
  writePageTags(pfn: number, tags: Uint8Array): void {
    this.tagStore.restore(pfn, tags);
  }

  /** A user page with a data token (movable; GFP_HIGHUSER_MOVABLE, optionally tagged). */
  userPage(token: number, tagged = false): number {
    const p = this.allocPages(0, GFP_HIGHUSER_MOVABLE | GFP_ZERO | (tagged ? GFP_TAGGED : 0));
    if (p < 0) throw new Error('fake: out of memory');
    this.owner[p] = 1;
    this.token[p] = token;
    return p;
  }

  /** Fills every free page of the tag storage with user data pages; returns their pfns. */
  fillTagStorageWithData(tokenBase: number): number[] {
    const out: number[] = [];
    for (let p = this.region.tag.start; p <= this.region.tag.end; p++) {
      if (!this.free[p]) continue;
      this.free[p] = 0;
      this.ref[p] = 1;
      this.owner[p] = 1;
      this.token[p] = tokenBase + p;
      out.push(p);
    }
    return out;
  }

  freeCount(from: number, to: number): number {
    let n = 0;
    for (let p = from; p < to; p++) n += this.free[p]!;
    return n;
  }
}
