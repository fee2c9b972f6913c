/**
 * One booted machine (the default FVP platform unless told otherwise) running scenario text piece by piece
 * under --check, as `mte-sim run --check a.scn b.scn` runs several files on one machine; between the pieces a
 * test can look at the process layer (pfns, tokens, tags).
 */
import { defaultDt } from '../../src/commands/run.js';
import type { ProcessLayer } from '../../src/process/layer.js';
import type { Process, Vma } from '../../src/process/mm.js';
import { Interpreter, InvariantStop, type RunEvent } from '../../src/scenario/interpreter.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { bootForRun } from '../../src/scenario/runtime_boot.js';
import { buildRuntime, type BootedMachine } from '../../src/scenario/runtime_machine.js';

export class Session {
  readonly events: RunEvent[] = [];
  private text = '';
  private done = 0;
  private constructor(
    readonly machine: BootedMachine,
    readonly layer: ProcessLayer,
  ) {}

  static async boot(dt = defaultDt()): Promise<Session> {
    const parts = await bootForRun({ dt });
    const { machine, layer } = buildRuntime(parts, { fixMetadataNone: true, fixPfnTags: true });
    return new Session(machine, layer);
  }

  /** Runs text; returns the messages of failed expects and violations (empty: all good). */
  run(text: string, seed = 1): string[] {
    const it = new Interpreter(this.machine, this.layer, {
      seed,
      check: true,
      emit: (e) => this.events.push(e),
    });
    const from = this.events.length;
    // The parser checks process and VMA names over a whole file: parse everything so far, run the new part.
    const sc = parseScenario(this.text + text, 'session.scn');
    this.text += text.endsWith('\n') ? text : `${text}\n`;
    const body = sc.body.slice(this.done);
    this.done = sc.body.length;
    try {
      it.run({ ...sc, body });
    } catch (e) {
      if (!(e instanceof InvariantStop)) throw e;
    }
    return this.events.slice(from).flatMap((e) => {
      if (e.kind === 'violation') return e.messages.map((m) => `${e.pos}: invariant violated: ${m}`);
      if (e.kind === 'expect' && !e.record.ok) return [e.line];
      return [];
    });
  }

  proc(name: string): Process {
    return this.layer.processes.get(name)!;
  }

  /** The VMAs of proc's mapping `vma` (mprotect may have split it). */
  vmas(proc: string, vma: string): Vma[] {
    const p = this.proc(proc);
    const m = p.named.get(vma)!;
    return p.mm.vmas.filter((v) => v.start < m.end && v.end > m.start);
  }

  /** pfn of every page of the mapping, in address order. */
  pfns(proc: string, vma: string): number[] {
    return this.vmas(proc, vma).flatMap((v) => Array.from(v.pfn));
  }

  /** The data token held by every page of the mapping (what is physically there). */
  tokens(proc: string, vma: string): number[] {
    return this.pfns(proc, vma).map((pfn) => this.layer.contentOf(pfn));
  }

  zoneOf(pfn: number): string {
    return this.machine.parts.alloc.zoneForPfn(pfn)?.name ?? '?';
  }

  vmstat(name: string): number {
    this.layer.flush();
    return this.machine.counter('vmstat', name)!;
  }
}
