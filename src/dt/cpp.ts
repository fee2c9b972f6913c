/**
 * The built-in C preprocessor: the subset the kernel's device tree build needs, behaving like
 * `cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp` (GCC 12):
 *
 * - `#include "…"` (the including file's directory, then -I) and `<…>` (-I only), depth limit 200;
 * - object- and function-like `#define` (variadic, `#`, `##`, GNU `, ## args`), `#undef`;
 * - `#if/#ifdef/#ifndef/#elif/#else/#endif` with C integer expressions, `defined`, `__has_include`;
 * - `-D NAME[=VALUE]`; `__DTS__` is predefined (1) as the kernel's build passes -D__DTS__;
 *   `__ASSEMBLER__`, `__STDC__`, `__STDC_HOSTED__` are predefined as GCC does with -undef, and
 *   `__FILE__`, `__LINE__`, `__INCLUDE_LEVEL__`, `__COUNTER__`, `__BASE_FILE__` are built in;
 * - assembler-mode rules: an unknown `#word` line (`#address-cells`) is ordinary text (and macro-expanded,
 *   and inside macro arguments it starts a new argument, as in GCC), an unmatched quote runs to the end of
 *   the line, `//` and `/* … *\/` comments and NUL bytes are whitespace, a `#` not followed by a
 *   parameter in a macro body is an ordinary token;
 * - line markers: emitted (`# 1 "file" 1` on entering an include, `… 2` on leaving, a marker after a gap
 *   of more than 8 lines) and honoured in the input, so already-preprocessed text can be run through again.
 *   (GCC in assembler mode passes an input `# 12 "file"` line through as text and leaves it to dtc; the
 *   blob is the same either way, and honouring it here also makes `__LINE__` and errors follow it.)
 * - a file wrapped whole in `#ifndef GUARD … #endif` is not re-read while GUARD is defined (GCC's
 *   multiple-include optimisation, which also spares its line markers).
 *
 * Not supported: `#include_next`, `#assert`/`#unassert` (an assertion in `#if` is always false),
 * `__DATE__`/`__TIME__` (left as identifiers: output must be deterministic), trigraphs and digraphs.
 *
 * Spacing follows GCC's printer (c-ppoutput.c scan_translation_unit with cpp_avoid_paste): a space only
 * where the source had whitespace or where two tokens would otherwise paste; around macro expansions the
 * macro name's (or parameter's) whitespace decides. Tokens taken straight from the source are moved to
 * their original column where possible, so error columns point into the original line.
 *
 * Work is bounded: expansion output, argument nesting, include depth and #if nesting are all capped, and
 * exceeding a cap is an InputError, never a hang.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, type SrcPos } from '../errors.js';

export interface PreprocessOptions {
  /** The name of the input (used in line markers and messages, and for `#include "…"` look-ups). */
  file: string;
  includeDirs?: readonly string[];
  /** `NAME` or `NAME=VALUE`, as cpp's -D. */
  defines?: readonly string[];
  /** Reads an included file; default: the file system, as latin1 (so every byte passes through unchanged). */
  readFile?: (path: string) => string;
}

export const readFileLatin1 = (p: string): string => readFileSync(p, 'latin1');

const MAX_INCLUDE_DEPTH = 200;
const MAX_ARG_NESTING = 200;
const MAX_EXPANDED_TOKENS = 4_000_000;
const MAX_OUTPUT_CHARS = 64 * 1024 * 1024;
const MAX_IF_DEPTH = 4096;
const MAX_INCLUDES = 10_000;

type TType = 'name' | 'number' | 'string' | 'char' | 'op' | 'other' | 'pad' | 'eof';

interface Tok {
  t: TType;
  s: string;
  /** Whitespace (or a comment) before the token: GCC's PREV_WHITE. */
  ws: boolean;
  /** First token of a logical source line. */
  bol: boolean;
  /** An identifier that named a disabled macro when read: never expanded again (GCC's NO_EXPAND). */
  noexp: boolean;
  /** Followed by `##` in a macro body. */
  paste: boolean;
  /** Where it came from; undefined for tokens made by the preprocessor. */
  pos: SrcPos | undefined;
  /** For 'pad' tokens: the token whose whitespace decides spacing (GCC padding source), if any. */
  src: Tok | undefined;
  /** For tokens read from a file: true (their column can be honoured by the printer). */
  fromSource: boolean;
  /** A placemarker: an empty `##` operand. */
  pm: boolean;
  /** A source line's first token put back after a failed look for '(': it starts its line when re-read. */
  newLine?: boolean;
}

const tok = (t: TType, s: string, ws: boolean, pos: SrcPos | undefined): Tok => ({
  t,
  s,
  ws,
  bol: false,
  noexp: false,
  paste: false,
  pos,
  src: undefined,
  fromSource: false,
  pm: false,
});
const pad = (src: Tok | undefined): Tok => ({ ...tok('pad', '', false, undefined), src });
const copyTok = (x: Tok): Tok => ({ ...x });
const argCopy = (x: Tok): Tok => ({ ...x, fromSource: false, bol: false });

interface Macro {
  name: string;
  fn: boolean;
  params: string[];
  variadic: boolean;
  body: Tok[];
  disabled: boolean;
  builtin?: 'file' | 'line' | 'include_level' | 'counter' | 'base_file';
}

const PUNCT3 = ['<<=', '>>=', '...'];
const PUNCT2 = new Set([
  '->',
  '++',
  '--',
  '<<',
  '>>',
  '<=',
  '>=',
  '==',
  '!=',
  '&&',
  '||',
  '*=',
  '/=',
  '%=',
  '+=',
  '-=',
  '&=',
  '^=',
  '|=',
  '##',
]);
const PUNCT1 = new Set('[](){}.&*+-~!/%<>^|?:;=,#'.split(''));

const ID_START = new Uint8Array(128);
const ID_CHAR = new Uint8Array(128);
const NUM_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_$]/.test(ch)) ID_START[c] = 1;
  if (/[A-Za-z0-9_$]/.test(ch)) ID_CHAR[c] = 1;
  if (/[A-Za-z0-9_.]/.test(ch)) NUM_CHAR[c] = 1;
}
const isIdStart = (c: string): boolean => ID_START[c.charCodeAt(0)] === 1;
const isIdChar = (c: string): boolean => ID_CHAR[c.charCodeAt(0)] === 1;
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

// ---------------------------------------------------------------------------------------------
// The per-file lexer: phase 1–3 of translation (line splices, comments, pp-tokens).

class FileLexer {
  private readonly text: string;
  private i = 0;
  /** Cleaned-text offsets where a backslash-newline was removed (each adds a physical line). */
  private readonly splices: number[] = [];
  private spliceIdx = 0;
  private lineNo = 1;
  private lineStart = 0;
  private scanned = 0;
  private nextNl = -1;
  /** Line-marker adjustment: presumed line = physical line + delta. */
  private delta = 0;
  presumedFile: string;
  private atBol = true;
  private peeked: Tok | undefined;

  constructor(
    raw: string,
    readonly realPath: string,
    readonly dir: string,
  ) {
    this.presumedFile = realPath;
    // Splice lines; remember where, to keep line numbers right.
    if (raw.indexOf('\\') < 0 && raw.indexOf('\r') < 0) this.text = raw;
    else {
      const parts: string[] = [];
      let last = 0;
      let outLen = 0;
      const re = /\\[ \t]*\r?\n|\r\n?/g;
      for (let m = re.exec(raw); m; m = re.exec(raw)) {
        parts.push(raw.slice(last, m.index));
        outLen += m.index - last;
        if (m[0][0] === '\\') this.splices.push(outLen);
        else {
          parts.push('\n');
          outLen += 1;
        }
        last = m.index + m[0].length;
      }
      parts.push(raw.slice(last));
      this.text = parts.join('');
    }
  }

  private pos(at: number): SrcPos {
    const t = this.text;
    // Advance the line counter incrementally (tokens are requested in order); the next newline's
    // index is cached so that long lines stay linear.
    if (at > this.scanned) {
      let nl = this.nextNl;
      if (nl < this.scanned) nl = t.indexOf('\n', this.scanned);
      while (nl >= 0 && nl < at) {
        this.lineNo++;
        this.lineStart = nl + 1;
        nl = t.indexOf('\n', nl + 1);
      }
      this.nextNl = nl < 0 ? Infinity : nl;
      this.scanned = at;
    }
    while (this.spliceIdx < this.splices.length && this.splices[this.spliceIdx]! <= at) {
      const sp = this.splices[this.spliceIdx++]!;
      this.lineNo++;
      this.lineStart = Math.max(this.lineStart, sp);
    }
    return { file: this.presumedFile, line: this.lineNo + this.delta, col: at - this.lineStart + 1 };
  }

  /**
   * A line marker or #line at `at` (the `#`): the physical line after it is presumed to be `nextLine`
   * of `file`. A token already looked ahead at is moved too.
   */
  setLine(at: SrcPos, nextLine: number, file: string | undefined): void {
    const old = this.delta;
    const physNext = at.line - old + 1;
    this.delta = nextLine - physNext;
    if (file !== undefined) this.presumedFile = file;
    const p = this.peeked;
    if (p?.pos) p.pos = { file: this.presumedFile, line: p.pos.line - old + this.delta, col: p.pos.col };
  }

  get presumedLine(): number {
    return this.pos(this.i).line;
  }

  peek(): Tok {
    if (!this.peeked) this.peeked = this.lex();
    return this.peeked;
  }

  next(): Tok {
    const t = this.peek();
    this.peeked = this.peeked2;
    this.peeked2 = undefined;
    return t;
  }

  private peeked2: Tok | undefined;

  /** The token after the peeked one, if it is on the same line. */
  peekSecond(): Tok | undefined {
    this.peek();
    if (!this.peeked2) this.peeked2 = this.lex();
    return this.peeked2.bol ? undefined : this.peeked2;
  }

  /** Skips the rest of the current logical line (a directive's tail, or a skipped line). */
  skipLine(): void {
    while (!this.peek().bol && this.peek().t !== 'eof') this.next();
  }

  /** The raw text of the rest of the line, for `#include <…>` header names. */
  restOfLineRaw(): string {
    if (this.peeked) {
      // Re-lex from the peeked token's start.
      this.i = this.peekedStart;
      this.peeked = undefined;
      this.atBol = false;
    }
    const e = this.text.indexOf('\n', this.i);
    const end = e < 0 ? this.text.length : e;
    const s = this.text.slice(this.i, end);
    this.i = end;
    return s;
  }

  private peekedStart = 0;

  private lex(): Tok {
    const t = this.text;
    let ws = false;
    let bol = this.atBol;
    let i = this.i;
    for (;;) {
      if (i >= t.length) {
        this.i = i;
        const e = tok('eof', '', ws, this.pos(i));
        e.bol = true;
        return e;
      }
      const c = t[i]!;
      if (c === '\n') {
        bol = true;
        ws = false;
        i++;
        continue;
      }
      // A NUL is whitespace to GCC ("null character(s) ignored").
      if (c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\r' || c === '\0') {
        ws = true;
        i++;
        continue;
      }
      if (c === '/' && t[i + 1] === '*') {
        const e = t.indexOf('*/', i + 2);
        if (e < 0) {
          this.i = i;
          throw new InputError('unterminated comment', this.pos(i));
        }
        i = e + 2;
        ws = true;
        continue;
      }
      if (c === '/' && t[i + 1] === '/') {
        const e = t.indexOf('\n', i + 2);
        i = e < 0 ? t.length : e;
        ws = true;
        continue;
      }
      break;
    }
    this.atBol = false;
    const start = i;
    this.peekedStart = start;
    const c = t[i]!;
    let type: TType;
    let end: number;
    if (isIdStart(c)) {
      end = i + 1;
      while (end < t.length && isIdChar(t[end]!)) end++;
      type = 'name';
    } else if (isDigit(c) || (c === '.' && isDigit(t[i + 1]))) {
      end = i + 1;
      for (;;) {
        const d = t[end];
        if (d === undefined) break;
        if ((d === '+' || d === '-') && /[eEpP]/.test(t[end - 1]!)) end++;
        else if (NUM_CHAR[d.charCodeAt(0)] === 1) end++;
        else break;
      }
      type = 'number';
    } else if (c === '"' || c === "'") {
      end = i + 1;
      type = c === '"' ? 'string' : 'char';
      for (;;) {
        const d = t[end];
        if (d === undefined || d === '\n') {
          type = 'other'; // assembler mode: an unmatched quote runs to the end of the line
          break;
        }
        if (d === '\\' && t[end + 1] !== undefined && t[end + 1] !== '\n') end += 2;
        else if (d === c) {
          end++;
          break;
        } else end++;
      }
    } else {
      const three = t.slice(i, i + 3);
      const two = t.slice(i, i + 2);
      if (PUNCT3.includes(three)) end = i + 3;
      else if (PUNCT2.has(two)) end = i + 2;
      else end = i + (t.codePointAt(i)! > 0xffff ? 2 : 1);
      type = PUNCT1.has(c) || end > i + 1 ? 'op' : 'other';
      if (end === i + 2 && t.codePointAt(i)! > 0xffff) type = 'other';
    }
    this.i = end;
    const x = tok(type, t.slice(start, end), ws, this.pos(start));
    x.bol = bol;
    x.fromSource = true;
    return x;
  }
}

// ---------------------------------------------------------------------------------------------
// Output: GCC's printer.

class Printer {
  constructor(readonly where: () => SrcPos | undefined) {}
  private readonly chunks: string[] = [];
  private line: string[] = [];
  private col = 1;
  private size = 0;
  private file = '';
  private lineNo = 0;
  private prev: Tok | undefined;
  private source: Tok | undefined;
  private avoidPaste = false;

  private flushLine(): void {
    this.chunks.push(this.line.join(''));
    this.line = [];
    this.col = 1;
  }

  private put(s: string): void {
    this.line.push(s);
    this.col += s.length;
    this.size += s.length;
    if (this.size > MAX_OUTPUT_CHARS) throw new InputError('preprocessor output too large', this.where());
  }

  marker(line: number, file: string, flag?: 1 | 2): void {
    if (this.line.length) this.flushLine();
    this.chunks.push(`# ${line} ${JSON.stringify(file)}${flag ? ` ${flag}` : ''}`);
    this.file = file;
    this.lineNo = line;
    this.prev = undefined;
    this.source = undefined;
    this.avoidPaste = false;
  }

  /** A new logical source line starts with `t` (cb_line_change). */
  lineChange(t: Tok): void {
    const p = t.pos!;
    if (p.file === this.file && p.line >= this.lineNo && p.line - this.lineNo <= 8) {
      while (this.lineNo < p.line) {
        this.flushLine();
        this.lineNo++;
      }
    } else if (!(p.file === this.file && p.line === this.lineNo && this.line.length === 0)) {
      this.marker(p.line, p.file);
    }
    this.prev = undefined;
    this.source = undefined;
    this.avoidPaste = false;
  }

  token(t: Tok): void {
    if (t.t === 'pad') {
      this.avoidPaste = true;
      if (this.source === undefined || (!this.source.ws && t.src === undefined)) this.source = t.src;
      return;
    }
    let space: boolean;
    if (this.avoidPaste) {
      const src = this.source ?? t;
      space =
        src.ws || (this.prev !== undefined && avoidPaste(this.prev, t)) || (this.prev === undefined && t.s === '#');
    } else space = t.ws;
    if (space) {
      // Move a source token back to its own column when the line is not already past it.
      const want = t.fromSource && t.pos ? t.pos.col : 0;
      if (want > this.col + 1) this.put(' '.repeat(want - this.col));
      else this.put(' ');
    } else if (this.line.length === 0 && t.fromSource && t.pos && t.pos.col > 1 && this.prev === undefined) {
      this.put(' '.repeat(t.pos.col - 1));
    }
    this.avoidPaste = false;
    this.source = undefined;
    this.prev = t;
    this.put(t.s);
  }

  result(): string {
    this.flushLine();
    return this.chunks.join('\n') + '\n';
  }
}

/** cpp_avoid_paste (GCC libcpp lex.cc): would printing `a` then `b` with no space make another token? */
function avoidPaste(a: Tok, b: Tok): boolean {
  const c = b.t === 'op' ? b.s[0]! : '';
  const eqable = ['=', '!', '>', '<', '+', '-', '*', '/', '%', '&', '|', '^', '>>', '<<'];
  if (a.t === 'op' && eqable.includes(a.s) && c === '=') return true;
  if (a.t === 'op') {
    switch (a.s) {
      case '>':
        return c === '>';
      case '<':
        return c === '<' || c === '%' || c === ':';
      case '+':
        return c === '+';
      case '-':
        return c === '-' || c === '>';
      case '/':
        return c === '/' || c === '*';
      case '%':
        return c === ':' || c === '%';
      case '&':
        return c === '&';
      case '|':
        return c === '|';
      case ':':
        return c === ':' || c === '>';
      case '->':
        return c === '*';
      case '.':
        return c === '.' || c === '%' || b.t === 'number';
      case '#':
        return c === '#' || c === '%';
      case '<=':
        return c === '>';
    }
    return false;
  }
  if (a.t === 'name')
    return (b.t === 'number' && /^[A-Za-z0-9_$]+$/.test(b.s)) || b.t === 'name' || b.t === 'char' || b.t === 'string';
  if (a.t === 'number')
    return b.t === 'number' || b.t === 'name' || b.t === 'char' || c === '.' || c === '+' || c === '-';
  if (a.t === 'other') return a.s[0] === '\\' && b.t === 'name';
  return false;
}

// ---------------------------------------------------------------------------------------------
// The preprocessor proper.

interface Context {
  toks: Tok[];
  i: number;
  macro: Macro | undefined;
}

interface Cond {
  /** This group's tokens are being output. */
  active: boolean;
  /** Some group of this #if chain was taken. */
  taken: boolean;
  /** #else seen. */
  sawElse: boolean;
  /** The enclosing state was active. */
  parentActive: boolean;
  pos: SrcPos;
}

interface FileState {
  lx: FileLexer;
  conds: Cond[];
  /**
   * Multiple-include optimisation (as GCC's): 'start' until the first token or directive; 'in' inside a
   * leading `#ifndef GUARD`; 'closed' after its #endif; 'no' once anything else is seen.
   */
  mi: 'start' | 'in' | 'closed' | 'no';
  guard?: string;
}

class Preprocessor {
  private readonly macros = new Map<string, Macro>();
  private readonly files: FileState[] = [];
  private contexts: Context[] = [];
  private readonly out = new Printer(() => this.lastPos);
  private expanded = 0;
  private counter = 0;
  private argNesting = 0;
  private collecting = 0;
  private includes = 0;
  /** Files wrapped whole in `#ifndef GUARD … #endif`: path → GUARD. */
  private readonly guards = new Map<string, string>();
  /** The outermost macro call whose arguments are being expanded: where runaway nesting is reported. */
  private outerCall: SrcPos | undefined;
  /** The last token read from a file: where a runaway expansion is reported. */
  private lastPos: SrcPos | undefined;
  private readonly includeDirs: readonly string[];
  private readonly readFile: ((p: string) => string) | undefined;

  constructor(
    text: string,
    private readonly opts: PreprocessOptions,
  ) {
    this.includeDirs = opts.includeDirs ?? [];
    this.readFile = opts.readFile ?? readFileLatin1;
    for (const [n, v] of [
      ['__STDC__', '1'],
      ['__STDC_HOSTED__', '1'],
      ['__ASSEMBLER__', '1'],
      ['__DTS__', '1'], // the kernel's cmd_dtc passes -D__DTS__
    ] as const)
      this.defineText(n, v);
    const builtins: [string, NonNullable<Macro['builtin']>][] = [
      ['__FILE__', 'file'],
      ['__LINE__', 'line'],
      ['__INCLUDE_LEVEL__', 'include_level'],
      ['__COUNTER__', 'counter'],
      ['__BASE_FILE__', 'base_file'],
    ];
    for (const [n, b] of builtins)
      this.macros.set(n, { name: n, fn: false, params: [], variadic: false, body: [], disabled: false, builtin: b });
    for (const d of opts.defines ?? []) {
      const eq = d.indexOf('=');
      if (eq < 0) this.defineText(d, '1');
      else this.defineText(d.slice(0, eq), d.slice(eq + 1));
    }
    const dir = path.dirname(opts.file);
    this.files.push({
      lx: new FileLexer(text, opts.file, dir === '.' && !opts.file.startsWith('.') ? '' : dir),
      conds: [],
      mi: 'no',
    });
    this.out.marker(1, opts.file);
  }

  private defineText(name: string, value: string): void {
    const lx = new FileLexer(`#define ${name} ${value}\n`, '<command-line>', '');
    lx.next(); // '#'
    lx.next(); // 'define'
    this.doDefine(lx, { file: '<command-line>', line: 1, col: 1 });
  }

  // -- token sources ---------------------------------------------------------------------------

  private get fileState(): FileState | undefined {
    return this.files[this.files.length - 1];
  }

  /**
   * The next token from the contexts or the current file, with directives handled and files popped.
   * Returns 'eof' only at the end of the main file. Macro contexts that end yield a padding token.
   */
  private readRaw(floor: number): Tok {
    for (;;) {
      const ctx = this.contexts[this.contexts.length - 1];
      if (ctx) {
        if (ctx.i < ctx.toks.length) {
          const t = ctx.toks[ctx.i++]!;
          if (t.newLine && this.collecting === 0) this.out.lineChange(t);
          return t;
        }
        // The end of an argument being pre-expanded is its end of input.
        if (this.contexts.length - 1 === floor) return tok('eof', '', false, undefined);
        this.contexts.pop();
        if (ctx.macro) {
          ctx.macro.disabled = false;
          return pad(undefined);
        }
        continue;
      }
      const fs = this.fileState!;
      const t = fs.lx.next();
      if (t.t === 'eof') {
        const open = fs.conds[fs.conds.length - 1];
        if (open) throw new InputError('unterminated #if', open.pos);
        if (this.collecting > 0 || this.files.length === 1) return t;
        this.files.pop();
        if (fs.mi === 'closed' && fs.guard !== undefined) this.guards.set(fs.lx.realPath, fs.guard);
        const parent = this.fileState!;
        this.out.marker(parent.lx.presumedLine, parent.lx.presumedFile, 2);
        continue;
      }
      if (t.bol && t.s === '#' && t.t === 'op') {
        if (this.directive(fs, t)) continue;
        // Not a directive (assembler mode): the line is ordinary text.
      }
      if (!this.isActive(fs)) {
        fs.lx.skipLine();
        continue;
      }
      if (t.bol) {
        if (this.collecting > 0) t.ws = true;
        else this.out.lineChange(t);
      }
      if (fs.mi === 'start' || fs.mi === 'closed') fs.mi = 'no';
      this.lastPos = t.pos;
      return t;
    }
  }

  private isActive(fs: FileState): boolean {
    const c = fs.conds[fs.conds.length - 1];
    return c === undefined || c.active;
  }

  private pushContext(toks: Tok[], macro: Macro | undefined): void {
    this.expanded += toks.length;
    if (this.expanded > MAX_EXPANDED_TOKENS)
      throw new InputError(`macro expansion too large (more than ${MAX_EXPANDED_TOKENS} tokens)`, this.lastPos);
    if (macro) macro.disabled = true;
    this.contexts.push({ toks, i: 0, macro });
  }

  /**
   * The next token with macros expanded (cpp_get_token). `floor`: the index of the context holding an
   * argument being pre-expanded (its end reads as end of input), or -1.
   */
  private getToken(floor: number): Tok {
    for (;;) {
      const t = this.readRaw(floor);
      if (t.t !== 'name' || t.noexp) return t;
      const m = this.macros.get(t.s);
      if (!m) return t;
      if (m.disabled) {
        const c = copyTok(t);
        c.noexp = true;
        return c;
      }
      if (this.expand(m, t, floor)) return pad(t);
      return t;
    }
  }

  /** Expands macro `m` named by `name`; false if it is a function-like macro not followed by '('. */
  private expand(m: Macro, name: Tok, floor: number): boolean {
    if (m.builtin) {
      this.pushContext([this.builtin(m, name)], undefined);
      return true;
    }
    if (!m.fn) {
      this.pushContext(
        m.body.map((b, i) => {
          const c = copyTok(b);
          if (i === 0) c.ws = false;
          c.pos = name.pos;
          return c;
        }),
        m,
      );
      return true;
    }
    // Look for '(' (skipping padding and newlines), possibly past the end of macro contexts.
    const skipped: Tok[] = [];
    let next: Tok;
    this.collecting++;
    try {
      for (;;) {
        next = this.readRaw(floor);
        if (next.t === 'pad') {
          skipped.push(next);
          continue;
        }
        break;
      }
    } finally {
      this.collecting--;
    }
    if (!(next.t === 'op' && next.s === '(')) {
      // Not an invocation: put back what was read (an end of input is simply read again).
      if (next.t !== 'eof') {
        // A token from the next source line starts that line once it is read again.
        const back = next.bol && next.fromSource && this.collecting === 0 ? { ...next, newLine: true } : next;
        this.contexts.push({ toks: [back], i: 0, macro: undefined });
      }
      return false;
    }
    const args = this.collectArgs(m, name, floor);
    const body = this.substitute(m, args, name);
    this.pushContext(body, m);
    return true;
  }

  private builtin(m: Macro, name: Tok): Tok {
    const fs = this.fileState!;
    const p = name.pos ?? { file: fs.lx.presumedFile, line: fs.lx.presumedLine, col: 1 };
    switch (m.builtin) {
      case 'file':
        return tok('string', JSON.stringify(p.file), name.ws, name.pos);
      case 'base_file':
        return tok('string', JSON.stringify(this.opts.file), name.ws, name.pos);
      case 'line':
        return tok('number', String(p.line), name.ws, name.pos);
      case 'include_level':
        return tok('number', String(this.files.length - 1), name.ws, name.pos);
      default:
        return tok('number', String(this.counter++), name.ws, name.pos);
    }
  }

  private collectArgs(m: Macro, name: Tok, floor: number): Tok[][] {
    const args: Tok[][] = [[]];
    let depth = 0;
    this.collecting++;
    try {
      for (;;) {
        const t = this.readRaw(floor);
        if (t.t === 'eof') throw new InputError(`unterminated argument list invoking macro "${m.name}"`, name.pos);
        if (t.t === 'pad' && args[args.length - 1]!.length === 0) continue; // leading padding is dropped
        if (t.t === 'op' && t.s === '(') depth++;
        else if (t.t === 'op' && t.s === ')') {
          if (depth === 0) break;
          depth--;
        } else if (t.t === 'op' && t.s === ',' && depth === 0 && !(m.variadic && args.length === m.params.length)) {
          args.push([]);
          continue;
        } else if (t.t === 'op' && t.s === '#' && t.bol && t.fromSource) {
          // A `#` line that is no directive (assembler mode) ends the argument, as GCC's collect_args
          // does: the next argument starts afresh (parenthesis depth 0), even past a variadic's last.
          args.push([]);
          depth = 0;
          continue;
        }
        let x = t;
        if (x.t === 'name' && !x.noexp) {
          const mm = this.macros.get(x.s);
          if (mm && mm.disabled) {
            x = copyTok(x);
            x.noexp = true;
          }
        }
        args[args.length - 1]!.push(x);
      }
    } finally {
      this.collecting--;
    }
    // Trailing padding is dropped too (collect_args).
    for (const a of args) while (a.length && a[a.length - 1]!.t === 'pad') a.pop();
    const n = m.params.length;
    if (n === 0 && args.length === 1 && args[0]!.length === 0) return [];
    if (args.length === n) return args;
    if (m.variadic && args.length === n - 1) {
      args.push([]);
      return args;
    }
    if (args.length < n)
      throw new InputError(`macro "${m.name}" requires ${n} arguments, but only ${args.length} given`, name.pos);
    throw new InputError(`macro "${m.name}" passed ${args.length} arguments, but takes just ${n}`, name.pos);
  }

  /** Fully macro-expands an argument on its own (expand_arg). */
  private expandArg(arg: Tok[], call?: Tok): Tok[] {
    if (this.argNesting === 0) this.outerCall = call?.pos ?? arg[0]?.pos;
    if (++this.argNesting > MAX_ARG_NESTING) throw new InputError('macro arguments nested too deeply', this.outerCall);
    try {
      const floor = this.contexts.length;
      this.contexts.push({ toks: arg, i: 0, macro: undefined });
      const out: Tok[] = [];
      for (;;) {
        const t = this.getToken(floor);
        if (t.t === 'eof') break;
        out.push(t);
        this.expanded++;
        if (this.expanded > MAX_EXPANDED_TOKENS)
          throw new InputError(`macro expansion too large (more than ${MAX_EXPANDED_TOKENS} tokens)`, this.lastPos);
      }
      // Drop the (now empty) argument context and anything above the floor.
      while (this.contexts.length > floor) {
        const c = this.contexts.pop()!;
        if (c.macro) c.macro.disabled = false;
      }
      return out;
    } finally {
      this.argNesting--;
    }
  }

  private substitute(m: Macro, args: Tok[][], name: Tok): Tok[] {
    const idx = (t: Tok): number => (t.t === 'name' ? m.params.indexOf(t.s) : -1);
    const expandedCache = new Map<number, Tok[]>();
    const out: Tok[] = [];
    const body = m.body;
    for (let k = 0; k < body.length; k++) {
      const b = body[k]!;
      // '#' param: stringify.
      if (b.t === 'op' && b.s === '#' && k + 1 < body.length && idx(body[k + 1]!) >= 0) {
        const a = args[idx(body[k + 1]!)]!;
        const st = tok('string', stringify(a), b.ws, name.pos);
        st.paste = body[k + 1]!.paste;
        out.push(st);
        k++;
        continue;
      }
      const pi = idx(b);
      if (pi < 0) {
        const c = copyTok(b);
        c.pos = name.pos;
        c.fromSource = false;
        out.push(c);
        continue;
      }
      const a = args[pi]!;
      const prevPaste = k > 0 && body[k - 1]!.paste;
      if (b.paste || prevPaste) {
        // Operand of ##: the argument as written. An empty one is a placemarker.
        if (a.length === 0) {
          // GNU comma elision: `, ## __VA_ARGS__` with no variable arguments drops the comma.
          if (prevPaste && m.variadic && pi === m.params.length - 1 && out.length && out[out.length - 1]!.s === ',') {
            out.pop();
            continue;
          }
          const ph = tok('pad', '', false, undefined);
          ph.paste = b.paste;
          ph.pm = true;
          out.push(ph);
          continue;
        }
        if (
          prevPaste &&
          m.variadic &&
          pi === m.params.length - 1 &&
          out.length &&
          out[out.length - 1]!.s === ',' &&
          out[out.length - 1]!.paste
        ) {
          // `, ## args` with arguments: no paste, the comma stays.
          out[out.length - 1] = { ...out[out.length - 1]!, paste: false };
          for (const x of a) out.push(argCopy(x));
          out.push(pad(undefined));
          continue;
        }
        const copies = a.map(argCopy);
        copies[copies.length - 1]!.paste = b.paste;
        out.push(...copies);
        if (!b.paste) out.push(pad(undefined));
        continue;
      }
      let ex = expandedCache.get(pi);
      if (!ex) {
        ex = this.expandArg(a.map(copyTok), name);
        expandedCache.set(pi, ex);
      }
      if (k > 0) out.push(pad(b));
      for (const x of ex) out.push(x.t === 'pad' ? x : argCopy(x));
      out.push(pad(undefined));
    }
    return this.pasteAll(out, name);
  }

  /** Performs the `##` pastes marked in `toks`. */
  private pasteAll(toks: Tok[], name: Tok): Tok[] {
    if (!toks.some((t) => t.paste)) return toks.filter((t) => !t.pm);
    const out: Tok[] = [];
    for (let k = 0; k < toks.length; k++) {
      let lhs = toks[k]!;
      while (lhs.paste && k + 1 < toks.length) {
        let rhs = toks[++k]!;
        while (rhs.t === 'pad' && !rhs.pm && k + 1 < toks.length) rhs = toks[++k]!;
        const lp = lhs.pm;
        const rp = rhs.pm;
        if (lp) {
          lhs = { ...rhs, ws: lhs.ws };
          continue;
        }
        if (rp) {
          lhs = { ...lhs, paste: rhs.paste };
          continue;
        }
        const text = lhs.s + rhs.s;
        const lx = new FileLexer(text, '<paste>', '');
        const first = lx.next();
        const second = lx.next();
        if (first.t !== 'eof' && second.t === 'eof' && first.s === text) {
          lhs = { ...tok(first.t, text, lhs.ws, name.pos), paste: rhs.paste };
        } else {
          // Assembler mode: an invalid paste leaves both tokens.
          out.push({ ...lhs, paste: false });
          lhs = { ...rhs, paste: rhs.paste };
        }
      }
      if (lhs.pm) continue;
      out.push(lhs.paste ? { ...lhs, paste: false } : lhs);
    }
    return out;
  }

  // -- directives ------------------------------------------------------------------------------

  /** Handles a `#` line; false if it is not a directive (assembler mode: ordinary text). */
  private directive(fs: FileState, hash: Tok): boolean {
    const lx = fs.lx;
    const nameTok = lx.peek();
    if (nameTok.bol || nameTok.t === 'eof') return true; // null directive
    const active = this.isActive(fs);
    if (nameTok.t === 'number') {
      if (!active) {
        lx.skipLine();
        return true;
      }
      // A line marker `# 12 "file" flags…`. GCC in assembler mode passes even these through as text (and
      // dtc honours them); we honour them here, which positions errors and __LINE__ the same way. Any
      // other `#` + number line is ordinary text, as in GCC.
      const after = lx.peekSecond();
      if (!/^[0-9]+$/.test(nameTok.s) || (after !== undefined && after.t !== 'string')) return false;
      lx.next();
      this.lineDirective(fs, nameTok, hash);
      return true;
    }
    if (nameTok.t !== 'name') return active ? false : (lx.skipLine(), true);
    const d = nameTok.s;
    const conds = fs.conds;
    // Multiple-include optimisation bookkeeping.
    if (fs.mi === 'in' && conds.length === 1 && (d === 'else' || d === 'elif')) fs.mi = 'no';
    else if (fs.mi === 'in' && conds.length === 1 && d === 'endif') fs.mi = 'closed';
    else if (fs.mi === 'start' && d === 'ifndef') {
      const g = lx.peekSecond();
      if (g?.t === 'name') {
        fs.mi = 'in';
        fs.guard = g.s;
      } else fs.mi = 'no';
    } else if (fs.mi === 'start' || fs.mi === 'closed') fs.mi = 'no';
    switch (d) {
      case 'ifdef':
      case 'ifndef':
      case 'if': {
        lx.next();
        if (conds.length >= MAX_IF_DEPTH) throw new InputError('#if nested too deeply', hash.pos);
        let v = false;
        if (active) {
          if (d === 'if') v = this.evalIf(this.lineTokens(lx), hash);
          else {
            const n = lx.next();
            if (n.bol || n.t !== 'name')
              throw new InputError(`no macro name given in #${d} directive`, n.pos ?? hash.pos);
            v = this.macros.has(n.s) === (d === 'ifdef');
            lx.skipLine();
          }
        } else lx.skipLine();
        conds.push({ active: active && v, taken: v, sawElse: false, parentActive: active, pos: hash.pos! });
        return true;
      }
      case 'elif': {
        lx.next();
        const c = conds[conds.length - 1];
        if (!c) throw new InputError('#elif without #if', hash.pos);
        if (c.sawElse) throw new InputError('#elif after #else', hash.pos);
        if (c.parentActive && !c.taken) {
          const v = this.evalIf(this.lineTokens(lx), hash);
          c.active = v;
          c.taken = v;
        } else {
          lx.skipLine();
          c.active = false;
        }
        return true;
      }
      case 'else': {
        lx.next();
        lx.skipLine();
        const c = conds[conds.length - 1];
        if (!c) throw new InputError('#else without #if', hash.pos);
        if (c.sawElse) throw new InputError('#else after #else', hash.pos);
        c.sawElse = true;
        c.active = c.parentActive && !c.taken;
        c.taken = true;
        return true;
      }
      case 'endif': {
        lx.next();
        lx.skipLine();
        if (!conds.pop()) throw new InputError('#endif without #if', hash.pos);
        return true;
      }
    }
    if (!active) {
      lx.skipLine();
      return true;
    }
    switch (d) {
      case 'define':
        lx.next();
        this.doDefine(lx, hash.pos!);
        return true;
      case 'undef': {
        lx.next();
        const n = lx.next();
        if (n.bol || n.t !== 'name') throw new InputError('no macro name given in #undef directive', n.pos ?? hash.pos);
        this.macros.delete(n.s);
        lx.skipLine();
        return true;
      }
      case 'include':
        lx.next();
        this.doInclude(fs, hash);
        return true;
      case 'line': {
        lx.next();
        const n = lx.next();
        if (n.bol || n.t !== 'number') throw new InputError('"#line" requires a positive integer argument', hash.pos);
        this.lineDirective(fs, n, hash);
        return true;
      }
      case 'error': {
        lx.next();
        const msg = this.lineTokens(lx)
          .map((t, i) => (i > 0 && t.ws ? ' ' : '') + t.s)
          .join('');
        throw new InputError(`#error ${msg}`, hash.pos);
      }
      case 'warning':
      case 'pragma':
      case 'ident':
      case 'sccs':
        lx.next();
        lx.skipLine();
        return true;
    }
    return false;
  }

  /** The rest of the directive line, unexpanded. */
  private lineTokens(lx: FileLexer): Tok[] {
    const out: Tok[] = [];
    while (!lx.peek().bol) out.push(lx.next());
    return out;
  }

  private lineDirective(fs: FileState, num: Tok, hash: Tok): void {
    if (!/^[0-9]+$/.test(num.s))
      throw new InputError(`"${num.s}" after # is not a positive integer`, num.pos ?? hash.pos);
    const rest = this.lineTokens(fs.lx);
    let file: string | undefined;
    if (rest[0]) {
      if (rest[0].t !== 'string') throw new InputError(`invalid filename in line directive`, rest[0].pos);
      file = unquote(rest[0].s);
    }
    fs.lx.setLine(hash.pos!, Number(num.s), file);
  }

  private doDefine(lx: FileLexer, at: SrcPos): void {
    const n = lx.next();
    if (n.bol || n.t !== 'name') throw new InputError('macro names must be identifiers', n.pos ?? at);
    if (n.s === 'defined') throw new InputError('"defined" cannot be used as a macro name', n.pos);
    const m: Macro = { name: n.s, fn: false, params: [], variadic: false, body: [], disabled: false };
    const next = lx.peek();
    if (!next.bol && next.t === 'op' && next.s === '(' && !next.ws) {
      lx.next();
      m.fn = true;
      for (;;) {
        const p = lx.next();
        if (p.bol) throw new InputError(`missing ')' in macro parameter list`, n.pos);
        if (p.t === 'op' && p.s === ')' && m.params.length === 0) break;
        if (p.t === 'op' && p.s === '...') {
          m.params.push('__VA_ARGS__');
          m.variadic = true;
        } else if (p.t === 'name') {
          m.params.push(p.s);
          const q = lx.peek();
          if (!q.bol && q.t === 'op' && q.s === '...') {
            lx.next();
            m.variadic = true;
          }
        } else throw new InputError(`expected parameter name, found "${p.s}"`, p.pos);
        const sep = lx.next();
        if (sep.bol) throw new InputError(`missing ')' in macro parameter list`, n.pos);
        if (sep.t === 'op' && sep.s === ')') break;
        if (sep.t !== 'op' || sep.s !== ',' || m.variadic)
          throw new InputError(`expected ',' or ')', found "${sep.s}"`, sep.pos);
      }
    }
    const body: Tok[] = [];
    while (!lx.peek().bol) {
      const t = copyTok(lx.next());
      t.bol = false;
      if (t.t === 'op' && t.s === '##') {
        const last = body[body.length - 1];
        if (!last) throw new InputError("'##' cannot appear at either end of a macro expansion", t.pos);
        last.paste = true;
        continue;
      }
      body.push(t);
    }
    if (body.length && body[body.length - 1]!.paste)
      throw new InputError("'##' cannot appear at either end of a macro expansion", n.pos);
    // (In assembler mode a '#' not followed by a parameter is an ordinary token, not an error.)
    if (body[0]) body[0].ws = false;
    m.body = body;
    this.macros.set(m.name, m);
  }

  private doInclude(fs: FileState, hash: Tok): void {
    const lx = fs.lx;
    let spec: string;
    const first = lx.peek();
    if (first.bol) throw new InputError('#include expects "FILENAME" or <FILENAME>', hash.pos);
    if (first.t === 'string') {
      spec = first.s;
      lx.next();
      lx.skipLine();
    } else if (first.t === 'op' && first.s === '<') {
      const raw = lx.restOfLineRaw();
      const close = raw.indexOf('>');
      if (close < 0) throw new InputError('missing terminating > character', first.pos);
      spec = raw.slice(0, close + 1);
      lx.skipLine();
    } else {
      // Computed include: macro-expand the line.
      const toks = this.expandList(this.lineTokens(lx));
      const s = toks
        .filter((t) => t.t !== 'pad')
        .map((t, i) => (i > 0 && t.ws ? ' ' : '') + t.s)
        .join('');
      if (!/^(".*"|<.*>)$/.test(s)) throw new InputError('#include expects "FILENAME" or <FILENAME>', hash.pos);
      spec = s;
    }
    const angled = spec.startsWith('<');
    const nul = spec.indexOf('\0');
    const name = spec.slice(1, nul < 0 ? -1 : nul); // a C string: GCC's file name ends at a NUL
    if (name === '') throw new InputError('empty filename in #include', hash.pos);
    if (this.files.length >= MAX_INCLUDE_DEPTH)
      throw new InputError(
        `#include nested depth ${this.files.length} exceeds maximum of ${MAX_INCLUDE_DEPTH} (include loop?)`,
        hash.pos,
      );
    if (++this.includes > MAX_INCLUDES)
      throw new InputError(`more than ${MAX_INCLUDES} #include directives processed`, hash.pos);
    const found = this.findInclude(name, angled, fs);
    if (!found) throw new InputError(`${name}: no such file or directory`, first.pos ?? hash.pos);
    const guard = this.guards.get(found.path);
    if (guard !== undefined && this.macros.has(guard)) return; // include guard still defined: nothing to read
    const dir = path.dirname(found.path);
    this.files.push({
      lx: new FileLexer(found.text, found.path, dir === '.' && !found.path.startsWith('.') ? '' : dir),
      conds: [],
      mi: 'start',
    });
    this.out.marker(1, found.path, 1);
  }

  private findInclude(name: string, angled: boolean, fs: FileState): { path: string; text: string } | undefined {
    if (!this.readFile) return undefined;
    const join = (dir: string): string =>
      path.isAbsolute(name) ? name : dir === '' ? name : `${dir.replace(/\/+$/, '')}/${name}`;
    const dirs = angled ? [...this.includeDirs] : [fs.lx.dir, ...this.includeDirs];
    for (const d of dirs) {
      const p = join(d);
      try {
        return { path: p, text: this.readFile(p) };
      } catch {
        // not here
      }
    }
    return undefined;
  }

  private hasInclude(toks: Tok[], k: number, at: Tok): { value: boolean; next: number } {
    // __has_include ( "file" ) or ( <file> )
    let j = k + 1;
    if (toks[j]?.s !== '(') throw new InputError('missing \'(\' after "__has_include"', at.pos);
    j++;
    let name: string;
    let angled = false;
    const t = toks[j];
    if (t?.t === 'string') {
      name = unquote(t.s);
      j++;
    } else if (t?.s === '<') {
      angled = true;
      const parts: string[] = [];
      j++;
      while (toks[j] && toks[j]!.s !== '>') parts.push((toks[j]!.ws && parts.length ? ' ' : '') + toks[j++]!.s);
      if (!toks[j]) throw new InputError('missing terminating > character', at.pos);
      j++;
      name = parts.join('');
    } else throw new InputError('operator "__has_include" requires a header-name', at.pos);
    if (toks[j]?.s !== ')') throw new InputError('missing \')\' after "__has_include" operand', at.pos);
    return { value: this.findInclude(name, angled, this.fileState!) !== undefined, next: j + 1 };
  }

  /** Macro-expands a token list in isolation (directive operands). */
  private expandList(list: Tok[]): Tok[] {
    return this.expandArg(list);
  }

  private evalIf(raw: Tok[], hash: Tok): boolean {
    // `defined X` / `defined(X)` and __has_include are resolved before expansion.
    const pre: Tok[] = [];
    for (let k = 0; k < raw.length; k++) {
      const t = raw[k]!;
      if (t.t === 'name' && t.s === 'defined') {
        let j = k + 1;
        const paren = raw[j]?.s === '(';
        if (paren) j++;
        const n = raw[j];
        if (!n || n.t !== 'name') throw new InputError('operator "defined" requires an identifier', t.pos);
        j++;
        if (paren) {
          if (raw[j]?.s !== ')') throw new InputError('missing \')\' after "defined"', t.pos);
          j++;
        }
        pre.push(tok('number', this.macros.has(n.s) ? '1' : '0', t.ws, t.pos));
        k = j - 1;
        continue;
      }
      if (t.t === 'name' && (t.s === '__has_include' || t.s === '__has_include_next')) {
        const r = this.hasInclude(raw, k, t);
        pre.push(tok('number', r.value ? '1' : '0', t.ws, t.pos));
        k = r.next - 1;
        continue;
      }
      pre.push(t);
    }
    const toks = this.expandList(pre).filter((t) => t.t !== 'pad');
    if (toks.length === 0) throw new InputError('#if with no expression', hash.pos);
    return new IfExpr(toks, hash).evaluate() !== 0n;
  }

  run(): string {
    for (;;) {
      const t = this.getToken(-1);
      if (t.t === 'eof') break;
      this.out.token(t);
    }
    return this.out.result();
  }
}

function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** The `#x` operator: the argument's spelling, whitespace collapsed, quotes and backslashes escaped. */
function stringify(arg: Tok[]): string {
  let s = '';
  let source: Tok | undefined;
  for (const t of arg) {
    if (t.t === 'pad') {
      if (source === undefined || (!source.ws && t.src === undefined)) source = t.src;
      continue;
    }
    if (s.length) {
      const src = source ?? t;
      if (src.ws) s += ' ';
    }
    source = undefined;
    s += t.t === 'string' || t.t === 'char' ? t.s.replace(/[\\"]/g, (c) => '\\' + c) : t.s;
  }
  return `"${s}"`;
}

// ---------------------------------------------------------------------------------------------
// #if expressions: C integer arithmetic in intmax_t / uintmax_t, unevaluated operands skipped.

interface Val {
  v: bigint;
  u: boolean;
}

const M64 = (1n << 64n) - 1n;
const toSigned = (v: bigint): bigint => BigInt.asIntN(64, v);
const norm = (v: bigint, u: boolean): Val => ({ v: u ? v & M64 : toSigned(v), u });

class IfExpr {
  private k = 0;
  private depth = 0;

  constructor(
    private readonly toks: Tok[],
    private readonly at: Tok,
  ) {}

  private fail(msg: string, t?: Tok): never {
    throw new InputError(msg, t?.pos ?? this.at.pos);
  }

  private peek(): Tok | undefined {
    return this.toks[this.k];
  }

  private isOp(s: string): boolean {
    const t = this.peek();
    return t !== undefined && t.t === 'op' && t.s === s;
  }

  evaluate(): bigint {
    const v = this.comma(true);
    const t = this.peek();
    if (t) this.fail(`missing binary operator before token "${t.s}"`, t);
    return v.v;
  }

  private comma(ev: boolean): Val {
    let v = this.cond(ev);
    while (this.isOp(',')) {
      this.k++;
      v = this.cond(ev);
    }
    return v;
  }

  private cond(ev: boolean): Val {
    const c = this.binary(0, ev);
    if (!this.isOp('?')) return c;
    if (++this.depth > 1000) this.fail('#if expression nested too deeply', this.peek());
    this.k++;
    const a = this.comma(ev && c.v !== 0n);
    if (!this.isOp(':')) this.fail("'?' without following ':'", this.peek());
    this.k++;
    const b = this.cond(ev && c.v === 0n);
    this.depth--;
    const u = a.u || b.u;
    return norm(c.v !== 0n ? a.v : b.v, u);
  }

  private static readonly LEVELS: readonly (readonly string[])[] = [
    ['||'],
    ['&&'],
    ['|'],
    ['^'],
    ['&'],
    ['==', '!='],
    ['<', '>', '<=', '>='],
    ['<<', '>>'],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private binary(level: number, ev: boolean): Val {
    if (level >= IfExpr.LEVELS.length) return this.unary(ev);
    const ops = IfExpr.LEVELS[level]!;
    let a = this.binary(level + 1, ev);
    for (;;) {
      const t = this.peek();
      if (!t || t.t !== 'op' || !ops.includes(t.s)) return a;
      this.k++;
      const op = t.s;
      const rhsEv = op === '||' ? ev && a.v === 0n : op === '&&' ? ev && a.v !== 0n : ev;
      const b = this.binary(level + 1, rhsEv);
      a = this.apply(op, a, b, rhsEv, t);
    }
  }

  private apply(op: string, a: Val, b: Val, ev: boolean, t: Tok): Val {
    const u = a.u || b.u;
    const x = u ? a.v & M64 : a.v;
    const y = u ? b.v & M64 : b.v;
    const bool = (c: boolean): Val => ({ v: c ? 1n : 0n, u: false });
    switch (op) {
      case '||':
        return bool(a.v !== 0n || b.v !== 0n);
      case '&&':
        return bool(a.v !== 0n && b.v !== 0n);
      case '|':
        return norm(x | y, u);
      case '^':
        return norm(x ^ y, u);
      case '&':
        return norm(x & y, u);
      case '==':
        return bool(x === y);
      case '!=':
        return bool(x !== y);
      case '<':
        return bool(x < y);
      case '>':
        return bool(x > y);
      case '<=':
        return bool(x <= y);
      case '>=':
        return bool(x >= y);
      case '<<':
      case '>>': {
        let n = b.u ? b.v & M64 : b.v;
        let left = op === '<<';
        if (n < 0n) {
          n = -n;
          left = !left;
        }
        if (left) return norm(n >= 64n ? 0n : x << n, a.u);
        if (n >= 64n) return norm(!a.u && a.v < 0n ? -1n : 0n, a.u);
        return norm(x >> n, a.u);
      }
      case '+':
        return norm(x + y, u);
      case '-':
        return norm(x - y, u);
      case '*':
        return norm(x * y, u);
      case '/':
      case '%':
        if (y === 0n) {
          if (ev) this.fail('division by zero in #if', t);
          return { v: 0n, u };
        }
        return norm(op === '/' ? x / y : x % y, u);
    }
    return this.fail(`token "${op}" is not valid in preprocessor expressions`, t);
  }

  private unary(ev: boolean): Val {
    const t = this.peek();
    if (!t) return this.fail('#if with no expression');
    if (t.t === 'op' && ['-', '+', '~', '!'].includes(t.s)) {
      this.k++;
      if (++this.depth > 1000) this.fail('#if expression nested too deeply', t);
      const v = this.unary(ev);
      this.depth--;
      if (t.s === '-') return norm(-v.v, v.u);
      if (t.s === '+') return v;
      if (t.s === '~') return norm(~v.v, v.u);
      return { v: v.v === 0n ? 1n : 0n, u: false };
    }
    if (t.t === 'op' && t.s === '(') {
      if (++this.depth > 1000) this.fail('#if expression nested too deeply', t);
      this.k++;
      const v = this.comma(ev);
      if (!this.isOp(')')) this.fail("missing ')' in expression", this.peek() ?? t);
      this.k++;
      this.depth--;
      return v;
    }
    if (t.t === 'op' && t.s === '#' && this.toks[this.k + 1]?.t === 'name') {
      // An assertion `#pred` or `#pred(answer)` (GCC's deprecated extension): none exist with -undef.
      this.k += 2;
      if (this.isOp('(')) {
        let depth = 0;
        do {
          const x = this.toks[this.k++];
          if (!x) this.fail("missing ')' to complete answer", t);
          if (x.s === '(') depth++;
          else if (x.s === ')') depth--;
        } while (depth > 0);
      }
      return { v: 0n, u: false };
    }
    this.k++;
    if (t.t === 'number') return parseCppNumber(t);
    if (t.t === 'char') return parseCppChar(t);
    if (t.t === 'name') return { v: 0n, u: false }; // an identifier that is not a macro is 0
    return this.fail(`token "${t.s}" is not valid in preprocessor expressions`, t);
  }
}

function parseCppNumber(t: Tok): Val {
  const m = /^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)([uU](?:ll|LL|l|L)?|(?:ll|LL|l|L)[uU]?)?$/.exec(t.s);
  if (!m) {
    if (/[.eEpP]/.test(t.s)) throw new InputError('floating constant in preprocessor expression', t.pos);
    throw new InputError(`invalid integer constant "${t.s}" in #if`, t.pos);
  }
  const d = m[1]!;
  let v: bigint;
  if (/^0[bB]/.test(d)) v = BigInt(d);
  else if (/^0[xX]/.test(d)) v = BigInt(d);
  else if (d.length > 1 && d[0] === '0') v = BigInt('0o' + d.slice(1));
  else v = BigInt(d);
  if (v > M64) throw new InputError('integer constant is too large for its type', t.pos);
  const unsigned = /[uU]/.test(m[2] ?? '') || v > (1n << 63n) - 1n;
  return norm(v, unsigned);
}

function parseCppChar(t: Tok): Val {
  const body = t.s.slice(1, -1);
  const bytes: number[] = [];
  for (let i = 0; i < body.length;) {
    const c = body[i]!;
    if (c !== '\\') {
      bytes.push(body.charCodeAt(i) & 0xff);
      i++;
      continue;
    }
    const e = body[i + 1] ?? '';
    const simple: Record<string, number> = {
      n: 10,
      t: 9,
      r: 13,
      a: 7,
      b: 8,
      f: 12,
      v: 11,
      e: 27,
      '\\': 92,
      "'": 39,
      '"': 34,
      '?': 63,
    };
    if (e in simple) {
      bytes.push(simple[e]!);
      i += 2;
    } else if (e === 'x') {
      const m = /^[0-9a-fA-F]+/.exec(body.slice(i + 2));
      if (!m) throw new InputError('\\x used with no following hex digits', t.pos);
      bytes.push(parseInt(m[0].slice(-2), 16));
      i += 2 + m[0].length;
    } else if (/[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i + 1))!;
      bytes.push(parseInt(m[0], 8) & 0xff);
      i += 1 + m[0].length;
    } else {
      bytes.push(body.charCodeAt(i + 1) & 0xff);
      i += 2;
    }
  }
  if (bytes.length === 0) throw new InputError('empty character constant', t.pos);
  // A one-char constant is a (signed) char; several make an int, as GCC does.
  let v = 0n;
  for (const b of bytes) v = ((v << 8n) | BigInt(b)) & 0xffffffffn;
  if (bytes.length === 1) v = BigInt.asIntN(8, v);
  else v = BigInt.asIntN(32, v);
  return { v, u: false };
}

/**
 * Preprocesses `text` (the contents of `opts.file`) like
 * `cpp -nostdinc -I… -undef -x assembler-with-cpp`, returning the output with line markers.
 */
export function preprocess(text: string, opts: PreprocessOptions): string {
  return new Preprocessor(text, opts).run();
}
