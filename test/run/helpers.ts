import { KernelLog } from '../../src/sim/log.js';
import { ProcessLayer } from '../../src/process/layer.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { Interpreter, type RunEvent } from '../../src/scenario/interpreter.js';
import type { Machine } from '../../src/scenario/runtime.js';
import { FakePort } from '../process/fake_port.js';

/** Runs scenario text on the fake allocator; returns the events and the interpreter. */
export function runFake(
  text: string,
  opts: {
    check?: boolean;
    seed?: number;
    fixMetadataNone?: boolean;
    chooseThread?: (runnable: readonly number[], race: number, step: number) => number;
  } = {},
) {
  const port = new FakePort();
  const log = new KernelLog();
  const L = new ProcessLayer(port, { log, fixMetadataNone: opts.fixMetadataNone ?? true });
  const machine: Machine = {
    log,
    pageSize: 4096,
    procText: (f) => (f === 'vmstat' ? [...port.counters].map(([k, v]) => `${k} ${v}`).join('\n') + '\n' : undefined),
    counter: (file, name) => (file === 'vmstat' ? port.get(name) : undefined),
  };
  const events: RunEvent[] = [];
  const dbg = process.env['DBG'] !== undefined;
  const it = new Interpreter(machine, L, {
    seed: opts.seed ?? 1,
    check: opts.check ?? true,
    ...(opts.chooseThread !== undefined ? { chooseThread: opts.chooseThread } : {}),
    emit: (e) => {
      events.push(e);
      if (dbg && e.kind === 'violation') console.log(e.messages);
    },
  });
  it.run(parseScenario(text, 'test.scn'));
  return { events, it, port, L, log };
}
