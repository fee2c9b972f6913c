/**
 * The run pipeline of `mte-sim run --check` (boot, runtime, interpreter) kept in hand, so a test can look at
 * page-table slots and allocator state between scenario pieces. Small MTE platform (test/run/fixtures).
 */
import { InvariantStop, Interpreter, type RunEvent } from '../../src/scenario/interpreter.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { bootForRun } from '../../src/scenario/runtime_boot.js';
import { buildRuntime } from '../../src/scenario/runtime_machine.js';
import type { ProcessLayer } from '../../src/process/layer.js';
import type { Vma } from '../../src/process/mm.js';
import { SMALL_DT } from '../fork/helpers.js';

export interface Session {
  layer: ProcessLayer;
  it: Interpreter;
  events: RunEvent[];
  /** Runs more scenario lines (invariants checked after every statement); throws on a failed expect. */
  run(lines: string[]): void;
  vmstat(name: string): number;
  meminfo(name: string): number;
  /** The VMAs of process `proc` covering its mapping `name`. */
  vmas(proc: string, name: string): Vma[];
}

let file = 0;

export async function session(
  opts: { kernelImage?: string; minFreeKbytes?: number; seed?: number } = {},
): Promise<Session> {
  const parts = await bootForRun({
    dt: SMALL_DT,
    ...(opts.kernelImage !== undefined ? { kernelImageSize: parseInt(opts.kernelImage, 10) * 2 ** 20 } : {}),
    ...(opts.minFreeKbytes !== undefined ? { minFreeKbytes: opts.minFreeKbytes } : {}),
  });
  const { machine, layer } = buildRuntime(parts, { fixMetadataNone: true, fixPfnTags: true });
  const events: RunEvent[] = [];
  const it = new Interpreter(machine, layer, { seed: opts.seed ?? 1, check: true, emit: (e) => events.push(e) });
  // The parser checks names against what earlier lines created: parse everything so far, run the new part.
  const all: string[] = [];
  let done = 0;
  const s: Session = {
    layer,
    it,
    events,
    run(lines: string[]): void {
      const before = it.failures;
      try {
        all.push(...lines);
        const sc = parseScenario(all.join('\n') + '\n', `h10-${file++}.scn`);
        const body = sc.body.slice(done);
        done = sc.body.length;
        it.run({ ...sc, body });
      } catch (e) {
        if (e instanceof InvariantStop) {
          const v = events.filter((x) => x.kind === 'violation');
          throw new Error(`${e.message}: ${JSON.stringify(v)}`, { cause: e });
        }
        throw e;
      }
      if (it.failures !== before) {
        const bad = events.filter((x) => x.kind === 'expect' && !x.record.ok).map((x) => (x as { line: string }).line);
        throw new Error(`expect failed:\n${bad.join('\n')}`);
      }
    },
    vmstat(name: string): number {
      const v = it.counter('vmstat', name);
      if (v === undefined) throw new Error(`no vmstat ${name}`);
      return v;
    },
    meminfo(name: string): number {
      const v = it.counter('meminfo', name);
      if (v === undefined) throw new Error(`no meminfo ${name}`);
      return v;
    },
    vmas(proc: string, name: string): Vma[] {
      const p = layer.processes.get(proc)!;
      const m = p.named.get(name)!;
      return p.mm.vmas.filter((v) => v.start < m.end && v.end > m.start);
    },
  };
  return s;
}
