import { isUtf8 } from 'node:buffer';
import type { IPublishPacket, UserProperties } from 'mqtt-packet';
import { isStructuredProperty, RETAIN_PROPERTY, type Message, type MessageInit, type PropertyValue } from '../../core/index.js';
import { topicFromFerry, topicToFerry } from './topics.js';

/**
 * MQTT PUBLISH <-> core messages. QoS 1 and 2 are persistent, QoS 0 is not; MQTT 5's user
 * properties are message properties, Content Type is the `content-type` property (STOMP's header
 * of that name), Response Topic is the reply-to topic, Correlation Data the correlation id (UTF-8
 * text as it is, other bytes as Qpid JMS writes a binary id, see `correlationId`), Message Expiry Interval the expiration, and a Payload Format Indicator of 1 makes a text
 * message (bytes otherwise).
 */

/** Marks a message published at QoS 2, so that QoS 2 subscribers get it at QoS 2 (the same name ActiveMQ uses). */
export const QOS_PROPERTY = 'ActiveMQ.MQTT.QoS';
export const CONTENT_TYPE_PROPERTY = 'content-type';
/** Marks a message published with the RETAIN flag, for retain-as-published subscriptions (ActiveMQ's name, which core reads). */
export { RETAIN_PROPERTY };
/**
 * Every user property of a PUBLISH that gave a name more than once, as JSON name/value pairs in the
 * packet's order, which MQTT 5 subscribers get back [MQTT-3.3.2-18]. The name's own property holds
 * its last value, for selectors and other protocols.
 */
export const USER_PROPERTIES_PROPERTY = 'Ferry.MQTT.UserProperties';

export type QoS = 0 | 1 | 2;

/** The QoS a message was published with: 2 when marked, otherwise 1 for persistent messages and 0 for the rest. */
export function messageQos(message: Message): QoS {
  if (!message.persistent) return 0;
  return message.properties.size > 0 && message.properties.get(QOS_PROPERTY) === 2 ? 2 : 1;
}

/**
 * A PUBLISH (or a will) as a core message for Ferry topic `topic`; `now` anchors the expiry.
 * `userPropertiesInOrder` is the packet's user properties as it ordered them, where a name repeats
 * (see framing.ts); without it a repeated name's values follow each other.
 */
export function publishToMessage(
  packet: Pick<IPublishPacket, 'qos' | 'payload' | 'properties'>,
  topic: string,
  body: Buffer,
  now: number,
  retain = false,
  userPropertiesInOrder?: readonly (readonly [string, string])[],
): MessageInit {
  const init: MessageInit = {
    destination: { kind: 'topic', name: topic },
    body,
    bodyKind: 'bytes',
    persistent: packet.qos > 0,
  };
  const props = packet.properties;
  let properties: Map<string, PropertyValue> | undefined;
  if (packet.qos === 2) properties = new Map<string, PropertyValue>([[QOS_PROPERTY, 2]]);
  if (retain) (properties ??= new Map()).set(RETAIN_PROPERTY, true);
  if (props !== undefined) {
    if (props.payloadFormatIndicator === true) init.bodyKind = 'text';
    if (props.messageExpiryInterval !== undefined) init.expiration = now + props.messageExpiryInterval * 1000;
    if (props.responseTopic !== undefined) init.replyTo = { kind: 'topic', name: topicToFerry(props.responseTopic) };
    if (props.correlationData !== undefined) init.correlationId = correlationId(props.correlationData);
    if (props.contentType !== undefined) (properties ??= new Map()).set(CONTENT_TYPE_PROPERTY, props.contentType);
    const user = props.userProperties;
    if (user !== undefined) {
      let repeated = false;
      for (const name of Object.keys(user)) {
        const value = user[name]!;
        if (Array.isArray(value)) repeated = true;
        (properties ??= new Map()).set(name, Array.isArray(value) ? value[value.length - 1]! : value);
      }
      if (repeated) {
        const pairs = userPropertiesInOrder ?? Object.entries(user).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => [name, v]));
        properties!.set(USER_PROPERTIES_PROPERTY, JSON.stringify(pairs));
      }
    }
  }
  if (properties !== undefined) init.properties = properties;
  return init;
}

// Qpid JMS's convention for an id that is not a plain string, which the AMQP 1.0 mapping reads and writes too
const BINARY_ID = 'AMQP_BINARY:';
const STRING_ID = 'AMQP_STRING:';

/**
 * Correlation Data as a core correlation id: UTF-8 text as it is (prefixed `AMQP_STRING:` when it
 * starts with `AMQP_`, as the AMQP 1.0 mapping does), any other bytes as `AMQP_BINARY:` and their
 * hex, so they reach an MQTT or AMQP 1.0 consumer unaltered [MQTT-3.3.2-16].
 */
function correlationId(data: Buffer): string {
  if (!isUtf8(data)) return BINARY_ID + data.toString('hex').toUpperCase();
  const text = data.toString('utf8');
  return text.startsWith('AMQP_') ? STRING_ID + text : text;
}

/** The Correlation Data a core correlation id stands for (see `correlationId`). */
function correlationData(id: string): Buffer {
  if (id.startsWith(BINARY_ID)) {
    const hex = id.slice(BINARY_ID.length);
    if (/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return Buffer.from(hex, 'hex');
  }
  return Buffer.from(id.startsWith(STRING_ID) ? id.slice(STRING_ID.length) : id, 'utf8');
}

function propertyText(value: PropertyValue): string {
  if (value === null) return '';
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return String(value);
}

/** The pairs a `USER_PROPERTIES_PROPERTY` holds; undefined for a value that is not such a list (another protocol may set any header). */
function storedUserProperties(value: PropertyValue | undefined): [string, string][] | undefined {
  if (typeof value !== 'string') return undefined;
  let pairs: unknown;
  try {
    pairs = JSON.parse(value);
  } catch {
    return undefined;
  }
  const isPair = (p: unknown): p is [string, string] => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string';
  return Array.isArray(pairs) && pairs.every(isPair) ? pairs : undefined;
}

/** A message's MQTT 5 user properties as name/value pairs, in order, repeated names included. */
function userPropertyPairs(message: Message): [string, string][] | undefined {
  const stored = storedUserProperties(message.properties.get(USER_PROPERTIES_PROPERTY));
  const listed = stored === undefined ? undefined : new Set(stored.map(([name]) => name));
  let pairs = stored;
  for (const [name, value] of message.properties) {
    if (name === QOS_PROPERTY || name === RETAIN_PROPERTY || (name === CONTENT_TYPE_PROPERTY && typeof value === 'string') || isStructuredProperty(message, name)) continue;
    if (listed !== undefined && (name === USER_PROPERTIES_PROPERTY || listed.has(name))) continue;
    (pairs ??= []).push([name, propertyText(value)]);
  }
  return pairs;
}

type PublishProperties = NonNullable<IPublishPacket['properties']>;

/** The MQTT 5 properties of a message other than its user properties. */
function fieldProperties(message: Message): PublishProperties {
  const out: PublishProperties = {};
  if (message.bodyKind === 'text') out.payloadFormatIndicator = true;
  const contentType = message.properties.get(CONTENT_TYPE_PROPERTY);
  if (typeof contentType === 'string') out.contentType = contentType;
  if (message.replyTo !== undefined && message.replyTo.kind === 'topic') out.responseTopic = topicFromFerry(message.replyTo.name);
  if (message.correlationId !== undefined) out.correlationData = correlationData(message.correlationId);
  return out;
}

/** MQTT 5 properties of a message as an object (for tests and for readers of a message's mapping). */
export function messageProperties(message: Message): PublishProperties {
  const out = fieldProperties(message);
  const pairs = userPropertyPairs(message);
  if (pairs !== undefined) {
    const user: UserProperties = {};
    for (const [name, value] of pairs) {
      const before = user[name];
      user[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
    }
    out.userProperties = user;
  }
  return out;
}

// MQTT 5 property identifiers (section 2.2.2.2)
const PAYLOAD_FORMAT = 0x01;
const MESSAGE_EXPIRY = 0x02;
const CONTENT_TYPE = 0x03;
const RESPONSE_TOPIC = 0x08;
const CORRELATION_DATA = 0x09;
const SUBSCRIPTION_ID = 0x0b;
const TOPIC_ALIAS = 0x23;
const USER_PROPERTY = 0x26;

function varIntLength(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

function writeVarInt(buf: Buffer, offset: number, n: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    buf[offset++] = byte;
  } while (n > 0);
  return offset;
}

/** A property of MQTT's two-byte length; undefined for a value over 65,535 bytes another protocol carried, which is left out. */
function stringField(id: number, value: string | Buffer): Buffer | undefined {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > 0xffff) return undefined;
  const out = Buffer.allocUnsafe(3 + bytes.length);
  out[0] = id;
  out.writeUInt16BE(bytes.length, 1);
  bytes.copy(out, 3);
  return out;
}

/**
 * The MQTT 5 properties of a message that are the same for every delivery of it, encoded once:
 * payload format, content type, response topic, correlation data and user properties.
 */
export function encodeMessageProperties(message: Message): Buffer {
  const parts: Buffer[] = [];
  const add = (field: Buffer | undefined): void => void (field !== undefined && parts.push(field));
  const p = fieldProperties(message);
  if (p.payloadFormatIndicator === true) parts.push(Buffer.from([PAYLOAD_FORMAT, 1]));
  if (p.contentType !== undefined) add(stringField(CONTENT_TYPE, p.contentType));
  if (p.responseTopic !== undefined) add(stringField(RESPONSE_TOPIC, p.responseTopic));
  if (p.correlationData !== undefined) add(stringField(CORRELATION_DATA, p.correlationData));
  for (const [name, value] of userPropertyPairs(message) ?? []) {
    const nameField = stringField(USER_PROPERTY, name);
    const valueField = stringField(0, value);
    if (nameField !== undefined && valueField !== undefined) parts.push(Buffer.concat([nameField, valueField.subarray(1)]));
  }
  return Buffer.concat(parts);
}

export interface PublishFrame {
  /** The topic name's bytes; empty when a topic alias stands for it. */
  readonly topic: Buffer;
  readonly qos: QoS;
  readonly dup: boolean;
  readonly retain: boolean;
  readonly packetId: number;
  /** MQTT 5 only: the properties' bytes (without their length); undefined for 3.1 and 3.1.1. */
  readonly properties: Buffer | undefined;
  /** MQTT 5 only: per-delivery properties. */
  readonly expiry?: number | undefined;
  readonly topicAlias?: number | undefined;
  readonly subscriptionIds?: readonly number[] | undefined;
  readonly payload: Buffer;
}

/** Encodes a PUBLISH with one copy of the payload; the hot path of every delivery. */
export function encodePublish(f: PublishFrame): Buffer {
  const out = Buffer.allocUnsafe(publishSize(f));
  writePublish(f, out);
  return out;
}

/** Writes a PUBLISH into `out`, which is exactly `publishSize(f)` bytes (room the transport reserved). */
export function writePublish(f: PublishFrame, out: Buffer): void {
  let propsLength = 0;
  if (f.properties !== undefined) {
    propsLength = f.properties.length;
    if (f.expiry !== undefined) propsLength += 5;
    if (f.topicAlias !== undefined) propsLength += 3;
    if (f.subscriptionIds !== undefined) for (const id of f.subscriptionIds) propsLength += 1 + varIntLength(id);
  }
  const variable = 2 + f.topic.length + (f.qos > 0 ? 2 : 0) + (f.properties !== undefined ? varIntLength(propsLength) + propsLength : 0);
  const remaining = variable + f.payload.length;
  out[0] = 0x30 | (f.dup ? 0x08 : 0) | (f.qos << 1) | (f.retain ? 1 : 0);
  let o = writeVarInt(out, 1, remaining);
  o = out.writeUInt16BE(f.topic.length, o);
  o += f.topic.copy(out, o);
  if (f.qos > 0) o = out.writeUInt16BE(f.packetId, o);
  if (f.properties !== undefined) {
    o = writeVarInt(out, o, propsLength);
    o += f.properties.copy(out, o);
    if (f.expiry !== undefined) {
      out[o++] = MESSAGE_EXPIRY;
      o = out.writeUInt32BE(f.expiry, o);
    }
    if (f.topicAlias !== undefined) {
      out[o++] = TOPIC_ALIAS;
      o = out.writeUInt16BE(f.topicAlias, o);
    }
    if (f.subscriptionIds !== undefined) {
      for (const id of f.subscriptionIds) {
        out[o++] = SUBSCRIPTION_ID;
        o = writeVarInt(out, o, id);
      }
    }
  }
  f.payload.copy(out, o);
}

/** Size of the PUBLISH `encodePublish` would make, to honour a client's Maximum Packet Size without encoding. */
export function publishSize(f: PublishFrame): number {
  let propsLength = 0;
  if (f.properties !== undefined) {
    propsLength = f.properties.length + (f.expiry !== undefined ? 5 : 0) + (f.topicAlias !== undefined ? 3 : 0);
    if (f.subscriptionIds !== undefined) for (const id of f.subscriptionIds) propsLength += 1 + varIntLength(id);
  }
  const remaining = 2 + f.topic.length + (f.qos > 0 ? 2 : 0) + (f.properties !== undefined ? varIntLength(propsLength) + propsLength : 0) + f.payload.length;
  return 1 + varIntLength(remaining) + remaining;
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP; MQTT 5 adds the reason code when it is not success ([MQTT-3.4.2-1]). */
export function encodeAck(type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode: number, v5: boolean): Buffer {
  const first = type === 'puback' ? 0x40 : type === 'pubrec' ? 0x50 : type === 'pubrel' ? 0x62 : 0x70;
  if (!v5 || reasonCode === 0) return Buffer.from([first, 2, packetId >> 8, packetId & 0xff]);
  return Buffer.from([first, 3, packetId >> 8, packetId & 0xff, reasonCode]);
}
