/**
 * Lexer of the scenario language (SPEC §6). A pull lexer over the whole text: the parser asks for one token at
 * a time and may re-position it (for the raw arguments of `boot PATH`, `to=/dt/path` and `cmdline=word`,
 * which are not made of ordinary tokens). Newlines are tokens because statements end at the end of a line.
 *
 * Words are identifiers that may contain inner dots (`fix.pfn_tags`, `meminfo.MemFree`, `buddyinfo.Normal.3`);
 * numbers are a digit followed by letters and digits (`4K`, `0x1000`), checked by sizes.ts. Every token
 * carries its 1-based line and column and its character offsets. Bad input throws InputError; nothing else.
 */

import { InputError, type SrcPos } from '../errors.js';

export type TokenKind = 'word' | 'number' | 'string' | 'punct' | 'raw' | 'newline' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Source text of the token; for strings the decoded value. */
  readonly text: string;
  readonly pos: SrcPos;
  /** Offsets into the source: [start, end). */
  readonly start: number;
  readonly end: number;
}

/** Punctuation, longest first so that `..` wins over `.` and `<=` over `<`. */
const PUNCTS = [
  '..',
  '==',
  '!=',
  '<=',
  '>=',
  '!~',
  ':',
  '=',
  '{',
  '}',
  '(',
  ')',
  '+',
  '-',
  '*',
  '/',
  '<',
  '>',
  '~',
  ';',
];

const isIdentStart = (c: string): boolean => /[A-Za-z_]/.test(c);
const isIdentChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);

/** A printable rendering of a character for messages. */
export function describeChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (code >= 0x21 && code < 0x7f) return `'${c}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

export class Lexer {
  private offset = 0;
  private line = 1;
  private lineStart = 0;

  constructor(
    readonly text: string,
    readonly file: string,
  ) {
    // A UTF-8 byte order mark is not part of the first line's columns.
    if (text.startsWith('\uFEFF')) this.offset = this.lineStart = 1;
  }

  /** Position of a character offset (only offsets on the current line or after a newline we passed). */
  posAt(offset: number): SrcPos {
    return { file: this.file, line: this.line, col: offset - this.lineStart + 1 };
  }

  /** The lexer's whole state, to back-track over a few tokens (see reset). */
  mark(): { offset: number; line: number; lineStart: number } {
    return { offset: this.offset, line: this.line, lineStart: this.lineStart };
  }

  reset(m: { offset: number; line: number; lineStart: number }): void {
    this.offset = m.offset;
    this.line = m.line;
    this.lineStart = m.lineStart;
  }

  private error(message: string, offset: number): never {
    throw new InputError(message, this.posAt(offset));
  }

  private skipBlanks(): void {
    const t = this.text;
    while (this.offset < t.length) {
      const c = t[this.offset] as string;
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') this.offset++;
      else if (c === '#') {
        while (this.offset < t.length && t[this.offset] !== '\n') this.offset++;
      } else break;
    }
  }

  private make(kind: TokenKind, text: string, start: number): Token {
    return { kind, text, pos: this.posAt(start), start, end: this.offset };
  }

  next(): Token {
    this.skipBlanks();
    const t = this.text;
    const start = this.offset;
    if (start >= t.length) return this.make('eof', '', start);
    const c = t[start] as string;
    if (c === '\n') {
      const tok = this.make('newline', '\n', start);
      this.offset++;
      // The token is reported on its own line; the next one starts a new line.
      const res = { ...tok, end: this.offset };
      this.line++;
      this.lineStart = this.offset;
      return res;
    }
    if (c === '"') return this.string(start);
    if (isIdentStart(c)) {
      let i = start + 1;
      while (i < t.length) {
        const d = t[i] as string;
        if (isIdentChar(d)) i++;
        else if (d === '.' && i + 1 < t.length && isIdentChar(t[i + 1] as string)) i += 2;
        else break;
      }
      this.offset = i;
      return this.make('word', t.slice(start, i), start);
    }
    if (c >= '0' && c <= '9') {
      let i = start + 1;
      while (i < t.length && isIdentChar(t[i] as string)) i++;
      this.offset = i;
      return this.make('number', t.slice(start, i), start);
    }
    for (const p of PUNCTS) {
      if (t.startsWith(p, start)) {
        this.offset = start + p.length;
        return this.make('punct', p, start);
      }
    }
    if (c === '.') this.error(`unexpected '.'`, start);
    return this.error(`unexpected character ${describeChar(c)}`, start);
  }

  /** A double-quoted string on one line; escapes \" \\ \n \t. */
  private string(start: number): Token {
    const t = this.text;
    let i = start + 1;
    let value = '';
    while (true) {
      if (i >= t.length || t[i] === '\n') this.error('unterminated string', start);
      const c = t[i] as string;
      if (c === '"') break;
      if (c === '\\') {
        const e = t[i + 1];
        if (e === '"' || e === '\\') value += e;
        else if (e === 'n') value += '\n';
        else if (e === 't') value += '\t';
        else if (e === undefined || e === '\n') this.error('unterminated string', start);
        else this.error(`unknown escape '\\${e}' in string`, i);
        i += 2;
        continue;
      }
      const code = c.charCodeAt(0);
      if (code < 0x20 && c !== '\t') this.error(`control character ${describeChar(c)} in string`, i);
      value += c;
      i++;
    }
    this.offset = i + 1;
    return this.make('string', value, start);
  }

  /**
   * A raw argument at the current offset (after blanks): a quoted string, or the run of characters up to a blank,
   * `#`, `;`, a brace or a quote. Used for file names, DT paths and labels. Returns an `eof`/`newline` token when
   * the line has nothing more.
   */
  raw(): Token {
    this.skipBlanks();
    const t = this.text;
    const start = this.offset;
    if (start >= t.length || t[start] === '\n') return this.next();
    if (t[start] === '"') return this.string(start);
    let i = start;
    while (i < t.length && !/[\s#;{}"]/.test(t[i] as string)) {
      const code = t.charCodeAt(i);
      if (code < 0x20 || code === 0x7f) this.error(`unexpected character ${describeChar(t[i] as string)}`, i);
      i++;
    }
    if (i === start) return this.next();
    this.offset = i;
    return this.make('raw', t.slice(start, i), start);
  }
}
