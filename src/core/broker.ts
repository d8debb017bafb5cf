import { errorFields, FerryError } from '../errors.js';
import type { OpenOptions, Store } from '../store/index.js';
import { guardPasses, type BrokerOptions } from './broker-options.js';
import {
  allowEveryone,
  type Authenticator,
  type Authorizer,
  type BrokerStats,
  type ConnectRequest,
  type ConsumerHandle,
  type Credentials,
  DEFAULT_SASL_MECHANISMS,
  type DurableSubscriptionInfo,
  type Operation,
  type Principal,
  type SaslExchange,
  type SubscribeOptions,
  type TransportFacts,
} from './access.js';
import { BrokerAdmin, isSchedulerCommand } from './admin.js';
import type { DeliverySink } from './sink.js';
import { hasWildcard, validateDestinationName } from './address.js';
import { BodyCache } from './body-cache.js';
import { QueueBrowser } from './browser.js';
import type { BrokerAccess } from './broker-access.js';
import { ClientIds } from './client-ids.js';
import { CoreConnection, type ConnectionHost, type SendOptions } from './connection.js';
import { Consumer } from './consumer.js';
import { Destinations, destinationKey, isClientComposite, splitComposite } from './destinations.js';
import { ConsumerEvents, type ConsumerWatcher } from './consumer-events.js';
import type { DestinationWatcher } from './destination-events.js';
import type { ConnectionFacts, ConnectionWatcher } from './connection-events.js';
import { Watched } from './watched.js';
import { ProducerEvents, type ProducerWatcher } from './producer-events.js';
import { SequenceMarks, type SequenceMarkBook } from './sequence-marks.js';
import { DuplicateDetector, duplicateIdOf } from './duplicates.js';
import { describeBroker, describeStore, waitingMessageIds, type StoreReport } from './inspection.js';
import { silentLogger, type Logger } from './logger.js';
import { buildMessage, checkUserId, type Destination, type Message, type MessageInit, type PublishInit, type PublishedAs } from './message.js';
import { MessageQueue, type QueueEnvironment } from './message-queue.js';
import { MessageOutcomes, type MessageOutcomeWatcher } from './message-outcomes.js';
import { Persistence } from './persistence.js';
import { PolicyBook } from './policy.js';
import { giveBackToQueues, type StoredMessage } from './queue-entry.js';
import { PreparedTransactions } from './prepared.js';
import { XaTransactions } from './xa-transactions.js';
import { ProducerFlow } from './producer-flow.js';
import { writeDeliveryMark } from './delivery-mark.js';
import { TAKEN_AFTER_SERVING, recoverState, type Recovered } from './recovery.js';
import { recoveryTarget } from './recovery-target.js';
import { ForwardedRetained, RetainedMessages, asksToRetain } from './retained.js';
import { MessageScheduler, type ScheduledDelivery } from './scheduler.js';
import { compileSelector, excludingConnection, type Selector } from './selector/index.js';
import { TopicSubscriptions } from './subscriptions.js';
import { answerSlowConsumer } from './slow-consumer-answer.js';
import { ClientLimits } from './limits.js';
import { idKeeperOn, type IdKeeper } from './id-keeper.js';
import { TimerQueue } from './timers.js';
import { PeriodicSweeps } from './sweeps.js';
import { RateCounter, type DestinationSenders } from './traffic.js';
import { Declarations } from './declarations.js';
import { Router } from './router.js';
import type { Transaction } from './transaction.js';
import type { WildcardQueueConsumer, MemberParts } from './wildcard-queue-consumer.js';
import { subscribeComposite, subscribeQueuePattern, type ManyDestinationsHost } from './many-destinations.js';
import { RetiredCounts } from './retired-counts.js';

/** Ids a producer gives its messages are kept under its client id, in this scope. */
const PRODUCER = 'producer';

/**
 * The broker: destinations, subscriptions, routing, transactions, dead letters, scheduling and
 * recovery. Knows no protocol. Adapters hold it as a `BrokerAccess` (connect, name, running state)
 * and do everything else through the `CoreConnection` they get, which sees it as a `ConnectionHost`.
 */
export class Broker implements BrokerAccess, ConnectionHost {
  readonly name: string;
  readonly logger: Logger;
  readonly store: Store;
  private readonly clock: () => number;
  private readonly guard: (() => void) | undefined;
  private readonly defaultPrefetch: number;
  private readonly policies: PolicyBook;
  private readonly sweeps: PeriodicSweeps;
  private readonly authenticator: Authenticator;
  /** Undefined when everything is allowed, so the message path makes no call for it. */
  private readonly authorizer: Authorizer | undefined;
  private readonly timers: TimerQueue;
  private readonly destinations: Destinations;
  private readonly subscriptions: TopicSubscriptions;
  /** Exchanges, bindings and declared queues (RabbitMQ's model). */
  readonly declarations: Declarations;
  private readonly router: Router;
  private readonly connections = new Map<string, CoreConnection>();
  private readonly clientIds = new ClientIds();
  /** What the broker makes once its store is open: undefined before `start`. */
  private started: StartedParts | undefined;
  private readonly bodies: BodyCache;
  /** Queues whose delivery mark moved this turn; written together at the end of it. */
  private adminView: BrokerAdmin | undefined;
  private readonly idPrefix: string;
  private nextMessage = 1;
  private nextConnection = 1;
  private nextConsumer = 1;
  private state: 'new' | 'running' | 'stopping' | 'closing' | 'stopped' = 'new';
  private stopBegun = false;
  readonly producerIds: IdKeeper;
  readonly sessionIds: IdKeeper;
  readonly limits: ClientLimits;
  /** Slow consumers seen: subscriptions that went over their limit, connections closed for it, messages evicted. */
  readonly producerFlow = new ProducerFlow();
  private readonly slowConsumerCounts = { notified: 0, aborted: 0, evicted: 0 };
  private readonly retired = new RetiredCounts();

  private readonly confirmConsumed: boolean;
  private readonly loadInBackgroundAbove: number;
  /** Resolves once every recovered message is back in its queue (at once unless `loadInBackgroundAbove` was passed); rejects if that failed. */
  loaded: Promise<void> = Promise.resolve();
  private loadDiscarded: Recovered['discarded'] = () => Promise.resolve();
  private readonly stopTimeout: number;

  constructor(options: BrokerOptions) {
    this.store = options.store;
    this.loadInBackgroundAbove = options.loadInBackgroundAbove ?? Number.POSITIVE_INFINITY;
    this.stopTimeout = options.stopTimeout ?? 3000;
    this.name = options.name ?? 'ferry';
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? Date.now;
    this.guard = options.guard;
    this.defaultPrefetch = options.defaultPrefetch ?? 1000;
    this.confirmConsumed = options.confirmConsumed ?? true;
    this.policies = new PolicyBook(options.policies ?? []);
    this.authenticator = options.authenticator ?? allowEveryone;
    this.authorizer = options.authorizer;
    this.limits = new ClientLimits(options.limits);
    this.timers = new TimerQueue(this.clock);
    this.bodies = new BodyCache(this.store.reader, options.bodyCacheSize ?? Number.POSITIVE_INFINITY, this.logger, this.limits.messageMemory);
    this.idPrefix = `${this.name}-${Date.now().toString(36)}`;
    const parts = {
      store: this.store,
      newQueue: (name: string, kind: 'queue' | 'subscription', recordId: number, policyKind: 'queue' | 'topic', policyName = name) =>
        new MessageQueue(name, kind, recordId, this.policies.resolve(policyKind, policyName), this.parts.environment),
      allocateId: () => this.parts.persistence.allocateId(),
    };
    this.destinations = new Destinations(
      parts,
      options.autoCreateDestinations ?? true,
      options.virtualTopics ?? { enabled: true, prefix: 'VirtualTopic.', consumerPrefix: 'Consumer.' },
      options.composites ?? [],
      this.limits,
    );
    this.subscriptions = new TopicSubscriptions({
      ...parts,
      topicSeen: (name) => this.destinations.addTopic(name),
      retainedMatching: (pattern) => this.parts.retained.matching(pattern),
      durableChanged: (key, kept, removed) => this.consumerEvents.durableChanged(key, kept, removed),
    });
    this.declarations = new Declarations({
      store: this.store,
      timers: this.timers,
      clock: this.clock,
      logger: this.logger,
      queues: this.destinations.queues,
      isTemporary: (destination) => this.destinations.isTemporary(destination),
      temporaryQueueOwner: (name) => this.destinations.temporaryQueueOwner(name),
      isRunning: () => this.state === 'running' && !this.stopBegun,
      persistence: () => this.parts.persistence,
      createQueue: (name, recordId) => this.destinations.declaredQueue(name, recordId),
      checkRoom: (name) => this.destinations.checkRoom('queue', name),
      forgetQueue: (queue) => {
        queue.deliveryMark.drop(this.store);
        this.destinations.forgetQueue(queue);
      },
      authorize: (principal, operation, destination) => this.authorizer !== undefined && this.authorize(principal, operation, destination),
      place: (targets, storeTx, touched) => this.router.place(targets, storeTx, touched),
      topicTargets: (message, topic, into) => this.router.targetsOf(message, { kind: 'topic', name: topic }, into, 1),
      compositeTargets: (message, name, into) => this.router.compositeTargets(message, name, into),
    });
    this.router = new Router({
      store: this.store,
      destinations: this.destinations,
      subscriptions: this.subscriptions,
      declarations: this.declarations,
      bodies: this.bodies,
      policies: this.policies,
      logger: this.logger,
      outcomes: this.messageOutcomes,
      persistence: () => this.parts.persistence,
    });
    this.sweeps = new PeriodicSweeps({
      destinations: this.destinations,
      subscriptions: this.subscriptions,
      timers: this.timers,
      clock: this.clock,
      expirySweepInterval: options.expirySweepInterval ?? 1000,
      idleTopicTimeout: options.idleTopicTimeout ?? 300_000,
      running: () => this.state === 'running',
      retained: () => this.parts.retained,
    });
    this.producerIds = idKeeperOn(() => this.parts.duplicates, (clientId) => `${PRODUCER}:${clientId}`);
    this.sessionIds = idKeeperOn(() => this.parts.duplicates, (scope) => scope);
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Opens the store and rebuilds destinations, durable subscriptions, waiting and scheduled messages from it. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new FerryError('FERRY_BROKER_STOPPING', 'a broker starts only once');
    const recovered = await this.store.open(this.openOptions());
    const persistence = new Persistence(this.store, recovered.maxId, this.bodies, this.confirmConsumed);
    const environment: QueueEnvironment = {
      persistence,
      bodies: this.bodies,
      clock: this.clock,
      timers: this.timers,
      deadLetter: (queue, entry, reason) => this.router.deadLetter(queue, entry, reason),
      undeliverable: (queue, entry, err) =>
        this.logger.error({ event: 'consumer.undeliverable', queue: queue.name, messageId: entry.message.id, err }, 'a consumer\'s protocol could not carry a message; it goes to the dead-letter queue'),
      declaredQueueInUse: (queue) => this.declarations.consumerAdded(queue),
      declaredQueueUnused: (queue) => this.declarations.consumersGone(queue),
      // while stopping, everything delivered comes back with its counts stored: the marks are deleted, not moved
      writeDeliveryMark: (queue, seq) => (this.state === 'running' && queue.recordId !== 0 ? writeDeliveryMark(persistence, queue.deliveryMark, queue.recordId, seq) : undefined),
      stopping: () => this.stopBegun,
      producerFlow: this.producerFlow,
      messageMemory: this.limits.messageMemory,
      outcomes: this.messageOutcomes,
      // a non-durable subscription over its pending-message limit: counted, logged, and by policy its connection closed
      slowConsumer: (queue, action) => answerSlowConsumer(queue, action, this.slowConsumerCounts, this.connections, this.logger),
      queueGone: (queue) => this.retired.queueGone(queue),
      serving: () => this.serving(),
    };
    this.started = {
      persistence,
      environment,
      scheduler: new MessageScheduler(this.store, persistence, this.timers, this.clock, this.scheduledDelivery(), this.logger, () => `ID:${this.idPrefix}-${this.nextMessage++}`),
      duplicates: new DuplicateDetector(this.store, persistence),
      retained: new RetainedMessages(this.store, persistence, this.clock, (message) => this.bodies.pin(message)),
      marks: new SequenceMarks(this.store, persistence),
      prepared: new PreparedTransactions(this.store, persistence, this),
    };
    this.timers.hold();
    const target = recoveryTarget(this.destinations, this.declarations, this.subscriptions, this.started);
    const wanted = (): boolean => this.state === 'new' || this.state === 'running';
    const options = { loadInBackgroundAbove: this.loadInBackgroundAbove, wanted, discardWhileStopping: () => this.state === 'stopping', later: recovered.later, deleteUnplaced: this.store.repairing === true };
    ({ loaded: this.loaded, discarded: this.loadDiscarded } = await recoverState(target, recovered.stream ?? recovered.records, this.store, this.bodies, this.logger, options));
    this.timers.resume();
    if (recovered.prepared.length > 0) this.logger.warn({ event: 'store.prepared', count: recovered.prepared.length }, 'prepared transactions found; they stay in doubt until resolved');
    this.state = 'running';
    this.sweeps.start();
  }

  /** Has the store read ahead what `start` will recover (true), or forget it (false); see `Store.readAhead`. */
  readAhead(wanted: boolean): void {
    if (!wanted) this.store.dropReadAhead?.();
    else if (this.state === 'new') void this.store.readAhead?.(this.openOptions());
  }

  /** Bodies past the cache stay on disk; waiting and scheduled messages may come back after the broker serves. */
  private openOptions(): OpenOptions {
    return { keep: this.bodies.recoveryFilter(), later: { types: TAKEN_AFTER_SERVING, above: this.loadInBackgroundAbove } };
  }

  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    this.stopBegun = true;
    for (const connection of [...this.connections.values()]) connection.close();
    // everything delivered came back with its counts stored (a return each): the marks are not needed to flag redeliveries
    for (const queue of this.allPersistentQueues()) {
      queue.delays.writeCounts();
      // a queue still loading keeps its mark: the messages not yet back may have gone out before a crash
      queue.deliveryMark.drop(queue.loadingState === undefined ? this.store : undefined);
    }
    this.started?.scheduler.stop();
    this.timers.stop();
    // an operator was told that what a purge of a queue still loading dropped is gone: at the next start it must be
    if (this.serving()) await this.loadDiscarded(this.stopTimeout);
    this.state = 'closing';
    try {
      // closing writes what is pending, or makes the last attempt of a store whose writes fail and says so
      await this.store.close();
    } finally {
      this.state = 'stopped';
    }
  }

  /** See `BrokerOptions.guard`. */
  private serving(): boolean {
    return guardPasses(this.guard);
  }

  /** A stop begins letting the clients go, before `stop`: what they give back is no failure of theirs (see `MessageQueue.giveBack`). */
  stopBegins(): void {
    this.stopBegun = true;
  }

  /** Authenticates the client, then opens its connection: a client that fails never evicts the holder of its client id. */
  async connect(request: ConnectRequest): Promise<CoreConnection> {
    this.assertAccepting();
    let principal: Principal;
    if (request.internal === true) principal = internalPrincipal;
    else {
      try {
        principal = await this.authenticator.authenticate(request);
      } catch (err) {
        // the user name as the client gave it, never its password
        this.logger.info(
          { event: 'connection.refused', protocol: request.protocol, remoteAddress: request.transport.remoteAddress, user: request.credentials?.username ?? request.credentials?.exchange?.username, clientId: request.clientId, ...errorFields(err) },
          `${request.protocol} connection from ${request.transport.remoteAddress} refused`,
        );
        throw err;
      }
    }
    this.assertAccepting();
    const clientId = request.clientId;
    this.clientIds.claim(request, principal);
    this.limits.admit(principal);
    const connection = new CoreConnection(`${this.idPrefix}-${this.nextConnection++}`, request, principal, this, this.clock(), this.clock);
    this.connections.set(connection.id, connection);
    this.clientIds.hold(connection);
    if (!principal.internal) {
      const { protocol, transport: { remoteAddress } } = request;
      this.logger.info({ event: 'connection.opened', connection: connection.id, protocol, remoteAddress, user: principal.username, clientId }, `${protocol} client ${clientId === undefined ? '' : `${clientId} `}connected from ${remoteAddress} as ${principal.username ?? 'anonymous'}`);
      this.connectionEvents.opened(connection.id, { id: connection.id, protocol, clientId: clientId ?? request.name, user: principal.username, remoteAddress });
    }
    return connection;
  }

  saslMechanisms(transport: TransportFacts): readonly string[] {
    return this.authenticator.mechanisms?.(transport) ?? DEFAULT_SASL_MECHANISMS;
  }

  startSasl(mechanism: string, transport: TransportFacts): SaslExchange | undefined {
    return this.authenticator.startExchange?.(mechanism, transport);
  }

  /**
   * Closes the client connections whose principal `pick` chooses (a user removed from the users
   * file), telling each adapter why through `onRevoked` so it can say so in its protocol.
   */
  closeConnections(pick: (principal: Principal) => boolean, reason: FerryError): number {
    let closed = 0;
    for (const connection of [...this.connections.values()]) {
      if (connection.principal.internal || !pick(connection.principal)) continue;
      closed++;
      connection.onRevoked?.(reason);
      connection.close();
    }
    return closed;
  }

  // ConnectionHost: what a CoreConnection asks of the broker

  createMessage(init: MessageInit | PublishInit, connection: CoreConnection, published?: PublishedAs): Message {
    checkUserId(init, connection.principal);
    return buildMessage(init, `ID:${this.idPrefix}-${this.nextMessage++}`, this.clock(), connection.id, published);
  }

  /** Checks that a message may be sent to `destination` by `connection` (creating destinations on first use). */
  checkSendable(destination: Destination, connection: CoreConnection): void {
    if (this.authorizer !== undefined) {
      this.authorize(connection.principal, 'send', destination);
      this.authorizeCreation(connection.principal, destination);
    }
    this.destinations.checkSendable(destination, connection.principal.internal);
  }

  /**
   * Routes a message now (or hands it to the scheduler); resolves when it is durable, or returns null
   * when nothing was written. A message whose duplicate-detection id was seen is accepted and dropped.
   */
  send(message: Message, connection: CoreConnection, options: SendOptions | undefined): Promise<void> | null {
    this.guard?.();
    this.checkSendable(message.destination, connection);
    // a scheduled message is stored whatever its delivery mode (see MessageScheduler.schedule)
    if (message.persistent || MessageScheduler.wants(message)) this.checkStoreAdmits();
    this.checkRoomForSend(message.destination);
    // a producer of any protocol may ask by the message's property; MQTT asks by its RETAIN flag
    return this.sendChecked(message, connection, options?.retain === undefined && asksToRetain(message) ? { ...options, retain: true } : options);
  }

  checkRoomForSend(destination: Destination): void {
    this.destinations.checkRoomForSend(destination);
    // a topic refuses while a subscription it reaches is full and fails sends (MQTT 5's quota exceeded)
    if (destination.kind === 'topic' && this.policies.refusesWhenFull) this.subscriptions.checkRoomForSend(destination.name);
  }

  private sendChecked(message: Message, connection: CoreConnection, options: SendOptions | undefined): Promise<void> | null {
    if (options?.retain !== undefined && options.retain !== false) {
      const destination = message.destination;
      if (destination.kind !== 'topic' || destination.temporary === true || isClientComposite(destination)) {
        throw new FerryError('FERRY_DESTINATION_INVALID', 'only a plain topic keeps a retained message');
      }
      const retainedWrote = this.parts.retained.set(message, undefined, options.retain === 'memory');
      const routed = this.sendChecked(message, connection, options.producerId === undefined ? undefined : { producerId: options.producerId });
      // the retained copy must be on disk whoever consumed the routed one
      return routed !== null || retainedWrote ? this.store.sync() : null;
    }
    const duplicateId = duplicateIdOf(message);
    const producerId = options?.producerId;
    if (duplicateId !== undefined || producerId !== undefined) {
      const duplicates = this.parts.duplicates;
      const key = destinationKey(message.destination);
      let producer: string | undefined;
      if (producerId !== undefined) {
        if (connection.clientId === undefined) throw new FerryError('FERRY_CLIENT_ID_REQUIRED', 'a producer id needs a connection with a client id');
        producer = `${PRODUCER}:${connection.clientId}`;
      }
      if ((duplicateId !== undefined && duplicates.isDuplicate(key, duplicateId)) || (producer !== undefined && duplicates.isDuplicate(producer, producerId!))) {
        this.logger.debug({ event: 'message.duplicate', destination: message.destination.name, duplicateId, producerId }, 'duplicate dropped');
        return null;
      }
      // the ids and the message go in one store transaction: a crash keeps all or none
      const txId = message.persistent ? this.parts.persistence.allocateId() : undefined;
      const touched = new Set<MessageQueue>();
      const wrote = this.routeOrSchedule(message, txId, touched);
      if (duplicateId !== undefined) duplicates.remember(key, duplicateId, this.policyFor(message.destination).duplicateWindow, message.persistent, txId, message.timestamp);
      if (producer !== undefined) duplicates.remember(producer, producerId!, Number.POSITIVE_INFINITY, message.persistent, txId);
      if (txId !== undefined) this.store.commit(txId);
      for (const queue of touched) queue.dispatch();
      return txId !== undefined || wrote ? this.store.sync() : null;
    }
    const persistence = this.started?.persistence;
    if (!message.persistent || persistence === undefined) return this.routeOrSchedule(message, undefined, undefined) ? this.store.sync() : null;
    const stored: StoredMessage[] = [];
    if (!persistence.storedBy(stored, () => this.routeOrSchedule(message, undefined, undefined))) return null;
    return persistence.durableOrConsumed(stored);
  }

  /**
   * Refuses a persistent message while the store cannot take one (a full disk, a watermark): the
   * producer hears it in its protocol's terms, and acknowledgements, which free the space, go on.
   */
  private checkStoreAdmits(): void {
    const refusal = this.store.writeRefusal?.();
    if (refusal !== undefined) throw refusal;
  }

  /** Applies a transaction; `within` writes more in the same store transaction (a prepared one's record going). */
  commit(tx: Transaction, within?: (storeTx: number) => void): Promise<void> | null {
    this.guard?.();
    const persistence = this.parts.persistence;
    if (tx.sends.some((m) => m.persistent || MessageScheduler.wants(m))) this.checkStoreAdmits();
    tx.releaseHeld();
    const needsStore = within !== undefined || tx.touchesStore || tx.sends.some((m) => duplicateIdOf(m) !== undefined || asksToRetain(m) || MessageScheduler.wants(m));
    const storeTx = needsStore ? persistence.allocateId() : undefined;
    if (within !== undefined) within(storeTx!);
    for (const entry of tx.acknowledged) entry.queue.consume(entry, storeTx);
    const touched = new Set<MessageQueue>();
    for (const message of tx.sends) {
      try {
        if (message.exchange === undefined) this.destinations.checkSendable(message.destination);
      } catch (err) {
        this.logger.warn({ event: 'tx.send.dropped', destination: message.destination.name, err }, 'destination went away before commit');
        continue;
      }
      const duplicateId = duplicateIdOf(message);
      if (duplicateId !== undefined) {
        const key = destinationKey(message.destination);
        if (this.parts.duplicates.isDuplicate(key, duplicateId)) continue;
        this.parts.duplicates.remember(key, duplicateId, this.policyFor(message.destination).duplicateWindow, message.persistent, storeTx, message.timestamp);
      }
      if (asksToRetain(message)) this.parts.retained.set(message, storeTx);
      const held = tx.published.get(message);
      if (held !== undefined) this.declarations.deliverHeld(held, storeTx, touched);
      else this.routeOrSchedule(message, storeTx, touched);
    }
    if (storeTx !== undefined) this.store.commit(storeTx);
    // dispatch only after the commit record, so an auto-acknowledged delete never precedes its add
    for (const queue of touched) queue.dispatch();
    for (const entry of tx.rejected) entry.queue.deadLetter(entry, tx.rejectReasons.get(entry) ?? 'rejected by the consumer');
    return storeTx !== undefined ? this.store.sync() : null;
  }

  /** What it consumed goes back in flight to a consumer whose client redelivers it itself (`DeliverySink.reinstated`), or to its queue. */
  rollback(tx: Transaction): void {
    tx.releaseHeld();
    giveBackToQueues(tx.returnToKeepers());
    tx.dropSends();
  }

  subscribe(connection: CoreConnection, options: SubscribeOptions, delivered: { count(): void } = connection.traffic.out, replaces?: Consumer): Consumer | WildcardQueueConsumer {
    const { destination } = options;
    const selector = this.selectorOf(options);
    const makeConsumer = (queue: MessageQueue, queueSelector: Selector | undefined, member?: MemberParts): Consumer =>
      new Consumer(this.nextConsumer++, connection.id, queue, member?.sink ?? options.sink, {
        prefetch: options.prefetch ?? this.defaultPrefetch,
        ackMode: options.ackMode ?? 'auto',
        exclusive: options.exclusive ?? false,
        priority: options.priority ?? 0,
        noLocal: options.noLocal ?? false,
        selector: queueSelector,
        delivered,
        deliveryRate: member?.deliveryRate ?? new RateCounter(this.clock),
        ackTimeout: options.ackTimeout,
        ledger: member?.ledger,
        exemptFromMaxRedeliveries: options.exemptFromMaxRedeliveries,
      });

    if (isClientComposite(destination)) {
      replaces?.close();
      return subscribeComposite(this.manyQueues(connection), options, selector, makeConsumer);
    }
    if (destination.kind === 'queue') {
      // a queue's consumers hold no subscription to carry over
      replaces?.close();
      if (hasWildcard(destination.name)) return subscribeQueuePattern(this.manyQueues(connection), options, selector, makeConsumer);
      validateDestinationName(destination.name, false);
      if (options.durable !== undefined) throw new FerryError('FERRY_DESTINATION_INVALID', 'a durable subscription needs a topic, not a queue');
      const existing = options.existing === true && destination.temporary !== true;
      if (this.authorizer !== undefined) {
        this.authorize(connection.principal, 'consume', destination);
        if (!existing) this.authorizeCreation(connection.principal, destination);
      }
      if (existing && !this.destinations.queues.has(destination.name)) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no queue "${destination.name}"`);
      const queue = this.destinations.queueForConsumer(destination, connection.id);
      this.admitToQueue(connection, queue, options.soleConsumer === true);
      const consumer = makeConsumer(queue, options.noLocal === true ? excludingConnection(selector, connection.id) : selector);
      if (options.soleConsumer === true) queue.soleConsumer = consumer;
      queue.addConsumer(consumer);
      return consumer;
    }

    validateDestinationName(destination.name, true);
    if (this.authorizer !== undefined) this.authorize(connection.principal, 'consume', destination);
    this.destinations.checkConsumable(destination, connection.id);
    const owner = options.durable === undefined ? undefined : (options.durable.owner ?? connection.clientId);
    const exactTopic = !hasWildcard(destination.name) && options.partOfPattern !== true;
    if (this.authorizer !== undefined && !connection.principal.internal) {
      // a durable subscription is made once and resumed after: only the making needs the right,
      // and one check covers a topic and a durable subscription made together
      const makesDurable = owner !== undefined && this.subscriptions.wouldCreateDurable(owner, options.durable!.name, destination.name);
      if (makesDurable || (exactTopic && this.destinations.wouldCreate(destination))) this.authorize(connection.principal, 'create', destination);
      const replaced = owner === undefined ? undefined : this.subscriptions.replacedOfAnother(owner, options, selector, connection.principal);
      if (replaced !== undefined) this.authorize(connection.principal, 'delete', { kind: 'topic', name: replaced });
    }
    if (exactTopic) this.destinations.topicNamed(destination.name);
    if (options.durable === undefined && exactTopic) this.limits.checkConsumers(this.subscriptions.countMatching(destination.name) - (replaces === undefined ? 0 : 1), destination, connection.principal);
    if (options.durable !== undefined && owner === undefined) throw new FerryError('FERRY_CLIENT_ID_REQUIRED', `durable subscription "${options.durable.name}" needs a client id on the connection`);
    if (options.shareName !== undefined) return this.subscriptions.subscribeShared(connection.id, options, selector, makeConsumer, replaces, owner);
    if (owner !== undefined) return this.subscriptions.subscribeDurable(connection.id, owner, options, selector, makeConsumer, connection.principal, replaces);
    return this.subscriptions.subscribe(connection.id, options, selector, makeConsumer, replaces);
  }

  /** Refuses a consumer on `queue` that another connection's exclusive queue, a sole consumer or the limits do not allow. */
  private admitToQueue(connection: CoreConnection, queue: MessageQueue, soleConsumer: boolean): void {
    if (queue.declared !== undefined) this.declarations.checkOwner(queue, connection);
    // a single-active-consumer queue chooses its active consumer itself: none may claim it, as in RabbitMQ
    if (queue.soleConsumer !== undefined || (soleConsumer && (queue.consumerCount > 0 || queue.declared?.spec.arguments.singleActiveConsumer === true))) {
      throw new FerryError('FERRY_QUEUE_IN_USE', `queue "${queue.name}" is in exclusive use`);
    }
    this.limits.checkConsumers(queue.consumerCount, { kind: 'queue', name: queue.name }, connection.principal);
  }

  /** What a consumer of many queues or topics (a pattern, a composite) needs, for `connection`. */
  private manyQueues(connection: CoreConnection): ManyDestinationsHost {
    const authorizing = this.authorizer !== undefined;
    return {
      connection,
      destinations: this.destinations,
      subscriptions: this.subscriptions,
      consumerId: () => this.nextConsumer++,
      prefetch: this.defaultPrefetch,
      clock: this.clock,
      authorize: (operation, destination) => void (authorizing && this.authorize(connection.principal, operation, destination)),
      authorizeCreation: (destination) => void (authorizing && this.authorizeCreation(connection.principal, destination)),
      admit: (queue) => this.admitToQueue(connection, queue, false),
    };
  }

  getter(connection: CoreConnection, name: string, ackMode: 'auto' | 'individual', sink: DeliverySink, reuse: Consumer | undefined): Consumer {
    const destination: Destination = { kind: 'queue', name };
    validateDestinationName(name, false);
    if (this.authorizer !== undefined) this.authorize(connection.principal, 'consume', destination);
    const queue = this.destinations.queues.get(name);
    if (queue === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no queue "${name}"`);
    this.declarations.checkOwner(queue, connection);
    if (queue.declared !== undefined) this.declarations.touch(queue);
    if (reuse !== undefined && reuse.queue === queue && !reuse.isClosed) return reuse;
    const settings = { prefetch: Number.POSITIVE_INFINITY, ackMode, exclusive: false, priority: 0, noLocal: false, selector: undefined };
    return new Consumer(this.nextConsumer++, connection.id, queue, sink, settings);
  }

  /** A browser on a queue: what it holds now, in flight too, handed over once through the sink (see QueueBrowser). */
  browse(connection: CoreConnection, options: SubscribeOptions, onClose: () => void): ConsumerHandle {
    const { destination } = options;
    if (destination.kind !== 'queue') throw new FerryError('FERRY_DESTINATION_INVALID', 'only queues can be browsed');
    validateDestinationName(destination.name, false);
    if (this.authorizer !== undefined) this.authorize(connection.principal, 'browse', destination);
    const selector = this.selectorOf(options);
    const queue = this.destinations.queueToBrowse(destination, connection.id);
    return new QueueBrowser(this.nextConsumer++, queue === undefined ? [] : [...queue.entries(true)], options.sink, selector, this.clock, onClose, this.bodies);
  }

  createTemporary(destination: Destination, owner: CoreConnection): void {
    if (this.authorizer !== undefined) this.authorize(owner.principal, 'create', destination);
    this.destinations.createTemporary(destination, owner.id);
  }

  deleteTemporary(destination: Destination): void {
    this.destinations.deleteTemporary(destination);
  }

  async reauthenticate(connection: CoreConnection, credentials: Credentials): Promise<Principal> {
    const principal = await this.authenticator.authenticate({ ...connection.request, credentials });
    if (principal.username !== connection.principal.username) {
      throw new FerryError('FERRY_AUTHENTICATION_FAILED', `re-authentication proved "${principal.username ?? 'anonymous'}", not the connection's user "${connection.principal.username ?? 'anonymous'}"`);
    }
    this.logger.info({ event: 'connection.reauthenticated', connection: connection.id, protocol: connection.protocol, user: principal.username, clientId: connection.clientId }, 'client re-authenticated');
    return principal;
  }

  disconnected(connection: CoreConnection): void {
    if (!connection.principal.internal && this.connections.has(connection.id)) {
      this.logger.info(
        { event: 'connection.closed', connection: connection.id, protocol: connection.protocol, remoteAddress: connection.remoteAddress, user: connection.principal.username, clientId: connection.clientId },
        `${connection.protocol} client ${connection.clientId === undefined ? '' : `${connection.clientId} `}from ${connection.remoteAddress} disconnected`,
      );
    }
    if (this.connections.delete(connection.id)) this.limits.release(connection.principal);
    this.connectionEvents.closed(connection.id);
    this.clientIds.release(connection);
  }

  durableSubscriptions(_connection: CoreConnection, owner: string): DurableSubscriptionInfo[] {
    return this.subscriptions.durableOf(owner);
  }

  durableSubscriptionOwners(): string[] {
    return this.subscriptions.durableOwners();
  }

  deleteDurableSubscription(connection: CoreConnection, owner: string, name: string, asSubscriber: boolean): void {
    const pattern = this.subscriptions.durablePattern(owner, name);
    if (this.authorizer !== undefined && pattern !== undefined) this.authorize(connection.principal, asSubscriber ? 'consume' : 'delete', { kind: 'topic', name: pattern });
    this.subscriptions.deleteDurable(owner, name, connection.id);
  }

  deleteTopic(connection: CoreConnection, name: string): void {
    if (this.authorizer !== undefined) this.authorize(connection.principal, 'admin', { kind: 'topic', name });
    this.admin.deleteTopicIfUnused(name);
  }

  synced(): Promise<void> {
    return this.store.sync();
  }

  retainedCount(): number {
    return this.started?.retained.size ?? 0;
  }

  // for operators (the management API and the CLI behind it)

  /** The operator's controls (see admin.ts), made on first use. */
  get admin(): BrokerAdmin {
    const { store, destinations, subscriptions, connections, bodies, clock, retired } = this;
    return (this.adminView ??= new BrokerAdmin({ store, destinations, subscriptions, connections, bodies, clock, retired, persistence: () => this.parts.persistence, scheduler: () => this.parts.scheduler, newMessageId: () => `ID:${this.idPrefix}-${this.nextMessage++}`, route: (m, tx, t) => this.router.route(m, tx, t), removeQueue: (q, reason) => this.declarations.removeQueue(q, reason), authorize: (principal, operation, destination) => this.authorizer !== undefined && this.authorize(principal, operation, destination), isDeadLetterQueue: (name) => this.policies.isDeadLetterQueue(name) }));
  }

  readonly consumerEvents = new ConsumerEvents();
  readonly forwardedRetained = new ForwardedRetained(() => this.parts.retained, () => this.subscriptions);
  readonly producerEvents = new ProducerEvents();
  private readonly messageOutcomes = new MessageOutcomes();

  get destinationSenders(): DestinationSenders {
    return this.destinations.senders;
  }

  private readonly connectionEvents = new Watched<string, ConnectionFacts>();

  watchProducers(watcher: ProducerWatcher): () => void {
    return this.producerEvents.watch(watcher);
  }

  watchConsumers(watcher: ConsumerWatcher): () => void {
    return this.consumerEvents.watch(watcher);
  }

  watchDestinations(watcher: DestinationWatcher): () => void {
    return this.destinations.events.watch(watcher);
  }

  watchConnections(watcher: ConnectionWatcher): () => void {
    return this.connectionEvents.watch(watcher);
  }

  watchMessageOutcomes(watcher: MessageOutcomeWatcher): () => void {
    return this.messageOutcomes.watch(watcher);
  }

  waitingMessageIds(): Iterable<string> {
    return waitingMessageIds(this.destinations.queues.values(), this.subscriptions.durableSubscriptions());
  }

  /** What the store keeps on disk, file by file, with the records keeping each file alive named; a database store's state. */
  storeReport(): StoreReport | undefined {
    return describeStore(this.store, this.destinations.queues.values(), this.subscriptions.durableSubscriptions(), this.declarations.records());
  }

  stats(): BrokerStats {
    return {
      ...describeBroker(this.destinations, this.subscriptions, this.connections.values(), this.started?.scheduler.size ?? 0, this.bodies.stats()),
      store: { ...this.store.stats(), refusing: this.store.writeRefusal?.()?.message ?? null },
      slowConsumers: { ...this.slowConsumerCounts },
      limitRefusals: this.limits.refusals(),
    };
  }

  /** Sequence marks under `scope` (a protocol's name), kept across restarts (see `SequenceMarks`). */
  sequenceMarks(scope: string): SequenceMarkBook {
    return this.parts.marks.book(scope);
  }

  prepare(tx: Transaction): Promise<void> {
    for (const message of tx.sends) if (message.exchange === undefined) this.destinations.checkSendable(message.destination);
    return this.parts.prepared.prepare(tx);
  }

  readonly xaTransactions = new XaTransactions();

  /** Prepared transactions are the broker's: any connection may list and complete them (a transaction manager recovering). */
  get preparedTransactions(): PreparedTransactions {
    return this.parts.prepared;
  }

  private assertAccepting(): void {
    if (this.state === 'new') throw new FerryError('FERRY_BROKER_NOT_STARTED', 'the broker has not started yet');
    if (this.state !== 'running') throw new FerryError('FERRY_BROKER_STOPPING', 'the broker is not accepting connections');
  }

  /** A temporary destination's name is checked as that temporary destination, whatever name form reached it. */
  private authorize(principal: Principal, operation: Operation, destination: Destination): void {
    if (principal.internal) return;
    const parts = isClientComposite(destination) ? splitComposite(destination) : [destination];
    for (const part of parts) this.authorizer!.authorize(principal, operation, this.destinations.asReached(part));
  }

  /** The create right for each part of `destination` that this use would bring into being. */
  private authorizeCreation(principal: Principal, destination: Destination): void {
    if (principal.internal) return;
    const parts = isClientComposite(destination) ? splitComposite(destination) : [destination];
    for (const part of parts) if (this.destinations.wouldCreate(part)) this.authorizer!.authorize(principal, 'create', part);
  }

  private selectorOf(options: SubscribeOptions): Selector | undefined {
    if (options.selector === undefined || options.selector.trim() === '') return undefined;
    return compileSelector(options.selector, { convertStringExpressions: options.selectorConvertsStrings === true });
  }

  private *allPersistentQueues(): IterableIterator<MessageQueue> {
    for (const queue of this.destinations.queues.values()) if (queue.recordId !== 0) yield queue;
    yield* this.subscriptions.durableQueues();
  }

  private policyFor(destination: Destination): ReturnType<PolicyBook['resolve']> {
    return this.policies.resolve(destination.kind, destination.name);
  }

  private routeOrSchedule(message: Message, storeTx: number | undefined, touched: Set<MessageQueue> | undefined): boolean {
    if (isSchedulerCommand(message)) return this.admin.schedulerCommand(message);
    if (MessageScheduler.wants(message)) return this.parts.scheduler.schedule(message, storeTx);
    return this.router.route(message, storeTx, touched);
  }

  private scheduledDelivery(): ScheduledDelivery {
    const touched = new Set<MessageQueue>();
    return {
      route: (message, txId) => this.router.route(message, txId, touched),
      dispatch: () => {
        const queues = [...touched];
        touched.clear();
        for (const queue of queues) queue.dispatch();
      },
    };
  }

  private get parts(): StartedParts {
    if (this.started === undefined) throw notStarted();
    return this.started;
  }
}

/** What the broker makes once its store is open (see `Broker.start`). */
interface StartedParts {
  readonly persistence: Persistence;
  readonly environment: QueueEnvironment;
  readonly scheduler: MessageScheduler;
  readonly duplicates: DuplicateDetector;
  readonly retained: RetainedMessages;
  readonly marks: SequenceMarks;
  readonly prepared: PreparedTransactions;
}

const internalPrincipal: Principal = { username: undefined, groups: [], internal: true };

function notStarted(): FerryError {
  return new FerryError('FERRY_BROKER_NOT_STARTED', 'the broker has not started');
}
