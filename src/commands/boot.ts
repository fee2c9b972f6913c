/**
 * `mte-sim boot [DT]`: boots the platform a device tree describes (default: the bundled
 * dts/fvp-base-revc-mte.dts) and prints the kernel log, a table of memory banks, tag storage regions and
 * zones, then each `--show` file exactly as the kernel prints it, with a heading line before each.
 * `--proc-dir DIR` also writes every /proc file (and dmesg) there, atomically; `--json` prints one object.
 */
import path from 'node:path';
import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { GlobalOptions } from '../program.js';
import type { Sinks } from '../io.js';
import { writeFileAtomic } from '../io.js';
import { UsageError } from '../errors.js';
import { decideColour } from '../colour.js';
import { loadDt } from '../dt/load.js';
import { parsePageSize } from '../mm/geometry.js';
import { NR_FREE_METADATA_PAGES, NR_FREE_PAGES } from '../mm/vmstat.js';
import { projectRoot } from '../version.js';
import { bootKernel, type BootedSystem } from '../boot/boot.js';
import { memparse } from '../boot/cmdline.js';
import { PROC_FILES, isProcFile, procHeading, renderProcFile, type ProcFile } from '../boot/procfs.js';
import { formatTimestamp } from '../sim/log.js';
import { describeTagRegion } from '../arch/arm64/mte_tag_storage.js';

export interface BootCommandOptions {
  dt?: string;
  show?: string;
  cmdline?: string;
  pageSize?: string;
  include: string[];
  define: string[];
  procDir?: string;
  kernelImage?: string;
  minFreeKbytes?: string;
  globals: GlobalOptions;
  sinks: Sinks;
  /** Where colour is decided from (default process.stdout). */
  stream?: NodeJS.WriteStream;
}

/** The bundled default device tree. */
export function defaultDtPath(): string {
  return path.join(projectRoot(), 'dts', 'fvp-base-revc-mte.dts');
}

function parseShow(list: string | undefined): ProcFile[] {
  if (list === undefined || list.trim() === '') return [];
  const out: ProcFile[] = [];
  for (const raw of list.split(',')) {
    const name = raw.trim();
    if (name === 'all') {
      for (const f of PROC_FILES) if (!out.includes(f)) out.push(f);
      continue;
    }
    if (!isProcFile(name)) {
      throw new UsageError(`--show: unknown file '${name}' (expected ${PROC_FILES.join(', ')} or all)`);
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

const hex = (v: number): string => `0x${v.toString(16)}`;

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (u < units.length - 1 && v >= 1024 && v % 1024 === 0) {
    v /= 1024;
    u++;
  }
  return `${v} ${units[u]}`;
}

function table(c: ChalkInstance, head: string[]): Table.Table {
  return new Table({ head: head.map((h) => c.bold.cyan(h)), style: { head: [], border: [] } });
}

/** The summary tables: memory banks, tag storage regions, zones. */
export function summaryTables(sys: BootedSystem, c: ChalkInstance): string {
  const ps = sys.geometry.pageSize;
  const banks = table(c, ['memory bank', 'start', 'end', 'size', 'node']);
  for (const b of sys.platform.banks) {
    banks.push([b.node, hex(b.base), hex(b.base + b.size - 1), size(b.size), String(b.nid)]);
  }
  const ts = sys.tagStorage;
  const tags = table(c, ['tag storage', 'start', 'end', 'size', 'tagged memory', 'block', 'state']);
  for (const r of ts.regions) {
    tags.push([
      r.node,
      hex(r.tag.start * ps),
      hex((r.tag.end + 1) * ps - 1),
      size((r.tag.end - r.tag.start + 1) * ps),
      `${hex(r.mem.start * ps)}-${hex((r.mem.end + 1) * ps - 1)}`,
      `${r.blockSizePages} page${r.blockSizePages === 1 ? '' : 's'}`,
      ts.state === 'enabled' ? c.green(ts.state) : c.yellow(ts.state),
    ]);
  }
  if (ts.regions.length === 0) tags.push([{ colSpan: 7, content: `none (${ts.state})` }]);
  const zones = table(c, ['zone', 'node', 'range', 'present', 'managed', 'free', 'metadata']);
  for (const z of sys.mm.zones) {
    const range = z.spannedPages > 0 ? `${hex(z.zoneStartPfn * ps)}-${hex(z.zoneEndPfn * ps - 1)}` : 'empty';
    zones.push([
      z.name,
      String(z.nid),
      range,
      size(z.presentPages * ps),
      size(z.managedPages * ps),
      size(z.state(NR_FREE_PAGES) * ps),
      size(z.metadataPages * ps),
    ]);
  }
  return `${banks.toString()}\n${tags.toString()}\n${zones.toString()}\n`;
}

/** The `--json` object. */
export function bootJson(sys: BootedSystem, show: readonly ProcFile[]): unknown {
  const ps = sys.geometry.pageSize;
  const ts = sys.tagStorage;
  const proc: Record<string, string> = {};
  for (const f of show) proc[f] = renderProcFile(sys, f);
  return {
    source: sys.platform.source,
    model: sys.platform.model ?? null,
    pageSize: ps,
    cmdline: sys.cmdline.text,
    log: sys.log.all().map((r) => ({ time: formatTimestamp(r.ns), level: r.level, text: r.text })),
    memory: sys.memoryLine,
    banks: sys.platform.banks.map((b) => ({ node: b.node, base: b.base, size: b.size, nid: b.nid })),
    kernelImage: sys.image,
    tagStorage: {
      state: ts.state,
      enabled: ts.metadataEnabled,
      regions: ts.regions.map((r) => describeTagRegion(r, ps)),
      findings: ts.findings,
    },
    zones: sys.mm.zones.map((z) => ({
      node: z.nid,
      name: z.name,
      startPfn: z.zoneStartPfn,
      spannedPages: z.spannedPages,
      presentPages: z.presentPages,
      managedPages: z.managedPages,
      freePages: z.state(NR_FREE_PAGES),
      metadataPages: z.metadataPages,
      freeMetadataPages: z.state(NR_FREE_METADATA_PAGES),
    })),
    proc,
  };
}

function parseIntOpt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`${name}: expected a non-negative integer, got '${v}'`);
  return Number(v.trim());
}

export async function bootCommand(opts: BootCommandOptions): Promise<number> {
  const show = parseShow(opts.show);
  let pageSize: 4096 | 16384 | 65536 = 4096;
  if (opts.pageSize !== undefined) {
    const p = parsePageSize(opts.pageSize);
    if (p === undefined) throw new UsageError(`--page-size: expected 4K, 16K or 64K, got '${opts.pageSize}'`);
    pageSize = p;
  }
  let kernelImageSize: number | undefined;
  if (opts.kernelImage !== undefined) {
    const v = memparse(opts.kernelImage.trim());
    if (v === undefined || !/^[0-9a-fA-Fx]+[kKmMgG]?$/.test(opts.kernelImage.trim())) {
      throw new UsageError(`--kernel-image: expected a size such as 32M, got '${opts.kernelImage}'`);
    }
    kernelImageSize = v;
  }
  const minFreeKbytes = parseIntOpt('--min-free-kbytes', opts.minFreeKbytes);
  const file = opts.dt ?? defaultDtPath();
  const tree = loadDt(file, { includeDirs: opts.include, defines: opts.define });
  const sys = bootKernel({
    tree,
    pageSize,
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
    ...(kernelImageSize !== undefined ? { kernelImageSize } : {}),
    ...(minFreeKbytes !== undefined ? { minFreeKbytes } : {}),
  });

  if (opts.procDir !== undefined) {
    for (const f of PROC_FILES) writeFileAtomic(path.join(opts.procDir, f), renderProcFile(sys, f));
  }
  const { sinks, globals } = opts;
  if (globals.json) {
    sinks.out(`${JSON.stringify(bootJson(sys, show), null, 2)}\n`);
    return 0;
  }
  const c = decideColour(globals, opts.stream ?? process.stdout);
  let printed = false;
  if (!globals.quiet) {
    sinks.out(sys.log.dmesg(globals.verbose ? 'debug' : 'info'));
    sinks.out('\n');
    sinks.out(summaryTables(sys, c));
    printed = true;
  }
  for (const f of show) {
    sinks.out(`${printed ? '\n' : ''}${c.bold(procHeading(f))}\n`);
    sinks.out(renderProcFile(sys, f));
    printed = true;
  }
  return 0;
}
