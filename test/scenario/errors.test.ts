/**
 * Every kind of scenario error, with its exact message and location (issue #4, acceptance 6). Each case is a
 * small file and the one line `file:line:col: error: message` that InputError.format() prints for it.
 */
import { InputError } from '../../src/errors.js';
import { parseScenario } from '../../src/scenario/parser.js';

const P = 'process p\np: mmap v 1M\n'; // two lines of preamble: process p with a 1 MiB VMA v

function errorOf(text: string): string {
  try {
    parseScenario(text, 't.scn');
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
  return '(parsed)';
}

const cases: [string, string, string][] = [
  // ---- lexer
  ['unexpected character', 'compact @', "t.scn:1:9: error: unexpected character '@'"],
  ['control character', 'compact \u0001', 't.scn:1:9: error: unexpected character U+0001'],
  ['lone dot', 'compact .', "t.scn:1:9: error: unexpected '.'"],
  ['unterminated string', 'expect dmesg ~ "MTE', 't.scn:1:16: error: unterminated string'],
  ['string ends at newline', 'expect dmesg ~ "MTE\n"', 't.scn:1:16: error: unterminated string'],
  ['unknown escape', 'expect dmesg ~ "a\\qb"', "t.scn:1:18: error: unknown escape '\\q' in string"],
  ['control char in string', 'expect dmesg ~ "a\u0007"', 't.scn:1:18: error: control character U+0007 in string'],
  ['columns after a BOM', '\uFEFFcompact @', "t.scn:1:9: error: unexpected character '@'"],
  ['CRLF line ends', 'compact\r\ncompact @\r\n', "t.scn:2:9: error: unexpected character '@'"],

  // ---- numbers and sizes
  [
    'bad number',
    P + 'p: touch v 0..4Q',
    "t.scn:3:15: error: bad number '4Q' (expected bytes, 0x hex, or a K/M/G suffix)",
  ],
  ['hex without digits', 'pressure 0x', "t.scn:1:10: error: bad number '0x': no digits after 0x"],
  ['leading zero', 'pressure 0100', "t.scn:1:10: error: bad number '0100': leading zero (use decimal or 0x hex)"],
  [
    'overflow',
    'pressure 99999999999999999999',
    "t.scn:1:10: error: number '99999999999999999999' is too large (at most 2^53-1)",
  ],
  ['overflow by suffix', 'pressure 9000000T', "t.scn:1:10: error: number '9000000T' is too large (at most 2^53-1)"],
  [
    'size too large for a mapping',
    'process p\np: mmap v 512T',
    't.scn:2:11: error: mmap size 512T is too large (at most 256T)',
  ],
  ['zero mmap size', 'process p\np: mmap v 0', 't.scn:2:11: error: mmap size must not be zero'],
  [
    'mmap size not a page multiple',
    'process p\np: mmap v 6000',
    't.scn:2:11: error: mmap size 6000 is not a multiple of the page size (4K)',
  ],
  [
    'mmap size against config page_size',
    'config page_size=64K\nprocess p\np: mmap v 4K',
    't.scn:3:11: error: mmap size 4K is not a multiple of the page size (64K)',
  ],
  ['negative size', 'pressure -4K', 't.scn:1:10: error: pressure size must not be negative'],
  ['missing size', 'pressure', 't.scn:1:9: error: expected pressure size, found end of file'],
  ['zero pressure', 'pressure 0', 't.scn:1:10: error: pressure size must not be zero'],
  [
    'pressure not page multiple',
    'pressure 100',
    't.scn:1:10: error: pressure size 100 is not a multiple of the page size (4K)',
  ],

  // ---- boot and config
  ['missing boot path', 'boot\ncompact', 't.scn:1:1: error: missing device tree file after boot'],
  ['boot path then junk', 'boot a.dts b.dts', "t.scn:1:12: error: unexpected 'b.dts' after boot PATH"],
  ['duplicate boot', 'boot a.dts\nboot b.dts', "t.scn:2:1: error: duplicate 'boot' (first at t.scn:1:1)"],
  [
    'boot after statements',
    'compact\nboot a.dts',
    "t.scn:2:1: error: 'boot' must come before every other statement (the first is at t.scn:1:1)",
  ],
  [
    'config after statements',
    'process p\nconfig seed=1',
    "t.scn:2:1: error: 'config' must come before every other statement (the first is at t.scn:1:1)",
  ],
  [
    'config without pairs',
    'config',
    't.scn:1:1: error: config needs KEY=VALUE (keys: swap, min_free_kbytes, page_size, kernel_image, cmdline, fix.metadata_none, fix.pfn_tags, seed)',
  ],
  [
    'unknown config key',
    'config swap=1G colour=on',
    "t.scn:1:16: error: unknown config key 'colour' (known keys: swap, min_free_kbytes, page_size, kernel_image, cmdline, fix.metadata_none, fix.pfn_tags, seed)",
  ],
  ['config pair not a word', 'config 3=4', "t.scn:1:8: error: expected KEY=VALUE, found '3'"],
  ['config without =', 'config seed 3', "t.scn:1:13: error: expected '=' after 'seed', found '3'"],
  [
    'duplicate config key',
    'config seed=1\nconfig seed=2',
    "t.scn:2:8: error: duplicate config key 'seed' (first set at t.scn:1:8)",
  ],
  ['missing config value', 'config swap=', "t.scn:1:13: error: missing value for config key 'swap'"],
  ['empty boot path', 'boot ""', 't.scn:1:6: error: empty device tree file after boot'],
  ['missing cmdline value', 'config cmdline=', "t.scn:1:8: error: missing value for config key 'cmdline'"],
  [
    'fix switch not on/off',
    'config fix.pfn_tags=yes',
    "t.scn:1:21: error: fix.pfn_tags must be on or off, found 'yes'",
  ],
  ['bad page size', 'config page_size=8K', "t.scn:1:18: error: page_size must be 4K, 16K or 64K, found '8K'"],
  [
    'swap not a page multiple',
    'config swap=1000',
    't.scn:1:13: error: swap size 1000 is not a multiple of the page size (4K)',
  ],
  [
    'swap against a later page_size',
    'config swap=4K page_size=16K',
    't.scn:1:13: error: swap size 4K is not a multiple of the page size (16K)',
  ],
  ['zero kernel image', 'config kernel_image=0', 't.scn:1:21: error: kernel_image size must not be zero'],
  [
    'min_free_kbytes with suffix',
    'config min_free_kbytes=4K',
    "t.scn:1:24: error: value for config key 'min_free_kbytes' takes a plain number, not a size ('4K')",
  ],
  [
    'min_free_kbytes too large',
    'config min_free_kbytes=4294967296',
    't.scn:1:24: error: min_free_kbytes 4294967296 is too large (at most 2147483647)',
  ],
  ['negative seed', 'config seed=-1', "t.scn:1:13: error: value for config key 'seed' must not be negative"],

  // ---- statements and blocks
  [
    'unknown statement',
    'frobnicate',
    "t.scn:1:1: error: unknown statement 'frobnicate' (process statements are written 'NAME: command ...')",
  ],
  ['command without process', 'touch v', "t.scn:1:1: error: 'touch' needs a process: write 'NAME: touch ...'"],
  ['statement not a word', '42', "t.scn:1:1: error: expected a statement, found '42'"],
  ['stray }', 'compact\n}', "t.scn:2:1: error: unexpected '}' (no matching '{')"],
  ['unterminated repeat', 'repeat 2 {\n compact\n', "t.scn:1:10: error: unterminated '{' (missing '}')"],
  [
    'unterminated race',
    'process p\nrace {\n thread A { p: exit }\n',
    "t.scn:2:6: error: unterminated '{' (missing '}')",
  ],
  ['unterminated thread', P + 'race { thread A { p: touch v', "t.scn:3:17: error: unterminated '{' (missing '}')"],
  ['trailing junk', 'compact now', "t.scn:1:9: error: unexpected 'now' after compact"],
  ['process without name', 'process', 't.scn:1:8: error: expected process name, found end of file'],
  ['bad process name', 'process p.q', "t.scn:1:9: error: bad process name 'p.q' (letters, digits and '_' only)"],
  [
    'duplicate process',
    'process p\nprocess p',
    "t.scn:2:9: error: duplicate process name 'p' (first created at t.scn:1:9)",
  ],
  [
    'process before creation',
    'p: mmap v 4K\nprocess p',
    "t.scn:1:1: error: unknown process 'p' (create it first with 'process p')",
  ],
  ['process after exit', 'process p\np: exit\np: mmap v 4K', "t.scn:3:1: error: process 'p' has exited (at t.scn:2:1)"],
  ['misspelt command', 'process p\np: tuoch v', "t.scn:2:4: error: unknown command 'tuoch' (did you mean 'touch'?)"],
  ['misspelt statement', 'compcat', "t.scn:1:1: error: unknown statement 'compcat' (did you mean 'compact'?)"],
  [
    'misspelt show target',
    'show buddyifo',
    "t.scn:1:6: error: unknown show target 'buddyifo' (did you mean 'buddyinfo'? expected dmesg, meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, iomem or tags NAME:VMA[:RANGE])",
  ],
  [
    'misspelt config key',
    'config min_free_kbyte=1',
    "t.scn:1:8: error: unknown config key 'min_free_kbyte' (did you mean 'min_free_kbytes'? known keys: swap, min_free_kbytes, page_size, kernel_image, cmdline, fix.metadata_none, fix.pfn_tags, seed)",
  ],
  [
    'unknown command',
    'process p\np: frob v',
    "t.scn:2:4: error: unknown command 'frob' (expected mmap, munmap, mprotect, touch, settag, access, pageout, migrate, fork or exit)",
  ],
  [
    'missing command',
    'process p\np:',
    't.scn:2:3: error: expected a command, found end of file (expected mmap, munmap, mprotect, touch, settag, access, pageout, migrate, fork or exit)',
  ],
  [
    'VMA before mmap',
    'process p\np: touch v',
    "t.scn:2:10: error: unknown VMA 'v' in process 'p' (map it first with 'p: mmap v SIZE')",
  ],
  [
    'VMA after munmap',
    P + 'p: munmap v\np: touch v',
    "t.scn:4:10: error: VMA 'v' of process 'p' was unmapped at t.scn:3:1",
  ],
  [
    'duplicate VMA',
    P + 'p: mmap v 4K',
    "t.scn:3:9: error: duplicate VMA name 'v' in process 'p' (mapped at t.scn:2:9)",
  ],
  [
    'VMA of another process',
    P + 'process q\nq: touch v',
    "t.scn:4:10: error: unknown VMA 'v' in process 'q' (map it first with 'q: mmap v SIZE')",
  ],
  [
    'fork to an existing name',
    P + 'p: fork p',
    "t.scn:3:9: error: duplicate process name 'p' (first created at t.scn:1:9)",
  ],
  [
    'forked child misses later mmap',
    P + 'p: fork c\np: mmap w 4K\nc: touch w',
    "t.scn:5:10: error: unknown VMA 'w' in process 'c' (map it first with 'c: mmap w SIZE')",
  ],
  [
    'mmap: unknown option',
    'process p\np: mmap v 4K private',
    "t.scn:2:14: error: unexpected 'private' (mmap options: prot=..., shared, thp)",
  ],
  ['mmap: duplicate option', 'process p\np: mmap v 4K thp thp', "t.scn:2:18: error: duplicate option 'thp'"],
  ['mmap: duplicate prot', 'process p\np: mmap v 4K prot=r prot=rw', "t.scn:2:21: error: duplicate option 'prot'"],
  [
    'bad protection',
    'process p\np: mmap v 4K prot=rwx',
    "t.scn:2:19: error: bad protection 'rwx' (expected none, r, rw, r+mte or rw+mte)",
  ],
  [
    'bad protection suffix',
    'process p\np: mmap v 4K prot=rw+bti',
    "t.scn:2:22: error: bad protection 'bti' (expected none, r, rw, r+mte or rw+mte)",
  ],
  [
    'none+mte',
    'process p\np: mmap v 4K prot=none+mte',
    "t.scn:2:24: error: bad protection 'none+mte' (PROT_MTE needs read or write access)",
  ],
  [
    'missing protection',
    'process p\np: mmap v 4K prot=',
    't.scn:2:19: error: bad protection end of file (expected none, r, rw, r+mte or rw+mte)',
  ],
  ['mprotect without prot', P + 'p: mprotect v', 't.scn:3:14: error: mprotect needs prot=none|r|rw|r+mte|rw+mte'],
  [
    'mprotect unaligned range',
    P + 'p: mprotect v prot=rw+mte 0..100',
    't.scn:3:27: error: mprotect range 0..100 is not aligned to the page size (4K)',
  ],
  [
    'mprotect junk',
    P + 'p: mprotect v prot=r read',
    "t.scn:3:22: error: unexpected 'read' (mprotect takes prot=... and an optional RANGE)",
  ],
  [
    'touch junk',
    P + 'p: touch v sideways',
    "t.scn:3:12: error: unexpected 'sideways' (touch VMA [RANGE] [read|write])",
  ],
  ['range without ..', P + 'p: touch v 0 4K', "t.scn:3:14: error: expected '..' in range START..END, found '4K'"],
  ['empty range', P + 'p: touch v 8K..4K', 't.scn:3:12: error: empty range 8K..4K (start must be below end)'],
  ['zero-length range', P + 'p: touch v 4K..4K', 't.scn:3:12: error: empty range 4K..4K (start must be below end)'],
  ['negative range start', P + 'p: touch v -4K..4K', 't.scn:3:12: error: range start must not be negative'],
  [
    'range beyond the VMA',
    P + 'p: touch v 0..2M',
    "t.scn:3:12: error: range 0..2M goes beyond the end of VMA 'v' (size 1M)",
  ],
  [
    'settag without range',
    P + 'p: settag v 3',
    "t.scn:3:14: error: expected '..' in range START..END, found end of file",
  ],
  ['settag tag out of range', P + 'p: settag v 0..4K 16', 't.scn:3:19: error: tag 16 out of range 0..15'],
  [
    'settag tag with suffix',
    P + 'p: settag v 0..4K 1K',
    "t.scn:3:19: error: tag (0..15) takes a plain number, not a size ('1K')",
  ],
  ['settag negative tag', P + 'p: settag v 0..4K -1', 't.scn:3:19: error: tag (0..15) must not be negative'],
  [
    'settag unaligned',
    P + 'p: settag v 8..4K 3',
    't.scn:3:13: error: settag range 8..4K is not aligned to the 16-byte MTE granule',
  ],
  ['access without tag=', P + 'p: access v 0..16', 't.scn:3:18: error: expected tag=TAG, found end of file'],
  ['access tag out of range', P + 'p: access v 0..16 tag=0x10', 't.scn:3:23: error: tag 16 out of range 0..15'],
  [
    'pageout unaligned',
    P + 'p: pageout v 2K..8K',
    't.scn:3:14: error: pageout range 2K..8K is not aligned to the page size (4K)',
  ],
  ['migrate without to=', P + 'p: migrate v', 't.scn:3:13: error: expected to=TARGET, found end of file'],
  ['migrate empty target', P + 'p: migrate v to=', 't.scn:3:14: error: missing migration target after to='],
  [
    'migrate bad target',
    P + 'p: migrate v to=mem@1',
    "t.scn:3:17: error: bad migration target 'mem@1' (expected a zone DMA, DMA32, Normal or Movable, nodeN, a DT path /... or a DT label)",
  ],
  ['migrate node out of range', P + 'p: migrate v to=node1024', 't.scn:3:17: error: node 1024 out of range (0..1023)'],
  [
    'migrate unaligned',
    P + 'p: migrate v 0..6K to=Normal',
    't.scn:3:14: error: migrate range 0..6K is not aligned to the page size (4K)',
  ],
  ['fork without child', P + 'p: fork', 't.scn:3:8: error: expected child process name, found end of file'],
  ['exit with junk', P + 'p: exit now', "t.scn:3:9: error: unexpected 'now' after exit"],
  [
    'munmap twice',
    P + 'p: munmap v\np: munmap v',
    "t.scn:4:11: error: VMA 'v' of process 'p' was unmapped at t.scn:3:1",
  ],

  // ---- repeat
  ['repeat 0', 'repeat 0 { compact }', 't.scn:1:8: error: repeat count must be at least 1'],
  ['repeat negative', 'repeat -2 { compact }', 't.scn:1:8: error: repeat count must not be negative'],
  [
    'repeat size suffix',
    'repeat 1K { compact }',
    "t.scn:1:8: error: repeat count takes a plain number, not a size ('1K')",
  ],
  [
    'repeat too many',
    'repeat 1000001 { compact }',
    't.scn:1:8: error: repeat count 1000001 is too large (at most 1000000)',
  ],
  [
    'nested repeats multiply',
    'repeat 1000 {\n repeat 1001 { compact }\n}',
    't.scn:2:9: error: nested repeats would run their body 1001000 times (at most 1000000 in total)',
  ],
  ['repeat without brace', 'repeat 3\ncompact', "t.scn:2:1: error: expected '{' after repeat count, found 'compact'"],
  [
    'repeat body mmaps twice',
    'process p\nrepeat 2 {\n  p: mmap v 4K\n}',
    "t.scn:3:11: error: duplicate VMA name 'v' in process 'p' (mapped at t.scn:3:11), on the second iteration of the repeat at t.scn:2:1",
  ],
  [
    'repeat body exits',
    'process p\nrepeat 3 { p: exit }',
    "t.scn:2:12: error: process 'p' has exited (at t.scn:2:12), on the second iteration of the repeat at t.scn:2:1",
  ],
  ['config inside repeat', 'repeat 2 {\n config seed=1\n}', "t.scn:2:2: error: 'config' is not allowed inside repeat"],
  ['race inside repeat', 'repeat 2 {\n race { }\n}', "t.scn:2:2: error: 'race' is not allowed inside repeat"],
  [
    'blocks nested too deeply',
    'repeat 1 { '.repeat(33) + '}'.repeat(33),
    't.scn:1:362: error: blocks nested too deeply (at most 32)',
  ],

  // ---- race
  ['race without brace', 'race thread', "t.scn:1:6: error: expected '{' after 'race', found 'thread'"],
  [
    'race with a statement',
    'race { compact }',
    "t.scn:1:8: error: expected 'thread NAME {' inside race, found 'compact'",
  ],
  [
    'race with one thread',
    'process p\nrace { thread A { p: exit } }',
    't.scn:2:1: error: race needs at least two threads',
  ],
  [
    'duplicate thread',
    'process p\nrace {\n thread A { compact }\n thread A { compact }\n}',
    "t.scn:4:9: error: duplicate thread name 'A' (first at t.scn:3:9)",
  ],
  ['empty thread', 'race { thread A { } thread B { compact } }', "t.scn:1:15: error: thread 'A' is empty"],
  [
    'show in a thread',
    'race { thread A { show dmesg } }',
    "t.scn:1:19: error: 'show' is not allowed inside a race thread (only process statements, compact and pressure)",
  ],
  [
    'process in a thread',
    'race { thread A { process q } }',
    "t.scn:1:19: error: 'process' is not allowed inside a race thread (only process statements, compact and pressure)",
  ],
  [
    'thread outside race',
    'thread A { compact }',
    "t.scn:1:1: error: 'thread' is only allowed directly inside race { }",
  ],
  [
    'thread uses a VMA another thread maps',
    'process p\nrace {\n thread A { p: mmap w 4K }\n thread B { p: touch w }\n}',
    "t.scn:4:22: error: unknown VMA 'w' in process 'p' (map it first with 'p: mmap w SIZE')",
  ],
  [
    'after a race, its munmap counts',
    P + 'race {\n thread A { p: munmap v }\n thread B { compact }\n}\np: touch v',
    "t.scn:7:10: error: VMA 'v' of process 'p' was unmapped at t.scn:4:13",
  ],

  // ---- show
  [
    'show nothing',
    'show',
    't.scn:1:5: error: expected what to show (dmesg, meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, iomem or tags NAME:VMA[:RANGE]), found end of file',
  ],
  [
    'unknown show target',
    'show slabinfo',
    "t.scn:1:6: error: unknown show target 'slabinfo' (expected dmesg, meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, iomem or tags NAME:VMA[:RANGE])",
  ],
  ['show two files', 'show meminfo vmstat', "t.scn:1:14: error: unexpected 'vmstat' after show meminfo"],
  [
    'show tags without colon',
    P + 'show tags p v',
    "t.scn:3:13: error: expected ':' between process and VMA name, found 'v'",
  ],
  [
    'show tags unknown VMA',
    P + 'show tags p:w',
    "t.scn:3:13: error: unknown VMA 'w' in process 'p' (map it first with 'p: mmap w SIZE')",
  ],
  ['show tags bad range', P + 'show tags p:v:4K..0', 't.scn:3:15: error: empty range 4K..0 (start must be below end)'],

  // ---- expect
  ['expect nothing', 'expect', 't.scn:1:7: error: expect needs an expression'],
  [
    'dmesg without operator',
    'expect dmesg "x"',
    "t.scn:1:14: error: expected '~' or '!~' after dmesg, found string \"x\"",
  ],
  ['dmesg without string', 'expect dmesg ~ MTE', "t.scn:1:16: error: expected a quoted string after '~', found 'MTE'"],
  ['empty dmesg pattern', 'expect dmesg ~ ""', 't.scn:1:16: error: empty dmesg pattern'],
  ['~ on a counter', 'expect vmstat.pgfault ~ "1"', 't.scn:1:23: error: \'~\' matches only the log: dmesg ~ "text"'],
  [
    'no comparison',
    'expect vmstat.pgfault',
    't.scn:1:22: error: expected a comparison (== != < <= > >=), found end of file',
  ],
  ['single =', 'expect vmstat.pgfault = 3', "t.scn:1:23: error: expected a comparison (== != < <= > >=), found '='"],
  ['expect trailing junk', 'expect vmstat.pgfault > 3 4', "t.scn:1:27: error: unexpected '4' after expression"],
  [
    'missing right side',
    'expect vmstat.pgfault >',
    't.scn:1:24: error: expected a number, counter or NAME:VMA query, found end of file',
  ],
  ['unclosed paren', 'expect (1 + 2 > 3', "t.scn:1:15: error: expected ')' to close '(' at t.scn:1:8, found '>'"],
  [
    'unknown counter file',
    'expect slabinfo.x > 0',
    "t.scn:1:8: error: unknown counter 'slabinfo.x' (expected meminfo.X, vmstat.x, buddyinfo.ZONE.ORDER, zoneinfo.ZONE.x or NAME:VMA)",
  ],
  [
    'bare word',
    'expect pgfault > 0',
    "t.scn:1:8: error: unknown counter 'pgfault' (expected meminfo.X, vmstat.x, buddyinfo.ZONE.ORDER, zoneinfo.ZONE.x or NAME:VMA)",
  ],
  [
    'file without counters',
    'expect pagetypeinfo.x > 0',
    't.scn:1:8: error: pagetypeinfo has no counters for expect (use meminfo, vmstat, buddyinfo or zoneinfo)',
  ],
  ['meminfo shape', 'expect meminfo > 0', "t.scn:1:8: error: bad counter 'meminfo' (expected meminfo.NAME)"],
  ['vmstat shape', 'expect vmstat.a.b > 0', "t.scn:1:8: error: bad counter 'vmstat.a.b' (expected vmstat.NAME)"],
  [
    'buddyinfo shape',
    'expect buddyinfo.Normal > 0',
    "t.scn:1:8: error: bad counter 'buddyinfo.Normal' (expected buddyinfo.ZONE.ORDER)",
  ],
  [
    'buddyinfo zone',
    'expect buddyinfo.HighMem.0 > 0',
    "t.scn:1:18: error: unknown zone 'HighMem' (expected DMA, DMA32, Normal or Movable)",
  ],
  ['buddyinfo order', 'expect buddyinfo.Normal.x > 0', "t.scn:1:25: error: bad buddyinfo order 'x' (expected 0..99)"],
  [
    'zoneinfo zone',
    'expect zoneinfo.Dma31.min > 0',
    "t.scn:1:17: error: unknown zone 'Dma31' (expected DMA, DMA32, Normal or Movable)",
  ],
  ['meminfo paren name', 'expect meminfo.Active(3) > 0', "t.scn:1:23: error: bad meminfo name after '('"],
  ['tag compared out of range', P + 'expect p:v tag(0..16) == 16', 't.scn:3:26: error: tag 16 out of range 0..15'],
  ['tag without range', P + 'expect p:v tag == 1', 't.scn:3:16: error: tag needs a range: tag(START..END)'],
  [
    'unknown query',
    P + 'expect p:v dirty(0..4K) == 1',
    "t.scn:3:12: error: expected tagged, tag(RANGE), resident(RANGE) or swapped(RANGE) after p:v, found 'dirty'",
  ],
  [
    'query unknown VMA',
    P + 'expect p:w tagged',
    "t.scn:3:10: error: unknown VMA 'w' in process 'p' (map it first with 'p: mmap w SIZE')",
  ],
  [
    'query beyond VMA',
    P + 'expect p:v resident(0..4M) == 0',
    "t.scn:3:21: error: range 0..4M goes beyond the end of VMA 'v' (size 1M)",
  ],
  [
    'query unknown process',
    'expect q:v swapped == 0',
    "t.scn:1:8: error: unknown process 'q' (create it first with 'process q')",
  ],
  [
    'nested too deeply',
    'expect ' + '('.repeat(65) + '1' + ')'.repeat(65) + ' == 1',
    't.scn:1:72: error: expression nested too deeply (at most 64)',
  ],
  [
    'too many operators',
    'expect 0' + ' + 1'.repeat(1001) + ' > 0',
    't.scn:1:4010: error: expression too long (at most 1000 operators)',
  ],
];

describe('scenario errors: exact message and location', () => {
  test.each(cases)('%s', (_name, text, expected) => {
    expect(errorOf(text)).toBe(expected);
  });

  test('every case is distinct', () => {
    expect(new Set(cases.map((c) => c[0])).size).toBe(cases.length);
  });
});
