/**
 * The cover letter's races 1 and 3 (kernel-facts §6.3) on the real allocator and process layer, driven step
 * by step: a migration allocates its destination while the page is untagged; mprotect(PROT_MTE) and an
 * access then make the source tagged; the migration copies and remaps. With both fixes on the data and tags
 * survive; with fix.pfn_tags off the tags land in tag storage holding data (invariant 6); with
 * fix.metadata_none off the page ends up mapped tagged without tag storage (invariant 3).
 */
import { makeRealMachine, type RealMachine } from '../tagres/real.js';
import { checkInvariants } from '../../src/invariants/check.js';
import { VM_MTE, VM_READ, VM_WRITE, type Vma } from '../../src/process/mm.js';
import { MigrateReason } from '../../src/mm/migrate.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../../src/mm/vmstat.js';

const RW = VM_READ | VM_WRITE;
const MiB = 1024 * 1024;

interface Outcome {
  invariants: string[];
  corruptions: number;
  tag: number;
  tokenOk: boolean;
}

/** Fills the tag storage with a hog's data, then runs the race on one page of process `v`. */
function race(fixPfnTags: boolean, fixMetadataNone: boolean): { m: RealMachine; out: Outcome } {
  const m = makeRealMachine({ dataMiB: 64, fixPfnTags, fixMetadataNone });
  m.alloc.setMinFreeKbytes(128);
  const L = m.layer;
  const hog = L.createProcess('hog');
  const free = m.alloc.globalZoneState(NR_FREE_PAGES) * 4096;
  const h = L.mmap(hog, 'fill', free - 4 * MiB, RW, false, false)!;
  L.touch(hog, h.start, h.end, true);
  expect(m.alloc.globalZoneState(NR_FREE_METADATA_PAGES)).toBeLessThan(64);
  L.munmap(hog, h.start, h.start + 8 * MiB); // room in ordinary memory
  const p = L.createProcess('victim');
  const v = L.mmap(p, 'buf', 64 * 1024, RW, false, false)!;
  L.touch(p, v.start, v.end, true);
  const token = L.contentOf(v.pfn[0]!);
  const src = v.pfn[0]!;

  // Thread 0: migration, first step: the destination is allocated untagged (no tag storage).
  const op = m.reuse.migrator.begin(src, MigrateReason.MR_SYSCALL);
  op.step();
  expect(m.alloc.memmap.testFlag(op.dst, 1 << 11)).toBe(false);
  // Thread 1: mprotect(PROT_MTE), an access (reserves the source's tag storage), settag.
  L.mprotect(p, v.start, v.end, RW | VM_MTE);
  L.touch(p, v.start, v.start + 4096, false);
  L.settag(p, v.start, v.start + 4096, 5);
  // Thread 0 finishes: unmap, copy, remap, free.
  while (!op.step());
  expect(op.rc).toBe(0);
  // The next access maps the destination tagged (reserving its tag storage if METADATA_NONE).
  L.touch(p, v.start, v.start + 4096, false);
  const out: Outcome = {
    invariants: checkInvariants(L),
    corruptions: L.tags.corruptions.length,
    tag: L.tagAt(p, v.start),
    tokenOk: L.contentOf(v.pfn[0]!) === token,
  };
  expect(v.pfn[0]).toBe(op.dst);
  return { m, out };
}

describe('migration vs mprotect(PROT_MTE) (§6.3 races 1 and 3)', () => {
  test('both fixes on: tags parked by pfn, restored at the next access; no violation', () => {
    const { m, out } = race(true, true);
    expect(out.invariants).toEqual([]);
    expect(m.reuse.swapTags.tagsByPfn.size).toBe(0);
    expect(out.corruptions).toBe(0);
    expect(out.tag).toBe(5);
    expect(out.tokenOk).toBe(true);
  });

  test('fix.pfn_tags off: copy_highpage writes the tags into tag storage holding data', () => {
    const { out } = race(false, true);
    expect(out.corruptions).toBeGreaterThan(0);
    expect(out.invariants.length).toBeGreaterThan(0);
  });

  test('fix.metadata_none off: the destination is mapped tagged without tag storage', () => {
    const { out } = race(true, false);
    expect(out.invariants.join('\n')).toMatch(/is mapped tagged without PG_tag_storage_reserved/);
  });
});

describe('compaction vs mprotect(PROT_MTE), step by step', () => {
  test.each([
    [true, true, 0],
    [true, false, 1],
  ])('fix.pfn_tags=%s fix.metadata_none=%s: violations only with a fix off', (fixPfnTags, fixMetadataNone, bad) => {
    const m = makeRealMachine({ dataMiB: 64, fixPfnTags, fixMetadataNone });
    const L = m.layer;
    const p = L.createProcess('p');
    const maps: Vma[] = [];
    for (let i = 0; i < 8; i++) {
      const v = L.mmap(p, `m${i}`, 1 * MiB, RW, false, false)!;
      L.touch(p, v.start, v.end, true);
      maps.push(v);
    }
    for (let i = 0; i < 8; i += 2) L.munmap(p, maps[i]!.start, maps[i]!.end);
    const keep = maps.filter((_, i) => i % 2 === 1);
    const tokens = keep.map((v) => Array.from(v.pfn).map((pfn) => L.contentOf(pfn)));
    const op = m.reuse.compactOp();
    let steps = 0;
    // Thread 0 compacts; thread 1's mprotect(PROT_MTE) lands while pages are under migration.
    while (steps < 40 && !op.step()) steps++;
    for (const v of keep) L.mprotect(p, v.start, v.end, RW | VM_MTE);
    while (!op.step()) steps++;
    expect(op.result!.migrated).toBeGreaterThan(0);
    // Then thread 1 touches and tags everything.
    for (const v of keep) {
      expect(L.touch(p, v.start, v.end, false).result).toBe(0);
      L.settag(p, v.start, v.start + 16, 6);
    }
    keep.forEach((v, k) => {
      expect(Array.from(v.pfn).map((pfn) => L.contentOf(pfn))).toEqual(tokens[k]);
      expect(L.tagAt(p, v.start)).toBe(6);
    });
    const inv = checkInvariants(L);
    if (bad === 0) expect(inv).toEqual([]);
    else expect(inv.join('\n')).toMatch(/mapped tagged without PG_tag_storage_reserved/);
  });
});
