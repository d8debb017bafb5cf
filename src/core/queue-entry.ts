import type { Message, PropertyValue } from './message.js';
import type { Delivery } from './sink.js';

/** A persistent message as stored once and referenced from every queue it waits in. */
export interface StoredMessage {
  readonly recordId: number;
  references: number;
  /** Told once consumers have acknowledged it in every queue that stored it (see `Persistence.durableOrConsumed`). */
  whenConsumed?: (() => void) | undefined;
}

/** The queue an entry belongs to, as the broker reaches it through an entry (MessageQueue is the one there is). */
export interface EntryQueue {
  readonly name: string;
  acknowledge(entry: QueueEntry, txId?: number): void;
  /** `acknowledge` for a consumer's acknowledgement: the message was delivered and is done with. */
  consume(entry: QueueEntry, txId?: number): void;
  deadLetter(entry: QueueEntry, reason: string): void;
  giveBack(entries: Iterable<QueueEntry>, counted?: boolean, limited?: boolean): void;
}

/**
 * The broker's property (`Message.brokerProperties`) on a dead-letter copy: how many times the
 * broker redelivered the message before it was dead-lettered (the rejection that sent it not counted). Its deliveries from the dead-letter queue
 * count on from there, as ActiveMQ's copy keeps its redeliveryCounter, while that queue's own
 * maximum redeliveries counts only the failures there (so the copy gets its full tries there).
 */
export const DELIVERIES_PROPERTY = 'FerryDeliveries';

/** The message's broker properties without `DELIVERIES_PROPERTY`. */
export function withoutDeliveries(message: Message): ReadonlyMap<string, PropertyValue> | undefined {
  if (message.brokerProperties?.has(DELIVERIES_PROPERTY) !== true) return message.brokerProperties;
  const kept = new Map(message.brokerProperties);
  kept.delete(DELIVERIES_PROPERTY);
  return kept.size === 0 ? undefined : kept;
}

/** The deliveries a message had in queues it was in before, as its dead-letter copy says. */
function deliveriesBefore(message: Message): number {
  const value = message.brokerProperties?.get(DELIVERIES_PROPERTY);
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : 0;
}

/**
 * One message waiting in one queue (or durable subscription): the per-queue state of a message that
 * may be shared by many queues. It is also the Delivery handed to a sink, so a delivery allocates
 * nothing more.
 */
export class QueueEntry implements Delivery {
  /** The consumer it is in flight to, or null while it waits in the queue. */
  consumer: { readonly id: number } | null = null;
  tag = 0;
  /** Deliveries made from this queue before this one that failed (the redelivery policy counts these); kept in the store when it changes. */
  redeliveries: number;
  /**
   * Deliveries made from this queue before this one that came back because the broker stopped or
   * crashed while they were out: no failure of the consumer's, so they make the message redelivered
   * and count in its delivery count, but never bring it nearer its maximum redeliveries.
   */
  returns: number;
  /** Deliveries of the message in queues it was in before (`DELIVERIES_PROPERTY`). */
  readonly deliveriesBefore: number;
  /** Set once a consumer has taken it (in memory only: a message given back uncounted and then restarted reads as never taken). */
  taken = false;
  /** Store record of this reference, 0 when not persisted. */
  referenceId = 0;
  /** A retained message given to a new subscription, not one routed to it. */
  retained = false;
  /** Consumed, expired or dead-lettered: it has left its queue for good (a browser skips it). */
  gone = false;
  /** Consumers that will not take it (see `ConsumerHandle.refuse`): it is not dispatched to them again. */
  refusedBy: number[] | undefined = undefined;
  /** The tags of an overlap group's subscriptions the message matched, when more than one (see `OverlapMember`). */
  matched: readonly number[] | undefined = undefined;
  /** When it expires here, 0 for never: the message's own expiration, or earlier by its queue's message TTL. */
  expiresAt: number;

  constructor(
    readonly queue: EntryQueue,
    /** Replaced, with `stored`, only by an amended copy while it is in flight (see `Persistence.replaceMessage`). */
    public message: Message,
    readonly seq: number,
    public stored: StoredMessage | null,
    redeliveries = 0,
    returns = 0,
  ) {
    this.redeliveries = redeliveries;
    this.returns = returns;
    this.deliveriesBefore = deliveriesBefore(message);
    this.expiresAt = message.expiration;
  }

  get deliveryCount(): number {
    return this.deliveriesBefore + this.redeliveries + this.returns + 1;
  }

  get redelivered(): boolean {
    return this.deliveriesBefore + this.redeliveries + this.returns > 0;
  }

  get firstAcquirer(): boolean {
    return !this.taken && !this.redelivered;
  }

  /**
   * Its TTL is 0 and the dispatch of its arrival is not over (see `DeclaredLimits.applyOnArrival`):
   * it may go to a ready consumer, and is not expired yet. It need not wait for the queue's delivery
   * mark either: read back after a crash it is expired, so it never comes back as a first delivery.
   */
  offeredOnArrival = false;

  /** True once its time here has run out at `now`. */
  expiredAt(now: number): boolean {
    return this.expiresAt !== 0 && this.expiresAt <= now && !this.offeredOnArrival;
  }
}

/** Gives entries back to their queues, each queue's in one call (see `EntryQueue.giveBack`). */
export function giveBackToQueues(entries: readonly QueueEntry[]): void {
  const byQueue = new Map<EntryQueue, QueueEntry[]>();
  for (const entry of entries) {
    let list = byQueue.get(entry.queue);
    if (list === undefined) byQueue.set(entry.queue, (list = []));
    list.push(entry);
  }
  for (const [queue, list] of byQueue) queue.giveBack(list);
}
