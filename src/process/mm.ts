/**
 * Processes, their address spaces (mm_struct) and VMAs (vm_area_struct), with a deterministic top-down
 * virtual address layout. Each VMA owns its PTEs in typed arrays (see pte.ts) plus the content token the
 * process last wrote to each of its pages (for the data integrity invariant, SPEC §5.5). Page-table pages
 * themselves are real pages from the buddy allocator, tracked per mm by table index (pgtable.ts).
 */

export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_SHARED = 0x8;
/** MADV_HUGEPAGE: THP faults for the VMA (src/process/thp.ts). */
export const VM_HUGEPAGE = 0x20;
/** VM_MTE (VM_HIGH_ARCH_0 on arm64): the VMA is mapped with PROT_MTE. */
export const VM_MTE = 0x100;

/** anon_vma: the VMAs that may map pages of one anonymous mapping (and its splits). */
export interface AnonVma {
  /** Its range of linear page indices [base, end) (see rmap.ts). */
  readonly base: number;
  readonly end: number;
  readonly vmas: Vma[];
  /** MAP_SHARED|MAP_ANONYMOUS (shmem-backed): pages count as Shmem, no zero page. */
  readonly shared: boolean;
}

export class Vma {
  /** Number of pages. */
  readonly pages: number;
  /** Set when the VMA is unmapped or replaced by a split (a fault in flight must not use it). */
  dead = false;
  constructor(
    readonly mm: Mm,
    /** The scenario's name for the mapping (a split keeps the name). */
    readonly name: string,
    /** Byte addresses, page aligned, [start, end). */
    public start: number,
    public end: number,
    public flags: number,
    readonly anonVma: AnonVma,
    /** Linear index (in pages) of the first page: page->index of the page at `start`. */
    public pgoff: number,
    public pfn: Uint32Array,
    public pte: Uint16Array,
    /** Content token the process last wrote to each page (0 = never written: zero-filled). */
    public token: Uint32Array,
    readonly pageShift: number,
    /**
     * Digest of the tags the process last set on each page (SPEC §5 invariant 5): 0 for all-zero tags, as on a
     * fresh page. Like `token`, it is the process's own record, kept through swap, migration, compaction and fork.
     */
    public tagSum: Uint32Array = new Uint32Array(token.length),
  ) {
    this.pages = (end - start) / 2 ** pageShift;
  }

  get tagged(): boolean {
    return (this.flags & VM_MTE) !== 0;
  }

  get shared(): boolean {
    return (this.flags & VM_SHARED) !== 0;
  }

  protText(): string {
    const r = (this.flags & VM_READ) !== 0;
    const w = (this.flags & VM_WRITE) !== 0;
    const base = w ? 'rw' : r ? 'r' : 'none';
    return this.tagged ? `${base}+mte` : base;
  }
}

export class Mm {
  /** VMAs sorted by start address. */
  readonly vmas: Vma[] = [];
  /** Page-table pages by level (0 = PTE tables, 1 = PMD tables, 2 = PUD tables): table index -> pfn. */
  readonly tables: Map<number, number>[] = [new Map(), new Map(), new Map()];
  /**
   * Faults in flight on this mm: they hold mmap_lock for reading, so mprotect/munmap/exit (mmap_lock for
   * writing) wait until it is 0. Only `race` schedules see it non-zero.
   */
  faultsInFlight = 0;
  /** PTE-table index last known to exist (a cache for sequential faults). */
  lastPteKey = -1;
  /** pfn of the pgd page (-1 once freed). */
  pgdPfn = -1;

  constructor(readonly id: number) {}

  findVma(addr: number): Vma | undefined {
    for (const v of this.vmas) if (addr >= v.start && addr < v.end) return v;
    return undefined;
  }

  insertVma(vma: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i]!.start < vma.start) i++;
    this.vmas.splice(i, 0, vma);
  }

  removeVma(vma: Vma): void {
    const i = this.vmas.indexOf(vma);
    if (i >= 0) this.vmas.splice(i, 1);
  }

  /**
   * get_unmapped_area, top-down from mmap_base (no ASLR: deterministic). Returns a page- (or, for
   * `align`, align-) aligned start for `size` bytes, or -1 when the address space is full.
   */
  unmappedArea(size: number, align: number, mmapBase: number, low: number): number {
    let top = mmapBase;
    for (let i = this.vmas.length - 1; i >= -1; i--) {
      const below = i >= 0 ? this.vmas[i]!.end : low;
      if (i >= 0 && this.vmas[i]!.start >= top) continue;
      const start = Math.floor((top - size) / align) * align;
      if (start >= below) return start;
      if (i >= 0) top = Math.min(top, this.vmas[i]!.start);
    }
    return -1;
  }
}

export class Process {
  alive = true;
  /** Set when the OOM killer chose this process (SIGKILL): it runs nothing more, even before it has exited. */
  oomKilled = false;
  /**
   * The scenario's mapping names -> the address range mmap returned. After a partial mprotect or munmap the
   * range may be covered by several VMAs (or partly by none); ranges in statements are relative to `start`.
   */
  readonly named = new Map<string, { start: number; end: number }>();
  constructor(
    readonly pid: number,
    readonly comm: string,
    readonly mm: Mm,
  ) {}
}
