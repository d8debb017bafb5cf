// The management API v1 as the console uses it (docs/management-api.md is the reference).

export type Kind = 'queue' | 'topic';

export interface WhoAmI {
  readonly user: string | null;
  readonly groups: readonly string[];
  readonly monitor: boolean;
  readonly manage: boolean;
}

export interface BrokerInfo {
  readonly name: string;
  readonly version: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly listeners: readonly { name: string; host: string; port: number; tls: boolean }[];
  readonly store: { type: 'journal' | 'memory' | 'postgres'; bytes: number; files: number; directory: string; records?: number; failing?: StoreFailing | null };
  readonly memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
  readonly bodyCache: { bytes: number; limit: number };
  readonly connections: { total: number; byProtocol: Record<string, number> };
  readonly destinations: { queues: number; topics: number };
  readonly messages: { enqueued: number; dequeued: number; pending: number; waitingIn: { queues: number; subscriptions: number } };
}

export interface Destination {
  readonly kind: Kind;
  readonly name: string;
  /** Waiting messages, those still to be loaded from the store included once the store has counted them. */
  readonly depth: number;
  /** Still putting its messages back from the store after a start (nothing is delivered meanwhile). */
  readonly loading: boolean;
  /** Of `depth`, the messages still to be loaded; null while the store has not counted them. */
  readonly toLoad: number | null;
  readonly inFlight: number;
  readonly enqueued: number;
  readonly dequeued: number;
  readonly expired: number;
  readonly deadLettered: number;
  readonly consumers: number;
  readonly producers: number;
  readonly paused: boolean;
  readonly temporary: boolean;
  /** A queue the broker's policies dead-letter into. */
  readonly deadLetter: boolean;
}

export interface Page<T> {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: readonly T[];
}

export interface MessageSummary {
  readonly id: string;
  readonly timestamp: number;
  readonly persistent: boolean;
  readonly priority: number;
  readonly expiration: number;
  readonly redelivered: boolean;
  readonly deliveryCount: number;
  readonly correlationId: string | null;
  readonly type: string | null;
  readonly groupId: string | null;
  readonly bodyKind: string;
  readonly bodyBytes: number;
  readonly originalDestination: string | null;
}

export type PropertyType = 'boolean' | 'byte' | 'short' | 'int' | 'long' | 'float' | 'double' | 'char' | 'string' | 'bytes';

export interface MessageDetail extends MessageSummary {
  readonly replyTo: string | null;
  readonly properties: readonly { name: string; type: PropertyType; value: unknown }[];
  readonly body: { encoding: 'text' | 'base64'; data: string; json?: unknown };
}

export interface Connection {
  readonly id: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string | null;
  readonly clientId: string | null;
  readonly connectedAt: string;
  readonly sessions: number;
  readonly consumers: number;
  readonly producers: number;
  readonly inFlight: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly rateIn: number;
  readonly rateOut: number;
}

export interface Session {
  readonly id: string;
  readonly connectionId: string;
  readonly openedAt: string;
  readonly consumers: number;
  readonly inFlight: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly rateIn: number;
  readonly rateOut: number;
}

export interface Consumer {
  readonly connectionId: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string | null;
  readonly clientId: string | null;
  readonly destination: string;
  readonly selector: string | null;
  readonly prefetch: number;
  readonly inFlight: number;
  readonly delivered: number;
  readonly acknowledged: number;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly durableName: string | null;
  /** Deliveries per second over the last 10 s. */
  readonly rate: number;
}

export interface Producer {
  readonly connectionId: string;
  readonly destination: string;
  readonly sent: number;
}

export interface ConnectionDetail extends Connection {
  readonly sessionList: readonly Session[];
  readonly consumerList: readonly Consumer[];
  readonly producerList: readonly Producer[];
}

export interface Subscription {
  readonly owner: string;
  readonly name: string;
  readonly topic: string;
  readonly selector: string | null;
  readonly noLocal: boolean;
  readonly depth: number;
  readonly active: boolean;
}

export interface Scheduled {
  readonly id: string;
  readonly destination: string;
  readonly nextDue: string;
  readonly repeatsLeft: number;
  readonly period: number;
  readonly cron: string | null;
  readonly bodyBytes: number;
}

/** While the PostgreSQL store's commits fail: since when, why, and how many batches. */
export interface StoreFailing {
  readonly since: string;
  readonly error: string;
  readonly failedBatches: number;
}

export type StoreReport = JournalReport | DatabaseReport;

export interface DatabaseReport {
  readonly type: 'postgres';
  readonly records: number;
  readonly bytes: number;
  readonly failing: StoreFailing | null;
  readonly failedCommits: number;
  readonly failedLoads: number;
}

export interface JournalReport {
  readonly type: 'journal';
  readonly store: {
    readonly diskBytes: number;
    readonly segments: readonly { file: string; size: number; liveBytes: number; deadBytes: number; liveRecords: number; keptAliveBy: readonly number[]; waitsFor: readonly string[] }[];
  };
  readonly owners: Record<string, string>;
}

export interface SendRequest {
  body: string;
  bodyEncoding: 'text' | 'base64';
  persistent: boolean;
  /** Left out, the broker's default (4), as ActiveMQ's send form leaves a blank priority. */
  priority?: number;
  timeToLive?: number;
  correlationId?: string;
  type?: string;
  replyTo?: string;
  properties: Record<string, { type: PropertyType; value: unknown }>;
}

/** Which messages a move, copy or retry takes: these ids, those a selector picks, or all. */
export type Selection = { ids: readonly string[] } | { selector: string } | Record<string, never>;

/** An answer other than 2xx, with the API's stable code and sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const CREDENTIALS_KEY = 'ferry.credentials';

/**
 * Basic credentials, kept in sessionStorage: they last as long as the tab, never reach disk-backed
 * storage, and are sent by hand on each call. Requests go out with `credentials: 'omit'` so the
 * browser neither adds what it cached nor opens its own login dialog on a 401.
 */
export class Api {
  private authorization: string | null;
  /** Called when the broker stops accepting the credentials (401), so the console can ask again. */
  onUnauthorized: () => void = () => {};

  constructor(private readonly storage: Storage = sessionStorage) {
    this.authorization = storage.getItem(CREDENTIALS_KEY);
  }

  get hasCredentials(): boolean {
    return this.authorization !== null;
  }

  setCredentials(user: string, password: string): void {
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    this.authorization = `Basic ${btoa(binary)}`;
    this.storage.setItem(CREDENTIALS_KEY, this.authorization);
  }

  forget(): void {
    this.authorization = null;
    this.storage.removeItem(CREDENTIALS_KEY);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.authorization !== null) headers['authorization'] = this.authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`/api/v1${path}`, { method, headers, credentials: 'omit', cache: 'no-store', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch {
      throw new ApiError(0, 'NETWORK', 'the broker cannot be reached');
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const answer = (parsed ?? {}) as { code?: string; error?: string };
      const error = new ApiError(res.status, answer.code ?? `HTTP_${res.status}`, answer.error ?? `the broker answered ${res.status} ${res.statusText}`);
      if (res.status === 401) this.onUnauthorized();
      throw error;
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  whoami(): Promise<WhoAmI> {
    return this.get('/whoami');
  }

  broker(): Promise<BrokerInfo> {
    return this.get('/broker');
  }

  destinations(query: { kind?: Kind; filter?: string; deadLetter?: boolean; sort?: string; order?: 'asc' | 'desc'; offset: number; limit: number }): Promise<Page<Destination>> {
    return this.get(`/destinations${queryString(query)}`);
  }

  /** One destination's figures; null when there is no such destination. */
  async destination(kind: Kind, name: string): Promise<Destination | null> {
    try {
      return await this.get<Destination>(`/destinations/${kind}/${enc(name)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  createDestination(kind: Kind, name: string): Promise<Destination> {
    return this.call('POST', '/destinations', { kind, name });
  }

  deleteDestination(kind: Kind, name: string): Promise<void> {
    return this.call('DELETE', `/destinations/${kind}/${enc(name)}`);
  }

  purge(name: string): Promise<{ purged: number }> {
    return this.call('POST', `/destinations/queue/${enc(name)}/purge`);
  }

  pause(name: string, pause: boolean): Promise<Destination> {
    return this.call('POST', `/destinations/queue/${enc(name)}/${pause ? 'pause' : 'resume'}`);
  }

  messages(queue: string, query: { selector?: string; offset: number; limit: number }): Promise<{ items: readonly MessageSummary[]; offset: number; limit: number; more: boolean }> {
    return this.get(`/queues/${enc(queue)}/messages${queryString(query)}`);
  }

  message(queue: string, id: string): Promise<MessageDetail> {
    return this.get(`/queues/${enc(queue)}/messages/${enc(id)}`);
  }

  deleteMessage(queue: string, id: string): Promise<void> {
    return this.call('DELETE', `/queues/${enc(queue)}/messages/${enc(id)}`);
  }

  move(queue: string, to: string, selection: Selection): Promise<{ moved: number; inFlight?: string[] }> {
    return this.call('POST', `/queues/${enc(queue)}/messages/move`, { to, ...selection });
  }

  copy(queue: string, to: string, selection: Selection): Promise<{ copied: number; inFlight?: string[] }> {
    return this.call('POST', `/queues/${enc(queue)}/messages/copy`, { to, ...selection });
  }

  retry(queue: string, selection: Selection): Promise<{ retried: number; inFlight?: string[] }> {
    return this.call('POST', `/queues/${enc(queue)}/messages/retry`, selection);
  }

  send(kind: Kind, name: string, message: SendRequest): Promise<{ id: string }> {
    return this.call('POST', `/destinations/${kind}/${enc(name)}/messages`, message);
  }

  connections(): Promise<{ items: readonly Connection[] }> {
    return this.get('/connections');
  }

  connection(id: string): Promise<ConnectionDetail> {
    return this.get(`/connections/${enc(id)}`);
  }

  closeConnection(id: string): Promise<void> {
    return this.call('DELETE', `/connections/${enc(id)}`);
  }

  /** Every consumer, or those of one destination (`queue://NAME`; a wildcard consumer is listed under its pattern only). */
  consumers(destination?: string): Promise<{ items: readonly Consumer[] }> {
    return this.get(`/consumers${queryString({ destination })}`);
  }

  subscriptions(): Promise<{ items: readonly Subscription[] }> {
    return this.get('/subscriptions');
  }

  deleteSubscription(owner: string, name: string): Promise<void> {
    return this.call('DELETE', `/subscriptions/${enc(owner)}/${enc(name)}`);
  }

  scheduled(offset: number, limit: number): Promise<{ items: readonly Scheduled[] }> {
    return this.get(`/scheduled${queryString({ offset, limit })}`);
  }

  cancelScheduled(id: string): Promise<void> {
    return this.call('DELETE', `/scheduled/${enc(id)}`);
  }

  store(): Promise<StoreReport> {
    return this.get('/store');
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function queryString(query: Record<string, string | number | boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
