import { buildIomem, formatIomem } from '../../src/proc/iomem.js';
import { MEMBLOCK_NOMAP } from '../../src/mm/memblock.js';

test('System RAM with kernel code/data and reserved gaps; NOMAP as top-level reserved', () => {
  const res = buildIomem({
    memory: [
      { base: 0x80000000, size: 0x10000000, flags: 0 },
      { base: 0x90000000, size: 0x100000, flags: MEMBLOCK_NOMAP },
      { base: 0x90100000, size: 0x1000_0000 - 0x100000, flags: 0 },
    ],
    reserved: [
      { base: 0x80000000, size: 0x800 }, // widened to a whole page
      { base: 0x80200000, size: 0x400000 }, // covers the whole kernel: only its gaps become "reserved"
      { base: 0x9ff00000, size: 0x100000 },
    ],
    kernelCode: { start: 0x80210000, end: 0x80300000 },
    kernelData: { start: 0x80400000, end: 0x80600000 },
    pageSize: 4096,
  });
  expect(formatIomem(res)).toBe(
    [
      '80000000-8fffffff : System RAM',
      '  80000000-80000fff : reserved',
      '  80200000-8020ffff : reserved',
      '  80210000-802fffff : Kernel code',
      '  80300000-803fffff : reserved',
      '  80400000-805fffff : Kernel data',
      '90000000-900fffff : reserved',
      '90100000-9fffffff : System RAM',
      '  9ff00000-9fffffff : reserved',
      '',
    ].join('\n'),
  );
});

test('addresses above 32 bits print in full', () => {
  const res = buildIomem({
    memory: [{ base: 0x880000000, size: 0x1000000, flags: 0 }],
    reserved: [],
    kernelCode: { start: 0, end: 0 },
    kernelData: { start: 0, end: 0 },
    pageSize: 4096,
  });
  expect(formatIomem(res)).toBe('880000000-880ffffff : System RAM\n');
});
