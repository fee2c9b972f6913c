/**
 * Runs scenario text the way `mte-sim run --check` does, in process, on the small MTE platform of
 * test/run/fixtures/small-mte.dts (512 MiB tagged DRAM, 16 MiB tag storage, block size 1 page).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand } from '../../src/commands/run.js';
import { MemorySinks } from '../../src/io.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-h10-'));
let n = 0;
export const SMALL_DT = path.resolve('test/run/fixtures/small-mte.dts');

export interface RunOut {
  code: number;
  out: string;
  err: string;
}

export async function runScn(
  lines: string[],
  opts: { check?: boolean; dt?: string; seed?: number } = {},
): Promise<RunOut> {
  const file = path.join(dir, `s${n++}.scn`);
  writeFileSync(file, lines.join('\n') + '\n');
  const sinks = new MemorySinks();
  const code = await runCommand({
    scenarios: [file],
    dt: opts.dt ?? SMALL_DT,
    check: opts.check ?? true,
    ...(opts.seed !== undefined ? { seed: String(opts.seed) } : {}),
    include: [],
    globals: { json: false, color: false, quiet: true, verbose: false },
    sinks,
  });
  return { code, out: sinks.stdout, err: sinks.stderr };
}

/** Expects a clean run: exit 0, nothing on stderr (no failed expect, no invariant violation). */
export function clean(r: RunOut): void {
  if (r.code !== 0 || r.err !== '') throw new Error(`run failed (exit ${r.code}):\n${r.err}\n${r.out.slice(-3000)}`);
}
