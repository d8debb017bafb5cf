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

/** Connection ids are unique across every transport, so logs never confuse a WebSocket with a TCP client. */
export function newConnectionId(): number {
  return nextConnectionId++;
}

export class SocketConnection implements TransportConnection {
  readonly id = newConnectionId();
  readonly remoteAddress: string;
  private corked = false;
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
    return this.socket.writableLength;
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
    this.socket.write(data);
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
