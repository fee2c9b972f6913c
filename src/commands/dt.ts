/**
 * `mte-sim dt FILE|-`: reads a DTS (preprocessed like the kernel build) or a DTB (detected by the
 * FDT magic) and writes it as dts, dtb, json or yaml, to stdout or atomically to `-o FILE`.
 * Everything is produced in memory first, so a bad input never leaves a half-written file.
 */
import type { GlobalOptions } from '../program.js';
import type { Sinks } from '../io.js';
import { writeFileAtomic } from '../io.js';
import { UsageError } from '../errors.js';
import { loadDt } from '../dt/load.js';
import { emitDts } from '../dt/emit-dts.js';
import { emitYaml } from '../dt/emit-yaml.js';
import { treeToJson } from '../dt/json.js';
import { writeDtb } from '../dt/fdt-write.js';
import type { DtTree } from '../dt/tree.js';

export interface DtCommandOptions {
  file: string;
  include: string[];
  define: string[];
  format: string;
  output?: string;
  globals: GlobalOptions;
  sinks: Sinks;
  /** Standard input for file `-` (tests inject it). */
  stdin?: () => Uint8Array;
}

export type DtFormat = 'dts' | 'dtb' | 'json' | 'yaml';

/** Renders a tree in one of the output formats; text formats are one char per byte (latin1). */
export function renderDt(tree: DtTree, format: DtFormat): Uint8Array {
  switch (format) {
    case 'dtb':
      return writeDtb(tree);
    case 'json':
      return Buffer.from(treeToJson(tree), 'utf8');
    case 'yaml':
      return Buffer.from(emitYaml(tree), 'latin1');
    case 'dts':
      return Buffer.from(emitDts(tree), 'latin1');
  }
}

export async function dtCommand(opts: DtCommandOptions): Promise<number> {
  // The global --json asks for machine output: it turns the default text format into json.
  const format = (opts.globals.json && opts.format === 'dts' ? 'json' : opts.format) as DtFormat;
  if (!['dts', 'dtb', 'json', 'yaml'].includes(format)) {
    throw new UsageError(`unknown format '${opts.format}' (expected dts, dtb, json or yaml)`);
  }
  const tree = loadDt(opts.file, {
    includeDirs: opts.include,
    defines: opts.define,
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
  });
  const bytes = renderDt(tree, format);
  if (opts.output !== undefined && opts.output !== '-') writeFileAtomic(opts.output, bytes);
  else opts.sinks.outBytes(bytes);
  return 0;
}
