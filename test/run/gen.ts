/** Random scenario generator shared by the property tests (fast-check arbitraries and a renderer). */
import fc from 'fast-check';

export const PROTS = ['none', 'r', 'rw', 'r+mte', 'rw+mte'];

/** One random statement for process p over its VMAs v0..v2 (sizes 4..32 pages). */
export const raceStmt = fc.oneof(
  fc.record({
    k: fc.constant('touch'),
    v: fc.nat(2),
    a: fc.nat(31),
    n: fc.integer({ min: 1, max: 32 }),
    w: fc.boolean(),
  }),
  fc.record({
    k: fc.constant('mprotect'),
    v: fc.nat(2),
    a: fc.nat(31),
    n: fc.integer({ min: 1, max: 32 }),
    p: fc.constantFrom(...PROTS),
  }),
  fc.record({
    k: fc.constant('settag'),
    v: fc.nat(2),
    a: fc.nat(31),
    n: fc.integer({ min: 1, max: 4 }),
    t: fc.nat(15),
  }),
  fc.record({
    k: fc.constant('access'),
    v: fc.nat(2),
    a: fc.nat(31),
    n: fc.integer({ min: 1, max: 4 }),
    t: fc.nat(15),
  }),
);
export const stmt = fc.oneof(raceStmt, fc.record({ k: fc.constant('remap'), v: fc.nat(2) }));

export type S = { k: string; v: number; a?: number; n?: number; w?: boolean; p?: string; t?: number };

export function render(sizes: number[], prots: string[], body: S[], race: S[][] | null): string {
  const lines = ['process a'];
  sizes.forEach((s, i) => lines.push(`a: mmap v${i} ${s * 4}K prot=${prots[i]}`));
  const line = (s: S): string[] => {
    const size = sizes[s.v]!;
    const a = Math.min(s.a ?? 0, size - 1);
    const b = Math.min(a + (s.n ?? 1), size);
    const r = `${a * 4}K..${b * 4}K`;
    switch (s.k) {
      case 'touch':
        return [`a: touch v${s.v} ${r} ${s.w ? 'write' : 'read'}`];
      case 'mprotect':
        return [`a: mprotect v${s.v} prot=${s.p} ${r}`];
      case 'settag':
        return [`a: settag v${s.v} ${r} ${s.t}`];
      case 'access':
        return [`a: access v${s.v} ${r} tag=${s.t}`];
      default:
        return [`a: munmap v${s.v}`, `a: mmap v${s.v} ${size * 4}K prot=rw+mte`];
    }
  };
  for (const s of body) lines.push(...line(s));
  if (race !== null) {
    lines.push('race {');
    race.forEach((t, i) => {
      lines.push(`  thread T${i} {`);
      for (const s of t) lines.push(...line(s).map((l) => `    ${l}`));
      lines.push('  }');
    });
    lines.push('}');
  }
  lines.push('a: exit');
  return lines.join('\n') + '\n';
}
