import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isFerryError } from '../errors.js';
import type { Broker, Logger, Message } from '../core/index.js';

export interface ManagementOptions {
  readonly host: string;
  readonly port: number;
}

function messageView(message: Message): Record<string, unknown> {
  return {
    id: message.id,
    destination: `${message.destination.kind}://${message.destination.name}`,
    persistent: message.persistent,
    priority: message.priority,
    timestamp: message.timestamp,
    expiration: message.expiration,
    correlationId: message.correlationId,
    type: message.type,
    groupId: message.groupId,
    properties: Object.fromEntries([...message.properties].map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('base64') : v])),
    bodyKind: message.bodyKind,
    bodyBytes: message.body.length,
    body: message.bodyKind === 'text' ? message.body.toString('utf8') : message.body.toString('base64'),
  };
}

/**
 * The management API over HTTP, JSON in and out: what `ferry stat`, `ferry purge` and operators'
 * scripts use.
 *
 *   GET    /api/stats                            queues, topics, durable subscriptions, client connections (who is connected as whom)
 *   GET    /api/store                            the journal's files, their live and dead bytes, and what keeps each
 *   GET    /api/queues/NAME/messages?limit=N     the first N waiting messages (nothing is consumed)
 *   DELETE /api/queues/NAME/messages             purge: drop every waiting message
 */
export class ManagementServer {
  private server: Server | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly options: ManagementOptions,
    private readonly logger: Logger,
  ) {}

  listen(): Promise<number> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : this.options.port);
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body, null, 2);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      if (req.method === 'GET' && url.pathname === '/api/stats') return send(200, this.broker.stats());
      if (req.method === 'GET' && url.pathname === '/api/store') {
        const report = this.broker.storeReport();
        return report === undefined ? send(404, { error: 'this broker keeps no files (memory store)' }) : send(200, report);
      }
      const match = /^\/api\/queues\/([^/]+)\/messages$/.exec(url.pathname);
      if (match !== null) {
        const name = decodeURIComponent(match[1]!);
        if (req.method === 'GET') {
          const limit = Math.max(0, Math.min(10_000, Number(url.searchParams.get('limit') ?? 100) || 0));
          return send(200, this.broker.peek(name, limit).map(messageView));
        }
        if (req.method === 'DELETE') return send(200, { queue: name, purged: this.broker.purge(name) });
        return send(405, { error: `${req.method ?? ''} is not allowed here` });
      }
      send(404, { error: `no such resource: ${url.pathname}` });
    } catch (err) {
      if (isFerryError(err)) {
        send(err.code === 'FERRY_DESTINATION_NOT_FOUND' ? 404 : 400, { error: err.message, code: err.code });
        return;
      }
      this.logger.error({ event: 'management.error', err }, 'management request failed');
      send(500, { error: 'internal error' });
    }
  }
}
