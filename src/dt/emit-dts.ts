/**
 * Writes a tree as DTS text exactly as dtc 1.6.1 does (`dt_to_source` in treesource.c, dgibson/dtc;
 * behaviour checked against Debian's dtc 1.6.1 in test/dt/output-*.test.ts).
 *
 * A value with type markers (a tree compiled from source) is printed chunk by chunk the way the
 * source spelled it; a value without any (a tree read from a DTB) is printed as one chunk whose type
 * dtc guesses: a string if it is NUL-terminated printable text with no more NULs than other bytes,
 * else cells if its length is a multiple of 4, else bytes. Like dtc 1.6.1, references are printed
 * as their resolved values (phandle cells, path strings), never as `&label`, and `/plugin/` is not
 * printed.
 *
 * The text is returned as a JS string holding one char per byte (latin1): names read from a blob
 * may hold any byte, and the caller writes the text back as latin1 to reproduce them.
 */
import type { DtNode, DtProperty, DtTree, Marker, MarkerKind } from './tree.js';

type TypeKind = 'u8' | 'u16' | 'u32' | 'u64' | 'string';

const TYPE_KINDS: ReadonlySet<MarkerKind> = new Set<MarkerKind>(['u8', 'u16', 'u32', 'u64', 'string']);
export const isTypeMarker = (m: Pick<Marker, 'kind'>): boolean => TYPE_KINDS.has(m.kind);

const DELIM_START: Record<TypeKind, string> = { u8: '[', u16: '/bits/ 16 <', u32: '<', u64: '/bits/ 64 <', string: '' };
const DELIM_END: Record<TypeKind, string> = { u8: ']', u16: '>', u32: '>', u64: '>', string: '' };
const WIDTH: Record<TypeKind, number> = { u8: 1, u16: 2, u32: 4, u64: 8, string: 1 };

/** C's isprint in the C locale. */
const isPrint = (c: number): boolean => c >= 0x20 && c <= 0x7e;
/** treesource.c isstring(): printable, NUL, or one of \a\b\t\n\v\f\r. */
const isStringChar = (c: number): boolean => isPrint(c) || c === 0 || (c >= 7 && c <= 13);

/** dtc's guess_value_type() (1.6.1) for a value that carries no type marker. */
export function guessValueType(prop: DtProperty): TypeKind {
  const v = prop.value;
  const len = v.length;
  let nnotstring = 0;
  let nnul = 0;
  for (let i = 0; i < len; i++) {
    const c = v[i]!;
    if (!isStringChar(c)) nnotstring++;
    if (c === 0) nnul++;
  }
  let nnotstringlbl = 0;
  let nnotcelllbl = 0;
  for (const m of prop.markers) {
    if (m.kind !== 'label') continue;
    if (m.offset > 0 && v[m.offset - 1] !== 0) nnotstringlbl++;
    if (m.offset % 4 !== 0) nnotcelllbl++;
  }
  if (v[len - 1] === 0 && nnotstring === 0 && nnul <= len - nnul && nnotstringlbl === 0) return 'string';
  if (len % 4 === 0 && nnotcelllbl === 0) return 'u32';
  return 'u8';
}

const ESCAPES: Record<number, string> = {
  7: '\\a',
  8: '\\b',
  9: '\\t',
  10: '\\n',
  11: '\\v',
  12: '\\f',
  13: '\\r',
  0x5c: '\\\\',
  0x22: '\\"',
  0: '\\0',
};

/** write_propval_string(): the chunk minus its final NUL, escaped; dtc prints a byte ≥ 0x80 as a sign-extended int. */
function writeString(v: Uint8Array, from: number, len: number): string {
  if (len === 0) return '';
  let s = '"';
  for (let i = from; i < from + len - 1; i++) {
    const c = v[i]!;
    const esc = ESCAPES[c];
    if (esc !== undefined) s += esc;
    else if (isPrint(c)) s += String.fromCharCode(c);
    else s += c >= 0x80 ? `\\x${((0xffffff00 | c) >>> 0).toString(16)}` : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `${s}"`;
}

/** write_propval_int(): `%02x` bytes, `0x%02x` wider integers, separated by spaces. */
function writeInts(v: Uint8Array, from: number, len: number, width: number): string {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const parts: string[] = [];
  const end = from + len - (len % width);
  for (let p = from; p < end; p += width) {
    switch (width) {
      case 1:
        parts.push(v[p]!.toString(16).padStart(2, '0'));
        break;
      case 2:
        parts.push(`0x${dv.getUint16(p).toString(16).padStart(2, '0')}`);
        break;
      case 4:
        parts.push(`0x${dv.getUint32(p).toString(16).padStart(2, '0')}`);
        break;
      default:
        parts.push(`0x${dv.getBigUint64(p).toString(16).padStart(2, '0')}`);
    }
  }
  return parts.join(' ');
}

interface M {
  offset: number;
  kind: MarkerKind;
  ref?: string | undefined;
}

/** The value part of a property line, from ` =` (or `;` alone when empty) up to and including `;`. */
export function formatPropValue(prop: DtProperty): string {
  const v = prop.value;
  const len = v.length;
  if (len === 0) return ';';
  let ms: readonly M[] = prop.markers;
  if (!ms.some(isTypeMarker)) ms = [{ offset: 0, kind: guessValueType(prop) }, ...ms];
  // type_marker_length(): distance to the next type marker after index i, 0 if none.
  const nextTypeOffset: number[] = new Array<number>(ms.length);
  let nextType = -1;
  for (let i = ms.length - 1; i >= 0; i--) {
    nextTypeOffset[i] = nextType;
    if (TYPE_KINDS.has(ms[i]!.kind)) nextType = ms[i]!.offset;
  }
  let out = ' =';
  let emit: TypeKind | undefined;
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    const next = ms[i + 1];
    const chunkLen = (next ? next.offset : len) - m.offset;
    const nt = nextTypeOffset[i]!;
    const dataLen = (nt >= 0 ? nt - m.offset : 0) || len - m.offset;
    if (TYPE_KINDS.has(m.kind)) {
      emit = m.kind as TypeKind;
      out += ` ${DELIM_START[emit]}`;
    } else if (m.kind === 'label') {
      out += ` ${m.ref ?? ''}:`;
    } else if (m.offset !== 0) {
      out += ' ';
    }
    if (emit === undefined || chunkLen <= 0) {
      if (emit !== undefined && chunkLen === dataLen) {
        out += m.offset + chunkLen === len ? DELIM_END[emit] : `${DELIM_END[emit]},`;
        emit = undefined;
      }
      continue;
    }
    out += emit === 'string' ? writeString(v, m.offset, chunkLen) : writeInts(v, m.offset, chunkLen, WIDTH[emit]);
    if (chunkLen === dataLen) {
      out += m.offset + chunkLen === len ? DELIM_END[emit] : `${DELIM_END[emit]},`;
      emit = undefined;
    }
  }
  return `${out};`;
}

function writeNode(node: DtNode, level: number, out: string[]): void {
  const prefix = '\t'.repeat(level);
  const labels = node.labels.map((l) => `${l}: `).join('');
  out.push(`${prefix}${labels}${node.name.length > 0 ? node.name : '/'} {\n`);
  for (const prop of node.properties) {
    out.push(`${prefix}\t${prop.labels.map((l) => `${l}: `).join('')}${prop.name}${formatPropValue(prop)}\n`);
  }
  for (const child of node.children) {
    out.push('\n');
    writeNode(child, level + 1, out);
  }
  out.push(`${prefix}};\n`);
}

/** The whole tree as DTS text, as `dtc -O dts` prints it. */
export function emitDts(tree: DtTree): string {
  const out: string[] = ['/dts-v1/;\n\n'];
  for (const re of tree.memreserve) {
    const labels = re.labels.map((l) => `${l}: `).join('');
    out.push(
      `${labels}/memreserve/\t0x${re.address.toString(16).padStart(16, '0')} 0x${re.size.toString(16).padStart(16, '0')};\n`,
    );
  }
  writeNode(tree.root, 0, out);
  return out.join('');
}
