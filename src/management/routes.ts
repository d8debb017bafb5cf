import type { z } from 'zod';
import { FerryError } from '../errors.js';
import type { Authorizer, Broker, CoreConnection, Destination, Logger, Principal } from '../core/index.js';
import type { BrowsedMessages, WaitingPlace } from '../core/admin.js';
import { brokerView, type BrokerFacts } from './controls/broker.js';
import { clientFilter, listConnections, listSessions, listConsumers, listProducers, showConnection } from './controls/clients.js';
import { destinationKind, destinationQuery, listDestinations, MAX_LIMIT, queryInt } from './controls/destinations.js';
import { cursorText, destinationUri, messageInit, messageSummary, messageView, parseCursor, parseDestinationUri, pickBody, pickOf, sendBody, WHOLE_PAGE_BODY_BYTES } from './controls/messages.js';
import { listScheduled } from './controls/scheduled.js';
import { listSubscriptions } from './controls/subscriptions.js';
import { createDestinationBody, legacyMessageView } from './bodies.js';
import { openApiDocument } from './openapi.js';
import type { ApiAnswer, ApiRequest, Route } from './router.js';

/** What the routes work with. */
export interface RouteContext {
  readonly broker: Broker;
  readonly authorizer: Authorizer;
  readonly facts: BrokerFacts;
  /** Where operators' changes are logged: who did what to which destination. */
  readonly logger: Logger;
  /** The connection the API sends messages on (internal: rights are checked here, for the operator). */
  sender(): Promise<CoreConnection>;
  /** Prometheus text for GET /metrics. */
  metrics(): Promise<{ text: string; contentType: string }>;
  /** The network connectors' figures, listed under `network` in `GET /api/stats`. */
  readonly network?: (() => unknown) | undefined;
}

const ok = (body: unknown, status = 200): ApiAnswer => ({ status, body });
const noContent: ApiAnswer = { status: 204 };

async function parsed<T extends z.ZodTypeAny>(request: ApiRequest, schema: T): Promise<z.infer<T>> {
  const result = schema.safeParse(await request.body());
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new FerryError('FERRY_BAD_REQUEST', `the body is not as expected: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  }
  return result.data as z.infer<T>;
}

/** The API's routes: v1 (docs/management-api.md) and the older ones `ferry stat` and scripts still use. */
export function managementRoutes(ctx: RouteContext): Route[] {
  const { broker } = ctx;
  const admin = (): Broker['admin'] => broker.admin;
  const may = (principal: Principal, operation: Parameters<Authorizer['authorize']>[1], destination: Destination): void => {
    if (!principal.internal) ctx.authorizer.authorize(principal, operation, destination);
  };
  const queue = (name: string): Destination => ({ kind: 'queue', name });
  // an operator's change is logged once it is done, with who made it: "who purged orders?" has an answer
  const logged = (r: ApiRequest, event: string, fields: Record<string, unknown>, text: string): void => {
    const user = r.principal.username ?? null;
    ctx.logger.info({ event, user, remoteAddress: r.remoteAddress, ...fields }, `${text} by ${user ?? 'an anonymous operator'} from ${r.remoteAddress}`);
  };
  const count = (n: number): string => `${n} message${n === 1 ? '' : 's'}`;
  const get = (path: string, permission: Route['permission'], handle: Route['handle']): Route => ({ method: 'GET', path, permission, handle });
  const post = (path: string, handle: Route['handle']): Route => ({ method: 'POST', path, permission: 'manage', handle });
  const del = (path: string, handle: Route['handle']): Route => ({ method: 'DELETE', path, permission: 'manage', handle });

  const placeOf = (name: string, id: string): 'waiting' | 'in-flight' | undefined => {
    try {
      return admin().message(name, id).inFlight ? 'in-flight' : 'waiting';
    } catch (err) {
      if (err instanceof FerryError && err.code === 'FERRY_NOT_FOUND') return undefined;
      throw err;
    }
  };
  const transfer = (mode: 'move' | 'copy' | 'retry', key: 'moved' | 'copied' | 'retried') =>
    post(`/api/v1/queues/{name}/messages/${mode}`, async (r) => {
      const name = r.params['name']!;
      const body = await parsed(r, pickBody);
      may(r.principal, 'admin', queue(name));
      let to: Destination | undefined;
      if (mode !== 'retry') {
        if (body.to === undefined) throw new FerryError('FERRY_BAD_REQUEST', `a ${mode} needs "to": queue://NAME or topic://NAME`);
        to = parseDestinationUri(body.to, 'to');
        may(r.principal, 'send', to);
      } else if (body.to !== undefined) throw new FerryError('FERRY_BAD_REQUEST', 'a retry sends each message back where it came from: no "to"');
      const ids = [...new Set(body.ids ?? [])];
      const places = new Map(ids.map((id) => [id, placeOf(name, id)]));
      // a mistyped id would otherwise pass as "0 moved", while a delete of one is a 404: none moves until all are found
      const missing = ids.filter((id) => places.get(id) === undefined);
      if (missing.length > 0) throw new FerryError('FERRY_NOT_FOUND', `no message ${missing.map((id) => `"${id}"`).join(', ')} in queue "${name}": nothing was ${mode === 'copy' ? 'copied' : mode === 'move' ? 'moved' : 'retried'}`);
      // a transfer takes waiting messages only: one in flight to a consumer stays with it, and the answer names it, where
      // "0 retried" alone would leave the operator guessing why; no await comes before transferAll picks, so none is delivered in between
      const inFlight = ids.filter((id) => places.get(id) === 'in-flight');
      // a retry's messages go back where each came from: the operator must be allowed to send to every one of those
      const n = await admin().transferAll(name, pickOf(body), mode, to, (target) => may(r.principal, 'send', target));
      const target = destinationUri(to);
      const picked = { ids: body.ids?.length, selector: body.selector, inFlight: body.ids === undefined ? undefined : inFlight.length };
      logged(r, `management.messages-${key}`, { destination: destinationUri(queue(name)), to: target, count: n, ...picked }, `queue://${name} ${mode} of ${count(n)}${target === null ? '' : ` to ${target}`}${inFlight.length > 0 ? `, ${count(inFlight.length)} left in flight` : ''}`);
      return ok(body.ids === undefined ? { [key]: n } : { [key]: n, inFlight });
    });

  // one path for a page of a queue's messages, v1's and the route before it alike, so both ask the same rights
  const browsed = async (r: ApiRequest, page: { selector?: string | undefined; offset: number; limit: number; after?: WaitingPlace | undefined; whole: boolean }): Promise<BrowsedMessages> => {
    const name = r.params['name']!;
    // whole messages (bodies) are for managers, as one message is
    if (page.whole && !r.access.manage) throw new FerryError('FERRY_NOT_AUTHORIZED', 'whole messages (full=true) need the management permission');
    may(r.principal, 'browse', queue(name));
    const found = admin().browse(name, page.selector, page.offset, page.limit, { after: page.after, maxBodyBytes: page.whole ? WHOLE_PAGE_BODY_BYTES : undefined });
    return page.whole ? { ...found, items: await admin().withBodies(found.items) } : found;
  };
  const purge = async (r: ApiRequest): Promise<number> => {
    const name = r.params['name']!;
    may(r.principal, 'admin', queue(name));
    // a queue still loading answers once the store has counted what it held for it, all of which goes
    const n = await admin().purge(name);
    logged(r, 'management.purged', { destination: `queue://${name}`, count: n }, `queue://${name} purge of ${count(n)}`);
    return n;
  };
  const paused = (r: ApiRequest, pause: boolean): ApiAnswer => {
    const name = r.params['name']!;
    may(r.principal, 'admin', queue(name));
    const figures = admin().setPaused(name, pause);
    logged(r, pause ? 'management.paused' : 'management.resumed', { destination: `queue://${name}` }, `queue://${name} ${pause ? 'paused' : 'resumed'}`);
    return ok(figures);
  };

  return [
    get('/api/v1/openapi.json', 'public', () => ok(openApiDocument)),
    get('/api/v1/whoami', 'authenticated', (r) => ok({ user: r.principal.username ?? null, groups: r.principal.groups, monitor: r.access.monitor, manage: r.access.manage })),
    get('/api/v1/broker', 'monitor', () => ok(brokerView(broker, ctx.facts))),
    get('/api/v1/store', 'monitor', () => {
      const report = broker.storeReport();
      if (report === undefined) throw new FerryError('FERRY_NOT_FOUND', 'this broker keeps no files (memory store)');
      return ok(report);
    }),

    get('/api/v1/destinations', 'monitor', (r) => ok(listDestinations(broker, destinationQuery(r.query)))),
    post('/api/v1/destinations', async (r) => {
      const body = await parsed(r, createDestinationBody);
      may(r.principal, 'create', { kind: body.kind, name: body.name });
      if (!admin().createDestination(body.kind, body.name)) throw new FerryError('FERRY_CONFLICT', `${body.kind} "${body.name}" already exists`);
      const destination = destinationUri(body);
      logged(r, 'management.destination-created', { destination }, `${destination} created`);
      return ok(admin().destination(body.kind, body.name), 201);
    }),
    get('/api/v1/destinations/{kind}/{name}', 'monitor', (r) => ok(admin().destination(destinationKind(r.params['kind']), r.params['name']!))),
    del('/api/v1/destinations/{kind}/{name}', async (r) => {
      const kind = destinationKind(r.params['kind']);
      const name = r.params['name']!;
      may(r.principal, 'admin', { kind, name });
      const n = await admin().deleteDestination(kind, name);
      const destination = destinationUri({ kind, name });
      if (kind === 'queue') {
        logged(r, 'management.destination-deleted', { destination, count: n }, `${destination} deleted with ${count(n)}`);
      } else logged(r, 'management.destination-deleted', { destination }, `${destination} deleted`);
      return noContent;
    }),
    post('/api/v1/destinations/queue/{name}/purge', async (r) => ok({ purged: await purge(r) })),
    post('/api/v1/destinations/queue/{name}/pause', (r) => paused(r, true)),
    post('/api/v1/destinations/queue/{name}/resume', (r) => paused(r, false)),
    post('/api/v1/destinations/{kind}/{name}/messages', async (r) => {
      const destination: Destination = { kind: destinationKind(r.params['kind']), name: r.params['name']! };
      const body = await parsed(r, sendBody);
      may(r.principal, 'send', destination);
      // the API's connection is internal and may create anything: the operator's own right to create is checked here
      const existed = admin().figuresOf([destination]).length > 0;
      if (!existed) may(r.principal, 'create', destination);
      const init = messageInit(destination, body, ctx.facts.clock());
      // the id is given here, so that the answer can name it
      init.id = admin().newMessageId();
      const session = (await ctx.sender()).createSession();
      try {
        await session.send(init);
      } finally {
        session.close();
      }
      // an injected message is a change like any other; its body stays out of the log, which may be read more widely
      const uri = destinationUri(destination);
      if (!existed && admin().figuresOf([destination]).length > 0) logged(r, 'management.destination-created', { destination: uri }, `${uri} created by a send`);
      logged(r, 'management.message-sent', { destination: uri, messageId: init.id, count: 1 }, `${uri} message ${init.id} sent`);
      return ok({ id: init.id }, 201);
    }),

    get('/api/v1/queues/{name}/messages', 'monitor', async (r) => {
      const offset = queryInt(r.query, 'offset', 0);
      const limit = queryInt(r.query, 'limit', 50, MAX_LIMIT);
      const full = r.query.get('full') === 'true';
      const after = parseCursor(r.query.get('after'));
      const { items, more, next } = await browsed(r, { selector: r.query.get('selector') ?? undefined, offset, limit, after, whole: full });
      return ok({ items: full ? items.map(messageView) : items.map(messageSummary), offset, limit, more, next: cursorText(next) });
    }),
    // a body is read only by managers: it may hold what monitoring should not see
    get('/api/v1/queues/{name}/messages/{id}', 'manage', async (r) => {
      const name = r.params['name']!;
      may(r.principal, 'browse', queue(name));
      const [whole] = await admin().withBodies([admin().message(name, r.params['id']!)]);
      return ok(messageView(whole!));
    }),
    del('/api/v1/queues/{name}/messages/{id}', (r) => {
      const name = r.params['name']!;
      may(r.principal, 'admin', queue(name));
      const id = r.params['id']!;
      if (admin().deleteMessages(name, { ids: [id] }) === 0) throw new FerryError('FERRY_NOT_FOUND', `no message "${id}" waiting in queue "${name}"`);
      logged(r, 'management.message-deleted', { destination: `queue://${name}`, messageId: id, count: 1 }, `queue://${name} message ${id} deleted`);
      return noContent;
    }),
    transfer('move', 'moved'),
    transfer('copy', 'copied'),
    transfer('retry', 'retried'),

    get('/api/v1/connections', 'monitor', (r) => ok(listConnections(broker, clientFilter(r.query, ['clientId', 'user', 'protocol'])))),
    get('/api/v1/connections/{id}', 'monitor', (r) => ok(showConnection(broker, r.params['id']!))),
    del('/api/v1/connections/{id}', (r) => {
      admin().closeConnection(r.params['id']!);
      logged(r, 'management.connection-closed', { connectionId: r.params['id']! }, `connection ${r.params['id']!} closed`);
      return noContent;
    }),
    get('/api/v1/sessions', 'monitor', (r) => ok(listSessions(broker, r.query.get('connection') ?? undefined))),
    get('/api/v1/consumers', 'monitor', (r) => ok(listConsumers(broker, clientFilter(r.query, ['destination', 'clientId', 'user', 'protocol', 'connection'])))),
    get('/api/v1/producers', 'monitor', (r) => ok(listProducers(broker, clientFilter(r.query, ['destination', 'clientId', 'user', 'protocol', 'connection'])))),
    get('/api/v1/subscriptions', 'monitor', () => ok(listSubscriptions(broker))),
    del('/api/v1/subscriptions/{owner}/{name}', (r) => {
      const pattern = admin().durableList().find((s) => s.owner === r.params['owner'] && s.name === r.params['name'])?.topic;
      if (pattern !== undefined) may(r.principal, 'delete', { kind: 'topic', name: pattern });
      admin().deleteDurable(r.params['owner']!, r.params['name']!);
      logged(r, 'management.subscription-deleted', { owner: r.params['owner']!, name: r.params['name']!, topic: pattern }, `durable subscription ${r.params['owner']!}:${r.params['name']!} deleted`);
      return noContent;
    }),
    get('/api/v1/scheduled', 'monitor', (r) => ok(listScheduled(broker, queryInt(r.query, 'offset', 0), queryInt(r.query, 'limit', 50, MAX_LIMIT)))),
    del('/api/v1/scheduled/{id}', (r) => {
      const job = admin().scheduledJob(r.params['id']!);
      if (job === undefined) throw new FerryError('FERRY_NOT_FOUND', `no scheduled job "${r.params['id']!}"`);
      // cancelling drops a message bound for its destination, as a purge of it would
      may(r.principal, 'admin', job.message.destination);
      if (admin().cancelScheduled({ id: job.id }) === 0) throw new FerryError('FERRY_NOT_FOUND', `no scheduled job "${r.params['id']!}"`);
      logged(r, 'management.scheduled-cancelled', { jobId: job.id, messageId: job.message.id, count: 1 }, `scheduled job ${job.id} (message ${job.message.id}) cancelled`);
      return noContent;
    }),

    // the routes before v1, as `ferry stat` and older scripts call them
    get('/api/stats', 'monitor', () => {
      const network = ctx.network;
      return ok(network === undefined ? broker.stats() : { ...broker.stats(), network: network() });
    }),
    get('/api/store', 'monitor', () => {
      const report = broker.storeReport();
      return report === undefined ? { status: 404, body: { code: 'FERRY_NOT_FOUND', error: 'this broker keeps no files (memory store)' } } : ok(report);
    }),
    // the same rights as their v1 forms: whole messages (bodies) and a purge are a manager's
    get('/api/queues/{name}/messages', 'manage', async (r) => {
      const limit = Math.max(0, Math.min(10_000, Number(r.query.get('limit') ?? 100) || 0));
      const { items } = await browsed(r, { offset: 0, limit, whole: true });
      return ok(items.map((w) => legacyMessageView(w.message)));
    }),
    del('/api/queues/{name}/messages', async (r) => ok({ queue: r.params['name']!, purged: await purge(r) })),

    get('/metrics', 'monitor', async () => {
      const { text, contentType } = await ctx.metrics();
      return { status: 200, text, contentType };
    }),
  ];
}
