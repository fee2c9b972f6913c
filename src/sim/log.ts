/**
 * The kernel log (dmesg ring). Each record has a level and a timestamp from the emulated clock and is
 * printed as dmesg prints it: `[%5lu.%06lu] text` (seconds, microseconds).
 */
import { Clock } from './clock.js';

export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogRecord {
  readonly ns: number;
  readonly level: LogLevel;
  readonly text: string;
}

export function formatTimestamp(ns: number): string {
  const us = Math.floor(ns / 1000);
  const sec = Math.floor(us / 1_000_000);
  const frac = us % 1_000_000;
  return `[${String(sec).padStart(5, ' ')}.${String(frac).padStart(6, '0')}]`;
}

export class KernelLog {
  private readonly records: LogRecord[] = [];

  constructor(readonly clock: Clock = new Clock()) {}

  /** printk: a trailing newline in `text` is dropped (the kernel adds one when absent). */
  printk(level: LogLevel, text: string): void {
    const t = text.endsWith('\n') ? text.slice(0, -1) : text;
    for (const line of t.split('\n')) this.records.push({ ns: this.clock.now(), level, text: line });
  }

  emerg = (t: string): void => this.printk('emerg', t);
  err = (t: string): void => this.printk('err', t);
  warn = (t: string): void => this.printk('warning', t);
  notice = (t: string): void => this.printk('notice', t);
  info = (t: string): void => this.printk('info', t);
  debug = (t: string): void => this.printk('debug', t);

  all(): readonly LogRecord[] {
    return this.records;
  }

  get length(): number {
    return this.records.length;
  }

  /** dmesg text, one `[    0.000000] text` line per record at or above `maxLevel` (default: all but debug). */
  dmesg(maxLevel: LogLevel = 'info', from = 0): string {
    const max = LOG_LEVELS.indexOf(maxLevel);
    let out = '';
    for (let i = from; i < this.records.length; i++) {
      const r = this.records[i]!;
      if (LOG_LEVELS.indexOf(r.level) <= max) out += `${formatTimestamp(r.ns)} ${r.text}\n`;
    }
    return out;
  }

  /** True if any record (any level) contains `needle`. */
  contains(needle: string): boolean {
    return this.records.some((r) => r.text.includes(needle));
  }
}
