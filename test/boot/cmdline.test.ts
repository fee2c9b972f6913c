import { memparse, parseCmdline, unknownParamsLine } from '../../src/boot/cmdline.js';

describe('parseCmdline', () => {
  test('words, values, quotes', () => {
    const c = parseCmdline('  console=ttyAMA0,115200 quiet  dyndbg="file foo.c +p" "a b"=1 ');
    expect(c.params).toEqual([
      { name: 'console', value: 'ttyAMA0,115200' },
      { name: 'quiet' },
      { name: 'dyndbg', value: 'file foo.c +p' },
      // next_arg() keeps the closing quote of a quoted name: the kernel's own quirk.
      { name: 'a b"', value: '1' },
    ]);
  });

  test('arm64.nomte and its id_aa64pfr1.mte=0 alias', () => {
    expect(parseCmdline('arm64.nomte').nomte).toBe(true);
    expect(parseCmdline('id_aa64pfr1.mte=0').nomte).toBe(true);
    expect(parseCmdline('id_aa64pfr1.mte=1').nomte).toBe(false);
    expect(parseCmdline('-- arm64.nomte').nomte).toBe(false);
  });

  test('kasan: the last value wins', () => {
    expect(parseCmdline('kasan=on kasan=off').kasan).toBe('off');
    expect(parseCmdline('kasan=off kasan=on').kasan).toBe('on');
    expect(parseCmdline('').kasan).toBeUndefined();
  });

  test('mem= with memparse suffixes; every occurrence kept', () => {
    const c = parseCmdline('mem=512M mem=0x40000000');
    expect(c.memArgs).toEqual(['512M', '0x40000000']);
    expect(c.memLimit).toBe(0x40000000);
  });

  test('unknown: no dot, not a known parameter; argv words before envp pairs', () => {
    const c = parseCmdline('foo=1 root=/dev/vda bar nfs.x=2 baz -- init-arg');
    expect(c.unknown).toEqual(['bar', 'baz', 'foo=1']);
    expect(c.afterDashes).toEqual(['init-arg']);
    expect(unknownParamsLine(c)).toBe(
      'Unknown kernel command line parameters "bar baz foo=1", will be passed to user space.',
    );
    expect(unknownParamsLine(parseCmdline('quiet'))).toBeUndefined();
  });
});

test('swapaccount=: known, deprecated (v6.5 prints a warning once); a bare swapaccount is unknown', () => {
  const c = parseCmdline('swapaccount=1 swapaccount=0 swapaccount');
  expect(c.setupMessages).toEqual([
    {
      level: 'warning',
      text:
        'The swapaccount= commandline option is deprecated. Please report your usecase to linux-mm@kvack.org ' +
        'if you depend on this functionality.',
    },
  ]);
  expect(c.unknown).toEqual(['swapaccount']);
});

test('cma= forms', () => {
  expect(parseCmdline('cma=64M').cma).toEqual({ size: 64 * 2 ** 20, base: 0, limit: 0 });
  expect(parseCmdline('cma=16M@0x90000000').cma).toEqual({ size: 16 * 2 ** 20, base: 0x90000000, limit: 0x91000000 });
  expect(parseCmdline('cma=16M@1G-3G').cma).toEqual({ size: 16 * 2 ** 20, base: 2 ** 30, limit: 3 * 2 ** 30 });
});

test('memparse', () => {
  expect(memparse('4096')).toBe(4096);
  expect(memparse('4k')).toBe(4096);
  expect(memparse('2G')).toBe(2 * 2 ** 30);
  expect(memparse('0x10M')).toBe(16 * 2 ** 20);
  expect(memparse('010')).toBe(8);
  expect(memparse('1T')).toBe(2 ** 40);
  expect(memparse('junk')).toBeUndefined();
});
