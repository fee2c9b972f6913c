/**
 * A tiny in-memory device tree builder for tag storage tests, so they do not depend on the DTS parser.
 * Values are big-endian bytes as in a DTB.
 */
import type { DtNode, DtProperty, DtTree } from '../../src/dt/tree.js';

export type PropValue = Uint8Array;

export function u32(...cells: number[]): PropValue {
  const out = new Uint8Array(cells.length * 4);
  const dv = new DataView(out.buffer);
  cells.forEach((c, i) => dv.setUint32(i * 4, c >>> 0));
  return out;
}

/** A 64-bit value as two cells. */
export function u64(v: number): number[] {
  return [Math.floor(v / 2 ** 32), v % 2 ** 32];
}

export function str(...ss: string[]): PropValue {
  return new Uint8Array(Buffer.from(ss.map((s) => `${s}\0`).join(''), 'latin1'));
}

export const empty = (): PropValue => new Uint8Array(0);

export function node(name: string, props: Record<string, PropValue>, children: DtNode[] = []): DtNode {
  const properties: DtProperty[] = Object.entries(props).map(([n, value]) => ({
    name: n,
    value,
    labels: [],
    markers: [],
  }));
  return { name, labels: [], properties, children };
}

export function tree(children: DtNode[], rootProps: Record<string, PropValue> = {}): DtTree {
  return {
    root: node('', { '#address-cells': u32(2), '#size-cells': u32(2), ...rootProps }, children),
    memreserve: [],
    bootCpuidPhys: 0,
    plugin: false,
    source: 'test.dts',
  };
}

/** A memory node at `base` of `size` bytes with a phandle. */
export function memory(base: number, size: number, phandle: number, extra: Record<string, PropValue> = {}): DtNode {
  return node(`memory@${base.toString(16)}`, {
    device_type: str('memory'),
    reg: u32(...u64(base), ...u64(size)),
    phandle: u32(phandle),
    ...extra,
  });
}

/** A v1 tag storage node at `base` of `size` bytes for memory `memPhandle`. */
export function metadata(
  base: number,
  size: number,
  memPhandle: number | undefined,
  extra: Record<string, PropValue | undefined> = {},
): DtNode {
  const props: Record<string, PropValue> = {
    compatible: str('arm,mte-tag-storage'),
    reg: u32(...u64(base), ...u64(size)),
    'block-size': u32(0x1000),
  };
  if (memPhandle !== undefined) props['memory'] = u32(memPhandle);
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete props[k];
    else props[k] = v;
  }
  return node(`metadata@${base.toString(16)}`, props);
}

/** The seed's FVP layout (kernel-facts §1.1): two 0x7c000000 banks, tag storage 0x3e00000 each. */
export function fvpNodes(): DtNode[] {
  return [
    memory(0x80000000, 0x7c000000, 1),
    memory(0x880000000, 0x7c000000, 2),
    metadata(0xfc000000, 0x3e00000, 1),
    metadata(0x8fc000000, 0x3e00000, 2),
  ];
}
