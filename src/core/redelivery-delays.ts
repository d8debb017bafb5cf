import { redeliveryDelay, type DestinationPolicy } from './policy.js';
import type { QueueEntry } from './queue-entry.js';
import type { TimerHandle, TimerQueue } from './timers.js';

/**
 * A queue's entries waiting out a redelivery delay (the policy's delay, grown by its back-off with
 * each failed delivery), each an entry of the broker's timer until it goes back among the waiting ones.
 */
export class RedeliveryDelays {
  private readonly waiting = new Map<QueueEntry, TimerHandle>();

  constructor(
    private readonly policy: DestinationPolicy,
    private readonly timers: TimerQueue,
  ) {}

  /** Entries waiting out a delay now. */
  get count(): number {
    return this.waiting.size;
  }

  /**
   * Keeps `entry`, whose delivery failed `entry.redeliveries` times, for the policy's delay after
   * `now`, then hands it to `back`; false when the policy gives it no delay.
   */
  hold(entry: QueueEntry, now: number, back: (entry: QueueEntry) => void): boolean {
    const delay = redeliveryDelay(this.policy, entry.redeliveries);
    if (delay <= 0) return false;
    const handle = this.timers.at(now + delay, () => {
      this.waiting.delete(entry);
      back(entry);
    });
    this.waiting.set(entry, handle);
    return true;
  }

  /** Ends every delay without handing its entry back; returns the entries. */
  cancelAll(): QueueEntry[] {
    const entries = [...this.waiting.keys()];
    for (const handle of this.waiting.values()) this.timers.cancel(handle);
    this.waiting.clear();
    return entries;
  }
}
