/**
 * fork with copy-on-write (src/process/fork.ts) on the small MTE platform, through the scenario interpreter
 * with the invariant checker after every statement (SPEC §5: map counts, tag storage, data tokens): issue #5
 * acceptance 1 for fork — tags and data survive fork and COW, checked at the first and last granule of the range.
 */
import { describe, expect, test } from '@jest/globals';
import { PTE_WRITE } from '../../src/process/pte.js';
import { session } from '../thp/harness.js';
import { clean, runScn } from './helpers.js';

describe('fork: tags and data survive, at the first and last granule and by the invariants', () => {
  test('tagged private memory: COW in the child keeps both sides right (scenario text)', async () => {
    const r = await runScn([
      'process parent',
      'parent: mmap buf 4M prot=rw+mte',
      'parent: touch buf',
      'parent: settag buf 0..4M 6',
      'parent: settag buf 0..16 2',
      'parent: settag buf 4194288..4M 9',
      'parent: fork child',
      'expect child:buf tagged',
      'expect child:buf tag(0..16) == 2',
      'expect child:buf tag(4194288..4M) == 9',
      'expect child:buf tag(16..4194288) == 6',
      'expect child:buf resident == 1024',
      'expect vmstat.nr_anon_pages == 1024',
      'child: touch buf',
      'expect vmstat.nr_anon_pages == 2048',
      'expect child:buf tag(0..16) == 2',
      'expect child:buf tag(4194288..4M) == 9',
      'expect parent:buf tag(0..16) == 2',
      'expect parent:buf tag(4194288..4M) == 9',
      'child: settag buf 0..16 1',
      'child: settag buf 4194288..4M 14',
      'expect child:buf tag(0..16) == 1',
      'expect child:buf tag(4194288..4M) == 14',
      'expect parent:buf tag(0..16) == 2',
      'expect parent:buf tag(4194288..4M) == 9',
      'parent: access buf 0..16 tag=2',
      'parent: access buf 4194288..4M tag=9',
      'child: access buf 0..16 tag=1',
      'child: access buf 4194288..4M tag=14',
      'expect dmesg !~ "tag check fault"',
      'child: exit',
      'expect vmstat.nr_anon_pages == 1024',
      'parent: access buf 0..16 tag=2',
      'parent: exit',
      'expect vmstat.nr_anon_pages == 0',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
    ]);
    clean(r);
  });

  test('counters: the first writer copies (pgfault, nr_anon_pages), the last one reuses (pgreuse)', async () => {
    const s = await session();
    s.run(['process a', 'a: mmap x 64K prot=rw+mte', 'a: touch x', 'a: fork b']);
    const [pv] = s.vmas('a', 'x');
    const [cv] = s.vmas('b', 'x');
    // copy_present_pte: write-protected in both, same pages, one more reference each.
    for (let i = 0; i < 16; i++) {
      expect(pv!.pte[i]! & PTE_WRITE).toBe(0);
      expect(cv!.pte[i]! & PTE_WRITE).toBe(0);
      expect(cv!.pfn[i]).toBe(pv!.pfn[i]);
      expect(s.layer.port.pageRef(pv!.pfn[i]!)).toBe(2);
    }
    const anon = s.vmstat('nr_anon_pages');
    const faults = s.vmstat('pgfault');
    const reuse = s.vmstat('pgreuse');
    const old = pv!.pfn[0]!;
    s.run(['b: touch x 0..4K']);
    expect(s.vmstat('pgfault') - faults).toBe(1);
    expect(s.vmstat('nr_anon_pages') - anon).toBe(1);
    expect(s.vmstat('pgreuse')).toBe(reuse);
    expect(cv!.pfn[0]).not.toBe(old);
    expect(s.layer.port.pageRef(old)).toBe(1);
    s.run(['a: touch x 0..4K']);
    expect(s.vmstat('pgreuse') - reuse).toBe(1);
    expect(s.vmstat('nr_anon_pages') - anon).toBe(1);
    expect(pv!.pfn[0]).toBe(old);
    expect(pv!.pte[0]! & PTE_WRITE).toBe(PTE_WRITE);
  });

  test("the child's exit gives back its copies and page tables", async () => {
    const s = await session();
    s.run(['process a', 'a: mmap x 1M prot=rw+mte', 'a: touch x']);
    const free = s.meminfo('MemFree');
    const tables = s.vmstat('nr_page_table_pages');
    const mfree = s.meminfo('MetadataFree');
    s.run(['a: fork b']);
    expect(s.vmstat('nr_page_table_pages')).toBeGreaterThan(tables);
    s.run(['b: touch x', 'b: exit']);
    // The pcp lists may hold some of the freed pages; they are free memory all the same once drained.
    expect(s.vmstat('nr_page_table_pages')).toBe(tables);
    expect(s.vmstat('nr_anon_pages')).toBe(256);
    expect(s.meminfo('MetadataFree')).toBe(mfree);
    expect(Math.abs(s.meminfo('MemFree') - free)).toBeLessThanOrEqual(4 * 1024);
  });

  test('MAP_SHARED stays shared: a write in the child is seen by the parent, no copy', async () => {
    const r = await runScn([
      'process a',
      'a: mmap s 64K prot=rw+mte shared',
      'a: touch s',
      'a: settag s 0..64K 5',
      'a: fork b',
      'b: touch s',
      'b: settag s 0..16 7',
      'expect a:s tag(0..16) == 7',
      'expect a:s tag(65520..64K) == 5',
      'expect vmstat.nr_shmem == 16',
      'b: exit',
      'expect a:s tag(0..16) == 7',
      'a: exit',
      'expect vmstat.nr_shmem == 0',
    ]);
    clean(r);
  });

  test('swapped-out pages are shared through the swap entry (swap_duplicate) and come back in both', async () => {
    const r = await runScn([
      'config swap=8M',
      'process a',
      'a: mmap x 256K prot=rw+mte',
      'a: touch x',
      'a: settag x 0..16 3',
      'a: settag x 262128..256K 11',
      'a: pageout x',
      'expect a:x swapped == 64',
      'a: fork b',
      'expect b:x swapped == 64',
      'b: access x 0..16 tag=3',
      'b: access x 262128..256K tag=11',
      'a: access x 0..16 tag=3',
      'a: access x 262128..256K tag=11',
      'b: exit',
      'a: exit',
      'expect meminfo.SwapFree == meminfo.SwapTotal',
      'expect dmesg !~ "tag check fault"',
    ]);
    clean(r);
  });

  test('fork after mprotect(PROT_MTE): METADATA_NONE PTEs are copied, a write in the child copies', async () => {
    const r = await runScn([
      'process a',
      'a: mmap x 128K prot=rw',
      'a: touch x',
      'a: mprotect x prot=rw+mte',
      'a: fork b',
      'b: settag x 0..16 4',
      'b: settag x 131056..128K 8',
      'expect b:x tag(0..16) == 4',
      'expect b:x tag(131056..128K) == 8',
      'expect a:x tag(0..16) == 0',
      'a: settag x 0..16 1',
      'expect b:x tag(0..16) == 4',
      'expect a:x tag(0..16) == 1',
      'b: exit',
      'a: exit',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
    ]);
    clean(r);
  });
});

describe('fork in a race', () => {
  test('fork beside the parent touching, mprotect-splitting and faulting its THP: invariants hold (6 seeds)', async () => {
    const text = [
      'process a',
      'a: mmap x 64K prot=rw+mte',
      'a: mmap h 2M prot=rw+mte thp',
      'a: touch x 0..32K',
      'a: touch h',
      'a: settag x 0..64K 3',
      'race {',
      '  thread A {',
      '    a: fork b',
      '    b: touch x',
      '  }',
      '  thread B {',
      '    a: touch x',
      '    a: mprotect h prot=rw 0..16K',
      '    a: touch h 0..4K',
      '  }',
      '}',
      'b: access x 16K..64K tag=3',
      'b: touch h',
      'b: exit',
      'a: exit',
      'expect vmstat.nr_anon_pages == 0',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
    ];
    for (let seed = 1; seed <= 6; seed++) clean(await runScn(text, { seed }));
  });
});

describe('fork with other page sizes', () => {
  test.each(['16K', '64K'])('page_size=%s: COW and tags at the first and last granule', async (ps) => {
    const r = await runScn([
      `config page_size=${ps}`,
      'process a',
      'a: mmap x 1M prot=rw+mte',
      'a: touch x',
      'a: settag x 0..16 2',
      'a: settag x 1048560..1M 9',
      'a: fork b',
      'b: touch x',
      'b: settag x 0..16 5',
      'expect a:x tag(0..16) == 2',
      'expect b:x tag(0..16) == 5',
      'expect b:x tag(1048560..1M) == 9',
      'b: exit',
      'expect a:x tag(1048560..1M) == 9',
      'a: exit',
      'expect vmstat.nr_anon_pages == 0',
      'expect vmstat.nr_page_table_pages == 0',
    ]);
    clean(r);
  });
});

describe('fork of transparent huge pages (copy_huge_pmd)', () => {
  test('both map the THP; a child write splits only its PMD; tags and data survive; memory comes back', async () => {
    const s = await session();
    s.run([
      'process a',
      'a: mmap h 2M prot=rw+mte thp',
      'a: touch h',
      'a: settag h 0..16 2',
      'a: settag h 2097136..2M 9',
      'a: fork b',
    ]);
    const [pv] = s.vmas('a', 'h');
    const [cv] = s.vmas('b', 'h');
    expect(cv!.pfn[0]).toBe(pv!.pfn[0]);
    expect(s.meminfo('AnonHugePages')).toBe(2048);
    s.run([
      'b: touch h 0..4K',
      'expect vmstat.thp_split_pmd == 1',
      // The parent's PMD still maps the folio: NR_ANON_THPS counts PMD-mapped THPs.
      'expect meminfo.AnonHugePages == 2048',
      'expect b:h tag(0..16) == 2',
      'expect b:h tag(2097136..2M) == 9',
      'b: settag h 0..16 6',
      'expect a:h tag(0..16) == 2',
      'expect b:h tag(0..16) == 6',
      'a: access h 2097136..2M tag=9',
      'a: exit',
      // The folio is left mapped only partly (its first page was copied): it waits on the deferred split queue
      // (split only under memory pressure), and is freed whole when b exits.
      'expect vmstat.thp_deferred_split_page == 1',
      'expect vmstat.thp_split_page == 0',
      'expect meminfo.AnonHugePages == 0',
      'b: access h 0..16 tag=6',
      'b: access h 2097136..2M tag=9',
      'b: exit',
      'expect vmstat.nr_anon_pages == 0',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
      'expect dmesg !~ "tag check fault"',
    ]);
  });

  test('the last mapper of a forked THP writes it in place once the other has exited', async () => {
    const s = await session();
    s.run(['process a', 'a: mmap h 2M prot=rw thp', 'a: touch h', 'a: fork b', 'b: exit', 'a: touch h']);
    expect(s.vmstat('thp_split_pmd')).toBe(0);
    expect(s.meminfo('AnonHugePages')).toBe(2048);
    const [pv] = s.vmas('a', 'h');
    expect(pv!.pte[0]! & PTE_WRITE).toBe(PTE_WRITE);
  });
});
