import { MEMBLOCK_NOMAP, Memblock } from '../../src/mm/memblock.js';

const MiB = 1024 * 1024;

function mb(): Memblock {
  const m = new Memblock();
  m.addNode(0x80000000, 1024 * MiB, 0);
  m.addNode(0x880000000, 1024 * MiB, 0);
  return m;
}

describe('memblock', () => {
  test('adjacent compatible regions merge; different nid does not', () => {
    const m = new Memblock();
    m.addNode(0, MiB, 0);
    m.addNode(MiB, MiB, 0);
    m.addNode(2 * MiB, MiB, 1);
    expect(m.memory.regions.map((r) => [r.base, r.size, r.nid])).toEqual([
      [0, 2 * MiB, 0],
      [2 * MiB, MiB, 1],
    ]);
  });

  test('allocRange is top-down, aligned, avoids reserved and NOMAP, honours nid and bounds', () => {
    const m = mb();
    m.reserve(0x880000000 + 1023 * MiB, MiB);
    const a = m.allocRange(2 * MiB, 2 * MiB);
    expect(a).toBe(0x880000000 + 1020 * MiB);
    m.markNomap(0x880000000, 1020 * MiB);
    expect(m.allocRange(MiB, MiB)).toBe(0x880000000 + 1022 * MiB);
    expect(m.allocRange(MiB, MiB)).toBe(0x80000000 + 1023 * MiB);
    expect(m.allocRange(MiB, MiB, 0x80000000, 0x80000000 + 16 * MiB)).toBe(0x80000000 + 15 * MiB);
    expect(m.allocRange(2048 * MiB, MiB)).toBeUndefined();
    expect(m.allocRange(MiB, MiB, 0, Infinity, 7)).toBeUndefined();
  });

  test('free ranges skip reserved and NOMAP', () => {
    const m = mb();
    m.reserve(0x80000000, MiB);
    m.markNomap(0x80000000 + 512 * MiB, 512 * MiB);
    expect(m.memory.regions.some((r) => r.flags & MEMBLOCK_NOMAP)).toBe(true);
    expect(m.freeRanges().map((r) => [r.base, r.end])).toEqual([
      [0x80000000 + MiB, 0x80000000 + 512 * MiB],
      [0x880000000, 0x880000000 + 1024 * MiB],
    ]);
    m.clearNomap(0x80000000 + 512 * MiB, 512 * MiB);
    expect(m.freeRanges()).toHaveLength(2);
    expect(m.memory.regions).toHaveLength(2);
  });

  test('memLimitRemoveMap keeps the first `limit` bytes across holes, and trims reserved too', () => {
    const m = mb();
    m.reserve(0x880000000 + 900 * MiB, MiB);
    m.memLimitRemoveMap(1536 * MiB);
    expect(m.endOfDram()).toBe(0x880000000 + 512 * MiB);
    expect(m.isRegionReserved(0x880000000 + 900 * MiB, MiB)).toBe(false);
    const n = mb();
    n.memLimitRemoveMap(4096 * MiB);
    expect(n.physMemSize()).toBe(2048 * MiB);
  });

  test('remove splits regions', () => {
    const m = mb();
    m.removeMemory(0x80000000 + 256 * MiB, 256 * MiB);
    expect(m.memory.regions.map((r) => r.size / MiB)).toEqual([256, 512, 1024]);
  });
});
