/**
 * The emulated clock: an integer count of nanoseconds owned by one place, advanced explicitly by the
 * model (no wall clock anywhere in the core), so dmesg timestamps are reproducible byte for byte.
 */
export class Clock {
  private ns = 0;

  now(): number {
    return this.ns;
  }

  /** Advances the clock by `ns` nanoseconds (non-negative integer). */
  advance(ns: number): void {
    this.ns += Math.max(0, Math.round(ns));
  }

  set(ns: number): void {
    this.ns = Math.max(this.ns, Math.round(ns));
  }
}
