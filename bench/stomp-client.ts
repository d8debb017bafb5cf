// The smallest STOMP client the load generator needs, on Ferry's own codec: CONNECT, frames out,
// frames in, receipts. No reconnects, no heart-beats: a benchmark connection that fails is a
// failed run.

import net from 'node:net';
import tls from 'node:tls';
import { StompParser, encodeFrame } from '../src/protocols/stomp/codec.js';
import type { StompFrame, StompVersion } from '../src/protocols/stomp/codec.js';
import { nowUs } from './clock.js';

export class StompClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StompClientError';
    this.code = code;
  }
}

const LIMITS = { maxFrameSize: 64 * 1024 * 1024, maxHeaderSize: 1024 * 1024, maxHeaders: 10_000 };

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class StompClient {
  readonly socket: net.Socket;
  version: StompVersion = '1.0';
  /** Called for every MESSAGE, with the time at which its chunk arrived. */
  onMessage: ((frame: StompFrame, recvUs: number) => void) | undefined;
  /** Called for a RECEIPT that no `request()` is waiting for. */
  onReceipt: ((receiptId: string) => void) | undefined;
  /** Called after each chunk read from the socket has been parsed. */
  onChunkEnd: (() => void) | undefined;
  /** Called once, for an ERROR frame, a parse error or a connection lost before close(). */
  onFailure: ((err: StompClientError) => void) | undefined;

  private readonly parser: StompParser;
  private readonly waiters = new Map<string, Waiter>();
  private connected: ((frame: StompFrame) => void) | undefined;
  private closing = false;
  private failed = false;
  private recvUs = 0;
  private nextReceipt = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.parser = new StompParser(
      LIMITS,
      (frame) => this.dispatch(frame),
      (err) => this.fail(new StompClientError('BENCH_STOMP_BAD_FRAME', `cannot parse the broker's frames: ${err.message}`, { cause: err })),
    );
    socket.on('data', (chunk: Buffer) => {
      this.recvUs = nowUs();
      this.parser.push(chunk);
      this.onChunkEnd?.();
    });
    socket.on('error', (err) => this.fail(new StompClientError('BENCH_STOMP_SOCKET', err.message, { cause: err })));
    socket.on('close', () => {
      if (!this.closing) this.fail(new StompClientError('BENCH_STOMP_CLOSED', 'the broker closed the connection'));
    });
  }

  /**
   * With `ca`, the connection is TLS and the broker's certificate must be signed by that authority
   * and name `host` (an IP address is checked against the certificate's IP SANs). Without it, the
   * socket is a plain one, with nothing in between.
   */
  static connect(
    host: string,
    port: number,
    timeoutMs = 15_000,
    login?: { login: string; passcode: string },
    ca?: string,
  ): Promise<StompClient> {
    return new Promise((resolve, reject) => {
      const socket = ca === undefined ? net.connect({ host, port, noDelay: true }) : tls.connect({ host, port, ca }).setNoDelay(true);
      const client = new StompClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new StompClientError('BENCH_STOMP_TIMEOUT', `no CONNECTED from ${host}:${port}`));
      }, timeoutMs);
      client.onFailure = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      client.connected = (frame) => {
        clearTimeout(timer);
        const version = frame.headers.get('version');
        client.version = version === '1.1' || version === '1.2' ? version : '1.0';
        client.parser.version = client.version;
        client.onFailure = undefined;
        resolve(client);
      };
      socket.once(ca === undefined ? 'connect' : 'secureConnect', () => {
        socket.write(
          encodeFrame(
            'CONNECT',
            [
              ['accept-version', '1.0,1.1,1.2'],
              ['host', host],
              ['heart-beat', '0,0'],
              ...(login === undefined ? [] : ([['login', login.login], ['passcode', login.passcode]] as const)),
            ],
            undefined,
            '1.0',
          ),
        );
      });
    });
  }

  encode(command: string, headers: Iterable<readonly [string, string]>, body?: Buffer): Buffer {
    return encodeFrame(command, headers, body, this.version);
  }

  /** Writes bytes; false means the caller must wait for drained() before writing more. */
  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(new StompClientError('BENCH_STOMP_CLOSED', 'connection closed while waiting to write'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /** Sends a frame with a `receipt` header and resolves when the broker's RECEIPT arrives. */
  request(command: string, headers: ReadonlyArray<readonly [string, string]>, timeoutMs = 15_000, body?: Buffer): Promise<void> {
    const id = `req-${this.nextReceipt++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new StompClientError('BENCH_STOMP_TIMEOUT', `no RECEIPT for ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, { resolve, reject, timer });
      this.write(this.encode(command, [...headers, ['receipt', id]], body));
    });
  }

  async close(): Promise<void> {
    if (this.failed || this.socket.destroyed) return;
    try {
      await this.request('DISCONNECT', [], 3_000);
    } catch {
      // a broker that does not answer DISCONNECT is closed on anyway
    }
    this.closing = true;
    this.socket.destroy();
  }

  private dispatch(frame: StompFrame): void {
    switch (frame.command) {
      case 'MESSAGE':
        this.onMessage?.(frame, this.recvUs);
        return;
      case 'RECEIPT': {
        const id = frame.headers.get('receipt-id') ?? '';
        const waiter = this.waiters.get(id);
        if (waiter === undefined) {
          this.onReceipt?.(id);
          return;
        }
        this.waiters.delete(id);
        clearTimeout(waiter.timer);
        waiter.resolve();
        return;
      }
      case 'CONNECTED':
        this.connected?.(frame);
        this.connected = undefined;
        return;
      case 'ERROR': {
        const message = frame.headers.get('message') ?? '';
        const body = frame.body.toString('utf8', 0, Math.min(frame.body.length, 500)).trim();
        this.fail(new StompClientError('BENCH_STOMP_ERROR_FRAME', `broker sent ERROR: ${message}${body ? ` (${body})` : ''}`));
        return;
      }
      default:
        this.fail(new StompClientError('BENCH_STOMP_BAD_FRAME', `unexpected ${frame.command} from the broker`));
    }
  }

  private fail(err: StompClientError): void {
    if (this.failed) return;
    this.failed = true;
    for (const waiter of this.waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
    this.waiters.clear();
    this.closing = true;
    this.socket.destroy();
    this.onFailure?.(err);
  }
}
