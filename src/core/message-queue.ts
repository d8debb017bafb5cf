import type { BodyCache } from './body-cache.js';
import { bodyState, withProperties, type Destination, type Message, type PropertyChanges } from './message.js';
import type { Persistence } from './persistence.js';
import { PendingEntries, type WaitingPlace } from './pending.js';
import { SlowConsumerGuard } from './slow-consumer.js';
import type { DestinationPolicy } from './policy.js';
import type { DeclaredQueue, QueueArguments } from './queue-arguments.js';
import { QueueEntry, type EntryQueue, type StoredMessage } from './queue-entry.js';
import { DeclaredLimits, ExpiryTimer } from './queue-limits.js';
import { DeliveryMark } from './delivery-mark.js';
import type { ProducerFlow } from './producer-flow.js';
import type { MessageMemory } from './message-memory.js';
import type { MessageOutcomes } from './message-outcomes.js';
import { QueueMemory } from './queue-memory.js';
import type { DroppedCount, QueueConsumer, QueueStats } from './queue-types.js';
import { QueueLoading, stillLoading } from './queue-loading.js';
import type { TimerQueue } from './timers.js';
import { QueueReads, READ_AHEAD_ENTRIES } from './queue-reads.js';
import { RedeliveryDelays } from './redelivery-delays.js';

/** What a queue needs from the broker around it. */
export interface QueueEnvironment {
  readonly persistence: Persistence;
  readonly bodies: BodyCache;
  readonly clock: () => number;
  readonly timers: TimerQueue;
  /**
   * Takes the entry out of `queue` and into its dead-letter queue, or drops it, by policy; returns
   * true when it moved, false when it was dropped.
   */
  deadLetter(queue: MessageQueue, entry: QueueEntry, reason: string): boolean;
  /** A consumer's protocol could not put a message into its terms (see `Consumer.take`): a bug of Ferry's, logged. */
  undeliverable?(queue: MessageQueue, entry: QueueEntry, err: unknown): void;
  /** Writes the queue's delivery mark (see `DeliveryMark`). */
  writeDeliveryMark(queue: MessageQueue, seq: number): Promise<void> | undefined;
  /** What the waiting messages of all queues hold, against limits.messageMemory. */
  readonly messageMemory?: MessageMemory;
  /** Who hears of messages expiring here. */
  readonly outcomes: MessageOutcomes;
  /** Where a queue that a send leaves at its memoryLimit, with memoryPolicy block, says so. */
  readonly producerFlow: ProducerFlow;
  /** A non-durable subscription is over its pending-message limit (notify, abort), or dropped its oldest message (evict). */
  slowConsumer?(queue: MessageQueue, action: 'notify' | 'abort' | 'evict'): void;
  /** A declared queue gained a consumer. */
  declaredQueueInUse(queue: MessageQueue): void;
  /** A declared queue lost its last consumer (auto-delete, expires). */
  declaredQueueUnused(queue: MessageQueue): void;
  /** The queue was destroyed, its counts final (a purge on the way counts as dequeued). */
  queueGone?(queue: MessageQueue): void;
  /** False once the broker may hand out no more messages (see `BrokerOptions.guard`). */
  serving?(): boolean;
  /** True while the broker stops: see `giveBack`. */
  stopping?(): boolean;
}

/**
 * Messages waiting for competing consumers: a queue destination, or the private queue of one topic
 * subscription (durable or not). Each message goes to one consumer; consumers with room take turns.
 *
 * Invariant: an entry is in exactly one place: `pending`, the redelivery delay, one consumer's
 * in-flight map, or one transaction.
 */
export class MessageQueue implements EntryQueue {
  private readonly pending: PendingEntries;
  private readonly consumers: QueueConsumer[] = [];
  /** Message group id -> the consumer that owns the group while it lives. */
  private readonly groups = new Map<string, QueueConsumer>();
  /** Last-value key -> the waiting entry that holds the newest value. */
  private readonly lastValues = new Map<unknown, QueueEntry>();
  private selectingConsumers = 0;
  private nextConsumer = 0;
  private nextSeq: number;
  private dispatching = false;
  private dispatchAgain = false;
  /** Reads of bodies that wait on disk, ahead of dispatch and of dead letters. */
  private readonly reads: QueueReads;
  private destroyed = false;
  private enqueued = 0;
  private dequeued = 0;
  private expired = 0;
  private deadLettered = 0;
  private discarded = 0;
  /** Bounds a non-durable subscription's backlog, when its policy sets a pending-message limit. */
  private readonly slow: SlowConsumerGuard | undefined;
  /** Waiting entries that carry an expiration, so the sweep skips queues without any. */
  private expiring = 0;
  readonly delays: RedeliveryDelays;
  inFlight = 0;
  /** Its memory limits, and whether its producers wait at them. */
  private readonly memory: QueueMemory;
  /** Written ahead of the persistent messages that go out, so a crash flags every one that may have. */
  readonly deliveryMark: DeliveryMark;
  /** An operator stopped dispatch; sends are still taken. */
  paused = false;
  /** Set for a queue declared with RabbitMQ's flags and arguments (see `Declarations`). */
  declared: DeclaredQueue | undefined = undefined;
  /** Declared arguments the queue applies itself (TTL, maximum length, single active consumer). */
  private readonly limits = new DeclaredLimits();
  private singleActive = false;
  private readonly expiryTimer: ExpiryTimer;
  /** A consumer that asked to be the queue's only one (see `SubscribeOptions.soleConsumer`). */
  soleConsumer: QueueConsumer | undefined = undefined;
  /** Set while recovery still has this queue's stored messages to put back (see `startLoading`). */
  private loading: QueueLoading | undefined;
  /** Recovered entries at or below this sequence number may have been delivered before a crash. */
  private recoveredMark = 0;

  constructor(
    readonly name: string,
    readonly kind: 'queue' | 'subscription',
    /** Store record of this queue, 0 when its messages are never persisted (non-durable subscriptions). */
    readonly recordId: number,
    readonly policy: DestinationPolicy,
    private readonly env: QueueEnvironment,
    firstSeq = 1,
  ) {
    this.nextSeq = firstSeq;
    this.delays = new RedeliveryDelays(policy, env.timers, (entry, delayed) => env.persistence.updateDeliveryCount(recordId, entry, delayed));
    this.expiryTimer = new ExpiryTimer(env.timers, () => {
      if (this.destroyed) return undefined;
      this.sweepExpired(env.clock());
      const head = this.pending.peek();
      return head !== undefined && head.expiresAt !== 0 ? head.expiresAt : undefined;
    });
    this.pending = new PendingEntries(env.messageMemory);
    this.memory = new QueueMemory(policy, this.pending, env.messageMemory, kind === 'subscription' && recordId === 0);
    this.reads = new QueueReads(
      {
        isDestroyed: () => this.destroyed,
        dispatch: () => this.dispatch(),
        waiting: () => this.pending,
        putBack: (entry) => this.addPending(entry),
        drop: (entry) => this.acknowledge(entry),
      },
      env.bodies,
      env.timers,
      env.clock,
    );
    this.deliveryMark = new DeliveryMark((seq) => env.writeDeliveryMark(this, seq), () => this.destroyed || this.dispatch());
    // durable subscriptions exist to keep what their subscriber has not read: only the others are bounded
    if (kind === 'subscription' && recordId === 0 && policy.pendingMessageLimit > 0) {
      this.slow = new SlowConsumerGuard(policy.pendingMessageLimit, policy.slowConsumerPolicy, policy.slowConsumerGrace, {
        timers: env.timers,
        clock: env.clock,
        slow: (action) => env.slowConsumer?.(this, action),
        evictOldest: () => this.evictOldest(),
      });
    }
  }

  /** Connections of this queue's consumers (a slow subscriber's, to close). */
  consumerConnections(): string[] {
    return this.consumers.map((c) => c.connectionId);
  }

  /** Makes this a declared queue, before any message is in it. */
  declare(state: DeclaredQueue, args: QueueArguments): void {
    this.declared = state;
    this.limits.set(args);
    this.singleActive = args.singleActiveConsumer === true;
    this.pending.capPriority(args.maxPriority ?? 0);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** True when the queue is full and refuses a publish rather than dropping its oldest (`overflow: reject-publish`). */
  refuses(message: Message): boolean {
    return this.limits.refuses(this.pendingCount, this.pending.bytes, bodyState(message).bodyLength);
  }

  /**
   * memoryPolicy page: a non-persistent message sent to this queue alone (not to a topic, a composite
   * or a temporary queue, whose messages may wait in several places) may have its body written out.
   */
  private pagesOut(message: Message): boolean {
    if (message.persistent || this.policy.memoryPolicy !== 'page' || this.kind !== 'queue') return false;
    const destination = message.destination;
    return destination.kind === 'queue' && destination.name === this.name && destination.temporary !== true;
  }

  /** At a memory limit where its memoryPolicy holds producers: they wait for `whenRoom`. */
  get holdsProducers(): boolean {
    return this.memory.holdsProducers;
  }

  /** Resolves once the queue has room for the producers it holds, or is gone. */
  whenRoom(): Promise<void> {
    return this.destroyed ? Promise.resolve() : this.memory.whenRoom();
  }

  /** True when a consumer of `connection` takes from this queue: holding its sends would wait on its own acknowledgements. */
  consumedBy(connectionId: string): boolean {
    return this.consumers.some((consumer) => consumer.connectionId === connectionId);
  }

  /** At its memoryLimit with memoryPolicy fail: a send to it is refused (FERRY_DESTINATION_FULL). */
  get fullForSends(): boolean {
    return this.policy.memoryPolicy === 'fail' && this.memory.reached;
  }

  /** A message it refused was not placed: counted as discarded. */
  refused(): void {
    this.discarded++;
  }

  /** The broker's clock and timers, for its consumers' delivery leases, and where they report a message they could not deliver. */
  get environment(): Pick<QueueEnvironment, 'clock' | 'timers' | 'undeliverable'> {
    return this.env;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  /** Waiting messages, those recovery has still to put back included. */
  get pendingCount(): number {
    return this.pending.length + (this.loading?.count ?? 0);
  }

  /**
   * Set while recovery is still putting this queue's stored messages back (nothing is dispatched from
   * it yet); `discarding` once it was purged or deleted meanwhile.
   */
  get loadingState(): QueueLoading | undefined {
    return this.loading;
  }

  /**
   * Recovery will put back `count` stored messages (undefined: not known yet) numbered up to `lastSeq`, after
   * the broker started serving. Until `finishLoading`, sends are stored and numbered after them but
   * placed only then, and nothing is dispatched: the queue is delivered in order once it is whole.
   */
  startLoading(count: number | undefined, lastSeq: number): void {
    if (lastSeq >= this.nextSeq) this.nextSeq = lastSeq + 1;
    this.loading = new QueueLoading(count);
  }

  /** Every stored message is back: what arrived meanwhile takes its place after them, and dispatch begins. */
  finishLoading(): void {
    const loading = this.loading;
    if (loading === undefined) return;
    this.loading = undefined;
    for (const entry of loading.whole()) {
      if (entry.retained) this.addPending(entry);
      else this.place(entry, undefined);
    }
    if (!this.destroyed) this.dispatch();
  }

  /** Places a routed message in this queue, writing its reference when both are persistent. */
  accept(message: Message, stored: StoredMessage | null, txId: number | undefined, dispatchNow: boolean, matched?: readonly number[]): void {
    const persisted = stored !== null && this.recordId !== 0;
    const entry = new QueueEntry(this, message, this.nextSeq++, persisted ? stored : null);
    if (matched !== undefined) entry.matched = matched;
    this.limits.applyOnArrival(entry, this.env.clock());
    if (persisted) this.env.persistence.addReference(this.recordId, entry, txId);
    this.enqueued++;
    if (this.loading !== undefined) {
      // stored now, so the send can be confirmed; placed after the stored messages once they are back
      this.loading.arrived(entry);
      return;
    }
    this.place(entry, txId);
    if (dispatchNow) this.dispatch();
  }

  /** Places an accepted entry among the waiting ones, applying the queue's last-value key and limits. */
  private place(entry: QueueEntry, txId: number | undefined): void {
    const message = entry.message;
    if (this.policy.lastValueKey !== undefined) this.replaceLastValue(entry, txId);
    this.addPending(entry);
    if (this.pagesOut(message) && this.memory.reached) this.env.persistence.page(message);
    if (this.overLimits()) {
      // inside a store transaction the oldest may be this very entry, whose reference is not committed yet
      if (txId === undefined) this.dropHead();
      else queueMicrotask(() => this.dropHead());
    }
    if (this.policy.memoryPolicy === 'drop-oldest' && this.memory.reached) this.discardOldest(txId);
    if (this.holdsProducers) this.env.producerFlow.filled(this);
    this.slow?.added(this.pending.length);
  }

  /**
   * Places a topic's retained message in a subscription that is starting; it is never stored here
   * (the retained message is stored once), and its delivery says it is retained.
   */
  acceptRetained(message: Message): void {
    const entry = new QueueEntry(this, message, this.nextSeq++, null);
    entry.retained = true;
    this.enqueued++;
    if (this.loading !== undefined) this.loading.arrived(entry);
    else this.addPending(entry);
  }

  /** Puts back an entry recovered from the store. */
  recover(message: Message, stored: StoredMessage, seq: number, redeliveries: number, returns: number, referenceId: number, queueExpiry: number, markAdds: boolean): void {
    const entry = new QueueEntry(this, message, seq, stored, redeliveries, markAdds && seq <= this.recoveredMark ? returns + 1 : returns);
    entry.referenceId = referenceId;
    this.loading?.putBack();
    this.limits.applyRecoveredTtl(entry, queueExpiry, this.env.clock());
    stored.references++;
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    if (this.policy.lastValueKey !== undefined) {
      const key = message.properties.get(this.policy.lastValueKey);
      if (key !== undefined && key !== null) this.lastValues.set(key, entry);
    }
    this.addPending(entry);
  }

  /** Takes recovered entries out of the queue: a prepared transaction holds them until it is completed. */
  takeRecovered(referenceIds: ReadonlySet<number>): QueueEntry[] {
    const taken = this.pending.removeWhere((entry) => referenceIds.has(entry.referenceId));
    for (const entry of taken) if (entry.expiresAt !== 0) this.expiring--;
    return taken;
  }

  /** After a crash: what waits at or below the last recorded delivery mark may have been delivered. */
  recoverDeliveryMark(recordId: number, mark: number): void {
    this.deliveryMark.recovered(recordId, mark);
    // recovery puts the queue's entries back after its mark, and flags those at or below it then
    this.recoveredMark = mark;
    // new messages start past the mark, so a second crash does not flag them before they go out
    if (mark >= this.nextSeq) this.nextSeq = mark + 1;
  }

  /**
   * Entries come back from a consumer that left or a transaction that rolled back. `counted` says the
   * delivery failed (a redelivery, subject to the policy's delay, and to its maximum when `limited`),
   * but while the broker stops, which is no failure of the consumer's, only a return (`QueueEntry.returns`).
   * Otherwise the entry returns as it was. Either way it goes back to its old place in the queue.
   */
  giveBack(entries: Iterable<QueueEntry>, counted = true, limited = true): void {
    const now = this.env.clock();
    for (const entry of entries) {
      entry.consumer = null;
      if (this.destroyed) {
        // its queue is gone, and its reference with it
        this.acknowledge(entry);
        continue;
      }
      if (entry.expiredAt(now)) {
        this.expire(entry);
        continue;
      }
      const returned = counted && this.env.stopping?.() === true;
      if (returned) entry.returns++;
      else if (counted) {
        entry.redeliveries++;
        const pastMaximum = this.delays.pastMaximum(entry, this.declared, limited);
        if (pastMaximum !== undefined) {
          this.deadLetter(entry, pastMaximum);
          continue;
        }
      }
      const delayed = counted && !returned && this.delays.hold(entry, now, () => {
        this.addPending(entry);
        this.trimAfterGiveBack();
        this.dispatch();
      });
      if (delayed) continue;
      // a crash later brings it back with these counts, and a return more where the delivery mark covers it
      if (counted) this.env.persistence.updateDeliveryCount(this.recordId, entry);
      this.addPending(entry);
    }
    this.trimAfterGiveBack();
    this.dispatch();
  }

  /** A consumer hands the entry back with `changes` to its message's properties: they apply here, and are stored. */
  amend(entry: QueueEntry, changes: PropertyChanges): void {
    this.env.persistence.replaceMessage(this.recordId, entry, withProperties(entry.message, changes));
  }

  /** The entry is consumed: its reference leaves the store (inside `txId` when given). */
  acknowledge(entry: QueueEntry, txId?: number): void {
    entry.gone = true;
    this.env.persistence.removeReference(entry, txId);
    if (entry.stored === null && bodyState(entry.message).paged) this.env.persistence.unpage(entry.message);
    this.dequeued++;
  }

  /** A consumer acknowledged the entry: as `acknowledge`, and the message's producer may hear so. */
  consume(entry: QueueEntry, txId?: number): void {
    this.acknowledge(entry, txId);
    const stored = entry.stored;
    if (stored === null || stored.references !== 0 || stored.whenConsumed === undefined) return;
    const consumed = stored.whenConsumed;
    stored.whenConsumed = undefined;
    consumed();
  }

  /** Resolves once what this queue appended to the store so far is durable; null for a queue never persisted. */
  written(): Promise<void> | null {
    return this.recordId === 0 ? null : this.env.persistence.store.sync();
  }

  /** A poison message, or one past its redeliveries: off to the dead-letter queue. A rejection counts no redelivery, as ActiveMQ counts
   *  no poison ack: a JMS client allowing no retries refuses on arrival a copy that says it was redelivered. */
  deadLetter(entry: QueueEntry, reason: string): void {
    entry.consumer = null;
    this.reads.moveOut(entry, () => {
      if (this.env.deadLetter(this, entry, reason)) this.deadLettered++;
      else this.discarded++;
    });
  }

  addConsumer(consumer: QueueConsumer): void {
    this.consumers.push(consumer);
    if (consumer.selector !== undefined) this.selectingConsumers++;
    // exclusive first, then higher priority; the sort is stable, so among equals the earliest wins.
    // A single-active-consumer queue keeps the order of subscription: the first is the active one.
    if (!this.singleActive) this.consumers.sort((a, b) => Number(b.exclusive) - Number(a.exclusive) || b.priority - a.priority);
    if (this.declared !== undefined) this.env.declaredQueueInUse(this);
    // not before the adapter has recorded the consumer and answered the subscribe
    queueMicrotask(() => this.dispatch());
  }

  removeConsumer(consumer: QueueConsumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.soleConsumer === consumer) this.soleConsumer = undefined;
    if (consumer.selector !== undefined) this.selectingConsumers--;
    if (this.nextConsumer >= this.consumers.length) this.nextConsumer = 0;
    // its message groups move on to whichever consumer takes their next message
    for (const [group, owner] of this.groups) if (owner === consumer) this.groups.delete(group);
    if (this.declared !== undefined && this.consumers.length === 0 && !this.destroyed) this.env.declaredQueueUnused(this);
    // the next in line takes over everything
    else if (this.singleActive && i === 0) queueMicrotask(() => this.dispatch());
  }

  /**
   * Hands the next waiting message to `consumer`, which need not be one of this queue's consumers
   * (AMQP 0-9-1's basic.get, which is no consumer: it counts for neither auto-delete nor single
   * active consumer). Returns false when nothing waits.
   */
  takeOne(consumer: QueueConsumer): boolean {
    if (this.destroyed || this.loading !== undefined) return false;
    const now = this.env.clock();
    while (this.pending.length > 0) {
      const head = this.pending.peek()!;
      if (this.env.bodies.mustReadFirst(head.message) && !head.expiredAt(now)) {
        // a get is answered at once, and this body can only be read asynchronously: a get that can
        // wait for the read (`bodiesBeingRead`) has it then
        this.reads.readAhead();
        return false;
      }
      this.pending.shift();
      if (this.removeIfStale(head, now)) continue;
      // a get is answered at once: its message may go out while the mark that covers it is written
      if (head.referenceId !== 0) this.deliveryMark.covers(head.seq);
      this.handOver(consumer, head);
      return true;
    }
    return false;
  }

  /**
   * When `takeOne` found the head's body on disk in a store that reads asynchronously only, or the
   * queue still loading: resolves once the read it started has ended or the queue is whole, for a
   * get that can wait (AMQP 0-9-1's basic.get).
   */
  bodiesBeingRead(): Promise<void> | undefined {
    // a queue still loading answers a get once it is whole, not with a wrong "empty"
    if (this.loading !== undefined) return this.loading.whenWhole();
    return this.reads.whenRead();
  }

  /** Every entry waiting or in flight (not those in a redelivery delay or a transaction); `inOrder`: where each stands in the queue. */
  *entries(inOrder = false): IterableIterator<QueueEntry> {
    if (inOrder) return yield* this.pending.withPlaced(this.consumers.flatMap((consumer) => [...consumer.inFlightEntries()]));
    yield* this.pending;
    for (const consumer of this.consumers) yield* consumer.inFlightEntries();
  }

  /** The waiting entries in dispatch order, after `place` when given, walked at once (nothing may change the queue meanwhile); nothing is consumed. */
  waitingEntries(place?: WaitingPlace): IterableIterator<QueueEntry> {
    this.mustBeLoaded();
    return this.pending.after(place);
  }

  /**
   * Takes the waiting entries `pick` chooses out of the queue, in dispatch order, without consuming
   * them: the caller acknowledges each (inside its store transaction) once it has put its copy elsewhere.
   */
  takeWaiting(pick: (entry: QueueEntry) => boolean): QueueEntry[] {
    this.mustBeLoaded();
    const taken = this.pending.removeWhere(pick);
    for (const entry of taken) {
      if (entry.message.expiration !== 0) this.expiring--;
      if (this.policy.lastValueKey !== undefined) {
        const key = entry.message.properties.get(this.policy.lastValueKey);
        if (this.lastValues.get(key) === entry) this.lastValues.delete(key);
      }
    }
    return taken;
  }

  /**
   * Drops every waiting message (not those in flight); returns how many. While recovery has not yet
   * counted the stored messages it has still to put back (a store read from its catalog), they are
   * dropped too, and the count is a promise kept once they are counted.
   */
  purge(): DroppedCount {
    const removed = this.pending.removeWhere(() => true);
    for (const entry of removed) this.acknowledge(entry);
    this.lastValues.clear();
    this.expiring = 0;
    const loading = this.loading;
    if (loading === undefined) return removed.length;
    // what recovery has still to put back is deleted by it instead; what arrived meanwhile goes now
    const { arrivals, toLoad } = loading.discard();
    for (const entry of arrivals) this.acknowledge(entry);
    const now = removed.length + arrivals.length;
    return typeof toLoad === 'number' ? now + toLoad : toLoad.then((later) => now + later);
  }

  /** Walking or picking from the waiting messages needs all of them: refused while some are still on their way back from the store. */
  private mustBeLoaded(): void {
    if (this.loading !== undefined) throw stillLoading(this.name);
  }

  /** Drops everything, in flight too, as the queue is deleted (with a reason, its consumers hear it); returns what `purge` does. */
  destroy(reason?: string): DroppedCount {
    const first = !this.destroyed;
    const purged = this.purge();
    this.destroyed = true;
    // not left to their timers: a queue that is gone must not keep their records in the store meanwhile
    for (const entry of this.delays.cancelAll()) this.acknowledge(entry);
    this.slow?.stop();
    for (const consumer of [...this.consumers]) {
      if (reason === undefined) consumer.close();
      else consumer.cancel(reason);
    }
    if (first) this.env.queueGone?.(this);
    return purged;
  }

  /** Takes expired messages out of the waiting ones; called by the broker's periodic sweep. */
  sweepExpired(now: number): void {
    if (this.expiring === 0) return;
    const expired = this.pending.removeWhere((entry) => entry.expiredAt(now));
    this.expiring -= expired.length;
    for (const entry of expired) this.expire(entry);
  }

  stats(): QueueStats {
    return {
      name: this.name,
      pending: this.pendingCount,
      ...(this.loading === undefined ? {} : { loading: true }),
      inFlight: this.inFlight,
      delayed: this.delays.count,
      consumers: this.consumers.length,
      enqueued: this.enqueued,
      dequeued: this.dequeued,
      expired: this.expired,
      deadLettered: this.deadLettered,
      discarded: this.discarded,
    };
  }

  /** Hands waiting messages to consumers with room, until either runs out. Safe to call re-entrantly. */
  dispatch(): void {
    if (this.paused || this.loading !== undefined) return;
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    if (this.pending.length === 0 || this.consumers.length === 0 || this.env.serving?.() === false) return;
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        if (this.dispatchInOrder()) this.dispatchSelectively();
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  /** See `ConsumerHandle.waitsOnStore`: the head of the queue waits on its delivery mark or on its body. */
  get waitsOnStore(): boolean {
    const head = this.pending.peek();
    return head !== undefined && ((head.referenceId !== 0 && !this.deliveryMark.covers(head.seq)) || (this.env.bodies.anyOnDisk && this.reads.holdsHead(head)));
  }

  /**
   * The common case: no selectors, no groups: the head goes to the next ready consumer. Returns
   * true when it met something that needs the selective path.
   */
  private dispatchInOrder(): boolean {
    if (this.selectingConsumers > 0) return true;
    const now = this.env.clock();
    const bodies = this.env.bodies;
    while (this.pending.length > 0) {
      const head = this.pending.peek()!;
      // a consumer that refused the head must be passed over, as a selector would
      if (head.message.groupId !== undefined || head.refusedBy !== undefined) return true;
      // a body on disk is read back before it goes out, with those behind it, without blocking
      if (bodies.anyOnDisk && this.reads.holdsHead(head)) return false;
      const consumer = this.readyConsumer(undefined);
      if (consumer === null) return false;
      if (head.referenceId !== 0 && !head.offeredOnArrival && !this.deliveryMark.covers(head.seq)) return false;
      this.pending.shift();
      if (this.removeIfStale(head, now)) continue;
      this.handOver(consumer, head);
      this.reads.handedOver();
    }
    return false;
  }

  /**
   * Selectors or message groups: each waiting message goes to a ready consumer that may have it; a
   * message nobody ready may have stays where it is and the scan moves on, so it never holds up the
   * messages behind it that other consumers want.
   */
  private dispatchSelectively(): void {
    const now = this.env.clock();
    const bodies = this.env.bodies;
    // bodies to read back before dispatch goes past the first of them, so that it keeps its order
    let unread: QueueEntry[] | undefined;
    let scanned = 0;
    this.pending.scan((entry) => {
      if (unread !== undefined) {
        if (bodies.mustReadFirst(entry.message) && this.anyAccepts(entry)) unread.push(entry);
        return ++scanned >= READ_AHEAD_ENTRIES ? 'stop' : false;
      }
      if (!this.anyConsumerReady()) return 'stop';
      if (this.removeIfStale(entry, now)) return true;
      if (entry.referenceId !== 0 && !entry.offeredOnArrival && !this.deliveryMark.covers(entry.seq)) return 'stop';
      if (bodies.anyOnDisk && bodies.mustReadFirst(entry.message)) {
        if (this.anyAccepts(entry)) unread = [entry];
        return false;
      }
      const consumer = this.consumerFor(entry);
      if (consumer === null) return false;
      this.handOver(consumer, entry);
      return true;
    });
    if (unread !== undefined) this.reads.readSelected(unread);
  }

  /** Some consumer's selector takes the entry (whether or not it has room now). */
  private anyAccepts(entry: QueueEntry): boolean {
    for (const consumer of this.consumers) if (!consumer.isClosed && consumer.accepts(entry)) return true;
    return false;
  }

  private consumerFor(entry: QueueEntry): QueueConsumer | null {
    const group = entry.message.groupId;
    if (group === undefined) return this.readyConsumer(entry);
    let owner = this.groups.get(group);
    if (owner !== undefined && owner.isClosed) owner = undefined;
    if (owner === undefined) {
      owner = this.readyConsumer(entry) ?? undefined;
      if (owner === undefined) return null;
      this.groups.set(group, owner);
    } else if (!owner.ready() || !owner.accepts(entry)) return null;
    // sequence -1 closes the group: its next message may go to any consumer
    if (entry.message.groupSeq === -1) this.groups.delete(group);
    return owner;
  }

  private anyConsumerReady(): boolean {
    for (const consumer of this.consumers) if (consumer.ready()) return true;
    return false;
  }

  /**
   * Round robin among the consumers of the highest priority that have room (and, for `entry`, whose
   * selector takes it); lower priorities get messages only while every higher one is full. An
   * exclusive consumer takes everything.
   */
  private readyConsumer(entry: QueueEntry | undefined): QueueConsumer | null {
    const consumers = this.consumers;
    const n = consumers.length;
    if (n === 0) return null;
    const first = consumers[0]!;
    if (first.exclusive || this.singleActive) return first.ready() && (entry === undefined || first.accepts(entry)) ? first : null;
    let start = 0;
    while (start < n) {
      const priority = consumers[start]!.priority;
      let end = start + 1;
      while (end < n && consumers[end]!.priority === priority) end++;
      const size = end - start;
      for (let i = 0; i < size; i++) {
        const offset = (this.nextConsumer + i) % size;
        const consumer = consumers[start + offset]!;
        if (consumer.ready() && (entry === undefined || consumer.accepts(entry))) {
          this.nextConsumer = offset + 1;
          return consumer;
        }
      }
      start = end;
    }
    return null;
  }

  private addPending(entry: QueueEntry): void {
    if (entry.expiresAt !== 0) {
      this.expiring++;
      if (this.limits.hasTtl) this.expiryTimer.armFor(entry.expiresAt);
    }
    this.pending.push(entry);
  }

  /** Expired entries leave instead of being delivered; returns true when `entry` was one. */
  private removeIfStale(entry: QueueEntry, now: number): boolean {
    if (!entry.expiredAt(now)) return false;
    this.expiring--;
    this.expire(entry);
    return true;
  }

  private handOver(consumer: QueueConsumer, entry: QueueEntry): void {
    if (entry.expiresAt !== 0) this.expiring--;
    consumer.take(entry);
    this.slow?.removed(this.pending.length);
  }

  /** evict-oldest: the head goes, persistent or not (only non-durable subscriptions evict: nothing of theirs is stored); false when there is none. */
  private evictOldest(): boolean {
    const head = this.pending.peek();
    if (head === undefined) return false;
    this.pending.shift();
    if (head.message.expiration !== 0) this.expiring--;
    this.discarded++;
    this.acknowledge(head);
    this.env.slowConsumer?.(this, 'evict');
    return true;
  }

  /**
   * The entry's time to live has run out, found by this queue or by the client it was in flight to:
   * it leaves under the expiry policy.
   */
  expire(entry: QueueEntry): void {
    // counted once, as expired, whether it then moves to the dead-letter queue or is dropped
    this.expired++;
    if (this.env.outcomes.watched) this.env.outcomes.expired(entry.message, this.destinationOf(entry.message));
    // a declared queue dead-letters to its exchange, or drops, as RabbitMQ (see Declarations.deadLetter)
    if (this.policy.expiredToDeadLetter || this.declared !== undefined) this.reads.moveOut(entry, () => this.env.deadLetter(this, entry, 'expired'));
    else this.acknowledge(entry);
  }

  /** Where `message` waits: this queue, or for a subscription the topic it was sent to. */
  private destinationOf(message: Message): Destination {
    const sent = message.destination;
    return this.kind === 'subscription' || (sent.kind === 'queue' && sent.name === this.name) ? sent : { kind: 'queue', name: this.name };
  }

  /**
   * Over its memoryLimit with drop-oldest: the oldest waiting messages are discarded, not
   * dead-lettered (a dead-letter queue would keep what the limit is there to let go); the newest stays.
   */
  private discardOldest(txId: number | undefined): void {
    const memory = this.env.messageMemory;
    const over = (): boolean => (this.policy.memoryLimit > 0 && this.pending.held > this.policy.memoryLimit) || (memory !== undefined && memory.limit > 0 && memory.bytes > memory.limit);
    while (this.pending.length > 1 && over()) {
      const head = this.pending.shift()!;
      if (head.expiresAt !== 0) this.expiring--;
      this.acknowledge(head, txId);
      this.discarded++;
    }
  }

  /** What comes back counts against the queue's length as a publish does, as RabbitMQ's drop-head counts it. */
  private trimAfterGiveBack(): void {
    if (this.limits.dropsHead && this.overLimits()) this.dropHead();
  }

  private overLimits(): boolean {
    return this.limits.over(this.pending.length, this.pending.bytes);
  }

  /** Over its maximum length: the oldest waiting messages go, dead-lettered as `maxlen` (RabbitMQ's drop-head). */
  private dropHead(): void {
    while (this.pending.length > 0 && this.overLimits()) {
      const head = this.pending.shift()!;
      if (head.expiresAt !== 0) this.expiring--;
      this.deadLetter(head, 'maxlen');
    }
  }

  private replaceLastValue(entry: QueueEntry, txId: number | undefined): void {
    const key = entry.message.properties.get(this.policy.lastValueKey!);
    if (key === undefined || key === null) return;
    const previous = this.lastValues.get(key);
    this.lastValues.set(key, entry);
    if (previous === undefined || previous.consumer !== null) return;
    const removed = this.pending.removeWhere((e) => e === previous);
    for (const old of removed) {
      if (old.expiresAt !== 0) this.expiring--;
      this.acknowledge(old, txId);
    }
  }
}
