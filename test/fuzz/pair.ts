import type { ConfirmChannel, ChannelModel } from 'amqplib';
import { connectAmqp } from '../helpers/amqp.js';
import { connect091 } from '../helpers/amqp091.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * A well-behaved producer and consumer that run while a decoder is fuzzed: the producer sends
 * persistent messages and counts those the broker confirmed; the consumer acknowledges what it gets.
 * At the end every confirmed message must have arrived.
 */
export interface PairCounts {
  readonly protocol: string;
  readonly sent: number;
  readonly confirmed: number;
  readonly received: number;
  /** Confirmed and never received. */
  readonly lost: number;
  /** Received more than once. */
  readonly duplicates: number;
  /** What went wrong on the pair's own connections, if anything did. */
  readonly errors: readonly string[];
}

export interface RunningPair {
  /** Stops sending, waits for every confirmed message (up to `drainMs`), and counts. */
  stop(drainMs?: number): Promise<PairCounts>;
}

/** One protocol's side of the pair: a way to send with confirmation, and to consume with acknowledgement. */
interface PairLink {
  /** Resolves when the broker has confirmed the message. */
  send(n: number): Promise<void>;
  close(): Promise<void>;
}

type Consume = (onMessage: (n: number) => void, onError: (what: string) => void) => Promise<PairLink>;
type Produce = (onError: (what: string) => void) => Promise<PairLink>;

const parse = (body: string): number => Number(body.slice('pair-'.length));

function stompPair(port: number, queue: string): { consume: Consume; produce: Produce } {
  return {
    async consume(onMessage, onError) {
      const c = await connectStomp(port);
      let closing = false;
      void c.closed.then(() => !closing && onError('the STOMP consumer was disconnected'));
      c.client.subscribe(`/queue/${queue}`, (m) => {
        onMessage(parse(m.body));
        m.ack();
      }, { ack: 'client-individual' });
      return {
        send: () => Promise.reject(new Error('a consumer')),
        close: () => {
          closing = true;
          return c.disconnect();
        },
      };
    },
    async produce(onError) {
      const p = await connectStomp(port);
      let closing = false;
      void p.closed.then(() => !closing && onError('the STOMP producer was disconnected'));
      return {
        send: (n) => p.sendConfirmed(`/queue/${queue}`, `pair-${n}`, { persistent: 'true' }),
        close: () => {
          closing = true;
          return p.disconnect();
        },
      };
    },
  };
}

function mqttPair(port: number, queue: string): { consume: Consume; produce: Produce } {
  const topic = `fuzz/pair/${queue}`;
  return {
    async consume(onMessage, onError) {
      const c = await connectMqtt(port, { protocolVersion: 5, clientId: `${queue}-consumer`, clean: true });
      let closing = false;
      void c.closed.then(() => !closing && onError('the MQTT consumer was disconnected'));
      c.client.on('message', (_topic, payload) => onMessage(parse(payload.toString())));
      await c.subscribe(topic, { qos: 1 });
      return {
        send: () => Promise.reject(new Error('a consumer')),
        close: () => {
          closing = true;
          return c.end();
        },
      };
    },
    async produce(onError) {
      const p = await connectMqtt(port, { protocolVersion: 5, clientId: `${queue}-producer`, clean: true });
      let closing = false;
      void p.closed.then(() => !closing && onError('the MQTT producer was disconnected'));
      return {
        send: (n) => p.publish(topic, `pair-${n}`, { qos: 1 }),
        close: () => {
          closing = true;
          return p.end();
        },
      };
    },
  };
}

function amqpPair(port: number, queue: string): { consume: Consume; produce: Produce } {
  return {
    async consume(onMessage, onError) {
      const c = await connectAmqp(port);
      let closing = false;
      void c.closed.then(() => !closing && onError('the AMQP 1.0 consumer was disconnected'));
      const { receiver } = await c.openReceiver({ source: queue, autoaccept: true });
      receiver.on('message', (ctx) => onMessage(parse(String(ctx.message?.body))));
      return {
        send: () => Promise.reject(new Error('a consumer')),
        close: () => {
          closing = true;
          return c.close();
        },
      };
    },
    async produce(onError) {
      const p = await connectAmqp(port);
      let closing = false;
      void p.closed.then(() => !closing && onError('the AMQP 1.0 producer was disconnected'));
      const sender = await p.openSender(queue);
      return {
        async send(n) {
          const outcome = await p.send(sender, { body: `pair-${n}`, durable: true });
          if (outcome.state !== 'accepted') throw new Error(`AMQP 1.0 send ${n}: ${outcome.state}`);
        },
        close: () => {
          closing = true;
          return p.close();
        },
      };
    },
  };
}

function amqp091Pair(port: number, queue: string): { consume: Consume; produce: Produce } {
  const watch = (model: ChannelModel, what: string, onError: (what: string) => void): (() => Promise<void>) => {
    let closing = false;
    model.on('error', () => {});
    model.on('close', () => !closing && onError(`the AMQP 0-9-1 ${what} was disconnected`));
    return async () => {
      closing = true;
      await model.close();
    };
  };
  return {
    async consume(onMessage, onError) {
      const model = await connect091(port);
      const close = watch(model, 'consumer', onError);
      const ch = await model.createChannel();
      await ch.assertQueue(queue);
      await ch.consume(queue, (m) => {
        if (m === null) return;
        onMessage(parse(m.content.toString()));
        ch.ack(m);
      });
      return { send: () => Promise.reject(new Error('a consumer')), close };
    },
    async produce(onError) {
      const model = await connect091(port);
      const close = watch(model, 'producer', onError);
      const ch: ConfirmChannel = await model.createConfirmChannel();
      await ch.assertQueue(queue);
      return {
        send: (n) =>
          new Promise<void>((resolve, reject) => {
            ch.sendToQueue(queue, Buffer.from(`pair-${n}`), { persistent: true }, (err) => (err === null || err === undefined ? resolve() : reject(new Error(`AMQP 0-9-1 send ${n} nacked`))));
          }),
        close,
      };
    },
  };
}

export type PairProtocol = 'stomp' | 'mqtt' | 'amqp' | 'amqp091';

/**
 * Starts a pair on `protocol` (its port in `ports`), sending at most `rate` messages a second so
 * that it shares the machine with the fuzzing rather than competing with it.
 */
export async function startPair(protocol: PairProtocol, ports: Readonly<Record<string, number>>, name: string, rate = 200): Promise<RunningPair> {
  const port = ports[protocol === 'amqp091' ? 'amqp' : protocol];
  if (port === undefined || port === 0) throw new Error(`no ${protocol} listener for the pair`);
  const queue = `fuzz.pair.${name}`;
  const links = protocol === 'stomp' ? stompPair(port, queue) : protocol === 'mqtt' ? mqttPair(port, queue) : protocol === 'amqp' ? amqpPair(port, queue) : amqp091Pair(port, queue);
  const errors: string[] = [];
  const received = new Map<number, number>();
  let wake: (() => void) | undefined;
  const consumer = await links.consume((n) => {
    received.set(n, (received.get(n) ?? 0) + 1);
    wake?.();
  }, (what) => errors.push(what));
  const producer = await links.produce((what) => errors.push(what));
  const confirmed = new Set<number>();
  let sent = 0;
  let stopping = false;
  const window = 4;
  const sending = (async () => {
    const started = Date.now();
    const inFlight = new Set<Promise<void>>();
    while (!stopping && errors.length === 0) {
      // pacing, not synchronisation: the pair is traffic beside the fuzzing, not a load test
      const due = started + (sent * 1000) / rate;
      if (Date.now() < due) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      if (inFlight.size >= window) await Promise.race(inFlight);
      const n = ++sent;
      const p = producer.send(n).then(
        () => void confirmed.add(n),
        (err: unknown) => void errors.push(`send ${n}: ${err instanceof Error ? err.message : String(err)}`),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
  })();
  return {
    async stop(drainMs = 30_000) {
      stopping = true;
      await sending;
      const deadline = Date.now() + drainMs;
      while ([...confirmed].some((n) => !received.has(n)) && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      await producer.close().catch(() => undefined);
      await consumer.close().catch(() => undefined);
      const lost = [...confirmed].filter((n) => !received.has(n)).length;
      const duplicates = [...received.values()].filter((count) => count > 1).length;
      return { protocol, sent, confirmed: confirmed.size, received: received.size, lost, duplicates, errors };
    },
  };
}
