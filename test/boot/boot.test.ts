/**
 * Boot behaviour and consistency (issue #3 acceptance 1, 3, 4): the kernel lines, the counters agreeing with
 * the free lists, MemTotal under arm64.nomte / kasan=on, page sizes, mem=, reserved memory, bad platforms.
 */
import { meminfoMap } from '../../src/mm/meminfo.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../../src/mm/vmstat.js';
import { MIGRATE_METADATA, MIGRATE_TYPES } from '../../src/mm/zone.js';
import { renderProcFile } from '../../src/boot/procfs.js';
import { InputError } from '../../src/errors.js';
import { loadDt } from '../../src/dt/load.js';
import type { BootedSystem } from '../../src/boot/boot.js';
import { DEFAULT_DT, board, boot, runBoot } from './helpers.js';

const fvp = loadDt(DEFAULT_DT);
const TAG_BYTES = 2 * 0x3e00000;

function meminfo(sys: BootedSystem): Map<string, number> {
  return meminfoMap(sys.mm, { vmallocTotalKb: sys.vmallocTotalKb });
}

/** Walks every free list of every zone: pages per migratetype. */
function listPages(sys: BootedSystem): { total: number; byMt: number[] } {
  const byMt = new Array<number>(MIGRATE_TYPES).fill(0);
  let total = 0;
  for (const z of sys.mm.zones) {
    sys.mm.forEachFreeBlock(z, (_pfn, order, mt) => {
      byMt[mt]! += 2 ** order;
      total += 2 ** order;
    });
  }
  return { total, byMt };
}

function checkConsistency(sys: BootedSystem): void {
  const g = sys.geometry;
  const lists = listPages(sys);
  const nrFree = sys.mm.globalZoneState(NR_FREE_PAGES);
  const mi = meminfo(sys);
  expect(lists.total).toBe(nrFree);
  expect(mi.get('MemFree')).toBe((nrFree * g.pageSize) / 1024);
  expect(sys.mm.globalZoneState(NR_FREE_METADATA_PAGES)).toBe(lists.byMt[MIGRATE_METADATA]);
  expect(mi.get('MetadataFree')).toBe((lists.byMt[MIGRATE_METADATA]! * g.pageSize) / 1024);
  // MetadataTotal == METADATA pageblocks × pageblock size.
  let metaBlocks = 0;
  for (const z of sys.mm.zones) {
    for (let pfn = z.zoneStartPfn; pfn < z.zoneEndPfn; pfn += g.pageblockNrPages) {
      if (sys.mm.memmap.pfnValid(pfn) && sys.mm.pageblockMigratetype(pfn) === MIGRATE_METADATA) metaBlocks++;
    }
  }
  expect(mi.get('MetadataTotal')).toBe((metaBlocks * g.pageblockNrPages * g.pageSize) / 1024);
  // buddyinfo and pagetypeinfo sum to the same per zone and order.
  const buddy = renderProcFile(sys, 'buddyinfo')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).slice(4).map(Number));
  const pti = renderProcFile(sys, 'pagetypeinfo').split('\n');
  const populated = sys.mm.zones.filter((z) => z.populated);
  populated.forEach((z, zi) => {
    const rows = pti.filter((l) => new RegExp(`zone\\s+${z.name}, type`).test(l));
    expect(rows).toHaveLength(MIGRATE_TYPES);
    const sums = new Array<number>(g.nrOrders).fill(0);
    for (const r of rows) {
      r.split(/\s+/)
        .filter((x) => x !== '')
        .slice(-g.nrOrders)
        .forEach((v, o) => (sums[o]! += Number(v)));
    }
    expect(sums).toEqual(buddy[zi]);
  });
  expect(sys.mm.checkInvariants()).toEqual([]);
}

describe('bundled FVP platform (acceptance 1)', () => {
  const sys = boot(fvp);
  const dmesg = sys.log.dmesg();

  test('tag storage lines, in order', () => {
    const a = dmesg.indexOf('Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages');
    const b = dmesg.indexOf('Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages');
    const c = dmesg.indexOf('MTE tag storage enabled');
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
    expect(c).toBeGreaterThan(b);
    expect(dmesg.indexOf('Zone ranges:')).toBeGreaterThan(b);
    expect(dmesg.indexOf('Memory: ')).toBeLessThan(c);
  });

  test('meminfo MetadataTotal 126976 kB, MetadataFree 4 kB less', () => {
    const text = renderProcFile(sys, 'meminfo');
    expect(text).toContain('MetadataTotal:    126976 kB\n');
    expect(text).toContain('MetadataFree:     126972 kB\n');
  });

  test('Memory: line from the model', () => {
    const m = sys.memoryLine;
    // 2 banks of 0x7c000000 plus 2 × 0x3e00000 tag storage, all present.
    expect(m.physKb).toBe((2 * 0x7c000000 + TAG_BYTES) / 1024);
    // reserved = kernel image from _stext + memreserve + memmap (32 sections × 2 MiB) + tag storage
    //   + swiotlb (64 MiB buffer, 768 KiB of slots, one page holding its 8 areas)
    //   + linear-map page tables (2046 2 MiB spans with memory, less 8 wholly inside the kernel text, 4 PMD, 1 PUD)
    //   - init_pg_dir given back (the last 4 pages of the image)
    const swiotlbKb = 64 * 1024 + 768 + 4;
    const pageTablesKb = (2046 - 8 + 4 + 1) * 4;
    expect(sys.early.paging.tablePages).toEqual([2038, 4, 1]);
    expect(m.reservedKb).toBe(
      (32 * 1024 * 1024 - 0x10000 + 0x10000 + 64 * 1024 * 1024 + TAG_BYTES) / 1024 + swiotlbKb + pageTablesKb - 16,
    );
    expect(m.availableKb + m.reservedKb).toBe(m.physKb);
    expect(dmesg).toMatch(
      /Memory: 3890464K\/4190208K available \(12288K kernel code, 3072K rwdata, 7152K rodata, 5120K init, 5040K bss, 299744K reserved, 0K cma-reserved\)/,
    );
  });

  test('zones as arm64 v6.5: DMA below 4 GiB, DMA32 empty, Normal above', () => {
    expect(dmesg).toContain('  DMA      [mem 0x0000000080000000-0x00000000ffffffff]\n');
    expect(dmesg).toContain('  DMA32    empty\n');
    expect(dmesg).toContain('  Normal   [mem 0x0000000100000000-0x00000008ffdfffff]\n');
    expect(dmesg).toContain('On node 0, zone Normal: 512 pages in unavailable ranges');
    expect(dmesg).toContain('Built 1 zonelists, mobility grouping on.  Total pages: 1031176');
  });

  test('counters agree with the free lists', () => checkConsistency(sys));

  test('the zero page lives in the kernel bss and its tag block is reserved', () => {
    const zp = sys.ctx.zeroPagePfn * 4096;
    expect(zp).toBeGreaterThanOrEqual(sys.image.bssStart);
    expect(zp).toBeLessThan(sys.image.bssStop);
    const block = 0xfc000000 / 4096 + Math.floor((sys.ctx.zeroPagePfn - 0x80000) / 32);
    expect(sys.mm.isFree(block)).toBe(false);
    expect(sys.mm.isFree(block + 1)).toBe(true);
  });

  test('iomem: tag storage is System RAM, kept reserved', () => {
    const io = renderProcFile(sys, 'iomem');
    expect(io).toContain('80000000-ffdfffff : System RAM\n');
    expect(io).toContain('  80210000-8150ffff : Kernel code\n');
    expect(io).toContain('  81a10000-821fffff : Kernel data\n');
    // the swiotlb buffer sits right below the tag storage: one reserved range
    expect(io).toContain('  f8000000-ffdfffff : reserved\n');
    expect(dmesg).toContain('software IO TLB: area num 8.\n');
    expect(dmesg).toContain('software IO TLB: mapped [mem 0x00000000f8000000-0x00000000fc000000] (64MB)\n');
  });

  test('deterministic: two boots print the same', () => {
    const again = boot(fvp);
    expect(again.log.dmesg()).toBe(dmesg);
    expect(renderProcFile(again, 'zoneinfo')).toBe(renderProcFile(sys, 'zoneinfo'));
  });
});

describe('command line', () => {
  const enabled = boot(fvp);
  test('arm64.nomte: same MemTotal, tag storage as movable memory, no METADATA', () => {
    const off = boot(fvp, { cmdline: 'arm64.nomte' });
    expect(meminfo(off).get('MemTotal')).toBe(meminfo(enabled).get('MemTotal'));
    expect(meminfo(off).get('MetadataTotal')).toBe(0);
    expect(off.log.contains('MTE tag storage enabled')).toBe(false);
    expect(off.tagStorage.state).toBe('movable');
    checkConsistency(off);
  });

  test('kasan=on: MemTotal lower by exactly the tag storage size', () => {
    const k = boot(fvp, { cmdline: 'kasan=on' });
    expect(meminfo(enabled).get('MemTotal')! - meminfo(k).get('MemTotal')!).toBe(TAG_BYTES / 1024);
    expect(k.log.contains('KASAN HW tags enabled, disabling tag storage')).toBe(true);
    expect(k.log.contains('kasan: KernelAddressSanitizer initialized (hw-tags')).toBe(true);
    checkConsistency(k);
  });

  test('kasan=on with arm64.nomte: KASAN needs MTE, tag storage becomes movable', () => {
    const k = boot(fvp, { cmdline: 'kasan=on arm64.nomte' });
    expect(k.log.contains('KernelAddressSanitizer')).toBe(false);
    expect(k.tagStorage.state).toBe('movable');
  });

  test('unknown parameters are reported as v6.5 does; module parameters are not', () => {
    const s = boot(fvp, { cmdline: 'console=ttyAMA0 foo bar=1 mod.param=2 -- initarg' });
    expect(s.log.dmesg()).toContain('Kernel command line: console=ttyAMA0 foo bar=1 mod.param=2 -- initarg\n');
    expect(s.log.dmesg()).toContain(
      'Unknown kernel command line parameters "foo bar=1", will be passed to user space.\n',
    );
  });

  test('cma=64M: the global CMA area below the DMA limit, activated at core_initcall', () => {
    const s = boot(fvp, { cmdline: 'cma=64M' });
    const d = s.log.dmesg();
    expect(d).toContain('cma: Reserved 64 MiB at 0x00000000f8000000 on node -1\n');
    expect(d).toContain('software IO TLB: mapped [mem 0x00000000f4000000-0x00000000f8000000] (64MB)\n');
    expect(s.memoryLine.cmaReservedKb).toBe(65536);
    expect(meminfo(s).get('CmaTotal')).toBe(65536);
    expect(meminfo(s).get('CmaFree')).toBe(65536);
    // CMA pages are managed: MemTotal is the same as without it.
    expect(meminfo(s).get('MemTotal')).toBe(meminfo(enabled).get('MemTotal'));
    checkConsistency(s);
    const fixedBad = boot(fvp, { cmdline: 'cma=16M@0x80100000-0x81100000' });
    expect(fixedBad.log.dmesg()).toContain(
      'cma: Region at 0x0000000080100000 must be aligned to 0x0000000000200000 bytes',
    );
  });

  test('mem=3G keeps the first 3 GiB: the second tag storage region is cut off and activation refuses', () => {
    const s = boot(fvp, { cmdline: 'mem=3G' });
    const d = s.log.dmesg();
    expect(d).toContain('Memory limited to 3072MB');
    expect(d).toContain('Tag storage region 0x8fc000000-0x8ffe00000 outside addressable memory');
    expect(s.memoryLine.physKb).toBe(3 * 1024 * 1024);
    expect(meminfo(s).get('MetadataTotal')).toBe(0);
    checkConsistency(s);
  });
});

describe('page sizes (acceptance 4)', () => {
  test('16K: pageblock order 11 (32 MiB), tag storage not pageblock aligned → disabled', () => {
    const s = boot(fvp, { pageSize: 16384 });
    expect(s.geometry.pageblockNrPages).toBe(2048);
    expect(renderProcFile(s, 'pagetypeinfo').startsWith('Page block order: 11\nPages per block:  2048\n')).toBe(true);
    expect(s.log.contains('Tag storage region not aligned to 0x800')).toBe(true);
    expect(s.log.contains('MTE tag storage management disabled')).toBe(true);
    expect(meminfo(s).get('MetadataTotal')).toBe(0);
    // The removed regions are gone from memory: present = the two banks only.
    expect(s.memoryLine.physKb).toBe((2 * 0x7c000000) / 1024);
    checkConsistency(s);
  });

  test('64K: pageblock 512 MiB, memmap 512 KiB per 512 MiB section', () => {
    const s = boot(fvp, { pageSize: 65536 });
    expect(s.geometry.pageblockNrPages).toBe(8192);
    expect(s.early.memmapAllocs.reduce((a, m) => a + m.size, 0)).toBe(8 * 8192 * 64);
    expect(renderProcFile(s, 'buddyinfo').split('\n')[0]!.trim().split(/\s+/)).toHaveLength(4 + 14);
    checkConsistency(s);
  });

  test('16K with a 32 MiB-aligned tag storage layout: block size 1 page, tag pages cover 32 pages each', () => {
    // 2 GiB tagged at 0x80000000, 64 MiB of tags at 0x100000000 (both multiples of 32 MiB).
    const t = board(`
      memory0: memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x80000000>; };
      metadata@100000000 { compatible = "arm,mte-tag-storage"; reg = <1 0 0 0x4000000>;
        block-size = <0x1000>; memory = <&memory0>; };
      chosen { };`);
    const s = boot(t, { pageSize: 16384 });
    expect(s.log.contains('Found MTE tag storage region 0x4000000@0x100000000, block size 1 pages')).toBe(true);
    expect(s.log.contains('MTE tag storage enabled')).toBe(true);
    expect(meminfo(s).get('MetadataTotal')).toBe(64 * 1024);
    expect(meminfo(s).get('MetadataFree')).toBe(64 * 1024 - 16);
    checkConsistency(s);
  });
});

describe('platforms', () => {
  test('DRAM above 4 GiB: ZONE_DMA covers all memory, DMA32 and Normal empty (max_zone_phys)', () => {
    const s = boot(
      board('memory@880000000 { device_type = "memory"; reg = <8 0x80000000 0 0x40000000>; }; chosen { };'),
    );
    const d = s.log.dmesg();
    expect(d).toContain('  DMA      [mem 0x0000000880000000-0x00000008bfffffff]\n');
    expect(d).toContain('  DMA32    empty\n');
    expect(d).toContain('  Normal   empty\n');
    expect(d).toContain('No MTE tag storage regions detected');
  });

  test('dma-ranges limiting DMA to 1 GiB: DMA up to 0x3fffffff, DMA32 up to 4 GiB', () => {
    const s = boot(
      board(`memory@0 { device_type = "memory"; reg = <0 0 1 0>; };
        soc { #address-cells = <2>; #size-cells = <2>; ranges; dma-ranges = <0 0 0 0 0 0x40000000>; };
        chosen { };`),
    );
    const d = s.log.dmesg();
    expect(d).toContain('  DMA      [mem 0x0000000000000000-0x000000003fffffff]\n');
    expect(d).toContain('  DMA32    [mem 0x0000000040000000-0x00000000ffffffff]\n');
  });

  test('reserved-memory: static no-map removed from the free memory, dynamic allocated top-down', () => {
    const s = boot(
      board(`memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x40000000>; };
        reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
          fw@90000000 { reg = <0 0x90000000 0 0x100000>; no-map; };
          pool { compatible = "shared-dma-pool"; size = <0 0x400000>; alignment = <0 0x400000>; };
          bad@1 { reg = <0 1 0>; };
        };
        chosen { bootargs = "quiet"; };`),
    );
    const d = s.log.dmesg();
    expect(d).toContain("OF: fdt: Reserved memory: invalid reg property in 'bad@1', skipping node.");
    expect(d).toContain(
      'OF: reserved mem: 0x0000000090000000..0x00000000900fffff (1024 KiB) nomap non-reusable fw@90000000',
    );
    expect(d).toContain('Reserved memory: created DMA memory pool at 0x00000000bfc00000, size 4 MiB');
    expect(d).toContain('OF: reserved mem: initialized node pool, compatible id shared-dma-pool');
    expect(renderProcFile(s, 'iomem')).toContain('90000000-900fffff : reserved\n');
    checkConsistency(s);
  });

  test('reusable shared-dma-pool: a CMA area (cma-reserved, CmaTotal, MIGRATE_CMA pageblocks)', () => {
    const s = boot(
      board(`memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x40000000>; };
        reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
          linux,cma { compatible = "shared-dma-pool"; reusable; size = <0 0x4000000>; linux,cma-default; };
          bad@a0000000 { compatible = "shared-dma-pool"; reusable; reg = <0 0xa0001000 0 0x100000>; };
        };
        chosen { };`),
    );
    const d = s.log.dmesg();
    expect(d).toContain('Reserved memory: created CMA memory pool at 0x00000000bc000000, size 64 MiB');
    expect(d).toContain('OF: reserved mem: initialized node linux,cma, compatible id shared-dma-pool');
    expect(d).toContain('OF: reserved mem: 0x00000000bc000000..0x00000000bfffffff (65536 KiB) map reusable linux,cma');
    expect(d).toContain('Reserved memory: incorrect alignment of CMA region');
    expect(d).toContain('OF: reserved mem: node bad@a0000000 compatible matching fail');
    expect(s.memoryLine.cmaReservedKb).toBe(65536);
    const mi = meminfo(s);
    expect(mi.get('CmaTotal')).toBe(65536);
    expect(mi.get('CmaFree')).toBe(65536);
    expect(renderProcFile(s, 'zoneinfo')).toMatch(/cma {6}16384/);
    checkConsistency(s);
  });

  test('memory node oddities: disabled, size 0, sub-page, usable-memory, no reg', () => {
    const s = boot(
      board(`memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x20000000>, <0 0xa0000000 0 0>; };
        memory@c0000000 { device_type = "memory"; reg = <0 0xc0000000 0 0x800>; };
        memory@d0000000 { device_type = "memory"; reg = <0 0xd0000000 0 0x10000000>;
          linux,usable-memory = <0 0xd0000000 0 0x8000000>; };
        memory@e0000000 { device_type = "memory"; status = "disabled"; reg = <0 0xe0000000 0 0x10000000>; };
        memory@f0000000 { device_type = "memory"; };
        chosen { };`),
    );
    const d = s.log.dmesg();
    expect(d).toContain('OF: fdt: Ignoring memory block 0xc0000000 - 0xc0000800');
    expect(d).toContain('  node   0: [mem 0x0000000080000000-0x000000009fffffff]\n');
    expect(d).toContain('  node   0: [mem 0x00000000d0000000-0x00000000d7ffffff]\n');
    expect(d).not.toContain('0x00000000e0000000');
  });

  test('no /chosen: the kernel warns and boots with an empty command line', () => {
    const s = boot(board('memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x20000000>; };'));
    expect(s.log.dmesg()).toContain('OF: fdt: No chosen node found, continuing without\n');
    expect(s.log.dmesg()).toContain('Kernel command line: \n');
  });

  test('no memory at all: a one-line input error', () => {
    expect(() => boot(board('chosen { };'))).toThrow(InputError);
  });

  test('kernel image size is configurable and shows in the Memory: line', () => {
    const s = boot(fvp, { kernelImageSize: 64 * 1024 * 1024 });
    const m = s.memoryLine;
    expect(m.codeKb + m.rwdataKb + m.rodataKb + m.initKb + m.bssKb).toBeLessThanOrEqual(64 * 1024);
    expect(m.codeKb).toBe(24 * 1024);
    expect(renderProcFile(s, 'iomem')).toContain('  80210000-8280ffff : Kernel code\n');
  });

  test('min_free_kbytes: computed by default, the user value when given', () => {
    const d = boot(fvp);
    const u = boot(fvp, { minFreeKbytes: 65536 });
    expect(u.mm.minFreeKbytes).toBe(65536);
    expect(d.mm.minFreeKbytes).not.toBe(65536);
    expect(renderProcFile(u, 'zoneinfo')).not.toBe(renderProcFile(d, 'zoneinfo'));
  });
});

describe('boot command', () => {
  test('--json prints one object with the log, zones and shown files', async () => {
    const r = await runBoot({ json: true, show: 'meminfo' });
    const j = JSON.parse(r.out) as {
      tagStorage: { state: string; regions: unknown[] };
      proc: Record<string, string>;
      log: { text: string }[];
    };
    expect(j.tagStorage.state).toBe('enabled');
    expect(j.tagStorage.regions).toHaveLength(2);
    expect(j.proc['meminfo']).toContain('MetadataTotal:    126976 kB');
    expect(j.log.some((l) => l.text === 'MTE tag storage enabled')).toBe(true);
  });

  test('--show rejects unknown names', async () => {
    await expect(runBoot({ show: 'meminfo,slabinfo' })).rejects.toThrow(/unknown file 'slabinfo'/);
  });

  test('--page-size rejects 8K', async () => {
    await expect(runBoot({ pageSize: '8K' })).rejects.toThrow(/--page-size/);
  });
});
