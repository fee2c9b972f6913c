/** Every form of SPEC §6 parses to the AST the interpreter expects, with positions on the parts. */
import type { Scenario, Stmt } from '../../src/scenario/ast.js';
import { InputError } from '../../src/errors.js';
import { parseScenario, revalidateForPageSize } from '../../src/scenario/parser.js';

/** The AST without positions (and without expression texts), for compact comparisons. */
function strip<T>(v: T): unknown {
  return JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'pos' || k === 'whatPos' ? undefined : x)));
}

const P = 'process p\np: mmap v 1M\n';

function body(text: string): unknown[] {
  return (strip(parseScenario(text, 't.scn')) as Scenario).body as unknown[];
}

/** The last statement of a file that starts with process p and its 1 MiB VMA v. */
function last(text: string): unknown {
  const b = body(P + text);
  return b[b.length - 1];
}

describe('header: boot and config', () => {
  test('boot PATH, as written and with quotes', () => {
    const s = parseScenario('boot ../dts/fvp-base-revc-mte.dts # default\n', 'x/t.scn');
    expect(s.boot).toEqual({ value: '../dts/fvp-base-revc-mte.dts', pos: { file: 'x/t.scn', line: 1, col: 6 } });
    expect(parseScenario('boot "my board.dtb"', 't.scn').boot?.value).toBe('my board.dtb');
  });

  test('every config key with its typed value', () => {
    const s = parseScenario(
      'config swap=1G min_free_kbytes=8192 page_size=16K kernel_image=32M\n' +
        'config cmdline="console=ttyAMA0 kasan=on" fix.metadata_none=off fix.pfn_tags=on seed=0x2a\n',
      't.scn',
    );
    expect(strip(s.config)).toEqual({
      swap: { value: 2 ** 30 },
      min_free_kbytes: { value: 8192 },
      page_size: { value: 16384 },
      kernel_image: { value: 32 * 2 ** 20 },
      cmdline: { value: 'console=ttyAMA0 kasan=on' },
      'fix.metadata_none': { value: false },
      'fix.pfn_tags': { value: true },
      seed: { value: 42 },
    });
    expect(s.assumedPageSize).toBe(16384);
    expect(s.config.seed?.pos).toEqual({ file: 't.scn', line: 2, col: 86 });
  });

  test('cmdline may be a bare word; swap may be 0', () => {
    const s = parseScenario('config cmdline=arm64.nomte swap=0', 't.scn');
    expect(s.config.cmdline?.value).toBe('arm64.nomte');
    expect(s.config.swap?.value).toBe(0);
    expect(parseScenario('config cmdline=""', 't.scn').config.cmdline?.value).toBe('');
  });

  test('no header: defaults', () => {
    const s = parseScenario('compact\n', 't.scn');
    expect(s.boot).toBeUndefined();
    expect(s.config).toEqual({});
    expect(s.assumedPageSize).toBe(4096);
  });
});

describe('process statements', () => {
  test('process and mmap with defaults and every option', () => {
    const b = body('process p\np: mmap a 4K\np: mmap b 2M prot=rw+mte shared thp\np: mmap c 0x3000 prot=none\n');
    expect(b).toEqual([
      { kind: 'process', name: { name: 'p' } },
      {
        kind: 'mmap',
        proc: { name: 'p' },
        vma: { name: 'a' },
        size: { value: 4096 },
        prot: { read: true, write: true, mte: false, text: 'rw' },
        shared: false,
        thp: false,
      },
      {
        kind: 'mmap',
        proc: { name: 'p' },
        vma: { name: 'b' },
        size: { value: 2 ** 21 },
        prot: { read: true, write: true, mte: true, text: 'rw+mte' },
        shared: true,
        thp: true,
      },
      {
        kind: 'mmap',
        proc: { name: 'p' },
        vma: { name: 'c' },
        size: { value: 0x3000 },
        prot: { read: false, write: false, mte: false, text: 'none' },
        shared: false,
        thp: false,
      },
    ]);
  });

  test('protections r and r+mte', () => {
    expect(last('p: mprotect v prot=r')).toMatchObject({ prot: { read: true, write: false, mte: false } });
    expect(last('p: mprotect v prot=r+mte 4K..8K')).toMatchObject({
      prot: { read: true, write: false, mte: true, text: 'r+mte' },
      range: { start: 4096, end: 8192, text: '4K..8K' },
    });
  });

  test('munmap, touch (write by default), settag, access, pageout', () => {
    expect(last('p: munmap v')).toEqual({ kind: 'munmap', proc: { name: 'p' }, vma: { name: 'v' } });
    expect(last('p: touch v')).toEqual({ kind: 'touch', proc: { name: 'p' }, vma: { name: 'v' }, write: true });
    expect(last('p: touch v 0..1 read')).toMatchObject({ range: { start: 0, end: 1 }, write: false });
    expect(last('p: touch v write')).toMatchObject({ write: true });
    expect(last('p: settag v 16..4K 0xf')).toMatchObject({
      kind: 'settag',
      range: { start: 16, end: 4096 },
      tag: { value: 15 },
    });
    expect(last('p: access v 100..101 tag=3')).toMatchObject({
      kind: 'access',
      range: { start: 100, end: 101 },
      tag: { value: 3 },
    });
    expect(last('p: pageout v')).toEqual({ kind: 'pageout', proc: { name: 'p' }, vma: { name: 'v' } });
    expect(last('p: pageout v 0..512K')).toMatchObject({ range: { start: 0, end: 512 * 1024 } });
  });

  test('migrate targets: zone, node, DT path, DT label', () => {
    expect(last('p: migrate v to=Normal')).toMatchObject({ target: { kind: 'zone', zone: 'Normal' } });
    expect(last('p: migrate v 0..4K to=dma32')).toMatchObject({
      range: { start: 0, end: 4096 },
      target: { kind: 'zone', zone: 'DMA32' },
    });
    expect(last('p: migrate v to=node1')).toMatchObject({ target: { kind: 'node', node: 1 } });
    expect(last('p: migrate v to=/memory@880000000')).toMatchObject({
      target: { kind: 'dtPath', path: '/memory@880000000' },
    });
    expect(last('p: migrate v to=&memory1')).toMatchObject({ target: { kind: 'dtLabel', label: 'memory1' } });
    expect(last('p: migrate v to=memory1 # comment')).toMatchObject({ target: { kind: 'dtLabel', label: 'memory1' } });
  });

  test('fork gives the child the parent VMAs; exit', () => {
    const b = body(P + 'p: fork c\nc: touch v\nc: exit\n');
    expect(b.slice(2)).toEqual([
      { kind: 'fork', proc: { name: 'p' }, child: { name: 'c' } },
      { kind: 'touch', proc: { name: 'c' }, vma: { name: 'v' }, write: true },
      { kind: 'exit', proc: { name: 'c' } },
    ]);
  });

  test('munmap then mmap of the same name is allowed', () => {
    expect(last('p: munmap v\np: mmap v 8K\np: touch v 4K..8K')).toMatchObject({ kind: 'touch' });
  });

  test('positions point at each part', () => {
    const s = parseScenario(P + '  p: settag v 0..4K 3\n', 'f.scn');
    const st = s.body[2] as Extract<Stmt, { kind: 'settag' }>;
    expect(st.pos).toEqual({ file: 'f.scn', line: 3, col: 3 });
    expect(st.proc.pos.col).toBe(3);
    expect(st.vma.pos.col).toBe(13);
    expect(st.range.pos.col).toBe(15);
    expect(st.tag.pos.col).toBe(21);
  });

  test('a process may be named like a keyword', () => {
    expect(body('process compact\ncompact: mmap v 4K\ncompact\n')).toHaveLength(3);
  });
});

describe('global statements and blocks', () => {
  test('compact, pressure, show', () => {
    expect(body('compact\npressure 64M\nshow dmesg\nshow zoneinfo')).toEqual([
      { kind: 'compact' },
      { kind: 'pressure', size: { value: 64 * 2 ** 20 } },
      { kind: 'show', what: 'dmesg' },
      { kind: 'show', what: 'zoneinfo' },
    ]);
    for (const f of ['meminfo', 'vmstat', 'buddyinfo', 'pagetypeinfo', 'iomem']) {
      expect(body(`show ${f}`)).toEqual([{ kind: 'show', what: f }]);
    }
  });

  test('show tags NAME:VMA[:RANGE]', () => {
    expect(last('show tags p:v')).toEqual({ kind: 'show', what: 'tags', proc: { name: 'p' }, vma: { name: 'v' } });
    expect(last('show tags p:v:0..4K')).toMatchObject({ range: { start: 0, end: 4096 } });
  });

  test('repeat, nested, one statement per line or ; separated', () => {
    const b = body(P + 'repeat 3 {\n  p: touch v\n  repeat 2 { compact; pressure 4K }\n}\n');
    expect(b[2]).toEqual({
      kind: 'repeat',
      count: { value: 3 },
      body: [
        { kind: 'touch', proc: { name: 'p' }, vma: { name: 'v' }, write: true },
        {
          kind: 'repeat',
          count: { value: 2 },
          body: [{ kind: 'compact' }, { kind: 'pressure', size: { value: 4096 } }],
        },
      ],
    });
  });

  test('a repeat body that maps and unmaps is fine on every iteration', () => {
    expect(body(P + 'repeat 100 {\n p: mmap w 4K\n p: touch w\n p: munmap w\n}')).toHaveLength(3);
  });

  test('race on one line, as SPEC writes it', () => {
    expect(
      last('race { thread A { p: migrate v to=Normal } thread B { p: mprotect v prot=rw+mte; p: touch v } }'),
    ).toEqual({
      kind: 'race',
      threads: [
        {
          name: { name: 'A' },
          body: [
            { kind: 'migrate', proc: { name: 'p' }, vma: { name: 'v' }, target: { kind: 'zone', zone: 'Normal' } },
          ],
        },
        {
          name: { name: 'B' },
          body: [
            {
              kind: 'mprotect',
              proc: { name: 'p' },
              vma: { name: 'v' },
              prot: { read: true, write: true, mte: true, text: 'rw+mte' },
            },
            { kind: 'touch', proc: { name: 'p' }, vma: { name: 'v' }, write: true },
          ],
        },
      ],
    });
  });

  test('race spanning lines, three threads, compact and pressure inside', () => {
    const r = last(
      'race\n{\n  thread A {\n    p: touch v\n  }\n  thread B { compact }\n  thread C { pressure 1M }\n}',
    ) as {
      threads: unknown[];
    };
    expect(r.threads).toHaveLength(3);
  });

  test('a VMA mapped in a race thread exists after the race', () => {
    expect(last('race {\n thread A { p: mmap w 4K }\n thread B { compact }\n}\np: touch w')).toMatchObject({
      kind: 'touch',
    });
  });

  test('a child forked in a race thread exists after the race; an exit in a thread ends the process', () => {
    expect(last('race {\n thread A { p: fork c }\n thread B { p: touch v }\n}\nc: touch v')).toMatchObject({
      kind: 'touch',
      proc: { name: 'c' },
    });
    expect(() => body(P + 'race {\n thread A { p: exit }\n thread B { p: touch v }\n}\np: touch v')).toThrow(
      "process 'p' has exited (at t.scn:4:13)",
    );
  });

  test('blank lines, comments and ; separate statements', () => {
    expect(body('# only a comment\n\n  compact ; compact # two\n;\n')).toEqual([
      { kind: 'compact' },
      { kind: 'compact' },
    ]);
  });
});

describe('expect', () => {
  const e = (text: string): unknown => (last(`expect ${text}`) as { expr: unknown }).expr;

  test('counters of the four files', () => {
    expect(e('meminfo.MetadataFree > 0')).toEqual({
      kind: 'compare',
      op: '>',
      left: { kind: 'counter', file: 'meminfo', name: 'MetadataFree', text: 'meminfo.MetadataFree' },
      right: { kind: 'number', value: 0 },
    });
    expect(e('meminfo.Inactive(anon) >= 0')).toMatchObject({
      left: { name: 'Inactive(anon)', text: 'meminfo.Inactive(anon)' },
    });
    expect(e('vmstat.pgmigrate_success >= 10')).toMatchObject({ left: { file: 'vmstat', name: 'pgmigrate_success' } });
    expect(e('buddyinfo.Normal.10 == 0')).toMatchObject({
      left: { file: 'buddyinfo', zone: 'Normal', order: 10, name: '10' },
    });
    expect(e('zoneinfo.DMA.metadata != 0')).toMatchObject({
      left: { file: 'zoneinfo', zone: 'DMA', name: 'metadata' },
    });
  });

  test('arithmetic: precedence, parentheses, unary minus, sizes', () => {
    expect(e('1 + 2 * 3 == -(4 - 11)')).toEqual({
      kind: 'compare',
      op: '==',
      left: {
        kind: 'binary',
        op: '+',
        left: { kind: 'number', value: 1 },
        right: { kind: 'binary', op: '*', left: { kind: 'number', value: 2 }, right: { kind: 'number', value: 3 } },
      },
      right: {
        kind: 'negate',
        operand: { kind: 'binary', op: '-', left: { kind: 'number', value: 4 }, right: { kind: 'number', value: 11 } },
      },
    });
    expect(e('meminfo.MemFree * 1K / 4K < 1G')).toMatchObject({ right: { value: 2 ** 30 } });
  });

  test('all six comparison operators', () => {
    for (const op of ['==', '!=', '<', '<=', '>', '>=']) expect(e(`1 ${op} 2`)).toMatchObject({ op });
  });

  test('dmesg matches', () => {
    expect(e('dmesg ~ "MTE tag storage enabled"')).toEqual({
      kind: 'dmesg',
      negate: false,
      pattern: 'MTE tag storage enabled',
    });
    expect(e('dmesg !~ "say \\"hi\\""')).toEqual({ kind: 'dmesg', negate: true, pattern: 'say "hi"' });
  });

  test('mapping queries', () => {
    expect(e('p:v tagged')).toEqual({ kind: 'tagged', proc: { name: 'p' }, vma: { name: 'v' } });
    expect(e('p:v tag(0..4K) == 3')).toMatchObject({
      left: { kind: 'query', query: 'tag', range: { start: 0, end: 4096 } },
      right: { value: 3 },
    });
    expect(e('p:v resident(0..1M) == 256')).toMatchObject({ left: { query: 'resident' } });
    expect(e('p:v swapped == 0')).toEqual({
      kind: 'compare',
      op: '==',
      left: { kind: 'query', query: 'swapped', proc: { name: 'p' }, vma: { name: 'v' } },
      right: { kind: 'number', value: 0 },
    });
    expect(e('p:v resident + p:v swapped == 256')).toMatchObject({ left: { kind: 'binary' } });
  });

  test('the expression text is kept as written', () => {
    expect(last('expect  vmstat.pgfault>=1   # note')).toMatchObject({ text: 'vmstat.pgfault>=1' });
  });
});

describe('revalidateForPageSize', () => {
  const err = (text: string, ps: number): string => {
    try {
      revalidateForPageSize(parseScenario(text, 'r.scn'), ps);
    } catch (e) {
      return (e as InputError).format();
    }
    return 'ok';
  };

  test('the parse page size needs no second look; a larger one checks every size and range', () => {
    const text = 'config swap=64K\nprocess p\np: mmap v 64K\nrepeat 2 {\n p: pageout v 0..64K\n}\npressure 128K\n';
    expect(err(text, 4096)).toBe('ok');
    expect(err(text, 65536)).toBe('ok');
    expect(err('process p\np: mmap v 20K', 16384)).toBe(
      'r.scn:2:11: error: mmap size 20K is not a multiple of the page size (16K)',
    );
    expect(err('config swap=4K', 65536)).toBe(
      'r.scn:1:13: error: swap size 4K is not a multiple of the page size (64K)',
    );
    expect(err('pressure 4K', 16384)).toBe(
      'r.scn:1:10: error: pressure size 4K is not a multiple of the page size (16K)',
    );
    expect(
      err(
        'process p\np: mmap v 64K\nrace {\n thread A { p: migrate v 4K..16K to=DMA }\n thread B { compact }\n}',
        16384,
      ),
    ).toBe('r.scn:4:26: error: migrate range 4K..16K is not aligned to the page size (16K)');
  });
});
