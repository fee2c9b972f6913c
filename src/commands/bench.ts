/**
 * `mte-sim bench [NAME...]`: the built-in benchmarks of SPEC §8 (the same as `npm run bench`), one rate per
 * line. Exit 1 if a benchmark failed; a name that matches no benchmark is a usage error.
 */
import type { Sinks } from '../io.js';
import { UsageError } from '../errors.js';
import { BENCH_NAMES, runBenches } from '../../bench/index.js';

export async function benchCommand(opts: { names: string[]; sinks: Sinks }): Promise<number> {
  const unknown = opts.names.filter((n) => !BENCH_NAMES.some((b) => b.includes(n)));
  if (unknown.length > 0) {
    throw new UsageError(`no benchmark matches '${unknown.join("', '")}' (there are: ${BENCH_NAMES.join(', ')})`);
  }
  const ok = await runBenches(opts.names, (line) => opts.sinks.out(`${line}\n`));
  return ok ? 0 : 1;
}
