/**
 * Migration benchmarks (SPEC §8, issue #4/#5): 1 GiB of tagged demand while tag storage is full of movable
 * data (every tag block taken forces an alloc_contig_range that migrates the data living there), and 1 GiB
 * of page migration (tagged pages: destination with tag storage, tags copied). Rates in pages per second.
 *
 * The machine (src/sim/testbed.ts): one Normal zone of tagged memory plus its 1/32 of tag storage as METADATA
 * pageblocks, the buddy allocator with TagStorageReuse installed, and the process layer on an MmPort over both.
 */
import type { Bench, BenchResult } from './index.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../src/mm/vmstat.js';
import { MigrateReason } from '../src/mm/migrate.js';
import { makeTestbed, type TestbedMachine } from '../src/sim/testbed.js';
import { VM_MTE, VM_READ, VM_WRITE } from '../src/process/mm.js';

const MiB = 1024 * 1024;
const RW = VM_READ | VM_WRITE;

/** `dataMiB` of tagged memory at 4 GiB (Normal), its tag storage right after it, 16 MiB of DMA at 2 GiB. */
export function machine(dataMiB: number): TestbedMachine {
  return makeTestbed({ dataMiB });
}

function rate(pages: number, ms: number, extra = ''): string {
  return `${(((pages / ms) * 1000) / 1e6).toFixed(2)} M pages/s (${pages} pages in ${ms.toFixed(0)} ms${extra})`;
}

/** 1 GiB of tagged first touch after movable data has filled the tag storage. */
function taggedDemandOverData(): BenchResult {
  const m = machine(2048);
  const L = m.layer;
  // vm.min_free_kbytes small enough that the watermarks let movable data fill the tag storage (with THP's
  // recommended minimum, 44 MiB of a 2 GiB zone must stay free: more than most of its 64 MiB of tag storage).
  m.alloc.setMinFreeKbytes(2048);
  const hog = L.createProcess('hog');
  const metaFree = (): number => m.alloc.globalZoneState(NR_FREE_METADATA_PAGES);
  // One big untagged mapping. Its page tables (unmovable: never METADATA) are taken first, one page per
  // 2 MiB, then the data is written 4 MiB at a time until it has spilled into nearly all of the tag storage
  // (METADATA is the last resort for movable allocations, kernel-facts §3.2).
  const freeBytes = m.alloc.globalZoneState(NR_FREE_PAGES) * 4096;
  const big = L.mmap(hog, 'fill', freeBytes - (freeBytes % (4 * MiB)) - 8 * MiB, RW, false, false)!;
  for (let a = big.start; a < big.end; a += 2 * MiB) L.touch(hog, a, a + 4096, true);
  let filled = big.start;
  while (metaFree() > 64 && filled < big.end) {
    const r = L.touch(hog, filled, Math.min(filled + 4 * MiB, big.end), true);
    if (r.result !== 0) throw new Error(`fill failed: ${r.why} with ${metaFree()} METADATA pages free`);
    filled += 4 * MiB;
  }
  // Give back 1.25 GiB of data that lives outside the tag storage, 4 MiB at a time.
  let freed = 0;
  for (let a = big.start; a < filled && freed < 1280 * MiB; a += 4 * MiB) {
    const i0 = (a - big.start) / 4096;
    let inTag = false;
    for (let i = i0; i < i0 + 1024 && !inTag; i++) inTag = big.pfn[i]! >= m.region.tag.start;
    if (inTag) continue;
    L.munmap(hog, a, a + 4 * MiB);
    freed += 4 * MiB;
  }
  const mig0 = m.ev('pgmigrate_success');
  const t = L.createProcess('tagged');
  const v = L.mmap(t, 'mte', 1024 * MiB, RW | VM_MTE, false, false)!;
  const t0 = performance.now();
  const r = L.touch(t, v.start, v.end, true);
  const ms = performance.now() - t0;
  if (r.result !== 0) throw new Error(`tagged touch failed: ${r.why}`);
  const migrated = m.ev('pgmigrate_success') - mig0;
  return {
    name: 'tagged demand 1 GiB over full tag storage',
    rate: rate(v.pages, ms, `, ${m.ev('metadata_reserve_success')} tag blocks, ${migrated} data pages migrated`),
  };
}

/** Rounds of migrate1G; each rate is the best round (the first one includes JIT warm-up). */
const ROUNDS = 3;

/**
 * migrate_pages of 1 GiB of pages, one folio at a time: tagged (destinations need tag storage) and not.
 * Each round maps, touches and migrates a fresh 1 GiB; the rate is the best of ROUNDS rounds.
 */
function migrate1G(): BenchResult[] {
  const m = machine(3072);
  const L = m.layer;
  const p = L.createProcess('p');
  const best = { tagged: Infinity, untagged: Infinity };
  let pages = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const tagged of [true, false]) {
      const v = L.mmap(p, tagged ? 'mte' : 'plain', 1024 * MiB, RW | (tagged ? VM_MTE : 0), false, false)!;
      L.touch(p, v.start, v.end, true);
      const srcs = Array.from(v.pfn);
      const t0 = performance.now();
      let ok = 0;
      for (const pfn of srcs) if (m.reuse.migrator.migratePage(pfn, MigrateReason.MR_SYSCALL).rc === 0) ok++;
      const ms = performance.now() - t0;
      if (ok !== srcs.length) throw new Error(`${srcs.length - ok} pages not migrated`);
      pages = ok;
      if (tagged) best.tagged = Math.min(best.tagged, ms);
      else best.untagged = Math.min(best.untagged, ms);
      L.munmap(p, v.start, v.end);
    }
  }
  return [
    { name: 'migration 1 GiB (tagged)', rate: rate(pages, best.tagged, `, best of ${ROUNDS}`) },
    { name: 'migration 1 GiB (untagged)', rate: rate(pages, best.untagged, `, best of ${ROUNDS}`) },
  ];
}

const bench: Bench = () => [...migrate1G(), taggedDemandOverData()];
export default bench;
