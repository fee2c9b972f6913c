/**
 * Property test (fast-check): random allocation, free, drain, tagged allocation with failing reservations and
 * pageblock isolation keep the allocator consistent (SPEC §5 invariant 1): lists vs nr_free vs NR_FREE_PAGES vs
 * nr_free_metadata, no page handed out twice, METADATA never given to unmovable, reclaimable or tagged requests,
 * and everything merges back once all is freed.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL, __GFP_RECLAIMABLE, __GFP_TAGGED, GFP_ATOMIC } from '../../src/mm/gfp.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../../src/mm/vmstat.js';
import { MIGRATE_MOVABLE } from '../../src/mm/zone.js';
import { makeMachine, recordingArch } from './machine.js';

const GFPS = [
  GFP_KERNEL,
  GFP_HIGHUSER_MOVABLE,
  GFP_HIGHUSER_MOVABLE | __GFP_TAGGED,
  GFP_KERNEL | __GFP_RECLAIMABLE,
  GFP_ATOMIC,
];

type Op =
  | { k: 'alloc'; order: number; gfp: number }
  | { k: 'free'; at: number }
  | { k: 'drain' }
  | { k: 'isolate'; pb: number }
  | { k: 'unisolate' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('alloc' as const),
      order: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom(9, 10)),
      gfp: fc.integer({ min: 0, max: GFPS.length - 1 }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('free' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'drain' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('isolate' as const), pb: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'unisolate' as const }) },
);

describe('allocator invariants under random operations', () => {
  test('lists, counters and ownership stay consistent', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), fc.integer({ min: 2, max: 9 }), (ops, failMod) => {
        const m = makeMachine({ dmaMiB: 4, normalMiB: 8, metadataMiB: 2, cpus: 2, minFreeKbytes: 512 });
        const { alloc } = m;
        const arch = recordingArch((pfn) => pfn % failMod !== 0);
        alloc.arch = arch;
        const held: { pfn: number; order: number; gfp: number }[] = [];
        const owned = new Set<number>();
        const isolated: number[] = [];
        const pbs: number[] = [];
        for (const z of [m.dma, m.normal])
          for (let p = z.zoneStartPfn; p < z.zoneEndPfn; p += alloc.geometry.pageblockNrPages) pbs.push(p);
        const inMeta = (p: number, n: number): boolean => p < m.metaEndPfn && p + n > m.metaStartPfn;
        let step = 0;
        for (const op of ops) {
          step++;
          if (op.k === 'alloc') {
            const gfp = GFPS[op.gfp]!;
            const pfn = alloc.allocPages(op.order, gfp);
            if (pfn < 0) continue;
            const n = 2 ** op.order;
            for (let k = 0; k < n; k++) {
              if (owned.has(pfn + k)) throw new Error(`pfn 0x${(pfn + k).toString(16)} handed out twice`);
              owned.add(pfn + k);
            }
            if (!(gfp === GFP_HIGHUSER_MOVABLE) && inMeta(pfn, n))
              throw new Error(`METADATA page 0x${pfn.toString(16)} given to gfp 0x${gfp.toString(16)}`);
            for (const pb of isolated)
              if (pfn < pb + 512 && pfn + n > pb) throw new Error(`page from isolated pageblock 0x${pb.toString(16)}`);
            if (gfp & __GFP_TAGGED && !arch.tagged.has(pfn)) throw new Error('tagged page without reservation');
            held.push({ pfn, order: op.order, gfp });
          } else if (op.k === 'free') {
            if (held.length === 0) continue;
            const [h] = held.splice(op.at % held.length, 1);
            for (let k = 0; k < 2 ** h!.order; k++) owned.delete(h!.pfn + k);
            alloc.freePages(h!.pfn, h!.order);
          } else if (op.k === 'drain') {
            alloc.drainAllPages();
          } else if (op.k === 'isolate') {
            const pb = pbs[op.pb % pbs.length]!;
            if (alloc.pageblockMigratetype(pb) === MIGRATE_MOVABLE && alloc.isolatePageblock(pb)) isolated.push(pb);
          } else {
            const pb = isolated.pop();
            if (pb !== undefined) alloc.unisolatePageblock(pb, MIGRATE_MOVABLE);
          }
          if (step % 8 === 0 || step === ops.length) {
            const errs = alloc.checkInvariants(true);
            if (errs.length) throw new Error(`after step ${step} (${JSON.stringify(op)}): ${errs.join('; ')}`);
          }
        }
        for (const h of held) alloc.freePages(h.pfn, h.order);
        for (const pb of isolated) alloc.unisolatePageblock(pb, MIGRATE_MOVABLE);
        alloc.drainAllPages();
        expect(alloc.checkInvariants(true)).toEqual([]);
        expect(alloc.globalZoneState(NR_FREE_PAGES)).toBe(alloc.totalramPages());
        expect(alloc.globalZoneState(NR_FREE_METADATA_PAGES)).toBe(512);
        // Everything merged back: DMA is one MAX_ORDER block; Normal one MAX_ORDER block and two pageblocks, the
        // METADATA one and its MOVABLE buddy, which do not merge (non-mergeable types at pageblock order).
        expect(Array.from(m.dma.nrFree)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        expect(Array.from(m.normal.nrFree)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1]);
      }),
      { numRuns: 200, seed: 20260825 },
    );
  });
});
