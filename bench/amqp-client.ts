// The smallest AMQP 1.0 client the load generator needs, on Ferry's own type codec: no SASL, one
// session, one link, frames out and frames in. A general client (rhea) spends several microseconds
// per message encoding and decoding generic objects, which would measure the load generator on a
// machine whose two cores it shares with the broker; this one writes transfers from a template and
// reads only what it needs. No reconnects: a benchmark connection that fails is a failed run.

import net from 'node:net';
import { AmqpReader, AmqpSymbol, AmqpWriter, Described, type AmqpValue } from '../src/protocols/amqp/codec.js';
import { Performative } from '../src/protocols/amqp/frames.js';
import { nowUs } from './clock.js';

export class AmqpClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AmqpClientError';
    this.code = code;
  }
}

export { Performative };

const HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]);
/** Most transfer frames the broker may have in flight to us: large, so session flow never limits. */
export const WINDOW = 0x7fffffff;

/** A field of a performative: encoded by `write` in the order given. */
export type Field = null | boolean | string | number | { uint: number } | { symbol: string } | Buffer | Encoded;

/** Bytes already encoded (a terminus, a filter map). */
export class Encoded {
  constructor(readonly bytes: Buffer) {}
}

function writeField(w: AmqpWriter, field: Field): void {
  if (field === null) w.null();
  else if (typeof field === 'boolean') w.boolean(field);
  else if (typeof field === 'string') w.string(field);
  else if (typeof field === 'number') w.uint(field);
  else if (Buffer.isBuffer(field)) w.binary(field);
  else if (field instanceof Encoded) w.bytes(field.bytes);
  else if ('uint' in field) w.uint(field.uint);
  else w.symbol(field.symbol);
}

/** A described list, as performatives and termini are. */
export function described(code: number, fields: readonly Field[]): Buffer {
  const w = new AmqpWriter(64);
  w.descriptor(code);
  w.compound(false, () => {
    for (const f of fields) writeField(w, f);
    return fields.length;
  });
  return w.toBuffer();
}

/** One AMQP frame on channel 0 around a performative and an optional payload. */
export function amqpFrame(performative: Buffer, payload?: Buffer): Buffer {
  const size = 8 + performative.length + (payload?.length ?? 0);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size, 0);
  out[4] = 2;
  out[5] = 0;
  out.writeUInt16BE(0, 6);
  performative.copy(out, 8);
  payload?.copy(out, 8 + performative.length);
  return out;
}

export interface ReceivedFrame {
  readonly code: number;
  readonly fields: readonly AmqpValue[];
  readonly payload: Buffer | undefined;
}

export class AmqpClient {
  readonly socket: net.Socket;
  /** Called for every frame after the open, with the time its chunk arrived. */
  onFrame: ((frame: ReceivedFrame, recvUs: number) => void) | undefined;
  /** Called after each chunk read from the socket has been handled. */
  onChunkEnd: (() => void) | undefined;
  onFailure: ((err: AmqpClientError) => void) | undefined;
  /** The broker's next-outgoing-id from its begin: where our next-incoming-id starts. */
  remoteNextOutgoing = 0;
  private pending: Buffer | undefined;
  private headerSeen = false;
  private closing = false;
  private failed = false;
  private waiters: { code: number; resolve: (f: ReceivedFrame) => void }[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('error', (err) => this.fail(new AmqpClientError('BENCH_AMQP_SOCKET', err.message, { cause: err })));
    socket.on('close', () => {
      if (!this.closing) this.fail(new AmqpClientError('BENCH_AMQP_CLOSED', 'the broker closed the connection'));
    });
  }

  /** Connects, opens a connection and a session. */
  static async connect(host: string, port: number): Promise<AmqpClient> {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new AmqpClient(socket);
    const opened = client.next(Performative.open);
    const begun = client.next(Performative.begin);
    client.write(
      Buffer.concat([
        HEADER,
        amqpFrame(described(Performative.open, [`bench-${process.pid}-${Math.random().toString(36).slice(2)}`, null, { uint: 1024 * 1024 }])),
        amqpFrame(described(Performative.begin, [null, 0, { uint: WINDOW }, { uint: WINDOW }])),
      ]),
    );
    await opened;
    const begin = await begun;
    client.remoteNextOutgoing = Number(begin.fields[1] ?? 0);
    return client;
  }

  /** Resolves with the next frame of this performative (attach answers, flows). */
  next(code: number): Promise<ReceivedFrame> {
    return new Promise((resolve) => this.waiters.push({ code, resolve }));
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('drain', () => resolve()));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end(amqpFrame(described(Performative.close, [])));
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
    this.socket.destroy();
  }

  private fail(err: AmqpClientError): void {
    if (this.failed || this.closing) return;
    this.failed = true;
    this.onFailure?.(err);
  }

  private data(chunk: Buffer): void {
    const recvUs = nowUs();
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    let at = 0;
    if (!this.headerSeen) {
      if (buf.length < 8) {
        this.pending = buf;
        return;
      }
      if (buf.compare(HEADER, 0, 8, 0, 8) !== 0) {
        this.fail(new AmqpClientError('BENCH_AMQP_HEADER', `the broker answered with header ${buf.subarray(0, 8).toString('hex')}`));
        return;
      }
      this.headerSeen = true;
      at = 8;
    }
    try {
      while (buf.length - at >= 8) {
        const size = buf.readUInt32BE(at);
        if (buf.length - at < size) break;
        const doff = buf[at + 4]! * 4;
        if (size > doff) this.frame(buf, at + doff, at + size, recvUs);
        at += size;
      }
    } catch (err) {
      this.fail(new AmqpClientError('BENCH_AMQP_BAD_FRAME', `cannot read the broker's frames: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (at < buf.length) this.pending = buf.subarray(at);
    this.onChunkEnd?.();
  }

  private frame(buf: Buffer, start: number, end: number, recvUs: number): void {
    const reader = new AmqpReader(buf, start, end);
    const performative = reader.read();
    if (!(performative instanceof Described) || !Array.isArray(performative.value)) return;
    const code = Number(performative.descriptor);
    const frame: ReceivedFrame = { code, fields: performative.value, payload: reader.offset < end ? buf.subarray(reader.offset, end) : undefined };
    if (code === Performative.close || code === Performative.detach || code === Performative.end) {
      const error = frame.fields[code === Performative.detach ? 2 : 0];
      if (error instanceof Described && Array.isArray(error.value)) {
        const condition = error.value[0];
        this.fail(new AmqpClientError('BENCH_AMQP_ERROR', `the broker sent an error: ${condition instanceof AmqpSymbol ? condition.name : String(condition)} ${String(error.value[1] ?? '')}`));
        return;
      }
    }
    const i = this.waiters.findIndex((w) => w.code === code);
    if (i >= 0) {
      const [waiter] = this.waiters.splice(i, 1);
      waiter!.resolve(frame);
      return;
    }
    this.onFrame?.(frame, recvUs);
  }
}

/** A source or target terminus with an address (and, for a topic, the capability saying so). */
export function terminus(code: 0x28 | 0x29, address: string | null): Encoded {
  return new Encoded(described(code, [address]));
}

/** Reads the application-properties section of a payload into a map of its string and number values. */
export function applicationProperties(payload: Buffer): Map<string, AmqpValue> | undefined {
  const reader = new AmqpReader(payload);
  while (reader.remaining > 0) {
    reader.u8();
    const descriptor = reader.descriptor();
    if (descriptor === 0x74) {
      const value = reader.read();
      return value instanceof Map ? (value as Map<string, AmqpValue>) : undefined;
    }
    reader.skip();
  }
  return undefined;
}
