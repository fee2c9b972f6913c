import { describe, expect, test } from '@jest/globals';
import { KernelLog } from '../../src/sim/log.js';
import { ProcessLayer } from '../../src/process/layer.js';
import { VM_MTE, VM_READ, VM_WRITE } from '../../src/process/mm.js';
import { PTE_METADATA_NONE, PTE_VALID } from '../../src/process/pte.js';
import { FaultResult } from '../../src/process/fault.js';
import { checkInvariants } from '../../src/invariants/check.js';
import { FakePort } from './fake_port.js';

const RW = VM_READ | VM_WRITE;
const K = 1024;
const M = 1024 * K;

function setup(opts: { fixMetadataNone?: boolean; fixPfnTags?: boolean } = {}) {
  const port = new FakePort();
  const log = new KernelLog();
  const L = new ProcessLayer(port, { log, ...opts });
  const p = L.createProcess('a');
  return { port, log, L, p };
}

describe('first touch', () => {
  test('tagged write faults reserve tag blocks, munmap returns them', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 1 * M, RW | VM_MTE, false, false)!;
    expect(L.touch(p, v.start, v.end, true).result).toBe(FaultResult.Ok);
    expect(checkInvariants(L)).toEqual([]);
    expect(port.get('pgfault')).toBe(256);
    expect(port.get('nr_anon_pages')).toBe(256);
    expect(port.get('metadata_reserve_success')).toBe(8);
    expect(port.get('nr_page_table_pages')).toBe(2); // one PTE table, one PMD table
    L.munmap(p, v.start, v.end);
    expect(checkInvariants(L)).toEqual([]);
    expect(port.get('nr_anon_pages')).toBe(0);
    expect(port.get('metadata_reserve_free')).toBe(8);
    expect(port.blockRef.size).toBe(1); // only the zero page's block
    expect(port.get('nr_page_table_pages')).toBe(0);
  });

  test('read fault maps the zero page; a later write copies it', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 64 * K, RW, false, false)!;
    L.touch(p, v.start, v.end, false);
    expect([...v.pfn].every((x) => x === port.zeroPfn)).toBe(true);
    expect(port.get('nr_anon_pages')).toBe(0);
    L.touch(p, v.start, v.start + 4096, true);
    expect(v.pfn[0]).not.toBe(port.zeroPfn);
    expect(port.get('nr_anon_pages')).toBe(1);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('write to a read-only mapping is SEGV_ACCERR', () => {
    const { L, p, log } = setup();
    const v = L.mmap(p, 'x', 8 * K, VM_READ, false, false)!;
    const r = L.touch(p, v.start, v.end, true);
    expect(r.result).toBe(FaultResult.AccErr);
    expect(log.dmesg()).toContain('a[1000]: unhandled exception: DABT (lower EL), ESR 0x');
  });
});

describe('mprotect(PROT_MTE)', () => {
  test('reserves nothing until touched, then about one block per 32 pages', () => {
    const { port, L, p } = setup();
    const v = L.mmap(p, 'x', 2 * M, RW, false, false)!;
    L.touch(p, v.start, v.end, true);
    const before = port.get('metadata_reserve_success');
    L.mprotect(p, v.start, v.end, RW | VM_MTE);
    expect(port.get('metadata_reserve_success')).toBe(before);
    expect(v.pte[0]! & PTE_METADATA_NONE).not.toBe(0);
    expect(v.pte[0]! & PTE_VALID).toBe(0);
    expect(checkInvariants(L)).toEqual([]);
    L.touch(p, v.start, v.start + 1 * M, false);
    expect(port.get('metadata_reserve_success') - before).toBe(8);
    expect(checkInvariants(L)).toEqual([]);
  });

  test('partial mprotect splits the VMA', () => {
    const { L, p } = setup();
    const v = L.mmap(p, 'x', 64 * K, RW, false, false)!;
    L.mprotect(p, v.start + 16 * K, v.start + 32 * K, VM_READ);
    expect(p.mm.vmas.length).toBe(3);
    expect(p.mm.vmas.map((x) => x.protText())).toEqual(['rw', 'r', 'rw']);
    L.touch(p, v.start, v.start + 16 * K, true);
    expect(L.touch(p, v.start + 16 * K, v.start + 20 * K, true).result).toBe(FaultResult.AccErr);
    expect(checkInvariants(L)).toEqual([]);
  });
});

describe('tags', () => {
  test('wrong tag raises SEGV_MTESERR with the address, right tag does not', () => {
    const { L, p, log } = setup();
    const v = L.mmap(p, 'x', 16 * K, RW | VM_MTE, false, false)!;
    expect(L.settag(p, v.start, v.start + 4096, 3).result).toBe(FaultResult.Ok);
    expect(L.access(p, v.start, v.start + 4096, 3).result).toBe(FaultResult.Ok);
    expect(L.signals).toEqual([]);
    const r = L.access(p, v.start + 4096 - 16, v.start + 4096 + 16, 3);
    expect(r.result).toBe(FaultResult.AccErr);
    expect(r.addr).toBe(v.start + 4096);
    expect(L.signals[0]!.code).toBe('SEGV_MTESERR');
    expect(L.signals[0]!.addr).toBe(BigInt(v.start + 4096) | (3n << 56n));
    expect(log.dmesg()).toContain('ESR 0x0000000092000011, synchronous tag check fault');
    expect(L.tagAt(p, v.start + 32)).toBe(3);
    expect(checkInvariants(L)).toEqual([]);
  });
});
