/**
 * DTS source → device tree, as the kernel's `cpp … | dtc -I dts` pipeline builds it: the built-in
 * preprocessor (unless `preprocess: false`), dtc's lexer and parser, then dtc's error checks and
 * reference fix-ups (phandles numbered in dtc's order). The result keeps dtc's value markers so the
 * DTS and YAML writers can print it back as `dtc -O dts` / `-O yaml` would.
 */
import { preprocess, type PreprocessOptions } from './cpp.js';
import { Parser } from './parser.js';
import type { DtTree } from './tree.js';

export interface CompileOptions extends PreprocessOptions {
  /** Run the built-in C preprocessor first (default true). */
  preprocess?: boolean;
}

/**
 * Compiles DTS text. `text` is best given as latin1 ("binary") text so that every byte of the file
 * reaches the blob unchanged; characters above U+00FF are stored as UTF-8.
 * Throws InputError (`file:line:col: error: …`) on any bad input.
 */
export function compileDts(text: string, opts: CompileOptions): DtTree {
  const src = opts.preprocess === false ? text : preprocess(text, opts);
  const lexOpts = {
    file: opts.file,
    ...(opts.includeDirs ? { includeDirs: opts.includeDirs } : {}),
    ...(opts.readFile ? { readFile: opts.readFile } : {}),
  };
  const { tree, memreserve, bootCpuidPhys } = new Parser(src, lexOpts).parse();
  tree.runChecks();
  return tree.toTree(memreserve, bootCpuidPhys, opts.file);
}
