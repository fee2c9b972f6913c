/**
 * A small booted machine for swap tests: 192 MiB of RAM at 2 GiB with its v1 tag storage (6 MiB, 1:32) right
 * after it (the boot takes about half of it: kernel image, memmap, the 64 MiB swiotlb buffer), built in memory (no DTS parsing), booted by bootKernel and wrapped like `mte-sim run` does it.
 */
import { memory, metadata, node, str, tree, u32 } from '../arch/dt-builder.js';
import { parseScenario } from '../../src/scenario/parser.js';
import { Interpreter, InvariantStop, type RunEvent } from '../../src/scenario/interpreter.js';
import { bootForRun } from '../../src/scenario/runtime_boot.js';
import { buildRuntime } from '../../src/scenario/runtime_machine.js';
import { SwapSystem } from '../../src/process/swap.js';

export const RAM = 192 * 2 ** 20;

export function smallTree(ramBytes = RAM) {
  return tree([
    node('chosen', { bootargs: str('') }),
    node('cpus', { '#address-cells': u32(1), '#size-cells': u32(0) }, [
      node('cpu@0', { device_type: str('cpu'), reg: u32(0) }),
    ]),
    memory(0x80000000, ramBytes, 1),
    metadata(0x80000000 + ramBytes, ramBytes / 32, 1),
  ]);
}

export async function bootSmall(opts: { fixPfnTags?: boolean; ramBytes?: number; minFreeKbytes?: number } = {}) {
  const parts = await bootForRun({
    tree: smallTree(opts.ramBytes),
    fixPfnTags: opts.fixPfnTags ?? true,
    ...(opts.minFreeKbytes !== undefined ? { minFreeKbytes: opts.minFreeKbytes } : {}),
  });
  const { machine, layer } = buildRuntime(parts, {
    fixMetadataNone: true,
    fixPfnTags: opts.fixPfnTags ?? true,
  });
  const swap = layer.swap;
  if (!(swap instanceof SwapSystem)) throw new Error('no swap system installed');
  return { parts, machine, layer, swap, alloc: parts.alloc, log: parts.log };
}

export interface ScenarioRun {
  events: RunEvent[];
  violations: string[];
  notes: string[];
  failed: string[];
  stopped: boolean;
  it: Interpreter;
  m: Awaited<ReturnType<typeof bootSmall>>;
}

/** Runs scenario text on a fresh small machine (with --check unless told otherwise). */
export async function runSmall(
  text: string,
  opts: { check?: boolean; seed?: number; fixPfnTags?: boolean; ramBytes?: number } = {},
): Promise<ScenarioRun> {
  const sc = parseScenario(text, 'swap-test.scn');
  const fixPfnTags = sc.config['fix.pfn_tags']?.value ?? opts.fixPfnTags ?? true;
  const mfk = sc.config.min_free_kbytes?.value;
  const m = await bootSmall({
    fixPfnTags,
    ...(opts.ramBytes !== undefined ? { ramBytes: opts.ramBytes } : {}),
    ...(mfk !== undefined ? { minFreeKbytes: mfk } : {}),
  });
  const events: RunEvent[] = [];
  const it = new Interpreter(m.machine, m.layer, {
    seed: opts.seed ?? sc.config.seed?.value ?? 1,
    check: opts.check ?? true,
    emit: (e) => events.push(e),
  });
  let stopped = false;
  try {
    it.run(sc);
  } catch (e) {
    if (!(e instanceof InvariantStop)) throw e;
    stopped = true;
  }
  const violations = events.flatMap((e) => (e.kind === 'violation' ? e.messages : []));
  const notes = events.flatMap((e) => (e.kind === 'note' ? [e.text] : []));
  const failed = events.flatMap((e) => (e.kind === 'expect' && !e.record.ok ? [e.line] : []));
  return { events, violations, notes, failed, stopped, it, m };
}

/** MemFree of a freshly booted small machine, in whole MiB (tests size their workloads from it). */
export async function freeMiB(): Promise<number> {
  const m = await bootSmall();
  return Math.floor((m.machine.counter('meminfo', 'MemFree') ?? 0) / 1024);
}
