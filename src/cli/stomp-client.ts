import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { FerryError } from '../errors.js';
import { StompParser, encodeFrame, type StompFrame } from '../protocols/stomp/index.js';
import { notThrough } from './unreachable.js';

/**
 * The small STOMP 1.2 client behind `ferry send` and `ferry receive`. It speaks through Ferry's own
 * codec; anything that answers STOMP (Ferry, ActiveMQ) will do on the other end.
 */
export class StompClient {
  private readonly parser: StompParser;
  private readonly waiting = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  private nextReceipt = 1;
  private connected: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  onMessage: ((frame: StompFrame) => void) | undefined;
  onError: ((err: Error) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    this.parser = new StompParser(
      { maxFrameSize: 1024 * 1024 * 1024, maxHeaderSize: 1024 * 1024, maxHeaders: 100_000 },
      (frame) => this.onFrame(frame),
      (err) => this.die(err),
    );
    this.parser.version = '1.2';
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
    socket.on('error', (err) => this.die(err));
    socket.on('close', () => this.die(new FerryError('FERRY_CONNECTION_CLOSED', 'the broker closed the connection')));
  }

  /** Connects and logs in; with `tls`, over TLS, verifying the broker against `tls.ca` (or the system's authorities). */
  static async open(host: string, port: number, headers: Record<string, string> = {}, tls?: { readonly ca?: Buffer | undefined }): Promise<StompClient> {
    const socket =
      tls === undefined
        ? connect({ host, port })
        : connectTls({ host, port, ...(tls.ca === undefined ? {} : { ca: tls.ca }), ...(isIP(host) === 0 ? { servername: host } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once(tls === undefined ? 'connect' : 'secureConnect', resolve);
      socket.once('error', (err) => reject(notThrough(`${host}:${port}`, err)));
    });
    const client = new StompClient(socket);
    await new Promise<void>((resolve, reject) => {
      client.connected = { resolve, reject };
      client.write('CONNECT', { 'accept-version': '1.2', host, 'heart-beat': '0,0', ...headers });
    });
    return client;
  }

  /** Writes a frame; false when the socket's buffer is full and the caller should wait for `drained()`. */
  write(command: string, headers: Record<string, string>, body?: Buffer): boolean {
    return this.socket.write(encodeFrame(command, Object.entries(headers), body, '1.2'));
  }

  /** Resolves when the socket can take more (at once when it can), or rejects once the connection failed. */
  drained(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onDrain = (): void => done();
      const onClose = (): void => done(this.failure ?? new FerryError('FERRY_CONNECTION_CLOSED', 'the broker closed the connection'));
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** Sends a frame with a receipt header and resolves when the broker confirms it. */
  request(command: string, headers: Record<string, string>, body?: Buffer): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const receipt = `r${this.nextReceipt++}`;
    return new Promise((resolve, reject) => {
      this.waiting.set(receipt, { resolve, reject });
      this.write(command, { ...headers, receipt }, body);
    });
  }

  async close(): Promise<void> {
    if (this.failure === undefined) {
      await this.request('DISCONNECT', {}).catch(() => {});
    }
    this.onError = undefined;
    this.socket.destroy();
  }

  private onFrame(frame: StompFrame): void {
    switch (frame.command) {
      case 'CONNECTED':
        this.connected?.resolve();
        this.connected = undefined;
        return;
      case 'RECEIPT': {
        const id = frame.headers.get('receipt-id') ?? '';
        this.waiting.get(id)?.resolve();
        this.waiting.delete(id);
        return;
      }
      case 'MESSAGE':
        this.onMessage?.(frame);
        return;
      case 'ERROR':
        this.die(new Error(`broker error: ${frame.headers.get('message') ?? frame.body.toString('utf8')}`));
        return;
    }
  }

  private die(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.connected?.reject(err);
    for (const { reject } of this.waiting.values()) reject(err);
    this.waiting.clear();
    this.onError?.(err);
    this.socket.destroy();
  }
}
