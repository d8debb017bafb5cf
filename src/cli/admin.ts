import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import type { BrokerStats } from '../core/index.js';
import type { ConnectorStats } from '../network/index.js';
import type { StompFrame } from '../protocols/stomp/index.js';
import { StompClient } from './stomp-client.js';

export const statHelp = `Usage: ferry stat [options]

Prints the broker's queues (waiting, in flight, delayed, consumers, enqueued, dequeued, expired,
dead-lettered, discarded), topics, durable subscriptions and scheduled messages, from its
management API. A message that expires counts as expired only; one rejected or past its maximum
redeliveries counts as dead-lettered when it moved to a dead-letter queue, as discarded when it was
dropped (non-persistent, temporary, or already in a dead-letter queue).

Options:
  --host HOST        broker address (default 127.0.0.1)          env FERRY_HOST
  --http-port PORT   management API port (default 8161, 8162 with --tls) env FERRY_HTTP_PORT
  --json             print the raw JSON
  --user USER        log in as USER                              env FERRY_USER
  --password PW      USER's password                             env FERRY_PASSWORD
  --token TOKEN      a management API token instead of a user    env FERRY_TOKEN
  --tls              https, verifying the broker's certificate
  --ca FILE          PEM file of the authority that signed it (with --tls)
  -h, --help
`;

export const purgeHelp = `Usage: ferry purge QUEUE [options]

Drops every message waiting in QUEUE (messages in flight to consumers stay), through the
management API, and prints how many were dropped.

Options:
  --host HOST        broker address (default 127.0.0.1)          env FERRY_HOST
  --http-port PORT   management API port (default 8161, 8162 with --tls) env FERRY_HTTP_PORT
  --user USER        log in as USER                              env FERRY_USER
  --password PW      USER's password                             env FERRY_PASSWORD
  --token TOKEN      a management API token instead of a user    env FERRY_TOKEN
  --tls              https, verifying the broker's certificate
  --ca FILE          PEM file of the authority that signed it (with --tls)
  -h, --help
`;

export const browseHelp = `Usage: ferry browse QUEUE [options]

Shows the messages waiting in QUEUE without consuming them (a STOMP browser subscription, as
ActiveMQ has it), one body per line; with --headers, each message's headers first.

Options:
  --selector SQL     only messages matching this JMS selector
  --headers          print headers too
  --host HOST        broker address (default 127.0.0.1)          env FERRY_HOST
  --port PORT        broker STOMP port (default 61613, 61612 with --tls) env FERRY_STOMP_PORT
  -t, --timeout MS   give up after MS milliseconds (default 5000)
  --user USER        log in as USER                              env FERRY_USER
  --password PW      USER's password                             env FERRY_PASSWORD
  --tls              STOMP over TLS, verifying the broker's certificate
  --ca FILE          PEM file of the authority that signed it (with --tls)
  -h, --help
`;

const loginOptions = {
  user: { type: 'string' },
  password: { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
} as const;

const httpOptions = {
  host: { type: 'string' },
  'http-port': { type: 'string' },
  ...loginOptions,
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface HttpValues {
  host?: string | undefined;
  'http-port'?: string | undefined;
  user?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
  tls?: boolean | undefined;
  ca?: string | undefined;
}

/** What the management API answered with a refusal: its code, so that scripts can tell them apart. */
class RefusedError extends Error {}

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

function readCa(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read --ca ${file}: ${(err as Error).message}`);
  }
}

/** The `Authorization` header from --token or --user/--password (or their variables), if any. */
function authorization(values: HttpValues): string | undefined {
  const token = values.token ?? env('FERRY_TOKEN');
  if (token !== undefined) return `Bearer ${token}`;
  const user = values.user ?? env('FERRY_USER');
  if (user === undefined) return undefined;
  return `Basic ${Buffer.from(`${user}:${values.password ?? env('FERRY_PASSWORD') ?? ''}`, 'utf8').toString('base64')}`;
}

/** Calls the management API; a refusal (401, 403) throws with the broker's code. */
async function call(values: HttpValues, path: string, method = 'GET'): Promise<unknown> {
  const host = values.host ?? env('FERRY_HOST') ?? '127.0.0.1';
  const port = Number(values['http-port'] ?? env('FERRY_HTTP_PORT') ?? (values.tls === true ? 8162 : 8161));
  const secure = values.tls === true;
  const url = `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  const auth = authorization(values);
  const ca = readCa(values.ca);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const options = { host, port, path, method, headers: auth === undefined ? {} : { authorization: auth } };
    const req = secure ? httpsRequest({ ...options, ...(ca === undefined ? {} : { ca }) }) : httpRequest(options);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`cannot reach the management API at ${url}: ${err.message}`)));
    req.end();
  });
  let body: { error?: string; code?: string };
  try {
    body = JSON.parse(text) as { error?: string; code?: string };
  } catch {
    throw new Error(`the management API at ${url} answered HTTP ${status} with something other than JSON`);
  }
  if (status === 401 || status === 403) throw new RefusedError(`${body.code ?? `HTTP ${status}`}: ${body.error ?? ''}`);
  if (status < 200 || status >= 300) throw new Error(body.error ?? `HTTP ${status}`);
  return body;
}

/** Runs an admin command; a refusal by the broker prints its code and ends with status 1. */
async function refusalsPrinted(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof RefusedError)) throw err;
    process.stderr.write(`ferry: ${err.message}\n`);
    return 1;
  }
}

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((cell, i) => (typeof cell === 'number' ? String(cell).padStart(widths[i]!) : String(cell).padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function stat(argv: readonly string[]): Promise<number> {
  return refusalsPrinted(() => statCommand(argv));
}

async function statCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { ...httpOptions, json: { type: 'boolean' } }, strict: true });
  if (values.help === true) {
    process.stdout.write(statHelp);
    return 0;
  }
  const stats = (await call(values, '/api/stats')) as BrokerStats;
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`connections: ${stats.connections}   scheduled messages: ${stats.scheduled}`);
  const bodies = stats.messageBodies;
  const limit = bodies.limitBytes === null ? 'no limit' : `limit ${mebibytes(bodies.limitBytes)}`;
  out.push(`message bodies in memory: ${mebibytes(bodies.residentBytes)} (${limit})   on disk only: ${bodies.onDisk}`, '');
  out.push(
    table([
      ['queue', 'waiting', 'in flight', 'delayed', 'consumers', 'enqueued', 'dequeued', 'expired', 'dead-lettered', 'discarded'],
      ...stats.queues.map((q) => [q.name, q.pending, q.inFlight, q.delayed, q.consumers, q.enqueued, q.dequeued, q.expired, q.deadLettered, q.discarded]),
    ]),
  );
  if (stats.topics.length > 0) out.push('', table([['topic', 'subscriptions'], ...stats.topics.map((t) => [t.name, t.subscriptions])]));
  if (stats.clients.length > 0) {
    out.push('', table([['protocol', 'address', 'user', 'client id'], ...stats.clients.map((c) => [c.protocol, c.remoteAddress, c.user ?? '(anonymous)', c.clientId ?? '-'])]));
  }
  if (stats.durableSubscriptions.length > 0) {
    out.push(
      '',
      table([
        ['durable subscription', 'topic', 'active', 'waiting', 'in flight'],
        ...stats.durableSubscriptions.map((d) => [`${d.clientId}:${d.name}`, d.topic, d.active ? 'yes' : 'no', d.pending, d.inFlight]),
      ]),
    );
  }
  const network = (stats as BrokerStats & { network?: ConnectorStats[] }).network ?? [];
  if (network.length > 0) {
    out.push(
      '',
      table([
        ['network connector', 'neighbour', 'state', 'demand', 'received', 'links'],
        ...network.map((c) => [c.name, c.neighbour ?? c.uri, c.state, c.demand.map((d) => `${d.kind}:${d.name}`).join(' ') || '-', c.received, c.links]),
      ]),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

export function purge(argv: readonly string[]): Promise<number> {
  return refusalsPrinted(() => purgeCommand(argv));
}

async function purgeCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], options: httpOptions, strict: true, allowPositionals: true });
  if (values.help === true) {
    process.stdout.write(purgeHelp);
    return 0;
  }
  const queue = positionals[0];
  if (queue === undefined) throw new Error('name the queue to purge: ferry purge QUEUE');
  const result = (await call(values, `/api/queues/${encodeURIComponent(queue)}/messages`, 'DELETE')) as { purged: number };
  process.stdout.write(`purged ${result.purged} message${result.purged === 1 ? '' : 's'} from ${queue}\n`);
  return 0;
}

export async function browse(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      selector: { type: 'string' },
      headers: { type: 'boolean' },
      timeout: { type: 'string', short: 't' },
      ...loginOptions,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) {
    process.stdout.write(browseHelp);
    return 0;
  }
  const queue = positionals[0];
  if (queue === undefined) throw new Error('name the queue to browse: ferry browse QUEUE');
  const host = values.host ?? process.env['FERRY_HOST'] ?? '127.0.0.1';
  const port = Number(values.port ?? process.env['FERRY_STOMP_PORT'] ?? (values.tls === true ? 61612 : 61613));
  const timeout = Number(values.timeout ?? 5000);
  const user = values.user ?? env('FERRY_USER');
  const login: Record<string, string> = user === undefined ? {} : { login: user, passcode: values.password ?? env('FERRY_PASSWORD') ?? '' };
  const client = await StompClient.open(host, port, login, values.tls === true ? { ca: readCa(values.ca) } : undefined);
  let count = 0;
  const outcome = await new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(1), timeout);
    client.onError = (err) => {
      process.stderr.write(`${err.message}\n`);
      clearTimeout(timer);
      resolve(2);
    };
    client.onMessage = (frame: StompFrame) => {
      if (frame.headers.get('browser') === 'end') {
        clearTimeout(timer);
        resolve(0);
        return;
      }
      count++;
      if (values.headers === true) {
        for (const [name, value] of frame.headers) process.stdout.write(`${name}:${value}\n`);
        process.stdout.write('\n');
      }
      process.stdout.write(frame.body);
      process.stdout.write('\n');
    };
    const headers: Record<string, string> = { destination: queue.startsWith('/') ? queue : `/queue/${queue}`, id: 'browse', browser: 'true' };
    if (values.selector !== undefined) headers['selector'] = values.selector;
    client.write('SUBSCRIBE', headers);
  });
  await client.close();
  process.stderr.write(`${count} message${count === 1 ? '' : 's'} waiting in ${queue}\n`);
  return outcome;
}

export const storeHelp = `Usage: ferry store [options]

Explains the broker's disk: each journal file, its size, its live and dead bytes, and what keeps it
on disk (a queue's waiting messages, a durable subscription, a transaction), from the management API.

Options:
  --host HOST        broker address (default 127.0.0.1)          env FERRY_HOST
  --http-port PORT   management API port (default 8161, 8162 with --tls) env FERRY_HTTP_PORT
  --json             print the raw JSON
  --user USER        log in as USER                              env FERRY_USER
  --password PW      USER's password                             env FERRY_PASSWORD
  --token TOKEN      a management API token instead of a user    env FERRY_TOKEN
  --tls              https, verifying the broker's certificate
  --ca FILE          PEM file of the authority that signed it (with --tls)
  -h, --help
`;

interface StoreReport {
  store: {
    diskBytes: number;
    segments: { file: string; size: number; liveBytes: number; deadBytes: number; liveRecords: number; keptAliveBy: number[]; waitsFor: string[] }[];
  };
  owners: Record<string, string>;
}

function bytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function store(argv: readonly string[]): Promise<number> {
  return refusalsPrinted(() => storeCommand(argv));
}

async function storeCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { ...httpOptions, json: { type: 'boolean' } }, strict: true });
  if (values.help === true) {
    process.stdout.write(storeHelp);
    return 0;
  }
  const report = (await call(values, '/api/store')) as StoreReport;
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const out = [`${report.store.segments.length} journal file(s), ${bytes(report.store.diskBytes)} on disk`, ''];
  out.push(
    table([
      ['file', 'size', 'live', 'dead', 'live records'],
      ...report.store.segments.map((s) => [s.file, bytes(s.size), bytes(s.liveBytes), bytes(s.deadBytes), s.liveRecords]),
    ]),
  );
  for (const segment of report.store.segments) {
    const reasons = new Map<string, number>();
    for (const id of segment.keptAliveBy) {
      const owner = report.owners[String(id)] ?? `record ${id}`;
      reasons.set(owner, (reasons.get(owner) ?? 0) + 1);
    }
    if (reasons.size === 0 && segment.waitsFor.length === 0) continue;
    out.push('', `${segment.file} is kept by:`);
    for (const [owner, count] of reasons) out.push(`  ${owner}${count > 1 ? ` (${count} records shown)` : ''}`);
    if (segment.waitsFor.length > 0) out.push(`  deletes of records in ${segment.waitsFor.join(', ')}, which must go first`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
