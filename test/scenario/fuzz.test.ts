/**
 * Property test: random mutations of the example scenarios only ever produce a Scenario or an InputError with a
 * sane `file:line:col` (never another exception, never a hang). Seeded, so a failure reproduces.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { InputError, type SrcPos } from '../../src/errors.js';
import { parseScenario } from '../../src/scenario/parser.js';

const dir = path.resolve(import.meta.dirname, '../../scenarios');
const examples = readdirSync(dir)
  .filter((f) => f.endsWith('.scn'))
  .sort()
  .map((f) => readFileSync(path.join(dir, f), 'utf8'));

/** Pieces worth splicing in: every token class, keywords, boundary numbers, odd characters. */
const VOCAB = [
  '{',
  '}',
  '(',
  ')',
  '"',
  '\\',
  '..',
  ':',
  '=',
  '==',
  '~',
  '!~',
  '#',
  ';',
  '\n',
  '\r\n',
  '\t',
  ' ',
  '-',
  '+',
  '*',
  '/',
  '.',
  '&',
  '@',
  '0',
  '1',
  '16',
  '4K',
  '0x',
  '0x1000',
  '4097',
  '99999999999999999999',
  '8191T',
  'repeat 2 {',
  'race {',
  'thread A {',
  'thread B {',
  'process p',
  'p: mmap v 4K',
  'p:',
  'mmap',
  'munmap',
  'touch',
  'settag',
  'access',
  'tag=',
  'prot=rw+mte',
  'to=',
  'to=Normal',
  'fork',
  'exit',
  'compact',
  'pressure',
  'show',
  'tags',
  'expect',
  'dmesg',
  'tagged',
  'tag(',
  'resident(',
  'meminfo.',
  'meminfo.Active(',
  'vmstat.x',
  'buddyinfo.Normal.',
  'zoneinfo.DMA.min',
  'config',
  'boot',
  'seed=',
  'cmdline="',
  'fix.pfn_tags=off',
  '\u0000',
  '\u00e9',
  '\uFEFF',
  '\u{1F600}',
];

type Mutation =
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; piece: string }
  | { op: 'replace'; at: number; ch: string }
  | { op: 'dupLine'; line: number }
  | { op: 'swapLines'; a: number; b: number }
  | { op: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), piece: fc.constantFrom(...VOCAB) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), piece: fc.string({ maxLength: 6 }) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), ch: fc.constantFrom(...VOCAB) }),
  fc.record({ op: fc.constant('dupLine' as const), line: fc.nat() }),
  fc.record({ op: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function apply(text: string, m: Mutation): string {
  const n = text.length;
  switch (m.op) {
    case 'delete': {
      const at = m.at % (n + 1);
      return text.slice(0, at) + text.slice(at + m.len);
    }
    case 'insert': {
      const at = m.at % (n + 1);
      return text.slice(0, at) + m.piece + text.slice(at);
    }
    case 'replace': {
      const at = m.at % (n + 1);
      return text.slice(0, at) + m.ch + text.slice(at + 1);
    }
    case 'truncate':
      return text.slice(0, m.at % (n + 1));
    case 'dupLine':
    case 'swapLines': {
      const lines = text.split('\n');
      if (m.op === 'dupLine') {
        const i = m.line % lines.length;
        lines.splice(i, 0, lines[i] as string);
      } else {
        const a = m.a % lines.length;
        const b = m.b % lines.length;
        [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
      }
      return lines.join('\n');
    }
  }
}

/** Parses; returns 'ok' or the error's position. Anything but InputError fails the property. */
function check(text: string): 'ok' | SrcPos {
  try {
    parseScenario(text, 'fuzz.scn');
    return 'ok';
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const where = e.where;
    if (where === undefined || typeof where === 'string')
      throw new Error(`InputError without a position: ${e.message}`, { cause: e });
    const lines = text.split('\n').length;
    if (where.file !== 'fuzz.scn' || where.line < 1 || where.line > lines || where.col < 1) {
      throw new Error(`bad position ${where.line}:${where.col} (file has ${lines} lines) for: ${e.message}`, {
        cause: e,
      });
    }
    const lineText = text.split('\n')[where.line - 1] as string;
    if (where.col > lineText.length + 1)
      throw new Error(`column ${where.col} beyond line ${where.line}: ${e.message}`, { cause: e });
    if (!/^fuzz\.scn:\d+:\d+: error: \S/.test(e.format())) throw new Error(`bad format: ${e.format()}`, { cause: e });
    if (e.message.includes('undefined') || e.message.includes('[object'))
      throw new Error(`sloppy message: ${e.message}`, { cause: e });
    return where;
  }
}

describe('fuzz: mutated examples give a Scenario or an InputError', () => {
  test('1500 seeded mutations', () => {
    let errors = 0;
    fc.assert(
      fc.property(fc.nat({ max: examples.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
        const text = ms.reduce(apply, examples[i] as string);
        if (check(text) !== 'ok') errors++;
      }),
      { seed: 0x5c7a, numRuns: 1500 },
    );
    // The mutations must actually exercise the error paths, not only harmless spots.
    expect(errors).toBeGreaterThan(300);
  });

  test('500 seeded token soups', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...VOCAB), { maxLength: 60 }),
        fc.array(fc.constantFrom(' ', '\n', ''), { maxLength: 60 }),
        (pieces, seps) => {
          check(pieces.map((p, k) => p + (seps[k] ?? ' ')).join(''));
        },
      ),
      { seed: 0x4e47, numRuns: 500 },
    );
  });

  test('large inputs stay linear: deep nesting and long lines are refused, long files parse', () => {
    expect(check('repeat 2 {\n'.repeat(10_000))).not.toBe('ok');
    expect(check('expect ' + '('.repeat(100_000) + '1')).not.toBe('ok');
    expect(check('expect ' + '-'.repeat(100_000) + '1 == 1')).not.toBe('ok');
    expect(check('expect 1' + ' * 1'.repeat(100_000) + ' == 1')).not.toBe('ok');
    const many = 'process p\n' + Array.from({ length: 20_000 }, (_, k) => `p: mmap v${k} 4K\n`).join('');
    expect(check(many)).toBe('ok');
    // Nested repeats that each change the VMA set: second passes stop at a budget instead of doubling.
    // (2^19 iterations: within the 1000000 total that nested repeats may run.)
    const nested = 'process p\n' + 'repeat 2 {\n'.repeat(19) + 'p: mmap v 4K\np: munmap v\n' + '}\n'.repeat(19);
    expect(check(nested)).toBe('ok');
    expect(check('repeat 2 {\n'.repeat(20) + 'compact\n' + '}\n'.repeat(20))).not.toBe('ok');
  });
});
