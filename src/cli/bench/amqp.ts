import { createRequire } from 'node:module';
import type { AmqpError, Connection, ConnectionOptions, Container, EventContext, Receiver, Sender } from 'rhea';
import type { BenchConsumer, BenchProducer, BenchProtocol, BenchTarget } from './links.js';

/**
 * AMQP 1.0 through rhea, the client Node users of AMQP 1.0 run: a persistent send is settled by the
 * broker's `accepted`; the consumer takes unsettled deliveries with a credit window of 1000 and
 * accepts each as it arrives.
 */

const require = createRequire(import.meta.url);
/** rhea is CommonJS whose exports Node cannot list for an ES import; its typings describe the container. */
const rhea = require('rhea') as Container;

const address = (target: BenchTarget): string => `${target.kind}://${target.name}`;

async function connect(target: BenchTarget, onFailure: (err: Error) => void): Promise<{ connection: Connection; close: () => Promise<void> }> {
  const container = rhea.create_container({ id: `ferry-bench-${Math.random().toString(36).slice(2)}` });
  const options: ConnectionOptions = { host: target.host, port: target.port, reconnect: false, ...(target.tls ? { transport: 'tls' } : {}), ...(target.ca === undefined ? {} : { ca: target.ca }) };
  if (target.user !== undefined) Object.assign(options, { username: target.user, password: target.password ?? '' });
  const connection = container.connect(options);
  let closing = false;
  const failed = (ctx: EventContext): void => {
    if (!closing) onFailure(new Error(`AMQP: ${(ctx.connection.error as AmqpError | undefined)?.description ?? 'the broker closed the connection'}`));
  };
  connection.on('connection_error', failed);
  connection.on('disconnected', failed);
  await new Promise<void>((resolve, reject) => {
    connection.once('connection_open', () => resolve());
    connection.once('disconnected', (ctx: EventContext) => {
      const cause = ctx.error as NodeJS.ErrnoException | undefined;
      // the socket's code (ECONNREFUSED...) tells a broker that is not there from one that refused the login
      reject(Object.assign(new Error(`AMQP: the connection to ${target.host}:${target.port} ended before it opened: ${cause?.message ?? 'closed'}`), { code: cause?.code }));
    });
  });
  return {
    connection,
    close: () => {
      closing = true;
      if (!connection.is_open()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        // a broker that never answers the close must not keep the run from its summary
        const timer = setTimeout(resolve, 2000);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        connection.once('connection_close', done);
        connection.once('disconnected', done);
        connection.close();
      });
    },
  };
}

function opened<T extends Sender | Receiver>(link: T, kind: 'sender' | 'receiver', where: string): Promise<T> {
  return new Promise((resolve, reject) => {
    link.once(`${kind}_open`, () => resolve(link));
    link.once(`${kind}_error`, (ctx: EventContext) => reject(new Error(`AMQP: the broker refused to attach to ${where}: ${(ctx[kind]?.error as AmqpError | undefined)?.description ?? ''}`)));
  });
}

export const amqpBench: BenchProtocol = {
  defaultPort: 5672,

  async producer(target, onFailure): Promise<BenchProducer> {
    const { connection, close } = await connect(target, onFailure);
    const where = address(target);
    // non-persistent messages go pre-settled (at most once), as a fire-and-forget client sends them
    const sender = await opened(connection.open_sender({ target: { address: where }, snd_settle_mode: target.persistent ? 0 : 1 }), 'sender', where);
    const waiting = new Map<unknown, { resolve: () => void; reject: (err: Error) => void }>();
    sender.on('accepted', (ctx: EventContext) => {
      waiting.get(ctx.delivery)?.resolve();
      waiting.delete(ctx.delivery);
    });
    const refused = (ctx: EventContext): void => {
      waiting.get(ctx.delivery)?.reject(new Error(`AMQP: the broker did not accept a message to ${where}`));
      waiting.delete(ctx.delivery);
    };
    sender.on('rejected', refused);
    sender.on('released', refused);
    // every send of the producer's window may be waiting at once; each must hear of the credit
    const blocked: (() => void)[] = [];
    // rhea says "sendable" when credit arrives; a settlement that frees the session's window says nothing, so both wake the sender
    const wake = (): void => {
      for (const resume of blocked.splice(0)) resume();
    };
    sender.on('sendable', wake);
    sender.on('settled', wake);
    return {
      async send(body) {
        while (!sender.sendable()) await new Promise<void>((resolve) => blocked.push(resolve));
        const delivery = sender.send({ body: rhea.message.data_section(body), durable: target.persistent });
        if (!target.persistent) return;
        await new Promise<void>((resolve, reject) => waiting.set(delivery, { resolve, reject }));
      },
      close,
    };
  },

  async consumer(target, onMessage, onFailure): Promise<BenchConsumer> {
    const { connection, close } = await connect(target, onFailure);
    const where = address(target);
    const receiver = connection.open_receiver({ source: { address: where }, credit_window: 1000, autoaccept: true });
    receiver.on('message', (ctx: EventContext) => {
      const body = (ctx.message?.body as { content?: unknown } | undefined)?.content;
      if (Buffer.isBuffer(body)) onMessage(body);
    });
    await opened(receiver, 'receiver', where);
    return { close };
  },
};
