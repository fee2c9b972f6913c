/**
 * Two nodes: node 0 holds ZONE_DMA (64 MiB at 2 GiB), node 1 ZONE_NORMAL (64 MiB at 4 GiB); cpu 0 on node 0,
 * cpu 1 on node 1. Node-ordered zonelists (local node's zones first, high to low), zone_statistics() NUMA
 * events, and the per-node layout of zoneinfo / pagetypeinfo.
 */
import { describe, expect, test } from '@jest/globals';
import { geometryFor } from '../../src/mm/geometry.js';
import { GFP_KERNEL } from '../../src/mm/gfp.js';
import { MemMap } from '../../src/mm/memmap.js';
import { PageAllocator } from '../../src/mm/page_alloc.js';
import { NUMA_FOREIGN, NUMA_HIT, NUMA_LOCAL, NUMA_MISS, NUMA_OTHER } from '../../src/mm/vmstat.js';
import { Zone } from '../../src/mm/zone.js';
import { formatPagetypeinfo } from '../../src/proc/pagetypeinfo.js';
import { formatZoneinfo } from '../../src/proc/zoneinfo.js';

function twoNodes(): { alloc: PageAllocator; dma0: Zone; normal1: Zone } {
  const g = geometryFor(4096);
  const memmap = new MemMap(g, [
    { startPfn: 0x80000, endPfn: 0x84000 },
    { startPfn: 0x100000, endPfn: 0x104000 },
  ]);
  const zones: Zone[] = [];
  for (const nid of [0, 1]) {
    for (let idx = 0; idx < 4; idx++) {
      const dma = nid === 0 && idx === 0;
      const normal = nid === 1 && idx === 2;
      const start = dma ? 0x80000 : normal ? 0x100000 : 0;
      const pages = dma || normal ? 0x4000 : 0;
      zones.push(new Zone({ idx, nid, zoneStartPfn: start, spannedPages: pages, presentPages: pages }, g.nrOrders, 2));
    }
  }
  const alloc = new PageAllocator({ geometry: g, memmap, zones, cpus: 2, cpuToNode: [0, 1] });
  alloc.freeBootmem(0x80000, 0x84000);
  alloc.freeBootmem(0x100000, 0x104000);
  alloc.setupPerCpuPageset();
  return { alloc, dma0: zones[0]!, normal1: zones[6]! };
}

describe('NUMA', () => {
  test('local zones first; falling back to the other node counts miss, foreign and other', () => {
    const { alloc, dma0, normal1 } = twoNodes();
    alloc.cpu = 0;
    const first = alloc.allocPages(0, GFP_KERNEL);
    expect(dma0.spansPfn(first)).toBe(true);
    expect(dma0.numaEvents[NUMA_HIT]).toBe(1);
    expect(dma0.numaEvents[NUMA_LOCAL]).toBe(1);
    let p = first;
    while (dma0.spansPfn(p)) p = alloc.allocPages(0, GFP_KERNEL);
    expect(normal1.spansPfn(p)).toBe(true);
    expect(normal1.numaEvents[NUMA_MISS]).toBe(1);
    expect(normal1.numaEvents[NUMA_OTHER]).toBe(1);
    expect(dma0.numaEvents[NUMA_FOREIGN]).toBe(1);
    // From cpu 1 the same request prefers node 1 and is a local hit there.
    alloc.cpu = 1;
    const q = alloc.allocPages(0, GFP_KERNEL);
    expect(normal1.spansPfn(q)).toBe(true);
    expect(normal1.numaEvents[NUMA_HIT]).toBe(1);
    expect(normal1.numaEvents[NUMA_LOCAL]).toBe(1);
    expect(alloc.checkInvariants()).toEqual([]);
  });

  test("per-node stats under each node's first populated zone; pagetypeinfo once per node", () => {
    const { alloc } = twoNodes();
    const zi = formatZoneinfo(alloc);
    expect(zi.split('per-node stats').length).toBe(3);
    expect(zi).toContain('Node 0, zone      DMA\n  per-node stats\n');
    expect(zi).toContain('Node 1, zone      DMA\n  pages free     0\n');
    expect(zi).toContain('Node 1, zone   Normal\n  per-node stats\n');
    const pti = formatPagetypeinfo(alloc);
    expect(pti.split('Page block order: 9').length).toBe(3);
    expect(pti).toContain('Node    1, zone   Normal, type      Movable ');
    expect(pti).not.toContain('Node    1, zone      DMA');
  });
});
