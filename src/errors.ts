/**
 * The error vocabulary. Nothing below cli.ts calls process.exit: code throws one of these and the
 * process boundary maps it to an exit code (SPEC §1): 2 for bad input, 3 for our own bugs.
 */

/** A position in a source file. Lines and columns are 1-based. */
export interface SrcPos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export function formatPos(pos: SrcPos): string {
  return `${pos.file}:${pos.line}:${pos.col}`;
}

/** Bad command-line usage (unknown option value, missing file). Exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Bad input: a malformed DTS/DTB/scenario file or an impossible value. Exit 2.
 * `where` is either a source position or a free-form location such as "file.dtb: offset 0x38".
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    message: string,
    readonly where?: SrcPos | string,
  ) {
    super(message);
  }

  /** The one line printed to stderr: `file:line:col: error: message`. */
  format(): string {
    if (this.where === undefined) return `error: ${this.message}`;
    const loc = typeof this.where === 'string' ? this.where : formatPos(this.where);
    return `${loc}: error: ${this.message}`;
  }
}

/** An invariant of the emulated kernel broke, or any other bug in mte-sim. Exit 3. */
export class SimInvariantError extends Error {
  override readonly name = 'SimInvariantError';
}

/** The user has already been told what went wrong; exit with this code. */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
