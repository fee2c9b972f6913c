/**
 * TagStore.copy (mte_copy_page_tags, the tag half of copy_highpage §6.2) against a plain model of per-page
 * tag bytes and against its definition, restore(dst, save(src)): the same tag bytes, the same tag pages
 * created and the same corruption reports (§6.3), whatever the order of copies, tag writes and clears (the
 * store keeps a two-entry cache of tag pages, present or absent, and copy() moves 32-bit words).
 */
import { FakePort } from '../process/fake_port.js';
import { PageFlag } from '../../src/process/port.js';
import { TagStore } from '../../src/process/tags.js';
import { Rng } from '../../src/scenario/runtime.js';

/** The scenario runtime's seeded PRNG (mulberry32), as a function. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

interface Side {
  port: FakePort;
  store: TagStore;
  corrupted: number[];
}

function side(): Side {
  const port = new FakePort();
  const corrupted: number[] = [];
  return { port, store: new TagStore(port, (tp) => corrupted.push(tp)), corrupted };
}

/** Every tag byte of pfn, as save() reads it. */
function bytes(s: Side, pfn: number): number[] {
  return Array.from(s.store.save(pfn));
}

function tagPageCount(s: Side): number {
  return (s.store as unknown as { tagPages: Map<number, Uint8Array> }).tagPages.size;
}

describe('TagStore.copy', () => {
  test('equals restore(dst, save(src)) over random copies, tag writes and clears', () => {
    const a = side(); // copy()
    const b = side(); // restore(save())
    const base = a.port.base;
    // Data pages of four tag pages (0..127), a few tag storage pages (hidden carve-out, no tag page of their
    // own), so that copies go within a tag page, across tag pages and through the hidden path.
    const pages: number[] = [];
    for (let i = 0; i < 128; i++) pages.push(base + i);
    for (let i = 0; i < 6; i++) pages.push(a.port.tagStart + i);
    // The model: 128 tag bytes per page (two 4-bit tags each, even granule in the low nibble), zero at first.
    const model = new Map<number, Uint8Array>();
    const modelOf = (p: number): Uint8Array => {
      let m = model.get(p);
      if (m === undefined) model.set(p, (m = new Uint8Array(128)));
      return m;
    };
    const next = rng(5);
    const pick = (): number => pages[Math.floor(next() * pages.length)]!;
    for (let step = 0; step < 4000; step++) {
      const r = next();
      const p = pick();
      if (r < 0.15) {
        const g0 = Math.floor(next() * 256);
        const g1 = g0 + 1 + Math.floor(next() * (256 - g0));
        const tag = Math.floor(next() * 16);
        a.store.setTags(p, g0, g1, tag);
        b.store.setTags(p, g0, g1, tag);
        const m = modelOf(p);
        for (let g = g0; g < g1; g++) {
          const i = g >> 1;
          m[i] = (g & 1) === 0 ? (m[i]! & 0xf0) | tag : (m[i]! & 0x0f) | (tag << 4);
        }
        // Read back at once: the page may have been cached as absent just before.
        expect(a.store.getTag(p, g0)).toBe(tag);
      } else if (r < 0.2) {
        a.store.clear(p);
        b.store.clear(p);
        modelOf(p).fill(0);
      } else if (r < 0.25) {
        // PG_tag_storage_reserved comes and goes: a copy into unreserved storage is reported (§6.3).
        const on = next() < 0.5;
        for (const s of [a, b]) {
          if (on) s.port.setFlag(p, PageFlag.TagStorageReserved);
          else s.port.clearFlag(p, PageFlag.TagStorageReserved);
        }
      } else {
        const q = pick();
        a.store.copy(q, p);
        b.store.restore(q, b.store.save(p));
        modelOf(q).set(modelOf(p));
        expect(bytes(a, q)).toEqual(Array.from(modelOf(q)));
        expect(bytes(b, q)).toEqual(Array.from(modelOf(q)));
      }
      if (step % 97 === 0) a.port.enabled = b.port.enabled = next() < 0.8;
    }
    for (const p of pages) expect(bytes(a, p)).toEqual(Array.from(modelOf(p)));
    expect(a.store.corruptions).toEqual(b.store.corruptions);
    expect(a.corrupted).toEqual(b.corrupted);
    expect(tagPageCount(a)).toBe(tagPageCount(b));
  });

  test('a tag page first seen absent is found once written', () => {
    const s = side();
    const base = s.port.base;
    const src = base + 40; // tag page 1
    const dst = base + 70; // tag page 2
    s.store.copy(dst, src); // both absent: nothing created
    expect(tagPageCount(s)).toBe(0);
    s.store.setTags(src, 0, 256, 7); // creates tag page 1 while the cache remembers it absent
    s.store.copy(dst, src);
    expect(s.store.getTag(dst, 0)).toBe(7);
    expect(s.store.getTag(dst, 255)).toBe(7);
    expect(tagPageCount(s)).toBe(2);
    // The most recent look-up (the cache's first entry) absent, then written.
    const other = base + 100; // tag page 3
    expect(s.store.getTag(other, 5)).toBe(0);
    s.store.setTags(other, 4, 6, 11);
    expect(s.store.getTag(other, 5)).toBe(11);
    expect(s.store.getTag(src, 5)).toBe(7);
    // A source with no tags zeroes a destination that has some.
    s.store.copy(dst, base + 101);
    expect(s.store.getTag(dst, 3)).toBe(0);
  });
});
