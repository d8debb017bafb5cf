import type { Message, PropertyValue } from '../message.js';
import { compileLike } from './like.js';
import type { ArithmeticOperator, Node } from './parser.js';

/** A selector value: a property value, a header field, a literal, or NULL (also UNKNOWN for conditions). */
type Value = PropertyValue;
type Truth = boolean | null;
type Numeric = number | bigint;

export type Evaluator = (message: Message, deliveryCount: number) => Value;
export type Condition = (message: Message, deliveryCount: number) => Truth;

/**
 * Header fields a selector may name (JMS 3.8.1.1), plus the JMSX properties whose values live on the
 * message or on the delivery rather than in the property map. Absent optional headers are NULL.
 * JMSDestination is, as in ActiveMQ, the destination as a string: `queue://orders.eu`,
 * `topic://prices.>`'s messages `topic://prices.eu` (the destination they were sent to).
 */
const headerFields: ReadonlyMap<string, Evaluator> = new Map<string, Evaluator>([
  ['JMSDeliveryMode', (m) => (m.persistent ? 'PERSISTENT' : 'NON_PERSISTENT')],
  ['JMSPriority', (m) => m.priority],
  ['JMSMessageID', (m) => m.id],
  ['JMSTimestamp', (m) => m.timestamp],
  ['JMSCorrelationID', (m) => m.correlationId ?? null],
  ['JMSType', (m) => m.type ?? null],
  ['JMSExpiration', (m) => m.expiration],
  ['JMSDestination', (m) => `${m.destination.temporary === true ? 'temp-' : ''}${m.destination.kind}://${m.destination.name}`],
  ['JMSXGroupID', (m) => m.groupId ?? null],
  ['JMSXGroupSeq', (m) => m.groupSeq ?? null],
  // as ActiveMQ reads it: the user id the broker checked, else a property the client gave that name
  ['JMSXUserID', (m) => m.userId ?? m.properties.get('JMSXUserID') ?? null],
  ['JMSXDeliveryCount', (_m, deliveryCount) => deliveryCount],
  ['JMSRedelivered', (_m, deliveryCount) => deliveryCount > 1],
]);

function isNumeric(value: Value): value is Numeric {
  return typeof value === 'number' || typeof value === 'bigint';
}

const numericText = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const integerText = /^[+-]?\d+$/;

/** convertStringExpressions: a string that reads as a decimal number, with no surrounding space. */
function parseNumeric(text: string): Numeric | undefined {
  if (!numericText.test(text)) return undefined;
  if (integerText.test(text)) {
    const value = BigInt(text);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  return Number(text);
}

function parseBoolean(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

/** Numbers of any kind compare by value (JMS: exact and approximate numerics compare by numeric promotion). */
function numericEqual(a: Numeric, b: Numeric): boolean {
  if (typeof a === typeof b) return a === b;
  const [n, big] = typeof a === 'number' ? [a, b as bigint] : [b as number, a as bigint];
  return Number.isInteger(n) && BigInt(n) === big;
}

/**
 * Equality of two non-NULL values: true or false for like types, undefined for unlike types, which
 * JMS 3.8.1.1 makes FALSE for both = and <> ("if the comparison of non-like type values is
 * attempted, the value of the operation is false").
 */
function likeEqual(l: Exclude<Value, null>, r: Exclude<Value, null>, convert: boolean): boolean | undefined {
  if (isNumeric(l)) {
    if (isNumeric(r)) return numericEqual(l, r);
    if (convert && typeof r === 'string') {
      const n = parseNumeric(r);
      return n === undefined ? undefined : numericEqual(l, n);
    }
    return undefined;
  }
  if (typeof l === 'string') {
    if (typeof r === 'string') return l === r;
    if (convert && isNumeric(r)) {
      const n = parseNumeric(l);
      return n === undefined ? undefined : numericEqual(n, r);
    }
    if (convert && typeof r === 'boolean') {
      const b = parseBoolean(l);
      return b === undefined ? undefined : b === r;
    }
    return undefined;
  }
  if (typeof l === 'boolean') {
    if (typeof r === 'boolean') return l === r;
    if (convert && typeof r === 'string') {
      const b = parseBoolean(r);
      return b === undefined ? undefined : b === l;
    }
    return undefined;
  }
  // Bytes are not a selector type: they compare with nothing.
  return undefined;
}

function equals(l: Value, r: Value, convert: boolean): Truth {
  if (l === null || r === null) return null;
  return likeEqual(l, r, convert) ?? false;
}

function notEquals(l: Value, r: Value, convert: boolean): Truth {
  if (l === null || r === null) return null;
  const equal = likeEqual(l, r, convert);
  return equal === undefined ? false : !equal;
}

type Ordering = '<' | '<=' | '>' | '>=';

/**
 * < <= > >= apply to numbers only (JMS 3.8.1.1); strings and booleans give FALSE. With
 * convertStringExpressions a string compared with a number is read as a number first. NaN compares
 * FALSE with everything, as in Java.
 */
function order(op: Ordering, l: Value, r: Value, convert: boolean): Truth {
  if (l === null || r === null) return null;
  let a: Numeric | undefined = isNumeric(l) ? l : undefined;
  let b: Numeric | undefined = isNumeric(r) ? r : undefined;
  if (convert) {
    if (a === undefined && b !== undefined && typeof l === 'string') a = parseNumeric(l);
    else if (b === undefined && a !== undefined && typeof r === 'string') b = parseNumeric(r);
  }
  if (a === undefined || b === undefined) return false;
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

function and(l: Truth, r: Truth): Truth {
  if (l === false || r === false) return false;
  if (l === null || r === null) return null;
  return true;
}

function or(l: Truth, r: Truth): Truth {
  if (l === true || r === true) return true;
  if (l === null || r === null) return null;
  return false;
}

function arithmeticOperand(value: Value, convert: boolean): Numeric | undefined {
  if (isNumeric(value)) return value;
  if (convert && typeof value === 'string') return parseNumeric(value);
  return undefined;
}

/**
 * long op long stays exact (bigint); anything involving a JS number is done in doubles. Division is
 * always floating point, as ActiveMQ does it: 7 / 2 = 3.5, x / 0 = Infinity, 0 / 0 = NaN (Java double
 * semantics, never an error). The remainder (ActiveMQ's `%`) takes the sign of the dividend, as
 * Java's does; a long's remainder by zero, an error in Java, is unknown (null): nothing matches it.
 */
function arithmetic(op: ArithmeticOperator, l: Numeric, r: Numeric): Numeric | null {
  if (typeof l === 'bigint' && typeof r === 'bigint' && op !== '/') {
    if (op === '%') return r === 0n ? null : l % r;
    return op === '+' ? l + r : op === '-' ? l - r : l * r;
  }
  const a = Number(l);
  const b = Number(r);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
  }
}

function negate(truth: Truth): Truth {
  return truth === null ? null : !truth;
}

export function compileCondition(node: Node, convert: boolean): Condition {
  switch (node.kind) {
    case 'literal': {
      if (typeof node.value !== 'boolean') break;
      const value = node.value;
      return () => value;
    }
    case 'cast': {
      // A value used as a condition is TRUE only when it is boolean true (ActiveMQ: any other type is FALSE).
      const operand = compileValue(node.operand, convert);
      return (m, d) => {
        const v = operand(m, d);
        if (v === null || typeof v === 'boolean') return v;
        if (convert && typeof v === 'string') return parseBoolean(v) ?? false;
        return false;
      };
    }
    case 'not': {
      const operand = compileCondition(node.operand, convert);
      return (m, d) => negate(operand(m, d));
    }
    case 'and': {
      const operands = node.operands.map((operand) => compileCondition(operand, convert));
      // A chain of ANDs is one node evaluated in a loop, so a long chain costs no stack.
      return (m, d) => {
        let result: Truth = true;
        for (const operand of operands) {
          const truth = operand(m, d);
          if (truth === false) return false;
          if (truth === null) result = null;
        }
        return result;
      };
    }
    case 'or': {
      const operands = node.operands.map((operand) => compileCondition(operand, convert));
      return (m, d) => {
        let result: Truth = false;
        for (const operand of operands) {
          const truth = operand(m, d);
          if (truth === true) return true;
          if (truth === null) result = null;
        }
        return result;
      };
    }
    case 'compare': {
      const left = compileValue(node.left, convert);
      const right = compileValue(node.right, convert);
      const op = node.op;
      if (op === '=') return (m, d) => equals(left(m, d), right(m, d), convert);
      if (op === '<>') return (m, d) => notEquals(left(m, d), right(m, d), convert);
      return (m, d) => order(op, left(m, d), right(m, d), convert);
    }
    case 'between': {
      const value = compileValue(node.value, convert);
      const low = compileValue(node.low, convert);
      const high = compileValue(node.high, convert);
      // JMS 3.8.1.1: "age BETWEEN 15 AND 19" is "age >= 15 AND age <= 19", and
      // "age NOT BETWEEN 15 AND 19" is "age < 15 OR age > 19".
      if (node.negated) {
        return (m, d) => {
          const v = value(m, d);
          return or(order('<', v, low(m, d), convert), order('>', v, high(m, d), convert));
        };
      }
      return (m, d) => {
        const v = value(m, d);
        return and(order('>=', v, low(m, d), convert), order('<=', v, high(m, d), convert));
      };
    }
    case 'like': {
      const value = compileValue(node.value, convert);
      const like = compileLike(node.pattern, node.escape);
      const negated = node.negated;
      return (m, d) => {
        const v = value(m, d);
        if (v === null) return null;
        // LIKE compares strings; any other type is a comparison of unlike types, FALSE.
        const matched = typeof v === 'string' && like(v);
        return negated ? !matched : matched;
      };
    }
    case 'in': {
      const value = compileValue(node.value, convert);
      const list = node.list;
      const strings = list.every((item) => typeof item === 'string') ? new Set(list as readonly string[]) : undefined;
      const negated = node.negated;
      // JMS 3.8.1.1: IN is a chain of = joined by OR, NOT IN its negation; a NULL value is UNKNOWN.
      return (m, d) => {
        const v = value(m, d);
        if (v === null) return null;
        let found = false;
        if (strings !== undefined && typeof v === 'string') found = strings.has(v);
        else {
          for (const item of list) {
            if (likeEqual(v, item, convert) === true) {
              found = true;
              break;
            }
          }
        }
        return negated ? !found : found;
      };
    }
    case 'isNull': {
      const value = compileValue(node.value, convert);
      return node.negated ? (m, d) => value(m, d) !== null : (m, d) => value(m, d) === null;
    }
    default:
      break;
  }
  throw new Error(`selector node '${node.kind}' is not a condition`);
}

export function compileValue(node: Node, convert: boolean): Evaluator {
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return () => value;
    }
    case 'identifier': {
      const header = headerFields.get(node.name);
      if (header !== undefined) return header;
      const name = node.name;
      // the broker's own of that name first: a producer cannot steer a network's loop check
      return (m) => (m.brokerProperties === undefined ? m.properties.get(name) : (m.brokerProperties.get(name) ?? m.properties.get(name))) ?? null;
    }
    case 'negate': {
      const operand = compileValue(node.operand, convert);
      return (m, d) => {
        const v = arithmeticOperand(operand(m, d), convert);
        return v === undefined ? null : -v;
      };
    }
    case 'plus': {
      const operand = compileValue(node.operand, convert);
      return (m, d) => arithmeticOperand(operand(m, d), convert) ?? null;
    }
    case 'arithmetic': {
      const left = compileValue(node.left, convert);
      const right = compileValue(node.right, convert);
      const op = node.op;
      // NULL or a non-number on either side makes the result NULL (UNKNOWN).
      return (m, d) => {
        const l = arithmeticOperand(left(m, d), convert);
        if (l === undefined) return null;
        const r = arithmeticOperand(right(m, d), convert);
        if (r === undefined) return null;
        return arithmetic(op, l, r);
      };
    }
    default:
      return compileCondition(node, convert);
  }
}
