import { connect, type Socket } from 'node:net';
import type { StompHeaders } from '@stomp/stompjs';
import type { Inbox, StompTestClient } from './stomp.js';

/** A frame as it came off the wire: header values are not unescaped (see `unescapeValue`). */
export interface RawFrame {
  readonly command: string;
  /** Of repeated headers the first wins, as STOMP 1.2 says a receiver must read them. */
  readonly headers: ReadonlyMap<string, string>;
  /** Every header line as sent, repeats included. */
  readonly lines: readonly (readonly [string, string])[];
  readonly body: Buffer;
}

export type RawHeaders = Record<string, string> | readonly (readonly [string, string])[];

/**
 * Encodes a frame byte for byte as given: no escaping, no content-length unless the caller gives
 * one, LF line ends unless `eol` says otherwise. Bad frames are built with this too.
 */
export function encodeRaw(command: string, headers: RawHeaders = {}, body: string | Buffer = '', eol = '\n'): Buffer {
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  let head = command + eol;
  for (const [name, value] of entries as Iterable<readonly [string, string]>) head += `${name}:${value}${eol}`;
  head += eol;
  return Buffer.concat([Buffer.from(head, 'utf8'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body, Buffer.from([0])]);
}

/** STOMP 1.1/1.2 Value Encoding, reversed (1.1 has no `\r`, but nothing sends it to a 1.1 client). */
export function unescapeValue(value: string): string {
  return value.replace(/\\([\\nrc])/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : '\\'));
}

/** STOMP 1.2 Value Encoding. */
export function escapeValue(value: string): string {
  return value.replace(/[\\\n\r:]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\c'));
}

export interface ParsedStream {
  readonly frames: RawFrame[];
  /** EOLs seen between frames (heart-beats). */
  readonly heartbeats: number;
  /** Bytes of an incomplete frame at the end. */
  readonly rest: Buffer;
}

/** Splits received bytes into frames; bodies are read by content-length when given, else up to the NUL. */
export function parseFrames(data: Buffer): ParsedStream {
  const frames: RawFrame[] = [];
  let heartbeats = 0;
  let pos = 0;
  for (;;) {
    while (pos < data.length && (data[pos] === 0x0a || (data[pos] === 0x0d && data[pos + 1] === 0x0a))) {
      pos += data[pos] === 0x0d ? 2 : 1;
      heartbeats++;
    }
    const parsed = parseOne(data, pos);
    if (parsed === undefined) break;
    frames.push(parsed.frame);
    pos = parsed.end;
  }
  return { frames, heartbeats, rest: data.subarray(pos) };
}

function parseOne(data: Buffer, start: number): { frame: RawFrame; end: number } | undefined {
  let pos = start;
  const readLine = (): string | undefined => {
    const lf = data.indexOf(0x0a, pos);
    if (lf === -1) return undefined;
    const stop = lf > pos && data[lf - 1] === 0x0d ? lf - 1 : lf;
    const line = data.toString('utf8', pos, stop);
    pos = lf + 1;
    return line;
  };
  const command = readLine();
  if (command === undefined) return undefined;
  const headers = new Map<string, string>();
  const lines: [string, string][] = [];
  for (;;) {
    const line = readLine();
    if (line === undefined) return undefined;
    if (line === '') break;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1);
    lines.push([name, value]);
    if (!headers.has(name)) headers.set(name, value);
  }
  const contentLength = headers.get('content-length');
  let bodyEnd: number;
  if (contentLength !== undefined) {
    bodyEnd = pos + Number(contentLength);
    if (data.length < bodyEnd + 1) return undefined;
  } else {
    bodyEnd = data.indexOf(0, pos);
    if (bodyEnd === -1) return undefined;
  }
  return { frame: { command, headers, lines, body: data.subarray(pos, bodyEnd) }, end: bodyEnd + 1 };
}

function describe(data: Buffer): string {
  return JSON.stringify(data.toString('latin1').slice(0, 600));
}

/**
 * A STOMP client that is only a socket: it writes exactly the bytes it is given and records
 * everything the broker sends back, as bytes, as frames and as heart-beat EOLs with their times.
 */
export class RawStompClient {
  private data: Buffer = Buffer.alloc(0);
  private parsedUpTo = 0;
  private readonly frameQueue: RawFrame[] = [];
  private heartbeatCount = 0;
  /** Date.now() of every chunk received, for heart-beat checks. */
  readonly arrivals: number[] = [];
  private waiters: (() => void)[] = [];
  private isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    let onClosed!: () => void;
    this.closed = new Promise<void>((resolve) => (onClosed = resolve));
    socket.on('data', (chunk: Buffer) => {
      this.arrivals.push(Date.now());
      this.data = Buffer.concat([this.data, chunk]);
      this.parse();
      this.wake();
    });
    // a reset after the broker's ERROR is still a close; what came before it is kept
    socket.on('error', () => {});
    socket.on('close', () => {
      this.isClosed = true;
      onClosed();
      this.wake();
    });
  }

  /** `localAddress` (another loopback address, 127.0.0.2...) makes the client a different address to the broker. */
  static open(port: number, localAddress?: string): Promise<RawStompClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) });
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawStompClient(socket));
      });
    });
  }

  /** Opens a socket and completes a CONNECT (STOMP 1.2 and no heart-beats unless `headers` say otherwise). */
  static async connected(port: number, headers: Record<string, string> = {}): Promise<{ raw: RawStompClient; connected: RawFrame }> {
    const raw = await RawStompClient.open(port);
    const connected = await raw.connect(headers);
    return { raw, connected };
  }

  /** Everything received so far. */
  get received(): Buffer {
    return this.data;
  }

  get heartbeats(): number {
    return this.heartbeatCount;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  send(command: string, headers: RawHeaders = {}, body: string | Buffer = ''): Promise<void> {
    return this.write(encodeRaw(command, headers, body));
  }

  async connect(headers: Record<string, string> = {}): Promise<RawFrame> {
    await this.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0', ...headers });
    const frame = await this.nextFrame();
    if (frame.command !== 'CONNECTED') throw new Error(`expected CONNECTED, got ${frame.command} ${JSON.stringify([...frame.headers])}`);
    return frame;
  }

  /** The next frame, in order of arrival. */
  async nextFrame(timeoutMs = 3000): Promise<RawFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frameQueue.length === 0) {
      if (this.isClosed) throw new Error(`socket closed while waiting for a frame; received ${describe(this.data)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms; received ${describe(this.data)}`);
      await this.wait(left);
    }
    return this.frameQueue.shift()!;
  }

  /** Frames until one with `command` (returned); the ones before it are dropped. */
  async nextFrameOf(command: string, timeoutMs = 3000): Promise<RawFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (frame.command === command) return frame;
    }
  }

  /** Sends a frame with a receipt header and waits for its RECEIPT. */
  async sendWithReceipt(command: string, headers: Record<string, string>, body: string | Buffer = ''): Promise<RawFrame> {
    const receipt = `raw-${Math.random().toString(36).slice(2)}`;
    await this.send(command, { ...headers, receipt }, body);
    const frame = await this.nextFrame();
    if (frame.command !== 'RECEIPT' || frame.headers.get('receipt-id') !== receipt) {
      throw new Error(`expected RECEIPT ${receipt}, got ${frame.command} ${JSON.stringify([...frame.headers])}`);
    }
    return frame;
  }

  /** Waits until `count` heart-beat EOLs have arrived. */
  async waitForHeartbeats(count: number, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.heartbeatCount < count) {
      if (this.isClosed) throw new Error(`socket closed after ${this.heartbeatCount} heart-beats`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.heartbeatCount} heart-beats within ${timeoutMs} ms, expected ${count}`);
      await this.wait(left);
    }
  }

  /** Waits for the broker to close the socket; resolves with the frames that arrived and were not taken yet. */
  async untilClosed(timeoutMs = 5000): Promise<RawFrame[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the broker did not close the socket within ${timeoutMs} ms; received ${describe(this.data)}`)), timeoutMs);
    });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.frameQueue.splice(0);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(): void {
    const { frames, heartbeats, rest } = parseFrames(this.data.subarray(this.parsedUpTo));
    this.heartbeatCount += heartbeats;
    this.frameQueue.push(...frames);
    this.parsedUpTo = this.data.length - rest.length;
  }

  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Opens a socket, writes `bytes` (each element in its own write when an array), and returns every
 * frame the broker sent before it closed the socket.
 */
export async function exchangeUntilClosed(port: number, bytes: string | Buffer | readonly (string | Buffer)[], timeoutMs = 5000): Promise<{ frames: RawFrame[]; received: Buffer }> {
  const raw = await RawStompClient.open(port);
  try {
    for (const part of Array.isArray(bytes) ? bytes : [bytes]) {
      if (!raw.isOpen) break;
      await raw.write(part as string | Buffer).catch(() => {});
    }
    const frames = await raw.untilClosed(timeoutMs);
    return { frames, received: raw.received };
  } finally {
    raw.destroy();
  }
}

/** A unique name, so that tests sharing one broker never share a destination. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Subscribes with @stomp/stompjs and waits for the broker's RECEIPT, so the subscription exists before anything is sent. */
export async function subscribeConfirmed(client: StompTestClient, destination: string, headers: StompHeaders = {}): Promise<Inbox> {
  const receipt = `sub-${Math.random().toString(36).slice(2)}`;
  const confirmed = new Promise<void>((resolve) => client.client.watchForReceipt(receipt, () => resolve()));
  const inbox = client.subscribe(destination, { ...headers, receipt });
  await confirmed;
  return inbox;
}

/**
 * Waits for a RECEIPT: `act` gets a receipt id to put on the frame it sends (an ACK, UNSUBSCRIBE,
 * COMMIT...), and this resolves when the broker has answered it.
 */
export async function withReceipt(client: StompTestClient, act: (receipt: StompHeaders) => void): Promise<void> {
  const receipt = `r-${Math.random().toString(36).slice(2)}`;
  const confirmed = new Promise<void>((resolve) => client.client.watchForReceipt(receipt, () => resolve()));
  act({ receipt });
  await confirmed;
}

/** Resolves when `promise` does, or fails after `ms` with `what` in the message. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks `condition` on every turn of the event loop until it holds; fails after `timeoutMs`. For
 * state that changes on an event this process cannot observe directly (the broker's side of a
 * socket close).
 */
export async function eventually(what: string, condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: still not so after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
