import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { DurableSubscriptionInfo, DurableSubscriptionStats, SubscribeOptions } from './access.js';
import { SubscriptionIndex, hasWildcard } from './address.js';
import type { Consumer } from './consumer.js';
import type { DurableKept, DurableRemoved } from './consumer-events.js';
import type { Message } from './message.js';
import type { MessageQueue } from './message-queue.js';
import { overlapOf, type OverlapKey } from './overlap.js';
import { RecordType, encodeDurableSubscription, type DurableSubscriptionRecord, type SubscriptionMaker } from './records.js';
import { compileSelector, type Selector } from './selector/index.js';

/** Bytes of a protocol's note kept with a durable subscription. */
const MAX_ADAPTER_DATA = 1024;

/** One subscription on a topic pattern: its own queue, filled by routing. */
export interface TopicSubscription {
  readonly pattern: string;
  readonly queue: MessageQueue;
  noLocal: boolean;
  readonly selectorText: string | undefined;
  readonly selector: Selector | undefined;
  readonly selectorConvertsStrings: boolean;
  durable: { readonly owner: string; readonly name: string; readonly adapterData: string | undefined; readonly maker?: SubscriptionMaker | undefined } | undefined;
  consumer: Consumer | null;
  /** Connection whose own messages a no-local subscription skips. */
  localConnectionId: string | undefined;
  /** Its overlap group, the owner's key included. */
  overlap: OverlapKey | undefined;
  /**
   * A shared subscription's stored record, once a persistent session is a member: the queue's own
   * record, or one written after the queue started in memory, which makes it durable from the next start.
   */
  shareRecordId?: number | undefined;
}

/** A session's lasting membership of a shared subscription (a `member` record): it keeps the subscription while the session is away. */
interface Membership {
  readonly recordId: number;
  record: DurableSubscriptionRecord;
  /** Its shared subscription's key in `TopicSubscriptions.shared`. */
  readonly sharedKey: string;
  consumer: Consumer | null;
}

/** What the subscriptions need from the broker: queues, record ids, retained messages. */
export interface SubscriptionHost {
  readonly store: Store;
  newQueue(name: string, kind: 'queue' | 'subscription', recordId: number, policyKind: 'queue' | 'topic', policyName?: string): MessageQueue;
  allocateId(): number;
  topicSeen(name: string): void;
  retainedMatching(pattern: string): Message[];
  /**
   * A durable subscription was kept or, with `kept` undefined, removed: demand for a network of
   * brokers. `removed` when it was removed (an unsubscribe, an operator), not replaced.
   */
  durableChanged(key: string, kept: DurableKept | undefined, removed?: DurableRemoved): void;
}

export type ConsumerFactory = (queue: MessageQueue, selector: Selector | undefined) => Consumer;

/** True when subscribing with `options` under a durable subscription's name replaces it: another pattern, selector or no-local. */
function changesDurable(subscription: TopicSubscription, options: SubscribeOptions, selector: Selector | undefined): boolean {
  const selectorText = selector === undefined ? undefined : options.selector;
  return (
    subscription.pattern !== options.destination.name ||
    subscription.selectorText !== selectorText ||
    subscription.noLocal !== (options.noLocal ?? false) ||
    (selectorText !== undefined && subscription.selectorConvertsStrings !== (options.selectorConvertsStrings === true))
  );
}

/** A subscription kept in memory only (plain or shared) on `options`' pattern. */
function inMemory(
  queue: MessageQueue,
  options: SubscribeOptions,
  selector: Selector | undefined,
  connectionId: string,
  own: { readonly noLocal: boolean; readonly overlap: OverlapKey | undefined },
): TopicSubscription {
  return {
    pattern: options.destination.name,
    queue,
    noLocal: own.noLocal,
    selectorText: options.selector,
    selector,
    selectorConvertsStrings: options.selectorConvertsStrings === true,
    durable: undefined,
    consumer: null,
    localConnectionId: connectionId,
    overlap: own.overlap,
  };
}

function sameOverlap(a: OverlapKey | undefined, b: OverlapKey | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.key === b.key && a.rank === b.rank && a.tag === b.tag);
}

function ownedKey(owner: string, name: string): string {
  return `${owner}\u0000${name}`;
}

/** How a shared subscription's owner reads where durable subscriptions are listed. */
function shareOwner(shareName: string): string {
  return `$share/${shareName}`;
}

/**
 * Every subscription on topics: plain ones (gone with their consumer), durable ones (a stored,
 * named queue bound to a pattern and owned by a key: a client id, or an AMQP container id, with
 * the subscription's options in its record) and shared ones (one queue, competing consumers).
 * Routing finds them by pattern through one index.
 */
export class TopicSubscriptions {
  readonly index = new SubscriptionIndex<TopicSubscription>();
  private readonly durable = new Map<string, TopicSubscription>();
  /** Shared subscriptions by share name and pattern. */
  private readonly shared = new Map<string, TopicSubscription>();
  /** Persistent sessions' memberships of shared subscriptions, by owner and name. */
  private readonly memberships = new Map<string, Membership>();
  /** How many memberships each shared subscription has, by its key in `shared`. */
  private readonly membersOf = new Map<string, number>();
  /** Plain subscriptions by their queue, for a consumer that replaces another on one. */
  private readonly plain = new WeakMap<MessageQueue, TopicSubscription>();

  constructor(private readonly host: SubscriptionHost) {}

  /** A subscription that lives as long as its one consumer, or the consumers that replace it. */
  subscribe(connectionId: string, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: ConsumerFactory, replaces?: Consumer): Consumer {
    const pattern = options.destination.name;
    const own = { noLocal: options.noLocal ?? false, overlap: options.overlap === undefined ? undefined : overlapOf(connectionId, options.overlap) };
    const kept = replaces === undefined ? undefined : this.plain.get(replaces.queue);
    const carries =
      kept !== undefined &&
      kept.consumer === replaces &&
      kept.pattern === pattern &&
      kept.selectorText === options.selector &&
      (options.selector === undefined || kept.selectorConvertsStrings === (options.selectorConvertsStrings === true));
    if (!carries) replaces?.close();
    const subscription = carries ? kept! : inMemory(this.host.newQueue(pattern, 'subscription', 0, 'topic'), options, selector, connectionId, own);
    subscription.noLocal = own.noLocal;
    subscription.overlap = own.overlap;
    if (options.retainedMessages === 'all' || (options.retainedMessages === 'new' && !carries)) this.handRetained(subscription.queue, pattern);
    // the subscription filters when routing, so its consumer takes everything that reaches it
    const consumer = makeConsumer(subscription.queue, undefined);
    const handing = carries ? replaces : undefined;
    handing?.handOver(consumer);
    subscription.consumer = consumer;
    subscription.queue.addConsumer(consumer);
    if (!carries) {
      this.plain.set(subscription.queue, subscription);
      this.index.add(pattern, subscription);
    }
    consumer.onClose = () => {
      // a consumer that handed the subscription over leaves it to its successor
      if (subscription.consumer !== consumer) return;
      this.index.remove(subscription.pattern, subscription);
      subscription.queue.destroy();
    };
    handing?.close();
    return consumer;
  }

  /**
   * Resumes the owner's durable subscription of that name, or creates it, made by `maker`;
   * subscribing under the same name with another pattern, selector or no-local replaces it (JMS).
   */
  subscribeDurable(connectionId: string, owner: string, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: ConsumerFactory, maker: SubscriptionMaker, replaces?: Consumer): Consumer {
    const durable = options.durable!;
    const name = durable.name;
    if (durable.adapterData !== undefined && Buffer.byteLength(durable.adapterData) > MAX_ADAPTER_DATA) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `a durable subscription keeps at most ${MAX_ADAPTER_DATA} bytes of protocol data`);
    }
    const key = ownedKey(owner, name);
    let subscription = this.durable.get(key);
    const existed = subscription !== undefined;
    const noLocal = options.noLocal ?? false;
    const selectorText = selector === undefined ? undefined : options.selector;
    const convertsStrings = options.selectorConvertsStrings === true;
    const changed = subscription !== undefined && changesDurable(subscription, options, selector);
    const handing = replaces !== undefined && subscription?.consumer === replaces && !changed ? replaces : undefined;
    if (handing === undefined) replaces?.close();
    if (subscription !== undefined && subscription.consumer !== null && handing === undefined) {
      throw new FerryError('FERRY_CONSUMER_EXISTS', `durable subscription "${name}" of "${owner}" already has an active subscriber`);
    }
    if (subscription !== undefined && changed) {
      this.removeDurable(key, subscription);
      subscription = undefined;
    }
    const record: DurableSubscriptionRecord = {
      clientId: owner,
      name,
      topic: options.destination.name,
      selector: selectorText,
      noLocal,
      selectorConvertsStrings: convertsStrings,
      adapterData: durable.adapterData,
      overlap: options.overlap === undefined ? undefined : { group: options.overlap.group, rank: options.overlap.rank, tag: options.overlap.tag },
      // resuming it keeps who made it
      maker: subscription === undefined ? maker : subscription.durable!.maker,
    };
    const overlap = record.overlap === undefined ? undefined : overlapOf(owner, record.overlap);
    if (subscription === undefined) {
      const recordId = this.host.allocateId();
      this.host.store.add(recordId, RecordType.DurableSubscription, encodeDurableSubscription(record));
      subscription = this.addDurable(recordId, record);
    } else if (subscription.durable!.adapterData !== durable.adapterData || !sameOverlap(subscription.overlap, overlap)) {
      // the protocol's note or the overlap group changed (an MQTT resubscribe at another QoS): same queue, new record
      this.host.store.update(subscription.queue.recordId, RecordType.DurableSubscription, encodeDurableSubscription(record));
      subscription.durable = { owner, name, adapterData: durable.adapterData, maker: record.maker };
    }
    const consumer = makeConsumer(subscription.queue, undefined);
    const active = subscription;
    handing?.handOver(consumer);
    active.consumer = consumer;
    active.localConnectionId = connectionId;
    active.overlap = overlap;
    consumer.onClose = () => {
      if (active.consumer === consumer) active.consumer = null;
    };
    active.queue.addConsumer(consumer);
    handing?.close();
    if (options.retainedMessages === 'all' || (options.retainedMessages === 'new' && !existed)) this.handRetained(active.queue, active.pattern);
    return consumer;
  }

  /**
   * Joins (or starts) the shared subscription of `options.shareName` on the pattern; its consumers
   * compete. With `owner`, the owner's membership named by `options.durable` is stored, and the
   * subscription, its messages included, lasts while any membership does, across restarts; without
   * one, it ends when its last consumer goes and no membership holds it.
   */
  subscribeShared(connectionId: string, options: SubscribeOptions, selector: Selector | undefined, makeConsumer: ConsumerFactory, replaces?: Consumer, owner?: string): Consumer {
    const pattern = options.destination.name;
    const shareName = options.shareName!;
    const key = ownedKey(shareName, pattern);
    let subscription = this.shared.get(key);
    const handing = replaces !== undefined && replaces.queue === subscription?.queue ? replaces : undefined;
    if (handing === undefined) replaces?.close();
    if (subscription === undefined) {
      const recordId = owner === undefined ? 0 : this.storeSharedRecord(shareName, pattern);
      subscription = this.addShared(shareName, pattern, recordId);
    } else if (owner !== undefined && subscription.shareRecordId === undefined) {
      // started in memory by sessions that keep nothing: stored from now on, its queue durable from the next start
      subscription.shareRecordId = this.storeSharedRecord(shareName, pattern);
    }
    const membership = owner === undefined ? undefined : this.join(owner, options.durable!, shareName, pattern, key);
    const shared = subscription;
    const consumer = makeConsumer(shared.queue, undefined);
    handing?.handOver(consumer);
    shared.queue.addConsumer(consumer);
    shared.consumer = consumer;
    if (membership !== undefined) membership.consumer = consumer;
    handing?.close();
    consumer.onClose = () => {
      if (membership?.consumer === consumer) membership.consumer = null;
      if (shared.consumer === consumer) shared.consumer = null;
      this.endSharedIfUnused(key, shared);
    };
    return consumer;
  }

  private storeSharedRecord(shareName: string, pattern: string): number {
    const recordId = this.host.allocateId();
    const record: DurableSubscriptionRecord = { ...sharedRecordBase(shareName, pattern), share: { role: 'queue' } };
    this.host.store.add(recordId, RecordType.DurableSubscription, encodeDurableSubscription(record));
    return recordId;
  }

  /** A shared subscription's queue, stored under `recordId` (0: in memory only). */
  private addShared(shareName: string, pattern: string, recordId: number): TopicSubscription {
    const queue = this.host.newQueue(`${shareName}:${pattern}`, 'subscription', recordId, 'topic', pattern);
    const subscription: TopicSubscription = {
      pattern,
      queue,
      noLocal: false,
      selectorText: undefined,
      selector: undefined,
      selectorConvertsStrings: false,
      durable: recordId === 0 ? undefined : { owner: shareOwner(shareName), name: pattern, adapterData: undefined },
      consumer: null,
      localConnectionId: undefined,
      // shared by several owners: it is nobody's overlap group
      overlap: undefined,
      shareRecordId: recordId === 0 ? undefined : recordId,
    };
    this.shared.set(ownedKey(shareName, pattern), subscription);
    this.index.add(pattern, subscription);
    if (recordId !== 0 && !hasWildcard(pattern)) this.host.topicSeen(pattern);
    return subscription;
  }

  private join(owner: string, durable: NonNullable<SubscribeOptions['durable']>, shareName: string, pattern: string, sharedKey: string): Membership {
    const key = ownedKey(owner, durable.name);
    let membership = this.memberships.get(key);
    if (membership !== undefined && membership.sharedKey !== sharedKey) {
      this.leave(key, membership);
      membership = undefined;
    }
    const record: DurableSubscriptionRecord = { ...sharedRecordBase(owner, pattern), name: durable.name, adapterData: durable.adapterData, share: { role: 'member', name: shareName } };
    if (membership === undefined) {
      const recordId = this.host.allocateId();
      this.host.store.add(recordId, RecordType.DurableSubscription, encodeDurableSubscription(record));
      membership = this.addMembership(key, { recordId, record, sharedKey, consumer: null });
    } else if (membership.record.adapterData !== durable.adapterData) {
      this.host.store.update(membership.recordId, RecordType.DurableSubscription, encodeDurableSubscription(record));
      membership.record = record;
    }
    return membership;
  }

  private addMembership(key: string, membership: Membership): Membership {
    this.memberships.set(key, membership);
    this.membersOf.set(membership.sharedKey, (this.membersOf.get(membership.sharedKey) ?? 0) + 1);
    return membership;
  }

  private leave(key: string, membership: Membership): void {
    this.memberships.delete(key);
    const left = this.membersOf.get(membership.sharedKey)! - 1;
    if (left > 0) this.membersOf.set(membership.sharedKey, left);
    else this.membersOf.delete(membership.sharedKey);
    this.host.store.delete(membership.recordId);
    const shared = this.shared.get(membership.sharedKey);
    if (shared !== undefined) this.endSharedIfUnused(membership.sharedKey, shared);
  }

  /** Ends a shared subscription, with its stored record and messages, once no consumer and no membership holds it. */
  private endSharedIfUnused(key: string, shared: TopicSubscription): void {
    if (shared.queue.consumerCount > 0 || this.shared.get(key) !== shared || this.membersOf.has(key)) return;
    this.shared.delete(key);
    this.index.remove(shared.pattern, shared);
    shared.queue.destroy();
    if (shared.shareRecordId !== undefined) this.host.store.delete(shared.shareRecordId);
  }

  /** Shared subscriptions whose messages are stored, with the durable ones wherever those are listed. */
  private *storedShared(): IterableIterator<TopicSubscription> {
    for (const s of this.shared.values()) if (s.queue.recordId !== 0) yield s;
  }

  durableOwners(): string[] {
    const owners = new Set<string>();
    for (const s of this.durable.values()) owners.add(s.durable!.owner);
    for (const m of this.memberships.values()) owners.add(m.record.clientId);
    return [...owners];
  }

  /** The durable subscriptions of an owner, active or not. */
  durableOf(owner: string): DurableSubscriptionInfo[] {
    const found: DurableSubscriptionInfo[] = [];
    for (const s of this.durable.values()) {
      if (s.durable?.owner !== owner) continue;
      found.push({ name: s.durable.name, topic: s.pattern, selector: s.selectorText, noLocal: s.noLocal, adapterData: s.durable.adapterData, active: s.consumer !== null });
    }
    for (const m of this.memberships.values()) {
      if (m.record.clientId !== owner) continue;
      found.push({ name: m.record.name, topic: m.record.topic, selector: undefined, noLocal: false, adapterData: m.record.adapterData, active: m.consumer !== null });
    }
    return found;
  }

  /**
   * The pattern of the durable subscription that subscribing with `options` would replace, deleting
   * it with what it kept, when a principal other than `by` made it (or its maker is unknown, as in
   * records older than the maker): that change needs the right a delete needs.
   */
  replacedOfAnother(owner: string, options: SubscribeOptions, selector: Selector | undefined, by: SubscriptionMaker): string | undefined {
    const subscription = this.durable.get(ownedKey(owner, options.durable!.name));
    if (subscription === undefined || !changesDurable(subscription, options, selector)) return undefined;
    const maker = subscription.durable!.maker;
    return maker !== undefined && maker.internal === by.internal && maker.username === by.username ? undefined : subscription.pattern;
  }

  /** True when subscribing durably would make a new subscription rather than resume the one there is. */
  wouldCreateDurable(owner: string, name: string, pattern: string): boolean {
    return this.durablePattern(owner, name) !== pattern;
  }

  /** The pattern of an owner's durable subscription, for the checks made before deleting it. */
  durablePattern(owner: string, name: string): string | undefined {
    const key = ownedKey(owner, name);
    return this.durable.get(key)?.pattern ?? this.memberships.get(key)?.record.topic;
  }

  /**
   * Removes a durable subscription and the messages it kept. It must have no active subscriber.
   * `by`: the connection that removes it, none for an operator. Every removal passes here, whatever
   * the protocol, so that those watching hear of each one (OpenWire's consumer advisories).
   */
  deleteDurable(owner: string, name: string, by?: string): void {
    const key = ownedKey(owner, name);
    const membership = this.memberships.get(key);
    if (membership !== undefined) {
      if (membership.consumer !== null) throw new FerryError('FERRY_CONSUMER_EXISTS', `shared subscription "${name}" of "${owner}" still has an active subscriber`);
      this.leave(key, membership);
      return;
    }
    const subscription = this.durable.get(key);
    if (subscription === undefined) throw new FerryError('FERRY_CONSUMER_NOT_FOUND', `no durable subscription "${name}" of "${owner}"`);
    if (subscription.consumer !== null) throw new FerryError('FERRY_CONSUMER_EXISTS', `durable subscription "${name}" still has an active subscriber`);
    this.removeDurable(key, subscription, { owner, name, pattern: subscription.pattern, connectionId: by });
  }

  /** Puts a stored durable subscription back, as recovery reads it; a membership has no queue of its own. */
  recoverDurable(recordId: number, record: DurableSubscriptionRecord): MessageQueue | undefined {
    if (record.share?.role === 'queue') return this.addShared(record.clientId, record.topic, recordId).queue;
    if (record.share?.role === 'member') {
      this.addMembership(ownedKey(record.clientId, record.name), { recordId, record, sharedKey: ownedKey(record.share.name, record.topic), consumer: null });
      return undefined;
    }
    return this.addDurable(recordId, record).queue;
  }

  durableQueues(): IterableIterator<MessageQueue> {
    return [...this.durableSubscriptions()].map((s) => s.queue).values();
  }

  *durableSubscriptions(): IterableIterator<TopicSubscription> {
    yield* this.durable.values();
    yield* this.storedShared();
  }

  durableStats(): DurableSubscriptionStats[] {
    return [...this.durableSubscriptions()].map((s) => {
      const q = s.queue.stats();
      return { clientId: s.durable!.owner, name: s.durable!.name, topic: s.pattern, selector: s.selectorText, active: s.consumer !== null, pending: q.pending, inFlight: q.inFlight };
    });
  }

  /** Refuses a send to `topic` while a subscription it reaches is at a memory limit with memoryPolicy fail. */
  checkRoomForSend(topic: string): void {
    let full: TopicSubscription | undefined;
    this.index.match(topic, (subscription) => {
      if (full === undefined && subscription.queue.fullForSends) full = subscription;
    });
    if (full !== undefined) {
      throw new FerryError('FERRY_DESTINATION_FULL', `topic "${topic}" reaches subscription "${full.queue.name}", at its memory limit with memoryPolicy fail; sends are refused until its subscriber makes room`);
    }
  }

  /** How many subscriptions a topic name reaches. */
  countMatching(topic: string): number {
    let n = 0;
    this.index.match(topic, () => n++);
    return n;
  }

  private addDurable(recordId: number, record: DurableSubscriptionRecord): TopicSubscription {
    const subscription: TopicSubscription = {
      pattern: record.topic,
      queue: this.host.newQueue(`${record.clientId}:${record.name}`, 'subscription', recordId, 'topic', record.topic),
      noLocal: record.noLocal,
      selectorText: record.selector,
      selector: record.selector === undefined ? undefined : compileSelector(record.selector, { convertStringExpressions: record.selectorConvertsStrings }),
      selectorConvertsStrings: record.selectorConvertsStrings,
      durable: { owner: record.clientId, name: record.name, adapterData: record.adapterData, maker: record.maker },
      consumer: null,
      localConnectionId: undefined,
      // kept in the record: a session that is away still gets one copy of what its filters share
      overlap: record.overlap === undefined ? undefined : overlapOf(record.clientId, record.overlap),
    };
    this.durable.set(ownedKey(record.clientId, record.name), subscription);
    this.index.add(record.topic, subscription);
    if (!hasWildcard(record.topic)) this.host.topicSeen(record.topic);
    this.host.durableChanged(ownedKey(record.clientId, record.name), { pattern: record.topic, selector: record.selector, name: record.name });
    return subscription;
  }

  private removeDurable(key: string, subscription: TopicSubscription, removed?: DurableRemoved): void {
    this.durable.delete(key);
    this.index.remove(subscription.pattern, subscription);
    subscription.queue.destroy();
    this.host.store.delete(subscription.queue.recordId);
    this.host.durableChanged(key, undefined, removed);
  }

  /**
   * Hands a topic's retained message to the subscriptions of `consumers` alone, as retained (a
   * neighbour broker's, which those subscribers asked of it through the network); shared
   * subscriptions get none, as when they start.
   */
  handRetainedTo(message: Message, consumers: ReadonlySet<number>): void {
    this.index.match(message.destination.name, (subscription) => {
      const consumer = subscription.consumer;
      if (consumer === null || !consumers.has(consumer.id)) return;
      const durable = subscription.durable;
      const own = durable === undefined ? this.plain.get(subscription.queue) === subscription : this.durable.get(ownedKey(durable.owner, durable.name)) === subscription;
      if (!own) return;
      subscription.queue.acceptRetained(message);
      subscription.queue.dispatch();
    });
  }

  /** Puts the retained messages `pattern` matches into a starting subscription's queue, ahead of what routing brings. */
  private handRetained(queue: MessageQueue, pattern: string): void {
    for (const message of this.host.retainedMatching(pattern)) queue.acceptRetained(message);
  }
}

/** The fields of a shared subscription's records that only ordinary durable subscriptions use. */
function sharedRecordBase(clientId: string, topic: string): DurableSubscriptionRecord {
  return { clientId, name: topic, topic, selector: undefined, noLocal: false, selectorConvertsStrings: false, adapterData: undefined, overlap: undefined };
}
