/**
 * The DTS parser: dtc 1.6.1's dtc-parser.y as a recursive-descent parser with the same semantic actions,
 * run in the same order (amendments and deletions apply to the tree as they are read). Integer
 * expressions are evaluated as dtc does, in uint64 arithmetic with every operand evaluated (so `0 ? 1/0 : 2`
 * is still a division by zero), and shifts by 64 or more give 0. Where dtc reports an error and goes on,
 * the first error is thrown; nodes and parentheses nested deeper than 500 are refused (dtc has no limit).
 */
import { InputError, type SrcPos } from '../errors.js';
import { Data } from './data.js';
import { Lexer, type LexerOptions, type Token } from './lexer.js';
import {
  LiveTree,
  addLabel,
  buildNode,
  buildNodeDelete,
  buildProperty,
  buildPropertyDelete,
  guessBootCpuid,
  type LNode,
  type LProp,
  type LReserve,
} from './livetree.js';

const U64 = (1n << 64n) - 1n;
/** Nodes and parentheses deeper than this are refused (bounded recursion); real trees are < 10 deep. */
const MAX_NESTING = 500;

export interface ParseResult {
  tree: LiveTree;
  memreserve: LReserve[];
  bootCpuidPhys: number;
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of input';
    case 'op':
      return `'${t.text}'`;
    case 'name':
      return `name '${t.text}'`;
    case 'label':
      return `label '${t.text}:'`;
    case 'labelref':
      return `reference '&${t.text}'`;
    case 'pathref':
      return `reference '&{${t.text}}'`;
    case 'string':
      return 'string';
    case 'literal':
    case 'char':
      return `number '${t.text}'`;
    case 'byte':
      return `byte '${t.text}'`;
    default:
      return `'${t.text}'`;
  }
}

export class Parser {
  private readonly lx: Lexer;
  private tok: Token;
  private plugin = false;
  private tree!: LiveTree;

  constructor(text: string, opts: LexerOptions) {
    this.lx = new Lexer(text, opts);
    this.tok = this.lx.next();
  }

  private next(): Token {
    const t = this.tok;
    this.tok = this.lx.next();
    return t;
  }

  /** The kind of the lookahead token (a call, so TypeScript does not narrow it across next()). */
  private kind(): Token['kind'] {
    return this.tok.kind;
  }

  private isOp(text: string): boolean {
    return this.kind() === 'op' && this.tok.text === text;
  }

  private syntax(expected: string): never {
    throw new InputError(`syntax error: expected ${expected}, found ${describe(this.tok)}`, this.tok.pos);
  }

  private expectOp(text: string): Token {
    if (!this.isOp(text)) this.syntax(`'${text}'`);
    return this.next();
  }

  parse(): ParseResult {
    // headers
    let flags = -1;
    do {
      const start = this.tok;
      if (this.kind() !== 'v1') this.syntax("'/dts-v1/;'");
      this.next();
      this.expectOp(';');
      let f = 1;
      if (this.kind() === 'plugin') {
        this.next();
        this.expectOp(';');
        f |= 2;
      }
      if (flags >= 0 && f !== flags) throw new InputError("header flags don't match earlier ones", start.pos);
      if (flags < 0) flags = f;
    } while (this.kind() === 'v1');
    this.plugin = (flags & 2) !== 0;

    // memreserves
    const memreserve: LReserve[] = [];
    while (this.kind() === 'label' || this.kind() === 'memreserve') {
      const labels: string[] = [];
      while (this.kind() === 'label') labels.push(this.next().text);
      if (this.kind() !== 'memreserve') this.syntax("'/memreserve/'");
      this.next();
      const address = this.prim();
      const size = this.prim();
      this.expectOp(';');
      const r: LReserve = { address, size, labels: [] };
      for (let i = labels.length - 1; i >= 0; i--) addLabel(r.labels, labels[i]!);
      memreserve.push(r);
    }

    // devicetree: the first element
    if (this.isOp('/')) {
      const slash = this.next();
      const root = this.nodedef();
      root.name = '';
      root.pos = slash.pos;
      this.tree = new LiveTree(root, this.plugin);
    } else if (this.kind() === 'labelref' || this.kind() === 'pathref') {
      const ref = this.next();
      const node = this.nodedef();
      if (!this.plugin) throw new InputError(`label or path ${ref.text} not found`, ref.pos);
      const root = buildNode([], [], undefined);
      this.tree = new LiveTree(root, this.plugin);
      this.tree.addOrphanNode(node, ref.text);
    } else this.syntax("'/' or a reference");
    const tree = this.tree;
    const bootCpuidAtEnd = (): number => guessBootCpuid(tree);

    // devicetree: amendments, merges and deletions
    for (;;) {
      const t = this.tok;
      if (t.kind === 'eof') break;
      if (this.isOp('/')) {
        this.next();
        tree.mergeNodes(tree.root, this.nodedef());
      } else if (t.kind === 'label') {
        this.next();
        const ref = this.tok;
        if (ref.kind !== 'labelref' && ref.kind !== 'pathref') this.syntax('a reference after the label');
        this.next();
        const node = this.nodedef();
        const target = tree.getNodeByRef(ref.text);
        if (!target) throw new InputError(`label or path ${ref.text} not found`, ref.pos);
        tree.addNodeLabel(target, t.text);
        tree.mergeNodes(target, node);
      } else if (t.kind === 'pathref' || t.kind === 'labelref') {
        this.next();
        const node = this.nodedef();
        if (t.kind === 'pathref' && this.plugin) tree.addOrphanNode(node, t.text);
        else {
          const target = tree.getNodeByRef(t.text);
          if (target) tree.mergeNodes(target, node);
          else if (this.plugin) tree.addOrphanNode(node, t.text);
          else throw new InputError(`label or path ${t.text} not found`, t.pos);
        }
      } else if (t.kind === 'delnode' || t.kind === 'omit') {
        this.next();
        const ref = this.tok;
        if (ref.kind !== 'labelref' && ref.kind !== 'pathref') this.syntax('a reference');
        this.next();
        this.expectOp(';');
        const target = tree.getNodeByRef(ref.text);
        if (!target) throw new InputError(`label or path ${ref.text} not found`, ref.pos);
        if (t.kind === 'delnode') tree.deleteNode(target);
        else target.omitIfUnused = true;
      } else this.syntax("'/', a reference, '/delete-node/' or '/omit-if-no-ref/'");
    }
    return { tree, memreserve, bootCpuidPhys: bootCpuidAtEnd() };
  }

  /** nodedef: '{' proplist subnodes '}' ';' */
  private depth = 0;

  private nodedef(): LNode {
    const open = this.expectOp('{');
    if (++this.depth > MAX_NESTING) throw new InputError(`nodes nested more than ${MAX_NESTING} deep`, open.pos);
    const props: LProp[] = [];
    const children: LNode[] = [];
    while (!this.isOp('}')) {
      const start = this.tok;
      const prefix: Token[] = [];
      while (this.kind() === 'label' || this.kind() === 'omit') prefix.push(this.next());
      const omit = prefix.some((p) => p.kind === 'omit');
      const labels = prefix.filter((p) => p.kind === 'label').map((p) => p.text);
      let isProp: boolean;
      if (this.kind() === 'delprop') isProp = true;
      else if (this.kind() === 'delnode') isProp = false;
      else if (this.kind() === 'name') {
        // Look one token past the name: '{' makes it a node; '=' or ';' a property.
        const nameTok = this.next();
        if (this.isOp('{')) {
          const node = this.nodedef();
          node.name = nameTok.text;
          node.pos = start.pos;
          this.finishSubnode(node, prefix);
          children.push(node);
          continue;
        }
        if (!this.isOp('=') && !this.isOp(';')) this.syntax("'=', ';' or '{'");
        if (omit) throw new InputError('syntax error: /omit-if-no-ref/ applies to nodes only', nameTok.pos);
        if (children.length) throw new InputError('properties must precede subnodes', start.pos);
        const prop = this.propBody(nameTok);
        for (let i = labels.length - 1; i >= 0; i--) addLabel(prop.labels, labels[i]!);
        props.push(prop);
        continue;
      } else this.syntax("a property or node name or '}'");
      if (isProp) {
        const kw = this.next();
        if (omit) throw new InputError('syntax error: /omit-if-no-ref/ applies to nodes only', kw.pos);
        if (this.kind() !== 'name') this.syntax('a property name');
        const name = this.next();
        this.expectOp(';');
        if (children.length) throw new InputError('properties must precede subnodes', start.pos);
        const prop = buildPropertyDelete(name.text, kw.pos);
        for (let i = labels.length - 1; i >= 0; i--) addLabel(prop.labels, labels[i]!);
        props.push(prop);
      } else {
        this.next();
        if (this.kind() !== 'name') this.syntax('a node name');
        const name = this.next();
        this.expectOp(';');
        const node = buildNodeDelete(name.text, start.pos);
        this.finishSubnode(node, prefix);
        children.push(node);
      }
    }
    this.next();
    this.expectOp(';');
    this.depth--;
    return buildNode(props, children, open.pos);
  }

  /** Applies `label:` and /omit-if-no-ref/ prefixes innermost first, as the right-recursive grammar does. */
  private finishSubnode(node: LNode, prefix: readonly Token[]): void {
    for (let i = prefix.length - 1; i >= 0; i--) {
      const p = prefix[i]!;
      if (p.kind === 'omit') node.omitIfUnused = true;
      else addLabel(node.labels, p.text);
    }
  }

  private propBody(nameTok: Token): LProp {
    if (this.isOp(';')) {
      this.next();
      return buildProperty(nameTok.text, new Data(0), nameTok.pos);
    }
    this.expectOp('=');
    const d = new Data(16);
    for (;;) {
      while (this.kind() === 'label') d.addMarker('label', this.next().text);
      const t = this.tok;
      if (t.kind === 'string') {
        this.next();
        d.addMarker('string').appendBytes(t.bytes!).appendByte(0);
      } else if (t.kind === 'bits' || this.isOp('<')) {
        this.array(d);
      } else if (this.isOp('[')) {
        this.next();
        d.addMarker('u8');
        for (;;) {
          if (this.kind() === 'byte') d.appendByte(Number(this.next().value!));
          else if (this.kind() === 'label') d.addMarker('label', this.next().text);
          else if (this.isOp(']')) break;
          else this.syntax("two hex digits or ']'");
        }
        this.next();
      } else if (t.kind === 'labelref' || t.kind === 'pathref') {
        this.next();
        d.addMarker('string', t.text);
        d.addMarker('ref-path', t.text);
      } else if (t.kind === 'incbin') {
        this.incbin(d);
      } else this.syntax("a string, '<', '[' or a reference");
      while (this.kind() === 'label') d.addMarker('label', this.next().text);
      if (this.isOp(',')) {
        this.next();
        continue;
      }
      break;
    }
    this.expectOp(';');
    return buildProperty(nameTok.text, d, nameTok.pos);
  }

  private array(d: Data): void {
    let bits: 8 | 16 | 32 | 64 = 32;
    if (this.kind() === 'bits') {
      this.next();
      const lit = this.tok;
      if (lit.kind !== 'literal') this.syntax('a number after /bits/');
      this.next();
      const b = lit.value!;
      if (b !== 8n && b !== 16n && b !== 32n && b !== 64n)
        throw new InputError('array elements must be 8, 16, 32 or 64-bits', lit.pos);
      bits = Number(b) as 8 | 16 | 32 | 64;
    }
    this.expectOp('<');
    d.addMarker(bits === 8 ? 'u8' : bits === 16 ? 'u16' : bits === 32 ? 'u32' : 'u64');
    const mask = bits === 64 ? U64 : (1n << BigInt(bits)) - 1n;
    for (;;) {
      const t = this.tok;
      if (this.isOp('>')) {
        this.next();
        return;
      }
      if (t.kind === 'label') {
        this.next();
        d.addMarker('label', t.text);
      } else if (t.kind === 'labelref' || t.kind === 'pathref') {
        this.next();
        if (bits !== 32) throw new InputError('references are only allowed in arrays with 32-bit elements', t.pos);
        d.addMarker('ref-phandle', t.text);
        d.appendU32(0xffffffff);
      } else if (t.kind === 'literal' || t.kind === 'char' || this.isOp('(')) {
        const v = this.prim();
        if (bits < 64 && v > mask && (v | mask) !== U64)
          throw new InputError(`value out of range for ${bits}-bit array element`, t.pos);
        d.appendInteger(v & mask, bits);
      } else this.syntax("a number, '(', a reference or '>'");
    }
  }

  private incbin(d: Data): void {
    const kw = this.next();
    this.expectOp('(');
    const file = this.tok;
    if (file.kind !== 'string') this.syntax('a file name');
    this.next();
    let offset = 0n;
    let length = -1n;
    if (this.isOp(',')) {
      this.next();
      offset = this.prim();
      this.expectOp(',');
      length = this.prim();
    }
    this.expectOp(')');
    const name = Buffer.from(file.bytes!).toString('latin1');
    const bytes = this.lx.readBinary(name, kw.pos);
    if (offset > BigInt(bytes.length)) throw new InputError(`couldn't seek to offset ${offset} in "${name}"`, kw.pos);
    const start = Number(offset);
    const end = length < 0n ? bytes.length : Number(BigInt(start) + length);
    if (end > bytes.length) throw new InputError(`couldn't read ${length} bytes from "${name}"`, kw.pos);
    d.appendBytes(bytes.subarray(start, end));
  }

  // -- integer expressions -----------------------------------------------------------------------

  /** integer_prim: a literal, a character literal or a parenthesised expression. */
  private prim(): bigint {
    const t = this.tok;
    if (t.kind === 'literal' || t.kind === 'char') {
      this.next();
      return t.value!;
    }
    if (this.isOp('(')) {
      const open = this.next();
      if (++this.depth > MAX_NESTING) throw new InputError(`expression nested more than ${MAX_NESTING} deep`, open.pos);
      const v = this.expr();
      this.expectOp(')');
      this.depth--;
      return v;
    }
    return this.syntax("a number or '('");
  }

  private expr(): bigint {
    const c = this.binary(0);
    if (!this.isOp('?')) return c;
    const q = this.next();
    if (++this.depth > MAX_NESTING) throw new InputError(`expression nested more than ${MAX_NESTING} deep`, q.pos);
    const a = this.expr();
    this.expectOp(':');
    const b = this.expr();
    this.depth--;
    return c !== 0n ? a : b;
  }

  private static readonly LEVELS: readonly (readonly string[])[] = [
    ['||'],
    ['&&'],
    ['|'],
    ['^'],
    ['&'],
    ['==', '!='],
    ['<', '>', '<=', '>='],
    ['<<', '>>'],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private binary(level: number): bigint {
    if (level >= Parser.LEVELS.length) return this.unary();
    const ops = Parser.LEVELS[level]!;
    let lhs = this.binary(level + 1);
    while (this.kind() === 'op' && ops.includes(this.tok.text)) {
      const op = this.next();
      const rhs = this.binary(level + 1);
      lhs = apply(op.text, lhs, rhs, op.pos);
    }
    return lhs;
  }

  private unary(): bigint {
    if (this.kind() === 'op') {
      const op = this.tok.text;
      if (op === '-' || op === '~' || op === '!') {
        const t = this.next();
        if (++this.depth > MAX_NESTING) throw new InputError(`expression nested more than ${MAX_NESTING} deep`, t.pos);
        const v = this.unary();
        this.depth--;
        if (op === '-') return -v & U64;
        if (op === '~') return ~v & U64;
        return v === 0n ? 1n : 0n;
      }
    }
    return this.prim();
  }
}

function apply(op: string, a: bigint, b: bigint, pos: SrcPos): bigint {
  const bool = (x: boolean): bigint => (x ? 1n : 0n);
  switch (op) {
    case '||':
      return bool(a !== 0n || b !== 0n);
    case '&&':
      return bool(a !== 0n && b !== 0n);
    case '|':
      return a | b;
    case '^':
      return a ^ b;
    case '&':
      return a & b;
    case '==':
      return bool(a === b);
    case '!=':
      return bool(a !== b);
    case '<':
      return bool(a < b);
    case '>':
      return bool(a > b);
    case '<=':
      return bool(a <= b);
    case '>=':
      return bool(a >= b);
    case '<<':
      return b < 64n ? (a << b) & U64 : 0n;
    case '>>':
      return b < 64n ? a >> b : 0n;
    case '+':
      return (a + b) & U64;
    case '-':
      return (a - b) & U64;
    case '*':
      return (a * b) & U64;
    case '/':
      if (b === 0n) throw new InputError('division by zero', pos);
      return a / b;
    case '%':
      if (b === 0n) throw new InputError('division by zero', pos);
      return a % b;
  }
  throw new InputError(`unknown operator '${op}'`, pos);
}
