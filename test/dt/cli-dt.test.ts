/**
 * End to end: `mte-sim dt` through the built executable (run `npm run build` first).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BAD_BLOBS, DTS_REAL, REAL_DTBS, REAL_DTS, SMALL_DTS, dtc, kernelCpp, runCli } from './fixtures/out/helpers.js';

const INCLUDE = path.join(DTS_REAL, 'include');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-dt-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Exit 2, exactly one line on stderr naming the location, nothing on stdout, no stack trace. */
function expectOneLineError(r: ReturnType<typeof runCli>, location: RegExp, fragment: string): void {
  const err = r.stderr.toString();
  expect({ status: r.status, err }).toEqual({ status: 2, err: expect.stringMatching(location) });
  expect(err).toContain(fragment);
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
  expect(r.stdout.length).toBe(0);
}

describe('mte-sim dt', () => {
  test('--help shows usage with an example', () => {
    const r = runCli(['dt', '--help']);
    expect(r.status).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain('Usage: mte-sim dt');
    expect(out).toContain('--format <format>');
    expect(out).toContain('Examples:');
    expect(out).toMatch(/\$ mte-sim dt \S+\.dts -I /);
  });

  test.each(REAL_DTS)('%s -I include --format dtb is byte-identical to cpp | dtc', (file) => {
    const r = runCli(['dt', file, '-I', INCLUDE, '--format', 'dtb']);
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, dtc(['-I', 'dts', '-O', 'dtb', '-'], kernelCpp(file)))).toBe(0);
  });

  test.each(REAL_DTS)('%s preprocessed by cpp, on stdin, --format dtb is byte-identical to dtc', (file) => {
    const pre = kernelCpp(file);
    const r = runCli(['dt', '-', '--format', 'dtb'], Buffer.from(pre, 'latin1'));
    expect(r.stderr.toString()).toBe('');
    expect(Buffer.compare(r.stdout, dtc(['-I', 'dts', '-O', 'dtb', '-'], pre))).toBe(0);
  });

  test.each(REAL_DTBS)('%s decompiles like dtc -I dtb -O dts (default format)', (file) => {
    const r = runCli(['dt', file]);
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, dtc(['-I', 'dtb', '-O', 'dts', file]))).toBe(0);
  });

  test('-D defines reach the preprocessor', () => {
    const src = path.join(dir, 'defs.dts');
    writeFileSync(src, '/dts-v1/;\n/ {\n#if VAL > 2\n\tbig = <VAL>;\n#else\n\tsmall = <VAL>;\n#endif\n};\n');
    expect(runCli(['dt', src, '-D', 'VAL=3']).stdout.toString()).toContain('\tbig = <0x03>;\n');
    expect(runCli(['dt', src, '--define', 'VAL=1']).stdout.toString()).toContain('\tsmall = <0x01>;\n');
  });

  test('a blob on stdin', () => {
    const r = runCli(['dt', '-'], readFileSync(REAL_DTBS[1]!));
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, dtc(['-I', 'dtb', '-O', 'dts', REAL_DTBS[1]!]))).toBe(0);
  });

  test('--format yaml and json', () => {
    const src = path.join(dir, 'small.dts');
    writeFileSync(src, SMALL_DTS);
    const y = runCli(['dt', src, '--format', 'yaml']);
    expect(y.status).toBe(0);
    expect(y.stdout.toString()).toBe(dtc(['-I', 'dts', '-O', 'yaml', src]).toString());
    const j = runCli(['dt', src, '--format', 'json']);
    expect(j.status).toBe(0);
    expect(JSON.parse(j.stdout.toString())).toEqual({
      memreserve: [['0x1000', '0x2000']],
      'boot-cpuid-phys': 0,
      root: { a: [[1]], c: [[2]], n: { b: ['x'] } },
    });
  });

  test('-o writes the file; a bad input leaves no file behind', () => {
    const out = path.join(dir, 'out', 'fvp.dtb');
    const ok = runCli(['dt', REAL_DTBS[0]!, '--format', 'dtb', '-o', out]);
    expect(ok.status).toBe(0);
    expect(ok.stdout.length).toBe(0);
    expect(Buffer.compare(readFileSync(out), readFileSync(REAL_DTBS[0]!))).toBe(0);

    const bad = path.join(dir, 'bad.dtb');
    writeFileSync(bad, readFileSync(REAL_DTBS[0]!).subarray(0, 200));
    const target = path.join(dir, 'out', 'never.dts');
    const r = runCli(['dt', bad, '-o', target]);
    expectOneLineError(r, /^mte-sim: .*bad\.dtb: offset 0x4: error: truncated/, 'truncated');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(path.join(dir, 'out'))).toEqual(['fvp.dtb']);
  });

  test('yaml from a blob is refused like dtc does', () => {
    const r = runCli(['dt', REAL_DTBS[0]!, '--format', 'yaml']);
    expectOneLineError(r, /fvp-base-revc\.dtb: error: /, 'yaml output format requires dts input format');
  });

  test('an unreadable file', () => {
    expectOneLineError(
      runCli(['dt', path.join(dir, 'missing.dts')]),
      /missing\.dts: error: cannot read/,
      'no such file',
    );
  });

  test('an unknown format is a usage error', () => {
    const r = runCli(['dt', REAL_DTBS[0]!, '--format', 'xml']);
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).not.toMatch(/\n\s+at /);
  });
});

describe('mte-sim dt on malformed blobs: exit 2, one line with the offset', () => {
  const good = new Uint8Array(dtc(['-I', 'dts', '-O', 'dtb', '-'], SMALL_DTS));
  test.each(BAD_BLOBS.map((b, i) => [b.name, b, i] as const))('%s', (_name, bad, i) => {
    // Alternate: a .dtb name, and a name without extension (found by the NUL bytes of its header).
    const file = path.join(dir, i % 2 === 0 ? `bad-${i}.dtb` : `bad-${i}`);
    writeFileSync(file, bad.make(good));
    const r = runCli(['dt', file]);
    expectOneLineError(r, new RegExp(`^mte-sim: ${file}: offset 0x[0-9a-f]+: error: `), bad.message);
  });
});
