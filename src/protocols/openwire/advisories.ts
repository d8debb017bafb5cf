import { matchesPattern, type Destination } from '../../core/index.js';
import { T, type ConnectionId, type DataStructure, type DestinationInfo } from './commands.js';
import { ConsumerCounts } from './consumer-counts.js';
import { toWireDestination } from './mapping.js';

/** ActiveMQ's advisory topics all start with this; a consumer on one is answered by the adapter, not core. */
export const ADVISORY_PREFIX = 'ActiveMQ.Advisory.';

const CONSUMER_QUEUE_ADVISORY = `${ADVISORY_PREFIX}Consumer.Queue.`;
const CONSUMER_TOPIC_ADVISORY = `${ADVISORY_PREFIX}Consumer.Topic.`;

/** The destination whose consumers a consumer advisory topic is about; undefined for any other topic. */
function consumedBy(topic: string): Destination | undefined {
  if (topic.startsWith(CONSUMER_QUEUE_ADVISORY)) return { kind: 'queue', name: topic.slice(CONSUMER_QUEUE_ADVISORY.length) };
  if (topic.startsWith(CONSUMER_TOPIC_ADVISORY)) return { kind: 'topic', name: topic.slice(CONSUMER_TOPIC_ADVISORY.length) };
  return undefined;
}

export function temporaryAdvisoryTopic(destination: Destination): string {
  return destination.kind === 'queue' ? 'ActiveMQ.Advisory.TempQueue' : 'ActiveMQ.Advisory.TempTopic';
}

/** `ActiveMQ.Advisory.Queue` or `.Topic`: where queues and topics are announced as they are made and deleted. */
export function destinationAdvisoryTopic(destination: Destination): string {
  return `${ADVISORY_PREFIX}${destination.kind === 'queue' ? 'Queue' : 'Topic'}`;
}

/** `ActiveMQ.Advisory.Consumer.Queue.orders` and the like. */
export function advisoryTopic(what: 'Consumer' | 'Producer' | 'Expired' | 'MessageDLQd', destination: Destination): string {
  return `${ADVISORY_PREFIX}${what}.${destination.kind === 'queue' ? 'Queue' : 'Topic'}.${destination.name}`;
}

/** Properties an advisory message carries beside its origin (`originBrokerName`, `originBrokerId`, `originBrokerURL`) and the counts. */
export type AdvisoryProperties = ReadonlyArray<readonly [string, string]>;

/** A connection with advisory consumers: it is handed each advisory whose topic one of them watches. */
export interface AdvisoryListener {
  /** `count`: how many of that topic's things exist now (the `consumerCount` / `producerCount` property). */
  advise(topic: string, info: DataStructure, count: number, properties?: AdvisoryProperties): void;
  /** True when one of its consumers watches `topic`. */
  watches(topic: string): boolean;
}

export function destinationInfo(destination: Destination, owner: ConnectionId | null, added: boolean): DestinationInfo {
  return {
    type: T.DESTINATION_INFO,
    commandId: 0,
    responseRequired: false,
    connectionId: owner,
    destination: toWireDestination(destination),
    operationType: added ? 0 : 1,
    timeout: 0,
    brokerPath: null,
  };
}

/**
 * ActiveMQ's advisories for OpenWire clients, per listener: connections, consumers and producers
 * coming and going, and temporary destinations (which ActiveMQ's client needs before it sends to
 * another connection's temporary destination: "Cannot publish to a deleted Destination"). A new
 * advisory consumer is first told of everything that exists, as ActiveMQ does. Queues and topics
 * come from core's destination events, whoever made them; so do the connections, consumers and
 * producers of the other protocols (`foreign-advisories.ts`).
 */
export class Advisories {
  /** Advisory topic -> what exists now, by a key unique on the broker. */
  private readonly live = new Map<string, Map<string, DataStructure>>();
  private readonly listeners = new Set<AdvisoryListener>();
  /** The keys in `live` of consumers that are durable subscribers: each is counted as its subscription. */
  private readonly durableSubscribers = new Set<string>();
  /**
   * Durable subscriptions, online or not, by the consumer advisory topic of their topic: ActiveMQ
   * counts each in `consumerCount`, so a producer that looks for demand sees the offline ones.
   */
  private readonly durables = new Map<string, Set<string>>();
  /** Consumers and durable subscriptions by the destination they consume, for `consumerCount`. */
  private readonly consumerCounts = new ConsumerCounts();

  /** `durableSubscriber`: a consumer of a durable subscription, which `keepDurable` counts already. */
  announce(topic: string, key: string, info: DataStructure, durableSubscriber = false): void {
    let things = this.live.get(topic);
    if (things === undefined) this.live.set(topic, (things = new Map()));
    if (things.has(key)) return;
    things.set(key, info);
    if (durableSubscriber) this.durableSubscribers.add(key);
    else this.countConsumer(topic, 1);
    this.tell(topic, info);
  }

  /** `removal` says it went: a RemoveInfo, or a DestinationInfo with the remove operation. */
  withdraw(topic: string, key: string, removal: DataStructure): void {
    const things = this.live.get(topic);
    if (things === undefined || !things.delete(key)) return;
    if (things.size === 0) this.live.delete(topic);
    if (!this.durableSubscribers.delete(key)) this.countConsumer(topic, -1);
    this.tell(topic, removal);
  }

  /** A durable subscription made or read back at start: ActiveMQ announces none, it only counts them. */
  keepDurable(topic: string, key: string): void {
    let keys = this.durables.get(topic);
    if (keys === undefined) this.durables.set(topic, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    this.countConsumer(topic, 1);
  }

  dropDurable(topic: string, key: string): void {
    const keys = this.durables.get(topic);
    if (keys === undefined || !keys.delete(key)) return;
    if (keys.size === 0) this.durables.delete(topic);
    this.countConsumer(topic, -1);
  }

  private countConsumer(topic: string, delta: number): void {
    const consumed = consumedBy(topic);
    if (consumed !== undefined) this.consumerCounts.change(consumed.kind, consumed.name, delta);
  }

  /** Tells the listeners that watch `topic`; the count is worked out only when one does. */
  private tell(topic: string, info: DataStructure): void {
    let count: number | undefined;
    for (const listener of this.listeners) {
      if (!listener.watches(topic)) continue;
      count ??= this.count(topic);
      listener.advise(topic, info, count);
    }
  }

  /**
   * What `consumerCount` (`producerCount`) says for `topic`: on a consumer advisory, the consumers
   * of the destinations that match the one consumed (`ConsumerCounts`); on another, what is there now.
   */
  private count(topic: string): number {
    const consumed = consumedBy(topic);
    if (consumed !== undefined) return this.consumerCounts.count(consumed.kind, consumed.name, this.existing(consumed.kind));
    const things = this.live.get(topic);
    let count = this.durables.get(topic)?.size ?? 0;
    if (things !== undefined) for (const key of things.keys()) if (!this.durableSubscribers.has(key)) count++;
    return count;
  }

  /**
   * Something that happened rather than something that exists (a message expired): told to the
   * listeners watching `topic` now, kept for no one after. `make` is called only if one watches.
   */
  fire(topic: string, make: () => { info: DataStructure; properties: AdvisoryProperties }): void {
    let made: { info: DataStructure; properties: AdvisoryProperties } | undefined;
    for (const listener of this.listeners) {
      if (!listener.watches(topic)) continue;
      made ??= make();
      listener.advise(topic, made.info, 0, made.properties);
    }
  }

  /**
   * A durable subscription on `topic`'s destination was removed (`info`, a RemoveSubscriptionInfo):
   * ActiveMQ tells that consumer advisory topic, with the count left.
   */
  unsubscribed(topic: string, info: DataStructure): void {
    this.tell(topic, info);
  }

  /** The names of the queues (topics) there are, as `ActiveMQ.Advisory.Queue` (`.Topic`) announced them. */
  private *existing(kind: 'queue' | 'topic'): Iterable<string> {
    const things = this.live.get(destinationAdvisoryTopic({ kind, name: '' }));
    if (things === undefined) return;
    const prefix = `${kind}:`;
    for (const key of things.keys()) yield key.slice(prefix.length);
  }

  /** What was announced on `topic` under `key`, while it is there. */
  find(topic: string, key: string): DataStructure | undefined {
    return this.live.get(topic)?.get(key);
  }

  /** Starts telling `listener` (again is harmless). */
  listen(listener: AdvisoryListener): void {
    this.listeners.add(listener);
  }

  /** Everything that exists now under the topics `patterns` match, for a new advisory consumer. */
  replay(patterns: readonly string[], advise: (topic: string, info: DataStructure, count: number) => void): void {
    for (const [topic, things] of this.live) {
      if (!patterns.some((pattern) => matchesPattern(pattern, topic))) continue;
      const count = this.count(topic);
      for (const info of things.values()) advise(topic, info, count);
    }
  }

  unlisten(listener: AdvisoryListener): void {
    this.listeners.delete(listener);
  }
}
