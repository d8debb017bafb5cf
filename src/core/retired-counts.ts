import { isSystemTopic } from './address.js';
import type { MessageQueue } from './message-queue.js';

/**
 * What the queues and topic subscriptions that are gone had counted, so that the broker's counts
 * since the start (`BrokerAdmin.messageTotals`, exported as Prometheus counters) do not go back
 * when a queue is deleted, a temporary queue goes with its connection or a topic's subscriber
 * leaves. Added to once per queue, as it is destroyed, never per message.
 */
export class RetiredCounts {
  enqueued = 0;
  dequeued = 0;

  queueGone(queue: MessageQueue): void {
    const s = queue.stats();
    // a subscription's messages came in through its topic, which counted them once for all its subscribers
    if (queue.kind !== 'subscription') this.enqueued += s.enqueued;
    // a plain subscription's queue is named by its pattern: one to the broker's own `$` topics counts nothing (see messageTotals)
    else if (isSystemTopic(queue.name)) return;
    this.dequeued += s.dequeued;
  }
}
