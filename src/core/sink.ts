import type { Message } from './message.js';

/** What a consumer's sink is handed: one message, and what this delivery of it is. */
export interface Delivery {
  readonly message: Message;
  /** Increasing per consumer; acknowledgements name it. */
  readonly tag: number;
  /** 1 on first delivery, more when the message comes back after a consumer left or a rollback. */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /**
   * True when no consumer has taken the message from its queue before this delivery (not even one
   * that gave it back uncounted); absent for a browse, which takes nothing.
   */
  readonly firstAcquirer?: boolean;
  /** True when the message is a topic's retained message, handed to a subscription as it starts. */
  readonly retained?: boolean;
  /**
   * Routed once for several subscriptions of one overlap group: the tags of all of them
   * (`SubscribeOptions.overlap`). Absent when only this consumer's subscription matched.
   */
  readonly matched?: readonly number[] | undefined;
}

/**
 * Implemented by a protocol adapter for each consumer it opens: the only way messages leave core.
 * Core calls `deliver` only while `isWritable()` (and `hasCredit()`, where the protocol has its own
 * credit) say yes; when the socket says no, core asks to be told through `onWritable` and stops
 * dispatching to this consumer until then, so one slow socket never stalls the rest.
 */
export interface DeliverySink {
  deliver(delivery: Delivery): void;
  isWritable(): boolean;
  /** Calls `resume` once, the next time the socket can take more. */
  onWritable(resume: () => void): void;
  /** Protocol-level credit, such as AMQP link credit; absent means only the prefetch limits. */
  hasCredit?(): boolean;
  /** A browser's sink: called once when the browser has handed over every message it will. */
  browseEnd?(): void;
  /**
   * The consumer was closed by the broker, not by the adapter: its queue was deleted (AMQP 0-9-1
   * sends a server-side basic.cancel). Called once, just before the consumer closes; its in-flight
   * messages are gone with the queue.
   */
  cancelled?(reason: string): void;
  /** `count` deliveries were not acknowledged within their lease and went back to the queue. */
  leaseExpired?(count: number): void;
  /**
   * Only for a protocol whose client redelivers, from what it holds, the messages a rolled-back
   * transaction had acknowledged (ActiveMQ's JMS client): `delivery`, acknowledged in a transaction
   * that has since rolled back, is in flight to this consumer again under its tag, for the client
   * to acknowledge anew. Without it, such a delivery goes back to its queue.
   */
  reinstated?(delivery: Delivery): void;
}
