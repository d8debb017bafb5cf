import { isSystemTopic } from './address.js';
import type { Destinations } from './destinations.js';
import type { MessageQueue } from './message-queue.js';
import type { RetiredCounts } from './retired-counts.js';
import type { TopicSubscriptions } from './subscriptions.js';

export interface MessageTotals {
  readonly enqueued: number;
  readonly dequeued: number;
  readonly pending: number;
  /** Where `pending` waits: queues, and durable subscriptions, that hold at least one message. */
  readonly waitingIn: { readonly queues: number; readonly subscriptions: number };
}

/**
 * Messages in and out since the start, as ActiveMQ counts them: in, each message sent to a queue
 * (once for each queue it reaches) or to a topic (once, however many subscribe); out, each one
 * consumed from a queue or by a topic's subscriber, durable or not (once for each). Queues and
 * subscriptions gone count what they had. Pending: waiting now in queues and durable subscriptions.
 * The broker's own `$` topics (MQTT's `$SYS` statistics) and the subscriptions to them count in
 * none of these: they are not the applications' traffic, and with them an idle broker would show
 * messages flowing.
 */
export function messageTotals(destinations: Destinations, subscriptions: TopicSubscriptions, retired: RetiredCounts): MessageTotals {
  let enqueued = retired.enqueued + destinations.topicSendsTotal;
  let dequeued = retired.dequeued;
  let pending = 0;
  let queues = 0;
  let durables = 0;
  for (const queue of destinations.queues.values()) {
    const s = queue.stats();
    enqueued += s.enqueued;
    dequeued += s.dequeued;
    pending += s.pending;
    if (s.pending > 0) queues++;
  }
  // a subscription to two patterns (MQTT's orders/#) is one queue, counted once
  const counted = new Set<MessageQueue>();
  for (const subscription of subscriptions.durableSubscriptions()) {
    if (isSystemTopic(subscription.pattern) || counted.has(subscription.queue)) continue;
    counted.add(subscription.queue);
    const waiting = subscription.queue.stats().pending;
    pending += waiting;
    if (waiting > 0) durables++;
  }
  for (const subscription of subscriptions.index.values()) if (!isSystemTopic(subscription.pattern)) counted.add(subscription.queue);
  for (const queue of counted) dequeued += queue.stats().dequeued;
  return { enqueued, dequeued, pending, waitingIn: { queues, subscriptions: durables } };
}
