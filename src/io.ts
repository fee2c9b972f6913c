/**
 * Output sinks handed to commands, so tests can capture what a command prints.
 */
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export interface Sinks {
  out(text: string): void;
  err(text: string): void;
  outBytes(bytes: Uint8Array): void;
}

export const processSinks: Sinks = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  outBytes: (b) => void process.stdout.write(b),
};

/** Collects output in memory (tests, in-process runs). */
export class MemorySinks implements Sinks {
  stdout = '';
  stderr = '';
  bytes: Uint8Array[] = [];
  out(t: string): void {
    this.stdout += t;
  }
  err(t: string): void {
    this.stderr += t;
  }
  outBytes(b: Uint8Array): void {
    this.bytes.push(b);
  }
}

/** Writes a file atomically (temp file + rename), so a failure never leaves it half-written. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}
