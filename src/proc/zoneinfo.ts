/**
 * /proc/zoneinfo (mm/vmstat.c zoneinfo_show_print, v6.5 + v1 patch 5; kernel-facts §7.5, §4.1). Every zone of
 * every node is printed, empty ones included (header, pages free .. metadata, protection). The first populated
 * zone of a node carries the node's `per-node stats`. Populated zones add the zone items, the NUMA events, the
 * pagesets of each online cpu with `vm stats threshold`, `node_unreclaimable` and `start_pfn`.
 */
import type { PageAllocator } from '../mm/page_alloc.js';
import { NODE_STAT_IN_THP, NODE_STAT_NAMES, NUMA_STAT_NAMES, NR_FREE_PAGES, ZONE_STAT_NAMES } from '../mm/vmstat.js';
import { MAX_RECLAIM_RETRIES } from '../mm/zone.js';

const item = (name: string, v: number): string => `\n      ${name.padEnd(12)} ${v}`;

export function formatZoneinfo(a: PageAllocator): string {
  let s = '';
  const thpDiv = a.geometry.hpagePmdNr;
  for (const n of a.nodes) {
    const firstPopulated = n.zones.find((z) => z.populated);
    for (const z of n.zones) {
      s += `Node ${n.nodeId}, zone ${z.name.padStart(8)}`;
      if (z === firstPopulated) {
        s += '\n  per-node stats';
        NODE_STAT_NAMES.forEach((name, i) => {
          let v = Math.max(0, n.state(i));
          if (NODE_STAT_IN_THP.includes(name)) v = Math.floor(v / thpDiv);
          s += item(name, v);
        });
      }
      s +=
        `\n  pages free     ${Math.max(0, z.state(NR_FREE_PAGES))}` +
        `\n        boost    ${z.watermarkBoost}` +
        `\n        min      ${z.minWmark()}` +
        `\n        low      ${z.lowWmark()}` +
        `\n        high     ${z.highWmark()}` +
        `\n        spanned  ${z.spannedPages}` +
        `\n        present  ${z.presentPages}` +
        `\n        managed  ${z.managedPages}` +
        `\n        cma      ${z.cmaPages}` +
        `\n        metadata ${z.metadataPages}`;
      s += `\n        protection: (${Array.from(z.lowmemReserve).join(', ')})`;
      if (!z.populated) {
        s += '\n';
        continue;
      }
      ZONE_STAT_NAMES.forEach((name, i) => (s += item(name, Math.max(0, z.state(i)))));
      NUMA_STAT_NAMES.forEach((name, i) => (s += item(name, z.numaEvents[i] ?? 0)));
      s += '\n  pagesets';
      z.pcp.forEach((p, cpu) => {
        s +=
          `\n    cpu: ${cpu}` +
          `\n              count: ${p.count}` +
          `\n              high:  ${p.high}` +
          `\n              batch: ${p.batch}` +
          `\n  vm stats threshold: ${p.statThreshold}`;
      });
      s +=
        `\n  node_unreclaimable:  ${n.kswapdFailures >= MAX_RECLAIM_RETRIES ? 1 : 0}` +
        `\n  start_pfn:           ${z.zoneStartPfn}` +
        '\n';
    }
  }
  return s;
}
