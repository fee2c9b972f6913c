/**
 * Fuzz: valid DTS texts (small hand-written ones using every construct, and the kernel FVP tree) are
 * mutated at random; compiling the result either succeeds or throws our InputError — never another
 * exception, never a hang.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { compileDts } from '../../src/dt/dts.js';
import { writeDtb } from '../../src/dt/fdt-write.js';
import { InputError } from '../../src/errors.js';

const ROOT = path.resolve(import.meta.dirname, '../../../shared/dts-real');
const FVP = path.join(ROOT, 'arch/arm64/boot/dts/arm/fvp-base-revc.dts');
const realFile = (p: string): string => readFileSync(p, 'latin1');

const SMALL: string[] = [
  `/dts-v1/;
/memreserve/ 0x1000 0x2000;
lr: /memreserve/ (1 << 20) ('a' * 2);
/ {
	#address-cells = <2>;
	model = "fuzz", "list\\n\\x41\\101";
	cells = <1 2 (3 + 4 * 5) (-1) (~0 >> 60) ((1 ? 2 : 3) == 2) 'x'>;
	b8 = /bits/ 8 <0xff 'z' lb: 3>;
	b64 = /bits/ 64 <0x123456789abcdef0>;
	bytes = [00 01 lbs: 0203];
	pathref = &n0, &{/n1};
	L0: n0 { phandle = <&L0>; v = <&L1 &{/n0}>; };
	L1: n1 { empty; /omit-if-no-ref/ gone { }; };
	/omit-if-no-ref/ L2: unused { };
};
&L1 { extra = "yes"; sub@1 { reg = <1>; }; };
&{/n0} { more; };
/ { /delete-property/ b64; };
/delete-node/ &L2;
`,
  `/dts-v1/;
#include "defs.h"
#define CELLS(a, b) <(a) (b)>
#define STR(x) #x
#define CAT(a, b) a##b
/ {
	a = CELLS(ONE, TWO + 1);
	s = STR(hello world);
#if defined(ONE) && TWO > 1
	yes;
#else
	no;
#endif
	CAT(n, 1) { x = <CAT(0x, 10)>; };
};
`,
  `/dts-v1/;
/plugin/;
&target { status = "okay"; frag = <&target &other>; };
&{/soc} { added { }; };
`,
  `/dts-v1/;
/ { a { b { c { d = <1>; }; }; }; x: y { z = <&x>; }; };
/ { a { /delete-node/ b; }; };
x2: &x { q = [aa bb cc]; };
`,
];
const FILES: Record<string, string> = {
  'defs.h': '#ifndef DEFS\n#define DEFS\n#define ONE 1\n#define TWO (ONE + 1)\n#endif\n',
};
const memFile = (p: string): string => {
  const f = FILES[path.basename(p)];
  if (f === undefined) throw new Error(`ENOENT ${p}`);
  return f;
};

const PIECES = [
  '{',
  '}',
  ';',
  '"',
  "'",
  '/*',
  '*/',
  '//',
  '\n',
  '\\',
  '&',
  '&{/',
  '<',
  '>',
  '[',
  ']',
  '(',
  ')',
  ':',
  '=',
  ',',
  '@',
  '/bits/ 8',
  '/bits/ 64',
  '/delete-node/',
  '/delete-property/',
  '/omit-if-no-ref/',
  '/memreserve/',
  '/dts-v1/;',
  '/plugin/;',
  '/include/ "x"',
  '#include "defs.h"',
  '#include "fuzz.dts"',
  '#define X(a) a a',
  '#define Y Y Y',
  '#if',
  '#else',
  '#endif',
  '#undef ONE',
  'X(',
  'X(X(X(',
  '##',
  '#',
  'label:',
  '&label',
  '0x',
  '09',
  "'\\x'",
  '/ {',
  '1/0',
  '%0',
  '?',
  '\u00e9',
  '\u0000',
  '\u00ff',
  'ONE',
  'CAT(',
  'STR(',
];

type Mutation =
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'dup'; at: number; len: number; to: number }
  | { kind: 'byte'; at: number; code: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...PIECES) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 80 }), to: fc.nat() }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), code: fc.integer({ min: 0, max: 255 }) }),
);

function apply(text: string, m: Mutation): string {
  const at = text.length ? m.at % (text.length + 1) : 0;
  switch (m.kind) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'dup': {
      const piece = text.slice(at, at + m.len);
      const to = m.to % (text.length + 1);
      return text.slice(0, to) + piece + text.slice(to);
    }
    case 'byte':
      return text.slice(0, at) + String.fromCharCode(m.code) + text.slice(at + 1);
  }
}

test('mutated DTS sources give success or InputError, nothing else (≥ 1,000 cases)', () => {
  const fvp = realFile(FVP);
  let errors = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 19 }),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (pick, muts, preprocess) => {
        const useFvp = pick === 0;
        const base = useFvp ? fvp : SMALL[pick % SMALL.length]!;
        const text = muts.reduce(apply, base);
        const opts = useFvp
          ? {
              file: FVP,
              includeDirs: [path.join(ROOT, 'include')],
              readFile: realFile,
              defines: ['__DTS__'],
              preprocess,
            }
          : { file: 'fuzz.dts', readFile: memFile, defines: ['__DTS__'], preprocess };
        runs++;
        try {
          writeDtb(compileDts(text, opts));
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          expect(e.format()).toMatch(/^\S.*: error: \S/);
          expect(e.format()).not.toContain('\n');
          errors++;
        }
      },
    ),
    { numRuns: 1200, seed: 0xf022, endOnFailure: true },
  );
  expect(runs).toBe(1200);
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  expect(errors).toBeGreaterThan(100);
  expect(errors).toBeLessThan(1200);
});

test('mutated DTS sources (no preprocessing): the same verdict and bytes as dtc (300 cases)', () => {
  const noCpp = [SMALL[0]!, SMALL[2]!, SMALL[3]!];
  let accepted = 0;
  fc.assert(
    fc.property(fc.nat({ max: 2 }), fc.array(mutation, { minLength: 1, maxLength: 2 }), (pick, muts) => {
      const text = muts.reduce(apply, noCpp[pick]!);
      const r = spawnSync('dtc', ['-q', '-I', 'dts', '-O', 'dtb', '-'], { input: Buffer.from(text, 'latin1') });
      if (r.signal) return; // dtc itself crashed: nothing to compare
      let ours: Buffer | undefined;
      try {
        ours = Buffer.from(writeDtb(compileDts(text, { file: '<stdin>', preprocess: false, readFile: memFile })));
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
      }
      if (r.status === 0) {
        accepted++;
        expect(ours?.toString('hex')).toBe(r.stdout.toString('hex'));
      } else expect(ours).toBeUndefined();
    }),
    { numRuns: 300, seed: 0xd7c, endOnFailure: true },
  );
  expect(accepted).toBeGreaterThan(0);
});

test('mutated macro-using sources: the same verdict and bytes as cpp | dtc (150 cases)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-fuzz-'));
  try {
    writeFileSync(path.join(dir, 'defs.h'), FILES['defs.h']!);
    const file = path.join(dir, 'fuzz.dts');
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (muts) => {
        const text = muts.reduce(apply, SMALL[1]!);
        writeFileSync(file, text, 'latin1');
        const r = spawnSync(
          'sh',
          [
            '-c',
            'cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp fuzz.dts 2>/dev/null >out.pp && dtc -q -I dts -O dtb out.pp',
          ],
          { cwd: dir },
        );
        if (r.signal) return;
        let ours: Buffer | undefined;
        try {
          ours = Buffer.from(writeDtb(compileDts(text, { file })));
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
        // A cpp error (even one after which GCC still writes output) counts as a rejection.
        if (r.status === 0) expect(ours?.toString('hex')).toBe(r.stdout.toString('hex'));
        else expect(ours).toBeUndefined();
      }),
      { numRuns: 150, seed: 0xcafe, endOnFailure: true },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
