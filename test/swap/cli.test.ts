/**
 * End to end (the built CLI, `npm run build` first): the bundled swap scenarios under --check on the default
 * 4 GiB FVP platform — scenarios/05-swap-tags.scn, and scenarios/11-race-swapin-tags.scn (race 2 of the cover
 * letter) with a fixed schedule: clean with fix.pfn_tags=on, an invariant violation with it off.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/src/cli.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, FORCE_COLOR: '0' },
    maxBuffer: 64 * 2 ** 20,
  });

/** The seed whose schedule runs thread A's swap-in before thread B's mprotect(PROT_MTE). */
const SEED = '7';

describe('swap scenarios through the CLI', () => {
  test('05-swap-tags: tags and data come back from swap, every expect holds', () => {
    const r = run('run', '--check', 'scenarios/05-swap-tags.scn');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Adding 262140k swap on \/dev\/pmem0\. {2}Priority:-2 extents:1 across:262140k SS\n/);
  });

  test('11-race-swapin-tags: clean with fix.pfn_tags=on, a violation with it off', () => {
    const on = run('run', '--check', '--seed', SEED, 'scenarios/11-race-swapin-tags.scn');
    expect(on.stderr).toBe('');
    expect(on.status).toBe(0);

    const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-swap-'));
    const off = path.join(dir, '11-off.scn');
    const text = readFileSync(path.join(root, 'scenarios/11-race-swapin-tags.scn'), 'utf8');
    expect(text).toContain('fix.pfn_tags=on');
    writeFileSync(off, text.replace('fix.pfn_tags=on', 'fix.pfn_tags=off'));
    const r = run('run', '--check', '--seed', SEED, off);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /11-off\.scn:\d+:\d+: invariant violated: tag corruption: tags of pfn 0x[0-9a-f]+ written into tag storage page 0x[0-9a-f]+, which is not reserved for tags\n/,
    );
  });
});
