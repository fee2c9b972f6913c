/**
 * The scenario interpreter (SPEC §6): executes a parsed Scenario against a booted Machine and the process
 * layer. Statements run in order; `race` interleaves its threads' kernel operations one atomic step at a time
 * under a seeded schedule; `expect` is evaluated by expr.ts against this file's ExpectContext; with `check`
 * the SPEC §5 invariants are verified after every statement (and every step of a race).
 *
 * Output goes through `emit` (the run command decides between text and JSON). Bad scenario input found only at
 * run time (unknown process or VMA, a statement the model does not support yet) is an InputError at the
 * statement's position (exit 2).
 */
import { InputError, formatPos, type SrcPos } from '../errors.js';
import { checkInvariants } from '../invariants/check.js';
import { FaultResult } from '../process/fault.js';
import { forkProcess } from '../process/fork.js';
import type { OpResult, ProcessLayer } from '../process/layer.js';
import type { Process } from '../process/mm.js';
import { SwapSystem } from '../process/swap.js';
import { VM_MTE, VM_READ, VM_WRITE } from '../process/mm.js';
import { PTE_PRESENT_MASK, PTE_SWAP } from '../process/pte.js';
import type { ByteRange, ExpectStmt, Prot, ProcStmt, Scenario, ShowStmt, Stmt, ThreadStmt } from './ast.js';
import { evaluateExpect, formatExpectFailure, type ExpectContext, type QueryRange } from './expr.js';
import { AtomicOp, Rng, TouchOp, type KernelOp, type Machine } from './runtime.js';
import {
  CompactStepOp,
  MigrateVmaOp,
  MigrationWaitOp,
  needSupport,
  resolveTarget,
  runCompact,
  runMigrate,
} from './migrate_ops.js';
import { formatSize } from './sizes.js';

export interface ExpectRecord {
  pos: string;
  text: string;
  ok: boolean;
  left: number | string;
  right: number | string;
}

/** Events the interpreter reports to the run command, in order. */
export type RunEvent =
  | { kind: 'log'; text: string }
  | { kind: 'show'; what: string; text: string }
  | { kind: 'expect'; record: ExpectRecord; line: string }
  | { kind: 'note'; text: string }
  | { kind: 'violation'; pos: string; messages: string[] };

export interface InterpreterOptions {
  seed: number;
  check: boolean;
  emit: (e: RunEvent) => void;
  /**
   * Picks the thread that runs the next atomic step of a `race` (an index into `runnable`, the threads with
   * work left, in thread order). Default: uniformly at random from the seeded PRNG. `explore` drives it to
   * enumerate schedules; `race` is the number of the race block in the run (0-based), `step` the step in it.
   */
  chooseThread?: (runnable: readonly number[], race: number, step: number) => number;
}

/** The statements issue #5 brings (swap, migration, compaction, pressure, fork). */
const NOT_MODELLED: Partial<Record<string, string>> = {};

/** Thrown to stop the run after an invariant violation under --check. */
export class InvariantStop extends Error {
  override readonly name = 'InvariantStop';
}

export class Interpreter implements ExpectContext {
  failures = 0;
  violations = 0;
  /** Race blocks run so far. */
  races = 0;
  private logFrom = 0;
  private readonly rng: Rng;

  constructor(
    readonly machine: Machine,
    readonly layer: ProcessLayer,
    readonly opts: InterpreterOptions,
  ) {
    this.rng = new Rng(opts.seed);
  }

  /** Runs every statement of the scenario. Throws InputError on bad input, InvariantStop on a violation. */
  run(sc: Scenario): void {
    this.flushLog();
    this.configSwap(sc);
    for (const s of sc.body) this.exec(s);
    this.flushLog();
  }

  /** Emits the log lines printed since the last call (the kernel log as it grows). */
  flushLog(): void {
    const log = this.machine.log;
    if (log.length > this.logFrom) {
      const text = log.dmesg('info', this.logFrom);
      this.logFrom = log.length;
      if (text !== '') this.opts.emit({ kind: 'log', text });
    }
  }

  private exec(s: Stmt): void {
    switch (s.kind) {
      case 'process': {
        const old = this.layer.processes.get(s.name.name);
        if (old !== undefined && old.alive) throw new InputError(`process '${s.name.name}' already exists`, s.name.pos);
        this.layer.createProcess(s.name.name);
        break;
      }
      case 'repeat':
        for (let i = 0; i < s.count.value; i++) for (const b of s.body) this.exec(b);
        return;
      case 'race':
        this.race(s.threads.map((t) => t.body));
        return;
      case 'show':
        this.show(s);
        break;
      case 'expect':
        this.expect(s);
        break;
      case 'compact':
        // compact_nodes() (src/scenario/migrate_ops.ts)
        runCompact(this.layer, needSupport(this.machine.migration, 'compact', s.pos));
        break;
      case 'pressure':
        this.pressure(s.size.value, s.pos);
        break;
      default: {
        if (this.skipKilled(s)) break;
        // `current` for the OOM killer; a victim that is `current` exits when its statement ends.
        const sw = this.swapSys();
        if (sw !== undefined) sw.current = this.layer.processes.get(s.proc.name);
        try {
          this.finishOp(s, this.runSequential(s));
        } finally {
          if (sw !== undefined) {
            sw.current = undefined;
            sw.reapPending();
          }
        }
      }
    }
    // `show` and `expect` only read the machine: the invariants that held before them still hold.
    this.afterStep(s.pos, s.kind !== 'show' && s.kind !== 'expect');
  }

  private afterStep(pos: SrcPos, changed = true): void {
    // The CPU is free: OOM victims exit, woken kswapd threads run (src/process/swap.ts background()).
    this.swapSys()?.background();
    this.flushLog();
    if (!this.opts.check || !changed) return;
    const v = checkInvariants(this.layer);
    if (v.length === 0) return;
    this.violations++;
    this.opts.emit({ kind: 'violation', pos: formatPos(pos), messages: v });
    throw new InvariantStop(`invariant violated at ${formatPos(pos)}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Process statements

  private proc(s: ProcStmt): Process {
    const p = this.layer.processes.get(s.proc.name);
    if (p === undefined)
      throw new InputError(`no process '${s.proc.name}' (create it with 'process ${s.proc.name}')`, s.proc.pos);
    if (!p.alive) throw new InputError(`process '${s.proc.name}' has exited`, s.proc.pos);
    return p;
  }

  /** The absolute [start, end) of a statement's range inside mapping `vma` of p. */
  private span(p: Process, vma: { name: string; pos: SrcPos }, range: ByteRange | undefined): [number, number] {
    const m = p.named.get(vma.name);
    if (m === undefined) throw new InputError(`no VMA '${vma.name}' in process '${p.comm}'`, vma.pos);
    if (range === undefined) return [m.start, m.end];
    if (range.end > m.end - m.start) {
      throw new InputError(
        `range ${formatSize(range.start)}..${formatSize(range.end)} is outside VMA '${vma.name}' (${formatSize(m.end - m.start)})`,
        range.pos,
      );
    }
    return [m.start + range.start, m.start + range.end];
  }

  private static protFlags(prot: Prot): number {
    return (prot.read || prot.write ? VM_READ : 0) | (prot.write ? VM_WRITE : 0) | (prot.mte ? VM_MTE : 0);
  }

  /**
   * A statement of a process the OOM killer has killed does not run (the task got SIGKILL): a note says so, and
   * the scenario goes on. Which process the killer picks depends on the whole run, so this is no input error.
   */
  private skipKilled(s: ProcStmt): boolean {
    const why = this.notRunWhy(s);
    if (why === undefined) return false;
    this.note(`${formatPos(s.pos)}: ${s.proc.name}: ${s.kind}: not run, ${why}`);
    if (s.kind === 'fork') this.unborn.set(s.child.name, `its fork at ${formatPos(s.pos)} did not run`);
    return true;
  }
  /** Why statement s cannot run (its process was OOM-killed, or never forked), or undefined when it can. */
  private notRunWhy(s: ProcStmt): string | undefined {
    const p = this.layer.processes.get(s.proc.name);
    if (p !== undefined && p.oomKilled) return 'the process was killed by the OOM killer';
    if (p === undefined || !p.alive) return this.unborn.get(s.proc.name);
    return undefined;
  }
  /** Children whose `fork` did not happen (-ENOMEM, or a parent the OOM killer had killed): name -> why. */
  private readonly unborn = new Map<string, string>();

  /** Runs a process statement at once (the fast path); returns its result. */
  private runSequential(s: ProcStmt): OpResult {
    const L = this.layer;
    const ok: OpResult = { result: FaultResult.Ok, addr: -1, why: '' };
    const why = NOT_MODELLED[s.kind];
    if (why !== undefined) throw new InputError(why, s.pos);
    const p = this.proc(s);
    switch (s.kind) {
      case 'mmap': {
        if (p.named.has(s.vma.name))
          throw new InputError(`VMA '${s.vma.name}' already exists in process '${p.comm}'`, s.vma.pos);
        const v = L.mmap(p, s.vma.name, s.size.value, Interpreter.protFlags(s.prot), s.shared, s.thp);
        if (v === null)
          throw new InputError(`mmap of ${formatSize(s.size.value)} does not fit in the address space`, s.size.pos);
        return ok;
      }
      case 'munmap': {
        const [a, b] = this.span(p, s.vma, undefined);
        L.munmap(p, a, b);
        p.named.delete(s.vma.name);
        return ok;
      }
      case 'mprotect': {
        const [a, b] = this.span(p, s.vma, s.range);
        L.mprotect(p, a, b, Interpreter.protFlags(s.prot));
        return ok;
      }
      case 'touch': {
        const [a, b] = this.span(p, s.vma, s.range);
        return L.touch(p, a, b, s.write);
      }
      case 'settag': {
        const [a, b] = this.span(p, s.vma, s.range);
        return L.settag(p, a, b, s.tag.value);
      }
      case 'access': {
        const [a, b] = this.span(p, s.vma, s.range);
        return L.access(p, a, b, s.tag.value);
      }
      case 'exit':
        L.exit(p);
        return ok;
      case 'fork': {
        // fork() with copy-on-write (src/process/fork.ts)
        const old = L.processes.get(s.child.name);
        if (old !== undefined && old.alive)
          throw new InputError(`process '${s.child.name}' already exists`, s.child.pos);
        const r = forkProcess(L, p, s.child.name);
        if (r.child === undefined) {
          this.note(`${formatPos(s.pos)}: ${s.proc.name}: fork: -ENOMEM`);
          this.unborn.set(s.child.name, `its fork at ${formatPos(s.pos)} failed`);
        }
        return ok;
      }
      case 'migrate': {
        // move_pages of the range's resident pages (src/scenario/migrate_ops.ts)
        const [a, b] = this.span(p, s.vma, s.range);
        runMigrate(L, needSupport(this.machine.migration, 'migrate', s.pos), p, a, b, s.target);
        return ok;
      }
      case 'pageout': {
        // MADV_PAGEOUT (src/process/swap.ts); without a swap area nothing can be paged out.
        const sw = this.swapSys();
        if (sw === undefined) throw new InputError('pageout needs the swap model (a booted machine)', s.pos);
        const [a, b] = this.span(p, s.vma, s.range);
        sw.pageout(p, a, b);
        return ok;
      }
      default: {
        const u = s as ProcStmt;
        throw new InputError(`${u.kind} is not supported`, u.pos);
      }
    }
  }

  /** The same statements as KernelOps for `race`. */
  private opFor(s: ThreadStmt): KernelOp {
    const L = this.layer;
    // Killed (or never forked) before its thread reached this statement: nothing runs (see skipKilled).
    if ('proc' in s && this.notRunWhy(s) !== undefined) return new AtomicOp(() => void this.skipKilled(s));
    if (s.kind === 'compact') return new CompactStepOp(L, needSupport(this.machine.migration, 'compact', s.pos));
    if (s.kind === 'migrate') {
      const p = this.proc(s);
      const [a, b] = this.span(p, s.vma, s.range);
      const ms = needSupport(this.machine.migration, 'migrate', s.pos);
      return new MigrateVmaOp(L, ms, p, a, b, resolveTarget(s.target, ms));
    }
    if (s.kind === 'pressure') {
      const bytes = s.size.value;
      const pos = s.pos;
      return new AtomicOp(() => this.pressure(bytes, pos));
    }
    if (s.kind === 'touch') {
      const p = this.proc(s);
      const [a, b] = this.span(p, s.vma, s.range);
      return new TouchOp(L, p, a, b, s.write);
    }
    const p = this.layer.processes.get(s.proc.name);
    const locks =
      s.kind === 'mprotect' || s.kind === 'munmap' || s.kind === 'mmap' || s.kind === 'exit' || s.kind === 'fork';
    const op = new AtomicOp(() => this.runSequential(s), locks ? p?.mm : undefined);
    if (s.kind === 'settag' || s.kind === 'access') {
      // migration_entry_wait (src/scenario/migrate_ops.ts)
      const [a, b] = this.span(this.proc(s), s.vma, s.range);
      return new MigrationWaitOp(op, L, this.proc(s), a, b);
    }
    return op;
  }

  /** The swap system installed on the layer (src/process/swap.ts), if any. */
  private swapSys(): SwapSystem | undefined {
    const sw = this.layer.swap;
    return sw instanceof SwapSystem ? sw : undefined;
  }

  /** `config swap=SIZE`: swapon once (a later scenario file's swap size is ignored, like its other config). */
  private configSwap(sc: Scenario): void {
    const swap = sc.config.swap;
    if (swap === undefined || swap.value === 0) return;
    const sw = this.swapSys();
    if (sw === undefined) throw new InputError('swap needs the swap model (a booted machine)', swap.pos);
    if (sw.state.device === undefined) sw.swapon(swap.value);
  }

  /** `pressure SIZE`: a kernel allocation that reclaims (and OOM-kills) as needed (src/process/swap.ts). */
  private pressure(bytes: number, pos: SrcPos): void {
    const sw = this.swapSys();
    if (sw === undefined || sw.alloc === undefined)
      throw new InputError('pressure needs the page allocator of a booted machine', pos);
    const want = Math.ceil(bytes / this.layer.port.pageSize);
    const got = sw.pressure(bytes);
    sw.reapPending();
    if (got < want) this.note(`${formatPos(pos)}: pressure: page allocation failure after ${got} of ${want} pages`);
  }

  private finishOp(s: ProcStmt | ThreadStmt, r: OpResult): void {
    if (r.result === FaultResult.Ok) return;
    const at = r.addr >= 0 ? ` at 0x${r.addr.toString(16)}` : '';
    if (r.result === FaultResult.NotModelled) throw new InputError(`${r.why} (${s.kind}${at})`, s.pos);
    const who = 'proc' in s ? `${s.proc.name}: ${s.kind}` : s.kind;
    const sig = this.layer.signals[this.layer.signals.length - 1];
    if (r.result === FaultResult.Oom) {
      this.note(`${formatPos(s.pos)}: ${who}: VM_FAULT_OOM${at}`);
    } else if (r.result === FaultResult.Stuck) {
      this.note(`${formatPos(s.pos)}: ${who}: ${r.why}`);
    } else if (sig !== undefined) {
      this.note(`${formatPos(s.pos)}: ${who}: SIGSEGV (${sig.code}) at 0x${sig.addr.toString(16).padStart(16, '0')}`);
    }
  }

  private note(text: string): void {
    this.flushLog();
    this.opts.emit({ kind: 'note', text });
  }

  /** One seeded schedule of a race: at every step a random thread with work left advances one atomic step. */
  private race(threads: readonly (readonly ThreadStmt[])[]): void {
    this.layer.trackInflight = true;
    try {
      this.raceSchedule(threads);
    } finally {
      this.layer.trackInflight = false;
    }
  }

  private raceSchedule(threads: readonly (readonly ThreadStmt[])[]): void {
    const raceNo = this.races++;
    let step = 0;
    const pc = threads.map(() => 0);
    const cur: (KernelOp | null)[] = threads.map(() => null);
    const curStmt: (ThreadStmt | null)[] = threads.map(() => null);
    for (;;) {
      const runnable: number[] = [];
      for (let t = 0; t < threads.length; t++) if (cur[t] !== null || pc[t]! < threads[t]!.length) runnable.push(t);
      if (runnable.length === 0) break;
      const pick =
        this.opts.chooseThread !== undefined
          ? this.opts.chooseThread(runnable, raceNo, step)
          : this.rng.below(runnable.length);
      step++;
      const t = runnable[pick];
      if (t === undefined) throw new RangeError(`chooseThread picked ${pick} of ${runnable.length} runnable threads`);
      let op = cur[t]!;
      if (op === null) {
        const s = threads[t]![pc[t]!++]!;
        curStmt[t] = s;
        op = this.opFor(s);
        cur[t] = op;
      }
      const stmt = curStmt[t]!;
      if (op.step()) {
        cur[t] = null;
        this.finishOp(stmt, op);
      }
      this.layer.flush();
      this.afterStep(stmt.pos);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // show, expect

  private show(s: ShowStmt): void {
    if (s.what === 'tags') {
      const p = this.layer.processes.get(s.proc.name);
      if (p === undefined) throw new InputError(`no process '${s.proc.name}'`, s.proc.pos);
      const [a, b] = this.span(p, s.vma, s.range);
      this.flushLog();
      this.opts.emit({ kind: 'show', what: 'tags', text: this.tagDump(p, a, b) });
      return;
    }
    this.flushLog();
    const text = s.what === 'dmesg' ? this.machine.log.dmesg() : this.machine.procText(s.what);
    if (text === undefined) throw new InputError(`show ${s.what} is not available yet`, s.whatPos);
    this.opts.emit({ kind: 'show', what: s.what, text });
  }

  /** One line per 1 KiB (64 granules): the address and one hex digit per granule tag; `-` where not resident. */
  private tagDump(p: Process, start: number, end: number): string {
    const L = this.layer;
    const ps = L.port.pageSize;
    let out = '';
    for (let line = Math.floor(start / 1024) * 1024; line < end; line += 1024) {
      let digits = '';
      for (let g = 0; g < 64; g++) {
        const addr = line + g * 16;
        if (addr < start || addr >= end) {
          digits += ' ';
          continue;
        }
        const v = p.mm.findVma(addr);
        const f = v === undefined ? 0 : v.pte[Math.floor((addr - v.start) / ps)]!;
        digits += (f & PTE_PRESENT_MASK) === 0 ? '-' : L.tagAt(p, addr).toString(16);
      }
      out += `0x${line.toString(16).padStart(12, '0')}  ${digits.trimEnd()}\n`;
    }
    return out;
  }

  private expect(s: ExpectStmt): void {
    this.layer.flush();
    this.flushLog();
    const r = evaluateExpect(s.expr, this);
    const record: ExpectRecord = { pos: formatPos(s.pos), text: r.text, ok: r.ok, left: r.left, right: r.right };
    if (!r.ok) this.failures++;
    this.opts.emit({ kind: 'expect', record, line: r.ok ? '' : formatExpectFailure(s, r) });
  }

  // ExpectContext
  counter(
    file: Parameters<ExpectContext['counter']>[0],
    name: string,
    zone?: Parameters<ExpectContext['counter']>[2],
    order?: number,
  ): number | undefined {
    this.layer.flush();
    return this.machine.counter(file, name, zone, order);
  }

  dmesg(): string {
    return this.machine.log.dmesg('debug');
  }

  private mapping(proc: string, vma: string): [Process, { start: number; end: number }] | undefined {
    const p = this.layer.processes.get(proc);
    const m = p?.named.get(vma);
    if (p === undefined || m === undefined) return undefined;
    return [p, m];
  }

  vmaTagged(proc: string, vma: string): boolean | undefined {
    const pm = this.mapping(proc, vma);
    if (pm === undefined) return undefined;
    const [p, m] = pm;
    const v = p.mm.vmas.filter((x) => x.start < m.end && x.end > m.start);
    return v.length > 0 && v.every((x) => x.tagged);
  }

  vmaTag(proc: string, vma: string, range: QueryRange | undefined): number | string | undefined {
    const pm = this.mapping(proc, vma);
    if (pm === undefined) return undefined;
    const [p, m] = pm;
    const a = range === undefined ? m.start : m.start + range.start;
    const b = range === undefined ? m.end : m.start + range.end;
    const L = this.layer;
    const ps = L.port.pageSize;
    const seen = new Set<number>();
    for (let addr = Math.floor(a / 16) * 16; addr < b && seen.size <= 4;) {
      const v = p.mm.findVma(addr);
      const idx = v === undefined ? 0 : Math.floor((addr - v.start) / ps);
      if (v === undefined || (v.pte[idx]! & PTE_PRESENT_MASK) === 0) return 'not resident';
      const pageStart = v.start + idx * ps;
      const pageEnd = Math.min(pageStart + ps, b);
      const pfn = v.pfn[idx]!;
      for (let g = (addr - pageStart) / 16; pageStart + g * 16 < pageEnd; g++) seen.add(L.tags.getTag(pfn, g));
      addr = pageEnd;
    }
    if (seen.size === 1) return [...seen][0]!;
    return `mixed ${[...seen].sort((x, y) => x - y).join(',')}`;
  }

  private pages(proc: string, vma: string, range: QueryRange | undefined, swapped: boolean): number | undefined {
    const pm = this.mapping(proc, vma);
    if (pm === undefined) return undefined;
    const [p, m] = pm;
    const a = range === undefined ? m.start : m.start + range.start;
    const b = range === undefined ? m.end : m.start + range.end;
    void PTE_SWAP;
    return this.layer.countPages(p, a, b, swapped ? 'swapped' : 'resident');
  }

  vmaResident(proc: string, vma: string, range?: QueryRange): number | undefined {
    return this.pages(proc, vma, range, false);
  }

  vmaSwapped(proc: string, vma: string, range?: QueryRange): number | undefined {
    return this.pages(proc, vma, range, true);
  }
}
