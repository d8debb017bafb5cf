import { redeliveryDelay, type DestinationPolicy } from './policy.js';
import type { DeclaredQueue } from './queue-arguments.js';
import type { QueueEntry } from './queue-entry.js';
import type { TimerHandle, TimerQueue } from './timers.js';

/** Stores an entry's counts, `delayed` while it waits out a delay (see `ReferenceRecord.delayed`). */
export type RedeliveryCountWriter = (entry: QueueEntry, delayed: boolean) => void;

/**
 * A queue's entries waiting out a redelivery delay (the policy's delay, grown by its back-off with
 * each failed delivery), each an entry of the broker's timer until it goes back among the waiting ones.
 *
 * While an entry waits, its stored counts hold the delivery that just failed and say it waits: the
 * queue's delivery mark covers the entry, and recovery, which adds a return for every message a
 * consumer may have had, adds none for it, so that delivery is counted once and as the failure it
 * was. The delay's end, or a clean stop (`writeCounts`), which leaves no mark, stores it as waiting no more.
 */
export class RedeliveryDelays {
  private readonly waiting = new Map<QueueEntry, TimerHandle>();

  constructor(
    private readonly policy: DestinationPolicy,
    private readonly timers: TimerQueue,
    private readonly writeCount: RedeliveryCountWriter,
  ) {}

  /** Entries waiting out a delay now. */
  get count(): number {
    return this.waiting.size;
  }

  /**
   * Why `entry`, whose delivery has just failed once more, goes to the dead-letter queue now, or
   * undefined while it may be tried again: past the policy's maximum redeliveries (when `limited`), or
   * past a declared queue's delivery limit.
   */
  pastMaximum(entry: QueueEntry, declared: DeclaredQueue | undefined, limited: boolean): string | undefined {
    // RabbitMQ's queues redeliver without a maximum, but for a delivery limit (quorum queues')
    const max = declared === undefined ? (limited ? this.policy.maxRedeliveries : -1) : declared.spec.arguments.deliveryLimit ?? -1;
    if (max < 0 || entry.redeliveries <= max) return undefined;
    return declared === undefined ? `delivery failed ${entry.redeliveries} times (max redeliveries ${max})` : 'delivery_limit';
  }

  /**
   * Keeps `entry`, whose delivery failed `entry.redeliveries` times, for the policy's delay after
   * `now`, then hands it to `back`; false when the policy gives it no delay.
   */
  hold(entry: QueueEntry, now: number, back: (entry: QueueEntry) => void): boolean {
    const delay = redeliveryDelay(this.policy, entry.redeliveries);
    if (delay <= 0) return false;
    this.writeCount(entry, true);
    const handle = this.timers.at(now + delay, () => {
      this.waiting.delete(entry);
      this.writeCount(entry, false);
      back(entry);
    });
    this.waiting.set(entry, handle);
    return true;
  }

  /** At a clean stop, which leaves no mark: what waits here is stored as waiting no more, so a later crash adds its return. */
  writeCounts(): void {
    for (const entry of this.waiting.keys()) this.writeCount(entry, false);
  }

  /** Ends every delay without handing its entry back; returns the entries. */
  cancelAll(): QueueEntry[] {
    const entries = [...this.waiting.keys()];
    for (const handle of this.waiting.values()) this.timers.cancel(handle);
    this.waiting.clear();
    return entries;
  }
}
