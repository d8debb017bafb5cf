import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import { hasWildcard, validateDestinationName } from './address.js';
import type { Operation, Principal } from './access.js';
import type { BodyCache } from './body-cache.js';
import type { CoreConnection, CoreSession } from './connection.js';
import type { Consumer } from './consumer.js';
import type { Destinations } from './destinations.js';
import { bodyLengthOf, copyMessage, isExpired, type Destination, type Message, type PropertyValue } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { Persistence } from './persistence.js';
import type { WaitingPlace } from './pending.js';
export type { WaitingPlace } from './pending.js';
import { withoutDeliveries, type QueueEntry } from './queue-entry.js';
import type { MessageScheduler, ScheduledJob } from './scheduler.js';
import { SchedulerCommand, schedulerRequest } from './scheduler-commands.js';
export { isSchedulerCommand } from './scheduler-commands.js';
import { compileSelector } from './selector/index.js';
import type { TopicSubscriptions } from './subscriptions.js';
import { WildcardQueueConsumer } from './wildcard-queue-consumer.js';
import { waiting, type WaitingMessage } from './waiting-message.js';
export type { WaitingMessage } from './waiting-message.js';
import type { RetiredCounts } from './retired-counts.js';
import { messageTotals, type MessageTotals } from './message-totals.js';
export type { MessageTotals } from './message-totals.js';
import type { DroppedCount } from './queue-types.js';

/** What the operator's controls reach of the broker; the broker builds it (see `Broker.admin`). */
export interface AdminHost {
  readonly store: Store;
  readonly destinations: Destinations;
  readonly subscriptions: TopicSubscriptions;
  readonly connections: ReadonlyMap<string, CoreConnection>;
  readonly bodies: BodyCache;
  readonly clock: () => number;
  readonly retired: RetiredCounts;
  persistence(): Persistence;
  scheduler(): MessageScheduler;
  newMessageId(): string;
  /** Routes into queues without dispatching them; with `storeTx`, inside that store transaction. */
  route(message: Message, storeTx: number | undefined, touched: Set<MessageQueue>): boolean;
  /** True for a queue the broker's policies dead-letter into. */
  isDeadLetterQueue(name: string): boolean;
  /** Takes a queue away as a client's delete does: its bindings, expiry, owner, messages and record; its consumers hear `reason`. */
  removeQueue(queue: MessageQueue, reason: string): DroppedCount;
  /** Throws FERRY_NOT_AUTHORIZED unless `principal` has the right for `operation` on `destination` (always, with security off). */
  authorize(principal: Principal, operation: Operation, destination: Destination): void;
}

export interface DestinationKey {
  readonly kind: 'queue' | 'topic';
  readonly name: string;
}

/** One queue or topic with its figures. */
export interface DestinationFigures {
  readonly kind: 'queue' | 'topic';
  readonly name: string;
  /** Messages waiting (a topic: in its subscriptions), those still to be loaded from the store included once they are counted. */
  readonly depth: number;
  /** Still putting messages back from the store after a start (nothing is delivered from it meanwhile). */
  readonly loading: boolean;
  /** Of `depth`, the messages still to be loaded from the store; null while the store has not counted them yet. */
  readonly toLoad: number | null;
  readonly inFlight: number;
  readonly enqueued: number;
  readonly dequeued: number;
  readonly expired: number;
  readonly deadLettered: number;
  readonly consumers: number;
  /** Connections that have sent to it. */
  readonly producers: number;
  readonly paused: boolean;
  readonly temporary: boolean;
  /** A queue the broker's policies dead-letter into (false for a topic). */
  readonly deadLetter: boolean;
}

/** Where a page of a browse starts: after the place a previous page ended at (`BrowsedMessages.next`). */
export interface BrowsePage {
  readonly after?: WaitingPlace | undefined;
  /** Bodies a page holds at most, counted in bytes; a page always holds its first message, however large. */
  readonly maxBodyBytes?: number | undefined;
}

export interface BrowsedMessages {
  readonly items: WaitingMessage[];
  /** True when more messages follow the page. */
  readonly more: boolean;
  /** The place of the page's last message, to go on after; undefined for an empty page. */
  readonly next: WaitingPlace | undefined;
}

/** Which waiting messages an operation takes: by id, by selector, or (neither) all. */
export interface MessagePick {
  readonly ids?: readonly string[] | undefined;
  readonly selector?: string | undefined;
}

export interface ConnectionFigures {
  readonly id: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string | undefined;
  readonly clientId: string | undefined;
  readonly connectedAt: number;
  readonly sessions: number;
  readonly consumers: number;
  readonly producers: number;
  readonly inFlight: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Messages per second over the last 10 s. */
  readonly rateIn: number;
  readonly rateOut: number;
}

/** One session of a client connection: the unit that holds consumers (and, in JMS, acknowledgements). */
export interface SessionFigures {
  readonly id: string;
  readonly connectionId: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string | undefined;
  readonly clientId: string | undefined;
  readonly openedAt: number;
  readonly consumers: number;
  readonly inFlight: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Messages per second over the last 10 s. */
  readonly rateIn: number;
  readonly rateOut: number;
}

/** Who a consumer or producer is: its connection's facts. */
export interface ClientFacts {
  readonly connectionId: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string | undefined;
  readonly clientId: string | undefined;
}

export interface ConsumerFigures extends ClientFacts {
  readonly destination: Destination;
  readonly selector: string | undefined;
  readonly prefetch: number;
  readonly inFlight: number;
  readonly delivered: number;
  readonly acknowledged: number;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly durableName: string | undefined;
  /** Deliveries per second over the last 10 s. */
  readonly rate: number;
}

/** A connection's sends to one destination: the producer of protocols without producer objects. */
export interface ProducerFigures extends ClientFacts {
  readonly destination: Destination;
  readonly sent: number;
  /** Sends per second over the last 10 s. */
  readonly rate: number;
}

export interface DurableFigures {
  readonly owner: string;
  readonly name: string;
  readonly topic: string;
  readonly selector: string | undefined;
  readonly noLocal: boolean;
  readonly depth: number;
  readonly active: boolean;
}

/** Where a message goes in `transfer`: to one destination (move, copy) or back where it failed (retry). */
export type TransferMode = 'move' | 'copy' | 'retry';

/** The property a dead letter carries its failure in; a retried message leaves it behind. */
const FAILURE_CAUSE = 'dlqDeliveryFailureCause';

/**
 * The operator's controls over a running broker: figures for every destination, connection,
 * consumer and producer, and the changes operators make (create, delete, pause, purge, move, copy,
 * retry, cancel). Everything that moves a message between queues is one store transaction, so a
 * crash half way leaves each message where it was or where it went, never both or neither.
 */
export class BrokerAdmin {
  constructor(private readonly host: AdminHost) {}

  // destinations

  destinationList(): DestinationFigures[] {
    return this.figuresOf(this.destinationKeys());
  }

  /** Every destination's kind and name, without figures: what a filter or a sort by name needs. */
  destinationKeys(): DestinationKey[] {
    const keys: DestinationKey[] = [];
    for (const name of this.host.destinations.queues.keys()) keys.push({ kind: 'queue', name });
    for (const name of this.host.destinations.topics) keys.push({ kind: 'topic', name });
    return keys;
  }

  /** True for a queue the broker's policies dead-letter into, whether or not it exists. */
  isDeadLetterQueue(name: string): boolean {
    return this.host.isDeadLetterQueue(name);
  }

  /** The figures of these destinations (those gone meanwhile left out). */
  figuresOf(keys: readonly DestinationKey[]): DestinationFigures[] {
    const producers = this.producerCounts();
    const list: DestinationFigures[] = [];
    for (const { kind, name } of keys) {
      if (kind === 'queue') {
        const queue = this.host.destinations.queues.get(name);
        if (queue !== undefined) list.push(this.queueFigures(queue, producers));
      } else if (this.host.destinations.topics.has(name)) list.push(this.topicFigures(name, producers));
    }
    return list;
  }

  destination(kind: 'queue' | 'topic', name: string): DestinationFigures {
    if (kind === 'queue') return this.queueFigures(this.queue(name), this.producerCounts());
    if (!this.host.destinations.topics.has(name)) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no topic "${name}"`);
    return this.topicFigures(name, this.producerCounts());
  }

  /** Creates a queue or topic; false when it exists already. */
  createDestination(kind: 'queue' | 'topic', name: string): boolean {
    validateDestinationName(name, false);
    if (hasWildcard(name)) throw new FerryError('FERRY_DESTINATION_INVALID', `"${name}" holds a wildcard`);
    const destinations = this.host.destinations;
    if (kind === 'queue') {
      if (destinations.queues.has(name)) return false;
      destinations.queueNamed(name, 'operator');
      return true;
    }
    if (destinations.topics.has(name)) return false;
    destinations.checkRoom('topic', name);
    return destinations.addTopic(name);
  }

  /**
   * Deletes a queue with its messages, its exchange bindings and its record, as a client's delete
   * does (its consumers are told, as their protocols can), or forgets a topic (its subscriptions
   * stay: they are bound to patterns, not to the name). Returns how many messages a queue held, in
   * flight and waiting (counted as `purge` counts them).
   */
  deleteDestination(kind: 'queue' | 'topic', name: string): DroppedCount {
    if (kind === 'topic') {
      if (!this.host.destinations.deleteTopic(name)) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no topic "${name}"`);
      return 0;
    }
    const inFlight = this.queue(name).inFlight;
    const waiting = this.host.removeQueue(this.queue(name), `queue "${name}" was deleted by an operator`);
    return typeof waiting === 'number' ? inFlight + waiting : waiting.then((n) => inFlight + n);
  }

  /** Forgets a topic unless a subscription on it has a consumer (FERRY_PRECONDITION_FAILED); none by that name is no error. */
  deleteTopicIfUnused(name: string): void {
    let consumers = 0;
    this.host.subscriptions.index.match(name, (subscription) => (consumers += subscription.queue.consumerCount));
    if (consumers > 0) throw new FerryError('FERRY_PRECONDITION_FAILED', `topic "${name}" has active subscribers`);
    this.host.destinations.deleteTopic(name);
  }

  /** Resolves to how many messages the purge dropped, once known: a queue still loading counts those it had still to load, which are deleted. */
  purge(name: string): Promise<number> {
    return Promise.resolve(this.queue(name).purge());
  }

  /** Stops (true) or restarts dispatch from a queue; sends are taken either way. */
  setPaused(name: string, paused: boolean): DestinationFigures {
    const queue = this.queue(name);
    queue.paused = paused;
    if (!paused) queue.dispatch();
    return this.queueFigures(queue, this.producerCounts());
  }

  // messages

  /**
   * Waiting messages of a queue that `selector` takes, from the `offset`th on, counted after
   * `page.after` when given; nothing is consumed. `next` is the place of the last one: a walk that
   * goes on after it skips none of those still waiting, however many were consumed meanwhile,
   * where an offset counted from the head would pass over as many as left the queue.
   */
  browse(name: string, selector: string | undefined, offset: number, limit: number, page: BrowsePage = {}): BrowsedMessages {
    const queue = this.queue(name);
    const matches = this.matcher({ selector });
    const now = this.host.clock();
    const items: WaitingMessage[] = [];
    let skipped = 0;
    let more = false;
    let next: WaitingPlace | undefined;
    const maxBodyBytes = page.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    let bodyBytes = 0;
    for (const entry of queue.waitingEntries(page.after)) {
      if (isExpired(entry.message, now) || !matches(entry)) continue;
      if (skipped < offset) {
        skipped++;
        continue;
      }
      const length = bodyLengthOf(entry.message);
      if (items.length >= limit || (items.length > 0 && bodyBytes + length > maxBodyBytes)) {
        more = true;
        break;
      }
      bodyBytes += length;
      items.push(waiting(entry));
      next = { priority: entry.message.priority, seq: entry.seq };
    }
    return { items, more, next };
  }

  /** One waiting or in-flight message of a queue by id. */
  message(name: string, id: string): WaitingMessage {
    for (const entry of this.queue(name).entries()) if (entry.message.id === id) return waiting(entry);
    throw new FerryError('FERRY_NOT_FOUND', `no message "${id}" in queue "${name}"`);
  }

  /** Deletes the waiting messages `pick` chooses; returns how many. */
  deleteMessages(name: string, pick: MessagePick): number {
    const queue = this.queue(name);
    const taken = queue.takeWaiting(this.matcher(pick));
    for (const entry of taken) queue.acknowledge(entry);
    return taken.length;
  }

  /**
   * Moves or copies the waiting messages `pick` chooses to `to`, or (retry) sends dead letters back
   * to their original destination; returns how many. One store transaction: the copies' records and
   * the originals' deletions commit together. `mayReach` checks each destination the messages would
   * go to (the operator's right to send there) before anything moves; it throws to refuse them all.
   */
  transfer(name: string, pick: MessagePick, mode: TransferMode, to?: Destination, mayReach?: (target: Destination) => void): number {
    const queue = this.queue(name);
    const candidates = this.transferCandidates(queue, name, pick, mode, to, mayReach);
    // a body that a store reads asynchronously only must be read back first (`transferAll`)
    const bodies = this.host.bodies;
    return this.transferEntries(queue, candidates.filter((entry) => !bodies.mustReadFirst(entry.message)), mode, to);
  }

  /**
   * `transfer`, reading back first the bodies that wait in a store that reads asynchronously only
   * (PostgreSQL). Those are read, and moved, `TRANSFER_STEP` messages at a time, each step in a store
   * transaction of its own: a transfer of a backlog does not bring it all into memory at once.
   */
  async transferAll(name: string, pick: MessagePick, mode: TransferMode, to?: Destination, mayReach?: (target: Destination) => void): Promise<number> {
    const queue = this.queue(name);
    const candidates = this.transferCandidates(queue, name, pick, mode, to, mayReach);
    const bodies = this.host.bodies;
    if (!candidates.some((entry) => bodies.mustReadFirst(entry.message))) return this.transferEntries(queue, candidates, mode, to);
    let moved = 0;
    for (let i = 0; i < candidates.length; i += TRANSFER_STEP) {
      const step = candidates.slice(i, i + TRANSFER_STEP);
      const loaded = await bodies.withBodies(step.map((entry) => entry.message));
      const withBody = new Map<QueueEntry, Message>();
      for (let k = 0; k < step.length; k++) withBody.set(step[k]!, loaded[k]!);
      // consumed meanwhile: not moved
      moved += this.transferEntries(queue, step.filter((entry) => !entry.gone), mode, to, withBody);
    }
    return moved;
  }

  private transferCandidates(queue: MessageQueue, name: string, pick: MessagePick, mode: TransferMode, to: Destination | undefined, mayReach: ((target: Destination) => void) | undefined): QueueEntry[] {
    const matches = this.matcher(pick);
    const wanted = mode === 'retry' ? (entry: QueueEntry) => entry.message.originalDestination !== undefined && matches(entry) : matches;
    if (mode !== 'retry') {
      if (to === undefined) throw new FerryError('FERRY_DESTINATION_INVALID', `a ${mode} needs a destination to go to`);
      if (mode === 'move' && to.kind === 'queue' && to.name === name) throw new FerryError('FERRY_DESTINATION_INVALID', `messages cannot move from queue "${name}" to itself`);
    }
    const candidates = [...queue.waitingEntries()].filter(wanted);
    // every destination is checked (and made, where destinations come with first use) before anything moves
    const targets = new Map<string, Destination>();
    for (const entry of candidates) {
      const target = mode === 'retry' ? entry.message.originalDestination! : to!;
      targets.set(`${target.kind}:${target.name}`, target);
    }
    for (const target of targets.values()) {
      mayReach?.(target);
      this.host.destinations.checkSendable(target);
    }
    return candidates;
  }

  /** Moves or copies `candidates` in one store transaction; `withBody` holds copies of messages whose bodies were read back. */
  private transferEntries(queue: MessageQueue, candidates: QueueEntry[], mode: TransferMode, to: Destination | undefined, withBody?: Map<QueueEntry, Message>): number {
    const chosen = new Set(candidates);
    const entries = mode === 'copy' ? candidates : queue.takeWaiting((entry) => chosen.has(entry));
    if (entries.length === 0) return 0;
    const txId = entries.some((e) => e.message.persistent) ? this.host.persistence().allocateId() : undefined;
    const touched = new Set<MessageQueue>();
    for (const entry of entries) {
      this.host.route(this.transferred(withBody?.get(entry) ?? entry.message, mode, to), txId, touched);
      if (mode !== 'copy') queue.acknowledge(entry, txId);
    }
    if (txId !== undefined) this.host.store.commit(txId);
    for (const q of touched) if (!q.paused) q.dispatch();
    return entries.length;
  }

  /** `items` with their bodies in memory, for an answer that shows them (see `BodyCache.withBodies`). */
  async withBodies(items: readonly WaitingMessage[]): Promise<WaitingMessage[]> {
    const messages = await this.host.bodies.withBodies(items.map((item) => item.message));
    return items.map((item, i) => (messages[i] === item.message ? item : { ...item, message: messages[i]! }));
  }

  /** An id for a message an operator sends, so that the answer can name it. */
  newMessageId(): string {
    return this.host.newMessageId();
  }

  // clients

  connectionList(): ConnectionFigures[] {
    const list: ConnectionFigures[] = [];
    for (const c of this.host.connections.values()) if (!c.principal.internal) list.push(this.connectionFigures(c));
    return list;
  }

  connection(id: string): { figures: ConnectionFigures; sessions: SessionFigures[]; consumers: ConsumerFigures[]; producers: ProducerFigures[] } {
    const c = this.clientConnection(id);
    const durable = this.durableNames();
    return {
      figures: this.connectionFigures(c),
      sessions: [...c.sessionList()].map(sessionFigures),
      consumers: consumersOf(c).map((consumer) => consumerFigures(consumer, durable, c)),
      producers: producersOf(c),
    };
  }

  sessionList(): SessionFigures[] {
    const list: SessionFigures[] = [];
    for (const c of this.host.connections.values()) {
      if (c.principal.internal) continue;
      for (const session of c.sessionList()) list.push(sessionFigures(session));
    }
    return list;
  }

  /** Closes a client connection as the broker's own choice (its adapter hears why through `onRevoked`). */
  closeConnection(id: string): void {
    const c = this.clientConnection(id);
    c.onRevoked?.(new FerryError('FERRY_CONNECTION_CLOSED', 'an operator closed the connection'));
    c.close();
  }

  consumerList(): ConsumerFigures[] {
    const durable = this.durableNames();
    const list: ConsumerFigures[] = [];
    for (const c of this.host.connections.values()) if (!c.principal.internal) for (const consumer of consumersOf(c)) list.push(consumerFigures(consumer, durable, c));
    return list;
  }

  producerList(): ProducerFigures[] {
    const list: ProducerFigures[] = [];
    for (const c of this.host.connections.values()) if (!c.principal.internal) list.push(...producersOf(c));
    return list;
  }

  durableList(): DurableFigures[] {
    const list: DurableFigures[] = [];
    for (const s of this.host.subscriptions.durableSubscriptions()) list.push({ owner: s.durable!.owner, name: s.durable!.name, topic: s.pattern, selector: s.selectorText, noLocal: s.noLocal, depth: s.queue.pendingCount, active: s.consumer !== null });
    return list;
  }

  deleteDurable(owner: string, name: string): void {
    if (this.host.subscriptions.durablePattern(owner, name) === undefined) throw new FerryError('FERRY_NOT_FOUND', `no durable subscription "${name}" of "${owner}"`);
    this.host.subscriptions.deleteDurable(owner, name);
  }

  // scheduled messages

  scheduledList(): ScheduledJob[] {
    return this.host.scheduler().list();
  }

  /** How many scheduled jobs wait, without listing and sorting them. */
  scheduledCount(): number {
    return this.host.scheduler().size;
  }

  /** The scheduled job `id`; undefined when there is none. */
  scheduledJob(id: string): ScheduledJob | undefined {
    return this.host.scheduler().list().find((job) => job.id === id);
  }

  /** Cancels scheduled jobs: one by id, or those due between `from` and `to` (ms, inclusive). */
  cancelScheduled(pick: { id?: string; from?: number; to?: number }): number {
    return this.host.scheduler().cancel((job) => (pick.id === undefined || job.id === pick.id) && job.due >= (pick.from ?? 0) && job.due <= (pick.to ?? Number.POSITIVE_INFINITY));
  }

  /**
   * Runs an ActiveMQ scheduler command sent as a message (see scheduler-commands.ts); the replies
   * of a browse are routed at once, non-persistent. Returns false: nothing waits on the store.
   */
  schedulerCommand(message: Message): boolean {
    const request = schedulerRequest(message);
    // the sender acts with its own rights, as an operator through the management API does: a job
    // is cancelled with admin on its destination, seen with browse, and replies go where it may send
    const principal = message.originConnectionId === undefined ? undefined : this.host.connections.get(message.originConnectionId)?.principal;
    const may = (operation: Operation, destination: Destination): boolean => {
      if (principal === undefined) return false;
      try {
        this.host.authorize(principal, operation, destination);
        return true;
      } catch (err) {
        if ((err as FerryError).code === 'FERRY_NOT_AUTHORIZED') return false;
        throw err;
      }
    };
    const inRange = (job: ScheduledJob): boolean => job.due >= request.from && job.due <= request.to;
    if (request.action === 'REMOVE' || request.action === 'REMOVEALL') {
      const id = request.action === 'REMOVE' ? request.jobId : undefined;
      if (request.action === 'REMOVE' && id === undefined) return false;
      this.host.scheduler().cancel((job) => (id === undefined || job.id === id) && inRange(job) && may('admin', job.message.destination));
    } else if (request.action === 'BROWSE' && message.replyTo !== undefined && may('send', message.replyTo)) {
      const touched = new Set<MessageQueue>();
      for (const job of this.scheduledList()) {
        if (!inRange(job) || !may('browse', job.message.destination)) continue;
        const properties = new Map<string, PropertyValue>(job.message.properties);
        properties.set(SchedulerCommand.jobId, job.id);
        const reply = copyMessage(job.message, { id: this.host.newMessageId(), destination: message.replyTo, persistent: false, properties, originalDestination: undefined });
        this.host.route(reply, undefined, touched);
      }
      for (const q of touched) q.dispatch();
    }
    return false;
  }

  // the broker as a whole

  connectionsByProtocol(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.host.connections.values()) if (!c.principal.internal) counts[c.protocol] = (counts[c.protocol] ?? 0) + 1;
    return counts;
  }

  destinationCounts(): { queues: number; topics: number } {
    return { queues: this.host.destinations.queues.size, topics: this.host.destinations.topics.size };
  }

  /** Messages in and out since the start, and waiting now (see `messageTotals`). */
  messageTotals(): MessageTotals {
    return messageTotals(this.host.destinations, this.host.subscriptions, this.host.retired);
  }

  bodyCache(): { bytes: number; limit: number | null } {
    const stats = this.host.bodies.stats();
    return { bytes: stats.residentBytes, limit: stats.limitBytes };
  }

  private queue(name: string): MessageQueue {
    const queue = this.host.destinations.queues.get(name);
    if (queue === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no queue "${name}"`);
    return queue;
  }

  private clientConnection(id: string): CoreConnection {
    const c = this.host.connections.get(id);
    if (c === undefined || c.principal.internal) throw new FerryError('FERRY_NOT_FOUND', `no connection "${id}"`);
    return c;
  }

  private matcher(pick: MessagePick): (entry: QueueEntry) => boolean {
    const ids = pick.ids === undefined ? undefined : new Set(pick.ids);
    // An operator's selector compares as a STOMP subscription's does (a header sent as "5" meets
    // `attempts > 3`): STOMP and MQTT carry every property as a string, and one selector must pick
    // the same messages whichever way the queue is looked at.
    const selector = pick.selector === undefined || pick.selector.trim() === '' ? undefined : compileSelector(pick.selector, { convertStringExpressions: true });
    return (entry) => (ids === undefined || ids.has(entry.message.id)) && (selector === undefined || selector.matches(entry.message, { deliveryCount: entry.deliveryCount }));
  }

  /**
   * The message as the operator sends it on, to its new destination alone: the exchange and routing
   * key of a 0-9-1 publish go, else routing would follow the exchange's bindings again (the message's
   * own queue among them), and a 0-9-1 consumer sees it as sent to where it went, as after a shovel.
   */
  private transferred(message: Message, mode: TransferMode, to: Destination | undefined): Message {
    const unpublished = { exchange: undefined, routingKey: undefined };
    if (mode === 'move') return copyMessage(message, { ...unpublished, destination: to! });
    // a copy is a message of its own: operations by id must tell the two apart
    if (mode === 'copy') return copyMessage(message, { ...unpublished, destination: to!, id: this.host.newMessageId() });
    const properties = new Map<string, PropertyValue>(message.properties);
    // back for a fresh start: its failure cause goes, and its deliveries before the dead letter no longer count
    properties.delete(FAILURE_CAUSE);
    return copyMessage(message, { ...unpublished, destination: message.originalDestination!, originalDestination: undefined, properties, brokerProperties: withoutDeliveries(message) });
  }

  /** Destination key -> connections that have sent to it. */
  private producerCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const c of this.host.connections.values()) {
      if (c.principal.internal) continue;
      for (const name of c.traffic.sentToQueue.keys()) counts.set(`queue:${name}`, (counts.get(`queue:${name}`) ?? 0) + 1);
      for (const name of c.traffic.sentToTopic.keys()) counts.set(`topic:${name}`, (counts.get(`topic:${name}`) ?? 0) + 1);
    }
    return counts;
  }

  private queueFigures(queue: MessageQueue, producers: Map<string, number>): DestinationFigures {
    const s = queue.stats();
    const loading = queue.loadingState;
    return {
      kind: 'queue',
      name: queue.name,
      depth: s.pending,
      loading: loading !== undefined,
      toLoad: loading === undefined ? 0 : (loading.toLoad ?? null),
      inFlight: s.inFlight,
      enqueued: s.enqueued,
      dequeued: s.dequeued,
      expired: s.expired,
      deadLettered: s.deadLettered,
      consumers: s.consumers,
      producers: producers.size === 0 ? 0 : (producers.get(`queue:${queue.name}`) ?? 0),
      paused: queue.paused,
      temporary: queue.recordId === 0,
      deadLetter: this.host.isDeadLetterQueue(queue.name),
    };
  }

  private topicFigures(name: string, producers: Map<string, number>): DestinationFigures {
    let depth = 0;
    let inFlight = 0;
    let dequeued = 0;
    let expired = 0;
    let deadLettered = 0;
    let consumers = 0;
    let loading = false;
    let toLoad: number | null = 0;
    this.host.subscriptions.index.match(name, (subscription) => {
      const s = subscription.queue.stats();
      depth += s.pending;
      const load = subscription.queue.loadingState;
      loading ||= load !== undefined;
      if (load !== undefined) toLoad = toLoad === null || load.toLoad === undefined ? null : toLoad + load.toLoad;
      inFlight += s.inFlight;
      dequeued += s.dequeued;
      expired += s.expired;
      deadLettered += s.deadLettered;
      consumers += s.consumers;
    });
    return {
      kind: 'topic',
      name,
      depth,
      loading,
      toLoad,
      inFlight,
      enqueued: this.host.destinations.topicSentCount(name),
      dequeued,
      expired,
      deadLettered,
      consumers,
      producers: producers.get(`topic:${name}`) ?? 0,
      paused: false,
      temporary: this.host.destinations.isTemporary({ kind: 'topic', name }),
      deadLetter: false,
    };
  }

  private connectionFigures(c: CoreConnection): ConnectionFigures {
    const sessions = c.sessionList();
    let consumers = 0;
    let inFlight = 0;
    for (const session of sessions) {
      const list = session.consumerList();
      consumers += list.length;
      for (const consumer of list) inFlight += consumer.unsettledCount;
    }
    const t = c.traffic;
    return {
      id: c.id,
      protocol: c.protocol,
      remoteAddress: c.remoteAddress,
      user: c.principal.username,
      clientId: c.clientId,
      connectedAt: c.connectedAt,
      sessions: sessions.size,
      consumers,
      producers: t.sentToQueue.size + t.sentToTopic.size,
      inFlight,
      messagesIn: t.in.total,
      messagesOut: t.out.total,
      rateIn: t.in.rate(),
      rateOut: t.out.rate(),
    };
  }

  private durableNames(): Map<MessageQueue, string> {
    const names = new Map<MessageQueue, string>();
    for (const s of this.host.subscriptions.durableSubscriptions()) names.set(s.queue, s.durable!.name);
    return names;
  }
}

/** Messages a transfer reads back and moves at a time, from a store that reads asynchronously only. */
const TRANSFER_STEP = 1000;

function sessionFigures(session: CoreSession): SessionFigures {
  const c = session.connection;
  const consumers = session.consumerList();
  let inFlight = 0;
  for (const consumer of consumers) inFlight += consumer.unsettledCount;
  const t = session.traffic;
  return {
    id: session.id,
    connectionId: c.id,
    protocol: c.protocol,
    remoteAddress: c.remoteAddress,
    user: c.principal.username,
    clientId: c.clientId,
    openedAt: session.openedAt,
    consumers: consumers.length,
    inFlight,
    messagesIn: t.in.total,
    messagesOut: t.out.total,
    rateIn: t.in.rate(),
    rateOut: t.out.rate(),
  };
}

function consumersOf(c: CoreConnection): (Consumer | WildcardQueueConsumer)[] {
  const list: (Consumer | WildcardQueueConsumer)[] = [];
  for (const session of c.sessionList()) list.push(...session.consumerList());
  return list;
}

function clientFacts(c: CoreConnection): ClientFacts {
  return { connectionId: c.id, protocol: c.protocol, remoteAddress: c.remoteAddress, user: c.principal.username, clientId: c.clientId };
}

function consumerFigures(consumer: Consumer | WildcardQueueConsumer, durable: Map<MessageQueue, string>, c: CoreConnection): ConsumerFigures {
  // listed once, under its pattern, as ActiveMQ lists it
  if (consumer instanceof WildcardQueueConsumer) {
    const { destination, selector, prefetch, unsettledCount, delivered, acknowledged, priority, deliveryRate } = consumer;
    return { ...clientFacts(c), destination, selector: selector?.text, prefetch, inFlight: unsettledCount, delivered, acknowledged, exclusive: false, priority, durableName: undefined, rate: deliveryRate };
  }
  const queue = consumer.queue;
  return {
    ...clientFacts(c),
    destination: { kind: queue.kind === 'queue' ? 'queue' : 'topic', name: queue.name },
    selector: consumer.selector?.text || undefined,
    prefetch: consumer.prefetch,
    inFlight: consumer.unsettledCount,
    delivered: consumer.delivered,
    acknowledged: consumer.acknowledged,
    exclusive: consumer.exclusive,
    priority: consumer.priority,
    durableName: durable.get(queue),
    rate: consumer.settings.deliveryRate?.rate() ?? 0,
  };
}

function producersOf(c: CoreConnection): ProducerFigures[] {
  const list: ProducerFigures[] = [];
  const facts = clientFacts(c);
  for (const [name, { sent, rate }] of c.traffic.sentToQueue) list.push({ ...facts, destination: { kind: 'queue', name }, sent, rate: rate.rate() });
  for (const [name, { sent, rate }] of c.traffic.sentToTopic) list.push({ ...facts, destination: { kind: 'topic', name }, sent, rate: rate.rate() });
  return list;
}
