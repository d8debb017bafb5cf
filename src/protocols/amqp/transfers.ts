import { FerryError } from '../../errors.js';
import type { Message } from '../../core/index.js';
import { AmqpReader, Described, type AmqpValue } from './codec.js';
import { Composite, Performative, amqpFrame, put, uintSize, writeUint } from './frames.js';
import { writeHeader } from './mapping.js';

/**
 * The hot path of a message, both ways: transfer frames are read field by field without building
 * the performative's list, and written straight into room the transport reserves in its write slab
 * (the frame head, the performative, the delivery's header section, the message's head, made once
 * per message however many consumers it has, then the body from the message itself).
 */

const EMPTY = Buffer.alloc(0);

/**
 * A received transfer frame. One is kept per connection and filled by each read (a transfer is
 * handled before the next is read), so reading one allocates only its payload's view.
 */
export class TransferFrame {
  channel = 0;
  handle = 0;
  deliveryId: number | undefined = undefined;
  format = 0;
  settled = false;
  more = false;
  aborted = false;
  /** The txn-id of a transactional-state, if the transfer carries one. */
  txnId: Buffer | undefined = undefined;
  payload: Buffer = EMPTY;
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

/** Reads the transfer frame `buf[start, end)` into `into`. Throws FERRY_AMQP_DECODE for one that does not decode. */
export function readTransferFrame(buf: Buffer, start: number, end: number, into = new TransferFrame()): TransferFrame {
  const body = start + buf[start + 4]! * 4;
  const reader = new AmqpReader(buf, body + 3, end);
  const count = reader.compoundHead(false);
  into.channel = buf.readUInt16BE(start + 6);
  into.deliveryId = undefined;
  into.format = 0;
  into.settled = false;
  into.more = false;
  into.aborted = false;
  into.txnId = undefined;
  let handle: number | undefined;
  for (let i = 0; i < count; i++) {
    // the delivery tag (2), rcv-settle-mode (6), resume (8), batchable (10) are not needed
    if (i === 2 || i === 6 || i === 8 || i >= 10) {
      reader.skip();
      continue;
    }
    const v = reader.read();
    switch (i) {
      case 0:
        handle = uintOf(v, 'handle');
        break;
      case 1:
        into.deliveryId = uintOf(v, 'delivery-id');
        break;
      case 3:
        into.format = uintOf(v, 'message-format') ?? 0;
        break;
      case 4:
        into.settled = v === true;
        break;
      case 5:
        into.more = v === true;
        break;
      case 7:
        into.txnId = txnIdOf(v);
        break;
      case 9:
        into.aborted = v === true;
        break;
      default:
        break;
    }
  }
  if (handle === undefined) throw new FerryError('FERRY_AMQP_DECODE', 'a transfer needs a handle');
  into.handle = handle;
  into.payload = buf.subarray(reader.offset, end);
  return into;
}

// the broker's transfers: handle, delivery-id, delivery-tag (the core tag's decimal digits), message-format 0, settled

function digits(tag: number): number {
  let n = 1;
  for (let t = tag; t >= 10; t = Math.floor(t / 10)) n++;
  return n;
}

/** Bytes of a single-frame transfer carrying `payloadSize` bytes. */
export function transferSize(handle: number, id: number, tag: number, payloadSize: number): number {
  const listSize = 1 + uintSize(handle) + uintSize(id) + 2 + digits(tag) + 1 + 1;
  return 8 + 3 + 2 + listSize + payloadSize;
}

/**
 * Writes a single-frame transfer into `out`: the frame head (for a frame of `frameSize` bytes), the
 * performative, the delivery's header section, the message's head (`messageHead`), then `body` when
 * given (otherwise the caller writes it next).
 */
export function writeTransfer(
  out: Buffer,
  channel: number,
  handle: number,
  id: number,
  tag: number,
  settled: boolean,
  message: Message,
  redeliveries: number,
  firstAcquirer: boolean,
  now: number,
  head: Buffer,
  body: Buffer | undefined,
  frameSize = out.length,
): void {
  const tagDigits = digits(tag);
  const listSize = 1 + uintSize(handle) + uintSize(id) + 2 + tagDigits + 1 + 1;
  out.writeUInt32BE(frameSize, 0);
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
  at = writeHeader(out, at, message, redeliveries, firstAcquirer, now);
  at += head.copy(out, at);
  if (body !== undefined) body.copy(out, at);
}

/**
 * Writes a delivery too large for one of the peer's frames as several ([AMQP 2.6.14]: more=true on
 * all but the last); returns how many frames it took.
 */
export function transferFrames(
  maxFrame: number,
  channel: number,
  handle: number,
  id: number,
  tag: number,
  settled: boolean,
  payload: Buffer,
): Buffer[] {
  // room for the frame head and the largest transfer performative the broker writes
  const room = maxFrame - 64;
  const tagBytes = Buffer.from(String(tag), 'latin1');
  const frames: Buffer[] = [];
  for (let at = 0; at < payload.length; at += room) {
    const part = payload.subarray(at, Math.min(payload.length, at + room));
    const more = at + room < payload.length;
    const fields =
      frames.length === 0
        ? [put.uint(handle), put.uint(id), put.binary(tagBytes), put.uint(0), put.bool(settled), put.bool(more)]
        : [put.uint(handle), undefined, undefined, undefined, put.bool(settled), put.bool(more)];
    frames.push(amqpFrame(channel, Performative.transfer, fields, part));
  }
  return frames;
}
