/**
 * The typed AST of a scenario file (SPEC §6), produced by parser.ts and executed by the interpreter.
 *
 * Everything that can be wrong at run time carries its own SrcPos (process and VMA names, ranges, sizes, tags,
 * counters, migration targets) so the interpreter can throw `new InputError(msg, node.pos)` and point at the
 * exact token. Sizes and ranges are in bytes, already checked at parse time: non-zero where required, page
 * multiples where a mapping needs it (against the page size the scenario assumes, `assumedPageSize`), inside
 * the VMA when its size is known statically. Statements are plain data (no classes), frozen by the parser.
 */

import type { SrcPos } from '../errors.js';

/** A name as written (process, VMA, thread), with its position. */
export interface Name {
  readonly name: string;
  readonly pos: SrcPos;
}

/** A half-open byte range [start, end) inside a VMA; `start < end` always holds. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
  /** As written: `0..4K`. */
  readonly text: string;
  readonly pos: SrcPos;
}

/** A value read from the file with the position of its token. */
export interface Located<T> {
  readonly value: T;
  readonly pos: SrcPos;
}

/** Protection of a mapping: `none`, `r`, `rw`, `r+mte`, `rw+mte` (PROT_MTE = 0x20, kernel-facts §7.1). */
export interface Prot {
  readonly read: boolean;
  readonly write: boolean;
  readonly mte: boolean;
  /** As written, for messages: 'rw+mte'. */
  readonly text: string;
  readonly pos: SrcPos;
}

/** Kernel zone names as /proc prints them (arm64 has DMA and DMA32, no HIGHMEM; kernel-facts §7.3). */
export const ZONE_NAMES = ['DMA', 'DMA32', 'Normal', 'Movable'] as const;
export type ZoneName = (typeof ZONE_NAMES)[number];

/** Where `migrate ... to=TARGET` sends pages. */
export type MigrateTarget =
  | { readonly kind: 'zone'; readonly zone: ZoneName; readonly pos: SrcPos }
  | { readonly kind: 'node'; readonly node: number; readonly pos: SrcPos }
  /** A DT node given by path (`/memory@880000000`) */
  | { readonly kind: 'dtPath'; readonly path: string; readonly pos: SrcPos }
  /** A DT node given by label (`&memory1` or plain `memory1`) */
  | { readonly kind: 'dtLabel'; readonly label: string; readonly pos: SrcPos };

// ---------------------------------------------------------------------------------------------------------
// Process statements: `NAME: verb ...`. `pos` is the position of NAME (the statement's start); `proc` is NAME.

interface ProcBase {
  readonly pos: SrcPos;
  readonly proc: Name;
}

export interface MmapStmt extends ProcBase {
  readonly kind: 'mmap';
  readonly vma: Name;
  readonly size: Located<number>;
  /** Default `rw`. */
  readonly prot: Prot;
  /** MAP_SHARED (anonymous shared memory) instead of MAP_PRIVATE. */
  readonly shared: boolean;
  /** MADV_HUGEPAGE: fault in 2 MiB (PMD) pages where aligned. */
  readonly thp: boolean;
}

export interface MunmapStmt extends ProcBase {
  readonly kind: 'munmap';
  readonly vma: Name;
}

export interface MprotectStmt extends ProcBase {
  readonly kind: 'mprotect';
  readonly vma: Name;
  readonly prot: Prot;
  /** Absent: the whole VMA. Page-aligned. */
  readonly range?: ByteRange;
}

export interface TouchStmt extends ProcBase {
  readonly kind: 'touch';
  readonly vma: Name;
  /** Absent: the whole VMA. Any byte range; every page it overlaps is faulted. */
  readonly range?: ByteRange;
  /** Default true (`write`); `read` faults in the zero page where the kernel would. */
  readonly write: boolean;
}

export interface SettagStmt extends ProcBase {
  readonly kind: 'settag';
  readonly vma: Name;
  /** Aligned to the 16-byte MTE granule. */
  readonly range: ByteRange;
  /** 0..15 */
  readonly tag: Located<number>;
}

export interface AccessStmt extends ProcBase {
  readonly kind: 'access';
  readonly vma: Name;
  /** Every granule the range overlaps is checked. */
  readonly range: ByteRange;
  /** The pointer tag, 0..15. */
  readonly tag: Located<number>;
}

export interface PageoutStmt extends ProcBase {
  readonly kind: 'pageout';
  readonly vma: Name;
  /** Absent: the whole VMA. Page-aligned. */
  readonly range?: ByteRange;
}

export interface MigrateStmt extends ProcBase {
  readonly kind: 'migrate';
  readonly vma: Name;
  /** Absent: the whole VMA. Page-aligned. */
  readonly range?: ByteRange;
  readonly target: MigrateTarget;
}

export interface ForkStmt extends ProcBase {
  readonly kind: 'fork';
  readonly child: Name;
}

export interface ExitStmt extends ProcBase {
  readonly kind: 'exit';
}

export type ProcStmt =
  | MmapStmt
  | MunmapStmt
  | MprotectStmt
  | TouchStmt
  | SettagStmt
  | AccessStmt
  | PageoutStmt
  | MigrateStmt
  | ForkStmt
  | ExitStmt;

// ---------------------------------------------------------------------------------------------------------
// Other statements.

/** `process NAME` */
export interface ProcessStmt {
  readonly kind: 'process';
  readonly pos: SrcPos;
  readonly name: Name;
}

/** `compact`: compact all zones. */
export interface CompactStmt {
  readonly kind: 'compact';
  readonly pos: SrcPos;
}

/** `pressure SIZE`: a kernel (unmovable) allocation of SIZE bytes, reclaiming as needed. Page multiple. */
export interface PressureStmt {
  readonly kind: 'pressure';
  readonly pos: SrcPos;
  readonly size: Located<number>;
}

/** `repeat N { ... }`, N >= 1. */
export interface RepeatStmt {
  readonly kind: 'repeat';
  readonly pos: SrcPos;
  readonly count: Located<number>;
  readonly body: readonly Stmt[];
}

/** A statement allowed inside a race thread: process statements, `compact`, `pressure`. */
export type ThreadStmt = ProcStmt | CompactStmt | PressureStmt;

export interface RaceThread {
  readonly name: Name;
  readonly body: readonly ThreadStmt[];
}

/** `race { thread A { ... } thread B { ... } }`: two or more threads, distinct names. */
export interface RaceStmt {
  readonly kind: 'race';
  readonly pos: SrcPos;
  readonly threads: readonly RaceThread[];
}

export const SHOW_FILES = ['dmesg', 'meminfo', 'vmstat', 'buddyinfo', 'pagetypeinfo', 'zoneinfo', 'iomem'] as const;
export type ShowFile = (typeof SHOW_FILES)[number];

/** `show FILE` or `show tags NAME:VMA[:RANGE]`. */
export type ShowStmt =
  | { readonly kind: 'show'; readonly pos: SrcPos; readonly what: ShowFile; readonly whatPos: SrcPos }
  | {
      readonly kind: 'show';
      readonly pos: SrcPos;
      readonly what: 'tags';
      readonly whatPos: SrcPos;
      readonly proc: Name;
      readonly vma: Name;
      readonly range?: ByteRange;
    };

/** `expect EXPR`. `text` is the expression as written (for the failure message). */
export interface ExpectStmt {
  readonly kind: 'expect';
  readonly pos: SrcPos;
  readonly expr: Expr;
  readonly text: string;
}

export type Stmt = ProcStmt | ProcessStmt | CompactStmt | PressureStmt | RepeatStmt | RaceStmt | ShowStmt | ExpectStmt;

// ---------------------------------------------------------------------------------------------------------
// Expressions of `expect`.

export const COUNTER_FILES = ['meminfo', 'vmstat', 'buddyinfo', 'zoneinfo'] as const;
export type CounterFile = (typeof COUNTER_FILES)[number];

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** A counter read: `meminfo.MemFree` (kB as printed), `vmstat.pgfault`, `buddyinfo.Normal.3`, `zoneinfo.DMA.min`. */
export interface CounterRef {
  readonly kind: 'counter';
  readonly file: CounterFile;
  /** meminfo label without the colon (`Active(anon)`), vmstat name, zoneinfo field; for buddyinfo the order as text. */
  readonly name: string;
  readonly zone?: ZoneName;
  readonly order?: number;
  /** As written: `buddyinfo.Normal.3`. */
  readonly text: string;
  readonly pos: SrcPos;
}

/** A number literal; sizes with suffixes are bytes (`4K` = 4096). */
export interface NumberLit {
  readonly kind: 'number';
  readonly value: number;
  readonly pos: SrcPos;
}

/** `NAME:VMA tag(RANGE)`, `NAME:VMA resident(RANGE)`, `NAME:VMA swapped(RANGE)` (pages). Range absent: whole VMA. */
export interface MappingQuery {
  readonly kind: 'query';
  readonly query: 'tag' | 'resident' | 'swapped';
  readonly proc: Name;
  readonly vma: Name;
  readonly range?: ByteRange;
  readonly pos: SrcPos;
}

export interface BinaryArith {
  readonly kind: 'binary';
  readonly op: '+' | '-' | '*' | '/';
  readonly left: Arith;
  readonly right: Arith;
  readonly pos: SrcPos;
}

export interface NegateArith {
  readonly kind: 'negate';
  readonly operand: Arith;
  readonly pos: SrcPos;
}

/** An arithmetic expression (integers; `/` truncates toward zero). */
export type Arith = NumberLit | CounterRef | MappingQuery | BinaryArith | NegateArith;

export interface CompareExpr {
  readonly kind: 'compare';
  readonly op: CompareOp;
  readonly left: Arith;
  readonly right: Arith;
  readonly pos: SrcPos;
}

/** `dmesg ~ "text"` (the log contains text) or `dmesg !~ "text"` (it does not). Plain substring match. */
export interface DmesgMatch {
  readonly kind: 'dmesg';
  readonly negate: boolean;
  readonly pattern: string;
  readonly pos: SrcPos;
}

/** `NAME:VMA tagged`: the VMA is mapped with PROT_MTE (VM_MTE). */
export interface TaggedQuery {
  readonly kind: 'tagged';
  readonly proc: Name;
  readonly vma: Name;
  readonly pos: SrcPos;
}

export type Expr = CompareExpr | DmesgMatch | TaggedQuery;

// ---------------------------------------------------------------------------------------------------------
// The file.

/** Settings from `config` lines; each with the position of its value. Absent: the default. */
export interface ScenarioConfig {
  /** Swap device size in bytes (0 = no swap). Page multiple. */
  readonly swap?: Located<number>;
  readonly min_free_kbytes?: Located<number>;
  /** 4096, 16384 or 65536. */
  readonly page_size?: Located<number>;
  /** Bytes reserved for the kernel image. Page multiple, non-zero. */
  readonly kernel_image?: Located<number>;
  readonly cmdline?: Located<string>;
  readonly 'fix.metadata_none'?: Located<boolean>;
  readonly 'fix.pfn_tags'?: Located<boolean>;
  readonly seed?: Located<number>;
}

export type ConfigKey = keyof ScenarioConfig;

export const CONFIG_KEYS: readonly ConfigKey[] = [
  'swap',
  'min_free_kbytes',
  'page_size',
  'kernel_image',
  'cmdline',
  'fix.metadata_none',
  'fix.pfn_tags',
  'seed',
];

export interface Scenario {
  readonly file: string;
  /** `boot PATH` as written (relative to the scenario file's directory; the CLI's --dt wins). */
  readonly boot?: Located<string>;
  readonly config: ScenarioConfig;
  /** The page size sizes were checked against: config page_size, else 4096. */
  readonly assumedPageSize: number;
  /** The statements after the header (`boot` and `config` lines come first). */
  readonly body: readonly Stmt[];
}
