/**
 * Reads a flattened device tree blob (as dtc's `dt_from_blob` in flattree.c, dgibson/dtc) into the
 * immutable tree model. It reads every version dtc reads (1..17; names are full paths and values of
 * 8 bytes or more are 8-aligned before version 16), and blobs written by libfdt's sequential writer
 * (blocks in another order, free space at the end).
 *
 * Unlike dtc it validates the blob strictly before trusting it: header fields, block bounds and
 * overlaps, alignment, every token, name and string. Any fault is an InputError located at the byte
 * offset where it was found (`board.dtb: offset 0x38`). Work is linear in the blob size, the walk is
 * iterative (no recursion on nesting depth).
 */
import { InputError } from '../errors.js';
import type { DtNode, DtProperty, DtTree, MemReserve } from './tree.js';

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

/** The newest version we read; newer blobs are read if their last_comp_version allows it. */
export const FDT_LAST_SUPPORTED_VERSION = 17;
/** Deeper trees are refused, so no later stage can run out of stack on a hostile blob. */
export const FDT_MAX_DEPTH = 512;

/** Returns true if the bytes start with the FDT magic number 0xd00dfeed. */
export function isDtb(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0xd0 && bytes[1] === 0x0d && bytes[2] === 0xfe && bytes[3] === 0xed;
}

/** Header size by version: v1 has 7 words, v2 adds boot_cpuid_phys, v3 size_dt_strings, v17 size_dt_struct. */
function headerSize(version: number): number {
  if (version <= 1) return 28;
  if (version === 2) return 32;
  if (version < 17) return 36;
  return 40;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A name for a message: quoted, with non-printable bytes escaped so the message stays one line. */
const quote = (s: string): string =>
  `"${s.replace(/[^\x20-\x7e]|["\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;

/** Bytes [from, to) as a string of one char per byte; short names skip Buffer's call overhead. */
function latin1(bytes: Uint8Array, from: number, to: number): string {
  if (to - from > 32) return Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('latin1');
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

interface Block {
  what: string;
  start: number;
  end: number;
}

export function readDtb(bytes: Uint8Array, name: string): DtTree {
  const fail = (offset: number, msg: string): never => {
    throw new InputError(msg, `${name}: offset ${hex(offset)}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (bytes.length < 8) fail(0, `truncated blob: ${bytes.length} bytes, an FDT header needs at least 28`);
  const magic = dv.getUint32(0);
  if (magic !== FDT_MAGIC) fail(0, `bad magic ${hex(magic)}, expected ${hex(FDT_MAGIC)}`);
  const totalsize = dv.getUint32(4);
  if (totalsize > bytes.length) {
    fail(4, `truncated blob: header totalsize is ${hex(totalsize)} but the file has ${hex(bytes.length)} bytes`);
  }
  if (bytes.length < 28 || totalsize < 28) fail(4, `totalsize ${hex(totalsize)} is smaller than the FDT header`);
  const offStruct = dv.getUint32(8);
  const offStrings = dv.getUint32(12);
  const offRsvmap = dv.getUint32(16);
  const version = dv.getUint32(20);
  const lastComp = dv.getUint32(24);
  if (version < 1) fail(20, `bad version ${version}`);
  if (lastComp > FDT_LAST_SUPPORTED_VERSION) {
    fail(24, `unsupported blob: last compatible version ${lastComp} is newer than ${FDT_LAST_SUPPORTED_VERSION}`);
  }
  if (version < lastComp) fail(20, `bad version ${version}: older than its last compatible version ${lastComp}`);
  const hdr = headerSize(version);
  if (totalsize < hdr) fail(4, `totalsize ${hex(totalsize)} is smaller than the version ${version} header`);
  const bootCpuidPhys = version >= 2 ? dv.getUint32(28) : 0;

  // Block bounds. Before v3 the strings block runs to the end, before v17 the structure block does.
  const inBlob = (field: number, what: string, start: number, size: number): void => {
    if (start < hdr) fail(field, `${what} offset ${hex(start)} lies inside the header`);
    if (start > totalsize || start + size > totalsize) {
      fail(field, `${what} (${hex(start)}, size ${hex(size)}) extends past totalsize ${hex(totalsize)}`);
    }
  };
  const sizeStrings = version >= 3 ? dv.getUint32(32) : totalsize - Math.min(offStrings, totalsize);
  const sizeStruct = version >= 17 ? dv.getUint32(36) : totalsize - Math.min(offStruct, totalsize);
  inBlob(16, 'memory reservation block', offRsvmap, 16);
  if (offRsvmap % 8 !== 0) fail(16, `memory reservation block offset ${hex(offRsvmap)} is not 8-byte aligned`);
  inBlob(8, 'structure block', offStruct, sizeStruct);
  if (offStruct % 4 !== 0) fail(8, `structure block offset ${hex(offStruct)} is not 4-byte aligned`);
  if (version >= 17 && sizeStruct % 4 !== 0) fail(36, `structure block size ${hex(sizeStruct)} is not a multiple of 4`);
  inBlob(12, 'strings block', offStrings, sizeStrings);

  // Memory reservation map: (address, size) pairs of u64 until an entry of size 0 (as dtc and libfdt).
  const memreserve: MemReserve[] = [];
  let rsvEnd = offRsvmap;
  for (;;) {
    if (rsvEnd + 16 > totalsize) fail(rsvEnd, 'memory reservation map is not terminated within the blob');
    const address = dv.getBigUint64(rsvEnd);
    const size = dv.getBigUint64(rsvEnd + 8);
    rsvEnd += 16;
    if (size === 0n) break;
    memreserve.push({ address, size, labels: [] });
  }

  // No two blocks may overlap (for old versions only the start of a block is known).
  const blocks: Block[] = [
    { what: 'header', start: 0, end: hdr },
    { what: 'memory reservation block', start: offRsvmap, end: rsvEnd },
    { what: 'structure block', start: offStruct, end: version >= 17 ? offStruct + sizeStruct : offStruct + 4 },
  ];
  if (version >= 3) blocks.push({ what: 'strings block', start: offStrings, end: offStrings + sizeStrings });
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const a = blocks[i]!;
      const b = blocks[j]!;
      if (a.start < a.end && b.start < b.end && a.start < b.end && b.start < a.end) {
        fail(Math.max(a.start, b.start), `${a.what} and ${b.what} overlap`);
      }
    }
  }

  const structEnd = offStruct + sizeStruct;
  const fullPaths = version < 16;
  const varAlign = version < 16;

  /** Reads a NUL-terminated name at `at` that must end before `end`; returns it and the offset after the NUL. */
  const readCString = (at: number, end: number, what: string, tokenAt: number): [string, number] => {
    const nul = bytes.indexOf(0, at);
    if (nul < 0 || nul >= end) fail(tokenAt, `unterminated ${what}`);
    return [latin1(bytes, at, nul), nul + 1];
  };
  // Property names: each NUL-terminated segment of the strings block is decoded once and names are
  // slices of it (dtc shares tails: "x,phandle" serves "phandle" too), so hostile offsets into one
  // long segment cost no more than the block's size.
  const stringCache = new Map<number, string>();
  const segmentOf = new Map<number, { start: number; text: string }>();
  let nextNul: Int32Array | undefined;
  const propName = (nameoff: number, tokenAt: number): string => {
    const cached = stringCache.get(nameoff);
    if (cached !== undefined) return cached;
    if (nameoff >= sizeStrings) {
      fail(tokenAt + 8, `property name offset ${hex(nameoff)} is outside the strings block (size ${hex(sizeStrings)})`);
    }
    const at = offStrings + nameoff;
    if (!nextNul) {
      // nextNul[i]: offset in the block of the first NUL at or after i, -1 if none (one backward pass).
      nextNul = new Int32Array(sizeStrings);
      let next = -1;
      for (let i = sizeStrings - 1; i >= 0; i--) {
        if (bytes[offStrings + i] === 0) next = i;
        nextNul[i] = next;
      }
    }
    const rel = nextNul[nameoff]!;
    if (rel < 0) fail(tokenAt + 8, 'unterminated property name in the strings block');
    const nul = offStrings + rel;
    let seg = segmentOf.get(nul);
    if (!seg) {
      // The whole segment, from just after the previous NUL, so any later offset into it is a slice.
      const start = bytes.lastIndexOf(0, Math.max(at - 1, offStrings));
      const from = start >= offStrings && start < at ? start + 1 : offStrings;
      seg = { start: from, text: latin1(bytes, from, nul) };
      segmentOf.set(nul, seg);
    }
    const s = seg.text.slice(at - seg.start);
    if (s.length === 0) fail(tokenAt + 8, 'empty property name');
    stringCache.set(nameoff, s);
    return s;
  };
  const word = (at: number): number => {
    if (at + 4 > structEnd) fail(at, 'structure block ends in the middle of a token');
    return dv.getUint32(at);
  };

  interface Building {
    name: string;
    flatName: string;
    at: number;
    properties: DtProperty[];
    children: DtNode[];
    propNames: Set<string>;
    childNames: Set<string>;
  }
  const stack: Building[] = [];
  let root: DtNode | undefined;
  let p = offStruct;

  const first = word(p);
  if (first !== FDT_BEGIN_NODE)
    fail(p, `structure block does not begin with FDT_BEGIN_NODE (begins with ${hex(first)})`);

  while (root === undefined) {
    const at = p;
    const token = word(p);
    p += 4;
    switch (token) {
      case FDT_BEGIN_NODE: {
        if (stack.length >= FDT_MAX_DEPTH) fail(at, `nodes nested more than ${FDT_MAX_DEPTH} levels deep`);
        const [flat, after] = readCString(p, structEnd, 'node name', at);
        p = (after + 3) & ~3;
        if (p > structEnd) fail(at, 'node name runs past the end of the structure block');
        const parent = stack[stack.length - 1];
        let nodeName = flat;
        if (fullPaths) {
          // Old blobs name nodes by full path (flattree.c nodename_from_path).
          const pp = parent ? parent.flatName : '';
          const prefix = pp === '/' ? '/' : `${pp}/`;
          if (!parent) {
            if (flat !== '/' && flat !== '') fail(at, `root node path ${quote(flat)} is not "/"`);
            nodeName = '';
          } else {
            if (!flat.startsWith(prefix)) fail(at, `path ${quote(flat)} is not valid as a child of ${quote(pp)}`);
            nodeName = flat.slice(prefix.length);
          }
        }
        if (parent) {
          if (nodeName.length === 0) fail(at, 'empty node name');
          if (nodeName.includes('/')) fail(at, `node name ${quote(nodeName)} contains '/'`);
          if (parent.childNames.has(nodeName)) fail(at, `duplicate node name ${quote(nodeName)}`);
          parent.childNames.add(nodeName);
        } else if (nodeName !== '') {
          fail(at, `root node has a name (${quote(nodeName)}), expected none`);
        }
        stack.push({
          name: nodeName,
          flatName: flat,
          at,
          properties: [],
          children: [],
          propNames: new Set(),
          childNames: new Set(),
        });
        break;
      }
      case FDT_END_NODE: {
        const done = stack.pop();
        if (!done) fail(at, 'FDT_END_NODE without a matching FDT_BEGIN_NODE');
        const node: DtNode = {
          name: done!.name,
          labels: [],
          properties: dropRedundantName(done!.name, done!.properties),
          children: done!.children,
        };
        const parent = stack[stack.length - 1];
        if (parent) parent.children.push(node);
        else root = node;
        break;
      }
      case FDT_PROP: {
        const node = stack[stack.length - 1];
        if (!node) fail(at, 'FDT_PROP outside any node');
        const len = word(p);
        const nameoff = word(p + 4);
        p += 8;
        const pname = propName(nameoff, at);
        if (varAlign && len >= 8) p = offStruct + ((p - offStruct + 7) & ~7);
        if (len > structEnd - p)
          fail(at + 4, `property ${quote(pname)} value (${hex(len)} bytes) runs past the structure block`);
        if (node!.propNames.has(pname)) fail(at, `duplicate property ${quote(pname)}`);
        node!.propNames.add(pname);
        node!.properties.push({ name: pname, value: bytes.slice(p, p + len), labels: [], markers: [] });
        p = (p + len + 3) & ~3;
        if (p > structEnd) fail(at, `property ${quote(pname)} padding runs past the structure block`);
        break;
      }
      case FDT_NOP:
        break;
      case FDT_END:
        fail(at, `premature FDT_END: ${stack.length} node(s) still open`);
        break;
      default:
        fail(at, `bad token ${hex(token)}`);
    }
  }

  // After the root: optional NOPs, then FDT_END.
  for (;;) {
    const at = p;
    const token = word(p);
    p += 4;
    if (token === FDT_END) break;
    if (token === FDT_NOP) continue;
    fail(at, `expected FDT_END after the root node, found ${hex(token)}`);
  }

  return { root: root!, memreserve, bootCpuidPhys, plugin: false, source: name, format: 'dtb' };
}

/**
 * dtc deletes a `name` property that only repeats the node's base name (checks.c
 * check_name_properties, run on every input; old blobs carry one in every node), so we do too.
 */
function dropRedundantName(nodeName: string, props: DtProperty[]): DtProperty[] {
  const i = props.findIndex((p) => p.name === 'name');
  if (i < 0) return props;
  const at = nodeName.indexOf('@');
  const base = at < 0 ? nodeName : nodeName.slice(0, at);
  const v = props[i]!.value;
  if (v.length !== base.length + 1 || v[base.length] !== 0) return props;
  for (let k = 0; k < base.length; k++) if (v[k] !== base.charCodeAt(k)) return props;
  return [...props.slice(0, i), ...props.slice(i + 1)];
}
