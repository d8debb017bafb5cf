import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BrokerAccess, Logger } from '../core/index.js';
import type { ProtocolAdapter } from './adapter.js';
import { bind, boundPort } from './bind.js';
import { endUnfinishedHandshake, handshakeFailed, refuseRenegotiation, verifiedPeerCertificate, type TlsCertificates } from './tls.js';
import { WebSocketConnection } from './websocket-connection.js';
import { addressWithPort } from './connection.js';
import { OpeningDeadlines } from './deadline.js';
import { detectingAdapter } from './detect.js';
import { hostAllowed } from './host.js';
import type { DescriptorBudget } from './descriptors.js';

export interface WebSocketListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Unsent bytes per connection past which deliveries to it pause until the socket drains. */
  readonly writeHighWaterMark: number;
  /** Unsent bytes past which a connection is dropped (transport.maxPendingBytes); 0: no bound. */
  readonly maxPendingBytes?: number | undefined;
  /** Open connections past which new ones are dropped as they come (listeners.websocket.maxConnections); 0: no limit. */
  readonly maxConnections?: number | undefined;
  /** Largest WebSocket message accepted from a client (bytes); a larger one closes with 1009. */
  readonly maxPayload: number;
  /** ms between WebSocket pings, unless the connection's adapter has its own (`webSocketPingInterval`); a client that has sent nothing since the previous ping, not even its pong, is dropped (one the broker is not reading is not judged). 0: no pings. */
  readonly pingInterval: number;
  /** ms a client has to send its upgrade request after connecting, and, when it offered no subprotocol, the bytes that tell its protocol. */
  readonly handshakeTimeout: number;
  /** Browser origins (`https://app.example.com`) allowed besides the broker's own host when that is an IP address or localhost; `*` allows any. */
  readonly allowedOrigins: readonly string[];
  /** Speak wss with this certificate. */
  readonly tls?: TlsCertificates | undefined;
  /** The file descriptors every listener's clients share; a socket past it is closed at once. */
  readonly descriptors?: DescriptorBudget | undefined;
}

/**
 * Subprotocols whose specifications allow only binary data frames: MQTT over WebSocket
 * [MQTT-6.0.0-1] and AMQP's WebSocket binding. The table lives here because it is a rule of the
 * WebSocket binding, not of the protocol's sessions, which never see frames.
 */
const binaryOnlySubprotocols = new Set(['mqtt', 'mqttv3.1', 'amqp']);
/** The subprotocol a client that offers none is served as when its first bytes name no protocol. */
const NO_SUBPROTOCOL = 'stomp';

/** RFC 6455 4.1: a subprotocol is a token; the header is a comma-separated list of them. */
function offeredSubprotocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

function refuse(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Whether a browser page from `origin` may open a WebSocket here. A request without an Origin
 * header is no browser's (browsers always send one on a WebSocket upgrade), so it carries no
 * cookies or other ambient authority of a user and is let through. A page is let in when its
 * origin is listed, or when it names the very host and port the request is addressed to (the
 * broker's own pages) and that host is an IP address or localhost; any other page could otherwise
 * drive a user's browser to the broker from a site the user merely visits (cross-site WebSocket
 * hijacking). A page from a name of its own passes only by being listed: the page's name and the
 * Host header agree as well for a page whose name was since pointed at the broker (DNS rebinding).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  const normalized = origin.trim().toLowerCase().replace(/\/$/, '');
  if (allowed.some((a) => a.trim().toLowerCase().replace(/\/$/, '') === normalized)) return true;
  if (host === undefined || normalized === 'null') return false;
  try {
    return new URL(normalized).host === host.trim().toLowerCase() && hostAllowed(host, []);
  } catch {
    return false;
  }
}

/**
 * One port for every protocol that has WebSocket subprotocols; the subprotocol a client offers
 * picks the adapter, and the adapter's session is the very one that serves TCP clients.
 *
 * A client that offers none at all is served by the protocol its first bytes name (each adapter's
 * `detect`, as on a shared TCP port): an MQTT client opened bare gets its CONNACK rather than
 * silence and a STOMP time-out. Bytes that name none, or none by websocket.handshakeTimeout, are
 * served as `stomp`, as ActiveMQ's WebSocket transport serves every bare client (web pages written
 * for ActiveMQ open `new WebSocket(url)` bare). One that offers only subprotocols Ferry does not
 * serve gets HTTP 400 before the upgrade, with the list of subprotocols in the body: there is no
 * session to close, and browsers report the failure at once instead of opening a socket that a
 * later close frame would explain.
 * Any path is accepted (`/`, `/stomp`, `/mqtt`, ...), since clients differ in which they use.
 */
export class WebSocketListener {
  private server: Server | undefined;
  private secure: HttpsServer | undefined;
  private readonly wss: WebSocketServer;
  private readonly bySubprotocol = new Map<string, ProtocolAdapter>();
  private readonly connections = new Map<WebSocket, WebSocketConnection>();
  /** The protocol serving each connection, once it is known (a client without a subprotocol: once its first bytes tell it). */
  private readonly protocols = new WeakMap<WebSocket, string>();
  /** Each connection's ping interval, its adapter's; those of 0 are not here. */
  private readonly pingIntervals = new WeakMap<WebSocket, number>();
  /** One sweep per ping interval in use. */
  private readonly pingers: NodeJS.Timeout[] = [];
  /** Sockets that have not sent their upgrade request yet, each on its own websocket.handshakeTimeout. */
  private readonly upgrades: OpeningDeadlines;
  /** The broker is stopping (`stopReading`): a client that comes now is not let in. */
  private readingStopped = false;

  constructor(
    private readonly adapters: readonly ProtocolAdapter[],
    private readonly broker: BrokerAccess,
    private readonly options: WebSocketListenerOptions,
    private readonly logger: Logger,
  ) {
    // under TLS the socket is the TCP one below the handshake: nothing readable can be said on it
    this.upgrades = new OpeningDeadlines(options.handshakeTimeout, (socket, remote) => (options.tls === undefined ? refuse(socket, 408, 'No upgrade request in time') : endUnfinishedHandshake(socket, remote, options.handshakeTimeout)));
    for (const adapter of adapters) {
      for (const subprotocol of adapter.webSocketProtocols) {
        if (!this.bySubprotocol.has(subprotocol)) this.bySubprotocol.set(subprotocol, adapter);
      }
    }
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      // the first offered subprotocol served picks the protocol; of those the client offers for
      // it, the adapter's order picks one (STOMP's newest version, as ActiveMQ picks it)
      handleProtocols: (offered) => {
        const adapter = [...offered].map((p) => this.bySubprotocol.get(p)).find((a) => a !== undefined);
        return adapter?.webSocketProtocols.find((p) => offered.has(p) && this.bySubprotocol.get(p) === adapter) ?? false;
      },
    });
  }

  /** The subprotocols served, in the order the adapters list them. */
  get subprotocols(): string[] {
    return [...this.bySubprotocol.keys()];
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async listen(): Promise<number> {
    const timeout = this.options.handshakeTimeout;
    // the server checks its timeouts on this interval, so it bounds how late a silent socket goes
    const httpOptions = { headersTimeout: timeout, requestTimeout: timeout, connectionsCheckingInterval: Math.min(timeout, 1000) };
    const answer = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', Connection: 'close' });
      res.end(`This is Ferry's WebSocket port; connect with one of the subprotocols ${this.subprotocols.join(', ')}.\n`);
    };
    const tls = this.options.tls;
    let server: Server;
    if (tls === undefined) {
      server = createServer(httpOptions, answer);
    } else {
      const secure = createHttpsServer({ ...httpOptions, ...tls.serverOptions('broker') }, answer);
      secure.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => handshakeFailed(this.logger, this.name, socket, err));
      refuseRenegotiation(secure, this.logger, this.name);
      tls.serve(secure, this.name, 'broker');
      this.secure = secure;
      server = secure;
    }
    // each socket's upgrade deadline runs on its own timer: the server's own headersTimeout is only
    // checked once a second (connectionsCheckingInterval), and only once a request has begun
    server.on('connection', (socket: Socket) => {
      if (this.options.descriptors?.admit(socket, this.name) !== false) this.upgrades.accepted(socket);
    });
    server.on('request', (req: IncomingMessage) => this.upgrades.opened(req.socket));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) socket.destroy();
      else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refuse(socket, 408, 'No upgrade request in time');
      else refuse(socket, 400, 'Bad request');
    });
    if ((this.options.maxConnections ?? 0) > 0) {
      server.maxConnections = this.options.maxConnections!;
      server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
        this.logger.warn({ event: 'listener.connection-dropped', listener: this.name, remote: addressWithPort(data?.remoteAddress, data?.remotePort), maxConnections: server.maxConnections }, `${this.name}: connection dropped, maxConnections reached`);
      });
    }
    this.server = server;
    const port = await bind(server, this.options.port, this.options.host, this.name, this.logger);
    for (const interval of new Set(this.adapters.map((a) => this.pingIntervalOf(a)))) {
      if (interval === 0) continue;
      // judged after this turn's reads: a broker held up past the interval (a long pause of its
      // own) would otherwise drop clients whose pongs came meanwhile and wait unread in its sockets
      const pinger = setInterval(() => setImmediate(() => this.ping(interval)), interval);
      pinger.unref();
      this.pingers.push(pinger);
    }
    return port;
  }

  /** `websocket`, or `websocket-tls` for wss. */
  get name(): string {
    return this.options.tls === undefined ? 'websocket' : 'websocket-tls';
  }

  get port(): number | undefined {
    return boundPort(this.server);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The broker is stopping: what clients send from now on is not taken, and new clients are turned away (`WebSocketConnection.stopReading`). */
  stopReading(): void {
    this.readingStopped = true;
    for (const connection of this.connections.values()) connection.stopReading();
  }

  /**
   * The broker may serve no more (it lost its HA lease): new clients are turned away and every
   * connection is dropped at once, with nothing more written to it or read from it. `close` then waits for them.
   */
  dropConnections(): void {
    this.readingStopped = true;
    for (const connection of this.connections.values()) connection.destroy();
  }

  /** Stops accepting, ends every connection (flushing what was written), and waits for them to go. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    if (this.secure !== undefined) this.options.tls?.forget(this.secure);
    for (const pinger of this.pingers) clearInterval(pinger);
    this.upgrades.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const gone = [...this.connections.keys()].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
    for (const connection of this.connections.values()) connection.goAway();
    server.closeIdleConnections();
    await Promise.all([closed, ...gone]);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const openedAt = this.upgrades.opened(req.socket);
    socket.on('error', () => socket.destroy());
    const origin = req.headers.origin;
    if (!originAllowed(origin, req.headers.host, this.options.allowedOrigins)) {
      this.logger.warn(
        { event: 'websocket.origin-refused', protocol: this.name, origin, host: req.headers.host, remoteAddress: addressWithPort(req.socket.remoteAddress, req.socket.remotePort) },
        `WebSocket upgrade from a page at ${origin ?? ''} refused: not in websocket.allowedOrigins`,
      );
      refuse(socket, 403, `Pages from ${origin ?? ''} may not connect here; the broker's websocket.allowedOrigins lists those that may (a page served by the host it connects to counts as the broker's own only when that host is an IP address or localhost)`);
      return;
    }
    const offered = offeredSubprotocols(req.headers['sec-websocket-protocol']);
    const adapter = offered.map((p) => this.bySubprotocol.get(p)).find((a) => a !== undefined);
    if (offered.length > 0 && adapter === undefined) {
      this.logger.debug({ event: 'websocket.refused', offered, remote: req.socket.remoteAddress }, 'WebSocket client offered no subprotocol served here');
      refuse(socket, 400, `Offer one of the WebSocket subprotocols ${this.subprotocols.join(', ')}; offered: ${offered.join(', ') || 'none'}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, socket, req, adapter, openedAt));
  }

  /** `offeredAdapter`: the one the client's subprotocol names; undefined when it offered none. */
  private accept(ws: WebSocket, socket: Duplex, req: IncomingMessage, offeredAdapter: ProtocolAdapter | undefined, openedAt: number | undefined): void {
    if (this.readingStopped) {
      ws.terminate();
      return;
    }
    const remoteAddress = addressWithPort(req.socket.remoteAddress, req.socket.remotePort);
    const connection = new WebSocketConnection(ws, socket, remoteAddress, {
      writeHighWaterMark: this.options.writeHighWaterMark,
      binaryOnly: binaryOnlySubprotocols.has(ws.protocol),
      peerCertificate: this.options.tls === undefined ? undefined : verifiedPeerCertificate(req.socket as TLSSocket, this.logger, this.name),
      openedAt,
      maxPendingBytes: this.options.maxPendingBytes,
    });
    this.connections.set(ws, connection);
    // a client whose protocol is not yet told is not pinged: websocket.handshakeTimeout bounds its wait
    if (offeredAdapter !== undefined) this.served(ws, offeredAdapter);
    ws.once('close', () => this.connections.delete(ws));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return;
      // ws sends its 1009 close frame as soon as it reads the frame's length, before this event and
      // without reading the payload: nothing in the protocol's own terms can go out ahead of it
      this.logger.warn(
        { event: 'websocket.message-too-large', protocol: this.protocols.get(ws), subprotocol: ws.protocol, remote: remoteAddress, setting: 'websocket.maxPayload', limit: this.options.maxPayload },
        `a WebSocket message over websocket.maxPayload (${this.options.maxPayload} bytes) closed the connection with 1009`,
      );
    });
    const adapter = offeredAdapter ?? this.byFirstBytes(ws, remoteAddress);
    this.logger.debug({ event: 'websocket.accepted', protocol: adapter.name, subprotocol: ws.protocol, remote: remoteAddress }, 'WebSocket client connected');
    try {
      adapter.attach(connection, this.broker);
    } catch (err) {
      this.logger.error({ event: 'connection.attach-failed', protocol: adapter.name, err }, 'could not attach a connection');
      ws.terminate();
    }
  }

  /**
   * For a client that offered no subprotocol: the adapter whose `detect` recognises its first
   * bytes takes it, and sets its ping interval; STOMP takes what none recognises.
   */
  private byFirstBytes(ws: WebSocket, remoteAddress: string): ProtocolAdapter {
    const told = (adapter: ProtocolAdapter): ProtocolAdapter => ({
      name: adapter.name,
      detect: (firstBytes) => adapter.detect(firstBytes),
      webSocketProtocols: adapter.webSocketProtocols,
      attach: (connection, broker) => {
        this.logger.debug({ event: 'websocket.protocol-detected', protocol: adapter.name, remote: remoteAddress }, `WebSocket client without a subprotocol served as ${adapter.name}`);
        this.served(ws, adapter);
        adapter.attach(connection, broker);
      },
      close: () => {},
    });
    const fallback = this.bySubprotocol.get(NO_SUBPROTOCOL);
    return detectingAdapter(this.name, this.adapters.map(told), this.options.handshakeTimeout, this.logger, fallback === undefined ? undefined : told(fallback), 'fallback');
  }

  private served(ws: WebSocket, adapter: ProtocolAdapter): void {
    this.protocols.set(ws, adapter.name);
    const interval = this.pingIntervalOf(adapter);
    if (interval > 0) this.pingIntervals.set(ws, interval);
  }

  private pingIntervalOf(adapter: ProtocolAdapter): number {
    return adapter.webSocketPingInterval ?? this.options.pingInterval;
  }

  private ping(interval: number): void {
    for (const [ws, connection] of this.connections) {
      if (this.pingIntervals.get(ws) === interval && !connection.pingSweep()) ws.terminate();
    }
  }
}
