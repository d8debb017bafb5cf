import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import { hasWildcard, isReservedQueueName, isSystemTopic, isTemporaryName, matchesPattern, validateDestinationName } from './address.js';
import type { ClientLimits } from './limits.js';
import type { Destination } from './message.js';
import type { MessageQueue } from './message-queue.js';
import { RecordType, encodeQueue } from './records.js';
import { DestinationEvents } from './destination-events.js';
import { DestinationSenders } from './traffic.js';

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

export interface DestinationHost {
  readonly store: Store;
  newQueue(name: string, kind: 'queue' | 'subscription', recordId: number, policyKind: 'queue' | 'topic'): MessageQueue;
  allocateId(): number;
}

/**
 * A broker property of a topic message whose virtual-topic consumer queues were filled where it was
 * published (a network connector marks what it pulls from a neighbour so): no broker it reaches
 * later fills its own consumer queues again, since those take the neighbour's copies through their
 * own demand, and a second fan-out would give a group the message twice.
 */
export const FANNED_OUT_PROPERTY = 'FerryFannedOut';

export function destinationKey(d: Destination): string {
  return `${d.kind}:${d.name}`;
}

/** `queue://a,topic://b` or `a,b` (same kind as the whole): a client-side composite destination. */
export function splitComposite(destination: Destination): Destination[] {
  return destination.name.split(',').map((part) => {
    const name = part.trim();
    if (name.startsWith('queue://')) return { kind: 'queue', name: name.slice(8) };
    if (name.startsWith('topic://')) return { kind: 'topic', name: name.slice(8) };
    return { kind: destination.kind, name };
  });
}

export function isClientComposite(destination: Destination): boolean {
  return destination.name.includes(',') && destination.temporary !== true;
}

/**
 * The broker's queues and topics by name: created on first use (when allowed), temporary ones with
 * their owning connection, configured composites, and the consumer queues of virtual topics.
 */
export class Destinations {
  readonly queues = new Map<string, MessageQueue>();
  readonly topics = new Set<string>();
  /** Of `topics`, those the broker made for its own figures (MQTT's `$SYS`): they count toward no limit. */
  private readonly ownTopics = new Set<string>();
  /** Virtual topic name -> its consumer queues. */
  private readonly virtualConsumers = new Map<string, Set<MessageQueue>>();
  /** Virtual topic pattern (`VirtualTopic.orders.>`) -> the consumer queues of a group on every topic it matches. */
  private readonly virtualPatternConsumers = new Map<string, Set<MessageQueue>>();
  private readonly composites = new Map<string, CompositeDestination>();
  /** Messages routed to each topic since the start, and the idle-topic sweep in which the last one was. */
  private readonly topicSends = new Map<string, { sent: number; sweep: number }>();
  /** Messages routed to any application topic (not a `$` one) since the start, those of topics gone too: the broker's messages in, by topic. */
  topicSendsTotal = 0;
  /** Idle-topic sweeps so far (see `sweepIdleTopics`). */
  private sweeps = 0;
  /** Temporary destination key -> the id of the connection that owns it. */
  private readonly temporaryOwners = new Map<string, string>();
  readonly events = new DestinationEvents(() => this.lasting());
  /** Connections' sends by destination, forgotten when the destination goes. */
  readonly senders = new DestinationSenders();

  constructor(
    private readonly host: DestinationHost,
    private readonly autoCreate: boolean,
    readonly virtualTopics: VirtualTopicOptions,
    composites: readonly CompositeDestination[],
    private readonly limits?: ClientLimits,
  ) {
    for (const composite of composites) this.composites.set(destinationKey(composite), composite);
  }

  /** Checks that a message may be sent to `destination`, creating it on first use. */
  checkSendable(destination: Destination, byBroker = false): void {
    if (isClientComposite(destination)) {
      for (const part of splitComposite(destination)) this.checkSendable(part, byBroker);
      return;
    }
    validateDestinationName(destination.name, false);
    if (destination.temporary === true) {
      if (!this.temporaryOwners.has(destinationKey(destination))) {
        throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary ${destination.kind} "${destination.name}" no longer exists`);
      }
      return;
    }
    if (this.composites.has(destinationKey(destination))) return;
    // a gone temporary destination named as an ordinary one (an MQTT response topic has no other
    // form): a late reply must not make a destination that keeps it, nor count toward maxDestinations
    if (isTemporaryName(destination.name) && !this.has(destination)) {
      throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `${destination.kind} "${destination.name}" does not exist, and names starting "ID:" are temporary destinations', never made on first use`);
    }
    if (destination.kind === 'queue') this.queueNamed(destination.name);
    else if (byBroker && isSystemTopic(destination.name)) this.ownTopicNamed(destination.name);
    else this.topicNamed(destination.name);
  }

  /**
   * A topic of the broker's own figures (MQTT's `$SYS`, which no client may publish to): never
   * refused, so that a client's limit or a broker without auto-creation does not silence them.
   */
  private ownTopicNamed(name: string): void {
    if (this.addTopic(name)) this.ownTopics.add(name);
  }

  private has(destination: Destination): boolean {
    return destination.kind === 'queue' ? this.queues.has(destination.name) : this.topics.has(destination.name);
  }

  /**
   * True when using `destination` would bring it into being: a plain queue or topic not known yet,
   * with creation on first use on. Wildcard patterns, temporary and configured composite
   * destinations, temporary destinations' names (`ID:...`) and `amq.` queues are never created this way.
   */
  wouldCreate(destination: Destination): boolean {
    if (!this.autoCreate || destination.temporary === true || this.composites.has(destinationKey(destination)) || isTemporaryName(destination.name)) return false;
    return destination.kind === 'queue' ? !this.queues.has(destination.name) && !isReservedQueueName(destination.name) : !this.topics.has(destination.name);
  }

  composite(destination: Destination): CompositeDestination | undefined {
    return this.composites.get(destinationKey(destination));
  }

  /** The queue a consumer on `destination` takes from; a temporary one only for its owner. */
  queueForConsumer(destination: Destination, connectionId: string): MessageQueue {
    if (this.checkConsumable(destination, connectionId)) return this.queues.get(destination.name)!;
    return this.queueNamed(destination.name);
  }

  /** The queue a browser walks: an existing one (browsing creates nothing); undefined when there is none. */
  queueToBrowse(destination: Destination, connectionId: string): MessageQueue | undefined {
    if (this.checkConsumable(destination, connectionId)) return this.queues.get(destination.name)!;
    return this.queues.get(destination.name);
  }

  /**
   * Refuses a consumer of another connection's temporary destination, however it is named: a
   * temporary destination's name in an ordinary queue or topic names that temporary destination,
   * never another of the same name. True when `destination` is a temporary one (of `connectionId`).
   */
  checkConsumable(destination: Destination, connectionId: string): boolean {
    const owner = this.temporaryOwners.get(destinationKey(destination));
    if (owner === undefined) {
      if (destination.temporary === true) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary ${destination.kind} "${destination.name}" no longer exists`);
      return false;
    }
    if (owner !== connectionId) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `temporary ${destination.kind} "${destination.name}" belongs to another connection`);
    return true;
  }

  /**
   * `destination` as what it reaches: the temporary destination of that kind and name when there
   * is one, whether or not the client's name form said so, so that rights are those of temporary
   * destinations (see `Broker.authorize`).
   */
  asReached(destination: Destination): Destination {
    if (destination.temporary === true || this.temporaryOwners.size === 0 || !this.temporaryOwners.has(destinationKey(destination))) return destination;
    return { ...destination, temporary: true };
  }

  /** The connection that owns the temporary queue of that name; undefined for any other queue. */
  temporaryQueueOwner(name: string): string | undefined {
    return this.temporaryOwners.size === 0 ? undefined : this.temporaryOwners.get(destinationKey({ kind: 'queue', name }));
  }

  /**
   * The queue of that name, made when missing: by a client's first use (when creation on first use
   * is on), by an operator, or by the broker itself (a dead-letter queue, which no limit may refuse).
   */
  queueNamed(name: string, creator: 'client' | 'operator' | 'broker' = 'client'): MessageQueue {
    const existing = this.queues.get(name);
    if (existing !== undefined) return existing;
    if (!this.autoCreate && creator === 'client') throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `queue "${name}" does not exist and destinations are not created on first use`);
    // a gone server-named queue (amq.gen-...) is a requester's reply-to as often as a temporary
    // queue is: a late reply must not make a queue that keeps it forever, and no client declares such names
    if (creator === 'client' && isReservedQueueName(name)) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `queue "${name}" does not exist, and names starting "amq." are the broker's, never made on first use`);
    if (creator !== 'broker') this.checkRoom('queue', name);
    const recordId = this.host.allocateId();
    this.host.store.add(recordId, RecordType.Queue, encodeQueue({ name }));
    return this.addQueue(this.host.newQueue(name, 'queue', recordId, 'queue'));
  }

  topicNamed(name: string): void {
    if (this.topics.has(name)) return;
    if (!this.autoCreate) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `topic "${name}" does not exist and destinations are not created on first use`);
    this.checkRoom('topic', name);
    this.addTopic(name);
  }

  /** Records a topic (made by a send, a subscription or an operator); false when it was known. */
  addTopic(name: string): boolean {
    if (this.topics.has(name)) return false;
    this.topics.add(name);
    this.events.added({ kind: 'topic', name });
    return true;
  }

  /** Forgets a topic, with its count of what was sent to it; false when there was none. */
  deleteTopic(name: string): boolean {
    if (!this.topics.delete(name)) return false;
    this.ownTopics.delete(name);
    this.topicSends.delete(name);
    this.senders.forget({ kind: 'topic', name });
    this.events.removed({ kind: 'topic', name });
    return true;
  }

  /** A declared queue (RabbitMQ's model): made by its declaration, with the record its durability asks for (0: none). */
  declaredQueue(name: string, recordId: number): MessageQueue {
    return this.addQueue(this.host.newQueue(name, 'queue', recordId, 'queue'));
  }

  /**
   * A deleted queue leaves; its record says so until the queue, destroyed just after, has deleted its
   * references (`Declarations.removeQueue` deletes it then).
   */
  forgetQueue(queue: MessageQueue): void {
    if (this.queues.get(queue.name) !== queue) return;
    this.queues.delete(queue.name);
    if (queue.recordId !== 0) this.host.store.update(queue.recordId, RecordType.DeletedQueue, encodeQueue({ name: queue.name }));
    this.unindexVirtualConsumer(queue);
    this.senders.forget({ kind: 'queue', name: queue.name });
    this.events.removed({ kind: 'queue', name: queue.name });
  }

  /** A queue read back from the store. */
  recoverQueue(recordId: number, name: string): MessageQueue {
    return this.addQueue(this.host.newQueue(name, 'queue', recordId, 'queue'));
  }

  createTemporary(destination: Destination, ownerId: string): void {
    const key = destinationKey(destination);
    if (this.temporaryOwners.has(key) || (destination.kind === 'queue' && this.queues.has(destination.name))) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `${destination.kind} "${destination.name}" already exists`);
    }
    this.checkRoom(destination.kind, destination.name);
    this.temporaryOwners.set(destinationKey(destination), ownerId);
    if (destination.kind === 'queue') this.queues.set(destination.name, this.host.newQueue(destination.name, 'queue', 0, 'queue'));
    else this.topics.add(destination.name);
  }

  deleteTemporary(destination: Destination): void {
    if (!this.temporaryOwners.delete(destinationKey(destination))) return;
    if (destination.kind === 'queue') {
      this.queues.get(destination.name)?.destroy();
      this.queues.delete(destination.name);
    } else {
      this.topics.delete(destination.name);
      this.topicSends.delete(destination.name);
    }
    this.senders.forget(destination);
  }

  isTemporary(destination: Destination): boolean {
    // most brokers have none, and a topic's every send asks: no key is built for them
    return this.temporaryOwners.size > 0 && this.temporaryOwners.has(destinationKey(destination));
  }

  /**
   * Counts a message routed to a topic (operators' enqueued count): a number in a map, nothing
   * allocated. Only a topic that exists is counted, so the counts go with their topics: a send held
   * in a transaction may reach a temporary topic deleted meanwhile, or a composite forward one never made.
   */
  topicSent(name: string): void {
    if (!this.topics.has(name)) return;
    // the broker's own statistics ($SYS) are not messages in (see messageTotals)
    if (!isSystemTopic(name)) this.topicSendsTotal++;
    const count = this.topicSends.get(name);
    if (count === undefined) this.topicSends.set(name, { sent: 1, sweep: this.sweeps });
    else {
      count.sent++;
      count.sweep = this.sweeps;
    }
  }

  /**
   * Forgets the plain topics nothing used since the sweep before this one: no message sent to them,
   * no subscription matching them and no retained message (`inUse`). A topic's name is all it holds,
   * but a fleet of MQTT devices publishing to a topic each would otherwise keep every name, up to
   * limits.maxDestinations. Temporary and virtual topics go their own ways. A topic made or sent to
   * since the last sweep stays; the next send or subscription makes a forgotten one again.
   */
  sweepIdleTopics(inUse: (name: string) => boolean): void {
    const previous = this.sweeps++;
    for (const name of this.topics) {
      const sends = this.topicSends.get(name);
      if (sends === undefined) {
        // made since the last sweep, by a subscription or an operator: it is idle from now
        this.topicSends.set(name, { sent: 0, sweep: previous });
        continue;
      }
      if (sends.sweep >= previous || inUse(name) || this.temporaryOwners.has(destinationKey({ kind: 'topic', name }))) continue;
      if (this.virtualTopics.enabled && name.startsWith(this.virtualTopics.prefix)) continue;
      this.deleteTopic(name);
    }
  }

  /** Messages routed to a topic since the start. */
  topicSentCount(name: string): number {
    return this.topicSends.get(name)?.sent ?? 0;
  }

  /** The consumer queues of a virtual topic (empty when `topic` is none). */
  virtualConsumersOf(topic: string): Iterable<MessageQueue> {
    if (!this.virtualTopics.enabled || !topic.startsWith(this.virtualTopics.prefix)) return [];
    const named = this.virtualConsumers.get(topic);
    if (this.virtualPatternConsumers.size === 0) return named ?? [];
    const queues = named === undefined ? [] : [...named];
    for (const [pattern, set] of this.virtualPatternConsumers) if (matchesPattern(pattern, topic)) queues.push(...set);
    return queues;
  }

  /**
   * The queue a consumer on a virtual-topic consumer pattern (`Consumer.A.VirtualTopic.orders.>`)
   * takes its group's messages from, made on first use as ActiveMQ makes it: what every virtual
   * topic the pattern matches receives lands there, also while no consumer is on. Undefined for any
   * other pattern (a wildcard group, or no virtual topic), whose consumer only takes from the queues it matches.
   */
  virtualPatternQueue(name: string): MessageQueue | undefined {
    return this.isVirtualPattern(name) ? this.queueNamed(name) : undefined;
  }

  /** True for a virtual-topic consumer pattern, which has a queue of its own (see `virtualPatternQueue`). */
  isVirtualPattern(name: string): boolean {
    const topic = this.virtualTopicOf(name);
    return topic !== undefined && hasWildcard(topic);
  }

  /** Refuses a send to a queue at its memoryLimit whose memoryPolicy is fail. */
  checkRoomForSend(destination: Destination): void {
    if (destination.kind !== 'queue') return;
    const queue = this.queues.get(destination.name);
    if (queue?.fullForSends === true) {
      throw new FerryError('FERRY_DESTINATION_FULL', `queue "${destination.name}" is at its memoryLimit (${queue.policy.memoryLimit} bytes, 0: none) or the broker at limits.messageMemory of waiting messages; sends are refused until consumers make room`);
    }
  }

  /** Refuses a new destination past limits.maxDestinations (queues and topics together). */
  checkRoom(kind: 'queue' | 'topic', name: string): void {
    this.limits?.checkDestinations(this.queues.size + this.topics.size - this.ownTopics.size, { kind, name });
  }

  private addQueue(queue: MessageQueue): MessageQueue {
    this.queues.set(queue.name, queue);
    this.indexVirtualConsumer(queue);
    this.events.added({ kind: 'queue', name: queue.name });
    return queue;
  }

  /** The queues and topics that are not temporary. */
  private *lasting(): IterableIterator<Destination> {
    for (const name of this.queues.keys()) if (!this.temporaryOwners.has(destinationKey({ kind: 'queue', name }))) yield { kind: 'queue', name };
    for (const name of this.topics) if (!this.temporaryOwners.has(destinationKey({ kind: 'topic', name }))) yield { kind: 'topic', name };
  }

  /** `VirtualTopic.orders` for `Consumer.A.VirtualTopic.orders`: the topic a group's consumer queue takes from, if it is one. */
  private virtualTopicOf(queueName: string): string | undefined {
    const { enabled, prefix, consumerPrefix } = this.virtualTopics;
    if (!enabled || !queueName.startsWith(consumerPrefix)) return undefined;
    const rest = queueName.slice(consumerPrefix.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || hasWildcard(rest.slice(0, dot))) return undefined;
    const topic = rest.slice(dot + 1);
    return topic.startsWith(prefix) ? topic : undefined;
  }

  /** `Consumer.A.VirtualTopic.orders` receives what is sent to topic `VirtualTopic.orders`, `Consumer.A.VirtualTopic.>` what is sent to any. */
  private indexVirtualConsumer(queue: MessageQueue): void {
    const topic = this.virtualTopicOf(queue.name);
    if (topic === undefined) return;
    const index = hasWildcard(topic) ? this.virtualPatternConsumers : this.virtualConsumers;
    let set = index.get(topic);
    if (set === undefined) index.set(topic, (set = new Set()));
    set.add(queue);
  }

  private unindexVirtualConsumer(queue: MessageQueue): void {
    for (const set of this.virtualConsumers.values()) set.delete(queue);
    for (const set of this.virtualPatternConsumers.values()) set.delete(queue);
  }
}
