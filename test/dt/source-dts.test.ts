/**
 * dtc behaviours worth pinning down one by one (each checked against `dtc -I dts -O dtb`), and the value
 * markers the DTS/YAML writers rely on.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileDts } from '../../src/dt/dts.js';
import { writeDtb } from '../../src/dt/fdt-write.js';
import { InputError } from '../../src/errors.js';
import { getChild, getProp } from '../../src/dt/tree.js';

const V = '/dts-v1/;\n';

function dtc(src: string, cwd?: string): Buffer | undefined {
  const r = spawnSync('dtc', ['-q', '-I', 'dts', '-O', 'dtb', '-'], { input: Buffer.from(src, 'latin1'), cwd });
  return r.status === 0 ? r.stdout : undefined;
}

const SAME_AS_DTC: Record<string, string> = {
  '/delete-property/ in the block that defines the property does nothing': `${V}/ { a = <1>; /delete-property/ a; };\n`,
  'a deleted then redefined property keeps its old place': `${V}/ { a = <1>; b = <2>; };\n/ { /delete-property/ a; };\n/ { c; a = <3>; };\n`,
  'a deleted then redefined node keeps its old place': `${V}/ { x { }; y { }; };\n/ { /delete-node/ x; };\n/ { z { }; x { p; }; };\n`,
  'phandles: explicit ones are skipped, numbering follows tree order': `${V}/ { r = <&c &b &a>; q = <&{/b}>; a: a { phandle = <1>; }; b: b { }; c: c { }; };\n`,
  'a self-referencing phandle property': `${V}/ { n: n { phandle = <&n>; }; m { linux,phandle = <&{/m}>; }; };\n`,
  'a correct name property is dropped': `${V}/ { dev@1 { name = "dev"; x; }; };\n`,
  'strings share tails in the strings block': `${V}/ { a { linux,phandle2 = <1>; phandle2 = <2>; dle2; }; };\n`,
  'boot_cpuid_phys comes from the first cpu reg': `${V}/ { cpus { cpu@3 { reg = <3>; }; cpu@0 { reg = <0>; }; }; };\n`,
  'path references and labels inside values': `${V}/ { p = "a", s: &n, e: <0 l: &n>, [00 b: 11] end:; n: n { }; };\n`,
  'escapes as util.c reads them': `${V}/ { s = "\\x-1\\x 1\\x4g\\400\\1234\\q\\e\\\\"; c = <'\\x41' '\\377' '\\n'>; };\n`,
  'integer literal forms': `${V}/ { c = <0 010 0x10 0X1f 10U 10L 10UL 10LL 10ULL 0xffffffffU>; };\n`,
  'expressions in uint64 with every operand evaluated': `${V}/ { c = <(-1) (~0 >> 32) (1 << 64) (5 / 2) (-5 % 3) (3 > -1) (!0 + !!7)>; };\n`,
  '/bits/ arrays and sign-extended negatives': `${V}/ { a = /bits/ 8 <0xff (-1) (-128)>; b = /bits/ 16 <(-1) 0x8000>; c = /bits/ 64 <(-1)>; };\n`,
  'omit-if-no-ref: kept when referenced, dropped otherwise': `${V}/ { r = <&a>; /omit-if-no-ref/ a: a { }; /omit-if-no-ref/ b { }; c: c { }; };\n/omit-if-no-ref/ &c;\n`,
  'amendments with labels and paths': `${V}/ { a: a { }; };\nb: &a { x; };\n&{/a} { y; };\n&b { z; };\n`,
  'memreserve with labels and expressions': `${V}m: /memreserve/ 0x1000 (0x10 << 4);\n/memreserve/ 0 1;\n/ { };\n`,
  'a deleted root writes no nodes': `${V}/ { a = <1>; n { }; };\n/delete-node/ &{/};\n`,
  'overlays: fragments, __fixups__ and __local_fixups__': `${V}/plugin/;\n&ext { a = <&ext &loc>; loc: l { }; };\n&{/path} { b = <&loc>; };\n/ { c = <&{/nowhere}>; };\n`,
  'multiple header lines': `${V}${V}/ { };\n`,
  'a line marker with several flags': `${V}# 1 "x.dts" 1 3 4\n/ { a; };\n`,
  'a byte of 0x80 or more outside strings ends the input (a negative token is end of input to bison)': `${V}/ { a; };\n\u00e2 anything { at all\n`,
  'a NUL byte ends the input too': `${V}/ { a; };\n\u0000/ { b; };\n`,
};

describe('compiles as dtc does', () => {
  test.each(Object.entries(SAME_AS_DTC))('%s', (_name, src) => {
    const theirs = dtc(src);
    expect(theirs).toBeDefined();
    const ours = Buffer.from(writeDtb(compileDts(src, { file: '<stdin>', preprocess: false })));
    expect(ours.toString('hex')).toBe(theirs!.toString('hex'));
  });
});

describe('rejected as dtc rejects', () => {
  const BAD: Record<string, string> = {
    "'\\\\' reads on to the next quote (dtc's character-literal pattern)": `${V}/ { c = <'\\\\' 'a'>; };\n`,
    'a // comment on the last line without a newline': `${V}/ { };\n// no newline`,
    'a backslash-newline inside a string': `${V}/ { s = "a\\\nb"; };\n`,
    'a /delete-node/ of a sibling in the block that defines it': `${V}/ { a { }; /delete-node/ a; };\n`,
    'a reference in an amendment of a missing label (not an overlay)': `${V}/ { };\n&nope { };\n`,
    'label-relative references (not in dtc 1.6.1)': `${V}/ { l: n { m { }; }; a = <&{l/m}>; };\n`,
    'lower-case literal suffixes': `${V}/ { a = <10lu>; };\n`,
    'a byte of 0x80 or more inside a node (end of input too early)': `${V}/ { a = <1 \u00e2 2>; };\n`,
  };
  test.each(Object.entries(BAD))('%s', (_name, src) => {
    expect(dtc(src)).toBeUndefined();
    expect(() => compileDts(src, { file: '<stdin>', preprocess: false })).toThrow(InputError);
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-dts-'));
    writeFileSync(path.join(dir, 'inc.dtsi'), '/ { from-include = "yes"; };\n');
    writeFileSync(path.join(dir, 'blob.bin'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('/include/ and /incbin/ read files next to the source', () => {
    const src = `${V}/include/ "inc.dtsi"\n/ { all = /incbin/("blob.bin"); part = /incbin/("blob.bin", 2, 3); };\n`;
    const file = path.join(dir, 'main.dts');
    writeFileSync(file, src);
    const theirs = spawnSync('dtc', ['-q', '-I', 'dts', '-O', 'dtb', file]).stdout;
    const readFile = (p: string): string => readFileSync(p, 'latin1');
    const ours = Buffer.from(writeDtb(compileDts(src, { file, readFile, preprocess: false })));
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
  });
});

describe('markers for the DTS and YAML writers', () => {
  const body = '/ { p = "a", s: &n, e: <0 l: &n>, [00 b: 11] end:; q = /bits/ 16 <1>; x1: x2: r; n: n { }; };';
  const tree = compileDts(`${V}${body}\n`, { file: 't.dts', preprocess: false });
  const p = getProp(tree.root, 'p')!;

  test('each chunk is typed, references and labels are kept', () => {
    expect(p.markers).toEqual([
      { offset: 0, kind: 'string' },
      { offset: 2, kind: 'label', ref: 's' },
      { offset: 2, kind: 'string', ref: 'n' },
      { offset: 2, kind: 'ref-path', ref: 'n' },
      { offset: 5, kind: 'label', ref: 'e' },
      { offset: 5, kind: 'u32' },
      { offset: 9, kind: 'label', ref: 'l' },
      { offset: 9, kind: 'ref-phandle', ref: 'n' },
      { offset: 13, kind: 'u8' },
      { offset: 14, kind: 'label', ref: 'b' },
      { offset: 15, kind: 'label', ref: 'end' },
    ]);
    expect(Buffer.from(p.value).toString('latin1')).toBe('a\0/n\0\0\0\0\0\0\0\0\x01\x00\x11');
    expect(getProp(tree.root, 'q')!.markers).toEqual([{ offset: 0, kind: 'u16' }]);
  });

  test('labels are listed most recent first, as dtc keeps them', () => {
    expect(getProp(tree.root, 'r')!.labels).toEqual(['x1', 'x2']);
    const t2 = compileDts(`${V}/ { a: n { }; };\nb: &a { };\n`, { file: 't.dts', preprocess: false });
    expect(getChild(t2.root, 'n')!.labels).toEqual(['b', 'a']);
  });

  test('an assigned phandle is a u32 property added last', () => {
    const n = getChild(tree.root, 'n')!;
    expect(n.properties.map((x) => [x.name, x.markers])).toEqual([['phandle', [{ offset: 0, kind: 'u32' }]]]);
    expect(n.pos).toEqual({ file: 't.dts', line: 2, col: body.indexOf('n: n') + 1 });
  });
});
