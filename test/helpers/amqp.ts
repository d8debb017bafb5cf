import { createRequire } from 'node:module';
import { Inbox } from './inbox.js';
import { connect as tcpConnect, type Socket } from 'node:net';
import type { AmqpError, Connection, ConnectionOptions, Container, Delivery, EventContext, Message, Receiver, ReceiverOptions, Sender, SenderOptions } from 'rhea';

const require = createRequire(import.meta.url);
/** rhea is CommonJS whose exports Node cannot list for an ES import; its typings describe the container. */
export const rhea = require('rhea') as Container;

export interface Received {
  readonly message: Message;
  readonly delivery: Delivery;
}

/** Messages of one receiver, taken in order with a time limit. */
export class AmqpInbox extends Inbox<Received> {
  constructor() {
    super('message', (r) => JSON.stringify(r.message.body));
  }
}

export type Outcome = { readonly state: 'accepted' | 'released' | 'modified' | 'settled' } | { readonly state: 'rejected'; readonly error: AmqpError | undefined };

export interface AmqpTestClient {
  readonly connection: Connection;
  /** The error of the broker's close frame, once the connection has closed. */
  readonly closed: Promise<AmqpError | undefined>;
  openSender(options: SenderOptions | string): Promise<Sender>;
  openReceiver(options: ReceiverOptions | string): Promise<{ receiver: Receiver; inbox: AmqpInbox }>;
  /** Sends and waits for the broker's settlement. */
  send(sender: Sender, message: Message): Promise<Outcome>;
  close(): Promise<void>;
}

/** Waits until the broker answers the attach; rejects when it refuses the link (attach then detach with an error). */
function attached<T extends Sender | Receiver>(link: T, kind: 'sender' | 'receiver'): Promise<T> {
  return new Promise((resolve, reject) => {
    // a refusal is an attach without the terminus the client asked about, then a detach with the error
    link.once(`${kind}_open`, () => {
      const terminus = (kind === 'receiver' ? link.source : link.target) as unknown;
      // rhea shows an absent terminus as a typed null
      const absent = terminus === null || terminus === undefined || (typeof terminus === 'object' && 'type' in terminus && (terminus as unknown as { value: unknown }).value === null);
      if (!absent) resolve(link);
    });
    link.once(`${kind}_error`, (ctx: EventContext) => reject(Object.assign(new Error(`link refused: ${(ctx[kind]?.error as AmqpError | undefined)?.description ?? ''}`), { amqp: ctx[kind]?.error })));
    link.once(`${kind}_close`, () => reject(new Error('link refused')));
  });
}

/** Connects rhea over TCP (no reconnection) and waits for the broker's open. */
export async function connectAmqp(port: number, options: Partial<ConnectionOptions> = {}): Promise<AmqpTestClient> {
  const container = rhea.create_container({ id: (options.container_id as string | undefined) ?? `test-${Math.random().toString(36).slice(2)}` });
  const connection = container.connect({ host: '127.0.0.1', port, reconnect: false, ...options } as ConnectionOptions);
  let onClosed!: (error: AmqpError | undefined) => void;
  const closed = new Promise<AmqpError | undefined>((resolve) => (onClosed = resolve));
  connection.on('connection_close', (ctx: EventContext) => onClosed(ctx.connection.error as AmqpError | undefined));
  connection.on('connection_error', () => {});
  connection.on('disconnected', (ctx: EventContext) => onClosed((ctx.connection.error as AmqpError | undefined) ?? undefined));
  connection.on('error', () => {});
  connection.on('protocol_error', () => {});
  await new Promise<void>((resolve, reject) => {
    connection.once('connection_open', () => resolve());
    closed.then((error) => reject(new Error(`connection closed before open: ${error?.description ?? ''}`)));
  });
  const client: AmqpTestClient = {
    connection,
    closed,
    openSender(opts) {
      return attached(connection.open_sender(opts), 'sender');
    },
    async openReceiver(opts) {
      const inbox = new AmqpInbox();
      const receiver = connection.open_receiver(opts);
      receiver.on('message', (ctx: EventContext) => inbox.push({ message: ctx.message!, delivery: ctx.delivery! }));
      await attached(receiver, 'receiver');
      return { receiver, inbox };
    },
    send(sender, message) {
      return new Promise((resolve) => {
        const delivery = sender.send(message);
        const done = (state: Outcome): void => {
          for (const event of ['accepted', 'rejected', 'released', 'modified', 'settled']) sender.removeListener(event, listeners[event]!);
          resolve(state);
        };
        const listeners: Record<string, (ctx: EventContext) => void> = {
          accepted: (ctx) => ctx.delivery === delivery && done({ state: 'accepted' }),
          released: (ctx) => ctx.delivery === delivery && done({ state: 'released' }),
          modified: (ctx) => ctx.delivery === delivery && done({ state: 'modified' }),
          rejected: (ctx) => ctx.delivery === delivery && done({ state: 'rejected', error: (ctx.delivery?.remote_state as { error?: AmqpError } | undefined)?.error }),
          settled: (ctx) => ctx.delivery === delivery && done({ state: 'settled' }),
        };
        for (const [event, listener] of Object.entries(listeners)) sender.on(event, listener);
      });
    },
    async close() {
      if (connection.is_closed()) return;
      const done = closed;
      connection.close();
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 2000))]);
    },
  };
  return client;
}

/** A raw TCP socket to the broker, for bytes no client library would send. */
export interface RawAmqp {
  readonly socket: Socket;
  /** Every byte received so far. */
  received(): Buffer;
  /** Resolves when at least `n` bytes have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Buffer>;
  readonly closed: Promise<void>;
  write(data: Buffer): void;
}

export async function rawAmqp(port: number): Promise<RawAmqp> {
  const socket = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let waiter: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    waiter?.();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    received,
    closed,
    write: (data) => socket.write(data),
    async waitFor(n, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (received().length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${received().length} of ${n} bytes within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 50));
          waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiter = undefined;
      }
      return received();
    },
  };
}

interface RheaFrames {
  amqp_frame(channel: number, performative: unknown, payload?: Buffer): unknown;
  sasl_frame(performative: unknown): unknown;
  sasl_init(fields: Record<string, unknown>): unknown;
  sasl_response(fields: Record<string, unknown>): unknown;
  write_frame(frame: unknown): Buffer;
  read_frame(buffer: Buffer): { performative?: { constructor: { toString(): string } } & Record<string, unknown> } | null;
  open(fields: Record<string, unknown>): unknown;
  begin(fields: Record<string, unknown>): unknown;
  attach(fields: Record<string, unknown>): unknown;
  transfer(fields: Record<string, unknown>): unknown;
  flow(fields: Record<string, unknown>): unknown;
  disposition(fields: Record<string, unknown>): unknown;
  detach(fields: Record<string, unknown>): unknown;
  end(fields: Record<string, unknown>): unknown;
  close(fields: Record<string, unknown>): unknown;
}

/** rhea's frame codec, for building and reading raw frames in wire-level tests. */
export const frames = require('rhea/lib/frames.js') as RheaFrames;

export const AMQP_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]);
export const SASL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 3, 1, 0, 0]);

export function frame(performative: unknown, payload?: Buffer): Buffer {
  return frames.write_frame(frames.amqp_frame(0, performative, payload));
}

/** The performatives in `bytes` after a protocol header, as `{name, fields}`. */
export function readFrames(bytes: Buffer): { name: string; fields: Record<string, unknown> }[] {
  const out: { name: string; fields: Record<string, unknown> }[] = [];
  let at = bytes.subarray(0, 4).toString('latin1') === 'AMQP' ? 8 : 0;
  while (at + 8 <= bytes.length) {
    const size = bytes.readUInt32BE(at);
    if (at + size > bytes.length) break;
    const f = frames.read_frame(bytes.subarray(at, at + size));
    if (f?.performative !== undefined) out.push({ name: String(f.performative.constructor).split('#')[0]!, fields: f.performative });
    else out.push({ name: 'empty', fields: {} });
    at += size;
  }
  return out;
}

interface RheaTerminus {
  source(fields: Record<string, unknown>): { described(): unknown };
  target(fields: Record<string, unknown>): { described(): unknown };
}

/** rhea's source and target builders, for raw attach frames. */
export const terminus = require('rhea/lib/terminus.js') as RheaTerminus;

/** A bare message encoded by rhea, as a transfer's payload. */
export function encodeMessage(message: Message): Buffer {
  return (rhea.message as unknown as { encode(m: Message): Buffer }).encode(message);
}

/** The error condition of the first close frame in `bytes`, if any. */
export function closeCondition(bytes: Buffer): string | undefined {
  const close = readFrames(bytes).find((f) => f.name === 'close');
  return (close?.fields['error'] as { condition?: string } | undefined)?.condition;
}

interface Performative {
  readonly value: unknown[];
  readonly constructor: { toString(): string };
  readonly first?: number;
  readonly last?: number;
  readonly delivery_id?: number;
  readonly state?: { readonly descriptor?: { readonly value: unknown }; readonly value: unknown } | null;
}

interface ClientSession {
  output(frame: Performative, payload?: Buffer): void;
  on_disposition(frame: { performative: Performative }): void;
  on_attach(frame: { performative: Performative }): void;
}

const types = rhea.types as unknown as {
  Writer: new () => { write(value: unknown): void; toBuffer(): Buffer };
  wrap_ulong(v: number): unknown;
  wrap_list(items: unknown[]): unknown;
  wrap_array(items: string[], code: number): unknown;
  described(descriptor: unknown, value: unknown): unknown;
};
const outcomes = rhea.message as unknown as { accepted(): { described(): unknown } };

function describedCode(value: unknown): unknown {
  return (value as { descriptor?: { value: unknown } } | null | undefined)?.descriptor?.value;
}

/** Local transactions through a coordinator link, which rhea has no API for. */
export interface AmqpTransactions {
  declare(): Promise<Buffer>;
  discharge(txnId: Buffer, fail: boolean): Promise<Outcome>;
  /** Sends with a transactional-state naming `txnId` on the transfer. */
  send(sender: Sender, message: Message, txnId: Buffer): Promise<Outcome>;
  /** Accepts (or with `outcome` settles otherwise) a delivery inside `txnId`. */
  settle(delivery: Delivery, txnId: Buffer, outcome?: unknown): void;
}

/**
 * Opens a coordinator link on the client's session and teaches that session the transaction types
 * rhea does not know: the coordinator target, declared and transactional-state outcomes (turned into
 * their inner outcome after being recorded), and the transactional-state of outgoing transfers.
 */
export async function transactions(client: AmqpTestClient): Promise<AmqpTransactions> {
  const coordinator = client.connection.open_sender({ name: `coordinator-${Math.random().toString(36).slice(2)}`, target: {} });
  (coordinator as unknown as { local: { attach: { target: unknown } } }).local.attach.target = types.described(
    types.wrap_ulong(0x30),
    types.wrap_list([types.wrap_array(['amqp:local-transactions'], 0xa3)]),
  );
  const session = (coordinator as unknown as { session: ClientSession }).session;
  const declared = new Map<number, Buffer>();
  const transfersInTxn = new Map<number, unknown>();
  const onAttach = session.on_attach.bind(session);
  session.on_attach = (frame) => {
    if (describedCode(frame.performative.value[6]) === 0x30) frame.performative.value[6] = types.wrap_list([]);
    onAttach(frame);
  };
  const onDisposition = session.on_disposition.bind(session);
  session.on_disposition = (frame) => {
    const state = frame.performative.state;
    const code = describedCode(state);
    if (code === 0x33) {
      const id = ((state!.value as { value: unknown }[])[0]?.value) as Buffer;
      for (let d = frame.performative.first!; d <= (frame.performative.last ?? frame.performative.first!); d++) declared.set(d, id);
      frame.performative.value[4] = outcomes.accepted().described();
    } else if (code === 0x34) {
      frame.performative.value[4] = (state!.value as unknown[])[1] ?? outcomes.accepted().described();
    }
    onDisposition(frame);
  };
  const output = session.output.bind(session);
  session.output = (frame, payload) => {
    if (String(frame.constructor).startsWith('transfer') && transfersInTxn.has(frame.delivery_id!)) {
      frame.value[7] = transfersInTxn.get(frame.delivery_id!);
      transfersInTxn.delete(frame.delivery_id!);
    }
    output(frame, payload);
  };
  await new Promise<void>((resolve, reject) => {
    coordinator.once('sendable', () => resolve());
    coordinator.once('sender_close', () => reject(new Error('coordinator refused')));
  });
  const request = (body: unknown): Promise<{ outcome: Outcome; id: number }> =>
    new Promise((resolve, reject) => {
      void client.closed.then((error) => reject(new Error(`connection closed: ${error?.condition ?? ''} ${error?.description ?? ''}`)));
      // an amqp-value section holding a described list; rhea's message encoder would overwrite the inner descriptor
      const writer = new types.Writer();
      writer.write(body);
      const delivery = coordinator.send(Buffer.concat([Buffer.from([0x00, 0x53, 0x77]), writer.toBuffer()]), undefined, 0);
      const done = (outcome: Outcome) => {
        coordinator.removeListener('accepted', onAccepted);
        coordinator.removeListener('rejected', onRejected);
        resolve({ outcome, id: delivery.id });
      };
      const onAccepted = (ctx: EventContext) => ctx.delivery === delivery && done({ state: 'accepted' });
      const onRejected = (ctx: EventContext) => ctx.delivery === delivery && done({ state: 'rejected', error: (ctx.delivery?.remote_state as { error?: AmqpError } | undefined)?.error });
      coordinator.on('accepted', onAccepted);
      coordinator.on('rejected', onRejected);
    });
  return {
    async declare() {
      const { outcome, id } = await request(types.described(types.wrap_ulong(0x31), types.wrap_list([])));
      const txnId = declared.get(id);
      if (outcome.state !== 'accepted' || txnId === undefined) throw new Error(`declare failed: ${JSON.stringify(outcome)}`);
      return txnId;
    },
    async discharge(txnId, fail) {
      // rhea writes a session's transfers before its dispositions: let settlements made in the
      // transaction go out before the discharge does
      await new Promise((resolve) => setImmediate(resolve));
      return (await request(types.described(types.wrap_ulong(0x32), types.wrap_list([txnId, fail])))).outcome;
    },
    send(sender, message, txnId) {
      const state = types.described(types.wrap_ulong(0x34), types.wrap_list([txnId]));
      const next = (sender.session as unknown as { outgoing: { next_delivery_id: number } }).outgoing.next_delivery_id;
      transfersInTxn.set(next, state);
      return client.send(sender, message);
    },
    settle(delivery, txnId, outcome) {
      delivery.update(true, types.described(types.wrap_ulong(0x34), types.wrap_list([txnId, outcome ?? outcomes.accepted().described()])));
    },
  };
}
