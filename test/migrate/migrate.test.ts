/**
 * Page migration with MTE tags (kernel-facts §3.5 P11, §6.2 copy_highpage, §6.3 race 3) on the fake
 * machine of test/tagres.
 */
import { FakeMachine, GFP_HIGHUSER_MOVABLE, GFP_TAGGED } from '../tagres/fake.js';
import { EAGAIN, EBUSY, MIGRATE_REASON_NAMES, MigFlag, MigrateRangeOp, MigrateReason } from '../../src/mm/migrate.js';

const MEM = 32 * 512; // 16384 pages, 512 tag pages
const TAGGED = GFP_HIGHUSER_MOVABLE | GFP_TAGGED;

function taggedUserPage(m: FakeMachine, token: number, tag: number): number {
  const p = m.userPage(token, true);
  m.tagStore.setTags(p, 0, 256, tag);
  m.tagStore.setTags(p, 255, 256, (tag + 1) & 15);
  return p;
}

describe('copy_highpage (§6.2)', () => {
  test('destination with tag storage: data and tags copied tag storage to tag storage', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const src = taggedUserPage(m, 77, 5);
    const dst = m.allocPages(0, TAGGED);
    expect(m.testFlag(dst, MigFlag.MteTagged)).toBe(false);
    m.migrator.copyHighpage(dst, src);
    expect(m.token[dst]).toBe(77);
    expect(m.tagStore.getTag(dst, 0)).toBe(5);
    expect(m.tagStore.getTag(dst, 255)).toBe(6);
    expect(m.testFlag(dst, MigFlag.MteTagged)).toBe(true);
    expect(m.tagStore.corruptions).toEqual([]);
  });

  test('destination without tag storage, fix.pfn_tags on: tags saved in tags_by_pfn, nothing written', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1, fixPfnTags: true });
    const src = taggedUserPage(m, 78, 9);
    // Tag storage of the destination holds somebody's data.
    m.fillTagStorageWithData(100);
    const dst = m.allocPages(0, GFP_HIGHUSER_MOVABLE);
    m.migrator.copyHighpage(dst, src);
    expect(m.token[dst]).toBe(78);
    expect(m.testFlag(dst, MigFlag.MteTagged)).toBe(false);
    const saved = m.swapTags.loadPageTagsByPfn(dst);
    expect(saved).toBeDefined();
    expect(saved![0]! & 0xf).toBe(9);
    expect(saved![127]! >> 4).toBe(10);
    expect(m.tagStore.corruptions).toEqual([]);
    expect(m.tagStore.tagsByPfn.has(dst)).toBe(true); // one store, shared with the tag model
  });

  test('destination without tag storage, fix.pfn_tags off: tags land in storage holding data (race 3)', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1, fixPfnTags: false });
    const src = taggedUserPage(m, 79, 3);
    m.fillTagStorageWithData(100);
    const dst = m.allocPages(0, GFP_HIGHUSER_MOVABLE);
    m.migrator.copyHighpage(dst, src);
    expect(m.testFlag(dst, MigFlag.MteTagged)).toBe(true);
    expect(m.swapTags.pageMetadataInSwap(dst)).toBe(false);
    expect(m.tagStore.corruptions).toHaveLength(1);
    expect(m.tagStore.corruptions[0]).toContain(`pfn 0x${dst.toString(16)}`);
  });
});

describe('migrate_pages', () => {
  test('a tagged source gets a destination with tag storage (P11); source blocks are released', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const src = taggedUserPage(m, 42, 7);
    const before = m.ev('metadata_reserve_success');
    const r = m.migrator.migratePage(src, MigrateReason.MR_SYSCALL);
    expect(r.rc).toBe(0);
    expect(m.testFlag(r.dst, MigFlag.TagStorageReserved)).toBe(true);
    expect(m.tagStore.getTag(r.dst, 0)).toBe(7);
    expect(m.token[r.dst]).toBe(42);
    expect(m.isFree(src)).toBe(true);
    expect(m.ev('pgmigrate_success')).toBe(1);
    expect(m.ev('metadata_reserve_success')).toBeGreaterThanOrEqual(before);
    expect(m.tagStore.corruptions).toEqual([]);
  });

  test('the steps are atomic and named in the kernel order', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const src = m.userPage(5);
    const op = m.migrator.begin(src, MigrateReason.MR_COMPACTION);
    const names: string[] = [];
    while (!op.done) {
      names.push(op.nextName);
      op.step();
    }
    expect(names).toEqual(['alloc-dest', 'unmap', 'copy', 'remap', 'free-source']);
    expect(op.rc).toBe(0);
    expect(m.token[op.dst]).toBe(5);
  });

  test('race 3 shape: the source becomes tagged between allocating the destination and the copy', () => {
    for (const fix of [true, false]) {
      const m = new FakeMachine({ memPages: MEM, blockSizePages: 1, fixPfnTags: fix });
      m.fillTagStorageWithData(100);
      const src = m.userPage(11);
      const op = m.migrator.begin(src, MigrateReason.MR_SYSCALL);
      op.step(); // destination allocated untagged: no tag storage
      // mprotect(PROT_MTE) + access on the other thread: the source is now tagged with tag storage.
      expect(m.reserve.reserveMetadataStorage(src, 0, TAGGED)).toBe(0);
      m.setFlag(src, MigFlag.MteTagged);
      m.tagStore.setTags(src, 0, 256, 12);
      while (!op.step());
      expect(op.rc).toBe(0);
      if (fix) {
        expect(m.tagStore.corruptions).toEqual([]);
        expect(m.swapTags.loadPageTagsByPfn(op.dst)![0]! & 0xf).toBe(12);
      } else {
        expect(m.tagStore.corruptions.length).toBeGreaterThan(0);
      }
    }
  });

  test('a pinned page fails with -EAGAIN after the retry passes; pgmigrate_fail counts it once', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const a = m.userPage(1);
    const b = m.userPage(2);
    m.pinned[b] = 1;
    const list = [a, b];
    expect(m.migrator.migratePages(list, MigrateReason.MR_COMPACTION)).toBe(1);
    expect(list).toEqual([b]);
    expect(m.ev('pgmigrate_success')).toBe(1);
    expect(m.ev('pgmigrate_fail')).toBe(1);
    expect(m.isFree(b)).toBe(false);
    const op = m.migrator.begin(b, MigrateReason.MR_SYSCALL);
    while (!op.step());
    expect(op.rc).toBe(EAGAIN);
  });

  test('a kernel page is not movable: -EBUSY', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const k = m.allocPages(0, 0);
    expect(m.migrator.migratePage(k, MigrateReason.MR_SYSCALL).rc).toBe(EBUSY);
  });

  test('no destination: -ENOMEM ends migrate_pages', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const pages: number[] = [];
    for (;;) {
      const p = m.allocPages(0, GFP_HIGHUSER_MOVABLE);
      if (p < 0) break;
      m.owner[p] = 1;
      pages.push(p);
    }
    const list = pages.slice(0, 3);
    expect(m.migrator.migratePages(list, MigrateReason.MR_COMPACTION)).toBe(-12);
    expect(list).toHaveLength(3);
  });
});

describe('folios and METADATA_NONE (§3.5 P11, §5.3)', () => {
  test('an order-9 tagged folio migrates to a destination with its 16 tag blocks', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const src = m.allocPages(9, TAGGED | 0x100);
    for (let q = src; q < src + 512; q++) {
      m.owner[q] = 1;
      m.token[q] = 900 + q;
    }
    m.tagStore.setTags(src + 511, 0, 256, 4);
    const srcBlocks = [...m.ts.reservedBlocks];
    expect(srcBlocks).toHaveLength(16);
    const r = m.migrator.migratePage(src, MigrateReason.MR_SYSCALL);
    expect(r.rc).toBe(0);
    expect(r.dst % 512).toBe(0);
    expect(m.ev('pgmigrate_success')).toBe(512);
    expect(m.ev('thp_migration_success')).toBe(1);
    expect(m.token[r.dst + 511]).toBe(900 + src + 511);
    expect(m.tagStore.getTag(r.dst + 511, 0)).toBe(4);
    // Source blocks released, destination blocks reserved: still 16 in all.
    expect(m.ts.reservedBlocks.size).toBe(16);
    for (const b of srcBlocks) expect(m.ts.reservedBlocks.has(b)).toBe(false);
  });

  test('migrate_metadata_none_page moves a tag storage page to a tagged page', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const [T] = m.fillTagStorageWithData(300) as [number];
    expect(m.migrator.migrateMetadataNonePage(T)).toBe(true);
    const dst = m.moved.get(T)!;
    expect(dst).toBeLessThan(m.region.tag.start);
    expect(m.testFlag(dst, MigFlag.TagStorageReserved)).toBe(true);
    expect(m.token[dst]).toBe(300 + T);
    expect(m.log.all().filter((r) => r.level === 'warning')).toEqual([]);
  });

  test('MR reason names (mm/debug.c) include the series reason', () => {
    expect(MIGRATE_REASON_NAMES[MigrateReason.MR_CONTIG_RANGE]).toBe('contig_range');
    expect(MIGRATE_REASON_NAMES[MigrateReason.MR_METADATA_NONE]).toBe('metadata_none');
  });
});

describe('MigrateRangeOp', () => {
  test('migrates each present slot step by step, skipping empty ones', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const slots = [m.userPage(1), -1, m.userPage(2), m.userPage(3)];
    const op = new MigrateRangeOp(m.migrator, slots.length, (i) => slots[i]!);
    let steps = 0;
    while (!op.step()) steps++;
    expect(op.migrated).toBe(3);
    expect(op.failed).toBe(0);
    expect(steps + 1).toBe(15); // 5 atomic steps per page
    expect([1, 2, 3].map((t, k) => m.token[m.moved.get([slots[0]!, slots[2]!, slots[3]!][k]!)!])).toEqual([1, 2, 3]);
  });
});

describe('LRU isolation bookkeeping', () => {
  test('a long list is isolated as a whole and put back after migrate_pages', () => {
    const m = new FakeMachine({ memPages: MEM, blockSizePages: 1 });
    const list: number[] = [];
    for (let i = 0; i < 100; i++) list.push(m.userPage(i + 1));
    const copy = list.slice();
    expect(m.migrator.migratePages(list, MigrateReason.MR_COMPACTION)).toBe(0);
    expect(list).toEqual([]);
    expect(m.ev('pgmigrate_success')).toBe(100);
    for (const p of copy) expect(m.migrator.isIsolated(p)).toBe(false);
    expect(m.migrator.isolateFolio(copy[0]!)).toBe(true);
    expect(m.migrator.isolateFolio(copy[0]!)).toBe(false);
    m.migrator.putbackFolio(copy[0]!);
    expect(m.migrator.isIsolated(copy[0]!)).toBe(false);
  });
});
