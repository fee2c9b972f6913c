/**
 * fork(): the child's address space as dup_mmap / copy_page_range build it (kernel/fork.c, mm/memory.c, v6.5),
 * for the process layer's anonymous memory.
 *
 * ## VMAs and the reverse map
 * The child gets a copy of every VMA (same range, flags, pgoff). In the kernel the child VMA gets an anon_vma
 * of its own chained to the parent's (anon_vma_fork), and an rmap walk from a parent page visits the whole
 * chain. Here the child VMA joins the parent VMA's anon_vma (`anonVma.vmas`), which is that chain collapsed to
 * its root: a page's linear index (its owner word) names the anon_vma, and `rmap.walk` visits every VMA of every
 * process that may map it, keeping only slots whose pfn is that page. A page copied later by a COW fault in
 * either process keeps the same linear index (page->index is the same in parent and child), so both the original
 * and the copy are found through the same anon_vma.
 *
 * ## Page tables (copy_pte_range / copy_present_pte / copy_nonpresent_pte / copy_huge_pmd)
 *   present or protnone (incl. PAGE_METADATA_NONE) anon page: one more reference (page_try_dup_anon_rmap); in a
 *       COW mapping (private; VM_MAYWRITE is always set for anonymous private memory) the PTE is write-protected
 *       in parent and child (ptep_set_wrprotect); the child's copy is old (pte_mkold)
 *   the zero page: copied as is
 *   swap entry: swap_duplicate (the swap model's duplicateSwapEntry)
 *   migration entry: copied (read-only in a COW mapping, in both) with one more reference, as the model counts
 *       migration entries in the refcount
 *   PMD (THP): copy_huge_pmd — both PMDs write-protected, one more PMD mapping of the folio (thp.ts)
 * Page-table pages are allocated for the child where the parent has entries (GFP_PGTABLE_USER); nr_anon_pages
 * does not move (the pages were mapped already), nr_page_table_pages does.
 * Shared anonymous (shmem) VMAs: the kernel leaves their PTEs to be faulted in from the page cache; the model has
 * no page cache, so their PTEs are copied too (the pages stay shared and writable in both).
 *
 * ## Copy-on-write afterwards (fault.ts)
 * A write to a write-protected page whose refcount is above 1 is do_wp_page → wp_page_copy: a new page
 * (GFP_HIGHUSER_MOVABLE, + __GFP_TAGGED for VM_MTE so the copy has tag storage), copy_highpage (data token and
 * tags, kernel-facts §6.2), the old page's reference dropped. The last mapper reuses the page in place
 * (wp_page_reuse, pgreuse).
 *
 * On failure (no page for a page table) the child is torn down as exit_mmap would and fork returns -ENOMEM.
 */
import type { ProcessLayer } from './layer.js';
import { Vma, VM_SHARED, type Process } from './mm.js';
import { ENOMEM } from './port.js';
import { PTE_MIGRATION, PTE_PMD, PTE_PRESENT_MASK, PTE_SWAP, PTE_WRITE, PTE_YOUNG } from './pte.js';

export interface ForkResult {
  /** The child, or undefined when fork failed. */
  child: Process | undefined;
  /** 0, or -ENOMEM. */
  errno: number;
}

/** fork(): creates process `childName` as a copy of `parent` (its mm duplicated with copy-on-write). */
export function forkProcess(L: ProcessLayer, parent: Process, childName: string): ForkResult {
  const child = L.createProcess(childName);
  const pageShift = L.port.pageShift;
  // pgd_alloc takes a page only with 4K pages (layer.createProcess); -1 there means it failed.
  if (L.port.pageShift === 12 && child.mm.pgdPfn < 0) return fail(L, child);
  for (const pv of parent.mm.vmas) {
    if (pv.dead) continue;
    const cv = new Vma(
      child.mm,
      pv.name,
      pv.start,
      pv.end,
      pv.flags,
      pv.anonVma,
      pv.pgoff,
      new Uint32Array(pv.pages),
      new Uint16Array(pv.pages),
      pv.token.slice(),
      pageShift,
      pv.tagSum.slice(),
    );
    pv.anonVma.vmas.push(cv);
    child.mm.insertVma(cv);
    if (!copyPageRange(L, pv, cv)) return fail(L, child);
  }
  for (const [name, r] of parent.named) child.named.set(name, { start: r.start, end: r.end });
  L.flush();
  return { child, errno: 0 };
}

function fail(L: ProcessLayer, child: Process): ForkResult {
  L.exit(child);
  L.processes.delete(child.comm);
  return { child: undefined, errno: ENOMEM };
}

/** copy_page_range for one VMA; false when a page-table page could not be allocated. */
function copyPageRange(L: ProcessLayer, src: Vma, dst: Vma): boolean {
  const port = L.port;
  const zero = port.zeroPfn;
  const cow = (src.flags & VM_SHARED) === 0;
  const ps = port.pageSize;
  const thp = L.thp;
  const spte = src.pte;
  const spfn = src.pfn;
  const dpte = dst.pte;
  const dpfn = dst.pfn;
  for (let i = 0; i < src.pages; i++) {
    let f = spte[i]!;
    if (f === 0) continue;
    if (!L.ensureTables(dst.mm, dst.start + i * ps)) return false;
    const pfn = spfn[i]!;
    if ((f & PTE_PMD) !== 0) {
      // copy_huge_pmd: the whole PMD at once (its slots start here: a PMD range never straddles a VMA edge).
      const n = thp.nr;
      if ((f & PTE_MIGRATION) === 0 && (f & PTE_PRESENT_MASK) === 0) continue;
      thp.dupPmd(pfn);
      for (let k = 0; k < n; k++) {
        let g = spte[i + k]!;
        if (cow) {
          g &= ~PTE_WRITE;
          spte[i + k] = g;
        }
        dpte[i + k] = (f & PTE_MIGRATION) !== 0 ? g : g & ~PTE_YOUNG;
        dpfn[i + k] = spfn[i + k]!;
      }
      i += n - 1;
      continue;
    }
    if ((f & PTE_SWAP) !== 0) {
      // copy_nonpresent_pte: swap_duplicate. A count that cannot grow (no continuation pages modelled) fails fork.
      if (L.swap === undefined || !L.swap.duplicateSwapEntry(pfn)) return false;
      dpte[i] = f;
      dpfn[i] = pfn;
      continue;
    }
    if ((f & PTE_MIGRATION) !== 0) {
      if (cow && (f & PTE_WRITE) !== 0) {
        f &= ~PTE_WRITE; // make_readable_migration_entry, in the parent too
        spte[i] = f;
      }
      port.setPageRef(pfn, port.pageRef(pfn) + 1);
      dpte[i] = f;
      dpfn[i] = pfn;
      continue;
    }
    if ((f & PTE_PRESENT_MASK) === 0) continue;
    if (pfn !== zero) {
      port.setPageRef(pfn, port.pageRef(pfn) + 1);
      if (cow && (f & PTE_WRITE) !== 0) {
        f &= ~PTE_WRITE;
        spte[i] = f;
      }
    }
    dpte[i] = f & ~PTE_YOUNG;
    dpfn[i] = pfn;
  }
  return true;
}
