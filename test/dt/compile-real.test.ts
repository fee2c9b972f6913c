/**
 * The kernel FVP device trees (../shared/dts-real, read in place) compile to the very blob the kernel's
 * pipeline makes: `cpp -nostdinc -I include -undef -D__DTS__ -x assembler-with-cpp FILE | dtc -O dtb -`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { preprocess } from '../../src/dt/cpp.js';
import { compileDts } from '../../src/dt/dts.js';
import { writeDtb } from '../../src/dt/fdt-write.js';
import { InputError } from '../../src/errors.js';

const ROOT = path.resolve(import.meta.dirname, '../../../shared/dts-real');
const INCLUDE = path.join(ROOT, 'include');
const readFile = (p: string): string => readFileSync(p, 'latin1');

function kernelCpp(rel: string): string {
  const r = spawnSync('cpp', ['-nostdinc', '-I', 'include', '-undef', '-D__DTS__', '-x', 'assembler-with-cpp', rel], {
    cwd: ROOT,
    encoding: 'latin1',
  });
  if (r.status !== 0) throw new Error(`cpp failed: ${r.stderr}`);
  return r.stdout;
}

function dtc(source: string): Buffer {
  const r = spawnSync('dtc', ['-I', 'dts', '-O', 'dtb', '-'], { input: Buffer.from(source, 'latin1') });
  if (r.status !== 0) throw new Error(`dtc failed: ${r.stderr.toString()}`);
  return r.stdout;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe.each(['fvp-base-revc', 'fvp-base-revc-mte'])('%s', (name) => {
  const rel = `arch/arm64/boot/dts/arm/${name}.dts`;
  const file = path.join(ROOT, rel);
  const committed = readFileSync(path.join(ROOT, 'dtb', `${name}.dtb`));
  const preprocessed = kernelCpp(rel);
  const oracle = dtc(preprocessed);

  test('the oracle matches the committed blob', () => {
    expect(same(oracle, committed)).toBe(true);
  });

  test('compileDts + writeDtb of the source is byte-identical to cpp | dtc', () => {
    const tree = compileDts(readFile(file), { file, includeDirs: [INCLUDE], defines: ['__DTS__'], readFile });
    const ours = writeDtb(tree);
    expect(ours.length).toBe(oracle.length);
    expect(same(ours, oracle)).toBe(true);
    expect(same(ours, committed)).toBe(true);
  });

  test('already-preprocessed input (line markers) gives the same blob, with preprocessing run again', () => {
    const tree = compileDts(preprocessed, { file: '<stdin>', includeDirs: [INCLUDE], defines: ['__DTS__'], readFile });
    expect(same(writeDtb(tree), oracle)).toBe(true);
  });

  test('already-preprocessed input also compiles with preprocessing off', () => {
    const tree = compileDts(preprocessed, { file: '<stdin>', preprocess: false });
    expect(same(writeDtb(tree), oracle)).toBe(true);
  });

  test('our preprocessor output, compiled by dtc, gives the same blob', () => {
    const text = preprocess(readFile(file), { file, includeDirs: [INCLUDE], defines: ['__DTS__'], readFile });
    expect(same(dtc(text), oracle)).toBe(true);
  });

  test('line markers make errors point into the original file', () => {
    // Break one line of the board file: the error must name that file and line.
    const board = readFile(path.join(ROOT, 'arch/arm64/boot/dts/arm/rtsm_ve-motherboard.dtsi'));
    const lines = board.split('\n');
    const at = lines.findIndex((l) => l.includes('compatible = "fixed-clock";'));
    lines[at] = lines[at]!.replace('"fixed-clock";', '"fixed-clock"');
    const broken = lines.join('\n');
    const readBroken = (p: string): string => (p.endsWith('rtsm_ve-motherboard.dtsi') ? broken : readFile(p));
    let err: unknown;
    try {
      compileDts(readFile(file), { file, includeDirs: [INCLUDE], defines: ['__DTS__'], readFile: readBroken });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as InputError).format();
    expect(msg).toMatch(new RegExp(`rtsm_ve-motherboard\\.dtsi:${at + 2}:\\d+: error: `));
  });
});

test('the MTE variant: memory0/memory1 get phandles 0xb and 0xc, as in the committed blob', () => {
  const file = path.join(ROOT, 'arch/arm64/boot/dts/arm/fvp-base-revc-mte.dts');
  const tree = compileDts(readFile(file), { file, includeDirs: [INCLUDE], defines: ['__DTS__'], readFile });
  const mem = tree.root.children.filter((c) => c.name.startsWith('memory@'));
  const ph = mem.map((m) => m.properties.find((p) => p.name === 'phandle')?.value);
  expect(ph.map((v) => v && Buffer.from(v).readUInt32BE(0))).toEqual([0xb, 0xc]);
  expect(mem.map((m) => m.labels)).toEqual([['memory0'], ['memory1']]);
  expect(tree.memreserve).toEqual([{ address: 0x80000000n, size: 0x10000n, labels: [] }]);
});

test("QEMU's decompiled virt DTS (numeric phandles, \\0 in strings) compiles as dtc compiles it", () => {
  const file = path.join(ROOT, 'qemu/virt-mte-qemu7.2.dts');
  const oracle = dtc(readFile(file));
  for (const preprocess of [true, false]) {
    const tree = compileDts(readFile(file), { file, preprocess });
    expect(same(writeDtb(tree), oracle)).toBe(true);
  }
});
