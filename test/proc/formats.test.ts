/**
 * /proc formats on a small synthetic machine (4K pages, 2 cpus, one node): ZONE_DMA 64 MiB at 2 GiB, empty DMA32,
 * ZONE_NORMAL 64 MiB at 4 GiB whose last 2 MiB are a METADATA pageblock, empty Movable. Expected strings were
 * written by hand from the kernel's format strings (mm/vmstat.c, fs/proc/meminfo.c; kernel-facts §7.3–7.5) and
 * the figures worked out from the v6.5 formulas (see the comments).
 */
import { describe, expect, test } from '@jest/globals';
import { meminfoLines, meminfoMap } from '../../src/mm/meminfo.js';
import { GFP_KERNEL } from '../../src/mm/gfp.js';
import { formatBuddyinfo } from '../../src/proc/buddyinfo.js';
import { formatMeminfo } from '../../src/proc/meminfo.js';
import { formatPagetypeinfo } from '../../src/proc/pagetypeinfo.js';
import { formatVmstat, vmstatValues } from '../../src/proc/vmstat.js';
import { formatZoneinfo } from '../../src/proc/zoneinfo.js';
import { makeMachine } from '../mm/machine.js';

const machine = () => makeMachine({ dmaMiB: 64, normalMiB: 64, metadataMiB: 2, cpus: 2 });

describe('/proc/buddyinfo', () => {
  test('one line per populated zone, %6lu per order 0..MAX_ORDER', () => {
    const { alloc } = machine();
    expect(formatBuddyinfo(alloc)).toBe(
      'Node 0, zone      DMA      0      0      0      0      0      0      0      0      0      0     16 \n' +
        'Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      2     15 \n',
    );
  });
});

describe('/proc/pagetypeinfo', () => {
  test('header, free counts per type with Metadata, block counts', () => {
    const { alloc } = machine();
    const zeros = '      0'.repeat(11);
    const line = (zone: string, type: string, counts: string): string =>
      `Node    0, zone ${zone.padStart(8)}, type ${type.padStart(12)}${counts} \n`;
    const expected =
      'Page block order: 9\n' +
      'Pages per block:  512\n' +
      '\n' +
      'Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 \n' +
      line('DMA', 'Unmovable', zeros) +
      line('DMA', 'Movable', '      0'.repeat(10) + '     16') +
      line('DMA', 'Reclaimable', zeros) +
      line('DMA', 'HighAtomic', zeros) +
      line('DMA', 'CMA', zeros) +
      line('DMA', 'Metadata', zeros) +
      line('DMA', 'Isolate', zeros) +
      line('Normal', 'Unmovable', zeros) +
      line('Normal', 'Movable', '      0'.repeat(9) + '      1     15') +
      line('Normal', 'Reclaimable', zeros) +
      line('Normal', 'HighAtomic', zeros) +
      line('Normal', 'CMA', zeros) +
      line('Normal', 'Metadata', '      0'.repeat(9) + '      1      0') +
      line('Normal', 'Isolate', zeros) +
      '\n' +
      'Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA     Metadata      Isolate \n' +
      'Node 0, zone      DMA            0           32            0            0            0            0            0 \n' +
      'Node 0, zone   Normal            0           31            0            0            0            1            0 \n';
    expect(formatPagetypeinfo(alloc)).toBe(expected);
  });

  test('free counts agree with buddyinfo', () => {
    const { alloc } = machine();
    for (let k = 0; k < 300; k++) alloc.allocPages(k % 4, GFP_KERNEL);
    const pti = formatPagetypeinfo(alloc)
      .split('\n')
      .filter((l) => l.includes(', type '));
    const bi = formatBuddyinfo(alloc).split('\n').filter(Boolean);
    for (const zone of ['DMA', 'Normal']) {
      const sums = new Array(11).fill(0);
      for (const l of pti.filter((x) => x.includes(`zone ${zone.padStart(8)},`))) {
        l.slice(47)
          .trim()
          .split(/\s+/)
          .forEach((v, o) => (sums[o] += Number(v)));
      }
      const b = bi.find((x) => x.includes(`zone ${zone.padStart(8)} `))!;
      expect(b.slice(21).trim().split(/\s+/).map(Number)).toEqual(sums);
    }
  });

  test('a list of 100000 blocks or more prints as >100000', () => {
    // 100000 free blocks on one list need > 400 MiB of fragmented memory; set the list's count instead (the
    // formatter reads the per-list counts the allocator keeps in step with the lists).
    const m = makeMachine({ dmaMiB: 64, normalMiB: 4, noWatermarks: true, noPcp: true });
    const { alloc, dma } = m;
    dma.freeCount[0 * 7 + 1] = 100000;
    const l = formatPagetypeinfo(alloc)
      .split('\n')
      .find((x) => x.includes('zone      DMA, type      Movable'))!;
    expect(l.startsWith('Node    0, zone      DMA, type      Movable >100000 ')).toBe(true);
    dma.freeCount[0 * 7 + 1] = 99999;
    const l2 = formatPagetypeinfo(alloc)
      .split('\n')
      .find((x) => x.includes('zone      DMA, type      Movable'))!;
    expect(l2.startsWith('Node    0, zone      DMA, type      Movable  99999 ')).toBe(true);
  });
});

describe('/proc/meminfo', () => {
  test('every line in order with the kernel padding', () => {
    const { alloc } = machine();
    // Figures: managed 32768 pages. min_free_kbytes = 6444 (khugepaged: min(11264, 32226 / 20) pages = 1611),
    // watermarks per zone min 805 / low 1006 / high 1207, DMA lowmem_reserve 64, so totalreserve_pages =
    // (64 + 1207) + 1207 = 2478 and MemAvailable = (32768 - 2478) * 4 = 121160 kB. CommitLimit = 32768 / 2 pages.
    const expected = [
      'MemTotal:         131072 kB',
      'MemFree:          131072 kB',
      'MemAvailable:     121160 kB',
      'Buffers:               0 kB',
      'Cached:                0 kB',
      'SwapCached:            0 kB',
      'Active:                0 kB',
      'Inactive:              0 kB',
      'Active(anon):          0 kB',
      'Inactive(anon):        0 kB',
      'Active(file):          0 kB',
      'Inactive(file):        0 kB',
      'Unevictable:           0 kB',
      'Mlocked:               0 kB',
      'SwapTotal:             0 kB',
      'SwapFree:              0 kB',
      'Dirty:                 0 kB',
      'Writeback:             0 kB',
      'AnonPages:             0 kB',
      'Mapped:                0 kB',
      'Shmem:                 0 kB',
      'KReclaimable:          0 kB',
      'Slab:                  0 kB',
      'SReclaimable:          0 kB',
      'SUnreclaim:            0 kB',
      'KernelStack:           0 kB',
      'PageTables:            0 kB',
      'SecPageTables:         0 kB',
      'NFS_Unstable:          0 kB',
      'Bounce:                0 kB',
      'WritebackTmp:          0 kB',
      'CommitLimit:       65536 kB',
      'Committed_AS:          0 kB',
      'VmallocTotal:   135288315904 kB',
      'VmallocUsed:          12 kB',
      'VmallocChunk:          0 kB',
      'Percpu:              320 kB',
      'HardwareCorrupted:     0 kB',
      'AnonHugePages:         0 kB',
      'ShmemHugePages:        0 kB',
      'ShmemPmdMapped:        0 kB',
      'FileHugePages:         0 kB',
      'FilePmdMapped:         0 kB',
      'CmaTotal:              0 kB',
      'CmaFree:               0 kB',
      'MetadataTotal:      2048 kB',
      'MetadataFree:       2048 kB',
      'HugePages_Total:       0',
      'HugePages_Free:        0',
      'HugePages_Rsvd:        0',
      'HugePages_Surp:        0',
      'Hugepagesize:       2048 kB',
      'Hugetlb:               0 kB',
    ];
    const text = formatMeminfo(
      meminfoLines(alloc, { vmallocTotalKb: 135288315904, vmallocUsedPages: 3, percpuPages: 80 }),
    );
    expect(text).toBe(expected.map((l) => l + '\n').join(''));
  });

  test('MemFree, MetadataFree follow the allocator; values are a name map for expectations', () => {
    const { alloc } = machine();
    const p = alloc.allocPages(3, GFP_KERNEL);
    alloc.drainAllPages();
    const mi = meminfoMap(alloc);
    expect(mi.get('MemFree')).toBe(131072 - 32);
    expect(mi.get('MetadataFree')).toBe(2048);
    alloc.freePages(p, 3);
    alloc.drainAllPages();
    expect(meminfoMap(alloc).get('MemFree')).toBe(131072);
  });
});

describe('/proc/vmstat', () => {
  test('order of the series counters and the trailing nr_unstable', () => {
    const { alloc } = machine();
    const text = formatVmstat(alloc);
    const names = text
      .trimEnd()
      .split('\n')
      .map((l) => l.split(' ')[0]!);
    expect(text.endsWith('\nnr_unstable 0\n')).toBe(true);
    const at = (n: string): number => names.indexOf(n);
    expect(at('nr_free_metadata')).toBe(at('nr_free_cma') + 1);
    expect(at('numa_hit')).toBe(at('nr_free_metadata') + 1);
    expect(at('nr_inactive_anon')).toBe(at('numa_other') + 1);
    expect(at('nr_dirty_threshold')).toBe(at('pgpromote_candidate') + 1);
    expect(at('pgpgin')).toBe(at('nr_dirty_background_threshold') + 1);
    expect(at('metadata_reserve_success')).toBe(at('cma_alloc_fail') + 1);
    expect(at('metadata_reserve_free')).toBe(at('metadata_reserve_success') + 2);
    expect(at('unevictable_pgs_culled')).toBe(at('metadata_reserve_free') + 1);
    expect(names.slice(at('pgalloc_dma'), at('pgalloc_dma') + 4)).toEqual([
      'pgalloc_dma',
      'pgalloc_dma32',
      'pgalloc_normal',
      'pgalloc_movable',
    ]);
    expect(new Set(names).size).toBe(names.length);
  });

  test('values follow state', () => {
    const { alloc } = machine();
    const v = new Map(vmstatValues(alloc));
    expect(v.get('nr_free_pages')).toBe(32768);
    expect(v.get('nr_free_metadata')).toBe(512);
    // boot: 16384 + 15872 pages through __free_pages_ok; the METADATA pageblock bypasses pcp (no PGFREE).
    expect(v.get('pgfree')).toBe(32256);
    // global_dirty_limits: avail = 32768 - 2478 + 1 = 30291; 819 * 30291 / 4096 and 409 * 30291 / 4096.
    expect(v.get('nr_dirty_threshold')).toBe(6056);
    expect(v.get('nr_dirty_background_threshold')).toBe(3024);
    alloc.allocPages(0, GFP_KERNEL);
    const w = new Map(vmstatValues(alloc));
    expect(w.get('pgalloc_normal')).toBe(1);
    expect(w.get('numa_hit')).toBe(1);
    expect(w.get('numa_local')).toBe(1);
  });
});

describe('/proc/zoneinfo', () => {
  test('layout of populated and empty zones', () => {
    const { alloc } = machine();
    const text = formatZoneinfo(alloc);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Node 0, zone      DMA');
    expect(lines[1]).toBe('  per-node stats');
    expect(lines[2]).toBe('      nr_inactive_anon 0');
    expect(lines).toContain('      nr_mapped    0');
    expect(lines).toContain('      nr_anon_transparent_hugepages 0');
    expect(text.split('per-node stats').length).toBe(2);
    const dma = text.slice(0, text.indexOf('Node 0, zone    DMA32'));
    expect(dma).toContain(
      '\n  pages free     16384\n        boost    0\n        min      805\n        low      1006\n' +
        '        high     1207\n        spanned  16384\n        present  16384\n        managed  16384\n' +
        '        cma      0\n        metadata 0\n        protection: (0, 0, 64, 64)\n      nr_free_pages 16384\n',
    );
    expect(dma).toContain('      nr_free_metadata 0\n      numa_hit     0\n');
    expect(dma).toContain(
      '\n  pagesets\n    cpu: 0\n              count: 0\n              high:  503\n              batch: 3\n' +
        '  vm stats threshold: 4\n    cpu: 1\n', // 2 * fls(2 cpus) * (1 + fls(16384 >> 15))
    );
    expect(dma.endsWith('  node_unreclaimable:  0\n  start_pfn:           524288\n')).toBe(true);
    // An empty zone stops after its protection line.
    expect(text).toContain(
      'Node 0, zone    DMA32\n  pages free     0\n        boost    0\n        min      0\n        low      0\n' +
        '        high     0\n        spanned  0\n        present  0\n        managed  0\n        cma      0\n' +
        '        metadata 0\n        protection: (0, 0, 0, 0)\nNode 0, zone   Normal\n',
    );
    const normal = text.slice(text.indexOf('Node 0, zone   Normal'), text.indexOf('Node 0, zone  Movable'));
    expect(normal).toContain('        metadata 512\n');
    expect(normal).toContain('      nr_free_metadata 512\n');
    expect(text.endsWith('        protection: (0, 0, 0, 0)\n')).toBe(true);
  });
});

describe('16K and 64K pages', () => {
  test.each([
    // page size, MAX_ORDER, pageblock order, pages per block, MAX_ORDER blocks per 1 GiB zone
    [16384, 11, 11, 2048, 2 ** 16 / 2 ** 11],
    [65536, 13, 13, 8192, 2 ** 14 / 2 ** 13],
  ] as const)('%i-byte pages: columns, pageblocks and counts', (ps, maxOrder, pbOrder, pbPages, blocks) => {
    const { alloc } = makeMachine({ pageSize: ps, dmaMiB: 1024, normalMiB: 1024, noWatermarks: true });
    const bi = formatBuddyinfo(alloc).split('\n')[0]!;
    const cols = bi.slice(21).trim().split(/\s+/);
    expect(cols.length).toBe(maxOrder + 1);
    expect(cols[maxOrder]).toBe(String(blocks));
    const pti = formatPagetypeinfo(alloc);
    expect(pti.startsWith(`Page block order: ${pbOrder}\nPages per block:  ${pbPages}\n\n`)).toBe(true);
    expect(pti).toContain(`Node 0, zone      DMA ${'0'.padStart(12)} ${String(2 ** 30 / ps / pbPages).padStart(12)} `);
    const mi = meminfoMap(alloc);
    expect(mi.get('MemTotal')).toBe(2 * 1024 * 1024);
    expect(mi.get('Hugepagesize')).toBe((pbPages * ps) / 1024);
  });
});
