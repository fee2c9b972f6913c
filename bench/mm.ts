/**
 * mm benchmarks: the order-0 allocation path (alloc + free through the per-cpu lists and the buddy lists) and
 * boot freeing (memblock_free_all) of 4 GiB and 1 TiB of 4K pages, with the emulator's RSS.
 */
import type { Bench, BenchResult } from './index.js';
import { geometryFor } from '../src/mm/geometry.js';
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL } from '../src/mm/gfp.js';
import { MemMap } from '../src/mm/memmap.js';
import { PageAllocator } from '../src/mm/page_alloc.js';
import { ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL, Zone } from '../src/mm/zone.js';

/** One node: DMA below 4 GiB, Normal above, DRAM from 2 GiB (arm64-like). */
function machine(bytes: number, cpus = 4): { alloc: PageAllocator; start: number; end: number } {
  const g = geometryFor(4096);
  const start = 0x80000000 / g.pageSize;
  const end = start + bytes / g.pageSize;
  const limit = 0x100000000 / g.pageSize;
  const memmap = new MemMap(g, [{ startPfn: start, endPfn: end }]);
  const mk = (idx: number, s: number, e: number): Zone =>
    new Zone(
      { idx, nid: 0, zoneStartPfn: e > s ? s : 0, spannedPages: Math.max(0, e - s), presentPages: Math.max(0, e - s) },
      g.nrOrders,
      cpus,
    );
  const zones = [
    mk(ZONE_DMA, start, Math.min(end, limit)),
    mk(ZONE_DMA32, 0, 0),
    mk(ZONE_NORMAL, limit, end),
    mk(ZONE_MOVABLE, 0, 0),
  ];
  return { alloc: new PageAllocator({ geometry: g, memmap, zones, cpus }), start, end };
}

function boot(bytes: number): { alloc: PageAllocator; ms: number } {
  const t0 = performance.now();
  const m = machine(bytes);
  m.alloc.freeBootmem(m.start, m.end);
  m.alloc.setupPerCpuPageset();
  m.alloc.setupPerZoneWmarks();
  return { alloc: m.alloc, ms: performance.now() - t0 };
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

const bench: Bench = () => {
  const out: BenchResult[] = [];

  const b4 = boot(4 * 2 ** 30);
  out.push({
    name: 'mm: boot free 4 GiB (memblock_free_all + wmarks)',
    rate: `${b4.ms.toFixed(1)} ms (${(4 / (b4.ms / 1000)).toFixed(0)} GiB/s)`,
  });

  const a = b4.alloc;
  for (const [label, gfp] of [
    ['movable', GFP_HIGHUSER_MOVABLE],
    ['kernel', GFP_KERNEL],
  ] as const) {
    const held = new Float64Array(512);
    const rounds = 8000;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < held.length; k++) held[k] = a.allocPages(0, gfp);
      for (let k = held.length - 1; k >= 0; k--) a.freePages(held[k]!, 0);
    }
    const ms = performance.now() - t0;
    const c1 = process.cpuUsage(c0);
    const cpuMs = (c1.user + c1.system) / 1000;
    const n = rounds * held.length;
    if (a.checkInvariants().length) throw new Error('allocator invariants broken by the benchmark');
    out.push({
      name: `mm: order-0 alloc+free (${label})`,
      // Rate per cpu-second: the machine is shared, wall time mostly measures the neighbours.
      rate: `${(n / cpuMs / 1000).toFixed(2)} M allocs/s (${n} in ${cpuMs.toFixed(0)} ms cpu, ${ms.toFixed(0)} ms wall)`,
    });
  }

  const rss0 = process.memoryUsage().rss;
  const b1t = boot(2 ** 40);
  const rss1 = process.memoryUsage().rss;
  out.push({
    name: 'mm: boot free 1 TiB (memblock_free_all + wmarks)',
    rate: `${(b1t.ms / 1000).toFixed(2)} s, RSS +${mib(rss1 - rss0)} (memmap ${mib(b1t.alloc.memmap.u32.byteLength)} virtual)`,
  });
  return out;
};

export default bench;
