/**
 * loadDt: the one entry point later layers use to get a tree from a file. A file that starts with
 * the FDT magic 0xd00dfeed is a blob (readDtb); anything else is DTS source, preprocessed like the
 * kernel build does and compiled (compileDts). Source text is read as latin1 ("binary"): one char
 * per byte, so every byte reaches the compiler unchanged.
 *
 * A file named `*.dtb`/`*.dtbo`, or one with a NUL byte among its first 64 bytes (text never has one,
 * a blob header always does), is read as a blob even without the magic, so a damaged blob is
 * reported as one (`bad magic` at offset 0x0) rather than as a source syntax error.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import { compileDts } from './dts.js';
import { isDtb, readDtb } from './fdt-read.js';
import type { DtTree } from './tree.js';

export interface LoadOptions {
  /** Include directories for `#include` and `/include/`, in search order. */
  includeDirs?: string[];
  /** Preprocessor definitions, `NAME` or `NAME=VALUE`. */
  defines?: string[];
  /** Reads standard input for file `-` (tests inject it); default: file descriptor 0. */
  stdin?: () => Uint8Array;
}

/** The name messages use for `file`: `<stdin>` for `-`. */
export function inputName(file: string): string {
  return file === '-' ? '<stdin>' : file;
}

/** Reads the bytes of `file` (a path, or `-` for stdin); an unreadable file is an InputError. */
export function readInput(file: string, stdin?: () => Uint8Array): Uint8Array {
  try {
    if (file === '-') return stdin ? stdin() : readFileSync(0);
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new InputError(`cannot read: ${why}`, inputName(file));
  }
}

/** Returns true if `bytes` should be read as a blob: the FDT magic, a blob file name, or binary content. */
export function looksLikeDtb(file: string, bytes: Uint8Array): boolean {
  return isDtb(bytes) || /\.dtbo?$/i.test(file) || bytes.subarray(0, 64).includes(0);
}

/** Reads a DTB or DTS file (or `-`) into a tree. Bad input → InputError with a location. */
export function loadDt(file: string, opts: LoadOptions = {}): DtTree {
  const bytes = readInput(file, opts.stdin);
  const name = inputName(file);
  if (looksLikeDtb(file, bytes)) return readDtb(bytes, name);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return compileDts(text, {
    file: name,
    readFile: (p: string) => readFileSync(p, 'latin1'),
    ...(opts.includeDirs ? { includeDirs: opts.includeDirs } : {}),
    ...(opts.defines ? { defines: opts.defines } : {}),
  });
}
