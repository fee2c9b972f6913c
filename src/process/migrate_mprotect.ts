/**
 * mprotect(PROT_MTE) without the series' PAGE_METADATA_NONE fix (`config fix.metadata_none=off`, SPEC §4).
 *
 * With the fix (kernel-facts §5.2) mprotect reserves nothing: present PTEs become PAGE_METADATA_NONE and the
 * next access reserves the page's tag storage (§5.3). Without it, the model is the design the fix replaced:
 * change_pte_range maps the present pages tagged at once, so it must reserve the tag storage of each page it
 * finds present (reserve_metadata_storage, §2.3) before set_pte_at initialises the tags. A page it does not
 * find present — one whose PTE is a migration entry because a migration holds it — is left alone, and its
 * migration then maps a destination allocated untagged into a VM_MTE VMA without tag storage: the cover
 * letter's race 1 (§6.3). Our modelling: kernel-facts does not say how the series behaved before P29–P31;
 * the cover letter and §5.2 ("no race with migration") say only that this race is what the fix removes.
 */
import type { ProcessLayer } from './layer.js';
import { Gfp, PageFlag } from './port.js';

/**
 * Called by ProcessLayer.mprotect for each present page of a VMA gaining VM_MTE while fix.metadata_none is
 * off and tag storage management is on: reserves the tag storage of `pfn` unless it has it already. Tag
 * storage pages (METADATA) cannot have tag storage of their own and are left as they are.
 */
export function reserveOnMprotectMte(L: ProcessLayer, pfn: number): void {
  const port = L.port;
  if (pfn === port.zeroPfn || port.testFlag(pfn, PageFlag.TagStorageReserved) || port.isMetadataPage(pfn)) return;
  port.reserveMetadata(pfn, 0, Gfp.HighuserMovable);
}
