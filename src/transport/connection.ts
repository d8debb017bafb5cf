import type { Socket } from 'node:net';
import type { PeerCertificate } from '../core/index.js';
import { FerryError } from '../errors.js';

/**
 * A client's byte stream, whatever carries it (TCP, TLS, and later WebSocket). Protocol sessions
 * write frames to it and read chunks from it; it batches writes per turn of the event loop and
 * tells when the peer is not keeping up.
 */
export interface TransportConnection {
  readonly id: number;
  readonly remoteAddress: string;
  /** The broker's end as the client reached it (`host:port`); undefined where the transport has no address of its own. */
  readonly localAddress?: string | undefined;
  /**
   * When the socket under it was accepted (`Date.now()`), before any TLS handshake or WebSocket
   * upgrade: a protocol's CONNECT time-out counts from here (`deadlineTimer`).
   */
  readonly openedAt?: number;
  /** The verified certificate a TLS client presented, for authentication; undefined on plain TCP and WebSocket. */
  readonly peerCertificate?: PeerCertificate | undefined;
  /**
   * Sends bytes; the writes of one turn of the event loop are joined into few system calls (over
   * TCP, the first write of a turn to an idle socket leaves at once, unless the last turn wrote
   * more than once, and the rest at the end of the turn; a connection that has already written in
   * this pass of the event loop holds a small turn to the pass's end). The bytes may be sent without a copy, so
   * the caller must not change them afterwards.
   */
  write(data: Buffer | string): void;
  /**
   * Room for `size` bytes at the end of what is written, for an encoder to fill (so a frame is not
   * built in a buffer of its own only to be copied); the caller fills it and then calls
   * `sendReserved`, before anything else is written. Undefined when the transport offers none for
   * that size.
   */
  reserve?(size: number): Buffer | undefined;
  /**
   * Sends the room `reserve` gave once it is filled: at once when it was lent for the first write
   * of a turn to an idle socket, else with the rest of the turn.
   */
  sendReserved?(): void;
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

/** `127.0.0.1:5000`, or `[::1]:5000` for IPv6, so the address can be taken back out without doubt. */
export function addressWithPort(address: string | undefined, port: number | undefined): string {
  const host = address ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`;
}

/**
 * Writes below this size are copied into one buffer per turn of the event loop (the slab) before
 * they reach the socket: each `socket.write` costs a stream request of its own, which for 4-byte
 * MQTT acknowledgements and 1 KiB deliveries cost more than the copy. Larger ones (message bodies)
 * go as they are.
 */
const JOIN_BELOW = 8 * 1024;
/** The largest slab; a fuller turn hands it to the socket and starts another. */
const SLAB_MAX = 64 * 1024;
/** The smallest slab (taken from Node's shared buffer pool). */
const SLAB_MIN = 1024;

/**
 * The room lent for the first write of a turn to an idle socket, which leaves at once: one buffer
 * for the whole process, free again as soon as the socket has taken what was written in it. At
 * light load nearly every frame is such a write, and a buffer of its own for each (8 KiB pools
 * taken one after another) is memory V8 counts towards its next full collection: at 1,000
 * deliveries a second that alone brought one every 16 s instead of every 8 s (bench/README.md).
 */
let lent = Buffer.allocUnsafeSlow(JOIN_BELOW);
/** The connection whose lent room is not yet sent: it goes before the room is lent again. */
let lentTo: SocketConnection | undefined;

function sendLent(): void {
  lentTo?.sendReserved();
}

/**
 * Slabs whose bytes the socket took whole at the end of their turn, free for the next turn of any
 * connection. A slab of 4 KiB or more is a buffer of its own, and a connection that writes twice a
 * turn at light load took a new one every turn: at 1,000 AMQP 0-9-1 deliveries a second, 2.4 MB/s of
 * new memory towards V8's next full collection.
 */
const freeSlabs: Buffer[] = [];
const FREE_SLABS_KEPT = 4;

function freeSlabOf(length: number): Buffer | undefined {
  for (let i = freeSlabs.length - 1; i >= 0; i--) {
    const slab = freeSlabs[i]!;
    if (slab.length < length) continue;
    freeSlabs[i] = freeSlabs[freeSlabs.length - 1]!;
    freeSlabs.pop();
    return slab;
  }
  return undefined;
}

/**
 * Passes of the event loop, counted only while connections write in them. A connection that has
 * already made its system call of this pass holds what it writes next (when that is small) to the
 * pass's end, so the dispatches caused by several sockets' reads in one pass (ten producers' sends
 * to one consumer) leave in one write instead of one each: on the virtual machines the benchmarks
 * ran on, a write to a loopback socket costs tens of µs, most of it the receiver's side of TCP.
 */
let pass = 0;
let passEndArmed = false;
let heldToPassEnd: SocketConnection[] = [];

/** Below this a turn's bytes may wait for the pass's end; a larger turn is worth its own write. */
const HOLD_BELOW = 16 * 1024;

function wroteInPass(): void {
  if (passEndArmed) return;
  passEndArmed = true;
  setImmediate(endPass);
}

function endPass(): void {
  passEndArmed = false;
  pass++;
  // taken first: one that fails to flush must not keep the others held
  const held = heldToPassEnd;
  heldToPassEnd = [];
  for (const connection of held) {
    try {
      connection.uncork(true);
    } catch (err) {
      connection.failed(err as Error);
      connection.destroy();
    }
  }
}

/** The SocketConnection a socket belongs to, for the socket's listeners (below). */
const owner = Symbol('ferry.socketConnection');
type OwnedSocket = Socket & { [owner]: SocketConnection };

// One listener function per event for every socket, finding its connection through the socket (the
// emitter is `this`): a closure per event and connection cost an idle connection about 300 bytes.
function onSocketDrain(this: OwnedSocket): void {
  this[owner].drained();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[owner].failed(err);
}
function onSocketClose(this: OwnedSocket): void {
  this[owner].onClose();
}
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[owner].received(chunk);
}

/** Connection ids are unique across every transport, so logs never confuse a WebSocket with a TCP client. */
export function newConnectionId(): number {
  return nextConnectionId++;
}

export class SocketConnection implements TransportConnection {
  readonly id = newConnectionId();
  readonly remoteAddress: string;
  readonly localAddress: string;
  private corked = false;
  /**
   * Small writes of this turn joined, `slab[slabStart, slabEnd)` not yet handed to the socket. The
   * slab is let go at the end of the turn (the socket holds what it was given), so an idle
   * connection keeps none; the next is sized by what this turn wrote.
   */
  private slab: Buffer | undefined;
  private slabStart = 0;
  private slabEnd = 0;
  private slabNext = SLAB_MIN;
  /** Bytes of `lent` this connection was given and has not sent yet. */
  private lentSize = 0;
  /**
   * Whether the first write of a turn may be built in `lent`. A TLS socket takes the bytes at once
   * (it encrypts them) but reports every write done only later, so it would keep each buffer lent
   * to it: its first write is built in a buffer of its own, as any frame was before.
   */
  private readonly lends: boolean;
  /** Writes in this turn; more than one at the turn's end marks the connection busy. */
  private turnWrites = 0;
  /**
   * The last turn wrote more than once: its first write is joined as well, since under load the
   * write that leaves at once is one system call more per turn, each waking the client for one frame.
   */
  private busy = false;
  /** The pass of the event loop in which this connection last made a write system call. */
  private wrotePass = -1;
  /** Corked until the pass's end (`heldToPassEnd`), not the turn's. */
  private held = false;
  private handler: TransportHandler | undefined;
  private writableWaiters: (() => void)[] | undefined;
  private isClosed = false;
  /** The broker is stopping (`stopReading`): what the client still sends is dropped. */
  private readingStopped = false;
  private closeError: Error | undefined;

  constructor(
    private readonly socket: Socket,
    readonly peerCertificate?: PeerCertificate,
    readonly openedAt: number = Date.now(),
    /** transport.maxPendingBytes: unsent bytes past which the connection is dropped; 0: no bound. */
    private readonly maxPendingBytes = 0,
    /** Called once the socket has closed, after the handler: the listener's bookkeeping, one function for all its connections. */
    private readonly gone?: (connection: SocketConnection) => void,
  ) {
    this.remoteAddress = addressWithPort(socket.remoteAddress, socket.remotePort);
    this.localAddress = addressWithPort(socket.localAddress, socket.localPort);
    this.lends = (socket as { encrypted?: boolean }).encrypted !== true;
    socket.setNoDelay(true);
    (socket as OwnedSocket)[owner] = this;
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.pause();
  }

  get pendingBytes(): number {
    return this.socket.writableLength + this.slabEnd - this.slabStart;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
    this.socket.on('data', onSocketData);
    this.socket.resume();
  }

  write(data: Buffer | string): void {
    if (this.lentSize > 0) this.sendReserved();
    if (this.isClosed || this.socket.destroyed) return;
    if (this.maxPendingBytes > 0 && this.socket.writableLength > this.maxPendingBytes) {
      // deliveries stop at the high-water mark; what still piles up (receipts, acknowledgements to
      // a client that never reads) is bounded here, as nats-server bounds a slow consumer
      this.socket.destroy(new FerryError('FERRY_SLOW_CONSUMER', `more than ${this.maxPendingBytes} bytes written and not taken by the client (transport.maxPendingBytes)`));
      return;
    }
    if (this.leavesAtOnce()) {
      // The first write of a turn to an idle socket leaves at once, and only what follows it in the
      // same turn is joined. Held to the end of the turn, it waited behind all the turn's other work:
      // a topic's fan-out to ten subscribers encodes every delivery before the first one left, and
      // the per-turn flush came 50-200 µs after the first write for most turns (bench/README.md). At
      // light load it costs no system call, since the turn would flush this socket once anyway.
      this.socket.write(data);
      this.wrote();
      this.cork();
      return;
    }
    this.cork();
    if (typeof data === 'string' || data.length >= JOIN_BELOW) {
      this.writeSlab();
      this.socket.write(data);
      return;
    }
    const at = this.room(data.length);
    data.copy(this.slab!, at);
  }

  reserve(size: number): Buffer | undefined {
    if (this.lentSize > 0) this.sendReserved();
    if (size >= JOIN_BELOW || this.isClosed || this.socket.destroyed) return undefined;
    if (this.leavesAtOnce()) {
      // the first write of a turn to an idle socket leaves at once (see write): room in the slab
      // would hold it to the turn's end, so it gets the lent room, which sendReserved writes
      if (!this.lends) return undefined;
      if (lentTo !== undefined) lentTo.sendReserved();
      else process.nextTick(sendLent); // should a caller never send it
      lentTo = this;
      this.lentSize = size;
      return lent.subarray(0, size);
    }
    this.cork();
    const at = this.room(size);
    return this.slab!.subarray(at, at + size);
  }

  sendReserved(): void {
    const size = this.lentSize;
    if (size === 0) return;
    this.lentSize = 0;
    lentTo = undefined;
    if (this.isClosed || this.socket.destroyed) return;
    this.socket.write(lent.subarray(0, size));
    this.wrote();
    // what the kernel did not take at once the socket keeps, in the buffer it was given: it is the
    // socket's until written, and the next room is lent from another
    if (this.socket.writableLength > 0) lent = Buffer.allocUnsafeSlow(JOIN_BELOW);
    this.cork();
  }

  private leavesAtOnce(): boolean {
    return !this.corked && !this.busy && this.socket.writableLength === 0 && this.wrotePass !== pass;
  }

  private wrote(): void {
    this.wrotePass = pass;
    wroteInPass();
  }

  /** Every write and reservation of a turn comes through here once: it is counted, and corks the socket for the turn. */
  private cork(): void {
    this.turnWrites++;
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => this.uncork());
  }

  /** Where `size` more bytes go in the slab, which is replaced when full. */
  private room(size: number): number {
    let slab = this.slab;
    if (slab === undefined || this.slabEnd + size > slab.length) {
      this.writeSlab();
      const length = Math.max(this.slabNext, size);
      this.slab = slab = freeSlabOf(length) ?? (length < SLAB_MAX ? Buffer.allocUnsafe(length) : Buffer.allocUnsafeSlow(length));
      this.slabStart = this.slabEnd = 0;
      this.slabNext = Math.min(SLAB_MAX, length * 2);
    }
    const at = this.slabEnd;
    this.slabEnd = at + size;
    return at;
  }

  private writeSlab(): void {
    if (this.slabEnd === this.slabStart) return;
    if (!this.socket.destroyed) this.socket.write(this.slab!.subarray(this.slabStart, this.slabEnd));
    this.slabStart = this.slabEnd;
  }

  isWritable(): boolean {
    return !this.socket.writableNeedDrain;
  }

  onWritable(resume: () => void): void {
    (this.writableWaiters ??= []).push(resume);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    if (this.lentSize > 0) this.sendReserved();
    if (this.isClosed) return;
    this.uncork(true);
    this.socket.end();
    // a peer that never reads must not keep the socket half-open for ever
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Ends the turn's cork, or at `passEnd` the pass's: see `heldToPassEnd`. */
  uncork(passEnd = false): void {
    if (!this.corked) return;
    if (passEnd) {
      this.held = false;
    } else if (this.held) {
      return;
    } else if (this.wrotePass === pass && this.socket.writableLength + this.slabEnd - this.slabStart < HOLD_BELOW && !this.isClosed && !this.socket.destroyed) {
      this.held = true;
      heldToPassEnd.push(this);
      return;
    }
    this.corked = false;
    const writes = this.turnWrites;
    this.busy = writes > 1;
    this.turnWrites = 0;
    this.writeSlab();
    // the next turn's slab: about twice what this one wrote
    this.slabNext = Math.max(SLAB_MIN, Math.min(SLAB_MAX, 2 * this.slabEnd));
    const slab = this.slab;
    this.slab = undefined;
    this.slabStart = this.slabEnd = 0;
    this.socket.uncork();
    if (writes > 0 && !passEnd) this.wrote();
    // what the kernel did not take at once the socket keeps, in the slab it was given; a slab taken
    // whole is free again
    if (slab !== undefined && freeSlabs.length < FREE_SLABS_KEPT && !this.socket.destroyed && this.socket.writableLength === 0) freeSlabs.push(slab);
  }

  /**
   * The broker is stopping: nothing more the client sends is taken, while what was taken still
   * gets its acknowledgement. Dropped rather than left unread, so the client's close is still seen.
   */
  stopReading(): void {
    this.readingStopped = true;
    this.socket.resume();
  }

  /** The socket's listeners (above). */
  received(chunk: Buffer): void {
    if (this.readingStopped) return;
    this.handler!.data(chunk);
  }

  failed(err: Error): void {
    this.closeError ??= err;
    // most errors come with the socket already destroyed, but some (TLS errors Node only reports) leave it open
    if (!this.socket.destroyed) this.socket.destroy();
  }

  drained(): void {
    const waiters = this.writableWaiters;
    if (waiters === undefined) return;
    this.writableWaiters = undefined;
    for (const resume of waiters) resume();
  }

  onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.writableWaiters = undefined;
    try {
      this.handler?.closed(this.closeError);
    } finally {
      this.gone?.(this);
    }
  }
}
