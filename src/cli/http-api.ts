import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { FerryError } from '../errors.js';
import { askHidden } from './prompt.js';
import { notThrough } from './unreachable.js';
import { env } from './environment.js';

/**
 * The management API as the operators' tools see it: one base URL, one login, JSON in and out.
 * What the broker refuses comes back as an ApiError carrying the broker's own `FERRY_*` code and
 * HTTP status, so that exit statuses follow the status and messages quote the code.
 */

/** The options every management command takes (the older --host/--http-port/--tls form too). */
export const managementOptions = {
  url: { type: 'string' },
  host: { type: 'string' },
  'http-port': { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const managementHelp = `Connection options (every management command):
  --url URL          the management API (default http://127.0.0.1:8161)   env FERRY_URL
  --user USER        log in as USER                                       env FERRY_USER
  --password PW      USER's password; else FERRY_PASSWORD, else asked on a terminal
  --token TOKEN      a management API token instead of a user             env FERRY_TOKEN
  --ca FILE          PEM file of the authority that signed the broker's certificate (https)
  --host HOST, --http-port PORT, --tls   the older way to name the API (--url wins)
  --json             machine-readable output
  -h, --help

Exit status: 0 done, 1 bad command line (or a request the API found bad, 400), 2 cannot reach
the broker, 3 refused (401, 403), 4 not found, 5 any other error from the API.
`;

export interface ManagementValues {
  url?: string | undefined;
  host?: string | undefined;
  'http-port'?: string | undefined;
  tls?: boolean | undefined;
  ca?: string | undefined;
  user?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
}

/** An answer from the broker that is not a success: its status, its code and its sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function usageError(message: string): FerryError {
  return new FerryError('FERRY_CLI_USAGE', message);
}

/** The certificate authority file a `--ca` option names, read; a file that cannot be read is a usage error. */
export function readCaOption(path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw usageError(`cannot read --ca ${path}: ${(err as Error).message}`);
  }
}

/** The base URL from --url, or the older --host/--http-port/--tls, or their variables. */
export function baseUrl(values: ManagementValues): URL {
  const given = values.url ?? env('FERRY_URL');
  if (given !== undefined) {
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      throw usageError(`--url must be an http:// or https:// URL, got "${given}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`--url must be an http:// or https:// URL, got "${given}"`);
    return url;
  }
  const host = values.host ?? env('FERRY_HOST') ?? '127.0.0.1';
  const secure = values.tls === true;
  const portText = values['http-port'] ?? env('FERRY_HTTP_PORT') ?? (secure ? '8162' : '8161');
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw usageError(`--http-port must be a port number, got "${portText}"`);
  return new URL(`${secure ? 'https' : 'http'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`);
}

/** The `Authorization` header: a token, or a user with a password from the option, the environment or the terminal. */
export async function authorization(values: ManagementValues): Promise<string | undefined> {
  const token = values.token ?? env('FERRY_TOKEN');
  if (token !== undefined) return `Bearer ${token}`;
  const user = values.user ?? env('FERRY_USER');
  if (user === undefined) return undefined;
  let password = values.password ?? env('FERRY_PASSWORD');
  if (password === undefined) {
    // a script without a terminal is told so, rather than logging in with no password (a failed login the broker counts)
    if (process.stdin.isTTY !== true) throw usageError(`--user ${user} needs a password: give --password or FERRY_PASSWORD (standard input is not a terminal to ask on)`);
    password = await askHidden(`password for ${user}: `);
  }
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** How long one request may wait for its answer; the API answers in milliseconds, a purge of millions in seconds. */
const REQUEST_TIMEOUT_MS = 60_000;

export class ManagementApi {
  private constructor(
    readonly url: URL,
    private readonly auth: string | undefined,
    private readonly ca: Buffer | undefined,
  ) {}

  static async open(values: ManagementValues): Promise<ManagementApi> {
    const url = baseUrl(values);
    const ca = readCaOption(values.ca);
    return new ManagementApi(url, await authorization(values), ca);
  }

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    const text = search.toString();
    return this.call<T>('GET', text === '' ? path : `${path}?${text}`);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  delete(path: string): Promise<void> {
    return this.call<void>('DELETE', path);
  }

  /** One request; a status outside 2xx throws ApiError, a connection that fails throws FERRY_CLI_UNREACHABLE. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const target = new URL(path.startsWith('/') ? path.slice(1) : path, this.url.href.endsWith('/') ? this.url : new URL(`${this.url.href}/`));
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.auth !== undefined) headers['authorization'] = this.auth;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const secure = target.protocol === 'https:';
      const options = { method, headers, ...(secure && this.ca !== undefined ? { ca: this.ca } : {}) };
      const req = secure ? httpsRequest(target, options) : httpRequest(target, options);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(new FerryError('FERRY_CLI_UNREACHABLE', `the connection to ${this.url.origin} dropped: ${err.message}`, { cause: err })));
      });
      req.on('error', (err) => reject(notThrough(this.url.origin, err)));
      // a listener that takes the connection and never answers (a stopped process, a wrong port) would hang a script
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.end(payload);
    });
    let parsed: unknown;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ApiError(status, `HTTP_${status}`, `${method} ${target.pathname} answered HTTP ${status} with something other than JSON`);
      }
    }
    if (status >= 200 && status < 300) return parsed as T;
    const answer = (parsed ?? {}) as { code?: unknown; error?: unknown };
    const code = typeof answer.code === 'string' ? answer.code : `HTTP_${status}`;
    const sentence = typeof answer.error === 'string' ? answer.error : `${method} ${target.pathname} answered HTTP ${status}`;
    throw new ApiError(status, code, sentence);
  }
}

/** `queue://name` or `topic://name` from a bare name (a queue), `/queue/x`, `queue://x` or `topic://x`. */
export function destinationUri(text: string): { kind: 'queue' | 'topic'; name: string; uri: string } {
  const m = /^(?:(queue|topic):\/\/|\/(queue|topic)\/)(.+)$/.exec(text);
  const kind = (m?.[1] ?? m?.[2] ?? 'queue') as 'queue' | 'topic';
  const name = m?.[3] ?? text;
  if (name === '') throw usageError(`a destination needs a name, got "${text}"`);
  return { kind, name, uri: `${kind}://${name}` };
}

/** A path segment: names may hold slashes and other characters a URL would read otherwise. */
export function segment(name: string): string {
  return encodeURIComponent(name);
}
