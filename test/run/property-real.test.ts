/**
 * The property of property.test.ts on the real kernel: random scenarios run by `mte-sim run --check` on the
 * booted small platform (real buddy allocator, tag storage reservation, migration), no invariant violation.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand } from '../../src/commands/run.js';
import { MemorySinks } from '../../src/io.js';
import { raceStmt, render, stmt, type S } from './gen.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-prop-'));
const dt = path.resolve('test/run/fixtures/small-mte.dts');

describe('random scenarios under --check on the booted small platform', () => {
  test('no invariant is ever violated (40 scenarios)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 4, max: 32 }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.constantFrom('none', 'r', 'rw', 'r+mte', 'rw+mte'), { minLength: 3, maxLength: 3 }),
        fc.array(stmt, { maxLength: 12 }),
        fc.option(fc.array(fc.array(raceStmt, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 })),
        fc.integer({ min: 1, max: 1000 }),
        async (sizes, prots, body, race, seed) => {
          const file = path.join(dir, `p${n++}.scn`);
          writeFileSync(
            file,
            render(sizes, prots, body as S[], race as S[][] | null) + 'expect meminfo.AnonPages == 0\n',
          );
          const sinks = new MemorySinks();
          const code = await runCommand({
            scenarios: [file],
            dt,
            seed: String(seed),
            check: true,
            include: [],
            globals: { json: false, color: false, quiet: true, verbose: false },
            sinks,
          });
          expect(sinks.stderr).toBe('');
          expect(code).toBe(0);
        },
      ),
      { numRuns: 40, seed: 777 },
    );
  });
});
