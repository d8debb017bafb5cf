import { FerryError } from '../errors.js';
import { DeliveryLeases } from './delivery-lease.js';
import type { MessageQueue } from './message-queue.js';
import type { QueueConsumer } from './queue-types.js';
import type { QueueEntry } from './queue-entry.js';
import type { PropertyChanges } from './message.js';
import type { Selector } from './selector/index.js';
import type { DeliverySink } from './sink.js';
import type { HeldDeliveries, Transaction } from './transaction.js';

/**
 * auto: a message counts as consumed once handed to the sink.
 * client: an acknowledgement covers every earlier delivery to this consumer too (cumulative).
 * individual: an acknowledgement covers exactly one delivery.
 */
export type AckMode = 'auto' | 'client' | 'individual';

export interface ConsumerSettings {
  readonly prefetch: number;
  readonly ackMode: AckMode;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly noLocal: boolean;
  /** Applied at dispatch on a queue; a topic subscription's selector is applied when routing instead. */
  readonly selector: Selector | undefined;
  /** Counts each delivery as one of its connection's messages out (operators' figures). */
  readonly delivered?: { count(): void } | undefined;
  /** This consumer's own deliveries per second, for operators. */
  readonly deliveryRate?: { count(): void; rate(): number } | undefined;
  /** ms a delivery may stay unacknowledged before it returns to the queue; 0 never; the queue's policy's `ackTimeout` when absent. */
  readonly ackTimeout?: number | undefined;
  /** Shared by the consumers of one wildcard queue consumer; the consumer's own when absent. */
  readonly ledger?: DeliveryLedger | undefined;
  /** See `SubscribeOptions.exemptFromMaxRedeliveries`. */
  readonly exemptFromMaxRedeliveries?: boolean | undefined;
}

/**
 * Delivery tags given out and deliveries in flight. The consumers of one wildcard queue consumer
 * share one, so that a tag names one delivery across all of them and one prefetch bounds them all.
 * Tags only increase, so an in-flight map iterates in tag order.
 */
export interface DeliveryLedger {
  nextTag: number;
  inFlight: number;
}

/**
 * One consumer on one queue (for a topic, on its subscription's queue). Tracks what is in flight to
 * it; when it closes, what it had not acknowledged goes back to the queue as redelivered.
 */
export class Consumer implements QueueConsumer, HeldDeliveries {
  private readonly inFlight = new Map<number, QueueEntry>();
  /** Deliveries a transaction took from `inFlight`, acknowledged or rejected, and has not ended yet. */
  private heldByTransactions = 0;
  private readonly ledger: DeliveryLedger;
  private waitingForWritable = false;
  private closed = false;
  private stopped = false;
  /** Most deliveries in flight at once; `setPrefetch` changes it while the consumer runs. */
  prefetch: number;
  readonly ackMode: AckMode;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly selector: Selector | undefined;
  /** Messages handed to the sink, and those of them consumed, for operators. */
  delivered = 0;
  acknowledged = 0;
  /** Runs once when the consumer closes, for whoever opened it (to drop a non-durable subscription). */
  onClose: (() => void) | undefined;
  /** Deliveries whose lease ran out and were taken back, for operators. */
  leasesExpired = 0;
  /** It took over another consumer's deliveries in flight (`handOver`). */
  tookOver = false;
  private readonly leases: DeliveryLeases | undefined;

  constructor(
    readonly id: number,
    readonly connectionId: string,
    readonly queue: MessageQueue,
    private readonly sink: DeliverySink,
    readonly settings: ConsumerSettings,
  ) {
    this.prefetch = Math.max(1, settings.prefetch);
    this.ackMode = settings.ackMode;
    this.exclusive = settings.exclusive;
    this.priority = settings.priority;
    this.selector = settings.selector;
    this.ledger = settings.ledger ?? { nextTag: 1, inFlight: 0 };
    const timeout = settings.ackTimeout ?? queue.policy.ackTimeout;
    if (timeout > 0 && this.ackMode !== 'auto') {
      this.leases = new DeliveryLeases(timeout, queue.environment.timers, queue.environment.clock, (tags) => this.leasesRanOut(tags));
    }
  }

  /**
   * Asks for more time on a delivery the client is still working on: its lease runs `ms` from now
   * (the consumer's time-out when not given). False when the consumer has no time-out or the
   * delivery is no longer in flight.
   */
  extend(tag: number, ms?: number): boolean {
    return this.leases?.extend(tag, ms) ?? false;
  }

  /** Deliveries not acknowledged in time go back to the queue as counted redeliveries. */
  private leasesRanOut(tags: readonly number[]): void {
    const entries: QueueEntry[] = [];
    for (const tag of tags) {
      const entry = this.inFlight.get(tag);
      if (entry === undefined) continue;
      this.inFlight.delete(tag);
      entry.consumer = null;
      entries.push(entry);
    }
    this.countInFlight(-entries.length);
    this.leasesExpired += entries.length;
    this.sink.leaseExpired?.(entries.length);
    this.queue.giveBack(entries, true);
  }

  /** True when this consumer's selector (if any) takes the entry, and it has not refused it. */
  accepts(entry: QueueEntry): boolean {
    if (entry.refusedBy !== undefined && entry.refusedBy.includes(this.id)) return false;
    return this.selector === undefined || this.selector.matches(entry.message, { deliveryCount: entry.deliveryCount });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Its deliveries in flight and those an open transaction holds acknowledged or rejected: what
   * operators see in flight, as ActiveMQ counts them until the commit. The prefetch counts only
   * `inFlightCount`: an acknowledgement in a transaction frees its room at once.
   */
  get unsettledCount(): number {
    return this.inFlight.size + this.heldByTransactions;
  }

  /** Deliveries an open transaction holds for it, for operators (see `unsettledCount`). */
  get heldCount(): number {
    return this.heldByTransactions;
  }

  /**
   * Takes no more messages, ahead of closing: a connection stops all its consumers before any
   * returns its messages, so none of them lands on a sibling that is about to go too.
   */
  stop(): void {
    this.stopped = true;
  }

  /** See `ConsumerHandle.stopConsuming`. */
  stopConsuming(): void {
    if (this.closed) return;
    this.stopped = true;
    this.queue.removeConsumer(this);
  }

  /** True when the consumer can take one more message now; if only its socket is full, asks to be woken. */
  ready(): boolean {
    if (this.stopped || this.inFlight.size >= this.prefetch) return false;
    if (this.sink.hasCredit !== undefined && !this.sink.hasCredit()) return false;
    if (this.sink.isWritable()) return true;
    if (!this.waitingForWritable) {
      this.waitingForWritable = true;
      this.sink.onWritable(() => {
        this.waitingForWritable = false;
        this.queue.dispatch();
      });
    }
    return false;
  }

  /**
   * Called by the queue with an entry this consumer is ready for. A message the consumer's protocol
   * cannot put into its terms, which its encoder should never let happen, goes to the dead-letter
   * queue: thrown here, in the middle of some producer's send or a timer, it would take down a
   * bystander's connection, or the broker, and the message at the head of the queue would do it again.
   */
  take(entry: QueueEntry): void {
    entry.tag = this.ledger.nextTag++;
    this.delivered++;
    this.settings.delivered?.count();
    this.settings.deliveryRate?.count();
    if (this.ackMode === 'auto') {
      try {
        this.sink.deliver(entry);
      } catch (err) {
        return this.undeliverable(entry, err);
      }
      this.queue.consume(entry);
      this.acknowledged++;
      return;
    }
    entry.consumer = this;
    this.inFlight.set(entry.tag, entry);
    this.countInFlight(1);
    this.leases?.started(entry.tag);
    try {
      this.sink.deliver(entry);
    } catch (err) {
      this.undeliverable(this.removeOneInFlight(entry.tag), err);
    }
    // after the delivery, which was the first acquirer if none had taken the message before
    entry.taken = true;
  }

  private undeliverable(entry: QueueEntry, err: unknown): void {
    this.queue.environment.undeliverable?.(this.queue, entry, err);
    this.queue.deadLetter(entry, `its consumer's protocol could not carry it: ${err instanceof Error ? err.message : String(err)}`);
  }

  /**
   * Takes no more messages and gives its deliveries in flight to `successor`, a new consumer on the
   * same queue, under the same tags (see `SubscribeOptions.replaces`). The caller then adds the
   * successor to the queue and closes this one, which has nothing left to give back.
   */
  handOver(successor: Consumer): void {
    if (successor.queue !== this.queue || successor.inFlight.size > 0) throw new Error('a consumer hands over only to a new consumer on its own queue');
    this.stop();
    // the successor's tags go on after the ones it takes, so its in-flight map stays in tag order
    successor.ledger.nextTag = Math.max(successor.ledger.nextTag, this.ledger.nextTag);
    for (const [tag, entry] of this.inFlight) {
      this.leases?.ended(tag);
      entry.consumer = successor;
      successor.inFlight.set(tag, entry);
      successor.leases?.started(tag);
    }
    const moved = this.inFlight.size;
    this.inFlight.clear();
    this.countInFlight(-moved);
    successor.countInFlight(moved);
    successor.tookOver = true;
  }

  /** The protocol has more credit for this consumer (for example an AMQP flow frame). */
  wake(): void {
    this.queue.dispatch();
  }

  /** See `ConsumerHandle.setPrefetch`. */
  setPrefetch(count: number): void {
    this.prefetch = Math.max(1, count);
  }

  /**
   * Acknowledges the delivery `tag` (and, in client mode, every earlier one). Inside a transaction
   * the entries are held by it until commit, and this consumer's prefetch is freed at once, as
   * ActiveMQ does, so a transacted consumer with a small prefetch can go on receiving.
   */
  acknowledge(tag: number, transaction?: Transaction): void {
    this.acknowledgeOnly(tag, transaction);
    this.queue.dispatch();
  }

  /**
   * `acknowledge` without the dispatch that follows it, for a protocol that acknowledges a batch
   * (an MQTT read of many PUBACKs) and then calls `wake` once: one dispatch of many messages
   * instead of many dispatches of one.
   */
  acknowledgeOnly(tag: number, transaction?: Transaction): void {
    if (this.leases?.wasExpired(tag) === true) return;
    if (this.ackMode !== 'client' && transaction === undefined) {
      // one delivery, the common case: no array for it
      this.queue.consume(this.removeOneInFlight(tag));
      this.acknowledged++;
      return;
    }
    this.consumeAll(this.removeInFlight(tag, this.ackMode === 'client'), transaction);
  }

  /**
   * Client mode across the consumers of one wildcard queue consumer: an acknowledgement of `tag`,
   * made to a sibling, covers every delivery of this consumer with an earlier tag too.
   */
  acknowledgeEarlier(tag: number, transaction?: Transaction): void {
    this.consumeAll(this.removeThrough(tag), transaction);
  }

  private consumeAll(entries: readonly QueueEntry[], transaction: Transaction | undefined): void {
    this.acknowledged += entries.length;
    for (const entry of entries) {
      if (transaction === undefined) this.queue.consume(entry);
      else {
        transaction.holdAcknowledged(entry, this.keeper(), this);
        this.held();
      }
    }
  }

  /** A transaction holds one of its deliveries: on its queue's count in flight until it ends. */
  private held(): void {
    this.heldByTransactions++;
    this.queue.inFlight++;
  }

  /** See `HeldDeliveries.released`. */
  released(): void {
    this.heldByTransactions--;
    this.queue.inFlight--;
  }

  /** This consumer, to a transaction, when its sink takes rolled-back deliveries back (`DeliverySink.reinstated`). */
  private keeper(): Consumer | undefined {
    return this.sink.reinstated === undefined ? undefined : this;
  }

  /**
   * A delivery of this consumer that a transaction acknowledged or rejected, and has rolled back, is
   * in flight to it again, under its tag, as it was before the acknowledgement (see
   * `DeliverySink.reinstated`). False once the consumer or its queue is gone.
   */
  reinstate(entry: QueueEntry): boolean {
    if (this.closed || this.queue.isDestroyed) return false;
    entry.consumer = this;
    // the map stays in tag order: the deliveries made since this one go after it again
    const later: [number, QueueEntry][] = [];
    for (const [tag, held] of this.inFlight) if (tag > entry.tag) later.push([tag, held]);
    for (const [tag] of later) this.inFlight.delete(tag);
    this.inFlight.set(entry.tag, entry);
    for (const [tag, held] of later) this.inFlight.set(tag, held);
    this.countInFlight(1);
    this.leases?.started(entry.tag);
    this.sink.reinstated?.(entry);
    return true;
  }

  /** True when delivery `tag` is in flight to this consumer. */
  holds(tag: number): boolean {
    return this.inFlight.has(tag);
  }

  /** True when delivery `tag` was this consumer's: in flight, or taken back when its lease ran out. */
  owns(tag: number): boolean {
    return this.inFlight.has(tag) || this.leases?.wasExpired(tag) === true;
  }

  /**
   * The client refuses the delivery as poison (STOMP NACK, AMQP rejected): it goes to the
   * dead-letter queue, as ActiveMQ does; inside a transaction, when that commits.
   */
  reject(tag: number, transaction?: Transaction, reason?: string): void {
    this.rejectOnly(tag, transaction, reason);
    this.queue.dispatch();
  }

  /** `reject` without the dispatch that follows it (see `acknowledgeOnly`). */
  rejectOnly(tag: number, transaction?: Transaction, reason = 'rejected by the consumer'): void {
    // a delivery taken back for its lease is the queue's again: a late verdict on it has nothing to do
    if (this.leases?.wasExpired(tag) === true) return;
    const entries = this.removeInFlight(tag, false);
    if (transaction !== undefined) {
      for (const entry of entries) {
        transaction.holdRejected(entry, reason, this.keeper(), this);
        this.held();
      }
      return;
    }
    for (const entry of entries) this.queue.deadLetter(entry, reason);
  }

  /** See `ConsumerHandle.expire`. */
  expire(tag: number): void {
    if (this.leases?.wasExpired(tag) === true) return;
    this.queue.expire(this.removeOneInFlight(tag));
    this.queue.dispatch();
  }

  /** See `ConsumerHandle.written`: the store's next sync covers every delete appended so far. */
  written(): Promise<void> | null {
    return this.queue.written();
  }

  /**
   * The delivery failed and may be tried again (AMQP modified with delivery-failed): it returns as
   * a counted redelivery, subject to the redelivery policy's delay and maximum.
   */
  redeliver(tag: number, changes?: PropertyChanges): void {
    if (this.leases?.wasExpired(tag) === true) return;
    this.queue.giveBack(this.amended(this.removeInFlight(tag, false), changes), true);
  }

  /**
   * The client will not take this message here (AMQP modified with undeliverable-here): it returns
   * to the queue for the other consumers and is never dispatched to this one again; `counted`
   * when the delivery also failed.
   */
  refuse(tag: number, counted: boolean, changes?: PropertyChanges): void {
    if (this.leases?.wasExpired(tag) === true) return;
    const entries = this.amended(this.removeInFlight(tag, false), changes);
    for (const entry of entries) (entry.refusedBy ??= []).push(this.id);
    this.queue.giveBack(entries, counted);
  }

  /**
   * The client gives the delivery back untouched (AMQP released): it returns to the queue without
   * counting as a delivery attempt.
   */
  release(tag: number, changes?: PropertyChanges): void {
    if (this.leases?.wasExpired(tag) === true) return;
    this.queue.giveBack(this.amended(this.removeInFlight(tag, false), changes), false);
  }

  /** Entries handed back, with the client's changes to their messages applied (before a giveBack may dead-letter them). */
  private amended(entries: QueueEntry[], changes: PropertyChanges | undefined): QueueEntry[] {
    if (changes !== undefined && changes.size > 0) for (const entry of entries) this.queue.amend(entry, changes);
    return entries;
  }

  inFlightEntries(): IterableIterator<QueueEntry> {
    return this.inFlight.values();
  }

  /** The tag of the oldest in-flight delivery of message `messageId`, for protocols that acknowledge by message id. */
  tagOf(messageId: string, newest = false): number | undefined {
    let tag: number | undefined;
    for (const entry of this.inFlight.values()) {
      if (entry.message.id !== messageId) continue;
      if (!newest) return entry.tag;
      tag = entry.tag;
    }
    return tag;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopped = true;
    this.leases?.clear();
    this.queue.removeConsumer(this);
    const entries = [...this.inFlight.values()];
    this.inFlight.clear();
    this.countInFlight(-entries.length);
    this.queue.giveBack(entries, true, this.settings.exemptFromMaxRedeliveries !== true);
    this.onClose?.();
  }

  cancel(reason: string): void {
    if (this.closed) return;
    this.sink.cancelled?.(reason);
    this.close();
  }

  private countInFlight(n: number): void {
    this.queue.inFlight += n;
    this.ledger.inFlight += n;
  }

  private removeOneInFlight(tag: number): QueueEntry {
    const entry = this.inFlightEntry(tag);
    this.inFlight.delete(tag);
    this.leases?.ended(tag);
    this.countInFlight(-1);
    entry.consumer = null;
    return entry;
  }

  private removeInFlight(tag: number, cumulative: boolean): QueueEntry[] {
    if (!cumulative) return [this.removeOneInFlight(tag)];
    this.inFlightEntry(tag);
    return this.removeThrough(tag);
  }

  /** Every delivery in flight with a tag up to `tag`, taken out of the in-flight map. */
  private removeThrough(tag: number): QueueEntry[] {
    const entries: QueueEntry[] = [];
    for (const [t, entry] of this.inFlight) {
      if (t > tag) break;
      entries.push(entry);
      this.inFlight.delete(t);
      this.leases?.ended(t);
    }
    this.countInFlight(-entries.length);
    for (const entry of entries) entry.consumer = null;
    return entries;
  }

  private inFlightEntry(tag: number): QueueEntry {
    if (this.closed) throw new FerryError('FERRY_CONSUMER_NOT_FOUND', 'the consumer is closed');
    const entry = this.inFlight.get(tag);
    if (entry === undefined) {
      throw new FerryError('FERRY_DELIVERY_NOT_FOUND', `delivery ${tag} is not in flight to this consumer (already acknowledged, or never delivered)`);
    }
    return entry;
  }
}
