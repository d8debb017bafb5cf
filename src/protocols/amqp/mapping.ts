import { isUtf8 } from 'node:buffer';
import { FerryError } from '../../errors.js';
import { ScheduleProperty, isStructuredProperty, mapBodyEntries, streamBodyItems, type BodyKind, type Destination, type Message, type MessageInit, type NativeEncoding, type PropertyChanges, type PropertyValue, type PropertyWireType } from '../../core/index.js';
import { formatAddress, jmsTypeCapabilities, parseAddress } from './address.js';
import { AmqpReader, AmqpSymbol, AmqpWriter, isSingleValue, type AmqpValue } from './codec.js';
import { readTypedProperty, writeTypedProperty } from './property-types.js';
import { LIST_CODES, MAP_CODES, encodeTypedBody } from './typed-body.js';

/**
 * AMQP 1.0 messages <-> core messages.
 *
 * Header: durable <-> persistent, priority (clamped to 0-9), ttl -> expiration (an
 * absolute-expiry-time wins over it), delivery-count <- the delivery's redeliveries; on the way out
 * ttl is what is left of the expiration.
 * Properties: message-id and correlation-id <-> id and correlation id (a string as it is; a ulong,
 * uuid or binary id, or a string that itself starts with `AMQP_`, as `AMQP_ULONG:`, `AMQP_UUID:`,
 * `AMQP_BINARY:` or `AMQP_STRING:` text, the convention of Qpid JMS, and back to its type on the way
 * out); user-id <-> the user id the broker checked (`Message.userId`; an incoming one is taken
 * only when it names the connection's own user, and otherwise left out); to (out only) and reply-to <-> destinations (see address.ts); subject <-> type;
 * content-type and content-encoding <-> the user properties of those names (which is also where
 * STOMP keeps its content-type header); creation-time <-> timestamp; absolute-expiry-time <->
 * expiration; group-id and group-sequence <-> group id and sequence (a uint on the wire, a JMS int
 * in the broker, as ActiveMQ's and Artemis's AMQP transports read it: 4294967295 is -1).
 * Application properties <-> user properties: strings, booleans, binary and null as they are; every
 * integer type up to int as a number, long and ulong as a bigint, float and double as a number,
 * timestamp as epoch milliseconds, uuid, symbol and char as text, each with its AMQP type kept as
 * the property's wire type where the value alone does not say it (see property-types.ts), so that
 * it goes out as the type it came as; a property without one goes out as an int, a long (a ulong
 * past a long's range) or a double. Lists and maps, which the specification does not allow there,
 * are dropped.
 * Message annotations are kept as user properties under their own names (`x-opt-...`); on the way
 * out every user property whose name starts with `x-opt-` is a message annotation. The JMS type
 * annotations `x-opt-jms-msg-type`, `x-opt-jms-dest` and `x-opt-jms-reply-to` (bytes) are not kept:
 * they are written fresh from the body kind and the destinations, so Qpid JMS reads the right types.
 * On the way in, `x-opt-jms-dest` and `x-opt-jms-reply-to` say what kind of destination a bare `to`
 * or `reply-to` address names (a prefix in the address wins), as Artemis reads them: Qpid JMS sends a
 * topic's bare name and this annotation through an anonymous relay.
 * `x-opt-delivery-time` (a time, which wins) and `x-opt-delivery-delay` (milliseconds) are not kept
 * either: they hold the message back as AMQ_SCHEDULED_DELAY does (unless the message has its own),
 * as Artemis schedules them; a time already past or a delay of 0 delivers it at once.
 * Bodies: data sections (several are joined) -> by the sender's `x-opt-jms-msg-type` when it is 1
 * (object), 3 (bytes) or 5 (text), as Qpid JMS reads it, and otherwise by content-type, as ActiveMQ's
 * and Artemis's AMQP transports read it: `application/x-java-serialized-object` -> object (the bytes
 * as they are, never deserialized), a text type (text/*, XML, JSON, JavaScript) whose charset is
 * UTF-8 (the default) or US-ASCII and whose bytes are UTF-8 -> text, anything else -> bytes; a text
 * or object body that came in data sections goes back to AMQP consumers in one, as ActiveMQ keeps
 * its original encoding. No body is read as an empty data section, and msg-type 0 with an empty
 * body is none. amqp-value string -> text (its UTF-8 bytes, never decoded); amqp-value binary ->
 * bytes; amqp-value null -> empty bytes; amqp-value map -> map; amqp-value list -> stream;
 * amqp-sequence sections -> stream; any other amqp-value -> object. Map, stream and object bodies keep their AMQP encoding as the body bytes (a stream that
 * came as amqp-sequence keeps its whole sections), so an AMQP consumer receives exactly what was
 * sent; on the way out such a body is written back as it came when it is a valid AMQP encoding of
 * its kind, and as a data section otherwise (an object from another protocol is tagged
 * `application/x-java-serialized-object`, as Qpid JMS expects). Text goes out as amqp-value
 * string (unless it came in data sections), a null text (`Message.nullBody`, a JMS TextMessage's)
 * as amqp-value null, bytes as one data section.
 */

const SECTION_HEADER = 0x70;
const SECTION_DELIVERY_ANNOTATIONS = 0x71;
const SECTION_MESSAGE_ANNOTATIONS = 0x72;
const SECTION_PROPERTIES = 0x73;
const SECTION_APPLICATION_PROPERTIES = 0x74;
const SECTION_DATA = 0x75;
const SECTION_SEQUENCE = 0x76;
const SECTION_VALUE = 0x77;
const SECTION_FOOTER = 0x78;

const symbolicSections: Readonly<Record<string, number>> = {
  'amqp:header:list': SECTION_HEADER,
  'amqp:delivery-annotations:map': SECTION_DELIVERY_ANNOTATIONS,
  'amqp:message-annotations:map': SECTION_MESSAGE_ANNOTATIONS,
  'amqp:properties:list': SECTION_PROPERTIES,
  'amqp:application-properties:map': SECTION_APPLICATION_PROPERTIES,
  'amqp:data:binary': SECTION_DATA,
  'amqp:amqp-sequence:list': SECTION_SEQUENCE,
  'amqp:amqp-value:*': SECTION_VALUE,
  'amqp:footer:map': SECTION_FOOTER,
};

/**
 * Annotations that Ferry writes itself, from the body kind and the destinations, under the names
 * Qpid JMS, ActiveMQ and Artemis read them.
 */
const JMS_MSG_TYPE = 'x-opt-jms-msg-type';
const JMS_DEST = 'x-opt-jms-dest';
const JMS_REPLY_TYPE = 'x-opt-jms-reply-to';
const generatedAnnotations: ReadonlySet<string> = new Set([JMS_MSG_TYPE, JMS_DEST, JMS_REPLY_TYPE]);
/** Qpid JMS's codes for message types and destination types in those annotations. */
const jmsMessageTypes: Readonly<Record<BodyKind, number>> = { none: 0, object: 1, map: 2, bytes: 3, stream: 4, text: 5 };
const SERIALIZED_JAVA = 'application/x-java-serialized-object';
/** Annotations that hold a message back, read into the scheduler's own property. */
const DELIVERY_TIME = 'x-opt-delivery-time';
const DELIVERY_DELAY = 'x-opt-delivery-delay';
/** The kinds of Qpid JMS's message-type codes that a data section may carry. */
const dataMessageTypes: ReadonlyMap<number, BodyKind> = new Map([
  [1, 'object'],
  [3, 'bytes'],
  [5, 'text'],
]);
/**
 * Kept with a text or object message whose body came in data sections (`Message.native`, which is
 * also in its store record), so that AMQP consumers get it back in a data section.
 */
const DATA_BODY: NativeEncoding = { protocol: 'amqp', bytes: Buffer.from([SECTION_DATA]), exact: true };

/** User properties that travel in the properties section instead of application-properties. */
const CONTENT_TYPE = 'content-type';
const CONTENT_ENCODING = 'content-encoding';

function decodeError(message: string): FerryError {
  return new FerryError('FERRY_AMQP_DECODE', message);
}

// ids

const idPrefixes = ['AMQP_ULONG:', 'AMQP_UUID:', 'AMQP_BINARY:', 'AMQP_STRING:'] as const;

/** Reads a message-id or correlation-id field as text, keeping its type in a prefix when it is not a plain string. */
function readId(reader: AmqpReader): string | undefined {
  const code = reader.peekFormat();
  const value = reader.read();
  if (value === null) return undefined;
  if (code === 0x98 && typeof value === 'string') return `AMQP_UUID:${value}`;
  if (typeof value === 'string') return value.startsWith('AMQP_') ? `AMQP_STRING:${value}` : value;
  if (typeof value === 'bigint') return `AMQP_ULONG:${value}`;
  if (Buffer.isBuffer(value)) return `AMQP_BINARY:${value.toString('hex').toUpperCase()}`;
  if (typeof value === 'number') return `AMQP_ULONG:${value}`;
  throw decodeError(`a message id must be a string, ulong, uuid or binary, got format code 0x${code.toString(16)}`);
}

function writeId(w: AmqpWriter, id: string): void {
  if (id.startsWith('AMQP_')) {
    try {
      if (id.startsWith(idPrefixes[0])) return w.ulong(BigInt(id.slice(idPrefixes[0].length)));
      if (id.startsWith(idPrefixes[1])) return w.uuid(id.slice(idPrefixes[1].length));
      if (id.startsWith(idPrefixes[2])) {
        const hex = id.slice(idPrefixes[2].length);
        if (/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return w.binary(Buffer.from(hex, 'hex'));
      }
      if (id.startsWith(idPrefixes[3])) return w.string(id.slice(idPrefixes[3].length));
    } catch {
      // not what its prefix says: it goes out as the string it is
    }
  }
  w.string(id);
}

// property values

function toPropertyValue(value: AmqpValue): PropertyValue | undefined {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (value instanceof AmqpSymbol) return value.name;
  return undefined;
}

/**
 * A modified outcome's message-annotations [AMQP 3.4.5], as changes to the message's properties,
 * read as a transfer's message-annotations are: Ferry's own JMS annotations and those that hold a
 * message back at its send are left out. Undefined when there are none.
 */
export function annotationChanges(annotations: AmqpValue | undefined): PropertyChanges | undefined {
  if (!(annotations instanceof Map)) return undefined;
  const changes = new Map<string, PropertyValue>();
  for (const [key, value] of annotations) {
    const name = key instanceof AmqpSymbol ? key.name : typeof key === 'string' ? key : undefined;
    if (name === undefined || generatedAnnotations.has(name) || name === DELIVERY_TIME || name === DELIVERY_DELAY) continue;
    const converted = toPropertyValue(value);
    if (converted !== undefined) changes.set(name, converted);
  }
  return changes.size === 0 ? undefined : changes;
}

// incoming

const EMPTY = Buffer.alloc(0);

/** Where a decoded message goes until its link says (see DecodedMessage). */
export const UNADDRESSED: Destination = { kind: 'queue', name: '' };

/** What a transfer's payload says, before the link decides where the message goes. */
export interface DecodedMessage {
  /**
   * The message for core, its destination still UNADDRESSED: the link sets it. Every such object
   * has the same fields in the same order, so that core's reads of them stay monomorphic.
   */
  readonly fields: MessageInit;
  /** The properties' `to`, which is where an anonymous-relay link sends it. */
  readonly to: string | undefined;
  /** What the sender's `x-opt-jms-dest` says `to` is, as terminus capabilities (see `jmsTypeCapabilities`). */
  readonly toCapabilities: readonly string[];
  /** The properties' `user-id`, as the sender claims it: the link takes it only when it names the connection's user. */
  readonly userId: string | undefined;
}

interface Body {
  kind: BodyKind;
  parts: Buffer[];
  sections: 'data' | 'sequence' | 'value' | undefined;
}

function sectionCode(reader: AmqpReader): number {
  if (reader.u8() !== 0x00) throw decodeError('a message section must be a described value');
  const descriptor = reader.descriptor();
  if (typeof descriptor === 'number') return descriptor;
  const code = symbolicSections[descriptor];
  if (code === undefined) throw decodeError(`unknown message section "${descriptor}"`);
  return code;
}

/** A body view that pins a much larger buffer (a socket chunk, a reassembled transfer) is copied. */
function own(view: Buffer): Buffer {
  return view.length * 2 < view.buffer.byteLength ? Buffer.from(view) : view;
}

/**
 * Decodes a bare AMQP message (format 0) into core's terms. `now` turns a ttl into an expiration.
 * Throws FERRY_AMQP_DECODE when the payload is not a well-formed message.
 */
export function decodeMessage(payload: Buffer, now: number): DecodedMessage {
  const reader = new AmqpReader(payload);
  const properties = new Map<string, PropertyValue>();
  const fields: MessageInit = {
    destination: UNADDRESSED,
    body: EMPTY,
    bodyKind: 'bytes',
    persistent: false,
    priority: 4,
    expiration: 0,
    correlationId: undefined,
    replyTo: undefined,
    type: undefined,
    groupId: undefined,
    groupSeq: undefined,
    userId: undefined,
    native: undefined,
    properties,
    propertyTypes: undefined,
  };
  let propertyTypes: Map<string, PropertyWireType> | undefined;
  let userId: string | undefined;
  const body: Body = { kind: 'bytes', parts: [], sections: undefined };
  let to: string | undefined;
  let replyTo: string | undefined;
  let toType: number | undefined;
  let replyToType: number | undefined;
  let msgType: number | undefined;
  let deliveryTime: number | undefined;
  let deliveryDelay: number | undefined;
  let ttl: number | undefined;
  let absoluteExpiry: number | undefined;
  while (reader.remaining > 0) {
    const sectionStart = reader.offset;
    const code = sectionCode(reader);
    switch (code) {
      case SECTION_HEADER: {
        const count = reader.compoundHead(false);
        for (let i = 0; i < count; i++) {
          const v = reader.read();
          if (i === 0 && v === true) fields.persistent = true;
          else if (i === 1 && typeof v === 'number') fields.priority = v;
          else if (i === 2 && typeof v === 'number') ttl = v;
        }
        break;
      }
      case SECTION_MESSAGE_ANNOTATIONS: {
        const count = reader.compoundHead(true);
        for (let i = 0; i < count; i += 2) {
          const key = reader.read();
          const value = reader.read();
          const name = key instanceof AmqpSymbol ? key.name : typeof key === 'string' ? key : undefined;
          if (name === JMS_DEST && typeof value === 'number') toType = value;
          else if (name === JMS_REPLY_TYPE && typeof value === 'number') replyToType = value;
          else if (name === JMS_MSG_TYPE && typeof value === 'number') msgType = value;
          else if (name === DELIVERY_TIME || name === DELIVERY_DELAY) {
            const ms = typeof value === 'bigint' ? Number(value) : value;
            if (typeof ms === 'number' && Number.isFinite(ms)) {
              if (name === DELIVERY_TIME) deliveryTime = ms;
              else deliveryDelay = ms;
            }
            continue;
          }
          if (name === undefined || generatedAnnotations.has(name)) continue;
          const converted = toPropertyValue(value);
          if (converted !== undefined) properties.set(name, converted);
        }
        break;
      }
      case SECTION_PROPERTIES: {
        const count = reader.compoundHead(false);
        for (let i = 0; i < count; i++) {
          if (i === 0 || i === 5) {
            const id = readId(reader);
            if (id === undefined) continue;
            if (i === 0) fields.id = id;
            else fields.correlationId = id;
            continue;
          }
          const v = reader.read();
          if (v === null) continue;
          switch (i) {
            case 1:
              if (Buffer.isBuffer(v) && v.length > 0) userId = v.toString('utf8');
              break;
            case 2:
              if (typeof v === 'string') to = v;
              break;
            case 3:
              if (typeof v === 'string') fields.type = v;
              break;
            case 4:
              if (typeof v === 'string' && v.length > 0) replyTo = v;
              break;
            case 6:
              if (v instanceof AmqpSymbol) properties.set(CONTENT_TYPE, v.name);
              break;
            case 7:
              if (v instanceof AmqpSymbol) properties.set(CONTENT_ENCODING, v.name);
              break;
            case 8:
              if (typeof v === 'number' && v > 0) absoluteExpiry = v;
              break;
            case 9:
              if (typeof v === 'number' && v > 0) fields.timestamp = v;
              break;
            case 10:
              if (typeof v === 'string') fields.groupId = v;
              break;
            case 11:
              // Qpid JMS wraps a negative JMSXGroupSeq into the uint: -1, which closes a group, arrives as 4294967295
              if (typeof v === 'number') fields.groupSeq = v | 0;
              break;
            default:
              break;
          }
        }
        break;
      }
      case SECTION_APPLICATION_PROPERTIES: {
        const count = reader.compoundHead(true);
        for (let i = 0; i < count; i += 2) {
          const key = reader.readKey();
          const { value, type } = readTypedProperty(reader, toPropertyValue);
          if (typeof key !== 'string') throw decodeError('application-properties keys must be strings');
          if (value === undefined) continue;
          properties.set(key, value);
          if (type !== undefined) (propertyTypes ??= new Map()).set(key, type);
          else propertyTypes?.delete(key);
        }
        break;
      }
      case SECTION_DATA: {
        const value = reader.read();
        if (!Buffer.isBuffer(value)) throw decodeError('a data section must hold binary');
        addBody(body, 'data', 'bytes', value);
        break;
      }
      case SECTION_SEQUENCE: {
        const end = reader.valueEnd();
        reader.compoundHead(false);
        reader.offset = end;
        addBody(body, 'sequence', 'stream', payload.subarray(sectionStart, end));
        break;
      }
      case SECTION_VALUE: {
        const format = reader.peekFormat();
        const start = reader.offset;
        const end = reader.valueEnd();
        if (body.sections !== undefined) throw decodeError('a message has at most one amqp-value section, and no other body');
        if (format === 0xa1 || format === 0xb1) {
          const size = format === 0xa1 ? 2 : 5;
          reader.offset = end;
          addBody(body, 'value', 'text', payload.subarray(start + size, end));
          break;
        }
        const value = reader.read();
        if (Buffer.isBuffer(value)) addBody(body, 'value', 'bytes', value);
        else if (value === null) addBody(body, 'value', 'bytes', EMPTY);
        else if (value instanceof Map) addBody(body, 'value', 'map', payload.subarray(start, end));
        else if (Array.isArray(value) && format !== 0xe0 && format !== 0xf0) addBody(body, 'value', 'stream', payload.subarray(start, end));
        else addBody(body, 'value', 'object', payload.subarray(start, end));
        break;
      }
      case SECTION_DELIVERY_ANNOTATIONS:
      case SECTION_FOOTER:
        reader.skip();
        break;
      default:
        throw decodeError(`unknown message section 0x${code.toString(16)}`);
    }
  }
  // Qpid JMS names a bare address's kind in an annotation, as it does when the broker offers no prefixes
  if (replyTo !== undefined) fields.replyTo = parseAddress(replyTo, jmsTypeCapabilities(replyToType));
  fields.body = body.parts.length === 1 ? own(body.parts[0]!) : body.parts.length === 0 ? EMPTY : Buffer.concat(body.parts);
  if (body.sections === 'data' || body.sections === undefined) {
    body.kind = dataBodyKind(msgType, properties.get(CONTENT_TYPE), fields.body);
    if (body.kind === 'text' || body.kind === 'object') fields.native = DATA_BODY;
  }
  fields.bodyKind = body.kind;
  fields.propertyTypes = propertyTypes;
  const delay = deliveryTime !== undefined ? deliveryTime - now : deliveryDelay;
  if (delay !== undefined && delay > 0 && !properties.has(ScheduleProperty.delay)) properties.set(ScheduleProperty.delay, Math.trunc(delay));
  if (absoluteExpiry !== undefined) fields.expiration = absoluteExpiry;
  else if (ttl !== undefined && ttl > 0) fields.expiration = now + ttl;
  return { fields, to, toCapabilities: jmsTypeCapabilities(toType), userId };
}

function addBody(body: Body, sections: 'data' | 'sequence' | 'value', kind: BodyKind, part: Buffer): void {
  if (body.sections !== undefined && body.sections !== sections) throw decodeError(`a message body mixes ${body.sections} and ${sections} sections`);
  body.sections = sections;
  body.kind = kind;
  body.parts.push(part);
}

/** See the module's comment, Bodies. */
function dataBodyKind(msgType: number | undefined, contentType: PropertyValue | undefined, body: Buffer): BodyKind {
  if (msgType === 0 && body.length === 0) return 'none';
  const type = typeof contentType === 'string' ? parseContentType(contentType) : undefined;
  const kind = (msgType === undefined ? undefined : dataMessageTypes.get(msgType)) ?? (type === undefined ? 'bytes' : type.mime === SERIALIZED_JAVA ? 'object' : type.textual ? 'text' : 'bytes');
  if (kind !== 'text') return kind;
  // core's text is UTF-8 bytes, which are never transcoded here
  const charset = type?.charset ?? 'utf-8';
  return (charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii') && isUtf8(body) ? 'text' : 'bytes';
}

/** A content-type's media type, whether it is text (as ActiveMQ's AMQP transport tells), and its charset, all lower case. */
function parseContentType(contentType: string): { mime: string; textual: boolean; charset: string | undefined } {
  const [head = '', ...parameters] = contentType.toLowerCase().split(';');
  const mime = head.trim();
  const slash = mime.indexOf('/');
  const type = mime.slice(0, slash);
  const subtype = mime.slice(slash + 1);
  const textual =
    slash > 0 &&
    subtype !== '' &&
    (type === 'text' || (type === 'application' && (['xml', 'json', 'javascript', 'ecmascript', 'xml-dtd'].includes(subtype) || subtype.endsWith('+xml') || subtype.endsWith('+json'))));
  let charset: string | undefined;
  for (const parameter of parameters) {
    const eq = parameter.indexOf('=');
    if (eq < 0 || parameter.slice(0, eq).trim() !== 'charset') continue;
    charset = parameter.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    break;
  }
  return { mime, textual, charset };
}

// outgoing

/** True when `body` is one or more whole amqp-sequence sections. */
function isSequenceSections(body: Buffer): boolean {
  if (body.length < 4 || body[0] !== 0x00) return false;
  try {
    const reader = new AmqpReader(body);
    while (reader.remaining > 0) {
      if (sectionCode(reader) !== SECTION_SEQUENCE || !LIST_CODES.has(reader.peekFormat())) return false;
      reader.skip();
    }
    return true;
  } catch {
    return false;
  }
}

function destinationType(destination: Destination): number {
  return (destination.kind === 'queue' ? 0 : 1) + (destination.temporary === true ? 2 : 0);
}

function writeAnnotations(w: AmqpWriter, jmsType: number, message: Pick<Message, 'destination' | 'replyTo' | 'properties' | 'propertyTypes'>, annotationCount: number): void {
  w.descriptor(0x72);
  w.compound(true, () => {
    w.symbol(JMS_MSG_TYPE);
    w.byte(jmsType);
    w.symbol(JMS_DEST);
    w.byte(destinationType(message.destination));
    let count = 4;
    if (message.replyTo !== undefined) {
      w.symbol(JMS_REPLY_TYPE);
      w.byte(destinationType(message.replyTo));
      count += 2;
    }
    if (annotationCount > 0) {
      for (const [name, value] of message.properties) {
        if (!name.startsWith('x-opt-') || generatedAnnotations.has(name) || isStructuredProperty(message, name)) continue;
        w.symbol(name);
        writeTypedProperty(w, value, message.propertyTypes?.get(name));
        count += 2;
      }
    }
    return count;
  });
}

/** A destination's address as an encoded string, kept per destination object (a link sends all its messages to one). */
const addressStrings = new WeakMap<Destination, Buffer>();

function addressString(destination: Destination): Buffer {
  let encoded = addressStrings.get(destination);
  if (encoded === undefined) {
    const w = new AmqpWriter(64);
    w.string(formatAddress(destination));
    encoded = Buffer.from(w.toBuffer());
    addressStrings.set(destination, encoded);
  }
  return encoded;
}

/** The message-annotations sections of messages without x-opt- properties: a few dozen, made once each. */
const annotationSections = new Map<number, Buffer>();

/** The message-annotations section that carries only the JMS type annotations, made once per combination. */
function jmsAnnotations(jmsType: number, destination: Destination, replyTo: Destination | undefined): Buffer {
  const key = jmsType + 8 * destinationType(destination) + 32 * (replyTo === undefined ? 0 : 1 + destinationType(replyTo));
  let section = annotationSections.get(key);
  if (section === undefined) {
    const w = new AmqpWriter(64);
    writeAnnotations(w, jmsType, { destination, replyTo, properties: new Map(), propertyTypes: undefined }, 0);
    section = Buffer.from(w.toBuffer());
    annotationSections.set(key, section);
  }
  return section;
}

/**
 * Everything of a message after its header, the same for every delivery of it: annotations,
 * properties, application properties and body. Deliveries add their own header (encodeHeader).
 */
export function encodeMessage(message: Message): Buffer {
  const body = amqpBody(message);
  const head = messageHead(message, body);
  return Buffer.concat([head, body], head.length + body.length);
}

/**
 * What `encodeMessage` writes before the body's own bytes: annotations, properties, application
 * properties and the body section's opening (its descriptor and length, or nothing for sections
 * kept whole). A delivery is this, then the body `amqpBody` gives.
 */
function encodeMessageHead(message: Message, body: Buffer): Buffer {
  const w = new AmqpWriter(256);
  let contentType: string | undefined;
  let contentEncoding: string | undefined;
  let applicationCount = 0;
  let annotationCount = 0;
  for (const [name, value] of message.properties) {
    if (isStructuredProperty(message, name)) continue;
    if (name === CONTENT_TYPE && typeof value === 'string') contentType = value;
    else if (name === CONTENT_ENCODING && typeof value === 'string') contentEncoding = value;
    else if (name.startsWith('x-opt-')) annotationCount++;
    else applicationCount++;
  }

  let bodyKind = message.bodyKind;
  let bodyAs: 'data' | 'string' | 'null' | 'raw-value' | 'raw-sections' = 'data';
  const cameAsData = message.native?.protocol === DATA_BODY.protocol && message.native.bytes[0] === SECTION_DATA;
  if (cameAsData) bodyAs = 'data';
  else if (bodyKind === 'text') bodyAs = message.nullBody && body.length === 0 ? 'null' : 'string';
  else if (bodyKind === 'map' && isSingleValue(body, (c) => MAP_CODES.has(c))) bodyAs = 'raw-value';
  else if (bodyKind === 'stream' && isSingleValue(body, (c) => LIST_CODES.has(c))) bodyAs = 'raw-value';
  else if (bodyKind === 'stream' && isSequenceSections(body)) bodyAs = 'raw-sections';
  else if (bodyKind === 'object' && isSingleValue(body, (c) => c !== 0xa0 && c !== 0xb0)) bodyAs = 'raw-value';
  else if (bodyKind !== 'bytes' && bodyKind !== 'none') {
    if (bodyKind === 'object') contentType ??= SERIALIZED_JAVA;
    else bodyKind = 'bytes';
  }

  // message annotations: the JMS type annotations, then x-opt- properties
  if (annotationCount === 0) w.bytes(jmsAnnotations(jmsMessageTypes[bodyKind], message.destination, message.replyTo));
  else writeAnnotations(w, jmsMessageTypes[bodyKind], message, annotationCount);

  // properties: trailing nulls are left out
  w.descriptor(0x73);
  w.compound(false, () => {
    const last = message.groupSeq !== undefined ? 12 : message.groupId !== undefined ? 11 : 10;
    writeId(w, message.id);
    if (message.userId !== undefined) w.binary(Buffer.from(message.userId, 'utf8'));
    else w.null();
    w.bytes(addressString(message.destination));
    if (message.type !== undefined) w.string(message.type);
    else w.null();
    if (message.replyTo !== undefined) w.bytes(addressString(message.replyTo));
    else w.null();
    if (message.correlationId !== undefined) writeId(w, message.correlationId);
    else w.null();
    if (contentType !== undefined) w.symbol(contentType);
    else w.null();
    if (contentEncoding !== undefined) w.symbol(contentEncoding);
    else w.null();
    if (message.expiration !== 0) w.timestamp(message.expiration);
    else w.null();
    w.timestamp(message.timestamp);
    if (last >= 11) {
      if (message.groupId !== undefined) w.string(message.groupId);
      else w.null();
    }
    if (last >= 12) w.uint(message.groupSeq! >>> 0);
    return last;
  });

  if (applicationCount > 0) {
    w.descriptor(0x74);
    w.compound(true, () => {
      for (const [name, value] of message.properties) {
        if (name === CONTENT_TYPE || name === CONTENT_ENCODING || name.startsWith('x-opt-') || isStructuredProperty(message, name)) continue;
        w.string(name);
        writeTypedProperty(w, value, message.propertyTypes?.get(name));
      }
      return applicationCount * 2;
    });
  }

  switch (bodyAs) {
    case 'string':
      w.descriptor(0x77);
      w.sizeHead(0xa1, 0xb1, body.length);
      break;
    case 'null':
      // as Qpid JMS sends a TextMessage whose text is null, and reads one back
      w.descriptor(0x77);
      w.null();
      break;
    case 'raw-value':
      w.descriptor(0x77);
      break;
    case 'raw-sections':
      break;
    case 'data':
      w.descriptor(0x75);
      w.sizeHead(0xa0, 0xb0, body.length);
      break;
  }
  return w.toBuffer();
}

/**
 * The header section of one delivery: durable, priority, what is left of the ttl, first-acquirer
 * ([AMQP 3.2.1] "this message has not been acquired by any other link": its first delivery from
 * its queue, as RabbitMQ sets it), and the delivery count (deliveries before this one). Fields after
 * the last one that is not at its default are left out, as the specification allows.
 */
export function encodeHeader(message: Message, redeliveries: number, now: number, firstAcquirer = false): Buffer {
  const out = Buffer.allocUnsafe(headerSize(message, redeliveries, firstAcquirer, now));
  writeHeader(out, 0, message, redeliveries, firstAcquirer, now);
  return out;
}

function headerTtl(message: Message, now: number): number {
  return message.expiration === 0 ? 0 : Math.max(1, message.expiration - now);
}

function headerFields(message: Message, redeliveries: number, firstAcquirer: boolean, ttl: number): number {
  return redeliveries > 0 ? 5 : firstAcquirer ? 4 : ttl > 0 ? 3 : message.priority !== 4 ? 2 : message.persistent ? 1 : 0;
}

/** Bytes of the header section `writeHeader` writes for the same arguments. */
export function headerSize(message: Message, redeliveries: number, firstAcquirer: boolean, now: number): number {
  const ttl = headerTtl(message, now);
  const fields = headerFields(message, redeliveries, firstAcquirer, ttl);
  return 6 + (fields >= 1 ? 1 : 0) + (fields >= 2 ? 2 : 0) + (fields >= 3 ? (ttl === 0 ? 1 : 5) : 0) + (fields >= 4 ? 1 : 0) + (fields >= 5 ? 5 : 0);
}

/**
 * Writes the header section into `out` at `at` (room a transport reserved, so a delivery needs no
 * buffer of its own for it); returns the offset after it.
 */
export function writeHeader(out: Buffer, at: number, message: Message, redeliveries: number, firstAcquirer: boolean, now: number): number {
  const ttl = headerTtl(message, now);
  const fields = headerFields(message, redeliveries, firstAcquirer, ttl);
  out[at] = 0x00;
  out[at + 1] = 0x53;
  out[at + 2] = 0x70;
  out[at + 3] = 0xc0;
  out[at + 5] = fields;
  let o = at + 6;
  if (fields >= 1) out[o++] = message.persistent ? 0x41 : 0x42;
  if (fields >= 2) {
    out[o++] = 0x50;
    out[o++] = message.priority;
  }
  if (fields >= 3) {
    if (ttl === 0) out[o++] = 0x40;
    else {
      out[o++] = 0x70;
      out.writeUInt32BE(Math.min(ttl, 0xffffffff), o);
      o += 4;
    }
  }
  if (fields >= 4) out[o++] = firstAcquirer ? 0x41 : 0x42;
  if (fields >= 5) {
    out[o++] = 0x70;
    out.writeUInt32BE(redeliveries >>> 0, o);
    o += 4;
  }
  out[at + 4] = o - at - 5;
  return o;
}

const ENCODING_KEY = 'amqp';
const BODY_KEY = 'amqp.body';

/**
 * The body a delivery carries: the message's own bytes, except for a map or stream body another
 * protocol encoded (a JMS MapMessage), which goes as the AMQP JMS Mapping has it, made once per message.
 */
export function amqpBody(message: Message): Buffer {
  const kind = message.bodyKind;
  if (kind !== 'map' && kind !== 'stream') return message.body;
  // decided once per message: the converted body, or false for one that goes as it is
  const made = message.encodings?.get(BODY_KEY) as Buffer | false | undefined;
  if (made !== undefined) return made === false ? message.body : made;
  const body = message.body;
  let converted: Buffer | undefined;
  if (kind === 'map' && !isSingleValue(body, (c) => MAP_CODES.has(c))) {
    // a JMS client sends an empty MapMessage with no body at all
    const entries = body.length === 0 ? new Map() : mapBodyEntries(body);
    if (entries !== undefined) converted = encodeTypedBody({ t: 'map', v: entries });
  } else if (kind === 'stream' && !isSingleValue(body, (c) => LIST_CODES.has(c)) && !isSequenceSections(body)) {
    const items = streamBodyItems(body);
    if (items !== undefined) converted = encodeTypedBody({ t: 'list', v: items });
  }
  (message.encodings ??= new Map()).set(BODY_KEY, converted ?? false);
  return converted ?? body;
}

/**
 * A delivery's whole payload: its header, the message's head (made once and kept on the message,
 * `Message.encodings`, so that every further delivery, to any AMQP consumer, reuses it), then its body.
 */
export function deliveryPayload(message: Message, redeliveries: number, now: number): Buffer {
  const body = amqpBody(message);
  const head = messageHead(message, body);
  const header = encodeHeader(message, redeliveries, now);
  return Buffer.concat([header, head, body], header.length + head.length + body.length);
}

/**
 * The message's encoding after the header and before the body's bytes, made once and kept on the
 * message (`Message.encodings`); `body` is `amqpBody(message)`, read once by the caller (it may come from
 * the store). The body is not in it: a delivery copies the body from the message
 * straight into the socket's write slab (or hands a large one over as it is), which spares each
 * message an encoding buffer of its body's size and one copy of the body (bench/README.md).
 */
export function messageHead(message: Message, body: Buffer): Buffer {
  let encodings = message.encodings;
  let head = encodings?.get(ENCODING_KEY) as Buffer | undefined;
  if (head === undefined) {
    head = encodeMessageHead(message, body);
    if (encodings === undefined) message.encodings = encodings = new Map();
    encodings.set(ENCODING_KEY, head);
  }
  return head;
}

/** Reads a described value (a coordinator's declare or discharge) from an amqp-value body. */
export function decodeValueBody(payload: Buffer): AmqpValue {
  const reader = new AmqpReader(payload);
  while (reader.remaining > 0) {
    const code = sectionCode(reader);
    if (code === SECTION_VALUE) return reader.read();
    reader.skip();
  }
  throw decodeError('the message has no amqp-value body');
}

