import type { MessageQueue } from './message-queue.js';

/**
 * What the queues and durable subscriptions that are gone had counted, so that the broker's
 * counts since the start (`BrokerAdmin.messageTotals`, exported as Prometheus counters) do not go
 * back when a queue is deleted or a temporary queue goes with its connection. Added to once per
 * queue, as it is destroyed, never per message.
 */
export class RetiredCounts {
  enqueued = 0;
  dequeued = 0;

  queueGone(queue: MessageQueue): void {
    // a non-durable subscription was never in the totals: it is a topic consumer's own buffer
    if (queue.kind === 'subscription' && queue.recordId === 0) return;
    const s = queue.stats();
    this.enqueued += s.enqueued;
    this.dequeued += s.dequeued;
  }
}
