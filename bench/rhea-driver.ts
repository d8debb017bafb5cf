// AMQP 1.0 through rhea, the client users run, for scenarios with `client: 'rhea'`: the same client
// against Ferry and RabbitMQ. Unlike the benchmark's own AMQP client (amqp-driver.ts), each message
// is encoded by rhea, so the load generator spends more per message; both brokers see the same
// client, and what the scenarios compare is the broker's CPU per message and the latency.
//
// The producer sends unsettled transfers (rhea's default) and counts the broker's `accepted` as its
// receipt, keeping at most --receipt-window unsettled. The consumer takes unsettled deliveries with
// rhea's credit window of 1000 and auto-accept, so the broker forgets a message only once the
// consumer has accepted it. Stamps travel as application properties (`producer`, `seq`, `ts`,
// `phase`), as STOMP headers do.

import { createRequire } from 'node:module';
import type { AmqpError, Connection, ConnectionOptions, Container, EventContext, Receiver, Sender } from 'rhea';
import { rabbitQueueAddress } from './rabbitmq.js';
import { nowUs, stampUs } from './clock.js';
import type { SendSchedule } from './clock.js';
import type { ConsumerEvents, ConsumerLink, FailureHandler, Phase, ProducerLink, ProtocolDriver, Target } from './drivers.js';
import type { Scenario } from './scenarios.js';

const require = createRequire(import.meta.url);
/** rhea is CommonJS whose exports Node cannot list for an ES import; its typings describe the container. */
const rhea = require('rhea') as Container;

/** The consumer's credit: rhea's default window, topped up by rhea as messages arrive. */
const CONSUMER_CREDIT = 1000;
/** Sends per turn of the producer's loop; the receipt window (100 by default) usually limits it first. */
const BATCH = 64;

/**
 * The queue's address on each broker. RabbitMQ declares the queue on the first attach to
 * `/queue/NAME`; a terminus marked durable makes that queue durable, without which RabbitMQ would
 * keep durable messages in memory only and the comparison would not be of durable messages.
 */
function address(scenario: Scenario, target: Target): string {
  if (scenario.kind === 'topic') throw new Error('rhea scenarios are queues');
  return target.broker === 'rabbitmq' ? rabbitQueueAddress(target.destination) : target.destination;
}
/** terminus-durability `unsettled-state` (2): RabbitMQ declares a durable queue for it. */
const DURABLE_TERMINUS = 2;

async function connect(target: Target, onFailure: FailureHandler, what: string): Promise<{ connection: Connection; closing: () => void }> {
  const container = rhea.create_container({ id: `bench-${what}-${Math.random().toString(36).slice(2)}` });
  // guest/guest is RabbitMQ's default account; Ferry without authentication takes any
  const options = { host: target.host, port: target.port, reconnect: false, username: 'guest', password: 'guest' } as ConnectionOptions;
  const connection = container.connect(options);
  let closing = false;
  const failed = (ctx: EventContext): void => {
    if (!closing) onFailure(new Error(`${what}: ${(ctx.connection.error as AmqpError | undefined)?.description ?? 'the broker closed the connection'}`));
  };
  connection.on('connection_error', failed);
  connection.on('disconnected', failed);
  connection.on('error', failed);
  await new Promise<void>((resolve, reject) => {
    connection.once('connection_open', () => resolve());
    connection.once('disconnected', () => reject(new Error(`${what}: could not connect to ${target.host}:${target.port}`)));
  });
  return { connection, closing: () => (closing = true) };
}

function closeConnection(connection: Connection, closing: () => void): Promise<void> {
  closing();
  if (!connection.is_open()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    connection.once('connection_close', () => {
      clearTimeout(timer);
      resolve();
    });
    connection.close();
  });
}

function opened<T extends Sender | Receiver>(link: T, kind: 'sender' | 'receiver', where: string): Promise<T> {
  return new Promise((resolve, reject) => {
    link.once(`${kind}_open`, () => resolve(link));
    link.once(`${kind}_error`, (ctx: EventContext) => reject(new Error(`the broker refused to attach to ${where}: ${(ctx[kind]?.error as AmqpError | undefined)?.description ?? ''}`)));
    link.once(`${kind}_close`, () => reject(new Error(`the broker closed the link to ${where}`)));
  });
}

class RheaProducer implements ProducerLink {
  readonly batchSize = BATCH;
  unconfirmed = 0;
  private confirmWaiters: (() => void)[] = [];
  private creditWaiters: (() => void)[] = [];
  private readonly body: Buffer;

  constructor(
    private readonly sender: Sender,
    private readonly connection: Connection,
    private readonly closing: () => void,
    private readonly scenario: Scenario,
    private readonly index: number,
    onFailure: FailureHandler,
  ) {
    this.body = Buffer.alloc(scenario.bodyBytes, 'x');
    sender.on('accepted', () => this.settled());
    const refused = (ctx: EventContext): void => onFailure(new Error(`the broker did not accept a message (${ctx.delivery?.remote_state?.constructor?.name ?? 'refused'})`));
    sender.on('rejected', refused);
    sender.on('released', refused);
    sender.on('modified', refused);
    sender.on('sendable', () => {
      const waiters = this.creditWaiters;
      this.creditWaiters = [];
      for (const wake of waiters) wake();
    });
  }

  private settled(): void {
    this.unconfirmed--;
    const waiters = this.confirmWaiters;
    if (waiters.length === 0) return;
    this.confirmWaiters = [];
    for (const wake of waiters) wake();
  }

  /** False when the broker's credit ran out before every message went: wait for drained(). */
  send(firstSeq: number, count: number, phase: Phase, schedule?: SendSchedule): boolean {
    const now = nowUs();
    const phaseMark = phase === 'warmup' ? 'w' : 'm';
    for (let i = 0; i < count; i++) {
      // rhea queues a message for which it has no credit and sends it when credit comes
      this.sender.send({
        durable: this.scenario.persistent,
        application_properties: { producer: String(this.index), seq: String(firstSeq + i), ts: String(stampUs(schedule, now, i)), phase: phaseMark },
        body: this.body,
      });
      if (this.scenario.confirmSends) this.unconfirmed++;
    }
    return this.sender.sendable();
  }

  drained(): Promise<void> {
    if (this.sender.sendable()) return Promise.resolve();
    return new Promise((resolve) => this.creditWaiters.push(resolve));
  }

  confirmed(): Promise<void> {
    return new Promise((resolve) => this.confirmWaiters.push(resolve));
  }

  close(): Promise<void> {
    return closeConnection(this.connection, this.closing);
  }
}

function property(props: Record<string, unknown> | undefined, name: string): number {
  const value = props?.[name];
  return typeof value === 'string' || typeof value === 'number' ? Number(value) : Number.NaN;
}

export const rheaDriver: ProtocolDriver = {
  async openProducer(target, scenario, index, onFailure): Promise<ProducerLink> {
    const where = address(scenario, target);
    const { connection, closing } = await connect(target, onFailure, `producer ${index}`);
    const sender = await opened(connection.open_sender({ target: { address: where, durable: DURABLE_TERMINUS } }), 'sender', where);
    return new RheaProducer(sender, connection, closing, scenario, index, onFailure);
  },

  async openConsumer(target, scenario, index, events: ConsumerEvents, onFailure): Promise<ConsumerLink> {
    const where = address(scenario, target);
    const { connection, closing } = await connect(target, onFailure, `consumer ${index}`);
    const receiver = connection.open_receiver({ source: { address: where, durable: DURABLE_TERMINUS }, credit_window: CONSUMER_CREDIT, autoaccept: true });
    // rhea hands over the messages of one socket read one after another in one turn: the counters
    // are published once that turn is over, as the other drivers do after each read
    let publishing = false;
    const publish = (): void => {
      publishing = false;
      events.readEnd();
    };
    receiver.on('message', (ctx: EventContext) => {
      const recvUs = nowUs();
      const props = ctx.message?.application_properties as Record<string, unknown> | undefined;
      const phase: Phase = props?.['phase'] === 'w' ? 'warmup' : 'measure';
      events.message(property(props, 'producer'), property(props, 'seq'), property(props, 'ts'), phase, recvUs);
      if (!publishing) {
        publishing = true;
        setImmediate(publish);
      }
    });
    await opened(receiver, 'receiver', where);
    return { close: () => closeConnection(connection, closing) };
  },
};
