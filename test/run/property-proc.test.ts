/**
 * What /proc prints agrees with the machine after random page movers (the workloads of property-movers, stopped
 * with the processes still alive): per zone, buddyinfo's blocks add up to nr_free_pages and MemFree is their sum;
 * AnonPages + Shmem (and nr_anon_pages + nr_shmem, and Active(anon) + Inactive(anon)) count the distinct pages the
 * live processes map; AnonHugePages the PMD-mapped folios; SwapTotal - SwapFree the slots in use, which are the
 * swap entries in page tables.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { render, step, type Step } from './gen-movers.js';
import { session } from '../thp/harness.js';
import { PTE_PMD, PTE_PRESENT_MASK, PTE_SWAP } from '../../src/process/pte.js';
import { SwapSystem } from '../../src/process/swap.js';

describe('/proc after random page movers', () => {
  test('meminfo, vmstat and buddyinfo agree with the page tables and the free lists (80 workloads)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 4, maxLength: 24 }),
        fc.integer({ min: 1, max: 1000 }),
        async (steps, seed) => {
          // The small platform (one zone, DMA), run under --check by test/thp/harness.ts.
          const s = await session({ seed });
          s.run(render(steps as Step[], ['&memory0', '&metadata0'], 16, true, false));
          const layer = s.layer;
          const mi = s.meminfo;
          const vm = s.vmstat;

          let free = 0;
          for (let o = 0; o <= 10; o++) free += s.it.counter('buddyinfo', '', 'DMA', o)! * 2 ** o;
          expect(free).toBe(s.it.counter('zoneinfo', 'nr_free_pages', 'DMA'));
          expect(mi('MemFree')).toBe(free * 4);

          const mapped = new Set<number>();
          const pmdFolios = new Set<number>();
          const entries = new Set<number>();
          for (const p of layer.processes.values()) {
            if (!p.alive) continue;
            for (const v of p.mm.vmas) {
              for (let i = 0; i < v.pages; i++) {
                const f = v.pte[i]!;
                const pfn = v.pfn[i]!;
                if ((f & PTE_PRESENT_MASK) === 0) {
                  if ((f & PTE_SWAP) !== 0) entries.add(pfn);
                  continue;
                }
                if (pfn === layer.port.zeroPfn) continue;
                mapped.add(pfn);
                if ((f & PTE_PMD) !== 0) pmdFolios.add(layer.rmap.folioHead(pfn));
              }
            }
          }
          expect(mi('AnonPages') + mi('Shmem')).toBe(mapped.size * 4);
          expect(vm('nr_anon_pages') + vm('nr_shmem')).toBe(mapped.size);
          expect(mi('Active(anon)') + mi('Inactive(anon)')).toBe(mapped.size * 4);
          expect(mi('AnonHugePages')).toBe(pmdFolios.size * 2048);
          const sw = layer.swap;
          if (!(sw instanceof SwapSystem)) throw new Error('no swap system');
          const inUse = sw.state.device?.inusePages ?? 0;
          expect(inUse).toBe(entries.size);
          expect(mi('SwapTotal') - mi('SwapFree')).toBe(inUse * 4);
        },
      ),
      { numRuns: 80, seed: 5150 },
    );
  });
});
