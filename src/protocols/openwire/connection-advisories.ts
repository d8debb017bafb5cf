import { matchesPattern, type Destination } from '../../core/index.js';
import { ADVISORY_PREFIX, destinationInfo, temporaryAdvisoryTopic, type Advisories, type AdvisoryListener, type AdvisoryProperties } from './advisories.js';
import { T, type ConsumerInfo, type DataStructure, type WireDestination } from './commands.js';
import type { OpenWireConsumer } from './consumer.js';
import { toMessageId } from './mapping.js';
import { writeProperties } from './primitives.js';

const CONSUMER_ADVISORY = `${ADVISORY_PREFIX}Consumer.`;
const PRODUCER_ADVISORY = `${ADVISORY_PREFIX}Producer.`;

/** The id a broker named `brokerName` gives itself in its BrokerInfo, and its advisories in `originBrokerId`. */
export function brokerIdOf(brokerName: string): string {
  return `ID:${brokerName}`;
}

/** How a connection sends an advisory message to one of its consumers. */
export type AdvisoryWriter = (consumer: OpenWireConsumer, message: DataStructure) => void;

/**
 * One connection's side of the advisories: its consumers on `ActiveMQ.Advisory.*` topics (answered
 * here, never by core), and what it announced (itself, its consumers, producers and temporary
 * destinations), withdrawn when it closes.
 */
export class ConnectionAdvisories implements AdvisoryListener {
  private readonly consumers = new Map<string, { consumer: OpenWireConsumer; patterns: readonly string[] }>();
  private readonly announced = new Map<string, { topic: string; removal: DataStructure }>();
  /** Temporary destinations this client has been told of. */
  private readonly told = new Set<string>();
  private sequence = 0;

  /** What ActiveMQ sets on every advisory to say which broker sent it, from which connector. */
  private readonly origin: ReadonlyArray<readonly [string, string]>;

  /** `listenerAddress`: the `host:port` the client reached; ActiveMQ's `vm://` URL stands in where there is none. */
  constructor(
    private readonly advisories: Advisories,
    private readonly brokerName: string,
    listenerAddress: string | undefined,
    private readonly write: AdvisoryWriter,
  ) {
    this.origin = [
      ['originBrokerName', brokerName],
      ['originBrokerId', brokerIdOf(brokerName)],
      ['originBrokerURL', listenerAddress === undefined ? `vm://${brokerName}` : `tcp://${listenerAddress}`],
    ];
  }

  /** True for a topic (or composite of topics) made only of advisory topics. */
  static isAdvisory(destination: WireDestination): boolean {
    if (destination.type !== T.TOPIC || destination.physicalName === null) return false;
    return destination.physicalName.split(',').every((name) => name.startsWith(ADVISORY_PREFIX));
  }

  has(consumerKey: string): boolean {
    return this.consumers.has(consumerKey);
  }

  /** An advisory consumer: told at once of everything that exists under its topics, then of changes. */
  open(consumerKey: string, consumer: OpenWireConsumer): void {
    const patterns = (consumer.destination.physicalName ?? '').split(',');
    this.consumers.set(consumerKey, { consumer, patterns });
    this.advisories.listen(this);
    this.advisories.replay(patterns, (topic, info, count) => this.send(consumer, topic, info, count));
  }

  close(consumerKey: string): boolean {
    if (!this.consumers.delete(consumerKey)) return false;
    if (this.consumers.size === 0) this.advisories.unlisten(this);
    return true;
  }

  announce(topic: string, key: string, info: DataStructure, removal: DataStructure): void {
    this.announced.set(key, { topic, removal });
    // on a topic, a consumer that names a subscription is its durable subscriber
    const durable = info.type === T.CONSUMER_INFO && (info as ConsumerInfo).subscriptionName !== null && (info as ConsumerInfo).destination?.type === T.TOPIC;
    this.advisories.announce(topic, key, info, durable);
  }

  withdraw(key: string): void {
    const entry = this.announced.get(key);
    if (entry === undefined) return;
    this.announced.delete(key);
    this.advisories.withdraw(entry.topic, key, entry.removal);
  }

  /**
   * A reply-to made by another protocol's client: ActiveMQ's client sends to a temporary
   * destination only once an advisory has told it the destination exists.
   */
  tellTemporary(destination: Destination): void {
    if (this.consumers.size === 0 || this.told.has(`${destination.kind}:${destination.name}`)) return;
    this.advise(temporaryAdvisoryTopic(destination), destinationInfo(destination, null, true), 1);
  }

  advise(topic: string, info: DataStructure, count: number, properties: AdvisoryProperties = []): void {
    if (info.type === T.DESTINATION_INFO) {
      const destination = info['destination'] as WireDestination | null;
      if (destination !== null) this.told.add(`${destination.type === T.TEMP_QUEUE ? 'queue' : 'topic'}:${destination.physicalName ?? ''}`);
    }
    for (const { consumer, patterns } of this.consumers.values()) {
      if (patterns.some((pattern) => matchesPattern(pattern, topic))) this.send(consumer, topic, info, count, properties);
    }
  }

  watches(topic: string): boolean {
    for (const { patterns } of this.consumers.values()) if (patterns.some((pattern) => matchesPattern(pattern, topic))) return true;
    return false;
  }

  private send(consumer: OpenWireConsumer, topic: string, info: DataStructure, count: number, properties: AdvisoryProperties = []): void {
    const sequence = ++this.sequence;
    const messageId = toMessageId(`ID:${this.brokerName}-advisory-${sequence}`);
    // by prefix: an expired message's topic may name a queue such as Consumer.A.VirtualTopic.orders
    const counted = topic.startsWith(CONSUMER_ADVISORY) ? 'consumerCount' : topic.startsWith(PRODUCER_ADVISORY) ? 'producerCount' : undefined;
    this.write(consumer, {
      type: T.MESSAGE,
      commandId: 0,
      responseRequired: false,
      destination: { type: T.TOPIC, physicalName: topic },
      messageId,
      persistent: false,
      priority: 4,
      timestamp: Date.now(),
      jmsType: 'Advisory',
      marshalledProperties: writeProperties([...this.origin, ...(counted === undefined ? [] : [[counted, count] as [string, number]]), ...properties]),
      dataStructure: info,
    });
  }

  /** The connection ends: everything it announced goes, and it hears no more. */
  closeAll(): void {
    for (const key of [...this.announced.keys()]) this.withdraw(key);
    this.consumers.clear();
    this.advisories.unlisten(this);
  }
}
