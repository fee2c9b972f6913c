/** Test helpers for boot: DTs from inline source, a plain boot command run, golden files. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileDts } from '../../src/dt/dts.js';
import type { DtTree } from '../../src/dt/tree.js';
import { MemorySinks } from '../../src/io.js';
import { bootCommand, type BootCommandOptions } from '../../src/commands/boot.js';
import { bootKernel, type BootOptions, type BootedSystem } from '../../src/boot/boot.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const DEFAULT_DT = path.join(ROOT, 'dts/fvp-base-revc-mte.dts');
// ../shared/dts-real beside the checkout (SPEC: read the real trees in place, never copy them).
const SHARED = path.resolve(ROOT, '../shared/dts-real');
export const REAL_DT = path.join(SHARED, 'arch/arm64/boot/dts/arm/fvp-base-revc-mte.dts');
export const REAL_INCLUDE = path.join(SHARED, 'include');

export function dts(text: string, file = 'test.dts'): DtTree {
  return compileDts(text, { file });
}

/** A platform with the given root body; root cells 2/2. */
export function board(body: string, memreserve = ''): DtTree {
  return dts(
    `/dts-v1/;\n${memreserve}\n/ {\n#address-cells = <2>;\n#size-cells = <2>;\nmodel = "test";\n${body}\n};\n`,
  );
}

export function boot(tree: DtTree, opts: Omit<BootOptions, 'tree'> = {}): BootedSystem {
  return bootKernel({ tree, ...opts });
}

export async function runBoot(
  opts: Partial<Omit<BootCommandOptions, 'sinks' | 'globals'>> & { json?: boolean },
): Promise<{ code: number; out: string; err: string }> {
  const sinks = new MemorySinks();
  const { json, ...rest } = opts;
  const code = await bootCommand({
    include: [],
    define: [],
    ...rest,
    globals: { json: json ?? false, color: false, quiet: false, verbose: false },
    sinks,
  });
  return { code, out: sinks.stdout, err: sinks.stderr };
}

/** Compares with test/boot/golden/NAME, or rewrites it when UPDATE_GOLDEN=1 (a missing golden file fails). */
export function golden(name: string, actual: string): void {
  const file = path.join(HERE, 'golden', name);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
  }
  if (!existsSync(file)) throw new Error(`golden file ${file} is missing: run with UPDATE_GOLDEN=1 and read it`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
