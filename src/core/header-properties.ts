import type { MessageInit, PropertyValue } from './message.js';

/**
 * Property names that are JMS headers. ActiveMQ's message takes a property of one of these names
 * as the header itself (`ActiveMQMessage.setObjectProperty`, which STOMP's headers and a JMS
 * client's `setStringProperty("JMSXGroupID", ...)` both go through), so its consumers read it as
 * the header: a group that a queue keeps to one consumer, a correlation id JMS's
 * `getJMSCorrelationID` returns. Every way into Ferry that takes free-form properties (STOMP
 * headers, the management API's send) maps them here, once.
 */
const HEADERS = {
  JMSXGroupID: { field: 'groupId', text: true, range: undefined },
  JMSXGroupSeq: { field: 'groupSeq', text: false, range: [-(2 ** 31), 2 ** 31 - 1] },
  JMSCorrelationID: { field: 'correlationId', text: true, range: undefined },
  JMSType: { field: 'type', text: true, range: undefined },
  JMSPriority: { field: 'priority', text: false, range: [0, 9] },
} as const;

type HeaderName = keyof typeof HEADERS;

/** The header a property stands for, as the message's field: `{groupId: 'g1'}`. */
export type HeaderProperty = Pick<MessageInit, 'groupId' | 'groupSeq' | 'correlationId' | 'type' | 'priority'>;

function isHeaderName(name: string): name is HeaderName {
  // asked of every free-form header of every STOMP SEND: the prefix turns nearly all away cheaply
  return name.startsWith('JMS') && Object.hasOwn(HEADERS, name);
}

/**
 * The header a property named `name` sets, undefined when the name is no header's, or `{invalid}`
 * saying what its value must be: a string header takes any text, number or boolean as its text;
 * a number header a whole number, or its decimal text, in the header's range (a fraction is cut,
 * as from STOMP's number headers).
 */
export function headerOfProperty(name: string, value: PropertyValue): HeaderProperty | { readonly invalid: string } | undefined {
  if (!isHeaderName(name)) return undefined;
  const header = HEADERS[name];
  if (header.text) {
    if (value === null || Buffer.isBuffer(value)) return { invalid: 'a string' };
    return { [header.field]: String(value) };
  }
  const [min, max] = header.range;
  const expected = { invalid: `a whole number from ${min} to ${max}` };
  const n = typeof value === 'number' || typeof value === 'bigint' ? Number(value) : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) return expected;
  const whole = Math.trunc(n);
  if (whole < min || whole > max) return expected;
  return { [header.field]: whole };
}
