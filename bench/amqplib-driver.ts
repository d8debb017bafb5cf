// AMQP 0-9-1 through amqplib, the client Node users of RabbitMQ run, for scenarios with
// `client: 'amqplib'`: the same client against Ferry (0-9-1 on its AMQP port) and RabbitMQ.
//
// Queue scenarios: a durable queue named after the run; the producer publishes to the default
// exchange on a confirm channel, keeping at most --receipt-window publishes unconfirmed; the consumer
// takes with manual acknowledgements and a prefetch of 1000, acknowledging what one socket read
// brought with one basic.ack (multiple). Topic scenarios are a fanout exchange named after the run:
// each consumer declares its own exclusive queue bound to it and consumes with no-ack. Stamps travel
// as headers (`producer`, `seq`, `ts`, `phase`), as STOMP headers do.

import amqplib, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { nowUs, stampUs } from './clock.js';
import type { SendSchedule } from './clock.js';
import type { ConsumerEvents, ConsumerLink, FailureHandler, Phase, ProducerLink, ProtocolDriver, Target } from './drivers.js';
import type { Scenario } from './scenarios.js';

const PREFETCH = 1000;
const BATCH = 64;

async function connect(target: Target, onFailure: FailureHandler, what: string): Promise<{ connection: ChannelModel; closing: () => void }> {
  // guest/guest is RabbitMQ's default account; Ferry without authentication takes any
  const connection = await amqplib.connect({ hostname: target.host, port: target.port, username: "guest", password: "guest", frameMax: 131072, heartbeat: 0 }, { noDelay: true });
  let closing = false;
  connection.on('error', (err: Error) => {
    if (!closing) onFailure(new Error(`${what}: ${err.message}`));
  });
  connection.on('close', () => {
    if (!closing) onFailure(new Error(`${what}: the broker closed the connection`));
  });
  return { connection, closing: () => (closing = true) };
}

async function closeConnection(connection: ChannelModel, closing: () => void): Promise<void> {
  closing();
  try {
    await connection.close();
  } catch {
    // already closed
  }
}

function exchangeOf(scenario: Scenario, target: Target): string {
  return scenario.kind === 'topic' ? target.destination : '';
}

class AmqplibProducer implements ProducerLink {
  readonly batchSize = BATCH;
  unconfirmed = 0;
  private confirmWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private readonly body: Buffer;
  private readonly exchange: string;
  private readonly routingKey: string;
  private readonly onConfirm: (err: unknown) => void;

  constructor(
    private readonly channel: Channel | ConfirmChannel,
    private readonly connection: ChannelModel,
    private readonly closing: () => void,
    private readonly scenario: Scenario,
    target: Target,
    private readonly index: number,
    onFailure: FailureHandler,
  ) {
    this.body = Buffer.alloc(scenario.bodyBytes, 'x');
    this.exchange = exchangeOf(scenario, target);
    this.routingKey = scenario.kind === 'topic' ? '' : target.destination;
    this.onConfirm = (err: unknown) => {
      if (err !== null && err !== undefined) onFailure(new Error('the broker refused a publish (basic.nack)'));
      this.unconfirmed--;
      const waiters = this.confirmWaiters;
      if (waiters.length === 0) return;
      this.confirmWaiters = [];
      for (const wake of waiters) wake();
    };
    channel.on('drain', () => {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const wake of waiters) wake();
    });
  }

  send(firstSeq: number, count: number, phase: Phase, schedule?: SendSchedule): boolean {
    const now = nowUs();
    const phaseMark = phase === 'warmup' ? 'w' : 'm';
    let writable = true;
    for (let i = 0; i < count; i++) {
      const options = { persistent: this.scenario.persistent, headers: { producer: this.index, seq: firstSeq + i, ts: stampUs(schedule, now, i), phase: phaseMark } };
      if (this.scenario.confirmSends) {
        this.unconfirmed++;
        writable = (this.channel as ConfirmChannel).publish(this.exchange, this.routingKey, this.body, options, this.onConfirm);
      } else {
        writable = this.channel.publish(this.exchange, this.routingKey, this.body, options);
      }
    }
    return writable;
  }

  drained(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  confirmed(): Promise<void> {
    return new Promise((resolve) => this.confirmWaiters.push(resolve));
  }

  close(): Promise<void> {
    return closeConnection(this.connection, this.closing);
  }
}

function header(msg: ConsumeMessage, name: string): number {
  const v = (msg.properties.headers as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'number' ? v : Number(v);
}

export const amqplibDriver: ProtocolDriver = {
  async openProducer(target, scenario, index, onFailure): Promise<ProducerLink> {
    const { connection, closing } = await connect(target, onFailure, `producer ${index}`);
    const channel = scenario.confirmSends ? await connection.createConfirmChannel() : await connection.createChannel();
    if (scenario.kind === 'topic') await channel.assertExchange(target.destination, 'fanout', { durable: false });
    else await channel.assertQueue(target.destination, { durable: true });
    return new AmqplibProducer(channel, connection, closing, scenario, target, index, onFailure);
  },

  async openConsumer(target, scenario, index, events: ConsumerEvents, onFailure): Promise<ConsumerLink> {
    const { connection, closing } = await connect(target, onFailure, `consumer ${index}`);
    const channel = await connection.createChannel();
    let queue = target.destination;
    const noAck = scenario.kind === 'topic';
    if (scenario.kind === 'topic') {
      await channel.assertExchange(target.destination, 'fanout', { durable: false });
      queue = (await channel.assertQueue('', { exclusive: true, durable: false })).queue;
      await channel.bindQueue(queue, target.destination, '');
    } else {
      await channel.assertQueue(queue, { durable: true });
      await channel.prefetch(PREFETCH);
    }
    // amqplib hands over the messages of one socket read one after another in one turn: one
    // acknowledgement (multiple) and one publication of the counters per turn
    let last: ConsumeMessage | undefined;
    let scheduled = false;
    const endOfRead = (): void => {
      scheduled = false;
      if (last !== undefined) channel.ack(last, true);
      last = undefined;
      events.readEnd();
    };
    await channel.consume(
      queue,
      (msg) => {
        if (msg === null) return onFailure(new Error(`consumer ${index}: the broker cancelled the consumer`));
        const recvUs = nowUs();
        const phase: Phase = (msg.properties.headers as Record<string, unknown> | undefined)?.['phase'] === 'w' ? 'warmup' : 'measure';
        events.message(header(msg, 'producer'), header(msg, 'seq'), header(msg, 'ts'), phase, recvUs);
        if (!noAck) last = msg;
        if (!scheduled) {
          scheduled = true;
          setImmediate(endOfRead);
        }
      },
      { noAck },
    );
    return { close: () => closeConnection(connection, closing) };
  },
};
