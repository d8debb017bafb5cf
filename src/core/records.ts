import { FerryError } from '../errors.js';
import { buildMessage, markBodyOnDisk, PROPERTY_WIRE_TYPES, type BodyKind, type Destination, type Message, type MessageInit, type PropertyValue, type PropertyWireType } from './message.js';
import type { BindingSpec, ExchangeSpec, ExchangeType, HeadersMatch } from './exchanges.js';
import type { QueueArguments, QueueSpec } from './queue-arguments.js';
import { Reader, Writer } from './record-codec.js';

/**
 * The records core keeps in the store, and their byte layouts. Layouts are versioned by the record
 * type: a new layout gets a new type number, so old journals stay readable.
 */
export const RecordType = {
  /** A queue destination created on first use or by configuration. */
  Queue: 1,
  /** A durable topic subscription: client id, name, topic pattern, selector, no-local. */
  DurableSubscription: 2,
  /** A persistent message; kept while at least one reference points at it. */
  Message: 3,
  /** A message waiting in a queue or durable subscription: which queue, which message, its order, its delivery count. */
  Reference: 4,
  /** A message held for later delivery (AMQ_SCHEDULED_*), with its next due time and repeats left. */
  Scheduled: 5,
  /** A duplicate-detection id remembered for a destination. */
  DuplicateId: 6,
  /** The highest sequence of a queue handed to a consumer, for the redelivered flag after a crash. */
  DeliveryMark: 7,
  /** The retained message of one topic: whether it is persistent, and the message. */
  Retained: 8,
  /**
   * A persistent message whose layout starts with its body's length, so that recovery can keep the
   * headers and leave the body on disk without parsing anything (see `storedMessageHeaderLength`).
   */
  StoredMessage: 9,
  /**
   * A transaction prepared by its transaction manager (XA) and not yet committed or rolled back: its
   * id, the persistent messages it sends, and the references it acknowledges or rejects.
   */
  Prepared: 10,
  /** A durable exchange: name, type, flags, alternate exchange. */
  Exchange: 11,
  /** A durable binding (its source and destination both durable): source, destination, key, header condition. */
  Binding: 12,
  /**
   * A non-persistent message written out so that its body can leave memory (memoryPolicy page past
   * a memory limit), in StoredMessage's layout; non-persistent messages do not outlive the broker,
   * so recovery deletes every one.
   */
  PagedMessage: 13,
  /** The highest sequence taken from one of a protocol's producers, by a key the protocol names (see `SequenceMarks`). */
  SequenceMark: 14,
  /**
   * Above every queue sequence number in the store: a queue taking sends while its stored messages
   * are still being read back numbers them from here (see `Persistence.addReference`).
   */
  SequenceCeiling: 15,
  /**
   * A queue being deleted (its Queue record, updated in the same write before the deletes of its
   * references, and deleted after them): recovery drops the references to it that a crash left.
   */
  DeletedQueue: 16,
} as const;

// stored as the index: new kinds go at the end
const bodyKinds: readonly BodyKind[] = ['text', 'bytes', 'map', 'stream', 'object', 'none'];

function writeDestination(w: Writer, d: Destination): void {
  w.u8((d.kind === 'topic' ? 1 : 0) | (d.temporary === true ? 2 : 0));
  w.str(d.name);
}

/**
 * Recovered messages share one Destination object per name: a million messages waiting in one
 * queue need not carry a million copies of its name. Bounded, so odd names cannot grow it.
 */
const recoveredDestinations = new Map<string, Destination>();

function readDestination(r: Reader): Destination {
  const flags = r.u8() & ~(PUBLISHED | TAGGED);
  const name = r.str();
  const key = `${flags}:${name}`;
  const known = recoveredDestinations.get(key);
  if (known !== undefined) return known;
  const kind = (flags & 1) !== 0 ? 'topic' : 'queue';
  const destination: Destination = (flags & 2) !== 0 ? { kind, name, temporary: true } : { kind, name };
  if (recoveredDestinations.size < 10_000) recoveredDestinations.set(key, destination);
  return destination;
}

const enum PropertyTag {
  Null = 0,
  String = 1,
  Number = 2,
  True = 3,
  False = 4,
  Long = 5,
  Bytes = 6,
  /** A property's wire type (`PropertyWireType`, by index), then the property itself. */
  Typed = 7,
  /** A bigint past a long's range (an unsigned long from 2^63 up), as its decimal text: nothing narrower holds it. */
  Integer = 8,
}

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

// stored as the index
const propertyWireTypes: readonly PropertyWireType[] = PROPERTY_WIRE_TYPES;

function writeProperty(w: Writer, v: PropertyValue): void {
  if (v === null) w.u8(PropertyTag.Null);
  else if (typeof v === 'string') {
    w.u8(PropertyTag.String);
    w.str(v);
  } else if (typeof v === 'number') {
    w.u8(PropertyTag.Number);
    w.f64(v);
  } else if (typeof v === 'boolean') w.u8(v ? PropertyTag.True : PropertyTag.False);
  else if (typeof v === 'bigint') {
    if (v >= LONG_MIN && v <= LONG_MAX) {
      w.u8(PropertyTag.Long);
      w.i64(v);
    } else {
      w.u8(PropertyTag.Integer);
      w.str(v.toString());
    }
  } else {
    w.u8(PropertyTag.Bytes);
    w.bytes(v);
  }
}

function readProperty(r: Reader): PropertyValue {
  const tag = r.u8();
  switch (tag) {
    case PropertyTag.Null:
      return null;
    case PropertyTag.String:
      return r.str();
    case PropertyTag.Number:
      return r.f64();
    case PropertyTag.True:
      return true;
    case PropertyTag.False:
      return false;
    case PropertyTag.Long:
      return r.i64();
    case PropertyTag.Integer:
      return BigInt(r.str());
    case PropertyTag.Bytes:
      return r.bytes();
    default:
      throw new FerryError('FERRY_STORE_CORRUPT', `unknown property type ${tag} in a message record`);
  }
}

/** In a message's destination flags: an exchange name and routing key follow the destination's name (older records have neither). */
const PUBLISHED = 4;
/**
 * In a message's destination flags: tagged fields follow its properties (older records have none),
 * each a `MessageTag` and its bytes with their length, so a reader skips a tag it does not know;
 * a 0 ends them.
 */
const TAGGED = 8;

const enum MessageTag {
  End = 0,
  /** `Message.userId`. */
  UserId = 1,
  /** `Message.native`: its protocol, whether it is exact, its bytes. */
  Native = 2,
  /** `Message.brokerProperties`: their count, then each name and value as a property's. */
  BrokerProperties = 3,
  /** `Message.nullBody`, when true: no bytes. */
  NullBody = 4,
}

function writeMessage(w: Writer, m: Message): void {
  w.str(m.id);
  const d = m.destination;
  const tagged = m.userId !== undefined || m.native !== undefined || m.brokerProperties !== undefined || m.nullBody;
  w.u8((d.kind === 'topic' ? 1 : 0) | (d.temporary === true ? 2 : 0) | (m.exchange === undefined ? 0 : PUBLISHED) | (tagged ? TAGGED : 0));
  w.str(d.name);
  if (m.exchange !== undefined) {
    w.str(m.exchange);
    w.str(m.routingKey ?? '');
  }
  w.u8(bodyKinds.indexOf(m.bodyKind));
  w.u8(m.priority);
  w.f64(m.expiration);
  w.f64(m.timestamp);
  w.optStr(m.correlationId);
  if (m.replyTo === undefined) w.u8(0);
  else {
    w.u8(1);
    writeDestination(w, m.replyTo);
  }
  w.optStr(m.type);
  w.optStr(m.groupId);
  w.f64(m.groupSeq ?? Number.NaN);
  if (m.originalDestination === undefined) w.u8(0);
  else {
    w.u8(1);
    writeDestination(w, m.originalDestination);
  }
  w.u32(m.properties.size);
  const types = m.propertyTypes;
  for (const [name, value] of m.properties) {
    w.str(name);
    const type = types?.get(name);
    if (type !== undefined) {
      w.u8(PropertyTag.Typed);
      w.u8(propertyWireTypes.indexOf(type));
    }
    writeProperty(w, value);
  }
  if (tagged) writeTaggedFields(w, m);
  w.bytes(m.body);
}

function writeTaggedFields(w: Writer, m: Message): void {
  if (m.userId !== undefined) {
    w.u8(MessageTag.UserId);
    w.str(m.userId);
  }
  if (m.native !== undefined) {
    // written in place, not through a writer of its own: a 0-9-1 message carries it on every send
    const { protocol, exact, bytes } = m.native;
    w.u8(MessageTag.Native);
    w.u32(4 + Buffer.byteLength(protocol) + 1 + 4 + bytes.length);
    w.str(protocol);
    w.u8(exact ? 1 : 0);
    w.bytes(bytes);
  }
  if (m.brokerProperties !== undefined) {
    const field = new Writer(64);
    field.u32(m.brokerProperties.size);
    for (const [name, value] of m.brokerProperties) {
      field.str(name);
      writeProperty(field, value);
    }
    w.u8(MessageTag.BrokerProperties);
    w.bytes(field.finish());
  }
  if (m.nullBody) {
    w.u8(MessageTag.NullBody);
    w.bytes(EMPTY);
  }
  w.u8(MessageTag.End);
}

function readTaggedFields(r: Reader, init: MessageInit): void {
  for (let tag = r.u8(); tag !== MessageTag.End; tag = r.u8()) {
    const field = r.bytes();
    if (tag === MessageTag.UserId) init.userId = field.toString('utf8');
    else if (tag === MessageTag.Native) {
      const f = new Reader(field);
      init.native = { protocol: f.str(), exact: f.u8() === 1, bytes: f.bytes() };
    } else if (tag === MessageTag.BrokerProperties) {
      const f = new Reader(field);
      const properties = new Map<string, PropertyValue>();
      for (let i = f.u32(); i > 0; i--) properties.set(f.str(), readProperty(f));
      init.brokerProperties = properties;
    } else if (tag === MessageTag.NullBody) init.nullBody = true;
  }
}

/** Everything of a message but its body, read up to the body's length prefix. */
function readMessageHeaders(r: Reader): MessageInit & { id: string } {
  const id = r.str();
  let exchange: string | undefined;
  let routingKey: string | undefined;
  const flags = r.peekU8();
  const published = (flags & PUBLISHED) !== 0;
  const destination = readDestination(r);
  if (published) {
    exchange = r.str();
    routingKey = r.str();
  }
  const bodyKind = bodyKinds[r.u8()];
  if (bodyKind === undefined) throw new FerryError('FERRY_STORE_CORRUPT', `message record ${id} has an unknown body kind`);
  const priority = r.u8();
  const expiration = r.f64();
  const timestamp = r.f64();
  const correlationId = r.optStr();
  const replyTo = r.u8() === 0 ? undefined : readDestination(r);
  const type = r.optStr();
  const groupId = r.optStr();
  const groupSeq = r.f64();
  const originalDestination = r.u8() === 0 ? undefined : readDestination(r);
  const count = r.u32();
  const properties = count === 0 ? undefined : new Map<string, PropertyValue>();
  let propertyTypes: Map<string, PropertyWireType> | undefined;
  for (let i = 0; i < count; i++) {
    const name = r.str();
    if (r.peekU8() === PropertyTag.Typed) {
      r.u8();
      const type = propertyWireTypes[r.u8()];
      if (type === undefined) throw new FerryError('FERRY_STORE_CORRUPT', `message record ${id} has a property of an unknown wire type`);
      (propertyTypes ??= new Map()).set(name, type);
    }
    properties!.set(name, readProperty(r));
  }
  const init: MessageInit & { id: string } = {
    id,
    destination,
    body: EMPTY,
    bodyKind,
    persistent: true,
    priority,
    expiration,
    timestamp,
    correlationId,
    replyTo,
    type,
    groupId,
    groupSeq: Number.isNaN(groupSeq) ? undefined : groupSeq,
    originalDestination,
    exchange,
    routingKey,
    ...(properties === undefined ? {} : { properties }),
    propertyTypes,
  };
  if ((flags & TAGGED) !== 0) readTaggedFields(r, init);
  return init;
}

const EMPTY = Buffer.alloc(0);

/** What a message's record will likely take, so that its writer does not grow and copy the body. */
function recordSize(m: Message): number {
  return m.body.length + 256 + (m.native === undefined ? 0 : m.native.bytes.length);
}

/** A message inside another record (retained, scheduled): always whole. */
export function encodeMessage(m: Message): Buffer {
  const w = new Writer(recordSize(m));
  writeMessage(w, m);
  return w.finish();
}

export function decodeMessage(data: Buffer): Message {
  const r = new Reader(data);
  const init = readMessageHeaders(r);
  init.body = r.bytes();
  return buildMessage(init, init.id, init.timestamp!);
}

/** A StoredMessage record: the body's length, then the message as `encodeMessage` lays it out. */
export function encodeStoredMessage(m: Message): Buffer {
  const w = new Writer(recordSize(m));
  w.u32(m.body.length);
  writeMessage(w, m);
  return w.finish();
}

/** How much of a StoredMessage record comes before its body: what recovery keeps when the body stays on disk. */
export function storedMessageHeaderLength(data: Buffer, start = 0, end = data.length): number {
  if (end - start < 4) throw new FerryError('FERRY_STORE_CORRUPT', 'message record ends before its body length');
  return end - start - data.readUInt32LE(start);
}

/** The body of a whole message record of either layout: its last bytes. */
export function bodyOfRecord(data: Buffer, bodyLength: number): Buffer {
  if (bodyLength > data.length) throw new FerryError('FERRY_STORE_CORRUPT', `message record of ${data.length} bytes cannot hold a body of ${bodyLength}`);
  return data.subarray(data.length - bodyLength);
}

/**
 * A Message (3) or StoredMessage (9) record. A StoredMessage record may be only its headers (recovery
 * left the body on disk): `body` is then undefined and `bodyLength` says how long it is.
 */
export function decodeStoredMessage(data: Buffer, type: number): { message: Message; body: Buffer | undefined; bodyLength: number } {
  if (type === RecordType.Message) {
    const message = decodeMessage(data);
    return { message, body: message.body, bodyLength: message.body.length };
  }
  if (data.length < 4) throw new FerryError('FERRY_STORE_CORRUPT', 'message record ends before its body length');
  const bodyLength = data.readUInt32LE(0);
  const r = new Reader(data.subarray(4));
  const init = readMessageHeaders(r);
  if (r.remaining() >= 4 + bodyLength) {
    init.body = r.bytes();
    return { message: buildMessage(init, init.id, init.timestamp!), body: init.body, bodyLength };
  }
  const message = buildMessage(init, init.id, init.timestamp!);
  markBodyOnDisk(message, bodyLength);
  return { message, body: undefined, bodyLength };
}

export interface QueueRecord {
  name: string;
  /** A declared queue's spec; records of queues made on first use, and older records, have none. */
  spec?: QueueSpec | undefined;
}

const OVERFLOW_NAMES = ['drop-head', 'reject-publish', 'reject-publish-dlx'] as const;

export function encodeQueue(q: QueueRecord): Buffer {
  const w = new Writer();
  w.str(q.name);
  const spec = q.spec;
  if (spec === undefined) return w.finish();
  const a = spec.arguments;
  w.u8((spec.durable ? 1 : 0) | (spec.exclusive ? 2 : 0) | (spec.autoDelete ? 4 : 0) | (a.singleActiveConsumer === true ? 8 : 0));
  for (const n of [a.messageTtl, a.expires, a.maxLength, a.maxLengthBytes, a.maxPriority]) w.f64(n ?? Number.NaN);
  w.optStr(a.deadLetterExchange);
  w.optStr(a.deadLetterRoutingKey);
  w.u8(a.overflow === undefined ? 0 : OVERFLOW_NAMES.indexOf(a.overflow) + 1);
  // last, so a record written before it existed reads as having none
  w.f64(a.deliveryLimit ?? Number.NaN);
  return w.finish();
}

export function decodeQueue(data: Buffer): QueueRecord {
  const r = new Reader(data);
  const name = r.str();
  if (r.remaining() === 0) return { name };
  const flags = r.u8();
  const [messageTtl, expires, maxLength, maxLengthBytes, maxPriority] = [r.f64(), r.f64(), r.f64(), r.f64(), r.f64()].map((n) => (Number.isNaN(n) ? undefined : n));
  const deadLetterExchange = r.optStr();
  const deadLetterRoutingKey = r.optStr();
  const overflow = OVERFLOW_NAMES[r.u8() - 1];
  const deliveryLimit = r.remaining() === 0 ? Number.NaN : r.f64();
  const args: Record<string, unknown> = { messageTtl, expires, maxLength, maxLengthBytes, maxPriority, deadLetterExchange, deadLetterRoutingKey, overflow };
  if (!Number.isNaN(deliveryLimit)) args['deliveryLimit'] = deliveryLimit;
  if ((flags & 8) !== 0) args['singleActiveConsumer'] = true;
  for (const key of Object.keys(args)) if (args[key] === undefined) delete args[key];
  return { name, spec: { name, durable: (flags & 1) !== 0, exclusive: (flags & 2) !== 0, autoDelete: (flags & 4) !== 0, arguments: args as QueueArguments } };
}

const EXCHANGE_TYPES: readonly ExchangeType[] = ['direct', 'topic', 'fanout', 'headers'];

export function encodeExchange(e: ExchangeSpec): Buffer {
  const w = new Writer();
  w.str(e.name);
  w.u8(EXCHANGE_TYPES.indexOf(e.type));
  w.u8((e.durable ? 1 : 0) | (e.autoDelete ? 2 : 0) | (e.internal ? 4 : 0));
  w.optStr(e.alternateExchange);
  return w.finish();
}

export function decodeExchange(data: Buffer): ExchangeSpec {
  const r = new Reader(data);
  const name = r.str();
  const type = EXCHANGE_TYPES[r.u8()];
  if (type === undefined) throw new FerryError('FERRY_STORE_CORRUPT', `exchange record "${name}" has an unknown type`);
  const flags = r.u8();
  const alternateExchange = r.optStr();
  return { name, type, durable: (flags & 1) !== 0, autoDelete: (flags & 2) !== 0, internal: (flags & 4) !== 0, ...(alternateExchange === undefined ? {} : { alternateExchange }) };
}

/** A binding's x-match as its record's byte, less one: 1 and 2 were the only ones before the `-with-x` modes. */
const HEADERS_MATCHES: readonly HeadersMatch['match'][] = ['all', 'any', 'all-with-x', 'any-with-x'];

export function encodeBinding(b: BindingSpec): Buffer {
  const w = new Writer();
  w.str(b.source);
  w.u8(b.destination.kind === 'exchange' ? 1 : 0);
  w.str(b.destination.name);
  w.str(b.routingKey);
  if (b.headers === undefined) w.u8(0);
  else {
    w.u8(HEADERS_MATCHES.indexOf(b.headers.match) + 1);
    w.u32(b.headers.values.size);
    for (const [name, value] of b.headers.values) {
      w.str(name);
      writeProperty(w, value);
    }
  }
  return w.finish();
}

export function decodeBinding(data: Buffer): BindingSpec {
  const r = new Reader(data);
  const source = r.str();
  const kind = r.u8() === 1 ? 'exchange' : 'queue';
  const name = r.str();
  const routingKey = r.str();
  const match = r.u8();
  if (match === 0) return { source, destination: { kind, name }, routingKey };
  const values = new Map<string, PropertyValue>();
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const key = r.str();
    values.set(key, readProperty(r));
  }
  const mode = HEADERS_MATCHES[match - 1];
  if (mode === undefined) throw new FerryError('FERRY_STORE_CORRUPT', `binding record from "${source}" has an unknown x-match`);
  return { source, destination: { kind, name }, routingKey, headers: { match: mode, values } };
}

export interface DurableSubscriptionRecord {
  /** The key that owns the subscription: a client id (JMS, MQTT) or an AMQP container id. */
  clientId: string;
  name: string;
  topic: string;
  selector: string | undefined;
  noLocal: boolean;
  /** How the selector compares string properties with numbers: part of what it means, so it is stored with it. */
  selectorConvertsStrings: boolean;
  /** The protocol's own small note about the subscription (MQTT: QoS, retain-as-published, subscription id). */
  adapterData: string | undefined;
  /** Its overlap group (see core/overlap.ts), so that routing still delivers once after a restart. */
  overlap: { group: string; rank: number; tag: number } | undefined;
  /**
   * A shared subscription's part: `queue`, the record of the shared queue itself (its owner the
   * share's key, its name the pattern), which keeps its messages; `member`, a session's membership
   * of share `name`, which has no queue of its own and keeps the shared queue while it lasts.
   */
  share?: { readonly role: 'queue' } | { readonly role: 'member'; readonly name: string } | undefined;
  /** Who made it; undefined in records written before it was kept. */
  maker?: SubscriptionMaker | undefined;
}

/** The principal that made a durable subscription: only another one's change of it needs a right. */
export interface SubscriptionMaker {
  /** Undefined for an anonymous client or the broker itself. */
  readonly username: string | undefined;
  /** The broker's own connection (a network bridge). */
  readonly internal: boolean;
}

/** Flag bits after `noLocal`; records written before them end at `noLocal`. */
const CONVERTS_STRINGS = 1;
const IN_OVERLAP_GROUP = 2;
const SHARED_QUEUE = 4;
const SHARE_MEMBER = 8;
const MADE_BY = 16;

export function encodeDurableSubscription(s: DurableSubscriptionRecord): Buffer {
  const w = new Writer();
  w.str(s.clientId);
  w.str(s.name);
  w.str(s.topic);
  w.optStr(s.selector);
  w.u8(s.noLocal ? 1 : 0);
  const share = s.share === undefined ? 0 : s.share.role === 'queue' ? SHARED_QUEUE : SHARE_MEMBER;
  w.u8((s.selectorConvertsStrings ? CONVERTS_STRINGS : 0) | (s.overlap !== undefined ? IN_OVERLAP_GROUP : 0) | share | (s.maker !== undefined ? MADE_BY : 0));
  w.optStr(s.adapterData);
  if (s.overlap !== undefined) {
    w.str(s.overlap.group);
    w.f64(s.overlap.rank);
    w.f64(s.overlap.tag);
  }
  if (s.share?.role === 'member') w.str(s.share.name);
  if (s.maker !== undefined) {
    w.u8(s.maker.internal ? 1 : 0);
    w.optStr(s.maker.username);
  }
  return w.finish();
}

export function decodeDurableSubscription(data: Buffer): DurableSubscriptionRecord {
  const r = new Reader(data);
  const clientId = r.str();
  const name = r.str();
  const topic = r.str();
  const selector = r.optStr();
  const noLocal = r.u8() === 1;
  // older records were written by STOMP and MQTT subscriptions, whose selectors convert strings
  if (r.remaining() === 0) return { clientId, name, topic, selector, noLocal, selectorConvertsStrings: true, adapterData: undefined, overlap: undefined };
  const flags = r.u8();
  const adapterData = r.optStr();
  const overlap = (flags & IN_OVERLAP_GROUP) !== 0 ? { group: r.str(), rank: r.f64(), tag: r.f64() } : undefined;
  const share = (flags & SHARED_QUEUE) !== 0 ? ({ role: 'queue' } as const) : (flags & SHARE_MEMBER) !== 0 ? ({ role: 'member', name: r.str() } as const) : undefined;
  const maker = (flags & MADE_BY) !== 0 ? { internal: r.u8() === 1, username: r.optStr() } : undefined;
  return { clientId, name, topic, selector, noLocal, selectorConvertsStrings: (flags & CONVERTS_STRINGS) !== 0, adapterData, overlap, share, maker };
}

export interface ReferenceRecord {
  queueId: number;
  messageRecordId: number;
  seq: number;
  /** Failed deliveries (`QueueEntry.redeliveries`). */
  deliveryCount: number;
  /**
   * Written while the entry waits out a redelivery delay (the top bit of the count, 0 in older
   * records): its last delivery is in `deliveryCount` already, so a delivery mark over it adds no return.
   */
  delayed: boolean;
  /**
   * Deliveries the broker's stop or crash took back (`QueueEntry.returns`): written (4 bytes more,
   * after the rest) only when not 0, so a reference without any keeps the layout older builds read.
   */
  returns: number;
  /**
   * Epoch ms at which the queue's message TTL (`x-message-ttl`) expires it, counted from when it
   * entered; 0 when the queue gave it none, or its own expiry comes first. Written (8 bytes more)
   * only when not 0, so references of every other queue keep the layout older builds read.
   */
  queueExpiry: number;
}

/** `ReferenceRecord.delayed`, in the count's word: no count comes near it. */
const DELAYED_BIT = 0x80000000;

export function encodeReference(ref: ReferenceRecord): Buffer {
  const expiryEnd = ref.queueExpiry === 0 ? 28 : 36;
  const b = Buffer.allocUnsafe(ref.returns === 0 ? expiryEnd : expiryEnd + 4);
  b.writeDoubleLE(ref.queueId, 0);
  b.writeDoubleLE(ref.messageRecordId, 8);
  b.writeDoubleLE(ref.seq, 16);
  b.writeUInt32LE(ref.deliveryCount + (ref.delayed ? DELAYED_BIT : 0), 24);
  if (ref.queueExpiry !== 0) b.writeDoubleLE(ref.queueExpiry, 28);
  if (ref.returns !== 0) b.writeUInt32LE(ref.returns, expiryEnd);
  return b;
}

export function decodeReference(data: Buffer): ReferenceRecord {
  // 28 bytes, 8 more with a queue expiry, 4 more after that with returns: each length says which
  if (data.length !== 28 && data.length !== 32 && data.length !== 36 && data.length !== 40) {
    throw new FerryError('FERRY_STORE_CORRUPT', `reference record has ${data.length} bytes, expected 28, 32, 36 or 40`);
  }
  const expiryEnd = data.length >= 36 ? 36 : 28;
  const count = data.readUInt32LE(24);
  return {
    queueId: data.readDoubleLE(0),
    messageRecordId: data.readDoubleLE(8),
    seq: data.readDoubleLE(16),
    deliveryCount: count >= DELAYED_BIT ? count - DELAYED_BIT : count,
    delayed: count >= DELAYED_BIT,
    returns: data.length > expiryEnd ? data.readUInt32LE(expiryEnd) : 0,
    queueExpiry: expiryEnd === 36 ? data.readDoubleLE(28) : 0,
  };
}

export interface ScheduledRecord {
  message: Buffer;
  /** Epoch ms of the next delivery. */
  due: number;
  /** Deliveries left after the next one; -1 for a cron schedule that never ends. */
  remaining: number;
  period: number;
  cron: string | undefined;
  /** Deliveries made so far, so repeats get distinct ids across restarts. */
  fired: number;
  /**
   * The message's delivery mode: a message record always decodes as persistent, and a job is stored
   * whatever its mode. Records written before it was kept (all of persistent messages) have none.
   */
  persistent: boolean;
  /**
   * The job's own id (ActiveMQ's scheduledJobId), unique whatever id the message has. Records of
   * older builds have none: their job's id is its message's id, as it was then.
   */
  jobId: string | undefined;
}

export function encodeScheduled(s: ScheduledRecord): Buffer {
  const w = new Writer();
  w.f64(s.due);
  w.f64(s.remaining);
  w.f64(s.period);
  w.optStr(s.cron);
  w.f64(s.fired);
  w.bytes(s.message);
  w.u8(s.persistent ? 1 : 0);
  w.optStr(s.jobId);
  return w.finish();
}

export function decodeScheduled(data: Buffer): ScheduledRecord {
  const r = new Reader(data);
  const due = r.f64();
  const remaining = r.f64();
  const period = r.f64();
  const cron = r.optStr();
  const fired = r.f64();
  const message = r.bytes();
  const persistent = r.remaining() === 0 || r.u8() === 1;
  const jobId = r.remaining() === 0 ? undefined : r.optStr();
  return { due, remaining, period, cron, fired, message, persistent, jobId };
}

export interface DuplicateIdRecord {
  destination: string;
  duplicateId: string;
}

export function encodeDuplicateId(d: DuplicateIdRecord): Buffer {
  const w = new Writer();
  w.str(d.destination);
  w.str(d.duplicateId);
  return w.finish();
}

export function decodeDuplicateId(data: Buffer): DuplicateIdRecord {
  const r = new Reader(data);
  return { destination: r.str(), duplicateId: r.str() };
}

export interface DeliveryMarkRecord {
  queueId: number;
  seq: number;
}

export function encodeDeliveryMark(m: DeliveryMarkRecord): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeDoubleLE(m.queueId, 0);
  b.writeDoubleLE(m.seq, 8);
  return b;
}

export function decodeDeliveryMark(data: Buffer): DeliveryMarkRecord {
  if (data.length !== 16) throw new FerryError('FERRY_STORE_CORRUPT', `delivery mark record has ${data.length} bytes, expected 16`);
  return { queueId: data.readDoubleLE(0), seq: data.readDoubleLE(8) };
}

export interface RetainedRecord {
  /** The message as sent; a message record always decodes as persistent, so the flag travels beside it. */
  persistent: boolean;
  message: Buffer;
}

export function encodeRetained(r: RetainedRecord): Buffer {
  const w = new Writer();
  w.u8(r.persistent ? 1 : 0);
  w.bytes(r.message);
  return w.finish();
}

export function decodeRetained(data: Buffer): RetainedRecord {
  const r = new Reader(data);
  return { persistent: r.u8() === 1, message: r.bytes() };
}

export interface PreparedRecord {
  xid: string;
  /** Each a message record (`encodeMessage`), body included. */
  sends: Buffer[];
  /** Reference record ids. */
  acknowledged: number[];
  rejected: number[];
}

export function encodePrepared(p: PreparedRecord): Buffer {
  const w = new Writer();
  w.str(p.xid);
  w.u32(p.sends.length);
  for (const send of p.sends) w.bytes(send);
  for (const ids of [p.acknowledged, p.rejected]) {
    w.u32(ids.length);
    for (const id of ids) w.f64(id);
  }
  return w.finish();
}

export function decodePrepared(data: Buffer): PreparedRecord {
  const r = new Reader(data);
  const xid = r.str();
  const sends: Buffer[] = [];
  for (let n = r.u32(); n > 0; n--) sends.push(r.bytes());
  const ids = (): number[] => {
    const list: number[] = [];
    for (let n = r.u32(); n > 0; n--) list.push(r.f64());
    return list;
  };
  const acknowledged = ids();
  return { xid, sends, acknowledged, rejected: ids() };
}

export interface SequenceMarkRecord {
  readonly key: string;
  readonly value: number;
}

export function encodeSequenceMark(m: SequenceMarkRecord): Buffer {
  const w = new Writer(16 + m.key.length * 3);
  w.str(m.key);
  w.f64(m.value);
  return w.finish();
}

export function decodeSequenceMark(data: Buffer): SequenceMarkRecord {
  const r = new Reader(data);
  return { key: r.str(), value: r.f64() };
}

export function encodeSequenceCeiling(value: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(value, 0);
  return b;
}

export function decodeSequenceCeiling(data: Buffer): number {
  if (data.length !== 8) throw new FerryError('FERRY_STORE_CORRUPT', `sequence ceiling record has ${data.length} bytes, expected 8`);
  return data.readDoubleLE(0);
}
