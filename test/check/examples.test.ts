/**
 * Every dts/examples/ file booted in-process: the kernel's tag storage lines, exactly and in order (and where
 * they sit in the boot log), the outcome, and what it does to MemTotal / MetadataTotal / MetadataFree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bootKernel, type BootedSystem } from '../../src/boot/boot.js';
import { loadDt } from '../../src/dt/load.js';
import type { DtTree } from '../../src/dt/tree.js';
import type { PageSize } from '../../src/mm/geometry.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../../src/mm/vmstat.js';
import type { TagStorageState } from '../../src/arch/arm64/mte_tag_storage.js';
import { TAG_STORAGE_RULES } from '../../src/arch/arm64/mte_tag_storage_rules.js';
import { TAG_LINT_RULES } from '../../src/arch/arm64/mte_tag_storage_lint.js';

const dir = path.resolve(import.meta.dirname, '../../dts/examples');
const file = (name: string) => path.join(dir, name);
const DISABLED = 'MTE tag storage management disabled';

function boot(tree: DtTree, cmdline?: string, pageSize: PageSize = 4096): BootedSystem {
  return bootKernel({ tree, pageSize, ...(cmdline !== undefined ? { cmdline } : {}) });
}
const memTotalKb = (s: BootedSystem) => s.mm.totalramPages() * (s.geometry.pageSize / 1024);
const metadataTotalKb = (s: BootedSystem) => s.mm.totalmetadataPages * (s.geometry.pageSize / 1024);
const metadataFreeKb = (s: BootedSystem) => s.mm.globalZoneState(NR_FREE_METADATA_PAGES) * (s.geometry.pageSize / 1024);
const tagLines = (s: BootedSystem) => s.tagStorage.findings.flatMap((f) => f.lines.map((l) => l.replace(/\n$/, '')));

/** The same tree with every depth-1 node whose name contains "metadata" deleted. */
function withoutTagNodes(t: DtTree): DtTree {
  return { ...t, root: { ...t.root, children: t.root.children.filter((c) => !c.name.includes('metadata')) } };
}

/** Asserts `lines` appear in the log in this order (other boot lines may sit between them). */
function expectInLogInOrder(s: BootedSystem, lines: readonly string[]) {
  const log = s.log.all().map((r) => r.text);
  let at = 0;
  for (const l of lines) {
    const i = log.indexOf(l, at);
    expect({ line: l, found: i >= 0 }).toEqual({ line: l, found: true });
    at = i + 1;
  }
}

interface Expect {
  lines: string[];
  state: TagStorageState;
  rules: string[];
}

const FVP_FOUND = 'Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages';

const EXPECTED: Record<string, Expect> = {
  'no-reg.dts': {
    lines: ['Invalid metadata node', 'Invalid tag storage node', DISABLED],
    state: 'discovery-failed',
    rules: ['no-reg', 'management-disabled'],
  },
  'reg-two-entries.dts': {
    lines: ['Invalid tag storage node', DISABLED],
    state: 'discovery-failed',
    rules: ['reg-not-one-entry', 'management-disabled'],
  },
  'zero-size.dts': {
    lines: ['Invalid node', 'Invalid tag storage node', DISABLED],
    state: 'discovery-failed',
    rules: ['zero-size', 'management-disabled'],
  },
  'not-pageblock-aligned.dts': {
    lines: ['Tag storage region not aligned to 0x200', DISABLED],
    state: 'discovery-failed',
    rules: ['not-pageblock-aligned', 'management-disabled'],
  },
  'missing-memory-property.dts': {
    lines: ["Missing 'memory' property in the tag storage node", DISABLED],
    state: 'discovery-failed',
    rules: ['missing-memory-property', 'management-disabled'],
  },
  'memory-node-not-found.dts': {
    lines: ['Associated memory node not found', DISABLED],
    state: 'discovery-failed',
    rules: ['memory-node-not-found', 'management-disabled'],
  },
  'memory-node-without-reg.dts': {
    lines: ['Invalid memory node', 'Invalid address for associated data memory node', DISABLED],
    state: 'discovery-failed',
    rules: ['memory-node-without-reg', 'management-disabled'],
  },
  'memory-reg-two-entries.dts': {
    lines: ['Invalid address for associated data memory node', DISABLED],
    state: 'discovery-failed',
    rules: ['memory-reg-not-one-entry', 'management-disabled'],
  },
  'memory-zero-size.dts': {
    lines: ['Invalid node', 'Invalid address for associated data memory node', DISABLED],
    state: 'discovery-failed',
    rules: ['memory-zero-size', 'management-disabled'],
  },
  'ratio-not-1-to-32.dts': {
    lines: ["Tag region doesn't cover exactly the corresponding memory region", DISABLED],
    state: 'discovery-failed',
    rules: ['ratio-not-1-to-32', 'management-disabled'],
  },
  'missing-block-size.dts': {
    lines: ["Invalid or missing 'block-size' property", DISABLED],
    state: 'discovery-failed',
    rules: ['missing-block-size', 'management-disabled'],
  },
  'size-not-multiple-of-block.dts': {
    lines: ['Tag storage region size is not a multiple of allocation block size', DISABLED],
    state: 'discovery-failed',
    rules: ['size-not-multiple-of-block', 'management-disabled'],
  },
  'too-many-regions.dts': {
    lines: [
      ...Array.from(
        { length: 32 },
        (_, i) =>
          `Found MTE tag storage region 0x200000@0x${(0x84000000 + i * 0x4400000).toString(16)}, block size 1 pages`,
      ),
      'Maximum number of tag storage regions exceeded',
      DISABLED,
    ],
    state: 'discovery-failed',
    rules: [...Array.from({ length: 32 }, () => 'region-found'), 'too-many-regions', 'management-disabled'],
  },
  'outside-addressable-memory.dts': {
    lines: [FVP_FOUND, 'Tag storage region 0xfc000000-0xffe00000 outside addressable memory'],
    state: 'left-reserved',
    rules: ['region-found', 'outside-addressable-memory'],
  },
  'block-pages-in-different-zones.dts': {
    lines: [
      'Found MTE tag storage region 0x600000@0xffe00000, block size 3 pages',
      'Tag block pages in different zones',
    ],
    state: 'left-reserved',
    rules: ['region-found', 'block-pages-in-different-zones'],
  },
  'nomte.dts': { lines: [FVP_FOUND], state: 'movable', rules: ['region-found', 'nomte'] },
  'kasan-hw-tags.dts': {
    lines: [FVP_FOUND, 'KASAN HW tags enabled, disabling tag storage'],
    state: 'left-reserved',
    rules: ['region-found', 'kasan-hw-tags'],
  },
  'v3-binding.dts': { lines: ['No MTE tag storage regions detected'], state: 'none', rules: ['no-tag-storage'] },
  'v2-binding.dts': { lines: ['No MTE tag storage regions detected'], state: 'none', rules: ['no-tag-storage'] },
  'no-tag-storage.dts': { lines: ['No MTE tag storage regions detected'], state: 'none', rules: ['no-tag-storage'] },
  'block-size-3-pages.dts': {
    lines: ['Found MTE tag storage region 0x1800000@0xb0000000, block size 3 pages', 'MTE tag storage enabled'],
    state: 'enabled',
    rules: ['region-found', 'enabled'],
  },
  'zero-page-not-tagged.dts': {
    // The zero page is page-aligned bss of the kernel image in memory0 (pfn from the boot's image layout).
    lines: [
      'Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages',
      'Missing tag storage block for pfn 0x@ZERO@',
      'MTE tag storage enabled',
    ],
    state: 'enabled',
    rules: ['region-found', 'zero-page-not-covered', 'enabled'],
  },
};

describe('dts/examples', () => {
  test('every example file has an expectation here, and every expectation a file', () => {
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.dts'))
        .sort(),
    ).toEqual(Object.keys(EXPECTED).sort());
  });

  test.each(Object.keys(EXPECTED))('%s: the kernel lines, in order, and the outcome', (name) => {
    const exp = EXPECTED[name]!;
    const s = boot(loadDt(file(name)));
    const zero = s.ctx.zeroPagePfn.toString(16);
    const lines = exp.lines.map((l) => l.replace('@ZERO@', zero));
    expect(tagLines(s)).toEqual(lines);
    expectInLogInOrder(s, lines);
    expect(s.tagStorage.findings.map((f) => f.rule)).toEqual(exp.rules);
    expect(s.tagStorage.state).toBe(exp.state);
    expect(s.tagStorage.metadataEnabled).toBe(exp.state === 'enabled');
    if (exp.state !== 'enabled') expect(metadataTotalKb(s)).toBe(0);
  });

  test.each(Object.keys(EXPECTED))(
    "%s: the header comment quotes the kernel's lines as the boot prints them",
    (name) => {
      const text = readFileSync(file(name), 'latin1');
      const block = text.split(' * The v1 kernel prints:\n')[1]!.split(' *\n')[0]!;
      const quoted = block
        .split('\n')
        .map((l) => l.replace(/^ \* {3}/, '').replace(/ {3}\(.*\)$/, ''))
        .filter((l) => l.length > 0 && !l.startsWith('...') && !l.startsWith('('));
      expect(quoted.length).toBeGreaterThan(0);
      const s = boot(loadDt(file(name)));
      const actual = tagLines(s);
      let at = 0;
      for (const q of quoted) {
        const re = new RegExp(`^${q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('%lx', '[0-9a-f]+')}$`);
        const i = actual.findIndex((l, k) => k >= at && re.test(l));
        expect({ quoted: q, found: i >= 0 }).toEqual({ quoted: q, found: true });
        at = i + 1;
      }
    },
  );

  test('a discovery failure leaves memory exactly as if there were no tag storage node', () => {
    for (const name of Object.keys(EXPECTED).filter((n) => EXPECTED[n]!.state === 'discovery-failed')) {
      const t = loadDt(file(name));
      const s = boot(t);
      const without = boot(withoutTagNodes(t));
      expect({ name, memTotal: memTotalKb(s) }).toEqual({ name, memTotal: memTotalKb(without) });
      for (const r of s.memblock.memory.regions) expect(s.tagStorage.isTagStoragePfn(r.base / 4096)).toBe(false);
    }
  });

  test('too-many-regions: the 32 accepted regions are removed from memblock again', () => {
    const s = boot(loadDt(file('too-many-regions.dts')));
    for (let i = 0; i < 33; i++) {
      expect(s.memblock.memory.overlaps(0x84000000 + i * 0x4400000, 0x200000)).toBe(false);
    }
  });

  test('nomte: MemTotal as with tag storage enabled, MetadataTotal 0, tag storage on the MOVABLE lists', () => {
    const t = loadDt(file('nomte.dts'));
    const off = boot(t);
    const on = boot(t, 'console=ttyAMA0');
    expect(on.tagStorage.state).toBe('enabled');
    expect(memTotalKb(off)).toBe(memTotalKb(on));
    expect(metadataTotalKb(off)).toBe(0);
    expect(metadataTotalKb(on)).toBe(63488);
    expect(off.tagStorage.movablePages).toBe(0x3e00);
    // The pages stay memblock-reserved (kexec), yet are free in the buddy.
    expect(off.memblock.reserved.covers(0xfc000000, 0x3e00000)).toBe(true);
    expect(off.mm.isFree(0xfc000)).toBe(true);
  });

  test('kasan=on: MemTotal lower by exactly the tag storage size, nothing free there', () => {
    const t = loadDt(file('kasan-hw-tags.dts'));
    const kasan = boot(t);
    const on = boot(t, 'console=ttyAMA0');
    expect(memTotalKb(on) - memTotalKb(kasan)).toBe(0x3e00000 / 1024);
    expect(kasan.mm.isFree(0xfc000)).toBe(false);
    expect(kasan.log.contains('kasan: KernelAddressSanitizer initialized')).toBe(true);
  });

  test('block-pages-in-different-zones: the region stays reserved; with 1-page blocks it is enabled', () => {
    const t = loadDt(file('block-pages-in-different-zones.dts'));
    const s = boot(t);
    expect(s.mm.isFree(0xffe00)).toBe(false);
    expect(s.mm.isFree(0x100000)).toBe(false);
    // The same region with block-size = <0x1000> skips the zone check.
    const oneBlock: DtTree = {
      ...t,
      root: {
        ...t.root,
        children: t.root.children.map((c) =>
          c.name.startsWith('metadata')
            ? {
                ...c,
                properties: c.properties.map((p) =>
                  p.name === 'block-size' ? { ...p, value: new Uint8Array([0, 0, 0x10, 0]) } : p,
                ),
              }
            : c,
        ),
      },
    };
    const s1 = boot(oneBlock);
    expect(s1.tagStorage.state).toBe('enabled');
    expect(metadataTotalKb(s1)).toBe(0x600000 / 1024);
    expect(memTotalKb(s1) - memTotalKb(s)).toBe(0x600000 / 1024);
  });

  test('outside-addressable-memory: the clipped tag storage is neither free nor counted', () => {
    const s = boot(loadDt(file('outside-addressable-memory.dts')));
    expect(s.memblock.endOfDram()).toBe(0xc0000000);
    expect(memTotalKb(s)).toBeLessThan(1024 * 1024);
  });

  test('block-size-3-pages: the zero page block (3 pages) is reserved; MetadataFree is 12 kB lower', () => {
    const s = boot(loadDt(file('block-size-3-pages.dts')));
    expect(metadataTotalKb(s)).toBe(0x1800000 / 1024);
    expect(metadataTotalKb(s) - metadataFreeKb(s)).toBe(12);
    expect(s.tagStorage.reservedBlocks.size).toBe(1);
    const [block] = [...s.tagStorage.reservedBlocks];
    const expected = s.tagStorage.findBlock(s.ctx.zeroPagePfn)!.block;
    expect(block).toBe(expected);
    expect((block! - 0xb0000) % 3).toBe(0);
    // 1 from alloc_contig_range + min(1 << 0, 32 * 3) for the zero page.
    expect(s.mm.memmap.refcount(block!)).toBe(2);
  });

  test('zero-page-not-tagged: enabled without reserving any block', () => {
    const s = boot(loadDt(file('zero-page-not-tagged.dts')));
    expect(s.tagStorage.reservedBlocks.size).toBe(0);
    expect(metadataFreeKb(s)).toBe(metadataTotalKb(s));
  });

  test('the default FVP DT: 126976 kB of MetadataTotal, 4 kB of it taken by the zero page block', () => {
    const s = boot(loadDt(path.resolve(import.meta.dirname, '../../dts/fvp-base-revc-mte.dts')));
    expect(tagLines(s)).toEqual([
      FVP_FOUND,
      'Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages',
      'MTE tag storage enabled',
    ]);
    expect(metadataTotalKb(s)).toBe(126976);
    expect(metadataFreeKb(s)).toBe(126976 - 4);
    expect(s.mm.globalZoneState(NR_FREE_PAGES)).toBeGreaterThan(0);
  });

  test.each<[PageSize, string[]]>([
    [16384, ['Tag storage region not aligned to 0x800', DISABLED]],
    [65536, ['Tag storage region not aligned to 0x2000', DISABLED]],
  ])('with %i-byte pages the FVP tag storage is not pageblock aligned', (ps, lines) => {
    const s = boot(loadDt(path.resolve(import.meta.dirname, '../../dts/fvp-base-revc-mte.dts')), undefined, ps);
    expect(tagLines(s)).toEqual(lines);
  });
});

describe('rules and examples', () => {
  test('every example a rule names exists, and every example file is named by exactly one rule', () => {
    const named = [...TAG_STORAGE_RULES, ...TAG_LINT_RULES].flatMap((r) => (r.example ? [r.example] : []));
    expect(new Set(named).size).toBe(named.length);
    expect([...named].sort()).toEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith('.dts'))
        .sort(),
    );
  });
});
