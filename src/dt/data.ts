/**
 * A property value under construction, as dtc's `struct data` (data.c): raw bytes plus markers that
 * remember how each chunk was written (cell width, string, phandle/path reference, label).
 * Builders here are append-only and amortised O(1) per byte.
 */
import type { Marker, MarkerKind } from './tree.js';

/** A marker while the value is built: only its offset still moves (path references are inserted). */
export interface MutMarker {
  offset: number;
  readonly kind: MarkerKind;
  readonly ref?: string;
}

export class Data {
  private buf: Uint8Array;
  len = 0;
  markers: MutMarker[] = [];

  constructor(capacity = 16) {
    this.buf = new Uint8Array(Math.max(capacity, 4));
  }

  private grow(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  addMarker(kind: MarkerKind, ref?: string): this {
    this.markers.push(ref === undefined ? { offset: this.len, kind } : { offset: this.len, kind, ref });
    return this;
  }

  appendByte(b: number): this {
    this.grow(1);
    this.buf[this.len++] = b & 0xff;
    return this;
  }

  appendBytes(bytes: Uint8Array): this {
    this.grow(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  /** Appends `value` (already reduced modulo 2^bits) big-endian in `bits` bits, as data_append_integer. */
  appendInteger(value: bigint, bits: 8 | 16 | 32 | 64): this {
    if (bits === 32) return this.appendU32(Number(value));
    if (bits === 8) return this.appendByte(Number(value));
    const n = bits / 8;
    this.grow(n);
    let v = value;
    for (let i = n - 1; i >= 0; i--) {
      this.buf[this.len + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.len += n;
    return this;
  }

  appendU32(value: number): this {
    this.grow(4);
    const b = this.buf;
    const o = this.len;
    b[o] = (value >>> 24) & 0xff;
    b[o + 1] = (value >>> 16) & 0xff;
    b[o + 2] = (value >>> 8) & 0xff;
    b[o + 3] = value & 0xff;
    this.len += 4;
    return this;
  }

  /** Appends another Data's bytes and markers (data_merge). */
  merge(other: Data): this {
    const base = this.len;
    this.appendBytes(other.bytes());
    for (const m of other.markers) this.markers.push({ ...m, offset: m.offset + base });
    return this;
  }

  /** Overwrites 4 bytes at `offset` with a big-endian u32. */
  setU32(offset: number, value: number): void {
    const b = this.buf;
    b[offset] = (value >>> 24) & 0xff;
    b[offset + 1] = (value >>> 16) & 0xff;
    b[offset + 2] = (value >>> 8) & 0xff;
    b[offset + 3] = value & 0xff;
  }

  /**
   * Inserts bytes at the offset of marker `index` and moves every later marker (data_insert_at_marker:
   * markers after it in list order move, even those at the same offset).
   */
  insertAtMarker(index: number, bytes: Uint8Array): void {
    const m = this.markers[index]!;
    this.grow(bytes.length);
    this.buf.copyWithin(m.offset + bytes.length, m.offset, this.len);
    this.buf.set(bytes, m.offset);
    this.len += bytes.length;
    for (let i = index + 1; i < this.markers.length; i++) this.markers[i]!.offset += bytes.length;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /**
   * The value and markers for the immutable tree. No copy is made: the Data must not be changed
   * afterwards (the live tree is dropped once frozen).
   */
  freeze(): { value: Uint8Array; markers: readonly Marker[] } {
    return { value: this.buf.subarray(0, this.len), markers: this.markers };
  }
}

/** Bytes of a JS string: code units ≤ 0xff are raw bytes (latin1 "binary" text), others are UTF-8 encoded. */
export function stringBytes(s: string): Uint8Array {
  let wide = false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) {
      wide = true;
      break;
    }
  }
  if (!wide) return Buffer.from(s, 'latin1');
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of s) {
    if (ch.codePointAt(0)! > 0xff) {
      if (run) parts.push(Buffer.from(run, 'latin1'));
      run = '';
      parts.push(Buffer.from(ch, 'utf8'));
    } else run += ch;
  }
  if (run) parts.push(Buffer.from(run, 'latin1'));
  return Buffer.concat(parts);
}
