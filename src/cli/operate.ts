import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_TIMER_DELAY } from '../transport/index.js';
import { ApiError, ManagementApi, destinationUri, managementHelp, managementOptions, segment, usageError } from './http-api.js';
import { EXIT_NOT_FOUND, managementCommand, plural, printJson, table } from './output.js';

/**
 * The operators' verbs over the management API v1: the destinations table, browsing, purging,
 * moving and copying messages, retrying dead letters, and the clients connected.
 */

export interface DestinationItem {
  kind: 'queue' | 'topic';
  name: string;
  depth: number;
  /** Still putting its messages back from the store after a start; `toLoad` of `depth` are still to come, null while not counted. */
  loading: boolean;
  toLoad: number | null;
  inFlight: number;
  enqueued: number;
  dequeued: number;
  expired: number;
  deadLettered: number;
  consumers: number;
  producers: number;
  paused: boolean;
  temporary: boolean;
}

export interface MessageSummary {
  id: string;
  timestamp: number;
  persistent: boolean;
  priority: number;
  expiration: number;
  redelivered: boolean;
  deliveryCount: number;
  correlationId: string | null;
  type: string | null;
  groupId: string | null;
  bodyKind: 'text' | 'bytes' | 'map' | 'stream' | 'object' | 'none';
  bodyBytes: number;
  originalDestination: string | null;
}

/** A page of a browse; `next` is where the following page starts (`after`), null for an empty page. */
export interface MessagePage<T> {
  items: T[];
  more: boolean;
  next: string | null;
}

export interface TypedProperty {
  name: string;
  type: 'boolean' | 'byte' | 'short' | 'int' | 'long' | 'float' | 'double' | 'char' | 'string' | 'bytes';
  value: unknown;
}

export interface FullMessage extends MessageSummary {
  groupSeq: number | null;
  replyTo: string | null;
  properties: TypedProperty[];
  body: { encoding: 'text' | 'base64'; data: string; json?: unknown };
}

interface ConnectionItem {
  id: string;
  protocol: string;
  remoteAddress: string;
  user: string | null;
  clientId: string | null;
  connectedAt: string;
  sessions: number;
  consumers: number;
  producers: number;
  inFlight: number;
  messagesIn: number;
  messagesOut: number;
  rateIn: number;
  rateOut: number;
}

/** Options whose value is a secret, which may start with a dash: an older token does 1 time in 64. */
const secretOptions = new Set(['--token', '--password']);

/**
 * Parses a management command's arguments with its own options on top of the shared ones. The
 * argument after `--token` or `--password` is its value whatever it starts with, as getopt takes
 * an option's required argument; parseArgs would refuse `--token -AbC` as ambiguous.
 */
export function parseManagement<T extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], extra: T, usage: string, most: number) {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    args.push(secretOptions.has(arg) && i + 1 < argv.length ? `${arg}=${argv[++i]!}` : arg);
  }
  const parsed = parseArgs({ args, options: { ...managementOptions, ...extra } as typeof managementOptions & T, strict: true, allowPositionals: true });
  // a word the command would not read is a mistake to say, not to pass over: `purge a b` once purged a only
  const unread = parsed.positionals[most];
  if (unread !== undefined && (parsed.values as { help?: boolean }).help !== true) throw usageError(`unexpected argument "${unread}": ${usage}`);
  return parsed;
}

function help(text: string): number {
  process.stdout.write(`${text}\n${managementHelp}`);
  return 0;
}

function needed(value: string | undefined, what: string, usage: string): string {
  if (value === undefined || value === '') throw usageError(`name ${what}: ${usage}`);
  return value;
}

function count(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw usageError(`${option} must be a non-negative integer, got "${text}"`);
  return n;
}

// ---- dstat -------------------------------------------------------------------------------------

export const dstatHelp = `Usage: ferry dstat [options]

The destinations table, as ActiveMQ's dstat prints it: name, depth, in flight, enqueued, dequeued,
consumers and producers of every queue and topic, and whether a queue is paused (its messages
wait, undelivered, until "ferry resume"; "-" for a topic). A queue still loading its messages from the store
after a start shows its depth as "N (loading)", or "N+ (loading)" while the store has not counted
them yet (N is what it holds so far).

Options:
  --kind queue|topic       only queues, or only topics
  --filter GLOB            only names matching GLOB (* any run of characters, ? one)
  --sort COLUMN            name, depth, inFlight, enqueued, dequeued, consumers, producers, ...;
                           a leading - sorts descending (--sort -depth)
  --watch [SECONDS]        redraw every SECONDS (default 2, at most 2147483) until interrupted
`;

/** A destination's depth, and whether more are still on their way back from the store. */
function depthCell(d: DestinationItem): number | string {
  if (!d.loading) return d.depth;
  return d.toLoad === null ? `${d.depth}+ (loading)` : `${d.depth} (loading)`;
}

/** Only a queue can be paused: a topic's cell says it has no such state rather than "no". */
function pausedCell(d: DestinationItem): string {
  if (d.kind !== 'queue') return '-';
  return d.paused ? 'yes' : 'no';
}

const dstatSorts: Record<string, string> = { 'in-flight': 'inFlight', inflight: 'inFlight', 'dead-lettered': 'deadLettered' };

/**
 * What parseArgs cannot read as given: `--watch` with its number optional (given one when it has
 * none), and `--sort -depth`, whose value starts with a dash.
 */
function dstatArguments(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--sort' && argv[i + 1]?.startsWith('-') === true) out.push(`--sort=${argv[++i]!}`);
    else if (arg !== '--watch') out.push(arg);
    else if (argv[i + 1] !== undefined && /^\d+(\.\d+)?$/.test(argv[i + 1]!)) out.push(`--watch=${argv[++i]!}`);
    else out.push('--watch=2');
  }
  return out;
}

export async function allDestinations(api: ManagementApi, query: Record<string, string | undefined>): Promise<{ total: number; items: DestinationItem[] }> {
  const items: DestinationItem[] = [];
  for (;;) {
    const page = await api.get<{ total: number; items: DestinationItem[] }>('/api/v1/destinations', { ...query, offset: items.length, limit: 1000 });
    items.push(...page.items);
    if (page.items.length === 0 || items.length >= page.total) return { total: page.total, items };
  }
}

export function dstat(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values } = parseManagement(dstatArguments(argv), { kind: { type: 'string' }, filter: { type: 'string' }, sort: { type: 'string' }, watch: { type: 'string' } }, 'ferry dstat [options]', 0);
    if (values.help === true) return help(dstatHelp);
    if (values.kind !== undefined && values.kind !== 'queue' && values.kind !== 'topic') throw usageError(`--kind must be queue or topic, got "${values.kind}"`);
    let sort: string | undefined;
    let order: string | undefined;
    if (values.sort !== undefined) {
      const descending = values.sort.startsWith('-');
      const column = descending ? values.sort.slice(1) : values.sort;
      sort = dstatSorts[column] ?? column;
      order = descending ? 'desc' : 'asc';
    }
    const seconds = values.watch === undefined ? undefined : Number(values.watch);
    // Node fires a timer longer than MAX_TIMER_DELAY ms at once
    if (seconds !== undefined && !(seconds > 0 && seconds * 1000 <= MAX_TIMER_DELAY)) throw usageError(`--watch takes a number of seconds above 0 and at most ${Math.floor(MAX_TIMER_DELAY / 1000)}, got "${values.watch}"`);
    const api = await ManagementApi.open(values);
    const query = { kind: values.kind, filter: values.filter, sort, order };
    const draw = async (): Promise<string> => {
      const { total, items } = await allDestinations(api, query);
      if (values.json === true) return JSON.stringify({ total, items }, null, seconds === undefined ? 2 : undefined);
      return table([
        ['kind', 'name', 'depth', 'in flight', 'enqueued', 'dequeued', 'consumers', 'producers', 'paused'],
        ...items.map((d) => [d.kind, d.name, depthCell(d), d.inFlight, d.enqueued, d.dequeued, d.consumers, d.producers, pausedCell(d)]),
      ]);
    };
    if (seconds === undefined) {
      process.stdout.write(`${await draw()}\n`);
      return 0;
    }
    return watch(seconds, api.url.origin, draw);
  });
}

/**
 * Redraws until SIGINT or SIGTERM. On a terminal the cursor goes back over the last drawing, so the
 * table stays in place; into a pipe each drawing follows the last, stamped with its time.
 */
function watch(seconds: number, origin: string, draw: () => Promise<string>): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const tick = (): void => {
      draw().then(
        (text) => {
          const frame = `${origin}  every ${seconds} s  ${new Date().toISOString()}\n${text}\n`;
          if (tty && drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}A\r\x1b[J`);
          process.stdout.write(tty || drawnLines === 0 ? frame : `\n${frame}`);
          drawnLines = frame.split('\n').length - 1;
          timer = setTimeout(tick, seconds * 1000);
        },
        (err: unknown) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          reject(err);
        },
      );
    };
    tick();
  });
}

// ---- browse ------------------------------------------------------------------------------------

export const browseApiHelp = `Usage: ferry browse QUEUE [options]

Shows the messages waiting in QUEUE without consuming them, from the management API: id, time,
priority, persistence, deliveries, type, correlation id and body size; with --body, each
message's properties and body too (text as it is, bytes in base64).

Options:
  --selector SQL           only messages matching this JMS selector
  --limit N                at most N messages (default 50; 0 = all)
  --body                   print properties and bodies
  --port PORT              browse over STOMP instead, as before (one body per line; so do
                           --headers and --timeout; see "ferry help browse")
`;

export async function browseMessages(api: ManagementApi, queue: string, selector: string | undefined, limit: number): Promise<MessageSummary[]> {
  const items: MessageSummary[] = [];
  // each page after the last message of the one before, so that consumers taking messages meanwhile make it skip none
  for (let after: string | undefined; ; ) {
    const want = limit === 0 ? 500 : Math.min(500, limit - items.length);
    const page = await api.get<MessagePage<MessageSummary>>(`/api/v1/queues/${segment(queue)}/messages`, { selector, after, limit: want });
    items.push(...page.items);
    if (!page.more || page.next === null || (limit !== 0 && items.length >= limit)) return items;
    after = page.next;
  }
}

export function fetchMessage(api: ManagementApi, queue: string, id: string): Promise<FullMessage> {
  return api.get<FullMessage>(`/api/v1/queues/${segment(queue)}/messages/${segment(id)}`);
}

function when(ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : '-';
}

export function browse(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, { selector: { type: 'string' }, limit: { type: 'string' }, body: { type: 'boolean' } }, 'ferry browse QUEUE', 1);
    if (values.help === true) return help(browseApiHelp);
    const queue = needed(positionals[0], 'the queue to browse', 'ferry browse QUEUE');
    const api = await ManagementApi.open(values);
    const summaries = await browseMessages(api, queue, values.selector, count(values.limit, '--limit', 50));
    if (values.body !== true) {
      if (values.json === true) printJson({ items: summaries });
      else {
        process.stdout.write(
          `${table([
            ['id', 'time', 'priority', 'persistent', 'deliveries', 'type', 'correlation id', 'body'],
            ...summaries.map((m) => [m.id, when(m.timestamp), m.priority, m.persistent ? 'yes' : 'no', m.deliveryCount, m.type ?? '-', m.correlationId ?? '-', `${m.bodyKind} ${m.bodyBytes} B`]),
          ])}\n`,
        );
      }
      process.stderr.write(`${plural(summaries.length, 'message')} shown from ${queue}\n`);
      return 0;
    }
    const messages: FullMessage[] = [];
    for (const m of summaries) messages.push(await fetchMessage(api, queue, m.id));
    if (values.json === true) printJson({ items: messages });
    else {
      for (const m of messages) {
        process.stdout.write(`${m.id}  ${when(m.timestamp)}  priority ${m.priority}  ${m.persistent ? 'persistent' : 'non-persistent'}  deliveries ${m.deliveryCount}\n`);
        for (const p of m.properties) process.stdout.write(`  ${p.name} (${p.type}) = ${String(p.value)}\n`);
        process.stdout.write(`${m.body.encoding === 'base64' ? `[base64] ${m.body.data}` : m.body.data}\n\n`);
      }
    }
    process.stderr.write(`${plural(messages.length, 'message')} shown from ${queue}\n`);
    return 0;
  });
}

// ---- purge, move, copy, retry ------------------------------------------------------------------

export const purgeHelp = `Usage: ferry purge QUEUE... [options]

Drops every message waiting in each QUEUE (messages in flight to consumers stay), through the
management API, and prints how many were dropped from each; --json gives the total, each
queue's count and the names not found. A QUEUE that does not exist is reported and the others are
purged all the same; the exit status is then 4.
`;

export function purge(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, {}, 'ferry purge QUEUE...', Infinity);
    if (values.help === true) return help(purgeHelp);
    needed(positionals[0], 'the queue to purge', 'ferry purge QUEUE...');
    const api = await ManagementApi.open(values);
    const queues: { name: string; purged: number }[] = [];
    const notFound: string[] = [];
    for (const queue of positionals) {
      let result: { purged: number };
      try {
        result = await api.post<{ purged: number }>(`/api/v1/destinations/queue/${segment(queue)}/purge`);
      } catch (err) {
        // one mistyped name must not leave the queues after it full, as ActiveMQ's purge goes on too
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        process.stderr.write(`ferry: ${err.code}: ${err.message}\n`);
        notFound.push(queue);
        continue;
      }
      queues.push({ name: queue, purged: result.purged });
      if (values.json !== true) process.stdout.write(`purged ${plural(result.purged, 'message')} from ${queue}\n`);
    }
    if (values.json === true) printJson({ purged: queues.reduce((sum, q) => sum + q.purged, 0), queues, notFound });
    return notFound.length > 0 ? EXIT_NOT_FOUND : 0;
  });
}

export const pauseHelp = `Usage: ferry pause QUEUE... [options]
       ferry resume QUEUE... [options]

Pauses each QUEUE: it still takes messages, but delivers none to its consumers until it is
resumed; "ferry resume" delivers again. "ferry dstat" and "ferry stat" show which queues are
paused, /metrics has ferry_destination_paused. A pause lasts until the broker stops. --json gives the queues done and
the names not found. A QUEUE that does not exist is reported and the others are done all the same;
the exit status is then 4.
`;

function pauseOrResume(verb: 'pause' | 'resume', argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const usage = `ferry ${verb} QUEUE...`;
    const { values, positionals } = parseManagement(argv, {}, usage, Infinity);
    if (values.help === true) return help(pauseHelp);
    needed(positionals[0], `the queue to ${verb}`, usage);
    const api = await ManagementApi.open(values);
    const done: string[] = [];
    const notFound: string[] = [];
    const past = verb === 'pause' ? 'paused' : 'resumed';
    for (const queue of positionals) {
      try {
        await api.post<DestinationItem>(`/api/v1/destinations/queue/${segment(queue)}/${verb}`);
      } catch (err) {
        // as purge does: one mistyped name must not leave the queues after it as they were
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        process.stderr.write(`ferry: ${err.code}: ${err.message}\n`);
        notFound.push(queue);
        continue;
      }
      done.push(queue);
      if (values.json !== true) process.stdout.write(`${past} ${queue}\n`);
    }
    if (values.json === true) printJson({ [past]: done, notFound });
    return notFound.length > 0 ? EXIT_NOT_FOUND : 0;
  });
}

export const pause = (argv: readonly string[]): Promise<number> => pauseOrResume('pause', argv);
export const resume = (argv: readonly string[]): Promise<number> => pauseOrResume('resume', argv);

const pickOptions = { selector: { type: 'string' }, id: { type: 'string', multiple: true } } as const;

/** The part of a move, copy or retry body that picks messages: ids, a selector, or all. */
function pick(values: { selector?: string | undefined; id?: string[] | undefined }): { ids?: string[]; selector?: string } {
  if (values.id !== undefined && values.selector !== undefined) throw usageError('give --id or --selector, not both');
  if (values.id !== undefined) return { ids: values.id };
  if (values.selector !== undefined) return { selector: values.selector };
  return {};
}

/**
 * Names the messages given by --id that stayed in flight to a consumer, which a transfer does not
 * take; the exit status is then 4, as a purge's of queues it did not find, so that a script sees
 * that not all of what it named went.
 */
function inFlightLeft(result: { inFlight?: string[] }, past: string): number {
  const ids = result.inFlight ?? [];
  if (ids.length === 0) return 0;
  process.stderr.write(`ferry: ${plural(ids.length, 'message')} in flight to ${ids.length === 1 ? 'a consumer' : 'consumers'}, not ${past}: ${ids.join(', ')}\n`);
  return EXIT_NOT_FOUND;
}

export const moveHelp = `Usage: ferry move FROM TO [options]
       ferry copy FROM TO [options]

Moves (or copies) the messages waiting in queue FROM to TO, one store transaction each: every
message, those matching --selector, or those named by --id. TO is a queue name, or queue://NAME
or topic://NAME.

Options:
  --selector SQL           only messages matching this JMS selector
  --id ID                  only this message (repeatable); an id not in the queue stops
                           the command before anything moves (exit 4); one in flight to a
                           consumer (delivered, not yet acknowledged) stays where it is and
                           is named, the others go (exit 4)
`;

function transfer(verb: 'move' | 'copy', argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, pickOptions, `ferry ${verb} FROM TO`, 2);
    if (values.help === true) return help(moveHelp);
    const from = needed(positionals[0], 'the queue to take messages from', `ferry ${verb} FROM TO`);
    const to = destinationUri(needed(positionals[1], 'where the messages go', `ferry ${verb} FROM TO`));
    const api = await ManagementApi.open(values);
    const result = await api.post<{ moved?: number; copied?: number; inFlight?: string[] }>(`/api/v1/queues/${segment(from)}/messages/${verb}`, { to: to.uri, ...pick(values) });
    const past = verb === 'move' ? 'moved' : 'copied';
    if (values.json === true) printJson(result);
    else process.stdout.write(`${past} ${plural((verb === 'move' ? result.moved : result.copied) ?? 0, 'message')} from ${from} to ${to.uri}\n`);
    return inFlightLeft(result, past);
  });
}

export const move = (argv: readonly string[]): Promise<number> => transfer('move', argv);
export const copy = (argv: readonly string[]): Promise<number> => transfer('copy', argv);

export const retryHelp = `Usage: ferry retry-dlq DLQ [options]

Sends dead letters in queue DLQ back to the destination each came from: every one, those matching
--selector, or those named by --id.

Options:
  --selector SQL           only messages matching this JMS selector
  --id ID                  only this message (repeatable); an id not in the queue stops
                           the command before anything moves (exit 4); one in flight to a
                           consumer of DLQ (delivered, not yet acknowledged) stays where it
                           is and is named, the others go (exit 4)
`;

export function retryDlq(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, pickOptions, 'ferry retry-dlq DLQ', 1);
    if (values.help === true) return help(retryHelp);
    const dlq = needed(positionals[0], 'the dead-letter queue', 'ferry retry-dlq DLQ');
    const api = await ManagementApi.open(values);
    const result = await api.post<{ retried: number; inFlight?: string[] }>(`/api/v1/queues/${segment(dlq)}/messages/retry`, pick(values));
    if (values.json === true) printJson(result);
    else process.stdout.write(`retried ${plural(result.retried, 'message')} from ${dlq}\n`);
    return inFlightLeft(result, 'retried');
  });
}

// ---- connections -------------------------------------------------------------------------------

export const connectionsHelp = `Usage: ferry connections [options]

The client connections: id, protocol, address, user, client id, since when, consumers, producers,
messages in flight, messages in and out, and rates over the last 10 seconds.
`;

function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

export function connections(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values } = parseManagement(argv, {}, 'ferry connections [options]', 0);
    if (values.help === true) return help(connectionsHelp);
    const api = await ManagementApi.open(values);
    const { items } = await api.get<{ items: ConnectionItem[] }>('/api/v1/connections');
    if (values.json === true) {
      printJson({ items });
      return 0;
    }
    process.stdout.write(
      `${table([
        ['id', 'protocol', 'address', 'user', 'client id', 'connected', 'consumers', 'producers', 'in flight', 'in', 'out', 'in/s', 'out/s'],
        ...items.map((c) => [c.id, c.protocol, c.remoteAddress, c.user ?? '(anonymous)', c.clientId ?? '-', c.connectedAt, c.consumers, c.producers, c.inFlight, c.messagesIn, c.messagesOut, rate(c.rateIn), rate(c.rateOut)]),
      ])}\n`,
    );
    return 0;
  });
}

export const sessionsHelp = `Usage: ferry sessions [options]

The client sessions (a connection holds one or more: a JMS session, an AMQP session or channel):
id, connection, protocol, address, user, client id, since when, consumers, messages in flight,
messages in and out, and rates over the last 10 seconds.

Options:
  --connection ID          only the sessions of connection ID (from "ferry connections")
`;

interface SessionItem {
  id: string;
  connectionId: string;
  protocol: string;
  remoteAddress: string;
  user: string | null;
  clientId: string | null;
  openedAt: string;
  consumers: number;
  inFlight: number;
  messagesIn: number;
  messagesOut: number;
  rateIn: number;
  rateOut: number;
}

export function sessions(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values } = parseManagement(argv, { connection: { type: 'string' } }, 'ferry sessions [options]', 0);
    if (values.help === true) return help(sessionsHelp);
    const api = await ManagementApi.open(values);
    const only = typeof values.connection === 'string' ? `?connection=${encodeURIComponent(values.connection)}` : '';
    const { items } = await api.get<{ items: SessionItem[] }>(`/api/v1/sessions${only}`);
    if (values.json === true) {
      printJson({ items });
      return 0;
    }
    process.stdout.write(
      `${table([
        ['id', 'connection', 'protocol', 'address', 'user', 'client id', 'opened', 'consumers', 'in flight', 'in', 'out', 'in/s', 'out/s'],
        ...items.map((s) => [s.id, s.connectionId, s.protocol, s.remoteAddress, s.user ?? '(anonymous)', s.clientId ?? '-', s.openedAt, s.consumers, s.inFlight, s.messagesIn, s.messagesOut, rate(s.rateIn), rate(s.rateOut)]),
      ])}\n`,
    );
    return 0;
  });
}

export const consumersHelp = `Usage: ferry consumers [DESTINATION] [options]

The consumers, one line each: destination, connection, protocol, address, user, client id,
prefetch, messages in flight, delivered and acknowledged, deliveries per second over the last 10
seconds, and selector. DESTINATION (a queue name, or queue://NAME or topic://NAME) lists only its
consumers; a consumer on a wildcard is listed under its pattern (queue://orders.*), not under each
queue it takes from. A DESTINATION without a wildcard that does not exist exits 4.
`;

interface ConsumerItem {
  connectionId: string;
  protocol: string;
  remoteAddress: string;
  user: string | null;
  clientId: string | null;
  destination: string;
  selector: string | null;
  prefetch: number;
  inFlight: number;
  delivered: number;
  acknowledged: number;
  rate: number;
}

export function consumers(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, {}, 'ferry consumers [DESTINATION]', 1);
    if (values.help === true) return help(consumersHelp);
    const only = positionals[0] === undefined ? undefined : destinationUri(positionals[0]);
    const api = await ManagementApi.open(values);
    // the list answers an empty page for a name that is no destination: a typo would read as "no consumers"
    if (only !== undefined && !/[*>]/.test(only.name)) await api.get(`/api/v1/destinations/${only.kind}/${segment(only.name)}`);
    const { items } = await api.get<{ items: ConsumerItem[] }>('/api/v1/consumers', { destination: only?.uri });
    if (values.json === true) {
      printJson({ items });
      return 0;
    }
    process.stdout.write(
      `${table([
        ['destination', 'connection', 'protocol', 'address', 'user', 'client id', 'prefetch', 'in flight', 'delivered', 'acknowledged', 'rate/s', 'selector'],
        ...items.map((c) => [c.destination, c.connectionId, c.protocol, c.remoteAddress, c.user ?? '(anonymous)', c.clientId ?? '-', c.prefetch, c.inFlight, c.delivered, c.acknowledged, rate(c.rate), c.selector ?? '-']),
      ])}\n`,
    );
    return 0;
  });
}

export const closeConnectionHelp = `Usage: ferry close-connection ID [options]

Closes the client connection ID (from "ferry connections"), as the broker's choice.
`;

export function closeConnection(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, {}, 'ferry close-connection ID', 1);
    if (values.help === true) return help(closeConnectionHelp);
    const id = needed(positionals[0], 'the connection to close', 'ferry close-connection ID');
    const api = await ManagementApi.open(values);
    await api.delete(`/api/v1/connections/${segment(id)}`);
    if (values.json === true) printJson({ closed: id });
    else process.stdout.write(`closed connection ${id}\n`);
    return 0;
  });
}
