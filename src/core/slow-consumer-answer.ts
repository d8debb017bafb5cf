import { FerryError } from '../errors.js';
import type { CoreConnection } from './connection.js';
import type { Logger } from './logger.js';
import type { MessageQueue } from './message-queue.js';

/** What a slow subscription costs its subscriber: counted, logged, and with `abort`, its connections closed. */
export function answerSlowConsumer(
  queue: MessageQueue,
  action: 'notify' | 'abort' | 'evict',
  counts: { notified: number; aborted: number; evicted: number },
  connections: ReadonlyMap<string, CoreConnection>,
  logger: Logger,
): void {
  if (action === 'evict') {
    counts.evicted++;
    return;
  }
  const { pendingMessageLimit: limit, slowConsumerPolicy: policy, slowConsumerGrace: grace } = queue.policy;
  if (action === 'notify') {
    counts.notified++;
    logger.warn({ event: 'subscription.slow-consumer', subscription: queue.name, pending: queue.pendingCount, limit, policy }, `a subscriber of ${queue.name} is not keeping up: more than ${limit} messages waiting`);
    return;
  }
  const reason = new FerryError('FERRY_SLOW_CONSUMER', `more than ${limit} messages waited for this subscriber for ${grace} ms (pendingMessageLimit, slowConsumerPolicy abort)`);
  for (const id of new Set(queue.consumerConnections())) {
    const connection = connections.get(id);
    if (connection === undefined) continue;
    counts.aborted++;
    logger.warn({ event: 'connection.slow-consumer-closed', connection: id, subscription: queue.name, pending: queue.pendingCount, limit }, 'closing a slow consumer\'s connection');
    connection.onRevoked?.(reason);
    connection.close();
  }
}
