import { FerryError } from '../../errors.js';
import type { CoreSession, Message } from '../../core/index.js';
import { AmqpReader, Described, type AmqpValue, type AmqpWriter } from './codec.js';
import {
  Composite,
  Performative,
  amqpFrame,
  boolField,
  codeOf,
  dispositionSize,
  flowSize,
  optionalUint,
  put,
  stringField,
  symbolsField,
  uintField,
  writeDisposition,
  writeFlow,
  type AmqpError,
  type FlowFields,
} from './frames.js';
import { ReceivingLink } from './incoming.js';
import { AmqpConditionError, Link, type DeliveryState, type LinkOwner, type SessionPort } from './link.js';
import { amqpBody, encodeHeader, headerSize, messageHead } from './mapping.js';
import { ConsumerLink } from './outgoing.js';
import { transferFrames, transferSize, writeTransfer, type TransferFrame } from './transfers.js';

/** An attach as the client sent it, the fields the broker reads. */
export interface AttachRequest {
  readonly name: string;
  readonly handle: number;
  /** The client's role: true when the client receives (the broker's end sends). */
  readonly clientReceives: boolean;
  readonly sndSettleMode: number;
  readonly rcvSettleMode: number;
  readonly source: AmqpValue;
  readonly target: AmqpValue;
  /** A sending client's initial-delivery-count, where the broker's count of its transfers starts. */
  readonly initialDeliveryCount: number;
  readonly desiredCapabilities: readonly string[];
}

/** The broker's answer to an attach it accepts. */
export interface AttachAnswer {
  readonly link: Link;
  readonly source: ((w: AmqpWriter) => void) | undefined;
  readonly target: ((w: AmqpWriter) => void) | undefined;
  readonly sndSettleMode: number;
  readonly rcvSettleMode: number;
  readonly maxMessageSize?: number;
  /** Runs once the attach is written (a producer's first credit follows its attach). */
  readonly started?: () => void;
  /** What the attach waits for before it is written: the store's sync, for a durable subscription it made or changed. */
  readonly stored?: Promise<void> | undefined;
}

/** What a session needs from its connection. */
export interface SessionHost extends LinkOwner {
  /** The peer's max-frame-size. */
  readonly peerMaxFrame: number;
  /** Builds the broker's end of a link; throws a FerryError to refuse it. */
  openLink(session: AmqpSession, request: AttachRequest, handle: number): AttachAnswer;
  /** A link the broker kept has gone (counted against amqp.maxLinks). */
  linkGone(link: Link): void;
  /** A link was refused or kept (logs, counting). */
  linkRefused(request: AttachRequest, err: unknown): AmqpError;
  /** Reads nothing more from the client until `stored` resolves, then runs `then` and reads on. */
  readAfter(stored: Promise<void>, then: () => void): void;
}

/** The broker's end of a refused link, kept until the client's detach frees its handle. */
class RefusedLink extends Link {
  detached(): void {}
  close(): void {}
}

/**
 * What is left of a link another attach of its name took over (see `steal`): it holds the client's
 * handle until the client's detach answers the broker's, and that detach ends nothing (not the
 * durable subscription the new link now consumes from).
 */
class StolenLink extends RefusedLink {}

const OUTGOING_WINDOW = 0x7fffffff;
/** The accepted outcome, shared by every disposition that carries it. */
const ACCEPTED_STATE = new Described(Composite.accepted, []);

/** True when an accepted outcome with no fields starts at `at`: 00 53 24, then an empty list. */
function isAcceptedAt(buf: Buffer, at: number, end: number): boolean {
  if (at + 4 > end || buf[at] !== 0x00 || buf[at + 1] !== 0x53 || buf[at + 2] !== Composite.accepted) return false;
  const list = buf[at + 3];
  if (list === 0x45) return true;
  // list8 or list32 with a count of 0
  if (list === 0xc0) return at + 6 <= end && buf[at + 5] === 0;
  if (list === 0xd0) return at + 12 <= end && buf.readUInt32BE(at + 8) === 0;
  return false;
}
/** The handle-max the broker announces in its begin: any handle the client likes. */
const HANDLE_MAX = 0xffffffff;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** An unsettled delivery of the broker's that its slot in the ring could no longer keep. */
interface SetAside {
  readonly link: Link;
  readonly tag: number;
}

/**
 * One AMQP session ([AMQP 2.5]): its windows, the links attached on it by handle, the delivery ids
 * of both directions, and the broker's unsettled deliveries. Those are found again by delivery id in
 * a ring of slots (as large as the session window), so the common case allocates nothing per
 * delivery; one still unsettled when the delivery ids have gone a whole ring past it is set aside in
 * a map. Settlement never holds up what the session sends: [AMQP 2.5.6] only the client's incoming
 * window (and each link's credit) does, so a client may keep any number of deliveries unsettled.
 */
export class AmqpSession implements SessionPort {
  private readonly links = new Map<number, Link>();
  /** The broker's handles, by number; the lowest free one goes to the next link (within `peerHandleMax`). */
  private readonly localHandles: (Link | undefined)[] = [];
  /** The client's handle-max: the highest handle the broker may give one of its link ends [AMQP 2.7.2]. */
  private readonly peerHandleMax: number;
  private nextIncomingId: number;
  private incomingWindow: number;
  private nextOutgoingId = 0;
  private remoteIncomingWindow: number;
  /** The frames of a delivery not yet sent: the client's incoming window closed in the middle of it. */
  private unsent: { readonly handle: number; readonly frames: Buffer[]; next: number } | undefined;
  private nextDeliveryId = 0;
  /** The oldest delivery id the ring covers: older unsettled deliveries are in `setAside`. */
  private ringStart = 0;
  private readonly ring: (Link | undefined)[];
  private readonly setAside = new Map<number, SetAside>();
  /** The ids the broker settles in answer to one disposition (rcv-settle-mode second), reused. */
  private readonly answered: number[] = [];
  private readonly tags: Float64Array;
  private readonly mask: number;
  private accepted: number[] = [];
  private flushScheduled = false;
  private blocked = false;
  ended = false;
  /** A session error ends it once the transfers before the error are settled: nothing more of the client's is read meanwhile. */
  ending = false;

  constructor(
    private readonly host: SessionHost,
    readonly channel: number,
    readonly remoteChannel: number,
    begin: readonly AmqpValue[],
    readonly core: CoreSession,
  ) {
    this.nextIncomingId = uintField(begin, 1, 'next-outgoing-id');
    this.remoteIncomingWindow = uintField(begin, 2, 'incoming-window');
    uintField(begin, 3, 'outgoing-window');
    this.peerHandleMax = optionalUint(begin, 4, 'handle-max') ?? HANDLE_MAX;
    this.incomingWindow = host.options.sessionWindow;
    const slots = pow2AtLeast(host.options.sessionWindow);
    this.ring = new Array<Link | undefined>(slots).fill(undefined);
    this.tags = new Float64Array(slots);
    this.mask = slots - 1;
  }

  get owner(): LinkOwner {
    return this.host;
  }

  private write(frame: Buffer): void {
    this.host.transport.write(frame);
  }

  /** The broker's begin, answering the client's. */
  begun(): void {
    this.write(
      amqpFrame(this.channel, Performative.begin, [
        put.ushort(this.remoteChannel),
        put.uint(this.nextOutgoingId),
        put.uint(this.incomingWindow),
        put.uint(OUTGOING_WINDOW),
        put.uint(HANDLE_MAX),
      ]),
    );
  }

  /** Ends the session from the broker's side, with an error (or in answer to the client's end). */
  end(error?: AmqpError): void {
    if (this.ended) return;
    this.close();
    this.write(amqpFrame(this.channel, Performative.end, [error === undefined ? undefined : put.error(error)]));
  }

  /** Lets go of every link and the core session; nothing is written. */
  close(): void {
    if (this.ended) return;
    // acceptances gathered in this turn go out before the end
    this.flush();
    this.ended = true;
    for (const link of this.links.values()) this.letGo(link);
    this.links.clear();
    this.core.close();
  }

  private letGo(link: Link): void {
    if (link instanceof RefusedLink) return;
    link.close();
    this.host.linkGone(link);
  }

  // frames from the client

  frame(code: number, fields: readonly AmqpValue[]): void {
    switch (code) {
      case Performative.attach:
        return this.attach(fields);
      case Performative.flow:
        return this.flowIn(fields);
      case Performative.disposition:
        return this.disposition(fields);
      case Performative.detach:
        return this.detachIn(fields);
      default:
        throw new AmqpConditionError('amqp:illegal-state', `performative 0x${code.toString(16)} is not expected on a session`);
    }
  }

  private attach(fields: readonly AmqpValue[]): void {
    const name = stringField(fields, 0, 'name');
    if (name === undefined) throw new FerryError('FERRY_AMQP_DECODE', 'an attach needs a name');
    const remoteHandle = uintField(fields, 1, 'handle');
    // [AMQP 2.7.2] "A peer that receives a handle outside the supported range MUST close the
    // connection with the framing-error error-code."
    if (remoteHandle > HANDLE_MAX) throw new AmqpConditionError('amqp:connection:framing-error', `handle ${remoteHandle} is above the session's handle-max ${HANDLE_MAX}`);
    if (this.links.has(remoteHandle)) throw new AmqpConditionError('amqp:session:handle-in-use', `handle ${remoteHandle} is already attached`);
    const request: AttachRequest = {
      name,
      handle: remoteHandle,
      clientReceives: boolField(fields, 2, 'role'),
      sndSettleMode: optionalUint(fields, 3, 'snd-settle-mode') ?? 2,
      rcvSettleMode: optionalUint(fields, 4, 'rcv-settle-mode') ?? 0,
      source: fields[5] ?? null,
      target: fields[6] ?? null,
      initialDeliveryCount: optionalUint(fields, 9, 'initial-delivery-count') ?? 0,
      desiredCapabilities: symbolsField(fields, 12),
    };
    let handle = this.localHandles.indexOf(undefined);
    if (handle < 0) handle = this.localHandles.length;
    if (handle > this.peerHandleMax) {
      // [AMQP 2.7.2] "A peer MUST NOT attempt to attach a link using a handle value outside the
      // range that its partner can handle": with every handle up to the client's handle-max taken,
      // the broker can neither attach this link nor refuse it (a refusal is an attach too), so the
      // session ends; the connection and its other sessions go on
      this.end({ condition: 'amqp:resource-limit-exceeded', description: `link "${name}": the broker's handles up to the session's handle-max ${this.peerHandleMax} are all in use` });
      return;
    }
    let answer: AttachAnswer;
    try {
      answer = this.host.openLink(this, request, handle);
    } catch (err) {
      // [AMQP 2.6.3] a link that cannot be made is attached with a null terminus, then detached with the error
      const error = this.host.linkRefused(request, err);
      const refused = new RefusedLink(name, handle, remoteHandle);
      this.keep(refused);
      this.writeAttach(refused, request, { link: refused, source: undefined, target: undefined, sndSettleMode: request.sndSettleMode, rcvSettleMode: request.rcvSettleMode });
      this.detach(refused, error);
      return;
    }
    this.keep(answer.link);
    const attached = (): void => {
      this.writeAttach(answer.link, request, answer);
      answer.started?.();
    };
    // the attach vouches for a durable subscription once it is on disk; nothing is read meanwhile,
    // so no flow of the client's gives the link credit before its attach is written
    if (answer.stored === undefined) attached();
    else this.host.readAfter(answer.stored, () => !this.ended && attached());
  }

  /**
   * Ends `link` because a new attach took its name over ([AMQP 2.6.1] "the second attach succeeds
   * and the first attach MUST then be closed with a link error of stolen"): its unsettled deliveries
   * go back to their queue as redelivered, so the client's late settlements of them change nothing.
   */
  steal(link: Link): void {
    if (this.ended || link.detachSent) return;
    const stolen = new StolenLink(link.name, link.handle, link.remoteHandle);
    this.keep(stolen);
    this.letGo(link);
    this.detach(stolen, { condition: 'amqp:link:stolen', description: `link "${link.name}" was attached again on this connection` });
  }

  private keep(link: Link): void {
    this.links.set(link.remoteHandle, link);
    this.localHandles[link.handle] = link;
  }

  private writeAttach(link: Link, request: AttachRequest, answer: AttachAnswer): void {
    const brokerSends = request.clientReceives;
    this.write(
      amqpFrame(this.channel, Performative.attach, [
        put.string(request.name),
        put.uint(link.handle),
        put.bool(!brokerSends),
        put.ubyte(answer.sndSettleMode),
        put.ubyte(answer.rcvSettleMode),
        answer.source,
        answer.target,
        undefined,
        undefined,
        brokerSends ? put.uint(0) : undefined,
        answer.maxMessageSize === undefined ? undefined : put.ulong(answer.maxMessageSize),
      ]),
    );
  }

  detach(link: Link, error?: AmqpError, closed = true): void {
    if (link.detachSent || this.ended) return;
    this.abortUnsent(link.handle);
    link.detachSent = true;
    this.write(amqpFrame(this.channel, Performative.detach, [put.uint(link.handle), put.bool(closed), error === undefined ? undefined : put.error(error)]));
  }

  private detachIn(fields: readonly AmqpValue[]): void {
    const remoteHandle = uintField(fields, 0, 'handle');
    const link = this.links.get(remoteHandle);
    if (link === undefined) throw new AmqpConditionError('amqp:session:unattached-handle', `detach of handle ${remoteHandle}, which is not attached`);
    this.links.delete(remoteHandle);
    // the consumer is gone now, even when the broker's detach waits for the store
    this.abortUnsent(link.handle);
    const closed = boolField(fields, 1, 'closed');
    let stored: Promise<void> | void = undefined;
    if (!(link instanceof RefusedLink)) {
      stored = link.detached(closed);
      this.host.linkGone(link);
    }
    const answer = (): void => {
      // [AMQP 2.6.6] a detach is answered in kind: a closing answer to a client that only detached
      // would say the terminus is gone, when a durable subscription's stays to be attached again
      this.detach(link, undefined, closed);
      this.localHandles[link.handle] = undefined;
    };
    // the end of a durable subscription, as its making, is answered once it is on disk
    if (stored === undefined) answer();
    else this.host.readAfter(stored, () => !this.ended && answer());
  }

  private linkOf(remoteHandle: number): Link {
    const link = this.links.get(remoteHandle);
    if (link === undefined) throw new AmqpConditionError('amqp:session:unattached-handle', `handle ${remoteHandle} is not attached`);
    return link;
  }

  // transfers from the client

  transfer(frame: TransferFrame): void {
    this.nextIncomingId++;
    if (--this.incomingWindow <= this.host.options.sessionWindow / 2) {
      this.incomingWindow = this.host.options.sessionWindow;
      this.writeFlowFrame(undefined);
    }
    const link = this.linkOf(frame.handle);
    if (link instanceof ReceivingLink) {
      link.transfer(frame);
      return;
    }
    // sent before the client saw the broker's detach: the client holds it unsettled on a detached link
    if (link instanceof StolenLink) return;
    if (link instanceof RefusedLink) {
      // [AMQP 2.6.7] a refused link never had credit
      throw new AmqpConditionError('amqp:link:transfer-limit-exceeded', `transfer on link "${link.name}" without link credit`);
    }
    throw new AmqpConditionError('amqp:illegal-state', `transfer on link "${link.name}", on which the broker sends`);
  }

  settle(deliveryId: number, state: DeliveryState | undefined): void {
    if (this.ended) return;
    if (state === undefined) {
      this.accepted.push(deliveryId);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(() => this.flush());
      }
      return;
    }
    this.flush();
    this.write(amqpFrame(this.channel, Performative.disposition, [put.bool(true), put.uint(deliveryId), undefined, put.bool(true), state]));
  }

  /** Writes the gathered acceptances as dispositions over runs of consecutive delivery ids. */
  private flush(): void {
    this.flushScheduled = false;
    const ids = this.accepted;
    if (ids.length === 0 || this.ended) {
      ids.length = 0;
      return;
    }
    this.writeRanges(ids, true, true);
    ids.length = 0;
  }

  /** `state`: an outcome other than accepted to settle with, written through the general encoder. */
  private writeRanges(ids: readonly number[], role: boolean, accepted: boolean, state?: AmqpValue): void {
    let start = ids[0]!;
    let prev = start;
    for (let i = 1; i <= ids.length; i++) {
      const id = ids[i];
      if (id === prev + 1) {
        prev = id;
        continue;
      }
      if (state !== undefined) {
        this.write(amqpFrame(this.channel, Performative.disposition, [put.bool(role), put.uint(start), put.uint(prev), put.bool(true), (w) => w.value(state)]));
        if (id !== undefined) start = prev = id;
        continue;
      }
      const size = dispositionSize(start, prev, accepted);
      const room = this.host.transport.reserve?.(size);
      if (room !== undefined) {
        writeDisposition(room, 0, this.channel, role, start, prev, accepted);
        this.host.transport.sendReserved?.();
      } else {
        const out = Buffer.allocUnsafe(size);
        writeDisposition(out, 0, this.channel, role, start, prev, accepted);
        this.write(out);
      }
      if (id !== undefined) start = prev = id;
    }
  }

  // flow

  private flowIn(fields: readonly AmqpValue[]): void {
    const nextIncoming = optionalUint(fields, 0, 'next-incoming-id') ?? 0;
    const window = uintField(fields, 1, 'incoming-window');
    const wasClosed = this.remoteIncomingWindow <= 0;
    this.remoteIncomingWindow = nextIncoming + window - this.nextOutgoingId;
    // the rest of a delivery of several frames goes before anything else on the session
    if (this.unsent !== undefined) this.sendUnsent();
    const handle = optionalUint(fields, 4, 'handle');
    const echo = boolField(fields, 9, 'echo');
    if (handle === undefined) {
      if (echo) this.writeFlowFrame(undefined);
    } else {
      const link = this.linkOf(handle);
      if (link instanceof ConsumerLink) {
        // [AMQP 2.6.7] credit = delivery-count(receiver) + link-credit - delivery-count(sender)
        const theirCount = optionalUint(fields, 5, 'delivery-count') ?? 0;
        link.credit = Math.max(0, theirCount + uintField(fields, 6, 'link-credit', 0) - link.deliveryCount);
        link.drain = boolField(fields, 8, 'drain');
        link.flowed();
        // nothing more to send now: the rest of the credit is used up by advancing the delivery count;
        // a drain with no credit is answered too, as the client waits for the sender's flow to end it
        if (link.drain && (link.credit === 0 || link.drainable)) this.drained(link);
        else {
          if (link.drain && link.credit > 0) link.drainAfterStore();
          if (echo) this.writeFlowFrame(link);
        }
      } else if (echo && !(link instanceof RefusedLink)) this.writeFlowFrame(link);
    }
    if (wasClosed && this.remoteIncomingWindow > 0 && this.unsent === undefined) this.unblock();
  }

  drained(link: Link): void {
    if (this.ended || link.detachSent) return;
    link.deliveryCount += link.credit;
    link.credit = 0;
    this.writeFlowFrame(link);
  }

  flow(link: Link, echo = false): void {
    if (this.ended || link.detachSent) return;
    this.writeFlowFrame(link, echo);
  }

  private readonly flowFields: FlowFields = {
    nextIncomingId: 0,
    incomingWindow: 0,
    nextOutgoingId: 0,
    outgoingWindow: OUTGOING_WINDOW,
    handle: undefined,
    deliveryCount: 0,
    linkCredit: 0,
    available: 0,
    drain: false,
    echo: false,
  };

  private writeFlowFrame(link: Link | undefined, echo = false): void {
    const f = this.flowFields;
    f.nextIncomingId = this.nextIncomingId >>> 0;
    f.incomingWindow = this.incomingWindow;
    f.nextOutgoingId = this.nextOutgoingId >>> 0;
    f.handle = link?.handle;
    if (link !== undefined) {
      f.deliveryCount = link.deliveryCount >>> 0;
      f.linkCredit = link.credit;
      f.drain = link.drain;
      f.echo = echo;
    }
    const size = flowSize(f);
    const room = this.host.transport.reserve?.(size);
    if (room !== undefined) {
      writeFlow(room, 0, this.channel, f);
      this.host.transport.sendReserved?.();
    } else {
      const out = Buffer.allocUnsafe(size);
      writeFlow(out, 0, this.channel, f);
      this.write(out);
    }
  }

  // the broker's deliveries

  canSend(): boolean {
    if (!this.ended && this.unsent === undefined && this.remoteIncomingWindow > 0) return true;
    this.blocked = true;
    return false;
  }

  sendTransfer(link: Link, tag: number, message: Message, redeliveries: number, firstAcquirer: boolean, now: number, settled: boolean): void {
    const id = this.nextDeliveryId++;
    if (!settled) {
      if (id - this.ringStart > this.mask) this.moveAside(id - this.mask);
      const slot = id & this.mask;
      this.ring[slot] = link;
      this.tags[slot] = tag;
    } else if (id === this.ringStart) this.ringStart++;
    link.credit--;
    link.deliveryCount++;
    const body = amqpBody(message);
    const head = messageHead(message, body);
    const size = transferSize(link.handle, id >>> 0, tag, headerSize(message, redeliveries, firstAcquirer, now) + head.length + body.length);
    if (size <= this.host.peerMaxFrame) {
      const transport = this.host.transport;
      const room = transport.reserve?.(size);
      if (room !== undefined) {
        writeTransfer(room, this.channel, link.handle, id >>> 0, tag, settled, message, redeliveries, firstAcquirer, now, head, body);
        transport.sendReserved?.();
      } else {
        // too large for the slab: everything before the body in a buffer of its own, the body as it is
        const before = Buffer.allocUnsafe(size - body.length);
        writeTransfer(before, this.channel, link.handle, id >>> 0, tag, settled, message, redeliveries, firstAcquirer, now, head, undefined, size);
        transport.write(before);
        transport.write(body);
      }
      this.nextOutgoingId++;
      this.remoteIncomingWindow--;
      return;
    }
    const header = encodeHeader(message, redeliveries, now, firstAcquirer);
    const payload = Buffer.concat([header, head, body], header.length + head.length + body.length);
    this.unsent = { handle: link.handle, frames: transferFrames(this.host.peerMaxFrame, this.channel, link.handle, id >>> 0, tag, settled, payload), next: 0 };
    this.sendUnsent();
  }

  /**
   * Gives up the rest of a delivery of several frames on a link that is going: no frame of it may
   * follow the broker's detach, after which the handle may name another link. Such a rest exists
   * only while the client's incoming window is shut, so there is no room for an aborted transfer
   * either; the detach ends the delivery for the client ([AMQP 2.6.14]), and its message goes back
   * to its queue with the link's other unsettled ones.
   */
  private abortUnsent(handle: number): void {
    if (this.unsent?.handle !== handle) return;
    this.unsent = undefined;
    // the links held back behind it may go on once the client's window opens (flowIn unblocks them)
  }

  /** The ring moves on to start at `start`: the unsettled deliveries it passes over are kept in the map. */
  private moveAside(start: number): void {
    for (let id = this.ringStart; id < start; id++) {
      const slot = id & this.mask;
      const link = this.ring[slot];
      if (link === undefined) continue;
      this.setAside.set(id, { link, tag: this.tags[slot]! });
      this.ring[slot] = undefined;
    }
    this.ringStart = start;
  }

  /** [AMQP 2.5.6] each transfer frame takes one unit of the client's incoming window: the rest wait for its flow. */
  private sendUnsent(): void {
    const unsent = this.unsent!;
    while (unsent.next < unsent.frames.length && this.remoteIncomingWindow > 0) {
      this.host.transport.write(unsent.frames[unsent.next++]!);
      this.nextOutgoingId++;
      this.remoteIncomingWindow--;
    }
    if (unsent.next === unsent.frames.length) this.unsent = undefined;
  }

  private disposition(fields: readonly AmqpValue[]): void {
    this.dispositionOf(boolField(fields, 0, 'role'), uintField(fields, 1, 'first'), optionalUint(fields, 2, 'last'), boolField(fields, 3, 'settled'), fields[4] ?? null);
  }

  /**
   * A disposition read from `buf[start, end)` (the list after its descriptor) without building the
   * performative: the common accepted outcome is recognised from its bytes, so a consumer's
   * settlements allocate nothing here.
   */
  dispositionFrame(buf: Buffer, start: number, end: number): void {
    const reader = new AmqpReader(buf, start, end);
    const count = reader.compoundHead(false);
    let role = false;
    let first: number | undefined;
    let last: number | undefined;
    let settled = false;
    let state: AmqpValue = null;
    for (let i = 0; i < count; i++) {
      if (i === 4 && isAcceptedAt(buf, reader.offset, end)) {
        state = ACCEPTED_STATE;
        reader.skip();
        continue;
      }
      if (i > 4) {
        reader.skip();
        continue;
      }
      const v = reader.read();
      if (i === 0) role = v === true;
      else if (i === 1) first = typeof v === 'number' ? v : undefined;
      else if (i === 2) last = typeof v === 'number' ? v : undefined;
      else if (i === 3) settled = v === true;
      else state = v;
    }
    if (first === undefined) throw new FerryError('FERRY_AMQP_DECODE', 'a disposition needs a first delivery id');
    this.dispositionOf(role, first, last, settled, state);
  }

  private dispositionOf(role: boolean, first: number, last: number | undefined, settled: boolean, state: AmqpValue): void {
    // role true: the client is the receiver, so this is about the broker's deliveries
    if (!role) return;
    const hi = Math.min(last ?? first, this.nextDeliveryId - 1);
    const answered = this.answered;
    if (this.setAside.size > 0 && first < this.ringStart) this.settleAside(first, Math.min(hi, this.ringStart - 1), state, settled, answered);
    for (let id = Math.max(first, this.ringStart); id <= hi; id++) {
      const slot = id & this.mask;
      const link = this.ring[slot];
      if (link === undefined) continue;
      if (this.settleOne(id, link, this.tags[slot]!, state, settled, answered)) this.ring[slot] = undefined;
    }
    if (answered.length > 0) {
      // [AMQP 3.4] the settling disposition carries the outcome the client gave, which its on_settled reads
      if (codeOf(state) === Composite.accepted) this.writeRanges(answered, false, true);
      else this.writeRanges(answered, false, false, state);
      answered.length = 0;
    }
    this.advance();
  }

  /** Settles the deliveries set aside with ids in [lo, hi], looking up whichever is fewer: the ids or the map's entries. */
  private settleAside(lo: number, hi: number, state: AmqpValue, settled: boolean, answered: number[]): void {
    if (hi - lo < this.setAside.size) {
      for (let id = lo; id <= hi; id++) {
        const kept = this.setAside.get(id);
        if (kept !== undefined && this.settleOne(id, kept.link, kept.tag, state, settled, answered)) this.setAside.delete(id);
      }
      return;
    }
    // ids in the map ascend (they were set aside in order), so `answered` stays in order
    for (const [id, kept] of this.setAside) {
      if (id >= lo && id <= hi && this.settleOne(id, kept.link, kept.tag, state, settled, answered)) this.setAside.delete(id);
    }
  }

  /** One delivery's disposition; true when the broker forgets it. */
  private settleOne(id: number, link: Link, tag: number, state: AmqpValue, settled: boolean, answered: number[]): boolean {
    if (!(link instanceof ConsumerLink)) return false;
    const terminal = link.disposition(tag, state, settled);
    // the client settles second (rcv-settle-mode second): the broker settles now
    if (!settled && terminal) answered.push(id);
    return settled || terminal;
  }

  private advance(): void {
    while (this.ringStart < this.nextDeliveryId && this.ring[this.ringStart & this.mask] === undefined) this.ringStart++;
  }

  /** The client's window opened: consumers that stopped for want of it may go on. */
  private unblock(): void {
    if (!this.blocked || this.ended) return;
    this.blocked = false;
    for (const link of this.links.values()) if (link instanceof ConsumerLink) link.flowed();
  }

  forget(link: Link): void {
    for (let id = this.ringStart; id < this.nextDeliveryId; id++) {
      const slot = id & this.mask;
      if (this.ring[slot] === link) this.ring[slot] = undefined;
    }
    for (const [id, kept] of this.setAside) if (kept.link === link) this.setAside.delete(id);
    this.advance();
  }
}
