import type { Message } from './message.js';
import type { Delivery } from './sink.js';
import type { Consumer } from './consumer.js';
import type { MessageQueue } from './message-queue.js';

/** A persistent message as stored once and referenced from every queue it waits in. */
export interface StoredMessage {
  readonly recordId: number;
  references: number;
}

/**
 * One message waiting in one queue (or durable subscription): the per-queue state of a message that
 * may be shared by many queues. It is also the Delivery handed to a sink, so a delivery allocates
 * nothing more.
 */
export class QueueEntry implements Delivery {
  /** The consumer it is in flight to, or null while it waits in the queue. */
  consumer: Consumer | null = null;
  tag = 0;
  /** Deliveries made before this one; kept in the store when it changes. */
  redeliveries: number;
  /** Store record of this reference, 0 when not persisted. */
  referenceId = 0;
  /** A retained message given to a new subscription, not one routed to it. */
  retained = false;
  /** Consumed, expired or dead-lettered: it has left its queue for good (a browser skips it). */
  gone = false;

  constructor(
    readonly queue: MessageQueue,
    readonly message: Message,
    readonly seq: number,
    readonly stored: StoredMessage | null,
    redeliveries = 0,
  ) {
    this.redeliveries = redeliveries;
  }

  get deliveryCount(): number {
    return this.redeliveries + 1;
  }

  get redelivered(): boolean {
    return this.redeliveries > 0;
  }
}
