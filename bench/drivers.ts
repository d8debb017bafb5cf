// What the load generator needs from a protocol: a producer that writes stamped messages in batches
// and a consumer that reports them. Each protocol implements this once; scenarios pick one by name.

import type { BrokerName, ClientSecurity } from './broker.js';
import type { SendSchedule } from './clock.js';
import type { Scenario } from './scenarios.js';
import { amqpDriver } from './amqp-driver.js';
import { amqplibDriver } from './amqplib-driver.js';
import { mqttDriver } from './mqtt-driver.js';
import { rheaDriver } from './rhea-driver.js';
import { stompDriver } from './stomp-driver.js';

/** Warm-up messages only fill the pipes; only measured ones are counted, timed and checked. */
export type Phase = 'warmup' | 'measure';

export interface Target {
  /** Which broker listens: the address of a queue differs between brokers for some protocols. */
  readonly broker: BrokerName;
  readonly host: string;
  readonly port: number;
  /** Unique to one scenario run, so that runs never see each other's messages, e.g. `bench.queue-1-1.k3x9`. */
  readonly destination: string;
  /** A secure scenario's port: connect with TLS trusting `ca`, and log in as `user`. */
  readonly secure?: ClientSecurity;
}

export interface ProducerLink {
  /**
   * Writes `count` messages numbered `firstSeq`, `firstSeq + 1`…, stamped with the current time, or
   * with their due times when `schedule` is given.
   * Returns false when the socket's buffer is full: wait for drained() before sending again.
   */
  send(firstSeq: number, count: number, phase: Phase, schedule?: SendSchedule): boolean;
  drained(): Promise<void>;
  /** Sends the broker has not yet confirmed; always 0 unless the scenario confirms sends. */
  readonly unconfirmed: number;
  /** Resolves at the next confirmation. */
  confirmed(): Promise<void>;
  /** A good batch size in messages for this scenario's frames. */
  readonly batchSize: number;
  close(): Promise<void>;
}

export interface ConsumerEvents {
  /** One received message: who sent it, its number, when it was sent and received (µs, nowUs()). */
  message(producer: number, seq: number, sentUs: number, phase: Phase, recvUs: number): void;
  /** Called after each socket read, so that counters are published once per read, not per message. */
  readEnd(): void;
}

export interface ConsumerLink {
  close(): Promise<void>;
}

export type FailureHandler = (err: Error) => void;

export interface ProtocolDriver {
  openProducer(target: Target, scenario: Scenario, index: number, onFailure: FailureHandler): Promise<ProducerLink>;
  /** Resolves only once the broker has confirmed the subscription (a topic would drop earlier messages). */
  openConsumer(
    target: Target,
    scenario: Scenario,
    index: number,
    events: ConsumerEvents,
    onFailure: FailureHandler,
  ): Promise<ConsumerLink>;
}

/** The driver of a scenario: its protocol's, or for AMQP with `client: 'rhea'` or `'amqplib'` (AMQP 0-9-1), that client's. */
export function driverFor(scenario: Scenario): ProtocolDriver {
  if (scenario.protocol === 'amqp') return scenario.client === 'rhea' ? rheaDriver : scenario.client === 'amqplib' ? amqplibDriver : amqpDriver;
  return scenario.protocol === 'mqtt' ? mqttDriver : stompDriver;
}
