import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { BrokerAccess, Logger } from '../core/index.js';
import type { ProtocolAdapter } from './adapter.js';
import { bind, boundPort } from './bind.js';
import type { DescriptorBudget } from './descriptors.js';
import { SocketConnection, addressWithPort } from './connection.js';
import { OpeningDeadlines } from './deadline.js';
import { endUnfinishedHandshake, handshakeFailed, refuseRenegotiation, verifiedPeerCertificate, type TlsCertificates } from './tls.js';

export interface TcpListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Unsent bytes per connection past which deliveries to it pause until the socket drains. */
  readonly writeHighWaterMark: number;
  /** Speak TLS with this certificate. */
  readonly tls?: TlsCertificates | undefined;
  /** Open connections past which new ones are dropped as they come (listeners.NAME.maxConnections); 0: no limit. */
  readonly maxConnections?: number | undefined;
  /** Unsent bytes past which a connection is dropped (transport.maxPendingBytes); 0: no bound. */
  readonly maxPendingBytes?: number | undefined;
  /** ms a TLS client has from its TCP connect to the end of its handshake (transport.handshakeTimeout). */
  readonly handshakeTimeout?: number | undefined;
  /** The file descriptors every listener's clients share; a socket past it is closed at once. */
  readonly descriptors?: DescriptorBudget | undefined;
}

/** Accepts TCP (or TLS) connections on one port and hands each to one protocol adapter. */
export class TcpListener {
  private server: Server | undefined;
  private secure: TlsServer | undefined;
  private readonly connections = new Set<SocketConnection>();
  private readonly forget = (connection: SocketConnection): void => void this.connections.delete(connection);
  private readonly handshakes: OpeningDeadlines;
  /** The broker is stopping (`stopReading`): a client that comes now is not let in. */
  private readingStopped = false;

  constructor(
    readonly adapter: ProtocolAdapter,
    private readonly broker: BrokerAccess,
    private readonly options: TcpListenerOptions,
    private readonly logger: Logger,
  ) {
    const handshakeTimeout = options.handshakeTimeout ?? 10_000;
    this.handshakes = new OpeningDeadlines(handshakeTimeout, (socket, remote) => endUnfinishedHandshake(socket, remote, handshakeTimeout));
  }

  /** The name listeners and logs use: the protocol's, with `-tls` for a TLS listener. */
  get name(): string {
    return this.options.tls === undefined ? this.adapter.name : `${this.adapter.name}-tls`;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    const tls = this.options.tls;
    let server: Server;
    if (tls === undefined) {
      server = createServer({ highWaterMark: this.options.writeHighWaterMark, pauseOnConnect: true }, (socket) => this.accept(socket));
    } else {
      // no pauseOnConnect here: the handshake needs the socket read; the connection pauses once it is made
      const secure = createTlsServer({ ...tls.serverOptions('broker'), highWaterMark: this.options.writeHighWaterMark }, (socket) => this.accept(socket, socket));
      secure.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => handshakeFailed(this.logger, this.name, socket, err));
      refuseRenegotiation(secure, this.logger, this.name);
      // Node's own handshakeTimeout (120 s by default) is left as a backstop; this one counts from accept
      secure.on('connection', (socket: Socket) => {
        if (this.options.descriptors?.admit(socket, this.name) !== false) this.handshakes.accepted(socket);
      });
      tls.serve(secure, this.name, 'broker');
      this.secure = server = secure;
    }
    this.limitConnections(server);
    this.server = server;
    return bind(server, this.options.port, this.options.host, this.name, this.logger);
  }

  private limitConnections(server: Server): void {
    const max = this.options.maxConnections ?? 0;
    if (max <= 0) return;
    server.maxConnections = max;
    // Node closes the socket before any protocol sees it; the log says why
    server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      this.logger.warn({ event: 'listener.connection-dropped', listener: this.name, remote: addressWithPort(data?.remoteAddress, data?.remotePort), maxConnections: max }, `${this.name}: connection dropped, maxConnections (${max}) reached`);
    });
  }

  get port(): number | undefined {
    return boundPort(this.server);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The broker is stopping: what clients send from now on is not taken, and new clients are turned away (`SocketConnection.stopReading`). */
  stopReading(): void {
    this.readingStopped = true;
    for (const connection of this.connections) connection.stopReading();
  }

  /**
   * The broker may serve no more (it lost its HA lease): new clients are turned away and every
   * connection is dropped at once, with nothing more written to it or read from it. `close` then waits for them.
   */
  dropConnections(): void {
    this.readingStopped = true;
    for (const connection of this.connections) connection.destroy();
  }

  /** Stops accepting, ends every connection (flushing what was written), and waits for them to go. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    if (this.secure !== undefined) this.options.tls?.forget(this.secure);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.handshakes.clear();
    for (const connection of this.connections) connection.end();
    await closed;
  }

  private accept(socket: Socket, secure?: TLSSocket): void {
    if (secure?.destroyed === true) {
      // refused for want of a client certificate (TlsCertificates.serve), its address read for the log
      this.handshakes.opened(secure);
      return;
    }
    if (this.readingStopped) {
      socket.destroy();
      return;
    }
    // a TLS socket was counted when its TCP connection came
    if (secure === undefined && this.options.descriptors?.admit(socket, this.name) === false) return;
    const openedAt = secure === undefined ? Date.now() : (this.handshakes.opened(secure) ?? Date.now());
    const connection = new SocketConnection(socket, secure === undefined ? undefined : verifiedPeerCertificate(secure, this.logger, this.name), openedAt, this.options.maxPendingBytes ?? 0, this.forget);
    this.connections.add(connection);
    try {
      this.adapter.attach(connection, this.broker);
    } catch (err) {
      this.logger.error({ event: 'connection.attach-failed', protocol: this.adapter.name, err }, 'could not attach a connection');
      socket.destroy();
    }
  }
}
