/**
 * What the scenario interpreter runs on: a booted machine (the allocator behind an MmPort, the log, /proc
 * text and counters) and the process layer; plus the pieces `race` needs: kernel operations as objects that
 * advance one atomic step at a time, and a seeded scheduler that interleaves the threads' operations.
 */
import type { KernelLog } from '../sim/log.js';
import type { ProcessLayer } from '../process/layer.js';
import { FaultCtx, FaultResult, faultStep } from '../process/fault.js';
import type { Mm, Process, Vma } from '../process/mm.js';
import type { CounterFile, ShowFile, ZoneName } from './ast.js';
import type { MigrationSupport } from './migrate_ops.js';

/** The booted machine, as the interpreter sees it (built by src/commands/run.ts from the boot result). */
export interface Machine {
  readonly log: KernelLog;
  readonly pageSize: number;
  /** The text of a /proc file (or the dmesg) as the kernel prints it now; undefined if not available yet. */
  procText(file: ShowFile): string | undefined;
  /** A counter as /proc prints it (see ExpectContext.counter). */
  counter(file: CounterFile, name: string, zone?: ZoneName, order?: number): number | undefined;
  /** Migration targets and compaction (`migrate`, `compact`; src/scenario/migrate_ops.ts); absent on a fake. */
  readonly migration?: MigrationSupport;
}

/** A kernel operation in flight: `step()` performs one atomic step and returns true when finished. */
export interface KernelOp {
  step(): boolean;
  /** Set when finished: Ok, or how it failed, with the address. */
  result: FaultResult;
  addr: number;
  why: string;
}

/** One access per page of [start, end) (touch), each fault advanced step by step. */
export class TouchOp implements KernelOp {
  result: FaultResult = FaultResult.Ok;
  addr = -1;
  why = '';
  private addrNow: number;
  private readonly ctx = new FaultCtx();
  private faulting = false;
  private vma: Vma | undefined;
  private idx = 0;
  private tries = 0;

  constructor(
    private readonly L: ProcessLayer,
    private readonly p: Process,
    start: number,
    private readonly end: number,
    private readonly write: boolean,
  ) {
    const ps = L.port.pageSize;
    this.addrNow = Math.floor(start / ps) * ps;
  }

  step(): boolean {
    const L = this.L;
    const ps = L.port.pageSize;
    if (this.faulting) {
      const done = faultStep(L, this.ctx);
      L.flush();
      if (!done) return false;
      this.faulting = false;
      this.p.mm.faultsInFlight--;
      if (this.ctx.result !== FaultResult.Ok) return this.fail(this.ctx.result, this.ctx.why);
      return false;
    }
    if (this.addrNow >= this.end || !this.p.alive) return true;
    const vma = this.p.mm.findVma(this.addrNow);
    if (vma === undefined) return this.fail(FaultResult.AccErr, 'SEGV_MAPERR');
    const idx = (this.addrNow - vma.start) / ps;
    if (vma !== this.vma || idx !== this.idx) {
      this.vma = vma;
      this.idx = idx;
      this.tries = 0;
    }
    const f = vma.pte[idx]!;
    const ok = (f & 1) !== 0 && (!this.write || (f & 2) !== 0);
    if (ok) {
      if (this.write) L.writeData(vma, idx);
      this.addrNow += ps;
      return this.addrNow >= this.end;
    }
    if (++this.tries > 8) return this.fail(FaultResult.Stuck, 'access keeps faulting');
    this.ctx.start(vma, idx, this.write);
    this.faulting = true;
    this.p.mm.faultsInFlight++;
    return false;
  }

  private fail(r: FaultResult, why: string): boolean {
    this.result = r;
    this.addr = this.addrNow;
    this.why = why;
    return true;
  }
}

/**
 * An operation that is one atomic step. mprotect, munmap, mmap and exit take mmap_lock for writing: they wait
 * (the step does nothing) while a fault holds it for reading on the same mm.
 */
export class AtomicOp implements KernelOp {
  result: FaultResult = FaultResult.Ok;
  addr = -1;
  why = '';
  constructor(
    private readonly fn: () => { result: FaultResult; addr: number; why: string } | void,
    private readonly mm?: Mm,
  ) {}
  step(): boolean {
    if (this.mm !== undefined && this.mm.faultsInFlight > 0) return false;
    const r = this.fn();
    if (r !== undefined) {
      this.result = r.result;
      this.addr = r.addr;
      this.why = r.why;
    }
    return true;
  }
}

/** A small seeded PRNG (mulberry32): deterministic schedules for `race` under `--seed`. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}
