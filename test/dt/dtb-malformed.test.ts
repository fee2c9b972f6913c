import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { readDtb } from '../../src/dt/fdt-read.js';
import { emitDts } from '../../src/dt/emit-dts.js';
import { treeToJson } from '../../src/dt/json.js';
import { BAD_BLOBS, REAL_DTBS, SMALL_DTS, dtc } from './fixtures/out/helpers.js';

const small = new Uint8Array(dtc(['-I', 'dts', '-O', 'dtb', '-'], SMALL_DTS));

describe('malformed blobs: one InputError each, located at a byte offset', () => {
  test('the undamaged small blob reads', () => {
    const t = readDtb(small, 'small.dtb');
    expect(t.memreserve).toEqual([{ address: 0x1000n, size: 0x2000n, labels: [] }]);
    expect(emitDts(t)).toBe(dtc(['-I', 'dtb', '-O', 'dts', '-'], small).toString('latin1'));
  });

  test.each(BAD_BLOBS.map((b) => [b.name, b] as const))('%s', (_name, bad) => {
    let err: unknown;
    try {
      readDtb(bad.make(small), 'bad.dtb');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const line = (err as InputError).format();
    expect(line).toMatch(/^bad\.dtb: offset 0x[0-9a-f]+: error: /);
    expect(line).toContain(bad.message);
    expect(line).not.toContain('\n');
  });
});

/** xorshift32: a seeded PRNG for the mutations (fast-check drives the seeds). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const BOUNDARY = [0, 1, 2, 3, 4, 7, 8, 9, 0x10, 0x28, 0x38, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];

function mutate(good: Uint8Array, seed: number): Uint8Array {
  const r = rng(seed);
  const b = Uint8Array.from(good);
  const dv = new DataView(b.buffer);
  const edits = 1 + (r() % 4);
  let out: Uint8Array = b;
  for (let k = 0; k < edits; k++) {
    switch (r() % 6) {
      case 0: // flip a byte anywhere
        if (out.length > 0) {
          const i = r() % out.length;
          out[i] = out[i]! ^ (1 + (r() % 255));
        }
        break;
      case 1: // a header word to a boundary value
        if (out === b) dv.setUint32(4 * (1 + (r() % 9)), BOUNDARY[r() % BOUNDARY.length]!);
        break;
      case 2: // a token-aligned word in the structure block to a token or boundary value
        if (out === b) {
          const off = ((dv.getUint32(8) + 4 * (r() % 64)) & ~3) >>> 0;
          if (off + 4 <= b.length) dv.setUint32(off, r() % 2 ? 1 + (r() % 10) : BOUNDARY[r() % BOUNDARY.length]!);
        }
        break;
      case 3: // truncate
        out = out.subarray(0, r() % out.length);
        break;
      case 4: // a random word anywhere
        if (out === b && b.length >= 4) dv.setUint32((r() % (b.length - 3)) & ~3, r());
        break;
      default: // shrink totalsize a little
        if (out === b) dv.setUint32(4, Math.max(0, dv.getUint32(4) - (r() % 64)));
    }
  }
  return out;
}

describe('fuzz: mutated valid blobs give a tree or an InputError, nothing else', () => {
  const seeds = [small, ...REAL_DTBS.slice(0, 2).map((f) => new Uint8Array(readFileSync(f)))];
  test('1200 mutations (seeded)', () => {
    let ok = 0;
    let bad = 0;
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.integer({ min: 1, max: 0x7fffffff }), (which, seed) => {
        const blob = mutate(seeds[which]!, seed);
        let tree;
        try {
          tree = readDtb(blob, 'fuzz.dtb');
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          expect(e.format()).toMatch(/^fuzz\.dtb: offset 0x[0-9a-f]+: error: [^\n]+$/);
          bad++;
          return;
        }
        emitDts(tree);
        treeToJson(tree);
        ok++;
      }),
      { numRuns: 1200, seed: 4242 },
    );
    expect(ok + bad).toBe(1200);
    expect(bad).toBeGreaterThan(100);
  });
});

/** Lays out a v17 blob from a structure block and a strings block (rsvmap empty). */
function layBlob(struct: Uint8Array, strings: Uint8Array): Uint8Array {
  const offRsv = 40;
  const offStruct = offRsv + 16;
  const offStrings = offStruct + struct.length;
  const total = offStrings + strings.length;
  const b = new Uint8Array(total);
  const dv = new DataView(b.buffer);
  [0xd00dfeed, total, offStruct, offStrings, offRsv, 17, 16, 0, strings.length, struct.length].forEach((v, i) =>
    dv.setUint32(4 * i, v),
  );
  b.set(struct, offStruct);
  b.set(strings, offStrings);
  return b;
}

describe('bounded work on hostile blobs', () => {
  test('100k properties naming distinct offsets inside one 1 MB string', () => {
    const n = 100_000;
    const strings = new Uint8Array(1 << 20).fill(0x61);
    strings[strings.length - 1] = 0;
    const struct = new Uint8Array(8 + n * 12 + 8);
    const dv = new DataView(struct.buffer);
    dv.setUint32(0, 1); // FDT_BEGIN_NODE "" (padded)
    for (let i = 0; i < n; i++) {
      dv.setUint32(8 + i * 12, 3); // FDT_PROP, len 0
      dv.setUint32(8 + i * 12 + 8, (i * 7) % (strings.length - 1));
    }
    dv.setUint32(8 + n * 12, 2);
    dv.setUint32(8 + n * 12 + 4, 9);
    // All distinct suffixes of one string: read in time linear in the blob, not in names × length.
    const tree = readDtb(layBlob(struct, strings), 'hostile.dtb');
    expect(tree.root.properties).toHaveLength(n);
    expect(tree.root.properties[1]!.name).toHaveLength(strings.length - 1 - 7);
  });

  test('a node name of 1 MB without a NUL, and 100k nested nodes', () => {
    const long = new Uint8Array(4 + (1 << 20)).fill(0x61);
    new DataView(long.buffer).setUint32(0, 1);
    expect(() => readDtb(layBlob(long, new Uint8Array(1)), 'long.dtb')).toThrow(/unterminated node name/);
    const deep = new Uint8Array(100_000 * 8);
    const dv = new DataView(deep.buffer);
    for (let i = 0; i < 100_000; i++) {
      dv.setUint32(i * 8, 1);
      dv.setUint32(i * 8 + 4, i === 0 ? 0 : 0x61000000); // the root unnamed, then "a"
    }
    expect(() => readDtb(layBlob(deep, new Uint8Array(1)), 'deep.dtb')).toThrow(/nested more than 512 levels/);
  });
});
