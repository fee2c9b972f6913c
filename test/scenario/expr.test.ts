/** evaluateExpect against a fake ExpectContext: values, comparisons, run-time errors at the right place. */
import { InputError } from '../../src/errors.js';
import type { CounterFile, ExpectStmt, ZoneName } from '../../src/scenario/ast.js';
import {
  evaluateExpect,
  formatExpectFailure,
  formatExpr,
  type ExpectContext,
  type QueryRange,
} from '../../src/scenario/expr.js';
import { parseScenario } from '../../src/scenario/parser.js';

const counters: Record<string, number> = {
  'meminfo.MemFree': 1000,
  'meminfo.Active(anon)': 12,
  'vmstat.pgfault': 7,
  'vmstat.big': 2 ** 52,
  'buddyinfo.Normal.3': 5,
  'zoneinfo.DMA.min': 128,
};

class FakeContext implements ExpectContext {
  calls: string[] = [];
  counter(file: CounterFile, name: string, zone?: ZoneName, order?: number): number | undefined {
    const key = file === 'meminfo' || file === 'vmstat' ? `${file}.${name}` : `${file}.${zone}.${order ?? name}`;
    return counters[key];
  }
  dmesg(): string {
    return '[    0.000000] MTE tag storage enabled\n[    1.000000] Out of memory: Killed process 2 (p)\n';
  }
  vmaTagged(proc: string, vma: string): boolean | undefined {
    return proc === 'p' ? vma === 't' : undefined;
  }
  vmaTag(proc: string, vma: string, range: QueryRange): number | string | undefined {
    this.calls.push(`tag ${proc}:${vma} ${range.start}..${range.end}`);
    if (proc !== 'p') return undefined;
    return range.start === 0 ? 3 : 'mixed 3,5';
  }
  vmaResident(proc: string, vma: string, range?: QueryRange): number | undefined {
    this.calls.push(`resident ${proc}:${vma} ${range ? `${range.start}..${range.end}` : 'all'}`);
    return proc === 'p' ? 256 : undefined;
  }
  vmaSwapped(proc: string, _vma: string, _range?: QueryRange): number | undefined {
    return proc === 'p' ? 0 : undefined;
  }
}

const PRE = 'process p\np: mmap t 1M prot=rw+mte\np: mmap u 1M\n';

function stmt(expr: string): ExpectStmt {
  const s = parseScenario(`${PRE}expect ${expr}\n`, 'e.scn');
  return s.body[s.body.length - 1] as ExpectStmt;
}

function run(expr: string, ctx: ExpectContext = new FakeContext()) {
  return evaluateExpect(stmt(expr).expr, ctx);
}

function runtimeError(expr: string): string {
  try {
    run(expr);
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
  return '(no error)';
}

describe('evaluateExpect', () => {
  test('counters and arithmetic', () => {
    expect(run('meminfo.MemFree > 0')).toEqual({ ok: true, left: 1000, right: 0, text: 'meminfo.MemFree > 0' });
    expect(run('vmstat.pgfault / 2 == 3')).toMatchObject({ ok: true, left: 3 });
    expect(run('-vmstat.pgfault / 2 == -3')).toMatchObject({ ok: true, left: -3 });
    expect(run('meminfo.Active(anon) * 4K == 48K')).toMatchObject({ ok: true, left: 49152 });
    expect(run('buddyinfo.Normal.3 + zoneinfo.DMA.min - 1 >= 132')).toMatchObject({ ok: true, left: 132 });
    expect(run('(1 + 2) * 3 != 9')).toMatchObject({ ok: false, left: 9, right: 9 });
  });

  test('each comparison', () => {
    const cases: [string, boolean][] = [
      ['2 == 2', true],
      ['2 != 2', false],
      ['1 < 2', true],
      ['2 <= 1', false],
      ['2 > 1', true],
      ['1 >= 2', false],
    ];
    for (const [e, ok] of cases) expect(run(e).ok).toBe(ok);
  });

  test('dmesg ~ and !~ are substring matches', () => {
    expect(run('dmesg ~ "MTE tag storage enabled"')).toEqual({
      ok: true,
      left: 'dmesg',
      right: 'MTE tag storage enabled',
      text: 'dmesg ~ "MTE tag storage enabled"',
    });
    expect(run('dmesg ~ "disabled"').ok).toBe(false);
    expect(run('dmesg !~ "disabled"').ok).toBe(true);
    expect(run('dmesg !~ "Out of memory"').ok).toBe(false);
    expect(run('dmesg ~ "storage.enabled"').ok).toBe(false); // not a regular expression
  });

  test('mapping queries pass names and ranges through', () => {
    const ctx = new FakeContext();
    expect(run('p:t tagged', ctx)).toEqual({ ok: true, left: 'tagged', right: 'tagged', text: 'p:t tagged' });
    expect(run('p:u tagged', ctx)).toMatchObject({ ok: false, left: 'untagged' });
    expect(run('p:t tag(0..4K) == 3', ctx).ok).toBe(true);
    expect(run('p:t resident(4K..8K) == 256', ctx).ok).toBe(true);
    expect(run('p:t resident == 256', ctx).ok).toBe(true);
    expect(run('p:t swapped(0..1M) == 0', ctx).ok).toBe(true);
    expect(ctx.calls).toEqual(['tag p:t 0..4096', 'resident p:t 4096..8192', 'resident p:t all']);
  });

  test('a non-uniform tag compares unequal to every number and is never ordered', () => {
    expect(run('p:t tag(16..4K) == 3')).toMatchObject({ ok: false, left: 'mixed 3,5', right: 3 });
    expect(run('p:t tag(16..4K) != 3').ok).toBe(true);
    expect(run('p:t tag(16..4K) >= 0').ok).toBe(false);
    expect(run('p:t tag(16..4K) + 1 < 100')).toMatchObject({ ok: false, left: 'mixed 3,5' });
  });
});

describe('run-time errors point into the expect', () => {
  test.each([
    ['vmstat.pgfault + vmstat.nr_bogus > 0', 'e.scn:4:25: error: unknown counter vmstat.nr_bogus'],
    ['buddyinfo.Normal.11 == 0', 'e.scn:4:8: error: unknown counter buddyinfo.Normal.11'],
    ['meminfo.Active(file) == 0', 'e.scn:4:8: error: unknown counter meminfo.Active(file)'],
    ['vmstat.pgfault / (1 - 1) == 0', 'e.scn:4:23: error: division by zero in expect'],
    ['vmstat.big * 4 > 0', 'e.scn:4:19: error: arithmetic overflow in expect'],
  ])('%s', (expr, expected) => {
    expect(runtimeError(expr)).toBe(expected);
  });

  test('a mapping the machine does not know', () => {
    const s = parseScenario('process q\nq: mmap v 4K\nexpect q:v resident == 1\nexpect q:v tagged\n', 'e.scn');
    const [a, b] = s.body.slice(2) as ExpectStmt[];
    const err = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as InputError).format();
      }
      return '(no error)';
    };
    expect(err(() => evaluateExpect((a as ExpectStmt).expr, new FakeContext()))).toBe(
      "e.scn:3:8: error: no VMA 'v' in process 'q'",
    );
    expect(err(() => evaluateExpect((b as ExpectStmt).expr, new FakeContext()))).toBe(
      "e.scn:4:8: error: no VMA 'v' in process 'q'",
    );
  });
});

describe('printing', () => {
  test('formatExpr is canonical: sizes, minimal parentheses', () => {
    expect(formatExpr(stmt('(meminfo.MemFree)+(4096*2) >= 1 - (2 - 3)').expr)).toBe(
      'meminfo.MemFree + 4K * 2 >= 1 - (2 - 3)',
    );
    expect(formatExpr(stmt('-(1+2)*3 == 1500').expr)).toBe('-(1 + 2) * 3 == 1500');
    expect(formatExpr(stmt('p:t tag(0..0x1000) == 3').expr)).toBe('p:t tag(0..4K) == 3');
    expect(formatExpr(stmt('dmesg !~ "a\\"b"').expr)).toBe('dmesg !~ "a\\"b"');
  });

  test('formatExpectFailure prints the place, the expression as written and both values', () => {
    const s = stmt('vmstat.pgfault>=10');
    expect(formatExpectFailure(s, evaluateExpect(s.expr, new FakeContext()))).toBe(
      'e.scn:4:1: expect failed: vmstat.pgfault>=10 (left 7, right 10)',
    );
    const d = stmt('dmesg ~ "oops"');
    expect(formatExpectFailure(d, evaluateExpect(d.expr, new FakeContext()))).toBe(
      'e.scn:4:1: expect failed: dmesg ~ "oops" (the log does not contain "oops")',
    );
  });
});
