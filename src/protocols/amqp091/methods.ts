import { Amqp091Error, Reply } from './errors.js';
import { FieldReader, FieldWriter, type FieldTable } from './field-table.js';

/** Argument domains of the specification, reduced to their wire types. */
export type ArgType = 'octet' | 'short' | 'long' | 'longlong' | 'shortstr' | 'longstr' | 'bit' | 'table' | 'timestamp';

type ValueOf<T extends ArgType> = T extends 'bit' ? boolean : T extends 'table' ? FieldTable : T extends 'shortstr' ? string : T extends 'longstr' ? Buffer : number;

interface MethodSpec {
  readonly classId: number;
  readonly methodId: number;
  readonly args: readonly (readonly [string, ArgType])[];
  /** Only the server sends it: a client that does breaks the protocol (503). */
  readonly serverOnly?: boolean;
  /** Followed by a content header and body frames. */
  readonly content?: boolean;
}

const ticket = ['ticket', 'short'] as const;

/**
 * Every method of the classes Ferry speaks, from the specification's XML (amqp0-9-1.xml), field by
 * field in wire order. `exchange.unbind-ok` is 51, not 41: RabbitMQ's extension numbers it so, and
 * its clients expect that.
 */
export const methodSpecs = {
  'connection.start': { classId: 10, methodId: 10, serverOnly: true, args: [['versionMajor', 'octet'], ['versionMinor', 'octet'], ['serverProperties', 'table'], ['mechanisms', 'longstr'], ['locales', 'longstr']] },
  'connection.start-ok': { classId: 10, methodId: 11, args: [['clientProperties', 'table'], ['mechanism', 'shortstr'], ['response', 'longstr'], ['locale', 'shortstr']] },
  'connection.secure': { classId: 10, methodId: 20, serverOnly: true, args: [['challenge', 'longstr']] },
  'connection.secure-ok': { classId: 10, methodId: 21, args: [['response', 'longstr']] },
  'connection.tune': { classId: 10, methodId: 30, serverOnly: true, args: [['channelMax', 'short'], ['frameMax', 'long'], ['heartbeat', 'short']] },
  'connection.tune-ok': { classId: 10, methodId: 31, args: [['channelMax', 'short'], ['frameMax', 'long'], ['heartbeat', 'short']] },
  'connection.open': { classId: 10, methodId: 40, args: [['virtualHost', 'shortstr'], ['capabilities', 'shortstr'], ['insist', 'bit']] },
  'connection.open-ok': { classId: 10, methodId: 41, serverOnly: true, args: [['knownHosts', 'shortstr']] },
  'connection.close': { classId: 10, methodId: 50, args: [['replyCode', 'short'], ['replyText', 'shortstr'], ['classId', 'short'], ['methodId', 'short']] },
  'connection.close-ok': { classId: 10, methodId: 51, args: [] },
  'connection.blocked': { classId: 10, methodId: 60, args: [['reason', 'shortstr']] },
  'connection.unblocked': { classId: 10, methodId: 61, args: [] },
  'connection.update-secret': { classId: 10, methodId: 70, args: [['newSecret', 'longstr'], ['reason', 'shortstr']] },
  'connection.update-secret-ok': { classId: 10, methodId: 71, serverOnly: true, args: [] },
  'channel.open': { classId: 20, methodId: 10, args: [['outOfBand', 'shortstr']] },
  'channel.open-ok': { classId: 20, methodId: 11, serverOnly: true, args: [['channelId', 'longstr']] },
  'channel.flow': { classId: 20, methodId: 20, args: [['active', 'bit']] },
  'channel.flow-ok': { classId: 20, methodId: 21, args: [['active', 'bit']] },
  'channel.close': { classId: 20, methodId: 40, args: [['replyCode', 'short'], ['replyText', 'shortstr'], ['classId', 'short'], ['methodId', 'short']] },
  'channel.close-ok': { classId: 20, methodId: 41, args: [] },
  'exchange.declare': {
    classId: 40,
    methodId: 10,
    args: [ticket, ['exchange', 'shortstr'], ['type', 'shortstr'], ['passive', 'bit'], ['durable', 'bit'], ['autoDelete', 'bit'], ['internal', 'bit'], ['noWait', 'bit'], ['arguments', 'table']],
  },
  'exchange.declare-ok': { classId: 40, methodId: 11, serverOnly: true, args: [] },
  'exchange.delete': { classId: 40, methodId: 20, args: [ticket, ['exchange', 'shortstr'], ['ifUnused', 'bit'], ['noWait', 'bit']] },
  'exchange.delete-ok': { classId: 40, methodId: 21, serverOnly: true, args: [] },
  'exchange.bind': { classId: 40, methodId: 30, args: [ticket, ['destination', 'shortstr'], ['source', 'shortstr'], ['routingKey', 'shortstr'], ['noWait', 'bit'], ['arguments', 'table']] },
  'exchange.bind-ok': { classId: 40, methodId: 31, serverOnly: true, args: [] },
  'exchange.unbind': { classId: 40, methodId: 40, args: [ticket, ['destination', 'shortstr'], ['source', 'shortstr'], ['routingKey', 'shortstr'], ['noWait', 'bit'], ['arguments', 'table']] },
  'exchange.unbind-ok': { classId: 40, methodId: 51, serverOnly: true, args: [] },
  'queue.declare': {
    classId: 50,
    methodId: 10,
    args: [ticket, ['queue', 'shortstr'], ['passive', 'bit'], ['durable', 'bit'], ['exclusive', 'bit'], ['autoDelete', 'bit'], ['noWait', 'bit'], ['arguments', 'table']],
  },
  'queue.declare-ok': { classId: 50, methodId: 11, serverOnly: true, args: [['queue', 'shortstr'], ['messageCount', 'long'], ['consumerCount', 'long']] },
  'queue.bind': { classId: 50, methodId: 20, args: [ticket, ['queue', 'shortstr'], ['exchange', 'shortstr'], ['routingKey', 'shortstr'], ['noWait', 'bit'], ['arguments', 'table']] },
  'queue.bind-ok': { classId: 50, methodId: 21, serverOnly: true, args: [] },
  'queue.purge': { classId: 50, methodId: 30, args: [ticket, ['queue', 'shortstr'], ['noWait', 'bit']] },
  'queue.purge-ok': { classId: 50, methodId: 31, serverOnly: true, args: [['messageCount', 'long']] },
  'queue.delete': { classId: 50, methodId: 40, args: [ticket, ['queue', 'shortstr'], ['ifUnused', 'bit'], ['ifEmpty', 'bit'], ['noWait', 'bit']] },
  'queue.delete-ok': { classId: 50, methodId: 41, serverOnly: true, args: [['messageCount', 'long']] },
  'queue.unbind': { classId: 50, methodId: 50, args: [ticket, ['queue', 'shortstr'], ['exchange', 'shortstr'], ['routingKey', 'shortstr'], ['arguments', 'table']] },
  'queue.unbind-ok': { classId: 50, methodId: 51, serverOnly: true, args: [] },
  'basic.qos': { classId: 60, methodId: 10, args: [['prefetchSize', 'long'], ['prefetchCount', 'short'], ['global', 'bit']] },
  'basic.qos-ok': { classId: 60, methodId: 11, serverOnly: true, args: [] },
  'basic.consume': {
    classId: 60,
    methodId: 20,
    args: [ticket, ['queue', 'shortstr'], ['consumerTag', 'shortstr'], ['noLocal', 'bit'], ['noAck', 'bit'], ['exclusive', 'bit'], ['noWait', 'bit'], ['arguments', 'table']],
  },
  'basic.consume-ok': { classId: 60, methodId: 21, serverOnly: true, args: [['consumerTag', 'shortstr']] },
  'basic.cancel': { classId: 60, methodId: 30, args: [['consumerTag', 'shortstr'], ['noWait', 'bit']] },
  'basic.cancel-ok': { classId: 60, methodId: 31, args: [['consumerTag', 'shortstr']] },
  'basic.publish': { classId: 60, methodId: 40, content: true, args: [ticket, ['exchange', 'shortstr'], ['routingKey', 'shortstr'], ['mandatory', 'bit'], ['immediate', 'bit']] },
  'basic.return': { classId: 60, methodId: 50, serverOnly: true, content: true, args: [['replyCode', 'short'], ['replyText', 'shortstr'], ['exchange', 'shortstr'], ['routingKey', 'shortstr']] },
  'basic.deliver': {
    classId: 60,
    methodId: 60,
    serverOnly: true,
    content: true,
    args: [['consumerTag', 'shortstr'], ['deliveryTag', 'longlong'], ['redelivered', 'bit'], ['exchange', 'shortstr'], ['routingKey', 'shortstr']],
  },
  'basic.get': { classId: 60, methodId: 70, args: [ticket, ['queue', 'shortstr'], ['noAck', 'bit']] },
  'basic.get-ok': {
    classId: 60,
    methodId: 71,
    serverOnly: true,
    content: true,
    args: [['deliveryTag', 'longlong'], ['redelivered', 'bit'], ['exchange', 'shortstr'], ['routingKey', 'shortstr'], ['messageCount', 'long']],
  },
  'basic.get-empty': { classId: 60, methodId: 72, serverOnly: true, args: [['clusterId', 'shortstr']] },
  'basic.ack': { classId: 60, methodId: 80, args: [['deliveryTag', 'longlong'], ['multiple', 'bit']] },
  'basic.reject': { classId: 60, methodId: 90, args: [['deliveryTag', 'longlong'], ['requeue', 'bit']] },
  'basic.recover-async': { classId: 60, methodId: 100, args: [['requeue', 'bit']] },
  'basic.recover': { classId: 60, methodId: 110, args: [['requeue', 'bit']] },
  'basic.recover-ok': { classId: 60, methodId: 111, serverOnly: true, args: [] },
  'basic.nack': { classId: 60, methodId: 120, args: [['deliveryTag', 'longlong'], ['multiple', 'bit'], ['requeue', 'bit']] },
  'confirm.select': { classId: 85, methodId: 10, args: [['noWait', 'bit']] },
  'confirm.select-ok': { classId: 85, methodId: 11, serverOnly: true, args: [] },
  'tx.select': { classId: 90, methodId: 10, args: [] },
  'tx.select-ok': { classId: 90, methodId: 11, serverOnly: true, args: [] },
  'tx.commit': { classId: 90, methodId: 20, args: [] },
  'tx.commit-ok': { classId: 90, methodId: 21, serverOnly: true, args: [] },
  'tx.rollback': { classId: 90, methodId: 30, args: [] },
  'tx.rollback-ok': { classId: 90, methodId: 31, serverOnly: true, args: [] },
} as const satisfies Record<string, MethodSpec>;

type Specs = typeof methodSpecs;
export type MethodName = keyof Specs;
export type MethodArgs<M extends MethodName> = { -readonly [E in Specs[M]['args'][number] as E[0]]: ValueOf<E[1]> };
/** A decoded method, discriminated by name so a `switch` on it types its arguments. */
export type Method = { [M in MethodName]: { readonly name: M; readonly classId: number; readonly methodId: number; readonly args: MethodArgs<M> } }[MethodName];

const byId = new Map<number, [MethodName, MethodSpec]>();
for (const [name, spec] of Object.entries(methodSpecs) as [MethodName, MethodSpec][]) byId.set((spec.classId << 16) | spec.methodId, [name, spec]);

/** True for a method that carries content (publish, deliver, return, get-ok). */
export function hasContent(name: MethodName): boolean {
  return (methodSpecs[name] as MethodSpec).content === true;
}

/**
 * Decodes a method frame's payload. An unknown class or method is 540 NOT_IMPLEMENTED (RabbitMQ
 * answers so), a method only servers send 503 COMMAND_INVALID, a field that runs past the payload
 * 502 SYNTAX_ERROR.
 */
export function decodeMethod(payload: Buffer): Method {
  if (payload.length < 4) throw new Amqp091Error('FERRY_AMQP091_SYNTAX', Reply.syntaxError, 'a method frame shorter than its class and method ids');
  const classId = payload.readUInt16BE(0);
  const methodId = payload.readUInt16BE(2);
  if (classId === 60 && (methodId === 40 || methodId === 80)) return methodId === 40 ? decodePublish(payload) : decodeAck(payload);
  const entry = byId.get((classId << 16) | methodId);
  if (entry === undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notImplemented, `unknown method ${classId}/${methodId}`);
  const [name, spec] = entry;
  if (spec.serverOnly === true) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.commandInvalid, `${name} is sent by servers only`);
  const r = new FieldReader(payload, 4, payload.length);
  const args: Record<string, unknown> = {};
  let bits = 0;
  let bit = 8;
  for (const [field, type] of spec.args) {
    if (type === 'bit') {
      if (bit === 8) {
        bits = r.u8();
        bit = 0;
      }
      args[field] = (bits & (1 << bit++)) !== 0;
      continue;
    }
    bit = 8;
    args[field] = readArg(r, type);
  }
  return { name, classId, methodId, args } as Method;
}

/**
 * basic.publish and basic.ack, one per message each way, read field by field (measured: the table
 * walk and the arguments object it builds field by field were most of the method decoding's time).
 */
function decodePublish(payload: Buffer): Method {
  const r = new FieldReader(payload, 6, payload.length);
  const exchange = r.shortstr();
  const routingKey = r.shortstr();
  const bits = r.u8();
  return { name: 'basic.publish', classId: 60, methodId: 40, args: { ticket: payload.length >= 6 ? payload.readUInt16BE(4) : 0, exchange, routingKey, mandatory: (bits & 1) !== 0, immediate: (bits & 2) !== 0 } };
}

function decodeAck(payload: Buffer): Method {
  if (payload.length < 13) throw new Amqp091Error('FERRY_AMQP091_SYNTAX', Reply.syntaxError, 'a field runs past the end of its frame');
  return { name: 'basic.ack', classId: 60, methodId: 80, args: { deliveryTag: Number(payload.readBigUInt64BE(4)), multiple: (payload[12]! & 1) !== 0 } };
}

function readArg(r: FieldReader, type: ArgType): unknown {
  switch (type) {
    case 'octet':
      return r.u8();
    case 'short':
      return r.u16();
    case 'long':
      return r.u32();
    case 'longlong':
    case 'timestamp':
      return Number(r.u64());
    case 'shortstr':
      return r.shortstr();
    case 'longstr':
      return r.longstrBytes();
    case 'table':
      return r.table();
    case 'bit':
      return r.u8() !== 0;
  }
}

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;

/** Encodes a whole method frame (frame header, class and method ids, arguments, frame end). */
export function encodeMethod<M extends MethodName>(channel: number, name: M, args: MethodArgs<M>): Buffer {
  const spec = methodSpecs[name] as MethodSpec;
  const w = new FieldWriter(64);
  w.u8(FRAME_METHOD);
  w.u16(channel);
  w.u32(0);
  w.u16(spec.classId);
  w.u16(spec.methodId);
  const values = args as Record<string, unknown>;
  let bits = 0;
  let bit = 0;
  const flush = (): void => {
    if (bit > 0) w.u8(bits);
    bits = 0;
    bit = 0;
  };
  for (const [field, type] of spec.args) {
    const v = values[field];
    if (type === 'bit') {
      if (v === true) bits |= 1 << bit;
      if (++bit === 8) flush();
      continue;
    }
    flush();
    switch (type) {
      case 'octet':
        w.u8(v as number);
        break;
      case 'short':
        w.u16(v as number);
        break;
      case 'long':
        w.u32(v as number);
        break;
      case 'longlong':
      case 'timestamp':
        w.u64(v as number);
        break;
      case 'shortstr':
        w.shortstr(v as string);
        break;
      case 'longstr':
        w.longstr(v as Buffer);
        break;
      case 'table':
        w.table(v as FieldTable);
        break;
    }
  }
  flush();
  w.u8(FRAME_END);
  const frame = w.take();
  frame.writeUInt32BE(frame.length - 8, 3);
  return frame;
}

/** Encodes a method's payload only (for tests and for clients of the codec that frame it themselves). */
export function methodPayload<M extends MethodName>(name: M, args: MethodArgs<M>): Buffer {
  const frame = encodeMethod(0, name, args);
  return frame.subarray(7, frame.length - 1);
}
