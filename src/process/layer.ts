/**
 * The process layer: processes and their address spaces on top of the page allocator (through MmPort).
 * It owns mmap/munmap/mprotect/exit, page-table pages, the anon rmap, set_pte_at/mte_sync_tags, content
 * tokens and tags, and the tag-checked access. The page fault itself is in fault.ts.
 *
 * Per-page state kept here: none beyond the allocator's words (owner = linear index, token = data token; see
 * port.ts). Per VMA page: the PTE (6 bytes) and the token the process expects there (4 bytes).
 *
 * Counters are bumped in local fields on the hot path and handed to the allocator's vmstat by flush()
 * (called after every atomic operation, before anything reads the counters).
 */
import type { KernelLog } from '../sim/log.js';
import { FaultCtx, FaultResult, anonWriteFault, handleMmFault, metadataNoneFault, swapInFault } from './fault.js';
import { Mm, Process, Vma, VM_HUGEPAGE, VM_MTE, VM_READ, VM_SHARED, VM_WRITE } from './mm.js';
import type { MmPort } from './port.js';
import { Gfp, OWNER_PGTABLE, PageFlag } from './port.js';
import {
  PAGE_METADATA_NONE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PMD,
  PTE_PRESENT_MASK,
  PTE_PROT_NONE,
  PTE_SWAP,
  PTE_TAGGED,
  PTE_VALID,
  PTE_WRITE,
  PTE_YOUNG,
  pteMetadataNone,
} from './pte.js';
import { reserveOnMprotectMte } from './migrate_mprotect.js';
import type { MigrationHooks } from './rmap.js';
import { Rmap } from './rmap.js';
import type { SwapHooks } from './swap.js';
import { TagStore } from './tags.js';
import { Thp } from './thp.js';

export interface LayerOptions {
  /** `config fix.metadata_none` (SPEC §4): PAGE_METADATA_NONE on mprotect and in set_pte_at. Default on. */
  fixMetadataNone?: boolean;
  /** `config fix.pfn_tags`: the tags_by_pfn store for copy_highpage and swap-in. Default on. */
  fixPfnTags?: boolean;
  log: KernelLog;
}

/** A signal delivered to a task by a fault, as the run reports it. */
export interface SignalNote {
  pid: number;
  comm: string;
  /** 'SEGV_MTESERR' | 'SEGV_ACCERR' | 'SEGV_MAPERR' */
  code: string;
  /** Faulting address as printed (FAR, with the pointer tag in bits 59:56 for tag check faults). */
  addr: bigint;
}

/** arm64 v6.5 top-down mmap_base without randomisation: TASK_SIZE (48-bit VA) minus the minimum gap (128 MiB). */
export const MMAP_BASE = 2 ** 48 - 128 * 2 ** 20;
const MMAP_LOW = 0x10000;
const MTE_GRANULE = 16;

/** PTE bits that decide whether a slot takes the METADATA_NONE fast lane: exactly protnone + metadata-none. */
const LANE_MDNONE_MASK = PTE_VALID | PTE_PMD | PTE_MIGRATION | PTE_SWAP | PAGE_METADATA_NONE;

/** Result of a ranged operation: Ok, or why it stopped and where. */
export interface OpResult {
  result: FaultResult;
  addr: number;
  why: string;
}

export class ProcessLayer {
  readonly rmap: Rmap;
  readonly tags: TagStore;
  /** Transparent huge pages (src/process/thp.ts). */
  readonly thp: Thp;
  migration: MigrationHooks | undefined;
  /** Swap-in and swap-entry freeing (src/process/swap.ts installSwap); undefined: no swap model. */
  swap: SwapHooks | undefined;
  fixMetadataNone: boolean;
  fixPfnTags: boolean;
  readonly log: KernelLog;
  /** Live and exited processes by scenario name. */
  readonly processes = new Map<string, Process>();
  readonly signals: SignalNote[] = [];
  /** Pending counter deltas, handed to vmstat by flush(). */
  readonly pend = { pgfault: 0, anon: 0, shmem: 0, inactiveAnon: 0, pagetables: 0 };
  /** Pending nr_zone_inactive_anon per zone index (MmPort.zoneIndexOf). */
  private readonly pendZone = new Float64Array(16);
  private pendZoneDirty = false;
  /**
   * Pages held by faults in flight (a `race` step boundary can fall between allocation and mapping, or while
   * do_metadata_none_page holds a page reference): pfn -> number of such holds. The invariants allow for them.
   */
  readonly inflight = new Map<number, number>();
  /**
   * The order of an in-flight block that is not a folio the rmap knows yet or any more (a THP migration's
   * destination before its remap, its source after it): the invariants count its tag storage as a folio's.
   */
  readonly inflightOrder = new Map<number, number>();
  /** One fault context reused by sequential operations. */
  readonly fault = new FaultCtx();
  private tokenSeq = 0;
  private nextPid = 1000;
  private nextMmId = 1;
  private readonly levels: number;
  private readonly bitsPerLevel: number;
  /** Bytes of address space one PTE table maps. */
  private readonly pteSpan: number;

  constructor(
    readonly port: MmPort,
    opts: LayerOptions,
  ) {
    this.log = opts.log;
    this.tagWords = new Int32Array(port.pageSize >> 7);
    this.fixMetadataNone = opts.fixMetadataNone ?? true;
    this.fixPfnTags = opts.fixPfnTags ?? true;
    this.rmap = new Rmap(port, {
      remapSlot: (vma, idx, pfn) => this.remapMigrated(vma, idx, pfn),
      unaccountAnon: (pfn) => this.unaccountAnon(pfn),
      releasePage: (pfn) => this.releaseNewPage(pfn),
      moveAccount: (src, dst) => {
        this.lru(src, -1);
        this.lru(dst, 1);
      },
    });
    this.tags = new TagStore(port, (tagPfn) => this.corruptData(tagPfn));
    this.thp = new Thp(this);
    this.rmap.folios = this.thp;
    this.bitsPerLevel = port.pageShift - 3;
    // CONFIG_PGTABLE_LEVELS with the defconfig's ARM64_VA_BITS_48 (arch/arm64/Kconfig, v6.5): 4 for 4K and 16K
    // pages, 3 for 64K (the boot code assumes VA_BITS 48 too: src/boot/early.ts).
    this.levels = port.pageShift === 16 ? 3 : 4;
    this.pteSpan = 2 ** (port.pageShift + this.bitsPerLevel);
  }

  setMigrationHooks(h: MigrationHooks): void {
    this.migration = h;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Counters, tokens

  flush(): void {
    const p = this.pend;
    const port = this.port;
    if (p.pgfault !== 0) port.count('pgfault', p.pgfault);
    if (p.anon !== 0) port.count('nr_anon_pages', p.anon);
    if (p.shmem !== 0) {
      // Shared anonymous memory is shmem: page cache (Cached), Shmem, and file-mapped (Mapped) while mapped.
      port.count('nr_shmem', p.shmem);
      port.count('nr_file_pages', p.shmem);
      port.count('nr_mapped', p.shmem);
    }
    if (p.inactiveAnon !== 0) port.count('nr_inactive_anon', p.inactiveAnon);
    if (this.pendZoneDirty) {
      const z = this.pendZone;
      for (let i = 0; i < z.length; i++) {
        if (z[i] === 0) continue;
        if (port.countZone !== undefined) port.countZone(i, 'nr_zone_inactive_anon', z[i]!);
        else port.count('nr_zone_inactive_anon', z[i]!);
        z[i] = 0;
      }
      this.pendZoneDirty = false;
    }
    if (p.pagetables !== 0) port.count('nr_page_table_pages', p.pagetables);
    p.pgfault = p.anon = p.shmem = p.inactiveAnon = p.pagetables = 0;
  }

  /** The data token of pfn (0 = zero-filled). */
  contentOf(pfn: number): number {
    return this.port.getToken(pfn);
  }

  setContent(pfn: number, token: number): void {
    this.port.setToken(pfn, token);
  }

  /** The process writes its page: a fresh token on the page and in the process's own record. */
  writeData(vma: Vma, idx: number): void {
    this.tokenSeq = this.tokenSeq >= 0xfffffffe ? 1 : this.tokenSeq + 1;
    this.setContent(vma.pfn[idx]!, this.tokenSeq);
    vma.token[idx] = this.tokenSeq;
    // A MAP_SHARED page mapped by other processes too (after fork): they see the new data as well.
    if (vma.anonVma.shared && vma.anonVma.vmas.length > 1) {
      const tok = this.tokenSeq;
      this.rmap.walk(vma.pfn[idx]!, (v, i) => {
        v.token[i] = tok;
      });
    }
  }

  /**
   * The process set tags on its page: the digest of the page's tags becomes the slot's record (tagSum), and that
   * of every other slot mapping the page (a MAP_SHARED page after fork), as writeData does for tokens.
   */
  private noteTags(vma: Vma, idx: number, pfn: number): void {
    const sum = this.tagDigest(pfn);
    vma.tagSum[idx] = sum;
    if (vma.anonVma.shared && vma.anonVma.vmas.length > 1) {
      this.rmap.walk(pfn, (v, i) => {
        v.tagSum[i] = sum;
      });
    }
  }

  /** Scratch words for tagDigest (pageSize / 32 bytes of tags per page). */
  private readonly tagWords: Int32Array;

  /**
   * A 32-bit digest of pfn's tags (FNV-1a over their 32-bit words), 0 when every tag is 0: what SPEC §5
   * invariant 5 compares with the slot's tagSum.
   */
  tagDigest(pfn: number): number {
    const w = this.tagWords;
    this.tags.saveWords(pfn, w, 0);
    let h = 0;
    for (let k = 0; k < w.length; k++) {
      // h * 16777619 (the FNV prime, 2^24 + 403) mod 2^32, without Math.imul: under jest's vm context every
      // Math.imul call costs ~0.2 µs (measured), which made --check in the tests 10x slower.
      const x = h ^ (w[k] as number);
      h = ((x << 24) + x * 403) | 0;
    }
    return h >>> 0;
  }

  /** Tags were written into tag storage page tagPfn while it may hold data: that data is now corrupt. */
  private corruptData(tagPfn: number): void {
    if (this.rmap.isAnonPage(tagPfn)) this.setContent(tagPfn, (this.contentOf(tagPfn) ^ 0x5a5a5a5a) >>> 0 || 1);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Pages

  /** Clears a newly allocated page (data token 0) and, for __GFP_TAGGED, its tags (tag_clear_highpage). */
  prepNewPage(pfn: number, tagged: boolean): void {
    const port = this.port;
    const W = port.words;
    const w = W !== undefined ? W.idxOf(pfn) * 4 : -1;
    if (W !== undefined) {
      W.i32[w + 1] = 1;
      W.u32[w + 3] = 0;
    } else {
      port.setPageRef(pfn, 1);
      this.setContent(pfn, 0);
    }
    if (!tagged) return;
    if (this.tags.tagStorageReady(pfn)) {
      this.tags.clearReady(pfn);
      if (W !== undefined) W.u32[w] = ((W.u32[w] as number) | W.mteTaggedBit) >>> 0;
      else port.setFlag(pfn, PageFlag.MteTagged);
    } else {
      // reserve_metadata_storage's fatal-signal "success" (§2.3 step 10): tags saved as zeros by pfn.
      this.tags.tagsByPfn.set(pfn, new Uint8Array(this.tags.bytesPerPage));
    }
  }

  /** Set while a `race` interleaves operations (invariants may then run between the steps of a fault). */
  trackInflight = false;
  /**
   * The fast lanes of `touch` (fault.ts): on by default. Off, every fault goes through the step machine; the
   * outcome is the same (test/run/fast-lanes.test.ts compares the two).
   */
  fastLanes = true;

  /** Marks pfn (the head of a 2^order block) as held by an operation in flight. */
  hold(pfn: number, order = 0): void {
    if (!this.trackInflight) return;
    this.inflight.set(pfn, (this.inflight.get(pfn) ?? 0) + 1);
    if (order > 0) this.inflightOrder.set(pfn, order);
  }

  unhold(pfn: number): void {
    if (!this.trackInflight) return;
    const n = (this.inflight.get(pfn) ?? 0) - 1;
    if (n <= 0) {
      this.inflight.delete(pfn);
      this.inflightOrder.delete(pfn);
    } else this.inflight.set(pfn, n);
  }

  /** Frees a page allocated by the fault path that was never mapped. */
  releaseNewPage(pfn: number): void {
    this.port.setPageRef(pfn, 0);
    this.port.freePages(pfn, 0);
  }

  addAnonRmap(vma: Vma, idx: number, pfn: number): void {
    const port = this.port;
    const W = port.words;
    if (W !== undefined) {
      const w = W.idxOf(pfn) * 4;
      W.u32[w + 2] = (vma.pgoff + idx) >>> 0;
      W.u32[w] = ((W.u32[w] as number) | W.anonBit) >>> 0;
    } else {
      port.setOwner(pfn, vma.pgoff + idx);
      port.setFlag(pfn, PageFlag.Anon);
    }
    if (vma.anonVma.shared) this.pend.shmem++;
    else this.pend.anon++;
    this.lru(pfn, 1);
  }

  /** lru_cache_add / del_page_from_lru_list for the inactive anon list (new anon pages start inactive, v6.5). */
  private lru(pfn: number, delta: number): void {
    this.pend.inactiveAnon += delta;
    const zi = this.port.zoneIndexOf !== undefined ? this.port.zoneIndexOf(pfn) : 0;
    this.pendZone[zi & 15] = this.pendZone[zi & 15]! + delta;
    this.pendZoneDirty = true;
  }

  /** put_page: drops a reference; the last one unaccounts and frees the page. */
  putPage(pfn: number): void {
    const port = this.port;
    const ref = port.pageRef(pfn) - 1;
    port.setPageRef(pfn, ref);
    if (ref > 0) return;
    this.unaccountAnon(pfn);
    this.tags.tagsByPfn.delete(pfn);
    // A subpage of a THP: the folio is freed whole when its last subpage goes (src/process/thp.ts).
    if (this.thp.count > 0 && this.thp.freeSubpage(pfn)) return;
    port.freePages(pfn, 0);
  }

  /** Takes an anon page out of the counters and the rmap (its last mapping is gone). */
  unaccountAnon(pfn: number): void {
    const port = this.port;
    if (!port.testFlag(pfn, PageFlag.Anon)) return;
    const av = this.rmap.anonVmaOf(port.getOwner(pfn));
    if (av !== undefined && av.shared) this.pend.shmem--;
    else this.pend.anon--;
    this.lru(pfn, -1);
    port.clearFlag(pfn, PageFlag.Anon);
    port.setOwner(pfn, 0);
  }

  /** The present-PTE bits for pfn in vma (vm_page_prot plus young/dirty/write as the fault decides). */
  presentBits(vma: Vma, pfn: number, write: boolean): number {
    let f = PTE_VALID | PTE_YOUNG;
    if ((vma.flags & VM_MTE) !== 0) f |= PTE_TAGGED;
    if ((vma.flags & VM_WRITE) !== 0 && pfn !== this.port.zeroPfn) {
      // Writable only when the page is not shared copy-on-write (after fork a write fault then goes to do_wp_page).
      const W = this.port.words;
      const ref = W !== undefined ? (W.i32[W.idxOf(pfn) * 4 + 1] as number) : this.port.pageRef(pfn);
      if ((vma.flags & VM_SHARED) !== 0 || ref === 1) {
        f |= PTE_WRITE;
        if (write) f |= PTE_DIRTY;
      }
    }
    return f;
  }

  /**
   * set_pte_at with the series' mte_sync_tags (kernel-facts §5.5, §6.2): installing a present PTE in a VM_MTE
   * mapping for a page without PG_tag_storage_reserved writes PAGE_METADATA_NONE instead (fix.metadata_none);
   * otherwise the page's tags are initialised once (restored from tags_by_pfn, or cleared) and PG_mte_tagged set.
   */
  setPteAt(vma: Vma, idx: number, pfn: number, bits: number): void {
    const port = this.port;
    if ((bits & (PTE_VALID | PTE_TAGGED)) === (PTE_VALID | PTE_TAGGED) && pfn !== port.zeroPfn) {
      // The page's flags word once (the per-page words when the port has them).
      const W = port.words;
      const flags = W !== undefined ? (W.u32[W.idxOf(pfn) * 4] as number) : -1;
      const reserved =
        W !== undefined ? (flags & W.tagStorageReservedBit) !== 0 : port.testFlag(pfn, PageFlag.TagStorageReserved);
      if (this.fixMetadataNone && port.metadataEnabled() && !reserved) {
        vma.pfn[idx] = pfn;
        vma.pte[idx] = PAGE_METADATA_NONE | PTE_TAGGED;
        return;
      }
      if (W === undefined || (flags & W.mteTaggedBit) === 0) this.mteSyncTags(pfn);
    }
    vma.pfn[idx] = pfn;
    vma.pte[idx] = bits;
  }

  private mteSyncTags(pfn: number): void {
    const port = this.port;
    if (port.testFlag(pfn, PageFlag.MteTagged)) return;
    const saved = this.tags.tagsByPfn.size === 0 ? undefined : this.tags.tagsByPfn.get(pfn);
    if (saved !== undefined && this.tags.tagStorageReady(pfn)) {
      this.tags.restore(pfn, saved);
      this.tags.tagsByPfn.delete(pfn);
    } else {
      this.tags.clear(pfn);
    }
    port.setFlag(pfn, PageFlag.MteTagged);
  }

  /**
   * copy_highpage (kernel-facts §6.2): data token and tags. With fix.pfn_tags, a tagged source whose
   * destination has no tag storage has its tags parked in tags_by_pfn[dst]; without it, they are written
   * into the destination's (unreserved) tag storage — the corruption of race 3 (§6.3).
   */
  copyHighpage(dst: number, src: number): void {
    const port = this.port;
    this.setContent(dst, this.contentOf(src));
    if (!port.testFlag(src, PageFlag.MteTagged)) return;
    if (!this.tags.tagStorageReady(dst) && this.fixPfnTags) {
      this.tags.tagsByPfn.set(dst, this.tags.save(src));
      return;
    }
    this.tags.copy(dst, src);
    port.setFlag(dst, PageFlag.MteTagged);
  }

  /** Called by the rmap when a migration entry is replaced: the slot maps pfn again, through set_pte_at. */
  private remapMigrated(vma: Vma, idx: number, pfn: number): void {
    const wasWrite = (vma.pte[idx]! & PTE_WRITE) !== 0;
    let bits = PTE_VALID | PTE_YOUNG | ((vma.flags & VM_MTE) !== 0 ? PTE_TAGGED : 0);
    if (wasWrite && (vma.flags & VM_WRITE) !== 0) bits |= PTE_WRITE;
    if ((vma.flags & (VM_READ | VM_WRITE)) === 0) bits = PTE_PROT_NONE;
    this.setPteAt(vma, idx, pfn, bits);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Page tables

  private tableShift(level: number): number {
    return this.port.pageShift + this.bitsPerLevel * (level + 1);
  }

  /**
   * Allocates the PTE/PMD/PUD tables covering addr (__pte_alloc, __pmd_alloc, __pud_alloc). Returns false when
   * a table page cannot be allocated (the fault then fails with VM_FAULT_OOM).
   */
  ensureTables(mm: Mm, addr: number): boolean {
    const pteKey = Math.floor(addr / this.pteSpan);
    if (pteKey === mm.lastPteKey) return true;
    const below = this.levels - 1;
    // Upper levels first, so a lower table never exists without the ones above it.
    for (let level = below - 1; level >= 0; level--) {
      const key = Math.floor(addr / 2 ** this.tableShift(level));
      if (mm.tables[level]!.has(key)) continue;
      const pfn = this.allocTablePage(mm);
      if (pfn < 0) return false;
      mm.tables[level]!.set(key, pfn);
      // pagetable_pte_ctor / pagetable_pmd_ctor account NR_PAGETABLE; PUD tables are plain pages (v6.5).
      if (level <= 1) this.pend.pagetables++;
    }
    mm.lastPteKey = pteKey;
    return true;
  }

  /** Allocates a page-table page (GFP_PGTABLE_USER); -1 when none is left. */
  private allocTablePage(mm: Mm): number {
    const port = this.port;
    const pfn = port.allocPages(0, Gfp.PgtableUser);
    if (pfn < 0) return -1;
    port.setPageRef(pfn, 1);
    port.setOwner(pfn, OWNER_PGTABLE);
    void mm;
    port.setFlag(pfn, PageFlag.PageTable);
    this.setContent(pfn, 0);
    return pfn;
  }

  private freeTablePage(pfn: number): void {
    const port = this.port;
    port.clearFlag(pfn, PageFlag.PageTable);
    port.setOwner(pfn, 0);
    port.setPageRef(pfn, 0);
    port.freePages(pfn, 0);
  }

  /** free_pgtables: frees the tables over [start, end) that no remaining VMA of mm needs. */
  private freeTables(mm: Mm, start: number, end: number): void {
    for (let level = 0; level < this.levels - 1; level++) {
      const span = 2 ** this.tableShift(level);
      const k0 = Math.floor(start / span);
      const k1 = Math.floor((end - 1) / span);
      const map = mm.tables[level]!;
      for (const [key, pfn] of [...map]) {
        if (key < k0 || key > k1) continue;
        const lo = key * span;
        const hi = lo + span;
        if (mm.vmas.some((v) => v.start < hi && v.end > lo)) continue;
        map.delete(key);
        if (level === 0 && key === mm.lastPteKey) mm.lastPteKey = -1;
        this.freeTablePage(pfn);
        if (level <= 1) this.pend.pagetables--;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Processes and mappings

  /** mm_alloc + pgd_alloc. When no page is left for the pgd the process still exists, with pgdPfn -1. */
  createProcess(name: string): Process {
    const mm = new Mm(this.nextMmId++);
    // pgd_alloc: a page when PGD_SIZE == PAGE_SIZE (4K: 512 entries); with 16K (2 entries) and 64K (64 entries)
    // and VA_BITS 48 the pgd is smaller than a page and comes from a kmem cache (arch/arm64/mm/pgd.c).
    if (this.port.pageShift === 12) mm.pgdPfn = this.allocTablePage(mm);
    const p = new Process(this.nextPid++, name, mm);
    this.processes.set(name, p);
    return p;
  }

  /** mmap(NULL, size, prot, MAP_ANONYMOUS | (shared ? MAP_SHARED : MAP_PRIVATE)); returns the VMA or null (ENOMEM). */
  mmap(p: Process, name: string, size: number, prot: number, shared: boolean, thp: boolean): Vma | null {
    const ps = this.port.pageSize;
    const len = Math.ceil(size / ps) * ps;
    const align = thp && len >= 2 * 2 ** 20 ? 2 * 2 ** 20 : ps;
    const start = p.mm.unmappedArea(len, align, MMAP_BASE, MMAP_LOW);
    if (start < 0) return null;
    const n = len / ps;
    const av = this.rmap.newAnonVma(n, shared);
    const flags = prot | (shared ? VM_SHARED : 0) | (thp ? VM_HUGEPAGE : 0);
    const vma = new Vma(
      p.mm,
      name,
      start,
      start + len,
      flags,
      av,
      av.base,
      new Uint32Array(n),
      new Uint16Array(n),
      new Uint32Array(n),
      this.port.pageShift,
    );
    av.vmas.push(vma);
    p.mm.insertVma(vma);
    p.named.set(name, { start, end: start + len });
    return vma;
  }

  /** Splits the VMA containing addr so that a VMA starts at addr (__split_vma). */
  private splitAt(mm: Mm, addr: number): void {
    const v = mm.findVma(addr);
    if (v === undefined || v.start === addr) return;
    this.thp.splitPmdAt(v, addr); // vma_adjust_trans_huge
    const cut = (addr - v.start) / this.port.pageSize;
    const hi = new Vma(
      mm,
      v.name,
      addr,
      v.end,
      v.flags,
      v.anonVma,
      v.pgoff + cut,
      v.pfn.slice(cut),
      v.pte.slice(cut),
      v.token.slice(cut),
      this.port.pageShift,
      v.tagSum.slice(cut),
    );
    const lo = new Vma(
      mm,
      v.name,
      v.start,
      addr,
      v.flags,
      v.anonVma,
      v.pgoff,
      v.pfn.slice(0, cut),
      v.pte.slice(0, cut),
      v.token.slice(0, cut),
      this.port.pageShift,
      v.tagSum.slice(0, cut),
    );
    v.dead = true;
    mm.removeVma(v);
    const avs = v.anonVma.vmas;
    avs.splice(avs.indexOf(v), 1, lo, hi);
    mm.insertVma(lo);
    mm.insertVma(hi);
  }

  /** The VMAs covering [start, end), after splitting at both ends. */
  private vmasIn(mm: Mm, start: number, end: number): Vma[] {
    this.splitAt(mm, start);
    this.splitAt(mm, end);
    return mm.vmas.filter((v) => v.start >= start && v.end <= end);
  }

  /** zap_pte_range for one slot. */
  private zapSlot(vma: Vma, idx: number): void {
    const f = vma.pte[idx]!;
    if (f === 0) return;
    if ((f & PTE_PMD) !== 0) {
      this.thp.zapHugePmd(vma, idx); // zap_huge_pmd (src/process/thp.ts)
      return;
    }
    const pfn = vma.pfn[idx]!;
    vma.pte[idx] = 0;
    vma.pfn[idx] = 0;
    vma.token[idx] = 0;
    vma.tagSum[idx] = 0;
    if ((f & (PTE_PRESENT_MASK | PTE_MIGRATION)) !== 0 && pfn !== this.port.zeroPfn) this.putPage(pfn);
    // A swap entry: free_swap_and_cache (src/process/swap.ts).
    else if ((f & PTE_SWAP) !== 0) this.swap?.freeSwapEntry(pfn);
  }

  /** munmap(start, end - start). */
  munmap(p: Process, start: number, end: number): void {
    this.unmapVmas(p, start, end);
    this.flush();
  }

  /** zap + unlink of the VMAs in [start, end) and their page tables, without the counter flush. */
  private unmapVmas(p: Process, start: number, end: number): void {
    const mm = p.mm;
    for (const v of this.vmasIn(mm, start, end)) {
      for (let i = 0; i < v.pages; i++) this.zapSlot(v, i);
      v.dead = true;
      mm.removeVma(v);
      const avs = v.anonVma.vmas;
      avs.splice(avs.indexOf(v), 1);
      if (avs.length === 0) this.rmap.dropAnonVma(v.anonVma);
    }
    this.freeTables(mm, start, end);
  }

  /**
   * exit_mmap: unmaps everything (unmap_vmas, one pass over every VMA) and frees the page tables and the pgd. A THP
   * that spans several VMAs (after a partial mprotect) is freed whole when its last subpage goes.
   */
  exit(p: Process): void {
    const mm = p.mm;
    for (const v of [...mm.vmas]) this.unmapVmas(p, v.start, v.end);
    for (let level = 0; level < mm.tables.length; level++) {
      for (const pfn of mm.tables[level]!.values()) {
        this.freeTablePage(pfn);
        if (level <= 1) this.pend.pagetables--;
      }
      mm.tables[level]!.clear();
    }
    mm.lastPteKey = -1;
    if (mm.pgdPfn >= 0) this.freeTablePage(mm.pgdPfn);
    mm.pgdPfn = -1;
    p.alive = false;
    this.flush();
  }

  /**
   * mprotect(start, end - start, prot) (mprotect_fixup + change_protection). A VMA that gains VM_MTE while tag
   * storage management is on gets MM_CP_PROT_METADATA_NONE (kernel-facts §5.2): its present PTEs become
   * PAGE_METADATA_NONE, except those already METADATA_NONE, the zero page, and pages already tagged.
   * Nothing is reserved here.
   */
  mprotect(p: Process, start: number, end: number, prot: number): void {
    const port = this.port;
    for (const v of this.vmasIn(p.mm, start, end)) {
      const oldFlags = v.flags;
      v.flags = (oldFlags & ~(VM_READ | VM_WRITE | VM_MTE)) | prot;
      const gainsMte = (v.flags & VM_MTE) !== 0 && (oldFlags & VM_MTE) === 0;
      const metadataNone = gainsMte && this.fixMetadataNone && port.metadataEnabled();
      const pte = v.pte;
      for (let i = 0; i < v.pages; i++) {
        const f = pte[i]!;
        if ((f & PTE_PRESENT_MASK) === 0) continue;
        if ((f & PTE_PMD) !== 0) {
          i = this.thp.changeProtPmd(v, i, metadataNone) - 1; // change_huge_pmd (src/process/thp.ts)
          continue;
        }
        const pfn = v.pfn[i]!;
        if (metadataNone) {
          if (pteMetadataNone(f) || pfn === port.zeroPfn || port.testFlag(pfn, PageFlag.MteTagged)) {
            if (!pteMetadataNone(f)) v.pte[i] = this.changedBits(v, f, pfn);
            continue;
          }
          pte[i] = PAGE_METADATA_NONE | PTE_TAGGED;
          continue;
        }
        const nf = this.changedBits(v, f, pfn);
        // fix.metadata_none off: reserve tag storage at mprotect time (src/process/migrate_mprotect.ts).
        if (gainsMte && !this.fixMetadataNone && port.metadataEnabled() && (nf & PTE_VALID) !== 0)
          reserveOnMprotectMte(this, pfn);
        if ((nf & PTE_VALID) !== 0) this.setPteAt(v, i, pfn, nf);
        else pte[i] = nf;
      }
    }
    this.flush();
  }

  /** pte_modify(old, vm_page_prot) for change_pte_range. */
  private changedBits(v: Vma, f: number, pfn: number): number {
    if ((v.flags & (VM_READ | VM_WRITE)) === 0) return PTE_PROT_NONE | (f & PTE_TAGGED);
    let nf = PTE_VALID | (f & (PTE_YOUNG | PTE_DIRTY));
    if ((v.flags & VM_MTE) !== 0) nf |= PTE_TAGGED;
    // can_change_pte_writable: exclusive anon pages (and shared mappings) may stay writable.
    if ((v.flags & VM_WRITE) !== 0 && pfn !== this.port.zeroPfn) {
      if ((v.flags & VM_SHARED) !== 0 || (f & PTE_WRITE) !== 0 || this.port.pageRef(pfn) === 1) nf |= PTE_WRITE;
    }
    return nf;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Accesses

  /**
   * One access to page idx of vma: faults until the PTE is present with the needed permission (a PTE the
   * set_pte_at net left METADATA_NONE faults again, as the hardware would). Returns the fault result.
   */
  accessPage(vma: Vma, idx: number, write: boolean, faultsSoFar = 0): FaultResult {
    for (let tries = faultsSoFar; ; tries++) {
      const f = vma.pte[idx]!;
      if ((f & PTE_VALID) !== 0 && (!write || (f & PTE_WRITE) !== 0)) {
        if (write) vma.pte[idx] = f | PTE_DIRTY | PTE_YOUNG;
        return FaultResult.Ok;
      }
      if (tries >= 8) {
        this.fault.why = `access at 0x${(vma.start + idx * this.port.pageSize).toString(16)} keeps faulting`;
        return FaultResult.Stuck;
      }
      const r = handleMmFault(this, this.fault, vma, idx, write);
      if (r !== FaultResult.Ok) return r;
    }
  }

  /** `touch`: one access per page of [start, end); writes store a new content token. */
  touch(p: Process, start: number, end: number, write: boolean): OpResult {
    const ps = this.port.pageSize;
    const first = Math.floor(start / ps) * ps;
    try {
      for (let addr = first; addr < end;) {
        const vma = p.mm.findVma(addr);
        if (vma === undefined) return this.segv(p, addr, 'SEGV_MAPERR', FaultResult.AccErr, write, false);
        const i0 = (addr - vma.start) / ps;
        const i1 = Math.min(vma.pages, Math.ceil((end - vma.start) / ps));
        // The fast lanes of fault.ts for the two common faults of a sequential touch (same steps, no dispatch).
        const need = write ? VM_WRITE : VM_READ;
        const lanes = this.fastLanes && !this.trackInflight && (vma.flags & need) !== 0;
        const anonLane = lanes && write && (vma.flags & (VM_HUGEPAGE | VM_SHARED)) === 0;
        const mdLane = lanes && (vma.flags & VM_MTE) !== 0 && this.port.metadataEnabled();
        const swapLane = lanes && this.swap !== undefined;
        for (let i = i0; i < i1; i++) {
          const f = vma.pte[i]!;
          let r: FaultResult;
          if (f === 0 && anonLane) {
            r = anonWriteFault(this, vma, i);
            if (r === FaultResult.Ok) r = this.accessPage(vma, i, write, 1);
          } else if (mdLane && (f & LANE_MDNONE_MASK) === PAGE_METADATA_NONE) {
            r = metadataNoneFault(this, this.fault, vma, i, write);
            if (r === FaultResult.Ok) r = this.accessPage(vma, i, write, 1);
          } else if (swapLane && (f & (PTE_PMD | PTE_VALID | PTE_MIGRATION | PTE_SWAP)) === PTE_SWAP) {
            r = swapInFault(this, this.fault, vma, i, write);
            if (r === FaultResult.Ok) r = this.accessPage(vma, i, write, 1);
          } else r = this.accessPage(vma, i, write);
          if (r !== FaultResult.Ok) return this.faultFailed(p, vma.start + i * ps, r, write);
          if (write) this.writeData(vma, i);
        }
        addr = vma.start + i1 * ps;
      }
    } finally {
      this.flush();
    }
    return { result: FaultResult.Ok, addr: -1, why: '' };
  }

  /** `settag`: STG of `tag` over the granules of [start, end) (a write access; RAZ/WI on untagged mappings). */
  settag(p: Process, start: number, end: number, tag: number): OpResult {
    const ps = this.port.pageSize;
    try {
      for (let addr = start; addr < end;) {
        const vma = p.mm.findVma(addr);
        if (vma === undefined) return this.segv(p, addr, 'SEGV_MAPERR', FaultResult.AccErr, true, false);
        const idx = Math.floor((addr - vma.start) / ps);
        const pageEnd = Math.min(vma.start + (idx + 1) * ps, end);
        const r = this.accessPage(vma, idx, true);
        if (r !== FaultResult.Ok) return this.faultFailed(p, addr, r, true);
        if ((vma.pte[idx]! & PTE_TAGGED) !== 0) {
          const off = addr - (vma.start + idx * ps);
          const pfn = vma.pfn[idx]!;
          this.tags.setTags(pfn, off / MTE_GRANULE, Math.ceil((pageEnd - vma.start - idx * ps) / MTE_GRANULE), tag);
          this.noteTags(vma, idx, pfn);
        }
        addr = pageEnd;
      }
    } finally {
      this.flush();
    }
    return { result: FaultResult.Ok, addr: -1, why: '' };
  }

  /**
   * `access`: a tag-checked load of [start, end) through a pointer carrying `ptrTag`. The first granule whose
   * allocation tag differs raises a synchronous tag check fault (SIGSEGV, SEGV_MTESERR).
   */
  access(p: Process, start: number, end: number, ptrTag: number): OpResult {
    const ps = this.port.pageSize;
    try {
      for (let addr = start; addr < end;) {
        const vma = p.mm.findVma(addr);
        if (vma === undefined) return this.segv(p, addr, 'SEGV_MAPERR', FaultResult.AccErr, false, false);
        const idx = Math.floor((addr - vma.start) / ps);
        const pageStart = vma.start + idx * ps;
        const pageEnd = Math.min(pageStart + ps, end);
        const r = this.accessPage(vma, idx, false);
        if (r !== FaultResult.Ok) return this.faultFailed(p, addr, r, false);
        if ((vma.pte[idx]! & PTE_TAGGED) !== 0) {
          const pfn = vma.pfn[idx]!;
          const g1 = Math.ceil((pageEnd - pageStart) / MTE_GRANULE);
          for (let g = Math.floor((addr - pageStart) / MTE_GRANULE); g < g1; g++) {
            if (this.tags.getTag(pfn, g) !== ptrTag) {
              const far = Math.max(addr, pageStart + g * MTE_GRANULE);
              return this.tagCheckFault(p, far, ptrTag);
            }
          }
        }
        addr = pageEnd;
      }
    } finally {
      this.flush();
    }
    return { result: FaultResult.Ok, addr: -1, why: '' };
  }

  /** The allocation tag of the granule at addr (0 if unmapped or untagged). */
  tagAt(p: Process, addr: number): number {
    const vma = p.mm.findVma(addr);
    if (vma === undefined) return 0;
    const ps = this.port.pageSize;
    const idx = Math.floor((addr - vma.start) / ps);
    if ((vma.pte[idx]! & PTE_PRESENT_MASK) === 0) return 0;
    return this.tags.getTag(vma.pfn[idx]!, Math.floor((addr - vma.start - idx * ps) / MTE_GRANULE));
  }

  /**
   * do_tag_check_fault -> do_bad_area -> arm64_force_sig_fault(SIGSEGV, SEGV_MTESERR, far,
   * "synchronous tag check fault") (arch/arm64/mm/fault.c, v6.5). FAR bits 63:60 are UNKNOWN for tag check
   * faults; the kernel rebuilds them from the untagged address and keeps the pointer tag in bits 59:56.
   */
  private tagCheckFault(p: Process, far: number, ptrTag: number): OpResult {
    const addr = (BigInt(far) & ((1n << 56n) - 1n)) | (BigInt(ptrTag) << 56n);
    // ESR: EC 0x24 (DABT from a lower EL) << 26 | IL | DFSC 0x11 (synchronous tag check fault); a load.
    this.showSignal(p, 0x92000011n, 'synchronous tag check fault');
    this.signals.push({ pid: p.pid, comm: p.comm, code: 'SEGV_MTESERR', addr });
    return { result: FaultResult.AccErr, addr: far, why: 'SEGV_MTESERR' };
  }

  /**
   * do_bad_area -> arm64_force_sig_fault for an access the VMA does not allow (SEGV_ACCERR) or an address no VMA
   * covers (SEGV_MAPERR). ESR: EC 0x24 (DABT, lower EL) | IL, WnR (bit 6) for a write, DFSC 0x07 (level 3
   * translation fault, no valid PTE) or 0x0f (level 3 permission fault, a valid PTE); inf->name as in
   * fault_info[] (arch/arm64/mm/fault.c).
   */
  private segv(p: Process, addr: number, code: string, r: FaultResult, write: boolean, present: boolean): OpResult {
    const esr = 0x92000000n | (write ? 0x40n : 0n) | (present ? 0x0fn : 0x07n);
    this.showSignal(p, esr, present ? 'level 3 permission fault' : 'level 3 translation fault');
    this.signals.push({ pid: p.pid, comm: p.comm, code, addr: BigInt(addr) });
    return { result: r, addr, why: code };
  }

  private faultFailed(p: Process, addr: number, r: FaultResult, write: boolean): OpResult {
    if (r === FaultResult.AccErr) {
      const v = p.mm.findVma(addr);
      const present = v !== undefined && (v.pte[Math.floor((addr - v.start) / this.port.pageSize)]! & PTE_VALID) !== 0;
      return this.segv(p, addr, 'SEGV_ACCERR', r, write, present);
    }
    return { result: r, addr, why: r === FaultResult.Oom ? 'VM_FAULT_OOM' : this.fault.why };
  }

  /**
   * arm64_show_signal (arch/arm64/kernel/traps.c, v6.5): printed only when show_unhandled_signals
   * (debug.exception-trace) is set and the task has no handler; we print it as with show_unhandled_signals=1.
   * The kernel goes on with print_vma_addr(" in ", pc) and __show_regs(); no executable or registers are
   * modelled, so the line ends after the fault name.
   */
  private showSignal(p: Process, esr: bigint, name: string): void {
    const e = esr.toString(16).padStart(16, '0');
    this.log.info(`${p.comm}[${p.pid}]: unhandled exception: DABT (lower EL), ESR 0x${e}, ${name}`);
  }

  /** Number of pages of [start, end) in p that are mapped (resident), for `resident(RANGE)`. */
  countPages(p: Process, start: number, end: number, what: 'resident' | 'swapped'): number {
    const ps = this.port.pageSize;
    let n = 0;
    for (const v of p.mm.vmas) {
      const a = Math.max(start, v.start);
      const b = Math.min(end, v.end);
      for (let addr = a; addr < b; addr += ps) {
        const f = v.pte[(addr - v.start) / ps]!;
        if (what === 'resident' ? (f & (PTE_PRESENT_MASK | PTE_MIGRATION)) !== 0 : (f & PTE_SWAP) !== 0) n++;
      }
    }
    return n;
  }
}
