import { PROTOCOL_HEADER, encodeContentHeader, encodeProperties } from '../../src/protocols/amqp091/frames.js';
import { bodyFrame } from '../helpers/amqp091.js';
import { encodeMethod, type MethodArgs, type MethodName } from '../../src/protocols/amqp091/methods.js';
import { readAmqp } from './amqp.js';
import type { LengthField, Seed } from './mutate.js';
import type { FuzzTarget, Reply } from './target.js';

/** A 0-9-1 frame's payload size, after its type and channel, is the length the decoder trusts first. */
const FRAME_SIZE: LengthField = { at: 3, kind: 'uint', width: 4, outer: true };

function method<M extends MethodName>(channel: number, name: M, args: MethodArgs<M>, extra: LengthField[] = []): Seed {
  return { name, bytes: encodeMethod(channel, name, args), lengths: [FRAME_SIZE, ...extra] };
}

const Q = 'fuzz.amqp091';
const ticket = 0;
/** After the frame head (7) and class and method ids (4): where a method's first field starts. */
const FIRST_FIELD = 11;

const seeds: Seed[] = [
  method(1, 'queue.declare', { ticket, queue: Q, passive: false, durable: false, exclusive: false, autoDelete: true, noWait: false, arguments: new Map<string, unknown>([['x-max-length', 10], ['x-message-ttl', 60_000]]) as never }, [{ at: FIRST_FIELD + 2, kind: 'uint', width: 1 }]),
  method(1, 'exchange.declare', { ticket, exchange: 'fuzz.x', type: 'topic', passive: false, durable: false, autoDelete: true, internal: false, noWait: false, arguments: new Map() }),
  method(1, 'queue.bind', { ticket, queue: Q, exchange: 'fuzz.x', routingKey: 'a.#', noWait: false, arguments: new Map() }),
  method(1, 'basic.publish', { ticket, exchange: '', routingKey: Q, mandatory: true, immediate: false }),
  {
    name: 'content header',
    bytes: encodeContentHeader(1, 5, encodeProperties({ contentType: 'text/plain', headers: new Map<string, unknown>([['a', new Map([['b', [1, 'c']]])]]) as never, deliveryMode: 2, priority: 3, expiration: '60000' })),
    // the frame size, then the body size (a long long: its high and low words)
    lengths: [FRAME_SIZE, { at: FIRST_FIELD, kind: 'uint', width: 4 }, { at: FIRST_FIELD + 4, kind: 'uint', width: 4, outer: true }],
  },
  { name: 'body', bytes: bodyFrame(1, Buffer.from('hello')), lengths: [FRAME_SIZE] },
  method(1, 'basic.qos', { prefetchSize: 0, prefetchCount: 5, global: false }),
  method(1, 'basic.consume', { ticket, queue: Q, consumerTag: 'fuzz', noLocal: false, noAck: false, exclusive: false, noWait: false, arguments: new Map() }),
  method(1, 'basic.ack', { deliveryTag: 1, multiple: true }),
  method(1, 'basic.nack', { deliveryTag: 2, multiple: false, requeue: true }),
  method(1, 'basic.reject', { deliveryTag: 3, requeue: false }),
  method(1, 'basic.get', { ticket, queue: Q, noAck: true }),
  method(1, 'basic.cancel', { consumerTag: 'fuzz', noWait: false }),
  method(1, 'basic.recover', { requeue: true }),
  method(1, 'confirm.select', { noWait: false }),
  method(1, 'tx.select', {}),
  method(1, 'tx.commit', {}),
  method(1, 'channel.flow', { active: true }),
  method(2, 'channel.open', { outOfBand: '' }),
  method(1, 'channel.close', { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
  method(1, 'queue.delete', { ticket, queue: Q, ifUnused: false, ifEmpty: false, noWait: false }),
  { name: 'heartbeat', bytes: Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]), lengths: [FRAME_SIZE] },
];

const handshake: Seed[] = [
  { name: 'header', bytes: PROTOCOL_HEADER },
  method(0, 'connection.start-ok', { clientProperties: new Map<string, unknown>([['capabilities', new Map([['publisher_confirms', true]])]]) as never, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' }),
  method(0, 'connection.tune-ok', { channelMax: 16, frameMax: 131072, heartbeat: 0 }),
  method(0, 'connection.open', { virtualHost: '/', capabilities: '', insist: false }),
  method(1, 'channel.open', { outOfBand: '' }),
];

/** The frames of a 0-9-1 stream after its header: type, channel and payload; stops at a cut or bad one. */
function frames091(bytes: Buffer): { type: number; channel: number; payload: Buffer }[] {
  const out: { type: number; channel: number; payload: Buffer }[] = [];
  let at = bytes.toString('latin1', 0, 4) === 'AMQP' ? 8 : 0;
  while (at + 8 <= bytes.length) {
    const size = bytes.readUInt32BE(at + 3);
    if (at + 8 + size > bytes.length || bytes[at + 7 + size] !== 0xce) break;
    out.push({ type: bytes[at]!, channel: bytes.readUInt16BE(at + 1), payload: bytes.subarray(at + 7, at + 7 + size) });
    at += 8 + size;
  }
  return out;
}

function isMethod(f: { type: number; payload: Buffer }, classId: number, methodId: number): boolean {
  return f.type === 1 && f.payload.length >= 4 && f.payload.readUInt16BE(0) === classId && f.payload.readUInt16BE(2) === methodId;
}

/**
 * connection.close from the broker is the error (with its reply code); close-ok answers the probe.
 * A mutated header may have made the connection AMQP 1.0's, whose answers AMQP 1.0's reader reads.
 */
function read091(received: Buffer): Reply {
  const header = received.length >= 8 && received.toString('latin1', 0, 4) === 'AMQP';
  if (header && received[6] !== 9) return readAmqp(received);
  const frames = frames091(received);
  const errors = frames.filter((f) => isMethod(f, 10, 50)).map((f) => `connection.close ${f.payload.readUInt16BE(4)}`);
  if (frames.length === 0 && received.length === 8) errors.push(`header ${[...received.subarray(4, 8)].join('.')}`);
  return { errors, probeAnswered: frames.some((f) => isMethod(f, 10, 51)) };
}

export const amqp091Target: FuzzTarget = {
  name: 'amqp091',
  listener: 'amqp',
  handshake,
  seeds,
  handshakeDone: (received) => frames091(received).some((f) => isMethod(f, 20, 11)),
  probe: encodeMethod(0, 'connection.close', { replyCode: 200, replyText: 'probe', classId: 0, methodId: 0 }),
  read: read091,
  // connection.close says why once the connection is open; during the handshake a broker may just
  // close the socket ([AMQP 0-9-1 4.2.2]: "the peer that detects the error MUST close the socket
  // without sending any further data" for a bad header or frame before tuning)
  errorDue: (phase) => phase === 'after',
};
