import type { TimerHandle, TimerQueue } from './timers.js';

/** What a topic subscription over its pending-message limit does (`DestinationPolicy.slowConsumerPolicy`). */
export type SlowConsumerPolicy = 'notify' | 'abort' | 'evict-oldest';

/** What the broker does for a subscription's guard. */
export interface SlowConsumerHost {
  readonly timers: TimerQueue;
  readonly clock: () => number;
  /** The subscription went over its limit (`notify` and `abort`: once per spell over it). */
  slow(action: 'notify' | 'abort'): void;
  /** Drops the oldest waiting message; false when there is none to drop. */
  evictOldest(): boolean;
}

/**
 * Keeps a non-durable topic subscription's backlog bounded (a subscriber that stops reading must
 * cost its own subscription, not the broker's memory): past `limit` waiting messages, `notify`
 * says so once per spell over the limit, `abort` gives the subscriber `grace` ms to catch up and
 * then has its connection closed (as nats-server does with a slow consumer), `evict-oldest` drops
 * the oldest waiting messages so the subscription keeps the newest `limit`, persistent ones too, as
 * ActiveMQ does: a non-durable subscription's copy of a message is not durable for its subscriber.
 * A spell ends when the backlog falls to half the limit.
 */
export class SlowConsumerGuard {
  private over = false;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly limit: number,
    private readonly policy: SlowConsumerPolicy,
    private readonly grace: number,
    private readonly host: SlowConsumerHost,
  ) {}

  /** After a message joined the backlog of `pending` waiting messages. */
  added(pending: number): void {
    if (pending <= this.limit) return;
    if (this.policy === 'evict-oldest') {
      while (pending-- > this.limit && this.host.evictOldest());
      return;
    }
    if (this.over) return;
    this.over = true;
    this.host.slow('notify');
    if (this.policy === 'abort') {
      this.timer = this.host.timers.at(this.host.clock() + this.grace, () => {
        this.timer = undefined;
        if (this.over) this.host.slow('abort');
      });
    }
  }

  /** After messages left the backlog, which now holds `pending`. */
  removed(pending: number): void {
    if (!this.over || pending > this.limit / 2) return;
    this.over = false;
    if (this.timer !== undefined) this.host.timers.cancel(this.timer);
    this.timer = undefined;
  }

  stop(): void {
    if (this.timer !== undefined) this.host.timers.cancel(this.timer);
    this.timer = undefined;
  }
}
