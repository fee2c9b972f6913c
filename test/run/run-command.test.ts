/**
 * `mte-sim run` in process on the real boot of the bundled FVP device tree: issue #4 acceptance 1, 2, 5 and 6
 * (for the statements this layer executes), 3 and 4 on a small platform, seeded races.
 */
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand } from '../../src/commands/run.js';
import { InputError } from '../../src/errors.js';
import { MemorySinks } from '../../src/io.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-run-'));
let n = 0;

async function run(text: string, extra: { json?: boolean; check?: boolean; procDir?: string } = {}) {
  const file = path.join(dir, `s${n++}.scn`);
  writeFileSync(file, text);
  const sinks = new MemorySinks();
  const code = await runCommand({
    scenarios: [file],
    check: extra.check ?? true,
    include: [],
    ...(extra.procDir !== undefined ? { procDir: extra.procDir } : {}),
    globals: { json: extra.json ?? false, color: false, quiet: true, verbose: false },
    sinks,
  });
  return { code, out: sinks.stdout, err: sinks.stderr, file };
}

function meminfoField(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${name}`);
  return Number(m[1]);
}

describe('acceptance on the booted FVP platform', () => {
  test('1: tagged first touch of 64 MiB reserves >= 512 blocks; munmap returns every one', async () => {
    const r = await run(
      'show meminfo\nprocess a\na: mmap x 64M prot=rw+mte\na: touch x\nshow vmstat\na: munmap x\nshow meminfo\nshow vmstat\n',
      { json: true },
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { shows: { what: string; text: string }[]; violations: unknown[] };
    expect(j.violations).toEqual([]);
    const [m0, v1, m2, v2] = j.shows.map((s) => s.text) as [string, string, string, string];
    const ev = (t: string, k: string): number => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(t)![1]);
    expect(ev(v1, 'metadata_reserve_success') - 1).toBeGreaterThanOrEqual(512);
    expect(ev(v2, 'metadata_reserve_free')).toBe(ev(v1, 'metadata_reserve_success') - 1);
    expect(meminfoField(m2, 'MetadataFree')).toBe(meminfoField(m0, 'MetadataFree'));
    expect(meminfoField(m2, 'AnonPages')).toBe(0);
  });

  test('2: mprotect(PROT_MTE) of touched memory reserves nothing until touched; 1 MiB then takes 8 blocks', async () => {
    const r = await run(
      [
        'process a',
        'a: mmap x 4M',
        'a: touch x',
        'a: mprotect x prot=rw+mte',
        'expect vmstat.metadata_reserve_success == 1',
        'expect a:x tagged',
        'a: touch x 0..1M read',
        'expect vmstat.metadata_reserve_success >= 1 + 8',
        'expect vmstat.metadata_reserve_success <= 1 + 9', // about 8: the pages need not be 32-aligned
        'a: touch x 1M..4M',
        'expect vmstat.metadata_reserve_success >= 1 + 32',
        'expect vmstat.metadata_reserve_success <= 1 + 34',
        'expect a:x tag(0..4M) == 0',
      ].join('\n') + '\n',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  test('5: a wrong tag raises SEGV_MTESERR with the address, the right tag does not', async () => {
    const r = await run(
      'process a\na: mmap x 8K prot=rw+mte\na: settag x 0..4K 7\na: access x 0..4K tag=7\na: access x 16..32 tag=2\n',
      { json: true },
    );
    const j = JSON.parse(r.out) as { notes: string[]; signals: { code: string; addr: string }[]; dmesg: string };
    expect(j.signals.length).toBe(1);
    expect(j.signals[0]!.code).toBe('SEGV_MTESERR');
    expect(j.signals[0]!.addr).toMatch(/^0x200[0-9a-f]{9}010$/);
    expect(j.notes[0]).toMatch(/s\d+\.scn:5:1: a: access: SIGSEGV \(SEGV_MTESERR\) at 0x0200[0-9a-f]{9}010$/);
    expect(j.dmesg).toMatch(
      /a\[1000\]: unhandled exception: DABT \(lower EL\), ESR 0x0000000092000011, synchronous tag check fault/,
    );
  });

  test('a failed expect prints the line, the expression and both values, and exits 1', async () => {
    const r = await run('process a\na: mmap x 8K\na: touch x\nexpect vmstat.pgfault == 0\n');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/s\d+\.scn:4:1: expect failed: vmstat\.pgfault == 0 \(left \d+, right 0\)\n/);
  });

  test('--proc-dir writes the /proc files', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'mte-sim-proc-'));
    const r = await run('process a\na: mmap x 1M prot=rw+mte\na: touch x\n', { procDir: out });
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'buddyinfo',
      'dmesg',
      'iomem',
      'meminfo',
      'pagetypeinfo',
      'vmstat',
      'zoneinfo',
    ]);
    expect(meminfoField(readFileSync(path.join(out, 'meminfo'), 'utf8'), 'AnonPages')).toBe(1024);
  });
});

describe('6: run-time scenario errors name file:line:col', () => {
  const cases: [string, string][] = [
    [
      'process a\na: mmap x 8K\na: touch x 0..16K\n',
      ":3:12: error: range 0..16K goes beyond the end of VMA 'x' (size 8K)",
    ],
  ];
  test.each(cases)('%j', async (text, msg) => {
    try {
      await run(text);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).format()).toMatch(new RegExp(`s\\d+\\.scn${msg.replace(/[()'.]/g, '\\$&')}`));
    }
  });
});

describe('tag storage holding data, on a small platform (test/run/fixtures/small-mte.dts)', () => {
  const dt = path.resolve('test/run/fixtures/small-mte.dts');
  async function runSmall(text: string) {
    const file = path.join(dir, `small${n++}.scn`);
    writeFileSync(file, text);
    const sinks = new MemorySinks();
    const code = await runCommand({
      scenarios: [file],
      dt,
      check: true,
      include: [],
      globals: { json: false, color: false, quiet: true, verbose: false },
      sinks,
    });
    return { code, err: sinks.stderr, out: sinks.stdout };
  }

  test('3: tagged demand migrates spilled data out of tag storage, data intact (--check)', async () => {
    const r = await runSmall(
      [
        'config kernel_image=8M min_free_kbytes=256',
        'process hog',
        'hog: mmap low 64M',
        'hog: touch low',
        'hog: mmap fill 370M',
        'hog: touch fill',
        'expect meminfo.MetadataFree < meminfo.MetadataTotal - 8192',
        'hog: munmap low',
        'process t',
        't: mmap buf 32M prot=rw+mte',
        't: touch buf',
        'expect vmstat.pgmigrate_success > 0',
        'expect vmstat.metadata_reserve_fail == 0',
        'expect t:buf resident == 8192',
      ].join('\n') + '\n',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  test('4: a page that is itself tag storage, touched after mprotect(PROT_MTE), is migrated to a tagged page', async () => {
    const r = await runSmall(
      [
        'config kernel_image=8M min_free_kbytes=256',
        'process hog',
        'hog: mmap low 64M',
        'hog: touch low',
        'hog: mmap fill 370M',
        'hog: touch fill', // its last pages land in tag storage (METADATA is the last resort)
        'expect meminfo.MetadataFree < meminfo.MetadataTotal - 8192',
        'hog: munmap low', // room for the tagged destinations
        'hog: mprotect fill prot=rw+mte 368M..370M',
        'expect vmstat.metadata_reserve_success == 1',
        'expect vmstat.pgmigrate_success == 0',
        'hog: touch fill 368M..370M read',
        'expect vmstat.pgmigrate_success > 0',
        'expect vmstat.metadata_reserve_success > 1',
        'expect hog:fill tag(368M..370M) == 0',
        'expect hog:fill resident == 94720',
      ].join('\n') + '\n',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('race blocks on the booted small platform', () => {
  const dt = path.resolve('test/run/fixtures/small-mte.dts');
  const text =
    'process a\na: mmap x 512K\na: touch x 0..256K\nrace {\n  thread A {\n    a: touch x\n    a: settag x 0..4K 3\n  }\n' +
    '  thread B {\n    a: mprotect x prot=rw+mte\n    a: touch x read\n  }\n}\nshow tags a:x:0..4K\n';
  test('every seeded schedule keeps the invariants', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const file = path.join(dir, `race${n++}.scn`);
      writeFileSync(file, text);
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
    }
  });

  test('the same seed gives byte-identical output', async () => {
    const outs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const file = path.join(dir, `det${n++}.scn`);
      writeFileSync(file, text);
      const sinks = new MemorySinks();
      await runCommand({
        scenarios: [file],
        dt,
        seed: '5',
        check: false,
        include: [],
        globals: { json: true, color: false, quiet: false, verbose: false },
        sinks,
      });
      outs.push(sinks.stdout.replace(/det\d+\.scn/g, 'det.scn'));
    }
    expect(outs[0]).toBe(outs[1]);
  });
});
