#!/usr/bin/env node
/**
 * The process boundary: colour environment, EPIPE, parsing, and mapping errors to exit codes
 * (0 ok, 1 a check failed, 2 bad input, 3 internal error). The only place that calls process.exit.
 */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { ExitError, InputError, SimInvariantError, UsageError } from './errors.js';
import { version } from './version.js';
import { tuneV8 } from './v8tune.js';

tuneV8();

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

function fail(code: number, line: string): never {
  process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
  process.exit(code);
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  if (e instanceof ExitError) process.exit(e.code);
  if (e instanceof CommanderError) process.exit(e.exitCode === 1 ? 2 : e.exitCode);
  if (e instanceof InputError) fail(2, `mte-sim: ${e.format()}`);
  if (e instanceof UsageError) fail(2, `mte-sim: error: ${e.message}`);
  if (e instanceof RangeError && /call stack|Invalid array length|Array buffer allocation/.test(e.message)) {
    fail(2, `mte-sim: error: input too large or too deeply nested (${e.message})`);
  }
  const what = e instanceof SimInvariantError ? 'internal error (invariant)' : 'internal error';
  const msg = e instanceof Error ? e.message : String(e);
  fail(
    3,
    `mte-sim: ${what}: ${msg}\nThis is a bug in mte-sim ${version()}; please report it with the command line and input files.` +
      (process.env['MTE_SIM_DEBUG'] && e instanceof Error ? `\n${e.stack}` : ''),
  );
}
