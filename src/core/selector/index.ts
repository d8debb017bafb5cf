/**
 * JMS message selectors (JMS 1.1 §3.8, Jakarta Messaging "Message selector"): a subset of SQL-92
 * conditional expressions over a message's header fields and properties, with three-valued logic.
 * A selector is parsed and type-checked once, then evaluated as a tree of closures.
 */
import type { Message } from '../message.js';
import { compileCondition } from './evaluate.js';
import { parseSelector } from './parser.js';

export { MAX_SELECTOR_DEPTH, MAX_SELECTOR_LENGTH } from './parser.js';

export interface SelectorContext {
  /** JMSXDeliveryCount / JMSRedelivered come from the delivery, not the message */
  deliveryCount?: number;
}

export interface Selector {
  readonly text: string;
  /** true only when the selector evaluates to TRUE (FALSE and UNKNOWN both mean "no") */
  matches(message: Message, context?: SelectorContext): boolean;
}

/**
 * `selector` for a queue consumer with noLocal: it takes nothing its own connection sent, which
 * waits for other consumers, as ActiveMQ applies noLocal to queues too (JMS leaves it open there).
 */
export function excludingConnection(selector: Selector | undefined, connectionId: string): Selector {
  return {
    text: selector?.text ?? '',
    matches: (message, context) => message.originConnectionId !== connectionId && (selector === undefined || selector.matches(message, context)),
  };
}

export interface SelectorOptions {
  /**
   * ActiveMQ's convertStringExpressions, used for STOMP and MQTT whose header values are all strings:
   * when a string is compared (=, <>, <, <=, >, >=, BETWEEN, IN) with a number, or used in arithmetic,
   * it is converted to a number if it parses as one (and compared with a boolean, 'true' / 'false'
   * in any case become booleans); otherwise it stays a string, and a comparison of unlike types is
   * FALSE (JMS), arithmetic on it NULL. Off by default (strict JMS typing).
   */
  convertStringExpressions?: boolean;
}

/**
 * Parses once; throws FerryError('FERRY_SELECTOR_INVALID', message) whose message says what is wrong
 * and where, e.g. `selector error at column 9: expected a value after '>' but found 'AND' in "price > AND x"`.
 * An empty or blank selector matches every message (JMS: it means no selector). A selector longer
 * than MAX_SELECTOR_LENGTH or nested deeper than MAX_SELECTOR_DEPTH is refused the same way.
 */
export function compileSelector(text: string, options?: SelectorOptions): Selector {
  if (/^[ \t\n\r\f]*$/.test(text)) return { text, matches: () => true };
  const convert = options?.convertStringExpressions === true;
  const condition = compileCondition(parseSelector(text, { convertStringExpressions: convert }), convert);
  return {
    text,
    matches(message: Message, context?: SelectorContext): boolean {
      return condition(message, context?.deliveryCount ?? 1) === true;
    },
  };
}
