import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { compileDts } from '../../src/dt/dts.js';
import { readDtb } from '../../src/dt/fdt-read.js';
import { emitDts } from '../../src/dt/emit-dts.js';
import { emitYaml } from '../../src/dt/emit-yaml.js';
import { DTS_REAL, REAL_DTBS, REAL_DTS, VALUES_DTS, arbDts, dtc, dtcMaybe, kernelCpp } from './fixtures/out/helpers.js';

const fixtures: [string, () => string][] = [
  ['values.dts (every value form)', () => readFileSync(VALUES_DTS, 'latin1')],
  ...REAL_DTS.map((f): [string, () => string] => [`${f.split('/').pop()!} (after cpp)`, () => kernelCpp(f)]),
  [
    'virt-mte-qemu7.2.dts (decompiled QEMU tree)',
    () => readFileSync(path.join(DTS_REAL, 'qemu/virt-mte-qemu7.2.dts'), 'latin1'),
  ],
];

describe('DTS and YAML of trees compiled from source match dtc', () => {
  test.each(fixtures)('%s: dts equals dtc -I dts -O dts', (_name, text) => {
    const src = text();
    const tree = compileDts(src, { file: 'fixture.dts', preprocess: false });
    expect(emitDts(tree)).toBe(dtc(['-I', 'dts', '-O', 'dts', '-'], src).toString('latin1'));
  });

  test.each(fixtures)('%s: yaml equals dtc -I dts -O yaml', (_name, text) => {
    const src = text();
    const tree = compileDts(src, { file: 'fixture.dts', preprocess: false });
    expect(emitYaml(tree)).toBe(dtc(['-I', 'dts', '-O', 'yaml', '-'], src).toString('latin1'));
  });

  test('the yaml layout: keys quoted only when they must be, long sequences wrapped at column 80', () => {
    const y = emitYaml(compileDts(readFileSync(VALUES_DTS, 'latin1'), { file: 'v.dts', preprocess: false }));
    expect(y.startsWith('---\n- ')).toBe(true);
    expect(y.endsWith('\n...\n')).toBe(true);
    expect(y).toContain("- '#address-cells': [[0x2]]\n  '#size-cells': [[0x1]]\n");
    expect(y).toContain('  phandles: [[!phandle 0x1, 0x2], [!phandle 0x2]]\n');
    expect(y).toContain('  mixed: ["ab", !u8 [0x0], [0x3], !u16 [0x4]]\n');
    expect(y).toContain('    empty: {}\n');
    expect(y).toContain("  '*star': [[0x1]]\n  ?q: [[0x2]]\n");
    expect(y).toContain('  -dash:\n    a: [[0x1]]\n');
    for (const line of y.split('\n')) if (!line.startsWith('  ? ')) expect(line.length).toBeLessThan(100);
    expect(y).toMatch(/\n {2}\? (long-name-){13}\n {2}: \[\[0x3\]\]\n/);
  });

  test('100 random source trees: dts and yaml equal dtc', () => {
    fc.assert(
      fc.property(arbDts, (src) => {
        const tree = compileDts(src, { file: '<random>', preprocess: false });
        expect(emitDts(tree)).toBe(dtc(['-I', 'dts', '-O', 'dts', '-'], src).toString('latin1'));
        const yaml = dtcMaybe(['-I', 'dts', '-O', 'yaml', '-'], src);
        if (yaml !== undefined) {
          expect(emitYaml(tree)).toBe(yaml.toString('latin1'));
          return;
        }
        // dtc's YAML writer aborts on an empty chunk (`<>`) or a non-ASCII string; we print or refuse.
        try {
          emitYaml(tree);
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
        }
      }),
      { numRuns: 100, seed: 777 },
    );
  });
});

describe('YAML of a tree read from a DTB', () => {
  test("is refused with dtc's message, as dtc refuses it", () => {
    const tree = readDtb(readFileSync(REAL_DTBS[0]!), 'fvp.dtb');
    expect(() => emitYaml(tree)).toThrow('yaml output format requires dts input format');
    expect(dtcMaybe(['-I', 'dtb', '-O', 'yaml', REAL_DTBS[0]!], '')).toBeUndefined();
  });
});
