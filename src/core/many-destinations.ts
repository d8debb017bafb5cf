import type { Operation, SubscribeOptions } from './access.js';
import { matchesPattern } from './address.js';
import type { CoreConnection } from './connection.js';
import { splitComposite, type Destinations } from './destinations.js';
import type { Destination } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { Selector } from './selector/index.js';
import type { TopicSubscriptions } from './subscriptions.js';
import { RateCounter } from './traffic.js';
import { checkQueuePattern, WildcardQueueConsumer, type MakeConsumer } from './wildcard-queue-consumer.js';

/**
 * Consumers of many destinations at once: a queue pattern (`orders.>`, `Consumer.A.VirtualTopic.>`)
 * and a composite destination (`a,b`). Each is one WildcardQueueConsumer whose members are the
 * queues (and, for a composite of topics, the topic subscriptions) it takes from.
 */

/** What the broker lends such a consumer, for one connection. */
export interface ManyDestinationsHost {
  readonly connection: CoreConnection;
  readonly destinations: Destinations;
  readonly subscriptions: TopicSubscriptions;
  consumerId(): number;
  /** The broker's default prefetch. */
  readonly prefetch: number;
  readonly clock: () => number;
  /** Checks the connection's right (nothing when the broker checks none). */
  authorize(operation: Operation, destination: Destination): void;
  authorizeCreation(destination: Destination): void;
  /** Refuses a member queue the connection may not consume from now (exclusive use, limits). */
  admit(queue: MessageQueue): void;
}

/** A consumer on every queue a wildcard pattern matches, now and later (see WildcardQueueConsumer). */
export function subscribeQueuePattern(host: ManyDestinationsHost, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: MakeConsumer): WildcardQueueConsumer {
  checkQueuePattern(options);
  host.authorize('consume', options.destination);
  if (host.destinations.isVirtualPattern(options.destination.name)) host.authorizeCreation(options.destination);
  // the group's own queue joins the members like any other queue the pattern matches
  host.destinations.virtualPatternQueue(options.destination.name);
  return consumeMany(host, options, selector, makeConsumer, (d) => d.kind === 'queue' && matchesPattern(options.destination.name, d.name));
}

/**
 * A consumer on each part of a composite destination (`a,b` of queues or of topics), as ActiveMQ's
 * is; as there, a queue consumer leaves out the topic parts (`a,topic://t`), and a topic consumer the queue parts.
 */
export function subscribeComposite(host: ManyDestinationsHost, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: MakeConsumer): WildcardQueueConsumer {
  checkQueuePattern(options, 'a composite destination');
  const parts = splitComposite(options.destination).filter((part) => part.kind === options.destination.kind);
  for (const part of parts) {
    host.authorize('consume', part);
    host.authorizeCreation(part);
    // made now (as a send makes it), so that the parts are members from the start
    host.destinations.checkSendable(part);
  }
  return consumeMany(host, options, selector, makeConsumer, (d) => parts.some((part) => part.kind === d.kind && part.name === d.name));
}

function consumeMany(host: ManyDestinationsHost, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: MakeConsumer, matches: (destination: Destination) => boolean): WildcardQueueConsumer {
  const deliveryRate = new RateCounter(host.clock);
  const connection = host.connection;
  return new WildcardQueueConsumer(host.consumerId(), options, Math.max(1, options.prefetch ?? host.prefetch), selector, {
    watch: (watcher) => host.destinations.events.watch(watcher),
    matches,
    queue: (name) => host.destinations.queues.get(name),
    member: (queue, sink, ledger) => {
      host.authorize('consume', { kind: 'queue', name: queue.name });
      host.admit(queue);
      const consumer = makeConsumer(queue, selector, { sink, ledger, deliveryRate });
      queue.addConsumer(consumer);
      return consumer;
    },
    subscriber: (topic, sink, ledger) => {
      const part = { ...options, destination: { kind: 'topic' as const, name: topic } };
      return host.subscriptions.subscribe(connection.id, part, selector, (queue, queueSelector) => makeConsumer(queue, queueSelector, { sink, ledger, deliveryRate }));
    },
    transaction: (txId) => connection.transaction(txId),
    deliveryRate,
  });
}
