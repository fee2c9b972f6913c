import { arm64ZoneLimits, computeZones, fls64, maxZonePhys } from '../../src/boot/zones.js';

const GiB = 2 ** 30;

describe('max_zone_phys (arch/arm64/mm/init.c)', () => {
  test('DRAM at 2 GiB: 32-bit zones end at 4 GiB', () => {
    expect(maxZonePhys(32, 2 * GiB, 36 * GiB)).toBe(4 * GiB);
  });
  test('DRAM starting above 4 GiB: the zone covers all of memory', () => {
    expect(maxZonePhys(32, 34 * GiB, 36 * GiB)).toBe(36 * GiB);
  });
  test('DRAM smaller than the zone: the zone ends with DRAM', () => {
    expect(maxZonePhys(32, 2 * GiB, 3 * GiB)).toBe(3 * GiB);
  });
  test('DRAM starting above a 30-bit zone mask: limit moves to 4 GiB', () => {
    expect(maxZonePhys(30, 2 * GiB, 8 * GiB)).toBe(4 * GiB);
  });
  test('zone_dma_bits from dma-ranges', () => {
    expect(arm64ZoneLimits(0, 8 * GiB, 12, 0x3fffffff).zoneDmaBits).toBe(30);
    expect(arm64ZoneLimits(0, 8 * GiB, 12).zoneDmaBits).toBe(32);
    expect(fls64(0x3fffffff)).toBe(30);
    expect(fls64(2 ** 40)).toBe(41);
  });
});

test('computeZones: spans, present pages and the early managed estimate', () => {
  const ps = 4096;
  const ranges = [
    { start: 0x80000, end: 0xfc000, nid: 0 },
    { start: 0x880000, end: 0x8fc000, nid: 0 },
  ];
  const lim = arm64ZoneLimits(0x80000000, 0x8fc000000, 12);
  const z = computeZones(ranges, lim.maxZonePfn, ps, lim);
  const [dma, dma32, normal] = z.nodes[0]!.zones;
  // The zone spans to its arch limit (4 GiB) inside the node; a small hole is charged memmap for the span.
  expect(dma).toMatchObject({ startPfn: 0x80000, spannedPages: 0x80000, presentPages: 0x7c000 });
  expect(dma!.managedEstimate).toBe(0x7c000 - (0x80000 * 64) / ps);
  expect(dma32!.spannedPages).toBe(0);
  expect(normal).toMatchObject({ startPfn: 0x100000, spannedPages: 0x8fc000 - 0x100000, presentPages: 0x7c000 });
  // A zone with large holes charges memmap for its present pages only (calc_memmap_size).
  expect(normal!.managedEstimate).toBe(0x7c000 - (0x7c000 * 64) / ps);
});
