/**
 * The DTS lexer: dtc's dtc-lexer.l (dtc 1.6.1) re-expressed by hand, with the same start conditions
 * (INITIAL, V1, PROPNODENAME, BYTESTRING), the same longest-match choices and the same escapes
 * (util.c get_escape_char), so that every input tokenises exactly as dtc would.
 *
 * Also handled here, as in dtc: `/include/ "file"` (a nested input, searched in the including file's
 * directory, then the include directories) and cpp line markers `# 12 "file" 1` at the start of a line,
 * which set the file and line reported for what follows.
 *
 * dtc quirks kept on purpose: a character literal runs to the last `'` it can reach (`'\\'` swallows
 * up to the next quote); a `//` comment needs a newline; a NUL or a byte of 0x80 and up outside strings
 * and comments ends the input (dtc returns it as a negative token, which bison reads as end of input).
 * Where dtc would fail with a syntax error anyway, the message here is more specific (unterminated
 * string, comment or character literal). At most 200 nested and 10,000 total /include/s.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, type SrcPos } from '../errors.js';
import { stringBytes } from './data.js';

export type TokKind =
  | 'v1'
  | 'plugin'
  | 'memreserve'
  | 'bits'
  | 'delprop'
  | 'delnode'
  | 'omit'
  | 'incbin'
  | 'name'
  | 'literal'
  | 'char'
  | 'byte'
  | 'string'
  | 'label'
  | 'labelref'
  | 'pathref'
  | 'op' // one- or two-character punctuation: text holds it
  | 'eof';

export interface Token {
  readonly kind: TokKind;
  /** The name, label, reference (without `&`/`&{}`), operator text or raw literal text. */
  readonly text: string;
  readonly pos: SrcPos;
  /** literal/char: the value; byte: the byte. */
  readonly value?: bigint;
  /** string: the unescaped bytes, without the terminating NUL. */
  readonly bytes?: Uint8Array;
}

const enum St {
  Initial,
  V1,
  PropNodeName,
  ByteString,
}

interface Source {
  readonly text: string;
  /** The real path of the file (for /include/ look-ups); '' for in-memory text. */
  readonly realPath: string;
  i: number;
  file: string;
  line: number;
  lineStart: number;
  /** Index of the first newline at or after `i` (Infinity: none), or -1 when unknown. */
  nextNl: number;
}

export interface LexerOptions {
  file: string;
  includeDirs?: readonly string[];
  readFile?: (path: string) => string;
  /** Upper bound on the total characters read through /include/ (bounded work). */
  maxInputChars?: number;
}

const MAX_INCLUDE_DEPTH = 200; // dtc srcpos.c MAX_SRCFILE_DEPTH
const MAX_INCLUDES = 10_000; // bounded work: a file that includes itself twice would double at each level

// Character classes as dense look-up tables (latin1 range; anything above is "other").
const PROPNODECHAR = new Uint8Array(256);
const LABELSTART = new Uint8Array(256);
const LABELCHAR = new Uint8Array(256);
const HEX = new Uint8Array(256);
const SPACE = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  const alpha = /[A-Za-z]/.test(ch);
  const digit = /[0-9]/.test(ch);
  if (alpha || digit || ',._+*#?@-'.includes(ch)) PROPNODECHAR[c] = 1;
  if (alpha || ch === '_') LABELSTART[c] = 1;
  if (alpha || digit || ch === '_') LABELCHAR[c] = 1;
  if (digit || /[a-fA-F]/.test(ch)) HEX[c] = 1;
  if (' \t\n\v\f\r'.includes(ch)) SPACE[c] = 1;
}
const cls = (t: Uint8Array, c: number): boolean => c < 256 && t[c] === 1;

const KEYWORDS: readonly [string, TokKind, St | -1][] = [
  ['/dts-v1/', 'v1', St.V1],
  ['/plugin/', 'plugin', -1],
  ['/memreserve/', 'memreserve', St.V1],
  ['/bits/', 'bits', St.V1],
  ['/delete-property/', 'delprop', St.PropNodeName],
  ['/delete-node/', 'delnode', St.PropNodeName],
  ['/omit-if-no-ref/', 'omit', St.PropNodeName],
];
const TWO_CHAR_OPS = new Set(['<<', '>>', '<=', '>=', '==', '!=', '&&', '||']);
const TWO_CHAR_START = new Uint8Array(256);
for (const op of TWO_CHAR_OPS) TWO_CHAR_START[op.charCodeAt(0)] = 1;

/** strtol(x, &end, base) over at most `max` characters, as util.c's get_hex_char/get_oct_char use it. */
function strtolWindow(s: string, at: number, max: number, base: 8 | 16): { value: number; used: number } {
  const w = s.slice(at, at + max);
  let i = 0;
  while (i < w.length && cls(SPACE, w.charCodeAt(i))) i++;
  let neg = false;
  if (w[i] === '+' || w[i] === '-') {
    neg = w[i] === '-';
    i++;
  }
  if (base === 16 && w[i] === '0' && (w[i + 1] === 'x' || w[i + 1] === 'X') && i + 2 < w.length) {
    const d = parseInt(w[i + 2]!, 16);
    if (!Number.isNaN(d)) i += 2;
  }
  const digitsStart = i;
  let v = 0;
  for (; i < w.length; i++) {
    const d = parseInt(w[i]!, base);
    if (Number.isNaN(d)) break;
    v = v * base + d;
  }
  if (i === digitsStart) return { value: 0, used: 0 };
  return { value: neg ? -v : v, used: i };
}

/**
 * Unescapes a dtc string or character-literal body (data_copy_escape_string): returns the bytes
 * without a terminating NUL. `errAt(offset, msg)` reports a bad escape.
 */
export function unescape(body: string, errAt: (offset: number, msg: string) => never): Uint8Array {
  if (body.indexOf('\\') < 0) return stringBytes(body);
  const out: number[] = [];
  let run = '';
  const flush = (): void => {
    if (run) for (const b of stringBytes(run)) out.push(b);
    run = '';
  };
  let i = 0;
  while (i < body.length) {
    const c = body[i++]!;
    if (c !== '\\') {
      run += c;
      continue;
    }
    flush();
    const e = body[i];
    let val: number;
    switch (e) {
      case 'a':
        val = 7;
        i++;
        break;
      case 'b':
        val = 8;
        i++;
        break;
      case 't':
        val = 9;
        i++;
        break;
      case 'n':
        val = 10;
        i++;
        break;
      case 'v':
        val = 11;
        i++;
        break;
      case 'f':
        val = 12;
        i++;
        break;
      case 'r':
        val = 13;
        i++;
        break;
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        const r = strtolWindow(body, i, 3, 8);
        val = r.value;
        i += r.used;
        break;
      }
      case 'x': {
        const r = strtolWindow(body, i + 1, 2, 16);
        if (r.used === 0) errAt(i - 1, '\\x used with no following hex digits');
        val = r.value;
        i += 1 + r.used;
        break;
      }
      case undefined:
        val = 0; // cannot happen: the string pattern never ends in a lone backslash
        break;
      default: {
        // Any other escaped character stands for itself (its bytes, if it is not latin1).
        const cp = body.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        i += ch.length;
        for (const b of stringBytes(ch)) out.push(b);
        continue;
      }
    }
    out.push(val & 0xff);
  }
  flush();
  return Uint8Array.from(out);
}

export class Lexer {
  private stack: Source[] = [];
  private src: Source;
  private state: St = St.Initial;
  private readonly includeDirs: readonly string[];
  private readonly readFile: ((p: string) => string) | undefined;
  private totalChars: number;
  private includes = 0;
  private readonly maxChars: number;

  constructor(text: string, opts: LexerOptions) {
    this.src = { text, realPath: opts.file, i: 0, file: opts.file, line: 1, lineStart: 0, nextNl: -1 };
    this.includeDirs = opts.includeDirs ?? [];
    this.readFile = opts.readFile ?? ((p: string): string => readFileSync(p, 'latin1'));
    this.totalChars = text.length;
    this.maxChars = opts.maxInputChars ?? 64 * 1024 * 1024;
  }

  private posAt(i: number): SrcPos {
    return { file: this.src.file, line: this.src.line, col: i - this.src.lineStart + 1 };
  }

  /** Advances to `to`, counting newlines (the next newline's index is cached: linear on long lines too). */
  private advance(to: number): void {
    const s = this.src;
    const t = s.text;
    let nl = s.nextNl;
    if (nl < s.i) nl = t.indexOf('\n', s.i);
    while (nl >= 0 && nl < to) {
      s.line++;
      s.lineStart = nl + 1;
      nl = t.indexOf('\n', nl + 1);
    }
    s.nextNl = nl < 0 ? Infinity : nl;
    s.i = to;
  }

  private fail(i: number, msg: string): never {
    throw new InputError(msg, this.posAt(i));
  }

  /** End of a STRING (`"([^\\"]|\\.)*"`) starting at `i`, or -1 if it does not match. */
  private stringEnd(i: number): number {
    const t = this.src.text;
    const n = t.length;
    for (let j = i + 1; j < n; j++) {
      const c = t.charCodeAt(j);
      if (c === 34) return j + 1; // "
      if (c === 92) {
        // backslash: escapes any character but a newline
        if (j + 1 >= n || t.charCodeAt(j + 1) === 10) return -1;
        j++;
      }
    }
    return -1;
  }

  /** End of a CHAR_LITERAL (`'([^']|\\')*'`, longest match) starting at `i`, or -1. */
  private charEnd(i: number): number {
    const t = this.src.text;
    let cand = -1;
    let j = i + 1;
    for (;;) {
      const k = t.indexOf("'", j);
      if (k < 0) return cand;
      if (k > i + 1 && t[k - 1] === '\\') {
        cand = k + 1;
        j = k + 1;
        continue;
      }
      return k + 1;
    }
  }

  private stringToken(start: number, end: number): Token {
    const t = this.src.text;
    const body = t.slice(start + 1, end - 1);
    const pos = this.posAt(start);
    const bytes = unescape(body, (off, msg) => {
      this.advance(start + 1 + off);
      this.fail(start + 1 + off, msg);
    });
    this.advance(end);
    return { kind: 'string', text: body, pos, bytes };
  }

  private lineMarkerEnd(i: number): { end: number; line: number; file: string } | undefined {
    // ^"#"(line)?[ \t]+[0-9]+[ \t]+{STRING}([ \t]+[0-9]+)*
    const t = this.src.text;
    if (i !== 0 && t[i - 1] !== '\n') return undefined;
    const m = /#(?:line)?[ \t]+([0-9]+)[ \t]+"/y;
    m.lastIndex = i;
    const head = m.exec(t);
    if (!head) return undefined;
    const qs = m.lastIndex - 1;
    const qe = this.stringEnd(qs);
    if (qe < 0) return undefined;
    let end = qe;
    const flags = /[ \t]+[0-9]+/y;
    for (;;) {
      flags.lastIndex = end;
      const f = flags.exec(t);
      if (!f) break;
      end = flags.lastIndex;
    }
    return { end, line: Number(head[1]), file: t.slice(qs + 1, qe - 1) };
  }

  /** srcfile_relative_open: the including file's directory first, then the include directories. */
  private candidates(name: string): string[] {
    if (path.isAbsolute(name)) return [name];
    const dir = this.src.realPath ? path.dirname(this.src.realPath) : '.';
    return [path.join(dir, name), ...this.includeDirs.map((d) => path.join(d, name))];
  }

  private open(name: string, pos: SrcPos): { path: string; text: string } {
    if (!this.readFile) throw new InputError(`couldn't open "${name}": no file access`, pos);
    for (const c of this.candidates(name)) {
      try {
        return { path: c, text: this.readFile(c) };
      } catch {
        // try the next directory
      }
    }
    throw new InputError(`couldn't open "${name}": no such file`, pos);
  }

  /** The bytes of a file for /incbin/, found as /include/ files are. */
  readBinary(name: string, pos: SrcPos): Uint8Array {
    return Buffer.from(this.open(name, pos).text, 'latin1');
  }

  private pushInclude(name: string, at: number): void {
    if (this.stack.length + 1 >= MAX_INCLUDE_DEPTH) this.fail(at, 'includes nested too deeply');
    if (++this.includes > MAX_INCLUDES) this.fail(at, `more than ${MAX_INCLUDES} /include/ directives processed`);
    {
      const { path: c, text } = this.open(name, this.posAt(at));
      this.totalChars += text.length;
      if (this.totalChars > this.maxChars) this.fail(at, 'input too large (include bomb?)');
      this.stack.push(this.src);
      this.src = { text, realPath: c, i: 0, file: c, line: 1, lineStart: 0, nextNl: -1 };
    }
  }

  /** Returns the next token, changing start condition as dtc's lexer does. */
  next(): Token {
    for (;;) {
      const s = this.src;
      const t = s.text;
      const i = s.i;
      if (i >= t.length) {
        const outer = this.stack.pop();
        if (outer) {
          this.src = outer;
          continue;
        }
        return { kind: 'eof', text: '', pos: this.posAt(i) };
      }
      const c = t.charCodeAt(i);
      const ch = t[i]!;

      // Whitespace and comments.
      if (cls(SPACE, c)) {
        let j = i + 1;
        while (j < t.length && cls(SPACE, t.charCodeAt(j))) j++;
        this.advance(j);
        continue;
      }
      if (ch === '/' && t[i + 1] === '*') {
        const e = t.indexOf('*/', i + 2);
        if (e < 0) this.fail(i, 'unterminated comment');
        this.advance(e + 2);
        continue;
      }
      if (ch === '/' && t[i + 1] === '/') {
        const e = t.indexOf('\n', i + 2);
        if (e < 0) this.fail(i, 'unterminated comment (no newline at end of file)');
        this.advance(e + 1);
        continue;
      }

      const pos = this.posAt(i);
      if (ch === '#') {
        const lm = this.lineMarkerEnd(i);
        if (lm) {
          this.advance(lm.end);
          s.file = lm.file;
          s.line = lm.line - 1;
          continue;
        }
      }
      if (ch === '/') {
        const inc = /\/include\/[ \t\n\v\f\r]*"/y;
        inc.lastIndex = i;
        if (inc.test(t)) {
          const qs = inc.lastIndex - 1;
          const qe = this.stringEnd(qs);
          if (qe >= 0) {
            this.advance(qe);
            this.pushInclude(t.slice(qs + 1, qe - 1), i);
            continue;
          }
        }
        for (const [kw, kind, st] of KEYWORDS) {
          if (t.startsWith(kw, i)) {
            this.advance(i + kw.length);
            if (st !== -1) this.state = st;
            return { kind, text: kw, pos };
          }
        }
        if (this.state !== St.PropNodeName && this.state !== St.ByteString && t.startsWith('/incbin/', i)) {
          this.advance(i + 8);
          return { kind: 'incbin', text: '/incbin/', pos };
        }
      }
      if (ch === '"') {
        const e = this.stringEnd(i);
        if (e < 0) this.fail(i, 'unterminated string');
        return this.stringToken(i, e);
      }

      // Candidates that compete by length: LABEL:, name, literal, byte.
      let labelEnd = -1;
      if (cls(LABELSTART, c)) {
        let j = i + 1;
        while (j < t.length && cls(LABELCHAR, t.charCodeAt(j))) j++;
        if (t[j] === ':') labelEnd = j + 1;
      }
      if (this.state === St.PropNodeName) {
        let j = i;
        if (ch === '\\') j++;
        const ns = j;
        while (j < t.length && cls(PROPNODECHAR, t.charCodeAt(j))) j++;
        if (j > ns && j >= labelEnd) {
          this.advance(j);
          this.state = St.V1;
          return { kind: 'name', text: t.slice(ns, j), pos };
        }
      }
      if (labelEnd > 0) {
        this.advance(labelEnd);
        return { kind: 'label', text: t.slice(i, labelEnd - 1), pos };
      }
      if (this.state === St.V1 && c >= 48 && c <= 57) return this.literal(i, pos);
      if (this.state === St.ByteString) {
        if (cls(HEX, c) && cls(HEX, t.charCodeAt(i + 1))) {
          this.advance(i + 2);
          return { kind: 'byte', text: t.slice(i, i + 2), pos, value: BigInt(parseInt(t.slice(i, i + 2), 16)) };
        }
        if (ch === ']') {
          this.advance(i + 1);
          this.state = St.V1;
          return { kind: 'op', text: ']', pos };
        }
      }
      if (ch === "'") {
        const e = this.charEnd(i);
        if (e < 0) this.fail(i, 'unterminated character literal');
        return this.charLiteral(i, e, pos);
      }
      if (ch === '&') {
        if (cls(LABELSTART, t.charCodeAt(i + 1))) {
          let j = i + 2;
          while (j < t.length && cls(LABELCHAR, t.charCodeAt(j))) j++;
          this.advance(j);
          return { kind: 'labelref', text: t.slice(i + 1, j), pos };
        }
        if (t[i + 1] === '{' && t[i + 2] === '/') {
          let j = i + 3;
          while (j < t.length && (cls(PROPNODECHAR, t.charCodeAt(j)) || t[j] === '/')) j++;
          if (t[j] === '}') {
            this.advance(j + 1);
            return { kind: 'pathref', text: t.slice(i + 2, j), pos };
          }
        }
      }
      if (TWO_CHAR_START[c] === 1 && i + 1 < t.length) {
        const two = t.slice(i, i + 2);
        if (TWO_CHAR_OPS.has(two)) {
          this.advance(i + 2);
          return { kind: 'op', text: two, pos };
        }
      }
      // Any other single character. dtc's lexer returns it as its own token value, a *signed* char: a NUL
      // or a byte of 0x80 and up becomes token 0 or less, which bison takes as the end of input. So such a
      // byte outside strings and comments ends the source there (accepted if the tree is complete).
      if (c === 0 || c >= 0x80) return { kind: 'eof', text: '', pos };
      const cp = t.codePointAt(i)!;
      const one = String.fromCodePoint(cp);
      this.advance(i + one.length);
      if (one === '[') this.state = St.ByteString;
      else if (one === '{' || one === ';') this.state = St.PropNodeName;
      return { kind: 'op', text: one, pos };
    }
  }

  private literal(i: number, pos: SrcPos): Token {
    const t = this.src.text;
    const re = /(?:0[xX][0-9a-fA-F]+|[0-9]+)(?:ULL|UL|LL|U|L)?/y;
    re.lastIndex = i;
    re.exec(t);
    const end = re.lastIndex;
    const text = t.slice(i, end);
    this.advance(end);
    // strtoull(text, &e, 0) followed by dtc's suffix check.
    let digits: string;
    let base: number;
    let j: number;
    if (/^0[xX]/.test(text)) {
      base = 16;
      j = 2;
      while (j < text.length && cls(HEX, text.charCodeAt(j))) j++;
      digits = text.slice(2, j);
    } else if (text[0] === '0') {
      base = 8;
      j = 1;
      while (j < text.length && text[j]! >= '0' && text[j]! <= '7') j++;
      digits = text.slice(1, j) || '0';
    } else {
      base = 10;
      j = 0;
      while (j < text.length && text[j]! >= '0' && text[j]! <= '9') j++;
      digits = text.slice(0, j);
    }
    const rest = text.slice(j);
    if (/[^UL]/.test(rest)) throw new InputError(`bad integer literal '${text}'`, pos);
    // Up to 13 hex / 15 decimal digits fit a double exactly: skip the string round trip.
    const value =
      digits.length <= 13
        ? BigInt(parseInt(digits, base))
        : BigInt((base === 16 ? '0x' : base === 8 ? '0o' : '') + digits);
    if (value > 0xffffffffffffffffn) throw new InputError(`integer literal '${text}' out of range`, pos);
    return { kind: 'literal', text, pos, value };
  }

  private charLiteral(i: number, end: number, pos: SrcPos): Token {
    const t = this.src.text;
    const body = t.slice(i + 1, end - 1);
    const bytes = unescape(body, (off, msg) => {
      throw new InputError(msg, { ...pos, col: pos.col + 1 + off });
    });
    this.advance(end);
    if (bytes.length === 0) throw new InputError('empty character literal', pos);
    if (bytes.length > 1) throw new InputError(`character literal has ${bytes.length} characters instead of 1`, pos);
    return { kind: 'char', text: body, pos, value: BigInt(bytes[0]!) };
  }
}
