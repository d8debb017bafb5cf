import { randomBytes } from 'node:crypto';
import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { Operation, Principal } from './access.js';
import { hasWildcard, isReservedQueueName, validateDestinationName } from './address.js';
import { publishedDestination, type CoreConnection, type DeclarationHost } from './connection.js';
import { DEATH_HISTORY, isDeathCycle, readDeaths, withDeath } from './death-history.js';
import { bindingId, CC_HEADER, ccKeys, DEFAULT_EXCHANGES, Exchange, type Binding, type BindingSpec, type ExchangeSpec, type PublishOptions, type PublishResult } from './exchanges.js';
import type { Logger } from './logger.js';
import { copyMessage, type Destination, type Message, type PropertyValue } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { RouteTarget } from './overlap.js';
import type { Persistence } from './persistence.js';
import { firstUseSpec, queueSpecDifference, validateQueueArguments, type DeclaredQueue, type DeleteQueueOptions, type QueueDeclared, type QueueSpec } from './queue-arguments.js';
import type { QueueEntry, StoredMessage } from './queue-entry.js';
import { RecordType, encodeBinding, encodeExchange, encodeQueue } from './records.js';
import type { TimerQueue } from './timers.js';
import type { HeldPublish, Transaction } from './transaction.js';
import type { DroppedCount } from './queue-types.js';

/** What the exchanges and declared queues need of the broker around them. */
export interface DeclarationsEnv {
  readonly store: Store;
  readonly timers: TimerQueue;
  readonly clock: () => number;
  readonly logger: Logger;
  /**
   * False once the broker is stopping, from `stopBegins` on: the consumers that go with their
   * connections then leave their queues in place, as RabbitMQ's shutdown does.
   */
  isRunning(): boolean;
  /** True while a temporary destination exists. */
  isTemporary(destination: Destination): boolean;
  /** The connection that owns the temporary queue of that name; undefined for any other queue. */
  temporaryQueueOwner(name: string): string | undefined;
  /** Every queue destination by name (the default exchange's bindings). */
  readonly queues: ReadonlyMap<string, MessageQueue>;
  persistence(): Persistence;
  /** Makes and registers a queue destination. */
  createQueue(name: string, recordId: number): MessageQueue;
  /** Refuses a queue past the broker's limit on destinations, before anything of it is written. */
  checkRoom(name: string): void;
  /** Unregisters a queue destination and deletes its records; the queue is destroyed just after. */
  forgetQueue(queue: MessageQueue): void;
  /** Checks a right when the broker has an authorizer; nothing otherwise. */
  authorize(principal: Principal, operation: Operation, destination: Destination): void;
  /** Places a message in routed queues (writing its record once), as every route does; true when it wrote to the store. */
  place(targets: RouteTarget[], storeTx: number | undefined, touched: Set<MessageQueue> | undefined): boolean;
  /** Where a send to this core topic lands (its subscriptions), for `amq.topic`'s publishes. */
  topicTargets(message: Message, topic: string, into: RouteTarget[]): void;
  /** Where a send to the configured composite queue `name` lands; false, and nothing added, when `name` is none. */
  compositeTargets(message: Message, name: string, into: RouteTarget[]): boolean;
}

/** The dead-letter reasons RabbitMQ names in `x-first-death-reason`. */
export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/**
 * RabbitMQ's model in core: exchanges and their bindings in front of core's queues, and the
 * lifecycle of declared queues (exclusive, auto-delete, expires) and their dead-letter exchanges.
 * A declared queue is an ordinary `MessageQueue` carrying its `DeclaredQueue` state.
 */
export class Declarations implements DeclarationHost {
  private readonly exchanges = new Map<string, Exchange<MessageQueue>>();
  /** Bindings leading to each queue, and to each exchange, so deleting either unbinds it. */
  private readonly toQueue = new Map<MessageQueue, Set<Binding<MessageQueue>>>();
  private readonly toExchange = new Map<Exchange<MessageQueue>, Set<Binding<MessageQueue>>>();
  /** Connection id -> its exclusive queues. */
  private readonly exclusive = new Map<string, Set<MessageQueue>>();
  private readonly amqTopic: Exchange<MessageQueue>;

  constructor(private readonly env: DeclarationsEnv) {
    for (const spec of DEFAULT_EXCHANGES) this.exchanges.set(spec.name, new Exchange(spec));
    this.amqTopic = this.exchanges.get('amq.topic')!;
  }

  // exchanges

  declareExchange(connection: CoreConnection, spec: ExchangeSpec, passive: boolean): void {
    const existing = this.exchanges.get(spec.name);
    if (passive) {
      if (existing === undefined) throw notFound('exchange', spec.name);
      return;
    }
    if (spec.name === '') throw new FerryError('FERRY_NAME_RESERVED', 'the default exchange cannot be declared');
    if (existing !== undefined) {
      // RabbitMQ asks for configure on an existing exchange too, before comparing: else a 406 would tell anyone its flags
      this.env.authorize(connection.principal, 'create', exchangeDestination(spec.name));
      const e = existing.spec;
      if (e.type !== spec.type || e.durable !== spec.durable || e.autoDelete !== spec.autoDelete || e.internal !== spec.internal || e.alternateExchange !== spec.alternateExchange) {
        throw new FerryError('FERRY_PRECONDITION_FAILED', `exchange "${spec.name}" exists as ${describeExchange(e)}, not ${describeExchange(spec)}`);
      }
      return;
    }
    if (spec.name.startsWith('amq.')) throw new FerryError('FERRY_NAME_RESERVED', `exchange names starting "amq." are reserved: "${spec.name}"`);
    if (spec.name.length > 255) throw new FerryError('FERRY_DESTINATION_INVALID', 'an exchange name is at most 255 characters');
    this.env.authorize(connection.principal, 'create', exchangeDestination(spec.name));
    // what this exchange cannot route goes to its alternate, with whatever routing key it came with
    if (spec.alternateExchange !== undefined) this.authorizeRouting(connection.principal, spec.alternateExchange, undefined);
    const exchange = new Exchange<MessageQueue>({ ...spec });
    if (spec.durable) {
      exchange.recordId = this.env.persistence().allocateId();
      this.env.store.add(exchange.recordId, RecordType.Exchange, encodeExchange(exchange.spec));
    }
    this.exchanges.set(spec.name, exchange);
  }

  deleteExchange(connection: CoreConnection, name: string, ifUnused: boolean): void {
    if (name === '' || name.startsWith('amq.')) throw new FerryError('FERRY_NAME_RESERVED', `exchange "${name}" is the broker's and cannot be deleted`);
    const exchange = this.exchanges.get(name);
    // deleting what is not there succeeds, as RabbitMQ's exchange.delete does
    if (exchange === undefined) return;
    if (ifUnused && exchange.bindings.size > 0) throw new FerryError('FERRY_PRECONDITION_FAILED', `exchange "${name}" has bindings`);
    this.env.authorize(connection.principal, 'admin', exchangeDestination(name));
    this.removeExchange(exchange);
  }

  private removeExchange(exchange: Exchange<MessageQueue>): void {
    if (exchange.deleted) return;
    exchange.deleted = true;
    this.exchanges.delete(exchange.name);
    for (const binding of [...exchange.bindings.values()]) this.dropBinding(exchange, binding, false);
    for (const binding of [...(this.toExchange.get(exchange) ?? [])]) {
      const source = this.exchanges.get(binding.spec.source);
      if (source !== undefined) this.dropBinding(source, binding, true);
    }
    this.toExchange.delete(exchange);
    if (exchange.recordId !== 0) this.env.store.delete(exchange.recordId);
  }

  // queues

  declareQueue(connection: CoreConnection, spec: QueueSpec, passive: boolean): QueueDeclared {
    if (passive) {
      const queue = this.env.queues.get(spec.name);
      if (queue === undefined || spec.name === '') throw notFound('queue', spec.name);
      this.checkOwner(queue, connection);
      this.touch(queue);
      return declared(queue);
    }
    const name = spec.name === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : spec.name;
    const existing = this.env.queues.get(name);
    const wanted: QueueSpec = { ...spec, name, arguments: { ...spec.arguments } };
    if (existing !== undefined) {
      // as RabbitMQ asks for configure on an existing queue: a redeclare answers its message count,
      // starts its expires countdown again, and with other flags a 406 would describe them
      this.env.authorize(connection.principal, 'create', { kind: 'queue', name });
      this.checkOwner(existing, connection);
      const have = existing.declared?.spec ?? firstUseSpec(name);
      // RabbitMQ checks exclusive access before the other flags: 405, not 406
      if (have.exclusive !== wanted.exclusive) throw new FerryError('FERRY_RESOURCE_LOCKED', `queue "${name}" exists ${have.exclusive ? 'exclusive to this connection' : 'not exclusive'}: its exclusive flag cannot change`);
      const difference = queueSpecDifference(have, wanted);
      if (difference !== undefined) throw new FerryError('FERRY_PRECONDITION_FAILED', difference);
      this.touch(existing);
      return declared(existing);
    }
    if (isReservedQueueName(spec.name)) throw new FerryError('FERRY_NAME_RESERVED', `queue names starting "amq." are reserved: "${spec.name}"`);
    validateDestinationName(name, false);
    validateQueueArguments(wanted.arguments, (message) => new FerryError('FERRY_PRECONDITION_FAILED', message));
    this.env.authorize(connection.principal, 'create', { kind: 'queue', name });
    // the queue's dead letters are published for it later: the declarer must be allowed that publish now
    const deadLetters = wanted.arguments.deadLetterExchange;
    if (deadLetters !== undefined) this.authorizeRouting(connection.principal, deadLetters, wanted.arguments.deadLetterRoutingKey);
    this.env.checkRoom(name);
    // an exclusive queue dies with its connection, so it is never worth a record
    const keep = wanted.durable && !wanted.exclusive;
    let recordId = 0;
    if (keep) {
      recordId = this.env.persistence().allocateId();
      this.env.store.add(recordId, RecordType.Queue, encodeQueue({ name, spec: wanted }));
    }
    const queue = this.env.createQueue(name, recordId);
    this.adopt(queue, wanted, wanted.exclusive ? connection.id : undefined);
    return declared(queue);
  }

  /** Gives a queue its declared behaviour (also for one recovered from its record). */
  adopt(queue: MessageQueue, spec: QueueSpec, owner: string | undefined): void {
    const state: DeclaredQueue = { spec, owner, hadConsumer: false, expiry: undefined };
    queue.declare(state, spec.arguments);
    if (owner !== undefined) {
      let set = this.exclusive.get(owner);
      if (set === undefined) this.exclusive.set(owner, (set = new Set()));
      set.add(queue);
    }
    this.touch(queue);
  }

  deleteQueue(connection: CoreConnection, name: string, options: DeleteQueueOptions): DroppedCount {
    const queue = this.env.queues.get(name);
    if (queue === undefined) return 0;
    this.checkOwner(queue, connection);
    if (options.ifUnused && queue.consumerCount > 0) throw new FerryError('FERRY_PRECONDITION_FAILED', `queue "${name}" has consumers`);
    if (options.ifEmpty && queue.pendingCount > 0) throw new FerryError('FERRY_PRECONDITION_FAILED', `queue "${name}" is not empty`);
    this.env.authorize(connection.principal, 'admin', { kind: 'queue', name });
    return this.removeQueue(queue, `queue "${name}" was deleted`);
  }

  purgeQueue(connection: CoreConnection, name: string): DroppedCount {
    const queue = this.env.queues.get(name);
    if (queue === undefined) throw notFound('queue', name);
    this.checkOwner(queue, connection);
    this.env.authorize(connection.principal, 'admin', { kind: 'queue', name });
    return queue.purge();
  }

  /** Takes a queue away: its bindings, its messages, its consumers (told through their sinks), its record; returns how many messages were waiting. */
  removeQueue(queue: MessageQueue, reason: string): DroppedCount {
    if (queue.isDestroyed) return 0;
    for (const binding of [...(this.toQueue.get(queue) ?? [])]) {
      const source = this.exchanges.get(binding.spec.source);
      if (source !== undefined) this.dropBinding(source, binding, true);
    }
    this.toQueue.delete(queue);
    const state = queue.declared;
    if (state?.expiry !== undefined) state.expiry.cancelled = true;
    if (state?.owner !== undefined) this.exclusive.get(state.owner)?.delete(queue);
    // The queue's record is marked deleted before its messages' references go, and deleted after
    // them: a crash between leaves references that recovery knows to delete (their queue's record
    // says it was being deleted), not a queue that comes back with part of its messages. A queue
    // still loading deletes what is still to come as it reads it: its mark stays for the next start.
    this.env.forgetQueue(queue);
    const dropped = queue.destroy(reason);
    if (queue.recordId !== 0 && queue.loadingState === undefined) this.env.store.delete(queue.recordId);
    return dropped;
  }

  /** A consumer (of any protocol) may not take from another connection's exclusive queue. */
  checkOwner(queue: MessageQueue, connection: CoreConnection): void {
    const owner = queue.declared?.owner ?? this.env.temporaryQueueOwner(queue.name);
    if (owner !== undefined && owner !== connection.id) {
      throw new FerryError('FERRY_RESOURCE_LOCKED', `queue "${queue.name}" is exclusive to another connection`);
    }
  }

  connectionClosed(connection: CoreConnection): void {
    const queues = this.exclusive.get(connection.id);
    if (queues === undefined) return;
    this.exclusive.delete(connection.id);
    for (const queue of queues) this.removeQueue(queue, `exclusive queue "${queue.name}" went with its connection`);
  }

  /** A declared queue gained a consumer: it is in use. */
  consumerAdded(queue: MessageQueue): void {
    const state = queue.declared!;
    state.hadConsumer = true;
    if (state.expiry !== undefined) state.expiry.cancelled = true;
    state.expiry = undefined;
  }

  /** A declared queue lost its last consumer: an auto-delete queue goes, one with `expires` starts counting. */
  consumersGone(queue: MessageQueue): void {
    const state = queue.declared!;
    // after the closing consumer has given its messages back
    if (state.spec.autoDelete && state.hadConsumer) {
      queueMicrotask(() => {
        // consumers that go because the broker stops leave a durable auto-delete queue in place
        if (queue.consumerCount === 0 && this.env.isRunning()) this.removeQueue(queue, `auto-delete queue "${queue.name}" lost its last consumer`);
      });
    }
    else this.touch(queue);
  }

  /** The queue was used (declared again, or a get): its `expires` countdown starts over while it has no consumer. */
  touch(queue: MessageQueue): void {
    const state = queue.declared;
    const expires = state?.spec.arguments.expires;
    if (state === undefined || expires === undefined) return;
    if (state.expiry !== undefined) state.expiry.cancelled = true;
    state.expiry = undefined;
    if (queue.consumerCount > 0) return;
    state.expiry = this.env.timers.at(this.env.clock() + expires, () => {
      state.expiry = undefined;
      // a stop that waits on its clients is no idleness: the queue stays, and its next start counts anew (`adopt`)
      if (queue.consumerCount === 0 && this.env.isRunning()) this.removeQueue(queue, `queue "${queue.name}" expired unused`);
    });
  }

  // bindings

  bind(connection: CoreConnection, spec: BindingSpec): void {
    const { source, destination, target } = this.resolve(connection, spec);
    this.env.authorize(connection.principal, 'send', destination.kind === 'queue' ? { kind: 'queue', name: destination.name } : exchangeDestination(destination.name));
    this.env.authorize(connection.principal, 'consume', exchangeDestination(source.name));
    // amq.topic carries core's topics too (every protocol's): a binding to it subscribes to what its key matches
    if (source === this.amqTopic && spec.routingKey !== '') this.env.authorize(connection.principal, 'consume', { kind: 'topic', name: corePattern(spec.routingKey) });
    const durable = source.spec.durable && (target instanceof Exchange ? target.spec.durable : target.recordId !== 0);
    this.addBinding(source, { spec: { ...spec }, id: bindingId(spec), target, recordId: 0 }, durable);
  }

  /**
   * Removes a binding; one that is not there is no error, whether or not its source or destination
   * exists (RabbitMQ 3.10 answers unbind-ok for all of these), so cleanup code that unbinds and
   * deletes, run twice, keeps its channel.
   */
  unbind(connection: CoreConnection, spec: BindingSpec): void {
    refuseDefaultExchange(spec);
    const source = this.exchanges.get(spec.source);
    const binding = source?.bindings.get(bindingId(spec));
    if (source === undefined || binding === undefined) return;
    if (!(binding.target instanceof Exchange)) this.checkOwner(binding.target, connection);
    this.env.authorize(connection.principal, 'admin', exchangeDestination(source.name));
    this.dropBinding(source, binding, true);
  }

  private resolve(connection: CoreConnection, spec: BindingSpec): { source: Exchange<MessageQueue>; destination: BindingSpec['destination']; target: MessageQueue | Exchange<MessageQueue> } {
    refuseDefaultExchange(spec);
    const source = this.exchanges.get(spec.source);
    if (source === undefined) throw notFound('exchange', spec.source);
    const { destination } = spec;
    if (destination.kind === 'exchange') {
      const target = this.exchanges.get(destination.name);
      if (target === undefined) throw notFound('exchange', destination.name);
      return { source, destination, target };
    }
    const target = this.env.queues.get(destination.name);
    if (target === undefined) throw notFound('queue', destination.name);
    this.checkOwner(target, connection);
    return { source, destination, target };
  }

  private addBinding(source: Exchange<MessageQueue>, binding: Binding<MessageQueue>, durable: boolean): void {
    if (!source.add(binding)) return;
    if (durable) {
      binding.recordId = this.env.persistence().allocateId();
      this.env.store.add(binding.recordId, RecordType.Binding, encodeBinding(binding.spec));
    }
    const index = binding.target instanceof Exchange ? this.toExchange : this.toQueue;
    const key = binding.target as MessageQueue & Exchange<MessageQueue>;
    let set = index.get(key);
    if (set === undefined) index.set(key, (set = new Set()));
    set.add(binding);
  }

  /** Removes a binding; `autoDelete` lets an auto-delete source that loses its last one go. */
  private dropBinding(source: Exchange<MessageQueue>, binding: Binding<MessageQueue>, autoDelete: boolean): void {
    if (source.remove(binding.id) === undefined) return;
    if (binding.recordId !== 0) this.env.store.delete(binding.recordId);
    const index = binding.target instanceof Exchange ? this.toExchange : this.toQueue;
    index.get(binding.target as MessageQueue & Exchange<MessageQueue>)?.delete(binding);
    if (autoDelete && source.spec.autoDelete && source.bindings.size === 0) this.removeExchange(source);
  }

  /** Exchange and binding records by id, named for operators (`Broker.storeReport`). */
  *records(): IterableIterator<readonly [number, string]> {
    for (const exchange of this.exchanges.values()) {
      if (exchange.recordId !== 0) yield [exchange.recordId, `exchange ${exchange.name}`];
      for (const b of exchange.bindings.values()) {
        if (b.recordId !== 0) yield [b.recordId, `binding of ${b.spec.destination.kind} ${b.spec.destination.name} to exchange ${exchange.name}`];
      }
    }
  }

  // recovery

  recoverExchange(recordId: number, spec: ExchangeSpec): void {
    const exchange = new Exchange<MessageQueue>(spec);
    exchange.recordId = recordId;
    this.exchanges.set(spec.name, exchange);
  }

  /** A binding read back, after every queue and exchange: one whose ends are gone is deleted. */
  recoverBinding(recordId: number, spec: BindingSpec): void {
    const source = this.exchanges.get(spec.source);
    const target = spec.destination.kind === 'exchange' ? this.exchanges.get(spec.destination.name) : this.env.queues.get(spec.destination.name);
    if (source === undefined || target === undefined) {
      this.env.store.delete(recordId);
      return;
    }
    const binding: Binding<MessageQueue> = { spec, id: bindingId(spec), target, recordId };
    if (!source.add(binding)) return;
    const index = target instanceof Exchange ? this.toExchange : this.toQueue;
    const key = target as MessageQueue & Exchange<MessageQueue>;
    let set = index.get(key);
    if (set === undefined) index.set(key, (set = new Set()));
    set.add(binding);
  }

  // routing

  publish(connection: CoreConnection, message: Message, tx: Transaction | undefined, _options: PublishOptions | undefined): PublishResult {
    const name = message.exchange!;
    const exchange = this.exchanges.get(name);
    if (exchange === undefined) throw notFound('exchange', name);
    if (exchange.spec.internal) throw new FerryError('FERRY_NAME_RESERVED', `exchange "${name}" is internal: only other exchanges publish to it`);
    this.authorizeRouting(connection.principal, name, message.routingKey!);
    for (const key of senderKeys(message)) this.authorizeRouting(connection.principal, name, key);
    const targets: RouteTarget[] = [];
    this.targetsOf(message, targets);
    if (tx !== undefined) return { routed: targets.length, refused: false, durable: null, committed: tx.holdPublish(message, targets) };
    // a persistent message while the store takes none (a full disk, the watermark) is refused whole,
    // as Broker.send refuses it: a confirm channel hears basic.nack
    if (message.persistent && this.env.store.writeRefusal?.() !== undefined) return { routed: targets.length, refused: true, durable: null };
    // a queue over x-max-length with overflow reject-publish, or at its memoryLimit with memoryPolicy fail
    const refuses = (queue: MessageQueue): boolean => queue.refuses(message) || queue.fullForSends;
    let refused = false;
    let kept = targets;
    for (const [queue] of targets) {
      if (refuses(queue)) {
        refused = true;
        kept = targets.filter(([q]) => !refuses(q));
        break;
      }
    }
    if (refused) for (const [queue] of targets) if (queue.refuses(message) && queue.declared?.spec.arguments.overflow === 'reject-publish-dlx') this.deadLetterRefused(queue, message);
    if (kept.length === 0) return { routed: targets.length, refused, durable: null };
    const persistence = this.env.persistence();
    const stored: StoredMessage[] = [];
    const wrote = persistence.storedBy(stored, () => this.env.place(kept, undefined, undefined));
    return { routed: targets.length, refused, durable: wrote ? persistence.durableOrConsumed(stored) : null };
  }

  /**
   * The right to publish to `exchange` with `routingKey`, or, when the key is not known yet (an
   * alternate exchange, a dead-letter exchange without its own key), with any key: the default
   * exchange is a send to the queue the key names (any key: to every queue), amq.topic also a send
   * to the core topic the key names (any key: to every topic), any other exchange a send to it.
   */
  private authorizeRouting(principal: Principal, exchange: string, routingKey: string | undefined): void {
    if (exchange === '') {
      this.env.authorize(principal, 'send', { kind: 'queue', name: routingKey ?? '>' });
      return;
    }
    this.env.authorize(principal, 'send', exchangeDestination(exchange));
    if (exchange !== this.amqTopic.name) return;
    // a key that is no core topic's name (a wildcard, an empty level) still matches bindings such as
    // secret.#: it is checked as written, so only a right covering it lets it through
    this.env.authorize(principal, 'send', { kind: 'topic', name: routingKey ?? '>' });
  }

  /** Every queue a published message lands in, each once. */
  targetsOf(message: Message, into: RouteTarget[]): void {
    const exchange = this.exchanges.get(message.exchange!);
    if (exchange === undefined) return;
    // the key stands for a temporary queue (PublishOptions.temporaryQueue), which the message names
    if (exchange.name === '' && message.destination.temporary === true) {
      const queue = this.env.queues.get(message.destination.name);
      if (queue !== undefined && this.env.isTemporary(message.destination)) into.push([queue, message]);
      return;
    }
    const more = senderKeys(message);
    // a configured composite queue's name forwards to its parts, as a send to that queue does; CC and BCC keys name queues
    if (exchange.name === '' && this.env.compositeTargets(message, message.routingKey!, into)) {
      if (more.length === 0) return;
      const queues = new Set<MessageQueue>();
      this.routeThrough(exchange, more, message.properties, queues, new Set());
      for (const queue of queues) into.push([queue, message]);
      return;
    }
    // the common case, the default exchange or a direct key bound to one queue: one Map lookup, no sets
    if (exchange.spec.alternateExchange === undefined && more.length === 0) {
      const single = exchange.name === '' ? this.env.queues.get(message.routingKey!) : exchange.directQueue(message.routingKey!);
      if (single !== undefined) {
        into.push([single, message]);
        return;
      }
      if (exchange.name === '') return;
    }
    const queues = new Set<MessageQueue>();
    this.routeThrough(exchange, [message.routingKey ?? '', ...more], message.properties, queues, new Set());
    for (const queue of queues) into.push([queue, message]);
    // a publish to amq.topic is also a send to the core topic its key names, as RabbitMQ's STOMP and MQTT plugins see it
    if (exchange === this.amqTopic && isTopicName(message.routingKey ?? '')) this.env.topicTargets(message, message.routingKey!, into);
  }

  /**
   * A publish held in a transaction, at its commit: to the queues it was routed to when published,
   * as RabbitMQ delivers it, each found again by its name, so one deleted and declared again since
   * gets it and one gone does not. A full reject-publish queue refuses it, as it would refuse the
   * publish, and says so in `held.refused`, which fails the commit in RabbitMQ's terms.
   */
  deliverHeld(held: HeldPublish, storeTx: number | undefined, touched: Set<MessageQueue>): void {
    const live: RouteTarget[] = [];
    for (const target of held.targets) {
      const [queue, message] = target;
      if (!queue.isDestroyed) live.push(target);
      else if (queue.kind === 'queue') {
        const again = this.env.queues.get(queue.name);
        if (again !== undefined) live.push([again, message]);
      }
    }
    held.routed = live.length;
    const refusing = live.filter(([queue, message]) => queue.refuses(message));
    held.refused = refusing.length > 0;
    for (const [queue, message] of refusing) if (queue.declared?.spec.arguments.overflow === 'reject-publish-dlx') this.deadLetterRefused(queue, message);
    this.env.place(held.refused ? live.filter((target) => !refusing.includes(target)) : live, storeTx, touched);
  }

  /** Queues bound to `amq.topic` whose pattern matches a core topic that `message` was sent to. */
  amqTopicTargets(message: Message, topic: string, into: RouteTarget[]): void {
    if (this.amqTopic.bindings.size === 0) return;
    const queues = new Set<MessageQueue>();
    this.routeThrough(this.amqTopic, [topic], message.properties, queues, new Set());
    for (const queue of queues) into.push([queue, message]);
  }

  /**
   * Follows bindings from `exchange`, through exchange-to-exchange bindings (each exchange once per
   * publish, so a loop ends), to queues; an exchange that routes nowhere hands over to its alternate.
   * `keys` are the routing key and those its publisher added (CC, BCC): every exchange on the way
   * routes by all of them, and an alternate takes over only when none led anywhere, as RabbitMQ does.
   */
  private routeThrough(exchange: Exchange<MessageQueue>, keys: readonly string[], properties: ReadonlyMap<string, PropertyValue>, queues: Set<MessageQueue>, seen: Set<Exchange<MessageQueue>>): void {
    if (seen.has(exchange)) return;
    seen.add(exchange);
    const before = queues.size;
    for (const key of keys) {
      if (exchange.name === '') {
        const queue = this.env.queues.get(key);
        if (queue !== undefined) queues.add(queue);
        continue;
      }
      exchange.match(key, properties, (binding) => {
        const target = binding.target;
        if (target instanceof Exchange) this.routeThrough(target, keys, properties, queues, seen);
        else queues.add(target);
      });
      if (!exchange.routesByKey) break;
    }
    const alternate = exchange.spec.alternateExchange;
    if (queues.size === before && alternate !== undefined) {
      const next = this.exchanges.get(alternate);
      if (next !== undefined) this.routeThrough(next, keys, properties, queues, seen);
    }
  }

  // dead letters

  /**
   * A declared queue's dead letter: republished to its dead-letter exchange, in one store
   * transaction with its removal from this queue; without one it is dropped, as RabbitMQ drops it.
   * Returns true when it moved.
   */
  deadLetter(queue: MessageQueue, entry: QueueEntry, reason: string): boolean {
    const kind: DeathReason = reason === 'expired' || reason === 'maxlen' || reason === 'delivery_limit' ? reason : 'rejected';
    const copy = this.deadLetterCopy(queue, entry.message, kind);
    const targets: RouteTarget[] = [];
    if (copy !== undefined) this.targetsOf(copy, targets);
    const kept = withoutCycles(copy, targets);
    if (kept.length === 0) {
      queue.acknowledge(entry);
      return false;
    }
    const storeTx = this.env.persistence().allocateId();
    const touched = new Set<MessageQueue>();
    this.env.place(kept, storeTx, touched);
    queue.acknowledge(entry, storeTx);
    this.env.store.commit(storeTx);
    queueMicrotask(() => {
      for (const q of touched) q.dispatch();
    });
    this.env.logger.debug({ event: 'message.dead-lettered', messageId: entry.message.id, from: queue.name, to: copy!.exchange, reason: kind }, 'message dead-lettered');
    return true;
  }

  private deadLetterRefused(queue: MessageQueue, message: Message): void {
    const copy = this.deadLetterCopy(queue, message, 'maxlen');
    if (copy === undefined) return;
    const targets: RouteTarget[] = [];
    this.targetsOf(copy, targets);
    const kept = withoutCycles(copy, targets).filter(([q]) => !q.refuses(copy));
    if (kept.length > 0) this.env.place(kept, undefined, undefined);
  }

  /** The message as its dead-letter exchange receives it, with RabbitMQ's `x-death`, `x-first-death-*` and `x-last-death-*` headers. */
  private deadLetterCopy(queue: MessageQueue, message: Message, reason: DeathReason): Message | undefined {
    const args = queue.declared?.spec.arguments;
    const exchange = args?.deadLetterExchange;
    if (exchange === undefined || !this.exchanges.has(exchange)) return undefined;
    const ownKey = message.routingKey ?? message.destination.name;
    const routingKey = args!.deadLetterRoutingKey ?? ownKey;
    const properties = new Map<string, PropertyValue>(message.properties);
    // as RabbitMQ: the copy goes by the message's own key and its CC keys, unless the queue names a
    // key of its own, which replaces them all (the CC header goes); x-death names them either way
    const routingKeys = [ownKey, ...ccKeys(message.properties)];
    if (args!.deadLetterRoutingKey !== undefined) properties.delete(CC_HEADER);
    const from = message.exchange ?? '';
    if (!properties.has('x-first-death-queue')) {
      properties.set('x-first-death-queue', queue.name);
      properties.set('x-first-death-reason', reason);
      properties.set('x-first-death-exchange', from);
    }
    properties.set('x-last-death-queue', queue.name);
    properties.set('x-last-death-reason', reason);
    properties.set('x-last-death-exchange', from);
    properties.set(DEATH_HISTORY, withDeath(properties.get(DEATH_HISTORY), { queue: queue.name, reason, time: this.env.clock(), exchange: from, 'routing-keys': routingKeys }));
    // the message's own expiration goes, as RabbitMQ removes it, so it does not expire again where it lands
    return copyMessage(message, { properties, expiration: 0, exchange, routingKey, destination: publishedDestination(exchange, routingKey) });
  }
}

/**
 * The targets of a dead-letter copy but those it has died in before with no rejection since, as
 * RabbitMQ drops them (`isDeathCycle`): an expired or overflowing message never comes back to the
 * queue it left, nor goes round queues that pass it on to one another.
 */
function withoutCycles(copy: Message | undefined, targets: RouteTarget[]): RouteTarget[] {
  if (copy === undefined || targets.length === 0) return targets;
  const deaths = readDeaths(copy.properties.get(DEATH_HISTORY));
  return targets.filter(([q]) => !isDeathCycle(q.name, deaths));
}

function declared(queue: MessageQueue): QueueDeclared {
  return { name: queue.name, messageCount: queue.pendingCount, consumerCount: queue.consumerCount };
}

function notFound(kind: 'queue' | 'exchange', name: string): FerryError {
  return new FerryError('FERRY_DESTINATION_NOT_FOUND', `no ${kind} "${name}"`);
}

/** An exchange as the authorizer sees it: a topic of its name. */
function exchangeDestination(name: string): Destination {
  return { kind: 'topic', name };
}

function describeExchange(e: ExchangeSpec): string {
  const flags = [e.durable ? 'durable' : 'transient', e.autoDelete ? 'auto-delete' : '', e.internal ? 'internal' : '', e.alternateExchange === undefined ? '' : `alternate "${e.alternateExchange}"`];
  return `${e.type} (${flags.filter((f) => f !== '').join(', ')})`;
}

/** The routing keys a message's publisher added to its own: its CC keys, and BCC ones when it has them. */
function senderKeys(message: Message): readonly string[] {
  const cc = ccKeys(message.properties);
  return message.bccKeys === undefined ? cc : [...cc, ...message.bccKeys];
}

/**
 * The core topic pattern that covers what a binding key of amq.topic matches: `*` is one level in
 * both, and `#` (any number of words) is `>` at the end; a `#` before the end is taken as `>` there,
 * which covers more, never less.
 */
function corePattern(bindingKey: string): string {
  const words = bindingKey.split('.');
  const hash = words.indexOf('#');
  return hash < 0 ? bindingKey : [...words.slice(0, hash), '>'].join('.');
}

/** A routing key that is also a core topic name: not empty, no core wildcards, no empty level. */
function isTopicName(key: string): boolean {
  return key !== '' && key.length <= 1024 && !hasWildcard(key) && !key.split('.').includes('');
}

/** A binding to or from it would let a publish to any exchange reach whichever queue its key names. */
function refuseDefaultExchange(spec: BindingSpec): void {
  if (spec.source === '' || (spec.destination.kind === 'exchange' && spec.destination.name === '')) {
    throw new FerryError('FERRY_NAME_RESERVED', 'the default exchange is bound to nothing, as a source or as a destination');
  }
}
