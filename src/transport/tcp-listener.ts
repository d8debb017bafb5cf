import { createServer, type Server, type Socket } from 'node:net';
import type { BrokerAccess, Logger } from '../core/index.js';
import type { ProtocolAdapter } from './adapter.js';
import { bind, boundPort } from './bind.js';
import { SocketConnection } from './connection.js';

export interface TcpListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Unsent bytes per connection past which deliveries to it pause until the socket drains. */
  readonly writeHighWaterMark: number;
}

/** Accepts TCP connections on one port and hands each to one protocol adapter. */
export class TcpListener {
  private server: Server | undefined;
  private readonly connections = new Set<SocketConnection>();

  constructor(
    readonly adapter: ProtocolAdapter,
    private readonly broker: BrokerAccess,
    private readonly options: TcpListenerOptions,
    private readonly logger: Logger,
  ) {}

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    const server = createServer({ highWaterMark: this.options.writeHighWaterMark, pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server = server;
    return bind(server, this.options.port, this.options.host, this.adapter.name, this.logger);
  }

  get port(): number | undefined {
    return boundPort(this.server);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, ends every connection (flushing what was written), and waits for them to go. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.connections) connection.end();
    await closed;
  }

  private accept(socket: Socket): void {
    const connection = new SocketConnection(socket);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
    try {
      this.adapter.attach(connection, this.broker);
    } catch (err) {
      this.logger.error({ event: 'connection.attach-failed', protocol: this.adapter.name, err }, 'could not attach a connection');
      socket.destroy();
    }
  }
}
