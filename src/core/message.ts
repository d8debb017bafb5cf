import { FerryError } from '../errors.js';

/** Where a message goes or comes from. Temporary destinations belong to one connection. */
export interface Destination {
  readonly kind: 'queue' | 'topic';
  readonly name: string;
  readonly temporary?: boolean;
}

/** `none`: a message that has no body at all (JMS's plain `Message`), kept as empty bytes and read as bytes elsewhere. */
export type BodyKind = 'text' | 'bytes' | 'map' | 'stream' | 'object' | 'none';

/** User property values keep their JMS type where JavaScript can tell: bigint is a long. */
export type PropertyValue = string | number | boolean | bigint | Buffer | null;

/**
 * The type a producer's protocol gave a property where its core value alone does not say it: a
 * number that was a byte, short, int, float or double, a one-character string that was a char.
 * JMS, AMQP and AMQP 0-9-1 consumers read a property back as the type it was sent with (JMS refuses
 * `getDoubleProperty` on an int), so the type is kept with the message, also across a restart.
 * `map` and `list` are structured values that core's flat properties have no form for (ActiveMQ's
 * JMS client sends them as properties): the value is the bytes the producing protocol encoded them
 * in, which only that protocol reads (see `isStructuredProperty`).
 * `ubyte`, `ushort`, `uint`, `ulong`, `timestamp`, `symbol` and `uuid` are AMQP 1.0's types that a
 * number, bigint or string does not say: an AMQP consumer gets them back as sent, other protocols
 * read the value as the nearest type of their own.
 */
export type PropertyWireType = (typeof PROPERTY_WIRE_TYPES)[number];

/** Every PropertyWireType, in the order a message record numbers them (new ones go at the end). */
export const PROPERTY_WIRE_TYPES = ['byte', 'short', 'int', 'float', 'double', 'char', 'map', 'list', 'ubyte', 'ushort', 'uint', 'ulong', 'timestamp', 'symbol', 'uuid'] as const;

export function isPropertyWireType(name: string): name is PropertyWireType {
  return (PROPERTY_WIRE_TYPES as readonly string[]).includes(name);
}

/** The wire types of a number property (a char is a string's). */
export function isNumberWireType(name: string): name is 'byte' | 'short' | 'int' | 'float' | 'double' {
  return name === 'byte' || name === 'short' || name === 'int' || name === 'float' || name === 'double';
}

/**
 * True for a map or list property, kept as its producing protocol's bytes: a consumer of another
 * protocol does not get it, as it did not before such properties were kept, since those bytes mean
 * nothing to it (ActiveMQ gives a STOMP consumer Java's `toString()` of the map, no usable form either).
 */
export function isStructuredProperty(message: Pick<Message, 'propertyTypes'>, name: string): boolean {
  const type = message.propertyTypes?.get(name);
  return type === 'map' || type === 'list';
}

/**
 * The producing protocol's own encoding of a message's headers (a 0-9-1 content header), kept with
 * the message and in its store record, so that a consumer of that protocol reads the message as it
 * was sent, also after a restart or a dead-letter exchange, where core's flat properties would lose
 * nested values and exact types. Core never reads `bytes`; `protocol` names whose they are.
 */
export interface NativeEncoding {
  readonly protocol: string;
  readonly bytes: Buffer;
  /**
   * False once core has changed the message's properties, expiration or persistence (a dead-letter
   * copy): the protocol then takes `bytes` and applies those changes, which the message's own fields say.
   */
  readonly exact: boolean;
}

/**
 * One message as core sees it, whatever protocol brought it. Immutable once it is routed: the same
 * object is shared by every queue and subscription it reaches, so per-delivery state (delivery
 * count, which consumer has it) lives on the queue entry, never here.
 */
export interface Message {
  readonly id: string;
  readonly destination: Destination;
  readonly body: Buffer;
  readonly bodyKind: BodyKind;
  readonly persistent: boolean;
  /** 0–9, 4 is the JMS default. */
  readonly priority: number;
  /** Epoch milliseconds after which the message must not be delivered; 0 means never. */
  readonly expiration: number;
  readonly timestamp: number;
  readonly correlationId: string | undefined;
  readonly replyTo: Destination | undefined;
  readonly type: string | undefined;
  readonly groupId: string | undefined;
  readonly groupSeq: number | undefined;
  readonly properties: ReadonlyMap<string, PropertyValue>;
  /** Wire types of the properties that had one (see `PropertyWireType`); undefined when none did. */
  readonly propertyTypes: ReadonlyMap<string, PropertyWireType> | undefined;
  /** Where a dead-lettered message was first sent. */
  readonly originalDestination: Destination | undefined;
  /** Connection that produced it, for no-local subscriptions; not persisted. */
  readonly originConnectionId: string | undefined;
  /**
   * The exchange it was published to and its routing key (`CoreSession.publish`), which a 0-9-1
   * delivery names; undefined for a message sent to a destination.
   */
  readonly exchange: string | undefined;
  readonly routingKey: string | undefined;
  /**
   * The user the broker checked the message was sent by (a 0-9-1 user-id, a JMS producer's
   * JMSXUserID naming its own user): consumers may trust it, so core takes it only when it names
   * the sending connection's user. A property named `JMSXUserID` is the client's own, never this.
   */
  readonly userId: string | undefined;
  readonly native: NativeEncoding | undefined;
  /**
   * The producer sent no body at all where its protocol tells that from an empty one (a JMS
   * TextMessage whose text is null, not ""): `body` is then empty, which is what a protocol without
   * the difference reads (ActiveMQ gives a STOMP consumer an empty body too).
   */
  readonly nullBody: boolean;
  /**
   * Further routing keys its publisher chose but no consumer may see (RabbitMQ's `BCC` header, which
   * the adapter takes out): it is routed once more by each, when published (at commit in a
   * transaction). Kept in memory only, and not carried into copies.
   */
  readonly bccKeys: readonly string[] | undefined;
  /**
   * Published with a time to live of exactly 0 (a 0-9-1 `expiration: "0"`), RabbitMQ's replacement
   * for the `immediate` flag: it goes to a consumer ready to take it as it arrives in a queue, and
   * expires there if none can. Told apart from an `expiration` that had already passed when it was
   * sent, which is never delivered. Kept in memory only: a message read back from the store is past
   * its expiration, so it expires without being delivered.
   */
  readonly deliverNowOrExpire: boolean;
  /**
   * What the broker itself keeps with a message by property names (a network's path and hops, the
   * duplicate id a network link gave it): selectors and duplicate detection read these before the
   * properties of the same name, and no consumer gets them, for they are not the producer's.
   * Undefined when there are none.
   */
  readonly brokerProperties: ReadonlyMap<string, PropertyValue> | undefined;
  /**
   * Encodings of this message made by protocol adapters, keyed by a name each adapter chooses, so
   * that a message fanned out to many consumers of one protocol is encoded once. Core never reads it.
   */
  encodings: Map<string, unknown> | undefined;
}

export interface MessageInit {
  destination: Destination;
  body: Buffer;
  bodyKind?: BodyKind;
  persistent?: boolean;
  priority?: number;
  expiration?: number;
  timestamp?: number;
  correlationId?: string | undefined;
  replyTo?: Destination | undefined;
  type?: string | undefined;
  groupId?: string | undefined;
  groupSeq?: number | undefined;
  properties?: ReadonlyMap<string, PropertyValue>;
  propertyTypes?: ReadonlyMap<string, PropertyWireType> | undefined;
  originConnectionId?: string;
  originalDestination?: Destination | undefined;
  /** Set by core when the message is published to an exchange (see `Message.exchange`). */
  exchange?: string | undefined;
  routingKey?: string | undefined;
  /** See `Message.userId`: refused by core unless it names the sending connection's user (see `checkUserId`). */
  userId?: string | undefined;
  native?: NativeEncoding | undefined;
  /** See `Message.nullBody`; false unless given. */
  nullBody?: boolean | undefined;
  /** See `Message.bccKeys`. */
  bccKeys?: readonly string[] | undefined;
  /** See `Message.deliverNowOrExpire`; false unless given. */
  deliverNowOrExpire?: boolean | undefined;
  /** See `Message.brokerProperties`. */
  brokerProperties?: ReadonlyMap<string, PropertyValue> | undefined;
  id?: string;
  /** The producing adapter's own encoding of parts of the message, seeded into `Message.encodings`. */
  encodings?: Map<string, unknown> | undefined;
}

/** What `CoreSession.publish` takes: a message without its destination, which the exchange decides. */
export type PublishInit = Omit<MessageInit, 'destination' | 'exchange' | 'routingKey'>;

const noProperties: ReadonlyMap<string, PropertyValue> = new Map();

export function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return 4;
  return Math.min(9, Math.max(0, Math.trunc(priority)));
}

/**
 * Where the body of a persistent message can be read back from once it has left memory (the body
 * cache drops the bodies of messages far from the head of their queues).
 */
export interface BodyHome {
  readBodySync(message: Message, recordId: number, bodyLength: number): Buffer;
}

/**
 * The one concrete Message. Every field is always present (undefined when absent), so every message
 * has the same shape and the hot paths that read them stay monomorphic: measured at a fifth of the
 * broker's time per message when messages were object literals with optional fields.
 */
class CoreMessage implements Message {
  encodings: Map<string, unknown> | undefined = undefined;
  bccKeys: readonly string[] | undefined = undefined;
  nullBody = false;
  deliverNowOrExpire = false;
  /** Null while the body waits on disk only. */
  residentBody: Buffer | null;
  /** Store record the body can be read back from, 0 until the body cache may drop it. */
  bodyRecordId = 0;
  /** A non-persistent message whose body was written to the store to leave memory (`Persistence.page`). */
  paged = false;
  /** What memory limits count for it, once worked out (`heldBytes`); 0 until then. */
  heldBytes = 0;
  /** Queues it waits in that count it against limits.messageMemory (`MessageMemory.waiting`). */
  waitingIn = 0;
  /** Held by more than persisting queues (retained, scheduled): its body stays in memory (`BodyCache.pin`). */
  bodyPinned = false;
  bodyHome: BodyHome | null = null;
  bodyLength: number;

  constructor(
    readonly id: string,
    readonly destination: Destination,
    body: Buffer,
    readonly bodyKind: BodyKind,
    readonly persistent: boolean,
    readonly priority: number,
    readonly expiration: number,
    readonly timestamp: number,
    readonly correlationId: string | undefined,
    readonly replyTo: Destination | undefined,
    readonly type: string | undefined,
    readonly groupId: string | undefined,
    readonly groupSeq: number | undefined,
    readonly properties: ReadonlyMap<string, PropertyValue>,
    readonly originConnectionId: string | undefined,
    readonly originalDestination: Destination | undefined,
    readonly propertyTypes: ReadonlyMap<string, PropertyWireType> | undefined,
    readonly exchange: string | undefined,
    readonly routingKey: string | undefined,
    readonly userId: string | undefined,
    readonly native: NativeEncoding | undefined,
    readonly brokerProperties: ReadonlyMap<string, PropertyValue> | undefined,
  ) {
    this.residentBody = body;
    this.bodyLength = body.length;
  }

  /** Read back from the store (synchronously) when the body cache has let it go. */
  get body(): Buffer {
    return this.residentBody ?? this.bodyHome!.readBodySync(this, this.bodyRecordId, this.bodyLength);
  }
}

/** The body-cache view of a message: whether its body is in memory, and where else it lives. */
export function bodyState(message: Message): CoreMessage {
  return message as CoreMessage;
}

/**
 * Memory a message object takes beside its body and properties: the message, its queue entry and
 * their fields. Measured: 65,536 waiting 1 KiB messages with a few headers grew the broker by about
 * 880 bytes each beyond their bodies.
 */
const MESSAGE_OVERHEAD = 640;

/**
 * What a waiting message counts for against memoryLimit (and, while its body is in memory,
 * limits.messageMemory: see `MessageMemory`): its body, its headers and properties, and the objects
 * that hold them (an estimate, worked out once per message).
 */
export function heldBytes(message: Message): number {
  const m = message as CoreMessage;
  if (m.heldBytes !== 0) return m.heldBytes;
  let bytes = MESSAGE_OVERHEAD + m.bodyLength + m.id.length + m.destination.name.length + (m.correlationId?.length ?? 0) + (m.type?.length ?? 0) + (m.userId?.length ?? 0) + (m.native?.bytes.length ?? 0);
  for (const [key, value] of m.brokerProperties === undefined ? m.properties : [...m.properties, ...m.brokerProperties]) {
    bytes += 32 + key.length;
    if (typeof value === 'string') bytes += value.length;
    else if (Buffer.isBuffer(value)) bytes += value.length;
    else bytes += 8;
  }
  m.heldBytes = bytes;
  return bytes;
}

/** A recovered message whose body recovery left on disk: the body cache reads it back when needed. */
export function markBodyOnDisk(message: Message, bodyLength: number): void {
  const m = message as CoreMessage;
  m.residentBody = null;
  m.bodyLength = bodyLength;
}

/** The length of `message`'s body, whether or not the body is in memory. */
export function bodyLengthOf(message: Message): number {
  return (message as CoreMessage).bodyLength;
}

export type { CoreMessage };

/** Builds a Message; `id` and `originConnectionId` are the broker's unless `init` has its own. */
/** Where a published message goes, which core decides rather than its producer (see `CoreSession.publish`). */
export interface PublishedAs {
  readonly destination: Destination;
  readonly exchange: string;
  readonly routingKey: string;
}

export function buildMessage(init: MessageInit | Omit<MessageInit, 'destination'>, id: string, now: number, originConnectionId?: string, published?: PublishedAs): Message {
  const message = new CoreMessage(
    init.id ?? id,
    published?.destination ?? (init as MessageInit).destination,
    init.body,
    init.bodyKind ?? 'bytes',
    init.persistent ?? false,
    init.priority === undefined ? 4 : clampPriority(init.priority),
    init.expiration ?? 0,
    init.timestamp ?? now,
    init.correlationId,
    init.replyTo,
    init.type,
    init.groupId,
    init.groupSeq,
    init.properties ?? noProperties,
    init.originConnectionId ?? originConnectionId,
    init.originalDestination,
    init.propertyTypes !== undefined && init.propertyTypes.size > 0 ? init.propertyTypes : undefined,
    published?.exchange ?? init.exchange,
    published?.routingKey ?? init.routingKey,
    init.userId,
    init.native,
    init.brokerProperties !== undefined && init.brokerProperties.size > 0 ? init.brokerProperties : undefined,
  );
  if (init.encodings !== undefined) message.encodings = init.encodings;
  if (init.nullBody === true) message.nullBody = true;
  if (init.bccKeys !== undefined && init.bccKeys.length > 0) message.bccKeys = init.bccKeys;
  if (init.deliverNowOrExpire === true) message.deliverNowOrExpire = true;
  return message;
}

/**
 * Consumers trust a message's user id: it must be the sender's own, whatever its protocol checked,
 * or, from the broker's own connections, one a neighbour checked (a network link's).
 */
export function checkUserId(init: MessageInit | PublishInit, sender: { readonly username: string | undefined; readonly internal: boolean }): void {
  if (init.userId !== undefined && !sender.internal && init.userId !== sender.username) {
    throw new FerryError('FERRY_NOT_AUTHORIZED', `a message's user id "${init.userId}" is not the sending connection's user`);
  }
}

export function isExpired(message: Message, now: number): boolean {
  return message.expiration !== 0 && message.expiration <= now;
}

function inexact(native: NativeEncoding | undefined): NativeEncoding | undefined {
  return native === undefined || !native.exact ? native : { ...native, exact: false };
}

/**
 * Properties a consumer sets on a message it hands back (AMQP modified's message-annotations): each
 * replaces the property of its name, or is added.
 */
export type PropertyChanges = ReadonlyMap<string, PropertyValue>;

/** The same message with `changes` applied to its properties; a changed property loses the wire type it had. */
export function withProperties(message: Message, changes: PropertyChanges): Message {
  const properties = new Map(message.properties);
  const types = message.propertyTypes === undefined ? undefined : new Map(message.propertyTypes);
  for (const [name, value] of changes) {
    properties.set(name, value);
    types?.delete(name);
  }
  return copyMessage(message, { properties, propertyTypes: types === undefined || types.size === 0 ? undefined : types });
}

/** The same message with some fields changed: a dead-letter copy, a scheduled repeat. */
export function copyMessage(message: Message, changes: Partial<MessageInit>): Message {
  return buildMessage(
    {
      id: message.id,
      destination: message.destination,
      // a copy that brings its own body does not read the original's back from the store
      body: changes.body ?? message.body,
      bodyKind: message.bodyKind,
      persistent: message.persistent,
      priority: message.priority,
      expiration: message.expiration,
      timestamp: message.timestamp,
      correlationId: message.correlationId,
      replyTo: message.replyTo,
      type: message.type,
      groupId: message.groupId,
      groupSeq: message.groupSeq,
      properties: message.properties,
      propertyTypes: message.propertyTypes,
      originalDestination: message.originalDestination,
      exchange: message.exchange,
      routingKey: message.routingKey,
      userId: message.userId,
      brokerProperties: message.brokerProperties,
      nullBody: message.nullBody,
      // a copy with an expiration of its own (a dead letter's has none) no longer has a TTL of 0
      deliverNowOrExpire: changes.expiration === undefined && message.deliverNowOrExpire,
      native: changes.properties === undefined && changes.expiration === undefined && changes.persistent === undefined ? message.native : inexact(message.native),
      ...(message.originConnectionId === undefined ? {} : { originConnectionId: message.originConnectionId }),
      ...changes,
    },
    message.id,
    message.timestamp,
  );
}
