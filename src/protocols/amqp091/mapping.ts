import { DEATH_HISTORY, isStructuredProperty, readDeaths, type Destination, type Message, type PropertyValue, type PublishInit } from '../../core/index.js';
import { Amqp091Error, Reply } from './errors.js';
import { Decimal, Timestamp, Typed, type FieldTable, type FieldValue } from './field-table.js';
import { decodeContentHeader, encodeProperties, type BasicProperties } from './frames.js';
import { replyKeyOf } from './reply-to.js';

/**
 * AMQP 0-9-1 content <-> core messages.
 *
 * delivery-mode 2 <-> persistent; priority <-> priority (clamped to core's 0-9; absent is 0, as
 * RabbitMQ ranks it); correlation-id, type <-> the same; message-id <-> the message's id (a message
 * without one gets the broker's, which goes out to 0-9-1 consumers only when the message came from
 * another protocol); reply-to <-> a queue of that name (a topic's name when the reply-to is a
 * topic; a temporary queue's direct reply-to key, see `reply-to.ts`); timestamp (seconds) <->
 * timestamp (ms); expiration (a string of milliseconds to live) -> an absolute expiration from the
 * time of publishing, and back as what is left of it; content-type,
 * content-encoding, app-id <-> user properties of those names (AMQP 1.0 and STOMP keep
 * content-type there too); user-id <-> the message's user id (`Message.userId`), checked against
 * the connection's user first, as RabbitMQ does: consumers trust it, so a header or another
 * protocol's property named `JMSXUserID` stays an ordinary header and never becomes it. The
 * headers `JMSXGroupID` (a string) and `JMSXGroupSeq` (a whole number, or its text) <-> the
 * message's group and its sequence, as RabbitMQ passes them between STOMP and 0-9-1: JMS, STOMP and
 * AMQP 1.0 consumers see the group, and a queue keeps the group to one consumer.
 *
 * Headers <-> user properties, by type: booleans, strings (longstr), byte arrays (Buffer) and void
 * (null) as they are; every integer up to 32 bits as a number, 64-bit ones as a bigint; floats and
 * doubles as numbers; a timestamp as a number of milliseconds; a decimal as its decimal text. A
 * nested table or an array has no counterpart in core's flat properties: it becomes its JSON text
 * (bigints as strings, byte arrays as base64), so other protocols can still read it; `x-death`,
 * the history core keeps as such text when it dead-letters a message, goes out as the array of
 * tables RabbitMQ writes (`deathTables`). `BCC` is no property: its keys route the message
 * (`Message.bccKeys`) and the header is left out of what is kept. A 0-9-1
 * consumer gets the exact header frame the publisher sent (kept as `Message.native`, also in the
 * store), nested values, exact integer types, a priority above 9 and the expiration as published
 * included; a dead-letter copy gets it with core's changes applied (`amended`). Only messages from
 * other protocols are encoded anew.
 */

/** The key of the encoded content properties in `Message.encodings`. */
export const ENCODING = 'amqp091';
const CONTENT_TYPE = 'content-type';
const CONTENT_ENCODING = 'content-encoding';
const APP_ID = 'app-id';
/** RabbitMQ's header for how many times a message was delivered before (quorum queues). */
export const DELIVERY_COUNT = 'x-delivery-count';
/** RabbitMQ's header of routing keys that route the message too, unseen by consumers (CC's are seen: core reads them). */
const BCC = 'BCC';
/** The headers a message's group travels in, JMS's property names, which STOMP uses too. */
const GROUP_ID = 'JMSXGroupID';
const GROUP_SEQ = 'JMSXGroupSeq';

/**
 * The core message a publish becomes (core names its destination from the exchange and routing key).
 * `user` is the authenticated user, which a user-id must name; `propertiesBytes` are the properties as
 * they came on the wire, kept for 0-9-1 consumers.
 */
export function publishToInit(
  props: BasicProperties,
  propertiesBytes: Buffer,
  body: Buffer,
  user: string | undefined,
  now: number,
  directReply?: { readonly key: string; readonly queue: Destination },
): PublishInit {
  const init: { -readonly [K in keyof PublishInit]: PublishInit[K] } = {
    body,
    bodyKind: props.contentType !== undefined && props.contentType.startsWith('text/') ? 'text' : 'bytes',
    persistent: props.deliveryMode === 2,
    priority: props.priority === undefined ? 0 : Math.min(9, props.priority),
  };
  if (props.expiration !== undefined) {
    const ttl = parseExpiration(props.expiration);
    init.expiration = now + ttl;
    if (ttl === 0) init.deliverNowOrExpire = true;
  }
  if (props.correlationId !== undefined) init.correlationId = props.correlationId;
  if (props.type !== undefined) init.type = props.type;
  if (props.messageId !== undefined && props.messageId !== '') init.id = props.messageId;
  if (props.timestamp !== undefined) init.timestamp = props.timestamp * 1000;
  // a direct reply-to names the requester's temporary queue, which other protocols can send to as such
  if (directReply !== undefined) init.replyTo = directReply.queue;
  else if (props.replyTo !== undefined) init.replyTo = { kind: 'queue', name: props.replyTo };
  const properties = new Map<string, PropertyValue>();
  // sender-selected distribution: BCC keys route the message, and the header goes before anyone sees it
  const bcc = props.headers?.get(BCC);
  const headers = bcc === undefined ? props.headers : new Map([...props.headers!].filter(([name]) => name !== BCC));
  if (bcc !== undefined) init.bccKeys = routingKeysOf(bcc);
  if (headers !== undefined) {
    for (const [name, value] of headers) {
      const property = toProperty(value);
      const seq = name === GROUP_SEQ ? groupSeqOf(property) : undefined;
      if (name === GROUP_ID && typeof property === 'string') init.groupId = property;
      else if (seq !== undefined) init.groupSeq = seq;
      else properties.set(name, property);
    }
  }
  if (props.contentType !== undefined) properties.set(CONTENT_TYPE, props.contentType);
  if (props.contentEncoding !== undefined) properties.set(CONTENT_ENCODING, props.contentEncoding);
  if (props.appId !== undefined) properties.set(APP_ID, props.appId);
  if (props.userId !== undefined) {
    // as RabbitMQ: a user-id must be the connection's own user ([RabbitMQ validated user-id])
    if (props.userId !== user) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, `user_id property set to '${props.userId}' but authenticated user was '${user ?? ''}'`);
    init.userId = props.userId;
  }
  if (properties.size > 0) init.properties = properties;
  // 0-9-1 consumers must see the reply key, not the publisher's `amq.rabbitmq.reply-to`, and no BCC
  const kept = directReply === undefined && bcc === undefined ? propertiesBytes : encodeProperties({ ...props, ...(headers === undefined ? {} : { headers }), ...(directReply === undefined ? {} : { replyTo: directReply.key }) });
  init.encodings = new Map([[ENCODING, kept]]);
  init.native = { protocol: ENCODING, bytes: kept, exact: true };
  return init;
}

/** The keys of a CC or BCC header: an array's strings, or a string. */
function routingKeysOf(value: FieldValue): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string') : [];
}

/** A group sequence header as core's number (JMS's int); undefined for what is none. */
function groupSeqOf(value: PropertyValue): number | undefined {
  const n = typeof value === 'number' || typeof value === 'bigint' ? Number(value) : typeof value === 'string' && /^-?\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  return Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
}

/** RabbitMQ's rule: a non-negative integer of milliseconds, as text. */
function parseExpiration(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, `invalid expiration '${text}'`);
  return Number(text);
}

export function toProperty(value: FieldValue): PropertyValue {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  if (value instanceof Typed) return value.value;
  if (value instanceof Timestamp) return Number(value.seconds) * 1000;
  if (value instanceof Decimal) return decimalText(value);
  return JSON.stringify(toJson(value));
}

function decimalText(d: Decimal): string {
  if (d.scale === 0) return String(d.value);
  const digits = Math.abs(d.value).toString().padStart(d.scale + 1, '0');
  return `${d.value < 0 ? '-' : ''}${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`;
}

function toJson(value: FieldValue): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, toJson(v)]));
  if (value instanceof Typed) return value.value;
  if (value instanceof Timestamp) return Number(value.seconds) * 1000;
  return decimalText(value);
}

/**
 * `x-death` as RabbitMQ writes it: an array of tables, count a long, time a timestamp, the routing
 * keys an array; a property by that name that is not such a history goes out as it is.
 */
function deathTables(value: PropertyValue, expired?: { readonly first: Message; readonly expiration: string }): FieldValue {
  const deaths = readDeaths(value);
  if (deaths.length === 0) return toField(value);
  // the publisher's expiration went at the first death, whose entry keeps it, as RabbitMQ's does
  const firstQueue = expired?.first.properties.get('x-first-death-queue');
  const firstReason = expired?.first.properties.get('x-first-death-reason');
  return deaths.map((d): FieldTable => {
    const table = new Map<string, FieldValue>([
      ['count', BigInt(d.count)],
      ['reason', d.reason],
      ['queue', d.queue],
      ['time', new Timestamp(BigInt(Math.floor(d.time / 1000)))],
      ['exchange', d.exchange],
      ['routing-keys', [...d['routing-keys']]],
    ]);
    if (expired !== undefined && d.queue === firstQueue && d.reason === firstReason) table.set('original-expiration', expired.expiration);
    return table;
  });
}

/** A core property as a header value: numbers that are integers as 32-bit or 64-bit integers, others as doubles. */
function toField(value: PropertyValue): FieldValue {
  return value;
}

/**
 * The content properties of a core message, encoded: the publisher's own bytes for a message that
 * came over 0-9-1 (amended where core changed it since), otherwise made once per message; either
 * is kept in `Message.encodings`.
 */
export function propertiesOf(message: Message, now: number): Buffer {
  const encodings = (message.encodings ??= new Map());
  const kept = encodings.get(ENCODING);
  if (kept !== undefined) return kept as Buffer;
  const native = message.native?.protocol === ENCODING ? message.native : undefined;
  const encoded = native === undefined ? encodeProperties(basicProperties(message, now)) : native.exact ? native.bytes : amended(native.bytes, message);
  encodings.set(ENCODING, encoded);
  return encoded;
}

/** Core properties that come from content properties rather than from headers. */
const notHeaders: ReadonlySet<string> = new Set([CONTENT_TYPE, CONTENT_ENCODING, APP_ID]);

/**
 * The publisher's properties with what core changed since (a dead-letter copy): headers core
 * added, changed (the `x-death` history) or removed, no expiration when core cleared it, and the
 * delivery mode. A header core holds unchanged keeps its own value, nested tables and types included.
 */
function amended(bytes: Buffer, message: Message): Buffer {
  const p = decodedProperties(bytes);
  const published = p.headers ?? new Map<string, FieldValue>();
  const headers: FieldTable = new Map();
  for (const [name, value] of published) if (message.properties.has(name) || isGroupHeader(name, message)) headers.set(name, value);
  for (const [name, value] of message.properties) {
    if (notHeaders.has(name) || !fitsShortstr(name) || isStructuredProperty(message, name)) continue;
    if (published.has(name) && sameProperty(toProperty(published.get(name)!), value)) continue;
    const expired = p.expiration !== undefined && message.expiration === 0 ? { first: message, expiration: p.expiration } : undefined;
    headers.set(name, name === DEATH_HISTORY ? deathTables(value, expired) : toField(value));
  }
  const out: BasicProperties = { ...p, deliveryMode: message.persistent ? 2 : 1 };
  if (headers.size > 0) out.headers = headers;
  else delete out.headers;
  if (message.expiration === 0) delete out.expiration;
  return encodeProperties(out);
}

/** A header core holds as the message's group rather than as a property. */
function isGroupHeader(name: string, message: Message): boolean {
  return (name === GROUP_ID && message.groupId !== undefined) || (name === GROUP_SEQ && message.groupSeq !== undefined);
}

function sameProperty(a: PropertyValue, b: PropertyValue): boolean {
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b;
}

/** Encoded content properties, decoded (they are a content header's payload after its class, weight and size). */
export function decodedProperties(bytes: Buffer): BasicProperties {
  const payload = Buffer.alloc(12 + bytes.length);
  payload.writeUInt16BE(60, 0);
  bytes.copy(payload, 12);
  return decodeContentHeader(payload).properties;
}

/**
 * A redelivery carries `x-delivery-count` (deliveries before this one, as RabbitMQ's quorum queues
 * count), so its properties are encoded for that delivery alone: redeliveries are rare, and the
 * message's kept encoding stays that of a first delivery.
 */
export function redeliveryProperties(deliveryCount: number, p: BasicProperties): Buffer {
  const headers: FieldTable = new Map(p.headers ?? []);
  headers.set(DELIVERY_COUNT, deliveryCount - 1);
  return encodeProperties({ ...p, headers });
}

/**
 * The 0-9-1 properties of a core message. A short string holds 255 bytes: a longer value another
 * protocol carried (a JMS correlation id, a STOMP header's name) is left out, as the property or
 * header it would have been, rather than refused to the consumer.
 */
export function basicProperties(message: Message, now: number): BasicProperties {
  const p: BasicProperties = {};
  const headers: FieldTable = new Map();
  for (const [name, value] of message.properties) {
    if (name === CONTENT_TYPE && typeof value === 'string') setShort(p, 'contentType', value);
    else if (name === CONTENT_ENCODING && typeof value === 'string') setShort(p, 'contentEncoding', value);
    else if (name === APP_ID && typeof value === 'string') setShort(p, 'appId', value);
    else if (!fitsShortstr(name) || isStructuredProperty(message, name)) continue;
    else if (name === DEATH_HISTORY) headers.set(name, deathTables(value));
    else headers.set(name, toField(value));
  }
  if (message.groupId !== undefined) headers.set(GROUP_ID, message.groupId);
  if (message.groupSeq !== undefined) headers.set(GROUP_SEQ, message.groupSeq);
  if (p.contentType === undefined && message.bodyKind === 'text') p.contentType = 'text/plain';
  if (headers.size > 0) p.headers = headers;
  p.deliveryMode = message.persistent ? 2 : 1;
  p.priority = message.priority;
  if (message.correlationId !== undefined) setShort(p, 'correlationId', message.correlationId);
  // a temporary queue goes out as a direct reply-to key, which a 0-9-1 replier publishes to as RabbitMQ's clients do
  if (message.replyTo !== undefined) setShort(p, 'replyTo', message.replyTo.kind === 'queue' && message.replyTo.temporary === true ? replyKeyOf(message.replyTo) : message.replyTo.name);
  if (message.expiration !== 0) p.expiration = String(Math.max(0, message.expiration - now));
  setShort(p, 'messageId', message.id);
  p.timestamp = Math.floor(message.timestamp / 1000);
  if (message.type !== undefined) setShort(p, 'type', message.type);
  if (message.userId !== undefined) setShort(p, 'userId', message.userId);
  return p;
}

function fitsShortstr(s: string): boolean {
  return s.length <= 85 || Buffer.byteLength(s) <= 255;
}

function setShort(p: BasicProperties, key: 'contentType' | 'contentEncoding' | 'appId' | 'userId' | 'correlationId' | 'replyTo' | 'messageId' | 'type', value: string): void {
  if (fitsShortstr(value)) p[key] = value;
}
