/**
 * The built-in preprocessor against GCC's (`cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp`):
 * the same tokens with the same spacing between them on every line (indentation, blank lines and line
 * markers aside), for snippets that exercise each rule.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { preprocess } from '../../src/dt/cpp.js';
import { compileDts } from '../../src/dt/dts.js';
import { InputError } from '../../src/errors.js';

/** Drops line markers and blank lines, trims lines and collapses runs of blanks. */
function normalise(out: string): string {
  return out
    .split('\n')
    .filter((l) => !/^# \d+ "/.test(l))
    .map((l) => l.replace(/[ \t]+/g, ' ').trim())
    .filter((l) => l.length > 0)
    .join('\n');
}

const SNIPPETS: Record<string, string> = {
  'object-like macros and spacing': '#define X 1\n#define E\n<X> < X> &X n@X X: E-E -X x E y\n',
  'function-like macros': '#define F(a,b) a+b <a>\nF(1, 2) F( 3 ,4 )x F((1,2),3)\n',
  'stringify and paste':
    '#define S(x) #x\n#define P(a,b) a##b\nS( a  "b\\n"  \'c\' ) S() P(0x, 10) P(,) P(a,) P(,b) P(-,>) P(+,/)\n',
  'variadic macros':
    '#define V(...) x(__VA_ARGS__)\n#define G(f, a...) f(1 , ## a)\n#define H(f, ...) f(1 , ## __VA_ARGS__)\nV() V(1,2) V( a , b ) G(g) G(g,2) H(h) H(h, 2, 3)\n',
  'rescanning and painted names':
    '#define f(x) x f\n#define g f\nf(1)(2) g(3) f\n#define a a b\na\n#define h() H\nh() h ( ) h\n',
  'nested arguments': '#define N(x) x-1\n#define M(x) N(N(x))\nN(N(N(0))) M(M(2))\n',
  'macros across lines': '#define F(a, b) [a|b]\nF(1,\n  2) after\nF\n(3, 4)\n',
  conditionals: [
    '#define A 3',
    '#if A > 2 && defined(A) && !defined B',
    'one',
    '#elif 1',
    'two',
    '#else',
    'three',
    '#endif',
    '#ifdef A',
    '#ifndef A',
    'no',
    '#else',
    'yes',
    '#endif',
    '#endif',
    "#if (-1 < 0u) == 0 && (1 ? 2 : 1/0) && 0x10 == 16 && 010 == 8 && 'a' == 97 && 0b11 == 3",
    'arith',
    '#endif',
    '#if 0',
    '#error not reached',
    '#bogus directive',
    '#endif',
    '#if 0 && (1 / 0)',
    '#elif 2 > 1 || (1 % 0)',
    'short-circuit',
    '#endif',
    '',
  ].join('\n'),
  // (A `# 12 "file"` line is not compared: GCC in assembler mode passes it through as text, which dtc then
  // honours; we honour it directly, with the same effect on the blob and on error positions.)
  'assembler-mode lines': '#define cells 5\n#address-cells = <2>;\n #size-cells\n#  lonely\n#\nx\n',
  'quotes and comments':
    "a // comment X\nb /* c */ c\n/* multi\nline */ d\nx = \"str // no /* no */\" 'q' ;\ndon't // kept\n",
  'line splices': '#define LONG(x) x \\\n  + 1\nLONG(2) a\\\nb\n',
  'predefined macros':
    '__DTS__ __ASSEMBLER__ __STDC__ __STDC_HOSTED__ __LINE__ __INCLUDE_LEVEL__ __COUNTER__ __COUNTER__ __GNUC__\n',
  'undef and redefine': '#define X 1\nX\n#undef X\nX\n#define X 2\nX\n',
  'device tree idioms': [
    '#define GIC_SPI 0',
    '#define IRQ_TYPE_LEVEL_HIGH 4',
    '#define GIC_CPU_MASK_RAW(x) ((x) << 8)',
    '#define GIC_CPU_MASK_SIMPLE(num) GIC_CPU_MASK_RAW((1 << (num)) - 1)',
    '#define NODE(name, addr) name##@##addr',
    '#define LBL(x) x##_label',
    '/ {',
    '\tLBL(uart): NODE(serial, 1c090000) {',
    '\t\tinterrupts = <GIC_SPI 5 (GIC_CPU_MASK_SIMPLE(4) | IRQ_TYPE_LEVEL_HIGH)>;',
    '\t\tref = <&LBL(uart)>;',
    '\t};',
    '};',
    '',
  ].join('\n'),
};

function gccCpp(text: string, cwd: string, file = 'in.dts', extra: string[] = []): string {
  writeFileSync(path.join(cwd, file), text);
  const r = spawnSync('cpp', ['-nostdinc', '-undef', '-D__DTS__', '-x', 'assembler-with-cpp', ...extra, file], {
    cwd,
    encoding: 'latin1',
  });
  if (r.status !== 0) throw new Error(`cpp failed: ${r.stderr}`);
  return r.stdout;
}

describe('preprocessor output matches GCC cpp token for token', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-cpp-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(Object.entries(SNIPPETS))('%s', (_name, text) => {
    const theirs = gccCpp(text, dir);
    const ours = preprocess(text, { file: 'in.dts', defines: ['__DTS__'] });
    expect(normalise(ours)).toBe(normalise(theirs));
  });

  test('#include "…" and <…>, include guards, nested relative includes', () => {
    mkdirSync(path.join(dir, 'inc/sub'), { recursive: true });
    mkdirSync(path.join(dir, 'boards'), { recursive: true });
    writeFileSync(
      path.join(dir, 'inc/sub/a.h'),
      '#ifndef A_H\n#define A_H\n#include "b.h"\n#define A (B + 1)\n#endif\n',
    );
    writeFileSync(path.join(dir, 'inc/sub/b.h'), '#define B 41\n');
    writeFileSync(path.join(dir, 'boards/common.dtsi'), '/ { common = <A>; };\n');
    const main = '#include <sub/a.h>\n#include <sub/a.h>\n#include "common.dtsi"\n/ { a = <A>; };\n';
    const theirs = gccCpp(main, path.join(dir, 'boards'), 'board.dts', ['-I', '../inc']);
    const readFile = (p: string): string => readFileSync(path.resolve(path.join(dir, 'boards'), p), 'latin1');
    const ours = preprocess(main, { file: 'board.dts', includeDirs: ['../inc'], readFile, defines: ['__DTS__'] });
    expect(normalise(ours)).toBe(normalise(theirs));
    // The markers name each file as GCC's do.
    const markers = (s: string): string[] => s.split('\n').filter((l) => /^# \d+ "[^<]/.test(l) && / [12]$/.test(l));
    expect(markers(ours)).toEqual(markers(theirs));
  });

  test('running already-preprocessed text through again changes nothing that matters', () => {
    const text = SNIPPETS['device tree idioms']!;
    const once = gccCpp(text, dir);
    const twice = preprocess(once, { file: '<stdin>', defines: ['__DTS__'] });
    expect(normalise(twice)).toBe(normalise(once));
  });

  test('-D NAME and NAME=VALUE', () => {
    const out = preprocess('A B C\n', { file: 'x.dts', defines: ['A', 'B=2', 'C=x y'] });
    expect(normalise(out)).toBe('1 2 x y');
  });

  test('line markers in the input set the position of later errors', () => {
    const text = '/dts-v1/;\n# 40 "boards/board.dts"\n/ {\n\ta = <1>\n};\n';
    let err: unknown;
    try {
      compileDts(text, { file: '<stdin>' });
    } catch (e) {
      err = e;
    }
    expect((err as InputError).format()).toMatch(/^boards\/board\.dts:42:1: error: syntax error/);
  });

  test('a missing #include file is an InputError at the directive', () => {
    expect(() => preprocess('\n#include "no-such-file.h"\n', { file: path.join(dir, 'm.dts') })).toThrow(
      expect.objectContaining({ where: { file: path.join(dir, 'm.dts'), line: 2, col: 10 } }),
    );
  });

  test('__DTS__ is predefined, as the kernel build defines it', () => {
    expect(normalise(preprocess('__DTS__\n', { file: 'x.dts' }))).toBe('1');
  });
});

// -- random macro programs ------------------------------------------------------------------------

const DEFS = [
  '#define A 1',
  '#define B A + A',
  '#define C(x) x',
  '#define D(x, y) x##y',
  '#define E(x) #x',
  '#define F(...) f(__VA_ARGS__)',
  '#define G(a, b...) g(a, ## b)',
  '#define H H',
  '#define I(x) C(x) C',
  '#define J',
  '#define K() k',
  '#define L(x) -x-',
  '#define M(x) <x>',
  '#define N(x) x x',
  '#define O(x) D(x, 1)',
  '#undef A',
  '#define P(x) E(x)',
];
const TOKENS = [
  'A',
  'B',
  'C(',
  'D(',
  'E(',
  'F(',
  'G(',
  'H',
  'I(',
  'J',
  'K(',
  'L(',
  'M(',
  'N(',
  'O(',
  'P(',
  ')',
  ',',
  '(',
  '1',
  '0x1',
  'x',
  '-',
  '+',
  '<',
  '>',
  '&',
  '&&',
  '#',
  '"s"',
  "'c'",
  '.',
  '@',
  ':',
  ';',
  '{',
  '}',
  '=',
  '/',
  '*',
  ' ',
  ' ',
  ' ',
  '\n',
  '[',
  ']',
  'ab',
  '2e+',
  '..',
];
const program = fc
  .tuple(
    fc.array(fc.constantFrom(...DEFS), { maxLength: 8 }),
    fc.array(fc.array(fc.constantFrom(...TOKENS), { maxLength: 14 }), { maxLength: 5 }),
  )
  .map(([d, lines]) => `${d.join('\n')}\n${lines.map((l) => l.join('')).join('\n')}\n`);

test('random macro programs: same output as GCC, or an error where GCC fails (200 cases)', () => {
  fc.assert(
    fc.property(program, (src) => {
      const r = spawnSync('cpp', ['-nostdinc', '-undef', '-D__DTS__', '-x', 'assembler-with-cpp', '-'], {
        input: src,
        encoding: 'latin1',
      });
      let ours: string | undefined;
      try {
        ours = preprocess(src, { file: '<stdin>', defines: ['__DTS__'] });
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
      }
      if (r.status !== 0) expect(ours).toBeUndefined();
      else expect(ours !== undefined && normalise(ours)).toBe(normalise(r.stdout));
    }),
    { numRuns: 200, seed: 0xc0de, endOnFailure: true },
  );
});
