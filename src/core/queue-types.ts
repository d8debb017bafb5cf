import type { QueueEntry } from './queue-entry.js';
import type { Selector } from './selector/index.js';

/**
 * How many waiting messages a purge or a delete dropped: known at once, or, for a queue still
 * loading from a store that has not yet counted what it holds for it, once it has.
 */
export type DroppedCount = number | Promise<number>;

export interface QueueStats {
  readonly name: string;
  readonly pending: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly consumers: number;
  readonly enqueued: number;
  readonly dequeued: number;
  /** Messages that expired here, whether they then moved to a dead-letter queue or were dropped. */
  readonly expired: number;
  /** Rejected messages and messages past their maximum redeliveries that moved to a dead-letter queue. */
  readonly deadLettered: number;
  /**
   * Rejected messages and messages past their maximum redeliveries that were dropped instead:
   * non-persistent ones (unless the policy dead-letters them), temporary ones, and those failing in
   * a dead-letter queue itself.
   */
  readonly discarded: number;
  /** Present while recovery is still putting the queue's stored messages back (those it knows of are counted in `pending`); nothing is delivered until it is done. */
  readonly loading?: true;
}

/** A consumer as its queue sees it (Consumer, in consumer.ts, is the one there is). */
export interface QueueConsumer {
  /** The core connection it belongs to. */
  readonly connectionId: string;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly selector: Selector | undefined;
  readonly isClosed: boolean;
  /** True when it can take one more message now; if only its socket is full, it asks to be woken. */
  ready(): boolean;
  /** True when its selector (if any) takes the entry. */
  accepts(entry: QueueEntry): boolean;
  /** Hands it an entry it is ready for. */
  take(entry: QueueEntry): void;
  inFlightEntries(): IterableIterator<QueueEntry>;
  close(): void;
  /** Closed by the broker (its queue is deleted): the sink hears why, then it closes. */
  cancel(reason: string): void;
}
