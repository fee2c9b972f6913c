import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { readDtb, isDtb } from '../../src/dt/fdt-read.js';
import { emitDts } from '../../src/dt/emit-dts.js';
import { getChild, getProp, propRegs } from '../../src/dt/tree.js';
import { REAL_DTBS, VALUES_DTS, arbDts, dtc } from './fixtures/out/helpers.js';
import { writeDtb } from '../../src/dt/fdt-write.js';
import { compileDts } from '../../src/dt/dts.js';

describe('readDtb on real blobs', () => {
  test.each(REAL_DTBS)('%s decompiles exactly like dtc -I dtb -O dts', (file) => {
    const bytes = readFileSync(file);
    expect(isDtb(bytes)).toBe(true);
    const ours = Buffer.from(emitDts(readDtb(bytes, file)), 'latin1');
    expect(ours.toString('latin1')).toBe(dtc(['-I', 'dtb', '-O', 'dts', file]).toString('latin1'));
  });

  test('the MTE FVP blob: header fields, memreserve and the tag storage nodes', () => {
    const t = readDtb(readFileSync(REAL_DTBS[1]!), 'fvp-mte.dtb');
    expect(t.format).toBe('dtb');
    expect(t.bootCpuidPhys).toBe(0);
    expect(t.memreserve).toEqual([{ address: 0x80000000n, size: 0x10000n, labels: [] }]);
    const meta = getChild(t.root, 'metadata@c0000000');
    expect(meta).toBeDefined();
    expect(propRegs(getProp(meta!, 'reg')!, 2, 2)).toEqual([{ address: 0xfc000000n, size: 0x3e00000n }]);
  });

  test('the QEMU blob written by libfdt: rsvmap at 0x30, 1 MiB totalsize with free space', () => {
    const bytes = readFileSync(REAL_DTBS[2]!);
    const t = readDtb(bytes, 'virt.dtb');
    expect(t.memreserve).toEqual([]);
    const mem = getChild(t.root, 'memory@40000000');
    expect(propRegs(getProp(mem!, 'reg')!, 2, 2)).toEqual([{ address: 0x40000000n, size: 0x80000000n }]);
  });
});

describe('older blob versions, as dtc reads them', () => {
  test.each([1, 2, 3, 16, 17])('version %i: full-path names, 8-aligned values, name properties', (version) => {
    const blob = dtc(['-I', 'dts', '-O', 'dtb', '-V', String(version), VALUES_DTS]);
    expect(blob.readUInt32BE(20)).toBe(version);
    const tree = readDtb(blob, `v${version}.dtb`);
    expect(emitDts(tree)).toBe(dtc(['-I', 'dtb', '-O', 'dts', '-'], blob).toString('latin1'));
    expect(Buffer.from(writeDtb(tree)).equals(dtc(['-I', 'dtb', '-O', 'dtb', '-'], blob))).toBe(true);
  });
});

describe('readDtb + emitDts on random blobs made by dtc', () => {
  test("200 random trees: our blob and dtc's are equal and decompile exactly like dtc -I dtb -O dts", () => {
    let n = 0;
    fc.assert(
      fc.property(arbDts, (src) => {
        const blob = dtc(['-I', 'dts', '-O', 'dtb', '-'], src);
        const ours = writeDtb(compileDts(src, { file: '<random>', preprocess: false }));
        expect(Buffer.from(ours).equals(blob)).toBe(true);
        const expected = dtc(['-I', 'dtb', '-O', 'dts', '-'], ours).toString('latin1');
        expect(emitDts(readDtb(ours, '<random>'))).toBe(expected);
        n++;
      }),
      { numRuns: 200, seed: 20261125 },
    );
    expect(n).toBe(200);
  });
});
