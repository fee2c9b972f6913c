/**
 * Acceptance 3 (issue #5): race 2 of the v1 cover letter (kernel-facts §6.2–6.3) — swap-in restoring tags into a
 * page without tag storage. A page is swapped out tagged, its VMA loses PROT_MTE, and the swap-in allocates an
 * untagged page (no tag storage). With `fix.pfn_tags=off` the saved tags are restored unconditionally into the
 * page's tag storage location, which is not reserved for tags: SPEC §5 invariant 6 reports it under --check.
 * With the fix, the tags wait in tags_by_pfn and come back when the page is mapped tagged with tag storage.
 */
import { freeMiB, runSmall } from './machine.js';

const prologue = (fix: 'on' | 'off'): string => `
config swap=16M fix.pfn_tags=${fix}
process app
app: mmap buf 4K prot=rw+mte
app: touch buf
app: settag buf 0..4K 9
app: pageout buf
app: mprotect buf prot=rw
expect app:buf swapped == 1
`;

/** The race of scenarios/11-race-swapin-tags.scn on the small machine. */
const raceBlock = `
race {
  thread A { app: touch buf read }
  thread B {
    app: mprotect buf prot=rw+mte
    app: access buf 0..16 tag=9
  }
}
expect app:buf tag(0..4K) == 9
`;

/** Schedules are seeded; this seed runs thread A's swap-in before thread B's mprotect (checked below). */
const SEED_A_FIRST = 7;
/** This one runs thread B's mprotect first: the swap-in then allocates a tagged page, safe either way. */
const SEED_B_FIRST = 1;

describe('race 2: swap-in restoring tags into a page without tag storage', () => {
  test('fixed order, fix.pfn_tags=off: the restore writes into unreserved tag storage (violation)', async () => {
    const r = await runSmall(`${prologue('off')}app: touch buf read\n`);
    expect(r.stopped).toBe(true);
    expect(
      r.violations.some((m) => /^tag corruption: tags of pfn 0x[0-9a-f]+ written into tag storage page/.test(m)),
    ).toBe(true);
    const v = r.events.find((e) => e.kind === 'violation');
    expect(v?.kind === 'violation' && v.pos).toBe('swap-test.scn:10:1');
  });

  test('fixed order, fix.pfn_tags=on: parked in tags_by_pfn, restored once mapped tagged', async () => {
    const r = await runSmall(`${prologue('on')}app: touch buf read
app: mprotect buf prot=rw+mte
app: access buf 0..16 tag=9
app: access buf 4080..4K tag=9
expect app:buf tag(0..4K) == 9
`);
    expect(r.violations).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.notes).toEqual([]);
    expect(r.m.layer.tags.tagsByPfn.size).toBe(0);
    expect(r.m.layer.tags.corruptions).toEqual([]);
  });

  test('the race block with a fixed schedule: violation with the fix off, clean with it on', async () => {
    const off = await runSmall(prologue('off') + raceBlock, { seed: SEED_A_FIRST });
    expect(off.stopped).toBe(true);
    expect(off.violations.some((m) => m.startsWith('tag corruption:'))).toBe(true);
    const on = await runSmall(prologue('on') + raceBlock, { seed: SEED_A_FIRST });
    expect(on.violations).toEqual([]);
    expect(on.failed).toEqual([]);
    expect(on.notes).toEqual([]);
  });

  test('the other order is safe even without the fix (the swap-in page is allocated tagged, v1 P23)', async () => {
    const off = await runSmall(prologue('off') + raceBlock, { seed: SEED_B_FIRST });
    expect(off.violations).toEqual([]);
    expect(off.failed).toEqual([]);
  });

  test('with tag storage full of data, the stray restore corrupts a process page (invariant 5 too)', async () => {
    // filler's b exhausts ordinary memory and then takes every METADATA page (the last resort, §3.2); freeing a
    // leaves free ordinary pages whose tag storage holds b's data, and the swap-in gets one of them.
    const free = await freeMiB();
    const a = Math.floor(free * 0.4);
    const b = free - a - 3;
    const text = (fix: 'on' | 'off'): string => `
config swap=1M fix.pfn_tags=${fix} min_free_kbytes=1024
${prologue(fix).replace(/^config .*$/m, '')}
process filler
filler: mmap a ${a}M
filler: touch a
filler: mmap b ${b}M
filler: touch b
expect meminfo.MetadataFree == 0
filler: munmap a
app: touch buf read
app: mprotect buf prot=rw+mte
app: access buf 0..16 tag=9
`;
    const off = await runSmall(text('off'));
    expect(off.failed).toEqual([]);
    expect(off.m.layer.tags.corruptions.length).toBe(1);
    expect(off.violations.some((m) => m.startsWith('tag corruption:'))).toBe(true);
    expect(
      off.violations.some((m) => /^data: filler\[\d+\] b 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ holds token/.test(m)),
    ).toBe(true);
    const on = await runSmall(text('on'));
    expect(on.violations).toEqual([]);
    expect(on.failed).toEqual([]);
    expect(on.notes).toEqual([]);
  });
});
