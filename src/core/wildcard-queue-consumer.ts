import { FerryError, isFerryError } from '../errors.js';
import type { ConsumerHandle, SubscribeOptions } from './access.js';
import { validateDestinationName } from './address.js';
import type { AckMode, Consumer, DeliveryLedger } from './consumer.js';
import type { DestinationWatcher } from './destination-events.js';
import type { Destination, PropertyChanges } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { Selector } from './selector/index.js';
import type { DeliverySink } from './sink.js';
import type { Transaction } from './transaction.js';

/** Tags of deliveries whose queue was deleted, remembered so a late settlement of one is no error. */
const GONE_REMEMBERED = 1024;

/** What a wildcard queue consumer needs of the broker. */
export interface QueuePatternHost {
  /** Every lasting queue and topic now, then each one made or deleted (temporary ones never). */
  watch(watcher: DestinationWatcher): () => void;
  /** True for a queue or topic whose messages the consumer takes. */
  matches(destination: Destination): boolean;
  queue(name: string): MessageQueue | undefined;
  /**
   * Opens a consumer on `queue` for this subscription, delivering through `sink` and counting in
   * `ledger`. Throws a FerryError when the subscriber may not consume there: no right to, another
   * connection's exclusive queue, a sole consumer, the limit of consumers.
   */
  member(queue: MessageQueue, sink: DeliverySink, ledger: DeliveryLedger): Consumer;
  /** Subscribes to `topic` for this consumer, as `member` opens a queue's consumer (a composite's topic parts). */
  subscriber(topic: string, sink: DeliverySink, ledger: DeliveryLedger): Consumer;
  transaction(txId: string): Transaction;
  /** Deliveries per second of all the members together. */
  readonly deliveryRate: { rate(): number };
}

/** Opens one member's consumer on `queue`. */
export type MakeConsumer = (queue: MessageQueue, selector: Selector | undefined, member: MemberParts) => Consumer;

function keyOf(destination: Destination): string {
  return `${destination.kind}:${destination.name}`;
}

/** What each member shares with its siblings, as the broker builds it. */
export interface MemberParts {
  readonly sink: DeliverySink;
  readonly ledger: DeliveryLedger;
  readonly deliveryRate: { count(): void; rate(): number };
}

/**
 * Refuses what a consumer on a wildcard queue cannot be. Each member queue has consumers of its
 * own, so neither ActiveMQ's exclusive consumer nor a sole consumer can be had across them;
 * durable subscriptions are topics'. (A browser walks one queue: `Broker.browse` refuses patterns.)
 */
export function checkQueuePattern(options: SubscribeOptions, taken = 'a wildcard queue'): void {
  const { name } = options.destination;
  validateDestinationName(name, true);
  const refuse = (what: string): never => {
    throw new FerryError('FERRY_DESTINATION_INVALID', `${what} cannot take ${taken} ("${name}")`);
  };
  if (options.destination.temporary === true) refuse('a temporary queue');
  if (options.durable !== undefined) refuse('a durable subscription');
  if (options.exclusive === true) refuse('an exclusive consumer');
  if (options.soleConsumer === true) refuse('a sole consumer');
}

/**
 * ActiveMQ's consumer on a wildcard queue (`orders.*`): one consumer on every queue whose name
 * matches, those there now and those made later, as one handle. A consumer on a composite
 * destination (`a,b`, `queue://a,topic://t`) is one too, whose members are its parts. Its members are ordinary
 * consumers that share a `DeliveryLedger`, so a tag names one delivery across all of them and the
 * prefetch bounds the whole subscription, as ActiveMQ applies it. A member leaves when its queue is
 * deleted. Temporary queues are never members; declared queues (RabbitMQ's model) are, unless
 * another connection's exclusive queue or a sole consumer's.
 */
export class WildcardQueueConsumer implements ConsumerHandle {
  readonly ackMode: AckMode;
  readonly priority: number;
  /** By `kind:name` of the queue or topic each takes from. */
  private readonly members = new Map<string, Consumer>();
  private readonly keys = new Map<Consumer, string>();
  private readonly ledger: DeliveryLedger = { nextTag: 1, inFlight: 0 };
  /**
   * Members the shared prefetch or the protocol's credit held back, or that settled deliveries,
   * in the order they were, so `wake` serves them in turn: otherwise the queue of the member just
   * acknowledged would take every slot it frees.
   */
  private readonly starved = new Set<Consumer>();
  private readonly gone = new Set<number>();
  /** Destinations announced and not yet attached (see `added`). */
  private attaching: Destination[] = [];
  private readonly retired = { delivered: 0, acknowledged: 0 };
  private readonly unwatch: () => void;
  private closed = false;
  private stopped = false;
  /** Runs once when the consumer closes, for the session that opened it. */
  onClose: (() => void) | undefined;

  constructor(
    readonly id: number,
    private readonly options: SubscribeOptions,
    readonly prefetch: number,
    readonly selector: Selector | undefined,
    private readonly host: QueuePatternHost,
  ) {
    this.ackMode = options.ackMode ?? 'auto';
    this.priority = options.priority ?? 0;
    this.unwatch = host.watch({
      added: (destination) => this.added(destination),
      removed: (destination) => this.removed(destination),
    });
  }

  get destination(): Destination {
    return this.options.destination;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get inFlightCount(): number {
    return this.ledger.inFlight;
  }

  /** See `Consumer.unsettledCount`. */
  get unsettledCount(): number {
    let n = this.ledger.inFlight;
    for (const member of this.members.values()) n += member.heldCount;
    return n;
  }

  get waitsOnStore(): boolean {
    for (const member of this.members.values()) if (member.queue.waitsOnStore) return true;
    return false;
  }

  get delivered(): number {
    let n = this.retired.delivered;
    for (const member of this.members.values()) n += member.delivered;
    return n;
  }

  get acknowledged(): number {
    let n = this.retired.acknowledged;
    for (const member of this.members.values()) n += member.acknowledged;
    return n;
  }

  get deliveryRate(): number {
    return this.host.deliveryRate.rate();
  }

  acknowledge(tag: number, txId?: string): void {
    this.acknowledgeOnly(tag, txId);
    this.wake();
  }

  acknowledgeOnly(tag: number, txId?: string): void {
    const tx = this.transactionOf(txId);
    const owner = this.ownerOf(tag);
    if (this.ackMode === 'client') return this.acknowledgeThrough(tag, owner, tx);
    if (owner === undefined) return;
    owner.acknowledgeOnly(tag, tx);
    this.freed(owner);
  }

  reject(tag: number, txId?: string, reason?: string): void {
    this.rejectOnly(tag, txId, reason);
    this.wake();
  }

  rejectOnly(tag: number, txId?: string, reason?: string): void {
    const tx = this.transactionOf(txId);
    const owner = this.ownerOf(tag);
    if (owner === undefined) return;
    owner.rejectOnly(tag, tx, reason);
    this.freed(owner);
  }

  expire(tag: number): void {
    const owner = this.ownerOf(tag);
    if (owner === undefined) return;
    owner.expire(tag);
    this.freed(owner);
    this.wake();
  }

  redeliver(tag: number, changes?: PropertyChanges): void {
    const owner = this.ownerOf(tag);
    if (owner === undefined) return;
    owner.redeliver(tag, changes);
    this.freed(owner);
    this.wake();
  }

  release(tag: number, changes?: PropertyChanges): void {
    const owner = this.ownerOf(tag);
    if (owner === undefined) return;
    owner.release(tag, changes);
    this.freed(owner);
    this.wake();
  }

  refuse(tag: number, counted: boolean, changes?: PropertyChanges): void {
    const owner = this.ownerOf(tag);
    if (owner === undefined) return;
    owner.refuse(tag, counted, changes);
    this.freed(owner);
    this.wake();
  }

  /** Every member's queue is in the broker's one store, whose next sync covers every delete appended so far. */
  written(): Promise<void> | null {
    for (const member of this.members.values()) {
      const written = member.written();
      if (written !== null) return written;
    }
    return null;
  }

  extend(tag: number, ms?: number): boolean {
    for (const member of this.members.values()) if (member.holds(tag)) return member.extend(tag, ms);
    return false;
  }

  tagOf(messageId: string): number | undefined {
    // one message sent to two matching queues is in flight twice: the older delivery first
    let oldest: number | undefined;
    for (const member of this.members.values()) {
      const tag = member.tagOf(messageId);
      if (tag !== undefined && (oldest === undefined || tag < oldest)) oldest = tag;
    }
    return oldest;
  }

  wake(): void {
    if (this.starved.size === 0) return;
    const members = [...this.starved];
    this.starved.clear();
    for (const member of members) member.wake();
  }

  /** Takes no more messages, ahead of closing (see `Consumer.stop`). */
  stop(): void {
    this.stopped = true;
    for (const member of this.members.values()) member.stop();
  }

  /** See `ConsumerHandle.stopConsuming`: no queue made later is joined either. */
  stopConsuming(): void {
    this.stopped = true;
    this.unwatch();
    this.attaching = [];
    for (const member of this.members.values()) member.stopConsuming();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopped = true;
    this.unwatch();
    this.attaching = [];
    const members = [...this.members.values()];
    for (const member of members) member.stop();
    for (const member of members) {
      this.retire(member);
      member.close();
    }
    this.members.clear();
    this.keys.clear();
    this.starved.clear();
    this.onClose?.();
  }

  /**
   * A queue is announced as it is made: before a declared queue has its flags (an exclusive one its
   * owner), and in the middle of the send or declaration that makes it. Members are attached once
   * that is done, a microtask later; messages wait in the queue meanwhile.
   */
  private added(destination: Destination): void {
    if (!this.host.matches(destination)) return;
    if (this.attaching.push(destination) === 1) queueMicrotask(() => this.attachWaiting());
  }

  private removed(destination: Destination): void {
    if (destination.kind !== 'queue') return;
    const member = this.members.get(keyOf(destination));
    if (member === undefined) return;
    this.detach(member);
    member.close();
  }

  private attachWaiting(): void {
    const destinations = this.attaching;
    this.attaching = [];
    for (const destination of destinations) this.attach(destination);
  }

  private attach(destination: Destination): void {
    if (this.stopped) return;
    const key = keyOf(destination);
    const queue = destination.kind === 'queue' ? this.host.queue(destination.name) : undefined;
    if (destination.kind === 'queue' ? queue === undefined || queue.isDestroyed || this.members.get(key)?.queue === queue : this.members.has(key)) return;
    let member: Consumer | undefined;
    const outer = this.options.sink;
    const sink: DeliverySink = {
      deliver: (delivery) => outer.deliver(delivery),
      isWritable: () => outer.isWritable(),
      onWritable: (resume) => outer.onWritable(resume),
      hasCredit: () => {
        if (this.ledger.inFlight < this.prefetch && (outer.hasCredit === undefined || outer.hasCredit())) return true;
        if (member !== undefined) this.starved.add(member);
        return false;
      },
      // the queue is being deleted: its in-flight messages go with it
      cancelled: () => {
        if (member !== undefined) this.detach(member);
      },
      leaseExpired: (count) => {
        outer.leaseExpired?.(count);
        this.wake();
      },
    };
    const reinstated = outer.reinstated;
    if (reinstated !== undefined) sink.reinstated = (delivery) => reinstated.call(outer, delivery);
    try {
      member = queue === undefined ? this.host.subscriber(destination.name, sink, this.ledger) : this.host.member(queue, sink, this.ledger);
    } catch (err) {
      // a queue this subscriber may not consume from is left out, as ActiveMQ leaves it
      if (isFerryError(err)) return;
      throw err;
    }
    const attached = member;
    // a topic subscription ends with its consumer
    const ends = attached.onClose;
    attached.onClose = () => {
      ends?.();
      if (!this.closed) this.detach(attached);
    };
    this.members.set(key, attached);
    this.keys.set(attached, key);
  }

  private detach(member: Consumer): void {
    const key = this.keys.get(member);
    if (key === undefined || this.members.get(key) !== member) return;
    this.members.delete(key);
    this.keys.delete(member);
    this.starved.delete(member);
    for (const entry of member.inFlightEntries()) {
      this.gone.add(entry.tag);
      // the oldest first out: a Set iterates in insertion order
      if (this.gone.size > GONE_REMEMBERED) this.gone.delete(this.gone.values().next().value!);
    }
    this.retire(member);
  }

  private retire(member: Consumer): void {
    this.retired.delivered += member.delivered;
    this.retired.acknowledged += member.acknowledged;
  }

  /** The member that holds delivery `tag`; undefined when its queue was deleted since. */
  private ownerOf(tag: number): Consumer | undefined {
    if (this.closed) throw new FerryError('FERRY_CONSUMER_NOT_FOUND', 'the consumer is closed');
    // a scan: a wildcard consumer has a handful of members, and a map by tag would have to follow
    // every way a delivery leaves (cumulative acknowledgements, leases, deleted queues)
    for (const member of this.members.values()) if (member.owns(tag)) return member;
    if (this.gone.delete(tag)) return undefined;
    throw new FerryError('FERRY_DELIVERY_NOT_FOUND', `delivery ${tag} is not in flight to this consumer (already acknowledged, or never delivered)`);
  }

  /** Client mode: the acknowledgement covers every earlier delivery, whichever queue it came from. */
  private acknowledgeThrough(tag: number, owner: Consumer | undefined, tx: Transaction | undefined): void {
    // a delivery its lease took back is its queue's again: as for one consumer, this does nothing
    if (owner !== undefined && !owner.holds(tag)) return;
    for (const member of this.members.values()) {
      const before = member.inFlightCount;
      if (member === owner) member.acknowledgeOnly(tag, tx);
      else member.acknowledgeEarlier(tag, tx);
      if (member.inFlightCount < before) this.freed(member);
    }
    for (const t of this.gone) if (t < tag) this.gone.delete(t);
  }

  /** `member` made room in the shared prefetch: it goes to the back of the line `wake` serves. */
  private freed(member: Consumer): void {
    this.starved.delete(member);
    this.starved.add(member);
  }

  private transactionOf(txId: string | undefined): Transaction | undefined {
    return txId === undefined ? undefined : this.host.transaction(txId);
  }
}
