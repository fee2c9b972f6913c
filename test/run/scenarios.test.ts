/**
 * Every example in scenarios/ runs under --check (SPEC §9): no invariant breaks and every expect holds.
 * A file of its own so jest can run it beside the other run tests.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from '../../src/commands/run.js';
import { MemorySinks } from '../../src/io.js';

describe('scenarios/ examples under --check', () => {
  const root = path.resolve('scenarios');
  const files = readdirSync(root)
    .filter((f) => f.endsWith('.scn'))
    .sort();
  test.each(files)('%s', async (f) => {
    const sinks = new MemorySinks();
    const code = await runCommand({
      scenarios: [path.join(root, f)],
      check: true,
      include: [],
      globals: { json: false, color: false, quiet: true, verbose: false },
      sinks,
    });
    // Every example is calibrated: no invariant breaks, every expect holds, nothing is refused.
    expect(sinks.stderr).toBe('');
    expect(code).toBe(0);
  });
});
