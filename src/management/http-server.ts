import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { FerryError, isFerryError } from '../errors.js';
import { allowEveryone, type Authenticator, type Authorizer, type Broker, type CoreConnection, type Credentials, type Logger, type Principal } from '../core/index.js';
import type { Socket } from 'node:net';
import { OpeningDeadlines, addressWithPort, endUnfinishedHandshake, handshakeFailed, hostAllowed, refuseRenegotiation, verifiedPeerCertificate, type TlsCertificates } from '../transport/index.js';
import type { BrokerFacts, HaView, ListenerView } from './controls/broker.js';
import { BrokerMetrics } from './metrics.js';
import type { ConnectorFigures } from './network-metrics.js';
import { accessOf, defaultPermissions, type Access, type ManagementPermissions } from './permissions.js';
import { Router, type Match, type Route } from './router.js';
import { managementRoutes } from './routes.js';
import { serveConsole } from './static.js';

export interface ManagementOptions {
  readonly host: string;
  readonly port: number;
  /** Who may use the API; the broker's own, so the API admits whom the protocols admit. Default: everyone. */
  readonly authenticator?: Authenticator | undefined;
  /** What each may do: browse a queue's messages, purge it (admin). Default: everything. */
  readonly authorizer?: Authorizer | undefined;
  /** Serve https with this certificate. */
  readonly tls?: TlsCertificates | undefined;
  /** The network connectors' figures, listed under `network` in `GET /api/stats` and in `/metrics`. */
  readonly network?: (() => readonly ConnectorFigures[]) | undefined;
  /** The protocols the broker serves: `ferry_connections` has a series for each, 0 while none is connected. */
  readonly protocols?: readonly string[] | undefined;
  /** Who may monitor and who may manage (default: everyone both). */
  readonly permissions?: ManagementPermissions | undefined;
  /** The web console's files (index.html and its assets), served at `/` when the folder exists. */
  readonly consoleDirectory?: string | undefined;
  /** Facts about the running server for GET /api/v1/broker. */
  readonly version?: string | undefined;
  readonly storeDirectory?: string | undefined;
  /** The broker's part in high availability; standalone without. */
  ha?(): HaView;
  listeners?(): readonly ListenerView[];
  readonly clock?: (() => number) | undefined;
  /** Destinations with metrics of their own; the rest are summed under `_other`. */
  readonly maxMetricDestinations?: number | undefined;
  /** ms from a client's connect to the end of its request head (http.headersTimeout); default 10 s. */
  readonly headersTimeout?: number | undefined;
  /** ms for a whole request, body included (http.requestTimeout); default 30 s. */
  readonly requestTimeout?: number | undefined;
  /** Open connections past which new ones are dropped as they come (http.maxConnections); default 256. */
  readonly maxConnections?: number | undefined;
  /** Host names besides IP addresses and localhost that requests without credentials may be addressed to (http.allowedHosts). */
  readonly allowedHosts?: readonly string[] | undefined;
  /** Origins of pages, besides the broker's own, whose requests to change something are served (http.allowedOrigins). */
  readonly allowedOrigins?: readonly string[] | undefined;
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

/** An origin as browsers write it and as `http.allowedOrigins` may list it: `https://host:port`, in lower case, no trailing slash. */
function normalOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/$/, '');
}

/**
 * Why a browser's request to change something comes from a page other than the broker's own, or
 * undefined when it does not. Such a request is what a forged form or script sends with the Basic
 * credentials a browser has cached (CSRF). The broker's own page is:
 * - one whose origin `http.allowedOrigins` lists (`*`: every page);
 * - one the browser says is of this origin (`Sec-Fetch-Site: same-origin`): a `Sec-` header is
 *   the browser's, which no page can set, and it still holds behind a reverse proxy that rewrites
 *   `Host` (nginx's plain `proxy_pass`), where the origin the browser saw is known only to it;
 * - without that header (older browsers), one whose `Origin` is the host and port the request is
 *   addressed to: its `Host`, or the `X-Forwarded-Host` (and `X-Forwarded-Proto`) a proxy sets. A
 *   page of another site cannot add those headers to its request without a CORS preflight, which
 *   this API never grants.
 */
export function crossSiteRefusal(req: IncomingMessage, allowedOrigins: readonly string[] = []): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined && (allowedOrigins.includes('*') || allowedOrigins.some((a) => normalOrigin(a) === normalOrigin(origin)))) return undefined;
  const site = req.headers['sec-fetch-site'];
  if (site === 'same-origin') return undefined;
  const fix = 'if it is this broker\'s console behind a reverse proxy, have the proxy pass the host and port the browser asked for (nginx: proxy_set_header Host $http_host, or X-Forwarded-Host and X-Forwarded-Proto), or list its origin in http.allowedOrigins (docs/security.md)';
  if (site === 'cross-site' || site === 'same-site') return `the browser says the page it comes from${origin === undefined ? '' : `, ${origin},`} is of another site (Sec-Fetch-Site: ${site}); ${fix}`;
  if (origin === undefined) return undefined;
  let page: URL;
  try {
    page = new URL(origin);
  } catch {
    // `Origin: null` (a sandboxed or file page) is no site's
    return `it comes from a page with no origin of its own (Origin: ${origin})`;
  }
  const host = (req.headers.host ?? '').toLowerCase();
  if (page.host === host) return undefined;
  const forwardedHost = firstValue(req.headers['x-forwarded-host'])?.toLowerCase();
  const forwardedProto = firstValue(req.headers['x-forwarded-proto'])?.toLowerCase();
  if (forwardedHost !== undefined && page.host === forwardedHost && (forwardedProto === undefined || page.protocol === `${forwardedProto}:`)) return undefined;
  return `it comes from a page at ${origin}, and the request is addressed to ${forwardedHost ?? host}; ${fix}`;
}

/** The first of a header's comma-separated values (the one the first proxy set), if any. */
function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(',')[0]?.trim();
  return first === undefined || first === '' ? undefined : first;
}

/** A body over this is refused: the API takes small JSON documents. */
const MAX_BODY = 16 * 1024 * 1024;

function failure(err: FerryError): { status: number; code: string } {
  switch (err.code) {
    case 'FERRY_NOT_FOUND':
    case 'FERRY_DESTINATION_NOT_FOUND':
      return { status: 404, code: err.code };
    case 'FERRY_CONFLICT':
    case 'FERRY_CONSUMER_EXISTS':
    case 'FERRY_LIMIT_EXCEEDED':
    case 'FERRY_DESTINATION_FULL':
      return { status: 409, code: err.code };
    case 'FERRY_NOT_AUTHORIZED':
    case 'FERRY_CROSS_SITE_REQUEST':
    case 'FERRY_HOST_NOT_ALLOWED':
      return { status: 403, code: err.code };
    case 'FERRY_AUTHENTICATION_FAILED':
      return { status: 401, code: err.code };
    case 'FERRY_DIRECTORY_UNAVAILABLE':
      return { status: 503, code: err.code };
    case 'FERRY_METHOD_NOT_ALLOWED':
      return { status: 405, code: err.code };
    case 'FERRY_QUEUE_LOADING':
      return { status: 503, code: err.code };
    default:
      // the rest are what the request asked for that cannot be done: a bad name, selector, value
      return { status: 400, code: err.code };
  }
}

/**
 * The management API over HTTP or https, JSON in and out (docs/management-api.md): what the web
 * console, `ferry` tools and operators' scripts use, and Prometheus' `/metrics`. This module is the
 * server: authentication, permissions, errors, security headers, the console's static files. The
 * routes are in routes.ts and work through the controls (controls/), over the broker's operator
 * interface (`Broker.admin`).
 */
export class ManagementServer {
  private server: Server | HttpsServer | undefined;
  private heads: OpeningDeadlines | undefined;
  private readonly authenticator: Authenticator;
  private readonly authorizer: Authorizer;
  private readonly permissions: ManagementPermissions;
  private readonly router: Router;
  private readonly metrics: BrokerMetrics;
  private sender: Promise<CoreConnection> | undefined;

  constructor(
    broker: Broker,
    private readonly options: ManagementOptions,
    private readonly logger: Logger,
  ) {
    this.authenticator = options.authenticator ?? allowEveryone;
    this.authorizer = options.authorizer ?? allowEveryone;
    this.permissions = options.permissions ?? defaultPermissions(false);
    const clock = options.clock ?? Date.now;
    const facts: BrokerFacts = {
      version: options.version ?? '0.0.0',
      startedAt: clock(),
      storeDirectory: options.storeDirectory,
      listeners: () => options.listeners?.() ?? [],
      clock,
      ...(options.ha === undefined ? {} : { ha: () => options.ha!() }),
    };
    this.metrics = new BrokerMetrics(broker, options.maxMetricDestinations ?? 500, options.network, options.protocols, facts.ha);
    this.router = new Router(
      managementRoutes({
        broker,
        authorizer: this.authorizer,
        facts,
        logger,
        sender: () => (this.sender ??= broker.connect({ protocol: 'http', transport: { remoteAddress: 'management API' }, internal: true })),
        metrics: async () => ({ text: await this.metrics.scrape(), contentType: this.metrics.contentType }),
        network: options.network,
      }),
    );
  }

  /** The routes this server answers, for the OpenAPI check. */
  get routes(): readonly Route[] {
    return this.router.routes;
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
    const headersTimeout = this.options.headersTimeout ?? 10_000;
    const requestTimeout = Math.max(headersTimeout, this.options.requestTimeout ?? 30_000);
    // Node's own time-outs stay as a backstop (a kept-alive connection's later requests); they are
    // checked on a sweep, so a first request head has its own timer from the connect
    const timeouts = { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.min(1000, headersTimeout) };
    let server: Server | HttpsServer;
    if (tls === undefined) {
      server = createServer(timeouts, handler);
    } else {
      const secure = createHttpsServer({ ...tls.serverOptions('management'), ...timeouts }, handler);
      secure.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => handshakeFailed(this.logger, this.name, socket, err));
      refuseRenegotiation(secure, this.logger, this.name);
      tls.serve(secure, this.name, 'management');
      server = secure;
    }
    server.maxConnections = this.options.maxConnections ?? 256;
    const heads = new OpeningDeadlines(headersTimeout, (socket, remote) => {
      this.logger.debug({ event: 'management.headers-timeout', remoteAddress: remote }, 'HTTP client sent no whole request head in time');
      if (tls === undefined) socket.destroy();
      else endUnfinishedHandshake(socket, remote, headersTimeout);
    });
    this.heads = heads;
    server.on('connection', (socket: Socket) => heads.accepted(socket));
    server.on('request', (req: IncomingMessage) => heads.opened(req.socket));
    server.on('drop', (data?: { remoteAddress?: string }) => {
      this.logger.warn({ event: 'management.connection-dropped', remoteAddress: data?.remoteAddress, maxConnections: server.maxConnections }, 'HTTP connection dropped: http.maxConnections reached');
    });
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
    this.heads?.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const sender = this.sender;
    this.sender = undefined;
    if (sender !== undefined) (await sender.catch(() => undefined))?.close();
    this.metrics.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const head = req.method === 'HEAD';
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      if (status === 204) {
        res.writeHead(204, { ...SECURITY_HEADERS, ...headers });
        res.end();
        return;
      }
      // compact: a page of 1,000 destinations is a third smaller, and quicker to make
      const text = JSON.stringify(body);
      res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(head ? undefined : text);
    };
    const remoteAddress = addressWithPort(req.socket.remoteAddress, req.socket.remotePort);
    const refuse = (status: number, err: FerryError): void => {
      if (status === 401 || status === 403) {
        this.logger.info({ event: 'management.refused', remoteAddress, method: req.method, path: url.pathname, code: err.code, reason: err.message }, `management request from ${remoteAddress} refused`);
      }
      send(status, { code: err.code, error: err.message }, status === 401 ? { 'www-authenticate': 'Basic realm="ferry"' } : {});
    };

    const crossSite = req.method !== 'GET' && req.method !== 'HEAD' ? crossSiteRefusal(req, this.options.allowedOrigins) : undefined;
    if (crossSite !== undefined) return refuse(403, new FerryError('FERRY_CROSS_SITE_REQUEST', `a ${req.method ?? ''} request is refused as cross-site: ${crossSite}`));
    let match: Match;
    try {
      match = this.router.match(req.method ?? 'GET', url.pathname);
    } catch (err) {
      if (isFerryError(err)) return refuse(400, err);
      throw err;
    }
    // the web console's files (static.ts): outside /api, and before authentication, since its page is where one logs in
    const consoleDirectory = this.options.consoleDirectory;
    if (match === undefined && consoleDirectory !== undefined && (await serveConsole(req, res, url.pathname, consoleDirectory))) return;
    const route = match !== undefined && 'route' in match ? match.route : undefined;

    // who asks comes first: a caller the broker does not admit learns nothing, not even which routes exist
    let principal: Principal = anonymous;
    let access: Access = { monitor: false, manage: false };
    if (route?.permission !== 'public') {
      const credentials = credentialsOf(req.headers.authorization);
      if (credentials === 'malformed') {
        return refuse(401, new FerryError('FERRY_AUTHENTICATION_FAILED', 'the Authorization header is neither "Basic <base64 of user:password>" nor "Bearer <token>"'));
      }
      const peerCertificate = this.options.tls === undefined ? undefined : verifiedPeerCertificate(req.socket as TLSSocket, this.logger, this.name);
      try {
        principal = await this.authenticator.authenticate({ protocol: 'http', transport: { remoteAddress, peerCertificate }, credentials });
      } catch (err) {
        if (isFerryError(err, 'FERRY_AUTHENTICATION_FAILED')) return refuse(401, err);
        if (isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE')) return refuse(503, err);
        throw err;
      }
      // A page whose DNS name now points at the broker is same-origin with it and comes from
      // loopback, so with anonymous rights it could do what the operator can. It cannot have the
      // operator's credentials, which the browser keeps for the broker's own address, so a request
      // that carries some may name any host, as with ActiveMQ's and RabbitMQ's consoles.
      const host = req.headers.host;
      if (credentials === undefined && peerCertificate === undefined && !hostAllowed(host, this.options.allowedHosts ?? [])) {
        const err = new FerryError(
          'FERRY_HOST_NOT_ALLOWED',
          `requests without credentials are served only when addressed to an IP address, localhost or a name in http.allowedHosts; this one is addressed to ${host ?? ''}`,
        );
        this.logger.warn({ event: 'management.host-refused', remoteAddress, host, method: req.method, path: url.pathname }, `management request from ${remoteAddress} for host ${host ?? ''} refused: not in http.allowedHosts`);
        return send(403, { code: err.code, error: err.message });
      }
      access = accessOf(this.permissions, principal);
    }
    if (match === undefined) return refuse(404, new FerryError('FERRY_NOT_FOUND', `no such resource: ${url.pathname}`));
    if ('allowed' in match) {
      return refuse(405, new FerryError('FERRY_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${url.pathname}; try ${match.allowed.join(', ')}`));
    }
    const params = match.params;
    if ((match.route.permission === 'monitor' && !access.monitor) || (match.route.permission === 'manage' && !access.manage)) {
      return refuse(403, new FerryError('FERRY_NOT_AUTHORIZED', `${principal.username ?? 'an anonymous client'} may not ${match.route.permission === 'manage' ? 'manage' : 'monitor'} the broker (management.${match.route.permission})`));
    }

    try {
      const answer = await match.route.handle({ principal, access, remoteAddress, params, query: url.searchParams, body: () => readJson(req) });
      if (answer.text !== undefined) {
        res.writeHead(answer.status, { ...SECURITY_HEADERS, 'content-type': answer.contentType ?? 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(answer.text) });
        res.end(head ? undefined : answer.text);
        return;
      }
      send(answer.status, answer.body);
    } catch (err) {
      if (isFerryError(err)) {
        const { status } = failure(err);
        return refuse(status, err);
      }
      this.logger.error({ event: 'management.error', err, path: url.pathname }, 'management request failed');
      send(500, { code: 'FERRY_INTERNAL', error: 'internal error' });
    }
  }
}

const anonymous: Principal = { username: undefined, groups: [], internal: false };

/** The request's body as JSON; an empty body is `{}`. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new FerryError('FERRY_BAD_REQUEST', `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new FerryError('FERRY_BAD_REQUEST', `the body is not JSON: ${(err as Error).message}`);
  }
}
