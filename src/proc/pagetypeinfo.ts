/**
 * /proc/pagetypeinfo (mm/vmstat.c pagetypeinfo_show, v6.5; kernel-facts §7.5), per node with memory:
 * `Page block order: %d`, `Pages per block:  %lu`, a blank line; the free counts per zone and migratetype
 * (`Node %4d, zone %8s, type %12s ` + `%6lu ` per order, a count reaching 100000 printed as `>100000`, the
 * kernel's capped list walk); a blank line and `%-23s` "Number of blocks type " with `%12s ` names; per zone
 * `Node %d, zone %8s ` + `%12lu ` pageblock counts. The METADATA type prints as `Metadata` (our documented
 * choice, zone.ts MIGRATETYPE_NAMES). No "mixed blocks" section (needs page_owner).
 */
import type { PageAllocator } from '../mm/page_alloc.js';
import { MIGRATETYPE_NAMES, MIGRATE_TYPES } from '../mm/zone.js';

export function formatPagetypeinfo(a: PageAllocator): string {
  const g = a.geometry;
  const mm = a.memmap;
  let s = '';
  for (const n of a.nodes) {
    if (!n.hasMemory) continue;
    s += `Page block order: ${g.pageblockOrder}\n`;
    s += `Pages per block:  ${g.pageblockNrPages}\n`;
    s += '\n';
    s += `${'Free pages count per migrate type at order'.padEnd(43)} `;
    for (let o = 0; o <= g.maxOrder; o++) s += `${String(o).padStart(6)} `;
    s += '\n';
    for (const z of n.zones) {
      if (!z.populated) continue;
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
        s += `Node ${String(n.nodeId).padStart(4)}, zone ${z.name.padStart(8)}, type ${(MIGRATETYPE_NAMES[mt] ?? '').padStart(12)} `;
        for (let o = 0; o <= g.maxOrder; o++) {
          const c = z.freeListCount(o, mt);
          s += c >= 100000 ? `>${String(100000).padStart(6)} ` : `${String(c).padStart(6)} `;
        }
        s += '\n';
      }
    }
    s += `\n${'Number of blocks type '.padEnd(23)}`;
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) s += `${(MIGRATETYPE_NAMES[mt] ?? '').padStart(12)} `;
    s += '\n';
    for (const z of n.zones) {
      if (!z.populated) continue;
      const count = new Array<number>(MIGRATE_TYPES).fill(0);
      for (let pfn = z.zoneStartPfn; pfn < z.zoneEndPfn; pfn += g.pageblockNrPages) {
        const i = mm.pfnToIdx(pfn); // pfn_to_online_page()
        if (i < 0) continue;
        if (a.zoneForPfn(pfn) !== z) continue;
        const mt = mm.pageblockMigratetypeAt(i);
        if (mt < MIGRATE_TYPES) count[mt] = (count[mt] ?? 0) + 1;
      }
      s += `Node ${n.nodeId}, zone ${z.name.padStart(8)} `;
      for (const c of count) s += `${String(c).padStart(12)} `;
      s += '\n';
    }
  }
  return s;
}
