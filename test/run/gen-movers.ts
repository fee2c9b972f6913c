/**
 * Random workloads of page movers for the property tests (property-movers, property-proc): fast-check steps and a
 * renderer to scenario text. Process indices are taken modulo the processes alive, so shrunk cases stay valid.
 */
import fc from 'fast-check';

/** The mappings every scenario starts with (and forks copy): size in 4K pages, prot, flags. */
const VMAS = [
  { name: 'a', pages: 64, prot: 'rw+mte', flags: '' },
  { name: 'b', pages: 32, prot: 'rw', flags: '' },
  { name: 's', pages: 16, prot: 'rw+mte', flags: ' shared' },
  { name: 'h', pages: 1024, prot: 'rw+mte', flags: ' thp' },
  { name: 'c', pages: 16, prot: 'r+mte', flags: '' },
] as const;

const KINDS = ['touch', 'touch', 'read', 'settag', 'access', 'mprotect', 'pageout', 'migrate'] as const;

/** One statement of a process: which process (an index into those alive), mapping, range and operands. */
const op = fc.record({
  k: fc.constantFrom(...KINDS),
  p: fc.nat(7),
  v: fc.nat(VMAS.length - 1),
  a: fc.nat(1023),
  n: fc.constantFrom(1, 4, 16, 600),
  whole: fc.boolean(),
  x: fc.nat(15),
});
type Op = { k: string; p: number; v: number; a: number; n: number; whole: boolean; x: number };

export const step = fc.oneof(
  { weight: 10, arbitrary: op },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fork'), p: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit'), p: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('remap'), p: fc.nat(7), v: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'compact' }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pressure'), mib: fc.constantFrom(1, 16, 200, 480) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('race'),
      threads: fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 }),
    }),
  },
);
/** Any step: the fields its kind uses are there (see `step`). */
export type Step = Partial<Op> & { k: string; mib?: number; threads?: Op[][] };

/** Renders steps as a scenario; process indices are taken modulo the processes alive at that point. */
export function render(steps: Step[], targets: readonly string[], swap: number, thp = true, exitAll = true): string[] {
  const out = [`config swap=${swap}M`, 'process p0'];
  for (const v of VMAS)
    out.push(`p0: mmap ${v.name} ${v.pages * 4}K prot=${v.prot}${thp ? v.flags : v.flags.replace(' thp', '')}`);
  const alive = ['p0'];
  let next = 1;
  const who = (i: number): string => alive[i % alive.length]!;
  const stmt = (o: Op, p: string): string => {
    const v = VMAS[o.v]!;
    const a = o.a % v.pages;
    const r = o.whole ? '' : ` ${a * 4}K..${Math.min(v.pages, a + o.n) * 4}K`;
    switch (o.k) {
      case 'read':
        return `${p}: touch ${v.name}${r} read`;
      case 'settag':
        return `${p}: settag ${v.name}${r || ` 0..${v.pages * 4}K`} ${o.x}`;
      case 'access':
        return `${p}: access ${v.name}${r || ` 0..${v.pages * 4}K`} tag=${o.x}`;
      case 'mprotect':
        return `${p}: mprotect ${v.name} prot=${['none', 'r', 'rw', 'r+mte', 'rw+mte'][o.x % 5]}${r}`;
      case 'pageout':
        return `${p}: pageout ${v.name}${r}`;
      case 'migrate':
        return `${p}: migrate ${v.name}${r} to=${targets[o.x % targets.length]}`;
      default:
        return `${p}: touch ${v.name}${r}`;
    }
  };
  for (const s of steps) {
    switch (s.k) {
      case 'fork':
        if (alive.length < 4) {
          const c = `p${next++}`;
          out.push(`${who(s.p!)}: fork ${c}`);
          alive.push(c);
        }
        break;
      case 'exit': {
        const p = who(s.p!);
        if (p === 'p0') break;
        out.push(`${p}: exit`);
        alive.splice(alive.indexOf(p), 1);
        break;
      }
      case 'remap': {
        const v = VMAS[s.v!]!;
        const p = who(s.p!);
        out.push(`${p}: munmap ${v.name}`, `${p}: mmap ${v.name} ${v.pages * 4}K prot=${v.prot}`);
        break;
      }
      case 'compact':
        out.push('compact');
        break;
      case 'pressure':
        out.push(`pressure ${s.mib!}M`);
        break;
      case 'race':
        out.push('race {');
        s.threads!.forEach((t, i) => {
          out.push(`  thread T${i} {`);
          for (const o of t) out.push(`    ${stmt(o, who(o.p))}`);
          out.push('  }');
        });
        out.push('}');
        break;
      default:
        out.push(stmt(s as Op, who(s.p!)));
    }
  }
  if (!exitAll) return out;
  for (const p of alive) out.push(`${p}: exit`);
  out.push('expect meminfo.AnonPages == 0', 'expect vmstat.nr_anon_transparent_hugepages == 0');
  return out;
}
