/**
 * `mte-sim check DT`: boots the device tree far enough to apply every rule the v1 kernel applies to memory and
 * tag storage nodes (discovery in setup_arch, activation in the core_initcall — through bootKernel, so the
 * outcome is the one `mte-sim boot` shows), and prints each finding with the node path, the kernel's own log
 * line(s) verbatim and a plain explanation of what the kernel does. mte-sim's own warnings (the v2/v3
 * bindings, unit addresses, silent roundings) follow, clearly marked as not being kernel lines.
 *
 * Exit 0 when tag storage would be enabled, 1 when not, 2 when the file cannot be parsed (InputError).
 * `--list-rules` prints the rule table instead.
 */
import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { GlobalOptions } from '../program.js';
import type { Sinks } from '../io.js';
import { UsageError, formatPos } from '../errors.js';
import { decideColour } from '../colour.js';
import { loadDt } from '../dt/load.js';
import type { SrcPos } from '../errors.js';
import { parsePageSize, type PageSize } from '../mm/geometry.js';
import { bootKernel } from '../boot/boot.js';
import { TAG_STORAGE_RULES, findRule, type TagOutcome } from '../arch/arm64/mte_tag_storage_rules.js';
import { TAG_LINT_RULES, lintRule, lintTagStorage } from '../arch/arm64/mte_tag_storage_lint.js';
import {
  describeTagRegion,
  type TagRegionBytes,
  tagStorageCandidates,
  tagStorageNodeProblems,
  type TagStorageState,
} from '../arch/arm64/mte_tag_storage.js';

export interface CheckCommandOptions {
  dt?: string;
  include: string[];
  define: string[];
  cmdline?: string;
  pageSize?: string;
  listRules?: boolean;
  globals: GlobalOptions;
  sinks: Sinks;
  stream?: NodeJS.WriteStream;
}

export type CheckSeverity = 'ok' | 'note' | 'warning' | 'error';

export interface CheckFinding {
  /** `kernel`: a rule the kernel applies (its log lines are quoted); `mte-sim`: our own warning. */
  readonly source: 'kernel' | 'mte-sim';
  readonly rule: string;
  readonly severity: CheckSeverity;
  /** DT path of the node concerned, or `/` for the whole tree. */
  readonly node: string;
  readonly position?: string;
  /** The kernel's log lines, verbatim (kernel findings), or mte-sim's one-line message. */
  readonly lines: readonly string[];
  readonly explanation: string;
}

export interface CheckResult {
  readonly file: string;
  readonly pageSize: number;
  readonly cmdline: string;
  readonly state: TagStorageState;
  readonly enabled: boolean;
  readonly regions: readonly (TagRegionBytes & { nid: number })[];
  readonly memTotalKb: number;
  readonly metadataTotalKb: number;
  readonly findings: readonly CheckFinding[];
  /** The whole boot log as dmesg prints it (info level and above), for context (`-v`). */
  readonly dmesg: string;
}

const SEVERITY_OF: Record<TagOutcome, CheckSeverity> = {
  'region-found': 'ok',
  enabled: 'ok',
  'no-regions': 'note',
  movable: 'note',
  warning: 'warning',
  'management-disabled': 'error',
  'left-reserved': 'error',
  'metadata-unused': 'error',
};

/** Log levels of other boot lines worth showing beside the tag storage findings. */
const OTHER_LEVELS = new Set(['emerg', 'alert', 'crit', 'err', 'warning']);

/** One line per outcome, for the summary. */
const STATE_TEXT: Record<TagStorageState, string> = {
  none: 'not enabled: no v1 tag storage node found',
  'discovery-failed': 'not enabled: tag storage management disabled at discovery, the regions are removed from memory',
  discovered: 'not activated',
  'left-reserved': 'not enabled: the tag storage stays reserved and unused',
  movable: 'not enabled: MTE is off, the tag storage is ordinary movable memory',
  'metadata-unused': 'not enabled: METADATA pages exist but tag storage is disabled (zero page block)',
  enabled: 'enabled',
};

/** Runs the check and returns the findings (no printing). */
export function runCheck(opts: {
  file: string;
  include?: string[];
  define?: string[];
  cmdline?: string;
  pageSize?: PageSize;
}): CheckResult {
  const tree = loadDt(opts.file, { includeDirs: opts.include ?? [], defines: opts.define ?? [] });
  const pageSize = opts.pageSize ?? 4096;
  const sys = bootKernel({ tree, pageSize, ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}) });
  const dt = sys.ctx.dt;
  const posOf = (path: string): string | undefined => {
    // Whole-tree findings name the file: the root may have been last amended in an included file.
    if (path === '/') return undefined;
    const node = dt.findPath(path);
    const pos: SrcPos | undefined = node?.pos;
    return pos ? formatPos(pos) : undefined;
  };
  const ts = sys.tagStorage;
  const findings: CheckFinding[] = [];
  for (const f of ts.findings) {
    const rule = findRule(f.rule);
    const node = f.node ?? '/';
    const position = posOf(node);
    let explanation = rule.explanation;
    if (rule.note) explanation += ` (${rule.note})`;
    findings.push({
      source: 'kernel',
      rule: f.rule,
      severity: SEVERITY_OF[f.outcome],
      node,
      ...(position !== undefined ? { position } : {}),
      lines: f.lines,
      explanation,
    });
  }
  // Problems the kernel never reached: it stops at the first failing check.
  const reported = new Set(ts.findings.filter((f) => f.node !== undefined).map((f) => `${f.node} ${f.rule}`));
  for (const { node, path } of tagStorageCandidates(dt)) {
    for (const p of tagStorageNodeProblems(dt, node, pageSize, sys.geometry.pageblockNrPages)) {
      if (reported.has(`${path} ${p.rule}`)) continue;
      const position = posOf(path);
      findings.push({
        source: 'mte-sim',
        rule: 'not-reached',
        severity: 'warning',
        node: path,
        ...(position !== undefined ? { position } : {}),
        lines: [`${p.rule}: the kernel would print ${p.lines.map((l) => `"${l}"`).join(', ')}`],
        explanation: lintRule('not-reached').explanation,
      });
    }
  }
  // Other warnings and errors of the same boot (memory nodes, reserved memory, mem=), for context.
  const tagLines = new Set(ts.findings.flatMap((f) => f.lines));
  for (const rec of sys.log.all()) {
    if (!OTHER_LEVELS.has(rec.level) || tagLines.has(rec.text)) continue;
    findings.push({
      source: 'kernel',
      rule: 'boot-log',
      severity: 'warning',
      node: '/',
      lines: [rec.text],
      explanation:
        'Printed at ' +
        rec.level +
        ' level while booting this device tree (not a tag storage rule); `mte-sim boot` shows it in context.',
    });
  }
  for (const l of lintTagStorage(dt, pageSize)) {
    const position = posOf(l.node);
    findings.push({
      source: 'mte-sim',
      rule: l.rule,
      severity: 'warning',
      node: l.node,
      ...(position !== undefined ? { position } : {}),
      lines: [l.message],
      explanation: lintRule(l.rule).explanation,
    });
  }
  const kb = pageSize / 1024;
  return {
    file: tree.source,
    pageSize,
    cmdline: sys.cmdline.text,
    state: ts.state,
    enabled: ts.metadataEnabled,
    regions: ts.regions.map((r) => ({ ...describeTagRegion(r, pageSize), nid: r.nid })),
    memTotalKb: sys.mm.totalramPages() * kb,
    metadataTotalKb: sys.mm.totalmetadataPages * kb,
    findings,
    dmesg: sys.log.dmesg(),
  };
}

function severityLabel(c: ChalkInstance, s: CheckSeverity): string {
  switch (s) {
    case 'ok':
      return c.green('ok');
    case 'note':
      return c.cyan('note');
    case 'warning':
      return c.yellow('warning');
    case 'error':
      return c.red('error');
  }
}

/** Wraps `text` at `width` columns, every line indented by `indent`. */
function wrap(text: string, indent: string, width = 100): string {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line.length > 0 && indent.length + line.length + 1 + word.length > width) {
      out.push(indent + line);
      line = word;
    } else {
      line = line.length > 0 ? `${line} ${word}` : word;
    }
  }
  if (line.length > 0) out.push(indent + line);
  return out.join('\n');
}

/** The text report: one block per finding (location, rule, kernel lines, explanation), then a summary. */
export function formatCheck(r: CheckResult, c: ChalkInstance, verbose = false): string {
  let out = verbose ? `${c.bold('kernel log:')}\n${r.dmesg}\n` : '';
  const kernel = r.findings.filter((f) => f.source === 'kernel');
  const ours = r.findings.filter((f) => f.source === 'mte-sim');
  for (const f of kernel) {
    out += `${f.position ?? r.file}: ${severityLabel(c, f.severity)} (${f.rule}): ${f.node}\n`;
    for (const l of f.lines) out += `    kernel: ${c.bold(l.replace(/\n$/, ''))}\n`;
    if (f.lines.length === 0) out += `    kernel: ${c.dim('(no message)')}\n`;
    // An accepted region needs no lecture unless asked for.
    if (f.rule !== 'region-found' || verbose) out += `${wrap(f.explanation, '    ')}\n`;
  }
  // Each of our rules is explained once, at its first finding, as dtc does not repeat itself either.
  const explained = new Set<string>();
  for (const f of ours) {
    out += `${f.position ?? r.file}: ${severityLabel(c, f.severity)} (mte-sim: ${f.rule}): ${f.node}: ${f.lines[0]}\n`;
    if (!explained.has(f.rule) || verbose) out += `${wrap(f.explanation, '    ')}\n`;
    explained.add(f.rule);
  }
  const verdict = r.enabled ? c.green(STATE_TEXT[r.state]) : c.red(STATE_TEXT[r.state]);
  out += `\n${r.file}: tag storage ${verdict}\n`;
  out +=
    `    page size ${r.pageSize / 1024}K, ${r.regions.length} region${r.regions.length === 1 ? '' : 's'}, ` +
    `MemTotal ${r.memTotalKb} kB, MetadataTotal ${r.metadataTotalKb} kB` +
    (r.cmdline ? `, command line "${r.cmdline}"` : '') +
    '\n';
  return out;
}

/** The rule table (`--list-rules`). */
export function formatRules(c: ChalkInstance): string {
  const t = new Table({
    head: ['rule', 'stage', 'kernel message', 'outcome', 'dts/examples/'].map((h) => c.bold.cyan(h)),
    style: { head: [], border: [] },
  });
  for (const r of TAG_STORAGE_RULES) {
    t.push([
      r.name,
      r.stage,
      r.messages.map((m) => m.replace(/\n$/, '')).join('\n') || '(none)',
      r.outcome,
      r.example ?? '',
    ]);
  }
  let out = `${t.toString()}\n\nKernel rules (kernel-facts §1.1, §2.2):\n`;
  for (const r of TAG_STORAGE_RULES) out += `  ${c.bold(r.name)}\n${wrap(r.explanation, '      ')}\n`;
  out += "\nmte-sim's own warnings (not kernel messages):\n";
  for (const r of TAG_LINT_RULES) out += `  ${c.bold(r.name)}\n${wrap(r.explanation, '      ')}\n`;
  return out;
}

export async function checkCommand(opts: CheckCommandOptions): Promise<number> {
  const { sinks, globals } = opts;
  const c = decideColour({ color: globals.color, json: globals.json }, opts.stream ?? process.stdout);
  if (opts.listRules) {
    if (globals.json) {
      sinks.out(`${JSON.stringify({ kernel: TAG_STORAGE_RULES, mteSim: TAG_LINT_RULES }, null, 2)}\n`);
    } else {
      sinks.out(formatRules(c));
    }
    return 0;
  }
  if (opts.dt === undefined) throw new UsageError('check: a device tree file is required (or --list-rules)');
  let pageSize: PageSize = 4096;
  if (opts.pageSize !== undefined) {
    const p = parsePageSize(opts.pageSize);
    if (p === undefined) throw new UsageError(`--page-size: expected 4K, 16K or 64K, got '${opts.pageSize}'`);
    pageSize = p;
  }
  const result = runCheck({
    file: opts.dt,
    include: opts.include,
    define: opts.define,
    pageSize,
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
  });
  if (globals.json) sinks.out(`${JSON.stringify(result, null, 2)}\n`);
  else if (!globals.quiet) sinks.out(formatCheck(result, c, globals.verbose));
  else sinks.out(`${result.file}: tag storage ${STATE_TEXT[result.state]}\n`);
  return result.enabled ? 0 : 1;
}
