/**
 * The three race scenarios through the built executable (`node dist/src/cli.js run --check`, after `npm run
 * build`), with the schedule their `config seed=` picks: exit 0 with the fixes on as written, exit 1 with
 * the invariant violation on stderr when the race's fix is switched off in a copy of the file.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SCENARIOS, scenarioText } from './harness.js';

const CLI = path.resolve('dist/src/cli.js');

function run(file: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'run', '--check', '-q', file], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CASES: [string, string, RegExp[]][] = [
  [
    '10-race-migrate-mprotect.scn',
    'fix.metadata_none',
    [
      /:27:5: invariant violated: tag storage: app\[\d+\] buf 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ is mapped tagged without PG_tag_storage_reserved\n/,
    ],
  ],
  [
    '11-race-swapin-tags.scn',
    'fix.pfn_tags',
    [
      /: invariant violated: tag corruption: tags of pfn 0x[0-9a-f]+ written into tag storage page 0x[0-9a-f]+, which is not reserved for tags\n/,
      /: invariant violated: data: filler\[\d+\] spill /,
    ],
  ],
  [
    '12-race-copy-highpage.scn',
    'fix.pfn_tags',
    [
      /: invariant violated: tag corruption: tags of pfn 0x[0-9a-f]+ written into tag storage page 0x[0-9a-f]+, which is not reserved for tags\n/,
      /: invariant violated: data: filler\[\d+\] spill /,
    ],
  ],
];

describe('mte-sim run --check on the race scenarios', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-races-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(CASES)('%s as written (%s=on): exit 0, no violation', (name) => {
    const r = run(path.join(SCENARIOS, name));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test.each(CASES)('%s with %s=off: exit 1, the violation on stderr', (name, fix, patterns) => {
    const file = path.join(dir, name);
    writeFileSync(file, scenarioText(name, { [fix]: 'off' }));
    const r = run(file);
    expect(r.status).toBe(1);
    for (const re of patterns) expect(r.stderr).toMatch(re);
    for (const line of r.stderr.split('\n').filter((l) => l !== '')) {
      expect(line.startsWith(`${file}:`)).toBe(true);
      expect(line).toMatch(/: invariant violated: /);
    }
  });
});
