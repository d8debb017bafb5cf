import { FerryError } from '../../errors.js';
import { MAX_TIMER_DELAY } from '../../transport/index.js';
import type { ConsumerHandle, Delivery, DeliverySink, Message, SubscribeOptions } from '../../core/index.js';
import { ACK, type ConsumerId, type MessageAck, type MessageId, type WireDestination } from './commands.js';
import { dispatchMessageId, messageIdText, sameMessageId } from './mapping.js';

/** What a consumer needs of its connection: writing dispatches, and the socket's state. */
export interface DispatchTarget {
  /**
   * Writes a MessageDispatch; `message` null ends a browse or answers a pull that found nothing.
   * `messageId` is the message's id on the wire, when the consumer has made it already.
   */
  dispatch(consumer: OpenWireConsumer, message: Message | null, delivery: Delivery | undefined, sequence: number, messageId?: MessageId): void;
  isWritable(): boolean;
  onWritable(resume: () => void): void;
  /** The next number of the connection's dispatch sequence (a MessageId's broker sequence id). */
  nextSequence(): number;
  /** A transaction's core id, for acknowledgements made in it. */
  transactionOf(ack: MessageAck): string | undefined;
  /** The consumer's queue was deleted (its core consumer is closing). */
  queueDeleted(consumer: OpenWireConsumer): void;
}

/** RemoveInfo's lastDeliveredSequenceId when the client cannot say. */
const LAST_DELIVERED_UNKNOWN = -2;

interface InFlight {
  /** Core's message id. */
  readonly id: string;
  /** The id the dispatch carried, whose broker sequence is `sequence`. */
  readonly wireId: MessageId;
  readonly tag: number;
  readonly sequence: number;
  /** Acknowledged (or given back): left in `order` until the front passes it. */
  done: boolean;
}

/**
 * The deliveries a consumer has not acknowledged, oldest first. An acknowledgement names a message
 * by the id its dispatch carried, whose broker sequence number the connection gave that dispatch
 * alone: deliveries are found by that number, and the rest of the id must match too (an id from
 * before a failover may carry a number this connection has since given to another message). A
 * client that does not send the number back is served by the id's text, by a walk. A range
 * acknowledgement takes from the front; an individual one marks its entry, which the front skips.
 */
class InFlightList {
  private order: InFlight[] = [];
  private head = 0;
  private readonly bySequence = new Map<number, InFlight>();

  get size(): number {
    return this.bySequence.size;
  }

  add(entry: InFlight): void {
    this.order.push(entry);
    this.bySequence.set(entry.sequence, entry);
  }

  /** The open delivery `id` names, if any. */
  find(id: MessageId): InFlight | undefined {
    const numbered = this.bySequence.get(id.brokerSequenceId);
    if (numbered !== undefined && sameMessageId(numbered.wireId, id)) return numbered;
    const text = messageIdText(id);
    for (let i = this.head; i < this.order.length; i++) {
      const entry = this.order[i]!;
      if (!entry.done && entry.id === text) return entry;
    }
    return undefined;
  }

  remove(entry: InFlight): void {
    entry.done = true;
    this.bySequence.delete(entry.sequence);
    while (this.head < this.order.length && this.order[this.head]!.done) this.head++;
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /** Open entries oldest first, up to and including `last` (a copy: removing while walking it is safe). */
  upTo(last: InFlight): InFlight[] {
    const open: InFlight[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const entry = this.order[i]!;
      if (!entry.done) open.push(entry);
      if (entry === last) break;
    }
    return open;
  }

  /** Adds back a delivery removed before, in its place among the open ones: they stay in the order they went out. */
  restore(entry: InFlight): void {
    const open = this.entries();
    const at = open.findIndex((other) => other.tag > entry.tag);
    open.splice(at < 0 ? open.length : at, 0, entry);
    this.order = open;
    this.head = 0;
    this.bySequence.set(entry.sequence, entry);
  }

  /** Open entries oldest first (a copy: removing while walking it is safe). */
  entries(): InFlight[] {
    const open: InFlight[] = [];
    for (let i = this.head; i < this.order.length; i++) if (!this.order[i]!.done) open.push(this.order[i]!);
    return open;
  }

  clear(): void {
    this.order = [];
    this.head = 0;
    this.bySequence.clear();
  }
}

/**
 * One JMS consumer: its credit (the prefetch, extended by the client's delivered acknowledgements,
 * or one message per pull when the prefetch is 0), the deliveries it has not acknowledged in the
 * order they went out, and the acknowledgement types OpenWire has, turned into core's.
 */
export class OpenWireConsumer {
  handle: ConsumerHandle | undefined;
  /** What its core consumer was opened with: the same again when its queue is made anew. */
  options: SubscribeOptions | undefined;
  /** In dispatch order: a standard acknowledgement covers every delivery up to the one it names. */
  private readonly inFlight = new InFlightList();
  /** Deliveries the client has but has not yet acknowledged for good, counted against the prefetch (ActiveMQ's prefetch extension). */
  private extension = 0;
  private pulls = 0;
  private pullTimer: NodeJS.Timeout | undefined;
  /** Message groups this consumer has had a message of (ActiveMQ marks the first: JMSXGroupFirstForConsumer). */
  private groups: Set<string> | undefined;
  /** Set while closing, so that what is given back is not handed straight back to this consumer. */
  private closing = false;

  constructor(
    readonly id: ConsumerId,
    readonly key: string,
    readonly destination: WireDestination,
    readonly sessionKey: string,
    private prefetch: number,
    readonly browser: boolean,
    private readonly target: DispatchTarget,
  ) {}

  sink(): DeliverySink {
    return {
      deliver: (delivery) => this.deliver(delivery),
      isWritable: () => this.target.isWritable(),
      onWritable: (resume) => this.target.onWritable(resume),
      hasCredit: () => this.hasCredit(),
      browseEnd: () => this.target.dispatch(this, null, undefined, this.target.nextSequence()),
      reinstated: (delivery) => this.reinstated(delivery),
      cancelled: () => {
        // its deliveries went with the queue: an acknowledgement of one is let go, as after a failover
        this.inFlight.clear();
        this.extension = 0;
        if (this.browser) this.target.dispatch(this, null, undefined, this.target.nextSequence());
        else this.target.queueDeleted(this);
      },
    };
  }

  private hasCredit(): boolean {
    if (this.closing) return false;
    if (this.prefetch === 0) return this.pulls > 0;
    return this.inFlight.size - this.extension < this.prefetch;
  }

  private deliver(delivery: Delivery): void {
    const sequence = this.target.nextSequence();
    if (this.prefetch === 0) {
      this.pulls--;
      if (this.pulls === 0) clearTimeout(this.pullTimer);
    }
    const wireId = dispatchMessageId(delivery.message);
    // a browser consumes nothing: there is nothing for the client to acknowledge
    if (!this.browser) this.inFlight.add({ id: delivery.message.id, wireId, tag: delivery.tag, sequence, done: false });
    this.target.dispatch(this, delivery.message, delivery, sequence, wireId);
  }

  /**
   * A delivery whose acknowledgement a prepared transaction held, and which has rolled back: the
   * client redelivers it from what it holds, as after any rollback, and acknowledges it again by the
   * id it had (found by its text: its old broker sequence number is not known here); given back to
   * the queue instead, it would reach this consumer a second time. Its place in the order is its
   * tag's, which follows the order of dispatch.
   */
  private reinstated(delivery: Delivery): void {
    if (this.browser) return;
    const sequence = this.target.nextSequence();
    const wireId = { ...dispatchMessageId(delivery.message), brokerSequenceId: sequence };
    this.inFlight.restore({ id: delivery.message.id, wireId, tag: delivery.tag, sequence, done: false });
  }

  /**
   * A ConsumerControl's new prefetch. A failover client restores a consumer that had deliveries in
   * hand with prefetch 0, and once it has dealt with them sends the real prefetch this way; left at
   * 0, the consumer would get nothing more.
   */
  setPrefetch(prefetch: number): void {
    if (this.browser || prefetch < 0 || prefetch === this.prefetch) return;
    this.prefetch = prefetch;
    if (prefetch > 0) {
      this.pulls = 0;
      clearTimeout(this.pullTimer);
    }
    this.handle?.wake();
  }

  /** True for the first message of a group this consumer gets; a group closed by sequence -1 starts afresh. */
  firstOfGroup(groupId: string, sequence: number | undefined): boolean {
    const groups = (this.groups ??= new Set());
    const first = !groups.has(groupId);
    if (sequence === -1) groups.delete(groupId);
    else groups.add(groupId);
    return first;
  }

  /**
   * A MessagePull: the client wants one message. With a timeout, the answer is an empty dispatch
   * if none came in time; -1 means "now or never" (receiveNoWait), 0 means wait as long as it takes.
   */
  pull(timeout: number, setTimer: (fire: () => void, ms: number) => NodeJS.Timeout): void {
    if (this.prefetch !== 0) return;
    this.pulls = 1;
    this.handle?.wake();
    if (this.pulls === 0 || timeout === 0) return;
    const giveUp = (): void => {
      if (this.pulls === 0) return;
      // a message is waiting but its delivery mark is being synced (or its body read back): the
      // queue hands it over within milliseconds, and ActiveMQ answers a pull with a waiting
      // message, so "none" would send a drain-until-empty loop away with the queue full
      if (this.handle?.waitsOnStore === true) {
        this.pullTimer = setTimer(giveUp, 1);
        return;
      }
      this.pulls = 0;
      this.target.dispatch(this, null, undefined, this.target.nextSequence());
    };
    if (timeout < 0) giveUp();
    else {
      clearTimeout(this.pullTimer);
      this.armPull(giveUp, timeout, setTimer);
    }
  }

  /**
   * A pull's timeout is the client's long (`receive(Long.MAX_VALUE)` waits for good): past what a
   * Node timer holds, which would fire after 1 ms, it runs as a chain of timers of at most that.
   */
  private armPull(giveUp: () => void, ms: number, setTimer: (fire: () => void, ms: number) => NodeJS.Timeout): void {
    if (ms <= MAX_TIMER_DELAY) this.pullTimer = setTimer(giveUp, ms);
    else this.pullTimer = setTimer(() => this.armPull(giveUp, ms - MAX_TIMER_DELAY, setTimer), MAX_TIMER_DELAY);
  }

  acknowledge(ack: MessageAck): void {
    const handle = this.handle;
    if (handle === undefined || this.browser) return;
    switch (ack.ackType) {
      case ACK.DELIVERED:
        // the application has these: the client may take as many more (ActiveMQ's prefetch extension)
        this.extension = Math.max(this.extension, this.positionOf(ack.lastMessageId ?? undefined));
        handle.wake();
        return;
      case ACK.REDELIVERED:
        // the client counts redeliveries of what it still holds; the broker keeps them in flight
        return;
      case ACK.STANDARD:
      case ACK.UNMATCHED:
      case ACK.INDIVIDUAL: {
        const txId = this.target.transactionOf(ack);
        for (const entry of this.take(ack)) handle.acknowledgeOnly(entry.tag, txId);
        handle.wake();
        return;
      }
      case ACK.EXPIRED:
        // the client dropped these from its prefetch as expired: the queue's expiry policy decides
        // where they go, as for those it finds expired itself
        for (const entry of this.take(ack)) handle.expire(entry.tag);
        return;
      case ACK.POISON: {
        const txId = this.target.transactionOf(ack);
        const cause = ack.poisonCause;
        const reason = cause === null ? 'poison acknowledgement from the client' : `${cause.className ?? 'java.lang.Throwable'}: ${cause.message ?? ''}`;
        for (const entry of this.take(ack)) handle.rejectOnly(entry.tag, txId, reason);
        handle.wake();
        return;
      }
      default:
        throw new FerryError('FERRY_OPENWIRE_MALFORMED', `unknown acknowledgement type ${ack.ackType}`);
    }
  }

  /** How many in-flight deliveries, oldest first, lead up to and include `messageId`. */
  private positionOf(messageId: MessageId | undefined): number {
    if (messageId === undefined) return 0;
    const open = this.inFlight.entries();
    const target = this.inFlight.find(messageId);
    const at = target === undefined ? -1 : open.indexOf(target);
    return at < 0 ? open.length : at + 1;
  }

  /**
   * The deliveries an acknowledgement covers: an individual one names one message; the others a
   * range ending at `lastMessageId` (from `firstMessageId`, or from the oldest when it has none).
   */
  private take(ack: MessageAck): InFlight[] {
    if (ack.lastMessageId === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'an acknowledgement without a last message id');
    const lastEntry = this.inFlight.find(ack.lastMessageId);
    // after a failover the client acknowledges what the broker it left had delivered: this broker
    // gives those messages again (redelivered), so such an acknowledgement is let go, as ActiveMQ
    // lets go one it cannot correlate; refusing it stalled the client's consumer
    if (lastEntry === undefined) return [];
    const firstEntry = ack.firstMessageId === null ? undefined : this.inFlight.find(ack.firstMessageId);
    if (ack.ackType === ACK.INDIVIDUAL || firstEntry === lastEntry || ack.messageCount === 1) {
      this.inFlight.remove(lastEntry);
      this.extension = Math.max(0, this.extension - 1);
      return [lastEntry];
    }
    const taken: InFlight[] = [];
    let inRange = firstEntry === undefined;
    for (const entry of this.inFlight.upTo(lastEntry)) {
      if (!inRange && entry === firstEntry) inRange = true;
      if (inRange) {
        taken.push(entry);
        this.inFlight.remove(entry);
      }
    }
    this.extension = Math.max(0, this.extension - taken.length);
    return taken;
  }

  /**
   * Closes the consumer, as ActiveMQ decides what was delivered: the unacknowledged deliveries up to
   * the one the client names as the last it handed to the application come back redelivered; those
   * after it, or all of them when that one is not among them (it was acknowledged), go back
   * uncounted. Unknown (-2, or the connection simply dropped): all of them count.
   */
  close(lastDeliveredSequence: number | undefined): void {
    clearTimeout(this.pullTimer);
    const handle = this.handle;
    if (handle === undefined || handle.isClosed) return;
    this.closing = true;
    if (lastDeliveredSequence !== undefined && lastDeliveredSequence !== LAST_DELIVERED_UNKNOWN && !this.browser) {
      const open = this.inFlight.entries();
      const last = open.findIndex((entry) => entry.sequence === lastDeliveredSequence);
      for (const entry of open.slice(last + 1)) handle.release(entry.tag);
    }
    this.inFlight.clear();
    handle.close();
  }
}
