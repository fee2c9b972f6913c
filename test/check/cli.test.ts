/**
 * `mte-sim check` end to end: spawns the built CLI (run `npm run build` first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/src/cli.js');
const ex = (name: string) => path.join(root, 'dts/examples', name);
const run = (...args: string[]) =>
  spawnSync(process.execPath, [cli, 'check', ...args], {
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });

describe('mte-sim check', () => {
  test('the default FVP DT: exit 0, both regions and the enabled line quoted, a summary', () => {
    const r = run(path.join(root, 'dts/fvp-base-revc-mte.dts'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /fvp-base-revc-mte\.dts:\d+:\d+: ok \(region-found\): \/metadata@fc000000\n {4}kernel: Found MTE tag storage region 0x3e00000@0xfc000000, block size 1 pages\n/,
    );
    expect(r.stdout).toContain('    kernel: Found MTE tag storage region 0x3e00000@0x8fc000000, block size 1 pages\n');
    expect(r.stdout).toContain('fvp-base-revc-mte.dts: ok (enabled): /\n    kernel: MTE tag storage enabled\n');
    expect(r.stdout).toMatch(
      /: tag storage enabled\n {4}page size 4K, 2 regions, MemTotal \d+ kB, MetadataTotal 126976 kB/,
    );
  });

  test('a refused node: exit 1, file:line:col, rule, node path, the kernel lines and a plain explanation', () => {
    const r = run(ex('not-pageblock-aligned.dts'));
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      /not-pageblock-aligned\.dts:\d+:\d+: error \(not-pageblock-aligned\): \/metadata@fc100000$/,
    );
    expect(lines[1]).toBe('    kernel: Tag storage region not aligned to 0x200');
    expect(lines[2]).toMatch(/^ {4}Tag storage is handed to the page allocator in whole pageblocks/);
    expect(r.stdout).toContain('error (management-disabled): /\n    kernel: MTE tag storage management disabled\n');
    expect(r.stdout).toContain('tag storage not enabled: tag storage management disabled at discovery');
  });

  test('--page-size changes the rule outcome: the FVP DT with 64K pages', () => {
    const r = run(path.join(root, 'dts/fvp-base-revc-mte.dts'), '--page-size', '64K');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('    kernel: Tag storage region not aligned to 0x2000\n');
  });

  test('--cmdline overrides bootargs: arm64.nomte and kasan=on give exit 1 with their explanation', () => {
    const nomte = run(path.join(root, 'dts/fvp-base-revc-mte.dts'), '--cmdline', 'arm64.nomte');
    expect(nomte.status).toBe(1);
    expect(nomte.stdout).toContain('note (nomte): /\n    kernel: (no message)\n');
    expect(nomte.stdout).toContain('MIGRATE_MOVABLE');
    const kasan = run(ex('kasan-hw-tags.dts'));
    expect(kasan.status).toBe(1);
    expect(kasan.stdout).toContain('    kernel: KASAN HW tags enabled, disabling tag storage\n');
    // The example's own bootargs can be overridden back to a plain boot.
    expect(run(ex('kasan-hw-tags.dts'), '--cmdline', 'console=ttyAMA0').status).toBe(0);
  });

  test('v3 binding: warnings (not failures) saying what v1 expects; exit 1 because nothing is enabled', () => {
    const r = run(ex('v3-binding.dts'));
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('    kernel: No MTE tag storage regions detected\n');
    expect(r.stdout).toMatch(/warning \(mte-sim: v3-binding\): \/reserved-memory\/tag-storage@8f8000000: /);
    expect(r.stdout).toMatch(/warning \(mte-sim: v3-tagged-memory\): .*v1 needs 'memory = <&memN>'/);
    expect(r.stdout).toMatch(/warning \(mte-sim: v3-reusable\)/);
    expect(r.stdout).toContain(
      'warning (mte-sim: unit-address): /reserved-memory/tag-storage@8fc00000: unit address 8fc00000 does not match reg (0x8fc000000)',
    );
    expect(r.stdout).toContain('v1 expects a node directly under the root');
  });

  test('v2 binding (tag-storage@ at the root) is flagged', () => {
    const r = run(ex('v2-binding.dts'));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /warning \(mte-sim: v2-binding\): \/tag-storage@fc000000: node name contains 'tag-storage'/,
    );
  });

  test("the kernel tree's FVP MTE DT (cpp includes): enabled, and the cover letter's unit addresses flagged", () => {
    const real = path.resolve(import.meta.dirname, '../../../shared/dts-real');
    const r = run(`${real}/arch/arm64/boot/dts/arm/fvp-base-revc-mte.dts`, '-I', `${real}/include`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${real}/arch/arm64/boot/dts/arm/fvp-base-revc-mte.dts: ok (enabled): /\n`);
    expect(r.stdout).toContain(
      'warning (mte-sim: unit-address): /metadata@c0000000: unit address c0000000 does not match reg (0xfc000000)',
    );
  });

  test('--json: one object with the state, the regions and every finding', () => {
    const r = run(ex('block-size-3-pages.dts'), '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      pageSize: 4096,
      state: 'enabled',
      enabled: true,
      metadataTotalKb: 24576,
      regions: [{ node: '/metadata@b0000000', base: 0xb0000000, size: 0x1800000, blockSizePages: 3 }],
    });
    expect(j.findings.map((f: { rule: string }) => f.rule)).toEqual(['region-found', 'enabled']);
    expect(j.findings[1].lines).toEqual(['MTE tag storage enabled']);
  });

  test('a DTB compiled by dtc gives the same verdict (no source positions: the file name stands in)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-check-'));
    const dtb = path.join(dir, 'fvp.dtb');
    const c = spawnSync('dtc', ['-q', '-I', 'dts', '-O', 'dtb', '-o', dtb, ex('not-pageblock-aligned.dts')]);
    expect(c.status).toBe(0);
    const r = run(dtb);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`${dtb}: error (not-pageblock-aligned): /metadata@fc100000\n`);
    expect(r.stdout).toContain('    kernel: Tag storage region not aligned to 0x200\n');
  });

  test('global --json before the command works too', () => {
    const r = spawnSync(process.execPath, [cli, '--json', 'check', ex('no-tag-storage.dts')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout).state).toBe('none');
  });

  test('a file that cannot be parsed: exit 2 with one located message, no stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-check-'));
    const bad = path.join(dir, 'bad.dts');
    writeFileSync(bad, '/dts-v1/;\n/ {\n\tmemory@0 { reg = <1 2>\n};\n');
    const r = run(bad);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.dts:\d+:\d+: error: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const missing = run(path.join(dir, 'nope.dts'));
    expect(missing.status).toBe(2);
    const trunc = path.join(dir, 'trunc.dtb');
    writeFileSync(trunc, Buffer.from([0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0]));
    expect(run(trunc).status).toBe(2);
  });

  test('other warnings and errors of the boot are shown beside the tag storage findings', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-check-'));
    const f = path.join(dir, 'resv.dts');
    writeFileSync(
      f,
      '/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n' +
        '  memory0: memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x7c000000>; };\n' +
        '  reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges; bad@0 { reg = <0 1 2>; }; };\n' +
        '  metadata@fc000000 { compatible = "arm,mte-tag-storage"; reg = <0 0xfc000000 0 0x3e00000>;\n' +
        '    block-size = <0x1000>; memory = <&memory0>; };\n};\n',
    );
    const r = run(f);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      `${f}: warning (boot-log): /\n    kernel: OF: fdt: No chosen node found, continuing without\n`,
    );
    expect(r.stdout).toContain(
      "    kernel: OF: fdt: Reserved memory: invalid reg property in 'bad@0', skipping node.\n",
    );
  });

  test('problems the kernel never reaches (it stops at the first) are listed as mte-sim warnings', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-check-'));
    const f = path.join(dir, 'multi.dts');
    writeFileSync(
      f,
      '/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>; chosen { };\n' +
        '  memory0: memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x7c000000>; };\n' +
        '  memory1: memory@880000000 { device_type = "memory"; reg = <8 0x80000000 0 0x7c000000>; };\n' +
        '  metadata@fc100000 { compatible = "arm,mte-tag-storage"; reg = <0 0xfc100000 0 0x4000000>;\n' +
        '    memory = <&memory0>; };\n' +
        '  metadata@8fc000000 { compatible = "arm,mte-tag-storage"; reg = <8 0xfc000000 0 0x3e00000>;\n' +
        '    block-size = <0x3000>; memory = <&memory1>; };\n};\n',
    );
    const r = run(f);
    expect(r.status).toBe(1);
    const ours = r.stdout.split('\n').filter((l) => l.includes('(mte-sim: not-reached)'));
    expect(ours.map((l) => l.replace(/^.*?\(mte-sim: not-reached\): /, ''))).toEqual([
      '/metadata@fc100000: ratio-not-1-to-32: the kernel would print "Tag region doesn\'t cover exactly the corresponding memory region"',
      '/metadata@fc100000: missing-block-size: the kernel would print "Invalid or missing \'block-size\' property"',
      '/metadata@8fc000000: size-not-multiple-of-block: the kernel would print "Tag storage region size is not a multiple of allocation block size"',
    ]);
    // The explanation is given once.
    expect(r.stdout.split('The kernel stops at the first failing check').length).toBe(2);
  });

  test('--list-rules prints every kernel rule with its message, and the mte-sim warnings', () => {
    const r = run('--list-rules');
    expect(r.status).toBe(0);
    for (const s of [
      'too-many-regions',
      'Maximum number of tag storage regions exceeded',
      "Tag region doesn't cover exactly the corresponding memory region",
      'Tag storage region 0x%llx-0x%llx outside addressable memory',
      'Found MTE tag storage region 0x%llx@0x%llx, block size %u pages',
      'block-pages-in-different-zones',
      'v3-binding',
      "mte-sim's own warnings",
    ]) {
      expect(r.stdout).toContain(s);
    }
  });

  test('check --help: usage, exit status and examples; the top-level help lists check', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: mte-sim check [options] [dt]');
    expect(r.stdout).toContain(
      'Exit status: 0 tag storage would be enabled, 1 it would not, 2 the file cannot be parsed.',
    );
    expect(r.stdout).toContain('Examples:');
    const top = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    expect(top.stdout).toMatch(/\n {2}check \[options\] \[dt\] +apply every rule/);
  });

  test('no file and no --list-rules is a usage error (exit 2)', () => {
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('a device tree file is required');
  });

  test('-v prints the whole boot log first, with its timestamps', () => {
    const r = spawnSync(process.execPath, [cli, '-v', 'check', ex('kasan-hw-tags.dts')], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(r.status).toBe(1);
    expect(r.stdout.startsWith('kernel log:\n[    0.000000] ')).toBe(true);
    expect(r.stdout).toMatch(/\] KASAN HW tags enabled, disabling tag storage\n/);
  });

  test('-q prints only the verdict', () => {
    const r = run(ex('zero-size.dts'), '-q');
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });
});
