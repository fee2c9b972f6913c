/**
 * tags_by_swp_entry as a typed table (src/arch/arm64/mteswap.ts SwpEntryTags): stores copy the caller's bytes,
 * loads copy them out, erase and the area invalidation leave the other entries alone, across chunk boundaries.
 */
import { MteSwapTags, SwpEntryTags } from '../../src/arch/arm64/mteswap.js';

const buf = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i) & 0xff);

describe('SwpEntryTags', () => {
  test('store copies, load and peek return the bytes, erase forgets them', () => {
    const t = new SwpEntryTags(128);
    const a = buf(128, 1);
    t.store(5, a);
    a.fill(0); // the table keeps its own copy (the kernel's kmalloc'ed buffer)
    expect(t.size).toBe(1);
    expect(t.has(5)).toBe(true);
    expect(t.has(4)).toBe(false);
    expect([...t.load(5)!]).toEqual([...buf(128, 1)]);
    const loaded = t.load(5)!;
    loaded.fill(9);
    expect([...t.peek(5)!]).toEqual([...buf(128, 1)]);
    expect(t.load(6)).toBeUndefined();
    expect(t.peek(6)).toBeUndefined();
    t.store(5, buf(128, 2)); // replaces: still one entry
    expect(t.size).toBe(1);
    expect([...t.load(5)!]).toEqual([...buf(128, 2)]);
    expect(t.erase(5)).toBe(true);
    expect(t.erase(5)).toBe(false);
    expect(t.size).toBe(0);
    expect(t.has(5)).toBe(false);
  });

  test('entries in several chunks, keys ascending, clear', () => {
    const t = new SwpEntryTags(128);
    const keys = [70000, 1, 1023, 1024, 1025, 4096];
    keys.forEach((k, i) => t.store(k, buf(128, i + 10)));
    expect(t.keys()).toEqual([...keys].sort((a, b) => a - b));
    keys.forEach((k, i) => expect([...t.peek(k)!]).toEqual([...buf(128, i + 10)]));
    expect(t.has(1022)).toBe(false);
    expect(t.has(-1)).toBe(false);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.keys()).toEqual([]);
    expect(t.has(1024)).toBe(false);
  });

  test('a tag size that is not a multiple of 4 bytes, and bad input', () => {
    const t = new SwpEntryTags(6);
    t.store(3, Uint8Array.of(1, 2, 3, 4, 5, 6));
    expect([...t.peek(3)!]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => t.store(4, new Uint8Array(5))).toThrow(RangeError);
    expect(() => t.store(-1, new Uint8Array(6))).toThrow(RangeError);
    expect(() => t.store(1.5, new Uint8Array(6))).toThrow(RangeError);
  });

  test('MteSwapTags: save by entry, invalidate one, invalidate an area (both walks)', () => {
    const m = new MteSwapTags(128);
    for (let e = 1; e <= 40; e++) m.savePageTagsBySwpEntry(e, buf(128, e));
    expect(() => m.savePageTagsBySwpEntry(41, new Uint8Array(64))).toThrow(RangeError);
    expect([...m.loadPageTagsBySwpEntry(7)!]).toEqual([...buf(128, 7)]);
    expect(m.invalidateTags(7)).toBe(true);
    expect(m.invalidateTags(7)).toBe(false);
    expect(m.invalidateTagsArea(1, 10)).toBe(9); // 1..10 without 7 (range walk)
    expect(m.invalidateTagsArea(0, 1000)).toBe(30); // 11..40 (store walk: the area is larger than the store)
    expect(m.tagsBySwpEntry.size).toBe(0);
  });
});
