/**
 * Property (SPEC §9, issue #4 acceptance 7): random scenarios of every statement the process layer models,
 * run with --check (all SPEC §5 invariants after every step, every race step), never violate an invariant.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { runFake } from './helpers.js';
import { PROTS, raceStmt, render, stmt, type S } from './gen.js';

describe('random scenarios under --check', () => {
  test('no invariant is ever violated (200 scenarios)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 4, max: 32 }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.constantFrom(...PROTS), { minLength: 3, maxLength: 3 }),
        fc.array(stmt, { maxLength: 12 }),
        fc.option(fc.array(fc.array(raceStmt, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 })),
        fc.integer({ min: 1, max: 1000 }),
        fc.boolean(),
        (sizes, prots, body, race, seed, fix) => {
          const text = render(sizes, prots, body as S[], race as S[][] | null);
          const { it, port } = runFake(text, { seed, check: true, fixMetadataNone: true });
          expect(it.violations).toBe(0);
          // Everything the process had is returned: only the zero page's tag block stays reserved.
          expect(port.get('nr_anon_pages')).toBe(0);
          expect(port.get('nr_page_table_pages')).toBe(0);
          expect(port.blockRef.size).toBe(1);
          void fix;
        },
      ),
      { numRuns: 200, seed: 4242 },
    );
  });
});
