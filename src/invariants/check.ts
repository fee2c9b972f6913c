/**
 * The invariants of SPEC §5, checked by `--check` after every step (and by `explore`). Each check walks the
 * page tables of every live process once (O(mapped pages)), so running it after every statement of a test
 * scenario stays cheap. Returns one message per violation, in a deterministic order; empty when all hold.
 *
 *   1. free lists consistent                 -> the allocator's own checker (MmPort.checkFreeLists)
 *   2. no page both free and mapped; map counts == PTEs (+1 while isolated for migration)
 *   3. every page mapped tagged has its tag block reserved; no reserved tag block holds process data
 *   4. tag block refcounts == 1 + the tagged pages they cover
 *   5. data integrity: every mapped page holds the token its process last wrote, and every page it sees tagged
 *      the tags it last set (zeros on a fresh page; compared by digest, tagSum)
 *   6. no tag written into a tag storage page that was not reserved for tags
 */
import type { ProcessLayer } from '../process/layer.js';
import type { Process, Vma } from '../process/mm.js';
import { PageFlag } from '../process/port.js';
import { PTE_MIGRATION, PTE_PRESENT_MASK, PTE_TAGGED, PTE_VALID } from '../process/pte.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** `comm[pid] vma address -> pfn`, for a message (built only when something is wrong). */
function where(p: Process, v: Vma, i: number, pfn: number): string {
  return `${p.comm}[${p.pid}] ${v.name} ${hex(v.start + i * 2 ** v.pageShift)} -> pfn ${hex(pfn)}`;
}

export interface CheckOptions {
  /** Stop after this many messages (default 20). */
  limit?: number;
}

export function checkInvariants(L: ProcessLayer, opts: CheckOptions = {}): string[] {
  const limit = opts.limit ?? 20;
  const out: string[] = [];
  const port = L.port;
  L.flush();
  const add = (m: string): boolean => {
    if (out.length < limit) out.push(m);
    return out.length >= limit;
  };

  // 1.
  if (port.checkFreeLists !== undefined) for (const m of port.checkFreeLists()) if (add(`free lists: ${m}`)) return out;

  // 2, 3, 5: one pass over every slot of every live process.
  const refs = new Map<number, number>();
  // Tag block users (check 4), counted as the pass goes; consecutive pages mostly share a block.
  const users = new Map<number, number>();
  const canCount = port.tagBlockOf !== undefined;
  let runBlock = -1;
  let runCount = 0;
  const endRun = (): void => {
    if (runBlock >= 0) users.set(runBlock, (users.get(runBlock) ?? 0) + runCount);
    runBlock = -1;
    runCount = 0;
  };
  const countUser = (pfn: number): void => {
    if (!canCount || !port.testFlag(pfn, PageFlag.TagStorageReserved)) return;
    if (L.rmap.folioHead(pfn) !== pfn) return; // a THP tail page: the head counts for the whole folio
    // A THP migration's destination before its remap, or its source after, is no folio of the rmap's: its order
    // is the in-flight hold's.
    const order = L.rmap.folioOrder(pfn) || (L.inflightOrder.get(pfn) ?? 0);
    if (order > 0) {
      countFolio(pfn, order);
      return;
    }
    const b = port.tagBlockOf!(pfn);
    if (b < 0) return;
    if (b !== runBlock) {
      endRun();
      runBlock = b;
    }
    runCount++;
  };
  // A large folio counts per allocation, as v1's block_ref_add does (kernel-facts §2.2-2.3): each of its
  // order_to_num_blocks(order) blocks, B pages apart from the first, gets min(1 << order, 32 * B) — which
  // over-reserves B times when B > 1. Its head stands for the whole folio; tail pages add nothing.
  const foliosCounted = new Set<number>();
  const countFolio = (head: number, order: number): void => {
    if (foliosCounted.has(head)) return;
    foliosCounted.add(head);
    const first = port.tagBlockOf!(head);
    if (first < 0) return;
    const b = port.tagBlockPagesAt !== undefined ? port.tagBlockPagesAt(first) : 1;
    const blocks = Math.max((1 << order) / 32, 1);
    const count = Math.min(1 << order, 32 * b);
    endRun();
    for (let k = 0; k < blocks; k++) users.set(first + k * b, (users.get(first + k * b) ?? 0) + count);
  };
  const migrating = new Set<number>();
  const enabled = port.metadataEnabled();
  for (const p of L.processes.values()) {
    if (!p.alive) continue;
    for (const v of p.mm.vmas) {
      const pte = v.pte;
      // A page mapped once (refcount 1) whose rmap owner is this slot cannot be mapped by another slot unless
      // another VMA of the same anon_vma covers the same indices (fork); only then are such pages counted.
      const overlapping = v.anonVma.vmas.some(
        (o) => o !== v && o.pgoff < v.pgoff + v.pages && v.pgoff < o.pgoff + o.pages,
      );
      for (let i = 0; i < v.pages; i++) {
        const f = pte[i]!;
        if ((f & (PTE_PRESENT_MASK | PTE_MIGRATION)) === 0) continue;
        const pfn = v.pfn[i]!;
        if (pfn === port.zeroPfn) {
          if (port.getToken(pfn) !== 0 && add(`data: the zero page holds data (token ${port.getToken(pfn)})`))
            return out;
          continue;
        }
        const ref = port.pageRef(pfn);
        // A page in use has a reference; only a page without one can be on a free list.
        if (ref <= 0 && port.isFree(pfn) && add(`mapped page is free: ${where(p, v, i, pfn)}`)) return out;
        const ownerOk = port.testFlag(pfn, PageFlag.Anon) && port.getOwner(pfn) === v.pgoff + i;
        if (!ownerOk && add(`rmap: ${where(p, v, i, pfn)} has owner ${port.getOwner(pfn)}, expected ${v.pgoff + i}`))
          return out;
        if ((f & PTE_MIGRATION) !== 0) migrating.add(pfn);
        if (ref !== 1 || !ownerOk || overlapping || (f & PTE_MIGRATION) !== 0 || L.inflight.has(pfn)) {
          refs.set(pfn, (refs.get(pfn) ?? 0) + 1);
        } else {
          countUser(pfn); // mapped once: counted here; pages in `refs` are counted once below
        }
        if (port.getToken(pfn) !== v.token[i]) {
          const m = `data: ${where(p, v, i, pfn)} holds token ${port.getToken(pfn)}, the process wrote ${v.token[i]}`;
          if (add(m)) return out;
        }
        // 5. The tags the process set (or zeros) on a page it can see tagged.
        if ((f & (PTE_VALID | PTE_TAGGED)) === (PTE_VALID | PTE_TAGGED) && L.tagDigest(pfn) !== v.tagSum[i]) {
          const m = `tags: ${where(p, v, i, pfn)} does not hold the tags the process set (digest ${hex(L.tagDigest(pfn))}, expected ${hex(v.tagSum[i]!)})`;
          if (add(m)) return out;
        }
        // 3. The block's reservation itself is checked once per block in 4.
        if (
          enabled &&
          (f & (PTE_VALID | PTE_TAGGED)) === (PTE_VALID | PTE_TAGGED) &&
          !port.testFlag(pfn, PageFlag.TagStorageReserved) &&
          port.tagPageOf(pfn) >= 0
        ) {
          if (add(`tag storage: ${where(p, v, i, pfn)} is mapped tagged without PG_tag_storage_reserved`)) return out;
        }
      }
    }
  }
  for (const [pfn, n] of [...refs].sort((a, b) => a[0] - b[0])) {
    const ref = port.pageRef(pfn);
    const want = n + (migrating.has(pfn) ? 1 : 0) + (L.inflight.get(pfn) ?? 0);
    if (ref !== want && add(`map count: pfn ${hex(pfn)} has refcount ${ref}, ${n} PTEs reference it`)) return out;
  }

  // 4. Refcount of every reserved block == 1 + tagged pages covering it (counted over mapped pages and the
  // zero page; skipped while a migration is in flight, when a destination is tagged but not mapped yet).
  if (enabled && migrating.size === 0 && port.reservedBlocks !== undefined && port.tagBlockOf !== undefined) {
    const pages = new Set<number>([port.zeroPfn, ...refs.keys(), ...L.inflight.keys()]);
    for (const pfn of pages) countUser(pfn);
    // A THP holds its reservation until it is freed whole or split, however few of its pages are still mapped
    // (one left partly mapped waits on the deferred split queue): every live folio counts, once.
    for (const head of L.thp.heads()) countUser(head);
    endRun();
    const reserved = new Map(port.reservedBlocks());
    for (const [block, rc] of [...reserved].sort((a, b) => a[0] - b[0])) {
      const u = users.get(block) ?? 0;
      if (rc !== 1 + u && add(`tag block ${hex(block)} has refcount ${rc}, ${u} tagged pages use it`)) return out;
    }
    // 3. No reserved block holds process data: every page of every reserved block is a tag page, not mapped.
    for (const block of reserved.keys()) {
      const nr = port.tagBlockPagesAt !== undefined ? port.tagBlockPagesAt(block) : 1;
      for (let t = block; t < block + nr; t++) {
        if (L.rmap.isAnonPage(t) && add(`tag storage: reserved tag block page ${hex(t)} holds process data`))
          return out;
      }
    }
    // 3. Every block a tagged page relies on is reserved.
    for (const [block, u] of [...users].sort((a, b) => a[0] - b[0])) {
      if (!reserved.has(block) && add(`tag block ${hex(block)} is not reserved, ${u} tagged pages use it`)) return out;
    }
  }

  // 6.
  for (const m of L.tags.corruptions) if (add(`tag corruption: ${m}`)) return out;
  return out;
}
