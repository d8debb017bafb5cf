import type { CommittedPublish } from './exchanges.js';
import type { Message } from './message.js';
import type { RouteTarget } from './overlap.js';
import type { QueueEntry } from './queue-entry.js';

/** A consumer that takes back, still in flight to it, a delivery of its that a transaction acknowledged and then rolled back. */
export interface DeliveryKeeper {
  /** False when it can no longer take it (it has closed): the entry is then its queue's again. */
  reinstate(entry: QueueEntry): boolean;
}

/**
 * A message published to an exchange in a transaction. It is routed when published, as RabbitMQ
 * routes it: its commit delivers it to the queues chosen then, whatever the bindings are by then,
 * and says here what became of it.
 */
export class HeldPublish implements CommittedPublish {
  routed = 0;
  refused = false;

  constructor(readonly targets: readonly RouteTarget[]) {}
}

/**
 * Who counts a delivery that a transaction holds, acknowledged or rejected, as still in flight: until
 * the transaction ends, a rollback can bring it back, so operators see it where it was.
 */
export interface HeldDeliveries {
  /** The transaction holding `entry` has committed or rolled back. */
  released(entry: QueueEntry): void;
}

/**
 * A local transaction: sends are held until commit; acknowledged and rejected deliveries are held
 * out of their queues until commit applies them or rollback returns them as redelivered.
 */
export class Transaction {
  readonly sends: Message[] = [];
  /** The sends published to an exchange, with the queues each was routed to then. */
  readonly published = new Map<Message, HeldPublish>();
  readonly acknowledged: QueueEntry[] = [];
  readonly rejected: QueueEntry[] = [];
  /** Why the client rejected each (its `dlqDeliveryFailureCause` in the dead-letter queue). */
  readonly rejectReasons = new Map<QueueEntry, string>();
  /** The consumer each acknowledged or rejected entry goes back to on rollback, where its protocol's client redelivers it itself. */
  private readonly keepers = new Map<QueueEntry, DeliveryKeeper>();
  private readonly holders = new Map<QueueEntry, HeldDeliveries>();

  constructor(readonly id: string) {}

  holdSend(message: Message): void {
    this.sends.push(message);
  }

  holdPublish(message: Message, targets: readonly RouteTarget[]): HeldPublish {
    const held = new HeldPublish(targets);
    this.sends.push(message);
    this.published.set(message, held);
    return held;
  }

  /** Rolling back: the held sends are dropped. */
  dropSends(): void {
    this.sends.length = 0;
    this.published.clear();
  }

  holdAcknowledged(entry: QueueEntry, keeper?: DeliveryKeeper, holder?: HeldDeliveries): void {
    this.acknowledged.push(entry);
    if (keeper !== undefined) this.keepers.set(entry, keeper);
    if (holder !== undefined) this.holders.set(entry, holder);
  }

  holdRejected(entry: QueueEntry, reason?: string, keeper?: DeliveryKeeper, holder?: HeldDeliveries): void {
    this.rejected.push(entry);
    if (reason !== undefined) this.rejectReasons.set(entry, reason);
    if (keeper !== undefined) this.keepers.set(entry, keeper);
    if (holder !== undefined) this.holders.set(entry, holder);
  }

  /** The transaction is ending (committing or rolling back): what it holds is no longer in flight as it was. */
  releaseHeld(): void {
    for (const [entry, holder] of this.holders) holder.released(entry);
    this.holders.clear();
  }

  /**
   * Rolling back: every acknowledged or rejected entry whose keeper is still there goes back in
   * flight to it; returns the others, for their queues. The transaction then holds none of them.
   */
  returnToKeepers(): QueueEntry[] {
    const left = [...this.acknowledged, ...this.rejected].filter((entry) => this.keepers.get(entry)?.reinstate(entry) !== true);
    this.acknowledged.length = 0;
    this.rejected.length = 0;
    this.keepers.clear();
    return left;
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
