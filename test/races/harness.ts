/**
 * Runs a scenario in-process on the real booted kernel, as `mte-sim run --check` does (src/commands/run.ts:
 * bootForRun, buildRuntime, Interpreter), but with the race schedule fixed from outside (chooseThread).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultDt } from '../../src/commands/run.js';
import type { ProcessLayer } from '../../src/process/layer.js';
import { Interpreter, InvariantStop, type ExpectRecord, type RunEvent } from '../../src/scenario/interpreter.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { bootForRun } from '../../src/scenario/runtime_boot.js';
import { buildRuntime, type BootedMachine } from '../../src/scenario/runtime_machine.js';

export interface RunOutcome {
  /** 0 clean, 1 a failed expect or a violation (as `run --check` exits). */
  code: number;
  violations: { pos: string; messages: string[] }[];
  failedExpects: ExpectRecord[];
  notes: string[];
  /** The thread (0 = A, 1 = B, ...) that ran each step of the first race. */
  ran: number[];
  layer: ProcessLayer;
  machine: BootedMachine;
}

export interface RunOptions {
  /**
   * The threads to run, by index, step by step (`[0, 1, 1]`: one step of A, then two of B). When it runs out,
   * or names a thread with nothing left, the first runnable thread runs.
   */
  schedule?: readonly number[];
  /** Replaces `config` values in the text, e.g. `{ 'fix.pfn_tags': 'off' }`. */
  config?: Record<string, string>;
  /** A DT to boot instead of the scenario's `boot` line / the default platform. */
  dt?: string;
}

export const SCENARIOS = path.resolve('scenarios');

/** Reads scenarios/NAME and applies the config overrides to its text. */
export function scenarioText(name: string, config: Record<string, string> = {}): string {
  let text = readFileSync(path.join(SCENARIOS, name), 'utf8');
  for (const [k, v] of Object.entries(config)) {
    const re = new RegExp(`^(config .*\\b${k.replace('.', '\\.')}=)\\S+`, 'm');
    if (!re.test(text)) throw new Error(`${name}: no config ${k}= to override`);
    text = text.replace(re, `$1${v}`);
  }
  return text;
}

export async function runScenarioText(text: string, file: string, o: RunOptions = {}): Promise<RunOutcome> {
  const sc = parseScenario(text, file);
  const cfg = sc.config;
  const parts = await bootForRun({
    dt: o.dt ?? (sc.boot !== undefined ? path.resolve(path.dirname(file), sc.boot.value) : defaultDt()),
    fixPfnTags: cfg['fix.pfn_tags']?.value ?? true,
  });
  const { machine, layer } = buildRuntime(parts, {
    fixMetadataNone: cfg['fix.metadata_none']?.value ?? true,
    fixPfnTags: cfg['fix.pfn_tags']?.value ?? true,
  });
  const out: RunOutcome = { code: 0, violations: [], failedExpects: [], notes: [], ran: [], layer, machine };
  const emit = (e: RunEvent): void => {
    if (e.kind === 'violation') out.violations.push({ pos: e.pos, messages: e.messages });
    else if (e.kind === 'expect' && !e.record.ok) out.failedExpects.push(e.record);
    else if (e.kind === 'note') out.notes.push(e.text);
  };
  const sched = o.schedule ?? [];
  const it = new Interpreter(machine, layer, {
    seed: cfg.seed?.value ?? 1,
    check: true,
    emit,
    chooseThread: (runnable, race, step) => {
      const want = race === 0 ? sched[step] : undefined;
      const i = want === undefined ? -1 : runnable.indexOf(want);
      const pick = i >= 0 ? i : 0;
      if (race === 0) out.ran.push(runnable[pick]!);
      return pick;
    },
  });
  try {
    it.run(sc);
  } catch (e) {
    if (!(e instanceof InvariantStop)) throw e;
  }
  out.code = it.failures > 0 || it.violations > 0 ? 1 : 0;
  return out;
}

export function runScenario(name: string, o: RunOptions = {}): Promise<RunOutcome> {
  return runScenarioText(scenarioText(name, o.config), path.join(SCENARIOS, name), o);
}

/** All violation messages of a run, one per line. */
export function violationText(r: RunOutcome): string {
  return r.violations.flatMap((v) => v.messages.map((m) => `${v.pos}: ${m}`)).join('\n');
}
