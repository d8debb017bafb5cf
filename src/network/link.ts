import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { FerryError } from '../errors.js';
import { confirmSilence } from '../transport/index.js';
import { LINK_FORM, StompParser, encodeFrame, type DuplexEnd, type DuplexPeer, type StompFrame } from '../protocols/stomp/index.js';

/** The receipt asked for with a SUBSCRIBE is this and the subscription id. */
const SUBSCRIBED = 'subscribed:';

export interface LinkAddress {
  readonly host: string;
  readonly port: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** Link over TLS, verifying the neighbour against `ca` (else the system's authorities), presenting `cert` when given. */
  readonly tls?: LinkTls | undefined;
  /**
   * STOMP heart-beat asked for, ms, both ways; 0: none. A link cut without a reset (a partition)
   * is found by its silence, here and on the neighbour, which then gives back what it had in
   * flight on this link; TCP keep-alive alone would leave the neighbour waiting.
   */
  readonly heartbeat: number;
}

export interface LinkTls {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  /** The name the neighbour's certificate must carry; default the host. */
  readonly servername?: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** A message the neighbour dispatched to one of the link's subscriptions. */
export interface LinkMessage {
  readonly subscription: string;
  /** What an ACK or NACK names (STOMP 1.2's `ack` header). */
  readonly ackId: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  /** In the link form (`NeighbourLink.linkForm`): typed, whole, and with no header a producer named. */
  readonly linkForm: boolean;
}

export interface LinkSubscription {
  readonly id: string;
  /** `/queue/NAME` or `/topic/PATTERN`. */
  readonly destination: string;
  readonly selector: string;
  readonly prefetch: number;
  readonly priority: number | undefined;
  /** A durable subscription of the link's client id, kept by the neighbour while the link is down. */
  readonly durableName?: string | undefined;
  /** Asks a topic's retained messages first, each marked `ferry-retained:true` (docs/network.md, "Retained messages"). */
  readonly retained?: boolean | undefined;
}

/**
 * What carries a link's frames: a socket of its own, or, for a duplex link a neighbour opened to
 * this broker, that neighbour's STOMP connection here.
 */
interface LinkWire {
  write(command: string, headers: Iterable<readonly [string, string]>): void;
  /** Flushes, then closes. */
  end(): void;
  destroy(): void;
}

/**
 * A network connector's STOMP 1.2 connection to its neighbour: the neighbour sees an ordinary
 * client that subscribes with individual acknowledgement. It speaks through Ferry's own codec.
 */
export class NeighbourLink {
  private closed = false;
  onMessage: ((message: LinkMessage) => void) | undefined;
  /** The neighbour has opened the subscription of this id. */
  onSubscribed: ((id: string) => void) | undefined;
  /** The neighbour refused the subscription of this id (and closes the link, as STOMP's ERROR does). */
  onRefused: ((id: string, reason: FerryError) => void) | undefined;
  onClose: ((reason: FerryError) => void) | undefined;
  /**
   * A duplex link: the client frames the neighbour sends (its own link running the other way over
   * this connection), for the connector to serve. Unset, such a frame breaks the link.
   */
  onClientFrame: ((frame: StompFrame) => void) | undefined;
  /** Told once when the connection goes, whoever closed it (the server side of a duplex link). */
  onGone: (() => void) | undefined;
  private wire: LinkWire | undefined;
  /** Frames that came before the connector set its handlers (in the same read as CONNECTED), until `start`. */
  private early: StompFrame[] | undefined = [];

  private constructor(
    /** The neighbour's broker name, from its CONNECTED frame. */
    readonly brokerName: string,
    /**
     * The neighbour writes its messages in the link form (`ferry-link-form` in its CONNECTED):
     * typed, whole, and with no header a producer named. Else they read as a plain client's.
     */
    readonly linkForm: boolean,
  ) {}

  /**
   * Connects and logs in as `clientId` (the owner of the link's durable subscriptions there, taking
   * over from an older link of the same connector); rejects with FERRY_NETWORK_LINK when the
   * neighbour cannot be reached or refuses. `extraHeaders` go on the CONNECT frame (a duplex link's settings).
   */
  static open(address: LinkAddress, clientId: string, timeoutMs: number, extraHeaders: readonly [string, string][] = []): Promise<NeighbourLink> {
    return new Promise((resolve, reject) => {
      const tls = address.tls;
      const socket: Socket =
        tls === undefined
          ? connect({ host: address.host, port: address.port })
          : connectTls({ host: address.host, port: address.port, ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername ?? address.host, rejectUnauthorized: tls.rejectUnauthorized });
      // a neighbour killed without closing its sockets is found by keep-alive probes, not by a write
      socket.setKeepAlive(true, 1000);
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new Error(`no CONNECTED within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new FerryError('FERRY_NETWORK_LINK', `cannot link to ${address.host}:${address.port}: ${err.message}`, { cause: err }));
      };
      socket.once('error', fail);
      // a neighbour that takes the connection and closes it (a proxy with nothing behind it, a
      // broker stopping) fails the attempt now, not at the time-out: the next address, or the
      // reconnect delay, comes at once
      const closed = (): void => fail(new Error('the connection closed before CONNECTED'));
      socket.once('close', closed);
      // the CONNECT frame goes once the handshake is done: its credentials never leave in clear
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        let link: NeighbourLink | undefined;
        const parser = new StompParser({ maxFrameSize: 1024 * 1024, maxHeaderSize: 64 * 1024, maxHeaders: 1000 }, (frame) => {
          // the rest of the read that carried CONNECTED (a duplex neighbour's own CONNECT may follow at once)
          if (link !== undefined) return link.receive(frame);
          socket.off('data', onData);
          socket.off('error', fail);
          socket.off('close', closed);
          clearTimeout(timer);
          if (frame.command !== 'CONNECTED') return fail(new Error(frame.headers.get('message') ?? frame.command));
          socket.pause();
          link = new NeighbourLink(frame.headers.get('ferry-broker') ?? `${address.host}:${address.port}`, frame.headers.get('ferry-link-form') === LINK_FORM);
          link.wire = new SocketWire(socket, link, negotiated(address.heartbeat, frame.headers.get('heart-beat')));
          resolve(link);
          socket.resume();
        }, fail);
        // the link offers 1.2 alone: an ERROR refusing it has its headers escaped as 1.2 says (`\c`
        // for a colon), which the parser undoes; CONNECTED's are never escaped
        parser.version = '1.2';
        const onData = (chunk: Buffer): void => parser.push(chunk);
        socket.on('data', onData);
        const headers: [string, string][] = [['accept-version', '1.2'], ['host', address.host], ['heart-beat', `${address.heartbeat},${address.heartbeat}`], ['client-id', clientId], ['ferry.take-over', 'true'], ['ferry.link-form', LINK_FORM], ...extraHeaders];
        if (address.username !== undefined) headers.push(['login', address.username]);
        if (address.password !== undefined) headers.push(['passcode', address.password]);
        socket.write(encodeFrame('CONNECT', headers, undefined, '1.2'));
      });
    });
  }

  /**
   * The link that runs the other way over a duplex connection a neighbour opened here: it logs in
   * to the neighbour through that connection (the neighbour serves it as a STOMP client of its own).
   * `end` takes the neighbour's server frames; `link` resolves on its CONNECTED.
   */
  static over(peer: DuplexPeer, clientId: string, timeoutMs: number): { readonly link: Promise<NeighbourLink>; readonly end: DuplexEnd } {
    let current: NeighbourLink | undefined;
    let settle: { resolve(link: NeighbourLink): void; reject(err: Error): void } | undefined;
    const link = new Promise<NeighbourLink>((resolve, reject) => (settle = { resolve, reject }));
    const timer = setTimeout(() => refuse(`no CONNECTED within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    const refuse = (why: string): void => {
      clearTimeout(timer);
      settle?.reject(new FerryError('FERRY_NETWORK_LINK', `the duplex link from ${peer.remoteAddress} did not open: ${why}`));
      settle = undefined;
    };
    const end: DuplexEnd = {
      frame: (frame) => {
        if (current !== undefined) return current.receive(frame);
        if (settle === undefined) return;
        if (frame.command !== 'CONNECTED') {
          refuse(frame.headers.get('message') ?? frame.command);
          return peer.close();
        }
        clearTimeout(timer);
        current = new NeighbourLink(frame.headers.get('ferry-broker') ?? peer.remoteAddress, frame.headers.get('ferry-link-form') === LINK_FORM);
        current.wire = { write: (command, headers) => peer.write(command, headers), end: () => peer.close(), destroy: () => peer.close() };
        settle.resolve(current);
        settle = undefined;
      },
      closed: () => {
        refuse('the connection closed');
        current?.lost(new FerryError('FERRY_NETWORK_LINK', 'the neighbour closed the duplex link'));
      },
    };
    peer.write('CONNECT', [['accept-version', '1.2'], ['host', 'ferry-network'], ['heart-beat', '0,0'], ['client-id', clientId], ['ferry.take-over', 'true'], ['ferry.link-form', LINK_FORM]]);
    return { link, end };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The connector has set its handlers: frames from now on (and those that came early) go to them. */
  start(): void {
    const early = this.early ?? [];
    this.early = undefined;
    for (const frame of early) this.receive(frame);
  }

  subscribe(subscription: LinkSubscription): void {
    const headers: [string, string][] = [
      ['id', subscription.id],
      ['destination', subscription.destination],
      ['ack', 'client-individual'],
      ['selector', subscription.selector],
      ['activemq.prefetchSize', String(subscription.prefetch)],
      ['receipt', `${SUBSCRIBED}${subscription.id}`],
    ];
    if (subscription.priority !== undefined) headers.push(['activemq.priority', String(subscription.priority)]);
    if (subscription.durableName !== undefined) headers.push(['activemq.subscriptionName', subscription.durableName]);
    if (subscription.retained === true) headers.push(['ferry.retained', 'all']);
    this.write('SUBSCRIBE', headers);
  }

  /** Ends a subscription; with `durableName`, the neighbour also deletes the durable subscription and what it kept. */
  unsubscribe(id: string, durableName?: string): void {
    this.write('UNSUBSCRIBE', durableName === undefined ? [['id', id]] : [['id', id], ['activemq.subscriptionName', durableName]]);
  }

  ack(ackId: string): void {
    this.write('ACK', [['id', ackId]]);
  }

  nack(ackId: string): void {
    this.write('NACK', [['id', ackId]]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.write('DISCONNECT', [], true);
    this.wire?.end();
    this.gone();
  }

  /**
   * Drops the connection at once, saying nothing more to the neighbour: what it sent and was not
   * acknowledged here, it sends again, to this broker's successor.
   */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.wire?.destroy();
    this.gone();
  }

  /** Bytes a duplex link's server side (this broker serving the neighbour) writes down the connection. */
  writeServerBytes(data: Buffer | string): void {
    if (this.wire instanceof SocketWire) this.wire.writeBytes(data);
  }

  /** Bytes unsent on the connection: what the server side of a duplex link holds back on. */
  get pendingBytes(): number {
    return this.wire instanceof SocketWire ? this.wire.pendingBytes : 0;
  }

  /** Calls `resume` once the unsent bytes have drained. */
  onDrained(resume: () => void): void {
    if (this.wire instanceof SocketWire) this.wire.onDrained(resume);
    else resume();
  }

  private write(command: string, headers: [string, string][], evenIfClosed = false): void {
    if (this.closed && !evenIfClosed) return;
    this.wire?.write(command, headers);
  }

  /** A frame from the neighbour. */
  receive(frame: StompFrame): void {
    if (this.early !== undefined) {
      this.early.push(frame);
      return;
    }
    if (frame.command === 'MESSAGE') {
      const subscription = frame.headers.get('subscription');
      const ackId = frame.headers.get('ack');
      if (subscription === undefined || ackId === undefined) {
        return this.lost(new FerryError('FERRY_NETWORK_LINK', 'the neighbour sent a MESSAGE without subscription or ack header'));
      }
      this.onMessage?.({ subscription, ackId, headers: frame.headers, body: frame.body, linkForm: this.linkForm });
    } else if (frame.command === 'RECEIPT') {
      const receipt = frame.headers.get('receipt-id') ?? '';
      if (receipt.startsWith(SUBSCRIBED)) this.onSubscribed?.(receipt.slice(SUBSCRIBED.length));
    } else if (frame.command === 'ERROR') {
      const reason = new FerryError('FERRY_NETWORK_LINK', `the neighbour refused: ${frame.headers.get('message') ?? frame.body.toString('utf8')}`);
      const receipt = frame.headers.get('receipt-id') ?? '';
      if (receipt.startsWith(SUBSCRIBED)) this.onRefused?.(receipt.slice(SUBSCRIBED.length), reason);
      this.lost(reason);
    } else if (this.onClientFrame !== undefined) {
      this.onClientFrame(frame);
    } else {
      this.lost(new FerryError('FERRY_NETWORK_LINK', `the neighbour sent ${frame.command} on a link that is not duplex`));
    }
  }

  /** The link is gone (or must go): closes what carries it and tells the connector, once. */
  lost(reason: FerryError): void {
    this.wire?.destroy();
    this.gone();
    // a link closed on purpose tells no one
    if (this.closed) return;
    this.closed = true;
    const onClose = this.onClose;
    this.onClose = undefined;
    onClose?.(reason);
  }

  private gone(): void {
    const onGone = this.onGone;
    this.onGone = undefined;
    onGone?.();
  }
}

/** A link's own socket: the parser, the writes of a turn joined, and STOMP heart-beats both ways. */
class SocketWire implements LinkWire {
  private readonly parser: StompParser;
  private corked = false;
  private wroteSinceBeat = false;
  private lastReceived = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly link: NeighbourLink,
    /** What the neighbour's CONNECTED answered to the heart-beat asked for: [it sends every, it wants every] ms. */
    beats: readonly [number, number],
  ) {
    this.parser = new StompParser(
      { maxFrameSize: 1024 * 1024 * 1024, maxHeaderSize: 1024 * 1024, maxHeaders: 100_000 },
      (frame) => link.receive(frame),
      (err) => link.lost(new FerryError('FERRY_NETWORK_LINK', `the neighbour sent a frame that does not parse: ${err.message}`, { cause: err })),
    );
    this.parser.version = '1.2';
    socket.on('data', (chunk: Buffer) => {
      this.lastReceived = Date.now();
      this.parser.push(chunk);
    });
    this.startHeartbeats(beats);
    socket.on('error', (err) => link.lost(new FerryError('FERRY_NETWORK_LINK', `link to the neighbour failed: ${err.message}`, { cause: err })));
    socket.on('close', () => link.lost(new FerryError('FERRY_NETWORK_LINK', 'the neighbour closed the link')));
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  onDrained(resume: () => void): void {
    if (this.socket.writableLength === 0) resume();
    else this.socket.once('drain', resume);
  }

  write(command: string, headers: Iterable<readonly [string, string]>): void {
    this.writeBytes(encodeFrame(command, headers, undefined, '1.2'));
  }

  writeBytes(data: Buffer | string): void {
    if (this.socket.destroyed) return;
    // frames to the neighbour are small (acks, subscriptions), bounded by the prefetch; the
    // acknowledgements of one sync come in one turn and leave in one write
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(data);
    this.wroteSinceBeat = true;
  }

  end(): void {
    this.stopHeartbeats();
    this.socket.end();
  }

  destroy(): void {
    this.stopHeartbeats();
    this.socket.destroy();
  }

  private startHeartbeats([theySend, theyWant]: readonly [number, number]): void {
    if (theyWant > 0) {
      // half the interval: the neighbour never waits longer than it asked, whenever the last frame left
      this.timers.push(
        setInterval(() => {
          if (!this.wroteSinceBeat && !this.socket.destroyed) this.socket.write('\n');
          this.wroteSinceBeat = false;
        }, Math.max(1, Math.floor(theyWant / 2))),
      );
    }
    if (theySend > 0) {
      const limit = theySend * 2;
      this.timers.push(
        setInterval(() => {
          const silent = (): boolean => Date.now() - this.lastReceived > limit;
          if (silent()) confirmSilence(silent, () => this.link.lost(new FerryError('FERRY_NETWORK_LINK', `nothing from the neighbour for more than ${limit} ms (heart-beat ${theySend} ms)`)));
        }, Math.max(10, Math.floor(theySend / 2))),
      );
    }
    for (const timer of this.timers) timer.unref();
  }

  private stopHeartbeats(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }
}

/**
 * STOMP 1.1 heart-beating from the link's side: the neighbour's CONNECTED says `sx,sy` (it sends
 * every sx, wants every sy); each direction is on only if both sides want it.
 */
function negotiated(asked: number, answer: string | undefined): [number, number] {
  if (asked === 0 || answer === undefined) return [0, 0];
  const [sx, sy] = answer.split(',').map(Number);
  const send = Number.isInteger(sx) && sx! > 0 ? Math.max(sx!, asked) : 0;
  const want = Number.isInteger(sy) && sy! > 0 ? Math.max(sy!, asked) : 0;
  return [send, want];
}
