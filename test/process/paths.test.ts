/**
 * The less travelled paths of the process layer on the fake allocator: the set_pte_at net (§5.5), the
 * do_metadata_none_page outcomes (§5.3: replay on ISOLATE, migrate, retry then OOM with pending tags), the rmap
 * migration interface, copy_highpage with and without tag storage (§6.2), partial munmap and exit.
 */
import { describe, expect, test } from '@jest/globals';
import { checkInvariants } from '../../src/invariants/check.js';
import { FaultResult } from '../../src/process/fault.js';
import { ProcessLayer } from '../../src/process/layer.js';
import { VM_MTE, VM_READ, VM_WRITE } from '../../src/process/mm.js';
import { Gfp, PageFlag } from '../../src/process/port.js';
import { PAGE_METADATA_NONE, PTE_TAGGED, PTE_VALID } from '../../src/process/pte.js';
import { KernelLog } from '../../src/sim/log.js';
import { FakePort } from './fake_port.js';

const RW = VM_READ | VM_WRITE;
const K = 1024;

function setup(opts: { fixMetadataNone?: boolean; fixPfnTags?: boolean } = {}) {
  const port = new FakePort();
  const L = new ProcessLayer(port, { log: new KernelLog(), ...opts });
  const p = L.createProcess('a');
  return { port, L, p };
}

/** Migrates pfn the way src/mm/migrate.ts does: destination, unmap, copy, remap, free the source. */
function migrate(L: ProcessLayer, port: FakePort, pfn: number, gfp: number): number {
  const dst = port.allocPages(0, gfp);
  const h = L.rmap.unmap(pfn)!;
  L.copyHighpage(dst, pfn);
  L.rmap.remap(h, dst);
  port.freePages(pfn, 0);
  return dst;
}

describe('rmap migration interface', () => {
  test('unmap/remap moves every mapping, the data token and the tags; invariants hold', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 16 * K, RW | VM_MTE, false, false)!;
    L.touch(p, v.start, v.end, true);
    L.settag(p, v.start, v.start + 64, 9);
    const old = v.pfn[0]!;
    const token = port.getToken(old);
    expect(L.rmap.isMovable(old)).toBe(true);
    expect(L.rmap.pageMapcount(old)).toBe(1);
    const dst = migrate(L, port, old, Gfp.HighuserMovable | Gfp.Tagged);
    expect(v.pfn[0]).toBe(dst);
    expect(port.getToken(dst)).toBe(token);
    expect(L.tagAt(p, v.start + 48)).toBe(9);
    expect(L.tagAt(p, v.start + 64)).toBe(0);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('a fault on a migration entry waits; undo puts the old page back', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 8 * K, RW, false, false)!;
    L.touch(p, v.start, v.end, true);
    const old = v.pfn[1]!;
    const h = L.rmap.unmap(old)!;
    expect(L.rmap.pageMapcount(old)).toBe(1);
    expect(checkInvariants(L)).toEqual([]); // refcount = 1 PTE + the isolation reference
    expect(L.touch(p, v.start + 4096, v.end, false).result).toBe(FaultResult.Stuck); // replays until remap
    L.rmap.undo(h);
    expect(v.pfn[1]).toBe(old);
    expect(v.pte[1]! & PTE_VALID).not.toBe(0);
    expect(port.pageRef(old)).toBe(1);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('munmap while a page is isolated: remap finds nothing, the destination is released', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 8 * K, RW, false, false)!;
    L.touch(p, v.start, v.end, true);
    const old = v.pfn[0]!;
    const h = L.rmap.unmap(old)!;
    L.munmap(p, v.start, v.end);
    const dst = port.allocPages(0, Gfp.HighuserMovable);
    L.rmap.remap(h, dst);
    port.freePages(old, 0);
    expect(port.isFree(dst)).toBe(true);
    L.flush();
    expect(port.get('nr_anon_pages')).toBe(0);
    expect(checkInvariants(L)).toEqual([]);
  });
});

describe('set_pte_at safety net (§5.5)', () => {
  test('a page without tag storage mapped into a VM_MTE VMA becomes PAGE_METADATA_NONE, then is reserved on access', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 8 * K, RW | VM_MTE, false, false)!;
    L.touch(p, v.start, v.end, true);
    // Migrate to a destination allocated without __GFP_TAGGED (as §5.5 step 3 describes).
    const dst = migrate(L, port, v.pfn[0]!, Gfp.HighuserMovable);
    expect(port.testFlag(dst, PageFlag.TagStorageReserved)).toBe(false);
    expect(v.pte[0]).toBe(PAGE_METADATA_NONE | PTE_TAGGED);
    expect(checkInvariants(L)).toEqual([]);
    expect(L.access(p, v.start, v.start + 16, 0).result).toBe(FaultResult.Ok);
    expect(port.testFlag(dst, PageFlag.TagStorageReserved)).toBe(true);
    expect(v.pte[0]! & PTE_VALID).not.toBe(0);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('with fix.metadata_none off the page is mapped tagged without tag storage (invariant 3 breaks)', () => {
    const { port, L, p } = setup({ fixMetadataNone: false });
    const v = L.mmap(p, 'x', 8 * K, RW | VM_MTE, false, false)!;
    L.touch(p, v.start, v.end, true);
    migrate(L, port, v.pfn[0]!, Gfp.HighuserMovable);
    expect(v.pte[0]! & PTE_VALID).not.toBe(0);
    expect(checkInvariants(L).some((m) => m.includes('without PG_tag_storage_reserved'))).toBe(true);
  });
});

describe('do_metadata_none_page (§5.3)', () => {
  function mdnone(opts: { fixPfnTags?: boolean } = {}) {
    const s = setup(opts);
    // Pages 1..31 share the zero page's (reserved) tag block: use a page past them.
    const pad = s.L.mmap(s.p, 'pad', 128 * K, RW, false, false)!;
    s.L.touch(s.p, pad.start, pad.end, true);
    const v = s.L.mmap(s.p, 'x', 4 * K, RW, false, false)!;
    s.L.touch(s.p, v.start, v.end, true);
    s.L.mprotect(s.p, v.start, v.end, RW | VM_MTE);
    expect(v.pte[0]).toBe(PAGE_METADATA_NONE | PTE_TAGGED);
    return { ...s, v };
  }

  test('a page in an isolated pageblock replays the fault until isolation ends', () => {
    const { port, L, p, v } = mdnone();
    port.isolated.add(v.pfn[0]!);
    const r = L.touch(p, v.start, v.end, false);
    expect(r.result).toBe(FaultResult.Stuck);
    expect(r.why).toMatch(/makes no progress \(replayed 64 times\)/);
    port.isolated.clear();
    expect(L.touch(p, v.start, v.end, false).result).toBe(FaultResult.Ok);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('reservation failure migrates the page through the hooks, then the fault maps the new page', () => {
    const { port, L, p, v } = mdnone();
    const old = v.pfn[0]!;
    // Make the block of `old` unreservable: its tag page holds someone's data.
    const tp = port.tagPageOf(old);
    port.free.splice(port.free.indexOf(tp), 1);
    port.freeSet.delete(tp);
    const migrated: number[] = [];
    L.setMigrationHooks({
      migrateMetadataNonePage: (pfn) => {
        migrated.push(pfn);
        migrate(L, port, pfn, Gfp.HighuserMovable | Gfp.Tagged);
        return true;
      },
    });
    expect(L.touch(p, v.start, v.end, false).result).toBe(FaultResult.Ok);
    expect(migrated).toEqual([old]);
    expect(v.pfn[0]).not.toBe(old);
    expect(v.pte[0]! & PTE_VALID).not.toBe(0);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('without migration the failure is reported as not modelled', () => {
    const { port, L, p, v } = mdnone();
    const tp = port.tagPageOf(v.pfn[0]!);
    port.free.splice(port.free.indexOf(tp), 1);
    port.freeSet.delete(tp);
    const r = L.touch(p, v.start, v.end, false);
    expect(r.result).toBe(FaultResult.NotModelled);
    expect(r.why).toMatch(/do_migrate\) is not modelled yet/);
  });

  test('pending saved tags and no tag storage: retry once, then VM_FAULT_OOM', () => {
    const { port, L, p, v } = mdnone();
    const pfn = v.pfn[0]!;
    const tp = port.tagPageOf(pfn);
    port.free.splice(port.free.indexOf(tp), 1);
    port.freeSet.delete(tp);
    L.tags.tagsByPfn.set(pfn, new Uint8Array(128));
    expect(L.touch(p, v.start, v.end, false).result).toBe(FaultResult.Oom);
  });
});

describe('copy_highpage and tags_by_pfn (§6.2)', () => {
  test('fix.pfn_tags on: tags wait in tags_by_pfn and come back when the page is mapped tagged', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 4 * K, RW | VM_MTE, false, false)!;
    L.touch(p, v.start, v.end, true);
    L.settag(p, v.start, v.end, 6);
    const dst = migrate(L, port, v.pfn[0]!, Gfp.HighuserMovable);
    expect(L.tags.tagsByPfn.has(dst)).toBe(true);
    expect(L.tags.corruptions).toEqual([]);
    expect(L.access(p, v.start, v.end, 6).result).toBe(FaultResult.Ok);
    expect(L.tags.tagsByPfn.has(dst)).toBe(false);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('fix.pfn_tags off: the tags are written into tag storage that is not reserved (invariant 6)', () => {
    const { port, L, p } = setup({ fixPfnTags: false });
    const v = L.mmap(p, 'x', 4 * K, RW | VM_MTE, false, false)!;
    L.touch(p, v.start, v.end, true);
    L.settag(p, v.start, v.end, 6);
    migrate(L, port, v.pfn[0]!, Gfp.HighuserMovable);
    expect(L.tags.corruptions.length).toBe(1);
    expect(checkInvariants(L).some((m) => m.startsWith('tag corruption'))).toBe(true);
  });
});

describe('munmap and exit', () => {
  test('partial munmap keeps the rest mapped and frees only unused page tables', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 4 * 1024 * K, RW, false, false)!;
    L.touch(p, v.start, v.end, true);
    L.flush();
    const tables = port.get('nr_page_table_pages');
    L.munmap(p, v.start, v.start + 2048 * K);
    expect(p.mm.vmas.length).toBe(1);
    expect(port.get('nr_anon_pages')).toBe(512);
    expect(port.get('nr_page_table_pages')).toBeLessThanOrEqual(tables);
    expect(checkInvariants(L)).toEqual([]);
    L.exit(p);
    expect(port.get('nr_anon_pages')).toBe(0);
    expect(port.get('nr_page_table_pages')).toBe(0);
    expect(port.free.length + 2).toBe(port.pages); // all but the zero page and its tag page
  });
});

describe('invariants catch what they are for', () => {
  test('a reserved tag block that holds process data (3), a wrong map count (2), a lost write (5)', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 16 * K, RW, false, false)!;
    L.touch(p, v.start, v.end, true);
    expect(checkInvariants(L)).toEqual([]);
    port.blockRef.set(v.pfn[0]!, 1); // pretend the page is a reserved tag block
    expect(checkInvariants(L).some((m) => m.includes('holds process data'))).toBe(true);
    port.blockRef.delete(v.pfn[0]!);
    port.setPageRef(v.pfn[1]!, 2);
    expect(checkInvariants(L).some((m) => m.startsWith('map count: pfn'))).toBe(true);
    port.setPageRef(v.pfn[1]!, 1);
    port.setToken(v.pfn[2]!, 12345);
    expect(checkInvariants(L).some((m) => m.startsWith('data: a[1000] x'))).toBe(true);
  });
});
