/**
 * /proc/vmstat text (mm/vmstat.c vmstat_start/vmstat_show, v6.5 + v1): `name value` per line in table order —
 * zone items (global sums), NUMA events, node items (THP items in THP units), the two dirty thresholds, then the
 * events (pgpgin/pgpgout halved: sectors → kB) — and finally the legacy `nr_unstable 0` (kernel-facts §7.3).
 */
import { globalDirtyLimits } from '../mm/meminfo.js';
import type { PageAllocator } from '../mm/page_alloc.js';
import {
  NODE_STAT_IN_THP,
  NODE_STAT_NAMES,
  NUMA_STAT_NAMES,
  PGPGIN,
  PGPGOUT,
  VM_EVENT_NAMES,
  WRITEBACK_STAT_NAMES,
  ZONE_STAT_NAMES,
} from '../mm/vmstat.js';

/** The (name, value) pairs of /proc/vmstat, in order, without the trailing nr_unstable line. */
export function vmstatValues(a: PageAllocator): [string, number][] {
  const out: [string, number][] = [];
  ZONE_STAT_NAMES.forEach((n, i) => out.push([n, Math.max(0, a.globalZoneState(i))]));
  NUMA_STAT_NAMES.forEach((n, i) => {
    let v = 0;
    for (const z of a.zones) v += z.numaEvents[i] ?? 0;
    out.push([n, v]);
  });
  const thpDiv = a.geometry.hpagePmdNr;
  NODE_STAT_NAMES.forEach((n, i) => {
    let v = Math.max(0, a.globalNodeState(i));
    if (NODE_STAT_IN_THP.includes(n)) v = Math.floor(v / thpDiv);
    out.push([n, v]);
  });
  const [bg, dirty] = globalDirtyLimits(a);
  out.push([WRITEBACK_STAT_NAMES[0], dirty]);
  out.push([WRITEBACK_STAT_NAMES[1], bg]);
  VM_EVENT_NAMES.forEach((n, i) => {
    let v = a.events.get(i);
    if (i === PGPGIN || i === PGPGOUT) v = Math.floor(v / 2);
    out.push([n, v]);
  });
  return out;
}

export function formatVmstat(a: PageAllocator): string {
  return (
    vmstatValues(a)
      .map(([n, v]) => `${n} ${v}\n`)
      .join('') + 'nr_unstable 0\n'
  );
}
