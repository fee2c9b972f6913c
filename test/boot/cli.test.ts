/** End to end: the built executable (run `npm run build` first). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers.js';

const CLI = path.join(ROOT, 'dist/src/cli.js');

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('mte-sim boot (built CLI)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-boot-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('acceptance 1: no argument boots the bundled DT; --show meminfo', () => {
    const r = run(['boot', '--show', 'meminfo']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('] Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages\n');
    expect(r.out).toContain('] Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages\n');
    expect(r.out).toContain('] MTE tag storage enabled\n');
    expect(r.out).toContain('==> /proc/meminfo <==\n');
    expect(r.out).toContain('\nMetadataTotal:    126976 kB\nMetadataFree:     126972 kB\n');
    expect(r.out).not.toContain('\u001b[');
  });

  test('acceptance 5: a truncated DTB and a non-DT file exit 2 with one line', () => {
    const dtb = spawnSync('dtc', ['-I', 'dts', '-O', 'dtb', path.join(ROOT, 'dts/fvp-base-revc-mte.dts')]);
    const trunc = path.join(dir, 'trunc.dtb');
    writeFileSync(trunc, dtb.stdout.subarray(0, 200));
    const t = run(['boot', trunc]);
    expect(t.code).toBe(2);
    expect(t.out).toBe('');
    expect(t.err.trim().split('\n')).toHaveLength(1);
    expect(t.err).toMatch(/trunc\.dtb.*truncated/);
    const junk = path.join(dir, 'junk.bin');
    writeFileSync(junk, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]));
    const j = run(['boot', junk]);
    expect(j.code).toBe(2);
    expect(j.err.trim().split('\n')).toHaveLength(1);
  });

  test('--proc-dir writes every file; --json prints one object', () => {
    const out = path.join(dir, 'proc');
    const r = run(['boot', '--proc-dir', out, '--json', '--cmdline', 'arm64.nomte']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { tagStorage: { state: string }; cmdline: string };
    expect(j.tagStorage.state).toBe('movable');
    expect(j.cmdline).toBe('arm64.nomte');
    expect(readdirSync(out).sort()).toEqual([
      'buddyinfo',
      'dmesg',
      'iomem',
      'meminfo',
      'pagetypeinfo',
      'vmstat',
      'zoneinfo',
    ]);
    expect(readFileSync(path.join(out, 'meminfo'), 'utf8')).toContain('MetadataTotal:         0 kB\n');
    expect(readFileSync(path.join(out, 'dmesg'), 'utf8')).toContain('Kernel command line: arm64.nomte\n');
  });

  test('bad option values exit 2', () => {
    expect(run(['boot', '--page-size', '8K']).code).toBe(2);
    expect(run(['boot', '--kernel-image', 'lots']).code).toBe(2);
    expect(run(['boot', '--show', 'nope']).code).toBe(2);
  });
});
