import { Clock } from '../../src/sim/clock.js';
import { KernelLog, formatTimestamp } from '../../src/sim/log.js';

test('timestamps as dmesg prints them', () => {
  expect(formatTimestamp(0)).toBe('[    0.000000]');
  expect(formatTimestamp(4_000_000)).toBe('[    0.004000]');
  expect(formatTimestamp(123_456_789_000)).toBe('[  123.456789]');
});

test('the clock only moves forward; the log stamps records with it', () => {
  const c = new Clock();
  const log = new KernelLog(c);
  log.info('a');
  c.advance(1500);
  c.set(500); // never backwards
  log.warn('b\n');
  log.debug('c');
  expect(c.now()).toBe(1500);
  expect(log.dmesg()).toBe('[    0.000000] a\n[    0.000001] b\n');
  expect(log.dmesg('debug')).toContain('c\n');
  expect(log.contains('c')).toBe(true);
});
