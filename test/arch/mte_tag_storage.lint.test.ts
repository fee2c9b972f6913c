import { DtIndex } from '../../src/dt/tree.js';
import { lintTagStorage, TAG_LINT_RULES } from '../../src/arch/arm64/mte_tag_storage_lint.js';
import { fvpNodes, memory, metadata, node, str, tree, u32, u64 } from './dt-builder.js';

const lint = (t: ReturnType<typeof tree>, ps = 4096) => lintTagStorage(new DtIndex(t), ps);
const rules = (t: ReturnType<typeof tree>, ps = 4096) => lint(t, ps).map((f) => `${f.rule} ${f.node}`);

describe("mte-sim's own tag storage warnings", () => {
  test('the seed FVP layout is clean', () => {
    expect(lint(tree(fvpNodes()))).toEqual([]);
  });

  test('v3: /reserved-memory child, tagged-memory, reusable', () => {
    const t = tree([
      memory(0x80000000, 0x80000000, 1),
      node('reserved-memory', { '#address-cells': u32(2), '#size-cells': u32(2), ranges: new Uint8Array(0) }, [
        node('tag-storage@8f8000000', {
          compatible: str('arm,mte-tag-storage'),
          reg: u32(...u64(0x8f8000000), ...u64(0x4000000)),
          'block-size': u32(0x1000),
          'tagged-memory': u32(1),
          reusable: new Uint8Array(0),
        }),
      ]),
    ]);
    expect(rules(t)).toEqual([
      'v3-binding /reserved-memory/tag-storage@8f8000000',
      'v3-tagged-memory /reserved-memory/tag-storage@8f8000000',
      'v3-reusable /reserved-memory/tag-storage@8f8000000',
    ]);
  });

  test('v2 name, deeper nodes, and metadata nodes without the compatible are ignored by the kernel', () => {
    const t = tree([
      memory(0x80000000, 0x7c000000, 1),
      { ...metadata(0xfc000000, 0x3e00000, 1), name: 'tag-storage@fc000000' },
      node('soc', {}, [metadata(0xfc000000, 0x3e00000, 1)]),
      node('metadata@0', { reg: u32(0, 0, 0, 0x1000) }),
    ]);
    expect(rules(t)).toEqual([
      'v2-binding /tag-storage@fc000000',
      'not-at-depth-1 /soc/metadata@fc000000',
      'not-compatible /metadata@0',
    ]);
  });

  test('unit address vs reg, for the tag node and its memory node', () => {
    const t = tree([
      { ...memory(0x80000000, 0x7c000000, 1), name: 'memory@80000001' },
      { ...metadata(0xfc000000, 0x3e00000, 1), name: 'metadata@0fc000000' },
    ]);
    expect(lint(t).map((f) => f.message)).toEqual([
      'unit address 0fc000000 does not match reg (0xfc000000)',
      'unit address 80000001 does not match reg (0x80000000)',
    ]);
  });

  test('page alignment depends on the page size; short reg; shared memory node; tag storage in a memory node', () => {
    const t = tree([memory(0x80000000, 0x7c000000, 1), metadata(0xfc000000, 0x3e00000, 1)]);
    expect(rules(t, 65536)).toEqual([]);
    const odd = tree([memory(0x80000000, 0x7c000000, 1), metadata(0xfc000800, 0x3e00000, 1)]);
    expect(rules(odd)).toEqual(['not-page-aligned /metadata@fc000800']);
    const short = tree([
      memory(0x80000000, 0x7c000000, 1),
      metadata(0xfc000000, 0x3e00000, 1, { reg: u32(0, 0xfc000000) }),
    ]);
    expect(rules(short)).toEqual(['reg-too-short /metadata@fc000000']);
    const shared = tree([
      memory(0x80000000, 0x7c000000, 1),
      metadata(0xfc000000, 0x3e00000, 1),
      metadata(0x100000000, 0x3e00000, 1),
    ]);
    expect(rules(shared)).toEqual(['shared-memory-node /metadata@100000000']);
    const inMem = tree([memory(0x80000000, 0x80000000, 1), metadata(0xfc000000, 0x3e00000, 1)]);
    expect(rules(inMem)).toEqual(['tag-storage-in-memory-node /metadata@fc000000']);
  });

  test('status is ignored by the kernel: warn for the tag node and for its memory node', () => {
    const t = tree([
      memory(0x80000000, 0x7c000000, 1, { status: str('disabled') }),
      metadata(0xfc000000, 0x3e00000, 1, { status: str('disabled') }),
    ]);
    expect(lint(t).map((f) => `${f.rule}: ${f.message}`)).toEqual([
      'status-ignored: status = "disabled" is ignored: the v1 kernel uses this node anyway',
      'status-ignored: its memory node /memory@80000000 has status = "disabled": tag storage for absent memory',
    ]);
    const ok = tree([memory(0x80000000, 0x7c000000, 1), metadata(0xfc000000, 0x3e00000, 1, { status: str('okay') })]);
    expect(lint(ok)).toEqual([]);
  });

  test('every rule name used is in the table, with an explanation', () => {
    const names = new Set(TAG_LINT_RULES.map((r) => r.name));
    expect(names.size).toBe(TAG_LINT_RULES.length);
    for (const r of TAG_LINT_RULES) expect(r.explanation.length).toBeGreaterThan(40);
  });
});
