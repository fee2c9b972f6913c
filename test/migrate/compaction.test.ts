/**
 * Compaction of all zones (mm/compaction.c with kernel-facts §3.5 P8–P10, P20) on the fake machine: data
 * and tags survive, tagged sources get destinations with tag storage, METADATA is not a target for them.
 */
import { FakeMachine, GFP_HIGHUSER_MOVABLE, GFP_TAGGED, METADATA } from '../tagres/fake.js';
import { Compaction } from '../../src/mm/compaction.js';
import { MigFlag } from '../../src/mm/migrate.js';

const MEM = 32 * 512; // 16384 pages + 512 tag pages

function setup(): { m: FakeMachine; c: Compaction } {
  const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
  const c = new Compaction(m, m, m.migrator, (pfn, order) =>
    m.reserve.reserveMetadataStorage(pfn, order, GFP_HIGHUSER_MOVABLE | GFP_TAGGED),
  );
  return { m, c };
}

describe('compact all zones', () => {
  test('scattered pages move to the top of the zone with data and tags intact', () => {
    const { m, c } = setup();
    // Fill the first 2048 pages, then free every other one: a fragmented low end.
    const pages: number[] = [];
    for (let i = 0; i < 2048; i++) pages.push(m.userPage(10_000 + i, i % 64 === 0));
    const tagged = pages.filter((_, i) => i % 64 === 0);
    for (const p of tagged) m.tagStore.setTags(p, 0, 256, (p % 15) + 1);
    const kept = pages.filter((_, i) => i % 2 === 0);
    for (let i = 1; i < pages.length; i += 2) m.freePages(pages[i]!, 0);
    const tokens = new Map(kept.map((p) => [p, m.token[p]!]));
    const res = c.compactAll([{ name: 'Normal', startPfn: 0, endPfn: m.endPfn }]);
    expect(res.migrated).toBe(kept.length);
    expect(m.ev('pgmigrate_success')).toBe(kept.length);
    expect(m.ev('compact_isolated')).toBeGreaterThanOrEqual(2 * kept.length);
    expect(m.ev('compact_migrate_scanned')).toBeGreaterThan(0);
    expect(m.ev('compact_free_scanned')).toBeGreaterThan(0);
    for (const [src, tok] of tokens) {
      const dst = m.moved.get(src)!;
      expect(dst).toBeGreaterThan(4096);
      expect(m.token[dst]).toBe(tok);
      if (tagged.includes(src)) {
        expect(m.testFlag(dst, MigFlag.TagStorageReserved)).toBe(true);
        expect(m.tagStore.getTag(dst, 0)).toBe((src % 15) + 1);
        // P10: a tagged page never lands in tag storage.
        expect(m.pageblockMigratetype(dst)).not.toBe(METADATA);
      }
    }
    // The low 2048 pages are free again; every tag block in use belongs to a live tagged page.
    expect(m.freeCount(0, 2048)).toBe(2048);
    expect(m.ts.reservedBlocks.size).toBe(new Set(tagged.map((p) => Math.floor(m.moved.get(p)! / 32))).size);
    expect(m.tagStore.corruptions).toEqual([]);
  });

  test('direct compaction without ALLOC_FROM_METADATA skips METADATA sources (P9)', () => {
    const { m, c } = setup();
    m.fillTagStorageWithData(1);
    const zone = { name: 'Normal', startPfn: 0, endPfn: m.endPfn };
    // Free scanner territory: the tag storage is the top pageblock and full, so use a zone that ends there.
    const r = c.compactZone(zone, { directWithoutMetadata: true });
    expect(r.migrated).toBe(0);
    const r2 = c.compactZone({ name: 'Normal', startPfn: m.region.tag.start, endPfn: m.endPfn });
    expect(r2.migrated).toBe(0); // no free target above the data in its own zone
    expect(m.ev('pgmigrate_fail')).toBe(0);
  });
});
