import { isExpired } from './message.js';
import type { QueueEntry } from './queue-entry.js';
import type { TimerHandle, TimerQueue } from './timers.js';
import type { QueueArguments } from './queue-arguments.js';

/**
 * The arguments a declared queue applies to its own messages (RabbitMQ's): a message TTL
 * (`x-message-ttl`), and a length (`x-max-length`, `x-max-length-bytes`) past which a publish is
 * refused (`x-overflow: reject-publish`) or the oldest waiting messages go (`drop-head`).
 */
export class DeclaredLimits {
  private messageTtl = -1;
  private maxLength = Number.POSITIVE_INFINITY;
  private maxLengthBytes = Number.POSITIVE_INFINITY;
  private overflow: NonNullable<QueueArguments['overflow']> = 'drop-head';

  set(args: QueueArguments): void {
    this.messageTtl = args.messageTtl ?? -1;
    this.maxLength = args.maxLength ?? Number.POSITIVE_INFINITY;
    this.maxLengthBytes = args.maxLengthBytes ?? Number.POSITIVE_INFINITY;
    this.overflow = args.overflow ?? 'drop-head';
  }

  get hasTtl(): boolean {
    return this.messageTtl >= 0;
  }

  /** The entry expires `x-message-ttl` after `from`, or at its own expiry when that comes first. */
  applyTtl(entry: QueueEntry, from: number): void {
    if (this.messageTtl < 0) return;
    const due = from + this.messageTtl;
    if (entry.expiresAt === 0 || due < entry.expiresAt) entry.expiresAt = due;
  }

  /**
   * `applyTtl` for a message arriving in the queue. One whose TTL is 0, the queue's `x-message-ttl`
   * or its own (`Message.deliverNowOrExpire`), goes to a consumer ready for it in the dispatch that
   * follows its arrival and expires only if none takes it then: RabbitMQ's documented replacement
   * for the `immediate` flag. A message whose own expiration had passed before it arrived is no
   * such message, and expires undelivered.
   */
  applyOnArrival(entry: QueueEntry, now: number): void {
    this.applyTtl(entry, now);
    const message = entry.message;
    if (!message.deliverNowOrExpire && (this.messageTtl !== 0 || isExpired(message, now))) return;
    entry.offeredOnArrival = true;
    // the arrival's own dispatch runs before this, in the same turn (`Router.place` and its callers)
    queueMicrotask(() => (entry.offeredOnArrival = false));
  }

  /**
   * A recovered entry expires when its reference says the TTL had it expire (`queueExpiry`, counted
   * from when it entered). A reference written before that was stored says 0: its TTL counts from
   * `now`, so it is never dropped sooner than it would have been, as the publisher's timestamp (any
   * time a client chose) would have it.
   */
  applyRecoveredTtl(entry: QueueEntry, queueExpiry: number, now: number): void {
    if (queueExpiry === 0) this.applyTtl(entry, now);
    else if (this.messageTtl >= 0 && (entry.expiresAt === 0 || queueExpiry < entry.expiresAt)) entry.expiresAt = queueExpiry;
  }

  /** True when a queue of `count` waiting messages and `bytes` refuses one of `adding` bytes rather than dropping its oldest. */
  refuses(count: number, bytes: number, adding: number): boolean {
    if (this.overflow === 'drop-head') return false;
    return count >= this.maxLength || bytes + adding > this.maxLengthBytes;
  }

  /** True when `count` waiting messages of `bytes` are past the length, which drop-head brings back by dropping the oldest. */
  over(count: number, bytes: number): boolean {
    return count > this.maxLength || bytes > this.maxLengthBytes;
  }

  get dropsHead(): boolean {
    return this.overflow === 'drop-head';
  }
}

/**
 * A queue with a message TTL expires its messages when they come due, not at the next periodic
 * sweep (RabbitMQ's TTL-then-dead-letter queues are used as delays): one timer per queue, for the
 * earliest expiry it has seen, moved on to the next after each firing.
 */
export class ExpiryTimer {
  private timer: TimerHandle | undefined;
  private due = Number.POSITIVE_INFINITY;

  /** `sweep` takes the expired messages away and says when the next one expires, if one does. */
  constructor(
    private readonly timers: TimerQueue,
    private readonly sweep: () => number | undefined,
  ) {}

  /** Fires at `due`, unless it fires sooner already. */
  armFor(due: number): void {
    if (due >= this.due) return;
    if (this.timer !== undefined) this.timers.cancel(this.timer);
    this.due = due;
    this.timer = this.timers.at(due, () => {
      this.timer = undefined;
      this.due = Number.POSITIVE_INFINITY;
      const next = this.sweep();
      if (next !== undefined) this.armFor(next);
    });
  }
}
