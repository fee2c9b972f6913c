/**
 * Colour is decided once, at the process boundary, and handed down as a Chalk instance.
 * Off when: --no-color, --json, NO_COLOR non-empty, FORCE_COLOR=0, or stdout is not a TTY.
 */
import { Chalk, type ChalkInstance } from 'chalk';

export function decideColour(opts: { color?: boolean; json?: boolean }, stream: NodeJS.WriteStream): ChalkInstance {
  const env = process.env;
  const off =
    opts.color === false ||
    opts.json === true ||
    (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') ||
    env['FORCE_COLOR'] === '0' ||
    (!stream.isTTY && !(env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0'));
  return new Chalk({ level: off ? 0 : 1 });
}

/** A Chalk that never colours (tests, JSON). */
export const plain: ChalkInstance = new Chalk({ level: 0 });
