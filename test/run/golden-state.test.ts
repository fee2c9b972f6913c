/**
 * Golden end state of whole workloads: every example in scenarios/ and the heavier workloads in
 * test/run/golden-state/, run on the real boot. The golden text holds everything the run
 * printed, every /proc file at the end, and SHA-1 digests of the complete machine state: the memmap words
 * of every page (flags, refcount, owner, token, free-list links), every VMA's PTEs, pfns and tokens, and the
 * tag bytes. Any change of behaviour — a different page chosen, a list order changed, a counter off by one —
 * shows here; performance work must leave these files unchanged. Regenerate with UPDATE_GOLDEN=1 and read
 * the diff.
 *
 * The golden files were produced by the code before the performance work of the second session (commit
 * cee67a2, run through this same runner), so they pin the emulated kernel's behaviour from before it: 4K, 16K
 * and 64K pages, 1- and 3-page tag blocks, swap, fork, THP, migration, spill and OOM. One exception, on purpose:
 * w7-numa.golden was regenerated when pages of interleaved NUMA nodes got their own node's zone (the only
 * behaviour change since).
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, runToText } from './state.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const files = [
  ...readdirSync(path.join(ROOT, 'scenarios'))
    .filter((f) => f.endsWith('.scn'))
    .map((f) => path.join(ROOT, 'scenarios', f)),
  ...readdirSync(path.join(HERE, 'golden-state'))
    .filter((f) => f.endsWith('.scn'))
    .map((f) => path.join(HERE, 'golden-state', f)),
].sort();

describe('golden end state of whole workloads (behaviour must not change with performance work)', () => {
  test.each(files.map((f) => [path.relative(ROOT, f), f]))('%s', async (_name, file) => {
    const actual = await runToText(readFileSync(file, 'utf8'), path.relative(ROOT, file));
    const golden = path.join(HERE, 'golden-state', `${path.basename(file, '.scn')}.golden`);
    if (process.env['UPDATE_GOLDEN'] === '1') {
      mkdirSync(path.dirname(golden), { recursive: true });
      writeFileSync(golden, actual);
    }
    if (!existsSync(golden)) throw new Error(`golden file ${golden} is missing: run with UPDATE_GOLDEN=1 and read it`);
    expect(actual).toBe(readFileSync(golden, 'utf8'));
  });
});
