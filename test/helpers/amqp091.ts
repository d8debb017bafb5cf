import { connect as tcpConnect, type Socket } from 'node:net';
import amqplib, { type Channel, type ChannelModel, type ConsumeMessage, type GetMessage } from 'amqplib';
import { Inbox } from './inbox.js';
import { FrameReader, PROTOCOL_HEADER } from '../../src/protocols/amqp091/frames.js';
import { encodeMethod, type MethodArgs, type MethodName } from '../../src/protocols/amqp091/methods.js';
import { encodeTable } from '../../src/protocols/amqp091/field-table.js';

/** An amqplib connection to a test broker's AMQP port (0-9-1 shares it with AMQP 1.0). */
export function connect091(port: number, query = ''): Promise<ChannelModel> {
  return amqplib.connect(`amqp://guest:guest@127.0.0.1:${port}${query}`);
}

/** Messages a consumer received, in order. */
export class AmqplibInbox extends Inbox<ConsumeMessage> {
  constructor() {
    super('message', (m) => m.content.toString());
  }
}

/** Starts a consumer whose messages land in an inbox. */
export async function consumeInto(ch: Channel, queue: string, options: amqplib.Options.Consume = {}): Promise<{ inbox: AmqplibInbox; tag: string }> {
  const inbox = new AmqplibInbox();
  const { consumerTag } = await ch.consume(queue, (m) => m !== null && inbox.push(m), options);
  return { inbox, tag: consumerTag };
}

/** The next message of `queue` by basic.get, waiting up to `ms` for one (a dead-lettered copy arrives after its reject). */
export async function getWaiting(ch: Channel, queue: string, ms = 5000): Promise<GetMessage> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await ch.get(queue);
    if (m !== false) return m;
    if (Date.now() > deadline) throw new Error(`nothing in ${queue} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with the error a channel closes with (the broker's channel.close). */
export function channelError(ch: Channel): Promise<Error & { code?: number; classId?: number; methodId?: number }> {
  return new Promise((resolve) => ch.once('error', resolve));
}

/** A frame as a raw client reads it. */
export interface RawFrame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
}

/**
 * A hand-driven 0-9-1 client for bad input: it does the handshake with PLAIN, then sends whatever
 * bytes a test gives it and collects the frames that come back.
 */
export class Raw091 {
  readonly frames = new Inbox<RawFrame>('frame', (f) => `${f.type}/${f.channel}/${f.payload.subarray(0, 4).toString('hex')}`);
  readonly closed: Promise<void>;
  received = Buffer.alloc(0);
  private readonly reader = new FrameReader(0, { frame: (type, channel, payload) => this.frames.push({ type, channel, payload: Buffer.from(payload) }) });
  private started = false;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk) => {
      this.received = Buffer.concat([this.received, chunk]);
      if (!this.started && this.received.length >= 8 && this.received.subarray(0, 4).toString() === 'AMQP') return;
      this.started = true;
      try {
        this.reader.push(chunk);
      } catch {
        // a test looking at bytes that are not frames reads `received`
      }
    });
    socket.on('error', () => {});
  }

  static open(port: number): Promise<Raw091> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect(port, '127.0.0.1', () => resolve(new Raw091(socket)));
      socket.once('error', reject);
    });
  }

  /** Header, start-ok, tune-ok, open, and channel 1 opened. */
  static async ready(port: number, frameMax = 4096): Promise<Raw091> {
    const raw = await Raw091.open(port);
    raw.write(PROTOCOL_HEADER);
    await raw.method(); // start
    raw.send(0, 'connection.start-ok', { clientProperties: new Map([['capabilities', new Map([['consumer_cancel_notify', true]])]]), mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
    await raw.method(); // tune
    raw.send(0, 'connection.tune-ok', { channelMax: 0, frameMax, heartbeat: 0 });
    raw.send(0, 'connection.open', { virtualHost: '/', capabilities: '', insist: false });
    await raw.method(); // open-ok
    raw.send(1, 'channel.open', { outOfBand: '' });
    await raw.method(); // open-ok
    return raw;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send<M extends MethodName>(channel: number, name: M, args: MethodArgs<M>): void {
    this.write(encodeMethod(channel, name, args));
  }

  /** The next method frame: its class, method and the payload after them. */
  async method(timeoutMs = 3000): Promise<{ channel: number; classId: number; methodId: number; args: Buffer }> {
    for (;;) {
      const f = await this.frames.next(timeoutMs);
      if (f.type !== 1) continue;
      return { channel: f.channel, classId: f.payload.readUInt16BE(0), methodId: f.payload.readUInt16BE(2), args: f.payload.subarray(4) };
    }
  }

  /** Waits for connection.close or channel.close and reads its reply code, class and method. */
  async close(): Promise<{ channel: number; replyCode: number; replyText: string; classId: number; methodId: number }> {
    for (;;) {
      const m = await this.method();
      if (!((m.classId === 10 && m.methodId === 50) || (m.classId === 20 && m.methodId === 40))) continue;
      const textLength = m.args[2]!;
      return {
        channel: m.channel,
        replyCode: m.args.readUInt16BE(0),
        replyText: m.args.toString('utf8', 3, 3 + textLength),
        classId: m.args.readUInt16BE(3 + textLength),
        methodId: m.args.readUInt16BE(5 + textLength),
      };
    }
  }
}

export { encodeTable };

/** A content body frame (type 3) as bytes, for what amqplib would never send. */
export function bodyFrame(channel: number, body: Buffer): Buffer {
  const f = Buffer.alloc(8 + body.length);
  f[0] = 3;
  f.writeUInt16BE(channel, 1);
  f.writeUInt32BE(body.length, 3);
  body.copy(f, 7);
  f[7 + body.length] = 0xce;
  return f;
}
