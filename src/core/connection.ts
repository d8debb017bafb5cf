import { FerryError } from '../errors.js';
import type { BrokerStats, ConnectRequest, ConsumerHandle, Credentials, DurableSubscriptionInfo, Principal, SubscribeOptions } from './access.js';
import { Consumer } from './consumer.js';
import type { ConsumerEvents } from './consumer-events.js';
import type { ProducerEvents, ProducerHandle } from './producer-events.js';
import { ConnectionTraffic, SessionTraffic, type DestinationSenders } from './traffic.js';
import type { Delivery, DeliverySink } from './sink.js';
import type { BindingSpec, ExchangeSpec, PublishOptions, PublishResult } from './exchanges.js';
import type { Destination, Message, MessageInit, PublishInit, PublishedAs } from './message.js';
import type { PreparedTransactionsAccess } from './prepared.js';
import type { DeleteQueueOptions, QueueDeclared, QueueSpec } from './queue-arguments.js';
import { Transaction } from './transaction.js';
import type { XaMember, XaTransactions } from './xa-transactions.js';
import type { IdKeeper } from './id-keeper.js';
import type { ClientLimits } from './limits.js';
import type { ProducerFlow } from './producer-flow.js';
import { QueueGets } from './queue-gets.js';
import { SessionConsumer } from './session-consumer.js';
import { WildcardQueueConsumer } from './wildcard-queue-consumer.js';
import type { DroppedCount } from './queue-types.js';
import type { ForwardedRetained } from './retained.js';
import { hasWildcard } from './address.js';

export interface SendOptions {
  /**
   * Also keep the message as its topic's retained message (an empty body clears it): in the store,
   * or with `memory` in memory only, gone at a restart (a value its sender publishes again every so
   * often, the broker's own statistics).
   */
  readonly retain?: boolean | 'memory' | undefined;
  /**
   * An id its producer (named by the connection's client id) gives the message until it calls
   * `CoreConnection.forgetProducerId`: a resend with the same id, even across a broker restart, is
   * dropped. MQTT's QoS 2 packet ids of a persistent session are such ids.
   */
  readonly producerId?: string | undefined;
}

/**
 * What a connection needs of the broker around it. `Broker` implements it; a connection never sees
 * the rest of the broker, and the broker module is the only one that imports both.
 */
export interface ConnectionHost {
  /** A message from its producer's init; a published one's destination, exchange and key come from `published`. */
  createMessage(init: MessageInit | PublishInit, connection: CoreConnection, published?: PublishedAs): Message;
  send(message: Message, connection: CoreConnection, options: SendOptions | undefined): Promise<void> | null;
  checkSendable(destination: Destination, connection: CoreConnection): void;
  /** Refuses a send to a queue at its memory limit whose memoryPolicy is fail (FERRY_DESTINATION_FULL). */
  checkRoomForSend(destination: Destination): void;
  /**
   * `delivered` counts each delivery (the session's traffic); the connection's by default. A
   * wildcard queue gets a WildcardQueueConsumer. `replaces` is `options.replaces`, as core holds it.
   */
  subscribe(connection: CoreConnection, options: SubscribeOptions, delivered?: { count(): void }, replaces?: Consumer): Consumer | WildcardQueueConsumer;
  /**
   * A consumer for single gets from queue `name` (authorized for consume, exclusive queues checked),
   * not registered with the queue: `reuse` when it is still on the queue of that name.
   */
  getter(connection: CoreConnection, name: string, ackMode: 'auto' | 'individual', sink: DeliverySink, reuse: Consumer | undefined): Consumer;
  browse(connection: CoreConnection, options: SubscribeOptions, onClose: () => void): ConsumerHandle;
  commit(tx: Transaction): Promise<void> | null;
  rollback(tx: Transaction): void;
  /** Makes the transaction's work durable without applying it (XA's first phase); it becomes the broker's. */
  prepare(tx: Transaction): Promise<void>;
  readonly preparedTransactions: PreparedTransactionsAccess;
  /** XA transactions begun and not yet prepared or completed: the broker's, joined by every connection that begins one. */
  readonly xaTransactions: XaTransactions;
  createTemporary(destination: Destination, owner: CoreConnection): void;
  deleteTemporary(destination: Destination): void;
  disconnected(connection: CoreConnection): void;
  /** Authenticates again as the connection's own user (MQTT 5 re-authentication); resolves to the new principal. */
  reauthenticate(connection: CoreConnection, credentials: Credentials): Promise<Principal>;
  durableSubscriptions(connection: CoreConnection, owner: string): DurableSubscriptionInfo[];
  /** Every key that owns a durable subscription. */
  durableSubscriptionOwners(): string[];
  deleteDurableSubscription(connection: CoreConnection, owner: string, name: string, asSubscriber: boolean): void;
  deleteTopic(connection: CoreConnection, name: string): void;
  /** Resolves once everything written to the store so far is on disk. */
  synced(): Promise<void>;
  retainedCount(): number;
  readonly forwardedRetained: ForwardedRetained;
  stats(): BrokerStats;
  producerIds: IdKeeper;
  sessionIds: IdKeeper;
  readonly consumerEvents: ConsumerEvents;
  readonly producerEvents: ProducerEvents;
  readonly declarations: DeclarationHost;
  readonly limits: ClientLimits;
  readonly producerFlow: ProducerFlow;
  /** Which connections sent to each destination, so that a deleted one leaves none of its producers behind. */
  readonly destinationSenders: DestinationSenders;
}

/**
 * Exchanges, declared queues and bindings (RabbitMQ's model), as a connection reaches them; the
 * broker's `Declarations` implements it. Every call is authorized for the connection's principal.
 */
export interface DeclarationHost {
  declareExchange(connection: CoreConnection, spec: ExchangeSpec, passive: boolean): void;
  deleteExchange(connection: CoreConnection, name: string, ifUnused: boolean): void;
  declareQueue(connection: CoreConnection, spec: QueueSpec, passive: boolean): QueueDeclared;
  deleteQueue(connection: CoreConnection, name: string, options: DeleteQueueOptions): DroppedCount;
  purgeQueue(connection: CoreConnection, name: string): DroppedCount;
  bind(connection: CoreConnection, binding: BindingSpec): void;
  unbind(connection: CoreConnection, binding: BindingSpec): void;
  /** Authorizes and routes a message built with its exchange and routing key; in a transaction, holds it. */
  publish(connection: CoreConnection, message: Message, tx: Transaction | undefined, options: PublishOptions | undefined): PublishResult;
  /** The connection is gone: its exclusive queues go too. */
  connectionClosed(connection: CoreConnection): void;
}

/**
 * One client connection as core sees it. Protocol adapters call in through it (and its sessions);
 * it owns what must end with the connection: consumers, open transactions, temporary destinations.
 */
export class CoreConnection implements XaMember {
  private readonly sessions = new Set<CoreSession>();
  private sessionsOpened = 0;
  /** Made by the first transaction: most connections never open one. */
  private transactions: Map<string, Transaction> | undefined;
  private readonly temporary: Destination[] = [];
  private nextTemporary = 1;
  private closed = false;
  /** The promise of this connection's latest send not yet settled (see `inOrder`), and what it waits for. */
  private sendOwed: Promise<void> | undefined;
  private sendOwedFor: Promise<void> | undefined;
  /** Consumers open across the sessions, against limits.maxSubscriptionsPerConnection. */
  openConsumers = 0;
  /** Called when a newer connection takes this one's client id over, just before core closes this one. */
  onEvicted: (() => void) | undefined;
  /**
   * Called when the broker closes this connection for a reason of its own (its user was removed),
   * just before core closes it: the adapter says so in its protocol and closes the socket.
   */
  onRevoked: ((reason: FerryError) => void) | undefined;
  /**
   * Called just before a transaction this connection works in prepares or commits (`keep` true) or
   * rolls back, whichever connection completes it (an XA transaction is the broker's): the adapter
   * hands over what it holds back for it until then (OpenWire's acknowledgements), or drops that.
   */
  onTransactionEnding: ((txId: string, keep: boolean) => void) | undefined;

  constructor(
    readonly id: string,
    readonly request: ConnectRequest,
    principal: Principal,
    private readonly host: ConnectionHost,
    /** When the broker opened it, by the broker's clock. */
    readonly connectedAt: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.currentPrincipal = principal;
    this.traffic = new ConnectionTraffic(clock, host.destinationSenders);
  }

  /** Messages in and out, for operators. */
  readonly traffic: ConnectionTraffic;

  /** The sessions open now, for operators. */
  sessionList(): ReadonlySet<CoreSession> {
    return this.sessions;
  }

  private currentPrincipal: Principal;

  /** Who the connection acts for; a re-authentication may renew it (same user, groups as they are now). */
  get principal(): Principal {
    return this.currentPrincipal;
  }

  /**
   * Proves the client again without closing the connection (MQTT 5 re-authentication): the
   * credentials must prove the connection's own user, or it rejects with
   * FERRY_AUTHENTICATION_FAILED and the protocol closes the connection.
   */
  async reauthenticate(credentials: Credentials): Promise<void> {
    this.assertOpen();
    this.currentPrincipal = await this.host.reauthenticate(this, credentials);
  }

  get clientId(): string | undefined {
    return this.request.clientId;
  }

  get protocol(): string {
    return this.request.protocol;
  }

  get remoteAddress(): string {
    return this.request.transport.remoteAddress;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  createSession(): CoreSession {
    this.assertOpen();
    const session = new CoreSession(this, this.host, `${this.id}:${++this.sessionsOpened}`, new SessionTraffic(this.clock, this.traffic), this.clock());
    this.sessions.add(session);
    return session;
  }

  /**
   * Starts a transaction named by the client. A local one's name is scoped to this connection; an XA
   * one (`xa`) is the broker's, named by its Xid: begun again, on this connection or another, it is
   * joined, and the work of every connection in it prepares, commits or rolls back together.
   */
  begin(txId: string, options: { xa?: boolean } = {}): void {
    this.assertOpen();
    const transactions = (this.transactions ??= new Map());
    if (options.xa === true) {
      if (this.host.preparedTransactions.has(txId)) throw new FerryError('FERRY_TX_STATE', `transaction "${txId}" is already prepared`);
      // a resumed branch, or a begin repeated after a failover, finds this connection in it already
      if (!transactions.has(txId)) transactions.set(txId, this.host.xaTransactions.begin(txId, this));
      return;
    }
    if (transactions.has(txId)) throw new FerryError('FERRY_TX_EXISTS', `transaction "${txId}" is already in progress`);
    transactions.set(txId, new Transaction(txId));
  }

  /** Throws FERRY_TX_NOT_FOUND unless the transaction was begun and has not ended. */
  assertTransaction(txId: string): void {
    this.transaction(txId);
  }

  /**
   * Applies the transaction; resolves when what it wrote is durable (null when it wrote nothing).
   * A prepared one commits too, as XA's one-phase commit of a prepared branch does in ActiveMQ.
   */
  commit(txId: string): Promise<void> | null {
    const xa = this.openXa(txId) !== undefined;
    if (!xa && this.transactions?.has(txId) !== true && this.host.preparedTransactions.has(txId)) return this.commitPrepared(txId);
    const tx = xa ? this.host.xaTransactions.collect(txId) : this.transaction(txId);
    if (xa) this.host.xaTransactions.end(txId, false);
    else this.endLocal(txId, true);
    const flow = this.host.producerFlow;
    flow.clear();
    const durable = this.host.commit(tx);
    this.roomAfterCommit = flow.take(this.id);
    return durable;
  }

  /** Set by each commit: as `CoreSession.roomAfterSend`, for the sends the commit routed (memoryPolicy block). */
  roomAfterCommit: Promise<void> | undefined;

  /**
   * Rolls back an open transaction of this connection, or a prepared one of any connection (its
   * transaction manager rolling it back, perhaps after a restart).
   */
  rollback(txId: string): void {
    if (this.openXa(txId) !== undefined) return this.host.rollback(this.host.xaTransactions.end(txId, true));
    const tx = this.transactions?.get(txId);
    if (tx === undefined && this.host.preparedTransactions.has(txId)) return this.host.preparedTransactions.rollback(txId);
    const open = this.transaction(txId);
    this.endLocal(txId, false);
    this.host.rollback(open);
  }

  /**
   * XA's first phase: the transaction's sends and acknowledgements are made durable without being
   * applied, and it no longer ends with this connection; `txId` is then its id for
   * `commitPrepared` and `rollback`, on any connection, also after a broker restart. A transaction
   * that holds nothing is over instead, and null says so (XA's read-only vote: there is no second
   * phase for it).
   */
  prepare(txId: string): Promise<void> | null {
    this.assertOpen();
    const xa = this.openXa(txId) !== undefined;
    if (!xa && this.transactions?.has(txId) !== true && this.host.preparedTransactions.has(txId)) {
      throw new FerryError('FERRY_TX_STATE', `transaction "${txId}" is already prepared`);
    }
    const tx = xa ? this.host.xaTransactions.collect(txId) : this.transaction(txId);
    if (!xa) this.onTransactionEnding?.(txId, true);
    // a prepare the broker refuses leaves the transaction open
    const durable = tx.isEmpty ? null : this.host.prepare(tx);
    if (xa) this.host.xaTransactions.end(txId, false);
    else this.transactions?.delete(txId);
    return durable;
  }

  /** XA's second phase for a transaction prepared on any connection. */
  commitPrepared(txId: string): Promise<void> | null {
    this.assertOpen();
    if (this.transactions?.has(txId) === true || this.host.xaTransactions.get(txId) !== undefined) throw new FerryError('FERRY_TX_STATE', `transaction "${txId}" was not prepared: a second-phase commit needs a prepare first`);
    return this.host.preparedTransactions.commit(txId);
  }

  /** The ids of every transaction prepared and not yet completed, for a transaction manager's recovery. */
  preparedTransactions(): string[] {
    this.assertOpen();
    return this.host.preparedTransactions.xids();
  }

  /** Checks that a message may be sent to `destination` now (creating it on first use), without sending one. */
  checkDestination(destination: Destination): void {
    this.assertOpen();
    this.host.checkSendable(destination, this);
  }

  /**
   * A temporary queue or topic that lives as long as this connection (or until deleted) and only it
   * may consume. Named by the broker, or by the client where its protocol has the client name it
   * (OpenWire): such a name must begin with `ID:`, as client-made ones do, so it never takes an
   * ordinary destination's name, and must not be in use.
   */
  createTemporaryDestination(kind: 'queue' | 'topic', name?: string): Destination {
    this.assertOpen();
    if (name !== undefined && !name.startsWith('ID:')) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `a temporary destination's name must begin with "ID:", got "${name}"`);
    }
    const destination: Destination = { kind, name: name ?? `ID:${this.id}:${this.nextTemporary++}`, temporary: true };
    this.host.createTemporary(destination, this);
    this.temporary.push(destination);
    return destination;
  }

  /** Deletes a temporary destination this connection made, before the connection ends. */
  deleteTemporaryDestination(destination: Destination): void {
    this.assertOpen();
    const index = this.temporary.findIndex((d) => d.kind === destination.kind && d.name === destination.name);
    if (index < 0) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `${destination.kind} "${destination.name}" is not a temporary destination of this connection`);
    this.temporary.splice(index, 1);
    this.host.deleteTemporary(destination);
  }

  /**
   * Forgets a topic (JMS's destroyDestination), with the admin right, as ActiveMQ: refused while a
   * subscription on it has a consumer; durable subscriptions, bound to patterns, stay.
   */
  deleteTopic(name: string): void {
    this.assertOpen();
    this.host.deleteTopic(this, name);
  }

  /**
   * Every key (client id, AMQP container id) that owns a durable subscription: for a protocol's
   * own connection (`ConnectRequest.internal`) that looks after its sessions after a restart.
   */
  durableSubscriptionOwners(): string[] {
    this.assertInternal('durable subscriptions');
    return this.host.durableSubscriptionOwners();
  }

  /** The same for the owners keeping session ids of `kind` (see `rememberSessionId`). */
  sessionIdOwners(kind: string): string[] {
    this.assertInternal('session ids');
    return this.host.sessionIds.scopesStartingWith(`${kind}:`).map((scope) => scope.slice(kind.length + 1));
  }

  private assertInternal(what: string): void {
    this.assertOpen();
    if (!this.principal.internal) throw new FerryError('FERRY_NOT_AUTHORIZED', `only the broker itself lists the owners of ${what}`);
  }

  /** The durable subscriptions of `owner` (by default this connection's client id), active or not. */
  durableSubscriptions(owner?: string): DurableSubscriptionInfo[] {
    this.assertOpen();
    return this.host.durableSubscriptions(this, this.ownerOf(owner));
  }

  /**
   * Removes a durable subscription and the messages it kept. It must have no active subscriber.
   * An unsubscribe is administrative (the `admin` right on its topic, as in ActiveMQ), unless
   * `asSubscriber`: a protocol whose sessions keep their subscriptions as durable ones (MQTT) ends
   * one of its own as its subscriber, with the `read` right that subscribing needs.
   */
  deleteDurableSubscription(name: string, owner?: string, asSubscriber = false): void {
    this.assertOpen();
    this.host.deleteDurableSubscription(this, this.ownerOf(owner), name, asSubscriber);
  }

  /**
   * `sent`, settled no earlier than every earlier send of this connection: a message consumed
   * before its write is synced is confirmed early (`Persistence.durableOrConsumed`), but protocols
   * answer a connection's sends in order (MQTT's PUBACKs, STOMP's receipts, which also vouch for
   * what came before them).
   */
  inOrder(sent: Promise<void>): Promise<void> {
    const before = this.sendOwed;
    // sends that wait for one store sync (group commit) keep sharing one promise, which lets a
    // protocol settle them all in one callback (AMQP 1.0's ProducerLink)
    if (before !== undefined && sent === this.sendOwedFor) return before;
    const ordered = before === undefined ? sent : before.then(() => sent, () => sent);
    this.sendOwed = ordered;
    this.sendOwedFor = sent;
    const settled = (): void => {
      if (this.sendOwed !== ordered) return;
      this.sendOwed = undefined;
      this.sendOwedFor = undefined;
    };
    ordered.then(settled, settled);
    return ordered;
  }

  /**
   * Resolves once what this connection has had written to the store so far (a durable
   * subscription it made, say) is on disk: a protocol confirms such a change only then.
   */
  synced(): Promise<void> {
    return this.host.synced();
  }

  /** True while this client's producer has not forgotten `id` (see `SendOptions.producerId`). */
  holdsProducerId(id: string): boolean {
    return this.host.producerIds.holds(this.requireClientId(), id);
  }

  /** The ids this client's producer has not forgotten (see `SendOptions.producerId`). */
  heldProducerIds(): string[] {
    return this.host.producerIds.ids(this.requireClientId());
  }

  /** The producer is done with `id`: a later message may use it again. Returns false if it was not held. */
  forgetProducerId(id: string): boolean {
    return this.host.producerIds.forget(this.requireClientId(), id);
  }

  /**
   * Keeps an id for a client id in the store until forgotten, under a `kind` the protocol names: what
   * a session must still do after a restart (MQTT: the PUBRELs it owes). Durable with the next sync.
   * `owner` defaults to this connection's client id.
   */
  rememberSessionId(kind: string, id: string, owner?: string): void {
    this.host.sessionIds.remember(`${kind}:${this.ownerOf(owner)}`, id);
  }

  sessionIds(kind: string, owner?: string): string[] {
    return this.host.sessionIds.ids(`${kind}:${this.ownerOf(owner)}`);
  }

  forgetSessionId(kind: string, id: string, owner?: string): boolean {
    return this.host.sessionIds.forget(`${kind}:${this.ownerOf(owner)}`, id);
  }

  /** Forgets every id a client's session kept, its producer ids among them: the session is over. */
  forgetSessionIds(kinds: readonly string[], owner?: string): void {
    const key = this.ownerOf(owner);
    this.host.producerIds.forgetAll(key);
    for (const kind of kinds) this.host.sessionIds.forgetAll(`${kind}:${key}`);
  }

  /**
   * Declares an exchange, or with `passive` checks that it exists (FERRY_DESTINATION_NOT_FOUND
   * otherwise). Redeclaring with another type or flags is FERRY_PRECONDITION_FAILED; a new name
   * starting `amq.` is FERRY_NAME_RESERVED.
   */
  declareExchange(spec: ExchangeSpec, passive = false): void {
    this.assertOpen();
    this.host.declarations.declareExchange(this, spec, passive);
  }

  /** Deletes an exchange and its bindings; `ifUnused` refuses (FERRY_PRECONDITION_FAILED) while it has bindings as a source. */
  deleteExchange(name: string, ifUnused: boolean): void {
    this.assertOpen();
    this.host.declarations.deleteExchange(this, name, ifUnused);
  }

  /**
   * Declares a queue (a core queue: every protocol reaches it by name), or with `passive` checks
   * that it exists. An empty name is a server-named `amq.gen-...` queue. Another connection's
   * exclusive queue is FERRY_RESOURCE_LOCKED; a redeclaration with other flags or arguments is
   * FERRY_PRECONDITION_FAILED.
   */
  declareQueue(spec: QueueSpec, passive = false): QueueDeclared {
    this.assertOpen();
    return this.host.declarations.declareQueue(this, spec, passive);
  }

  /** Deletes a queue, its bindings and its messages (returns how many were waiting); its consumers hear of it (`DeliverySink.cancelled`). */
  deleteQueue(name: string, options: DeleteQueueOptions): DroppedCount {
    this.assertOpen();
    return this.host.declarations.deleteQueue(this, name, options);
  }

  /** Drops the messages waiting in a queue (not those in flight); returns how many. */
  purgeQueue(name: string): DroppedCount {
    this.assertOpen();
    return this.host.declarations.purgeQueue(this, name);
  }

  /** Binds a queue or an exchange to a source exchange; binding twice is one binding. */
  bind(binding: BindingSpec): void {
    this.assertOpen();
    this.host.declarations.bind(this, binding);
  }

  /** Removes a binding; one that does not exist is no error (as RabbitMQ). */
  unbind(binding: BindingSpec): void {
    this.assertOpen();
    this.host.declarations.unbind(this, binding);
  }

  /** How many topics have a retained message. */
  retainedCount(): number {
    return this.host.retainedCount();
  }

  /** The broker's figures, for a protocol that publishes them (MQTT's `$SYS` topics). */
  brokerStats(): BrokerStats {
    this.assertOpen();
    return this.host.stats();
  }

  /** Closes everything the connection owns: transactions roll back, unacknowledged messages are redelivered. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // stop every consumer first, so what rolls back or returns goes to other connections
    for (const session of this.sessions) session.stopConsumers();
    for (const [txId, tx] of [...(this.transactions ?? [])]) {
      if (this.openXa(txId) === undefined) this.host.rollback(tx);
      // an XA transaction goes on for the other connections in it, unless this one began it: ActiveMQ
      // rolls back what the closing connection began and did not prepare
      else if (this.host.xaTransactions.leave(txId, this)) this.host.rollback(this.host.xaTransactions.end(txId, true));
    }
    this.transactions = undefined;
    for (const session of this.sessions) session.close();
    this.sessions.clear();
    for (const destination of this.temporary) this.host.deleteTemporary(destination);
    this.host.declarations.connectionClosed(this);
    this.traffic.close();
    this.host.disconnected(this);
  }

  /** @internal for XaTransactions: this connection as a member of an XA transaction it began or joined */
  settleTransaction(txId: string, keep: boolean): void {
    this.onTransactionEnding?.(txId, keep);
  }

  /** @internal for XaTransactions */
  forgetTransaction(txId: string): void {
    this.transactions?.delete(txId);
  }

  /** A local transaction is over: the adapter hands over (`keep`) or drops what it held back for it. */
  private endLocal(txId: string, keep: boolean): void {
    this.onTransactionEnding?.(txId, keep);
    this.transactions?.delete(txId);
  }

  /** The open XA transaction `txId`, unless this connection has a local one of that name. */
  private openXa(txId: string): Transaction | undefined {
    const xa = this.host.xaTransactions.get(txId);
    const own = this.transactions?.get(txId);
    return own === undefined || own === xa ? xa : undefined;
  }

  /** @internal for CoreSession */
  transaction(txId: string): Transaction {
    const tx = this.transactions?.get(txId);
    if (tx === undefined) throw new FerryError('FERRY_TX_NOT_FOUND', `transaction "${txId}" was not begun, or has already ended`);
    return tx;
  }

  /** @internal for CoreSession */
  forgetSession(session: CoreSession): void {
    this.sessions.delete(session);
  }

  assertOpen(): void {
    if (this.closed) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
  }

  private ownerOf(owner: string | undefined): string {
    return owner ?? this.requireClientId();
  }

  private requireClientId(): string {
    const clientId = this.clientId;
    if (clientId === undefined) throw new FerryError('FERRY_CLIENT_ID_REQUIRED', 'this needs a connection with a client id');
    return clientId;
  }
}

/** A session groups consumers (and, for JMS, an acknowledgement mode); closing it closes them. */
export class CoreSession {
  /** Made by the first subscription: a producer's session never needs it. */
  private consumers: Set<ConsumerHandle> | undefined;
  /** Producers named by the protocol (`openProducer`): made by the first. */
  private producers: Set<ProducerHandle> | undefined;
  /** basic.get's consumers: made by the first get. */
  private gets: QueueGets | undefined;
  private closed = false;

  constructor(
    readonly connection: CoreConnection,
    private readonly host: ConnectionHost,
    /** Unique in the broker: the connection's id and the session's number on it. */
    readonly id: string,
    /** Messages in and out, for operators. */
    readonly traffic: SessionTraffic,
    /** When it opened, by the broker's clock. */
    readonly openedAt: number,
  ) {}


  /**
   * Sends a message, or holds it in transaction `txId` until commit. Resolves when the message is
   * durable; returns null when there is nothing to wait for (non-persistent, or held).
   */
  send(init: MessageInit, txId?: string, options?: SendOptions): Promise<void> | null {
    this.connection.assertOpen();
    const message = this.host.createMessage(init, this.connection);
    if (txId !== undefined) {
      if (options?.retain !== undefined && options.retain !== false) throw new FerryError('FERRY_DESTINATION_INVALID', 'a retained message cannot be sent in a transaction');
      this.host.checkSendable(message.destination, this.connection);
      // refused when sent, as outside a transaction, rather than at a commit that would then fail whole
      this.host.checkRoomForSend(message.destination);
      this.connection.transaction(txId).holdSend(message);
      this.roomAfterSend = undefined;
      this.traffic.sent(message.destination);
      return null;
    }
    const flow = this.host.producerFlow;
    flow.clear();
    const sent = this.host.send(message, this.connection, options);
    this.roomAfterSend = flow.take(this.connection.id);
    this.traffic.sent(message.destination);
    return sent === null ? null : this.connection.inOrder(sent);
  }

  /**
   * A neighbour broker's retained message (a network connector's, docs/network.md): kept in memory as
   * its topic's retained message (an empty body clears it), handed as retained to the subscriptions
   * of `consumers` only, and routed nowhere else.
   */
  keepForwardedRetained(init: MessageInit, consumers: ReadonlySet<number>): void {
    this.connection.assertOpen();
    const message = this.host.createMessage(init, this.connection);
    if (message.destination.kind !== 'topic' || hasWildcard(message.destination.name)) throw new FerryError('FERRY_DESTINATION_INVALID', 'only a plain topic keeps a retained message');
    this.host.checkSendable(message.destination, this.connection);
    this.host.forwardedRetained.keep(message, consumers);
  }

  /** Forgets the neighbour's retained messages (those `came` picks) of the topics `pattern` matches: no link keeps them current. */
  forgetForwardedRetained(pattern: string, came: (message: Message) => boolean): number {
    return this.host.forwardedRetained.forget(pattern, came);
  }

  /**
   * Set by each send and publish: undefined when the producer may go on, otherwise it resolves once
   * the queue that send filled has room again (memoryPolicy block); until then the adapter holds
   * that producer's next sends, in its protocol's way (see `ProducerFlow`).
   */
  roomAfterSend: Promise<void> | undefined;

  /**
   * Publishes a message to an exchange (`''`: the default exchange, which routes to the queue the
   * key names). The message lands, one shared message, in every queue its bindings reach, following
   * exchange-to-exchange bindings (each queue once) and alternate exchanges. In transaction `txId` it
   * is routed now and held until the commit delivers it to those queues (`committed`). An unknown exchange is
   * FERRY_DESTINATION_NOT_FOUND; an internal one FERRY_NAME_RESERVED.
   */
  publish(exchange: string, routingKey: string, init: PublishInit, txId?: string, options?: PublishOptions): PublishResult {
    this.connection.assertOpen();
    const tx = txId === undefined ? undefined : this.connection.transaction(txId);
    const temporaryQueue = exchange === '' ? options?.temporaryQueue : undefined;
    const destination: Destination = temporaryQueue === undefined ? publishedDestination(exchange, routingKey) : { kind: 'queue', name: temporaryQueue, temporary: true };
    const message = this.host.createMessage(init, this.connection, { destination, exchange, routingKey });
    const flow = this.host.producerFlow;
    flow.clear();
    const result = this.host.declarations.publish(this.connection, message, tx, options);
    this.roomAfterSend = flow.take(this.connection.id);
    this.traffic.sent(message.destination);
    return result.durable === null ? result : { ...result, durable: this.connection.inOrder(result.durable) };
  }

  /**
   * Takes the next message waiting in a queue, without opening a consumer (AMQP 0-9-1's basic.get):
   * undefined when the queue is empty. With `individual`, settle the delivery through the returned
   * handle (one per session and queue, closed with the session, its unsettled messages then
   * redelivered); with `auto`, it is consumed as it is handed over. `messageCount` is what still waits.
   */
  get(queue: string, ackMode: 'auto' | 'individual'): { delivery: Delivery; consumer: ConsumerHandle; messageCount: number } | undefined {
    this.connection.assertOpen();
    this.gets ??= new QueueGets(
      (name, mode, sink, reuse) => this.host.getter(this.connection, name, mode, sink, reuse),
      (consumer) => new SessionConsumer(consumer, this.connection),
      (this.consumers ??= new Set()),
    );
    return this.gets.get(queue, ackMode);
  }

  /** After `get` found nothing: resolves once the first message's body is read back (PostgreSQL); undefined when the queue is empty. */
  whenGettable(queue: string, ackMode: 'auto' | 'individual'): Promise<void> | undefined {
    return this.gets?.whenGettable(queue, ackMode);
  }

  /** Opens a consumer (or, with `browse`, a browser) on a queue or a topic pattern. */
  subscribe(options: SubscribeOptions): ConsumerHandle {
    this.connection.assertOpen();
    const consumers = (this.consumers ??= new Set());
    if (options.browse === true) {
      const browser = this.host.browse(this.connection, options, () => consumers.delete(browser));
      consumers.add(browser);
      return browser;
    }
    const replaces = options.replaces === undefined ? undefined : this.ownConsumer(options.replaces);
    this.host.limits.checkSubscriptions(this.connection.openConsumers - (replaces === undefined ? 0 : 1), this.connection.principal);
    const opened = this.host.subscribe(this.connection, options, this.traffic, replaces);
    const handle = opened instanceof Consumer ? new SessionConsumer(opened, this.connection) : opened;
    consumers.add(handle);
    this.connection.openConsumers++;
    const closes = handle instanceof SessionConsumer ? handle.consumer : handle;
    const previous = closes.onClose;
    const events = this.host.consumerEvents;
    closes.onClose = () => {
      consumers.delete(handle);
      this.connection.openConsumers--;
      events.closed(handle.id);
      previous?.();
    };
    events.opened({
      id: handle.id,
      connectionId: this.connection.id,
      protocol: this.connection.protocol,
      internal: this.connection.principal.internal,
      destination: options.destination,
      selector: options.selector,
      priority: options.priority ?? 0,
      durable: options.durable !== undefined,
      durableName: options.durable?.name,
      label: options.label,
    });
    return handle;
  }

  /** A consumer this session opened and has not closed, as core holds it. */
  private ownConsumer(handle: ConsumerHandle): Consumer {
    if (!(handle instanceof SessionConsumer) || !this.consumers?.has(handle) || handle.isClosed) {
      throw new FerryError('FERRY_CONSUMER_NOT_FOUND', 'the consumer to replace is not open on this session');
    }
    return handle.consumer;
  }

  /** The consumers open on this session (browsers included), for operators. */
  consumerList(): (Consumer | WildcardQueueConsumer)[] {
    const list: (Consumer | WildcardQueueConsumer)[] = [];
    for (const handle of this.consumers ?? []) {
      if (handle instanceof SessionConsumer) list.push(handle.consumer);
      else if (handle instanceof WildcardQueueConsumer) list.push(handle);
    }
    return list;
  }

  stopConsumers(): void {
    for (const consumer of this.consumers ?? []) {
      if (consumer instanceof SessionConsumer) consumer.consumer.stop();
      else if (consumer instanceof WildcardQueueConsumer) consumer.stop();
    }
  }

  /**
   * Names a producer sending to `destination` (undefined: each message says where), for those who
   * watch producers (ActiveMQ's producer advisories); it closes with the session.
   */
  openProducer(destination: Destination | undefined): ProducerHandle {
    const connection = this.connection;
    const handle = this.host.producerEvents.opened({ connectionId: connection.id, protocol: connection.protocol, internal: connection.principal.internal, destination });
    const producers = (this.producers ??= new Set());
    producers.add(handle);
    return {
      id: handle.id,
      close: () => {
        if (producers.delete(handle)) handle.close();
      },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopConsumers();
    for (const consumer of [...(this.consumers ?? [])]) consumer.close();
    for (const producer of this.producers ?? []) producer.close();
    this.producers = undefined;
    this.connection.forgetSession(this);
  }
}

/**
 * The destination a published message names, for consumers of other protocols and dead letters:
 * the queue its key names for the default exchange (as a send to that queue), the topic its key
 * names for `amq.topic` (as a send to that topic), and otherwise the exchange as a topic.
 */
export function publishedDestination(exchange: string, routingKey: string): Destination {
  if (exchange === '') return { kind: 'queue', name: routingKey };
  if (exchange === 'amq.topic' && routingKey !== '') return { kind: 'topic', name: routingKey };
  return { kind: 'topic', name: exchange };
}
