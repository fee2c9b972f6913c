/**
 * Transparent huge pages (src/process/thp.ts) on the small MTE platform (block size 1 page), run through the
 * scenario interpreter with the invariant checker after every statement: issue #5 acceptance 3 (a tagged THP
 * fault reserves exactly 16 tag pages per 2 MiB, kernel-facts §2.2; mprotect(PROT_MTE) of a THP goes through
 * the PMD path, §5.4) and the THP life cycle (split, migration, swap, munmap returning the tag pages).
 */
import { describe, expect, test } from '@jest/globals';
import { PAGE_METADATA_NONE, PTE_PMD, PTE_TAGGED, PTE_VALID, PTE_WRITE } from '../../src/process/pte.js';
import { PageFlag } from '../../src/process/port.js';
import { clean, runScn } from '../fork/helpers.js';
import { session } from './harness.js';

const MB = 2 ** 20;

describe('tagged THP fault (kernel-facts §2.2: 512/32 = 16 tag pages per 2 MiB at block size 1)', () => {
  test('one 2 MiB fault: thp_fault_alloc +1, metadata_reserve_success +16, MetadataFree -64 kB, one PMD', async () => {
    const s = await session();
    s.run(['process app', 'app: mmap huge 2M prot=rw+mte thp']);
    const succ = s.vmstat('metadata_reserve_success');
    const mfree = s.meminfo('MetadataFree');
    const faults = s.vmstat('pgfault');
    s.run(['app: touch huge 0..4K']);
    expect(s.vmstat('thp_fault_alloc')).toBe(1);
    expect(s.vmstat('thp_fault_fallback')).toBe(0);
    expect(s.vmstat('metadata_reserve_success') - succ).toBe(16);
    expect(mfree - s.meminfo('MetadataFree')).toBe(64);
    expect(s.vmstat('pgfault') - faults).toBe(1);
    expect(s.meminfo('AnonHugePages')).toBe(2048);
    expect(s.meminfo('AnonPages')).toBe(2048);
    expect(s.vmstat('nr_anon_transparent_hugepages')).toBe(1);
    // Every slot of the range is part of one PMD mapping of one order-9 folio, tagged, with tag storage.
    const [v] = s.vmas('app', 'huge');
    const head = v!.pfn[0]!;
    expect(head % 512).toBe(0);
    for (let i = 0; i < 512; i++) {
      expect(v!.pfn[i]).toBe(head + i);
      expect(v!.pte[i]! & (PTE_PMD | PTE_VALID | PTE_TAGGED | PTE_WRITE)).toBe(
        PTE_PMD | PTE_VALID | PTE_TAGGED | PTE_WRITE,
      );
      expect(s.layer.port.testFlag(head + i, PageFlag.TagStorageReserved)).toBe(true);
    }
    // The rest of the 2 MiB takes no fault.
    s.run(['app: touch huge']);
    expect(s.vmstat('pgfault') - faults).toBe(1);
  });

  test('8 MiB: 4 THPs, +64 tag pages, -256 kB MetadataFree; munmap returns all of them (scenario text)', async () => {
    const r = await runScn([
      'process app',
      'app: mmap huge 8M prot=rw+mte thp',
      'app: touch huge',
      'expect vmstat.thp_fault_alloc == 4',
      'expect meminfo.AnonHugePages == 8192',
      // Only the zero page's block was reserved before (boot, v1 P27).
      'expect vmstat.metadata_reserve_success == 1 + 64',
      'expect meminfo.MetadataFree == meminfo.MetadataTotal - 4 - 256',
      'app: settag huge 0..16 3',
      'app: settag huge 8388592..8M 12',
      'expect app:huge tag(0..16) == 3',
      'expect app:huge tag(8388592..8M) == 12',
      'app: access huge 8388592..8M tag=12',
      'app: munmap huge',
      'expect vmstat.metadata_reserve_free == 64',
      'expect meminfo.MetadataFree == meminfo.MetadataTotal - 4',
      'expect meminfo.AnonHugePages == 0',
      'expect vmstat.nr_anon_pages == 0',
      'expect dmesg !~ "tag check fault"',
    ]);
    clean(r);
  });
});

describe('mprotect(PROT_MTE) of a THP goes through the PMD path (kernel-facts §5.4)', () => {
  test('the PMD becomes METADATA_NONE; one fault reserves 16 tag pages with order 9 and remaps the PMD', async () => {
    const s = await session();
    s.run(['process app', 'app: mmap later 2M thp', 'app: touch later', 'app: settag later 0..2M 5']);
    expect(s.vmstat('thp_fault_alloc')).toBe(1);
    const [v] = s.vmas('app', 'later');
    const head = v!.pfn[0]!;
    expect(s.layer.port.testFlag(head, PageFlag.TagStorageReserved)).toBe(false);
    const succ = s.vmstat('metadata_reserve_success');
    const faults = s.vmstat('pgfault');
    s.run(['app: mprotect later prot=rw+mte']);
    // change_huge_pmd with MM_CP_PROT_METADATA_NONE: the whole PMD, still one PMD, nothing reserved yet.
    for (let i = 0; i < 512; i++) expect(v!.pte[i]).toBe(PAGE_METADATA_NONE | PTE_TAGGED | PTE_PMD);
    expect(s.vmstat('metadata_reserve_success')).toBe(succ);
    expect(s.meminfo('AnonHugePages')).toBe(2048);
    s.run(['app: touch later 0..4K read']);
    // do_huge_pmd_metadata_none_page: one fault, 16 blocks (order 9), the PMD present again, nothing split.
    expect(s.vmstat('pgfault') - faults).toBe(1);
    expect(s.vmstat('metadata_reserve_success') - succ).toBe(16);
    expect(s.vmstat('thp_split_pmd')).toBe(0);
    expect(v!.pfn[0]).toBe(head);
    for (let i = 0; i < 512; i++) {
      expect(v!.pte[i]! & (PTE_PMD | PTE_VALID | PTE_TAGGED)).toBe(PTE_PMD | PTE_VALID | PTE_TAGGED);
      expect(s.layer.port.testFlag(head + i, PageFlag.TagStorageReserved)).toBe(true);
    }
    // Tags were cleared by set_pmd_at's mte_sync_tags (the untagged settag was RAZ/WI); the rest is fault-free.
    s.run(['expect app:later tag(0..2M) == 0', 'app: settag later 0..2M 11', 'expect app:later tag(0..2M) == 11']);
    s.run(['app: touch later']);
    expect(s.vmstat('pgfault') - faults).toBe(1);
    s.run(['app: munmap later', 'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1']);
  });

  test('a THP sitting on tag storage migrates whole (order 9) to a tagged THP; failure path of §5.4', async () => {
    const s = await session({ kernelImage: '8', minFreeKbytes: 256 });
    // Fill ordinary memory with untagged 4K pages so the next THP falls back to the METADATA pageblocks.
    s.run(['process hog', 'process app', 'app: mmap later 2M thp']);
    const free = s.meminfo('MemFree') - s.meminfo('MetadataFree');
    s.run([`hog: mmap fill ${Math.floor(free / 1024) - 3}M`, 'hog: touch fill', 'app: touch later']);
    const [v] = s.vmas('app', 'later');
    const head = v!.pfn[0]!;
    expect(v!.pte[0]! & PTE_PMD).toBe(PTE_PMD);
    expect(s.layer.port.isMetadataPage(head)).toBe(true);
    s.run(['app: settag later 0..16 1', 'hog: munmap fill', 'app: mprotect later prot=rw+mte']);
    const migrated = s.vmstat('pgmigrate_success');
    s.run(['app: touch later 0..4K', 'app: settag later 0..16 7', 'app: settag later 2097136..2M 9']);
    expect(s.vmstat('pgmigrate_success') - migrated).toBe(512);
    const nhead = v!.pfn[0]!;
    expect(nhead).not.toBe(head);
    expect(s.layer.port.isMetadataPage(nhead)).toBe(false);
    expect(v!.pte[0]! & (PTE_PMD | PTE_VALID | PTE_TAGGED)).toBe(PTE_PMD | PTE_VALID | PTE_TAGGED);
    expect(s.meminfo('AnonHugePages')).toBe(2048);
    s.run([
      'expect app:later tag(0..16) == 7',
      'expect app:later tag(2097136..2M) == 9',
      'app: munmap later',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
    ]);
  });
});

describe('§5.4 failure paths', () => {
  test('a failed order-9 reservation migrates the whole THP to a tagged one (thp_migration_success)', async () => {
    const s = await session();
    s.run(['process app', 'app: mmap later 2M thp', 'app: touch later', 'app: mprotect later prot=rw+mte']);
    const port = s.layer.port;
    const orig = port.reserveMetadata.bind(port);
    let refused = 0;
    // The fault's own reserve_metadata_storage(page, 9) fails (-EBUSY); the migration target is allocated with
    // __GFP_TAGGED, whose reservation goes through the allocator's hook, not through this call.
    port.reserveMetadata = (pfn: number, order: number, gfp: number): number => {
      if (order === 9) {
        refused++;
        return -16;
      }
      return orig(pfn, order, gfp);
    };
    const [v] = s.vmas('app', 'later');
    const head = v!.pfn[0]!;
    const succ = s.vmstat('metadata_reserve_success');
    s.run(['app: touch later 0..4K', 'app: settag later 0..16 6', 'app: settag later 2097136..2M 7']);
    expect(refused).toBe(1);
    expect(s.vmstat('pgmigrate_success')).toBe(512);
    expect(s.vmstat('thp_migration_success')).toBe(1);
    expect(s.vmstat('metadata_reserve_success') - succ).toBe(16);
    expect(v!.pfn[0]).not.toBe(head);
    expect(v!.pte[0]! & (PTE_PMD | PTE_VALID | PTE_TAGGED)).toBe(PTE_PMD | PTE_VALID | PTE_TAGGED);
    expect(s.vmstat('thp_split_pmd')).toBe(0);
    s.run([
      'expect app:later tag(0..16) == 6',
      'expect app:later tag(2097136..2M) == 7',
      'app: munmap later',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
    ]);
  });
});

describe('split, fallback, swap', () => {
  test('partial mprotect splits the PMD (thp_split_pmd); the folio stays until munmap, tags kept', async () => {
    const s = await session();
    s.run([
      'process app',
      'app: mmap huge 2M prot=rw+mte thp',
      'app: touch huge',
      'app: settag huge 0..16 4',
      'app: settag huge 2097136..2M 8',
      'app: mprotect huge prot=r 0..1M',
    ]);
    expect(s.vmstat('thp_split_pmd')).toBe(1);
    expect(s.meminfo('AnonHugePages')).toBe(0);
    expect(s.meminfo('AnonPages')).toBe(2048);
    for (const v of s.vmas('app', 'huge')) for (let i = 0; i < v.pages; i++) expect(v.pte[i]! & PTE_PMD).toBe(0);
    s.run([
      'expect app:huge tag(0..16) == 4',
      'expect app:huge tag(2097136..2M) == 8',
      'app: access huge 0..16 tag=4',
      'app: touch huge 1M..2M',
      'app: munmap huge',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
      'expect vmstat.nr_anon_pages == 0',
    ]);
  });

  test('partial munmap: split_huge_pmd; the folio waits on the deferred split queue until memory pressure splits it and its unmapped half returns', async () => {
    const s = await session();
    s.run(['process app', 'app: mmap huge 2M prot=rw+mte thp', 'app: touch huge', 'app: settag huge 2097136..2M 8']);
    const freed = s.vmstat('metadata_reserve_free');
    const memFree = s.meminfo('MemFree');
    const p = s.layer.processes.get('app')!;
    const m = p.named.get('huge')!;
    s.layer.munmap(p, m.start, m.start + 2 ** 20);
    expect(s.vmstat('thp_split_pmd')).toBe(1);
    expect(s.vmstat('thp_deferred_split_page')).toBe(1);
    // deferred_split_folio only queues it: the folio stays whole, its unmapped pages and tag storage with it.
    expect(s.vmstat('thp_split_page')).toBe(0);
    expect(s.vmstat('metadata_reserve_free') - freed).toBe(0);
    expect(s.meminfo('MemFree')).toBe(memFree);
    expect(s.meminfo('AnonPages')).toBe(1024);
    expect(s.meminfo('AnonHugePages')).toBe(0);
    // Memory pressure: kswapd's shrink_slab runs deferred_split_scan. The first 256 pages had 8 tag blocks to
    // themselves (32 pages per tag page, block size 1); they return with the pages.
    // Take the zone below its low watermark (kswapd wakes) but not below min (no direct reclaim, no OOM kill).
    const zone = (name: string): number => s.it.counter('zoneinfo', name, 'DMA')! * 4;
    const usable = memFree - s.meminfo('MetadataFree');
    s.run([`pressure ${Math.floor((usable - (zone('min') + zone('low')) / 2) / 1024)}M`]);
    expect(s.vmstat('oom_kill')).toBe(0);
    expect(s.vmstat('thp_split_page')).toBe(1);
    expect(s.vmstat('metadata_reserve_free') - freed).toBe(8);
    expect(s.meminfo('AnonPages')).toBe(1024);
    s.run(['expect app:huge tag(2097136..2M) == 8', 'app: access huge 2097136..2M tag=8', 'app: exit']);
    s.run(['expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1']);
  });

  test('no order-9 page: thp_fault_fallback and 4K pages', async () => {
    const s = await session();
    const port = s.layer.port;
    const orig = port.allocPages.bind(port);
    port.allocPages = (order: number, gfp: number): number => (order > 0 ? -1 : orig(order, gfp));
    s.run(['process app', 'app: mmap huge 4M prot=rw+mte thp', 'app: touch huge']);
    expect(s.vmstat('thp_fault_fallback')).toBe(2);
    expect(s.vmstat('thp_fault_alloc')).toBe(0);
    expect(s.meminfo('AnonHugePages')).toBe(0);
    expect(s.meminfo('AnonPages')).toBe(4096);
    expect(s.vmstat('pgfault')).toBe(1024);
  });

  test('MADV_PAGEOUT of a THP splits it (thp_swpout_fallback); data and tags come back', async () => {
    const r = await runScn([
      'config swap=16M',
      'process app',
      'app: mmap huge 2M prot=rw+mte thp',
      'app: touch huge',
      'app: settag huge 0..16 2',
      'app: settag huge 2097136..2M 13',
      'app: pageout huge',
      'expect vmstat.thp_swpout_fallback == 1',
      'expect vmstat.thp_split_page == 1',
      'expect vmstat.pswpout == 512',
      'expect app:huge swapped == 512',
      'expect meminfo.AnonHugePages == 0',
      'app: access huge 0..16 tag=2',
      'app: access huge 2097136..2M tag=13',
      'app: touch huge read',
      'expect app:huge resident == 512',
      'app: munmap huge',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
      'expect dmesg !~ "tag check fault"',
    ]);
    clean(r);
  });

  test('a read fault maps the 4K zero page (no huge zero page); a write there gets 4K pages', async () => {
    const s = await session();
    s.run(['process app', 'app: mmap huge 2M thp', 'app: touch huge 0..4K read', 'app: touch huge']);
    expect(s.vmstat('thp_fault_alloc')).toBe(0);
    expect(s.meminfo('AnonPages')).toBe(2048);
    void MB;
  });
});
