import { createHash, randomUUID } from 'node:crypto';
import { FerryError } from '../../errors.js';
import { addTypedBodyReader, mapBodyEntries, streamBodyItems, type BodyKind, type Destination, type Message, type MessageInit, type PropertyValue, type TypedValue } from '../../core/index.js';
import { T, type MessageId, type ProducerId, type WireDestination, type WireMessage } from './commands.js';
import { DataReader, DataWriter, fitsUtf, modifiedUtf8Length } from './data-stream.js';
import { readProperties, readTypedMap, readTypedValue, writeProperties, writeTypedMap, writeTypedValue } from './primitives.js';

/**
 * OpenWire messages <-> core messages, so that what a JMS application sends reaches STOMP, MQTT and
 * AMQP clients as they expect, and the other way round: a TextMessage's text is the body as UTF-8, a
 * BytesMessage's bytes are the body, JMS headers are core's fields, properties keep their types
 * (core keeps int, long, double, boolean, string, bytes; a byte, short or float property reaches
 * other protocols as a number; a map or list property, which ActiveMQ's client allows, is kept as
 * its own encoding and reaches JMS consumers alone). Compressed bodies arrive inflated (`compression.ts`) and are never
 * sent compressed.
 * An ObjectMessage's body stays the bytes the client serialised: the broker never deserialises it.
 */

/** Where a message's OpenWire property bytes are kept, so a JMS consumer gets back exactly what a JMS producer typed. */
const PROPERTIES_KEY = 'openwire.properties';
const PARTS_KEY = 'openwire.parts';
/** The client's own JMSExpiration where core's is not it: one of 0 or below, or one past 2^53. */
const EXPIRATION_KEY = 'openwire.expiration';

const bodyKinds: ReadonlyMap<number, BodyKind> = new Map([
  [T.TEXT_MESSAGE, 'text'],
  [T.BYTES_MESSAGE, 'bytes'],
  [T.MAP_MESSAGE, 'map'],
  [T.STREAM_MESSAGE, 'stream'],
  [T.OBJECT_MESSAGE, 'object'],
  [T.MESSAGE, 'none'],
  [T.BLOB_MESSAGE, 'bytes'],
]);

/** Names the client gives its temporary destinations, and the other connections' names for theirs. */
export interface TemporaryDestinations {
  resolve(kind: 'queue' | 'topic', name: string): Destination;
}

export function toCoreDestination(wire: WireDestination | null, temporary: TemporaryDestinations): Destination {
  if (wire === null || wire.physicalName === null || wire.physicalName === '') {
    throw new FerryError('FERRY_DESTINATION_INVALID', 'a command names no destination');
  }
  const name = wire.physicalName;
  switch (wire.type) {
    case T.QUEUE:
      return composite('queue', name);
    case T.TOPIC:
      return composite('topic', name);
    case T.TEMP_QUEUE:
      return temporary.resolve('queue', name);
    case T.TEMP_TOPIC:
      return temporary.resolve('topic', name);
    default:
      throw new FerryError('FERRY_DESTINATION_INVALID', `data structure type ${wire.type} is not a destination`);
  }
}

/** ActiveMQ's composite `a,b,topic://c`: each part is of the destination's kind unless it says otherwise. */
function composite(kind: 'queue' | 'topic', name: string): Destination {
  if (!name.includes(',')) return { kind, name };
  const parts = name.split(',').map((part) => {
    const trimmed = part.trim();
    return trimmed.startsWith('queue://') || trimmed.startsWith('topic://') ? trimmed : `${kind}://${trimmed}`;
  });
  return { kind, name: parts.join(',') };
}

export function toWireDestination(destination: Destination): WireDestination {
  if (destination.temporary === true) return { type: destination.kind === 'queue' ? T.TEMP_QUEUE : T.TEMP_TOPIC, physicalName: destination.name };
  return { type: destination.kind === 'queue' ? T.QUEUE : T.TOPIC, physicalName: destination.name };
}

/** `ID:<connection>:<session>:<producer>:<sequence>`, the form ActiveMQ prints a MessageId in. */
export function messageIdText(id: MessageId): string {
  if (id.textView !== null && id.textView !== undefined) return id.textView.startsWith('ID:') ? id.textView : `ID:${id.textView}`;
  const producer = id.producerId;
  if (producer === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'a message id with neither text nor producer');
  return `${producer.connectionId}:${producer.sessionId}:${producer.value}:${id.producerSequenceId}`;
}

/** True when two MessageIds name one message (what comparing their `messageIdText` says, without building it). */
export function sameMessageId(a: MessageId, b: MessageId): boolean {
  if (a.producerSequenceId !== b.producerSequenceId) return false;
  if ((a.textView ?? null) !== null || (b.textView ?? null) !== null || a.producerId === null || b.producerId === null) return messageIdText(a) === messageIdText(b);
  const p = a.producerId;
  const q = b.producerId;
  return p.value === q.value && p.sessionId === q.sessionId && p.connectionId === q.connectionId;
}

/** True when `text[from, to)` is one or more ASCII digits. */
function digits(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The producer that messages from the other protocols appear to come from: this process's own, so no JMS producer's id is one. */
const OTHER_PROTOCOLS: ProducerId = { type: T.PRODUCER_ID, connectionId: `ID:ferry-${randomUUID()}`, sessionId: 0, value: 0 };
let otherProtocolsSequence = 0;

/**
 * A core message id as a MessageId. A JMS producer's id (`<connection>:<session>:<producer>:<sequence>`,
 * the last three numbers) parses back to its own producer and sequence. Any other id keeps its
 * text, which JMS shows as JMSMessageID, under a producer and sequence of this process's own: the
 * client's duplicate check compares producer and sequence, and the ids other protocols' clients
 * choose (AMQP's `msg-1`, from two producers, or the same id on every message) are not unique, so
 * parsing a number out of them would have the client suppress the second as a duplicate of the
 * first. Each message object keeps the MessageId it was first given (`encodedParts`). Parsed by
 * hand: once per delivered message, a regular expression cost about 4 % of the broker's time.
 */
export function toMessageId(coreId: string): MessageId {
  // an id over `writeUTF`'s 65,535 bytes, from another protocol, is carried by a digest of itself
  if (!fitsUtf(coreId)) coreId = `ID:digest-${createHash('sha256').update(coreId).digest('hex')}`;
  const end = coreId.length;
  const c3 = coreId.lastIndexOf(':');
  const c2 = c3 > 0 ? coreId.lastIndexOf(':', c3 - 1) : -1;
  const c1 = c2 > 0 ? coreId.lastIndexOf(':', c2 - 1) : -1;
  if (c1 > 0 && digits(coreId, c1 + 1, c2) && digits(coreId, c2 + 1, c3) && digits(coreId, c3 + 1, end)) {
    const producerId: ProducerId = { type: T.PRODUCER_ID, connectionId: coreId.slice(0, c1), sessionId: Number(coreId.slice(c1 + 1, c2)), value: Number(coreId.slice(c2 + 1, c3)) };
    return { type: T.MESSAGE_ID, textView: null, producerId, producerSequenceId: Number(coreId.slice(c3 + 1)), brokerSequenceId: 0 };
  }
  return { type: T.MESSAGE_ID, textView: coreId, producerId: OTHER_PROTOCOLS, producerSequenceId: ++otherProtocolsSequence, brokerSequenceId: 0 };
}

/**
 * The body as core keeps it: a text as UTF-8, everything else as the bytes the client marshalled.
 * `inflated` is a compressed message's content, inflated.
 */
function coreBody(wire: WireMessage, inflated: Buffer | undefined): { body: Buffer; bodyKind: BodyKind } {
  const bodyKind = bodyKinds.get(wire.type) ?? 'bytes';
  let content = inflated ?? wire.content ?? Buffer.alloc(0);
  if (inflated === undefined && wire.compressed && content.length > 0) throw new Error('a compressed body reached the mapping uninflated');
  if (inflated === undefined && content.length * 2 < content.buffer.byteLength) {
    // a body view that pins a much larger socket chunk is copied, so a queued 1 KiB message does not hold 64 KiB
    content = Buffer.from(content);
  }
  if (bodyKind !== 'text') return { body: content, bodyKind };
  if (content.length === 0) return { body: content, bodyKind };
  const reader = new DataReader(content, 0, content.length);
  const length = reader.int();
  if (length < 0) return { body: Buffer.alloc(0), bodyKind };
  return { body: Buffer.from(reader.utfBytes(length), 'utf8'), bodyKind };
}

/**
 * What a JMS consumer should get back exactly, while the message is in memory: the client's own
 * property bytes (core's properties and their wire types say the same, as a copy or a message read
 * back from the store is encoded from them), and a JMSExpiration core does not keep as it is.
 */
function ownEncodings(wire: WireMessage, checkedUser: boolean): Map<string, unknown> | undefined {
  // a JMSXUserID that is not the sender's own user becomes a property the client's bytes lack
  const keepProperties = wire.marshalledProperties !== null && (wire.userId === null || checkedUser);
  const ownExpiration = wire.expiration !== coreExpiration(wire.expiration);
  if (!keepProperties && !ownExpiration) return undefined;
  const encodings = new Map<string, unknown>();
  if (keepProperties) encodings.set(PROPERTIES_KEY, Buffer.from(wire.marshalledProperties!));
  if (ownExpiration) encodings.set(EXPIRATION_KEY, wire.expiration);
  return encodings;
}

/**
 * A JMSExpiration as core's expiration. ActiveMQ expires a message only when its expiration is
 * above 0 (`Message.isExpired`), and its client sends `timestamp + timeToLive`, which a time to
 * live near Long.MAX_VALUE (an application's "forever") overflows to a negative: 0 or below is no
 * expiry. One past 2^53 ms (some 285,000 years) is as good as never and is rounded.
 */
function coreExpiration(expiration: number | bigint): number {
  if (typeof expiration === 'bigint') return expiration > 0n ? Number(expiration) : 0;
  return expiration > 0 ? expiration : 0;
}

/** The JMSExpiration a JMS consumer gets: the client's own, exactly, unless core has changed the message's since. */
function wireExpiration(message: Message): number | bigint {
  const own = message.encodings?.get(EXPIRATION_KEY) as number | bigint | undefined;
  return own !== undefined && coreExpiration(own) === message.expiration ? own : message.expiration;
}

/**
 * A message as a JMS producer sent it, for core. `user` is the connection's: a JMSXUserID naming it
 * is the message's checked user id; any other is the client's claim, kept as a property of that name
 * for protocols that see it as an ordinary one (JMS and STOMP consumers do not get it).
 * A compressed message comes with its content `inflated`.
 */
export function toMessageInit(wire: WireMessage, destination: Destination, temporary: TemporaryDestinations, user: string | undefined, inflated?: Buffer): MessageInit {
  const { body, bodyKind } = coreBody(wire, inflated);
  const { properties, types } = wire.marshalledProperties === null ? { properties: new Map<string, PropertyValue>(), types: undefined } : readProperties(wire.marshalledProperties);
  const checkedUser = wire.userId !== null && wire.userId === user;
  if (wire.userId !== null && !checkedUser) properties.set('JMSXUserID', wire.userId);
  const init: MessageInit = {
    destination,
    body,
    bodyKind,
    persistent: wire.persistent,
    priority: wire.priority,
    expiration: coreExpiration(wire.expiration),
    correlationId: wire.correlationId ?? undefined,
    replyTo: wire.replyTo === null ? undefined : toCoreDestination(wire.replyTo, temporary),
    type: wire.jmsType ?? undefined,
    groupId: wire.groupId ?? undefined,
    groupSeq: wire.groupId === null ? undefined : wire.groupSequence,
    properties,
    propertyTypes: types,
    // a TextMessage whose getText() is null, which core keeps apart from an empty text
    nullBody: wire.type === T.TEXT_MESSAGE && wire.content === null,
    encodings: ownEncodings(wire, checkedUser),
  };
  if (checkedUser) init.userId = user;
  if (wire.messageId !== null) init.id = messageIdText(wire.messageId);
  if (wire.timestamp !== 0) init.timestamp = wire.timestamp;
  return init;
}

function parsesWhole<T>(body: Buffer, read: (reader: DataReader) => T): T | undefined {
  try {
    const reader = new DataReader(body, 0, body.length);
    const value = read(reader);
    return reader.remaining === 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** ActiveMQ's encoding of map and stream bodies, which core keeps for those a JMS client sends. */
const ownEncoding = {
  mapEntries: (body: Buffer): Map<string, TypedValue> | undefined => parsesWhole(body, (r) => readTypedMap(r)),
  streamItems: (body: Buffer): TypedValue[] | undefined =>
    parsesWhole(body, (r) => {
      const items: TypedValue[] = [];
      while (r.remaining > 0) items.push(readTypedValue(r));
      return items;
    }),
};
addTypedBodyReader(ownEncoding);

/**
 * The message type and content for a core body. A map or stream body that another protocol
 * encoded its own way (AMQP) is written in ActiveMQ's encoding, or goes as a BytesMessage when no
 * protocol can read its entries.
 */
function wireBody(message: Message): { type: number; content: Buffer | null } {
  const body = message.body;
  switch (message.bodyKind) {
    case 'text': {
      if (message.nullBody && body.length === 0) return { type: T.TEXT_MESSAGE, content: null };
      const text = body.toString('utf8');
      const length = modifiedUtf8Length(text);
      const writer = new DataWriter(length + 4);
      writer.int(length);
      writer.utfBytes(text, length);
      return { type: T.TEXT_MESSAGE, content: writer.finish() };
    }
    case 'map': {
      // the client sends an empty map with no content at all
      if (body.length === 0) return { type: T.MAP_MESSAGE, content: null };
      if (ownEncoding.mapEntries(body) !== undefined) return { type: T.MAP_MESSAGE, content: body };
      const entries = mapBodyEntries(body);
      if (entries === undefined) return { type: T.BYTES_MESSAGE, content: body };
      const writer = new DataWriter(body.length + 64);
      writeTypedMap(writer, entries);
      return { type: T.MAP_MESSAGE, content: writer.finish() };
    }
    case 'stream': {
      if (ownEncoding.streamItems(body) !== undefined) return { type: T.STREAM_MESSAGE, content: body };
      const items = streamBodyItems(body);
      if (items === undefined) return { type: T.BYTES_MESSAGE, content: body };
      const writer = new DataWriter(body.length + 64);
      for (const item of items) writeTypedValue(writer, item);
      return { type: T.STREAM_MESSAGE, content: writer.finish() };
    }
    case 'object':
      // no serialised object (`getObject()` null) is no content, not an empty stream the client cannot read
      return { type: T.OBJECT_MESSAGE, content: body.length === 0 ? null : body };
    case 'none':
      return { type: T.MESSAGE, content: body };
    default:
      return { type: T.BYTES_MESSAGE, content: body };
  }
}

const CLAIMED_USER_ID = 'JMSXUserID';

function wireProperties(message: Message): Buffer | null {
  // a property named JMSXUserID is some client's claim: JMS reads JMSXUserID as the checked user id alone
  const claimed = message.properties.has(CLAIMED_USER_ID);
  const kept = message.encodings?.get(PROPERTIES_KEY);
  if (kept !== undefined && !claimed) return kept as Buffer;
  if (message.properties.size === 0) return null;
  const entries = claimed ? [...message.properties].filter(([name]) => name !== CLAIMED_USER_ID) : [...message.properties];
  return entries.length === 0 ? null : writeProperties(entries, message.propertyTypes);
}

interface EncodedParts {
  readonly type: number;
  readonly content: Buffer | null;
  readonly properties: Buffer | null;
  /** The message id as parsed from core's; each delivery copies it (its broker sequence is the delivery's). */
  readonly id: MessageId;
}

/**
 * The body, properties and id as OpenWire carries them, made once per message: a topic's message
 * to ten JMS subscribers, or one redelivered, is not re-encoded for each delivery.
 */
function encodedParts(message: Message): EncodedParts {
  const cached = message.encodings?.get(PARTS_KEY);
  if (cached !== undefined) return cached as EncodedParts;
  const { type, content } = wireBody(message);
  const parts: EncodedParts = { type, content, properties: wireProperties(message), id: toMessageId(message.id) };
  (message.encodings ??= new Map()).set(PARTS_KEY, parts);
  return parts;
}

/** The MessageId one delivery of `message` carries: its own object, since its broker sequence is that delivery's. */
export function dispatchMessageId(message: Message): MessageId {
  const { id } = encodedParts(message);
  // the producer id is shared between deliveries: nothing changes it after parsing
  return { type: T.MESSAGE_ID, textView: id.textView, producerId: id.producerId, producerSequenceId: id.producerSequenceId, brokerSequenceId: 0 };
}

/**
 * A header JMS writes with `writeUTF`, whose length has 16 bits: a longer value another protocol
 * carried (an AMQP 1.0 correlation-id of 70,000 characters) is left out, not refused to the consumer.
 */
function utfOrNull(value: string | undefined): string | null {
  return value === undefined || !fitsUtf(value) ? null : value;
}

/** A core message as the MessageDispatch to a JMS consumer carries it. */
export function toWireMessage(message: Message, redeliveryCounter: number, messageId: MessageId = dispatchMessageId(message)): WireMessage {
  const { type, content, properties } = encodedParts(message);
  return wireMessage(message, type, content, properties, messageId, redeliveryCounter);
}

const bodilessTypes: ReadonlyMap<BodyKind, number> = new Map([...bodyKinds].filter(([type]) => type !== T.BLOB_MESSAGE).map(([type, kind]) => [kind, type]));

/**
 * A core message with its body cleared, as an advisory about it carries it (ActiveMQ's
 * includeBodyForAdvisory is off by default): its body is neither read back from disk nor encoded.
 */
export function toBodilessWireMessage(message: Message): WireMessage {
  const cached = message.encodings?.get(PARTS_KEY) as EncodedParts | undefined;
  const type = cached?.type ?? bodilessTypes.get(message.bodyKind) ?? T.BYTES_MESSAGE;
  return wireMessage(message, type, null, cached?.properties ?? wireProperties(message), toMessageId(message.id), 0);
}

function wireMessage(message: Message, type: number, content: Buffer | null, properties: Buffer | null, messageId: MessageId, redeliveryCounter: number): WireMessage {
  // only the checked user id (a client's claim is not passed on: see wireProperties)
  const userId = message.userId;
  return {
    type,
    commandId: 0,
    responseRequired: false,
    producerId: null,
    destination: toWireDestination(message.destination),
    transactionId: null,
    originalDestination: message.originalDestination === undefined ? null : toWireDestination(message.originalDestination),
    messageId,
    originalTransactionId: null,
    groupId: utfOrNull(message.groupId),
    groupSequence: message.groupSeq ?? 0,
    correlationId: utfOrNull(message.correlationId),
    persistent: message.persistent,
    expiration: wireExpiration(message),
    priority: message.priority,
    replyTo: message.replyTo === undefined || utfOrNull(message.replyTo.name) === null ? null : toWireDestination(message.replyTo),
    timestamp: message.timestamp,
    jmsType: utfOrNull(message.type),
    content,
    marshalledProperties: properties,
    dataStructure: null,
    targetConsumerId: null,
    compressed: false,
    redeliveryCounter,
    brokerPath: null,
    arrival: 0,
    userId: utfOrNull(userId),
    receivedByDfBridge: false,
    droppable: false,
    cluster: null,
    brokerInTime: 0,
    brokerOutTime: 0,
    jmsxGroupFirstForConsumer: false,
  };
}
