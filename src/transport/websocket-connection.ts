import { FerryError } from '../errors.js';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { PeerCertificate } from '../core/index.js';
import { newConnectionId, type TransportConnection, type TransportHandler } from './connection.js';

/**
 * Writes of one event-loop turn that fit in this many bytes are joined into one buffer; larger
 * batches go out as fragments of one WebSocket message, so a large body is never copied.
 */
const joinBelow = 64 * 1024;

/** How long `end()` waits for the peer's close frame before dropping the socket. */
const closeGrace = 5000;

/** RFC 6455 7.4.1: 1000 a normal closure, 1001 an endpoint "going away, such as a server going down". */
const NORMAL_CLOSURE = 1000;
const GOING_AWAY = 1001;


export interface WebSocketConnectionOptions {
  /** Unsent bytes past which `isWritable()` says no. */
  readonly writeHighWaterMark: number;
  /** The subprotocol's specification allows only binary data frames: a text frame closes the connection. */
  readonly binaryOnly: boolean;
  /** The verified certificate a wss client presented. */
  readonly peerCertificate?: PeerCertificate | undefined;
  /** When the TCP socket was accepted, before the upgrade (`TransportConnection.openedAt`). */
  readonly openedAt?: number | undefined;
  /** Unsent bytes past which the connection is dropped (transport.maxPendingBytes); 0: no bound. */
  readonly maxPendingBytes?: number | undefined;
}

/**
 * A protocol session's byte stream carried in WebSocket messages. The session sees the same
 * `TransportConnection` as over TCP; message boundaries mean nothing to it, since the parsers are
 * incremental and accept frames split or joined at any byte.
 *
 * Outgoing framing: everything written in one event-loop turn leaves as one WebSocket message. A
 * session writes whole protocol frames within one turn (a large STOMP MESSAGE is three writes, but
 * all in the same call), so each message holds one or more complete frames and never a partial
 * one. That suits the clients that split a message on NUL but do not carry a partial frame over to
 * the next message (the older stomp.js), as well as @stomp/stompjs and MQTT.js, which accept any
 * split. One message per `write()` would break the first kind on large bodies (a STOMP MESSAGE
 * over 64 KiB is three writes), and costs more: measured on a 2-core machine, a topic fanning
 * 40,000 messages of 100 bytes out to five @stomp/stompjs subscribers took 1.2 s of broker CPU
 * (6 µs a delivery) as one message per turn and 1.9 s as one message per write.
 * A batch stays bounded: deliveries stop once `isWritable()` says no, and that counts the batch.
 *
 * Text or binary: binary data frames, unless the client has sent its first data frame as text (as
 * @stomp/stompjs does by default); then replies go as text whenever the bytes are valid UTF-8, and
 * as binary otherwise (a non-UTF-8 body cannot travel in a text frame). A client reads the kind it
 * writes, which is what the older STOMP clients, which decode binary frames as Latin-1, need.
 */
export class WebSocketConnection implements TransportConnection {
  readonly id = newConnectionId();
  readonly openedAt: number;
  readonly peerCertificate: PeerCertificate | undefined;
  private handler: TransportHandler | undefined;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private textReplies = false;
  private sawData = false;
  private writableWaiters: (() => void)[] = [];
  private isClosed = false;
  /** Closing, or the broker stopping (`stopReading`): what the client still sends is not its session's any more. */
  private ending = false;
  /** The broker is stopping: the close, whoever starts it, says 1001 so that a page tells it from an orderly close of its own connection. */
  private goingAway = false;
  private closeError: Error | undefined;
  /** Messages that arrived before the session installed its handler. */
  private early: Buffer[] = [];
  /** The peer has sent something since the last ping sweep, or reading resumed since then (`pingSweep`). */
  private heard = true;

  constructor(
    private readonly ws: WebSocket,
    socket: Duplex,
    readonly remoteAddress: string,
    private readonly options: WebSocketConnectionOptions,
  ) {
    this.peerCertificate = options.peerCertificate;
    this.openedAt = options.openedAt ?? Date.now();
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received(data, isBinary));
    ws.on('error', (err) => {
      this.closeError ??= err;
    });
    ws.on('close', () => this.onClose());
    socket.on('drain', () => this.drained());
    // any byte shows the peer is there, not only a pong: a peer midway through sending one large
    // frame cannot answer a ping until that frame ends ([RFC 6455 5.4]: no control frame inside one)
    socket.on('data', () => {
      this.heard = true;
    });
    ws.pause();
  }

  get pendingBytes(): number {
    return this.queuedBytes + this.ws.bufferedAmount;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const chunk of early) handler.data(chunk);
    this.readAgain();
  }

  write(data: Buffer | string): void {
    if (this.isClosed || this.ws.readyState !== this.ws.OPEN) return;
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (chunk.length === 0) return;
    const max = this.options.maxPendingBytes ?? 0;
    if (max > 0 && this.pendingBytes > max) {
      this.closeError ??= new FerryError('FERRY_SLOW_CONSUMER', `more than ${max} bytes written and not taken by the client (transport.maxPendingBytes)`);
      this.ws.terminate();
      return;
    }
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  isWritable(): boolean {
    return this.pendingBytes < this.options.writeHighWaterMark;
  }

  onWritable(resume: () => void): void {
    this.writableWaiters.push(resume);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.readAgain();
  }

  /**
   * One sweep of the WebSocket ping check: pings the peer, and answers false (drop it) when it has
   * sent nothing since the previous sweep, not even the pong to that sweep's ping. A connection
   * the broker is not reading (a producer held by `memoryPolicy: block`, a CONNECT whose
   * authentication is pending) is not judged: its pong waits unread behind what it sent. Its
   * silence counts from when reading resumes, as a held session's heart-beat does (`ReadHold`).
   */
  pingSweep(): boolean {
    if (!this.heard && !this.ws.isPaused) return false;
    this.heard = false;
    this.ws.ping();
    return true;
  }

  /** The broker is stopping: nothing more the client sends is taken, while what was taken still gets its acknowledgement. */
  stopReading(): void {
    this.ending = true;
    this.goingAway = true;
    this.readAgain();
  }

  /** The broker is stopping: ends the connection as `end` does, with close code 1001. */
  goAway(): void {
    this.goingAway = true;
    this.end();
  }

  end(): void {
    if (this.isClosed) return;
    // what the session wrote last (MQTT 5's DISCONNECT 0x8B, AMQP's close) goes out before the close frame
    this.flush();
    this.ending = true;
    this.ws.close(this.goingAway ? GOING_AWAY : NORMAL_CLOSURE, this.goingAway ? 'broker stopping' : undefined);
    // the client's answer to the close frame must be read, even from a connection paused before
    this.readAgain();
    // a peer that never answers the close frame must not keep the socket open for ever
    setTimeout(() => this.ws.terminate(), closeGrace).unref();
  }

  destroy(): void {
    this.queued = [];
    this.queuedBytes = 0;
    this.ws.terminate();
  }

  private readAgain(): void {
    this.heard = true;
    this.ws.resume();
  }

  private received(data: Buffer, isBinary: boolean): void {
    if (this.ending) return;
    if (!isBinary) {
      if (this.options.binaryOnly) {
        // [MQTT-6.0.0-1] a data frame that is not binary closes the connection
        this.closeError ??= new FerryError('FERRY_WEBSOCKET_PROTOCOL', 'a text frame on a subprotocol that allows only binary frames');
        this.ws.close(1003, 'binary frames only');
        return;
      }
      if (!this.sawData) this.textReplies = true;
    }
    this.sawData = true;
    if (this.handler === undefined) this.early.push(data);
    else this.handler.data(data);
  }

  private flush(): void {
    this.flushScheduled = false;
    const chunks = this.queued;
    if (chunks.length === 0) return;
    this.queued = [];
    this.queuedBytes = 0;
    if (this.ws.readyState !== this.ws.OPEN) return;
    const binary = !(this.textReplies && chunks.every((c) => isUtf8(c)));
    const total = chunks.reduce((sum, c) => sum + c.length, 0);
    if (chunks.length === 1 || total <= joinBelow) {
      this.ws.send(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total), { binary, compress: false });
    } else {
      const last = chunks.length - 1;
      // each piece is valid UTF-8 on its own, so their concatenation is too
      chunks.forEach((chunk, i) => this.ws.send(chunk, { binary, compress: false, fin: i === last }));
    }
    // the batch may have been all that held writability back, and the socket took it without a drain to come
    if (this.writableWaiters.length > 0 && this.isWritable()) process.nextTick(() => this.drained());
  }

  private drained(): void {
    if (!this.isWritable()) return;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const resume of waiters) resume();
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queued = [];
    this.queuedBytes = 0;
    this.writableWaiters = [];
    const handler = this.handler;
    this.handler = undefined;
    handler?.closed(this.closeError);
  }
}
