/**
 * Flattened device tree writer, byte-compatible with `dtc -O dtb` (dtc 1.6.1 flattree.c, version 17,
 * no -R/-S/-p/-a padding): 40-byte header, memory reservation block at offset 40 ending in an empty
 * entry, structure block, then the strings block. Property names go into the strings block the way
 * dtc's stringtable_insert does: a name that already occurs anywhere in the table followed by NUL —
 * including as the tail of a longer name — is shared ("phandle" reuses "linux,phandle").
 */
import type { DtNode, DtTree } from './tree.js';

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;
const HEADER_SIZE = 40;
const VERSION = 17;
const LAST_COMP_VERSION = 16;

class Bytes {
  buf = new Uint8Array(1024);
  len = 0;

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  u32(v: number): void {
    this.grow(4);
    const b = this.buf;
    const o = this.len;
    b[o] = (v >>> 24) & 0xff;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
    this.len += 4;
  }

  u64(v: bigint): void {
    this.u32(Number((v >> 32n) & 0xffffffffn));
    this.u32(Number(v & 0xffffffffn));
  }

  bytes(v: Uint8Array): void {
    this.grow(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
  }

  align4(): void {
    const pad = (4 - (this.len % 4)) % 4;
    this.grow(pad);
    this.buf.fill(0, this.len, this.len + pad);
    this.len += pad;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** dtc's string table with suffix sharing, in linear time for the usual short names. */
export class StringTable {
  private text = '';
  /** Every suffix of every inserted name (short names only) → its first offset. */
  private readonly suffixes = new Map<string, number>();
  /** Names too long to index every suffix of: searched directly. */
  private readonly long: { offset: number; name: string }[] = [];
  private static readonly SUFFIX_LIMIT = 256;

  offsetOf(name: string): number {
    let best = this.suffixes.get(name);
    for (const l of this.long) {
      if (best !== undefined && l.offset > best) break;
      if (l.name.endsWith(name)) {
        const o = l.offset + l.name.length - name.length;
        if (best === undefined || o < best) best = o;
        break;
      }
    }
    if (best !== undefined) return best;
    const offset = this.text.length;
    this.text += name + '\0';
    if (name.length <= StringTable.SUFFIX_LIMIT) {
      for (let k = 0; k <= name.length; k++) {
        const s = name.slice(k);
        if (!this.suffixes.has(s)) this.suffixes.set(s, offset + k);
      }
    } else {
      this.long.push({ offset, name });
      if (!this.suffixes.has('')) this.suffixes.set('', offset + name.length);
    }
    return offset;
  }

  bytes(): Uint8Array {
    return Buffer.from(this.text, 'latin1');
  }
}

export function writeDtb(tree: DtTree): Uint8Array {
  const strings = new StringTable();
  const st = new Bytes();
  const emit = (node: DtNode): void => {
    st.u32(FDT_BEGIN_NODE);
    st.bytes(Buffer.from(node.name + '\0', 'latin1'));
    st.align4();
    for (const p of node.properties) {
      st.u32(FDT_PROP);
      st.u32(p.value.length);
      st.u32(strings.offsetOf(p.name));
      st.bytes(p.value);
      st.align4();
    }
    for (const c of node.children) emit(c);
    st.u32(FDT_END_NODE);
  };
  if (!tree.rootDeleted) emit(tree.root); // flattree.c skips a deleted root, leaving only FDT_END
  st.u32(FDT_END);

  const rsv = new Bytes();
  for (const r of tree.memreserve) {
    rsv.u64(r.address);
    rsv.u64(r.size);
  }
  rsv.u64(0n);
  rsv.u64(0n);

  const strBytes = strings.bytes();
  const offRsv = HEADER_SIZE;
  const offStruct = offRsv + rsv.len;
  const offStrings = offStruct + st.len;
  const total = offStrings + strBytes.length;

  const out = new Bytes();
  out.u32(FDT_MAGIC);
  out.u32(total);
  out.u32(offStruct);
  out.u32(offStrings);
  out.u32(offRsv);
  out.u32(VERSION);
  out.u32(LAST_COMP_VERSION);
  out.u32(tree.bootCpuidPhys >>> 0);
  out.u32(strBytes.length);
  out.u32(st.len);
  out.bytes(rsv.view());
  out.bytes(st.view());
  out.bytes(strBytes);
  return out.view().slice();
}
