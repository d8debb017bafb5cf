import type { TransportConnection } from '../../transport/index.js';
import { AmqpReader, Described, type AmqpValue } from './codec.js';
import { Descriptor, type RheaDelivery, type RheaLink, type RheaSession, type Typed } from './engine.js';

/**
 * The hot path of a message, both ways, past rhea's generic codec: transfer frames are read and
 * written here and entered into the session's books exactly as rhea's own Incoming and Outgoing
 * would enter them, so rhea's flow control, dispositions and session windows stay right. Measured
 * on the 1 KiB queue benchmark: rhea's per-field objects and growing buffers took most of the
 * broker's time per message. Anything unusual (a transfer in several frames, an aborted or resumed
 * one, a transfer rhea has deliveries queued ahead of) is left to rhea.
 */

const TRANSFER = 0x14;
const EMPTY = Buffer.alloc(0);

/** A received transfer, as far as the fast path reads it. */
export interface TransferFrame {
  readonly channel: number;
  readonly handle: number;
  readonly deliveryId: number | undefined;
  readonly tag: Buffer;
  readonly format: number;
  readonly settled: boolean;
  /** The txn-id of a transactional-state, if the transfer carries one. */
  readonly txnId: Buffer | undefined;
  /** True when rhea must take it: more frames follow, or it is aborted or resumed. */
  readonly unusual: boolean;
  readonly payload: Buffer;
}

function txnIdOf(state: AmqpValue): Buffer | undefined {
  if (!(state instanceof Described) || state.descriptor !== Descriptor.transactionalState || !Array.isArray(state.value)) return undefined;
  const id = state.value[0];
  return Buffer.isBuffer(id) ? id : undefined;
}

/**
 * Reads the AMQP frame `buf[start, end)` if it is a transfer whose performative has the common
 * small-ulong descriptor; undefined for any other frame. Throws FERRY_AMQP_DECODE for a transfer
 * that does not decode.
 */
export function readTransferFrame(buf: Buffer, start: number, end: number): TransferFrame | undefined {
  const body = start + buf[start + 4]! * 4;
  if (body + 3 > end || buf[body] !== 0x00 || buf[body + 1] !== 0x53 || buf[body + 2] !== TRANSFER) return undefined;
  const reader = new AmqpReader(buf, body + 3, end);
  const count = reader.compoundHead(false);
  let handle: AmqpValue = null;
  let deliveryId: AmqpValue = null;
  let tag: AmqpValue = null;
  let format: AmqpValue = null;
  let settled: AmqpValue = null;
  let more: AmqpValue = null;
  let state: AmqpValue = null;
  let resume: AmqpValue = null;
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
      case 8:
        resume = v;
        break;
      case 9:
        aborted = v;
        break;
      default:
        break;
    }
  }
  const unusual = more === true || resume === true || aborted === true || typeof handle !== 'number' || typeof deliveryId !== 'number';
  return {
    channel: buf.readUInt16BE(start + 6),
    handle: typeof handle === 'number' ? handle : -1,
    deliveryId: typeof deliveryId === 'number' ? deliveryId : undefined,
    tag: Buffer.isBuffer(tag) ? tag : EMPTY,
    format: typeof format === 'number' ? format : 0,
    settled: settled === true,
    txnId: txnIdOf(state),
    unusual,
    payload: buf.subarray(reader.offset, end),
  };
}

/** An incoming delivery as rhea's Incoming keeps it, with its `update` that settles it. */
class IncomingDelivery implements RheaDelivery {
  settled = false;
  readonly state = undefined;

  constructor(
    readonly id: number,
    readonly tag: Buffer,
    readonly format: number,
    readonly link: RheaLink,
    public remote_settled: boolean,
  ) {}

  update(settled: boolean, state?: Typed): void {
    this.link.session.incoming.update(this, settled, state);
  }
}

/**
 * Enters a received single-frame transfer into its session's books as rhea's Incoming.on_transfer
 * would, and returns the delivery; undefined when rhea must take the frame instead (its books
 * disagree, for example a delivery id out of sequence, which rhea answers as the error it is).
 */
export function acceptTransfer(session: RheaSession, link: RheaLink, frame: TransferFrame): RheaDelivery | undefined {
  const incoming = session.incoming;
  const id = frame.deliveryId!;
  if (link._incomplete !== undefined || incoming.deliveries.available() === 0) return undefined;
  if (incoming.next_delivery_id !== undefined && incoming.next_delivery_id !== id) return undefined;
  incoming.next_transfer_id++;
  const delivery = new IncomingDelivery(id, frame.tag, frame.format, link, frame.settled);
  incoming.deliveries.push(delivery);
  incoming.next_delivery_id = id + 1;
  if (link.credit > 0) link.credit--;
  link.delivery_count++;
  return delivery;
}

/** An outgoing delivery as rhea's Outgoing keeps it. */
class OutgoingDelivery implements RheaDelivery {
  readonly tag = EMPTY;
  readonly data: Buffer[] = [];
  readonly format = 0;
  readonly next_to_send = 1;
  readonly sent = true;
  readonly state = undefined;
  readonly remote_state = undefined;
  ferryTag: number | undefined;

  constructor(
    readonly id: number,
    readonly link: RheaLink,
    public settled: boolean,
    public remote_settled: boolean,
    ferryTag: number | undefined,
  ) {
    this.ferryTag = ferryTag;
  }

  update(settled: boolean, state?: Typed): void {
    this.link.session.outgoing.update(this, settled, state);
  }
}

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

/**
 * Writes one delivery as a single transfer frame straight to the transport and enters it into the
 * session's books as rhea's Outgoing.send and process would. Returns false, having done nothing,
 * when rhea must send it: deliveries of this session are queued in rhea ahead of it, the peer's
 * session window is closed, or the message needs more than one frame.
 */
export function sendTransfer(
  transport: TransportConnection,
  link: RheaLink,
  header: Buffer,
  message: Buffer,
  tag: number,
  settled: boolean,
): boolean {
  const session = link.session;
  const outgoing = session.outgoing;
  if (outgoing.next_pending_delivery !== outgoing.next_delivery_id || outgoing.transfer_window() <= 0) return false;
  const id = outgoing.next_delivery_id;
  const handle = link.local.handle;
  const tagText = String(tag);
  // transfer: handle, delivery-id, delivery-tag, message-format 0, settled
  const listSize = 1 + uintSize(handle) + uintSize(id) + 2 + tagText.length + 1 + 1;
  const performativeSize = 3 + 3 + listSize - 1;
  const size = 8 + performativeSize + header.length + message.length;
  const maxFrame = link.connection.max_frame_size;
  if (maxFrame !== undefined && size > maxFrame) return false;
  // the frame's head and the delivery's header are written here; the message's encoding, made once
  // and shared by every delivery of it, goes out as it is (the socket is corked: one writev)
  const out = Buffer.allocUnsafe(size - message.length);
  out.writeUInt32BE(size, 0);
  out[4] = 2;
  out[5] = 0;
  out.writeUInt16BE(session.local.channel, 6);
  out[8] = 0x00;
  out[9] = 0x53;
  out[10] = TRANSFER;
  out[11] = 0xc0;
  out[12] = listSize;
  out[13] = 5;
  let at = writeUint(out, 14, handle);
  at = writeUint(out, at, id);
  out[at++] = 0xa0;
  out[at++] = tagText.length;
  at += out.write(tagText, at, 'latin1');
  out[at++] = 0x43;
  out[at++] = settled ? 0x41 : 0x42;
  header.copy(out, at);
  transport.write(out);
  transport.write(message);

  outgoing.next_delivery_id++;
  outgoing.next_pending_delivery++;
  outgoing.next_transfer_id++;
  outgoing.window--;
  link.credit--;
  link.delivery_count++;
  // every delivery takes its slot, even a pre-settled one: rhea finds deliveries by id from the oldest
  outgoing.deliveries.push(new OutgoingDelivery(id, link, settled, settled, settled ? undefined : tag));
  // rhea frees settled slots when it next runs
  link.connection._register();
  return true;
}
