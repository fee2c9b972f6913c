/**
 * Device tree throughput: compile a generated ~1 MB DTS (target: under 1 s), then read and write
 * the resulting blob, and print it back as DTS. The source is generated deterministically: a
 * board with many buses and devices using every common value form (strings, string lists, cells,
 * references, byte strings, /bits/ 64), plus C preprocessor macros as kernel files use them.
 */
import { performance } from 'node:perf_hooks';
import type { Bench, BenchResult } from './index.js';
import { compileDts } from '../src/dt/dts.js';
import { writeDtb } from '../src/dt/fdt-write.js';
import { readDtb } from '../src/dt/fdt-read.js';
import { emitDts } from '../src/dt/emit-dts.js';

/** A deterministic DTS of at least `bytes` bytes. */
export function generateDts(bytes: number): string {
  const out: string[] = [
    '/dts-v1/;\n\n#define IRQ_TYPE_LEVEL_HIGH 4\n#define GIC_SPI 0\n\n/memreserve/ 0x80000000 0x10000;\n\n',
    '/ {\n\tmodel = "mte-sim bench board";\n\tcompatible = "mte-sim,bench", "arm,vexpress";\n',
    '\t#address-cells = <2>;\n\t#size-cells = <2>;\n\tinterrupt-parent = <&gic>;\n\n',
    '\tgic: interrupt-controller@2f000000 {\n\t\tcompatible = "arm,gic-v3";\n\t\t#interrupt-cells = <3>;\n',
    '\t\tinterrupt-controller;\n\t\treg = <0x0 0x2f000000 0 0x10000>;\n\t};\n\n',
    '\tclk: clock {\n\t\tcompatible = "fixed-clock";\n\t\t#clock-cells = <0>;\n\t\tclock-frequency = <24000000>;\n\t};\n',
  ];
  let size = out.reduce((n, s) => n + s.length, 0);
  let x = 0x12345678;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  for (let bus = 0; size < bytes; bus++) {
    const base = 0x10000000 + bus * 0x100000;
    const lines: string[] = [
      `\n\tbus${bus}: bus@${base.toString(16)} {`,
      '\t\tcompatible = "simple-bus";',
      '\t\t#address-cells = <1>;',
      '\t\t#size-cells = <1>;',
      `\t\tranges = <0 0x0 0x${base.toString(16)} 0x100000>;`,
    ];
    for (let dev = 0; dev < 16; dev++) {
      const off = dev * 0x1000;
      const irq = (bus * 16 + dev) % 988;
      lines.push(
        `\n\t\tdev${bus}_${dev}: serial@${off.toString(16)} {`,
        `\t\t\tcompatible = "arm,pl011", "arm,primecell";`,
        `\t\t\treg = <0x${off.toString(16)} 0x1000>;`,
        `\t\t\tinterrupts = <GIC_SPI ${irq} IRQ_TYPE_LEVEL_HIGH>;`,
        '\t\t\tclocks = <&clk>, <&clk>;',
        '\t\t\tclock-names = "uartclk", "apb_pclk";',
        `\t\t\tmac-address = [00 02 f7 ${(next() & 0xff).toString(16).padStart(2, '0')} 00 01];`,
        `\t\t\tmte-sim,cookie = /bits/ 64 <0x${next().toString(16)}${next().toString(16).padStart(8, '0')}>;`,
        `\t\t\tstatus = "${next() % 4 === 0 ? 'disabled' : 'okay'}";`,
        '\t\t};',
      );
    }
    lines.push('\t};\n');
    const text = lines.join('\n');
    out.push(text);
    size += text.length;
  }
  out.push('};\n');
  return out.join('');
}

const mb = (n: number): string => (n / 1e6).toFixed(2);

/** Runs `fn` `reps` times and returns the best time in ms (the first run warms the JIT). */
function best(reps: number, fn: () => void): number {
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    fn();
    t = Math.min(t, performance.now() - s);
  }
  return t;
}

const bench: Bench = () => {
  const src = generateDts(1 << 20);
  const len = Buffer.byteLength(src, 'latin1');
  let tree = compileDts(src, { file: 'bench.dts' });
  const tCompile = best(3, () => {
    tree = compileDts(src, { file: 'bench.dts' });
  });
  let blob = writeDtb(tree);
  const tWrite = best(5, () => {
    blob = writeDtb(tree);
  });
  const tRead = best(5, () => readDtb(blob, 'bench.dtb'));
  const tEmit = best(3, () => emitDts(tree));
  const rate = (bytes: number, ms: number): string =>
    `${mb(bytes / (ms / 1000))} MB/s (${mb(bytes)} MB in ${ms.toFixed(0)} ms)`;
  const results: BenchResult[] = [
    {
      name: 'dt: compile DTS (cpp + dtc), 1 MB source',
      rate: `${rate(len, tCompile)}${tCompile < 1000 ? '' : '  SLOWER THAN TARGET (1 s)'}`,
    },
    { name: 'dt: write DTB', rate: rate(blob.length, tWrite) },
    { name: 'dt: read DTB', rate: rate(blob.length, tRead) },
    { name: 'dt: emit DTS', rate: rate(len, tEmit) },
  ];
  return results;
};
export default bench;
