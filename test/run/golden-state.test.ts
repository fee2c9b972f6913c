/**
 * Golden end state of whole workloads: every example in scenarios/ and the heavier workloads in
 * test/run/golden-state/, run on the real boot. The golden text holds everything the run
 * printed, every /proc file at the end, and SHA-1 digests of the complete machine state: the memmap words
 * of every page (flags, refcount, owner, token, free-list links), every VMA's PTEs, pfns and tokens, and the
 * tag bytes. Any change of behaviour — a different page chosen, a list order changed, a counter off by one —
 * shows here; performance work must leave these files unchanged. Regenerate with UPDATE_GOLDEN=1 and read
 * the diff.
 */
import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHOW_FILES, type ShowFile } from '../../src/scenario/ast.js';
import { Interpreter, InvariantStop } from '../../src/scenario/interpreter.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { bootForRun } from '../../src/scenario/runtime_boot.js';
import { buildRuntime } from '../../src/scenario/runtime_machine.js';
import type { ProcessLayer } from '../../src/process/layer.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const DT = path.join(ROOT, 'dts/fvp-base-revc-mte.dts');

/** A SHA-1 digest over typed arrays' bytes and plain numbers (native hashing: the memmap is millions of words). */
class Digest {
  private readonly h = createHash('sha1');
  word(v: number): void {
    this.h.update(Uint32Array.of(v >>> 0));
  }
  words(a: Uint8Array | Uint16Array | Uint32Array): void {
    this.h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  hex(): string {
    return this.h.digest('hex').slice(0, 16);
  }
}

function digests(layer: ProcessLayer, memmap: Uint32Array): string {
  const mm = new Digest();
  mm.words(memmap);
  const ptes = new Digest();
  for (const p of layer.processes.values()) {
    ptes.word(p.pid);
    for (const v of p.mm.vmas) {
      ptes.word(v.start / 4096);
      ptes.word(v.flags);
      ptes.words(v.pfn);
      ptes.words(v.pte);
      ptes.words(v.token);
    }
    for (const level of p.mm.tables)
      for (const [k, pfn] of [...level].sort((a, b) => a[0] - b[0])) ptes.words(Uint32Array.of(k, pfn));
  }
  const tags = new Digest();
  const store = layer.tags as unknown as { tagPages: Map<number, Uint8Array>; hidden: Map<number, Uint8Array> };
  for (const map of [store.tagPages, store.hidden, layer.tags.tagsByPfn]) {
    for (const [k, b] of [...map].sort((a, b) => a[0] - b[0])) {
      tags.word(k);
      tags.words(b);
    }
  }
  return `memmap ${mm.hex()}  ptes ${ptes.hex()}  tags ${tags.hex()}\n`;
}

async function runToText(file: string): Promise<string> {
  const sc = parseScenario(readFileSync(file, 'utf8'), path.relative(ROOT, file));
  const cfg = sc.config;
  const fixPfnTags = cfg['fix.pfn_tags']?.value ?? true;
  const parts = await bootForRun({
    dt: DT,
    include: [],
    ...(cfg.min_free_kbytes !== undefined ? { minFreeKbytes: cfg.min_free_kbytes.value } : {}),
    ...(cfg.page_size !== undefined ? { scenarioPageSize: cfg.page_size.value } : {}),
    fixPfnTags,
  });
  const { machine, layer } = buildRuntime(parts, {
    fixMetadataNone: cfg['fix.metadata_none']?.value ?? true,
    fixPfnTags,
  });
  const out: string[] = [];
  const it = new Interpreter(machine, layer, {
    seed: cfg.seed?.value ?? 1,
    // The invariants are checked by scenarios.test.ts and the property tests; here only the end state counts.
    check: false,
    emit: (e) => {
      if (e.kind === 'log' || e.kind === 'show' || e.kind === 'note')
        out.push(e.text.endsWith('\n') ? e.text : `${e.text}\n`);
      else if (e.kind === 'expect') out.push(`${e.record.ok ? 'ok' : 'FAILED'}: ${e.line}\n`);
      else out.push(...e.messages.map((m) => `${e.pos}: invariant violated: ${m}\n`));
    },
  });
  try {
    it.run(sc);
  } catch (e) {
    if (!(e instanceof InvariantStop)) throw e;
    out.push('(stopped by an invariant)\n');
  }
  for (const f of SHOW_FILES) {
    const text = machine.procText(f as ShowFile);
    if (text !== undefined && f !== 'dmesg') out.push(`==> /proc/${f} <==\n${text}`);
  }
  out.push(digests(layer, parts.alloc.memmap.u32));
  return out.join('');
}

const files = [
  ...readdirSync(path.join(ROOT, 'scenarios'))
    .filter((f) => f.endsWith('.scn'))
    .map((f) => path.join(ROOT, 'scenarios', f)),
  ...readdirSync(path.join(HERE, 'golden-state'))
    .filter((f) => f.endsWith('.scn'))
    .map((f) => path.join(HERE, 'golden-state', f)),
].sort();

describe('golden end state of whole workloads (behaviour must not change with performance work)', () => {
  test.each(files.map((f) => [path.relative(ROOT, f), f]))('%s', async (_name, file) => {
    const actual = await runToText(file);
    const golden = path.join(HERE, 'golden-state', `${path.basename(file, '.scn')}.golden`);
    if (process.env['UPDATE_GOLDEN'] === '1') {
      mkdirSync(path.dirname(golden), { recursive: true });
      writeFileSync(golden, actual);
    }
    if (!existsSync(golden)) throw new Error(`golden file ${golden} is missing: run with UPDATE_GOLDEN=1 and read it`);
    expect(actual).toBe(readFileSync(golden, 'utf8'));
  });
});
