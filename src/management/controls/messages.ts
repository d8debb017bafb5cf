import { z } from 'zod';
import { FerryError } from '../../errors.js';
import { bodyLengthOf, headerOfProperty, isNumberWireType, isPropertyWireType, isStructuredProperty, type Destination, type HeaderProperty, type MessageInit, type PropertyValue, type PropertyWireType } from '../../core/index.js';
import type { MessagePick, WaitingMessage, WaitingPlace } from '../../core/admin.js';
import { modestJson } from '../json-body.js';

/** `queue://x` or `topic://x`, as messages name their destinations here. */
export function destinationUri(d: Destination | undefined): string | null {
  return d === undefined ? null : `${d.kind}://${d.name}`;
}

export function parseDestinationUri(text: string, field: string): Destination {
  const m = /^(queue|topic):\/\/(.+)$/.exec(text);
  if (m === null) throw new FerryError('FERRY_BAD_REQUEST', `${field} must be queue://NAME or topic://NAME, got "${text}"`);
  return { kind: m[1] as 'queue' | 'topic', name: m[2]! };
}

/**
 * The bodies one answer of whole messages holds at most (a page of `full=true`, the routes before
 * v1): the answer is one JSON string, and V8's strings stop at 512 M characters, which 500 messages
 * of 1 MB in base64 pass; the bodies are read from disk and held until the answer is sent. A page
 * past it ends early, with `more`; its first message is always in it.
 */
export const WHOLE_PAGE_BODY_BYTES = 8 * 1024 * 1024;

/** A browse page's `next`, as `after` takes it back: the last message's priority and its sequence number in its queue. */
export function cursorText(place: WaitingPlace | undefined): string | null {
  return place === undefined ? null : `${place.priority}:${place.seq}`;
}

export function parseCursor(text: string | null): WaitingPlace | undefined {
  if (text === null) return undefined;
  const m = /^([0-9]):(0|[1-9][0-9]{0,15})$/.exec(text);
  if (m === null) throw new FerryError('FERRY_BAD_REQUEST', `after must be the "next" of a page before, such as "4:1234"; got "${text}"`);
  return { priority: Number(m[1]), seq: Number(m[2]) };
}

/** A message in a list: headers, no body. */
export function messageSummary(w: WaitingMessage): Record<string, unknown> {
  const m = w.message;
  return {
    id: m.id,
    timestamp: m.timestamp,
    persistent: m.persistent,
    priority: m.priority,
    expiration: m.expiration,
    redelivered: w.redelivered,
    deliveryCount: w.deliveryCount,
    correlationId: m.correlationId ?? null,
    type: m.type ?? null,
    groupId: m.groupId ?? null,
    bodyKind: m.bodyKind,
    bodyBytes: bodyLengthOf(m),
    originalDestination: destinationUri(m.originalDestination),
  };
}

const PROPERTY_TYPES = ['boolean', 'byte', 'short', 'int', 'long', 'float', 'double', 'char', 'string', 'bytes'] as const;
type PropertyType = (typeof PROPERTY_TYPES)[number];

/**
 * A property with the type its producer gave it where its protocol kept one (a JMS byte, short or
 * float, a double that happens to be whole); without one, core's JavaScript value says: a whole
 * number in 32 bits reads as int, any other number as double.
 */
function typedProperty(name: string, value: PropertyValue, wireType: PropertyWireType | undefined): { name: string; type: PropertyType | 'null'; value: unknown } {
  if (value === null) return { name, type: 'null', value: null };
  if (typeof value === 'boolean') return { name, type: 'boolean', value };
  if (typeof value === 'bigint') return { name, type: 'long', value: value.toString() };
  if (typeof value === 'string') return { name, type: wireType === 'char' ? 'char' : 'string', value };
  if (Buffer.isBuffer(value)) return { name, type: 'bytes', value: value.toString('base64') };
  if (wireType !== undefined && isNumberWireType(wireType)) return { name, type: wireType, value };
  return { name, type: Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 ? 'int' : 'double', value };
}

/** One message whole: the summary, reply-to, typed properties and the body (parsed too when it is JSON text of a modest size and depth). */
export function messageView(w: WaitingMessage): Record<string, unknown> {
  const m = w.message;
  const text = m.bodyKind === 'text';
  const body: Record<string, unknown> = text ? { encoding: 'text', data: m.body.toString('utf8') } : { encoding: 'base64', data: m.body.toString('base64') };
  if (text) {
    const json = modestJson(body['data'] as string);
    if (json !== undefined) body['json'] = json;
  }
  return {
    ...messageSummary(w),
    groupSeq: m.groupSeq ?? null,
    replyTo: destinationUri(m.replyTo),
    // a map or list property is OpenWire's bytes, which an export imported again would make a bytes property
    properties: [...m.properties].filter(([name]) => !isStructuredProperty(m, name)).map(([name, value]) => typedProperty(name, value, m.propertyTypes?.get(name))),
    body,
  };
}

const typedValue = z.object({ type: z.enum(PROPERTY_TYPES), value: z.union([z.string(), z.number(), z.boolean()]) }).strict();

export const sendBody = z
  .object({
    body: z.string().default(''),
    bodyEncoding: z.enum(['text', 'base64']).default('text'),
    /** How consumers read the bytes (a JMS MapMessage's are its map in the encoding the broker keeps); default: text for a text body, bytes for base64. */
    bodyKind: z.enum(['text', 'bytes', 'map', 'stream', 'object', 'none']).optional(),
    persistent: z.boolean().default(true),
    priority: z.number().int().min(0).max(9).default(4),
    timeToLive: z.number().int().min(0).default(0),
    correlationId: z.string().optional(),
    type: z.string().optional(),
    groupId: z.string().optional(),
    groupSeq: z.number().int().min(-(2 ** 31)).max(2 ** 31 - 1).optional(),
    replyTo: z.string().optional(),
    /** Where a dead letter was first sent, so that a retry sends it back there (an exported dead-letter queue imported again). */
    originalDestination: z.string().optional(),
    properties: z.record(z.union([z.string(), z.number(), z.boolean(), z.null(), typedValue])).default({}),
  })
  .strict();

/** The whole numbers each declared type holds, as JMS's Byte, Short, Integer and Long do. */
const wholeRanges = {
  byte: [-(2n ** 7n), 2n ** 7n - 1n],
  short: [-(2n ** 15n), 2n ** 15n - 1n],
  int: [-(2n ** 31n), 2n ** 31n - 1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
} as const;
const FLOAT_MAX = 3.4028234663852886e38;
const WHOLE = /^-?\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** ASCII whitespace, which line-wrapped base64 (the `base64` tool's output, MIME's) carries between groups. */
const BASE64_WHITESPACE = /[ \t\r\n]+/g;

/**
 * Standard base64 (RFC 4648's alphabet, padded to a multiple of 4), as the API gives bodies and
 * bytes out; undefined for anything else. Node's decoder skips what it does not know and stops at
 * a stray `=`, so a mangled or truncated value would be sent as other bytes: a value is taken only
 * when it is exactly what its bytes encode to, which refuses foreign characters, base64url, missing
 * padding and stray bits after the last byte alike.
 */
function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(BASE64_WHITESPACE, '');
  const bytes = Buffer.from(compact, 'base64');
  return bytes.toString('base64') === compact ? bytes : undefined;
}

function propertyValue(name: string, v: z.infer<typeof sendBody>['properties'][string]): PropertyValue {
  if (v === null || typeof v !== 'object') return v;
  const fail = (why = `is not ${/^[aeiou]/.test(v.type) ? 'an' : 'a'} ${v.type}`): never => {
    throw new FerryError('FERRY_BAD_REQUEST', `property "${name}": ${JSON.stringify(v.value)} ${why}`);
  };
  switch (v.type) {
    case 'boolean':
      return typeof v.value === 'boolean' ? v.value : v.value === 'true' ? true : v.value === 'false' ? false : fail();
    case 'string':
      return String(v.value);
    case 'char':
      // a Java char: one UTF-16 unit
      return typeof v.value === 'string' && v.value.length === 1 ? v.value : fail('is not a char (one UTF-16 unit)');
    case 'bytes':
      return (typeof v.value === 'string' ? decodeBase64(v.value) : undefined) ?? fail('is not base64 (the standard alphabet, padded with = to a multiple of 4)');
    case 'byte':
    case 'short':
    case 'int':
    case 'long': {
      // BigInt('') is 0 and BigInt('0x10') is 16; a JSON number past 2^53 has already lost digits
      if (typeof v.value === 'number' && Number.isInteger(v.value) && !Number.isSafeInteger(v.value)) return fail(`is past 2^53, where a JSON number loses digits: give the ${v.type} as a decimal string`);
      const text = typeof v.value === 'string' ? v.value : typeof v.value === 'number' && Number.isInteger(v.value) ? String(v.value) : fail();
      if (!WHOLE.test(text)) return fail();
      const n = BigInt(text);
      const [min, max] = wholeRanges[v.type];
      if (n < min || n > max) return fail(`is out of range for ${v.type === 'int' ? 'an' : 'a'} ${v.type} (${min} to ${max})`);
      return v.type === 'long' ? n : Number(n);
    }
    default: {
      if (typeof v.value === 'boolean' || (typeof v.value === 'string' && !DECIMAL.test(v.value))) return fail();
      const n = Number(v.value);
      if (!Number.isFinite(n)) return fail(`is out of range for a ${v.type}`);
      if (v.type === 'float' && Math.abs(n) > FLOAT_MAX) return fail(`is out of range for a float (±${FLOAT_MAX})`);
      return n;
    }
  }
}

/** What POST .../messages sends, as core takes it. */
export function messageInit(destination: Destination, input: z.infer<typeof sendBody>, now: number): MessageInit {
  const properties = new Map<string, PropertyValue>();
  // the declared type goes with the message, as a JMS producer's does: a JMS consumer reads a short as a short
  const propertyTypes = new Map<string, PropertyWireType>();
  // a property named after a JMS header (JMSXGroupID, JMSCorrelationID...) is that header, as STOMP's
  // headers and ActiveMQ's properties of those names are: consumers read it as such, over the field
  const headers: HeaderProperty[] = [];
  for (const [name, value] of Object.entries(input.properties)) {
    const typed = propertyValue(name, value);
    const header = headerOfProperty(name, typed);
    if (header !== undefined) {
      if ('invalid' in header) throw new FerryError('FERRY_BAD_REQUEST', `property "${name}" sets the JMS header of that name, which must be ${header.invalid}; got ${JSON.stringify(typeof typed === 'bigint' ? typed.toString() : typed)}`);
      headers.push(header);
      continue;
    }
    properties.set(name, typed);
    if (value !== null && typeof value === 'object' && isPropertyWireType(value.type)) propertyTypes.set(name, value.type);
  }
  const body = input.bodyEncoding === 'base64' ? decodeBase64(input.body) : Buffer.from(input.body, 'utf8');
  if (body === undefined) throw new FerryError('FERRY_BAD_REQUEST', 'the body is not base64 (the standard alphabet, padded with = to a multiple of 4), as bodyEncoding "base64" says it is');
  const bodyKind = input.bodyKind ?? (input.bodyEncoding === 'base64' ? 'bytes' : 'text');
  if (bodyKind === 'none' && body.length > 0) throw new FerryError('FERRY_BAD_REQUEST', 'a message of body kind "none" has no body');
  const init: MessageInit = {
    destination,
    body,
    bodyKind,
    persistent: input.persistent,
    priority: input.priority,
    expiration: input.timeToLive > 0 ? now + input.timeToLive : 0,
    correlationId: input.correlationId,
    type: input.type,
    groupId: input.groupId,
    groupSeq: input.groupId === undefined ? undefined : input.groupSeq,
    replyTo: input.replyTo === undefined ? undefined : parseDestinationUri(input.replyTo, 'replyTo'),
    originalDestination: input.originalDestination === undefined ? undefined : parseDestinationUri(input.originalDestination, 'originalDestination'),
    properties,
    propertyTypes,
  };
  for (const header of headers) Object.assign(init, header);
  return init;
}

/** `{ids}`, `{selector}` or `{}` (all), with `to` where the operation needs one. */
export const pickBody = z
  .object({
    to: z.string().optional(),
    ids: z.array(z.string()).optional(),
    selector: z.string().optional(),
  })
  .strict()
  .refine((b) => b.ids === undefined || b.selector === undefined, 'give ids or selector, not both');

export function pickOf(body: z.infer<typeof pickBody>): MessagePick {
  return { ids: body.ids, selector: body.selector };
}
