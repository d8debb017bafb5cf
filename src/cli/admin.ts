import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BrokerStats } from '../core/index.js';
import type { ConnectorStats } from '../network/index.js';
import type { StompFrame } from '../protocols/stomp/index.js';
import { MAX_TIMER_DELAY } from '../transport/index.js';
import { ManagementApi, managementHelp, usageError } from './http-api.js';
import { parseManagement } from './operate.js';
import { managementCommand, printJson, table } from './output.js';
import { StompClient } from './stomp-client.js';
import { env } from './environment.js';

export const statHelp = `Usage: ferry stat [options]

Prints the broker's queues (waiting, in flight, delayed, consumers, enqueued, dequeued, expired,
dead-lettered, discarded, and whether it is paused: its messages wait, undelivered, until
"ferry resume"), topics, durable subscriptions and scheduled messages, from its management API. A message that expires counts as expired only; one rejected or past its maximum
redeliveries counts as dead-lettered when it moved to a dead-letter queue, as discarded when it was
dropped (non-persistent, temporary, or already in a dead-letter queue).
`;

export const stompBrowseHelp = `Usage: ferry browse QUEUE --port PORT [options]

Shows the messages in QUEUE (delivered and unacknowledged ones too) without consuming them over
STOMP (a browser subscription, as ActiveMQ has it), one body per line; with --headers, each message's headers first. This form is
taken when --port, --headers or --timeout is given; otherwise "ferry browse" asks the management API.

Options:
  --selector SQL     only messages matching this JMS selector
  --headers          print headers too
  --host HOST        broker address (default 127.0.0.1)          env FERRY_HOST
  --port PORT        broker STOMP port (default 61613, 61612 with --tls) env FERRY_STOMP_PORT
  -t, --timeout MS   give up after MS milliseconds (default 5000, at most 2147483647)
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

function readCa(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read --ca ${file}: ${(err as Error).message}`);
  }
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function stat(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values } = parseManagement(argv, {}, 'ferry stat [options]', 0);
    if (values.help === true) {
      process.stdout.write(`${statHelp}\n${managementHelp}`);
      return 0;
    }
    const stats = await (await ManagementApi.open(values)).get<BrokerStats>('/api/stats');
    if (values.json === true) {
      printJson(stats);
      return 0;
    }
    printStats(stats);
    return 0;
  });
}

function printStats(stats: BrokerStats): void {
  const out: string[] = [];
  out.push(`connections: ${stats.connections}   scheduled messages: ${stats.scheduled}`);
  const bodies = stats.messageBodies;
  const limit = bodies.limitBytes === null ? 'no limit' : `limit ${mebibytes(bodies.limitBytes)}`;
  out.push(`message bodies in memory: ${mebibytes(bodies.residentBytes)} (${limit})   on disk only: ${bodies.onDisk}`, '');
  out.push(
    table([
      ['queue', 'waiting', 'in flight', 'delayed', 'consumers', 'enqueued', 'dequeued', 'expired', 'dead-lettered', 'discarded', 'paused'],
      ...stats.queues.map((q) => [q.name, q.pending, q.inFlight, q.delayed, q.consumers, q.enqueued, q.dequeued, q.expired, q.deadLettered, q.discarded, q.paused ? 'yes' : 'no']),
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
        ['network connector', 'neighbour', 'state', 'demand', 'received', 'links', 'returned'],
        ...network.map((c) => [c.name, c.neighbour ?? c.uri, c.state, c.demand.filter((d) => !d.back).map((d) => `${d.kind}:${d.name}`).join(' ') || '-', c.received, c.links, c.returned]),
      ]),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export async function stompBrowse(argv: readonly string[]): Promise<number> {
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
    process.stdout.write(stompBrowseHelp);
    return 0;
  }
  const queue = positionals[0];
  if (queue === undefined) throw new Error('name the queue to browse: ferry browse QUEUE');
  if (positionals[1] !== undefined) throw usageError(`unexpected argument "${positionals[1]}": ferry browse QUEUE --port PORT`);
  const host = values.host ?? process.env['FERRY_HOST'] ?? '127.0.0.1';
  const port = Number(values.port ?? process.env['FERRY_STOMP_PORT'] ?? (values.tls === true ? 61612 : 61613));
  const timeout = Number(values.timeout ?? 5000);
  // Node fires a longer timer at once
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_TIMER_DELAY) throw usageError(`--timeout takes milliseconds from 0 to ${MAX_TIMER_DELAY}, got "${values.timeout}"`);
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
  // after a refusal or a broken connection the count says nothing about the queue, and "0 messages" would read as an empty one
  if (outcome !== 2) process.stderr.write(`${count} message${count === 1 ? '' : 's'} waiting in ${queue}\n`);
  return outcome;
}

export const storeHelp = `Usage: ferry store [options]

Explains the broker's disk: each journal file, its size, its live and dead bytes, and what keeps it
on disk (a queue's waiting messages, a durable subscription, a transaction), from the management API.
On the PostgreSQL store: its records and bytes, and whether its commits go through.
`;

interface JournalReport {
  type: 'journal';
  store: {
    diskBytes: number;
    segments: { file: string; size: number; liveBytes: number; deadBytes: number; liveRecords: number; keptAliveBy: number[]; waitsFor: string[] }[];
  };
  owners: Record<string, string>;
}

interface DatabaseReport {
  type: 'postgres';
  records: number;
  bytes: number;
  failing: { since: string; error: string; failedBatches: number } | null;
  failedCommits: number;
  failedLoads: number;
}

type StoreReport = JournalReport | DatabaseReport;

function bytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function store(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values } = parseManagement(argv, {}, 'ferry store [options]', 0);
    if (values.help === true) {
      process.stdout.write(`${storeHelp}\n${managementHelp}`);
      return 0;
    }
    const report = await (await ManagementApi.open(values)).get<StoreReport>('/api/v1/store');
    if (values.json === true) {
      printJson(report);
      return 0;
    }
    if (report.type === 'postgres') printDatabase(report);
    else printStore(report);
    return 0;
  });
}

function printDatabase(report: DatabaseReport): void {
  const out = [`PostgreSQL store: ${report.records} live record(s), ${bytes(report.bytes)} of record data`];
  const { failing } = report;
  if (failing === null) out.push('commits: going through');
  else out.push(`commits: failing since ${failing.since}, ${failing.failedBatches} failed batch(es): ${failing.error}`);
  out.push(`failed commits since start: ${report.failedCommits}, failed background reads: ${report.failedLoads}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function printStore(report: JournalReport): void {
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
    const unnamed = segment.liveRecords - segment.keptAliveBy.length;
    if (reasons.size === 0 && unnamed <= 0 && segment.waitsFor.length === 0) continue;
    out.push('', `${segment.file} is kept by:`);
    for (const [owner, count] of reasons) out.push(`  ${owner}${count > 1 ? ` (${count} records shown)` : ''}`);
    if (unnamed > 0) out.push(`  ${unnamed} more live record(s), not named`);
    if (segment.waitsFor.length > 0) out.push(`  deletes of records in ${segment.waitsFor.join(', ')}, which must go first`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
