/**
 * mte-sim's own warnings about tag storage nodes: things the v1 kernel does not complain about (it silently
 * ignores the node, or silently rounds) but that a firmware engineer almost certainly did not mean, and the
 * v2/v3 bindings, which the v1 kernel does not understand (kernel-facts §0, §1.2). These are never kernel log
 * lines; `mte-sim check` prints them as warnings beside the kernel's findings.
 */
import type { DtIndex, DtNode, DtProperty } from '../../dt/tree.js';
import { getProp, propStrings } from '../../dt/tree.js';

export interface TagLintRule {
  readonly name: string;
  readonly explanation: string;
  /** The example DT under dts/examples/, if one exists. */
  readonly example?: string;
}

export interface TagLintFinding {
  readonly rule: string;
  readonly node: string;
  /** One line: what is wrong with this node. */
  readonly message: string;
}

const V1_SHAPE =
  'v1 expects a node directly under the root, with "metadata" in its name (e.g. metadata@fc000000), ' +
  'compatible = "arm,mte-tag-storage", reg = <one range>, block-size = <bytes> and memory = <&memN>; the tag ' +
  'storage is not described by a memory node.';

/** The lint rules, in the order they are applied. */
export const TAG_LINT_RULES: readonly TagLintRule[] = Object.freeze([
  {
    name: 'v3-binding',
    example: 'v3-binding.dts',
    explanation:
      'A /reserved-memory child compatible with "arm,mte-tag-storage" is the v3 binding; the v1 kernel does not ' +
      'look there, so it manages no tag storage from this node (the range is only reserved like any other ' +
      `reserved-memory region). ${V1_SHAPE}`,
  },
  {
    name: 'v3-tagged-memory',
    explanation: `'tagged-memory' is the v3 name of the link to the tagged memory; v1 reads 'memory'. ${V1_SHAPE}`,
  },
  {
    name: 'v3-reusable',
    explanation:
      "'reusable' belongs to the v3 (reserved-memory) binding; v1 ignores it: the kernel itself decides that tag " +
      'storage is reusable.',
  },
  {
    name: 'v2-binding',
    example: 'v2-binding.dts',
    explanation:
      'The node is compatible with "arm,mte-tag-storage" and directly under the root, but its name does not ' +
      'contain "metadata" (v2 matched "tag-storage"); the v1 kernel silently ignores it. ' +
      V1_SHAPE,
  },
  {
    name: 'not-at-depth-1',
    explanation:
      'A node compatible with "arm,mte-tag-storage" that is not a direct child of the root is silently ignored ' +
      `by the v1 kernel. ${V1_SHAPE}`,
  },
  {
    name: 'not-compatible',
    explanation:
      'A direct child of the root named like tag storage ("metadata") but not compatible with ' +
      '"arm,mte-tag-storage" is silently ignored.',
  },
  {
    name: 'status-ignored',
    explanation:
      'fdt_init_tag_storage() does not look at status: a tag storage node with status = "disabled" is used all ' +
      'the same, and so is a disabled memory node it names (early_init_dt_scan_memory skips that node, so its ' +
      'memory is absent while the tag storage for it is added).',
  },
  {
    name: 'unit-address',
    explanation:
      'The unit address in the node name should be the first address in reg (lower-case hex, no leading ' +
      'zeros, no 0x); the kernel does not care, but readers and tools do.',
  },
  {
    name: 'not-page-aligned',
    explanation:
      'reg is converted to page frames by rounding both the start and the size down (PHYS_PFN); a range that is ' +
      'not page aligned silently loses its partial pages.',
  },
  {
    name: 'reg-too-short',
    explanation:
      "reg is shorter than one address/size pair in the root cells; the kernel would read past the property's " +
      'end (undefined), mte-sim treats it as invalid.',
  },
  {
    name: 'shared-memory-node',
    explanation:
      'Two tag storage nodes name the same memory node; the kernel does not check this, and the second ' +
      'region would never be used for tags (the block look-up stops at the first region that covers a pfn).',
  },
  {
    name: 'not-reached',
    explanation:
      'The kernel stops at the first failing check of the first failing node, so it never reports this ' +
      'problem; mte-sim went on checking, so that every mistake shows up in one run. Once the earlier problem ' +
      'is fixed the kernel would print the quoted line(s).',
  },
  {
    name: 'tag-storage-in-memory-node',
    explanation:
      'The tag storage range is also described by a memory node (the v3 layout); in v1 the kernel adds tag ' +
      'storage to memory itself, and memory nodes describe only the tagged and untagged data memory.',
  },
]);

const COMPAT = 'arm,mte-tag-storage';

function isCompatible(node: DtNode): boolean {
  const p = getProp(node, 'compatible');
  return (p && propStrings(p)?.some((s) => s.toLowerCase() === COMPAT)) ?? false;
}

function firstCell(p: DtProperty): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (p.value[i] ?? 0);
  return v;
}

function rootCells(dt: DtIndex): { ac: number; sc: number } {
  const ac = getProp(dt.root, '#address-cells');
  const sc = getProp(dt.root, '#size-cells');
  return { ac: ac ? firstCell(ac) : 1, sc: sc ? firstCell(sc) : 1 };
}

/** The (address, size) pairs of a reg-like property in the given cells; undefined when it has no whole pair. */
function regPairs(p: DtProperty, ac: number, sc: number): { address: bigint; size: bigint }[] | undefined {
  const cells = Math.floor(p.value.length / 4);
  const stride = ac + sc;
  if (stride === 0 || cells < stride) return undefined;
  const dv = new DataView(p.value.buffer, p.value.byteOffset, p.value.byteLength);
  const read = (from: number, n: number): bigint => {
    let v = 0n;
    for (let i = 0; i < n; i++) v = ((v << 32n) | BigInt(dv.getUint32((from + i) * 4))) & 0xffff_ffff_ffff_ffffn;
    return v;
  };
  const out: { address: bigint; size: bigint }[] = [];
  for (let i = 0; i + stride <= cells; i += stride) out.push({ address: read(i, ac), size: read(i + ac, sc) });
  return out;
}

function unitAddress(node: DtNode): string | undefined {
  const at = node.name.indexOf('@');
  return at < 0 ? undefined : node.name.slice(at + 1);
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * Applies the lint rules to every node that looks like tag storage (any binding) and to the memory nodes
 * those name. `pageSize` is the kernel's PAGE_SIZE (for the alignment warning).
 */
export function lintTagStorage(dt: DtIndex, pageSize: number): TagLintFinding[] {
  const out: TagLintFinding[] = [];
  const { ac, sc } = rootCells(dt);
  const add = (rule: string, node: string, message: string): void => void out.push({ rule, node, message });

  const memoryNodes: { node: DtNode; path: string; phandle: number }[] = [];
  for (const c of dt.root.children) {
    const t = getProp(c, 'device_type');
    if (t && propStrings(t)?.[0] === 'memory') {
      const ph = getProp(c, 'phandle') ?? getProp(c, 'linux,phandle');
      memoryNodes.push({ node: c, path: dt.path(c), phandle: ph ? firstCell(ph) : 0 });
    }
  }

  const candidates: { node: DtNode; path: string; depth: number }[] = [];
  const walk = (node: DtNode, depth: number): void => {
    if (depth > 0 && (isCompatible(node) || (depth === 1 && node.name.includes('metadata')))) {
      candidates.push({ node, path: dt.path(node), depth });
    }
    for (const c of node.children) walk(c, depth + 1);
  };
  walk(dt.root, 0);

  const linkedMemory = new Map<string, string>();
  for (const { node, path, depth } of candidates) {
    const compatible = isCompatible(node);
    const parent = dt.parent(node);
    const underReservedMemory = parent !== undefined && parent.name.split('@')[0] === 'reserved-memory';
    if (compatible && underReservedMemory) {
      add('v3-binding', path, 'tag storage described under /reserved-memory (the v3 binding), ignored by v1');
    } else if (compatible && depth !== 1) {
      add('not-at-depth-1', path, `tag storage node at depth ${depth}, ignored by v1 (it must be a child of /)`);
    } else if (compatible && !node.name.includes('metadata')) {
      add(
        'v2-binding',
        path,
        node.name.includes('tag-storage')
          ? "node name contains 'tag-storage' (the v2 binding), ignored by v1: the name must contain 'metadata'"
          : "node name does not contain 'metadata', ignored by v1",
      );
    } else if (!compatible) {
      add('not-compatible', path, `named like tag storage but not compatible with "${COMPAT}", ignored`);
      continue;
    }
    const status = getProp(node, 'status');
    const statusText = status ? propStrings(status)?.[0] : undefined;
    if (depth === 1 && statusText !== undefined && statusText !== 'okay' && statusText !== 'ok') {
      add('status-ignored', path, `status = "${statusText}" is ignored: the v1 kernel uses this node anyway`);
    }
    if (getProp(node, 'tagged-memory')) {
      add(
        'v3-tagged-memory',
        path,
        getProp(node, 'memory')
          ? "'tagged-memory' (v3) is ignored by v1"
          : "'tagged-memory' is the v3 property: v1 needs 'memory = <&memN>'",
      );
    }
    if (getProp(node, 'reusable')) add('v3-reusable', path, "'reusable' (v3) is ignored by v1");

    const reg = getProp(node, 'reg');
    const cells = depth === 1 ? { addressCells: ac, sizeCells: sc } : dt.cellsFor(node);
    const pairs = reg ? regPairs(reg, cells.addressCells, cells.sizeCells) : undefined;
    if (reg && !pairs)
      add('reg-too-short', path, `reg has ${Math.floor(reg.value.length / 4)} cells, less than one address/size pair`);
    const first = pairs?.[0];
    const unit = unitAddress(node);
    if (first && unit !== undefined && unit !== first.address.toString(16)) {
      add('unit-address', path, `unit address ${unit} does not match reg (${hex(first.address)})`);
    }
    if (first && depth === 1 && compatible) {
      const ps = BigInt(pageSize);
      if (first.address % ps !== 0n || first.size % ps !== 0n) {
        add(
          'not-page-aligned',
          path,
          `reg ${hex(first.address)}+${hex(first.size)} is not page aligned (PAGE_SIZE ${hex(ps)})`,
        );
      }
      for (const m of memoryNodes) {
        const mreg = getProp(m.node, 'reg');
        const mp = mreg ? regPairs(mreg, ac, sc) : undefined;
        for (const r of mp ?? []) {
          if (r.address < first.address + first.size && first.address < r.address + r.size && r.size > 0n) {
            add(
              'tag-storage-in-memory-node',
              path,
              `tag storage ${hex(first.address)}+${hex(first.size)} is also memory in ${m.path}`,
            );
          }
        }
      }
      const memProp = getProp(node, 'memory');
      if (memProp) {
        const mem = memoryNodes.find((m) => m.phandle === firstCell(memProp));
        if (mem) {
          const prev = linkedMemory.get(mem.path);
          if (prev !== undefined) add('shared-memory-node', path, `${mem.path} is already the memory of ${prev}`);
          else linkedMemory.set(mem.path, path);
          const mstatus = getProp(mem.node, 'status');
          const ms = mstatus ? propStrings(mstatus)?.[0] : undefined;
          if (ms !== undefined && ms !== 'okay' && ms !== 'ok') {
            add(
              'status-ignored',
              path,
              `its memory node ${mem.path} has status = "${ms}": tag storage for absent memory`,
            );
          }
          const mreg = getProp(mem.node, 'reg');
          const mfirst = mreg ? regPairs(mreg, ac, sc)?.[0] : undefined;
          const munit = unitAddress(mem.node);
          if (mfirst && munit !== undefined && munit !== mfirst.address.toString(16)) {
            add('unit-address', mem.path, `unit address ${munit} does not match reg (${hex(mfirst.address)})`);
          }
        }
      }
    }
  }
  return out;
}

export function lintRule(name: string): TagLintRule {
  const r = TAG_LINT_RULES.find((x) => x.name === name);
  if (!r) throw new Error(`no lint rule called ${name}`);
  return r;
}
