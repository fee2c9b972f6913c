/** Larger pages with multi-page blocks, NUMA nodes, and every bundled example DT booting consistently. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadDt } from '../../src/dt/load.js';
import { meminfoMap } from '../../src/mm/meminfo.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../../src/mm/vmstat.js';
import { MIGRATE_METADATA } from '../../src/mm/zone.js';
import { renderProcFile } from '../../src/boot/procfs.js';
import { ROOT, board, boot } from './helpers.js';

test('64K pages, block-size 0x20000: 2-page blocks; the zero page takes one 128 KiB block', () => {
  // 16 GiB tagged at 2 GiB, its 512 MiB of tags at 18 GiB: both 512 MiB (one 64K pageblock) aligned.
  const t = board(`
    memory0: memory@80000000 { device_type = "memory"; reg = <0 0x80000000 4 0>; };
    metadata@480000000 { compatible = "arm,mte-tag-storage"; reg = <4 0x80000000 0 0x20000000>;
      block-size = <0x20000>; memory = <&memory0>; };
    chosen { };`);
  const s = boot(t, { pageSize: 65536 });
  expect(s.log.contains('Found MTE tag storage region 0x20000000@0x480000000, block size 2 pages')).toBe(true);
  expect(s.log.contains('MTE tag storage enabled')).toBe(true);
  const mi = meminfoMap(s.mm, { vmallocTotalKb: s.vmallocTotalKb });
  expect(mi.get('MetadataTotal')).toBe(512 * 1024);
  expect(mi.get('MetadataFree')).toBe(512 * 1024 - 128);
  expect(mi.get('Hugepagesize')).toBe(512 * 1024);
  expect(s.mm.checkInvariants()).toEqual([]);
});

test('NUMA: numa-node-id gives one node per memory node, tag storage on its memory node', () => {
  const t = board(`
    memory0: memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x7c000000>; numa-node-id = <0>; };
    metadata@fc000000 { compatible = "arm,mte-tag-storage"; reg = <0 0xfc000000 0 0x3e00000>;
      block-size = <0x1000>; memory = <&memory0>; };
    memory1: memory@880000000 { device_type = "memory"; reg = <8 0x80000000 0 0x7c000000>; numa-node-id = <1>; };
    metadata@8fc000000 { compatible = "arm,mte-tag-storage"; reg = <8 0xfc000000 0 0x3e00000>;
      block-size = <0x1000>; memory = <&memory1>; };
    chosen { };`);
  const s = boot(t);
  const d = s.log.dmesg();
  expect(d).toContain('  node   0: [mem 0x0000000080000000-0x00000000ffdfffff]\n');
  expect(d).toContain('  node   1: [mem 0x0000000880000000-0x00000008ffdfffff]\n');
  expect(d).toContain('Initmem setup node 1 [mem 0x0000000880000000-0x00000008ffdfffff]\n');
  expect(d).toContain('Built 2 zonelists, mobility grouping on.');
  expect(s.mm.nodes.map((n) => n.nodeId)).toEqual([0, 1]);
  // each node has its own struct page array, on its own memory
  expect(s.early.memmapAllocs.map((m) => m.nid)).toEqual([0, 1]);
  expect(renderProcFile(s, 'buddyinfo')).toContain('Node 1, zone   Normal');
  expect(s.mm.checkInvariants()).toEqual([]);
});

describe('every dts/examples file boots with consistent counters', () => {
  const dir = path.join(ROOT, 'dts/examples');
  const files = ((): string[] => {
    try {
      return readdirSync(dir).filter((f) => f.endsWith('.dts'));
    } catch {
      return [];
    }
  })();
  test.each(files.length > 0 ? files : ['(none)'])('%s', (f) => {
    if (f === '(none)') return;
    const s = boot(loadDt(path.join(dir, f)));
    let listed = 0;
    let meta = 0;
    for (const z of s.mm.zones) {
      s.mm.forEachFreeBlock(z, (_p, o, mt) => {
        listed += 2 ** o;
        if (mt === MIGRATE_METADATA) meta += 2 ** o;
      });
    }
    expect(listed).toBe(s.mm.globalZoneState(NR_FREE_PAGES));
    expect(meta).toBe(s.mm.globalZoneState(NR_FREE_METADATA_PAGES));
    expect(s.mm.checkInvariants()).toEqual([]);
    // The Memory: line adds up: available + reserved == physical.
    expect(s.memoryLine.availableKb + s.memoryLine.reservedKb).toBe(s.memoryLine.physKb);
  });
});

test('the zero page is PageReserved and, with MTE, PG_mte_tagged with its tag storage reserved', async () => {
  const { PG_mte_tagged, PG_reserved, PG_tag_storage_reserved } = await import('../../src/mm/memmap.js');
  const fvp = loadDt(path.join(ROOT, 'dts/fvp-base-revc-mte.dts'));
  const on = boot(fvp);
  const f = on.mm.memmap.flags(on.ctx.zeroPagePfn);
  expect(f & PG_reserved).toBeTruthy();
  expect(f & PG_mte_tagged).toBeTruthy();
  expect(f & PG_tag_storage_reserved).toBeTruthy();
  const off = boot(fvp, { cmdline: 'arm64.nomte' });
  expect(off.mm.memmap.flags(off.ctx.zeroPagePfn) & PG_mte_tagged).toBe(0);
});
