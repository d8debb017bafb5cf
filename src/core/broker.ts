import { FerryError } from '../errors.js';
import type { Store, StoreRecord } from '../store/index.js';
import { SubscriptionIndex, hasWildcard, validateDestinationName } from './address.js';
import { CoreConnection, type ConnectionInfo } from './connection.js';
import { Consumer, type AckMode } from './consumer.js';
import { silentLogger, type Logger } from './logger.js';
import { buildMessage, type Destination, type Message, type MessageInit } from './message.js';
import { MessageQueue, type QueueStats } from './message-queue.js';
import { Persistence } from './persistence.js';
import type { QueueEntry, StoredMessage } from './queue-entry.js';
import {
  RecordType,
  decodeDurableSubscription,
  decodeMessage,
  decodeQueue,
  decodeReference,
  encodeDurableSubscription,
  encodeQueue,
  type ReferenceRecord,
} from './records.js';
import type { DeliverySink } from './sink.js';
import type { Transaction } from './transaction.js';

export interface BrokerOptions {
  readonly store: Store;
  /** Appears in message and connection ids. */
  readonly name?: string;
  /** Create queues and topics the first time they are used (ActiveMQ's default). */
  readonly autoCreateDestinations?: boolean;
  readonly defaultPrefetch?: number;
  readonly logger?: Logger;
  readonly clock?: () => number;
}

export interface SubscribeOptions {
  /** A queue, or a topic pattern (wildcards `*` and `>` allowed for topics). */
  readonly destination: Destination;
  readonly sink: DeliverySink;
  readonly prefetch?: number | undefined;
  readonly ackMode?: AckMode | undefined;
  readonly exclusive?: boolean | undefined;
  readonly priority?: number | undefined;
  readonly noLocal?: boolean | undefined;
  readonly selector?: string | undefined;
  /** Makes a topic subscription durable under this name and the connection's client id. */
  readonly durableName?: string | undefined;
}

interface TopicSubscription {
  readonly pattern: string;
  readonly queue: MessageQueue;
  readonly noLocal: boolean;
  readonly selector: string | undefined;
  readonly durable: { readonly clientId: string; readonly name: string } | undefined;
  consumer: Consumer | null;
  /** Connection whose own messages a no-local subscription skips. */
  localConnectionId: string | undefined;
}

export interface DurableSubscriptionStats {
  readonly clientId: string;
  readonly name: string;
  readonly topic: string;
  readonly active: boolean;
  readonly pending: number;
  readonly inFlight: number;
}

export interface BrokerStats {
  readonly queues: readonly QueueStats[];
  readonly topics: readonly { readonly name: string; readonly subscriptions: number }[];
  readonly durableSubscriptions: readonly DurableSubscriptionStats[];
  readonly connections: number;
}

function durableKey(clientId: string, name: string): string {
  return `${clientId}\u0000${name}`;
}

function temporaryKey(d: Destination): string {
  return `${d.kind}:${d.name}`;
}

/**
 * The broker: destinations, subscriptions, routing, transactions and recovery. Knows no protocol;
 * adapters reach it through CoreConnection and CoreSession and receive through DeliverySinks.
 */
export class Broker {
  readonly name: string;
  readonly logger: Logger;
  private readonly store: Store;
  private readonly clock: () => number;
  private readonly autoCreate: boolean;
  private readonly defaultPrefetch: number;
  private readonly queues = new Map<string, MessageQueue>();
  private readonly topics = new Set<string>();
  private readonly topicSubscriptions = new SubscriptionIndex<TopicSubscription>();
  private readonly durableSubscriptions = new Map<string, TopicSubscription>();
  private readonly connections = new Map<string, CoreConnection>();
  private readonly clientIds = new Map<string, CoreConnection>();
  private readonly temporaryOwners = new Map<string, CoreConnection>();
  private persistence: Persistence | undefined;
  private readonly idPrefix: string;
  private nextMessage = 1;
  private nextConnection = 1;
  private nextConsumer = 1;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: BrokerOptions) {
    this.store = options.store;
    this.name = options.name ?? 'ferry';
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? Date.now;
    this.autoCreate = options.autoCreateDestinations ?? true;
    this.defaultPrefetch = options.defaultPrefetch ?? 1000;
    this.idPrefix = `${this.name}-${Date.now().toString(36)}`;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Opens the store and rebuilds destinations, durable subscriptions and waiting messages from it. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new FerryError('FERRY_BROKER_STOPPING', 'a broker starts only once');
    const recovered = await this.store.open();
    this.persistence = new Persistence(this.store, recovered.maxId);
    this.recover(recovered.records);
    if (recovered.prepared.length > 0) {
      this.logger.warn({ event: 'store.prepared', count: recovered.prepared.length }, 'prepared transactions found; they stay in doubt until resolved');
    }
    this.state = 'running';
  }

  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    for (const connection of [...this.connections.values()]) connection.close();
    await this.store.sync();
    await this.store.close();
    this.state = 'stopped';
  }

  connect(info: ConnectionInfo): CoreConnection {
    if (this.state !== 'running') throw new FerryError('FERRY_BROKER_STOPPING', 'the broker is not accepting connections');
    if (info.clientId !== undefined && this.clientIds.has(info.clientId)) {
      throw new FerryError('FERRY_CLIENT_ID_IN_USE', `client id "${info.clientId}" is already connected`);
    }
    const connection = new CoreConnection(`${this.idPrefix}-${this.nextConnection++}`, info, this);
    this.connections.set(connection.id, connection);
    if (info.clientId !== undefined) this.clientIds.set(info.clientId, connection);
    return connection;
  }

  createMessage(init: MessageInit, connectionId: string): Message {
    return buildMessage(init, `ID:${this.idPrefix}-${this.nextMessage++}`, this.clock(), connectionId);
  }

  /** Checks that a message may be sent to `destination` by `connection` (and creates a queue on first use). */
  checkSendable(destination: Destination, connection: CoreConnection | undefined): void {
    validateDestinationName(destination.name, false);
    if (destination.temporary === true) {
      if (!this.temporaryOwners.has(temporaryKey(destination))) {
        throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary ${destination.kind} "${destination.name}" no longer exists`);
      }
      return;
    }
    if (destination.kind === 'queue') this.queueNamed(destination.name, connection);
    else this.topicNamed(destination.name);
  }

  /** Routes a message now; resolves when it is durable, or returns null when nothing was written. */
  send(message: Message, connection: CoreConnection): Promise<void> | null {
    this.checkSendable(message.destination, connection);
    return this.route(message, undefined) ? this.store.sync() : null;
  }

  commit(tx: Transaction): Promise<void> | null {
    const persistence = this.requirePersistence();
    const storeTx = tx.touchesStore ? persistence.allocateId() : undefined;
    for (const entry of tx.acknowledged) entry.queue.acknowledge(entry, storeTx);
    const touched = new Set<MessageQueue>();
    for (const message of tx.sends) {
      try {
        this.checkSendable(message.destination, undefined);
      } catch (err) {
        this.logger.warn({ event: 'tx.send.dropped', destination: message.destination.name, err }, 'destination went away before commit');
        continue;
      }
      this.route(message, storeTx, touched);
    }
    if (storeTx !== undefined) this.store.commit(storeTx);
    // dispatch only after the commit record, so an auto-acknowledged delete never precedes its add
    for (const queue of touched) queue.dispatch();
    this.giveBack(tx.rejected);
    return storeTx !== undefined ? this.store.sync() : null;
  }

  rollback(tx: Transaction): void {
    this.giveBack([...tx.acknowledged, ...tx.rejected]);
    tx.acknowledged.length = 0;
    tx.rejected.length = 0;
    tx.sends.length = 0;
  }

  subscribe(connection: CoreConnection, options: SubscribeOptions): Consumer {
    const { destination } = options;
    const makeConsumer = (queue: MessageQueue): Consumer =>
      new Consumer(this.nextConsumer++, connection.id, queue, options.sink, {
        prefetch: options.prefetch ?? this.defaultPrefetch,
        ackMode: options.ackMode ?? 'auto',
        exclusive: options.exclusive ?? false,
        priority: options.priority ?? 0,
        noLocal: options.noLocal ?? false,
        selector: options.selector,
      });

    if (destination.kind === 'queue') {
      validateDestinationName(destination.name, false);
      if (options.durableName !== undefined) {
        throw new FerryError('FERRY_DESTINATION_INVALID', 'a durable subscription needs a topic, not a queue');
      }
      const queue = this.queueForConsumer(destination, connection);
      const consumer = makeConsumer(queue);
      queue.addConsumer(consumer);
      return consumer;
    }

    validateDestinationName(destination.name, true);
    if (destination.temporary === true && !connection.ownsTemporary(destination)) {
      throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary topic "${destination.name}" belongs to another connection`);
    }
    if (!hasWildcard(destination.name)) this.topicNamed(destination.name);
    if (options.durableName !== undefined) return this.subscribeDurable(connection, options, makeConsumer);

    const subscription: TopicSubscription = {
      pattern: destination.name,
      queue: new MessageQueue(destination.name, 0, this.requirePersistence(), this.clock),
      noLocal: options.noLocal ?? false,
      selector: options.selector,
      durable: undefined,
      consumer: null,
      localConnectionId: connection.id,
    };
    const consumer = makeConsumer(subscription.queue);
    subscription.consumer = consumer;
    subscription.queue.addConsumer(consumer);
    this.topicSubscriptions.add(subscription.pattern, subscription);
    consumer.onClose = () => {
      this.topicSubscriptions.remove(subscription.pattern, subscription);
      subscription.queue.destroy();
    };
    return consumer;
  }

  /** Removes a durable subscription and the messages it kept. It must have no active subscriber. */
  unsubscribeDurable(clientId: string, name: string): void {
    const key = durableKey(clientId, name);
    const subscription = this.durableSubscriptions.get(key);
    if (subscription === undefined) {
      throw new FerryError('FERRY_CONSUMER_NOT_FOUND', `no durable subscription "${name}" for client id "${clientId}"`);
    }
    if (subscription.consumer !== null) {
      throw new FerryError('FERRY_CONSUMER_EXISTS', `durable subscription "${name}" still has an active subscriber`);
    }
    this.removeDurable(key, subscription);
  }

  createTemporary(destination: Destination, owner: CoreConnection): void {
    this.temporaryOwners.set(temporaryKey(destination), owner);
    if (destination.kind === 'queue') {
      this.queues.set(destination.name, new MessageQueue(destination.name, 0, this.requirePersistence(), this.clock));
    }
  }

  deleteTemporary(destination: Destination): void {
    this.temporaryOwners.delete(temporaryKey(destination));
    if (destination.kind === 'queue') {
      this.queues.get(destination.name)?.destroy();
      this.queues.delete(destination.name);
    }
  }

  disconnected(connection: CoreConnection): void {
    this.connections.delete(connection.id);
    if (connection.clientId !== undefined && this.clientIds.get(connection.clientId) === connection) {
      this.clientIds.delete(connection.clientId);
    }
  }

  /** Drops the waiting messages of a queue; returns how many. */
  purge(queueName: string): number {
    const queue = this.queues.get(queueName);
    if (queue === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no queue "${queueName}"`);
    const removed = queue.purge();
    return removed;
  }

  stats(): BrokerStats {
    const topics = [...this.topics].sort().map((name) => {
      let subscriptions = 0;
      this.topicSubscriptions.match(name, () => subscriptions++);
      return { name, subscriptions };
    });
    const durableSubscriptions = [...this.durableSubscriptions.values()].map((s) => {
      const q = s.queue.stats();
      return {
        clientId: s.durable!.clientId,
        name: s.durable!.name,
        topic: s.pattern,
        active: s.consumer !== null,
        pending: q.pending,
        inFlight: q.inFlight,
      };
    });
    const queues = [...this.queues.values()].map((q) => q.stats()).sort((a, b) => a.name.localeCompare(b.name));
    return { queues, topics, durableSubscriptions, connections: this.connections.size };
  }

  private route(message: Message, storeTx: number | undefined, touched?: Set<MessageQueue>): boolean {
    const persistence = this.requirePersistence();
    const { destination } = message;
    if (destination.kind === 'queue') {
      const queue = this.queues.get(destination.name);
      if (queue === undefined) return false;
      const stored = message.persistent && queue.recordId !== 0 ? persistence.storeMessage(message, storeTx) : null;
      this.accept(queue, message, stored, storeTx, touched);
      return stored !== null;
    }
    const targets: TopicSubscription[] = [];
    let anyDurable = false;
    this.topicSubscriptions.match(destination.name, (subscription) => {
      if (subscription.noLocal && subscription.localConnectionId === message.originConnectionId) return;
      targets.push(subscription);
      if (subscription.queue.recordId !== 0) anyDurable = true;
    });
    const stored = message.persistent && anyDurable ? persistence.storeMessage(message, storeTx) : null;
    for (const subscription of targets) this.accept(subscription.queue, message, stored, storeTx, touched);
    return stored !== null;
  }

  private accept(queue: MessageQueue, message: Message, stored: StoredMessage | null, storeTx: number | undefined, touched: Set<MessageQueue> | undefined): void {
    if (touched === undefined) queue.accept(message, stored, storeTx, true);
    else {
      queue.accept(message, stored, storeTx, false);
      touched.add(queue);
    }
  }

  private giveBack(entries: readonly QueueEntry[]): void {
    const byQueue = new Map<MessageQueue, QueueEntry[]>();
    for (const entry of entries) {
      let list = byQueue.get(entry.queue);
      if (list === undefined) byQueue.set(entry.queue, (list = []));
      list.push(entry);
    }
    for (const [queue, list] of byQueue) queue.giveBack(list);
  }

  private subscribeDurable(connection: CoreConnection, options: SubscribeOptions, makeConsumer: (q: MessageQueue) => Consumer): Consumer {
    const clientId = connection.clientId;
    const name = options.durableName!;
    if (clientId === undefined) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `durable subscription "${name}" needs a client id on the connection`);
    }
    const key = durableKey(clientId, name);
    let subscription = this.durableSubscriptions.get(key);
    const noLocal = options.noLocal ?? false;
    if (subscription !== undefined && subscription.consumer !== null) {
      throw new FerryError('FERRY_CONSUMER_EXISTS', `durable subscription "${name}" of client id "${clientId}" already has an active subscriber`);
    }
    if (subscription !== undefined && (subscription.pattern !== options.destination.name || subscription.selector !== options.selector || subscription.noLocal !== noLocal)) {
      // JMS: subscribing under the same name with another topic or selector replaces the subscription
      this.removeDurable(key, subscription);
      subscription = undefined;
    }
    if (subscription === undefined) {
      const persistence = this.requirePersistence();
      const recordId = persistence.allocateId();
      this.store.add(
        recordId,
        RecordType.DurableSubscription,
        encodeDurableSubscription({ clientId, name, topic: options.destination.name, selector: options.selector, noLocal }),
      );
      subscription = this.addDurable(recordId, clientId, name, options.destination.name, options.selector, noLocal);
    }
    const consumer = makeConsumer(subscription.queue);
    const active = subscription;
    active.consumer = consumer;
    active.localConnectionId = connection.id;
    consumer.onClose = () => {
      active.consumer = null;
    };
    active.queue.addConsumer(consumer);
    return consumer;
  }

  private addDurable(recordId: number, clientId: string, name: string, topic: string, selector: string | undefined, noLocal: boolean): TopicSubscription {
    const subscription: TopicSubscription = {
      pattern: topic,
      queue: new MessageQueue(`${clientId}:${name}`, recordId, this.requirePersistence(), this.clock),
      noLocal,
      selector,
      durable: { clientId, name },
      consumer: null,
      localConnectionId: undefined,
    };
    this.durableSubscriptions.set(durableKey(clientId, name), subscription);
    this.topicSubscriptions.add(topic, subscription);
    if (!hasWildcard(topic)) this.topics.add(topic);
    return subscription;
  }

  private removeDurable(key: string, subscription: TopicSubscription): void {
    this.durableSubscriptions.delete(key);
    this.topicSubscriptions.remove(subscription.pattern, subscription);
    subscription.queue.destroy();
    this.store.delete(subscription.queue.recordId);
  }

  private queueForConsumer(destination: Destination, connection: CoreConnection): MessageQueue {
    if (destination.temporary === true) {
      const owner = this.temporaryOwners.get(temporaryKey(destination));
      if (owner === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary queue "${destination.name}" no longer exists`);
      if (owner !== connection) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary queue "${destination.name}" belongs to another connection`);
      return this.queues.get(destination.name)!;
    }
    return this.queueNamed(destination.name, connection);
  }

  private queueNamed(name: string, _connection: CoreConnection | undefined): MessageQueue {
    const existing = this.queues.get(name);
    if (existing !== undefined) return existing;
    if (!this.autoCreate) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `queue "${name}" does not exist and destinations are not created on first use`);
    const persistence = this.requirePersistence();
    const recordId = persistence.allocateId();
    this.store.add(recordId, RecordType.Queue, encodeQueue({ name }));
    const queue = new MessageQueue(name, recordId, persistence, this.clock);
    this.queues.set(name, queue);
    return queue;
  }

  private topicNamed(name: string): void {
    if (this.topics.has(name)) return;
    if (!this.autoCreate) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `topic "${name}" does not exist and destinations are not created on first use`);
    this.topics.add(name);
  }

  private requirePersistence(): Persistence {
    if (this.persistence === undefined) throw new FerryError('FERRY_BROKER_STOPPING', 'the broker has not started');
    return this.persistence;
  }

  private recover(records: readonly StoreRecord[]): void {
    const persistence = this.requirePersistence();
    const queuesById = new Map<number, MessageQueue>();
    const messages = new Map<number, { message: Message; stored: StoredMessage }>();
    const references: { id: number; ref: ReferenceRecord }[] = [];
    for (const record of records) {
      switch (record.type) {
        case RecordType.Queue: {
          const { name } = decodeQueue(record.data);
          const queue = new MessageQueue(name, record.id, persistence, this.clock);
          this.queues.set(name, queue);
          queuesById.set(record.id, queue);
          break;
        }
        case RecordType.DurableSubscription: {
          const s = decodeDurableSubscription(record.data);
          const subscription = this.addDurable(record.id, s.clientId, s.name, s.topic, s.selector, s.noLocal);
          queuesById.set(record.id, subscription.queue);
          break;
        }
        case RecordType.Message:
          messages.set(record.id, { message: decodeMessage(record.data), stored: { recordId: record.id, references: 0 } });
          break;
        case RecordType.Reference:
          references.push({ id: record.id, ref: decodeReference(record.data) });
          break;
        default:
          this.logger.warn({ event: 'store.unknown-record', type: record.type, id: record.id }, 'skipping a record of unknown type');
      }
    }
    references.sort((a, b) => a.ref.queueId - b.ref.queueId || a.ref.seq - b.ref.seq);
    let dangling = 0;
    for (const { id, ref } of references) {
      const queue = queuesById.get(ref.queueId);
      const held = messages.get(ref.messageRecordId);
      if (queue === undefined || held === undefined) {
        this.store.delete(id);
        dangling++;
        continue;
      }
      queue.recover(held.message, held.stored, ref.seq, ref.deliveryCount, id);
    }
    let orphans = 0;
    for (const { stored } of messages.values()) {
      if (stored.references === 0) {
        this.store.delete(stored.recordId);
        orphans++;
      }
    }
    this.logger.info(
      { event: 'broker.recovered', queues: this.queues.size, durableSubscriptions: this.durableSubscriptions.size, messages: messages.size - orphans, references: references.length - dangling },
      'recovered from the store',
    );
    if (dangling + orphans > 0) this.logger.warn({ event: 'store.orphans', dangling, orphans }, 'deleted records that nothing refers to');
  }
}
