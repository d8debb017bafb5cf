import type { Message } from './message.js';
import type { QueueEntry } from './queue-entry.js';

/**
 * A local transaction: sends are held until commit; acknowledged and rejected deliveries are held
 * out of their queues until commit applies them or rollback returns them as redelivered.
 */
export class Transaction {
  readonly sends: Message[] = [];
  readonly acknowledged: QueueEntry[] = [];
  readonly rejected: QueueEntry[] = [];
  /** Why the client rejected each (its `dlqDeliveryFailureCause` in the dead-letter queue). */
  readonly rejectReasons = new Map<QueueEntry, string>();

  constructor(readonly id: string) {}

  holdSend(message: Message): void {
    this.sends.push(message);
  }

  holdAcknowledged(entry: QueueEntry): void {
    this.acknowledged.push(entry);
  }

  holdRejected(entry: QueueEntry, reason?: string): void {
    this.rejected.push(entry);
    if (reason !== undefined) this.rejectReasons.set(entry, reason);
  }

  /** True when it holds nothing: committing it would change nothing (XA's read-only branch). */
  get isEmpty(): boolean {
    return this.sends.length === 0 && this.acknowledged.length === 0 && this.rejected.length === 0;
  }

  /** True when committing writes to the store. */
  get touchesStore(): boolean {
    return this.sends.some((m) => m.persistent) || this.acknowledged.some((e) => e.referenceId !== 0);
  }
}
