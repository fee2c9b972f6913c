/**
 * `npm run bench`: runs every benchmark registered below and prints one rate per line.
 * Benchmarks live in bench/*.ts and register themselves here; none is a timed unit test.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tuneV8 } from '../src/v8tune.js';

export interface BenchResult {
  name: string;
  /** Human-readable rate line, e.g. `12.3 MB/s (1.00 MB in 81 ms)`. */
  rate: string;
}

export type Bench = () => Promise<BenchResult[]> | BenchResult[];

const benches: [string, () => Promise<{ default: Bench }>][] = [
  ['boot', () => import('./boot.js')],
  ['dt', () => import('./dt.js')],
  ['mm', () => import('./mm.js')],
  ['fault', () => import('./fault.js')],
  ['migrate', () => import('./migrate.js')],
  ['swap', () => import('./swap.js')],
];

/**
 * Runs the benchmarks whose name contains one of `only` (all when empty), printing one line per rate.
 * Returns false if any benchmark failed.
 */
export async function runBenches(only: readonly string[], print: (line: string) => void): Promise<boolean> {
  // The same V8 settings as the CLI (src/v8tune.ts), so `npm run bench` measures what `mte-sim` runs.
  tuneV8();
  let ok = true;
  for (const [name, load] of benches) {
    if (only.length > 0 && !only.some((o) => name.includes(o))) continue;
    try {
      const results = await (await load()).default();
      for (const r of results) print(`${r.name.padEnd(48)} ${r.rate}`);
    } catch (e) {
      ok = false;
      print(`${name}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return ok;
}

/** The benchmark names, for `mte-sim bench --help`. */
export const BENCH_NAMES: readonly string[] = benches.map(([n]) => n);

// `node dist/bench/index.js [NAME...]` (what `npm run bench` runs).
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = (await runBenches(process.argv.slice(2), (l) => console.log(l))) ? 0 : 1;
}
