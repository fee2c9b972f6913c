/**
 * Property: random device tree sources using every construct of the DTS language compile exactly as
 * `dtc -I dts -O dtb` compiles them — the same bytes when dtc accepts the source, an InputError when
 * dtc rejects it. A second property runs random macro-using sources through our preprocessor and
 * through `cpp | dtc`.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { compileDts } from '../../src/dt/dts.js';
import { writeDtb } from '../../src/dt/fdt-write.js';
import { InputError } from '../../src/errors.js';

/** Labels placed at random; L0 and L1 are always defined (on /n0 and /n1), so references mostly resolve. */
const LABELS = ['L2', 'L3', 'L4', 'L5', 'L6', 'L7', 'L8', 'L9', 'La', 'Lb', 'Lc', 'Ld', '_l'];
const ALL_REFS = ['L0', 'L1', 'L0', 'L1', 'L0', 'L1', 'L0', 'L1', 'L0', 'L1', 'L0', 'L1', 'L2', 'L3', 'Lz'];
const NODE_NAMES = ['n0', 'n1', 'n2', 'dev@1', 'bus@1f', 'a-b', 'c,d', 'x_y', 'cpu@0', 'Z.9'];
const PROP_NAMES = ['p0', 'p1', 'p2', 'p3', 'v,prop', '#p-cells', 'a.b', 'q+r', 's?', 't*', 'u_v', 'w-x'];
const ALL_PATHS = [
  '/',
  '/n0',
  '/n1',
  '/n0',
  '/n1',
  '/',
  '/n0',
  '/n1',
  '/n0/n1',
  '/dev@1',
  '/n1/n2',
  '/c,d',
  '/x_y/Z.9',
];

/**
 * The generators. In "tame" mode (most runs) values stay in range, divisors are non-zero and literals are
 * well-formed, so most sources compile and the byte comparison has something to compare; "wild" mode mixes
 * in what dtc rejects or reads surprisingly (64-bit values in narrow cells, `'\''`, `09`, bad escapes).
 */
function sourceArb(wild: boolean): fc.Arbitrary<string> {
  const PATHS = wild ? ALL_PATHS : ['/', '/n0', '/n1', '/n0', '/n1'];
  const REFS = wild ? ALL_REFS : ['L0', 'L1'];
  const suffix = fc.constantFrom('', '', '', 'U', 'L', 'UL', 'LL', 'ULL');
  const literal = fc.oneof(
    { arbitrary: fc.tuple(fc.nat({ max: 255 }), suffix).map(([n, s]) => `${n}${s}`), weight: 6 },
    {
      arbitrary: fc.tuple(fc.nat({ max: 0xff }), fc.boolean()).map(([n, up]) => {
        const h = n.toString(16);
        return `0${up ? 'X' : 'x'}${up ? h.toUpperCase() : h}`;
      }),
      weight: 4,
    },
    { arbitrary: fc.nat({ max: 0o377 }).map((n) => `0${n.toString(8)}`), weight: 2 },
    { arbitrary: fc.constantFrom("'a'", "'\\n'", "'\\x41'", "'\\0'", "'\\377'", "'\"'", "'z'", "' '"), weight: 2 },
    {
      arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => `0x${n.toString(16)}ULL`),
      weight: wild ? 2 : 0,
    },
    { arbitrary: fc.constantFrom("'\\''", "'\\\\'", '0x', '09', '18446744073709551616', "''"), weight: wild ? 1 : 0 },
  );
  const divisor = wild ? literal : fc.integer({ min: 1, max: 99 }).map(String);

  const exprOf = (depth: number): fc.Arbitrary<string> => {
    if (depth === 0) return literal;
    const sub = exprOf(depth - 1);
    return fc.oneof(
      { arbitrary: literal, weight: 3 },
      { arbitrary: fc.tuple(fc.constantFrom('-', '~', '!'), sub).map(([o, a]) => `${o}(${a})`), weight: 1 },
      {
        arbitrary: fc
          .tuple(
            sub,
            fc.constantFrom('+', '-', '*', '<<', '>>', '&', '|', '^', '&&', '||', '<', '>', '<=', '>=', '==', '!='),
            sub,
          )
          .map(([x, o, y]) => `(${x} ${o} ${y})`),
        weight: 3,
      },
      { arbitrary: fc.tuple(sub, sub, sub).map(([c, x, y]) => `(${c} ? ${x} : ${y})`), weight: 1 },
      {
        arbitrary: fc.tuple(sub, fc.constantFrom('/', '%'), divisor).map(([x, o, y]) => `(${x} ${o} ${y})`),
        weight: 1,
      },
    );
  };
  const expr = exprOf(3);
  const maskFor = (bits: number): string => (bits === 64 ? '' : ` & 0x${((1n << BigInt(bits)) - 1n).toString(16)}`);

  /** An element of a cell array: a literal, a parenthesised expression, a reference or a label. */
  const cellItem = (bits: number): fc.Arbitrary<string> =>
    fc.oneof(
      { arbitrary: literal, weight: 4 },
      { arbitrary: expr.map((e) => (wild ? `(${e})` : `((${e})${maskFor(bits)})`)), weight: 3 },
      { arbitrary: fc.constantFrom(...REFS).map((l) => `&${l}`), weight: bits === 32 || wild ? 2 : 0 },
      { arbitrary: fc.constantFrom(...PATHS).map((p) => `&{${p}}`), weight: bits === 32 ? 1 : 0 },
      { arbitrary: fc.constantFrom(...LABELS).map((l) => `${l}: `), weight: 1 },
    );
  const cells = fc
    .constantFrom(32, 32, 32, 8, 16, 64)
    .chain((bits) =>
      fc
        .array(cellItem(bits), { maxLength: 5 })
        .map((items) => `${bits === 32 && items.length % 2 ? '' : `/bits/ ${bits} `}<${items.join(' ')}>`),
    );

  const strChunk = fc.oneof(
    { arbitrary: fc.stringMatching(/^[a-zA-Z0-9 ,.:;_+=()/-]{0,8}$/), weight: 6 },
    {
      arbitrary: fc.constantFrom('\\n', '\\t', '\\r', '\\a', '\\b', '\\f', '\\v', '\\\\', '\\"', "\\'", '\\q', '\\0'),
      weight: 2,
    },
    { arbitrary: fc.constantFrom('\\x41', '\\x4', '\\xff', '\\x0g', '\\101', '\\7', '\\400', '\\12a'), weight: 2 },
    { arbitrary: fc.constantFrom('é', '\u00ff', '//', '/*', '#', '&L0', '<1>', '{', '}', ';'), weight: 1 },
    { arbitrary: fc.constantFrom('\\x', '\\xg', '\\x-1', '\\x 1', '\\\n'), weight: wild ? 1 : 0 },
  );
  const str = fc.array(strChunk, { maxLength: 5 }).map((a) => `"${a.join('')}"`);
  const bytes = fc
    .array(
      fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => b.toString(16).padStart(2, '0')), weight: 5 },
        { arbitrary: fc.constantFrom(...LABELS).map((l) => ` ${l}: `), weight: 1 },
        { arbitrary: fc.constantFrom('0', 'g0', ' 1 '), weight: wild ? 1 : 0 },
      ),
      { maxLength: 6 },
    )
    .chain((bs) => fc.constantFrom(' ', '').map((sep) => `[${bs.join(sep)}]`));

  const valueItem = fc.oneof(
    { arbitrary: str, weight: 3 },
    { arbitrary: cells, weight: 4 },
    { arbitrary: bytes, weight: 2 },
    { arbitrary: fc.constantFrom(...REFS).map((l) => `&${l}`), weight: 1 },
    { arbitrary: fc.constantFrom(...PATHS).map((p) => `&{${p}}`), weight: 1 },
  );
  const labelPrefix = (max: number, p = 0.25): fc.Arbitrary<string> =>
    fc
      .array(fc.constantFrom(...LABELS), { maxLength: max })
      .chain((ls) =>
        fc.double({ min: 0, max: 1, noNaN: true }).map((x) => (x < p ? ls.map((l) => `${l}: `).join('') : '')),
      );
  const value = fc
    .array(fc.tuple(labelPrefix(1, 0.1), valueItem, labelPrefix(1, 0.1)), { minLength: 1, maxLength: 3 })
    .map((items) => items.map(([a, v, b]) => `${a}${v}${b ? ` ${b}` : ''}`).join(', '));

  /** [name, text]: names are unique within one body (except in wild mode), as dtc requires. */
  const prop: fc.Arbitrary<[string, string]> = fc.oneof(
    {
      arbitrary: fc
        .tuple(labelPrefix(2, wild ? 0.15 : 0.06), fc.constantFrom(...PROP_NAMES), value)
        .map(([l, n, v]): [string, string] => [n, `${l}${n} = ${v};`]),
      weight: 8,
    },
    {
      arbitrary: fc
        .tuple(labelPrefix(1, 0.1), fc.constantFrom(...PROP_NAMES))
        .map(([l, n]): [string, string] => [n, `${l}${n};`]),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(...PROP_NAMES).map((n): [string, string] => [`-${n}`, `/delete-property/ ${n};`]),
      weight: 1,
    },
    {
      arbitrary: fc
        .constantFrom(
          'phandle = <7>;',
          'linux,phandle = <9>;',
          'phandle = <0x10>;',
          'name = "n0";',
          'name = "dev";',
          'phandle = <&L0>;',
        )
        .map((t): [string, string] => [t.split(' ')[0]!, t]),
      weight: wild ? 1 : 0,
    },
  );
  const uniq = <T>(arb: fc.Arbitrary<[string, T]>, max: number): fc.Arbitrary<[string, T][]> =>
    wild ? fc.array(arb, { maxLength: max }) : fc.uniqueArray(arb, { maxLength: max, selector: (x) => x[0] });

  const bodyOf = (depth: number): fc.Arbitrary<string> => {
    const children =
      depth === 0
        ? fc.constant<string[]>([])
        : uniq(
            fc.oneof(
              {
                arbitrary: fc
                  .tuple(
                    labelPrefix(2, wild ? 0.35 : 0.15),
                    fc.constantFrom('', '', '', '', '/omit-if-no-ref/ '),
                    fc.constantFrom(...NODE_NAMES),
                    bodyOf(depth - 1),
                  )
                  .map(([l, o, n, b]): [string, string] => [n, `${o}${l}${n} ${b};`]),
                weight: 6,
              },
              {
                arbitrary: fc.constantFrom(...NODE_NAMES).map((n): [string, string] => [n, `/delete-node/ ${n};`]),
                weight: 1,
              },
            ),
            wild ? 3 : 2,
          );
    return fc
      .tuple(uniq(prop, 3), children)
      .map(([ps, cs]) => `{ ${ps.map((p) => p[1]).join(' ')} ${cs.map((c) => c[1]).join(' ')} }`);
  };
  const node = bodyOf(wild ? 3 : 2);
  // The root always holds L0: n0 and L1: n1, so that most references resolve.
  const rootBody = fc
    .tuple(
      fc.constantFrom('', '', '', 'phandle = <2>;', 'linux,phandle = <3>;', 'phandle = <0x10>;'),
      fc.constantFrom('', '', 'phandle = <&L0>;', 'name = "n0";', 'linux,phandle = <&{/n0}>;'),
      uniq(prop, 4),
      bodyOf(2),
      bodyOf(2),
      uniq(
        fc.constantFrom(...NODE_NAMES.slice(2)).chain((n) => bodyOf(2).map((b): [string, string] => [n, `${n} ${b};`])),
        2,
      ),
    )
    .map(
      ([rp, n0p, ps, b0, b1, cs]) =>
        `{ ${rp} ${ps.map((p) => p[1]).join(' ')} L0: n0 { ${n0p} ${b0.slice(1)}; L1: n1 ${b1}; ${cs.map((c) => c[1]).join(' ')} }`,
    );

  const ref = fc.oneof(
    fc.constantFrom(...REFS).map((l) => `&${l}`),
    fc.constantFrom(...PATHS).map((p) => `&{${p}}`),
  );
  const topStatement = fc.oneof(
    { arbitrary: node.map((b) => `/ ${b};`), weight: 6 },
    { arbitrary: fc.tuple(ref, node).map(([r, b]) => `${r} ${b};`), weight: 8 },
    { arbitrary: fc.tuple(fc.constantFrom(...LABELS), ref, node).map(([l, r, b]) => `${l}: ${r} ${b};`), weight: 1 },
    { arbitrary: ref.map((r) => `/delete-node/ ${r};`), weight: wild ? 2 : 1 },
    { arbitrary: ref.map((r) => `/omit-if-no-ref/ ${r};`), weight: 1 },
  );
  const prim = fc.oneof(
    literal,
    expr.map((e) => `(${e})`),
  );
  const memreserve = fc.tuple(labelPrefix(2, 0.3), prim, prim).map(([l, a, s]) => `${l}/memreserve/ ${a} ${s};`);

  return fc
    .tuple(
      fc.constantFrom('', '', '', '', '', '', '', '', '', '/plugin/;\n'),
      fc.array(memreserve, { maxLength: 3 }),
      rootBody,
      fc.array(topStatement, { maxLength: wild ? 6 : 4 }),
      fc.constantFrom('', '// trailing comment\n', '/* c */\n'),
    )
    .map(([plugin, mr, root, rest, tail]) => {
      const text = `/dts-v1/;\n${plugin}${mr.join('\n')}\n/ ${root};\n${rest.join('\n')}\n${tail}`;
      if (wild) return text;
      // Tame sources define each label once: later definitions of a label are dropped.
      const seen = new Set<string>();
      return text.replace(/\b(L[0-9a-z]|_l): /g, (m, l: string) => (seen.has(l) ? '' : (seen.add(l), m)));
    });
}

const dtsSource = fc.oneof({ arbitrary: sourceArb(false), weight: 9 }, { arbitrary: sourceArb(true), weight: 1 });

interface Outcome {
  ok: boolean;
  bytes?: Buffer;
  crashed?: boolean;
  stderr?: string;
}

function dtc(src: string, args: string[] = []): Outcome {
  const r = spawnSync('dtc', ['-q', '-I', 'dts', '-O', 'dtb', ...args, '-'], { input: Buffer.from(src, 'latin1') });
  if (r.signal) return { ok: false, crashed: true };
  return r.status === 0 ? { ok: true, bytes: r.stdout } : { ok: false, stderr: r.stderr.toString() };
}

function ours(src: string, preprocess = false): Outcome {
  try {
    return { ok: true, bytes: Buffer.from(writeDtb(compileDts(src, { file: '<stdin>', preprocess }))) };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    expect(e.format()).toMatch(/^<stdin>:\d+:\d+: error: \S/);
    return { ok: false };
  }
}

function agree(src: string, theirs: Outcome, mine: Outcome): void {
  if (theirs.crashed) return;
  if (theirs.ok !== mine.ok) {
    throw new Error(
      `dtc ${theirs.ok ? 'accepted' : `rejected (${theirs.stderr?.trim()})`} but we ${mine.ok ? 'accepted' : 'rejected'}:\n${src}`,
    );
  }
  if (theirs.ok && Buffer.compare(theirs.bytes!, mine.bytes!) !== 0) throw new Error(`different blobs for:\n${src}`);
}

test('random DTS sources compile exactly as dtc compiles them (≥ 500 cases)', () => {
  let accepted = 0;
  let total = 0;
  fc.assert(
    fc.property(dtsSource, (src) => {
      const theirs = dtc(src);
      agree(src, theirs, ours(src));
      total++;
      if (theirs.ok) accepted++;
    }),
    { numRuns: 520, seed: 0x5eed_d7c, endOnFailure: true },
  );
  // The generator must mostly produce valid trees, or the byte comparison would test little.
  expect(accepted / total).toBeGreaterThan(0.4);
});

// -- through the preprocessor ---------------------------------------------------------------------

const smallExpr = fc
  .tuple(fc.nat({ max: 300 }), fc.constantFrom('+', '-', '*', '|', '&', '<<', '^', '==', '?1:'), fc.nat({ max: 20 }))
  .map(([a, o, b]) => `${a} ${o} ${b}`);
const macroSource = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C'), smallExpr), { minLength: 1, maxLength: 3 }),
    fc.array(fc.constantFrom('A', 'B', 'C', 'F(A)', 'F((B))', 'G(1, C)', 'CAT(0x, 10)', 'CAT(A,)'), { maxLength: 6 }),
    fc.constantFrom('1', '0', 'defined(A)', '!defined(Q) && A', '(A) > 3', 'B == B'),
    fc.array(fc.constantFrom('n0', 'n1', 'x_y'), { maxLength: 3 }),
  )
  .map(([defs, uses, cond, names]) =>
    [
      '/dts-v1/;',
      ...defs.map(([n, e]) => `#define ${n} (${e})`),
      '#define F(x) ((x) + 1)',
      '#define G(a, b) (a) (b)',
      '#define CAT(a, b) a##b',
      '#define STR(x) #x',
      '#define NODE(n) n { label = STR(n); }',
      '/ {',
      `\tp = <${uses.join(' ')}>;`,
      `#if ${cond}`,
      '\tq = "taken", STR(A  +  B);',
      '#elif 1',
      '\tq = <2>;',
      '#else',
      '\tq = <3>;',
      '#endif',
      ...names.map((n, i) => `\tNODE(${n}${i});`),
      '};',
      '',
    ].join('\n'),
  );

test('random macro-using sources: our preprocessor + compiler equal cpp | dtc (≥ 120 cases)', () => {
  let total = 0;
  fc.assert(
    fc.property(macroSource, (src) => {
      const cpp = spawnSync('cpp', ['-nostdinc', '-undef', '-D__DTS__', '-x', 'assembler-with-cpp', '-'], {
        input: src,
        encoding: 'latin1',
      });
      const theirs: Outcome = cpp.status === 0 ? dtc(cpp.stdout) : { ok: false };
      let mine: Outcome;
      try {
        mine = { ok: true, bytes: Buffer.from(writeDtb(compileDts(src, { file: '<stdin>', defines: ['__DTS__'] }))) };
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        mine = { ok: false };
      }
      agree(src, theirs, mine);
      total++;
    }),
    { numRuns: 120, seed: 0xc99, endOnFailure: true },
  );
  expect(total).toBe(120);
});
