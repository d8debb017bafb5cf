// The benchmark's scenarios, as data. The runner and the load generator are generic: a new scenario
// is one more entry here, and a new protocol is one more driver in drivers.ts.

import type { BrokerName } from './broker.js';
import type { CounterLayout } from './shared-state.js';

export type Protocol = 'stomp' | 'amqp' | 'mqtt';
export type DestinationKind = 'queue' | 'topic';

export interface Scenario {
  /** Used on the command line (`--scenario`), in the table and in destination names. */
  readonly name: string;
  readonly summary: string;
  readonly protocol: Protocol;
  /**
   * queue: the consumers compete, each message is expected once across all of them;
   * topic: every consumer is a subscription and expects every message.
   */
  readonly kind: DestinationKind;
  readonly producers: number;
  readonly consumers: number;
  readonly bodyBytes: number;
  readonly persistent: boolean;
  /**
   * When true the producer asks the broker to confirm every send (a STOMP `receipt`) and keeps at
   * most `--receipt-window` sends unconfirmed.
   */
  readonly confirmSends: boolean;
  /**
   * Messages per second over all producers; when absent the producers send as fast as the broker
   * takes them (within the window). A fixed rate that every broker sustains compares latency and
   * CPU per message at equal load, where the unpaced scenarios compare capacity.
   */
  readonly ratePerSecond?: number;
  /** Extra headers for every sent message (e.g. a priority, or properties a selector matches). */
  readonly sendHeaders?: ReadonlyArray<readonly [string, string]>;
  /** Extra headers for every subscription (e.g. `selector`). */
  readonly subscribeHeaders?: ReadonlyArray<readonly [string, string]>;
  /**
   * Queue only: the consumers split the messages between them by selector. Message `seq` of each
   * producer carries the header `<header>:<seq % consumers>` and consumer `i` subscribes with
   * `selector: <header> = 'i'`, so it must receive exactly the messages whose `seq % consumers` is
   * `i`, and the consumers together every message once. The comparison is between strings, which
   * ActiveMQ (STOMP headers are string properties) and Ferry evaluate alike.
   */
  readonly selectorPartition?: { readonly header: string };
  /**
   * AMQP only: the client. By default the benchmark's own (amqp-client.ts), which RabbitMQ's address
   * scheme does not fit; `rhea` is the client users run (rhea-driver.ts), and serves every AMQP broker;
   * `amqplib` speaks AMQP 0-9-1 on the same port (amqplib-driver.ts), RabbitMQ's own protocol.
   */
  readonly client?: 'rhea' | 'amqplib';
  /** The brokers that run the scenario, when not every broker of its protocol (PROTOCOL_BROKERS) does. */
  readonly brokers?: readonly BrokerName[];
  /** MQTT only: the QoS of every PUBLISH and of every subscription (0 when absent). */
  readonly qos?: 0 | 1;
  /**
   * MQTT only: no messages; open this many connections (CONNECT, wait for CONNACK, keep-alive 0) and
   * measure the connect rate and the broker's resident memory per connection (mqtt-idle.ts).
   */
  readonly idleConnections?: number;
  /** Idle scenarios: the keep-alive each CONNECT asks for, in seconds (0 when absent). */
  readonly idleKeepAlive?: number;
  /** Idle scenarios: measure a broker as it is, without the warm-up of 2,000 connections first. */
  readonly idleCold?: boolean;
  /**
   * The name of the scenario whose traffic this one repeats over TLS, every connection logging in
   * and every operation checked against authorization rules, on a broker started for it (secure.ts).
   */
  readonly secureOf?: string;
}

const PLAIN_SCENARIOS: readonly Scenario[] = [
  {
    name: 'queue-1-1',
    summary: 'STOMP queue, 1 producer -> 1 consumer, non-persistent, 1 KiB bodies',
    protocol: 'stomp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: false,
  },
  {
    name: 'queue-1-1-persistent',
    summary: 'STOMP queue, 1 producer -> 1 consumer, persistent, 1 KiB bodies, a receipt for every SEND',
    protocol: 'stomp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
  },
  {
    name: 'queue-10-10-persistent',
    summary: 'STOMP queue, 10 producers -> 10 consumers, persistent, 1 KiB bodies, a receipt for every SEND',
    protocol: 'stomp',
    kind: 'queue',
    producers: 10,
    consumers: 10,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
  },
  {
    name: 'queue-1-1-persistent-rate-500',
    summary: 'STOMP queue, 1 producer -> 1 consumer, persistent, 1 KiB bodies, receipts, paced at 500 msgs/s: latency when the disk is not the limit',
    protocol: 'stomp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
    ratePerSecond: 500,
  },
  {
    name: 'queue-1-1-persistent-rate-5k',
    summary: 'queue-1-1-persistent paced at 5,000 msgs/s: CPU per durable message at a rate the rhea client also sustains',
    protocol: 'stomp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
    ratePerSecond: 5000,
  },
  {
    name: 'queue-1-1-rate-5k',
    summary: 'STOMP queue, 1 producer -> 1 consumer, non-persistent, 1 KiB bodies, paced at 5,000 msgs/s',
    protocol: 'stomp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: false,
    ratePerSecond: 5000,
  },
  {
    name: 'queue-selectors-4',
    summary: "STOMP queue, 1 producer -> 4 consumers, each with its own selector (shard = '0'..'3'), non-persistent, 1 KiB bodies",
    protocol: 'stomp',
    kind: 'queue',
    producers: 1,
    consumers: 4,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: false,
    selectorPartition: { header: 'shard' },
  },
  {
    name: 'topic-1-10',
    summary: 'STOMP topic, 1 producer -> 10 subscribers, non-persistent, 256 B bodies',
    protocol: 'stomp',
    kind: 'topic',
    producers: 1,
    consumers: 10,
    bodyBytes: 256,
    persistent: false,
    confirmSends: false,
  },
  {
    name: 'topic-1-10-rate-1k',
    summary: 'STOMP topic, 1 producer -> 10 subscribers, non-persistent, 256 B bodies, paced at 1,000 msgs/s: latency at light load',
    protocol: 'stomp',
    kind: 'topic',
    producers: 1,
    consumers: 10,
    bodyBytes: 256,
    persistent: false,
    confirmSends: false,
    ratePerSecond: 1000,
  },
  {
    name: 'queue-1-1-amqp',
    summary: 'AMQP 1.0 queue, 1 producer -> 1 consumer, non-persistent, 1 KiB bodies, pre-settled both ways (Ferry only)',
    protocol: 'amqp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: false,
    brokers: ['ferry'],
  },
  {
    name: 'queue-1-1-amqp-persistent',
    summary: 'AMQP 1.0 queue, 1 producer -> 1 consumer, durable, 1 KiB bodies, every transfer settled by the broker (Ferry only)',
    protocol: 'amqp',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
    brokers: ['ferry'],
  },
  {
    name: 'queue-1-1-amqp-rhea-persistent',
    summary: 'AMQP 1.0 with rhea, queue, 1 producer -> 1 consumer, durable, 1 KiB bodies, at most --receipt-window unsettled sends, consumer credit 1000, auto-accept',
    protocol: 'amqp',
    client: 'rhea',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
  },
  {
    name: 'queue-1-1-amqp091-persistent',
    summary: 'AMQP 0-9-1 with amqplib, durable queue, 1 producer -> 1 consumer, persistent 1 KiB bodies, publisher confirms (at most --receipt-window unconfirmed), manual acks, prefetch 1000',
    protocol: 'amqp',
    client: 'amqplib',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
  },
  {
    name: 'queue-1-1-amqp091',
    summary: 'queue-1-1-amqp091-persistent with transient messages: what the AMQP 0-9-1 path costs without the disk',
    protocol: 'amqp',
    client: 'amqplib',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: true,
  },
  {
    name: 'queue-1-1-amqp091-persistent-rate-1k',
    summary: 'queue-1-1-amqp091-persistent paced at 1,000 msgs/s: latency at light load over AMQP 0-9-1, against RabbitMQ',
    protocol: 'amqp',
    client: 'amqplib',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
    ratePerSecond: 1000,
  },
  {
    name: 'fanout-1-10-amqp091',
    summary: 'AMQP 0-9-1 with amqplib, a fanout exchange to 10 queues (one consumer each, no-ack), transient 1 KiB bodies',
    protocol: 'amqp',
    client: 'amqplib',
    kind: 'topic',
    producers: 1,
    consumers: 10,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: false,
  },
  {
    name: 'queue-1-1-amqp-rhea-persistent-rate-1k',
    summary: 'queue-1-1-amqp-rhea-persistent paced at 1,000 msgs/s: latency at light load',
    protocol: 'amqp',
    client: 'rhea',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
    ratePerSecond: 1000,
  },
  {
    name: 'queue-1-1-amqp-rhea-persistent-rate-5k',
    summary: 'queue-1-1-amqp-rhea-persistent paced at 5,000 msgs/s: CPU per message against queue-1-1-persistent-rate-5k, the same rate over STOMP',
    protocol: 'amqp',
    client: 'rhea',
    kind: 'queue',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: true,
    confirmSends: true,
    ratePerSecond: 5000,
  },
  {
    name: 'mqtt-qos0-topic-1-10',
    summary: 'MQTT 3.1.1 QoS 0, 1 publisher -> 10 subscribers on one topic, 256 B payloads',
    protocol: 'mqtt',
    kind: 'topic',
    producers: 1,
    consumers: 10,
    bodyBytes: 256,
    persistent: false,
    confirmSends: false,
    qos: 0,
  },
  {
    name: 'mqtt-qos1-1-1',
    summary: 'MQTT 3.1.1 QoS 1, 1 publisher -> 1 subscriber (QoS 1), 1 KiB payloads, at most --receipt-window PUBLISHes without their PUBACK',
    protocol: 'mqtt',
    kind: 'topic',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: true,
    qos: 1,
  },
  {
    name: 'mqtt-qos1-1-1-rate-1k',
    summary: 'mqtt-qos1-1-1 paced at 1,000 msgs/s: latency at light load',
    protocol: 'mqtt',
    kind: 'topic',
    producers: 1,
    consumers: 1,
    bodyBytes: 1024,
    persistent: false,
    confirmSends: true,
    qos: 1,
    ratePerSecond: 1000,
  },
  {
    name: 'mqtt-idle-10k',
    summary: 'MQTT 3.1.1, 10,000 idle connections (keep-alive 0): connections/s and broker memory per connection',
    protocol: 'mqtt',
    kind: 'topic',
    producers: 0,
    consumers: 0,
    bodyBytes: 0,
    persistent: false,
    confirmSends: false,
    idleConnections: 10_000,
  },
  {
    name: 'mqtt-idle-2k-cold',
    summary: 'MQTT 3.1.1, 2,000 idle connections (keep-alive 60) on a broker not warmed up: broker memory per connection',
    protocol: 'mqtt',
    kind: 'topic',
    producers: 0,
    consumers: 0,
    bodyBytes: 0,
    persistent: false,
    confirmSends: false,
    idleConnections: 2000,
    idleKeepAlive: 60,
    idleCold: true,
  },
];

/**
 * `<name>-secure`: the same traffic as `name` over TLS, with a user that logs in and authorization
 * rules checked on every send and subscription, against Ferry and ActiveMQ (the brokers whose
 * security is compared; see bench/README.md).
 */
function secureVariant(name: string): Scenario {
  const plain = PLAIN_SCENARIOS.find((s) => s.name === name);
  if (plain === undefined) throw new Error(`no scenario ${name} to make secure`);
  return {
    ...plain,
    name: `${name}-secure`,
    summary: `${name} over TLS, logged in, every operation authorized`,
    brokers: ['ferry', 'activemq'],
    secureOf: name,
  };
}

export const SCENARIOS: readonly Scenario[] = [
  ...PLAIN_SCENARIOS,
  secureVariant('queue-1-1-persistent'),
  secureVariant('mqtt-qos1-1-1'),
];

/**
 * The brokers that serve each protocol (Debian's ActiveMQ has no AMQP; Mosquitto is MQTT only; the
 * benchmark starts RabbitMQ for its AMQP port: AMQP 1.0 through rhea, and its own AMQP 0-9-1 through amqplib).
 */
export const PROTOCOL_BROKERS: Readonly<Record<Protocol, readonly BrokerName[]>> = {
  stomp: ['ferry', 'activemq'],
  amqp: ['ferry', 'rabbitmq'],
  mqtt: ['ferry', 'mosquitto', 'activemq'],
};

/** The brokers that run a scenario. */
export function scenarioBrokers(scenario: Scenario): readonly BrokerName[] {
  return scenario.brokers ?? PROTOCOL_BROKERS[scenario.protocol];
}

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

/**
 * How many distinct sets of extra SEND headers the messages cycle through: message `seq` gets set
 * `seq % sendHeaderCycle(scenario)`, so the producer encodes one frame per set and never per message.
 */
export function sendHeaderCycle(scenario: Scenario): number {
  return scenario.selectorPartition === undefined ? 1 : scenario.consumers;
}

/** The scenario's extra SEND headers for message `seq` (the same for every message of a cycle position). */
export function sendHeadersFor(scenario: Scenario, seq: number): Array<readonly [string, string]> {
  const headers = [...(scenario.sendHeaders ?? [])];
  const partition = scenario.selectorPartition;
  if (partition !== undefined) headers.push([partition.header, String(seq % scenario.consumers)]);
  return headers;
}

/** The scenario's extra SUBSCRIBE headers for consumer `consumerIndex`. */
export function subscribeHeadersFor(scenario: Scenario, consumerIndex: number): Array<readonly [string, string]> {
  const headers = [...(scenario.subscribeHeaders ?? [])];
  const partition = scenario.selectorPartition;
  if (partition !== undefined) headers.push(['selector', `${partition.header} = '${consumerIndex}'`]);
  return headers;
}

/** Whether consumer `consumerIndex` may receive message `seq`: false only for a message its selector excludes. */
export function consumerTakes(scenario: Scenario, consumerIndex: number, seq: number): boolean {
  return scenario.selectorPartition === undefined || seq % scenario.consumers === consumerIndex;
}

/** How many groups of consumers each expect every message: one per topic subscriber, one per queue. */
export function groupCount(scenario: Scenario): number {
  return scenario.kind === 'topic' ? scenario.consumers : 1;
}

export function groupOf(scenario: Scenario, consumerIndex: number): number {
  return scenario.kind === 'topic' ? consumerIndex : 0;
}

/**
 * Consumer threads for a scenario. A topic's subscribers are split over two threads: one thread
 * parsing ten subscribers' deliveries saturated its core before Ferry did, which measured the load
 * generator instead of the broker. A queue's consumers share one group, so they stay in one thread.
 */
export function consumerShards(scenario: Scenario): number {
  return scenario.kind === 'topic' ? Math.min(2, scenario.consumers) : 1;
}

/** The consumer indices that shard `shard` runs. */
export function shardConsumers(scenario: Scenario, shard: number): number[] {
  const shards = consumerShards(scenario);
  return Array.from({ length: scenario.consumers }, (_, i) => i).filter((i) => i % shards === shard);
}

export function counterLayout(scenario: Scenario): CounterLayout {
  return { groups: groupCount(scenario), producers: scenario.producers, shards: consumerShards(scenario), combine: scenario.kind === 'topic' ? 'min' : 'sum' };
}
