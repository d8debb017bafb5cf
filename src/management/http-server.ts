import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { FerryError, isFerryError } from '../errors.js';
import { allowEveryone, type Authenticator, type Authorizer, type Broker, type Credentials, type Logger, type Message, type Principal } from '../core/index.js';
import { addressWithPort, handshakeFailed, verifiedPeerCertificate, type TlsCertificates } from '../transport/index.js';

export interface ManagementOptions {
  readonly host: string;
  readonly port: number;
  /** Who may use the API; the broker's own, so the API admits whom the protocols admit. Default: everyone. */
  readonly authenticator?: Authenticator | undefined;
  /** What each may do: browse a queue's messages, purge it (admin). Default: everything. */
  readonly authorizer?: Authorizer | undefined;
  /** Serve https with this certificate. */
  readonly tls?: TlsCertificates | undefined;
  /** The network connectors' figures, listed under `network` in `GET /api/stats`. */
  readonly network?: (() => unknown) | undefined;
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
 * Sent with every answer. The API is for scripts and the CLI, not for other sites' pages: no CORS
 * header at all (a page elsewhere cannot read an answer), no sniffing of JSON as HTML, no framing,
 * and no copy of a queue's messages left in a cache.
 */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
} as const;

/** The credentials an `Authorization` header carries: undefined without one, 'malformed' for one that cannot be read. */
export function credentialsOf(header: string | undefined): Credentials | undefined | 'malformed' {
  if (header === undefined) return undefined;
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (match === null) return 'malformed';
  const scheme = match[1]!.toLowerCase();
  if (scheme === 'bearer') return { token: match[2]! };
  if (scheme !== 'basic') return 'malformed';
  const decoded = Buffer.from(match[2]!, 'base64').toString('utf8');
  // RFC 7617: the user name cannot hold a colon, the password may
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * True when a browser says this request comes from a page of another site: its `Origin` names
 * another host than the request is addressed to, or `Sec-Fetch-Site` says cross-site. A
 * state-changing request of that kind is what a forged form or script sends with the user's
 * cached Basic credentials (CSRF).
 */
export function crossSite(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== (req.headers.host ?? '').toLowerCase();
  } catch {
    // `Origin: null` (a sandboxed or file page) is no same-site origin
    return true;
  }
}

/**
 * The management API over HTTP or https, JSON in and out: what `ferry stat`, `ferry purge` and
 * operators' scripts use. Every route needs a principal from the broker's authenticator
 * (`Authorization: Basic` or `Bearer`, or anonymous where the broker lets anonymous clients in).
 *
 *   GET    /api/stats                            queues, topics, durable subscriptions, client connections (who is connected as whom), network connectors
 *   GET    /api/store                            the journal's files, their live and dead bytes, and what keeps each
 *   GET    /api/queues/NAME/messages?limit=N     the first N waiting messages (nothing is consumed); browse on NAME
 *   DELETE /api/queues/NAME/messages             purge: drop every waiting message; admin on NAME
 */
export class ManagementServer {
  private server: Server | HttpsServer | undefined;
  private readonly authenticator: Authenticator;
  private readonly authorizer: Authorizer;

  constructor(
    private readonly broker: Broker,
    private readonly options: ManagementOptions,
    private readonly logger: Logger,
  ) {
    this.authenticator = options.authenticator ?? allowEveryone;
    this.authorizer = options.authorizer ?? allowEveryone;
  }

  /** `http`, or `http-tls` for https. */
  get name(): string {
    return this.options.tls === undefined ? 'http' : 'http-tls';
  }

  listen(): Promise<number> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ event: 'management.error', err }, 'management request failed');
        if (!res.headersSent) res.writeHead(500, SECURITY_HEADERS);
        res.end();
      });
    };
    const tls = this.options.tls;
    let server: Server | HttpsServer;
    if (tls === undefined) {
      server = createServer(handler);
    } else {
      const secure = createHttpsServer(tls.serverOptions(), handler);
      secure.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => handshakeFailed(this.logger, this.name, socket, err));
      tls.serve(secure);
      server = secure;
    }
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
    if ('setSecureContext' in server) this.options.tls?.forget(server);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      const text = JSON.stringify(body, null, 2);
      res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const remoteAddress = addressWithPort(req.socket.remoteAddress, req.socket.remotePort);
    const refuse = (status: 401 | 403, err: FerryError): void => {
      this.logger.info({ event: 'management.refused', remoteAddress, method: req.method, path: url.pathname, code: err.code, reason: err.message }, `management request from ${remoteAddress} refused`);
      send(status, { code: err.code, error: err.message }, status === 401 ? { 'www-authenticate': 'Basic realm="ferry"' } : {});
    };

    if (req.method !== 'GET' && req.method !== 'HEAD' && crossSite(req)) {
      return refuse(403, new FerryError('FERRY_CROSS_SITE_REQUEST', `a ${req.method ?? ''} request from a page of another site (${req.headers.origin ?? 'Sec-Fetch-Site: cross-site'}) is refused`));
    }
    const credentials = credentialsOf(req.headers.authorization);
    if (credentials === 'malformed') {
      return refuse(401, new FerryError('FERRY_AUTHENTICATION_FAILED', 'the Authorization header is neither "Basic <base64 of user:password>" nor "Bearer <token>"'));
    }
    let principal: Principal;
    try {
      const peerCertificate = this.options.tls === undefined ? undefined : verifiedPeerCertificate(req.socket as TLSSocket);
      principal = await this.authenticator.authenticate({ protocol: 'http', transport: { remoteAddress, peerCertificate }, credentials });
    } catch (err) {
      if (isFerryError(err, 'FERRY_AUTHENTICATION_FAILED')) return refuse(401, err);
      throw err;
    }

    try {
      if (req.method === 'GET' && url.pathname === '/api/stats') {
        const network = this.options.network;
        return send(200, network === undefined ? this.broker.stats() : { ...this.broker.stats(), network: network() });
      }
      if (req.method === 'GET' && url.pathname === '/api/store') {
        const report = this.broker.storeReport();
        return report === undefined ? send(404, { error: 'this broker keeps no files (memory store)' }) : send(200, report);
      }
      const match = /^\/api\/queues\/([^/]+)\/messages$/.exec(url.pathname);
      if (match !== null) {
        const name = decodeURIComponent(match[1]!);
        if (req.method === 'GET') {
          this.authorizer.authorize(principal, 'browse', { kind: 'queue', name });
          const limit = Math.max(0, Math.min(10_000, Number(url.searchParams.get('limit') ?? 100) || 0));
          return send(200, this.broker.peek(name, limit).map(messageView));
        }
        if (req.method === 'DELETE') {
          this.authorizer.authorize(principal, 'admin', { kind: 'queue', name });
          return send(200, { queue: name, purged: this.broker.purge(name) });
        }
        return send(405, { error: `${req.method ?? ''} is not allowed here` });
      }
      send(404, { error: `no such resource: ${url.pathname}` });
    } catch (err) {
      if (isFerryError(err, 'FERRY_NOT_AUTHORIZED')) return refuse(403, err);
      if (isFerryError(err)) {
        send(err.code === 'FERRY_DESTINATION_NOT_FOUND' ? 404 : 400, { error: err.message, code: err.code });
        return;
      }
      this.logger.error({ event: 'management.error', err }, 'management request failed');
      send(500, { error: 'internal error' });
    }
  }
}
