import { EntryList } from './entry-list.js';
import { isExpired, type Message } from './message.js';
import type { Persistence } from './persistence.js';
import { QueueEntry, type StoredMessage } from './queue-entry.js';
import type { Consumer } from './consumer.js';

export interface QueueStats {
  readonly name: string;
  readonly pending: number;
  readonly inFlight: number;
  readonly consumers: number;
  readonly enqueued: number;
  readonly dequeued: number;
  readonly expired: number;
}

/**
 * Messages waiting for competing consumers: a queue destination, or the private queue of one topic
 * subscription (durable or not). Each message goes to one consumer; consumers with room take turns.
 *
 * Invariant: an entry is in exactly one place: `pending`, one consumer's in-flight map, or one
 * transaction's acknowledgements.
 */
export class MessageQueue {
  private readonly pending = new EntryList<QueueEntry>();
  private readonly consumers: Consumer[] = [];
  private nextConsumer = 0;
  private nextSeq: number;
  private dispatching = false;
  private dispatchAgain = false;
  private enqueued = 0;
  private dequeued = 0;
  private expired = 0;
  inFlight = 0;

  constructor(
    readonly name: string,
    /** Store record of this queue, 0 when its messages are never persisted (non-durable subscriptions). */
    readonly recordId: number,
    private readonly persistence: Persistence,
    private readonly clock: () => number,
    firstSeq = 1,
  ) {
    this.nextSeq = firstSeq;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  get hasConsumers(): boolean {
    return this.consumers.length > 0;
  }

  /** Places a routed message in this queue, writing its reference when both are persistent. */
  accept(message: Message, stored: StoredMessage | null, txId: number | undefined, dispatchNow: boolean): void {
    const persisted = stored !== null && this.recordId !== 0;
    const entry = new QueueEntry(this, message, this.nextSeq++, persisted ? stored : null);
    if (persisted) this.persistence.addReference(this.recordId, entry, txId);
    this.enqueued++;
    this.pending.push(entry);
    if (dispatchNow) this.dispatch();
  }

  /** Puts back an entry recovered from the store. */
  recover(message: Message, stored: StoredMessage, seq: number, redeliveries: number, referenceId: number): void {
    const entry = new QueueEntry(this, message, seq, stored, redeliveries);
    entry.referenceId = referenceId;
    stored.references++;
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    this.pending.push(entry);
  }

  /** Entries come back from a consumer that left or a transaction that rolled back: redelivered, in their old place. */
  giveBack(entries: Iterable<QueueEntry>): void {
    for (const entry of entries) {
      entry.consumer = null;
      entry.redeliveries++;
      this.persistence.updateDeliveryCount(this.recordId, entry);
      this.pending.push(entry);
    }
    this.dispatch();
  }

  /** The entry is consumed: its reference leaves the store (inside `txId` when given). */
  acknowledge(entry: QueueEntry, txId?: number): void {
    this.persistence.removeReference(entry, txId);
    this.dequeued++;
  }

  addConsumer(consumer: Consumer): void {
    this.consumers.push(consumer);
    // exclusive first, then higher priority; the sort is stable, so among equals the earliest wins
    this.consumers.sort((a, b) => Number(b.exclusive) - Number(a.exclusive) || b.priority - a.priority);
    // not before the adapter has recorded the consumer and answered the subscribe
    queueMicrotask(() => this.dispatch());
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i >= 0) this.consumers.splice(i, 1);
    if (this.nextConsumer >= this.consumers.length) this.nextConsumer = 0;
  }

  /** Drops every waiting message (not those in flight); returns how many. */
  purge(): number {
    const removed = this.pending.removeWhere(() => true);
    for (const entry of removed) this.acknowledge(entry);
    return removed.length;
  }

  /** Drops everything, in flight too: the queue is being deleted. */
  destroy(): void {
    this.purge();
    for (const consumer of [...this.consumers]) consumer.close();
  }

  stats(): QueueStats {
    return {
      name: this.name,
      pending: this.pending.length,
      inFlight: this.inFlight,
      consumers: this.consumers.length,
      enqueued: this.enqueued,
      dequeued: this.dequeued,
      expired: this.expired,
    };
  }

  /** Hands waiting messages to consumers with room, until either runs out. Safe to call re-entrantly. */
  dispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    if (this.pending.length === 0 || this.consumers.length === 0) return;
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        const now = this.clock();
        while (this.pending.length > 0) {
          const consumer = this.readyConsumer();
          if (consumer === null) break;
          const entry = this.pending.shift()!;
          if (isExpired(entry.message, now)) {
            this.expired++;
            this.acknowledge(entry);
            continue;
          }
          consumer.take(entry);
        }
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  /**
   * Round robin among the consumers of the highest priority that have room; lower priorities get
   * messages only while every higher one is full. An exclusive consumer takes everything.
   */
  private readyConsumer(): Consumer | null {
    const consumers = this.consumers;
    const n = consumers.length;
    if (n === 0) return null;
    const first = consumers[0]!;
    if (first.exclusive) return first.ready() ? first : null;
    let start = 0;
    while (start < n) {
      const priority = consumers[start]!.priority;
      let end = start + 1;
      while (end < n && consumers[end]!.priority === priority) end++;
      const size = end - start;
      for (let i = 0; i < size; i++) {
        const offset = (this.nextConsumer + i) % size;
        const consumer = consumers[start + offset]!;
        if (consumer.ready()) {
          this.nextConsumer = offset + 1;
          return consumer;
        }
      }
      start = end;
    }
    return null;
  }
}
