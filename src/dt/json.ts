/**
 * The JSON form of a device tree (`mte-sim dt --format json`): the dt-schema layout that
 * `dtc -O yaml` prints, as JSON, plus the blob header fields, so json → tree → dtb reproduces the
 * original blob byte for byte. The layout is documented in README.md ("JSON layout of
 * `mte-sim dt --format json`"):
 *
 *   { "memreserve": [["0x80000000", "0x10000"]], "boot-cpuid-phys": 0,
 *     "root": { "model": ["FVP Base RevC"], "#address-cells": [[2]], "ranges": true,
 *               "cpus": { ... }, ... } }
 *
 * A node is an object: its properties first (each an array of chunks, or `true` when empty), then
 * its child nodes (objects), in tree order. A chunk is a string (NUL-terminated in the value), an
 * array of u32 cells (numbers; a phandle reference as `{ "phandle": n }`), or a one-key object
 * `{ "u8": [...] }`, `{ "u16": [...] }`, `{ "u64": ["0x..."] }`. A tree read from a DTB has no type
 * information: chunks are guessed as dtc guesses them (strings split at NULs for readability).
 *
 * treeFromJson reads that text back with its own small parser, which keeps key order (JSON.parse
 * reorders integer-like keys) and reports errors at `file:line:col`.
 */
import { InputError } from '../errors.js';
import type { SrcPos } from '../errors.js';
import { guessValueType, isTypeMarker } from './emit-dts.js';
import type { DtNode, DtProperty, DtTree, Marker, MarkerKind } from './tree.js';

// ---------------------------------------------------------------------------------------------
// Writing

type Chunk =
  | { kind: 'string'; text: string }
  | { kind: 'u32'; cells: (number | { phandle: number })[] }
  | { kind: 'u8' | 'u16'; values: number[] }
  | { kind: 'u64'; values: bigint[] };

function chunksOf(prop: DtProperty): Chunk[] {
  const v = prop.value;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  let types: Marker[] = prop.markers.filter(isTypeMarker);
  const guessed = types.length === 0;
  if (guessed) types = [{ offset: 0, kind: guessValueType(prop) }];
  const phandles = new Set(prop.markers.filter((m) => m.kind === 'ref-phandle').map((m) => m.offset));
  const out: Chunk[] = [];
  types.forEach((m, i) => {
    const end = i + 1 < types.length ? types[i + 1]!.offset : v.length;
    if (end <= m.offset) return;
    switch (m.kind) {
      case 'string': {
        const text = Buffer.from(v.subarray(m.offset, end - 1)).toString('latin1');
        if (guessed) for (const s of text.split('\0')) out.push({ kind: 'string', text: s });
        else out.push({ kind: 'string', text });
        break;
      }
      case 'u32': {
        const cells: (number | { phandle: number })[] = [];
        for (let p = m.offset; p + 4 <= end; p += 4)
          cells.push(phandles.has(p) ? { phandle: dv.getUint32(p) } : dv.getUint32(p));
        out.push({ kind: 'u32', cells });
        break;
      }
      case 'u16':
      case 'u8': {
        const values: number[] = [];
        const w = m.kind === 'u8' ? 1 : 2;
        for (let p = m.offset; p + w <= end; p += w) values.push(w === 1 ? v[p]! : dv.getUint16(p));
        out.push({ kind: m.kind, values });
        break;
      }
      default: {
        const values: bigint[] = [];
        for (let p = m.offset; p + 8 <= end; p += 8) values.push(dv.getBigUint64(p));
        out.push({ kind: 'u64', values });
      }
    }
  });
  return out;
}

const hex64 = (n: bigint): string => JSON.stringify(`0x${n.toString(16)}`);

function chunkJson(c: Chunk): string {
  switch (c.kind) {
    case 'string':
      return JSON.stringify(c.text);
    case 'u32':
      return `[${c.cells.map((x) => (typeof x === 'number' ? String(x) : `{ "phandle": ${x.phandle} }`)).join(', ')}]`;
    case 'u64':
      return `{ "u64": [${c.values.map(hex64).join(', ')}] }`;
    default:
      return `{ "${c.kind}": [${c.values.join(', ')}] }`;
  }
}

function nodeJson(node: DtNode, indent: string, out: string[]): void {
  const inner = `${indent}  `;
  const entries: string[] = [];
  for (const p of node.properties) {
    const value = p.value.length === 0 ? 'true' : `[${chunksOf(p).map(chunkJson).join(', ')}]`;
    entries.push(`${inner}${JSON.stringify(p.name)}: ${value}`);
  }
  for (const c of node.children) {
    const sub: string[] = [];
    nodeJson(c, inner, sub);
    entries.push(`${inner}${JSON.stringify(c.name)}: ${sub.join('')}`);
  }
  if (entries.length === 0) out.push('{}');
  else out.push(`{\n${entries.join(',\n')}\n${indent}}`);
}

/** The tree as JSON text (ends with a newline). */
export function treeToJson(tree: DtTree): string {
  const out: string[] = [];
  nodeJson(tree.root, '  ', out);
  const rsv = tree.memreserve.map((r) => `[${hex64(r.address)}, ${hex64(r.size)}]`).join(', ');
  const plugin = tree.plugin ? '  "plugin": true,\n' : '';
  return `{\n${plugin}  "memreserve": [${rsv}],\n  "boot-cpuid-phys": ${tree.bootCpuidPhys},\n  "root": ${out.join('')}\n}\n`;
}

// ---------------------------------------------------------------------------------------------
// Reading: an order-preserving JSON parser with positions.

type JValue =
  | { t: 'obj'; entries: [string, JValue, SrcPos][]; pos: SrcPos }
  | { t: 'arr'; items: JValue[]; pos: SrcPos }
  | { t: 'str'; v: string; pos: SrcPos }
  | { t: 'num'; v: number; raw: string; pos: SrcPos }
  | { t: 'lit'; v: boolean | null; pos: SrcPos };

const MAX_JSON_DEPTH = 1000;

function parseJson(text: string, file: string): JValue {
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (): SrcPos => ({ file, line, col: i - lineStart + 1 });
  const fail = (msg: string, at: SrcPos = pos()): never => {
    throw new InputError(msg, at);
  };
  const ws = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x0a) {
        i++;
        line++;
        lineStart = i;
      } else if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else break;
    }
  };
  const str = (): string => {
    i++; // opening quote
    let s = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return s;
      }
      if (c === '\\') {
        const e = text[i + 1];
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e !== undefined && simple[e] !== undefined) {
          s += simple[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          s += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else fail('bad escape in string');
      } else if (c.charCodeAt(0) < 0x20) {
        fail('control character in string');
      } else {
        s += c;
        i++;
      }
    }
  };
  const value = (depth: number): JValue => {
    if (depth > MAX_JSON_DEPTH) fail('nested too deeply');
    ws();
    const at = pos();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: [string, JValue, SrcPos][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'obj', entries, pos: at };
      }
      for (;;) {
        ws();
        const kpos = pos();
        if (text[i] !== '"') fail('expected a string key');
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        entries.push([k, value(depth + 1), kpos]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { t: 'obj', entries, pos: at };
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items: JValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'arr', items, pos: at };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { t: 'arr', items, pos: at };
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { t: 'str', v: str(), pos: at };
    const num = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 64));
    if (num) {
      i += num[0].length;
      return { t: 'num', v: Number(num[0]), raw: num[0], pos: at };
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return { t: 'lit', v, pos: at };
      }
    }
    return fail(i >= text.length ? 'unexpected end of input' : `unexpected character '${c}'`);
  };
  const v = value(0);
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
  return v;
}

// ---------------------------------------------------------------------------------------------
// JSON value → tree

function uint(v: JValue, bits: 8 | 16 | 32 | 64, what: string): bigint {
  let n: bigint | undefined;
  if (v.t === 'num' && /^(0|[1-9][0-9]*)$/.test(v.raw)) n = BigInt(v.raw);
  else if (v.t === 'str' && /^(0[xX][0-9a-fA-F]+|0|[1-9][0-9]*)$/.test(v.v)) n = BigInt(v.v);
  if (n === undefined)
    throw new InputError(`${what}: expected an unsigned integer (a number or a "0x..." string)`, v.pos);
  if (n >= 1n << BigInt(bits)) throw new InputError(`${what}: ${n} does not fit in ${bits} bits`, v.pos);
  return n;
}

function propFromJson(name: string, v: JValue, pos: SrcPos): DtProperty {
  if (v.t === 'lit' && v.v === true) return { name, value: new Uint8Array(0), labels: [], markers: [], pos };
  if (v.t !== 'arr' || v.items.length === 0) {
    throw new InputError(`property "${name}": expected true or a non-empty array of chunks`, v.pos);
  }
  const bytes: number[] = [];
  const markers: Marker[] = [];
  const push = (n: bigint, width: number): void => {
    for (let k = width - 1; k >= 0; k--) bytes.push(Number((n >> BigInt(8 * k)) & 0xffn));
  };
  for (const c of v.items) {
    const offset = bytes.length;
    if (c.t === 'str') {
      markers.push({ offset, kind: 'string' });
      for (let k = 0; k < c.v.length; k++) {
        const code = c.v.charCodeAt(k);
        if (code > 0xff)
          throw new InputError(`property "${name}": string character U+${code.toString(16)} is not a byte`, c.pos);
        bytes.push(code);
      }
      bytes.push(0);
    } else if (c.t === 'arr') {
      markers.push({ offset, kind: 'u32' });
      for (const cell of c.items) {
        if (cell.t === 'obj' && cell.entries.length === 1 && cell.entries[0]![0] === 'phandle') {
          markers.push({ offset: bytes.length, kind: 'ref-phandle', ref: '' });
          push(uint(cell.entries[0]![1], 32, `property "${name}" phandle`), 4);
        } else push(uint(cell, 32, `property "${name}" cell`), 4);
      }
    } else if (c.t === 'obj' && c.entries.length === 1 && ['u8', 'u16', 'u64'].includes(c.entries[0]![0])) {
      const [kind, arr] = c.entries[0]!;
      if (arr.t !== 'arr') throw new InputError(`property "${name}": "${kind}" needs an array`, arr.pos);
      const bits = Number(kind.slice(1)) as 8 | 16 | 64;
      markers.push({ offset, kind: kind as MarkerKind });
      for (const x of arr.items) push(uint(x, bits, `property "${name}" ${kind} value`), bits / 8);
    } else {
      throw new InputError(
        `property "${name}": a chunk is a string, an array of cells, or { "u8" | "u16" | "u64": [...] }`,
        c.pos,
      );
    }
  }
  return { name, value: Uint8Array.from(bytes), labels: [], markers, pos };
}

function nodeFromJson(name: string, v: JValue, pos: SrcPos, depth: number): DtNode {
  if (v.t !== 'obj') throw new InputError(`node "${name || '/'}": expected an object`, v.pos);
  const properties: DtProperty[] = [];
  const children: DtNode[] = [];
  const propNames = new Set<string>();
  const childNames = new Set<string>();
  for (const [k, val, kpos] of v.entries) {
    if (k.length === 0) throw new InputError('empty name', kpos);
    if (val.t === 'obj') {
      if (k.includes('/')) throw new InputError(`node name "${k}" contains '/'`, kpos);
      if (childNames.has(k)) throw new InputError(`duplicate node "${k}"`, kpos);
      childNames.add(k);
      if (depth >= 512) throw new InputError('nodes nested more than 512 levels deep', kpos);
      children.push(nodeFromJson(k, val, kpos, depth + 1));
    } else {
      if (children.length > 0) throw new InputError(`property "${k}" after a child node`, kpos);
      if (propNames.has(k)) throw new InputError(`duplicate property "${k}"`, kpos);
      propNames.add(k);
      properties.push(propFromJson(k, val, kpos));
    }
  }
  return { name, labels: [], properties, children, pos };
}

/** Reads the JSON form back into a tree; bad input → InputError at file:line:col. */
export function treeFromJson(text: string, name: string): DtTree {
  const top = parseJson(text, name);
  if (top.t !== 'obj') throw new InputError('expected a JSON object with "root"', top.pos);
  let root: DtNode | undefined;
  const memreserve: { address: bigint; size: bigint; labels: string[] }[] = [];
  let bootCpuidPhys = 0;
  let plugin = false;
  for (const [k, v, kpos] of top.entries) {
    switch (k) {
      case 'root':
        root = nodeFromJson('', v, kpos, 0);
        break;
      case 'memreserve':
        if (v.t !== 'arr') throw new InputError('"memreserve" must be an array of [address, size] pairs', v.pos);
        for (const e of v.items) {
          if (e.t !== 'arr' || e.items.length !== 2)
            throw new InputError('a memreserve entry is [address, size]', e.pos);
          const size = uint(e.items[1]!, 64, 'memreserve size');
          // A size of 0 ends the reservation map in a blob, so it cannot be an entry.
          if (size === 0n) throw new InputError('memreserve size must not be 0', e.items[1]!.pos);
          memreserve.push({ address: uint(e.items[0]!, 64, 'memreserve address'), size, labels: [] });
        }
        break;
      case 'boot-cpuid-phys':
        bootCpuidPhys = Number(uint(v, 32, '"boot-cpuid-phys"'));
        break;
      case 'plugin':
        if (v.t !== 'lit' || typeof v.v !== 'boolean') throw new InputError('"plugin" must be true or false', v.pos);
        plugin = v.v;
        break;
      default:
        throw new InputError(`unknown key "${k}" (expected root, memreserve, boot-cpuid-phys, plugin)`, kpos);
    }
  }
  if (!root) throw new InputError('missing "root"', top.pos);
  return { root, memreserve, bootCpuidPhys, plugin, source: name };
}
