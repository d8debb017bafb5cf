import type { TimerHandle, TimerQueue } from './timers.js';

/** Expired tags remembered, so a late acknowledgement of one is recognised rather than refused. */
const REMEMBERED = 1024;

/**
 * The acknowledgement time-outs of one consumer's deliveries (its delivery leases). A delivery not
 * acknowledged within the time-out is taken back (`expire`) and returns to its queue as a counted
 * redelivery, for whichever consumer is ready; a consumer still working on one extends it. One
 * timer per consumer, set for the earliest deadline: deliveries are bounded by the prefetch, so
 * finding the next deadline is a walk of at most that many.
 */
export class DeliveryLeases {
  private readonly deadlines = new Map<number, number>();
  private timer: TimerHandle | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private readonly expired = new Set<number>();

  constructor(
    /** ms a delivery may stay unacknowledged. */
    readonly timeout: number,
    private readonly timers: TimerQueue,
    private readonly clock: () => number,
    private readonly expire: (tags: readonly number[]) => void,
  ) {}

  /** A delivery went out: its lease starts. */
  started(tag: number): void {
    this.deadlines.set(tag, this.clock() + this.timeout);
    if (this.timer === undefined) this.arm();
  }

  /** The delivery was settled (acknowledged, rejected, released): its lease ends. */
  ended(tag: number): void {
    this.deadlines.delete(tag);
  }

  /**
   * The consumer asks for `ms` more (the consumer's time-out when not given), counted from now.
   * False when the delivery holds no lease (settled, or already expired).
   */
  extend(tag: number, ms = this.timeout): boolean {
    if (!this.deadlines.has(tag)) return false;
    const due = this.clock() + ms;
    this.deadlines.set(tag, due);
    if (due < this.timerDue) this.arm();
    return true;
  }

  /** True when `tag`'s lease ran out and the delivery was taken back: a late settlement of it has nothing to do. */
  wasExpired(tag: number): boolean {
    return this.expired.has(tag);
  }

  clear(): void {
    this.deadlines.clear();
    if (this.timer !== undefined) this.timers.cancel(this.timer);
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    if (this.timer !== undefined) this.timers.cancel(this.timer);
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    let earliest = Number.POSITIVE_INFINITY;
    for (const due of this.deadlines.values()) if (due < earliest) earliest = due;
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.timerDue = earliest;
    this.timer = this.timers.at(earliest, () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    const now = this.clock();
    const due: number[] = [];
    for (const [tag, deadline] of this.deadlines) if (deadline <= now) due.push(tag);
    for (const tag of due) {
      this.deadlines.delete(tag);
      this.expired.add(tag);
      // the oldest first out: a Set iterates in insertion order
      if (this.expired.size > REMEMBERED) this.expired.delete(this.expired.values().next().value!);
    }
    if (due.length > 0) this.expire(due);
    this.arm();
  }
}
