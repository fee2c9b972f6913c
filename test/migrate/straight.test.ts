/**
 * Migrator.migratePage runs the steps of MigrationOp written out straight (the hot path). It must do exactly
 * what stepping a MigrationOp does: same results, same pages allocated and freed, same counters, same tags,
 * for every outcome (success, -EBUSY isolated or unmovable, -EAGAIN pinned, -ENOMEM) and with nested
 * migrations (a destination whose tag block holds data: alloc_contig_range moves it first).
 */
import { FakeMachine } from '../tagres/fake.js';
import { MigrateReason, type MigrateResult } from '../../src/mm/migrate.js';

const MEM = 32 * 512;

/** The same machine and pages every time: user pages tagged or not, pinned, kernel, free, isolated. */
function build(blockSizePages: number): { m: FakeMachine; list: number[] } {
  const m = new FakeMachine({ memPages: MEM, blockSizePages });
  const list: number[] = [];
  for (let i = 0; i < 240; i++) {
    const tagged = i % 3 !== 0;
    const p = m.userPage(1000 + i, tagged);
    if (tagged) m.tagStore.setTags(p, i % 256, 256, i & 15);
    if (i % 17 === 5) m.pinned[p] = 1;
    if (i % 19 === 7) m.owner[p] = 2; // a kernel page: not movable
    list.push(p);
  }
  // Movable data in the tag storage: reserving a destination's tag block must migrate it away first.
  m.fillTagStorageWithData(50000);
  list.push(MEM - 1, MEM - 2); // free pages
  list.push(list[3]!); // migrated already by then: its source is free
  m.migrator.isolateFolio(list[10]!); // someone else is migrating it
  return { m, list };
}

function state(m: FakeMachine, list: number[]): unknown {
  const tags: number[][] = [];
  for (let p = 0; p < MEM; p += 7) tags.push(Array.from(m.tagStore.save(p)));
  return {
    free: Array.from(m.free),
    ref: Array.from(m.ref),
    flags: Array.from(m.flags),
    token: Array.from(m.token),
    owner: Array.from(m.owner),
    events: [...m.events].sort(),
    moved: [...m.moved],
    tagsByPfn: [...m.tagStore.tagsByPfn.keys()].sort((a, b) => a - b),
    corruptions: m.tagStore.corruptions,
    reserved: [...m.ts.reservedBlocks].sort((a, b) => a - b),
    tags,
    isolated: list.map((p) => m.migrator.isIsolated(p)),
  };
}

function run(blockSizePages: number, straight: boolean): { results: MigrateResult[]; nested: number; end: unknown } {
  const { m, list } = build(blockSizePages);
  const results: MigrateResult[] = [];
  const migrate = (pfn: number): MigrateResult => {
    if (straight) return m.migrator.migratePage(pfn, MigrateReason.MR_SYSCALL);
    const op = m.migrator.begin(pfn, MigrateReason.MR_SYSCALL);
    while (!op.step());
    return { rc: op.rc, dst: op.dst };
  };
  for (const p of list) results.push(migrate(p));
  // Out of memory: every free page taken (by the kernel), then the pages moved first fail with -ENOMEM.
  for (let p = 0; p < m.endPfn; p++) {
    if (m.free[p] !== 1) continue;
    m.free[p] = 0;
    m.ref[p] = 1;
    m.owner[p] = 2;
  }
  const moved = results.filter((r) => r.rc === 0).map((r) => r.dst);
  for (const p of moved.slice(0, 12)) results.push(migrate(p));
  // Pages moved by the nested alloc_contig_range migrations (out of the destinations' tag blocks).
  const nested = m.moved.size - moved.length;
  return { results, nested, end: state(m, list.concat(moved.slice(0, 12))) };
}

describe('migratePage = MigrationOp stepped to the end', () => {
  for (const bs of [1, 4]) {
    test(`tag block of ${bs} page(s)`, () => {
      const a = run(bs, true);
      const b = run(bs, false);
      const rcs = new Set(a.results.map((r) => r.rc));
      // Every outcome is exercised.
      expect([...rcs].sort((x, y) => x - y)).toEqual([-16, -12, -11, 0]);
      expect(a.results.filter((r) => r.rc === 0).length).toBeGreaterThan(150);
      expect(a.nested).toBeGreaterThan(0);
      expect(a.results).toEqual(b.results);
      expect(a.end).toEqual(b.end);
    });
  }
});
