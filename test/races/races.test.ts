/**
 * The cover letter's three races (kernel-facts §6.3; SPEC §4 fix switches, §5 invariants 3, 5, 6), each from
 * its scenario in scenarios/, with the race schedule fixed: with its fix off the racy schedule ends in the
 * violation `--check` reports, with the fix on it ends clean; with the fix off, schedules that do not race
 * (one thread entirely before the other) are clean too, so the violation is the race's.
 */
import { describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { checkInvariants } from '../../src/invariants/check.js';
import { MIGRATE_METADATA } from '../../src/mm/zone.js';
import { PageFlag } from '../../src/process/port.js';
import { runScenario, runScenarioText, scenarioText, SCENARIOS, violationText, type RunOutcome } from './harness.js';

const A = 0;
const B = 1;
/** One step of thread A (the migration allocates its destination, untagged), then thread B to its end. */
const RACY = [A, B, B, B, B, B, B, B, B, B, B, B];
/** Thread A to its end, then thread B. */
const A_FIRST: number[] = [];
/** Thread B to its end, then thread A. */
const B_FIRST = [B, B, B, B, B, B, B, B, B, B, B, B];

const RACE1 = '10-race-migrate-mprotect.scn';
const RACE2 = '11-race-swapin-tags.scn';
const RACE3 = '12-race-copy-highpage.scn';

function expectClean(r: RunOutcome): void {
  expect(violationText(r)).toBe('');
  expect(r.failedExpects).toEqual([]);
  expect(r.code).toBe(0);
}

/** The pfn mapped at the first page of `proc:vma`. */
function pfnOf(r: RunOutcome, proc: string, vma: string): number {
  const p = r.layer.processes.get(proc)!;
  const v = p.mm.findVma(p.named.get(vma)!.start)!;
  return v.pfn[0]!;
}

describe('race 1: migration vs mprotect(PROT_MTE) (fix.metadata_none)', () => {
  test('fix off, racy schedule: the destination is mapped tagged without tag storage (invariant 3)', async () => {
    const r = await runScenario(RACE1, { schedule: RACY, config: { 'fix.metadata_none': 'off' } });
    expect(r.code).toBe(1);
    expect(r.violations).toHaveLength(1);
    // Reported at the migrate statement of thread A, when its remap step maps the destination.
    expect(r.violations[0]!.pos).toMatch(/10-race-migrate-mprotect\.scn:27:5$/);
    expect(violationText(r)).toMatch(
      /tag storage: app\[\d+\] buf 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ is mapped tagged without PG_tag_storage_reserved/,
    );
    expect(r.ran.slice(0, 3)).toEqual([A, B, B]);
    // The page it names is the migration's destination, in ZONE_DMA, with no tag storage.
    const dst = pfnOf(r, 'app', 'buf');
    expect(violationText(r)).toContain(`pfn 0x${dst.toString(16)} is mapped tagged`);
    expect(r.machine.parts.alloc.zoneForPfn(dst)!.name).toBe('DMA');
    expect(r.layer.port.testFlag(dst, PageFlag.TagStorageReserved)).toBe(false);
  });

  test('fix on, racy schedule: the destination is mapped METADATA_NONE, the access restores the tags', async () => {
    const r = await runScenario(RACE1, { schedule: RACY });
    expectClean(r);
    expect(r.ran.slice(0, 3)).toEqual([A, B, B]);
    const dst = pfnOf(r, 'app', 'buf');
    expect(r.layer.port.testFlag(dst, PageFlag.TagStorageReserved)).toBe(true);
    expect(r.layer.tags.tagsByPfn.size).toBe(0);
  });

  test.each([
    ['A first', A_FIRST],
    ['B first', B_FIRST],
  ])('fix off, %s (no race): clean', async (_name, schedule) => {
    const r = await runScenario(RACE1, { schedule, config: { 'fix.metadata_none': 'off' } });
    expectClean(r);
  });
});

describe('race 2: swap-in restoring tags into a page without tag storage (fix.pfn_tags)', () => {
  test('fix off, racy schedule: tags written over the data in tag storage (invariants 6 and 5)', async () => {
    const r = await runScenario(RACE2, { schedule: RACY, config: { 'fix.pfn_tags': 'off' } });
    expect(r.code).toBe(1);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]!.pos).toMatch(/11-race-swapin-tags\.scn:\d+:14$/);
    const text = violationText(r);
    expect(text).toMatch(
      /tag corruption: tags of pfn 0x[0-9a-f]+ written into tag storage page 0x[0-9a-f]+, which is not reserved for tags/,
    );
    expect(text).toMatch(
      /data: filler\[\d+\] spill 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ holds token \d+, the process wrote \d+/,
    );
    // The corrupted page is tag storage (METADATA) holding the filler's data.
    const tagPfn = Number(/written into tag storage page (0x[0-9a-f]+)/.exec(text)![1]);
    expect(r.machine.parts.alloc.pageblockMigratetype(tagPfn)).toBe(MIGRATE_METADATA);
    expect(text).toContain(`pfn 0x${tagPfn.toString(16)} holds token`);
  });

  test('fix on, racy schedule: the tags wait in tags_by_pfn and come back; clean', async () => {
    const r = await runScenario(RACE2, { schedule: RACY });
    expectClean(r);
    expect(r.layer.tags.tagsByPfn.size).toBe(0);
    expect(r.layer.tags.corruptions).toEqual([]);
  });

  test('fix off, B first (the page is swapped in tagged): clean', async () => {
    const r = await runScenario(RACE2, { schedule: B_FIRST, config: { 'fix.pfn_tags': 'off' } });
    expectClean(r);
  });
});

describe('race 3: copy_highpage into a page without tag storage (fix.pfn_tags)', () => {
  test('fix off, racy schedule: the copy writes the tags over the filler data (invariants 6 and 5)', async () => {
    const r = await runScenario(RACE3, { schedule: RACY, config: { 'fix.pfn_tags': 'off' } });
    expect(r.code).toBe(1);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]!.pos).toMatch(/12-race-copy-highpage\.scn:\d+:14$/);
    const text = violationText(r);
    expect(text).toMatch(
      /tag corruption: tags of pfn 0x[0-9a-f]+ written into tag storage page 0x[0-9a-f]+, which is not reserved for tags/,
    );
    expect(text).toMatch(/data: filler\[\d+\] spill .* holds token \d+, the process wrote \d+/);
    expect(r.ran.slice(0, 3)).toEqual([A, B, B]);
    // Stopped at A's copy step: the destination is not mapped yet, nothing is mapped tagged without storage.
    expect(text).not.toMatch(/mapped tagged without PG_tag_storage_reserved/);
  });

  test('fix on, racy schedule: tags parked by pfn, restored at the access; clean', async () => {
    const r = await runScenario(RACE3, { schedule: RACY });
    expectClean(r);
    expect(r.layer.tags.tagsByPfn.size).toBe(0);
    expect(r.layer.tags.corruptions).toEqual([]);
  });

  test.each([
    ['A first', A_FIRST],
    ['B first', B_FIRST],
  ])('fix off, %s (no race): clean', async (_name, schedule) => {
    const r = await runScenario(RACE3, { schedule, config: { 'fix.pfn_tags': 'off' } });
    expectClean(r);
  });
});

describe('what the invariants show about v1 beyond the three races', () => {
  test('tags parked by the race-3 fix are lost if the page migrates again before its next access (invariant 5)', async () => {
    // v1: copy_highpage copies tags only from a PG_mte_tagged source (§6.2) and freeing the source erases its
    // tags_by_pfn entry, so tags still parked for the first destination do not follow it to the second.
    const text = scenarioText(RACE3).replace(
      /^app: access buf 0\.\.4K tag=12.*$/m,
      'app: migrate buf to=Normal\napp: access buf 0..4K tag=12',
    );
    expect(text).toContain('app: migrate buf to=Normal');
    const r = await runScenarioText(text, path.join(SCENARIOS, RACE3), { schedule: RACY });
    expect(r.code).toBe(1);
    expect(violationText(r)).toMatch(
      /tags: app\[\d+\] buf 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ does not hold the tags the process set \(digest 0x0, expected 0x[0-9a-f]+\)/,
    );
    // The access itself sees the loss: its tag check fails (the page's tags were cleared at set_pte_at).
    expect(r.notes.join('\n')).toMatch(/SEGV_MTESERR/);
    expect(r.layer.tags.corruptions).toEqual([]);
  });

  test('tags changed behind the process are reported; the tags it sets itself are not', async () => {
    const text = [
      'process p',
      'p: mmap buf 8K prot=rw+mte',
      'p: touch buf',
      'p: settag buf 0..4K 7',
      'p: settag buf 4K..8K 9',
      'expect p:buf tag(0..4K) == 7',
    ].join('\n');
    const clean = await runScenarioText(text, 'tags.scn');
    expectClean(clean);
    // The same page with one granule's tag changed under it (as a stray tag write would): reported.
    const L = clean.layer;
    const p = L.processes.get('p')!;
    const v = p.mm.findVma(p.named.get('buf')!.start)!;
    L.tags.setTags(v.pfn[1]!, 3, 4, 4); // granule 3 (granules [3, 4)) gets tag 4
    const msgs = checkInvariants(L);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(
      /^tags: p\[\d+\] buf 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ does not hold the tags the process set/,
    );
    expect(msgs[0]).toContain(`0x${(v.start + 4096).toString(16)}`);
  });
});
