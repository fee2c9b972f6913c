/**
 * Property tests: discovery on random tag storage nodes never throws, and whatever it accepts satisfies
 * every rule of kernel-facts §1.1; whatever it refuses is removed from memblock again.
 */
import fc from 'fast-check';
import { DtIndex } from '../../src/dt/tree.js';
import { Memblock } from '../../src/mm/memblock.js';
import { KernelLog } from '../../src/sim/log.js';
import { discoverTagStorage, MAX_TAG_REGIONS, rangeLen } from '../../src/arch/arm64/mte_tag_storage.js';
import { memory, node, str, tree, u32, u64 } from './dt-builder.js';
import type { DtNode } from '../../src/dt/tree.js';

const MiB = 1024 * 1024;

const tagNode = fc.record({
  // Mostly plausible values around the FVP layout, sometimes garbage.
  tagBase: fc.oneof(fc.constantFrom(0xfc000000, 0xfc100000, 0x100000000), fc.integer({ min: 0, max: 2 ** 40 })),
  tagSize: fc.oneof(
    fc.constantFrom(0, 0xfff, 0x3e00000, 0x4000000, 0x200000, 0x600000),
    fc.integer({ min: 0, max: 2 ** 32 }),
  ),
  memSize: fc.oneof(fc.constantFrom(0x7c000000, 0x4000000, 0xc000000, 0), fc.integer({ min: 0, max: 2 ** 36 })),
  blockSize: fc.option(
    fc.oneof(fc.constantFrom(0, 0x1000, 0x2000, 0x3000, 0x800), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  ),
  linkMemory: fc.constantFrom('ok', 'missing', 'dangling'),
  regCells: fc.constantFrom(4, 4, 4, 2, 8, 0),
  name: fc.constantFrom('metadata@x', 'metadata', 'tag-storage@x', 'my-metadata'),
});

describe('discoverTagStorage on random nodes', () => {
  test('never throws; accepted regions obey every rule; refusals leave no tag storage in memblock', () => {
    fc.assert(
      fc.property(
        fc.array(tagNode, { minLength: 0, maxLength: 5 }),
        fc.constantFrom(4096, 16384, 65536),
        (specs, ps) => {
          const pb = ps === 4096 ? 512 : ps === 16384 ? 2048 : 8192;
          const children: DtNode[] = [];
          specs.forEach((s, i) => {
            children.push(memory(0x80000000 + i * 0x100000000, s.memSize, i + 1));
            const regCells = u32(...u64(s.tagBase), ...u64(s.tagSize)).subarray(0, s.regCells * 4);
            const props: Record<string, Uint8Array> = { compatible: str('arm,mte-tag-storage'), reg: regCells };
            if (s.blockSize !== null) props['block-size'] = u32(s.blockSize);
            if (s.linkMemory === 'ok') props['memory'] = u32(i + 1);
            if (s.linkMemory === 'dangling') props['memory'] = u32(1000 + i);
            children.push(node(s.name.replace('x', s.tagBase.toString(16)), props));
          });
          const memblock = new Memblock();
          const log = new KernelLog();
          const ts = discoverTagStorage({
            dt: new DtIndex(tree(children)),
            pageSize: ps,
            pageblockNrPages: pb,
            memblock,
            log,
          });
          const lines = log.all().map((r) => r.text);
          if (ts.state === 'discovered') {
            expect(ts.regions.length).toBeGreaterThan(0);
            expect(ts.regions.length).toBeLessThanOrEqual(MAX_TAG_REGIONS);
            for (const r of ts.regions) {
              expect(r.tag.start % pb).toBe(0);
              expect(rangeLen(r.tag) % pb).toBe(0);
              expect(rangeLen(r.tag) * 32).toBe(rangeLen(r.mem));
              expect(rangeLen(r.tag) % r.blockSizePages).toBe(0);
              expect(memblock.reserved.covers(r.tag.start * ps, rangeLen(r.tag) * ps)).toBe(true);
            }
            expect(lines.every((l) => l.startsWith('Found MTE tag storage region '))).toBe(true);
          } else if (ts.state === 'discovery-failed') {
            expect(ts.regions).toHaveLength(0);
            expect(lines[lines.length - 1]).toBe('MTE tag storage management disabled');
            expect(memblock.memory.regions).toHaveLength(0);
          } else {
            expect(ts.state).toBe('none');
            expect(lines).toEqual(['No MTE tag storage regions detected']);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('16 MiB blocks (block-size 0x1000000) need a region that is a multiple of 16 MiB', () => {
    const mk = (tagSize: number) =>
      tree([
        memory(0x80000000, tagSize * 32, 1),
        node('metadata@0', {
          compatible: str('arm,mte-tag-storage'),
          reg: u32(...u64(0x80000000 + tagSize * 32), ...u64(tagSize)),
          'block-size': u32(16 * MiB),
          memory: u32(1),
        }),
      ]);
    const run = (t: ReturnType<typeof mk>) =>
      discoverTagStorage({
        dt: new DtIndex(t),
        pageSize: 4096,
        pageblockNrPages: 512,
        memblock: new Memblock(),
        log: new KernelLog(),
      });
    expect(run(mk(32 * MiB)).regions[0]?.blockSizePages).toBe(4096);
    expect(run(mk(34 * MiB)).state).toBe('discovery-failed');
  });
});
