/**
 * Parser of the scenario language (SPEC §6): text → Scenario (ast.ts), with every error an InputError at the
 * offending token (`file:line:col: error: message`).
 *
 * Recursive descent over the pull lexer, one token of look-ahead (plus a short back-track inside `expect`).
 * Semantic checks run as statements are parsed (so errors come out in file order): processes exist before
 * use and are not reused, VMAs are mapped before use, ranges lie inside their VMA. A `repeat` body that
 * changes the set of processes or VMAs is checked a second time as its next iteration would see it; each
 * `race` thread is checked from the state before the race, and their effects are merged afterwards.
 * Work is linear in the input: nesting depth is capped and second passes stop after a fixed budget.
 */

import { InputError, formatPos, type SrcPos } from '../errors.js';
import {
  CONFIG_KEYS,
  COUNTER_FILES,
  SHOW_FILES,
  ZONE_NAMES,
  type Arith,
  type ByteRange,
  type CompareOp,
  type ConfigKey,
  type CounterFile,
  type CounterRef,
  type Expr,
  type Located,
  type MappingQuery,
  type MigrateTarget,
  type Name,
  type Prot,
  type RaceThread,
  type Scenario,
  type ScenarioConfig,
  type ShowFile,
  type Stmt,
  type ThreadStmt,
  type ZoneName,
} from './ast.js';
import { Lexer, type Token } from './lexer.js';
import {
  DEFAULT_PAGE_SIZE,
  MAX_MAPPING_SIZE,
  MTE_GRANULE_SIZE,
  PAGE_SIZES,
  formatSize,
  parseSizeText,
} from './sizes.js';

/** Deepest nesting of `{ }` blocks and of parentheses in an expression. */
export const MAX_BLOCK_DEPTH = 32;
export const MAX_PAREN_DEPTH = 64;
/** Largest `repeat` count, and largest product of the counts of nested repeats (bounded run time). */
export const MAX_REPEAT = 1_000_000;
/** Most operators in one expect expression (evaluation recurses over the tree). */
export const MAX_EXPR_OPS = 1000;
/** Statement checks spent on second passes of `repeat` bodies before we stop doing them. */
const SECOND_PASS_BUDGET = 200_000;

const PROC_VERBS = [
  'mmap',
  'munmap',
  'mprotect',
  'touch',
  'settag',
  'access',
  'pageout',
  'migrate',
  'fork',
  'exit',
] as const;
type ProcVerb = (typeof PROC_VERBS)[number];

const CMP_OPS: readonly string[] = ['==', '!=', '<', '<=', '>', '>='];

type BlockKind = 'top' | 'repeat' | 'thread';

/** Quoted list for messages: `a, b or c`. */
function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'newline':
      return 'end of line';
    case 'eof':
      return 'end of file';
    case 'string':
      return `string "${t.text}"`;
    default:
      return `'${t.text}'`;
  }
}

const at = (pos: SrcPos): string => formatPos(pos);

/** Edit distance (Levenshtein) of two short words, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** The closest candidate within 2 edits (and less than half the word), if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= 2 && bestD * 2 < word.length ? best : undefined;
}

const STATEMENT_KEYWORDS = ['boot', 'config', 'process', 'compact', 'pressure', 'repeat', 'race', 'show', 'expect'];

const isName = (s: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s);

function zoneByName(s: string): ZoneName | undefined {
  return ZONE_NAMES.find((z) => z.toLowerCase() === s.toLowerCase());
}

// ---------------------------------------------------------------------------------------------------------
// Semantic state: which processes and VMAs exist at a point of the straight-line program.

interface VmaInfo {
  readonly size: number;
  readonly mapped: SrcPos;
  readonly unmapped?: SrcPos;
}

interface ProcInfo {
  readonly created: SrcPos;
  readonly exited?: SrcPos;
  readonly vmas: Map<string, VmaInfo>;
}

type SemState = Map<string, ProcInfo>;

function cloneState(s: SemState): SemState {
  const out: SemState = new Map();
  for (const [k, p] of s) out.set(k, { ...p, vmas: new Map(p.vmas) });
  return out;
}

class Sema {
  state: SemState = new Map();
  /** Every name ever created, for the "duplicate" check (names are unique for the whole file). */
  private everCreated = new Map<string, SrcPos>();
  /** Bumped on every change of processes or VMAs. */
  version = 0;
  work = 0;

  private proc(name: Name): ProcInfo {
    const p = this.state.get(name.name);
    if (p === undefined) {
      throw new InputError(`unknown process '${name.name}' (create it first with 'process ${name.name}')`, name.pos);
    }
    if (p.exited !== undefined) {
      throw new InputError(`process '${name.name}' has exited (at ${at(p.exited)})`, name.pos);
    }
    return p;
  }

  private vma(proc: Name, vma: Name): VmaInfo {
    const p = this.proc(proc);
    const v = p.vmas.get(vma.name);
    if (v === undefined) {
      throw new InputError(
        `unknown VMA '${vma.name}' in process '${proc.name}' (map it first with '${proc.name}: mmap ${vma.name} SIZE')`,
        vma.pos,
      );
    }
    if (v.unmapped !== undefined) {
      throw new InputError(`VMA '${vma.name}' of process '${proc.name}' was unmapped at ${at(v.unmapped)}`, vma.pos);
    }
    return v;
  }

  private checkRange(proc: Name, vma: Name, range: ByteRange | undefined): void {
    const v = this.vma(proc, vma);
    if (range !== undefined && range.end > v.size) {
      throw new InputError(
        `range ${range.text} goes beyond the end of VMA '${vma.name}' (size ${formatSize(v.size)})`,
        range.pos,
      );
    }
  }

  private create(name: Name): void {
    const first = this.everCreated.get(name.name);
    if (first !== undefined) {
      throw new InputError(`duplicate process name '${name.name}' (first created at ${at(first)})`, name.pos);
    }
    this.everCreated.set(name.name, name.pos);
  }

  private checkExpr(e: Expr | Arith): void {
    switch (e.kind) {
      case 'compare':
      case 'binary':
        this.checkExpr(e.left);
        this.checkExpr(e.right);
        return;
      case 'negate':
        this.checkExpr(e.operand);
        return;
      case 'tagged':
        this.vma(e.proc, e.vma);
        return;
      case 'query':
        this.checkRange(e.proc, e.vma, e.range);
        return;
      default:
        return;
    }
  }

  apply(s: Stmt): void {
    this.work++;
    switch (s.kind) {
      case 'process':
        this.create(s.name);
        this.state.set(s.name.name, { created: s.name.pos, vmas: new Map() });
        this.version++;
        return;
      case 'mmap': {
        const p = this.proc(s.proc);
        const old = p.vmas.get(s.vma.name);
        if (old !== undefined && old.unmapped === undefined) {
          throw new InputError(
            `duplicate VMA name '${s.vma.name}' in process '${s.proc.name}' (mapped at ${at(old.mapped)})`,
            s.vma.pos,
          );
        }
        p.vmas.set(s.vma.name, { size: s.size.value, mapped: s.vma.pos });
        this.version++;
        return;
      }
      case 'munmap': {
        const v = this.vma(s.proc, s.vma);
        this.proc(s.proc).vmas.set(s.vma.name, { ...v, unmapped: s.pos });
        this.version++;
        return;
      }
      case 'mprotect':
      case 'touch':
      case 'pageout':
      case 'migrate':
      case 'settag':
      case 'access':
        this.checkRange(s.proc, s.vma, s.range);
        return;
      case 'fork': {
        const parent = this.proc(s.proc);
        this.create(s.child);
        const vmas = new Map<string, VmaInfo>();
        for (const [k, v] of parent.vmas) if (v.unmapped === undefined) vmas.set(k, v);
        this.state.set(s.child.name, { created: s.child.pos, vmas });
        this.version++;
        return;
      }
      case 'exit': {
        const p = this.proc(s.proc);
        this.state.set(s.proc.name, { ...p, exited: s.pos });
        this.version++;
        return;
      }
      case 'show':
        if (s.what === 'tags') this.checkRange(s.proc, s.vma, s.range);
        return;
      case 'expect':
        this.checkExpr(s.expr);
        return;
      case 'compact':
      case 'pressure':
        return;
      case 'repeat': {
        const v0 = this.version;
        for (const b of s.body) this.apply(b);
        this.afterRepeatBody(s.count.value, v0, s.body, s.pos);
        return;
      }
      case 'race': {
        const pre = this.state;
        const finals: SemState[] = [];
        for (const t of s.threads) {
          this.state = cloneState(pre);
          for (const b of t.body) this.apply(b);
          finals.push(this.state);
        }
        this.state = mergeRace(pre, finals);
        return;
      }
    }
  }

  /** A repeat body ran once; if it changed processes or VMAs, check what its second iteration would see. */
  afterRepeatBody(count: number, versionBefore: number, body: readonly Stmt[], pos: SrcPos): void {
    if (count < 2 || this.version === versionBefore || this.work > SECOND_PASS_BUDGET) return;
    try {
      for (const b of body) this.apply(b);
    } catch (e) {
      if (!(e instanceof InputError) || e.message.includes('second iteration')) throw e;
      throw new InputError(`${e.message}, on the second iteration of the repeat at ${at(pos)}`, e.where);
    }
  }

  /** Start of a race: returns the state threads start from. */
  snapshot(): SemState {
    return this.state;
  }
}

/** The state after a race: every process or VMA that some thread changed takes that thread's final version. */
function mergeRace(pre: SemState, finals: SemState[]): SemState {
  const out = cloneState(pre);
  for (const fin of finals) {
    for (const [name, p] of fin) {
      const before = pre.get(name);
      if (before === undefined) {
        out.set(name, { ...p, vmas: new Map(p.vmas) });
        continue;
      }
      const target = out.get(name) as ProcInfo;
      const merged: ProcInfo = {
        ...target,
        ...(p.exited !== undefined ? { exited: p.exited } : {}),
        vmas: target.vmas,
      };
      for (const [vn, v] of p.vmas) if (before.vmas.get(vn) !== v) merged.vmas.set(vn, v);
      out.set(name, merged);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

class Parser {
  private readonly lx: Lexer;
  private buf: Token | undefined;
  private last: Token | undefined;
  private readonly sema = new Sema();
  private depth = 0;
  private parenDepth = 0;
  private exprOps = 0;
  /** Product of the counts of the repeats being parsed. */
  private repeatProduct = 1;
  private pageSize = DEFAULT_PAGE_SIZE;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    this.lx = new Lexer(text, file);
  }

  // ---- token plumbing

  private peek(): Token {
    if (this.buf === undefined) this.buf = this.lx.next();
    return this.buf;
  }

  private advance(): Token {
    const t = this.peek();
    this.buf = undefined;
    this.last = t;
    return t;
  }

  private isPunct(p: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === p;
  }

  private isWord(w?: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && (w === undefined || t.text === w);
  }

  /** Returns true if the statement has ended: end of line, `;`, `}` or end of file comes next. */
  private atStmtEnd(): boolean {
    const t = this.peek();
    return t.kind === 'newline' || t.kind === 'eof' || (t.kind === 'punct' && (t.text === ';' || t.text === '}'));
  }

  /** An opening brace may stand on the next line. */
  private skipNewlines(): void {
    while (this.peek().kind === 'newline') this.advance();
  }

  private fail(message: string, pos: SrcPos): never {
    throw new InputError(message, pos);
  }

  private expectPunct(p: string, context: string): Token {
    const t = this.peek();
    if (t.kind !== 'punct' || t.text !== p) this.fail(`expected '${p}' ${context}, found ${describe(t)}`, t.pos);
    return this.advance();
  }

  /** True when the character after token `t` (skipping blanks) is a single ':'. */
  private followedByColon(t: Token): boolean {
    let i = t.end;
    while (this.text[i] === ' ' || this.text[i] === '\t') i++;
    return this.text[i] === ':';
  }

  private name(what: string): Name {
    const t = this.peek();
    if (t.kind !== 'word') this.fail(`expected ${what}, found ${describe(t)}`, t.pos);
    if (!isName(t.text)) this.fail(`bad ${what} '${t.text}' (letters, digits and '_' only)`, t.pos);
    this.advance();
    return { name: t.text, pos: t.pos };
  }

  /** A raw argument (file name, DT path): quoted string or a run of non-blank characters. */
  private rawArg(what: string, pos: SrcPos, allowEmpty = false): Token {
    if (this.buf !== undefined) {
      // Only blanks separated us from the buffered token, which is on this line: re-read it raw.
      if (this.buf.kind === 'newline' || this.buf.kind === 'eof') this.fail(`missing ${what}`, pos);
      this.lx.reset({ ...this.lx.mark(), offset: this.buf.start });
      this.buf = undefined;
    }
    const t = this.lx.raw();
    if (t.kind !== 'raw' && t.kind !== 'string') {
      this.buf = t;
      this.fail(`missing ${what}`, t.kind === 'newline' || t.kind === 'eof' ? pos : t.pos);
    }
    if (t.text === '' && !allowEmpty) this.fail(`empty ${what}`, t.pos);
    this.last = t;
    return t;
  }

  private endStmt(what: string): void {
    if (this.atStmtEnd()) {
      const t = this.peek();
      if (t.kind === 'newline' || (t.kind === 'punct' && t.text === ';')) this.advance();
      return;
    }
    const t = this.peek();
    this.fail(`unexpected ${describe(t)} after ${what}`, t.pos);
  }

  // ---- literals

  private number(what: string, opts: { suffix?: boolean } = {}): Located<number> {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '-') this.fail(`${what} must not be negative`, t.pos);
    if (t.kind !== 'number') this.fail(`expected ${what}, found ${describe(t)}`, t.pos);
    this.advance();
    const r = parseSizeText(t.text);
    if (!r.ok) this.fail(r.message, t.pos);
    if (r.suffixed && opts.suffix === false) this.fail(`${what} takes a plain number, not a size ('${t.text}')`, t.pos);
    return { value: r.value, pos: t.pos };
  }

  /** A size that a mapping needs: non-zero and a multiple of the page size. */
  private mappingSize(what: string, opts: { zeroOk?: boolean; max?: number } = {}): Located<number> {
    const written = this.peek().text;
    const n = this.number(what);
    if (n.value === 0 && opts.zeroOk !== true) this.fail(`${what} must not be zero`, n.pos);
    if (n.value % this.pageSize !== 0) {
      this.fail(`${what} ${written} is not a multiple of the page size (${formatSize(this.pageSize)})`, n.pos);
    }
    if (opts.max !== undefined && n.value > opts.max) {
      this.fail(`${what} ${written} is too large (at most ${formatSize(opts.max)})`, n.pos);
    }
    return n;
  }

  private tag(what: string): Located<number> {
    const n = this.number(what, { suffix: false });
    if (n.value > 15) this.fail(`tag ${n.value} out of range 0..15`, n.pos);
    return n;
  }

  /** `START..END` in bytes; start < end. */
  private range(): ByteRange {
    const first = this.peek();
    const s = this.number('range start');
    this.expectPunct('..', 'in range START..END');
    const e = this.number('range end');
    const text = this.text.slice(first.start, (this.last as Token).end);
    if (s.value >= e.value) this.fail(`empty range ${text} (start must be below end)`, s.pos);
    return { start: s.value, end: e.value, text, pos: s.pos };
  }

  private optRange(): ByteRange | undefined {
    return this.peek().kind === 'number' || this.isPunct('-') ? this.range() : undefined;
  }

  private alignRange(r: ByteRange | undefined, align: number, what: string): void {
    if (r === undefined) return;
    if (r.start % align !== 0 || r.end % align !== 0) {
      const unit = align === MTE_GRANULE_SIZE ? 'the 16-byte MTE granule' : `the page size (${formatSize(align)})`;
      this.fail(`${what} range ${r.text} is not aligned to ${unit}`, r.pos);
    }
  }

  /** `none`, `r`, `rw`, `r+mte`, `rw+mte` after `prot=`. */
  private prot(): Prot {
    const t = this.peek();
    const bad = (tok: Token): never =>
      this.fail(
        `bad protection ${tok.kind === 'word' ? `'${tok.text}'` : describe(tok)} (expected ${orList(['none', 'r', 'rw', 'r+mte', 'rw+mte'])})`,
        tok.pos,
      );
    if (t.kind !== 'word') bad(t);
    this.advance();
    let read: boolean;
    let write: boolean;
    if (t.text === 'none') [read, write] = [false, false];
    else if (t.text === 'r') [read, write] = [true, false];
    else if (t.text === 'rw') [read, write] = [true, true];
    else return bad(t);
    let mte = false;
    let text = t.text;
    if (this.isPunct('+')) {
      this.advance();
      const m = this.peek();
      if (m.kind !== 'word' || m.text !== 'mte') bad(m);
      if (t.text === 'none') this.fail(`bad protection 'none+mte' (PROT_MTE needs read or write access)`, m.pos);
      this.advance();
      mte = true;
      text += '+mte';
    }
    return { read, write, mte, text, pos: t.pos };
  }

  /** `KEY=` of an option; the key word has been peeked. */
  private optionKey(): Token {
    const k = this.advance();
    this.expectPunct('=', `after '${k.text}'`);
    return k;
  }

  // ---- statements

  parseFile(): Scenario {
    const config: Mutable<ScenarioConfig> = {};
    const configPos = new Map<ConfigKey, SrcPos>();
    let boot: Located<string> | undefined;
    let bootKw: SrcPos | undefined;
    const body: Stmt[] = [];
    let firstBody: SrcPos | undefined;

    while (true) {
      const t = this.peek();
      if (t.kind === 'eof') break;
      if (t.kind === 'newline' || (t.kind === 'punct' && t.text === ';')) {
        this.advance();
        continue;
      }
      if (t.kind === 'punct' && t.text === '}') this.fail(`unexpected '}' (no matching '{')`, t.pos);
      if (t.kind === 'word' && (t.text === 'boot' || t.text === 'config') && !this.followedByColon(t)) {
        if (firstBody !== undefined) {
          this.fail(`'${t.text}' must come before every other statement (the first is at ${at(firstBody)})`, t.pos);
        }
        this.advance();
        if (t.text === 'boot') {
          if (bootKw !== undefined) this.fail(`duplicate 'boot' (first at ${at(bootKw)})`, t.pos);
          bootKw = t.pos;
          const p = this.rawArg('device tree file after boot', t.pos);
          boot = { value: p.text, pos: p.pos };
          this.endStmt('boot PATH');
        } else {
          this.config(t, config, configPos);
        }
        continue;
      }
      firstBody ??= t.pos;
      body.push(this.statement('top'));
    }
    return {
      file: this.file,
      ...(boot !== undefined ? { boot } : {}),
      config,
      assumedPageSize: this.pageSize,
      body,
    };
  }

  private config(kw: Token, config: Mutable<ScenarioConfig>, seen: Map<ConfigKey, SrcPos>): void {
    if (this.atStmtEnd()) {
      this.fail(`config needs KEY=VALUE (keys: ${CONFIG_KEYS.join(', ')})`, kw.pos);
    }
    while (!this.atStmtEnd()) {
      const k = this.peek();
      if (k.kind !== 'word') this.fail(`expected KEY=VALUE, found ${describe(k)}`, k.pos);
      const key = CONFIG_KEYS.find((c) => c === k.text);
      if (key === undefined) {
        const hint = closest(k.text, CONFIG_KEYS);
        const dym = hint !== undefined ? `did you mean '${hint}'? ` : '';
        this.fail(`unknown config key '${k.text}' (${dym}known keys: ${CONFIG_KEYS.join(', ')})`, k.pos);
      }
      const first = seen.get(key);
      if (first !== undefined) this.fail(`duplicate config key '${key}' (first set at ${at(first)})`, k.pos);
      seen.set(key, k.pos);
      this.optionKey();
      if (key === 'cmdline') {
        // cmdline="" is allowed: it replaces the DT's bootargs with nothing.
        const v = this.rawArg(`value for config key '${key}'`, k.pos, true);
        config.cmdline = { value: v.text, pos: v.pos };
        continue;
      }
      const v = this.peek();
      if (v.kind === 'newline' || v.kind === 'eof') this.fail(`missing value for config key '${key}'`, v.pos);
      switch (key) {
        case 'fix.metadata_none':
        case 'fix.pfn_tags': {
          if (v.kind !== 'word' || (v.text !== 'on' && v.text !== 'off')) {
            this.fail(`${key} must be on or off, found ${describe(v)}`, v.pos);
          }
          this.advance();
          config[key] = { value: v.text === 'on', pos: v.pos };
          break;
        }
        case 'page_size': {
          const n = this.number(`value for config key '${key}'`);
          if (!PAGE_SIZES.includes(n.value)) {
            this.fail(`page_size must be 4K, 16K or 64K, found '${v.text}'`, n.pos);
          }
          config.page_size = n;
          this.pageSize = n.value;
          break;
        }
        case 'swap':
          config.swap = this.mappingSize('swap size', { zeroOk: true, max: MAX_MAPPING_SIZE });
          break;
        case 'kernel_image':
          config.kernel_image = this.mappingSize('kernel_image size', { max: MAX_MAPPING_SIZE });
          break;
        case 'min_free_kbytes': {
          const n = this.number(`value for config key '${key}'`, { suffix: false });
          // sysctl vm.min_free_kbytes is an int with minimum 0 (proc_dointvec_minmax, SYSCTL_ZERO).
          if (n.value > 0x7fffffff) this.fail(`min_free_kbytes ${n.value} is too large (at most 2147483647)`, n.pos);
          config.min_free_kbytes = n;
          break;
        }
        case 'seed':
          config.seed = this.number(`value for config key '${key}'`, { suffix: false });
          break;
      }
    }
    // page_size given after a size on the same line would check those sizes against 4K: refuse the order.
    const ps = config.page_size;
    if (ps !== undefined && ps.value !== DEFAULT_PAGE_SIZE) {
      for (const key of ['swap', 'kernel_image'] as const) {
        const s = config[key];
        if (s !== undefined && s.value % ps.value !== 0) {
          this.fail(
            `${key} size ${formatSize(s.value)} is not a multiple of the page size (${formatSize(ps.value)})`,
            s.pos,
          );
        }
      }
    }
    this.endStmt('config');
  }

  /** Parses one statement (the caller skipped blank lines) and applies its semantic checks. */
  private statement(block: BlockKind): Stmt {
    const s = this.statementSyntax(block);
    // repeat and race bodies were checked statement by statement while they were parsed.
    if (s.kind !== 'repeat' && s.kind !== 'race') this.sema.apply(s);
    return s;
  }

  private statementSyntax(block: BlockKind): Stmt {
    const t = this.peek();
    if (t.kind !== 'word') this.fail(`expected a statement, found ${describe(t)}`, t.pos);
    if (this.followedByColon(t)) return this.procStmt();
    const notIn = (where: string): never => this.fail(`'${t.text}' is not allowed inside ${where}`, t.pos);
    switch (t.text) {
      case 'boot':
      case 'config':
        return block === 'top'
          ? this.fail(`'${t.text}' must come before every other statement`, t.pos)
          : notIn(block === 'repeat' ? 'repeat' : 'a race thread (only process statements, compact and pressure)');
      case 'process': {
        if (block === 'thread') notIn('a race thread (only process statements, compact and pressure)');
        this.advance();
        const name = this.name('process name');
        this.endStmt('process NAME');
        return { kind: 'process', pos: t.pos, name };
      }
      case 'compact':
        this.advance();
        this.endStmt('compact');
        return { kind: 'compact', pos: t.pos };
      case 'pressure': {
        this.advance();
        const size = this.mappingSize('pressure size', { max: MAX_MAPPING_SIZE });
        this.endStmt('pressure SIZE');
        return { kind: 'pressure', pos: t.pos, size };
      }
      case 'repeat':
        if (block === 'thread') notIn('a race thread (only process statements, compact and pressure)');
        return this.repeat();
      case 'race':
        if (block === 'thread') notIn('a race thread (only process statements, compact and pressure)');
        if (block === 'repeat') notIn('repeat');
        return this.race();
      case 'show':
        if (block === 'thread') notIn('a race thread (only process statements, compact and pressure)');
        return this.show();
      case 'expect':
        if (block === 'thread') notIn('a race thread (only process statements, compact and pressure)');
        return this.expect();
      case 'thread':
        return this.fail(`'thread' is only allowed directly inside race { }`, t.pos);
      default:
        if ((PROC_VERBS as readonly string[]).includes(t.text)) {
          return this.fail(`'${t.text}' needs a process: write 'NAME: ${t.text} ...'`, t.pos);
        }
        {
          const hint = closest(t.text, STATEMENT_KEYWORDS);
          return this.fail(
            hint !== undefined
              ? `unknown statement '${t.text}' (did you mean '${hint}'?)`
              : `unknown statement '${t.text}' (process statements are written 'NAME: command ...')`,
            t.pos,
          );
        }
    }
  }

  /** `{` statements `}`; the opening brace is next. */
  private block(kind: BlockKind): Stmt[] {
    this.skipNewlines();
    const open = this.expectPunct('{', kind === 'thread' ? 'after thread name' : 'after repeat count');
    if (this.depth >= MAX_BLOCK_DEPTH) this.fail(`blocks nested too deeply (at most ${MAX_BLOCK_DEPTH})`, open.pos);
    this.depth++;
    const body: Stmt[] = [];
    while (true) {
      const t = this.peek();
      if (t.kind === 'eof') this.fail(`unterminated '{' (missing '}')`, open.pos);
      if (t.kind === 'newline' || (t.kind === 'punct' && t.text === ';')) {
        this.advance();
        continue;
      }
      if (t.kind === 'punct' && t.text === '}') {
        this.advance();
        break;
      }
      body.push(this.statement(kind));
    }
    this.depth--;
    return body;
  }

  private repeat(): Stmt {
    const kw = this.advance();
    const count = this.number('repeat count', { suffix: false });
    if (count.value < 1) this.fail('repeat count must be at least 1', count.pos);
    if (count.value > MAX_REPEAT)
      this.fail(`repeat count ${count.value} is too large (at most ${MAX_REPEAT})`, count.pos);
    const outer = this.repeatProduct;
    if (outer * count.value > MAX_REPEAT) {
      this.fail(
        `nested repeats would run their body ${outer * count.value} times (at most ${MAX_REPEAT} in total)`,
        count.pos,
      );
    }
    this.repeatProduct = outer * count.value;
    const v0 = this.sema.version;
    const body = this.block('repeat');
    this.repeatProduct = outer;
    this.sema.afterRepeatBody(count.value, v0, body, kw.pos);
    this.endStmt('repeat block');
    // The body's statements were applied as they were parsed; the second pass (if any) ran above.
    return { kind: 'repeat', pos: kw.pos, count, body };
  }

  private race(): Stmt {
    const kw = this.advance();
    this.skipNewlines();
    const open = this.expectPunct('{', "after 'race'");
    if (this.depth >= MAX_BLOCK_DEPTH) this.fail(`blocks nested too deeply (at most ${MAX_BLOCK_DEPTH})`, open.pos);
    this.depth++;
    const pre = this.sema.snapshot();
    const finals: SemState[] = [];
    const threads: RaceThread[] = [];
    while (true) {
      const t = this.peek();
      if (t.kind === 'eof') this.fail(`unterminated '{' (missing '}')`, open.pos);
      if (t.kind === 'newline' || (t.kind === 'punct' && t.text === ';')) {
        this.advance();
        continue;
      }
      if (t.kind === 'punct' && t.text === '}') {
        this.advance();
        break;
      }
      if (t.kind !== 'word' || t.text !== 'thread')
        this.fail(`expected 'thread NAME {' inside race, found ${describe(t)}`, t.pos);
      this.advance();
      const name = this.name('thread name');
      const dup = threads.find((x) => x.name.name === name.name);
      if (dup !== undefined) this.fail(`duplicate thread name '${name.name}' (first at ${at(dup.name.pos)})`, name.pos);
      this.sema.state = cloneState(pre);
      const body = this.block('thread') as ThreadStmt[];
      finals.push(this.sema.state);
      if (body.length === 0) this.fail(`thread '${name.name}' is empty`, name.pos);
      threads.push({ name, body });
    }
    this.depth--;
    if (threads.length < 2) this.fail('race needs at least two threads', kw.pos);
    this.sema.state = mergeRace(pre, finals);
    this.endStmt('race block');
    return { kind: 'race', pos: kw.pos, threads };
  }

  private show(): Stmt {
    const kw = this.advance();
    const w = this.peek();
    const known = [...SHOW_FILES, 'tags NAME:VMA[:RANGE]'];
    if (w.kind !== 'word') this.fail(`expected what to show (${orList(known)}), found ${describe(w)}`, w.pos);
    this.advance();
    if (w.text === 'tags') {
      const proc = this.name('process name');
      this.expectPunct(':', 'between process and VMA name');
      const vma = this.name('VMA name');
      let range: ByteRange | undefined;
      if (this.isPunct(':')) {
        this.advance();
        range = this.range();
      }
      this.endStmt('show tags NAME:VMA[:RANGE]');
      return { kind: 'show', pos: kw.pos, what: 'tags', whatPos: w.pos, proc, vma, ...(range ? { range } : {}) };
    }
    const file = SHOW_FILES.find((f) => f === w.text);
    if (file === undefined) {
      const hint = closest(w.text, [...SHOW_FILES, 'tags']);
      const dym = hint !== undefined ? `did you mean '${hint}'? ` : '';
      this.fail(`unknown show target '${w.text}' (${dym}expected ${orList(known)})`, w.pos);
    }
    this.endStmt(`show ${file}`);
    return { kind: 'show', pos: kw.pos, what: file as ShowFile, whatPos: w.pos };
  }

  private procStmt(): Stmt {
    const proc = this.name('process name');
    const pos = proc.pos;
    this.expectPunct(':', 'after process name');
    const v = this.peek();
    if (v.kind !== 'word' || !(PROC_VERBS as readonly string[]).includes(v.text)) {
      const hint = v.kind === 'word' ? closest(v.text, PROC_VERBS) : undefined;
      if (hint !== undefined) this.fail(`unknown command '${v.text}' (did you mean '${hint}'?)`, v.pos);
      const found = v.kind === 'word' ? `unknown command '${v.text}'` : `expected a command, found ${describe(v)}`;
      this.fail(`${found} (expected ${orList([...PROC_VERBS])})`, v.pos);
    }
    this.advance();
    const verb = v.text as ProcVerb;
    const ps = this.pageSize;
    switch (verb) {
      case 'mmap': {
        const vma = this.name('VMA name');
        const size = this.mappingSize('mmap size', { max: MAX_MAPPING_SIZE });
        let prot: Prot | undefined;
        let shared: Token | undefined;
        let thp: Token | undefined;
        while (!this.atStmtEnd()) {
          const o = this.peek();
          if (o.kind === 'word' && o.text === 'prot') {
            if (prot !== undefined) this.fail(`duplicate option 'prot'`, o.pos);
            this.optionKey();
            prot = this.prot();
          } else if (o.kind === 'word' && (o.text === 'shared' || o.text === 'thp')) {
            if ((o.text === 'shared' ? shared : thp) !== undefined) this.fail(`duplicate option '${o.text}'`, o.pos);
            this.advance();
            if (o.text === 'shared') shared = o;
            else thp = o;
          } else {
            this.fail(`unexpected ${describe(o)} (mmap options: prot=..., shared, thp)`, o.pos);
          }
        }
        this.endStmt('mmap');
        return {
          kind: 'mmap',
          pos,
          proc,
          vma,
          size,
          prot: prot ?? { read: true, write: true, mte: false, text: 'rw', pos: vma.pos },
          shared: shared !== undefined,
          thp: thp !== undefined,
        };
      }
      case 'munmap': {
        const vma = this.name('VMA name');
        this.endStmt('munmap VMA');
        return { kind: 'munmap', pos, proc, vma };
      }
      case 'mprotect': {
        const vma = this.name('VMA name');
        let prot: Prot | undefined;
        let range: ByteRange | undefined;
        while (!this.atStmtEnd()) {
          const o = this.peek();
          if (o.kind === 'word' && o.text === 'prot') {
            if (prot !== undefined) this.fail(`duplicate option 'prot'`, o.pos);
            this.optionKey();
            prot = this.prot();
          } else if (o.kind === 'number' && range === undefined) {
            range = this.range();
            this.alignRange(range, ps, 'mprotect');
          } else {
            this.fail(`unexpected ${describe(o)} (mprotect takes prot=... and an optional RANGE)`, o.pos);
          }
        }
        if (prot === undefined) this.fail(`mprotect needs prot=none|r|rw|r+mte|rw+mte`, this.peek().pos);
        this.endStmt('mprotect');
        return { kind: 'mprotect', pos, proc, vma, prot, ...(range ? { range } : {}) };
      }
      case 'touch': {
        const vma = this.name('VMA name');
        const range = this.optRange();
        let write = true;
        if (this.isWord('read') || this.isWord('write')) write = this.advance().text === 'write';
        else if (!this.atStmtEnd()) {
          const o = this.peek();
          this.fail(`unexpected ${describe(o)} (touch VMA [RANGE] [read|write])`, o.pos);
        }
        this.endStmt('touch');
        return { kind: 'touch', pos, proc, vma, ...(range ? { range } : {}), write };
      }
      case 'settag': {
        const vma = this.name('VMA name');
        const range = this.range();
        this.alignRange(range, MTE_GRANULE_SIZE, 'settag');
        const tag = this.tag('tag (0..15)');
        this.endStmt('settag VMA RANGE TAG');
        return { kind: 'settag', pos, proc, vma, range, tag };
      }
      case 'access': {
        const vma = this.name('VMA name');
        const range = this.range();
        const k = this.peek();
        if (k.kind !== 'word' || k.text !== 'tag') this.fail(`expected tag=TAG, found ${describe(k)}`, k.pos);
        this.optionKey();
        const tag = this.tag('tag (0..15)');
        this.endStmt('access VMA RANGE tag=TAG');
        return { kind: 'access', pos, proc, vma, range, tag };
      }
      case 'pageout': {
        const vma = this.name('VMA name');
        const range = this.optRange();
        this.alignRange(range, ps, 'pageout');
        this.endStmt('pageout VMA [RANGE]');
        return { kind: 'pageout', pos, proc, vma, ...(range ? { range } : {}) };
      }
      case 'migrate': {
        const vma = this.name('VMA name');
        const range = this.optRange();
        this.alignRange(range, ps, 'migrate');
        const k = this.peek();
        if (k.kind !== 'word' || k.text !== 'to') this.fail(`expected to=TARGET, found ${describe(k)}`, k.pos);
        this.optionKey();
        const target = this.migrateTarget(k.pos);
        this.endStmt('migrate VMA [RANGE] to=TARGET');
        return { kind: 'migrate', pos, proc, vma, ...(range ? { range } : {}), target };
      }
      case 'fork': {
        const child = this.name('child process name');
        this.endStmt('fork CHILD');
        return { kind: 'fork', pos, proc, child };
      }
      case 'exit':
        this.endStmt('exit');
        return { kind: 'exit', pos, proc };
    }
  }

  /** `to=` value: a zone name, `nodeN`, a DT path `/...`, or a DT label `&label` / `label`. */
  private migrateTarget(keyPos: SrcPos): MigrateTarget {
    const t = this.rawArg('migration target after to=', keyPos);
    const s = t.text;
    const pos = t.pos;
    const zone = zoneByName(s);
    if (zone !== undefined) return { kind: 'zone', zone, pos };
    const node = /^node([0-9]+)$/.exec(s);
    if (node !== null) {
      const n = Number(node[1]);
      // arm64 NODES_SHIFT is at most 10 (arch/arm64/Kconfig), so at most 1024 nodes.
      if (n > 1023) this.fail(`node ${node[1]} out of range (0..1023)`, pos);
      return { kind: 'node', node: n, pos };
    }
    if (s.startsWith('/')) return { kind: 'dtPath', path: s, pos };
    const label = s.startsWith('&') ? s.slice(1) : s;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(label)) {
      this.fail(
        `bad migration target '${s}' (expected a zone ${orList([...ZONE_NAMES])}, nodeN, a DT path /... or a DT label)`,
        pos,
      );
    }
    return { kind: 'dtLabel', label, pos };
  }

  // ---- expect

  private expect(): Stmt {
    const kw = this.advance();
    const first = this.peek();
    if (first.kind === 'newline' || first.kind === 'eof') this.fail('expect needs an expression', first.pos);
    this.exprOps = 0;
    const expr = this.expr();
    const endTok = this.last as Token;
    const text = this.text.slice(first.start, endTok.end);
    this.endStmt('expression');
    return { kind: 'expect', pos: kw.pos, expr, text };
  }

  private expr(): Expr {
    const t = this.peek();
    if (t.kind === 'word' && t.text === 'dmesg' && !this.followedByColon(t)) {
      this.advance();
      const op = this.peek();
      if (op.kind !== 'punct' || (op.text !== '~' && op.text !== '!~')) {
        this.fail(`expected '~' or '!~' after dmesg, found ${describe(op)}`, op.pos);
      }
      this.advance();
      const s = this.peek();
      if (s.kind !== 'string') this.fail(`expected a quoted string after '${op.text}', found ${describe(s)}`, s.pos);
      this.advance();
      if (s.text === '') this.fail('empty dmesg pattern', s.pos);
      return { kind: 'dmesg', negate: op.text === '!~', pattern: s.text, pos: t.pos };
    }
    if (t.kind === 'word' && this.followedByColon(t)) {
      // `NAME:VMA tagged` stands alone; `NAME:VMA tag(...)` etc. start an arithmetic side.
      const m = this.lx.mark();
      const buf = this.buf;
      const proc = this.name('process name');
      this.advance(); // ':'
      const vma = this.name('VMA name');
      if (this.isWord('tagged')) {
        this.advance();
        return { kind: 'tagged', proc, vma, pos: proc.pos };
      }
      this.lx.reset(m);
      this.buf = buf;
    }
    const left = this.arith();
    const op = this.peek();
    if (op.kind !== 'punct' || !CMP_OPS.includes(op.text)) {
      if (op.kind === 'punct' && (op.text === '~' || op.text === '!~')) {
        this.fail(`'${op.text}' matches only the log: dmesg ${op.text} "text"`, op.pos);
      }
      this.fail(`expected a comparison (${CMP_OPS.join(' ')}), found ${describe(op)}`, op.pos);
    }
    this.advance();
    const right = this.arith();
    this.checkTagCompare(left, right);
    this.checkTagCompare(right, left);
    return { kind: 'compare', op: op.text as CompareOp, left, right, pos: op.pos };
  }

  /** `tag(RANGE) == 16` can never hold: say so now. */
  private checkTagCompare(a: Arith, b: Arith): void {
    if (a.kind === 'query' && a.query === 'tag' && b.kind === 'number' && b.value > 15) {
      this.fail(`tag ${b.value} out of range 0..15`, b.pos);
    }
  }

  private countOp(pos: SrcPos): void {
    if (++this.exprOps > MAX_EXPR_OPS) this.fail(`expression too long (at most ${MAX_EXPR_OPS} operators)`, pos);
  }

  private arith(): Arith {
    let left = this.term();
    while (this.isPunct('+') || this.isPunct('-')) {
      const op = this.advance();
      this.countOp(op.pos);
      const right = this.term();
      left = { kind: 'binary', op: op.text as '+' | '-', left, right, pos: op.pos };
    }
    return left;
  }

  private term(): Arith {
    let left = this.unary();
    while (this.isPunct('*') || this.isPunct('/')) {
      const op = this.advance();
      this.countOp(op.pos);
      const right = this.unary();
      left = { kind: 'binary', op: op.text as '*' | '/', left, right, pos: op.pos };
    }
    return left;
  }

  private unary(): Arith {
    if (this.isPunct('-')) {
      const op = this.advance();
      this.enterParen(op.pos);
      const operand = this.unary();
      this.parenDepth--;
      return { kind: 'negate', operand, pos: op.pos };
    }
    return this.primary();
  }

  private enterParen(pos: SrcPos): void {
    if (this.parenDepth >= MAX_PAREN_DEPTH) this.fail(`expression nested too deeply (at most ${MAX_PAREN_DEPTH})`, pos);
    this.parenDepth++;
  }

  private primary(): Arith {
    const t = this.peek();
    if (t.kind === 'number') {
      const n = this.number('number');
      return { kind: 'number', value: n.value, pos: n.pos };
    }
    if (t.kind === 'punct' && t.text === '(') {
      this.advance();
      this.enterParen(t.pos);
      const e = this.arith();
      this.expectPunct(')', `to close '(' at ${at(t.pos)}`);
      this.parenDepth--;
      return e;
    }
    if (t.kind === 'word') {
      if (this.followedByColon(t)) return this.mappingQuery();
      return this.counter();
    }
    return this.fail(`expected a number, counter or NAME:VMA query, found ${describe(t)}`, t.pos);
  }

  private mappingQuery(): MappingQuery {
    const proc = this.name('process name');
    this.advance(); // ':'
    const vma = this.name('VMA name');
    const q = this.peek();
    const kinds = ['tag', 'resident', 'swapped'] as const;
    const query = kinds.find((k) => q.kind === 'word' && q.text === k);
    if (query === undefined) {
      this.fail(
        `expected tagged, tag(RANGE), resident(RANGE) or swapped(RANGE) after ${proc.name}:${vma.name}, found ${describe(q)}`,
        q.pos,
      );
    }
    this.advance();
    let range: ByteRange | undefined;
    if (this.isPunct('(')) {
      this.advance();
      range = this.range();
      this.expectPunct(')', 'after range');
    } else if (query === 'tag') {
      this.fail('tag needs a range: tag(START..END)', this.peek().pos);
    }
    return { kind: 'query', query, proc, vma, ...(range ? { range } : {}), pos: proc.pos };
  }

  private counter(): CounterRef {
    const t = this.advance();
    const parts = t.text.split('.');
    const colOf = (i: number): SrcPos => {
      let off = 0;
      for (let j = 0; j < i; j++) off += (parts[j] as string).length + 1;
      return { ...t.pos, col: t.pos.col + off };
    };
    const head = parts[0] as string;
    const file = COUNTER_FILES.find((f) => f === head);
    if (file === undefined) {
      if ((SHOW_FILES as readonly string[]).includes(head) && head !== 'dmesg') {
        this.fail(`${head} has no counters for expect (use ${orList([...COUNTER_FILES])})`, t.pos);
      }
      this.fail(
        `unknown counter '${t.text}' (expected meminfo.X, vmstat.x, buddyinfo.ZONE.ORDER, zoneinfo.ZONE.x or NAME:VMA)`,
        t.pos,
      );
    }
    const shape: Record<CounterFile, string> = {
      meminfo: 'meminfo.NAME',
      vmstat: 'vmstat.NAME',
      buddyinfo: 'buddyinfo.ZONE.ORDER',
      zoneinfo: 'zoneinfo.ZONE.NAME',
    };
    const want = file === 'meminfo' || file === 'vmstat' ? 2 : 3;
    if (parts.length !== want) this.fail(`bad counter '${t.text}' (expected ${shape[file]})`, t.pos);
    let name = parts[want - 1] as string;
    let text = t.text;
    if (file === 'meminfo' && this.isPunct('(') && this.peek().start === t.end) {
      // meminfo labels such as Active(anon): the parenthesis is part of the name when written without a blank.
      this.advance();
      const inner = this.peek();
      if (inner.kind !== 'word' || !isName(inner.text)) this.fail(`bad meminfo name after '('`, inner.pos);
      this.advance();
      const close = this.expectPunct(')', 'in meminfo name');
      name = `${name}(${inner.text})`;
      text = this.text.slice(t.start, close.end);
    }
    if (file === 'meminfo' || file === 'vmstat') return { kind: 'counter', file, name, text, pos: t.pos };
    const zone = zoneByName(parts[1] as string);
    if (zone === undefined) {
      this.fail(`unknown zone '${parts[1]}' (expected ${orList([...ZONE_NAMES])})`, colOf(1));
    }
    if (file === 'buddyinfo') {
      if (!/^(0|[1-9][0-9]?)$/.test(name)) this.fail(`bad buddyinfo order '${name}' (expected 0..99)`, colOf(2));
      return { kind: 'counter', file, name, zone, order: Number(name), text, pos: t.pos };
    }
    return { kind: 'counter', file, name, zone, text, pos: t.pos };
  }
}

/**
 * Parses a scenario file. Throws InputError (with `file:line:col`) for any syntax or semantic error; never
 * anything else.
 */
export function parseScenario(text: string, file: string): Scenario {
  return new Parser(text, file).parseFile();
}

/**
 * Re-checks the page-size rules for a page size other than the one the file was parsed with (`--page-size`
 * on the command line wins over `config page_size`): mapping, swap, kernel image and pressure sizes must be
 * page multiples and mprotect/pageout/migrate ranges page-aligned. Throws InputError at the offending value.
 */
export function revalidateForPageSize(s: Scenario, pageSize: number): void {
  if (pageSize === s.assumedPageSize) return;
  const ps = formatSize(pageSize);
  const size = (what: string, v: Located<number> | undefined): void => {
    if (v !== undefined && v.value % pageSize !== 0) {
      throw new InputError(`${what} ${formatSize(v.value)} is not a multiple of the page size (${ps})`, v.pos);
    }
  };
  const range = (what: string, r: ByteRange | undefined): void => {
    if (r !== undefined && (r.start % pageSize !== 0 || r.end % pageSize !== 0)) {
      throw new InputError(`${what} range ${r.text} is not aligned to the page size (${ps})`, r.pos);
    }
  };
  size('swap size', s.config.swap);
  size('kernel_image size', s.config.kernel_image);
  const walk = (stmts: readonly Stmt[]): void => {
    for (const st of stmts) {
      switch (st.kind) {
        case 'mmap':
          size('mmap size', st.size);
          break;
        case 'pressure':
          size('pressure size', st.size);
          break;
        case 'mprotect':
        case 'pageout':
        case 'migrate':
          range(st.kind, st.range);
          break;
        case 'repeat':
          walk(st.body);
          break;
        case 'race':
          for (const t of st.threads) walk(t.body);
          break;
        default:
          break;
      }
    }
  };
  walk(s.body);
}
