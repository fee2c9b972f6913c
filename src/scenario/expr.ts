/**
 * Evaluation of `expect` expressions (SPEC §6) against the state of the emulated machine. The interpreter
 * implements ExpectContext (counter look-ups, the log, mapping queries); this file owns the semantics:
 * integer arithmetic (`/` truncates toward zero), comparisons, substring log matches, and the run-time errors
 * (unknown counter, unknown mapping, division by zero, overflow), each an InputError at the token's SrcPos.
 */

import { InputError, formatPos } from '../errors.js';
import type { Arith, CompareOp, CounterFile, ExpectStmt, Expr, ZoneName } from './ast.js';
import { formatSize } from './sizes.js';

/** A byte range inside a VMA, [start, end). */
export interface QueryRange {
  readonly start: number;
  readonly end: number;
}

/**
 * What `expect` needs from the machine. Every look-up returns `undefined` for "no such thing"; evaluateExpect
 * turns that into an InputError at the right position (the interpreter may also throw its own InputError).
 */
export interface ExpectContext {
  /**
   * A counter as /proc prints it: meminfo in kB (`name` = label without the colon, e.g. `MemFree`,
   * `Active(anon)`), vmstat by name, buddyinfo free blocks of `order` in `zone`, zoneinfo field `name` of `zone`.
   */
  counter(file: CounterFile, name: string, zone?: ZoneName, order?: number): number | undefined;
  /** The whole log so far, as `show dmesg` would print it. */
  dmesg(): string;
  /** Returns true if the VMA is mapped PROT_MTE (VM_MTE); undefined when the process or VMA does not exist. */
  vmaTagged(proc: string, vma: string): boolean | undefined;
  /**
   * The allocation tag of every 16-byte granule the range overlaps: a number 0..15 when they all agree, else a
   * short description such as `mixed 3,5` or `not resident` (which compares unequal to every number).
   */
  vmaTag(proc: string, vma: string, range: QueryRange): number | string | undefined;
  /** Pages of the range (whole VMA when absent) present in memory. */
  vmaResident(proc: string, vma: string, range?: QueryRange): number | undefined;
  /** Pages of the range (whole VMA when absent) swapped out. */
  vmaSwapped(proc: string, vma: string, range?: QueryRange): number | undefined;
}

export interface ExpectResult {
  readonly ok: boolean;
  /** The left side's value (for dmesg: `dmesg`; for tagged: `tagged` or `untagged`). */
  readonly left: number | string;
  /** The right side's value (for dmesg: the pattern; for tagged: `tagged`). */
  readonly right: number | string;
  /** The expression, printed canonically. */
  readonly text: string;
}

type Value = number | string;

function evalArith(a: Arith, ctx: ExpectContext): Value {
  switch (a.kind) {
    case 'number':
      return a.value;
    case 'counter': {
      const v = ctx.counter(a.file, a.name, a.zone, a.order);
      if (v === undefined) throw new InputError(`unknown counter ${a.text}`, a.pos);
      return v;
    }
    case 'query': {
      const r = a.range !== undefined ? { start: a.range.start, end: a.range.end } : undefined;
      let v: Value | undefined;
      if (a.query === 'tag') v = ctx.vmaTag(a.proc.name, a.vma.name, r as QueryRange);
      else if (a.query === 'resident') v = ctx.vmaResident(a.proc.name, a.vma.name, r);
      else v = ctx.vmaSwapped(a.proc.name, a.vma.name, r);
      if (v === undefined) throw new InputError(`no VMA '${a.vma.name}' in process '${a.proc.name}'`, a.pos);
      return v;
    }
    case 'negate': {
      const v = evalArith(a.operand, ctx);
      return typeof v === 'number' ? checked(-v, a.pos) : v;
    }
    case 'binary': {
      const l = evalArith(a.left, ctx);
      const r = evalArith(a.right, ctx);
      // A non-number (e.g. `mixed 3,5` from tag()) poisons the arithmetic; the comparison then fails.
      if (typeof l !== 'number') return l;
      if (typeof r !== 'number') return r;
      switch (a.op) {
        case '+':
          return checked(l + r, a.pos);
        case '-':
          return checked(l - r, a.pos);
        case '*':
          return checked(l * r, a.pos);
        case '/':
          if (r === 0) throw new InputError('division by zero in expect', a.pos);
          return checked(Math.trunc(l / r), a.pos);
      }
    }
  }
}

function checked(v: number, pos: Arith['pos']): number {
  if (!Number.isSafeInteger(v)) throw new InputError('arithmetic overflow in expect', pos);
  return v === 0 ? 0 : v; // no -0
}

function compare(op: CompareOp, l: Value, r: Value): boolean {
  if (typeof l !== 'number' || typeof r !== 'number') {
    // Descriptions compare equal only to themselves; ordering is never true.
    if (op === '==') return l === r;
    if (op === '!=') return l !== r;
    return false;
  }
  switch (op) {
    case '==':
      return l === r;
    case '!=':
      return l !== r;
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    case '>=':
      return l >= r;
  }
}

/** Evaluates an expect expression. Throws InputError for unknown counters or mappings and bad arithmetic. */
export function evaluateExpect(expr: Expr, ctx: ExpectContext): ExpectResult {
  const text = formatExpr(expr);
  switch (expr.kind) {
    case 'dmesg': {
      const found = ctx.dmesg().includes(expr.pattern);
      return { ok: found !== expr.negate, left: 'dmesg', right: expr.pattern, text };
    }
    case 'tagged': {
      const t = ctx.vmaTagged(expr.proc.name, expr.vma.name);
      if (t === undefined) {
        throw new InputError(`no VMA '${expr.vma.name}' in process '${expr.proc.name}'`, expr.pos);
      }
      return { ok: t, left: t ? 'tagged' : 'untagged', right: 'tagged', text };
    }
    case 'compare': {
      const left = evalArith(expr.left, ctx);
      const right = evalArith(expr.right, ctx);
      return { ok: compare(expr.op, left, right), left, right, text };
    }
  }
}

const PREC: Record<'+' | '-' | '*' | '/', number> = { '+': 1, '-': 1, '*': 2, '/': 2 };

function formatArith(a: Arith, parentPrec = 0, rightSide = false): string {
  switch (a.kind) {
    case 'number':
      return a.value >= 1024 && a.value % 1024 === 0 ? formatSize(a.value) : String(a.value);
    case 'counter':
      return a.text;
    case 'query': {
      const r = a.range !== undefined ? `(${formatSize(a.range.start)}..${formatSize(a.range.end)})` : '';
      return `${a.proc.name}:${a.vma.name} ${a.query}${r}`;
    }
    case 'negate':
      return `-${formatArith(a.operand, 3)}`;
    case 'binary': {
      const p = PREC[a.op];
      const s = `${formatArith(a.left, p)} ${a.op} ${formatArith(a.right, p, true)}`;
      return p < parentPrec || (rightSide && p === parentPrec) ? `(${s})` : s;
    }
  }
}

/** The expression printed canonically (sizes as 4K/1M, minimal parentheses). */
export function formatExpr(e: Expr): string {
  switch (e.kind) {
    case 'dmesg':
      return `dmesg ${e.negate ? '!~' : '~'} ${JSON.stringify(e.pattern)}`;
    case 'tagged':
      return `${e.proc.name}:${e.vma.name} tagged`;
    case 'compare':
      return `${formatArith(e.left)} ${e.op} ${formatArith(e.right)}`;
  }
}

/** The line a failed expect prints: `file:line:col: expect failed: EXPR (left 3, right 10)`. */
export function formatExpectFailure(stmt: ExpectStmt, r: ExpectResult): string {
  const show = (v: number | string): string => (typeof v === 'number' ? String(v) : JSON.stringify(v));
  if (stmt.expr.kind === 'dmesg') {
    const what = stmt.expr.negate ? 'the log contains' : 'the log does not contain';
    return `${formatPos(stmt.pos)}: expect failed: ${stmt.text} (${what} ${show(r.right)})`;
  }
  return `${formatPos(stmt.pos)}: expect failed: ${stmt.text} (left ${show(r.left)}, right ${show(r.right)})`;
}
