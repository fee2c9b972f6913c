/**
 * Acceptance 1 (issue #5): data tokens and MTE tags survive swap-out and swap-in — checked at the first and last
 * granule of the range, by the SPEC §5 invariants after every statement (--check), and in the side stores.
 */
import { PTE_SWAP } from '../../src/process/pte.js';
import { runSmall } from './machine.js';

const vmstat = (r: Awaited<ReturnType<typeof runSmall>>, name: string): number =>
  r.m.machine.counter('vmstat', name) ?? NaN;
const meminfo = (r: Awaited<ReturnType<typeof runSmall>>, name: string): number =>
  r.m.machine.counter('meminfo', name) ?? NaN;

describe('swap out and in keeps data and tags', () => {
  test('tagged mapping: pageout, read back, first and last granule, counters', async () => {
    const r = await runSmall(`
config swap=64M
process app
app: mmap buf 16M prot=rw+mte
app: touch buf
app: settag buf 0..16M 7
app: settag buf 0..16 9
app: settag buf 16777200..16M 11
app: pageout buf
expect app:buf swapped == 4096
expect app:buf resident == 0
expect vmstat.pswpout == 4096
expect meminfo.SwapFree == meminfo.SwapTotal - 16M / 1K
app: touch buf 0..4K read
app: touch buf 16773120..16M read
expect app:buf tag(0..16) == 9
expect app:buf tag(16..4K) == 7
expect app:buf tag(16777200..16M) == 11
expect app:buf tag(16773120..16777200) == 7
expect vmstat.pswpin == 2
app: access buf 0..16 tag=9
app: access buf 16777200..16M tag=11
app: touch buf
expect app:buf swapped == 0
expect app:buf tag(4K..16773120) == 7
expect meminfo.SwapFree == meminfo.SwapTotal
expect vmstat.pswpin == 4096
expect vmstat.pgmajfault == 4096
expect dmesg !~ "tag check fault"
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([]);
    // pgpgin/pgpgout are in kB (sectors halved by vmstat_show): 4 kB per 4K page.
    expect(vmstat(r, 'pgpgout')).toBe(4096 * 4);
    expect(vmstat(r, 'pgpgin')).toBe(4096 * 4);
    // Every slot was freed on swap-in, and with it the saved tags (arch_swap_invalidate_page).
    expect(r.m.swap.swapTags.tagsBySwpEntry.size).toBe(0);
    expect(r.m.swap.state.device!.inusePages).toBe(0);
  });

  test('the data the process wrote comes back (tokens), also for untagged and partly written memory', async () => {
    const r = await runSmall(`
config swap=32M
process a
a: mmap x 8M
a: touch x 0..4M
a: touch x 4M..8M read
a: pageout x
expect a:x swapped == 1024
a: touch x 0..1M read
a: pageout x
a: touch x read
expect a:x swapped == 0
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    // Pages of the zero page are not anon pages: only the 1024 written pages were swapped.
    const p = r.m.layer.processes.get('a')!;
    const v = p.mm.vmas[0]!;
    for (let i = 0; i < 1024; i++) expect(r.m.layer.contentOf(v.pfn[i]!)).toBe(v.token[i]);
    expect(v.token[0]).not.toBe(0);
  });

  test('a swapped-in page that was mapped METADATA_NONE keeps its tags (saved from tags_by_pfn)', async () => {
    const r = await runSmall(`
config swap=16M
process app
app: mmap buf 64K prot=rw+mte
app: touch buf
app: settag buf 0..64K 5
app: pageout buf
app: mprotect buf prot=rw
app: touch buf read
app: pageout buf
app: mprotect buf prot=rw+mte
app: access buf 0..64K tag=5
expect app:buf tag(0..64K) == 5
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([]);
  });

  test('munmap and exit free swap entries and their saved tags', async () => {
    const r = await runSmall(`
config swap=16M
process app
app: mmap a 1M prot=rw+mte
app: mmap b 1M prot=rw+mte
app: touch a
app: touch b
app: settag a 0..1M 3
app: settag b 0..1M 4
app: pageout a
app: pageout b
expect meminfo.SwapFree == meminfo.SwapTotal - 2M / 1K
app: munmap a
expect meminfo.SwapFree == meminfo.SwapTotal - 1M / 1K
app: exit
expect meminfo.SwapFree == meminfo.SwapTotal
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.m.swap.swapTags.tagsBySwpEntry.size).toBe(0);
  });

  test('swap PTEs hold the slot; pageout without swap does nothing', async () => {
    const r = await runSmall(`
process app
app: mmap a 1M
app: touch a
app: pageout a
expect app:a resident == 256
`);
    expect(r.failed).toEqual([]);
    const v = r.m.layer.processes.get('app')!.mm.vmas[0]!;
    expect(v.pte.every((f) => (f & PTE_SWAP) === 0)).toBe(true);
    expect(meminfo(r, 'SwapTotal')).toBe(0);
  });
});

describe('swap device', () => {
  test('slots: header page never used, lowest free slot first, counts, duplicate and free', async () => {
    const { SwapDevice } = await import('../../src/mm/swapfile.js');
    const d = new SwapDevice(5 * 4096, 4096);
    expect(d.pages).toBe(4);
    expect(d.swaponLine()).toBe('Adding 16k swap on /dev/pmem0.  Priority:-2 extents:1 across:16k SS');
    expect([d.getSwapPage(), d.getSwapPage(), d.getSwapPage()]).toEqual([1, 2, 3]);
    expect(d.duplicate(2)).toBe(true);
    expect(d.count(2)).toBe(2);
    expect(d.free(2)).toBe(false);
    expect(d.free(2)).toBe(true);
    expect(d.freePages).toBe(2);
    expect(d.getSwapPage()).toBe(2);
    expect(d.getSwapPage()).toBe(4);
    expect(d.getSwapPage()).toBe(0);
    expect(d.duplicate(0)).toBe(false);
    expect(() => d.free(0)).toThrow(RangeError);
  });

  test('an area of any size costs host memory only for the slots in use', async () => {
    const { SwapDevice } = await import('../../src/mm/swapfile.js');
    const d = new SwapDevice(2 ** 48, 4096);
    expect(d.pages).toBe(2 ** 36 - 1);
    const e = d.getSwapPage();
    d.setToken(e, 77);
    expect(d.tokenOf(e)).toBe(77);
    expect(d.count(2 ** 36 - 2)).toBe(0);
    expect(d.free(e)).toBe(true);
    expect(d.tokenOf(e)).toBe(0);
  });

  test('gfp masks print as the kernel prints them (%#x(%pGg))', async () => {
    const { formatGfp, kernelGfp } = await import('../../src/mm/oom_kill.js');
    const g = await import('../../src/mm/gfp.js');
    expect(formatGfp(kernelGfp(g.GFP_HIGHUSER_MOVABLE))).toBe('0x100cca(GFP_HIGHUSER_MOVABLE)');
    expect(formatGfp(kernelGfp(g.GFP_HIGHUSER_MOVABLE | g.__GFP_COMP | g.__GFP_ZERO))).toBe(
      '0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO)',
    );
    expect(formatGfp(kernelGfp(g.GFP_KERNEL))).toBe('0xcc0(GFP_KERNEL)');
    expect(formatGfp(kernelGfp(g.GFP_HIGHUSER_MOVABLE | g.__GFP_TAGGED))).toBe(
      '0x900cca(GFP_HIGHUSER_MOVABLE|__GFP_TAGGED)',
    );
    expect(formatGfp(kernelGfp(g.GFP_ATOMIC))).toBe('0x820(GFP_ATOMIC)');
    expect(formatGfp(0)).toBe('0(none)');
  });
});

describe('swap in races', () => {
  test('pageout against faults and mprotect(PROT_MTE): every schedule keeps data and tags', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = await runSmall(
        `
config swap=16M
process app
app: mmap buf 64K prot=rw+mte
app: touch buf
app: settag buf 0..64K 6
race {
  thread A {
    app: pageout buf 0..32K
    app: touch buf 0..32K read
  }
  thread B {
    app: pageout buf 32K..64K
    app: mprotect buf prot=rw
    app: touch buf 32K..64K
    app: mprotect buf prot=rw+mte
  }
}
app: access buf 0..64K tag=6
expect app:buf tag(0..64K) == 6
expect dmesg !~ "tag check fault"
`,
        { seed },
      );
      expect(r.violations).toEqual([]);
      expect(r.failed).toEqual([]);
      expect(r.notes).toEqual([]);
    }
  });
});
