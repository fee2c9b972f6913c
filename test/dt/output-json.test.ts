import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { compileDts } from '../../src/dt/dts.js';
import { readDtb } from '../../src/dt/fdt-read.js';
import { writeDtb } from '../../src/dt/fdt-write.js';
import { treeFromJson, treeToJson } from '../../src/dt/json.js';
import { REAL_DTBS, SMALL_DTS, VALUES_DTS, arbDts, dtc } from './fixtures/out/helpers.js';

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('JSON round trip: json → tree → dtb equals the original dtb', () => {
  test.each(REAL_DTBS)('%s', (file) => {
    const blob = new Uint8Array(readFileSync(file));
    const json = treeToJson(readDtb(blob, file));
    const back = writeDtb(treeFromJson(json, 'x.json'));
    // dtc-written blobs come back byte for byte; the libfdt-written QEMU blob comes back as dtc lays it out.
    const expected = file.includes('qemu') ? dtc(['-I', 'dtb', '-O', 'dtb', file]) : blob;
    expect(bytesEqual(back, expected)).toBe(true);
  });

  test('a tree compiled from source (typed chunks, phandle references)', () => {
    const tree = compileDts(readFileSync(VALUES_DTS, 'latin1'), { file: 'values.dts', preprocess: false });
    const json = treeToJson(tree);
    expect(bytesEqual(writeDtb(treeFromJson(json, 'values.json')), writeDtb(tree))).toBe(true);
    expect(json).toContain('"phandles": [[{ "phandle": 1 }, 2], [{ "phandle": 2 }]]');
    expect(json).toContain('"u64": [{ "u64": ["0x100000000", "0x2"] }]');
    expect(json).toContain('"mixed": ["ab", { "u8": [0] }, [3], { "u16": [4] }]');
  });

  test('boot_cpuid_phys and several memreserve entries survive', () => {
    const src = '/dts-v1/;\n/memreserve/ 0x0 0x1000;\n/memreserve/ 0xffffffff00000000 0x10;\n/ { cpus { }; };\n';
    const blob = new Uint8Array(dtc(['-I', 'dts', '-O', 'dtb', '-b', '3', '-'], src));
    const json = treeToJson(readDtb(blob, 'b.dtb'));
    expect(json).toContain('"boot-cpuid-phys": 3,');
    expect(json).toContain('"memreserve": [["0x0", "0x1000"], ["0xffffffff00000000", "0x10"]],');
    expect(bytesEqual(writeDtb(treeFromJson(json, 'b.json')), blob)).toBe(true);
  });

  test('100 random blobs made by dtc', () => {
    fc.assert(
      fc.property(arbDts, (src) => {
        const blob = new Uint8Array(dtc(['-I', 'dts', '-O', 'dtb', '-'], src));
        const json = treeToJson(readDtb(blob, 'r.dtb'));
        expect(bytesEqual(writeDtb(treeFromJson(json, 'r.json')), blob)).toBe(true);
        expect(treeToJson(treeFromJson(json, 'r.json'))).toBe(json);
      }),
      { numRuns: 100, seed: 31337 },
    );
  });
});

describe('JSON layout', () => {
  test('a small blob, in full', () => {
    const blob = new Uint8Array(dtc(['-I', 'dts', '-O', 'dtb', '-'], SMALL_DTS));
    expect(treeToJson(readDtb(blob, 's.dtb'))).toBe(
      [
        '{',
        '  "memreserve": [["0x1000", "0x2000"]],',
        '  "boot-cpuid-phys": 0,',
        '  "root": {',
        '    "a": [[1]],',
        '    "c": [[2]],',
        '    "n": {',
        '      "b": ["x"]',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  test('guessed strings are split at NULs, bytes are tagged, empty properties are true', () => {
    const blob = new Uint8Array(
      dtc(['-I', 'dts', '-O', 'dtb', '-'], '/dts-v1/; / { s = "a", "b"; b = [01 02 03]; e; n1 { }; };'),
    );
    const json = treeToJson(readDtb(blob, 'g.dtb'));
    expect(json).toContain('"s": ["a", "b"]');
    expect(json).toContain('"b": [{ "u8": [1, 2, 3] }]');
    expect(json).toContain('"e": true');
    expect(json).toContain('"n1": {}');
  });

  test('key order is kept, also for integer-like names that JSON.parse would move', () => {
    const t = treeFromJson('{ "root": { "z": [[1]], "1": [[2]], "b": {}, "0": {} } }', 'o.json');
    expect(t.root.properties.map((p) => p.name)).toEqual(['z', '1']);
    expect(t.root.children.map((c) => c.name)).toEqual(['b', '0']);
  });

  test('cells may also be written as "0x..." strings', () => {
    const t = treeFromJson('{ "root": { "reg": [["0x80000000", 16]] } }', 'h.json');
    expect(Array.from(t.root.properties[0]!.value)).toEqual([0x80, 0, 0, 0, 0, 0, 0, 16]);
  });
});

describe('bad JSON: one InputError at file:line:col', () => {
  test.each([
    ['syntax error', '{ "root": { "a": [[1]] }', 'o.json:1:25: error: '],
    ['unknown top-level key', '{\n  "roots": {}\n}', 'o.json:2:3: error: unknown key "roots"'],
    ['cell out of range', '{ "root": { "a": [[4294967296]] } }', 'does not fit in 32 bits'],
    ['negative cell', '{ "root": { "a": [[-1]] } }', 'expected an unsigned integer'],
    ['bad chunk', '{ "root": { "a": [null] } }', 'a chunk is a string'],
    ['empty property array', '{ "root": { "a": [] } }', 'expected true or a non-empty array'],
    ['property after a child', '{ "root": { "n": {}, "a": true } }', 'after a child node'],
    ['duplicate node', '{ "root": { "n": {}, "n": {} } }', 'duplicate node "n"'],
    ['zero-sized memreserve', '{ "memreserve": [["0x1000", 0]], "root": {} }', 'must not be 0'],
    ['missing root', '{ "memreserve": [] }', 'missing "root"'],
    ['non-byte string', '{ "root": { "a": ["\\u0100"] } }', 'is not a byte'],
  ])('%s', (_name, text, fragment) => {
    let err: unknown;
    try {
      treeFromJson(text, 'o.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const line = (err as InputError).format();
    expect(line).toMatch(/^o\.json:\d+:\d+: error: /);
    expect(line).toContain(fragment);
  });
});
