/**
 * The rules the v1 series applies to tag storage (kernel-facts §1.1), as a table of small named rules in the
 * manner of dtc's checks.c: each rule has a name, the stage that applies it, the kernel's log lines exactly as
 * printed (printf formats, no prefix), the log level, the outcome and a plain-English explanation. The code
 * that applies them is in mte_tag_storage.ts; `mte-sim check` lists this table and quotes it beside findings.
 *
 * Sources: kernel-facts §1.1 and the posted v1 patches 13/14/16/17/18/27/37 (read from the linux-arch archive
 * through the project's code search); where the two differ in detail the posted code wins and the rule's
 * `note` says so.
 */
import type { LogLevel } from '../../sim/log.js';

/** What the kernel ends up doing with tag storage because of a rule. */
export type TagOutcome =
  /** The region is accepted (added to memblock and reserved). */
  | 'region-found'
  /** Parse-time failure: every region found so far is memblock_remove'd, the count reset (§1.1). */
  | 'management-disabled'
  /** No node matched: nothing happens. */
  | 'no-regions'
  /** Activation stopped early: the regions stay memblock-reserved and unused (§1.1 steps 2, 4, 5). */
  | 'left-reserved'
  /** MTE is off: every tag storage pageblock is given to the buddy as MIGRATE_MOVABLE (§1.1 step 3, §3.7). */
  | 'movable'
  /** The zero page's block could not be reserved: METADATA pages exist but the key stays off (§1.1 step 7). */
  | 'metadata-unused'
  /** The static key is on: tag storage is managed (§1.1 step 7). */
  | 'enabled'
  /** A kernel WARN or error line that does not change the outcome. */
  | 'warning';

export type TagRuleStage = 'discovery' | 'activation' | 'runtime';

export interface TagStorageRule {
  /** Stable name, also the name of the example file under dts/examples/ (when `example` is set). */
  readonly name: string;
  readonly stage: TagRuleStage;
  /** The kernel's lines, printf formats verbatim (kernel-facts §1.1). Empty when the kernel is silent. */
  readonly messages: readonly string[];
  readonly level: LogLevel;
  readonly outcome: TagOutcome;
  /** What the rule checks and what the kernel does, in plain words. */
  readonly explanation: string;
  /** The example DT under dts/examples/ that triggers it, if one exists. */
  readonly example?: string;
  /** Where mte-sim had to decide something the sources leave open. */
  readonly note?: string;
}

const r = (rule: TagStorageRule): TagStorageRule => Object.freeze(rule);

/** The rules in the order the kernel applies them (discovery per node, then activation, then runtime look-up). */
export const TAG_STORAGE_RULES: readonly TagStorageRule[] = Object.freeze([
  r({
    name: 'too-many-regions',
    stage: 'discovery',
    messages: ['Maximum number of tag storage regions exceeded'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      'At most 32 tag storage regions (MAX_TAG_REGIONS) are supported; a 33rd matching node stops the scan and ' +
      'tag storage management is disabled: the 32 regions already added are removed from memory again.',
    example: 'too-many-regions.dts',
  }),
  r({
    name: 'no-reg',
    stage: 'discovery',
    messages: ['Invalid metadata node', 'Invalid tag storage node'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "The tag storage node has no 'reg' property, so the kernel does not know where the tag storage is; " +
      'tag storage management is disabled.',
    example: 'no-reg.dts',
  }),
  r({
    name: 'reg-not-one-entry',
    stage: 'discovery',
    messages: ['Invalid tag storage node'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "'reg' must hold exactly one address/size pair in the root #address-cells/#size-cells; a longer value " +
      'is refused (-EINVAL, no message of its own) and tag storage management is disabled.',
    example: 'reg-two-entries.dts',
    note:
      'The kernel only refuses a reg longer than one entry; a shorter one makes it read past the property ' +
      '(undefined). mte-sim refuses that too, with the same line.',
  }),
  r({
    name: 'zero-size',
    stage: 'discovery',
    messages: ['Invalid node', 'Invalid tag storage node'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "The size in 'reg' is smaller than one page (it is converted to whole pages, rounding down), so the " +
      'region is empty; tag storage management is disabled.',
    example: 'zero-size.dts',
  }),
  r({
    name: 'not-pageblock-aligned',
    stage: 'discovery',
    messages: ['Tag storage region not aligned to 0x%lx'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      'Tag storage is handed to the page allocator in whole pageblocks, so its start and its size must both be ' +
      'multiples of pageblock_nr_pages (printed in pages: 0x200 = 2 MiB with 4K pages); tag storage ' +
      'management is disabled.',
    example: 'not-pageblock-aligned.dts',
  }),
  r({
    name: 'missing-memory-property',
    stage: 'discovery',
    messages: ["Missing 'memory' property in the tag storage node"],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "The tag storage node must name the memory whose tags it holds with 'memory = <&memN>'; without it tag " +
      'storage management is disabled.',
    example: 'missing-memory-property.dts',
  }),
  r({
    name: 'memory-node-not-found',
    stage: 'discovery',
    messages: ['Associated memory node not found'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      'The phandle in \'memory\' must belong to a node directly under the root with device_type = "memory"; ' +
      'no such node was found, so tag storage management is disabled.',
    example: 'memory-node-not-found.dts',
  }),
  r({
    name: 'memory-node-without-reg',
    stage: 'discovery',
    messages: ['Invalid memory node', 'Invalid address for associated data memory node'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "The associated memory node has neither 'linux,usable-memory' nor 'reg', so the tagged range is unknown; " +
      'tag storage management is disabled.',
    example: 'memory-node-without-reg.dts',
  }),
  r({
    name: 'memory-reg-not-one-entry',
    stage: 'discovery',
    messages: ['Invalid address for associated data memory node'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "The associated memory node's 'linux,usable-memory' or 'reg' must hold exactly one range (the same parser " +
      'as for the tag node); a memory node with several ranges is refused and tag storage management is disabled.',
    example: 'memory-reg-two-entries.dts',
    note:
      'kernel-facts §1.1 says the first entry is used; the posted v1 code (tag_storage_of_flat_get_range) ' +
      'refuses a value longer than one entry. mte-sim follows the code.',
  }),
  r({
    name: 'memory-zero-size',
    stage: 'discovery',
    messages: ['Invalid node', 'Invalid address for associated data memory node'],
    level: 'err',
    outcome: 'management-disabled',
    explanation: 'The associated memory range is smaller than one page; tag storage management is disabled.',
    example: 'memory-zero-size.dts',
  }),
  r({
    name: 'ratio-not-1-to-32',
    stage: 'discovery',
    messages: ["Tag region doesn't cover exactly the corresponding memory region"],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      'Each 16 bytes of memory have 4 bits of tags, so the tag storage must be exactly 1/32 of the associated ' +
      'memory (counted in whole pages); otherwise tag storage management is disabled.',
    example: 'ratio-not-1-to-32.dts',
  }),
  r({
    name: 'missing-block-size',
    stage: 'discovery',
    messages: ["Invalid or missing 'block-size' property"],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      "'block-size' (u32, bytes) gives the smallest unit of tag storage the memory controller keeps together; " +
      'it must be present and non-zero, otherwise tag storage management is disabled.',
    example: 'missing-block-size.dts',
  }),
  r({
    name: 'size-not-multiple-of-block',
    stage: 'discovery',
    messages: ['Tag storage region size is not a multiple of allocation block size'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      'The block size in pages is lcm(PAGE_SIZE, block-size) / PAGE_SIZE; the region size in pages must be a ' +
      'multiple of it, otherwise tag storage management is disabled.',
    example: 'size-not-multiple-of-block.dts',
  }),
  r({
    name: 'memblock-add-failed',
    stage: 'discovery',
    messages: ['Error adding tag memblock (%d)'],
    level: 'err',
    outcome: 'management-disabled',
    explanation: 'memblock_add_node() failed to add the tag storage to memory; tag storage management is disabled.',
    note:
      'Not reachable from a device tree on v6.5: memblock_add_node() only fails when its array must grow, and ' +
      'this early memblock_double_array() panics ("memblock: cannot resize memory array") instead of returning ' +
      'an error. mte-sim never produces this line.',
  }),
  r({
    name: 'region-found',
    stage: 'discovery',
    messages: ['Found MTE tag storage region 0x%llx@0x%llx, block size %u pages'],
    level: 'info',
    outcome: 'region-found',
    explanation:
      'The region passed every check: the kernel adds it to memory itself (memblock_add_node, with the ' +
      "memory node's numa-node-id) and reserves it until activation. Arguments: size, start, block size in pages.",
  }),
  r({
    name: 'management-disabled',
    stage: 'discovery',
    messages: ['MTE tag storage management disabled'],
    level: 'err',
    outcome: 'management-disabled',
    explanation:
      'Printed after any discovery error: the scan stops, every region found so far is removed from memblock ' +
      '(that memory is not usable at all) and no tag storage is managed.',
  }),
  r({
    name: 'no-tag-storage',
    stage: 'discovery',
    messages: ['No MTE tag storage regions detected'],
    level: 'info',
    outcome: 'no-regions',
    explanation:
      'No node directly under the root has "metadata" in its name and is compatible with ' +
      '"arm,mte-tag-storage"; the kernel runs with static MTE only.',
    example: 'no-tag-storage.dts',
  }),
  r({
    name: 'outside-addressable-memory',
    stage: 'activation',
    messages: ['Tag storage region 0x%llx-0x%llx outside addressable memory'],
    level: 'err',
    outcome: 'left-reserved',
    explanation:
      'After arm64_memblock_init() clipped memory to what the kernel can address (mem=, the PA and linear-map ' +
      'limits), a tag storage region no longer lies within [start of DRAM, end of DRAM); activation stops and ' +
      'the regions stay reserved and unused.',
    example: 'outside-addressable-memory.dts',
  }),
  r({
    name: 'nomte',
    stage: 'activation',
    messages: [],
    level: 'info',
    outcome: 'movable',
    explanation:
      'MTE is not supported or disabled (arm64.nomte): the tag storage is not needed for tags, so every ' +
      'pageblock is given to the page allocator as ordinary MIGRATE_MOVABLE memory (no message). It stays ' +
      'memblock-reserved, so kexec will not use it.',
    example: 'nomte.dts',
  }),
  r({
    name: 'kasan-hw-tags',
    stage: 'activation',
    messages: ['KASAN HW tags enabled, disabling tag storage'],
    level: 'info',
    outcome: 'left-reserved',
    explanation:
      'KASAN in hardware tag mode (kasan=on) tags kernel allocations made where migration is impossible, so ' +
      'dynamic tag storage cannot work; the regions stay reserved and unused (MemTotal is lower by their size).',
    example: 'kasan-hw-tags.dts',
  }),
  r({
    name: 'block-pages-in-different-zones',
    stage: 'activation',
    messages: ['Tag block pages in different zones'],
    level: 'err',
    outcome: 'left-reserved',
    explanation:
      'alloc_contig_range() needs every page of a tag block in one zone; a block (block size > 1 page) ' +
      'straddles a zone boundary, so activation stops and the regions stay reserved and unused.',
    example: 'block-pages-in-different-zones.dts',
  }),
  r({
    name: 'zero-page-block',
    stage: 'activation',
    messages: ['MTE tag storage disabled'],
    level: 'info',
    outcome: 'metadata-unused',
    explanation:
      'After the tag storage pageblocks became MIGRATE_METADATA, the tag block of the zero page (which arm64 ' +
      'maps tagged) could not be reserved; the key stays off, so the METADATA pages are counted but never used.',
  }),
  r({
    name: 'zero-page-not-covered',
    stage: 'activation',
    messages: ['Missing tag storage block for pfn 0x%lx'],
    level: 'warning',
    outcome: 'warning',
    explanation:
      'The zero page (in the kernel image) is not in any memory range that a tag storage region covers; the ' +
      'kernel WARNs once and treats the reservation as done, so tag storage is still enabled.',
    example: 'zero-page-not-tagged.dts',
  }),
  r({
    name: 'enabled',
    stage: 'activation',
    messages: ['MTE tag storage enabled\n'],
    level: 'info',
    outcome: 'enabled',
    explanation:
      'Every pageblock of tag storage is free MIGRATE_METADATA memory (usable by movable, untagged allocations) ' +
      "and the zero page's tag block is reserved; tag storage is managed dynamically.",
    example: 'block-size-3-pages.dts',
  }),
  r({
    name: 'block-outside-tag-region',
    stage: 'runtime',
    messages: ['Block 0x%llx-0x%llx is outside tag region 0x%llx-0x%llx\n'],
    level: 'err',
    outcome: 'warning',
    explanation:
      'tag_storage_find_block_in_region(): the block computed for a pfn ends past the tag region (possible when ' +
      'the block size does not divide the tagged range evenly); that region is skipped.',
  }),
]);

export function findRule(name: string): TagStorageRule {
  const rule = TAG_STORAGE_RULES.find((x) => x.name === name);
  if (!rule) throw new Error(`no tag storage rule called ${name}`);
  return rule;
}
