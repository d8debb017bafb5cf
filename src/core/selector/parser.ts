import { FerryError } from '../../errors.js';
import { describeToken, selectorError, tokenize } from './lexer.js';
import type { Keyword, Token } from './lexer.js';

/** What the parser knows of an expression's type before any message is seen. */
export type StaticType = 'boolean' | 'number' | 'string' | 'any';

export type Literal = string | number | bigint | boolean;

interface Span {
  /** Offsets into the selector text, for error messages. */
  readonly start: number;
  readonly end: number;
}

export type ComparisonOperator = '=' | '<>' | '<' | '<=' | '>' | '>=';
export type ArithmeticOperator = '+' | '-' | '*' | '/' | '%';
const ADDITIVE: ReadonlySet<string> = new Set<ArithmeticOperator>(['+', '-']);
const MULTIPLICATIVE: ReadonlySet<string> = new Set<ArithmeticOperator>(['*', '/', '%']);

export type Node = Span &
  (
    | { readonly kind: 'literal'; readonly value: Literal }
    | { readonly kind: 'identifier'; readonly name: string }
    | { readonly kind: 'negate' | 'plus'; readonly operand: Node }
    | { readonly kind: 'arithmetic'; readonly op: ArithmeticOperator; readonly left: Node; readonly right: Node }
    | { readonly kind: 'compare'; readonly op: ComparisonOperator; readonly left: Node; readonly right: Node }
    | { readonly kind: 'not'; readonly operand: Node }
    /** A chain of ANDs (or ORs) is one node with its operands in order, however long it is. */
    | { readonly kind: 'and' | 'or'; readonly operands: readonly Node[] }
    /** A value of unknown type used as a condition: TRUE only for a boolean true. */
    | { readonly kind: 'cast'; readonly operand: Node }
    | { readonly kind: 'between'; readonly negated: boolean; readonly value: Node; readonly low: Node; readonly high: Node }
    | { readonly kind: 'like'; readonly negated: boolean; readonly value: Node; readonly pattern: string; readonly escape: string | undefined }
    | { readonly kind: 'in'; readonly negated: boolean; readonly value: Node; readonly list: readonly (string | number | bigint)[] }
    | { readonly kind: 'isNull'; readonly negated: boolean; readonly value: Node }
  );

/**
 * The longest selector accepted, in UTF-16 units. A selector is compiled while a subscription is
 * made, on the event loop; this keeps that under some tens of milliseconds, and still takes an IN
 * list of several thousand ids (5,000 UUIDs in quotes are about 205,000 characters), more than any
 * JMS application we know of writes by hand or generates.
 */
export const MAX_SELECTOR_LENGTH = 256 * 1024;

/**
 * The deepest nesting accepted: parentheses, NOT and unary signs in a row, and operators whose
 * operands are themselves operations (`a + b + c` nests two deep; a chain of AND or OR is one
 * level however long). Parsing and evaluation recurse once per level, so this bounds the stack they
 * use to a small part of Node's (about 700 nested parentheses overflowed it), wherever a selector is
 * compiled from. Hand-written selectors rarely nest past ten.
 */
export const MAX_SELECTOR_DEPTH = 100;

export interface ParseOptions {
  readonly convertStringExpressions: boolean;
}

export function staticType(node: Node): StaticType {
  switch (node.kind) {
    case 'literal':
      return typeof node.value === 'boolean' ? 'boolean' : typeof node.value === 'string' ? 'string' : 'number';
    case 'identifier':
      return 'any';
    case 'negate':
    case 'plus':
    case 'arithmetic':
      return 'number';
    default:
      return 'boolean';
  }
}

const typeNames: Record<StaticType, string> = {
  boolean: 'a boolean',
  number: 'a number',
  string: 'a string',
  any: 'a value',
};

function tokenEnd(token: Token): number {
  return token.column - 1 + token.text.length;
}

/**
 * Recursive descent over the JMS grammar. Precedence, loosest first: OR, AND, NOT, then = <> and
 * IS [NOT] NULL, then < <= > >= [NOT] BETWEEN / LIKE / IN, then + -, then * /, then unary + -.
 * Operators of one level associate to the left (JMS 3.8.1.1: evaluation is left to right within a
 * precedence level).
 */
class SelectorParser {
  private readonly tokens: Token[];
  private position = 0;
  /** How deep the recursive descent is, in parentheses, NOTs and unary signs. */
  private nesting = 0;

  constructor(
    private readonly text: string,
    private readonly options: ParseOptions,
  ) {
    this.tokens = tokenize(text);
  }

  parse(): Node {
    const node = this.parseOr();
    this.checkDepth(node);
    const token = this.peek();
    if (token.kind !== 'end') {
      if (token.kind === 'punctuation' && token.symbol === ')') this.fail(token, "unbalanced ')'");
      if (token.kind === 'keyword' && token.keyword === 'NOT') {
        this.fail(token, "NOT after a value must be followed by BETWEEN, LIKE or IN");
      }
      this.fail(token, `expected AND, OR or the end of the selector but found ${describeToken(token)}`);
    }
    // JMS 3.8.1.1: a selector is a conditional expression; a number or a string can never be TRUE.
    return this.condition(node);
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.position + offset, this.tokens.length - 1)] as Token;
  }

  private advance(): Token {
    const token = this.peek();
    if (this.position < this.tokens.length - 1) this.position++;
    return token;
  }

  private isKeyword(keyword: Keyword, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'keyword' && token.keyword === keyword;
  }

  private fail(token: Token, what: string): never {
    throw selectorError(this.text, token.column, what);
  }

  private failAt(node: Node, what: string): never {
    throw selectorError(this.text, node.start + 1, what);
  }

  /** The node's text, quoted for an error message (a string literal already is). */
  private source(node: Node): string {
    const text = this.text.slice(node.start, node.end);
    return node.kind === 'literal' && typeof node.value === 'string' && text.startsWith("'") ? text : `'${text}'`;
  }

  /** Goes one level deeper into the recursive descent, or refuses a selector that nests too deep. */
  private enter(token: Token): void {
    if (++this.nesting > MAX_SELECTOR_DEPTH) {
      this.fail(token, `the selector nests deeper than ${MAX_SELECTOR_DEPTH} levels (parentheses, NOT or signs in a row)`);
    }
  }

  /**
   * Refuses a tree deeper than MAX_SELECTOR_DEPTH, which chains built in loops (`a + b + c + …`) can
   * reach without deep recursion in the parser, but whose evaluation would recurse that deep. Walks
   * the tree with a stack of its own.
   */
  private checkDepth(root: Node): void {
    const stack: [Node, number][] = [[root, 1]];
    for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
      const [node, depth] = item;
      if (depth > MAX_SELECTOR_DEPTH) {
        this.failAt(node, `the selector nests deeper than ${MAX_SELECTOR_DEPTH} levels (operators whose operands are operations)`);
      }
      for (const child of children(node)) stack.push([child, depth + 1]);
    }
  }

  private expectKeyword(keyword: Keyword, what: string): Token {
    if (!this.isKeyword(keyword)) this.fail(this.peek(), `${what} but found ${describeToken(this.peek())}`);
    return this.advance();
  }

  /** Operands of AND, OR, NOT and the whole selector must be conditions. */
  private condition(node: Node): Node {
    const type = staticType(node);
    if (type === 'boolean') return node;
    if (type === 'any') return { kind: 'cast', operand: node, start: node.start, end: node.end };
    return this.failAt(node, `expected a condition (true or false) but ${this.source(node)} is ${typeNames[type]}`);
  }

  /** Operands of arithmetic and of < <= > >= BETWEEN: JMS allows only numbers there. */
  private numeric(node: Node, operator: string): Node {
    const type = staticType(node);
    if (type === 'number' || type === 'any') return node;
    return this.failAt(node, `${this.source(node)} is ${typeNames[type]}, but ${operator} applies only to numbers`);
  }

  private parseOr(): Node {
    const first = this.parseAnd();
    if (!this.isKeyword('OR')) return first;
    const operands = [this.condition(first)];
    while (this.isKeyword('OR')) {
      this.advance();
      operands.push(this.condition(this.parseAnd()));
    }
    return { kind: 'or', operands, start: first.start, end: (operands[operands.length - 1] as Node).end };
  }

  private parseAnd(): Node {
    const first = this.parseNot();
    if (!this.isKeyword('AND')) return first;
    const operands = [this.condition(first)];
    while (this.isKeyword('AND')) {
      this.advance();
      operands.push(this.condition(this.parseNot()));
    }
    return { kind: 'and', operands, start: first.start, end: (operands[operands.length - 1] as Node).end };
  }

  private parseNot(): Node {
    if (this.isKeyword('NOT')) {
      const token = this.advance();
      this.enter(token);
      const operand = this.parseNot();
      this.nesting--;
      return { kind: 'not', operand: this.condition(operand), start: token.column - 1, end: operand.end };
    }
    return this.parseEquality();
  }

  private parseEquality(): Node {
    let left = this.parseRelational();
    for (;;) {
      const token = this.peek();
      if (token.kind === 'punctuation' && (token.symbol === '=' || token.symbol === '<>')) {
        this.advance();
        const right = this.parseRelational();
        this.checkComparable(left, right, token.symbol);
        left = { kind: 'compare', op: token.symbol, left, right, start: left.start, end: right.end };
        continue;
      }
      if (this.isKeyword('IS')) {
        this.advance();
        const negated = this.isKeyword('NOT');
        if (negated) this.advance();
        const last = this.expectKeyword('NULL', negated ? 'expected NULL after IS NOT' : 'expected NULL or NOT NULL after IS');
        left = { kind: 'isNull', negated, value: left, start: left.start, end: tokenEnd(last) };
        continue;
      }
      return left;
    }
  }

  /** JMS 3.8.1.1: only like types compare; with convertStringExpressions a string may meet a number. */
  private checkComparable(left: Node, right: Node, operator: string): void {
    const l = staticType(left);
    const r = staticType(right);
    if (l === 'any' || r === 'any' || l === r) return;
    if (this.options.convertStringExpressions && ((l === 'string' && r === 'number') || (l === 'number' && r === 'string'))) return;
    this.failAt(right, `${this.source(left)} is ${typeNames[l]} and ${this.source(right)} is ${typeNames[r]}; '${operator}' needs values of one type`);
  }

  private parseRelational(): Node {
    let left = this.parseAdditive();
    for (;;) {
      const token = this.peek();
      if (
        token.kind === 'punctuation' &&
        (token.symbol === '<' || token.symbol === '<=' || token.symbol === '>' || token.symbol === '>=')
      ) {
        this.advance();
        const right = this.parseAdditive();
        const operator = `'${token.symbol}'`;
        left = {
          kind: 'compare',
          op: token.symbol,
          left: this.numeric(left, operator),
          right: this.numeric(right, operator),
          start: left.start,
          end: right.end,
        };
        continue;
      }
      let negated = false;
      if (this.isKeyword('NOT') && (this.isKeyword('BETWEEN', 1) || this.isKeyword('LIKE', 1) || this.isKeyword('IN', 1))) {
        negated = true;
        this.advance();
      }
      if (this.isKeyword('BETWEEN')) {
        this.advance();
        const low = this.parseAdditive();
        this.expectKeyword('AND', 'expected AND between the two bounds of BETWEEN');
        const high = this.parseAdditive();
        left = {
          kind: 'between',
          negated,
          value: this.numeric(left, 'BETWEEN'),
          low: this.numeric(low, 'BETWEEN'),
          high: this.numeric(high, 'BETWEEN'),
          start: left.start,
          end: high.end,
        };
        continue;
      }
      if (this.isKeyword('LIKE')) {
        left = this.parseLike(left, negated);
        continue;
      }
      if (this.isKeyword('IN')) {
        left = this.parseIn(left, negated);
        continue;
      }
      return left;
    }
  }

  private parseLike(value: Node, negated: boolean): Node {
    this.advance();
    const type = staticType(value);
    if (type !== 'string' && type !== 'any') {
      this.failAt(value, `${this.source(value)} is ${typeNames[type]}, but LIKE applies only to strings`);
    }
    const pattern = this.advance();
    if (pattern.kind !== 'string') this.fail(pattern, `expected a string literal pattern after LIKE but found ${describeToken(pattern)}`);
    let escape: string | undefined;
    let end = tokenEnd(pattern);
    if (this.isKeyword('ESCAPE')) {
      this.advance();
      const escapeToken = this.advance();
      if (escapeToken.kind !== 'string') {
        this.fail(escapeToken, `expected a one-character string literal after ESCAPE but found ${describeToken(escapeToken)}`);
      }
      // JMS 3.8.1.1: the escape character is a single-character string literal.
      if ([...escapeToken.value].length !== 1) {
        this.fail(escapeToken, `the ESCAPE character must be exactly one character, not ${escapeToken.text}`);
      }
      escape = escapeToken.value;
      end = tokenEnd(escapeToken);
    }
    return { kind: 'like', negated, value, pattern: pattern.value, escape, start: value.start, end };
  }

  private parseIn(value: Node, negated: boolean): Node {
    this.advance();
    const type = staticType(value);
    if (type === 'boolean') {
      this.failAt(value, `${this.source(value)} is ${typeNames[type]}, but IN applies to strings and numbers`);
    }
    const open = this.advance();
    if (open.kind !== 'punctuation' || open.symbol !== '(') {
      this.fail(open, `expected '(' after IN but found ${describeToken(open)}`);
    }
    const list: (string | number | bigint)[] = [];
    for (;;) {
      let token = this.advance();
      let sign = 1;
      if (token.kind === 'punctuation' && (token.symbol === '-' || token.symbol === '+')) {
        sign = token.symbol === '-' ? -1 : 1;
        token = this.advance();
        if (token.kind !== 'number') this.fail(token, `expected a number after the sign in the IN list but found ${describeToken(token)}`);
      }
      if (token.kind === 'string') list.push(token.value);
      else if (token.kind === 'number') {
        list.push(sign === 1 ? token.value : -token.value);
      } else {
        this.fail(token, `expected a string or number literal in the IN list but found ${describeToken(token)}`);
      }
      const separator = this.advance();
      if (separator.kind === 'punctuation' && separator.symbol === ',') continue;
      if (separator.kind === 'punctuation' && separator.symbol === ')') {
        return { kind: 'in', negated, value, list, start: value.start, end: tokenEnd(separator) };
      }
      this.fail(separator, `expected ',' or ')' in the IN list but found ${describeToken(separator)}`);
    }
  }

  private parseAdditive(): Node {
    return this.parseArithmetic(ADDITIVE, () => this.parseMultiplicative());
  }

  private parseMultiplicative(): Node {
    return this.parseArithmetic(MULTIPLICATIVE, () => this.parseUnary());
  }

  /** Operands from `operand` joined, left to right, by the operators of one precedence. */
  private parseArithmetic(operators: ReadonlySet<string>, operand: () => Node): Node {
    let left = operand();
    for (;;) {
      const token = this.peek();
      if (token.kind !== 'punctuation' || !operators.has(token.symbol)) return left;
      this.advance();
      const right = operand();
      const operator = `'${token.symbol}'`;
      left = {
        kind: 'arithmetic',
        op: token.symbol as ArithmeticOperator,
        left: this.numeric(left, operator),
        right: this.numeric(right, operator),
        start: left.start,
        end: right.end,
      };
    }
  }


  private parseUnary(): Node {
    const token = this.peek();
    if (token.kind === 'punctuation' && (token.symbol === '-' || token.symbol === '+')) {
      this.advance();
      this.enter(token);
      const operand = this.numeric(this.parseUnary(), `unary '${token.symbol}'`);
      this.nesting--;
      const start = token.column - 1;
      // Folding a signed literal keeps -9223372036854775808 and -957 literals, as Java reads them.
      if (operand.kind === 'literal' && (typeof operand.value === 'number' || typeof operand.value === 'bigint')) {
        const value = token.symbol === '-' ? -operand.value : operand.value;
        return { kind: 'literal', value, start, end: operand.end };
      }
      return { kind: token.symbol === '-' ? 'negate' : 'plus', operand, start, end: operand.end };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Node {
    const index = this.position;
    const token = this.advance();
    const start = token.column - 1;
    const end = tokenEnd(token);
    switch (token.kind) {
      case 'string':
      case 'number':
        return { kind: 'literal', value: token.value, start, end };
      case 'identifier':
        return { kind: 'identifier', name: token.name, start, end };
      case 'keyword':
        if (token.keyword === 'TRUE' || token.keyword === 'FALSE') {
          return { kind: 'literal', value: token.keyword === 'TRUE', start, end };
        }
        if (token.keyword === 'NULL') {
          this.fail(token, 'NULL is not a value here; test for it with IS NULL or IS NOT NULL');
        }
        break;
      case 'punctuation':
        if (token.symbol === '(') {
          this.enter(token);
          const inner = this.parseOr();
          this.nesting--;
          const close = this.advance();
          if (close.kind !== 'punctuation' || close.symbol !== ')') {
            this.fail(close, `expected ')' to close the '(' at column ${token.column} but found ${describeToken(close)}`);
          }
          return { ...inner, start, end: tokenEnd(close) };
        }
        break;
      case 'end':
        break;
    }
    const previous = this.tokens[index - 1];
    const after = previous === undefined ? '' : ` after '${previous.text}'`;
    return this.fail(token, `expected a value${after} but found ${describeToken(token)}`);
  }
}

/** A node's operands. */
function children(node: Node): readonly Node[] {
  switch (node.kind) {
    case 'literal':
    case 'identifier':
      return [];
    case 'negate':
    case 'plus':
    case 'not':
    case 'cast':
      return [node.operand];
    case 'arithmetic':
    case 'compare':
      return [node.left, node.right];
    case 'and':
    case 'or':
      return node.operands;
    case 'between':
      return [node.value, node.low, node.high];
    case 'like':
    case 'in':
    case 'isNull':
      return [node.value];
  }
}

export function parseSelector(text: string, options: ParseOptions): Node {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new FerryError(
      'FERRY_SELECTOR_INVALID',
      `selector error: the selector is ${text.length} characters long, more than the limit of ${MAX_SELECTOR_LENGTH}`,
    );
  }
  return new SelectorParser(text, options).parse();
}
