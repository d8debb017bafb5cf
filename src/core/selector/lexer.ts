import { FerryError } from '../../errors.js';

export type Keyword = 'NOT' | 'AND' | 'OR' | 'BETWEEN' | 'LIKE' | 'IN' | 'IS' | 'NULL' | 'TRUE' | 'FALSE' | 'ESCAPE';

const keywords: ReadonlySet<string> = new Set<Keyword>([
  'NOT', 'AND', 'OR', 'BETWEEN', 'LIKE', 'IN', 'IS', 'NULL', 'TRUE', 'FALSE', 'ESCAPE',
]);

export type Punctuation = '=' | '<>' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | '(' | ')' | ',';

export type Token =
  | { readonly kind: 'keyword'; readonly keyword: Keyword; readonly column: number; readonly text: string }
  | { readonly kind: 'identifier'; readonly name: string; readonly column: number; readonly text: string }
  | { readonly kind: 'string'; readonly value: string; readonly column: number; readonly text: string }
  | { readonly kind: 'number'; readonly value: number | bigint; readonly column: number; readonly text: string }
  | { readonly kind: 'punctuation'; readonly symbol: Punctuation; readonly column: number; readonly text: string }
  | { readonly kind: 'end'; readonly column: number; readonly text: string };

/** Longer selectors are quoted around the error only, so that one message stays one readable line. */
const quoteLimit = 120;

export function selectorError(selector: string, column: number, what: string): FerryError {
  let quoted = selector;
  if (selector.length > quoteLimit) {
    const start = Math.max(0, Math.min(column - 1 - quoteLimit / 2, selector.length - quoteLimit));
    const end = Math.min(selector.length, start + quoteLimit);
    quoted = (start > 0 ? '…' : '') + selector.slice(start, end) + (end < selector.length ? '…' : '');
  }
  return new FerryError('FERRY_SELECTOR_INVALID', `selector error at column ${column}: ${what} in "${quoted}"`);
}

/** How a token reads in an error message. */
export function describeToken(token: Token): string {
  if (token.kind === 'end') return 'the end of the selector';
  return token.kind === 'string' ? token.text : `'${token.text}'`;
}

// Java's Character.isJavaIdentifierStart / isJavaIdentifierPart, as Unicode categories (JMS 3.8.1.1).
const identifierStart = /[\p{L}\p{Nl}\p{Sc}\p{Pc}]/u;
const identifierPart = /[\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}\p{Cf}]/u;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isHexDigit(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

function isWhitespace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';
}

/**
 * Integer literals keep full precision: a value beyond 2^53 stays a bigint, so a comparison with a
 * JMS long property is exact.
 */
function integerValue(digits: bigint): number | bigint {
  return digits <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(digits) : digits;
}

export function tokenize(selector: string): Token[] {
  const tokens: Token[] = [];
  const length = selector.length;
  let i = 0;

  const fail = (at: number, what: string): never => {
    throw selectorError(selector, at + 1, what);
  };

  while (i < length) {
    const c = selector[i] as string;
    if (isWhitespace(c)) {
      i++;
      continue;
    }
    const start = i;
    const column = start + 1;

    if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= length) fail(start, 'string literal is not closed (a quote inside a string is written as two quotes)');
        const d = selector[i] as string;
        if (d === "'") {
          if (selector[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: 'string', value, column, text: selector.slice(start, i) });
      continue;
    }

    if (isDigit(c) || (c === '.' && isDigit(selector[i + 1]))) {
      tokens.push(readNumber(selector, start, fail));
      i = start + (tokens[tokens.length - 1] as Token).text.length;
      continue;
    }

    const codePoint = selector.codePointAt(i) as number;
    const char = String.fromCodePoint(codePoint);
    if (identifierStart.test(char)) {
      i += char.length;
      while (i < length) {
        const next = String.fromCodePoint(selector.codePointAt(i) as number);
        if (!identifierPart.test(next)) break;
        i += next.length;
      }
      const text = selector.slice(start, i);
      const upper = text.toUpperCase();
      if (keywords.has(upper)) tokens.push({ kind: 'keyword', keyword: upper as Keyword, column, text });
      else tokens.push({ kind: 'identifier', name: text, column, text });
      continue;
    }

    const two = selector.slice(i, i + 2);
    if (two === '<>' || two === '<=' || two === '>=') {
      tokens.push({ kind: 'punctuation', symbol: two, column, text: two });
      i += 2;
      continue;
    }
    if (two === '!=') fail(start, "'!=' is not a selector operator; not-equal is written '<>'");
    if (two === '==') fail(start, "'==' is not a selector operator; equality is written '='");
    switch (c) {
      // '%', the remainder, is ActiveMQ's, not JMS's: selectors written for ActiveMQ use it
      case '=': case '<': case '>': case '+': case '-': case '*': case '/': case '%': case '(': case ')': case ',':
        tokens.push({ kind: 'punctuation', symbol: c, column, text: c });
        i++;
        continue;
      case '"':
        fail(start, 'string literals are written in single quotes, not double quotes');
        break;
      default:
        fail(start, `unexpected character '${char}'`);
    }
  }
  tokens.push({ kind: 'end', column: length + 1, text: '' });
  return tokens;
}

/**
 * Java literal syntax (JMS 3.8.1.1): decimal, octal (leading 0) and hex (0x) integers with an optional
 * L suffix; floating point with a decimal point and/or an exponent. A number ends at the first
 * character that cannot continue it, so `5AND` reads as `5 AND`, as a Java tokenizer reads it.
 */
function readNumber(selector: string, start: number, fail: (at: number, what: string) => never): Token {
  const column = start + 1;
  let i = start;
  if (selector[i] === '0' && (selector[i + 1] === 'x' || selector[i + 1] === 'X')) {
    i += 2;
    const digitsStart = i;
    while (isHexDigit(selector[i])) i++;
    if (i === digitsStart) fail(start, `malformed hexadecimal number '${selector.slice(start, i)}'`);
    const value = BigInt('0x' + selector.slice(digitsStart, i));
    if (selector[i] === 'l' || selector[i] === 'L') i++;
    return { kind: 'number', value: integerValue(value), column, text: selector.slice(start, i) };
  }

  while (isDigit(selector[i])) i++;
  let float = false;
  if (selector[i] === '.') {
    float = true;
    i++;
    while (isDigit(selector[i])) i++;
  }
  if (selector[i] === 'e' || selector[i] === 'E') {
    float = true;
    i++;
    if (selector[i] === '+' || selector[i] === '-') i++;
    if (!isDigit(selector[i])) fail(start, `malformed exponent in '${selector.slice(start, i)}'`);
    while (isDigit(selector[i])) i++;
  }

  if (float) {
    const text = selector.slice(start, i);
    const value = Number(text);
    if (!Number.isFinite(value)) fail(start, `number '${text}' is too large`);
    return { kind: 'number', value, column, text };
  }

  const digits = selector.slice(start, i);
  let value: bigint;
  if (digits.length > 1 && digits[0] === '0') {
    if (!/^[0-7]+$/.test(digits)) fail(start, `'${digits}' is not an octal number (a leading 0 means octal)`);
    value = BigInt('0o' + digits.slice(1));
  } else {
    value = BigInt(digits);
  }
  if (selector[i] === 'l' || selector[i] === 'L') i++;
  return { kind: 'number', value: integerValue(value), column, text: selector.slice(start, i) };
}
