/** DtTree → Platform, read the way drivers/of/fdt.c reads the flattened tree (v6.5). */
import { compileDts } from '../../src/dt/dts.js';
import { platformFromTree } from '../../src/platform/from-dt.js';

const plat = (src: string, memreserve = ''): ReturnType<typeof platformFromTree> =>
  platformFromTree(compileDts(`/dts-v1/;\n${memreserve}\n/ {\n${src}\n};\n`, { file: 't.dts' }));

describe('root and memory nodes', () => {
  test('missing #address-cells/#size-cells default to 1/1 (OF_ROOT_NODE_*_CELLS_DEFAULT)', () => {
    const p = plat('memory@80000000 { device_type = "memory"; reg = <0x80000000 0x10000000>; };');
    expect([p.addressCells, p.sizeCells]).toEqual([1, 1]);
    expect(p.banks).toEqual([
      { base: 0x80000000, size: 0x10000000, nid: 0, node: '/memory@80000000', hotpluggable: false },
    ]);
  });

  test('several reg entries, linux,usable-memory first, trailing partial entry and size 0 dropped', () => {
    const p = plat(`#address-cells = <2>; #size-cells = <2>;
      memory@0 { device_type = "memory"; reg = <0 0x80000000 0 0x1000000>, <8 0x80000000 0 0x2000000>, <0 0 0 0>, <0 1>; };
      memory@1 { device_type = "memory"; reg = <0 0xc0000000 0 0x1000000>; linux,usable-memory = <0 0xc0000000 0 0x800000>; };`);
    expect(p.banks.map((b) => [b.base, b.size])).toEqual([
      [0x80000000, 0x1000000],
      [0x880000000, 0x2000000],
      [0xc0000000, 0x800000],
    ]);
  });

  test('only depth-1 available nodes with device_type "memory" count', () => {
    const p = plat(`#address-cells = <1>; #size-cells = <1>;
      memory@10 { device_type = "memory"; status = "disabled"; reg = <0x10000000 0x1000000>; };
      memory@20 { device_type = "memory"; status = "okay"; reg = <0x20000000 0x1000000>; };
      memory@30 { reg = <0x30000000 0x1000000>; };
      soc { memory@40 { device_type = "memory"; reg = <0x40000000 0x1000000>; }; };`);
    expect(p.banks.map((b) => b.base)).toEqual([0x20000000]);
  });

  test('numa-node-id and hotpluggable', () => {
    const p = plat(`memory@0 { device_type = "memory"; reg = <0x0 0x1000>; numa-node-id = <1>; hotpluggable; };`);
    expect(p.numa).toBe(true);
    expect(p.banks[0]).toMatchObject({ nid: 1, hotpluggable: true });
  });
});

describe('memreserve, chosen, model, cpus', () => {
  test('/memreserve/ entries stop at the first of size 0', () => {
    const p = plat('', '/memreserve/ 0x80000000 0x10000;\n/memreserve/ 0x90000000 0;\n/memreserve/ 0xa0000000 0x1000;');
    expect(p.memreserve).toEqual([{ base: 0x80000000, size: 0x10000 }]);
  });

  test('bootargs, model, compatible fallback, cpus', () => {
    const p = plat(`compatible = "vendor,board", "vendor,soc";
      chosen { bootargs = "console=ttyAMA0 arm64.nomte"; };
      cpus { #address-cells = <1>; #size-cells = <0>;
        cpu@0 { device_type = "cpu"; reg = <0>; }; cpu@1 { device_type = "cpu"; reg = <1>; };
        cpu@2 { device_type = "cpu"; reg = <2>; status = "disabled"; }; idle-states { }; };`);
    expect(p.model).toBe('vendor,board');
    expect(p.bootargs).toBe('console=ttyAMA0 arm64.nomte');
    expect(p.hasChosen).toBe(true);
    expect(p.cpus).toBe(2);
    expect(p.cpuNodes).toEqual([0, 0]);
    const q = plat(`cpus { #address-cells = <1>; #size-cells = <0>;
      cpu@0 { device_type = "cpu"; reg = <0>; numa-node-id = <1>; }; cpu@1 { device_type = "cpu"; reg = <1>; }; };`);
    expect(q.cpuNodes).toEqual([1, 0]);
    expect(plat('model = "M";').model).toBe('M');
    expect(plat('model = "M";').hasChosen).toBe(false);
  });
});

describe('/reserved-memory', () => {
  test('static, dynamic, flags; root cells are used for the children', () => {
    const p = plat(`#address-cells = <2>; #size-cells = <2>;
      reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
        a@90000000 { reg = <0 0x90000000 0 0x100000>; no-map; };
        b { compatible = "shared-dma-pool"; reusable; size = <0 0x2000000>; alignment = <0 0x400000>;
            alloc-ranges = <0 0x80000000 0 0x40000000>; linux,cma-default; };
        c { size = <0x1000>; };
        off@1 { status = "disabled"; reg = <0 1 0 1>; };
      };`);
    expect(p.reservedMemoryUnsupported).toBe(false);
    expect(p.reservedMemory.map((r) => r.name)).toEqual(['a@90000000', 'b', 'c']);
    const [a, b, c] = p.reservedMemory;
    expect(a).toMatchObject({ reg: [{ base: 0x90000000, size: 0x100000 }], noMap: true, reusable: false });
    expect(b).toMatchObject({
      size: 0x2000000,
      alignment: 0x400000,
      allocRanges: [{ base: 0x80000000, size: 0x40000000 }],
      reusable: true,
      cmaDefault: true,
      compatible: ['shared-dma-pool'],
    });
    expect(c!.size).toBeNaN(); // wrong length for 2 size cells: the kernel rejects it
  });

  test('cells differing from the root, or no ranges: unsupported node format', () => {
    const p = plat(`#address-cells = <2>; #size-cells = <2>;
      reserved-memory { #address-cells = <1>; #size-cells = <1>; ranges; x@0 { reg = <0 0x1000>; }; };`);
    expect(p.reservedMemoryUnsupported).toBe(true);
    expect(p.reservedMemory).toEqual([]);
    const q = plat(`#address-cells = <2>; #size-cells = <2>;
      reserved-memory { #address-cells = <2>; #size-cells = <2>; x@0 { reg = <0 0 0 0x1000>; }; };`);
    expect(q.reservedMemoryUnsupported).toBe(true);
  });

  test('a reg of the wrong length is flagged', () => {
    const p = plat(`#address-cells = <2>; #size-cells = <2>;
      reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges; x@0 { reg = <0 0 0x1000>; }; };`);
    expect(p.reservedMemory[0]!.badReg).toBe(true);
  });
});

describe('dma-ranges', () => {
  test('the lowest last CPU address of any dma-ranges', () => {
    const p = plat(`#address-cells = <2>; #size-cells = <2>;
      soc { #address-cells = <2>; #size-cells = <2>; ranges; dma-ranges = <0 0 0 0 0 0x40000000>;
        bus { #address-cells = <1>; #size-cells = <1>; ranges; dma-ranges = <0 0 0 0x80000000 0x80000000>; }; };`);
    expect(p.dmaMaxCpuAddress).toBe(0x3fffffff);
    expect(plat('').dmaMaxCpuAddress).toBeUndefined();
  });
});

test('the platform is frozen', () => {
  const p = plat('memory@0 { device_type = "memory"; reg = <0x0 0x1000>; };');
  expect(Object.isFrozen(p)).toBe(true);
  expect(Object.isFrozen(p.banks)).toBe(true);
});
