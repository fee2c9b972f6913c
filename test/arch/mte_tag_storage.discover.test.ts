import { DtIndex } from '../../src/dt/tree.js';
import { Memblock } from '../../src/mm/memblock.js';
import { KernelLog } from '../../src/sim/log.js';
import {
  blockSizePages,
  discoverTagStorage,
  kprintf,
  MAX_TAG_REGIONS,
  tagStorageCandidates,
  tagStorageNodeProblems,
  type TagStorage,
} from '../../src/arch/arm64/mte_tag_storage.js';
import { TAG_STORAGE_RULES } from '../../src/arch/arm64/mte_tag_storage_rules.js';
import { empty, fvpNodes, memory, metadata, node, str, tree, u32, u64 } from './dt-builder.js';
import type { DtNode, DtTree } from '../../src/dt/tree.js';

const PB4K = 512;

function discover(t: DtTree, pageSize = 4096, pageblockNrPages = PB4K) {
  const memblock = new Memblock();
  // early_init_dt_scan_memory has already added the memory nodes.
  for (const n of t.root.children) {
    if (n.name.startsWith('memory@')) {
      const reg = n.properties.find((p) => p.name === 'reg');
      if (!reg) continue;
      const dv = new DataView(reg.value.buffer, reg.value.byteOffset, reg.value.byteLength);
      for (let i = 0; i + 16 <= reg.value.length; i += 16) {
        const base = dv.getUint32(i) * 2 ** 32 + dv.getUint32(i + 4);
        const size = dv.getUint32(i + 8) * 2 ** 32 + dv.getUint32(i + 12);
        memblock.addNode(base, size, 0);
      }
    }
  }
  const log = new KernelLog();
  const ts = discoverTagStorage({ dt: new DtIndex(t), pageSize, pageblockNrPages, memblock, log });
  return { ts, log, memblock, lines: log.all().map((r) => r.text), levels: log.all().map((r) => r.level) };
}

const rules = (ts: TagStorage) => ts.findings.map((f) => f.rule);

describe('kprintf', () => {
  test('formats the series conversions', () => {
    expect(
      kprintf('Found MTE tag storage region 0x%llx@0x%llx, block size %u pages', [0x3e00000, 0xfc000000n, 1]),
    ).toBe('Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages');
    expect(kprintf('Error adding tag memblock (%d)', [-12])).toBe('Error adding tag memblock (-12)');
    expect(kprintf('not aligned to 0x%lx', [512])).toBe('not aligned to 0x200');
  });
});

describe('blockSizePages = lcm(PAGE_SIZE, block-size) / PAGE_SIZE', () => {
  test.each([
    [0x1000, 4096, 1],
    [0x2000, 4096, 2],
    [0x3000, 4096, 3],
    [0x1000, 65536, 1],
    [0x3000, 65536, 3],
    [0x3000, 16384, 3],
    [0x800, 4096, 1],
    [0x4000, 16384, 1],
    [0x6000, 4096, 6],
    [0x5000, 16384, 5],
  ])('block-size 0x%s with %i-byte pages → %i pages', (bytes, ps, pages) => {
    expect(blockSizePages(bytes, ps)).toBe(pages);
  });
});

describe('discoverTagStorage: success', () => {
  test('the FVP layout: two regions, added to memblock and reserved, in DT order', () => {
    const { ts, lines, levels, memblock } = discover(tree(fvpNodes()));
    expect(lines).toEqual([
      'Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages',
      'Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages',
    ]);
    expect(levels).toEqual(['info', 'info']);
    expect(ts.state).toBe('discovered');
    expect(ts.regions).toHaveLength(2);
    expect(ts.regions[0]).toMatchObject({
      mem: { start: 0x80000, end: 0xfbfff },
      tag: { start: 0xfc000, end: 0xffdff },
      blockSizePages: 1,
      blockSizeBytes: 0x1000,
      node: '/metadata@fc000000',
      memoryNode: '/memory@80000000',
    });
    expect(memblock.memory.covers(0xfc000000, 0x3e00000)).toBe(true);
    expect(memblock.reserved.covers(0xfc000000, 0x3e00000)).toBe(true);
    expect(memblock.reserved.covers(0x8fc000000, 0x3e00000)).toBe(true);
    // The tag storage sits right after each bank, so DRAM now ends at the end of metadata1.
    expect(memblock.endOfDram()).toBe(0x8ffe00000);
  });

  test('numa-node-id is read from the memory node and used for memblock_add_node', () => {
    const t = tree([memory(0x80000000, 0x7c000000, 1, { 'numa-node-id': u32(1) }), metadata(0xfc000000, 0x3e00000, 1)]);
    const { ts, memblock } = discover(t);
    expect(ts.regions[0]!.nid).toBe(1);
    const r = memblock.memory.regions.find((x) => x.base === 0xfc000000);
    expect(r?.nid).toBe(1);
  });

  test('linux,usable-memory wins over reg for the associated memory', () => {
    const t = tree([
      memory(0x80000000, 0x80000000, 1, { 'linux,usable-memory': u32(...u64(0x80000000), ...u64(0x7c000000)) }),
      metadata(0xfc000000, 0x3e00000, 1),
    ]);
    expect(discover(t).ts.regions[0]!.mem).toEqual({ start: 0x80000, end: 0xfbfff });
  });

  test('only depth-1 nodes with "metadata" in the name and the compatible (any case) count', () => {
    const t = tree([
      memory(0x80000000, 0x7c000000, 1),
      node('soc', {}, [metadata(0xfc000000, 0x3e00000, 1)]),
      node('tag-storage@fc000000', { compatible: str('arm,mte-tag-storage') }),
      node('metadata@0', { compatible: str('vendor,other') }),
      { ...metadata(0xfc000000, 0x3e00000, 1), name: 'my-metadata-region@fc000000' },
    ]);
    const { ts, lines } = discover(t);
    expect(lines).toEqual(['Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages']);
    expect(ts.regions[0]!.node).toBe('/my-metadata-region@fc000000');
    const t2 = tree([
      memory(0x80000000, 0x7c000000, 1),
      metadata(0xfc000000, 0x3e00000, 1, { compatible: str('foo', 'ARM,MTE-Tag-Storage') }),
    ]);
    expect(discover(t2).ts.regions).toHaveLength(1);
  });

  test('block-size 0x3000 gives 3-page blocks (lcm) when the size is a multiple of 3 pages', () => {
    // 6 pageblocks = 3072 pages (a multiple of 3) of tag storage for 96 pageblocks of memory.
    const tagSize = 6 * 2 * 1024 * 1024;
    const t = tree([
      memory(0x80000000, tagSize * 32, 1),
      metadata(0x80000000 + tagSize * 32, tagSize, 1, { 'block-size': u32(0x3000) }),
    ]);
    const { ts, lines } = discover(t);
    expect(lines).toEqual([`Found MTE tag storage region 0xc00000@0x98000000, block size 3 pages`]);
    expect(ts.regions[0]!.blockSizePages).toBe(3);
  });

  test('with 64K pages the FVP tag storage is not pageblock (512 MiB) aligned', () => {
    const { lines } = discover(tree(fvpNodes()), 65536, 8192);
    expect(lines).toEqual(['Tag storage region not aligned to 0x2000', 'MTE tag storage management disabled']);
  });

  test('no matching node: "No MTE tag storage regions detected" at info level', () => {
    const { ts, lines, levels } = discover(tree([memory(0x80000000, 0x80000000, 1)]));
    expect(lines).toEqual(['No MTE tag storage regions detected']);
    expect(levels).toEqual(['info']);
    expect(ts.state).toBe('none');
  });
});

describe('discoverTagStorage: each check, its exact lines, the disabled path', () => {
  const failing = (tag: DtNode, others: unknown) => {
    // test.each hands a `done` callback in place of a missing last column.
    const extra = Array.isArray(others) ? (others as DtNode[]) : [memory(0x80000000, 0x7c000000, 1)];
    // A valid region first, so the tests also see it removed again.
    const good = [memory(0x880000000, 0x7c000000, 2), metadata(0x8fc000000, 0x3e00000, 2)];
    return discover(tree([...good, ...extra, tag]));
  };
  const FOUND = 'Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages';
  const DISABLED = 'MTE tag storage management disabled';

  test.each<[string, DtNode, string[], DtNode[] | null]>([
    [
      'no-reg',
      metadata(0xfc000000, 0x3e00000, 1, { reg: undefined }),
      ['Invalid metadata node', 'Invalid tag storage node'],
      null,
    ],
    ['zero-size', metadata(0xfc000000, 0, 1), ['Invalid node', 'Invalid tag storage node'], null],
    ['zero-size', metadata(0xfc000000, 0xfff, 1), ['Invalid node', 'Invalid tag storage node'], null],
    [
      'reg-not-one-entry',
      metadata(0xfc000000, 0x3e00000, 1, { reg: u32(0, 0xfc000000, 0, 0x1f00000, 0, 0xfdf00000, 0, 0x1f00000) }),
      ['Invalid tag storage node'],
      null,
    ],
    [
      'reg-not-one-entry',
      metadata(0xfc000000, 0x3e00000, 1, { reg: u32(0, 0xfc000000) }),
      ['Invalid tag storage node'],
      null,
    ],
    ['not-pageblock-aligned', metadata(0xfc100000, 0x3e00000, 1), ['Tag storage region not aligned to 0x200'], null],
    ['not-pageblock-aligned', metadata(0xfc000000, 0x3e01000, 1), ['Tag storage region not aligned to 0x200'], null],
    [
      'missing-memory-property',
      metadata(0xfc000000, 0x3e00000, undefined),
      ["Missing 'memory' property in the tag storage node"],
      null,
    ],
    ['memory-node-not-found', metadata(0xfc000000, 0x3e00000, 7), ['Associated memory node not found'], null],
    [
      'memory-node-not-found',
      metadata(0xfc000000, 0x3e00000, 5),
      ['Associated memory node not found'],
      [node('sram@0', { reg: u32(0, 0, 0, 0x1000), phandle: u32(5) })],
    ],
    [
      'memory-node-without-reg',
      metadata(0xfc000000, 0x3e00000, 5),
      ['Invalid memory node', 'Invalid address for associated data memory node'],
      [node('memory', { device_type: str('memory'), phandle: u32(5) })],
    ],
    [
      'memory-reg-not-one-entry',
      metadata(0xfc000000, 0x3e00000, 5),
      ['Invalid address for associated data memory node'],
      [
        node('memory@0', {
          device_type: str('memory'),
          phandle: u32(5),
          reg: u32(0, 0x80000000, 0, 0x3e000000, 0, 0xc0000000, 0, 0x3c000000),
        }),
      ],
    ],
    [
      'memory-zero-size',
      metadata(0xfc000000, 0x3e00000, 5),
      ['Invalid node', 'Invalid address for associated data memory node'],
      [node('memory@0', { device_type: str('memory'), phandle: u32(5), reg: u32(0, 0x80000000, 0, 0) })],
    ],
    [
      'ratio-not-1-to-32',
      metadata(0xfc000000, 0x4000000, 1),
      ["Tag region doesn't cover exactly the corresponding memory region"],
      null,
    ],
    [
      'missing-block-size',
      metadata(0xfc000000, 0x3e00000, 1, { 'block-size': undefined }),
      ["Invalid or missing 'block-size' property"],
      null,
    ],
    [
      'missing-block-size',
      metadata(0xfc000000, 0x3e00000, 1, { 'block-size': u32(0) }),
      ["Invalid or missing 'block-size' property"],
      null,
    ],
    [
      'size-not-multiple-of-block',
      metadata(0xfc000000, 0x3e00000, 1, { 'block-size': u32(0x3000) }),
      ['Tag storage region size is not a multiple of allocation block size'],
      null,
    ],
  ])('%s', (rule, tag, msgs, others) => {
    const { ts, lines, levels, memblock } = failing(tag, others);
    expect(lines).toEqual([FOUND, ...msgs, DISABLED]);
    expect(levels.slice(1)).toEqual(msgs.map(() => 'err').concat('err'));
    expect(rules(ts)).toEqual(['region-found', rule, 'management-disabled']);
    expect(ts.findings[1]!.node).toMatch(/^\/metadata@/);
    expect(ts.state).toBe('discovery-failed');
    expect(ts.regions).toHaveLength(0);
    // The region found before the failure is removed from memblock.memory (it stays in reserved, as memblock_remove
    // only touches memory) and the failed one was never added.
    expect(memblock.memory.overlaps(0x8fc000000, 0x3e00000)).toBe(false);
    expect(memblock.memory.overlaps(0xfc000000, 0x3e00000)).toBe(false);
  });

  test('the scan stops at the first failure: later nodes are not looked at', () => {
    const t = tree([
      memory(0x80000000, 0x7c000000, 1),
      metadata(0xfc000000, 0x3e00000, undefined),
      metadata(0x8fc000000, 0x3e00000, 1, { reg: undefined }),
    ]);
    expect(discover(t).lines).toEqual([
      "Missing 'memory' property in the tag storage node",
      'MTE tag storage management disabled',
    ]);
  });

  test('a 33rd region: 32 found, then the limit, then all removed', () => {
    const nodes: DtNode[] = [];
    for (let i = 0; i < MAX_TAG_REGIONS + 1; i++) {
      const base = 0x80000000 + i * 0x4400000; // 64 MiB memory + 2 MiB tag storage per slice, 2 MiB aligned
      nodes.push(memory(base, 0x4000000, i + 1));
      nodes.push(metadata(base + 0x4000000, 0x200000, i + 1));
    }
    const { ts, lines, memblock } = discover(tree(nodes));
    expect(lines).toHaveLength(34);
    expect(lines.slice(0, 32).every((l) => l.startsWith('Found MTE tag storage region 0x200000@'))).toBe(true);
    expect(lines.slice(32)).toEqual([
      'Maximum number of tag storage regions exceeded',
      'MTE tag storage management disabled',
    ]);
    expect(ts.regions).toHaveLength(0);
    expect(memblock.memory.overlaps(0x84000000, 0x200000)).toBe(false);
  });

  test('memory = <0> matches a memory node without a phandle (of_get_flat_dt_phandle returns 0)', () => {
    const t = tree([
      node('memory@80000000', { device_type: str('memory'), reg: u32(...u64(0x80000000), ...u64(0x7c000000)) }),
      metadata(0xfc000000, 0x3e00000, 0),
    ]);
    expect(discover(t).ts.regions).toHaveLength(1);
  });

  test('an empty block-size property reads as 0', () => {
    const t = tree([memory(0x80000000, 0x7c000000, 1), metadata(0xfc000000, 0x3e00000, 1, { 'block-size': empty() })]);
    expect(discover(t).lines[0]).toBe("Invalid or missing 'block-size' property");
  });

  test('the root cells decide how reg is read (1/1 cells here)', () => {
    const t = tree(
      [
        node('memory@80000000', { device_type: str('memory'), reg: u32(0x80000000, 0x7c000000), phandle: u32(1) }),
        node('metadata@fc000000', {
          compatible: str('arm,mte-tag-storage'),
          reg: u32(0xfc000000, 0x3e00000),
          'block-size': u32(0x1000),
          memory: u32(1),
        }),
      ],
      { '#address-cells': u32(1), '#size-cells': u32(1) },
    );
    expect(discover(t).lines).toEqual(['Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages']);
  });
});

describe('the rule table', () => {
  test('names are unique and every rule explains itself', () => {
    const names = TAG_STORAGE_RULES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const r of TAG_STORAGE_RULES) expect(r.explanation.length).toBeGreaterThan(40);
  });
});

describe('tagStorageNodeProblems: every problem of a node, not only the first', () => {
  const problems = (t: DtTree, ps = 4096, pb = PB4K) => {
    const dt = new DtIndex(t);
    return tagStorageCandidates(dt).map(({ node, path }) => ({
      path,
      rules: tagStorageNodeProblems(dt, node, ps, pb).map((p) => p.rule),
    }));
  };

  test('a valid node has none; the kernel order is kept; checks that still mean something go on', () => {
    expect(problems(tree(fvpNodes()))).toEqual([
      { path: '/metadata@fc000000', rules: [] },
      { path: '/metadata@8fc000000', rules: [] },
    ]);
    const t = tree([
      memory(0x80000000, 0x7c000000, 1),
      metadata(0xfc100000, 0x4000000, 1, { 'block-size': undefined }),
      metadata(0x8fc000000, 0x3e00000, undefined, { reg: undefined, 'block-size': u32(0x3000) }),
    ]);
    expect(problems(t)).toEqual([
      { path: '/metadata@fc100000', rules: ['not-pageblock-aligned', 'ratio-not-1-to-32', 'missing-block-size'] },
      // Without reg neither alignment, ratio nor the block multiple can be judged.
      { path: '/metadata@8fc000000', rules: ['no-reg', 'missing-memory-property'] },
    ]);
  });

  test('the lines are the ones the kernel prints', () => {
    const dt = new DtIndex(tree([memory(0x80000000, 0x7c000000, 1), metadata(0xfc000000, 0, 1)]));
    const [c] = tagStorageCandidates(dt);
    expect(tagStorageNodeProblems(dt, c!.node, 4096, PB4K)).toEqual([
      { rule: 'zero-size', lines: ['Invalid node', 'Invalid tag storage node'] },
    ]);
  });
});
