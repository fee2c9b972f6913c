/** End to end: `mte-sim run` through the built executable (run `npm run build` first); exit codes of SPEC §1. */
import { describe, expect, test, afterAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CLI = path.resolve('dist/src/cli.js');
const DT = path.resolve('test/run/fixtures/small-mte.dts');

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('mte-sim run (built CLI)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-runcli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const scn = (name: string, text: string): string => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  test('exit 0: the boot log, the run-time log and a SEGV_MTESERR note', () => {
    const f = scn('ok.scn', 'process a\na: mmap x 8K prot=rw+mte\na: settag x 0..4K 1\na: access x 0..32 tag=2\n');
    const r = run(['run', f, '--dt', DT, '--check']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('] MTE tag storage enabled\n');
    expect(r.out).toMatch(
      /\] a\[1000\]: unhandled exception: DABT \(lower EL\), ESR 0x0000000092000011, synchronous tag check fault\n/,
    );
    expect(r.out).toMatch(/ok\.scn:4:1: a: access: SIGSEGV \(SEGV_MTESERR\) at 0x0200[0-9a-f]{12}\n/);
  });

  test('exit 1: a failed expect on stderr', () => {
    const f = scn('fail.scn', 'process a\na: mmap x 8K\nexpect a:x resident == 2\n');
    const r = run(['run', f, '--dt', DT, '-q']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${f}:3:1: expect failed: a:x resident == 2 (left 0, right 2)\n`);
  });

  test('exit 2: a run-time input error names file:line:col; a missing scenario is a usage error', () => {
    const f = scn('bad.scn', 'process a\na: mmap x 8K\na: touch x 0..16K\n');
    const r = run(['run', f, '--dt', DT, '-q']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`mte-sim: ${f}:3:12: error: range 0..16K goes beyond the end of VMA 'x' (size 8K)\n`);
    const m = run(['run', path.join(dir, 'nope.scn')]);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/^mte-sim: error: cannot read scenario '.*nope\.scn': no such file\n$/);
  });

  test('--json prints one object', () => {
    const f = scn('j.scn', 'process a\na: mmap x 8K prot=rw+mte\na: touch x\nexpect vmstat.pgfault == 2\n');
    const r = run(['run', f, '--dt', DT, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { expects: { ok: boolean }[]; exit: number; dmesg: string };
    expect(j.expects).toEqual([expect.objectContaining({ ok: true, text: 'vmstat.pgfault == 2' })]);
    expect(j.exit).toBe(0);
    expect(j.dmesg).toContain('MTE tag storage enabled');
  });
});
