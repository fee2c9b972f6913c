/**
 * The migration primitives work on the per-page words when they have them: the rmap (isMovable, unmap, remap)
 * on the port's words (MmPort.words), copy_highpage on the migrator's memmap (MigrateMm.memmap). Without them
 * they go through the port's and the MigrateMm's accessors. Both must leave exactly the same machine: the
 * same memmap words, PTEs, tags, tags_by_pfn, corruption reports and counters, whatever the migration meets
 * (tagged and untagged sources, pages shared after fork, destinations without tag storage with fix.pfn_tags
 * on and off, stepped migrations).
 */
import type { PageAllocator } from '../../src/mm/page_alloc.js';
import { GFP_HIGHUSER_MOVABLE } from '../../src/mm/gfp.js';
import { MigrateReason, Migrator, type MigrateMm } from '../../src/mm/migrate.js';
import type { ProcessLayer } from '../../src/process/layer.js';
import { forkProcess } from '../../src/process/fork.js';
import { VM_MTE, VM_READ, VM_WRITE, type Vma } from '../../src/process/mm.js';
import { makeTestbed } from '../../src/sim/testbed.js';

const MiB = 1024 * 1024;
const RW = VM_READ | VM_WRITE;

interface World {
  alloc: PageAllocator;
  layer: ProcessLayer;
  /** Migrators over the machine's MigrateMm: with fix.pfn_tags on and off. */
  migrator: Migrator;
  migratorNoFix: Migrator;
}

/** 64 MiB of tagged memory with its tag storage; `words` false hides the per-page words from rmap and migrate. */
function world(words: boolean): World {
  // The rmap reads port.words when the layer builds it.
  const { alloc, layer, reuse } = makeTestbed({
    dataMiB: 64,
    dma: false,
    beforeLayer: (port) => {
      if (!words) Object.defineProperty(port, 'words', { value: undefined });
    },
  });
  const base = reuse.migrator;
  // The machine's MigrateMm, with or without its memmap.
  const mm: MigrateMm = words
    ? base.mm
    : (new Proxy(base.mm, {
        get: (t, k): unknown => {
          if (k === 'memmap') return undefined;
          const v = Reflect.get(t, k) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      }) as MigrateMm);
  const migrator = new Migrator(mm, base.rmap, base.tags, base.swapTags, { pfnTags: true });
  const migratorNoFix = new Migrator(mm, base.rmap, base.tags, base.swapTags, { pfnTags: false });
  return { alloc, layer, migrator, migratorNoFix };
}

/** Everything a migration can change. */
function state(w: World, vmas: Vma[]): unknown {
  const tags = w.layer.tags;
  const pages: number[] = [];
  for (const v of vmas) for (let i = 0; i < v.pages; i++) pages.push(v.pfn[i]!);
  return {
    memmap: Buffer.from(w.alloc.memmap.u32.buffer).toString('base64'),
    ptes: vmas.map((v) => [Array.from(v.pfn), Array.from(v.pte), Array.from(v.token)]),
    tags: pages.map((p) => Array.from(tags.save(p))),
    tagsByPfn: [...tags.tagsByPfn]
      .map(([p, t]) => [p, Array.from(t)])
      .sort((a, b) => (a[0] as number) - (b[0] as number)),
    corruptions: tags.corruptions,
    events: Array.from({ length: 200 }, (_, i) => w.alloc.events.get(i)),
  };
}

function scenario(words: boolean): { results: number[][]; end: unknown } {
  const w = world(words);
  const L = w.layer;
  const p = L.createProcess('p');
  const tagged = L.mmap(p, 'mte', 2 * MiB, RW | VM_MTE, false, false)!;
  const plain = L.mmap(p, 'plain', MiB, RW, false, false)!;
  L.touch(p, tagged.start, tagged.end, true);
  L.touch(p, plain.start, plain.end, true);
  for (let i = 0; i < 64; i++) L.settag(p, tagged.start + i * 4096, tagged.start + i * 4096 + 64 * (i + 1), i & 15);
  // Pages shared with a child after fork: remap has more than one slot to move.
  const child = forkProcess(L, p, 'c').child!;
  const results: number[][] = [];
  const mig = (m: Migrator, pfn: number): void => {
    const r = m.migratePage(pfn, MigrateReason.MR_SYSCALL);
    results.push([r.rc, r.dst]);
  };
  for (let i = 0; i < tagged.pages; i += 3) mig(w.migrator, tagged.pfn[i]!);
  for (let i = 1; i < plain.pages; i += 5) mig(w.migrator, plain.pfn[i]!);
  // The child writes some pages (copy-on-write), then some pages move stepwise.
  L.touch(child, tagged.start, tagged.start + 16 * 4096, true);
  for (let i = 1; i < tagged.pages; i += 7) {
    const op = w.migrator.begin(tagged.pfn[i]!, MigrateReason.MR_SYSCALL);
    while (!op.step());
    results.push([op.rc, op.dst]);
  }
  // copy_highpage onto destinations without tag storage: tags_by_pfn with fix.pfn_tags, corruption without.
  for (let i = 2; i < 40; i += 4) {
    const m = i % 8 === 2 ? w.migrator : w.migratorNoFix;
    const dst = w.alloc.allocPages(0, GFP_HIGHUSER_MOVABLE);
    m.copyHighpage(dst, tagged.pfn[i]!);
    results.push([dst]);
  }
  L.munmap(p, plain.start, plain.end);
  return { results, end: state(w, [tagged, ...child.mm.vmas]) };
}

describe('migration on the per-page words', () => {
  it('leaves the same machine as the accessor path', () => {
    const a = scenario(true);
    const b = scenario(false);
    expect(a.results.length).toBeGreaterThan(300);
    expect(a.results.filter((r) => r.length === 2 && r[0] === 0).length).toBeGreaterThan(200);
    expect(a.results).toEqual(b.results);
    expect(a.end).toEqual(b.end);
  });
});
