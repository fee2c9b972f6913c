/**
 * /proc/buddyinfo (mm/vmstat.c frag_show_print, v6.5): per populated zone `Node %d, zone %8s ` then
 * `%6lu ` of free_area[order].nr_free for order 0..MAX_ORDER (inclusive), then a newline (kernel-facts §7.5).
 */
import type { PageAllocator } from '../mm/page_alloc.js';

export function formatBuddyinfo(a: PageAllocator): string {
  let s = '';
  for (const n of a.nodes) {
    for (const z of n.zones) {
      if (!z.populated) continue;
      s += `Node ${n.nodeId}, zone ${z.name.padStart(8)} `;
      for (let o = 0; o <= a.geometry.maxOrder; o++) s += `${String(z.nrFree[o] ?? 0).padStart(6)} `;
      s += '\n';
    }
  }
  return s;
}
