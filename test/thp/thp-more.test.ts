/**
 * THPs meeting the other movers: `migrate` to another zone moves a folio whole (order 9, PMD kept), reclaim
 * under `pressure` splits it before swap-out (no THP swap with MTE), and 16K pages (HPAGE_PMD_ORDER 11).
 */
import { describe, test } from '@jest/globals';
import { defaultDt } from '../../src/commands/run.js';
import { clean, runScn } from '../fork/helpers.js';

describe('THP and the other movers', () => {
  test('migrate to another zone moves each THP whole: PMD kept, tags at first and last granule kept', async () => {
    const r = await runScn(
      [
        'process app',
        'app: mmap huge 4M prot=rw+mte thp',
        'app: touch huge',
        'app: settag huge 0..16 3',
        'app: settag huge 4194288..4M 12',
        'app: migrate huge to=DMA',
        'expect vmstat.pgmigrate_success == 1024',
        'expect vmstat.thp_split_pmd == 0',
        'expect vmstat.thp_split_page == 0',
        'expect meminfo.AnonHugePages == 4096',
        'expect app:huge tag(0..16) == 3',
        'expect app:huge tag(4194288..4M) == 12',
        'app: migrate huge to=Normal',
        'expect vmstat.pgmigrate_success == 2048',
        'app: access huge 4194288..4M tag=12',
        'app: munmap huge',
        'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
        'expect dmesg !~ "tag check fault"',
      ],
      { dt: defaultDt() },
    );
    clean(r);
  });

  test("a THP migration in a race: --check counts the in-flight folio's tag storage at every step, both ends", async () => {
    // Between the destination's allocation and the remap the new folio (tag storage reserved for all 512 pages)
    // is mapped nowhere, and after the remap the old one is not either: the checker must count each as a folio,
    // not as one page. Every schedule of the two threads is run.
    for (let seed = 1; seed <= 6; seed++) {
      const r = await runScn(
        [
          `config seed=${seed}`,
          'process app',
          'app: mmap huge 4M prot=rw+mte thp',
          'app: touch huge 3072K..3076K',
          'app: settag huge 3M..3145744 9',
          'race {',
          '  thread A { app: migrate huge to=DMA }',
          '  thread B { app: touch huge 0..4K read }',
          '}',
          'expect vmstat.thp_migration_success == 1',
          'expect app:huge tag(3M..3145744) == 9',
          'app: munmap huge',
          'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
        ],
        { dt: defaultDt() },
      );
      clean(r);
    }
  });

  test('reclaim under pressure splits THPs before swapping them out (thp_swpout_fallback); tags survive', async () => {
    const r = await runScn([
      'config swap=128M kernel_image=8M min_free_kbytes=256',
      'process app',
      'app: mmap huge 64M prot=rw+mte thp',
      'app: touch huge',
      'app: settag huge 0..16 3',
      'app: settag huge 67108848..64M 12',
      'expect meminfo.AnonHugePages == 65536',
      'pressure 420M',
      'expect vmstat.thp_swpout_fallback >= 1',
      'expect vmstat.thp_split_page >= vmstat.thp_swpout_fallback',
      'expect vmstat.pswpout >= 512',
      'app: access huge 0..16 tag=3',
      'app: access huge 67108848..64M tag=12',
      'app: touch huge read', // swap-in under pressure: kswapd may evict again; --check verifies each page's data
      'expect dmesg !~ "tag check fault"',
    ]);
    clean(r);
  });

  test('16K pages: a THP is order 11 (32 MiB), AnonHugePages and the PMD split follow', async () => {
    const r = await runScn([
      'config page_size=16K',
      'process app',
      'app: mmap huge 64M prot=rw+mte thp',
      'app: touch huge',
      'expect vmstat.thp_fault_alloc == 2',
      'expect vmstat.nr_anon_transparent_hugepages == 2',
      'expect meminfo.AnonHugePages == 65536',
      'app: mprotect huge prot=r 0..1M',
      'expect vmstat.thp_split_pmd == 1',
      'expect meminfo.AnonHugePages == 32768',
      'app: munmap huge',
      'expect vmstat.nr_anon_pages == 0',
    ]);
    clean(r);
  });

  test('fix.metadata_none=off: mprotect(PROT_MTE) maps the PMD tagged at once, reserving order 9 there', async () => {
    const r = await runScn([
      'config fix.metadata_none=off',
      'process app',
      'app: mmap later 4M thp',
      'app: touch later',
      'app: mprotect later prot=rw+mte',
      // Two THPs, 16 tag pages each, reserved by mprotect itself (no METADATA_NONE fault afterwards).
      'expect vmstat.metadata_reserve_success == 1 + 32',
      'expect meminfo.AnonHugePages == 4096',
      'app: settag later 0..16 3',
      'expect app:later tag(0..16) == 3',
      'app: munmap later',
      'expect vmstat.metadata_reserve_free == vmstat.metadata_reserve_success - 1',
    ]);
    clean(r);
  });
});
