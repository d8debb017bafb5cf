import { FerryError } from '../../errors.js';
import { AmqpReader, AmqpSymbol, AmqpWriter, Described, type AmqpValue } from './codec.js';

/**
 * AMQP 1.0 frames and performatives (part 2 of the specification): reading a frame's performative
 * into its fields, and writing the performatives the broker sends. Control frames (open, attach,
 * detach...) go through the generic codec; the per-message ones (transfer, disposition, flow) have
 * fixed-layout writers that fill room the transport reserves, so the hot path builds no buffer of
 * its own (see transfers.ts for transfers).
 */

export const Performative = {
  open: 0x10,
  begin: 0x11,
  attach: 0x12,
  flow: 0x13,
  transfer: 0x14,
  disposition: 0x15,
  detach: 0x16,
  end: 0x17,
  close: 0x18,
  saslMechanisms: 0x40,
  saslInit: 0x41,
  saslChallenge: 0x42,
  saslResponse: 0x43,
  saslOutcome: 0x44,
} as const;

/** Descriptor codes of the other composite types the broker reads or writes. */
export const Composite = {
  error: 0x1d,
  received: 0x23,
  accepted: 0x24,
  rejected: 0x25,
  released: 0x26,
  modified: 0x27,
  source: 0x28,
  target: 0x29,
  deleteOnClose: 0x2b,
  coordinator: 0x30,
  declare: 0x31,
  discharge: 0x32,
  declared: 0x33,
  transactionalState: 0x34,
} as const;

const symbolicCodes: Readonly<Record<string, number>> = {
  'amqp:open:list': 0x10,
  'amqp:begin:list': 0x11,
  'amqp:attach:list': 0x12,
  'amqp:flow:list': 0x13,
  'amqp:transfer:list': 0x14,
  'amqp:disposition:list': 0x15,
  'amqp:detach:list': 0x16,
  'amqp:end:list': 0x17,
  'amqp:close:list': 0x18,
  'amqp:error:list': 0x1d,
  'amqp:received:list': 0x23,
  'amqp:accepted:list': 0x24,
  'amqp:rejected:list': 0x25,
  'amqp:released:list': 0x26,
  'amqp:modified:list': 0x27,
  'amqp:source:list': 0x28,
  'amqp:target:list': 0x29,
  'amqp:coordinator:list': 0x30,
  'amqp:declare:list': 0x31,
  'amqp:discharge:list': 0x32,
  'amqp:declared:list': 0x33,
  'amqp:transactional-state:list': 0x34,
  'amqp:sasl-mechanisms:list': 0x40,
  'amqp:sasl-init:list': 0x41,
  'amqp:sasl-challenge:list': 0x42,
  'amqp:sasl-response:list': 0x43,
  'amqp:sasl-outcome:list': 0x44,
};

/** The code of a described value's descriptor, symbolic ones translated; undefined for anything else. */
export function codeOf(value: AmqpValue | undefined): number | undefined {
  if (!(value instanceof Described)) return undefined;
  return typeof value.descriptor === 'number' ? value.descriptor : symbolicCodes[value.descriptor];
}

/** The fields of a described list (a composite value); empty for anything else. */
export function fieldsOf(value: AmqpValue | undefined): readonly AmqpValue[] {
  return value instanceof Described && Array.isArray(value.value) ? value.value : [];
}

function decodeError(message: string): FerryError {
  return new FerryError('FERRY_AMQP_DECODE', message);
}

/** One frame's performative, decoded; `payload` is what follows it (a transfer's message bytes). */
export interface ReceivedFrame {
  readonly channel: number;
  readonly code: number;
  readonly fields: readonly AmqpValue[];
  readonly payload: Buffer;
}

/**
 * Reads the frame `buf[start, end)` (its head already checked by the frame guard); undefined for an
 * empty frame (a heartbeat).
 */
export function readFrame(buf: Buffer, start: number, end: number): ReceivedFrame | undefined {
  const body = start + buf[start + 4]! * 4;
  if (body >= end) return undefined;
  const reader = new AmqpReader(buf, body, end);
  if (reader.u8() !== 0x00) throw decodeError('a frame body must start with a described performative');
  const descriptor = reader.descriptor();
  const code = typeof descriptor === 'number' ? descriptor : symbolicCodes[descriptor];
  if (code === undefined) throw decodeError(`unknown performative ${String(descriptor)}`);
  const value = reader.read();
  if (value !== null && !Array.isArray(value)) throw decodeError(`performative 0x${code.toString(16)} is not a list`);
  return { channel: buf.readUInt16BE(start + 6), code, fields: value ?? [], payload: buf.subarray(reader.offset, end) };
}

// field readers: each checks the type the specification gives the field

export function uintField(fields: readonly AmqpValue[], i: number, name: string, fallback?: number): number {
  const v = fields[i];
  if (v === null || v === undefined) {
    if (fallback === undefined) throw decodeError(`the mandatory field ${name} is missing`);
    return fallback;
  }
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffn) return Number(v);
  throw decodeError(`${name} must be an unsigned integer`);
}

export function optionalUint(fields: readonly AmqpValue[], i: number, name: string): number | undefined {
  const v = fields[i];
  return v === null || v === undefined ? undefined : uintField(fields, i, name);
}

export function boolField(fields: readonly AmqpValue[], i: number, name: string): boolean {
  const v = fields[i];
  if (v === null || v === undefined) return false;
  if (typeof v !== 'boolean') throw decodeError(`${name} must be a boolean`);
  return v;
}

export function stringField(fields: readonly AmqpValue[], i: number, name: string): string | undefined {
  const v = fields[i];
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (v instanceof AmqpSymbol) return v.name;
  throw decodeError(`${name} must be a string`);
}

/** A field of type symbol with multiple="true": one symbol or an array of them. */
export function symbolsField(fields: readonly AmqpValue[], i: number): string[] {
  const v = fields[i];
  if (v === null || v === undefined) return [];
  const items = Array.isArray(v) ? v : [v];
  const names: string[] = [];
  for (const item of items) {
    if (item instanceof AmqpSymbol) names.push(item.name);
    else if (typeof item === 'string') names.push(item);
  }
  return names;
}

// writing

/** An AMQP error for a performative: condition, description and info (symbol keys, string values). */
export interface AmqpError {
  readonly condition: string;
  readonly description?: string | undefined;
  readonly info?: Readonly<Record<string, string>> | undefined;
}

/** Writes a frame whose body `body` writes into `w`, and returns it. */
function frameOf(channel: number, type: number, body: (w: AmqpWriter) => void, payload?: Buffer): Buffer {
  const w = new AmqpWriter(128 + (payload?.length ?? 0));
  w.bytes(FRAME_HEAD_PLACEHOLDER);
  body(w);
  if (payload !== undefined) w.bytes(payload);
  const out = w.toBuffer();
  out.writeUInt32BE(out.length, 0);
  out[4] = 2;
  out[5] = type;
  out.writeUInt16BE(channel, 6);
  return out;
}

const FRAME_HEAD_PLACEHOLDER = Buffer.alloc(8);

/** A described list of fields; trailing undefined fields are left out, inner ones written as null. */
function performative(w: AmqpWriter, code: number, fields: readonly (((w: AmqpWriter) => void) | undefined)[]): void {
  let count = fields.length;
  while (count > 0 && fields[count - 1] === undefined) count--;
  w.descriptor(code);
  w.compound(false, () => {
    for (let i = 0; i < count; i++) {
      const f = fields[i];
      if (f === undefined) w.null();
      else f(w);
    }
    return count;
  });
}

export function amqpFrame(channel: number, code: number, fields: readonly (((w: AmqpWriter) => void) | undefined)[], payload?: Buffer): Buffer {
  return frameOf(channel, 0, (w) => performative(w, code, fields), payload);
}

export function saslFrame(code: number, fields: readonly (((w: AmqpWriter) => void) | undefined)[]): Buffer {
  return frameOf(0, 1, (w) => performative(w, code, fields));
}

/** An empty AMQP frame: the heartbeat that keeps a peer's idle time-out. */
export const EMPTY_FRAME = Buffer.from([0, 0, 0, 8, 2, 0, 0, 0]);

export const put = {
  uint: (v: number) => (w: AmqpWriter) => w.uint(v),
  ushort: (v: number) => (w: AmqpWriter) => {
    w.u8(0x60);
    w.u8((v >> 8) & 0xff);
    w.u8(v & 0xff);
  },
  ubyte: (v: number) => (w: AmqpWriter) => w.ubyte(v),
  ulong: (v: number) => (w: AmqpWriter) => w.ulong(BigInt(v)),
  bool: (v: boolean) => (w: AmqpWriter) => w.boolean(v),
  string: (v: string) => (w: AmqpWriter) => w.string(v),
  symbol: (v: string) => (w: AmqpWriter) => w.symbol(v),
  binary: (v: Buffer) => (w: AmqpWriter) => w.binary(v),
  value: (v: AmqpValue) => (w: AmqpWriter) => w.value(v),
  /** A multiple symbol field: one symbol alone, several as an array. */
  symbols: (names: readonly string[]) => (w: AmqpWriter) => writeSymbols(w, names),
  symbolMap: (entries: Readonly<Record<string, string>>) => (w: AmqpWriter) =>
    w.compound(true, () => {
      let n = 0;
      for (const [k, v] of Object.entries(entries)) {
        w.symbol(k);
        w.string(v);
        n += 2;
      }
      return n;
    }),
  error: (e: AmqpError) => (w: AmqpWriter) => writeError(w, e),
  described: (code: number, fields: readonly (((w: AmqpWriter) => void) | undefined)[]) => (w: AmqpWriter) => performative(w, code, fields),
};

function writeSymbols(w: AmqpWriter, names: readonly string[]): void {
  if (names.length === 1) {
    w.symbol(names[0]!);
    return;
  }
  // array32 of sym32: size, count, element code, then each element's length and bytes
  let size = 4 + 1;
  for (const n of names) size += 4 + Buffer.byteLength(n, 'latin1');
  w.u8(0xf0);
  const head = Buffer.allocUnsafe(9);
  head.writeUInt32BE(size, 0);
  head.writeUInt32BE(names.length, 4);
  head[8] = 0xb3;
  w.bytes(head);
  for (const n of names) {
    const bytes = Buffer.from(n, 'latin1');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(bytes.length, 0);
    w.bytes(len);
    w.bytes(bytes);
  }
}

function writeError(w: AmqpWriter, e: AmqpError): void {
  const description = e.description !== undefined && e.description.length > 500 ? `${e.description.slice(0, 500)}...` : e.description;
  performative(w, Composite.error, [
    put.symbol(e.condition),
    description === undefined ? undefined : put.string(description),
    e.info === undefined || Object.keys(e.info).length === 0 ? undefined : put.symbolMap(e.info),
  ]);
}

// fixed-layout writers for the per-message performatives

function uintSize(v: number): number {
  return v === 0 ? 1 : v < 256 ? 2 : 5;
}

function writeUint(out: Buffer, at: number, v: number): number {
  if (v === 0) {
    out[at] = 0x43;
    return at + 1;
  }
  if (v < 256) {
    out[at] = 0x52;
    out[at + 1] = v;
    return at + 2;
  }
  out[at] = 0x70;
  out.writeUInt32BE(v >>> 0, at + 1);
  return at + 5;
}

export { uintSize, writeUint };

/** Bytes of a disposition frame settling `first..last` with accepted (or no outcome). */
export function dispositionSize(first: number, last: number, accepted: boolean): number {
  // head 8, descriptor 3, list8 head 3, role 1, first, last, settled 1, state (accepted: 4 bytes)
  return 8 + 3 + 3 + 1 + uintSize(first) + uintSize(last) + 1 + (accepted ? 4 : 1);
}

/** An AMQP frame's 8-byte header and its performative's descriptor, the 11 bytes before the performative's list. */
function writePerformativeHead(out: Buffer, at: number, size: number, channel: number, performative: number): void {
  out.writeUInt32BE(size, at);
  out[at + 4] = 2;
  out[at + 5] = 0;
  out.writeUInt16BE(channel, at + 6);
  out[at + 8] = 0x00;
  out[at + 9] = 0x53;
  out[at + 10] = performative;
}

/**
 * Writes a settling disposition with an accepted outcome (or none) into `out` at `at`: `role` true
 * when the broker is the receiver of those deliveries. Returns the offset after it.
 */
export function writeDisposition(out: Buffer, at: number, channel: number, role: boolean, first: number, last: number, accepted: boolean): number {
  const size = dispositionSize(first, last, accepted);
  writePerformativeHead(out, at, size, channel, Performative.disposition);
  out[at + 11] = 0xc0;
  out[at + 12] = size - 13;
  out[at + 13] = 5;
  let o = at + 14;
  out[o++] = role ? 0x41 : 0x42;
  o = writeUint(out, o, first);
  o = writeUint(out, o, last);
  out[o++] = 0x41;
  if (accepted) {
    out[o++] = 0x00;
    out[o++] = 0x53;
    out[o++] = Composite.accepted;
    out[o++] = 0x45;
  } else out[o++] = 0x40;
  return o;
}

/** The numbers of a flow frame. `handle` undefined: a session-level flow. */
export interface FlowFields {
  nextIncomingId: number;
  incomingWindow: number;
  nextOutgoingId: number;
  outgoingWindow: number;
  handle: number | undefined;
  deliveryCount: number;
  linkCredit: number;
  available: number;
  drain: boolean;
  echo: boolean;
}

export function flowSize(f: FlowFields): number {
  let size = 8 + 3 + 9 + uintSize(f.nextIncomingId) + uintSize(f.incomingWindow) + uintSize(f.nextOutgoingId) + uintSize(f.outgoingWindow);
  if (f.handle !== undefined) size += uintSize(f.handle) + uintSize(f.deliveryCount) + uintSize(f.linkCredit) + uintSize(f.available) + 2;
  return size;
}

export function writeFlow(out: Buffer, at: number, channel: number, f: FlowFields): number {
  const size = flowSize(f);
  writePerformativeHead(out, at, size, channel, Performative.flow);
  // list32 keeps the layout simple; a flow is never near 4 GiB
  out[at + 11] = 0xd0;
  out.writeUInt32BE(size - 16, at + 12);
  out.writeUInt32BE(f.handle === undefined ? 4 : 10, at + 16);
  let o = at + 20;
  o = writeUint(out, o, f.nextIncomingId);
  o = writeUint(out, o, f.incomingWindow);
  o = writeUint(out, o, f.nextOutgoingId);
  o = writeUint(out, o, f.outgoingWindow);
  if (f.handle !== undefined) {
    o = writeUint(out, o, f.handle);
    o = writeUint(out, o, f.deliveryCount);
    o = writeUint(out, o, f.linkCredit);
    o = writeUint(out, o, f.available);
    out[o++] = f.drain ? 0x41 : 0x42;
    out[o++] = f.echo ? 0x41 : 0x42;
  }
  return o;
}
