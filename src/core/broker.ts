import { FerryError } from '../errors.js';
import type { Store, StoreDescription } from '../store/index.js';
import { SubscriptionIndex, hasWildcard, validateDestinationName } from './address.js';
import { CoreConnection, type ConnectionInfo, type SendOptions } from './connection.js';
import { Consumer, type AckMode } from './consumer.js';
import { DUPLICATE_ID_PROPERTY, DuplicateDetector } from './duplicates.js';
import { silentLogger, type Logger } from './logger.js';
import { buildMessage, copyMessage, type Destination, type Message, type MessageInit, type PropertyValue } from './message.js';
import { MessageQueue, type QueueEnvironment, type QueueStats } from './message-queue.js';
import { Persistence } from './persistence.js';
import { BodyCache, type BodyCacheStats } from './body-cache.js';
import { PolicyBook, type PolicyRule } from './policy.js';
import type { QueueEntry, StoredMessage } from './queue-entry.js';
import { RecordType, encodeDeliveryMark, encodeDurableSubscription, encodeQueue } from './records.js';
import { recoverState, type RecoveryTarget } from './recovery.js';
import { RetainedMessages } from './retained.js';
import { MessageScheduler } from './scheduler.js';
import { compileSelector, type Selector } from './selector/index.js';
import type { DeliverySink } from './sink.js';
import { TimerQueue } from './timers.js';
import type { Transaction } from './transaction.js';

/** A destination that forwards what is sent to it (ActiveMQ's compositeQueue / compositeTopic). */
export interface CompositeDestination {
  readonly kind: 'queue' | 'topic';
  readonly name: string;
  readonly forwardTo: readonly Destination[];
  /** Deliver only to the forward destinations (ActiveMQ's default), not also to the composite itself. */
  readonly forwardOnly: boolean;
}

export interface VirtualTopicOptions {
  readonly enabled: boolean;
  /** Topics whose names start with this fan out to consumer queues. */
  readonly prefix: string;
  /** Consumer queues are named `<consumerPrefix><group>.<topic>`. */
  readonly consumerPrefix: string;
}

export interface BrokerOptions {
  readonly store: Store;
  /** Appears in message and connection ids. */
  readonly name?: string;
  /** Create queues and topics the first time they are used (ActiveMQ's default). */
  readonly autoCreateDestinations?: boolean;
  readonly defaultPrefetch?: number;
  readonly policies?: readonly PolicyRule[];
  readonly composites?: readonly CompositeDestination[];
  readonly virtualTopics?: VirtualTopicOptions;
  /** How often waiting messages are checked for expiry, in ms. */
  readonly expirySweepInterval?: number;
  /**
   * Bytes of persistent message bodies kept in memory (default: no limit). Past it, bodies wait in
   * the store and are read back near the head of their queue; a store without a reader keeps all.
   */
  readonly bodyCacheSize?: number;
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
  /** A JMS selector; refused with FERRY_SELECTOR_INVALID when it does not parse. */
  readonly selector?: string | undefined;
  /** Compare string properties with numbers as numbers (ActiveMQ does for STOMP and MQTT, whose headers are all strings). */
  readonly selectorConvertsStrings?: boolean | undefined;
  /** Makes a topic subscription durable under this name and the connection's client id. */
  readonly durableName?: string | undefined;
  /**
   * Makes a topic subscription shared: every consumer that names the same share and pattern takes
   * from one subscription queue, competing; it ends when its last consumer goes.
   */
  readonly shareName?: string | undefined;
  /**
   * Hands the new subscription the retained messages its pattern matches, first: `all` always,
   * `new` only when the subscription did not exist before (a durable one resumed gets none).
   * Shared subscriptions get none.
   */
  readonly retainedMessages?: 'all' | 'new' | 'none' | undefined;
}

/** A durable subscription as stored: its client id's name for it, pattern, selector, no-local. */
export interface DurableSubscriptionInfo {
  readonly name: string;
  readonly topic: string;
  readonly selector: string | undefined;
  readonly noLocal: boolean;
  readonly active: boolean;
}

interface TopicSubscription {
  readonly pattern: string;
  readonly queue: MessageQueue;
  readonly noLocal: boolean;
  readonly selectorText: string | undefined;
  readonly selector: Selector | undefined;
  readonly durable: { readonly clientId: string; readonly name: string } | undefined;
  consumer: Consumer | null;
  /** Connection whose own messages a no-local subscription skips. */
  localConnectionId: string | undefined;
}

export interface DurableSubscriptionStats {
  readonly clientId: string;
  readonly name: string;
  readonly topic: string;
  readonly selector: string | undefined;
  readonly active: boolean;
  readonly pending: number;
  readonly inFlight: number;
}

export interface BrokerStats {
  readonly queues: readonly QueueStats[];
  readonly topics: readonly { readonly name: string; readonly subscriptions: number }[];
  readonly durableSubscriptions: readonly DurableSubscriptionStats[];
  readonly connections: number;
  readonly scheduled: number;
  /** Persistent message bodies in memory and on disk only (the body cache). */
  readonly messageBodies: BodyCacheStats;
}

function durableKey(clientId: string, name: string): string {
  return `${clientId}\u0000${name}`;
}

/**
 * Where ids kept for a client id are (`kind` "producer" for its producer ids): under the client id,
 * so they outlive the connection.
 */
function sessionScope(kind: string, clientId: string): string {
  return `${kind}:${clientId}`;
}

function producerScope(connection: CoreConnection): string {
  const clientId = connection.clientId;
  if (clientId === undefined) throw new FerryError('FERRY_CLIENT_ID_REQUIRED', 'a producer id needs a connection with a client id');
  return sessionScope(PRODUCER, clientId);
}

const PRODUCER = 'producer';

function temporaryKey(d: Destination): string {
  return `${d.kind}:${d.name}`;
}

/** `queue://a,topic://b` or `a,b` (same kind as the whole): a client-side composite destination. */
function splitComposite(destination: Destination): Destination[] {
  return destination.name.split(',').map((part) => {
    const name = part.trim();
    if (name.startsWith('queue://')) return { kind: 'queue', name: name.slice(8) };
    if (name.startsWith('topic://')) return { kind: 'topic', name: name.slice(8) };
    return { kind: destination.kind, name };
  });
}

/**
 * The broker: destinations, subscriptions, routing, transactions, dead letters, scheduling and
 * recovery. Knows no protocol; adapters reach it through CoreConnection and CoreSession and receive
 * through DeliverySinks.
 */
export class Broker implements RecoveryTarget {
  readonly name: string;
  readonly logger: Logger;
  private readonly store: Store;
  private readonly clock: () => number;
  private readonly autoCreate: boolean;
  private readonly defaultPrefetch: number;
  private readonly policies: PolicyBook;
  private readonly composites = new Map<string, CompositeDestination>();
  private readonly virtualTopics: VirtualTopicOptions;
  private readonly expirySweepInterval: number;
  private readonly timers: TimerQueue;
  private readonly queues = new Map<string, MessageQueue>();
  /** Virtual topic name -> its consumer queues. */
  private readonly virtualConsumers = new Map<string, Set<MessageQueue>>();
  private readonly topics = new Set<string>();
  private readonly topicSubscriptions = new SubscriptionIndex<TopicSubscription>();
  private readonly durableSubscriptions = new Map<string, TopicSubscription>();
  /** Shared subscriptions by share name and pattern. */
  private readonly sharedSubscriptions = new Map<string, TopicSubscription>();
  private retained: RetainedMessages | undefined;
  private readonly connections = new Map<string, CoreConnection>();
  private readonly clientIds = new Map<string, CoreConnection>();
  private readonly temporaryOwners = new Map<string, CoreConnection>();
  private persistence: Persistence | undefined;
  private readonly bodies: BodyCache;
  /** Queues whose delivery mark moved this turn; written together at the end of it. */
  private readonly movedMarks = new Set<MessageQueue>();
  private scheduler: MessageScheduler | undefined;
  private duplicates: DuplicateDetector | undefined;
  private queueEnvironment: QueueEnvironment | undefined;
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
    this.policies = new PolicyBook(options.policies ?? []);
    for (const composite of options.composites ?? []) this.composites.set(temporaryKey(composite), composite);
    this.virtualTopics = options.virtualTopics ?? { enabled: true, prefix: 'VirtualTopic.', consumerPrefix: 'Consumer.' };
    this.expirySweepInterval = options.expirySweepInterval ?? 1000;
    this.timers = new TimerQueue(this.clock);
    this.bodies = new BodyCache(this.store.reader, options.bodyCacheSize ?? Number.POSITIVE_INFINITY, this.logger);
    this.idPrefix = `${this.name}-${Date.now().toString(36)}`;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Opens the store and rebuilds destinations, durable subscriptions, waiting and scheduled messages from it. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new FerryError('FERRY_BROKER_STOPPING', 'a broker starts only once');
    const keep = this.bodies.recoveryFilter();
    const recovered = await this.store.open(keep === undefined ? undefined : { keep });
    const persistence = new Persistence(this.store, recovered.maxId, this.bodies);
    this.persistence = persistence;
    this.queueEnvironment = {
      persistence,
      bodies: this.bodies,
      clock: this.clock,
      timers: this.timers,
      deadLetter: (queue, entry, reason) => this.deadLetter(queue, entry, reason),
      deliveryMarkMoved: (queue) => this.deliveryMarkMoved(queue),
    };
    this.scheduler = new MessageScheduler(this.store, persistence, this.timers, this.clock, (message, txId) => this.deliverScheduled(message, txId), this.logger);
    this.duplicates = new DuplicateDetector(this.store, persistence);
    this.retained = new RetainedMessages(this.store, persistence, this.clock);
    recoverState(this, recovered.records, this.store, this.bodies, this.logger);
    if (recovered.prepared.length > 0) {
      this.logger.warn({ event: 'store.prepared', count: recovered.prepared.length }, 'prepared transactions found; they stay in doubt until resolved');
    }
    this.state = 'running';
    this.sweepExpired();
  }

  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    for (const connection of [...this.connections.values()]) connection.close();
    // everything delivered came back with its count: the marks are not needed to flag redeliveries
    this.movedMarks.clear();
    for (const queue of this.allPersistentQueues()) {
      if (queue.deliveryMarkRecord !== 0) this.store.delete(queue.deliveryMarkRecord);
      queue.deliveryMarkRecord = 0;
    }
    this.scheduler?.stop();
    this.timers.stop();
    await this.store.sync();
    await this.store.close();
    this.state = 'stopped';
  }

  connect(info: ConnectionInfo): CoreConnection {
    if (this.state !== 'running') throw new FerryError('FERRY_BROKER_STOPPING', 'the broker is not accepting connections');
    if (info.clientId !== undefined && this.clientIds.has(info.clientId)) {
      if (info.takeOver !== true) throw new FerryError('FERRY_CLIENT_ID_IN_USE', `client id "${info.clientId}" is already connected`);
      // the newer connection wins: the older one hears of it, then closes before this one opens
      const previous = this.clientIds.get(info.clientId)!;
      previous.onEvicted?.();
      previous.close();
    }
    const connection = new CoreConnection(`${this.idPrefix}-${this.nextConnection++}`, info, this);
    this.connections.set(connection.id, connection);
    if (info.clientId !== undefined) this.clientIds.set(info.clientId, connection);
    return connection;
  }

  createMessage(init: MessageInit, connectionId: string): Message {
    return buildMessage(init, `ID:${this.idPrefix}-${this.nextMessage++}`, this.clock(), connectionId);
  }

  /** Checks that a message may be sent to `destination` (creating destinations on first use). */
  checkSendable(destination: Destination, _connection: CoreConnection | undefined): void {
    if (destination.name.includes(',') && destination.temporary !== true) {
      for (const part of splitComposite(destination)) this.checkSendable(part, undefined);
      return;
    }
    validateDestinationName(destination.name, false);
    if (destination.temporary === true) {
      if (!this.temporaryOwners.has(temporaryKey(destination))) {
        throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary ${destination.kind} "${destination.name}" no longer exists`);
      }
      return;
    }
    if (this.composites.has(temporaryKey(destination))) return;
    if (destination.kind === 'queue') this.queueNamed(destination.name);
    else this.topicNamed(destination.name);
  }

  /**
   * Routes a message now (or hands it to the scheduler); resolves when it is durable, or returns
   * null when nothing was written. A message whose duplicate-detection id was seen is accepted
   * and dropped.
   */
  send(message: Message, connection: CoreConnection, options?: SendOptions): Promise<void> | null {
    this.checkSendable(message.destination, connection);
    if (options?.retain === true) {
      const destination = message.destination;
      if (destination.kind !== 'topic' || destination.temporary === true || destination.name.includes(',')) {
        throw new FerryError('FERRY_DESTINATION_INVALID', 'only a plain topic keeps a retained message');
      }
      // the retained copy outlives the message's record
      this.bodies.pin(message);
      const retainedWrote = this.requireRetained().set(message);
      const routed = this.send(message, connection, options.producerId === undefined ? undefined : { producerId: options.producerId });
      return routed ?? (retainedWrote ? this.store.sync() : null);
    }
    const duplicateId = this.duplicateIdOf(message);
    const producerId = options?.producerId;
    if (duplicateId !== undefined || producerId !== undefined) {
      const duplicates = this.requireDuplicates();
      const key = temporaryKey(message.destination);
      const producer = producerId === undefined ? undefined : producerScope(connection);
      if ((duplicateId !== undefined && duplicates.isDuplicate(key, duplicateId)) || (producer !== undefined && duplicates.isDuplicate(producer, producerId!))) {
        this.logger.debug({ event: 'message.duplicate', destination: message.destination.name, duplicateId, producerId }, 'duplicate dropped');
        return null;
      }
      // the ids and the message go in one store transaction: a crash keeps all or none
      const txId = message.persistent ? this.requirePersistence().allocateId() : undefined;
      const touched = new Set<MessageQueue>();
      this.routeOrSchedule(message, txId, touched);
      if (duplicateId !== undefined) duplicates.remember(key, duplicateId, this.policyFor(message.destination).duplicateWindow, message.persistent, txId);
      if (producer !== undefined) duplicates.remember(producer, producerId!, Number.POSITIVE_INFINITY, message.persistent, txId);
      if (txId !== undefined) this.store.commit(txId);
      for (const queue of touched) queue.dispatch();
      return txId !== undefined ? this.store.sync() : null;
    }
    return this.routeOrSchedule(message, undefined, undefined) ? this.store.sync() : null;
  }

  commit(tx: Transaction): Promise<void> | null {
    const persistence = this.requirePersistence();
    const storeTx = tx.touchesStore || tx.sends.some((m) => this.duplicateIdOf(m) !== undefined) ? persistence.allocateId() : undefined;
    for (const entry of tx.acknowledged) entry.queue.acknowledge(entry, storeTx);
    const touched = new Set<MessageQueue>();
    for (const message of tx.sends) {
      try {
        this.checkSendable(message.destination, undefined);
      } catch (err) {
        this.logger.warn({ event: 'tx.send.dropped', destination: message.destination.name, err }, 'destination went away before commit');
        continue;
      }
      const duplicateId = this.duplicateIdOf(message);
      if (duplicateId !== undefined) {
        const key = temporaryKey(message.destination);
        if (this.requireDuplicates().isDuplicate(key, duplicateId)) continue;
        this.requireDuplicates().remember(key, duplicateId, this.policyFor(message.destination).duplicateWindow, message.persistent, storeTx);
      }
      this.routeOrSchedule(message, storeTx, touched);
    }
    if (storeTx !== undefined) this.store.commit(storeTx);
    // dispatch only after the commit record, so an auto-acknowledged delete never precedes its add
    for (const queue of touched) queue.dispatch();
    for (const entry of tx.rejected) entry.queue.deadLetter(entry, 'rejected by the consumer');
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
    const selector = options.selector === undefined || options.selector.trim() === '' ? undefined : compileSelector(options.selector, { convertStringExpressions: options.selectorConvertsStrings === true });
    const makeConsumer = (queue: MessageQueue, queueSelector: Selector | undefined): Consumer =>
      new Consumer(this.nextConsumer++, connection.id, queue, options.sink, {
        prefetch: options.prefetch ?? this.defaultPrefetch,
        ackMode: options.ackMode ?? 'auto',
        exclusive: options.exclusive ?? false,
        priority: options.priority ?? 0,
        noLocal: options.noLocal ?? false,
        selector: queueSelector,
      });

    if (destination.kind === 'queue') {
      validateDestinationName(destination.name, false);
      if (options.durableName !== undefined) {
        throw new FerryError('FERRY_DESTINATION_INVALID', 'a durable subscription needs a topic, not a queue');
      }
      const queue = this.queueForConsumer(destination, connection);
      const consumer = makeConsumer(queue, selector);
      queue.addConsumer(consumer);
      return consumer;
    }

    validateDestinationName(destination.name, true);
    if (destination.temporary === true && !connection.ownsTemporary(destination)) {
      throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary topic "${destination.name}" belongs to another connection`);
    }
    if (!hasWildcard(destination.name)) this.topicNamed(destination.name);
    if (options.shareName !== undefined) {
      if (options.durableName !== undefined) throw new FerryError('FERRY_DESTINATION_INVALID', 'a subscription is either shared or durable, not both');
      return this.subscribeShared(connection, options, selector, makeConsumer);
    }
    if (options.durableName !== undefined) {
      const clientId = connection.clientId;
      const existed = clientId !== undefined && this.durableSubscriptions.has(durableKey(clientId, options.durableName));
      const consumer = this.subscribeDurable(connection, options, selector, makeConsumer);
      if (options.retainedMessages === 'all' || (options.retainedMessages === 'new' && !existed)) this.handRetained(consumer.queue, destination.name);
      return consumer;
    }

    const subscription: TopicSubscription = {
      pattern: destination.name,
      queue: this.newQueue(destination.name, 'subscription', 0, 'topic'),
      noLocal: options.noLocal ?? false,
      selectorText: options.selector,
      selector,
      durable: undefined,
      consumer: null,
      localConnectionId: connection.id,
    };
    if (options.retainedMessages === 'all' || options.retainedMessages === 'new') this.handRetained(subscription.queue, destination.name);
    // the subscription filters when routing, so its consumer takes everything that reaches it
    const consumer = makeConsumer(subscription.queue, undefined);
    subscription.consumer = consumer;
    subscription.queue.addConsumer(consumer);
    this.topicSubscriptions.add(subscription.pattern, subscription);
    consumer.onClose = () => {
      this.topicSubscriptions.remove(subscription.pattern, subscription);
      subscription.queue.destroy();
    };
    return consumer;
  }

  /** How many topics have a retained message. */
  get retainedCount(): number {
    return this.retained?.size ?? 0;
  }

  /** The durable subscriptions of a client id, active or not. */
  durableSubscriptionsOf(clientId: string): DurableSubscriptionInfo[] {
    const found: DurableSubscriptionInfo[] = [];
    for (const s of this.durableSubscriptions.values()) {
      if (s.durable?.clientId !== clientId) continue;
      found.push({ name: s.durable.name, topic: s.pattern, selector: s.selectorText, noLocal: s.noLocal, active: s.consumer !== null });
    }
    return found;
  }

  /** True while the connection's producer has not forgotten `id` (see `SendOptions.producerId`). */
  holdsProducerId(connection: CoreConnection, id: string): boolean {
    return this.requireDuplicates().isDuplicate(producerScope(connection), id);
  }

  /** The producer is done with `id`: a later message may use it again. Returns false if it was not held. */
  forgetProducerId(connection: CoreConnection, id: string): boolean {
    return this.requireDuplicates().forget(producerScope(connection), id);
  }

  /**
   * Keeps an id for a client id in the store until forgotten, under a `kind` the protocol names: what
   * a session must still do after a restart (MQTT: the PUBRELs it owes). Durable with the next sync.
   */
  rememberSessionId(clientId: string, kind: string, id: string): void {
    this.requireDuplicates().remember(sessionScope(kind, clientId), id, Number.POSITIVE_INFINITY, true);
  }

  sessionIds(clientId: string, kind: string): string[] {
    return this.requireDuplicates().idsOf(sessionScope(kind, clientId));
  }

  forgetSessionId(clientId: string, kind: string, id: string): boolean {
    return this.requireDuplicates().forget(sessionScope(kind, clientId), id);
  }

  /** Forgets every id a client id's session kept, its producer ids among them (the session ended). */
  forgetSessionIds(clientId: string, kinds: readonly string[]): void {
    const duplicates = this.requireDuplicates();
    for (const kind of [PRODUCER, ...kinds]) duplicates.forgetAll(sessionScope(kind, clientId));
  }

  /** The messages waiting in a queue, in delivery order, optionally filtered; nothing is consumed. */
  browse(destination: Destination, connection: CoreConnection, selector?: string, selectorConvertsStrings?: boolean): Message[] {
    if (destination.kind !== 'queue') throw new FerryError('FERRY_DESTINATION_INVALID', 'only queues can be browsed');
    validateDestinationName(destination.name, false);
    const queue = destination.temporary === true ? this.queueForConsumer(destination, connection) : this.queues.get(destination.name);
    if (queue === undefined) return [];
    const messages = queue.snapshot();
    if (selector === undefined || selector.trim() === '') return messages;
    const compiled = compileSelector(selector, { convertStringExpressions: selectorConvertsStrings === true });
    return messages.filter((m) => compiled.matches(m));
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
    if (destination.kind === 'queue') this.queues.set(destination.name, this.newQueue(destination.name, 'queue', 0, 'queue'));
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

  /**
   * What the store keeps on disk, file by file, with the records keeping each file alive named by
   * what they belong to: a queue, a durable subscription, a waiting message. Undefined for stores
   * without files.
   */
  storeReport(): { store: StoreDescription; owners: Record<number, string> } | undefined {
    const description = this.store.describe?.();
    if (description === undefined) return undefined;
    const wanted = new Set<number>();
    for (const segment of description.segments) for (const id of segment.keptAliveBy) wanted.add(id);
    const owners: Record<number, string> = {};
    const name = (id: number, what: string): void => {
      if (wanted.has(id)) owners[id] = what;
    };
    const describeQueue = (queue: MessageQueue, label: string): void => {
      name(queue.recordId, label);
      name(queue.deliveryMarkRecord, `delivery mark of ${label}`);
      for (const entry of queue.entries()) {
        name(entry.referenceId, `message waiting in ${label}`);
        if (entry.stored !== null) name(entry.stored.recordId, `message waiting in ${label}`);
      }
    };
    for (const queue of this.queues.values()) if (queue.recordId !== 0) describeQueue(queue, `queue ${queue.name}`);
    for (const s of this.durableSubscriptions.values()) describeQueue(s.queue, `durable subscription ${s.durable!.clientId}:${s.durable!.name} on topic ${s.pattern}`);
    for (const id of wanted) owners[id] ??= 'a scheduled message, duplicate-detection id or transaction record';
    return { store: description, owners };
  }

  /** The first `limit` messages waiting in a queue, for operators; nothing is consumed. */
  peek(queueName: string, limit: number): Message[] {
    const queue = this.queues.get(queueName);
    if (queue === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no queue "${queueName}"`);
    return queue.snapshot(limit);
  }

  /** Drops the waiting messages of a queue; returns how many. */
  purge(queueName: string): number {
    const queue = this.queues.get(queueName);
    if (queue === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no queue "${queueName}"`);
    return queue.purge();
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
        selector: s.selectorText,
        active: s.consumer !== null,
        pending: q.pending,
        inFlight: q.inFlight,
      };
    });
    const queues = [...this.queues.values()].map((q) => q.stats()).sort((a, b) => a.name.localeCompare(b.name));
    return { queues, topics, durableSubscriptions, connections: this.connections.size, scheduled: this.scheduler?.size ?? 0, messageBodies: this.bodies.stats() };
  }

  // RecoveryTarget: how recovery puts the store's records back

  recoverQueue(recordId: number, name: string): MessageQueue {
    const queue = this.newQueue(name, 'queue', recordId, 'queue');
    this.queues.set(name, queue);
    this.indexVirtualConsumer(queue);
    return queue;
  }

  recoverDurable(recordId: number, clientId: string, name: string, topic: string, selector: string | undefined, noLocal: boolean): MessageQueue {
    return this.addDurable(recordId, clientId, name, topic, selector, noLocal).queue;
  }

  recoverScheduled(recordId: number, data: Buffer): void {
    this.requireScheduler().recover(recordId, data);
  }

  recoverDuplicateId(recordId: number, data: Buffer): void {
    this.requireDuplicates().recover(recordId, data);
  }

  recoverRetained(recordId: number, data: Buffer): void {
    this.requireRetained().recover(recordId, data);
  }

  /** Puts the retained messages `pattern` matches into a starting subscription's queue, ahead of what routing brings. */
  private handRetained(queue: MessageQueue, pattern: string): void {
    for (const message of this.requireRetained().matching(pattern)) queue.acceptRetained(message);
  }

  /** Joins (or starts) the shared subscription of `options.shareName` on the pattern; its consumers compete. */
  private subscribeShared(connection: CoreConnection, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: (q: MessageQueue, s: Selector | undefined) => Consumer): Consumer {
    const pattern = options.destination.name;
    const key = durableKey(options.shareName!, pattern);
    let subscription = this.sharedSubscriptions.get(key);
    if (subscription === undefined) {
      subscription = {
        pattern,
        queue: this.newQueue(`${options.shareName!}:${pattern}`, 'subscription', 0, 'topic', pattern),
        noLocal: false,
        selectorText: options.selector,
        selector,
        durable: undefined,
        consumer: null,
        localConnectionId: connection.id,
      };
      this.sharedSubscriptions.set(key, subscription);
      this.topicSubscriptions.add(pattern, subscription);
    }
    const shared = subscription;
    const consumer = makeConsumer(shared.queue, undefined);
    shared.queue.addConsumer(consumer);
    consumer.onClose = () => {
      if (shared.queue.consumerCount > 0 || this.sharedSubscriptions.get(key) !== shared) return;
      this.sharedSubscriptions.delete(key);
      this.topicSubscriptions.remove(shared.pattern, shared);
      shared.queue.destroy();
    };
    return consumer;
  }

  private deliveryMarkMoved(queue: MessageQueue): void {
    if (this.movedMarks.size === 0) setImmediate(() => this.writeDeliveryMarks());
    this.movedMarks.add(queue);
  }

  private writeDeliveryMarks(): void {
    const persistence = this.persistence;
    if (persistence === undefined || this.state !== 'running') return;
    for (const queue of this.movedMarks) {
      if (queue.recordId === 0) continue;
      const data = encodeDeliveryMark({ queueId: queue.recordId, seq: queue.deliveryMark });
      if (queue.deliveryMarkRecord === 0) {
        queue.deliveryMarkRecord = persistence.allocateId();
        this.store.add(queue.deliveryMarkRecord, RecordType.DeliveryMark, data);
      } else this.store.update(queue.deliveryMarkRecord, RecordType.DeliveryMark, data);
    }
    this.movedMarks.clear();
  }

  private *allPersistentQueues(): IterableIterator<MessageQueue> {
    for (const queue of this.queues.values()) if (queue.recordId !== 0) yield queue;
    for (const subscription of this.durableSubscriptions.values()) yield subscription.queue;
  }

  private duplicateIdOf(message: Message): string | undefined {
    const value = message.properties.get(DUPLICATE_ID_PROPERTY);
    return value === undefined || value === null ? undefined : String(value);
  }

  private policyFor(destination: Destination): ReturnType<PolicyBook['resolve']> {
    return this.policies.resolve(destination.kind, destination.name);
  }

  private routeOrSchedule(message: Message, storeTx: number | undefined, touched: Set<MessageQueue> | undefined): boolean {
    if (MessageScheduler.wants(message)) return this.requireScheduler().schedule(message, storeTx);
    return this.route(message, storeTx, touched);
  }

  private deliverScheduled(message: Message, txId: number | undefined): void {
    // a repeating schedule routes the same message again
    this.bodies.pin(message);
    const touched = new Set<MessageQueue>();
    this.route(message, txId, touched);
    if (txId === undefined) for (const queue of touched) queue.dispatch();
    else queueMicrotask(() => {
      for (const queue of touched) queue.dispatch();
    });
  }

  /**
   * Every queue a message sent to `destination` lands in, following composites and virtual topics.
   * A composite hands each part its own copy named by that part (as ActiveMQ does), with the
   * composite's name as the original destination.
   */
  private targetsOf(message: Message, destination: Destination, into: [MessageQueue, Message][], depth: number): void {
    if (depth > 8) throw new FerryError('FERRY_DESTINATION_INVALID', `composite destinations nest too deep at "${destination.name}"`);
    const forward = (to: Destination): void => {
      const copy = copyMessage(message, { destination: to, originalDestination: message.originalDestination ?? message.destination });
      this.targetsOf(copy, to, into, depth + 1);
    };
    if (destination.name.includes(',') && destination.temporary !== true) {
      for (const part of splitComposite(destination)) forward(part);
      return;
    }
    const composite = this.composites.get(temporaryKey(destination));
    if (composite !== undefined) {
      for (const to of composite.forwardTo) forward(to);
      if (composite.forwardOnly) return;
    }
    if (destination.kind === 'queue') {
      const queue = this.queues.get(destination.name) ?? (destination.temporary === true ? undefined : this.queueNamed(destination.name));
      if (queue !== undefined) into.push([queue, message]);
      return;
    }
    this.topicSubscriptions.match(destination.name, (subscription) => {
      if (subscription.noLocal && subscription.localConnectionId === message.originConnectionId) return;
      if (subscription.selector !== undefined && !subscription.selector.matches(message)) return;
      into.push([subscription.queue, message]);
    });
    if (this.virtualTopics.enabled && destination.name.startsWith(this.virtualTopics.prefix)) {
      const consumers = this.virtualConsumers.get(destination.name);
      if (consumers !== undefined) for (const queue of consumers) into.push([queue, message]);
    }
  }

  private route(message: Message, storeTx: number | undefined, touched?: Set<MessageQueue>): boolean {
    const persistence = this.requirePersistence();
    const targets: [MessageQueue, Message][] = [];
    this.targetsOf(message, message.destination, targets, 0);
    // one message record per distinct message that some persisting queue keeps
    let stored: StoredMessage | null = null;
    let storedFor: Message | undefined;
    let wrote = false;
    let heldInMemory: Set<Message> | undefined;
    for (const [queue, routed] of targets) {
      let record: StoredMessage | null = null;
      if (routed.persistent && queue.recordId !== 0) {
        if (storedFor !== routed) {
          stored = persistence.storeMessage(routed, storeTx);
          storedFor = routed;
          wrote = true;
        }
        record = stored;
      }
      if (touched === undefined) queue.accept(routed, record, storeTx, true);
      else {
        queue.accept(routed, record, storeTx, false);
        touched.add(queue);
      }
    }
    if (wrote && this.bodies.overLimit) {
      // a body may leave memory only if every queue holding its message can read it back from the store
      for (const [queue, routed] of targets) if (queue.recordId === 0 && routed.persistent) (heldInMemory ??= new Set()).add(routed);
      for (const [queue, routed] of targets) {
        if (queue.recordId !== 0 && routed.persistent && heldInMemory?.has(routed) !== true) this.bodies.offer(routed);
      }
    }
    return wrote;
  }

  /**
   * Moves an entry to its dead-letter queue inside one store transaction (a crash keeps it in one
   * place or the other, never both or neither). Non-persistent messages are dropped unless the
   * policy says otherwise, and so is anything failing in a dead-letter queue itself.
   */
  private deadLetter(queue: MessageQueue, entry: QueueEntry, reason: string): void {
    const message = entry.message;
    const policy = queue.policy;
    const origin = message.originalDestination ?? message.destination;
    const target = policy.individualDeadLetter ? `${policy.individualDeadLetterPrefix}${origin.name}` : policy.deadLetterQueue;
    const drop = this.policies.isDeadLetterQueue(queue.name) || (!message.persistent && !policy.deadLetterNonPersistent) || message.destination.temporary === true;
    if (drop) {
      queue.acknowledge(entry);
      this.logger.debug({ event: 'message.discarded', messageId: message.id, queue: queue.name, reason }, 'message discarded');
      return;
    }
    const properties = new Map<string, PropertyValue>(message.properties);
    properties.set('dlqDeliveryFailureCause', reason);
    if (message.expiration !== 0) properties.set('originalExpiration', message.expiration);
    const copy = copyMessage(message, { destination: { kind: 'queue', name: target }, originalDestination: origin, expiration: 0, properties });
    const persistence = this.requirePersistence();
    const dlq = this.queueNamed(target, true);
    const txId = copy.persistent ? persistence.allocateId() : undefined;
    const stored = copy.persistent ? persistence.storeMessage(copy, txId) : null;
    dlq.accept(copy, stored, txId, false);
    queue.acknowledge(entry, txId);
    if (txId !== undefined) this.store.commit(txId);
    // a dead-letter queue that fills up must not fill memory either
    if (stored !== null) this.bodies.offer(copy);
    this.logger.debug({ event: 'message.dead-lettered', messageId: message.id, from: queue.name, to: target, reason }, 'message dead-lettered');
    queueMicrotask(() => dlq.dispatch());
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

  private subscribeDurable(connection: CoreConnection, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: (q: MessageQueue, s: Selector | undefined) => Consumer): Consumer {
    const clientId = connection.clientId;
    const name = options.durableName!;
    if (clientId === undefined) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `durable subscription "${name}" needs a client id on the connection`);
    }
    const key = durableKey(clientId, name);
    let subscription = this.durableSubscriptions.get(key);
    const noLocal = options.noLocal ?? false;
    const selectorText = selector === undefined ? undefined : options.selector;
    if (subscription !== undefined && subscription.consumer !== null) {
      throw new FerryError('FERRY_CONSUMER_EXISTS', `durable subscription "${name}" of client id "${clientId}" already has an active subscriber`);
    }
    if (subscription !== undefined && (subscription.pattern !== options.destination.name || subscription.selectorText !== selectorText || subscription.noLocal !== noLocal)) {
      // JMS: subscribing under the same name with another topic or selector replaces the subscription
      this.removeDurable(key, subscription);
      subscription = undefined;
    }
    if (subscription === undefined) {
      const recordId = this.requirePersistence().allocateId();
      this.store.add(
        recordId,
        RecordType.DurableSubscription,
        encodeDurableSubscription({ clientId, name, topic: options.destination.name, selector: selectorText, noLocal }),
      );
      subscription = this.addDurable(recordId, clientId, name, options.destination.name, selectorText, noLocal, options.selectorConvertsStrings === true);
    }
    const consumer = makeConsumer(subscription.queue, undefined);
    const active = subscription;
    active.consumer = consumer;
    active.localConnectionId = connection.id;
    consumer.onClose = () => {
      active.consumer = null;
    };
    active.queue.addConsumer(consumer);
    return consumer;
  }

  private addDurable(recordId: number, clientId: string, name: string, topic: string, selectorText: string | undefined, noLocal: boolean, convertStrings = true): TopicSubscription {
    const subscription: TopicSubscription = {
      pattern: topic,
      queue: this.newQueue(`${clientId}:${name}`, 'subscription', recordId, 'topic', topic),
      noLocal,
      selectorText,
      selector: selectorText === undefined ? undefined : compileSelector(selectorText, { convertStringExpressions: convertStrings }),
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

  private newQueue(name: string, kind: 'queue' | 'subscription', recordId: number, policyKind: 'queue' | 'topic', policyName = name): MessageQueue {
    return new MessageQueue(name, kind, recordId, this.policies.resolve(policyKind, policyName), this.requireEnvironment());
  }

  private queueForConsumer(destination: Destination, connection: CoreConnection): MessageQueue {
    if (destination.temporary === true) {
      const owner = this.temporaryOwners.get(temporaryKey(destination));
      if (owner === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary queue "${destination.name}" no longer exists`);
      if (owner !== connection) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary queue "${destination.name}" belongs to another connection`);
      return this.queues.get(destination.name)!;
    }
    return this.queueNamed(destination.name);
  }

  private queueNamed(name: string, force = false): MessageQueue {
    const existing = this.queues.get(name);
    if (existing !== undefined) return existing;
    if (!this.autoCreate && !force) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `queue "${name}" does not exist and destinations are not created on first use`);
    const recordId = this.requirePersistence().allocateId();
    this.store.add(recordId, RecordType.Queue, encodeQueue({ name }));
    const queue = this.newQueue(name, 'queue', recordId, 'queue');
    this.queues.set(name, queue);
    this.indexVirtualConsumer(queue);
    return queue;
  }

  /** `Consumer.A.VirtualTopic.orders` receives what is sent to topic `VirtualTopic.orders`. */
  private indexVirtualConsumer(queue: MessageQueue): void {
    const { enabled, prefix, consumerPrefix } = this.virtualTopics;
    if (!enabled || !queue.name.startsWith(consumerPrefix)) return;
    const rest = queue.name.slice(consumerPrefix.length);
    const dot = rest.indexOf('.');
    if (dot <= 0) return;
    const topic = rest.slice(dot + 1);
    if (!topic.startsWith(prefix)) return;
    let set = this.virtualConsumers.get(topic);
    if (set === undefined) this.virtualConsumers.set(topic, (set = new Set()));
    set.add(queue);
  }

  private topicNamed(name: string): void {
    if (this.topics.has(name)) return;
    if (!this.autoCreate) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `topic "${name}" does not exist and destinations are not created on first use`);
    this.topics.add(name);
  }

  private sweepExpired(): void {
    if (this.state !== 'running') return;
    const now = this.clock();
    for (const queue of this.queues.values()) queue.sweepExpired(now);
    for (const subscription of this.durableSubscriptions.values()) subscription.queue.sweepExpired(now);
    this.timers.at(now + this.expirySweepInterval, () => this.sweepExpired());
  }

  private requirePersistence(): Persistence {
    if (this.persistence === undefined) throw new FerryError('FERRY_BROKER_STOPPING', 'the broker has not started');
    return this.persistence;
  }

  private requireEnvironment(): QueueEnvironment {
    if (this.queueEnvironment === undefined) throw new FerryError('FERRY_BROKER_STOPPING', 'the broker has not started');
    return this.queueEnvironment;
  }

  private requireScheduler(): MessageScheduler {
    if (this.scheduler === undefined) throw new FerryError('FERRY_BROKER_STOPPING', 'the broker has not started');
    return this.scheduler;
  }

  private requireRetained(): RetainedMessages {
    if (this.retained === undefined) throw new FerryError('FERRY_BROKER_STOPPING', 'the broker has not started');
    return this.retained;
  }

  private requireDuplicates(): DuplicateDetector {
    if (this.duplicates === undefined) throw new FerryError('FERRY_BROKER_STOPPING', 'the broker has not started');
    return this.duplicates;
  }
}
