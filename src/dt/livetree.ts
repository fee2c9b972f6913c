/**
 * The mutable tree dtc builds while parsing (livetree.c) and the checks that change it or reject it
 * (checks.c), re-expressed for dtc 1.6.1:
 *
 * - deleted nodes, properties and labels stay in their lists, flagged (merge_nodes finds them again, so a
 *   node or property deleted and then redefined takes back its old place);
 * - label lists grow at the front (add_label), so `labels[0]` is the most recently added label;
 * - the error-level checks run in dtc's order: duplicate names, name characters, `name` properties
 *   (a correct one is removed), duplicate labels, explicit phandles, phandle and path references
 *   (phandles allocated from 1 upwards in tree order, `phandle` properties only — dtc's default
 *   "epapr" style), /omit-if-no-ref/, and for /plugin/ the __fixups__/__local_fixups__ nodes.
 *
 * Every error is an InputError with the source position of the node or property at fault.
 */
import { InputError, type SrcPos } from '../errors.js';
import { Data } from './data.js';
import type { DtNode, DtProperty, DtTree, MemReserve } from './tree.js';

export interface LLabel {
  name: string;
  deleted: boolean;
}

export interface LProp {
  name: string;
  data: Data;
  labels: LLabel[];
  deleted: boolean;
  pos: SrcPos | undefined;
}

export interface LNode {
  name: string;
  props: LProp[];
  children: LNode[];
  labels: LLabel[];
  deleted: boolean;
  parent: LNode | undefined;
  pos: SrcPos | undefined;
  omitIfUnused: boolean;
  isReferenced: boolean;
  /** 0 when none assigned yet. */
  phandle: number;
}

export interface LReserve {
  address: bigint;
  size: bigint;
  labels: LLabel[];
}

export function addLabel(labels: LLabel[], name: string): void {
  for (const l of labels) {
    if (l.name === name) {
      l.deleted = false;
      return;
    }
  }
  labels.unshift({ name, deleted: false });
}

function deleteLabels(labels: LLabel[]): void {
  for (const l of labels) l.deleted = true;
}

export function buildProperty(name: string, data: Data, pos: SrcPos | undefined): LProp {
  return { name, data, labels: [], deleted: false, pos };
}

export function buildPropertyDelete(name: string, pos: SrcPos | undefined): LProp {
  return { name, data: new Data(0), labels: [], deleted: true, pos };
}

export function buildNode(props: LProp[], children: LNode[], pos: SrcPos | undefined): LNode {
  const n: LNode = {
    name: '',
    props,
    children,
    labels: [],
    deleted: false,
    parent: undefined,
    pos,
    omitIfUnused: false,
    isReferenced: false,
    phandle: 0,
  };
  // As dtc's build_node: only live children get a parent pointer. A `/delete-node/ x;` placeholder keeps
  // none, even if a later merge brings it back to life (visible in __local_fixups__ paths).
  for (const c of children) if (!c.deleted) c.parent = n;
  return n;
}

export function buildNodeDelete(name: string, pos: SrcPos | undefined): LNode {
  const n = buildNode([], [], pos);
  n.name = name;
  n.deleted = true;
  return n;
}

// checks.c NODECHARS / PROPCHARS: anything else in a name is an error.
const BAD_NODE_CHAR = /[^a-zA-Z0-9,._+\-@]/;
const BAD_PROP_CHAR = /[^a-zA-Z0-9,._+*#?-]/;

const NO_LABELS: readonly string[] = Object.freeze([]);
const liveLabels = (ls: readonly LLabel[]): readonly string[] =>
  ls.length === 0 ? NO_LABELS : ls.filter((l) => !l.deleted).map((l) => l.name);

/**
 * The live tree plus the look-up caches dtc recomputes by walking (get_node_by_label): a label index
 * rebuilt only after a change that can move labels, so amendments and references stay linear.
 */
export class LiveTree {
  private labelIndex: Map<string, LNode> | undefined;
  private readonly phandles = new Map<number, LNode>();
  private nextPhandle = 1;
  private nextFragment = 0;

  constructor(
    public root: LNode,
    readonly plugin: boolean,
  ) {}

  invalidate(): void {
    this.labelIndex = undefined;
  }

  // -- building (livetree.c) ------------------------------------------------------------------

  addChild(parent: LNode, child: LNode): void {
    child.parent = parent;
    parent.children.push(child);
    this.invalidate();
  }

  deleteNode(node: LNode): void {
    node.deleted = true;
    for (const c of node.children) if (!c.deleted) this.deleteNode(c);
    for (const p of node.props) if (!p.deleted) deleteProperty(p);
    deleteLabels(node.labels);
    this.invalidate();
  }

  addNodeLabel(node: LNode, label: string): void {
    addLabel(node.labels, label);
    this.invalidate();
  }

  mergeNodes(oldNode: LNode, newNode: LNode): void {
    oldNode.deleted = false;
    for (const l of newNode.labels) addLabel(oldNode.labels, l.name);
    if (newNode.labels.length) this.invalidate();
    for (const np of newNode.props) {
      if (np.deleted) {
        const victim = oldNode.props.find((p) => p.name === np.name);
        if (victim) deleteProperty(victim);
        continue;
      }
      const op = oldNode.props.find((p) => p.name === np.name);
      if (op) {
        for (const l of np.labels) addLabel(op.labels, l.name);
        op.data = np.data;
        op.deleted = false;
        op.pos = np.pos;
      } else oldNode.props.push(np);
    }
    for (const nc of newNode.children) {
      if (nc.deleted) {
        const victim = oldNode.children.find((c) => c.name === nc.name);
        if (victim) this.deleteNode(victim);
        continue;
      }
      const oc = oldNode.children.find((c) => c.name === nc.name);
      if (oc) this.mergeNodes(oc, nc);
      else this.addChild(oldNode, nc);
    }
  }

  addOrphanNode(newNode: LNode, ref: string): void {
    const d = new Data(16);
    let p: LProp;
    if (ref.startsWith('/')) {
      d.addMarker('string', ref).appendBytes(Buffer.from(ref, 'latin1')).appendByte(0);
      p = buildProperty('target-path', d, undefined);
    } else {
      d.addMarker('ref-phandle', ref).appendU32(0xffffffff);
      p = buildProperty('target', d, undefined);
    }
    newNode.name = '__overlay__';
    const frag = buildNode([p], [newNode], undefined);
    frag.name = `fragment@${this.nextFragment++}`;
    this.addChild(this.root, frag);
  }

  // -- look-ups (livetree.c) ------------------------------------------------------------------

  private labels(): Map<string, LNode> {
    if (this.labelIndex) return this.labelIndex;
    const idx = new Map<string, LNode>();
    const walk = (n: LNode): void => {
      for (const l of n.labels) if (!l.deleted && !idx.has(l.name)) idx.set(l.name, n);
      for (const c of n.children) if (!c.deleted) walk(c);
    };
    walk(this.root);
    this.labelIndex = idx;
    return idx;
  }

  getNodeByPath(tree: LNode, path: string): LNode | undefined {
    let node = tree;
    let rest = path;
    for (;;) {
      if (rest === '') return node.deleted ? undefined : node;
      let k = 0;
      while (rest[k] === '/') k++;
      rest = rest.slice(k);
      const slash = rest.indexOf('/');
      const part = slash < 0 ? rest : rest.slice(0, slash);
      const child = node.children.find((c) => !c.deleted && c.name === part);
      if (!child) return undefined;
      if (slash < 0) return child;
      node = child;
      rest = rest.slice(slash + 1);
    }
  }

  getNodeByRef(ref: string): LNode | undefined {
    if (ref === '/') return this.root;
    if (ref.startsWith('/')) return this.getNodeByPath(this.root, ref);
    return this.labels().get(ref);
  }

  /** fill_fullpaths: paths by walking the live tree (not by parent pointers), taken before the checks. */
  private fullPaths = new Map<LNode, string>();

  private fillFullPaths(): void {
    const walk = (n: LNode, path: string): void => {
      this.fullPaths.set(n, path);
      for (const c of n.children) if (!c.deleted) walk(c, path === '/' ? `/${c.name}` : `${path}/${c.name}`);
    };
    walk(this.root, '/');
  }

  fullPath(node: LNode): string {
    const known = this.fullPaths.get(node);
    if (known !== undefined) return known;
    const parts: string[] = [];
    for (let n: LNode | undefined = node; n && n.parent; n = n.parent) parts.push(n.name);
    return parts.length === 0 ? '/' : '/' + parts.reverse().join('/');
  }

  private getNodePhandle(node: LNode): number {
    if (node.phandle !== 0 && node.phandle !== 0xffffffff) return node.phandle;
    while (this.phandles.has(this.nextPhandle)) this.nextPhandle++;
    node.phandle = this.nextPhandle;
    this.phandles.set(node.phandle, node);
    if (!getProperty(node, 'phandle')) {
      const d = new Data(4).addMarker('u32').appendU32(node.phandle);
      node.props.push(buildProperty('phandle', d, undefined));
    }
    return node.phandle;
  }

  // -- checks (checks.c), in dtc's order; the first failure is thrown -------------------------

  runChecks(): void {
    this.fillFullPaths();
    const nodes: LNode[] = [];
    const walk = (n: LNode): void => {
      nodes.push(n);
      for (const c of n.children) if (!c.deleted) walk(c);
    };
    walk(this.root);
    const where = (n: LNode, p?: LProp): SrcPos | string => p?.pos ?? n.pos ?? '<input>';
    const fail = (n: LNode, p: LProp | undefined, msg: string): never => {
      throw new InputError(msg, where(n, p));
    };

    // duplicate_node_names: the inner loop of dtc also sees deleted siblings.
    for (const n of nodes) {
      const seen = new Set<string>();
      for (const c of n.children) {
        if (seen.has(c.name)) fail(c, undefined, `duplicate node name '${c.name}' in ${this.fullPath(n)}`);
        if (!c.deleted) seen.add(c.name);
      }
    }
    // duplicate_property_names
    for (const n of nodes) {
      const seen = new Set<string>();
      for (const p of n.props) {
        if (p.deleted) continue;
        if (seen.has(p.name)) {
          const first = n.props.find((x) => !x.deleted && x.name === p.name)!;
          fail(n, first, `duplicate property name '${p.name}' in ${this.fullPath(n)}`);
        }
        seen.add(p.name);
      }
    }
    // node_name_chars, node_name_format
    for (const n of nodes) {
      const bad = BAD_NODE_CHAR.exec(n.name);
      if (bad) fail(n, undefined, `bad character '${bad[0]}' in node name '${n.name}'`);
    }
    for (const n of nodes) {
      const at = n.name.indexOf('@');
      if (at >= 0 && n.name.indexOf('@', at + 1) >= 0)
        fail(n, undefined, `multiple '@' characters in node name '${n.name}'`);
    }
    // property_name_chars
    for (const n of nodes) {
      for (const p of n.props) {
        if (p.deleted) continue;
        const bad = BAD_PROP_CHAR.exec(p.name);
        if (bad) fail(n, p, `bad character '${bad[0]}' in property name '${p.name}'`);
      }
    }
    // name_is_string, name_properties (a correct `name` is redundant and removed)
    for (const n of nodes) {
      const live = getProperty(n, 'name');
      if (live && !isOneString(live.data.bytes()))
        fail(n, live, `"name" property in ${this.fullPath(n)} is not a string`);
    }
    for (const n of nodes) {
      const idx = n.props.findIndex((p) => p.name === 'name');
      if (idx < 0) continue;
      const p = n.props[idx]!;
      const v = p.data.bytes();
      const at = n.name.indexOf('@');
      const base = at < 0 ? n.name : n.name.slice(0, at);
      if (v.length !== base.length + 1 || Buffer.from(v.subarray(0, base.length)).toString('latin1') !== base) {
        fail(n, p, `"name" property is incorrect ("${cString(v)}" instead of base node name)`);
      }
      n.props.splice(idx, 1);
    }
    // duplicate_label: a label may appear once, on a node, a property or inside a value.
    const labelSeen = new Set<string>();
    for (const n of nodes) {
      const check = (l: string, p?: LProp): void => {
        if (labelSeen.has(l)) fail(n, p, `duplicate label '${l}'`);
        labelSeen.add(l);
      };
      for (const l of n.labels) if (!l.deleted) check(l.name);
      for (const p of n.props) {
        if (p.deleted) continue;
        for (const l of p.labels) if (!l.deleted) check(l.name, p);
        for (const m of p.data.markers) if (m.kind === 'label') check(m.ref!, p);
      }
    }
    // explicit_phandles
    for (const n of nodes) {
      const ph = this.phandleProp(n, 'phandle', fail);
      const lph = this.phandleProp(n, 'linux,phandle', fail);
      if (!ph && !lph) continue;
      const at = getProperty(n, ph ? 'phandle' : 'linux,phandle');
      if (ph && lph && ph !== lph) fail(n, at, `mismatching 'phandle' and 'linux,phandle' properties`);
      const v = ph || lph;
      const other = this.phandles.get(v);
      if (other && other !== n)
        fail(n, at, `duplicated phandle 0x${v.toString(16)} (seen before at ${this.fullPath(other)})`);
      n.phandle = v;
      this.phandles.set(v, n);
    }
    // phandle_references
    for (const n of nodes) {
      for (const p of n.props) {
        if (p.deleted) continue;
        for (const m of p.data.markers) {
          if (m.kind !== 'ref-phandle') continue;
          const target = this.getNodeByRef(m.ref!);
          if (!target) {
            if (!this.plugin) fail(n, p, `reference to non-existent node or label "${m.ref!}"`);
            p.data.setU32(m.offset, 0xffffffff);
            continue;
          }
          p.data.setU32(m.offset, this.getNodePhandle(target));
          target.isReferenced = true;
        }
      }
    }
    // path_references
    for (const n of nodes) {
      for (const p of n.props) {
        if (p.deleted) continue;
        for (let i = 0; i < p.data.markers.length; i++) {
          const m = p.data.markers[i]!;
          if (m.kind !== 'ref-path') continue;
          const target = this.getNodeByRef(m.ref!);
          if (!target) return fail(n, p, `reference to non-existent node or label "${m.ref!}"`);
          const path = Buffer.from(this.fullPath(target) + '\0', 'latin1');
          p.data.insertAtMarker(i, path);
          target.isReferenced = true;
        }
      }
    }
    // omit_unused_nodes (a node deleted here hides its subtree from the rest of the walk)
    for (const n of nodes) {
      if (n.deleted) continue;
      if (n.omitIfUnused && !n.isReferenced) this.deleteNode(n);
    }
    if (this.plugin) this.generateFixups();
  }

  private phandleProp(n: LNode, name: string, fail: (n: LNode, p: LProp | undefined, msg: string) => never): number {
    const p = getProperty(n, name);
    if (!p) return 0;
    if (p.data.len !== 4) fail(n, p, `bad length (${p.data.len}) ${name} property`);
    const ref = p.data.markers.find((m) => m.kind === 'ref-phandle');
    if (ref) {
      if (this.getNodeByRef(ref.ref!) !== n) fail(n, p, `${name} is a reference to another node`);
      return 0;
    }
    const b = p.data.bytes();
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v === 0 || v === 0xffffffff) fail(n, p, `bad value (0x${v.toString(16)}) in ${name} property`);
    return v;
  }

  // -- overlays: __fixups__ and __local_fixups__ (livetree.c generate_*_tree) ------------------

  private liveNodes(): LNode[] {
    const out: LNode[] = [];
    const walk = (n: LNode): void => {
      out.push(n);
      for (const c of n.children) if (!c.deleted) walk(c);
    };
    walk(this.root);
    return out;
  }

  private rootChild(parent: LNode, name: string): LNode {
    const found = parent.children.find((c) => !c.deleted && c.name === name);
    if (found) return found;
    const n = buildNode([], [], undefined);
    n.name = name;
    this.addChild(parent, n);
    return n;
  }

  private generateFixups(): void {
    type Ref = { node: LNode; prop: LProp; offset: number; ref: string };
    const collect = (): { unresolved: Ref[]; local: Ref[] } => {
      const unresolved: Ref[] = [];
      const local: Ref[] = [];
      for (const node of this.liveNodes()) {
        for (const prop of node.props) {
          if (prop.deleted) continue;
          for (const m of prop.data.markers) {
            if (m.kind !== 'ref-phandle') continue;
            const r = { node, prop, offset: m.offset, ref: m.ref! };
            (this.getNodeByRef(m.ref!) ? local : unresolved).push(r);
          }
        }
      }
      return { unresolved, local };
    };
    // Paths are taken before the fixup nodes exist, as dtc's fill_fullpaths does.
    const first = collect();
    if (first.unresolved.length) {
      const fn = this.rootChild(this.root, '__fixups__');
      for (const r of first.unresolved) {
        // dtc 1.6.1 has no check for path references here: `&{/x}` becomes a fixup property named "/x".
        const path = this.fullPath(r.node);
        if (path.includes(':') || r.prop.name.includes(':'))
          throw new InputError("arguments should not contain ':'", r.prop.pos ?? '<input>');
        appendUniqueString(fn, r.ref, `${path}:${r.prop.name}:${r.offset}`);
      }
    }
    const second = collect();
    if (second.local.length) {
      const lfn = this.rootChild(this.root, '__local_fixups__');
      for (const r of second.local) {
        const names: string[] = [];
        for (let n: LNode | undefined = r.node; n && n.parent; n = n.parent) names.push(n.name);
        let wn = lfn;
        for (let i = names.length - 1; i >= 0; i--) wn = this.rootChild(wn, names[i]!);
        appendUniqueU32(wn, r.prop.name, r.offset);
      }
    }
  }

  // -- freezing --------------------------------------------------------------------------------

  toTree(memreserve: readonly LReserve[], bootCpuidPhys: number, source: string): DtTree {
    const conv = (n: LNode): DtNode => {
      const properties: DtProperty[] = [];
      for (const p of n.props) {
        if (p.deleted) continue;
        const { value, markers } = p.data.freeze();
        const prop: DtProperty = p.pos
          ? { name: p.name, value, labels: liveLabels(p.labels), markers, pos: p.pos }
          : { name: p.name, value, labels: liveLabels(p.labels), markers };
        properties.push(prop);
      }
      const children = n.children.filter((c) => !c.deleted).map(conv);
      const node: DtNode = n.pos
        ? { name: n.name, labels: liveLabels(n.labels), properties, children, pos: n.pos }
        : { name: n.name, labels: liveLabels(n.labels), properties, children };
      return node;
    };
    const mr: MemReserve[] = memreserve.map((r) => ({
      address: r.address,
      size: r.size,
      labels: liveLabels(r.labels),
    }));
    const tree: DtTree = { root: conv(this.root), memreserve: mr, bootCpuidPhys, plugin: this.plugin, source };
    return this.root.deleted ? { ...tree, rootDeleted: true } : tree;
  }
}

function deleteProperty(p: LProp): void {
  p.deleted = true;
  deleteLabels(p.labels);
}

export function getProperty(node: LNode, name: string): LProp | undefined {
  return node.props.find((p) => !p.deleted && p.name === name);
}

function isOneString(v: Uint8Array): boolean {
  if (v.length === 0 || v[v.length - 1] !== 0) return false;
  return v.indexOf(0) === v.length - 1;
}

function cString(v: Uint8Array): string {
  const z = v.indexOf(0);
  return Buffer.from(z < 0 ? v : v.subarray(0, z)).toString('latin1');
}

function appendUniqueString(node: LNode, name: string, entry: string): void {
  let p = getProperty(node, name);
  if (p) {
    const v = p.data.bytes();
    if (v.length && v[v.length - 1] !== 0) return;
    if (cString(v) === entry || Buffer.from(v).toString('latin1').split('\0').includes(entry)) return;
  } else {
    p = buildProperty(name, new Data(entry.length + 1), undefined);
    node.props.push(p);
  }
  p.data.addMarker('string', name).appendBytes(Buffer.from(entry, 'latin1')).appendByte(0);
}

function appendUniqueU32(node: LNode, name: string, value: number): void {
  let p = getProperty(node, name);
  if (p) {
    const v = p.data.bytes();
    if (v.length % 4 !== 0) return;
    for (let i = 0; i < v.length; i += 4) {
      if (((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0 === value) return;
    }
  } else {
    p = buildProperty(name, new Data(4), undefined);
    node.props.push(p);
  }
  p.data.addMarker('u32', name).appendU32(value);
}

/** guess_boot_cpuid: `reg` of the first child of /cpus (deleted or not) when it is one cell. */
export function guessBootCpuid(tree: LiveTree): number {
  const cpus = tree.getNodeByPath(tree.root, '/cpus');
  const first = cpus?.children[0];
  if (!first) return 0;
  const reg = getProperty(first, 'reg');
  if (!reg || reg.data.len !== 4) return 0;
  const b = reg.data.bytes();
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}
