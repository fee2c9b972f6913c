/**
 * `mte-sim run SCENARIO...`: boots (DT from --dt, else the first scenario's `boot` line, else the bundled
 * default), runs the scenario files in order on one machine, prints the kernel log as it grows, what the
 * scenarios `show`, a note per signal or OOM, and every failed `expect` (line, expression, both values).
 * Exit 0, 1 if an expect failed or (--check) an invariant broke, 2 on bad input (SPEC §1).
 *
 * --json prints one object instead: { expects, notes, shows, violations, dmesg, exit }.
 * --proc-dir DIR writes meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, iomem and dmesg at the end.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, UsageError } from '../errors.js';
import type { Sinks } from '../io.js';
import { writeFileAtomic } from '../io.js';
import type { GlobalOptions } from '../program.js';
import type { Scenario, ShowFile } from '../scenario/ast.js';
import { SHOW_FILES } from '../scenario/ast.js';
import { Interpreter, InvariantStop, type RunEvent } from '../scenario/interpreter.js';
import { parseScenario } from '../scenario/parser.js';
import { bootForRun } from '../scenario/runtime_boot.js';
import { buildRuntime } from '../scenario/runtime_machine.js';

export interface RunCommandOptions {
  scenarios: string[];
  dt?: string;
  seed?: string;
  check: boolean;
  procDir?: string;
  include: string[];
  cmdline?: string;
  pageSize?: string;
  globals: GlobalOptions;
  sinks: Sinks;
}

/** The bundled default device tree (SPEC §1). */
export function defaultDt(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/commands (tsx, jest) or dist/src/commands (built): the package root holds dts/.
  for (const up of ['../..', '../../..']) {
    const p = path.resolve(here, up, 'dts/fvp-base-revc-mte.dts');
    try {
      readFileSync(p, { flag: 'r' });
      return p;
    } catch {
      // try the next candidate
    }
  }
  return path.resolve(here, '../../dts/fvp-base-revc-mte.dts');
}

function readScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`cannot read scenario '${file}': ${code === 'ENOENT' ? 'no such file' : code}`);
  }
  return parseScenario(text, file);
}

export async function runCommand(opts: RunCommandOptions): Promise<number> {
  if (opts.scenarios.length === 0) throw new UsageError('no scenario file given');
  const scenarios = opts.scenarios.map(readScenario);
  const first = scenarios[0]!;
  const cfg = first.config;

  let seed = cfg.seed?.value ?? 1;
  if (opts.seed !== undefined) {
    if (!/^\d+$/.test(opts.seed)) throw new UsageError(`--seed expects a non-negative integer, got '${opts.seed}'`);
    seed = Number(opts.seed);
  }
  const dt =
    opts.dt ?? (first.boot !== undefined ? path.resolve(path.dirname(first.file), first.boot.value) : defaultDt());
  if (opts.dt === undefined && first.boot !== undefined) {
    try {
      readFileSync(dt);
    } catch {
      throw new InputError(`cannot read device tree '${first.boot.value}'`, first.boot.pos);
    }
  }

  const parts = await bootForRun({
    dt,
    include: opts.include,
    ...(opts.cmdline !== undefined
      ? { cmdline: opts.cmdline }
      : cfg.cmdline !== undefined
        ? { cmdline: cfg.cmdline.value }
        : {}),
    ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
    ...(cfg.page_size !== undefined ? { scenarioPageSize: cfg.page_size.value } : {}),
    ...(cfg.kernel_image !== undefined ? { kernelImageSize: cfg.kernel_image.value } : {}),
    ...(cfg.min_free_kbytes !== undefined ? { minFreeKbytes: cfg.min_free_kbytes.value } : {}),
    fixPfnTags: cfg['fix.pfn_tags']?.value ?? true,
  });
  const { machine, layer } = buildRuntime(parts, {
    fixMetadataNone: cfg['fix.metadata_none']?.value ?? true,
    fixPfnTags: cfg['fix.pfn_tags']?.value ?? true,
  });

  const json = opts.globals.json;
  const quiet = opts.globals.quiet;
  const out = opts.sinks;
  const collected = {
    expects: [] as unknown[],
    notes: [] as string[],
    shows: [] as { what: string; text: string }[],
    violations: [] as { pos: string; messages: string[] }[],
  };
  const emit = (e: RunEvent): void => {
    switch (e.kind) {
      case 'log':
        if (!json && !quiet) out.out(e.text);
        break;
      case 'show':
        collected.shows.push({ what: e.what, text: e.text });
        if (!json) out.out(e.text.endsWith('\n') ? e.text : `${e.text}\n`);
        break;
      case 'note':
        collected.notes.push(e.text);
        if (!json) out.out(`${e.text}\n`);
        break;
      case 'expect':
        collected.expects.push(e.record);
        if (!json && !e.record.ok) out.err(`${e.line}\n`);
        break;
      case 'violation':
        collected.violations.push({ pos: e.pos, messages: e.messages });
        if (!json) for (const m of e.messages) out.err(`${e.pos}: invariant violated: ${m}\n`);
        break;
    }
  };

  let failures = 0;
  let stopped = false;
  for (const sc of scenarios) {
    const it = new Interpreter(machine, layer, { seed, check: opts.check, emit });
    try {
      it.run(sc);
    } catch (e) {
      if (!(e instanceof InvariantStop)) throw e;
      stopped = true;
    } finally {
      failures += it.failures;
    }
    if (stopped) break;
  }

  if (opts.procDir !== undefined) {
    for (const f of SHOW_FILES) {
      const text = machine.procText(f as ShowFile);
      if (text !== undefined) writeFileAtomic(path.join(opts.procDir, f), text);
    }
  }
  const code = failures > 0 || stopped ? 1 : 0;
  if (json) {
    out.out(
      `${JSON.stringify({ ...collected, signals: layer.signals.map((s) => ({ ...s, addr: `0x${s.addr.toString(16)}` })), dmesg: machine.log.dmesg(), exit: code }, null, 2)}\n`,
    );
  }
  return code;
}
