/**
 * Acceptance 2 (issue #5): a workload larger than RAM with enough swap completes with no data lost and
 * consistent counters (pswpout/pswpin, SwapFree, MemFree); with swap exhausted the OOM killer runs, logs the
 * kernel's report (with the series' `pages metadata reserved`), and the victim's memory returns. Plus kswapd
 * (woken below the low watermark, balanced to the high one), direct reclaim, and `pressure`.
 * The machine is small (128 MiB of RAM, 4 MiB of tag storage) so that these stay fast.
 */
import { PTE_PRESENT_MASK, PTE_SWAP } from '../../src/process/pte.js';
import { WMARK_HIGH } from '../../src/mm/zone.js';
import { RAM, freeMiB, runSmall, type ScenarioRun } from './machine.js';

/** MemFree of the booted machine in MiB: the workloads below are sized from it (RAM minus boot reservations). */
let FREE = 0;
beforeAll(async () => {
  FREE = await freeMiB();
  expect(FREE).toBeGreaterThan(48);
});
const pages = (mib: number): number => (mib * 2 ** 20) / 4096;

const vm = (r: ScenarioRun, name: string): number => r.m.machine.counter('vmstat', name) ?? NaN;
const mi = (r: ScenarioRun, name: string): number => r.m.machine.counter('meminfo', name) ?? NaN;

/** Free pages including those parked on the per-cpu lists (NR_FREE_PAGES does not count them). */
function freeAll(r: ScenarioRun): number {
  let n = 0;
  for (const z of r.m.alloc.zones) n += (z.vmStat[0] ?? 0) + z.pcpPages();
  return n;
}

/** Every page of p's mappings holds what the process wrote, resident or in its swap slot. Returns [present, swapped]. */
function verifyData(r: ScenarioRun, proc: string): [number, number] {
  const L = r.m.layer;
  const dev = r.m.swap.state.device!;
  let present = 0;
  let swapped = 0;
  for (const v of L.processes.get(proc)!.mm.vmas) {
    for (let i = 0; i < v.pages; i++) {
      const f = v.pte[i]!;
      if ((f & PTE_SWAP) !== 0) {
        swapped++;
        expect(dev.tokenOf(v.pfn[i]!)).toBe(v.token[i]);
      } else if ((f & PTE_PRESENT_MASK) !== 0) {
        present++;
        expect(L.contentOf(v.pfn[i]!)).toBe(v.token[i]);
      }
    }
  }
  return [present, swapped];
}

describe('reclaim and OOM', () => {
  test('a workload larger than RAM with enough swap completes, nothing lost, counters consistent', async () => {
    const size = FREE + 64;
    const r = await runSmall(`
config swap=128M
process big
big: mmap a ${size}M
big: touch a
expect big:a resident + big:a swapped == ${pages(size)}
expect vmstat.pswpout > 0
big: touch a 0..64M read
big: touch a 0..8M
expect vmstat.oom_kill == 0
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([]);
    const [present, swapped] = verifyData(r, 'big');
    expect(present + swapped).toBe(pages(size));
    expect(swapped).toBeGreaterThan(0);
    // One slot per swapped page, and every slot is a page written out and not read back yet.
    expect((mi(r, 'SwapTotal') - mi(r, 'SwapFree')) / 4).toBe(swapped);
    expect(vm(r, 'pswpout') - vm(r, 'pswpin')).toBe(swapped);
    expect(vm(r, 'pswpin')).toBeGreaterThan(0);
    // Reclaim happened both ways: kswapd after statements, direct reclaim inside the big touch.
    expect(vm(r, 'pgsteal_kswapd') + vm(r, 'pgsteal_direct')).toBe(vm(r, 'pgsteal_anon'));
    expect(vm(r, 'pgsteal_anon')).toBe(vm(r, 'pswpout'));
    // allocstall counts sc->reclaim_idx = gfp_zone(GFP_HIGHUSER_MOVABLE) = ZONE_MOVABLE.
    expect(vm(r, 'allocstall_movable')).toBeGreaterThan(0);
    expect(vm(r, 'pgsteal_direct')).toBeGreaterThan(0);
    expect(vm(r, 'pgscan_anon')).toBeGreaterThanOrEqual(vm(r, 'pgsteal_anon'));
    expect(vm(r, 'pageoutrun')).toBeGreaterThan(0);
  });

  test('reclaim of tagged memory saves the tags by swap entry; they come back on swap-in', async () => {
    const size = FREE + 32;
    const last = size - 4;
    const r = await runSmall(`
config swap=192M
process t
t: mmap a ${size}M prot=rw+mte
t: touch a
t: settag a 0..4M 3
t: settag a ${last}M..${size}M 12
t: mmap b ${FREE - 16}M
t: touch b
expect t:a swapped > 0
t: touch a 0..4M read
t: touch a ${last}M..${size}M read
expect t:a tag(0..16) == 3
expect t:a tag(4194288..4M) == 3
expect t:a tag(${last}M..${size}M) == 12
t: access a 0..4M tag=3
t: access a ${last}M..${size}M tag=12
expect dmesg !~ "tag check fault"
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([]);
    expect(vm(r, 'pgsteal_anon')).toBeGreaterThan(0);
    // Pages still in swap keep their tags in tags_by_swp_entry, one buffer per swapped tagged page.
    const [, swapped] = verifyData(r, 't');
    expect(r.m.swap.swapTags.tagsBySwpEntry.size).toBeLessThanOrEqual(swapped);
    expect(r.m.swap.swapTags.tagsBySwpEntry.size).toBeGreaterThan(0);
  });

  test('exit returns every page and every swap slot (MemFree back to where it was)', async () => {
    const before = await runSmall('config swap=64M\n');
    const f0 = freeAll(before);
    const r = await runSmall(`
config swap=64M
process big
big: mmap a ${FREE + 24}M prot=rw+mte
big: touch a
big: exit
expect meminfo.SwapFree == meminfo.SwapTotal
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(vm(r, 'pswpout')).toBeGreaterThan(0);
    expect(freeAll(r)).toBe(f0);
    expect(r.m.swap.swapTags.tagsBySwpEntry.size).toBe(0);
    expect(mi(r, 'MetadataFree')).toBe(mi(before, 'MetadataFree'));
  });

  test('swap exhausted: the OOM killer reports, kills the workload and its memory returns', async () => {
    const before = await runSmall('config swap=16M\n');
    const f0 = freeAll(before);
    const size = FREE + 64;
    const r = await runSmall(`
config swap=16M
process hog
hog: mmap a ${size}M
hog: touch a
expect vmstat.oom_kill == 1
expect meminfo.SwapFree == meminfo.SwapTotal
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([expect.stringMatching(/^swap-test\.scn:5:1: hog: touch: VM_FAULT_OOM at 0x[0-9a-f]+$/)]);
    const d = r.m.log.dmesg('debug');
    // The failing allocation is the anon page (GFP_HIGHUSER_MOVABLE) or a page table (GFP_KERNEL_ACCOUNT|__GFP_ZERO).
    expect(d).toMatch(
      /\] hog invoked oom-killer: gfp_mask=0x(100cca\(GFP_HIGHUSER_MOVABLE\)|400dc0\(GFP_KERNEL_ACCOUNT\|__GFP_ZERO\)), order=0, oom_score_adj=0\n/,
    );
    const lines = d.split('\n').map((l) => l.replace(/^\[[ 0-9.]+\] /, ''));
    const at = (s: string): number => lines.findIndex((l) => l === s || l.startsWith(s));
    expect(at('Mem-Info:')).toBeGreaterThan(at('hog invoked oom-killer'));
    expect(lines).toContain('0 pages cma reserved');
    const meta = lines.findIndex((l) => /^\d+ pages metadata reserved$/.test(l));
    expect(meta).toBe(at('0 pages cma reserved') + 1);
    expect(lines[meta]).toBe(`${r.m.alloc.totalmetadataPages} pages metadata reserved`);
    expect(r.m.alloc.totalmetadataPages).toBe(RAM / 32 / 4096);
    expect(lines[meta + 1]).toBe('0 pages hwpoisoned');
    expect(lines).toContain('Tasks state (memory values in pages):');
    expect(lines).toContain('[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name');
    const row = lines.find((l) => l.startsWith('[   1000]'))!;
    // "[%7d] %5d %5d %8lu %8lu %8ld %8lu         %5hd %s" (dump_task)
    expect(row).toMatch(new RegExp(`^\\[ {3}1000\\] {5}0 {2}1000 +${pages(size)} +\\d+ +\\d+ +4095 {13}0 hog$`));
    expect(lines).toContain('Free swap  = 0kB');
    expect(lines).toContain('Total swap = 16380kB');
    expect(d).toMatch(
      /oom-kill:constraint=CONSTRAINT_NONE,nodemask=\(null\),cpuset=\/,mems_allowed=0,global_oom,task_memcg=\/,task=hog,pid=1000,uid=0\n/,
    );
    expect(d).toMatch(
      new RegExp(
        `Out of memory: Killed process 1000 \\(hog\\) total-vm:${size * 1024}kB, anon-rss:\\d+kB, file-rss:0kB, ` +
          `shmem-rss:0kB, UID:0 pgtables:\\d+kB oom_score_adj:0\n`,
      ),
    );
    expect(d).toMatch(/oom_reaper: reaped process 1000 \(hog\), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n/);
    expect(r.m.layer.processes.get('hog')!.alive).toBe(false);
    expect(freeAll(r)).toBe(f0);
  });

  test('the OOM killer picks the largest task (rss + swap + page tables), not the allocating one', async () => {
    const big = Math.floor((FREE * 2) / 3);
    const small = Math.floor(FREE / 2);
    const r = await runSmall(`
config swap=8M
process big
big: mmap a ${big}M
big: touch a
process small
small: mmap b ${small}M
small: touch b
expect vmstat.oom_kill == 1
expect small:b resident + small:b swapped == ${pages(small)}
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([]);
    expect(r.m.layer.processes.get('big')!.alive).toBe(false);
    expect(r.m.log.dmesg()).toMatch(/small invoked oom-killer: .*\n[^]*Killed process 1000 \(big\)/);
  });

  test('kswapd: woken below the low watermark, it balances the zone to the high watermark', async () => {
    const r = await runSmall(`
config swap=64M min_free_kbytes=4096
process app
app: mmap a ${FREE + 4}M
app: touch a
`);
    expect(r.violations).toEqual([]);
    expect(vm(r, 'pageoutrun')).toBeGreaterThan(0);
    expect(vm(r, 'pgscan_kswapd')).toBeGreaterThan(0);
    expect(vm(r, 'pgsteal_kswapd')).toBeGreaterThan(0);
    expect(r.m.swap.vmscan!.kswapdRuns).toBeGreaterThan(0);
    const z = r.m.alloc.zones.find((x) => x.populated)!;
    expect(r.m.swap.vmscan!.zoneBalanced(z, 0, z.wmarkPages(WMARK_HIGH), z.idx)).toBe(true);
  });

  test('without swap nothing can be reclaimed: kswapd gives up, the OOM killer runs', async () => {
    const r = await runSmall(`
process app
app: mmap a ${FREE * 2}M
app: touch a
expect vmstat.oom_kill == 1
expect vmstat.pswpout == 0
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.m.log.dmesg()).toContain('Free swap  = 0kB\n');
  });

  test('pressure: a kernel allocation pushes process memory out to swap, then OOM-kills', async () => {
    const app = Math.floor((FREE * 2) / 3);
    const first = Math.floor(FREE / 2);
    const r = await runSmall(`
config swap=64M
process app
app: mmap a ${app}M
app: touch a
pressure ${first}M
expect vmstat.pswpout > 0
expect app:a resident + app:a swapped == ${pages(app)}
expect vmstat.oom_kill == 0
pressure ${FREE * 2}M
expect vmstat.oom_kill == 1
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.m.layer.processes.get('app')!.alive).toBe(false);
    const d = r.m.log.dmesg();
    expect(d).toMatch(/kworker\/0:1 invoked oom-killer: gfp_mask=0xcc0\(GFP_KERNEL\), order=0, oom_score_adj=0\n/);
    expect(d).toMatch(/kworker\/0:1: page allocation failure: order:0, mode:0xcc0\(GFP_KERNEL\), nodemask=\(null\)/);
    expect(r.notes).toEqual([
      expect.stringMatching(
        new RegExp(`^swap-test\\.scn:10:1: pressure: page allocation failure after \\d+ of ${pages(FREE * 2)} pages$`),
      ),
    ]);
  });

  test("an OOM-killed process runs nothing more: its later statements, and its children's, are notes, not errors", async () => {
    const r = await runSmall(`
config swap=16M
process app
app: mmap a 8M prot=rw+mte
app: touch a
pressure ${FREE * 2}M
app: touch a
app: fork kid
kid: touch a
race {
  thread A { app: settag a 0..4K 3 }
  thread B { kid: exit }
}
expect vmstat.oom_kill == 1
expect app:a resident == 0
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([
      expect.stringMatching(/^swap-test\.scn:6:1: pressure: page allocation failure after \d+ of \d+ pages$/),
      'swap-test.scn:7:1: app: touch: not run, the process was killed by the OOM killer',
      'swap-test.scn:8:1: app: fork: not run, the process was killed by the OOM killer',
      'swap-test.scn:9:1: kid: touch: not run, its fork at swap-test.scn:8:1 did not run',
      'swap-test.scn:12:14: kid: exit: not run, its fork at swap-test.scn:8:1 did not run',
      'swap-test.scn:11:14: app: settag: not run, the process was killed by the OOM killer',
    ]);
    expect(r.m.layer.processes.get('app')!.alive).toBe(false);
    expect(r.m.layer.processes.has('kid')).toBe(false);
  });

  test('same input, same log (deterministic)', async () => {
    const text = `config swap=16M\nprocess a\na: mmap x ${FREE * 2}M\na: touch x\n`;
    const a = await runSmall(text);
    const b = await runSmall(text);
    expect(a.m.log.dmesg('debug')).toBe(b.m.log.dmesg('debug'));
  });
});
