import type { Socket } from 'node:net';

/**
 * A client's byte stream, whatever carries it (TCP, TLS, and later WebSocket). Protocol sessions
 * write frames to it and read chunks from it; it batches writes per turn of the event loop and
 * tells when the peer is not keeping up.
 */
export interface TransportConnection {
  readonly id: number;
  readonly remoteAddress: string;
  /** Queues bytes; all writes of one turn of the event loop leave in one system call. */
  write(data: Buffer | string): void;
  /** False once unsent bytes pass the high-water mark; deliveries should stop until `onWritable`. */
  isWritable(): boolean;
  /** Calls `resume` once, when unsent bytes have drained. */
  onWritable(resume: () => void): void;
  /** Bytes written but not yet taken by the kernel. */
  readonly pendingBytes: number;
  /** Stops reading from the peer (backpressure on a producer). */
  pause(): void;
  resume(): void;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes at once, dropping unsent bytes. */
  destroy(): void;
  readonly closed: boolean;
  /** Installs the protocol session's handlers; chunks arrive only after this. */
  setHandler(handler: TransportHandler): void;
}

export interface TransportHandler {
  data(chunk: Buffer): void;
  /** Called once when the connection is gone, for whatever reason. */
  closed(error?: Error): void;
}

let nextConnectionId = 1;

/**
 * Writes below this size are joined into one buffer before they reach the socket: each
 * `socket.write` costs a stream request of its own, which for 4-byte MQTT acknowledgements and
 * 1 KiB deliveries cost more than copying them. Larger ones (message bodies) go as they are.
 */
const JOIN_BELOW = 8 * 1024;
/** Joined bytes are handed to the socket at least this often, so a burst is never held back whole. */
const JOIN_RUN = 64 * 1024;

/** Connection ids are unique across every transport, so logs never confuse a WebSocket with a TCP client. */
export function newConnectionId(): number {
  return nextConnectionId++;
}

export class SocketConnection implements TransportConnection {
  readonly id = newConnectionId();
  readonly remoteAddress: string;
  private corked = false;
  /** Small writes of this turn of the event loop not yet handed to the socket. */
  private readonly run: Buffer[] = [];
  private runBytes = 0;
  private handler: TransportHandler | undefined;
  private writableWaiters: (() => void)[] = [];
  private isClosed = false;
  private closeError: Error | undefined;

  constructor(private readonly socket: Socket) {
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.on('drain', () => this.drained());
    socket.on('error', (err) => {
      this.closeError ??= err;
    });
    socket.on('close', () => this.onClose());
    socket.pause();
  }

  get pendingBytes(): number {
    return this.socket.writableLength + this.runBytes;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
    this.socket.on('data', (chunk: Buffer) => handler.data(chunk));
    this.socket.resume();
  }

  write(data: Buffer | string): void {
    if (this.isClosed || this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.uncork());
    }
    if (typeof data === 'string' || data.length >= JOIN_BELOW) {
      this.writeRun();
      this.socket.write(data);
      return;
    }
    this.run.push(data);
    this.runBytes += data.length;
    if (this.runBytes >= JOIN_RUN) this.writeRun();
  }

  private writeRun(): void {
    const run = this.run;
    if (run.length === 0) return;
    if (!this.socket.destroyed) this.socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, this.runBytes));
    run.length = 0;
    this.runBytes = 0;
  }

  isWritable(): boolean {
    return !this.socket.writableNeedDrain;
  }

  onWritable(resume: () => void): void {
    this.writableWaiters.push(resume);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    if (this.isClosed) return;
    this.uncork();
    this.socket.end();
    // a peer that never reads must not keep the socket half-open for ever
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.writeRun();
    this.socket.uncork();
  }

  private drained(): void {
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const resume of waiters) resume();
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.writableWaiters = [];
    this.handler?.closed(this.closeError);
  }
}
