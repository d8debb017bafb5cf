import type { DatabaseStoreStatus, Store, StoreDescription } from '../store/index.js';
import type { BodyCacheStats } from './body-cache.js';
import type { BrokerStats, ClientConnectionInfo } from './access.js';
import type { Destinations } from './destinations.js';
import type { CoreConnection } from './connection.js';
import type { MessageQueue } from './message-queue.js';
import type { TopicSubscription, TopicSubscriptions } from './subscriptions.js';

export interface JournalReport {
  readonly type: 'journal';
  readonly store: StoreDescription;
  /** Record id -> what it belongs to, for the records that keep a file alive. */
  readonly owners: Record<number, string>;
}

export type { DatabaseStoreStatus };

/** The store as operators see it: the journal's files, or a database store's state. */
export type StoreReport = JournalReport | DatabaseStoreStatus;

/**
 * What the store keeps on disk, file by file, with the records keeping each file alive named by
 * what they belong to: a queue, a durable subscription, a waiting message. A store kept in a
 * database reports its state instead. Undefined for the memory store.
 */
export function describeStore(store: Store, queues: Iterable<MessageQueue>, durable: Iterable<TopicSubscription>, others: Iterable<readonly [number, string]> = []): StoreReport | undefined {
  const database = store.databaseStatus?.();
  if (database !== undefined) return database;
  const description = store.describe?.();
  if (description === undefined) return undefined;
  const wanted = new Set<number>();
  for (const segment of description.segments) for (const id of segment.keptAliveBy) wanted.add(id);
  const owners: Record<number, string> = {};
  const name = (id: number, what: string): void => {
    if (wanted.has(id)) owners[id] = what;
  };
  const describeQueue = (queue: MessageQueue, label: string): void => {
    name(queue.recordId, label);
    name(queue.deliveryMark.recordId, `delivery mark of ${label}`);
    for (const entry of queue.entries()) {
      name(entry.referenceId, `message waiting in ${label}`);
      // a message is two records, its place in the queue and its content: one label for both counted each message twice
      if (entry.stored !== null) name(entry.stored.recordId, `content of a message waiting in ${label}`);
    }
  };
  for (const queue of queues) if (queue.recordId !== 0) describeQueue(queue, `queue ${queue.name}`);
  for (const s of durable) describeQueue(s.queue, `durable subscription ${s.durable!.owner}:${s.durable!.name} on topic ${s.pattern}`);
  for (const [id, what] of others) name(id, what);
  for (const id of wanted) owners[id] ??= 'a scheduled message, duplicate-detection id, sequence ceiling or transaction record';
  return { type: 'journal', store: description, owners };
}

/**
 * The ids of the messages waiting in queues and durable subscriptions, pending or in flight: what a
 * protocol's duplicate check must know after a restart (OpenWire's failover audit).
 */
export function* waitingMessageIds(queues: Iterable<MessageQueue>, durable: Iterable<TopicSubscription>): IterableIterator<string> {
  for (const queue of queues) for (const entry of queue.entries()) yield entry.message.id;
  for (const s of durable) for (const entry of s.queue.entries()) yield entry.message.id;
}

/** Who is connected as whom, leaving out the connections protocol adapters open for themselves. */
export function describeClients(connections: Iterable<CoreConnection>): ClientConnectionInfo[] {
  const list: ClientConnectionInfo[] = [];
  for (const c of connections) {
    if (c.principal.internal) continue;
    list.push({ id: c.id, protocol: c.protocol, remoteAddress: c.remoteAddress, user: c.principal.username, clientId: c.clientId, connectedAt: c.connectedAt });
  }
  return list;
}

/** The broker's figures as `/api/stats` and MQTT's `$SYS` topics show them. */
export function describeBroker(destinations: Destinations, subscriptions: TopicSubscriptions, connections: Iterable<CoreConnection>, scheduled: number, messageBodies: BodyCacheStats): Omit<BrokerStats, 'store' | 'slowConsumers' | 'limitRefusals'> {
  const topics = [...destinations.topics].sort().map((name) => ({ name, subscriptions: subscriptions.countMatching(name) }));
  const queues = [...destinations.queues.values()].map((q) => ({ ...q.stats(), paused: q.paused })).sort((a, b) => a.name.localeCompare(b.name));
  const clients = describeClients(connections);
  return { queues, topics, durableSubscriptions: subscriptions.durableStats(), connections: clients.length, clients, scheduled, messageBodies };
}
