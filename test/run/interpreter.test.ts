import { describe, expect, test } from '@jest/globals';
import { InputError } from '../../src/errors.js';
import { runFake } from './helpers.js';

describe('interpreter on the fake allocator', () => {
  test('mmap, touch, expect', () => {
    const { it, events } = runFake(
      [
        'process a',
        'a: mmap x 1M prot=rw+mte',
        'a: touch x',
        'expect vmstat.metadata_reserve_success == 8',
        'expect vmstat.pgfault == 256',
        'expect a:x tagged',
        'expect a:x resident == 256',
        'a: munmap x',
        'expect vmstat.metadata_reserve_free == 8',
      ].join('\n'),
    );
    expect(events.filter((e) => e.kind === 'expect' && !e.record.ok)).toEqual([]);
    expect(it.failures).toBe(0);
  });

  test('a failed expect prints both values', () => {
    const { it, events } = runFake('process a\na: mmap x 8K\na: touch x\nexpect vmstat.pgfault == 3\n');
    expect(it.failures).toBe(1);
    const e = events.find((x) => x.kind === 'expect');
    expect(e !== undefined && e.kind === 'expect' && e.line).toBe(
      'test.scn:4:1: expect failed: vmstat.pgfault == 3 (left 2, right 3)',
    );
  });

  test('tag check fault is noted with the address', () => {
    const { events } = runFake(
      'process a\na: mmap x 8K prot=rw+mte\na: settag x 0..4K 5\na: access x 0..4K tag=5\na: access x 4K..8K tag=5\nexpect a:x tag(0..4K) == 5\n',
    );
    const notes = events.filter((e) => e.kind === 'note');
    expect(notes.length).toBe(1);
    expect(notes[0]!.kind === 'note' && notes[0]!.text).toMatch(
      /^test\.scn:5:1: a: access: SIGSEGV \(SEGV_MTESERR\) at 0x05/,
    );
  });

  test('unknown process and VMA are input errors with positions', () => {
    expect(() => runFake('a: touch x\n')).toThrow(InputError);
    try {
      runFake('process a\na: touch y\n');
    } catch (e) {
      expect((e as InputError).format()).toBe(
        "test.scn:2:10: error: unknown VMA 'y' in process 'a' (map it first with 'a: mmap y SIZE')",
      );
    }
  });

  test('race: two threads touching the same memory keep every invariant', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { it } = runFake(
        'process a\na: mmap x 256K prot=rw\nrace {\n thread A {\n a: touch x\n }\n thread B {\n a: touch x read\n a: mprotect x prot=rw+mte\n a: touch x\n }\n}\n',
        { seed },
      );
      expect(it.violations).toBe(0);
    }
  });
});

describe('fix.metadata_none', () => {
  const text = 'process a\na: mmap x 64K prot=rw\na: touch x\na: mprotect x prot=rw+mte\na: touch x\n';
  test('on: mprotect(PROT_MTE) of touched memory keeps every invariant', () => {
    expect(runFake(text).it.violations).toBe(0);
  });
  test('off: mprotect(PROT_MTE) reserves tag storage at once (no PAGE_METADATA_NONE)', () => {
    const off = runFake('process a\na: mmap x 256K prot=rw\na: touch x\na: mprotect x prot=rw+mte\n', {
      fixMetadataNone: false,
    });
    const on = runFake('process a\na: mmap x 256K prot=rw\na: touch x\na: mprotect x prot=rw+mte\n');
    expect(on.port.get('metadata_reserve_success')).toBe(0);
    expect(off.port.get('metadata_reserve_success')).toBeGreaterThan(0);
    expect(off.it.violations).toBe(0);
  });
});

describe('race schedules chosen from outside (for explore)', () => {
  const text =
    'process a\na: mmap x 256K\nrace {\n  thread A {\n    a: touch x\n  }\n  thread B {\n    a: mprotect x prot=rw+mte\n  }\n}\n';
  test('A first: untagged faults, then mprotect leaves PAGE_METADATA_NONE; nothing reserved', () => {
    const { port } = runFake(text, { chooseThread: () => 0 });
    expect(port.get('metadata_reserve_success')).toBe(0);
  });
  test('B first: mprotect, then tagged first touch reserves the block', () => {
    const steps: number[] = [];
    const { port } = runFake(text, {
      chooseThread: (runnable, race, step) => {
        steps.push(race * 1000 + step);
        return runnable.length - 1;
      },
    });
    expect(port.get('metadata_reserve_success')).toBeGreaterThan(0);
    expect(steps[0]).toBe(0);
    expect(steps.length).toBeGreaterThan(4);
  });
});
