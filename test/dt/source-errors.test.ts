/**
 * Malformed DTS sources: each gives exactly one InputError whose `file:line:col` points at the culprit,
 * and never anything else (no crash, no hang).
 */
import { compileDts } from '../../src/dt/dts.js';
import { InputError } from '../../src/errors.js';

type Files = Record<string, string>;

interface Case {
  name: string;
  /** The main file's text; `@` marks where the error must be reported (it is removed before compiling). */
  src: string;
  /** The message must match this. */
  msg: RegExp;
  /** Other files the source may include (a `@` in one of them marks the place instead). */
  files?: Files;
  preprocess?: boolean;
}

const V = '/dts-v1/;\n';

const cases: Case[] = [
  { name: 'unterminated string', src: `${V}/ { a = @"abc; };\n`, msg: /unterminated string/ },
  {
    name: 'unterminated comment',
    src: `${V}/ { a = <1>; @/* never closed\n};\n`,
    msg: /unterminated comment/,
    preprocess: false,
  },
  {
    name: 'unterminated comment (through cpp)',
    src: `${V}/ { a = <1>; @/* never closed\n};\n`,
    msg: /unterminated comment/,
  },
  { name: 'unterminated node', src: `${V}/ {\n\tn {\n\t\ta = <1>;\n\t};\n@`, msg: /syntax error.*end of input/ },
  { name: 'missing semicolon', src: `${V}/ {\n\ta = <1>\n\t@b = <2>;\n};\n`, msg: /syntax error/ },
  {
    name: 'unknown label in a value',
    src: `${V}/ {\n\t@a = <&nolabel>;\n};\n`,
    msg: /non-existent node or label "nolabel"/,
  },
  {
    name: 'unknown label in an amendment',
    src: `${V}/ { };\n@&nolabel { a; };\n`,
    msg: /label or path nolabel not found/,
  },
  {
    name: 'unknown path reference',
    src: `${V}/ { @a = &{/no/such}; };\n`,
    msg: /non-existent node or label "\/no\/such"/,
  },
  {
    name: 'delete of an unknown label',
    src: `${V}/ { };\n/delete-node/ @&gone;\n`,
    msg: /label or path gone not found/,
  },
  { name: 'bad expression', src: `${V}/ { a = <(1 + @)>; };\n`, msg: /syntax error/ },
  { name: 'division by zero', src: `${V}/ { a = <(4 @/ (2 - 2))>; };\n`, msg: /division by zero/ },
  { name: 'modulo by zero', src: `${V}/ { a = <(4 @% 0)>; };\n`, msg: /division by zero/ },
  { name: 'bad /bits/ size', src: `${V}/ { a = /bits/ @7 <1>; };\n`, msg: /8, 16, 32 or 64-bits/ },
  { name: 'value too big for /bits/ 8', src: `${V}/ { a = /bits/ 8 <1 @0x100>; };\n`, msg: /out of range for 8-bit/ },
  { name: 'reference in a /bits/ 16 array', src: `${V}/ { a = /bits/ 16 <@&l>; l: n {}; };\n`, msg: /32-bit elements/ },
  { name: 'bad escape', src: `${V}/ { a = "ok@\\x"; };\n`, msg: /\\x used with no following hex digits/ },
  { name: 'bad integer literal', src: `${V}/ { a = <@09>; };\n`, msg: /bad integer literal '09'/ },
  { name: 'integer literal out of range', src: `${V}/ { a = <@18446744073709551616>; };\n`, msg: /out of range/ },
  {
    name: 'empty character literal',
    src: `${V}/ { a = <@''>; };\n`,
    msg: /empty character literal/,
    preprocess: false,
  },
  { name: 'long character literal', src: `${V}/ { a = <@'ab'>; };\n`, msg: /2 characters instead of 1/ },
  { name: 'duplicate label', src: `${V}/ { l: a { };\n\t@l: b { };\n};\n`, msg: /duplicate label 'l'/ },
  { name: 'duplicate node name', src: `${V}/ { a { };\n\t@a { };\n};\n`, msg: /duplicate node name 'a'/ },
  { name: 'duplicate property', src: `${V}/ { @p = <1>; p = <2>; };\n`, msg: /duplicate property name 'p'/ },
  {
    name: 'property after a subnode',
    src: `${V}/ { n { };\n\t@p = <1>;\n};\n`,
    msg: /properties must precede subnodes/,
  },
  { name: 'bad character in a node name', src: `${V}/ { a { }; @b#c { }; };\n`, msg: /bad character '#' in node name/ },
  { name: 'missing /dts-v1/', src: `@/ { };\n`, msg: /expected '\/dts-v1\/;'/ },
  {
    name: 'explicit phandle used twice',
    src: `${V}/ { a { phandle = <5>; };\n\tb { @phandle = <5>; };\n};\n`,
    msg: /duplicated phandle 0x5/,
  },
  { name: 'incorrect name property', src: `${V}/ { n { @name = "m"; }; };\n`, msg: /"name" property is incorrect/ },
  { name: 'trailing comma in a value', src: `${V}/ { a = <1>, @; };\n`, msg: /syntax error/ },
  {
    name: 'missing /include/ file',
    src: `${V}@/include/ "nowhere.dtsi"\n/ { };\n`,
    msg: /couldn't open "nowhere.dtsi"/,
    preprocess: false,
  },
  {
    name: '/include/ loop',
    src: `${V}/ { };\n/include/ "self.dtsi"\n`,
    files: { 'self.dtsi': '@/include/ "self.dtsi"\n' },
    msg: /includes nested too deeply/,
    preprocess: false,
  },
  { name: 'missing #include file', src: `${V}#include @"nowhere.h"\n/ { };\n`, msg: /nowhere\.h: no such file/ },
  { name: 'missing #include <file>', src: `${V}#include @<dt-bindings/none.h>\n/ { };\n`, msg: /no such file/ },
  {
    name: '#include loop',
    src: `${V}#include "loop.h"\n/ { };\n`,
    files: { 'loop.h': '#define X 1\n@#include "loop.h"\n' },
    msg: /nested depth 200 exceeds maximum of 200/,
  },
  {
    name: 'exponential macro expansion',
    src:
      `${V}#define A0 1 1\n` +
      Array.from({ length: 40 }, (_, i) => `#define A${i + 1} A${i} A${i}\n`).join('') +
      `/ { a = <@A40>; };\n`,
    msg: /macro expansion too large/,
  },
  {
    name: 'a huge /bits/ array from a macro bomb',
    src:
      `${V}#define B0 0xff 0xff 0xff 0xff\n` +
      Array.from({ length: 30 }, (_, i) => `#define B${i + 1} B${i} B${i} B${i} B${i}\n`).join('') +
      `/ { a = /bits/ 8 <@B30>; };\n`,
    msg: /macro expansion too large/,
  },
  {
    name: 'deeply nested macro arguments',
    src: `${V}#define F(x) x\n/ { a = <@${'F('.repeat(400)}1${')'.repeat(400)}>; };\n`,
    msg: /nested too deeply/,
  },
  {
    name: 'unterminated macro argument list',
    src: `${V}#define F(x) x\n/ { a = <@F(1>; };\n`,
    msg: /unterminated argument list/,
  },
  {
    name: 'macro given too many arguments',
    src: `${V}#define F(x) x\n/ { a = <@F(1, 2)>; };\n`,
    msg: /passed 2 arguments/,
  },
  { name: '#error', src: `${V}@#error stop here\n/ { };\n`, msg: /#error stop here/ },
  { name: 'unterminated #if', src: `${V}@#if 1\n/ { };\n`, msg: /unterminated #if/ },
  { name: '#else without #if', src: `${V}@#else\n/ { };\n`, msg: /#else without #if/ },
  { name: 'division by zero in #if', src: `${V}#if 1 @/ 0\n#endif\n/ { };\n`, msg: /division by zero in #if/ },
  {
    name: 'nodes nested too deep',
    src: `${V}/ { ${'n { '.repeat(499)}n @{ ${'}; '.repeat(500)}};\n`,
    msg: /nested more than 500 deep/,
  },
  {
    name: 'an error inside an included file points into that file',
    src: `${V}#include "board.dtsi"\n/ { };\n`,
    files: { 'board.dtsi': '/ {\n\tgood = <1>;\n\tbad = <1>\n\t@oops;\n};\n' },
    msg: /syntax error/,
  },
];

/** Finds the `@` marker (the sources here use no unit addresses): its 1-based line and column. */
function mark(text: string): { text: string; line: number; col: number } | undefined {
  const at = text.indexOf('@');
  if (at < 0) return undefined;
  const before = text.slice(0, at);
  return { text: before + text.slice(at + 1), line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
}

describe('malformed DTS gives one InputError at the right place', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const files: Files = {};
    let where: { file: string; line: number; col: number } | undefined;
    const main = mark(c.src);
    const mainText = main ? main.text : c.src;
    if (main) where = { file: 'main.dts', line: main.line, col: main.col };
    for (const [name, text] of Object.entries(c.files ?? {})) {
      const m = mark(text);
      files[name] = m ? m.text : text;
      if (m) where = { file: name, line: m.line, col: m.col };
    }
    const readFile = (p: string): string => {
      const f = files[p.replace(/^\.\//, '')];
      if (f === undefined) throw new Error(`ENOENT ${p}`);
      return f;
    };
    let err: unknown;
    const started = Date.now();
    try {
      compileDts(mainText, { file: 'main.dts', readFile, preprocess: c.preprocess ?? true, defines: ['__DTS__'] });
    } catch (e) {
      err = e;
    }
    expect(Date.now() - started).toBeLessThan(5000); // bounded work (generous: not a benchmark)
    expect(err).toBeInstanceOf(InputError);
    const e = err as InputError;
    expect(e.message).toMatch(c.msg);
    expect(e.where).toEqual(where);
    const line = e.format();
    expect(line).toBe(`${where!.file}:${where!.line}:${where!.col}: error: ${e.message}`);
    expect(line).not.toContain('\n');
  });

  test('there are at least 20 distinct cases', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBeGreaterThanOrEqual(20);
  });
});
