/**
 * Every example in scenarios/ parses, and together they use every command and form of SPEC §6
 * (issue #4: "at least 8 commented example scenarios covering every command").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Expr, Scenario, Stmt } from '../../src/scenario/ast.js';
import { parseScenario } from '../../src/scenario/parser.js';

const dir = path.resolve(import.meta.dirname, '../../scenarios');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.scn'))
  .sort();

function parseFile(f: string): Scenario {
  return parseScenario(readFileSync(path.join(dir, f), 'utf8'), `scenarios/${f}`);
}

/** Names of the features a statement uses: `mmap`, `mmap:thp`, `show:tags`, `expect:dmesg`, ... */
function features(stmts: readonly Stmt[], out: Set<string>): void {
  const expr = (e: Expr): void => {
    out.add(`expect:${e.kind}`);
    if (e.kind === 'dmesg') out.add(e.negate ? 'expect:dmesg!~' : 'expect:dmesg~');
    if (e.kind !== 'compare') return;
    const walk = (a: Expr | import('../../src/scenario/ast.js').Arith): void => {
      if (a.kind === 'counter') out.add(`counter:${a.file}`);
      else if (a.kind === 'query') out.add(`query:${a.query}`);
      else if (a.kind === 'binary') {
        out.add(`op:${a.op}`);
        walk(a.left);
        walk(a.right);
      } else if (a.kind === 'negate') walk(a.operand);
    };
    walk(e.left);
    walk(e.right);
  };
  for (const s of stmts) {
    out.add(s.kind);
    switch (s.kind) {
      case 'mmap':
        if (s.thp) out.add('mmap:thp');
        if (s.prot.mte) out.add('mmap:mte');
        break;
      case 'touch':
        out.add(s.write ? 'touch:write' : 'touch:read');
        break;
      case 'migrate':
        out.add(`migrate:${s.target.kind}`);
        break;
      case 'show':
        out.add(`show:${s.what}`);
        break;
      case 'expect':
        expr(s.expr);
        break;
      case 'repeat':
        features(s.body, out);
        break;
      case 'race':
        for (const t of s.threads) features(t.body, out);
        break;
    }
  }
}

describe('scenarios/', () => {
  test('there are at least 8 examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  test.each(files)('%s parses and starts with a comment', (f) => {
    const text = readFileSync(path.join(dir, f), 'utf8');
    expect(text.startsWith('# ')).toBe(true);
    const s = parseFile(f);
    expect(s.body.length).toBeGreaterThan(0);
  });

  test('together they use every command and form', () => {
    const seen = new Set<string>();
    const keys = new Set<string>();
    let boot = false;
    for (const f of files) {
      const s = parseFile(f);
      features(s.body, seen);
      for (const k of Object.keys(s.config)) keys.add(k);
      boot ||= s.boot !== undefined;
    }
    const wanted = [
      'process',
      'mmap',
      'mmap:thp',
      'mmap:mte',
      'munmap',
      'mprotect',
      'touch:read',
      'touch:write',
      'settag',
      'access',
      'pageout',
      'migrate',
      'migrate:zone',
      'migrate:dtLabel',
      'migrate:dtPath',
      'fork',
      'exit',
      'compact',
      'pressure',
      'repeat',
      'race',
      'show:dmesg',
      'show:meminfo',
      'show:vmstat',
      'show:buddyinfo',
      'show:pagetypeinfo',
      'show:zoneinfo',
      'show:iomem',
      'show:tags',
      'expect:compare',
      'expect:dmesg~',
      'expect:dmesg!~',
      'expect:tagged',
      'counter:meminfo',
      'counter:vmstat',
      'counter:buddyinfo',
      'counter:zoneinfo',
      'query:tag',
      'query:resident',
      'query:swapped',
    ];
    expect(wanted.filter((w) => !seen.has(w))).toEqual([]);
    expect(boot).toBe(true);
    expect([...keys].sort()).toEqual(expect.arrayContaining(['fix.metadata_none', 'fix.pfn_tags', 'swap', 'seed']));
  });

  test('the three races of the cover letter are race blocks with their fix switch set', () => {
    const races = files.filter((f) => f.includes('race'));
    expect(races).toHaveLength(3);
    for (const f of races) {
      const s = parseFile(f);
      expect(s.body.some((st) => st.kind === 'race')).toBe(true);
      expect(s.config['fix.metadata_none'] ?? s.config['fix.pfn_tags']).toBeDefined();
    }
  });
});
