/**
 * Page table entries. Each VMA keeps its PTEs in two typed arrays: `pfn` (Uint32, the page frame, or the
 * swap offset of a swap entry) and `pte` (Uint16, the software bits below). `ptevalArm64()` renders the
 * 64-bit arm64 descriptor with the kernel's bit positions (kernel-facts §5.1; arch/arm64/include/asm/
 * pgtable-hwdef.h and pgtable-prot.h of v6.5) for display.
 *
 * States of a slot:
 *   none                 pte == 0
 *   present              PTE_VALID set (PTE_WRITE, PTE_YOUNG, PTE_DIRTY, PTE_TAGGED as applicable)
 *   PAGE_NONE            PTE_PROT_NONE (not valid, still maps pfn)
 *   PAGE_METADATA_NONE   PTE_PROT_NONE | PTE_METADATA_NONE (§5.1)
 *   migration entry      PTE_MIGRATION (pfn = the page being migrated; PTE_WRITE = writable entry)
 *   swap entry           PTE_SWAP (pfn = swap offset)
 */

export const PTE_VALID = 1 << 0;
/** Hardware-writable (DBM) — PTE_WRITE, bit 51. */
export const PTE_WRITE = 1 << 1;
/** Access flag (AF), bit 10. */
export const PTE_YOUNG = 1 << 2;
/** Software dirty, bit 55. */
export const PTE_DIRTY = 1 << 3;
/** PTE_PROT_NONE, bit 58: not valid, but maps a page (PAGE_NONE, NUMA hinting, METADATA_NONE). */
export const PTE_PROT_NONE = 1 << 4;
/** PTE_METADATA_NONE, bit 59 (v1 P29): only meaningful together with PTE_PROT_NONE. */
export const PTE_METADATA_NONE = 1 << 5;
export const PTE_SWAP = 1 << 6;
export const PTE_MIGRATION = 1 << 7;
/** AttrIndx = MT_NORMAL_TAGGED (the mapping is PROT_MTE). */
export const PTE_TAGGED = 1 << 8;
/** Emulator bit: the slot is one of the HPAGE_PMD_NR slots of a PMD mapping (THP, src/process/thp.ts). */
export const PTE_PMD = 1 << 9;

/** Bits under which a slot references its pfn as a mapped page. */
export const PTE_PRESENT_MASK = PTE_VALID | PTE_PROT_NONE;
export const PAGE_METADATA_NONE = PTE_PROT_NONE | PTE_METADATA_NONE;

/** Returns true if the entry maps a page (valid or protnone). */
export function pteMapsPage(f: number): boolean {
  return (f & PTE_PRESENT_MASK) !== 0;
}

/** Returns true if the entry is PAGE_METADATA_NONE (pte_metadata_none, §5.1). */
export function pteMetadataNone(f: number): boolean {
  return (f & PTE_VALID) === 0 && (f & PAGE_METADATA_NONE) === PAGE_METADATA_NONE;
}

/** The arm64 descriptor value of a slot (BigInt, for display). */
export function ptevalArm64(pfn: number, f: number, pageShift: number): bigint {
  if (f === 0) return 0n;
  if ((f & (PTE_SWAP | PTE_MIGRATION)) !== 0) {
    // __SWP_TYPE_SHIFT 3, __SWP_OFFSET_SHIFT 8 (v6.5 pgtable.h); migration entries use a swap type near the top.
    const type = (f & PTE_MIGRATION) !== 0 ? ((f & PTE_WRITE) !== 0 ? 30n : 29n) : 0n;
    return (type << 3n) | (BigInt(pfn) << 8n);
  }
  let v = BigInt(pfn) << BigInt(pageShift);
  v |= 1n << 6n; // PTE_USER
  v |= 3n << 8n; // PTE_SHARED (inner shareable)
  v |= 1n << 11n; // PTE_NG
  v |= 1n << 53n; // PTE_PXN
  v |= 1n << 54n; // PTE_UXN
  if ((f & PTE_TAGGED) !== 0) v |= 1n << 2n; // AttrIndx MT_NORMAL_TAGGED (1)
  if ((f & PTE_VALID) !== 0)
    v |= 3n; // PTE_VALID | PTE_TYPE_PAGE
  else v |= 2n;
  if ((f & PTE_YOUNG) !== 0) v |= 1n << 10n;
  if ((f & PTE_WRITE) !== 0) v |= 1n << 51n;
  else v |= 1n << 7n; // PTE_RDONLY
  if ((f & PTE_DIRTY) !== 0) v |= 1n << 55n;
  if ((f & PTE_PROT_NONE) !== 0) v |= 1n << 58n;
  if ((f & PTE_METADATA_NONE) !== 0) v |= 1n << 59n;
  return v;
}
