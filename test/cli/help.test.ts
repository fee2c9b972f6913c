import { spawnSync } from 'node:child_process';
import path from 'node:path';

const cli = path.resolve(import.meta.dirname, '../../dist/src/cli.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });

describe('mte-sim command line', () => {
  test('--help shows usage with an example', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: mte-sim');
    expect(r.stdout).toContain('Examples:');
  });

  test('--version prints the package version', () => {
    const r = run('--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('an unknown command is a usage error: exit 2, one message, no stack trace', () => {
    const r = run('frob');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'frob'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('mte-sim bench', () => {
  test('--help shows usage with an example', () => {
    const r = run('bench', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: mte-sim bench');
    expect(r.stdout).toContain('Examples:');
  });

  test('a name that matches no benchmark is a usage error naming the benchmarks', () => {
    const r = run('bench', 'nosuchbench');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("no benchmark matches 'nosuchbench' (there are: boot, dt, mm, fault, migrate, swap)");
  });
});
