/**
 * The device tree model every reader produces and every writer consumes (as dtc's `struct dt_info`).
 * It is immutable once built: readers build it, later layers (platform) only look things up.
 *
 * Values are raw big-endian bytes, exactly as they will sit in a DTB. Markers remember how the source
 * spelled the value (cells of which width, strings, references, labels inside values) so the DTS and
 * YAML writers can print it back the way dtc does; a tree read from a DTB has no markers.
 */
import type { SrcPos } from '../errors.js';

export type MarkerKind =
  | 'u8' // start of a byte-string or /bits/ 8 run
  | 'u16'
  | 'u32'
  | 'u64'
  | 'string' // start of a string
  | 'ref-phandle' // a phandle reference (&label in cells); `ref` is the label or path
  | 'ref-path' // a path reference (&label outside cells); `ref` is the label or path
  | 'label'; // a label inside a value; `ref` is the label

export interface Marker {
  readonly offset: number;
  readonly kind: MarkerKind;
  readonly ref?: string;
}

export interface DtProperty {
  readonly name: string;
  readonly value: Uint8Array;
  readonly labels: readonly string[];
  readonly markers: readonly Marker[];
  readonly pos?: SrcPos;
}

export interface DtNode {
  /** Full node name including any unit address, e.g. `memory@80000000`; `` for the root. */
  readonly name: string;
  readonly labels: readonly string[];
  readonly properties: readonly DtProperty[];
  readonly children: readonly DtNode[];
  readonly pos?: SrcPos;
}

export interface MemReserve {
  readonly address: bigint;
  readonly size: bigint;
  readonly labels: readonly string[];
}

export interface DtTree {
  readonly root: DtNode;
  readonly memreserve: readonly MemReserve[];
  readonly bootCpuidPhys: number;
  /** True when the source said `/plugin/;` (an overlay). */
  readonly plugin: boolean;
  /** Where the tree came from, for messages (a file name or `<stdin>`). */
  readonly source: string;
  /** `dtb` when read from a blob (no type information: writers guess like dtc); absent or `dts` from source. */
  readonly format?: 'dts' | 'dtb';
  /**
   * True when the source deleted the root node itself (`/delete-node/ &{/};`): `root` is then empty and
   * dtc writes a blob whose structure block holds no node at all (its DTS output still shows `/ { };`).
   */
  readonly rootDeleted?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Look-ups. Small and typed: the platform layer needs no more than this.

/** Returns the property called `name` of `node`, or undefined. */
export function getProp(node: DtNode, name: string): DtProperty | undefined {
  return node.properties.find((p) => p.name === name);
}

/** Returns the child called exactly `name` (with unit address), or undefined. */
export function getChild(node: DtNode, name: string): DtNode | undefined {
  return node.children.find((c) => c.name === name);
}

/** The node name without its unit address (`memory@80000000` → `memory`). */
export function baseName(node: DtNode): string {
  const at = node.name.indexOf('@');
  return at < 0 ? node.name : node.name.slice(0, at);
}

/** Reads the value as big-endian 32-bit cells; undefined if its length is not a multiple of 4. */
export function propCells(prop: DtProperty): number[] | undefined {
  if (prop.value.length % 4 !== 0) return undefined;
  const dv = new DataView(prop.value.buffer, prop.value.byteOffset, prop.value.byteLength);
  const out: number[] = [];
  for (let i = 0; i < prop.value.length; i += 4) out.push(dv.getUint32(i));
  return out;
}

/** Reads a single u32 value, or undefined if the property is not exactly 4 bytes. */
export function propU32(prop: DtProperty): number | undefined {
  if (prop.value.length !== 4) return undefined;
  return new DataView(prop.value.buffer, prop.value.byteOffset, 4).getUint32(0);
}

/** Reads the value as a list of NUL-terminated strings; undefined if it is not one. */
export function propStrings(prop: DtProperty): string[] | undefined {
  const v = prop.value;
  if (v.length === 0 || v[v.length - 1] !== 0) return undefined;
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === 0) {
      out.push(Buffer.from(v.subarray(start, i)).toString('latin1'));
      start = i + 1;
    }
  }
  return out;
}

/** Reads the first string of the value, or undefined. */
export function propString(prop: DtProperty): string | undefined {
  return propStrings(prop)?.[0];
}

/**
 * Splits a `reg`-like value into (address, size) pairs of `addressCells` and `sizeCells` cells each.
 * Returns undefined if the length does not divide evenly.
 */
export function propRegs(
  prop: DtProperty,
  addressCells: number,
  sizeCells: number,
): { address: bigint; size: bigint }[] | undefined {
  const cells = propCells(prop);
  const stride = addressCells + sizeCells;
  if (cells === undefined || stride === 0 || cells.length % stride !== 0) return undefined;
  const join = (from: number, n: number): bigint => {
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 32n) | BigInt(cells[from + i]!);
    return v;
  };
  const out: { address: bigint; size: bigint }[] = [];
  for (let i = 0; i < cells.length; i += stride) {
    out.push({ address: join(i, addressCells), size: join(i + addressCells, sizeCells) });
  }
  return out;
}

/**
 * An index over a tree: paths, labels, phandles and parents, built once.
 * Paths are absolute (`/`, `/cpus/cpu@0`).
 */
export class DtIndex {
  private readonly byPath = new Map<string, DtNode>();
  private readonly pathOf = new Map<DtNode, string>();
  private readonly parentOf = new Map<DtNode, DtNode>();
  private readonly byLabel = new Map<string, DtNode>();
  private readonly byPhandle = new Map<number, DtNode>();

  constructor(readonly tree: DtTree) {
    const walk = (node: DtNode, path: string, parent: DtNode | undefined): void => {
      this.byPath.set(path, node);
      this.pathOf.set(node, path);
      if (parent) this.parentOf.set(node, parent);
      for (const l of node.labels) this.byLabel.set(l, node);
      for (const name of ['phandle', 'linux,phandle']) {
        const p = getProp(node, name);
        const v = p && propU32(p);
        if (v !== undefined && v !== 0 && v !== 0xffffffff && !this.byPhandle.has(v)) this.byPhandle.set(v, node);
      }
      for (const c of node.children) walk(c, path === '/' ? `/${c.name}` : `${path}/${c.name}`, node);
    };
    walk(tree.root, '/', undefined);
  }

  get root(): DtNode {
    return this.tree.root;
  }

  /** Looks a node up by absolute path; a component without unit address matches `name@...` as dtc does. */
  findPath(path: string): DtNode | undefined {
    const exact = this.byPath.get(path);
    if (exact) return exact;
    if (!path.startsWith('/')) return undefined;
    let node = this.tree.root;
    for (const part of path.split('/').filter((s) => s.length > 0)) {
      const next =
        node.children.find((c) => c.name === part) ??
        (part.includes('@') ? undefined : node.children.find((c) => baseName(c) === part));
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  findLabel(label: string): DtNode | undefined {
    return this.byLabel.get(label);
  }

  findPhandle(phandle: number): DtNode | undefined {
    return this.byPhandle.get(phandle);
  }

  path(node: DtNode): string {
    const p = this.pathOf.get(node);
    if (p === undefined) throw new Error('node is not in this tree');
    return p;
  }

  parent(node: DtNode): DtNode | undefined {
    return this.parentOf.get(node);
  }

  /** Depth of a node: the root is 0, its children 1. */
  depth(node: DtNode): number {
    let d = 0;
    for (let n = this.parentOf.get(node); n; n = this.parentOf.get(n)) d++;
    return d;
  }

  /** `#address-cells`/`#size-cells` that apply to `node`'s `reg` (its parent's, defaults 2 and 1). */
  cellsFor(node: DtNode): { addressCells: number; sizeCells: number } {
    const parent = this.parentOf.get(node) ?? node;
    const ac = getProp(parent, '#address-cells');
    const sc = getProp(parent, '#size-cells');
    return { addressCells: (ac && propU32(ac)) ?? 2, sizeCells: (sc && propU32(sc)) ?? 1 };
  }
}
