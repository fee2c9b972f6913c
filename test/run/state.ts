/**
 * Runs a scenario on the real boot and renders its whole observable outcome as text: what it printed, the
 * /proc files at the end, and SHA-1 digests of the complete machine state (the memmap words of every page,
 * every VMA's PTEs, pfns and tokens, the page tables, the tag bytes). Shared by the golden end-state test and
 * the fast-lane differential test.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHOW_FILES, type ShowFile } from '../../src/scenario/ast.js';
import { Interpreter, InvariantStop } from '../../src/scenario/interpreter.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { bootForRun } from '../../src/scenario/runtime_boot.js';
import { buildRuntime } from '../../src/scenario/runtime_machine.js';
import type { ProcessLayer } from '../../src/process/layer.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
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

export function digests(layer: ProcessLayer, memmap: Uint32Array): string {
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

/**
 * Boots `dt` (default: the bundled FVP DT), runs the scenario text and returns everything it printed, the /proc
 * files at the end and the state digests. `fastLanes: false` sends every fault through the step machine.
 */
export async function runToText(
  text: string,
  name: string,
  opts: { dt?: string; fastLanes?: boolean } = {},
): Promise<string> {
  const sc = parseScenario(text, name);
  const cfg = sc.config;
  const fixPfnTags = cfg['fix.pfn_tags']?.value ?? true;
  // A `boot PATH` line names the DT relative to the scenario's directory (as `run` reads it).
  const dt = opts.dt ?? (sc.boot !== undefined ? path.resolve(ROOT, path.dirname(name), sc.boot.value) : DT);
  const parts = await bootForRun({
    dt,
    include: [],
    ...(cfg.min_free_kbytes !== undefined ? { minFreeKbytes: cfg.min_free_kbytes.value } : {}),
    ...(cfg.page_size !== undefined ? { scenarioPageSize: cfg.page_size.value } : {}),
    fixPfnTags,
  });
  const { machine, layer } = buildRuntime(parts, {
    fixMetadataNone: cfg['fix.metadata_none']?.value ?? true,
    fixPfnTags,
  });
  // (A cast: the runner also drives checkouts from before the lanes existed, to make golden files there.)
  (layer as { fastLanes?: boolean }).fastLanes = opts.fastLanes ?? true;
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
