/**
 * The free-head bitmap of the buddy allocator (an emulator index): nextFreeHead(pfn, end) must name exactly
 * the first pfn at or after `pfn` that heads a free buddy block, as a page-by-page look at the words finds
 * it — across a memory hole between two sections' worth of zones, after random allocations and frees.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL } from '../../src/mm/gfp.js';
import { makeMachine } from './machine.js';

describe('free-head bitmap', () => {
  test('nextFreeHead equals a page-by-page scan for the next free block head (random states)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.nat(3), fc.nat(1 << 20)), { minLength: 1, maxLength: 300 }),
        fc.array(fc.tuple(fc.nat(1 << 20), fc.nat(1 << 14)), { minLength: 1, maxLength: 20 }),
        (ops, queries) => {
          const { alloc, dma, normal } = makeMachine({ dmaMiB: 16, normalMiB: 16 });
          const held: { pfn: number; order: number }[] = [];
          for (const [take, order, pick] of ops) {
            if (take || held.length === 0) {
              const pfn = alloc.allocPages(order, order === 0 ? GFP_HIGHUSER_MOVABLE : GFP_KERNEL);
              if (pfn >= 0) held.push({ pfn, order });
            } else {
              const [h] = held.splice(pick % held.length, 1);
              alloc.freePages(h!.pfn, h!.order);
            }
          }
          // A scan range from inside DMA to past the end of Normal crosses the hole between the two.
          const lo = dma.zoneStartPfn;
          const hi = normal.zoneEndPfn + 64;
          const isHead = (pfn: number): boolean => alloc.freeBlockHeadOf(pfn) === pfn;
          for (const [a, len] of queries) {
            const from = lo + (a % (hi - lo));
            const to = Math.min(hi, from + len);
            let want = -1;
            for (let p = from; p < to; p++) {
              if (isHead(p)) {
                want = p;
                break;
              }
            }
            expect(alloc.nextFreeHead(from, to)).toBe(want);
          }
          expect(alloc.checkInvariants()).toEqual([]);
        },
      ),
      { numRuns: 60, seed: 99 },
    );
  });
});
