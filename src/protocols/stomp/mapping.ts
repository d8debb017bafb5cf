import { FerryError, isFerryError } from '../../errors.js';
import { headerOfProperty, isStructuredProperty, type Destination, type Message, type MessageInit, type PropertyValue } from '../../core/index.js';
import { escapeHeader, type StompVersion } from './codec.js';

/**
 * STOMP frames <-> core messages, following ActiveMQ's STOMP conventions so that STOMP applications
 * written for ActiveMQ move over unchanged: destination prefixes, the `persistent`, `priority`,
 * `expires`, `reply-to`, `correlation-id` and `type` headers, headers named after JMS headers
 * (`JMSXGroupID`, `JMSCorrelationID`, ...: core's `headerOfProperty`) as those, other headers as user properties, and a
 * SEND with `content-length` becoming a bytes message (a text message otherwise).
 */

/** Resolves `/temp-queue/x` and `/temp-topic/x` to the connection's own temporary destinations. */
export interface TemporaryNames {
  resolve(kind: 'queue' | 'topic', localName: string): Destination;
  /** The local name this connection gave a temporary destination it owns, if any. */
  localName(destination: Destination): string | undefined;
}

const prefixes: readonly [string, 'queue' | 'topic', 'plain' | 'temp' | 'remote-temp'][] = [
  ['/queue/', 'queue', 'plain'],
  ['/topic/', 'topic', 'plain'],
  ['/temp-queue/', 'queue', 'temp'],
  ['/temp-topic/', 'topic', 'temp'],
  ['/remote-temp-queue/', 'queue', 'remote-temp'],
  ['/remote-temp-topic/', 'topic', 'remote-temp'],
];

export function parseDestination(value: string, temporary: TemporaryNames): Destination {
  if (value.includes(',')) {
    // ActiveMQ's composite destination: `/queue/a,/topic/b` sends to both
    const parts = value.split(',').map((part) => parseDestination(part.trim(), temporary));
    if (parts.some((p) => p.temporary === true)) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `a composite destination cannot name temporary destinations: "${value}"`);
    }
    return { kind: parts[0]!.kind, name: parts.map((p) => `${p.kind}://${p.name}`).join(',') };
  }
  for (const [prefix, kind, scope] of prefixes) {
    if (!value.startsWith(prefix)) continue;
    const name = value.slice(prefix.length);
    if (name.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', `destination "${value}" has no name after its prefix`);
    if (scope === 'plain') return { kind, name };
    if (scope === 'temp') return temporary.resolve(kind, name);
    return { kind, name, temporary: true };
  }
  throw new FerryError(
    'FERRY_DESTINATION_INVALID',
    `destination "${value}" must begin with one of /queue/, /topic/, /temp-queue/, /temp-topic/, /remote-temp-queue/, /remote-temp-topic/`,
  );
}

export function formatDestination(destination: Destination, temporary: TemporaryNames | undefined): string {
  if (destination.name.includes(',') && destination.temporary !== true) {
    return destination.name
      .split(',')
      .map((part) => (part.startsWith('queue://') ? `/queue/${part.slice(8)}` : part.startsWith('topic://') ? `/topic/${part.slice(8)}` : `/${destination.kind}/${part}`))
      .join(',');
  }
  if (destination.temporary === true) {
    const local = temporary?.localName(destination);
    if (local !== undefined) return `/temp-${destination.kind}/${local}`;
    return `/remote-temp-${destination.kind}/${destination.name}`;
  }
  return `/${destination.kind}/${destination.name}`;
}

/** Headers with a meaning of their own; every other SEND header becomes a user property. */
const reservedHeaders: ReadonlySet<string> = new Set([
  'destination', 'transaction', 'receipt', 'content-length', 'persistent', 'priority', 'expires', 'reply-to',
  'correlation-id', 'type', 'message-id', 'timestamp', 'redelivered', 'subscription', 'ack', 'JMSXDeliveryCount',
  'JMSXGroupID', 'JMSXGroupSeq', 'original-destination',
]);

function parseInteger(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new FerryError('FERRY_STOMP_PROTOCOL', `header ${name} must be a number, got "${value}"`);
  return Math.trunc(n);
}

/**
 * A `reply-to` that names no Ferry STOMP destination (a bare name, RabbitMQ's `/reply-queue/...`
 * or `/amq/queue/...`) is metadata for the application that answers, not for the broker: as
 * ActiveMQ does, it is kept verbatim as the string property `reply-to` instead of refusing the
 * SEND, and a STOMP consumer gets it back as its `reply-to` header.
 */
function replyToOf(value: string, temporary: TemporaryNames, properties: Map<string, PropertyValue>): Destination | undefined {
  try {
    return parseDestination(value, temporary);
  } catch (err) {
    if (!isFerryError(err, 'FERRY_DESTINATION_INVALID')) throw err;
    properties.set('reply-to', value);
    return undefined;
  }
}

/** A SEND frame's headers and body as a core message. */
export function sendToMessage(headers: ReadonlyMap<string, string>, body: Buffer, destination: Destination, temporary: TemporaryNames): MessageInit {
  const init: MessageInit = {
    destination,
    body,
    bodyKind: headers.has('content-length') ? 'bytes' : 'text',
    persistent: headers.get('persistent') === 'true',
  };
  const properties = new Map<string, PropertyValue>();
  for (const [name, value] of headers) {
    switch (name) {
      case 'priority':
        init.priority = parseInteger(name, value);
        break;
      case 'expires':
        init.expiration = Math.max(0, parseInteger(name, value));
        break;
      case 'reply-to':
        init.replyTo = replyToOf(value, temporary, properties);
        break;
      case 'correlation-id':
        init.correlationId = value;
        break;
      case 'type':
        init.type = value;
        break;
      default: {
        // JMSXGroupID, JMSCorrelationID, JMSPriority...: the header itself, as ActiveMQ takes them
        const header = headerOfProperty(name, value);
        if (header === undefined) {
          if (!reservedHeaders.has(name)) properties.set(name, value);
        } else if ('invalid' in header) throw new FerryError('FERRY_STOMP_PROTOCOL', `header ${name} must be ${header.invalid}, got "${value}"`);
        else Object.assign(init, header);
      }
    }
  }
  if (properties.size > 0) init.properties = properties;
  return init;
}

function propertyText(value: PropertyValue): string {
  if (value === null) return '';
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return String(value);
}

/**
 * STOMP 1.0 has no escapes, so a line break in a value would start a new header: replace it. 1.1
 * has no escape for CR, so a raw CR stays (the codec keeps it).
 */
function headerText(value: string, version: StompVersion): string {
  if (version === '1.0') return /[\r\n]/.test(value) ? value.replace(/[\r\n]/g, ' ') : value;
  return escapeHeader(value, version);
}

/**
 * The part of a MESSAGE frame that is the same for every delivery of one message over one STOMP
 * version: the command and the message's headers. Each delivery adds its subscription, ack and
 * redelivered headers, the blank line and the body.
 */
export function messageHead(message: Message, version: StompVersion, temporary: TemporaryNames | undefined): string {
  let head = fieldsHead(message, version, temporary);
  // as ActiveMQ writes it: the user id the broker checked, which no client's own header of that name replaces
  if (message.userId !== undefined) head += 'JMSXUserID:' + headerText(message.userId, version) + '\n';
  for (const [name, value] of message.properties) {
    // a reply-to kept as a property (see replyToOf) is the header when the message has no reply destination
    if ((reservedHeaders.has(name) && !(name === 'reply-to' && message.replyTo === undefined)) || name === 'content-length') continue;
    // a property of that name is some client's claim: only the checked user id is this header
    if (name === 'JMSXUserID' || isStructuredProperty(message, name)) continue;
    head += headerText(name, version) + ':' + headerText(propertyText(value), version) + '\n';
  }
  // ActiveMQ sends content-length for bytes messages; a text body with a NUL needs it too
  if (message.bodyKind !== 'text' || message.body.includes(0)) head += 'content-length:' + message.body.length + '\n';
  return head;
}

/** The command and the headers that carry the message's own fields (not its properties). */
export function fieldsHead(message: Message, version: StompVersion, temporary: TemporaryNames | undefined): string {
  let head = 'MESSAGE\nmessage-id:' + headerText(message.id, version) +
    '\ndestination:' + headerText(formatDestination(message.destination, temporary), version) +
    '\nexpires:' + message.expiration +
    '\npriority:' + message.priority +
    '\ntimestamp:' + message.timestamp + '\n';
  if (message.persistent) head += 'persistent:true\n';
  if (message.correlationId !== undefined) head += 'correlation-id:' + headerText(message.correlationId, version) + '\n';
  if (message.replyTo !== undefined) head += 'reply-to:' + headerText(formatDestination(message.replyTo, temporary), version) + '\n';
  if (message.type !== undefined) head += 'type:' + headerText(message.type, version) + '\n';
  if (message.groupId !== undefined) head += 'JMSXGroupID:' + headerText(message.groupId, version) + '\n';
  if (message.groupSeq !== undefined) head += 'JMSXGroupSeq:' + message.groupSeq + '\n';
  if (message.originalDestination !== undefined) {
    head += 'original-destination:' + headerText(formatDestination(message.originalDestination, temporary), version) + '\n';
  }
  return head;
}
