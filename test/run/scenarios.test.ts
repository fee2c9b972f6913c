/**
 * Every example in scenarios/ runs under --check (SPEC §9): no invariant breaks; statements not modelled yet
 * are refused at their position. A file of its own so jest can run it beside the other run tests.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from '../../src/commands/run.js';
import { InputError } from '../../src/errors.js';
import { MemorySinks } from '../../src/io.js';

describe('scenarios/ examples under --check', () => {
  const root = path.resolve('scenarios');
  const files = readdirSync(root)
    .filter((f) => f.endsWith('.scn'))
    .sort();
  test.each(files)('%s', async (f) => {
    const sinks = new MemorySinks();
    let code: number;
    try {
      code = await runCommand({
        scenarios: [path.join(root, f)],
        check: true,
        include: [],
        globals: { json: false, color: false, quiet: true, verbose: false },
        sinks,
      });
    } catch (e) {
      // Statements of issue #5 not modelled yet are refused clearly, at their position.
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).message).toMatch(/is not modelled yet$/);
      return;
    }
    // No invariant breaks; exit 1 only for failed expects (the calibration of other layers), each reported.
    expect(sinks.stderr).not.toMatch(/invariant violated/);
    for (const line of sinks.stderr.split('\n').filter((l) => l !== '')) expect(line).toMatch(/: expect failed: /);
    expect(code).toBe(sinks.stderr === '' ? 0 : 1);
  });
});
