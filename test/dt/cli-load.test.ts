/**
 * In process: loadDt's input detection and dtCommand's outputs, with injected stdin and sinks.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InputError } from '../../src/errors.js';
import { MemorySinks } from '../../src/io.js';
import { loadDt, looksLikeDtb } from '../../src/dt/load.js';
import { dtCommand } from '../../src/commands/dt.js';
import { REAL_DTBS, SMALL_DTS, dtc } from './fixtures/out/helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-dt-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const globals = { json: false, color: false, quiet: false, verbose: false };
const concat = (s: MemorySinks): Buffer => Buffer.concat(s.bytes);

describe('loadDt', () => {
  test('a blob is recognised by its magic, whatever its name', () => {
    const file = path.join(dir, 'board.bin');
    writeFileSync(file, readFileSync(REAL_DTBS[0]!));
    const t = loadDt(file);
    expect(t.format).toBe('dtb');
    expect(t.source).toBe(file);
  });

  test('source text is compiled, reading included files', () => {
    const inc = path.join(dir, 'inc');
    writeFileSync(path.join(dir, 'x.dtsi'), '/ { from-include = <1>; };\n');
    const file = path.join(dir, 'x.dts');
    writeFileSync(file, '/dts-v1/;\n/include/ "x.dtsi"\n/ { a = <2>; };\n');
    const t = loadDt(file, { includeDirs: [inc] });
    expect(t.format).not.toBe('dtb');
    expect(t.root.properties.map((p) => p.name)).toEqual(['from-include', 'a']);
  });

  test('source is preprocessed with -D defines and -I include directories', () => {
    const inc = path.join(dir, 'include');
    mkdirSync(inc, { recursive: true });
    writeFileSync(path.join(inc, 'board.h'), '#define BASE 0x80000000\n');
    const file = path.join(dir, 'cpp.dts');
    writeFileSync(file, '/dts-v1/;\n#include <board.h>\n/ {\n#ifdef WITH_X\n\tx = <BASE SIZE>;\n#endif\n};\n');
    const t = loadDt(file, { includeDirs: [inc], defines: ['WITH_X', 'SIZE=16'] });
    expect(Array.from(t.root.properties[0]!.value)).toEqual([0x80, 0, 0, 0, 0, 0, 0, 16]);
    expect(loadDt(file, { includeDirs: [inc] }).root.properties).toHaveLength(0);
  });

  test('- reads stdin (injected), as a blob or as source', () => {
    const blob = readFileSync(REAL_DTBS[1]!);
    expect(loadDt('-', { stdin: () => blob }).source).toBe('<stdin>');
    expect(loadDt('-', { stdin: () => Buffer.from(SMALL_DTS) }).root.properties).toHaveLength(2);
  });

  test('binary content or a .dtb name means a blob even without the magic', () => {
    expect(looksLikeDtb('a.dts', Buffer.from('/dts-v1/;\n'))).toBe(false);
    expect(looksLikeDtb('a.dtb', Buffer.from('/dts-v1/;\n'))).toBe(true);
    expect(looksLikeDtb('a', Buffer.from([0xd0, 0x0d, 0xfe, 0xee, 0, 0]))).toBe(true);
    const file = path.join(dir, 'damaged');
    writeFileSync(file, Buffer.from([0xd0, 0x0d, 0xfe, 0xee, 0, 0, 0, 0x40]));
    expect(() => loadDt(file)).toThrow(/bad magic/);
  });

  test('an unreadable file or a directory is an InputError naming it', () => {
    expect(() => loadDt(path.join(dir, 'nope.dts'))).toThrow(InputError);
    try {
      loadDt(dir);
    } catch (e) {
      expect((e as InputError).format()).toBe(`${dir}: error: cannot read: is a directory`);
    }
  });
});

describe('dtCommand', () => {
  test('writes each format to the sink', async () => {
    const blob = dtc(['-I', 'dts', '-O', 'dtb', '-'], SMALL_DTS);
    for (const [format, expected] of [
      ['dtb', blob],
      ['dts', dtc(['-I', 'dtb', '-O', 'dts', '-'], blob)],
      ['yaml', dtc(['-I', 'dts', '-O', 'yaml', '-'], SMALL_DTS)],
    ] as const) {
      const sinks = new MemorySinks();
      const input = format === 'yaml' ? Buffer.from(SMALL_DTS) : blob;
      const code = await dtCommand({ file: '-', include: [], define: [], format, globals, sinks, stdin: () => input });
      expect(code).toBe(0);
      expect(concat(sinks).equals(expected)).toBe(true);
    }
  });

  test('the global --json turns the default dts output into json', async () => {
    const sinks = new MemorySinks();
    const blob = dtc(['-I', 'dts', '-O', 'dtb', '-'], SMALL_DTS);
    const opts = { file: '-', include: [], define: [], format: 'dts', sinks, stdin: () => blob };
    await dtCommand({ ...opts, globals: { ...globals, json: true } });
    expect(JSON.parse(concat(sinks).toString()).root.a).toEqual([[1]]);
  });

  test('-o writes atomically and prints nothing', async () => {
    const sinks = new MemorySinks();
    const out = path.join(dir, 'o', 's.json');
    const blob = dtc(['-I', 'dts', '-O', 'dtb', '-'], SMALL_DTS);
    await dtCommand({
      file: '-',
      include: [],
      define: [],
      format: 'json',
      output: out,
      globals,
      sinks,
      stdin: () => blob,
    });
    expect(sinks.bytes).toHaveLength(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).root.n).toEqual({ b: ['x'] });
  });
});
