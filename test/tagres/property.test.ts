/**
 * Property test of the reservation protocol (kernel-facts §2.3) on the fake machine: random sequences of
 * tagged and untagged allocations (orders 0 and 5), frees, user data spilled into tag storage and
 * compaction; after every step each reserved block's count is 1 + what the live tagged allocations added,
 * no reserved block holds user data, every tagged allocation has PG_tag_storage_reserved, and the user data
 * tokens are where the reverse map says.
 */
import fc from 'fast-check';
import { FakeMachine, GFP_HIGHUSER_MOVABLE, GFP_TAGGED } from './fake.js';
import { MigFlag } from '../../src/mm/migrate.js';
import { Compaction } from '../../src/mm/compaction.js';

type Op =
  | { k: 'alloc'; order: 0 | 5; tagged: boolean }
  | { k: 'free'; i: number }
  | { k: 'spill'; n: number }
  | { k: 'compact' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('alloc' as const),
      order: fc.constantFrom(0 as const, 5 as const),
      tagged: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('free' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('spill' as const), n: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'compact' as const }) },
);

function check(m: FakeMachine, live: Map<number, { order: number; tagged: boolean }>): void {
  const r = m.region;
  const expected = new Map<number, number>();
  for (const [pfn, a] of live) {
    if (!a.tagged) continue;
    for (let q = pfn; q < pfn + (1 << a.order); q++) expect(m.testFlag(q, MigFlag.TagStorageReserved)).toBe(true);
    const first = r.tag.start + Math.floor((pfn - r.mem.start) / 32);
    const nBlocks = Math.max((1 << a.order) / 32, 1);
    for (let b = first; b < first + nBlocks; b++) expected.set(b, (expected.get(b) ?? 0) + Math.min(1 << a.order, 32));
  }
  expect([...m.ts.reservedBlocks].sort((a, b) => a - b)).toEqual([...expected.keys()].sort((a, b) => a - b));
  for (const [b, n] of expected) {
    expect(m.pageRef(b)).toBe(1 + n);
    expect(m.owner[b]).toBe(0);
    expect(m.isFree(b)).toBe(false);
  }
  for (let p = r.tag.start; p <= r.tag.end; p++) {
    if (!m.ts.reservedBlocks.has(p)) expect(m.isFree(p) || m.owner[p] === 1).toBe(true);
  }
}

describe('reservation protocol, random sequences', () => {
  test('refcounts, flags and data stay consistent', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        const m = new FakeMachine({ memPages: 32 * 512, blockSizePages: 1 });
        const c = new Compaction(m, m, m.migrator, (pfn, order) =>
          m.reserve.reserveMetadataStorage(pfn, order, GFP_HIGHUSER_MOVABLE | GFP_TAGGED),
        );
        const live = new Map<number, { order: number; tagged: boolean }>();
        /** user data pages (order 0, untagged, owner 1) by token, to follow them through migrations */
        const data = new Map<number, number>();
        let token = 1;
        const follow = (): void => {
          for (const [t, p] of data) {
            let q = p;
            while (m.moved.has(q) && m.token[q] !== t) q = m.moved.get(q)!;
            expect(m.token[q]).toBe(t);
            data.set(t, q);
          }
          m.moved.clear();
        };
        for (const op of ops) {
          if (op.k === 'alloc') {
            const p = m.allocPages(op.order, GFP_HIGHUSER_MOVABLE | (op.tagged ? GFP_TAGGED : 0));
            if (p >= 0) live.set(p, { order: op.order, tagged: op.tagged });
          } else if (op.k === 'free') {
            const keys = [...live.keys()];
            if (keys.length > 0) {
              const p = keys[op.i % keys.length]!;
              m.freePages(p, live.get(p)!.order);
              live.delete(p);
            }
          } else if (op.k === 'spill') {
            let n = op.n;
            for (let p = m.region.tag.start; p <= m.region.tag.end && n > 0; p++) {
              if (!m.isFree(p)) continue;
              m.free[p] = 0;
              m.ref[p] = 1;
              m.owner[p] = 1;
              m.token[p] = token;
              data.set(token++, p);
              n--;
            }
          } else {
            c.compactAll([{ name: 'Normal', startPfn: 0, endPfn: m.endPfn }]);
          }
          follow();
          check(m, live);
        }
        expect(m.tagStore.corruptions).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });
});
