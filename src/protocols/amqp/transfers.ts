import { FerryError } from '../../errors.js';
import type { TransportConnection } from '../../transport/index.js';
import { AmqpReader, Described, type AmqpValue } from './codec.js';
import { Composite, Performative, amqpFrame, put, uintSize, writeUint } from './frames.js';

/**
 * The hot path of a message, both ways: transfer frames are read field by field without building
 * the performative's list, and written straight into room the transport reserves in its write slab
 * (the frame head, the performative, the delivery's header section, then the message's encoding,
 * which is made once per message however many consumers it has).
 */

const EMPTY = Buffer.alloc(0);

/** A received transfer frame. */
export interface TransferFrame {
  readonly channel: number;
  readonly handle: number;
  readonly deliveryId: number | undefined;
  readonly tag: Buffer;
  readonly format: number;
  readonly settled: boolean;
  readonly more: boolean;
  readonly aborted: boolean;
  /** The txn-id of a transactional-state, if the transfer carries one. */
  readonly txnId: Buffer | undefined;
  readonly payload: Buffer;
}

function txnIdOf(state: AmqpValue): Buffer | undefined {
  if (!(state instanceof Described) || !Array.isArray(state.value)) return undefined;
  if (state.descriptor !== Composite.transactionalState && state.descriptor !== 'amqp:transactional-state:list') return undefined;
  const id = state.value[0];
  return Buffer.isBuffer(id) ? id : undefined;
}

function uintOf(v: AmqpValue, name: string): number | undefined {
  if (v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffn) return Number(v);
  throw new FerryError('FERRY_AMQP_DECODE', `${name} must be an unsigned integer`);
}

/** True when the frame `buf[start, end)` holds a transfer (with the usual small-ulong descriptor). */
export function isTransfer(buf: Buffer, start: number, end: number): boolean {
  const body = start + buf[start + 4]! * 4;
  return body + 3 <= end && buf[body] === 0x00 && buf[body + 1] === 0x53 && buf[body + 2] === Performative.transfer;
}

/** Reads the transfer frame `buf[start, end)`. Throws FERRY_AMQP_DECODE for one that does not decode. */
export function readTransferFrame(buf: Buffer, start: number, end: number): TransferFrame {
  const body = start + buf[start + 4]! * 4;
  const reader = new AmqpReader(buf, body + 3, end);
  const count = reader.compoundHead(false);
  let handle: AmqpValue = null;
  let deliveryId: AmqpValue = null;
  let tag: AmqpValue = null;
  let format: AmqpValue = null;
  let settled: AmqpValue = null;
  let more: AmqpValue = null;
  let state: AmqpValue = null;
  let aborted: AmqpValue = null;
  for (let i = 0; i < count; i++) {
    const v = reader.read();
    switch (i) {
      case 0:
        handle = v;
        break;
      case 1:
        deliveryId = v;
        break;
      case 2:
        tag = v;
        break;
      case 3:
        format = v;
        break;
      case 4:
        settled = v;
        break;
      case 5:
        more = v;
        break;
      case 7:
        state = v;
        break;
      case 9:
        aborted = v;
        break;
      default:
        break;
    }
  }
  const h = uintOf(handle, 'handle');
  const id = uintOf(deliveryId, 'delivery-id');
  const f = uintOf(format, 'message-format');
  if (h === undefined) throw new FerryError('FERRY_AMQP_DECODE', 'a transfer needs a handle');
  return {
    channel: buf.readUInt16BE(start + 6),
    handle: h,
    deliveryId: id,
    tag: Buffer.isBuffer(tag) ? tag : EMPTY,
    format: f ?? 0,
    settled: settled === true,
    more: more === true,
    aborted: aborted === true,
    txnId: txnIdOf(state),
    payload: buf.subarray(reader.offset, end),
  };
}

// the broker's transfers: handle, delivery-id, delivery-tag (the core tag's decimal digits), message-format 0, settled

function digits(tag: number): number {
  return tag < 10 ? 1 : Math.floor(Math.log10(tag)) + 1;
}

/** Bytes of a single-frame transfer carrying `payloadSize` bytes. */
export function transferSize(handle: number, id: number, tag: number, _settled: boolean, payloadSize: number): number {
  const listSize = 1 + uintSize(handle) + uintSize(id) + 2 + digits(tag) + 1 + 1;
  return 8 + 3 + 2 + listSize + payloadSize;
}

/** Writes a single-frame transfer into `out`, which is exactly `transferSize(...)` bytes. */
export function writeTransfer(out: Buffer, channel: number, handle: number, id: number, tag: number, settled: boolean, header: Buffer, body: Buffer): void {
  const tagDigits = digits(tag);
  const listSize = 1 + uintSize(handle) + uintSize(id) + 2 + tagDigits + 1 + 1;
  out.writeUInt32BE(out.length, 0);
  out[4] = 2;
  out[5] = 0;
  out.writeUInt16BE(channel, 6);
  out[8] = 0x00;
  out[9] = 0x53;
  out[10] = Performative.transfer;
  out[11] = 0xc0;
  out[12] = listSize;
  out[13] = 5;
  let at = writeUint(out, 14, handle);
  at = writeUint(out, at, id);
  out[at++] = 0xa0;
  out[at++] = tagDigits;
  // digits written back to front: no string per delivery
  let t = tag;
  for (let i = at + tagDigits - 1; i >= at; i--) {
    out[i] = 0x30 + (t % 10);
    t = Math.floor(t / 10);
  }
  at += tagDigits;
  out[at++] = 0x43;
  out[at++] = settled ? 0x41 : 0x42;
  at += header.copy(out, at);
  body.copy(out, at);
}

/**
 * Writes a delivery too large for one of the peer's frames as several ([AMQP 2.6.14]: more=true on
 * all but the last); returns how many frames it took.
 */
export function writeTransferFrames(
  transport: TransportConnection,
  maxFrame: number,
  channel: number,
  handle: number,
  id: number,
  tag: number,
  settled: boolean,
  header: Buffer,
  body: Buffer,
): number {
  const payload = Buffer.concat([header, body]);
  // room for the frame head and the largest transfer performative the broker writes
  const room = maxFrame - 64;
  const tagBytes = Buffer.from(String(tag), 'latin1');
  let frames = 0;
  for (let at = 0; at < payload.length; at += room) {
    const part = payload.subarray(at, Math.min(payload.length, at + room));
    const more = at + room < payload.length;
    const fields =
      frames === 0
        ? [put.uint(handle), put.uint(id), put.binary(tagBytes), put.uint(0), put.bool(settled), put.bool(more)]
        : [put.uint(handle), undefined, undefined, undefined, put.bool(settled), put.bool(more)];
    transport.write(amqpFrame(channel, Performative.transfer, fields, part));
    frames++;
  }
  return frames;
}
