import { redeliveryDelay, type DestinationPolicy } from './policy.js';
import type { QueueEntry } from './queue-entry.js';
import type { TimerHandle, TimerQueue } from './timers.js';

/** Writes how many deliveries of an entry failed into its stored reference. */
export type RedeliveryCountWriter = (entry: QueueEntry, redeliveries: number) => void;

/**
 * A queue's entries waiting out a redelivery delay (the policy's delay, grown by its back-off with
 * each failed delivery), each an entry of the broker's timer until it goes back among the waiting ones.
 *
 * While an entry waits, its stored count leaves out the delivery that just failed: the queue's
 * delivery mark covers the entry, so after a crash recovery counts that delivery, as it counts one for
 * every message a consumer may have had, and a count stored whole would be counted twice. The
 * delay's end, or a clean stop (`writeCounts`), which leaves no mark, stores the whole count.
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
   * Keeps `entry`, whose delivery failed `entry.redeliveries` times, for the policy's delay after
   * `now`, then hands it to `back`; false when the policy gives it no delay.
   */
  hold(entry: QueueEntry, now: number, back: (entry: QueueEntry) => void): boolean {
    const delay = redeliveryDelay(this.policy, entry.redeliveries);
    if (delay <= 0) return false;
    // written even when the store has it already: a count recovery raised is only in memory
    this.writeCount(entry, entry.redeliveries - 1);
    const handle = this.timers.at(now + delay, () => {
      this.waiting.delete(entry);
      this.writeCount(entry, entry.redeliveries);
      back(entry);
    });
    this.waiting.set(entry, handle);
    return true;
  }

  /** At a clean stop: the broker will not count the failed deliveries of what waits here at its next start. */
  writeCounts(): void {
    for (const entry of this.waiting.keys()) this.writeCount(entry, entry.redeliveries);
  }

  /** Ends every delay without handing its entry back; returns the entries. */
  cancelAll(): QueueEntry[] {
    const entries = [...this.waiting.keys()];
    for (const handle of this.waiting.values()) this.timers.cancel(handle);
    this.waiting.clear();
    return entries;
  }
}
