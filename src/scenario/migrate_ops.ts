/**
 * The scenario statements `NAME: migrate VMA [RANGE] to=TARGET` and `compact` (SPEC §4 Migration, §6).
 *
 * `migrate` is move_pages(2) for the resident pages of a range (MR_SYSCALL): every page that is mapped and
 * not already where it is sent is migrated with H8's Migrator (src/mm/migrate.ts) to a page allocated in the
 * target, through H7's rmap (try_to_migrate / remove_migration_ptes). The target is resolved against the
 * booted platform: a zone name (DMA, DMA32, Normal, Movable), a node `nodeN`, or a device-tree node given by
 * path or label that is either a memory node (its banks) or an `arm,mte-tag-storage` node (its tag storage
 * pages, which are METADATA memory: untagged data may be placed there, kernel-facts §3.2). A tagged source
 * gets a destination allocated with __GFP_TAGGED, so its tag storage is reserved (§3.5 P11); copy_highpage
 * applies the pfn-keyed store rules of §6.2. Counters: pgmigrate_success / pgmigrate_fail.
 *
 * `compact` is compact_nodes() (/proc/sys/vm/compact_memory): H8's compaction of every populated zone, with
 * the METADATA rules of §3.5; counters compact_migrate_scanned, compact_free_scanned, compact_isolated.
 *
 * Both run at once as statements and one atomic step at a time as `race` thread statements: a migration is
 * split into alloc-dest, unmap, copy, remap and free-source steps (MigrationOp), so a scheduler can put an
 * mprotect(PROT_MTE) or an access between them (the cover letter's races, §6.3). Between the steps the pages
 * a migration holds but has not mapped (the destination until remap, the source from remap until it is
 * freed) are registered with the process layer as in flight, so `--check` can run between the steps.
 */
import type { TagStorage } from '../arch/arm64/mte_tag_storage.js';
import type { TagStorageReuse } from '../arch/arm64/tag_reserve.js';
import { DtIndex, getProp, propRegs, propStrings, type DtTree } from '../dt/tree.js';
import { InputError, type SrcPos } from '../errors.js';
import { MigFlag, MigrateReason, MigrateStep, type DestAllocator, type MigrationOp } from '../mm/migrate.js';
import type { PageAllocator } from '../mm/page_alloc.js';
import { FaultResult } from '../process/fault.js';
import type { ProcessLayer } from '../process/layer.js';
import type { Process, Vma } from '../process/mm.js';
import { PTE_MIGRATION, PTE_PRESENT_MASK } from '../process/pte.js';
import type { MigrateTarget } from './ast.js';
import type { KernelOp } from './runtime.js';

/** What `migrate` and `compact` need from the booted kernel (set on the Machine by runtime_machine.ts). */
export interface MigrationSupport {
  readonly reuse: Pick<TagStorageReuse, 'targetAllocator' | 'compactOp' | 'compactAll'> & {
    readonly migrator: TagStorageReuse['migrator'];
  };
  readonly alloc: PageAllocator;
  /** The booted device tree (labels and paths of memory and tag storage nodes). */
  readonly tree?: DtTree;
  readonly tagStorage?: TagStorage;
}

/** A resolved `to=TARGET`: pages must come from these pfn ranges (all of them if none), zone and node. */
export interface ResolvedTarget {
  readonly zoneIdx?: number;
  readonly nid?: number;
  /** [start, end) pfn ranges (a DT node's banks or tag storage); empty: anywhere in zone/node. */
  readonly ranges: readonly (readonly [number, number])[];
  /** The ranges are tag storage (METADATA pages): no place for a tagged page (§3.2). */
  readonly tagStorage?: boolean;
}

const indexCache = new WeakMap<DtTree, DtIndex>();

function dtIndex(tree: DtTree): DtIndex {
  let ix = indexCache.get(tree);
  if (ix === undefined) {
    ix = new DtIndex(tree);
    indexCache.set(tree, ix);
  }
  return ix;
}

/** Resolves a migration target against the booted platform; an InputError at the target for a bad one. */
export function resolveTarget(t: MigrateTarget, s: MigrationSupport): ResolvedTarget {
  const zones = s.alloc.zones;
  switch (t.kind) {
    case 'zone': {
      const z = zones.find((x) => x.name === t.zone && x.populated);
      if (z === undefined) {
        const have = [...new Set(zones.filter((x) => x.populated).map((x) => x.name))].join(', ');
        throw new InputError(`zone ${t.zone} is empty on this platform (populated: ${have})`, t.pos);
      }
      return { zoneIdx: z.idx, ranges: [] };
    }
    case 'node': {
      if (!zones.some((x) => x.nid === t.node && x.populated)) {
        const have = [...new Set(zones.filter((x) => x.populated).map((x) => `node${x.nid}`))].join(', ');
        throw new InputError(`no memory on node${t.node} (online: ${have})`, t.pos);
      }
      return { nid: t.node, ranges: [] };
    }
    case 'dtPath':
    case 'dtLabel': {
      const what = t.kind === 'dtPath' ? `'${t.path}'` : `label '${t.label}'`;
      if (s.tree === undefined) throw new InputError(`no device tree to look up ${what} in`, t.pos);
      const ix = dtIndex(s.tree);
      const node = t.kind === 'dtPath' ? ix.findPath(t.path) : ix.findLabel(t.label);
      if (node === undefined) throw new InputError(`no device tree node ${what}`, t.pos);
      const path = ix.path(node);
      const ps = s.alloc.geometry.pageSize;
      // A tag storage node: its tag storage pages (§1.1: regions as discovered at boot).
      const compat = getProp(node, 'compatible');
      if (compat !== undefined && (propStrings(compat) ?? []).includes('arm,mte-tag-storage')) {
        const r = s.tagStorage?.regions.find((x) => x.node === path);
        if (r === undefined) throw new InputError(`tag storage node '${path}' was not brought up at boot`, t.pos);
        return { ranges: [[r.tag.start, r.tag.end]], tagStorage: true };
      }
      const dev = getProp(node, 'device_type');
      if (dev !== undefined && (propStrings(dev) ?? []).includes('memory')) {
        const ranges = rangesOfMemoryNode(s, path, ps);
        if (ranges.length === 0) throw new InputError(`memory node '${path}' has no memory the kernel uses`, t.pos);
        return { ranges };
      }
      throw new InputError(`device tree node '${path}' is neither a memory node nor a tag storage region`, t.pos);
    }
  }
}

/** The pfn ranges of the `reg` banks of DT memory node `path`, clipped to the zones the kernel set up. */
function rangesOfMemoryNode(s: MigrationSupport, path: string, ps: number): [number, number][] {
  const out: [number, number][] = [];
  const ix = dtIndex(s.tree!);
  const node = ix.findPath(path)!;
  const reg = getProp(node, 'reg');
  const { addressCells, sizeCells } = ix.cellsFor(node);
  const banks = reg === undefined ? undefined : propRegs(reg, addressCells, sizeCells);
  for (const { address, size } of banks ?? []) {
    const lo = Math.ceil(Number(address) / ps);
    const hi = Math.floor(Number(address + size) / ps);
    for (const z of s.alloc.zones) {
      if (!z.populated) continue;
      const a = Math.max(lo, z.zoneStartPfn);
      const b = Math.min(hi, z.zoneEndPfn);
      if (a < b) out.push([a, b]);
    }
  }
  return out.sort((x, y) => x[0] - y[0]);
}

/** Returns true if pfn already lies in the target (move_pages leaves such pages where they are). */
function inTarget(s: MigrationSupport, t: ResolvedTarget, pfn: number): boolean {
  if (t.ranges.length > 0 && !t.ranges.some(([a, b]) => pfn >= a && pfn < b)) return false;
  const z = s.alloc.zoneForPfn(pfn);
  if (z === undefined) return false;
  if (t.zoneIdx !== undefined && z.idx !== t.zoneIdx) return false;
  return t.nid === undefined || z.nid === t.nid;
}

/** The destination source for a target: H8's targetAllocator, one per DT range, tried in order. */
function destFor(s: MigrationSupport, t: ResolvedTarget): DestAllocator {
  if (t.ranges.length === 0) {
    return s.reuse.targetAllocator({
      ...(t.zoneIdx !== undefined ? { zoneIdx: t.zoneIdx } : {}),
      ...(t.nid !== undefined ? { nid: t.nid } : {}),
    });
  }
  // A range is searched from where the last destination was found, then from its start: a move_pages of
  // N pages into a region then costs O(N + region) instead of N scans from the region's start.
  const cursor = t.ranges.map(([start]) => start);
  const take = (k: number, from: number, to: number, src: number, order: number): number => {
    if (from >= to) return -1;
    const p = s.reuse.targetAllocator({ start: from, end: to }).alloc(src, order);
    if (p >= 0) cursor[k] = p + (1 << order);
    return p;
  };
  return {
    alloc: (src, order) => {
      // Tag storage cannot hold a tagged page (its tags would have to live in itself, §3.2): no destination.
      if (t.tagStorage === true && s.reuse.migrator.mm.testFlag(src, MigFlag.MteTagged)) return -1;
      for (let k = 0; k < t.ranges.length; k++) {
        const [start, end] = t.ranges[k]!;
        const p = take(k, cursor[k]!, end, src, order);
        if (p >= 0) return p;
        const q = take(k, start, Math.min(end, cursor[k]! + (1 << order) - 1), src, order);
        if (q >= 0) return q;
      }
      return -1;
    },
    release: (dst, order) => s.alloc.freePages(dst, order),
  };
}

/**
 * Keeps the process layer's in-flight pages (layer.hold, which the invariant checker allows for) in line with
 * the pages one migration holds unmapped: the destination from its allocation until the remap (it may already
 * have tag storage reserved), the source from the remap until it is freed.
 */
class InflightTracker {
  private dst = -1;
  private src = -1;
  constructor(private readonly L: ProcessLayer) {}

  sync(op: MigrationOp | undefined): void {
    const n = op?.next ?? MigrateStep.Done;
    const dst = op !== undefined && op.dst >= 0 && n > MigrateStep.AllocDest && n <= MigrateStep.Remap ? op.dst : -1;
    const src = op !== undefined && n === MigrateStep.FreeSource ? op.src : -1;
    if (dst !== this.dst) {
      if (this.dst >= 0) this.L.unhold(this.dst);
      if (dst >= 0) this.L.hold(dst, op!.order);
      this.dst = dst;
    }
    if (src !== this.src) {
      if (this.src >= 0) this.L.unhold(this.src);
      if (src >= 0) this.L.hold(src, op!.order);
      this.src = src;
    }
  }
}

/**
 * move_pages of the resident pages of [start, end) of p to `target`, one atomic migration step per step().
 * The page of each slot is read when its migration starts (another thread may have moved, unmapped or
 * swapped it out since); slots with no page, the zero page and pages already in the target are skipped.
 */
export class MigrateVmaOp implements KernelOp {
  result: FaultResult = FaultResult.Ok;
  addr = -1;
  why = '';
  /** Pages migrated and pages that could not be (pinned, busy, no destination). */
  migrated = 0;
  failed = 0;
  private addrNow: number;
  private op: MigrationOp | undefined;
  /** Pages from the current address to the end of the folio being migrated. */
  private pagesLeft = 1;
  private readonly inflight: InflightTracker;
  private readonly dest: DestAllocator;
  /** The VMA of the last look-up (a VMA split by mprotect is marked dead and looked up again). */
  private vma: Vma | undefined;

  constructor(
    private readonly L: ProcessLayer,
    private readonly s: MigrationSupport,
    private readonly p: Process,
    start: number,
    private readonly end: number,
    private readonly target: ResolvedTarget,
  ) {
    const ps = L.port.pageSize;
    this.addrNow = Math.floor(start / ps) * ps;
    this.dest = destFor(s, target);
    this.inflight = new InflightTracker(L);
  }

  /** The page mapped at addr that should move, or -1. */
  private sourceAt(addr: number): number {
    let v = this.vma;
    if (v === undefined || v.dead || addr < v.start || addr >= v.end) v = this.vma = this.p.mm.findVma(addr);
    if (v === undefined) return -1;
    const idx = Math.floor((addr - v.start) / this.L.port.pageSize);
    if ((v.pte[idx]! & PTE_PRESENT_MASK) === 0) return -1;
    const pfn = v.pfn[idx]!;
    if (pfn === this.L.port.zeroPfn || inTarget(this.s, this.target, pfn)) return -1;
    return pfn;
  }

  step(): boolean {
    const ps = this.L.port.pageSize;
    if (this.op === undefined) {
      let src = -1;
      while (this.addrNow < this.end && this.p.alive && (src = this.sourceAt(this.addrNow)) < 0) this.addrNow += ps;
      if (src < 0) return true;
      // A page of a THP moves with its folio (src/process/thp.ts): migrate the head, then go past the folio.
      const head = this.L.rmap.folioHead(src);
      this.op = this.s.reuse.migrator.beginWith(head, MigrateReason.MR_SYSCALL, this.dest);
      this.pagesLeft = head + (1 << this.op.order) - src;
    }
    const op = this.op;
    const done = op.step();
    this.inflight.sync(op);
    if (!done) return false;
    if (op.rc === 0) this.migrated += 1 << op.order;
    else this.failed += 1 << op.order;
    this.op = undefined;
    this.addrNow += this.pagesLeft * ps;
    return this.addrNow >= this.end;
  }

  /** Runs to the end. */
  run(): this {
    while (!this.step());
    this.L.flush();
    return this;
  }
}

/** `compact` as a race thread statement: compaction of every populated zone, one atomic step per step(). */
export class CompactStepOp implements KernelOp {
  result: FaultResult = FaultResult.Ok;
  addr = -1;
  why = '';
  private readonly op: ReturnType<MigrationSupport['reuse']['compactOp']>;
  private readonly migrator: MigrationSupport['reuse']['migrator'];
  private readonly inflight: InflightTracker;

  constructor(
    private readonly L: ProcessLayer,
    s: MigrationSupport,
  ) {
    this.op = s.reuse.compactOp();
    this.migrator = s.reuse.migrator;
    this.inflight = new InflightTracker(L);
  }

  step(): boolean {
    const done = this.op.step();
    // The migration compaction is in the middle of (Migrator.current), for the invariant checker.
    this.inflight.sync(done ? undefined : this.migrator.current);
    this.L.flush();
    return done;
  }
}

/** The support of a machine, or an InputError at pos when the machine has no migration (a fake allocator). */
export function needSupport(s: MigrationSupport | undefined, what: string, pos: SrcPos): MigrationSupport {
  if (s === undefined) throw new InputError(`${what} needs the page allocator of a booted machine`, pos);
  return s;
}

/** `NAME: migrate VMA [RANGE] to=TARGET` run at once. */
export function runMigrate(
  L: ProcessLayer,
  s: MigrationSupport,
  p: Process,
  start: number,
  end: number,
  target: MigrateTarget,
): MigrateVmaOp {
  return new MigrateVmaOp(L, s, p, start, end, resolveTarget(target, s)).run();
}

/** `compact` run at once. */
export function runCompact(L: ProcessLayer, s: MigrationSupport): void {
  s.reuse.compactAll();
  L.flush();
}

/** Returns true if a page of [start, end) of p is a migration entry (a migration holds it unmapped). */
export function migrationEntryIn(L: ProcessLayer, p: Process, start: number, end: number): boolean {
  const ps = L.port.pageSize;
  for (const v of p.mm.vmas) {
    if (v.end <= start || v.start >= end) continue;
    const i0 = Math.max(0, Math.floor((start - v.start) / ps));
    const i1 = Math.min(v.pages, Math.ceil((end - v.start) / ps));
    for (let i = i0; i < i1; i++) if ((v.pte[i]! & PTE_MIGRATION) !== 0) return true;
  }
  return false;
}

/**
 * A race thread's `settag` or `access` (one atomic step) that meets a page under migration waits, as the
 * fault does in migration_entry_wait (mm/migrate.c), instead of faulting again and again inside its one step:
 * the step does nothing while a page of its range is a migration entry. The migration that holds it belongs to
 * another thread and finishes in a few steps, so the wait ends.
 */
export class MigrationWaitOp implements KernelOp {
  result: FaultResult = FaultResult.Ok;
  addr = -1;
  why = '';
  constructor(
    private readonly inner: KernelOp,
    private readonly L: ProcessLayer,
    private readonly p: Process,
    private readonly start: number,
    private readonly end: number,
  ) {}

  step(): boolean {
    if (migrationEntryIn(this.L, this.p, this.start, this.end)) return false;
    const done = this.inner.step();
    this.result = this.inner.result;
    this.addr = this.inner.addr;
    this.why = this.inner.why;
    return done;
  }
}
