/**
 * The OpenAPI 3.1 description of the management API, served at /api/v1/openapi.json. Written by
 * hand next to the routes; a test checks that every route the server answers is described here and
 * that nothing described is missing from the server.
 */

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const num: Schema = { type: 'number' };
const bool: Schema = { type: 'boolean' };
const nullable = (s: Schema): Schema => ({ oneOf: [s, { type: 'null' }] });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required = Object.keys(properties)): Schema => ({ type: 'object', properties, required });
/** The answer of a move, copy or retry: how many messages went, and with `ids`, which of those were in flight and stayed. */
const transferred = (key: string): Schema =>
  obj({ [key]: int, inFlight: { type: 'array', items: str, description: 'with ids: those in flight to a consumer (not settled), which stay where they are' } }, [key]);
const list = (item: Schema, extra: Record<string, Schema> = {}): Schema => obj({ items: { type: 'array', items: item }, ...extra });

const json = (schema: Schema): Schema => ({ content: { 'application/json': { schema } } });
const error = (description: string): Schema => ({ description, ...json(ref('Error')) });

const pathParam = (name: string, description: string): Schema => ({ name, in: 'path', required: true, schema: str, description });
const queryParam = (name: string, schema: Schema, description: string): Schema => ({ name, in: 'query', required: false, schema, description });
const clientFilterText: Record<string, string> = {
  destination: 'only those of this destination: queue://NAME or topic://NAME',
  clientId: 'only those of this client id',
  user: 'only those of this user',
  protocol: 'only those of this protocol',
  connection: 'only those of this connection id',
};
/** The exact-match filters of a client listing; any other query parameter is a 400. */
const clientFilters = (names: readonly string[]): Schema[] => names.map((n) => queryParam(n, { type: 'string' }, clientFilterText[n]!));
const paging = [queryParam('offset', { type: 'integer', minimum: 0, default: 0 }, 'items to skip'), queryParam('limit', { type: 'integer', minimum: 0, maximum: 1000, default: 50 }, 'items to return')];

interface Operation {
  readonly summary: string;
  readonly permission: 'public' | 'authenticated' | 'monitor' | 'manage';
  readonly parameters?: readonly Schema[];
  readonly body?: Schema;
  /** Status -> schema of the answer (undefined: no body). */
  readonly ok: Readonly<Record<number, Schema | undefined>>;
  readonly notFound?: boolean;
  /** The answer is text (Prometheus' format), not JSON. */
  readonly text?: boolean;
}

function operation(op: Operation): Schema {
  const responses: Record<string, Schema> = {};
  for (const [status, schema] of Object.entries(op.ok)) {
    responses[status] = schema === undefined ? { description: 'done' } : { description: 'success', content: { [op.text === true ? 'text/plain' : 'application/json']: { schema } } };
  }
  if (op.body !== undefined || op.parameters !== undefined) responses['400'] = error('bad request: a body or parameter that cannot be acted on');
  if (op.permission !== 'public') responses['401'] = error('no credentials, or credentials the broker does not accept');
  if (op.permission === 'monitor' || op.permission === 'manage') responses['403'] = error(`the caller lacks the ${op.permission} permission, or the destination's right`);
  if (op.notFound === true) responses['404'] = error('no such destination, message, connection, subscription or job');
  return {
    summary: op.summary,
    'x-ferry-permission': op.permission,
    ...(op.permission === 'public' ? { security: [] } : {}),
    ...(op.parameters === undefined ? {} : { parameters: op.parameters }),
    ...(op.body === undefined ? {} : { requestBody: { required: true, ...json(op.body) } }),
    responses,
  };
}

const destination = obj({
  kind: { enum: ['queue', 'topic'] },
  name: str,
  depth: int,
  loading: bool,
  toLoad: nullable(int),
  inFlight: int,
  enqueued: int,
  dequeued: int,
  expired: int,
  deadLettered: int,
  consumers: int,
  producers: int,
  paused: bool,
  temporary: bool,
  deadLetter: bool,
});

const summary = obj({
  id: str,
  timestamp: int,
  persistent: bool,
  priority: int,
  expiration: int,
  redelivered: bool,
  deliveryCount: int,
  correlationId: nullable(str),
  type: nullable(str),
  groupId: nullable(str),
  bodyKind: { enum: ['text', 'bytes', 'map', 'stream', 'object', 'none'] },
  bodyBytes: int,
  originalDestination: nullable(str),
});

const message = {
  allOf: [
    summary,
    obj({
      groupSeq: nullable(int),
      replyTo: nullable(str),
      properties: { type: 'array', items: obj({ name: str, type: { enum: ['boolean', 'byte', 'short', 'int', 'long', 'float', 'double', 'char', 'string', 'bytes', 'null'] }, value: {} }) },
      body: obj({ encoding: { enum: ['text', 'base64'] }, data: str, json: {} }, ['encoding', 'data']),
    }),
  ],
};

const connection = obj({
  id: str,
  protocol: str,
  remoteAddress: str,
  user: nullable(str),
  clientId: nullable(str),
  connectedAt: { type: 'string', format: 'date-time' },
  sessions: int,
  consumers: int,
  producers: int,
  inFlight: int,
  messagesIn: int,
  messagesOut: int,
  rateIn: num,
  rateOut: num,
});

const session = obj({
  id: str,
  connectionId: str,
  protocol: str,
  remoteAddress: str,
  user: nullable(str),
  clientId: nullable(str),
  openedAt: { type: 'string', format: 'date-time' },
  consumers: int,
  inFlight: int,
  messagesIn: int,
  messagesOut: int,
  rateIn: num,
  rateOut: num,
});

const clientFacts = { connectionId: str, protocol: str, remoteAddress: str, user: nullable(str), clientId: nullable(str) };

const consumer = obj({
  ...clientFacts,
  destination: str,
  selector: nullable(str),
  prefetch: int,
  inFlight: int,
  delivered: int,
  acknowledged: int,
  exclusive: bool,
  priority: int,
  durableName: nullable(str),
  rate: num,
});

const producer = obj({ ...clientFacts, destination: str, sent: int, rate: num });

const pick = {
  type: 'object',
  properties: { to: { type: 'string', description: 'queue://NAME or topic://NAME' }, ids: { type: 'array', items: str }, selector: str },
  description: '{ids}, {selector}, or neither for every waiting message',
};

const sendMessage = {
  type: 'object',
  properties: {
    body: str,
    bodyEncoding: { enum: ['text', 'base64'], default: 'text' },
    bodyKind: { enum: ['text', 'bytes', 'map', 'stream', 'object', 'none'], description: 'how consumers read the bytes; default text for a text body, bytes for base64' },
    persistent: { type: 'boolean', default: true },
    priority: { type: 'integer', minimum: 0, maximum: 9, default: 4 },
    timeToLive: { type: 'integer', minimum: 0, description: 'ms; 0 never expires' },
    correlationId: str,
    type: str,
    groupId: str,
    groupSeq: int,
    replyTo: str,
    originalDestination: { ...str, description: 'queue://NAME or topic://NAME: a retry sends the message there' },
    properties: { type: 'object', additionalProperties: { oneOf: [str, num, bool, { type: 'null' }, obj({ type: str, value: {} })] } },
  },
};

const queueName = pathParam('name', 'queue name');
const kindParam = { ...pathParam('kind', 'queue or topic'), schema: { enum: ['queue', 'topic'] } };

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Ferry management API',
    version: '1',
    description: 'Operators\' API of the Ferry message broker: what the web console and the ferry tools use. See docs/management-api.md.',
  },
  servers: [{ url: '/' }],
  security: [{ basic: [] }, { bearer: [] }],
  components: {
    securitySchemes: { basic: { type: 'http', scheme: 'basic' }, bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: obj({ code: { type: 'string', pattern: '^FERRY_' }, error: str }),
      Destination: destination,
      MessageSummary: summary,
      Message: message,
      Connection: connection,
      Session: session,
      Consumer: consumer,
      Producer: producer,
    },
  },
  paths: {
    '/api/v1/openapi.json': { get: operation({ summary: 'this document', permission: 'public', ok: { 200: { type: 'object' } } }) },
    '/api/v1/whoami': { get: operation({ summary: 'who the caller is and what it may do', permission: 'authenticated', ok: { 200: obj({ user: nullable(str), groups: { type: 'array', items: str }, monitor: bool, manage: bool }) } }) },
    '/api/v1/broker': {
      get: operation({
        summary: 'the broker at a glance',
        permission: 'monitor',
        ok: {
          200: obj({
            name: str,
            version: str,
            startedAt: { type: 'string', format: 'date-time' },
            uptimeSeconds: int,
            listeners: { type: 'array', items: obj({ name: str, host: str, port: int, tls: bool }) },
            store: obj(
              {
                type: { enum: ['journal', 'memory', 'postgres'] },
                bytes: int,
                files: int,
                directory: nullable(str),
                records: int,
                failing: nullable(obj({ since: { type: 'string', format: 'date-time' }, error: str, failedBatches: int })),
              },
              ['type', 'bytes', 'files', 'directory'],
            ),
            memory: obj({ rss: int, heapUsed: int, heapTotal: int, external: int }),
            bodyCache: obj({ bytes: int, limit: nullable(int) }),
            connections: obj({ total: int, byProtocol: { type: 'object', additionalProperties: int } }),
            destinations: obj({ queues: int, topics: int }),
            messages: obj({ enqueued: int, dequeued: int, pending: int }),
            ha: obj({ role: { enum: ['standalone', 'primary', 'backup', 'fenced', 'stopped'] }, leaseAgeSeconds: nullable({ type: 'number' }) }),
          }),
        },
      }),
    },
    '/api/v1/store': { get: operation({ summary: 'the journal\'s files and what keeps each, or the PostgreSQL store\'s state (404 on a memory store)', permission: 'monitor', ok: { 200: { type: 'object' } }, notFound: true }) },
    '/api/v1/destinations': {
      get: operation({
        summary: 'queues and topics, filtered, sorted and paged on the server',
        permission: 'monitor',
        parameters: [
          queryParam('kind', { enum: ['queue', 'topic'] }, 'only this kind'),
          queryParam('filter', str, 'glob on the name: * any run, ? one character'),
          queryParam('deadLetter', bool, 'only the queues the broker\'s policies dead-letter into (true), or only the other destinations (false)'),
          queryParam('sort', { enum: ['kind', 'name', 'depth', 'inFlight', 'enqueued', 'dequeued', 'expired', 'deadLettered', 'consumers', 'producers', 'paused', 'temporary'], default: 'name' }, 'column'),
          queryParam('order', { enum: ['asc', 'desc'], default: 'asc' }, 'direction'),
          ...paging,
        ],
        ok: { 200: list(ref('Destination'), { total: int, offset: int, limit: int }) },
      }),
      post: operation({ summary: 'create a queue or topic (409 when it exists)', permission: 'manage', body: obj({ kind: { enum: ['queue', 'topic'] }, name: str }), ok: { 201: ref('Destination') } }),
    },
    '/api/v1/destinations/{kind}/{name}': {
      get: operation({ summary: 'one destination', permission: 'monitor', parameters: [kindParam, pathParam('name', 'destination name')], ok: { 200: ref('Destination') }, notFound: true }),
      delete: operation({ summary: 'delete a destination (a queue with its messages)', permission: 'manage', parameters: [kindParam, pathParam('name', 'destination name')], ok: { 204: undefined }, notFound: true }),
    },
    '/api/v1/destinations/queue/{name}/purge': { post: operation({ summary: 'drop every waiting message', permission: 'manage', parameters: [queueName], ok: { 200: obj({ purged: int }) }, notFound: true }) },
    '/api/v1/destinations/queue/{name}/pause': { post: operation({ summary: 'stop dispatch (sends are still taken)', permission: 'manage', parameters: [queueName], ok: { 200: ref('Destination') }, notFound: true }) },
    '/api/v1/destinations/queue/{name}/resume': { post: operation({ summary: 'restart dispatch', permission: 'manage', parameters: [queueName], ok: { 200: ref('Destination') }, notFound: true }) },
    '/api/v1/destinations/{kind}/{name}/messages': {
      post: operation({ summary: 'send a message', permission: 'manage', parameters: [kindParam, pathParam('name', 'destination name')], body: sendMessage, ok: { 201: obj({ id: str }) }, notFound: true }),
    },
    '/api/v1/queues/{name}/messages': {
      get: operation({
        summary: 'browse waiting messages (nothing is consumed); with full=true, whole messages (management permission)',
        permission: 'monitor',
        parameters: [
          queueName,
          queryParam('selector', str, 'JMS selector'),
          queryParam('full', bool, 'whole messages: headers, properties, body'),
          queryParam('after', str, 'the "next" of the page before: this page starts after that message, even when it has been consumed since'),
          ...paging,
        ],
        ok: { 200: list({ oneOf: [ref('MessageSummary'), ref('Message')] }, { offset: int, limit: int, more: bool, next: nullable(str) }) },
        notFound: true,
      }),
    },
    '/api/v1/queues/{name}/messages/{id}': {
      get: operation({ summary: 'one message whole: headers, properties, body', permission: 'manage', parameters: [queueName, pathParam('id', 'message id')], ok: { 200: ref('Message') }, notFound: true }),
      delete: operation({ summary: 'delete one waiting message', permission: 'manage', parameters: [queueName, pathParam('id', 'message id')], ok: { 204: undefined }, notFound: true }),
    },
    '/api/v1/queues/{name}/messages/move': { post: operation({ summary: 'move waiting messages to another destination (one store transaction)', permission: 'manage', parameters: [queueName], body: pick, ok: { 200: transferred('moved') }, notFound: true }) },
    '/api/v1/queues/{name}/messages/copy': { post: operation({ summary: 'copy waiting messages to another destination', permission: 'manage', parameters: [queueName], body: pick, ok: { 200: transferred('copied') }, notFound: true }) },
    '/api/v1/queues/{name}/messages/retry': { post: operation({ summary: 'send dead letters back to their original destination', permission: 'manage', parameters: [queueName], body: pick, ok: { 200: transferred('retried') }, notFound: true }) },
    '/api/v1/connections': { get: operation({ summary: 'client connections', permission: 'monitor', parameters: clientFilters(['clientId', 'user', 'protocol']), ok: { 200: list(ref('Connection')) } }) },
    '/api/v1/connections/{id}': {
      get: operation({
        summary: 'one connection with its sessions, consumers and producers',
        permission: 'monitor',
        parameters: [pathParam('id', 'connection id')],
        ok: { 200: { allOf: [ref('Connection'), obj({ sessionList: { type: 'array', items: ref('Session') }, consumerList: { type: 'array', items: ref('Consumer') }, producerList: { type: 'array', items: ref('Producer') } })] } },
        notFound: true,
      }),
      delete: operation({ summary: 'close a connection', permission: 'manage', parameters: [pathParam('id', 'connection id')], ok: { 204: undefined }, notFound: true }),
    },
    '/api/v1/sessions': {
      get: operation({ summary: 'client sessions (a connection holds one or more)', permission: 'monitor', parameters: [queryParam('connection', str, 'only the sessions of this connection id')], ok: { 200: list(ref('Session')) } }),
    },
    '/api/v1/consumers': { get: operation({ summary: 'every consumer, or those the filters pick', permission: 'monitor', parameters: clientFilters(['destination', 'clientId', 'user', 'protocol', 'connection']), ok: { 200: list(ref('Consumer')) } }) },
    '/api/v1/producers': { get: operation({ summary: 'every producer (a connection\'s sends to one destination), or those the filters pick', permission: 'monitor', parameters: clientFilters(['destination', 'clientId', 'user', 'protocol', 'connection']), ok: { 200: list(ref('Producer')) } }) },
    '/api/v1/subscriptions': {
      get: operation({ summary: 'durable subscriptions', permission: 'monitor', ok: { 200: list(obj({ owner: str, name: str, topic: str, selector: nullable(str), noLocal: bool, depth: int, active: bool })) } }),
    },
    '/api/v1/subscriptions/{owner}/{name}': {
      delete: operation({ summary: 'delete a durable subscription (it must have no subscriber)', permission: 'manage', parameters: [pathParam('owner', 'client id'), pathParam('name', 'subscription name')], ok: { 204: undefined }, notFound: true }),
    },
    '/api/v1/scheduled': {
      get: operation({
        summary: 'scheduled messages, soonest first',
        permission: 'monitor',
        parameters: paging,
        ok: { 200: list(obj({ id: str, messageId: str, destination: str, nextDue: { type: 'string', format: 'date-time' }, repeatsLeft: int, period: int, cron: nullable(str), bodyBytes: int }), { offset: int, limit: int, total: int }) },
      }),
    },
    '/api/v1/scheduled/{id}': { delete: operation({ summary: 'cancel a scheduled message', permission: 'manage', parameters: [pathParam('id', 'scheduled message id')], ok: { 204: undefined }, notFound: true }) },
    '/metrics': { get: operation({ summary: 'Prometheus text format', permission: 'monitor', ok: { 200: str }, text: true }) },
    '/api/stats': { get: operation({ summary: 'before v1: queues, topics, durable subscriptions, clients', permission: 'monitor', ok: { 200: { type: 'object' } } }) },
    '/api/store': { get: operation({ summary: 'before v1: the store report', permission: 'monitor', ok: { 200: { type: 'object' } }, notFound: true }) },
    '/api/queues/{name}/messages': {
      get: operation({ summary: 'before v1: the first waiting messages, whole', permission: 'manage', parameters: [queueName, queryParam('limit', int, 'at most this many')], ok: { 200: { type: 'array' } }, notFound: true }),
      delete: operation({ summary: 'before v1: purge', permission: 'manage', parameters: [queueName], ok: { 200: obj({ queue: str, purged: int }) }, notFound: true }),
    },
  },
} as const;
