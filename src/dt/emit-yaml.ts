/**
 * Writes a tree in the dt-schema YAML layout exactly as `dtc -O yaml` (1.6.1) prints it
 * (`dt_to_yaml` in yamltree.c, dgibson/dtc), including libyaml's layout decisions: flow sequences
 * wrapped past column 80, single-quoted keys that cannot be plain (`'#address-cells'`), double-quoted
 * strings with libyaml's escapes, `{}` for an empty node.
 *
 * The layout: a document holding a one-item sequence with the root node as a mapping; a property maps
 * to `true` when empty, else to a flow sequence with one entry per typed chunk of its value: a string,
 * a sequence of u32 cells (phandle references tagged `!phandle`), or a tagged `!u8`/`!u16`/`!u64` sequence.
 *
 * dtc refuses to write YAML for a tree read from a DTB (it has no type information); so do we, with
 * dtc's message.
 */
import { InputError } from '../errors.js';
import { guessValueType, isTypeMarker } from './emit-dts.js';
import type { DtNode, DtProperty, DtTree, Marker } from './tree.js';

const BEST_WIDTH = 80;
const BEST_INDENT = 2;

/** A small subset of libyaml's emitter (0.2.5): just the states dtc's event stream visits. */
class YamlWriter {
  out = '';
  column = 0;
  whitespace = true;
  indention = true;
  indent = -1;
  private readonly indents: number[] = [];

  private put(s: string): void {
    this.out += s;
    this.column += s.length;
  }

  private newline(): void {
    this.out += '\n';
    this.column = 0;
  }

  increaseIndent(flow: boolean): void {
    this.indents.push(this.indent);
    this.indent = this.indent < 0 ? (flow ? BEST_INDENT : 0) : this.indent + BEST_INDENT;
  }

  popIndent(): void {
    this.indent = this.indents.pop() ?? -1;
  }

  writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.newline();
    while (this.column < indent) this.put(' ');
    this.whitespace = true;
    this.indention = true;
  }

  indicator(s: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    this.put(s);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }

  /** A tag written as handle `!` plus suffix. */
  tag(suffix: string): void {
    if (!this.whitespace) this.put(' ');
    this.put(`!${suffix}`);
    this.whitespace = false;
    this.indention = false;
  }

  plain(s: string): void {
    if (!this.whitespace && (s.length > 0 || this.flowLevel > 0)) this.put(' ');
    this.put(s);
    this.whitespace = false;
    this.indention = false;
  }

  singleQuoted(s: string): void {
    this.indicator("'", true, false, false);
    this.put(s.replace(/'/g, "''"));
    this.indicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  /** A double-quoted scalar; like every scalar, it is written one flow indent deeper (emit_scalar). */
  doubleQuoted(bytes: Uint8Array, from: number, to: number, allowBreaks: boolean): void {
    this.increaseIndent(true);
    this.indicator('"', true, false, false);
    let spaces = false;
    for (let i = from; i < to; i++) {
      const c = bytes[i]!;
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.put(`\\${YAML_ESCAPES[c] ?? `x${c.toString(16).toUpperCase().padStart(2, '0')}`}`);
        spaces = false;
      } else if (c === 0x20) {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && i !== from && i !== to - 1) {
          this.writeIndent();
          if (bytes[i + 1] === 0x20) this.put('\\');
        } else {
          this.put(' ');
        }
        spaces = true;
      } else {
        this.put(String.fromCharCode(c));
        spaces = false;
      }
    }
    this.indicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
    this.popIndent();
  }

  flowLevel = 0;

  flowSeqStart(): void {
    this.indicator('[', true, true, false);
    this.increaseIndent(true);
    this.flowLevel++;
  }

  /** Called before each item of a flow sequence. */
  flowSeqItem(first: boolean): void {
    if (!first) this.indicator(',', false, false, false);
    if (this.column > BEST_WIDTH) this.writeIndent();
  }

  flowSeqEnd(): void {
    this.flowLevel--;
    this.popIndent();
    this.indicator(']', false, false, false);
  }
}

const YAML_ESCAPES: Record<number, string> = {
  0: '0',
  7: 'a',
  8: 'b',
  9: 't',
  10: 'n',
  11: 'v',
  12: 'f',
  13: 'r',
  0x1b: 'e',
  0x22: '"',
  0x5c: '\\',
};

interface KeyStyle {
  plainAllowed: boolean;
  singleAllowed: boolean;
}

/** libyaml's yaml_emitter_analyze_scalar(), for a key in block context. */
function analyzeKey(s: string): KeyStyle {
  if (s.length === 0) return { plainAllowed: true, singleAllowed: true };
  let blockIndicators = s.startsWith('---') || s.startsWith('...');
  let special = false;
  let leadingOrTrailingSpace = false;
  const blankAt = (i: number): boolean => i >= s.length || s[i] === ' ' || s[i] === '\t';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = s.charCodeAt(i);
    const followedByWs = blankAt(i + 1);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(c)) blockIndicators = true;
      if ((c === '?' || c === ':') && followedByWs) blockIndicators = true;
      if (c === '-' && followedByWs) blockIndicators = true;
    } else {
      if (c === ':' && followedByWs) blockIndicators = true;
      if (c === '#' && blankAt(i - 1)) blockIndicators = true;
    }
    if (!(code === 0x0a || (code >= 0x20 && code <= 0x7e))) special = true;
    if (c === ' ' && (i === 0 || i === s.length - 1)) leadingOrTrailingSpace = true;
  }
  return {
    plainAllowed: !blockIndicators && !special && !leadingOrTrailingSpace,
    singleAllowed: !special,
  };
}

function writeKey(w: YamlWriter, key: string, quotedImplicit: boolean): void {
  const style = analyzeKey(key);
  if (style.plainAllowed) {
    w.plain(key);
    return;
  }
  if (!quotedImplicit) w.tag('');
  if (style.singleAllowed) w.singleQuoted(key);
  else w.doubleQuoted(Buffer.from(key, 'latin1'), 0, key.length, false);
}

function writeInts(w: YamlWriter, prop: DtProperty, from: number, len: number, width: 1 | 2 | 4 | 8): void {
  const v = prop.value;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (width !== 4) w.tag(`u${width * 8}`);
  w.flowSeqStart();
  const phandles = new Set(prop.markers.filter((m) => m.kind === 'ref-phandle').map((m) => m.offset));
  for (let off = 0; off + width <= len; off += width) {
    w.flowSeqItem(off === 0);
    const p = from + off;
    const n =
      width === 1
        ? v[p]!.toString(16)
        : width === 2
          ? dv.getUint16(p).toString(16)
          : width === 4
            ? dv.getUint32(p).toString(16)
            : dv.getBigUint64(p).toString(16);
    if (width === 4 && phandles.has(p)) w.tag('phandle');
    w.plain(`0x${n}`);
  }
  w.flowSeqEnd();
}

function writeProperty(w: YamlWriter, prop: DtProperty, where: string): void {
  const len = prop.value.length;
  if (len === 0) {
    w.plain('true');
    return;
  }
  let markers: readonly Marker[] = prop.markers;
  // dtc dies on a value without markers; a generated property (phandle) is typed by guessing instead.
  if (!markers.some(isTypeMarker)) markers = [{ offset: 0, kind: guessValueType(prop) }, ...markers];
  const types = markers.filter(isTypeMarker);
  w.flowSeqStart();
  types.forEach((m, i) => {
    const next = types[i + 1];
    const chunkLen = (next ? next.offset : len) - m.offset;
    if (chunkLen <= 0) return;
    w.flowSeqItem(i === 0);
    switch (m.kind) {
      case 'string': {
        const v = prop.value;
        for (let k = m.offset; k < m.offset + chunkLen; k++) {
          if (v[k]! >= 0x80)
            throw new InputError(`property "${prop.name}": yaml output needs 7-bit ASCII strings`, where);
        }
        w.doubleQuoted(v, m.offset, m.offset + chunkLen - 1, true);
        break;
      }
      case 'u8':
        writeInts(w, prop, m.offset, chunkLen, 1);
        break;
      case 'u16':
        writeInts(w, prop, m.offset, chunkLen, 2);
        break;
      case 'u64':
        writeInts(w, prop, m.offset, chunkLen, 8);
        break;
      default:
        writeInts(w, prop, m.offset, chunkLen, 4);
    }
  });
  w.flowSeqEnd();
}

function writeMapping(w: YamlWriter, node: DtNode, source: string): void {
  if (node.properties.length === 0 && node.children.length === 0) {
    w.indicator('{', true, true, false);
    w.indicator('}', false, false, false);
    return;
  }
  w.increaseIndent(false);
  const key = (name: string, quotedImplicit: boolean): void => {
    w.writeIndent();
    // libyaml writes a key longer than 128 characters as a complex key: `? key` then `: value`.
    const tagged = !quotedImplicit && !analyzeKey(name).plainAllowed;
    const simple = name.length + (tagged ? 1 : 0) <= 128;
    if (!simple) w.indicator('?', true, false, true);
    writeKey(w, name, quotedImplicit);
    if (simple) {
      w.indicator(':', false, false, false);
    } else {
      w.writeIndent();
      w.indicator(':', true, false, true);
    }
  };
  for (const prop of node.properties) {
    key(prop.name, true);
    writeProperty(w, prop, prop.pos ? `${prop.pos.file}:${prop.pos.line}:${prop.pos.col}` : source);
  }
  for (const child of node.children) {
    key(child.name, false);
    writeMapping(w, child, source);
  }
  w.popIndent();
}

/** The tree as `dtc -O yaml` prints it; throws InputError for a tree read from a DTB, as dtc does. */
export function emitYaml(tree: DtTree): string {
  if (tree.format === 'dtb') throw new InputError('yaml output format requires dts input format', tree.source);
  const w = new YamlWriter();
  w.indicator('---', true, false, false);
  // The document: a block sequence holding the root mapping.
  w.increaseIndent(false);
  w.writeIndent();
  w.indicator('-', true, false, true);
  writeMapping(w, tree.root, tree.source);
  w.popIndent();
  w.writeIndent();
  w.out += '...\n';
  return w.out;
}
