/**
 * arm64 dynamic MTE tag storage, v1 (arch/arm64/kernel/mte_tag_storage.c of the RFC series): discovery from the
 * device tree (fdt_init_tag_storage via mte_tag_storage_init, called from setup_arch() before
 * arm64_memblock_init()), activation (mte_tag_storage_activate_regions, a core_initcall), the region table, the
 * pfn → tag block look-up (tag_storage_find_block_in_region). Activation reserves the zero page's tag block
 * through reserve_metadata_storage, whose one implementation is TagReserve (tag_reserve.ts).
 *
 * Every check and message follows kernel-facts §1.1/§2.2/§2.3 and the posted v1 patches 13, 14, 16, 17, 18, 25,
 * 27 and 37 (read from the linux-arch archive through the project's code search). The rules themselves, with
 * their messages and explanations, are the table in mte_tag_storage_rules.ts.
 *
 * Depends on: dt (tree look-ups), mm/memblock, sim/log; the page allocator is reached only through the small
 * TagStorageMm interface, the way the kernel calls into mm.
 */
import type { DtIndex, DtNode, DtProperty } from '../../dt/tree.js';
import { getProp, propStrings } from '../../dt/tree.js';
import type { Memblock } from '../../mm/memblock.js';
import type { KernelLog } from '../../sim/log.js';
import { findRule, type TagOutcome } from './mte_tag_storage_rules.js';

/** MAX_TAG_REGIONS (patch 13). */
export const MAX_TAG_REGIONS = 32;
/** One tag storage page holds the tags of 32 data pages (4 bits per 16 bytes, kernel-facts §2.1). */
export const TAG_RATIO = 32;
/** OF_ROOT_NODE_ADDR_CELLS_DEFAULT / OF_ROOT_NODE_SIZE_CELLS_DEFAULT: the kernel's early FDT defaults (of_fdt.h). */
const ROOT_ADDR_CELLS_DEFAULT = 1;
const ROOT_SIZE_CELLS_DEFAULT = 1;

const EINVAL = 22;
const ERANGE = 34;

/** A range of page frame numbers, both ends inclusive, like the kernel's `struct range` of PFNs. */
export interface PfnRange {
  readonly start: number;
  readonly end: number;
}

export function rangeLen(r: PfnRange): number {
  return r.end - r.start + 1;
}

/** One entry of tag_regions[] (struct tag_region), plus where it came from. */
export interface TagRegion {
  /** The tagged memory, in PFNs. */
  readonly mem: PfnRange;
  /** The tag storage, in PFNs. */
  readonly tag: PfnRange;
  /** Tag block size in pages: lcm(PAGE_SIZE, block-size) / PAGE_SIZE. */
  readonly blockSizePages: number;
  /** The DT `block-size` in bytes. */
  readonly blockSizeBytes: number;
  /** NUMA node the tag storage was added to memblock with. */
  readonly nid: number;
  /** DT paths of the tag storage node and of its memory node. */
  readonly node: string;
  readonly memoryNode: string;
}

/** How far tag storage got: the state after discovery, then after activation. */
export type TagStorageState =
  | 'none' // no tag storage node
  | 'discovery-failed' // MTE tag storage management disabled
  | 'discovered' // regions found, not activated yet
  | 'left-reserved' // activation stopped: outside memory, KASAN, zones
  | 'movable' // !system_supports_mte(): ordinary movable memory
  | 'metadata-unused' // METADATA pageblocks, key off (zero page block failed)
  | 'enabled';

/** One thing the kernel said or did while applying a rule, tied to a DT node when there is one. */
export interface TagStorageFinding {
  /** Rule name (mte_tag_storage_rules.ts). */
  readonly rule: string;
  /** DT path of the node concerned, if any. */
  readonly node?: string;
  /** The kernel's log lines, formatted, in order (none when the kernel is silent). */
  readonly lines: readonly string[];
  readonly outcome: TagOutcome;
}

/**
 * The set of reserved blocks, with a change counter: the allocation path asks about the same block for the
 * 32 pages it covers, so a caller may remember the last answer while `version` is unchanged.
 */
export class BlockSet extends Set<number> {
  version = 0;
  override add(b: number): this {
    this.version++;
    return super.add(b);
  }
  override delete(b: number): boolean {
    this.version++;
    return super.delete(b);
  }
  override clear(): void {
    this.version++;
    super.clear();
  }
}

/** The tag storage state of one boot: region table, static key, reserved blocks. */
export class TagStorage {
  /** tag_regions[0 .. num_tag_regions). */
  readonly regions: TagRegion[] = [];
  state: TagStorageState = 'none';
  private key = false;
  private readonly keyWatchers: ((on: boolean) => void)[] = [];
  /** metadata_storage_enabled_key. */
  get metadataEnabled(): boolean {
    return this.key;
  }
  set metadataEnabled(on: boolean) {
    this.key = on;
    for (const w of this.keyWatchers) w(on);
  }
  /** Calls `w` now and whenever the static key changes (hooks keep a plain copy: it is read on every allocation). */
  watchKey(w: (on: boolean) => void): void {
    this.keyWatchers.push(w);
    w(this.key);
  }
  /** Pages turned into MIGRATE_METADATA at activation (totalmetadata_pages). */
  totalMetadataPages = 0;
  /** Pages handed to the buddy as MIGRATE_MOVABLE because MTE is off. */
  movablePages = 0;
  /** The xarray tag_blocks_reserved: first pfn of every reserved block (the count is the block's page refcount). */
  readonly reservedBlocks = new BlockSet();
  /** Everything discovery and activation said, in order. */
  readonly findings: TagStorageFinding[] = [];
  private warnedMissingBlock = false;

  constructor(
    readonly pageSize: number,
    readonly pageblockNrPages: number,
  ) {}

  get pageShift(): number {
    return Math.log2(this.pageSize);
  }

  /** Returns true if `pfn` is a tag storage page (inside some region's tag range). */
  isTagStoragePfn(pfn: number): boolean {
    return this.regions.some((r) => r.tag.start <= pfn && pfn <= r.tag.end);
  }

  /** Returns the region whose tagged memory contains `pfn`, or undefined. */
  regionForPfn(pfn: number): TagRegion | undefined {
    return this.regions.find((r) => r.mem.start <= pfn && pfn <= r.mem.end);
  }

  /**
   * tag_storage_find_block(): the first pfn of the tag block holding the tags of `pfn`, trying the regions in
   * order (kernel-facts §2.2). A region whose block would end past its tag range prints the kernel's error and
   * is skipped. Returns undefined (-EINVAL) when no region serves the pfn.
   */
  findBlock(pfn: number, log?: KernelLog): { block: number; region: TagRegion } | undefined {
    for (const region of this.regions) {
      const block = tagStorageFindBlockInRegion(pfn, region, this.pageSize, log);
      if (block >= 0) return { block, region };
    }
    return undefined;
  }

  /** Records a finding and prints its lines to the kernel log at the rule's level. */
  report(log: KernelLog, rule: string, args: readonly (number | bigint)[][], node?: string): void {
    const def = findRule(rule);
    // As printed: printk drops the one explicit trailing newline (`MTE tag storage enabled\n`).
    const lines = def.messages.map((fmt, i) => kprintf(fmt, args[i] ?? []).replace(/\n$/, ''));
    for (const l of lines) log.printk(def.level, l);
    this.findings.push({ rule, ...(node === undefined ? {} : { node }), lines, outcome: def.outcome });
  }

  /** WARN_ONCE(…, "Missing tag storage block for pfn 0x%lx"): printed once per boot. */
  warnMissingBlock(log: KernelLog, pfn: number): void {
    if (this.warnedMissingBlock) return;
    this.warnedMissingBlock = true;
    this.report(log, 'zero-page-not-covered', [[pfn]]);
  }
}

// ---------------------------------------------------------------------------------------------
// printk formats

/**
 * Formats the few printf conversions the series uses: %llx %lx %x (lower-case hex), %u %d %lu %ld.
 * Numbers are formatted exactly (bigint for anything that might not fit in 53 bits).
 */
export function kprintf(fmt: string, args: readonly (number | bigint)[]): string {
  let i = 0;
  return fmt.replace(/%(ll|l)?([xud%])/g, (_m, _len: string | undefined, conv: string) => {
    if (conv === '%') return '%';
    const v = args[i++];
    if (v === undefined) throw new Error(`kprintf: missing argument for ${fmt}`);
    const b = typeof v === 'bigint' ? v : BigInt(v);
    return conv === 'x' ? b.toString(16) : b.toString(10);
  });
}

// ---------------------------------------------------------------------------------------------
// Discovery (setup_arch → mte_tag_storage_init → of_scan_flat_dt(fdt_init_tag_storage))

/** What discovery needs from the boot: the tree, the page geometry, memblock and the log. */
export interface TagStorageDiscoveryCtx {
  readonly dt: DtIndex;
  readonly pageSize: number;
  readonly pageblockNrPages: number;
  readonly memblock: Memblock;
  readonly log: KernelLog;
  /** numa_node_id() on the boot CPU at this point; 0 unless the boot says otherwise. */
  readonly numaNodeId?: number;
}

/** Nodes in FDT order (pre-order), with their depth, as of_scan_flat_dt visits them. */
function* scanFlat(dt: DtIndex): Generator<{ node: DtNode; depth: number; path: string }> {
  const walk = function* (
    node: DtNode,
    depth: number,
    path: string,
  ): Generator<{ node: DtNode; depth: number; path: string }> {
    yield { node, depth, path };
    for (const c of node.children) yield* walk(c, depth + 1, path === '/' ? `/${c.name}` : `${path}/${c.name}`);
  };
  yield* walk(dt.root, 0, '/');
}

/** of_flat_dt_is_compatible(): any entry of `compatible` equal to `compat`, ignoring case (of_compat_cmp). */
function isCompatible(node: DtNode, compat: string): boolean {
  const p = getProp(node, 'compatible');
  if (!p) return false;
  const list = propStrings(p) ?? [];
  return list.some((s) => s.toLowerCase() === compat.toLowerCase());
}

/** be32_to_cpup() of the first cell. A value shorter than 4 bytes is read as if padded with zeros (see note). */
function firstCell(p: DtProperty): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (p.value[i] ?? 0);
  return v;
}

/** The root's #address-cells/#size-cells as early_init_dt_scan_root() reads them (defaults 1 and 1). */
function rootCells(dt: DtIndex): { addressCells: number; sizeCells: number } {
  const ac = getProp(dt.root, '#address-cells');
  const sc = getProp(dt.root, '#size-cells');
  return {
    addressCells: ac ? firstCell(ac) : ROOT_ADDR_CELLS_DEFAULT,
    sizeCells: sc ? firstCell(sc) : ROOT_SIZE_CELLS_DEFAULT,
  };
}

/** of_read_number(): `n` big-endian cells, keeping the low 64 bits. */
function readNumber(value: Uint8Array, cellOffset: number, n: number): bigint {
  let v = 0n;
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  for (let i = 0; i < n; i++) v = ((v << 32n) | BigInt(dv.getUint32((cellOffset + i) * 4))) & 0xffff_ffff_ffff_ffffn;
  return v;
}

type RangeResult = { ok: true; range: PfnRange } | { ok: false; why: 'too-long' | 'too-short' | 'zero-size' };

/**
 * tag_storage_of_flat_get_range(): one address/size pair in the root cells, converted to PFNs (both rounded
 * down by PHYS_PFN). A value longer than one pair is -EINVAL with no message; a size under one page prints
 * `Invalid node`. A value shorter than one pair makes the kernel read past the property (undefined
 * behaviour); mte-sim refuses it like a long one (same lines), and `check` says why.
 */
function getRange(dt: DtIndex, prop: DtProperty, pageShift: bigint): RangeResult {
  const { addressCells, sizeCells } = rootCells(dt);
  const cells = Math.floor(prop.value.length / 4);
  if (cells > addressCells + sizeCells) return { ok: false, why: 'too-long' };
  if (cells < addressCells + sizeCells) return { ok: false, why: 'too-short' };
  const start = readNumber(prop.value, 0, addressCells) >> pageShift;
  const size = readNumber(prop.value, addressCells, sizeCells) >> pageShift;
  if (size === 0n) return { ok: false, why: 'zero-size' };
  return { ok: true, range: { start: Number(start), end: Number(start + size - 1n) } };
}

/** of_get_flat_dt_phandle(): `phandle`, else `linux,phandle`, else 0. */
function flatPhandle(node: DtNode): number {
  const p = getProp(node, 'phandle') ?? getProp(node, 'linux,phandle');
  return p ? firstCell(p) : 0;
}

/** fdt_find_memory_node(): the first depth-1 node with device_type "memory" and this phandle (0 matches none set). */
function findMemoryNode(dt: DtIndex, phandle: number): { node: DtNode; path: string } | undefined {
  for (const { node, depth, path } of scanFlat(dt)) {
    if (depth !== 1) continue;
    const type = getProp(node, 'device_type');
    // strcmp on the raw value: the first NUL-terminated string.
    if (!type || Buffer.from(type.value).toString('latin1').split('\0')[0] !== 'memory') continue;
    if (flatPhandle(node) === phandle) return { node, path };
  }
  return undefined;
}

/** get_block_size_pages(): lcm(PAGE_SIZE, bytes) / PAGE_SIZE, by Euclid's gcd as the patch does. */
export function blockSizePages(blockSizeBytes: number, pageSize: number): number {
  let a = pageSize;
  let b = blockSizeBytes;
  do {
    const r = a % b;
    a = b;
    b = r;
  } while (b !== 0);
  // PAGE_SIZE * bytes is computed in 64 bits in the kernel; these values stay far below 2^53.
  return (pageSize * blockSizeBytes) / a / pageSize;
}

type NodeResult = { ok: true; region: TagRegion } | { ok: false };

/** fdt_init_tag_storage() for one matching node; returns ok:false after printing the kernel's lines. */
function initTagStorageNode(ctx: TagStorageDiscoveryCtx, ts: TagStorage, node: DtNode, path: string): NodeResult {
  const { dt, log } = ctx;
  const shift = BigInt(ts.pageShift);
  const fail = (rule: string, args: (number | bigint)[][] = []): NodeResult => {
    ts.report(log, rule, args, path);
    return { ok: false };
  };

  if (ts.regions.length === MAX_TAG_REGIONS) return fail('too-many-regions');

  // tag_storage_of_flat_get_tag_range(), then "Invalid tag storage node" from the caller.
  const reg = getProp(node, 'reg');
  if (!reg) return fail('no-reg');
  const tagRes = getRange(dt, reg, shift);
  if (!tagRes.ok) return fail(tagRes.why === 'zero-size' ? 'zero-size' : 'reg-not-one-entry');
  const tag = tagRes.range;

  // Patch 14: pages are managed in pageblock_nr_pages chunks.
  const pb = ts.pageblockNrPages;
  if (tag.start % pb !== 0 || rangeLen(tag) % pb !== 0) return fail('not-pageblock-aligned', [[pb]]);

  // tag_storage_get_memory_node()
  const memProp = getProp(node, 'memory');
  if (!memProp) return fail('missing-memory-property');
  const mem = findMemoryNode(dt, firstCell(memProp));
  if (!mem) return fail('memory-node-not-found');

  // tag_storage_of_flat_get_memory_range(), then "Invalid address for associated data memory node".
  const memReg = getProp(mem.node, 'linux,usable-memory') ?? getProp(mem.node, 'reg');
  if (!memReg) return fail('memory-node-without-reg');
  const memRes = getRange(dt, memReg, shift);
  if (!memRes.ok) return fail(memRes.why === 'zero-size' ? 'memory-zero-size' : 'memory-reg-not-one-entry');
  const memRange = memRes.range;

  // In bigint: pfn counts are exact numbers, their product by 32 may pass 2^53.
  if (BigInt(rangeLen(tag)) * BigInt(TAG_RATIO) !== BigInt(rangeLen(memRange))) return fail('ratio-not-1-to-32');

  const bsProp = getProp(node, 'block-size');
  const bsBytes = bsProp ? firstCell(bsProp) : 0;
  if (bsBytes === 0) return fail('missing-block-size');
  const bsPages = blockSizePages(bsBytes, ts.pageSize);
  if (rangeLen(tag) % bsPages !== 0) return fail('size-not-multiple-of-block');

  const nidProp = getProp(mem.node, 'numa-node-id');
  const nid = nidProp ? firstCell(nidProp) : (ctx.numaNodeId ?? 0);

  // memblock_add_node() cannot fail here on v6.5 (see the rule's note), so `Error adding tag memblock` is never
  // printed; then memblock_reserve().
  const base = tag.start * ts.pageSize;
  const size = rangeLen(tag) * ts.pageSize;
  ctx.memblock.addNode(base, size, nid);
  ctx.memblock.reserve(base, size, 'MTE tag storage');

  const region: TagRegion = Object.freeze({
    mem: memRange,
    tag,
    blockSizePages: bsPages,
    blockSizeBytes: bsBytes,
    nid,
    node: path,
    memoryNode: mem.path,
  });
  ts.report(log, 'region-found', [[BigInt(rangeLen(tag)) << shift, BigInt(tag.start) << shift, bsPages]], path);
  return { ok: true, region };
}

/** The nodes fdt_init_tag_storage() acts on, in scan order: depth 1, "metadata" in the name, compatible. */
export function tagStorageCandidates(dt: DtIndex): { node: DtNode; path: string }[] {
  const out: { node: DtNode; path: string }[] = [];
  for (const { node, depth, path } of scanFlat(dt)) {
    if (depth === 1 && node.name.includes('metadata') && isCompatible(node, 'arm,mte-tag-storage')) {
      out.push({ node, path });
    }
  }
  return out;
}

/**
 * Every problem of one tag storage node, not only the first: the kernel stops at the first failing check, so a
 * node with several mistakes needs several boots to find them all. This runs the per-node checks of
 * fdt_init_tag_storage() in the kernel's order (without the region count, which depends on other nodes) and
 * goes on after a failure wherever the later checks still mean something. Each entry has the rule and the
 * lines the kernel would print for it. No side effects.
 */
export function tagStorageNodeProblems(
  dt: DtIndex,
  node: DtNode,
  pageSize: number,
  pageblockNrPages: number,
): { rule: string; lines: string[] }[] {
  const out: { rule: string; lines: string[] }[] = [];
  const shift = BigInt(Math.log2(pageSize));
  const add = (rule: string, args: (number | bigint)[][] = []): void => {
    const lines = findRule(rule).messages.map((fmt, i) => kprintf(fmt, args[i] ?? []).replace(/\n$/, ''));
    out.push({ rule, lines });
  };
  let tag: PfnRange | undefined;
  const reg = getProp(node, 'reg');
  if (!reg) add('no-reg');
  else {
    const r = getRange(dt, reg, shift);
    if (r.ok) tag = r.range;
    else add(r.why === 'zero-size' ? 'zero-size' : 'reg-not-one-entry');
  }
  if (tag && (tag.start % pageblockNrPages !== 0 || rangeLen(tag) % pageblockNrPages !== 0)) {
    add('not-pageblock-aligned', [[pageblockNrPages]]);
  }
  let mem: PfnRange | undefined;
  const memProp = getProp(node, 'memory');
  if (!memProp) add('missing-memory-property');
  else {
    const m = findMemoryNode(dt, firstCell(memProp));
    if (!m) add('memory-node-not-found');
    else {
      const memReg = getProp(m.node, 'linux,usable-memory') ?? getProp(m.node, 'reg');
      if (!memReg) add('memory-node-without-reg');
      else {
        const r = getRange(dt, memReg, shift);
        if (r.ok) mem = r.range;
        else add(r.why === 'zero-size' ? 'memory-zero-size' : 'memory-reg-not-one-entry');
      }
    }
  }
  if (tag && mem && BigInt(rangeLen(tag)) * BigInt(TAG_RATIO) !== BigInt(rangeLen(mem))) add('ratio-not-1-to-32');
  const bsProp = getProp(node, 'block-size');
  const bsBytes = bsProp ? firstCell(bsProp) : 0;
  if (bsBytes === 0) add('missing-block-size');
  else if (tag && rangeLen(tag) % blockSizePages(bsBytes, pageSize) !== 0) add('size-not-multiple-of-block');
  return out;
}

/**
 * The order of the checks and their levels, as the posted v1 code has them (patch 13, with patch 14's alignment
 * check after the reg parse); where kernel-facts §1.1 is less precise the code decided:
 *   1. region count == 32                          pr_err  too-many-regions
 *   2. reg: absent / longer than one pair / size 0   pr_err  ("Invalid metadata node" | — | "Invalid node"),
 *      each followed by "Invalid tag storage node"
 *   3. start and length multiples of pageblock_nr_pages (in pages)         pr_err
 *   4. 'memory' absent; no depth-1 device_type "memory" node with that phandle  pr_err
 *   5. memory node: no linux,usable-memory nor reg ("Invalid memory node") / longer than one pair (silent) /
 *      size 0 ("Invalid node"), each followed by "Invalid address for associated data memory node"
 *   6. tag pages * 32 == memory pages             pr_err
 *   7. block-size absent or 0                     pr_err
 *   8. tag pages % block_size_pages               pr_err
 *   9. memblock_add_node (cannot fail on v6.5, see the rule's note), memblock_reserve, pr_info "Found ..."
 * Then `MTE tag storage management disabled` is pr_err, `No MTE tag storage regions detected` pr_info.
 *
 * mte_tag_storage_init(): scans the depth-1 nodes whose name contains "metadata" and that are compatible with
 * "arm,mte-tag-storage", in FDT order, applying the checks of kernel-facts §1.1 in the kernel's order. The
 * first failure stops the scan, prints `MTE tag storage management disabled` (pr_err in the posted v1),
 * removes every region found so far from memblock and resets the count. No match prints
 * `No MTE tag storage regions detected`.
 */
export function discoverTagStorage(ctx: TagStorageDiscoveryCtx): TagStorage {
  const ts = new TagStorage(ctx.pageSize, ctx.pageblockNrPages);
  let failed = false;
  for (const { node, depth, path } of scanFlat(ctx.dt)) {
    if (depth !== 1 || !node.name.includes('metadata')) continue;
    if (!isCompatible(node, 'arm,mte-tag-storage')) continue;
    const res = initTagStorageNode(ctx, ts, node, path);
    if (!res.ok) {
      failed = true;
      break;
    }
    ts.regions.push(res.region);
  }
  if (failed) {
    ts.report(ctx.log, 'management-disabled', []);
    for (const r of ts.regions) ctx.memblock.removeMemory(r.tag.start * ts.pageSize, rangeLen(r.tag) * ts.pageSize);
    ts.regions.length = 0;
    ts.state = 'discovery-failed';
    return ts;
  }
  if (ts.regions.length === 0) {
    ts.report(ctx.log, 'no-tag-storage', []);
    ts.state = 'none';
    return ts;
  }
  ts.state = 'discovered';
  return ts;
}

// ---------------------------------------------------------------------------------------------
// Block look-up (kernel-facts §2.2)

/**
 * tag_storage_find_block_in_region(): the first pfn of the block holding the tags of `pfn` in `region`,
 * `-ERANGE` (as a negative number) when the pfn is not in the region's memory or the block would end past
 * the tag range (that case prints the kernel's error when `log` is given).
 */
export function tagStorageFindBlockInRegion(pfn: number, region: TagRegion, pageSize: number, log?: KernelLog): number {
  const { mem, tag, blockSizePages: bs } = region;
  if (!(mem.start <= pfn && pfn <= mem.end)) return -ERANGE;
  const blockOffset = Math.floor((pfn - mem.start) / TAG_RATIO);
  const block = tag.start + blockOffset - (blockOffset % bs);
  if (block + bs - 1 > tag.end) {
    if (log) {
      const ps = BigInt(pageSize);
      const line = kprintf(findRule('block-outside-tag-region').messages[0]!, [
        BigInt(block) * ps,
        BigInt(block + bs) * ps,
        BigInt(tag.start) * ps,
        BigInt(tag.end) * ps,
      ]);
      log.err(line);
    }
    return -ERANGE;
  }
  return block;
}

/** order_to_num_blocks() of v1: max((1 << order) / 32, 1) (kernel-facts §2.2; B times too many when B > 1). */
export function orderToNumBlocks(order: number): number {
  return Math.max(Math.floor((1 << order) / TAG_RATIO), 1);
}

/** block_ref_add()/block_ref_sub_return() count: min(1 << order, 32 * block_size_pages) (kernel-facts §2.3). */
export function blockRefCount(order: number, region: TagRegion): number {
  return Math.min(1 << order, TAG_RATIO * region.blockSizePages);
}

// ---------------------------------------------------------------------------------------------
// Activation (core_initcall mte_tag_storage_activate_regions) and block reservation

/** Migratetypes the activation hands pageblocks to the buddy with. */
export type TagPageblockType = 'movable' | 'metadata';

/** The page allocator as tag storage sees it (implemented by the boot on top of mm/). */
export interface TagStorageMm {
  /** page_zone(): any value identifying the zone of `pfn` (compared for equality only). */
  zoneOf(pfn: number): number | string;
  /**
   * init_reserved_pageblock(pfn_to_page(pfn), mt) / init_metadata_reserved_pageblock(): frees one
   * memblock-reserved pageblock into the buddy as `mt`, adjusting managed pages (and, for METADATA,
   * zone->metadata_pages and totalmetadata_pages).
   */
  initReservedPageblock(pfn: number, mt: TagPageblockType): void;
  /**
   * reserve_metadata_storage(pfn_to_page(pfn), order, GFP_KERNEL) (kernel-facts §2.3): 0 or a negative errno.
   * The runtime's TagReserve (tag_reserve.ts) is the one implementation; activation uses it for the zero page.
   */
  reserveMetadataStorage(pfn: number, order: number): number;
}

export interface TagStorageActivationCtx {
  readonly log: KernelLog;
  readonly memblock: Memblock;
  /** system_supports_mte(): false with arm64.nomte. */
  readonly mteSupported: boolean;
  /** kasan_hw_tags_enabled(): kasan=on with hardware tags (and MTE supported). */
  readonly kasanHwTags: boolean;
  /** page_to_pfn(ZERO_PAGE(0)): the zero page is in the kernel image. */
  readonly zeroPagePfn: number;
  readonly mm: TagStorageMm;
}

/** mte_tag_storage_check_zone() (patch 18): every page of each block in the zone of its first page. */
function checkZones(ts: TagStorage, mm: TagStorageMm): boolean {
  for (const r of ts.regions) {
    const bs = r.blockSizePages;
    if (bs === 1) continue;
    for (let pfn = r.tag.start; pfn <= r.tag.end; pfn += bs) {
      const zone = mm.zoneOf(pfn);
      for (let j = 1; j < bs; j++) if (mm.zoneOf(pfn + j) !== zone) return false;
    }
  }
  return true;
}

/**
 * mte_tag_storage_activate_regions() (kernel-facts §1.1, activation steps 1–7). Returns 0 or a negative errno
 * like the initcall; the outcome is in `ts.state` and `ts.metadataEnabled`.
 */
export function activateTagStorage(ctx: TagStorageActivationCtx, ts: TagStorage): number {
  const { log, mm } = ctx;
  if (ts.regions.length === 0) return 0;

  const dramStart = ctx.memblock.startOfDram();
  const dramEnd = ctx.memblock.endOfDram();
  const ps = ts.pageSize;
  for (const r of ts.regions) {
    // The region may have been clipped by arm64_memblock_init() enforcing the addressing limits.
    if (r.tag.start * ps < dramStart || r.tag.end * ps >= dramEnd) {
      const shift = BigInt(ts.pageShift);
      ts.report(
        log,
        'outside-addressable-memory',
        [[BigInt(r.tag.start) << shift, BigInt(r.tag.end + 1) << shift]],
        r.node,
      );
      ts.state = 'left-reserved';
      return -EINVAL;
    }
  }

  const pb = ts.pageblockNrPages;
  if (!ctx.mteSupported) {
    // Patch 16: no message, no key; the pages stay memblock-reserved (kexec will not use them).
    for (const r of ts.regions) {
      for (let pfn = r.tag.start; pfn <= r.tag.end; pfn += pb) {
        mm.initReservedPageblock(pfn, 'movable');
        ts.movablePages += pb;
      }
    }
    ts.report(log, 'nomte', []);
    ts.state = 'movable';
    return 0;
  }

  if (ctx.kasanHwTags) {
    ts.report(log, 'kasan-hw-tags', []);
    ts.state = 'left-reserved';
    return 0;
  }

  if (!checkZones(ts, mm)) {
    ts.report(log, 'block-pages-in-different-zones', []);
    ts.state = 'left-reserved';
    return -EINVAL;
  }

  for (const r of ts.regions) {
    for (let pfn = r.tag.start; pfn <= r.tag.end; pfn += pb) {
      mm.initReservedPageblock(pfn, 'metadata');
      ts.totalMetadataPages += pb;
    }
  }

  // Patch 27: the zero page is marked tagged when MTE is initialised, so its tag block is reserved now.
  const ret = mm.reserveMetadataStorage(ctx.zeroPagePfn, 0);
  if (ret !== 0) {
    ts.report(log, 'zero-page-block', []);
    ts.state = 'metadata-unused';
  } else {
    ts.metadataEnabled = true;
    ts.report(log, 'enabled', []);
    ts.state = 'enabled';
  }
  return ret;
}

/** A region in bytes, as `boot --json` and `check --json` print it. */
export interface TagRegionBytes {
  node: string;
  memoryNode: string;
  base: number;
  size: number;
  taggedBase: number;
  taggedSize: number;
  blockSizePages: number;
}

export function describeTagRegion(r: TagRegion, pageSize: number): TagRegionBytes {
  return {
    node: r.node,
    memoryNode: r.memoryNode,
    base: r.tag.start * pageSize,
    size: (r.tag.end - r.tag.start + 1) * pageSize,
    taggedBase: r.mem.start * pageSize,
    taggedSize: (r.mem.end - r.mem.start + 1) * pageSize,
    blockSizePages: r.blockSizePages,
  };
}

// ---------------------------------------------------------------------------------------------
// Kernel command line

/**
 * What the command line says about MTE: `arm64.nomte` (an id_aa64pfr1.mte=0 override, so system_supports_mte()
 * is false) and `kasan=on|off` (early_param; the last one wins). KASAN hardware tags need MTE: with arm64.nomte
 * kasan_init_hw_tags() leaves KASAN off. mte-sim's kernel is built with KASAN_HW_TAGS but KASAN defaults off
 * (a documented choice: the FVP kernels the series was tested on did not run KASAN).
 */
export function mteFromCmdline(cmdline: string): { mteSupported: boolean; kasanHwTags: boolean } {
  let nomte = false;
  let kasan = false;
  for (const word of cmdline.split(/\s+/).filter((w) => w.length > 0)) {
    if (word === 'arm64.nomte' || word === 'id_aa64pfr1.mte=0') nomte = true;
    else if (word === 'kasan=on') kasan = true;
    else if (word === 'kasan=off') kasan = false;
  }
  return { mteSupported: !nomte, kasanHwTags: kasan && !nomte };
}
