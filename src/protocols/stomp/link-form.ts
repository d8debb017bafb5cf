import { FerryError } from '../../errors.js';
import { isNumberWireType, isStructuredProperty, type BodyKind, type Message, type PropertyValue, type PropertyWireType } from '../../core/index.js';
import { escapeHeader } from './codec.js';
import { fieldsHead, type TemporaryNames } from './mapping.js';

/**
 * The link form of a MESSAGE frame (docs/network.md, "The link form"): what a broker's network link
 * reads of a neighbour's message beyond a plain STOMP client's headers, so that the message is
 * stored there as it was sent here. A link asks for it with `ferry.link-form:1` on CONNECT (STOMP 1.2
 * only), and the CONNECTED frame says `ferry-link-form:1` when it is given: every MESSAGE on that
 * connection is then in this form. The message's own fields are the plain form's headers
 * (`message-id` is kept by the reader, `timestamp` too), and:
 *
 * - `ferry-body:KIND`: text, bytes, map, stream, object or none; `content-length` always.
 * - `ferry-user:ID`: the user id the broker checked, when the message has one.
 * - `ferry-property.NAME:TYPE:VALUE` for each property, `ferry-broker-property.NAME:TYPE:VALUE` for
 *   each of the broker's own (a network's path and hops). TYPE is string, boolean, byte, short, int,
 *   long, float, double, char, number (a number of no JMS type), bytes (base64) or null.
 *
 * No property becomes a header of its own name, so nothing a producer names can pass for these.
 */
export const LINK_FORM = '1';

const BODY = 'ferry-body';
const USER = 'ferry-user';
const PROPERTY = 'ferry-property.';
const BROKER_PROPERTY = 'ferry-broker-property.';

const bodyKinds: ReadonlySet<string> = new Set<BodyKind>(['text', 'bytes', 'map', 'stream', 'object', 'none']);

/** A message's head in the link form (STOMP 1.2 escapes): the part every delivery of it shares. */
export function linkMessageHead(message: Message, temporary: TemporaryNames | undefined): string {
  let head = fieldsHead(message, '1.2', temporary) + `${BODY}:${message.bodyKind}\n`;
  if (message.userId !== undefined) head += `${USER}:${escapeHeader(message.userId, '1.2')}\n`;
  for (const [name, value] of message.properties) {
    // a neighbour of an older version refuses a type it does not know, so these stay here as they did
    if (!isStructuredProperty(message, name)) head += propertyLine(PROPERTY, name, value, message.propertyTypes?.get(name));
  }
  for (const [name, value] of message.brokerProperties ?? []) head += propertyLine(BROKER_PROPERTY, name, value, undefined);
  return head + 'content-length:' + message.body.length + '\n';
}

function propertyLine(prefix: string, name: string, value: PropertyValue, wireType: PropertyWireType | undefined): string {
  let typed: string;
  if (value === null) typed = 'null:';
  else if (typeof value === 'string') typed = `${wireType === 'char' ? 'char' : 'string'}:${value}`;
  else if (typeof value === 'boolean') typed = `boolean:${String(value)}`;
  else if (typeof value === 'bigint') typed = `long:${value.toString()}`;
  // AMQP's own types (ubyte, timestamp...) go as plain numbers: a neighbour of an older version refuses a type it does not know
  else if (typeof value === 'number') typed = `${wireType !== undefined && isNumberWireType(wireType) ? wireType : 'number'}:${Object.is(value, -0) ? '-0' : String(value)}`;
  else typed = `bytes:${value.toString('base64')}`;
  return `${escapeHeader(prefix + name, '1.2')}:${escapeHeader(typed, '1.2')}\n`;
}

/** What the link form carries beyond a plain reading of the frame's headers. */
export interface LinkFields {
  readonly id: string | undefined;
  readonly timestamp: number | undefined;
  readonly bodyKind: BodyKind;
  readonly userId: string | undefined;
  readonly properties: Map<string, PropertyValue>;
  readonly propertyTypes: Map<string, PropertyWireType>;
  readonly brokerProperties: Map<string, PropertyValue>;
}

/** Reads a MESSAGE frame in the link form; FERRY_STOMP_PROTOCOL when it is not one. */
export function readLinkFields(headers: ReadonlyMap<string, string>): LinkFields {
  const bodyKind = headers.get(BODY);
  if (bodyKind === undefined || !bodyKinds.has(bodyKind)) throw new FerryError('FERRY_STOMP_PROTOCOL', `a MESSAGE in the link form needs ${BODY}, got "${bodyKind ?? ''}"`);
  const timestamp = headers.get('timestamp');
  const fields: LinkFields = {
    id: headers.get('message-id'),
    timestamp: timestamp === undefined || !Number.isFinite(Number(timestamp)) ? undefined : Number(timestamp),
    bodyKind: bodyKind as BodyKind,
    userId: headers.get(USER),
    properties: new Map(),
    propertyTypes: new Map(),
    brokerProperties: new Map(),
  };
  for (const [header, text] of headers) {
    if (header.startsWith(PROPERTY)) {
      const name = header.slice(PROPERTY.length);
      const { value, wireType } = typedValue(header, text);
      fields.properties.set(name, value);
      if (wireType !== undefined) fields.propertyTypes.set(name, wireType);
    } else if (header.startsWith(BROKER_PROPERTY)) {
      fields.brokerProperties.set(header.slice(BROKER_PROPERTY.length), typedValue(header, text).value);
    }
  }
  return fields;
}

function typedValue(header: string, text: string): { value: PropertyValue; wireType: PropertyWireType | undefined } {
  const colon = text.indexOf(':');
  const type = colon < 0 ? '' : text.slice(0, colon);
  const value = text.slice(colon + 1);
  const bad = (): FerryError => new FerryError('FERRY_STOMP_PROTOCOL', `header ${header} is not TYPE:VALUE of a known type: "${text}"`);
  switch (type) {
    case 'string':
      return { value, wireType: undefined };
    case 'char':
      return { value, wireType: 'char' };
    case 'null':
      return { value: null, wireType: undefined };
    case 'boolean':
      if (value !== 'true' && value !== 'false') throw bad();
      return { value: value === 'true', wireType: undefined };
    case 'long':
      if (!/^-?\d+$/.test(value)) throw bad();
      return { value: BigInt(value), wireType: undefined };
    case 'bytes':
      return { value: Buffer.from(value, 'base64'), wireType: undefined };
    default: {
      if (type !== 'number' && !isNumberWireType(type)) throw bad();
      const n = Number(value);
      if (value.trim() === '' || (Number.isNaN(n) && value !== 'NaN')) throw bad();
      return { value: n, wireType: isNumberWireType(type) ? type : undefined };
    }
  }
}
