/**
 * `npm run bench`: runs every benchmark registered below and prints one rate per line.
 * Benchmarks live in bench/*.ts and register themselves here; none is a timed unit test.
 */
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

const only = process.argv.slice(2);
let failed = false;
for (const [name, load] of benches) {
  if (only.length > 0 && !only.some((o) => name.includes(o))) continue;
  try {
    const results = await (await load()).default();
    for (const r of results) console.log(`${r.name.padEnd(48)} ${r.rate}`);
  } catch (e) {
    failed = true;
    console.log(`${name}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
  }
}
if (benches.length === 0) console.log('no benchmarks registered yet');
process.exitCode = failed ? 1 : 0;
