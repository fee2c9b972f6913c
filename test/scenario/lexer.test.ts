/** The scenario lexer and size literals. */
import { Lexer, type Token } from '../../src/scenario/lexer.js';
import { formatSize, parseSizeText } from '../../src/scenario/sizes.js';

function tokens(text: string): [string, string, number, number][] {
  const lx = new Lexer(text, 'l.scn');
  const out: [string, string, number, number][] = [];
  for (;;) {
    const t: Token = lx.next();
    out.push([t.kind, t.text, t.pos.line, t.pos.col]);
    if (t.kind === 'eof') return out;
  }
}

describe('lexer', () => {
  test('words with inner dots, numbers with suffixes, punctuation, positions', () => {
    expect(tokens('p: touch v 0..4K # c\nexpect meminfo.Active(anon)>=0x10')).toEqual([
      ['word', 'p', 1, 1],
      ['punct', ':', 1, 2],
      ['word', 'touch', 1, 4],
      ['word', 'v', 1, 10],
      ['number', '0', 1, 12],
      ['punct', '..', 1, 13],
      ['number', '4K', 1, 15],
      ['newline', '\n', 1, 21],
      ['word', 'expect', 2, 1],
      ['word', 'meminfo.Active', 2, 8],
      ['punct', '(', 2, 22],
      ['word', 'anon', 2, 23],
      ['punct', ')', 2, 27],
      ['punct', '>=', 2, 28],
      ['number', '0x10', 2, 30],
      ['eof', '', 2, 34],
    ]);
  });

  test('a trailing dot is not part of a word; ~ and !~; braces and ;', () => {
    expect(tokens('a.b.1 x !~ ~ { } ; == != < <= > >= + - * / =').map((t) => t[1])).toEqual([
      'a.b.1',
      'x',
      '!~',
      '~',
      '{',
      '}',
      ';',
      '==',
      '!=',
      '<',
      '<=',
      '>',
      '>=',
      '+',
      '-',
      '*',
      '/',
      '=',
      '',
    ]);
  });

  test('strings decode escapes', () => {
    expect(tokens('"a\\"b\\\\c\\n\\t"')[0]).toEqual(['string', 'a"b\\c\n\t', 1, 1]);
  });

  test('raw arguments stop at blanks, comments, braces and ;', () => {
    const lx = new Lexer('boot ../dts/a-b@1,2.dts#c', 'l.scn');
    lx.next();
    expect(lx.raw().text).toBe('../dts/a-b@1,2.dts');
    const ly = new Lexer('to=&memory1}', 'l.scn');
    ly.next();
    ly.next();
    const r = ly.raw();
    expect([r.kind, r.text, r.pos.col]).toEqual(['raw', '&memory1', 4]);
    expect(ly.next().text).toBe('}');
  });
});

describe('size literals', () => {
  test.each([
    ['0', 0],
    ['4096', 4096],
    ['0x1000', 4096],
    ['0X1f', 31],
    ['4K', 4096],
    ['4k', 4096],
    ['2M', 2 ** 21],
    ['1G', 2 ** 30],
    ['2T', 2 ** 41],
    ['0x10M', 16 * 2 ** 20],
  ])('%s = %d', (text, value) => {
    expect(parseSizeText(text)).toMatchObject({ ok: true, value });
  });

  test('suffixes are reported', () => {
    expect(parseSizeText('3')).toMatchObject({ suffixed: false });
    expect(parseSizeText('3K')).toMatchObject({ suffixed: true });
  });

  test('the largest exact value passes, one more fails', () => {
    expect(parseSizeText('9007199254740991')).toMatchObject({ ok: true, value: Number.MAX_SAFE_INTEGER });
    expect(parseSizeText('9007199254740992').ok).toBe(false);
    expect(parseSizeText('8191T').ok).toBe(true);
    expect(parseSizeText('8192T').ok).toBe(false); // 2^53
  });

  test.each(['4KB', '1.5M', '0x', '08', '4Q', 'K'])('%s is refused', (text) => {
    expect(parseSizeText(text).ok).toBe(false);
  });

  test('formatSize', () => {
    expect([0, 16, 4096, 6144, 4097, 2 ** 20, 3 * 2 ** 30, 2 ** 40].map(formatSize)).toEqual([
      '0',
      '16',
      '4K',
      '6K',
      '0x1001',
      '1M',
      '3G',
      '1T',
    ]);
  });
});
