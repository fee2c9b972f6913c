import type { GlobalOptions } from '../program.js';
import type { Sinks } from '../io.js';
import { UsageError } from '../errors.js';

export interface DtCommandOptions {
  file: string;
  include: string[];
  define: string[];
  format: string;
  output?: string;
  globals: GlobalOptions;
  sinks: Sinks;
}

// Placeholder until the DT toolchain (issue #2) lands; replaced by the real command.
export async function dtCommand(_opts: DtCommandOptions): Promise<number> {
  throw new UsageError('the dt command is not built yet');
}
