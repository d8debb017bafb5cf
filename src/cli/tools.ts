import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FerryError } from '../errors.js';
import type { StompFrame } from '../protocols/stomp/index.js';
import { MAX_TIMER_DELAY } from '../transport/index.js';
import { env } from './environment.js';
import { StompClient } from './stomp-client.js';
import { didNotGetThrough } from './unreachable.js';

export const sendHelp = `Usage: ferry send --destination DEST [options]

Sends messages over STOMP. DEST is /queue/NAME or /topic/NAME (a bare name means /queue/NAME).
The body comes from --body (a text message), or --file, or standard input (a bytes message, as
a SEND with content-length is).

Options:
  -d, --destination DEST   where to send
  --body TEXT              message body, sent as text
  --file FILE              read the body from a file (sent as bytes, with content-length)
  -n, --count N            send the message N times (default 1); "{n}" in --body is replaced by 1..N
  -H, --header NAME=VALUE  add a header (repeatable), for example -H priority=9 -H type=order;
                           not destination, content-length or receipt, which ferry send sets
  --persistent             send persistent messages
  --host HOST              broker address (default 127.0.0.1)     env FERRY_HOST
  --port PORT              broker STOMP port (default 61613)       env FERRY_STOMP_PORT
  --user USER              log in as USER                          env FERRY_USER
  --password PASSWORD      USER's password                         env FERRY_PASSWORD
  -h, --help

Each message is confirmed by a receipt, so when the command exits 0 the broker has them all.
`;

export const receiveHelp = `Usage: ferry receive --destination DEST [options]

Receives messages over STOMP and prints each body on its own line (with --headers, the headers too).

Options:
  -d, --destination DEST   where to receive from (/queue/NAME, /topic/NAME; bare name = queue)
  -n, --count N            stop after N messages (default 1; 0 = until the timeout)
  -t, --timeout MS         give up after MS milliseconds without a message (default 5000,
                           at most 2147483647)
  --ack MODE               auto or client-individual (default client-individual: each message is
                           acknowledged after it is printed)
  --headers                print the headers of each message before its body
  --durable NAME           durable topic subscription NAME (needs --client-id)
  --client-id ID           client id for the connection
  --host HOST              broker address (default 127.0.0.1)     env FERRY_HOST
  --port PORT              broker STOMP port (default 61613)       env FERRY_STOMP_PORT
  --user USER              log in as USER                          env FERRY_USER
  --password PASSWORD      USER's password                         env FERRY_PASSWORD
  -h, --help

Exits 0 when it received --count messages, 1 when the timeout came first, 2 when the broker
cannot be reached, refused the login or closed the connection.
`;

const connectionOptions = {
  host: { type: 'string' },
  port: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A bad command line: printed with its code, exit status 1. */
function usageError(message: string): FerryError {
  return new FerryError('FERRY_CLI_USAGE', message);
}

function destinationOf(value: string | undefined): string {
  if (value === undefined || value === '') throw usageError('--destination is required');
  return value.startsWith('/') ? value : `/queue/${value}`;
}

function positive(name: string, value: string | undefined, fallback: number, most = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw usageError(`${name} must be a non-negative integer, got "${value}"`);
  if (n > most) throw usageError(`${name} must be at most ${most}, got "${value}"`);
  return n;
}

/** Throws at once for a bad --port; what the broker makes of the connection comes later, in the promise. */
function openClient(values: { host?: string | undefined; port?: string | undefined; user?: string | undefined; password?: string | undefined }, extra: Record<string, string> = {}): Promise<StompClient> {
  const host = values.host ?? process.env['FERRY_HOST'] ?? '127.0.0.1';
  const port = positive('--port', values.port ?? process.env['FERRY_STOMP_PORT'], 61613, 65535);
  const headers: Record<string, string> = { ...extra };
  // the same variables as the management commands, so one environment serves every ferry command
  const user = values.user ?? env('FERRY_USER');
  const password = values.password ?? env('FERRY_PASSWORD');
  if (user !== undefined) headers['login'] = user;
  if (password !== undefined) headers['passcode'] = password;
  return StompClient.open(host, port, headers);
}

function readStdin(): Buffer {
  return readFileSync(0);
}

/** STOMP headers that `send` writes itself from its options and its body. */
const toolHeaders = new Set(['destination', 'content-length', 'receipt']);

export async function send(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...connectionOptions,
      destination: { type: 'string', short: 'd' },
      body: { type: 'string' },
      file: { type: 'string' },
      count: { type: 'string', short: 'n' },
      header: { type: 'string', short: 'H', multiple: true },
      persistent: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(sendHelp);
    return 0;
  }
  const destination = destinationOf(values.destination);
  const count = positive('--count', values.count, 1);
  const headers: Record<string, string> = { destination };
  for (const pair of values.header ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--header must be NAME=VALUE, got "${pair}"`);
    const name = pair.slice(0, eq);
    // the frame's own: a second destination would send elsewhere than -d says, a content-length that is not the body's leaves the broker waiting for the rest
    if (toolHeaders.has(name)) throw usageError(`--header ${name} is set by ferry send itself${name === 'destination' ? ': give the destination with -d' : ''}`);
    headers[name] = pair.slice(eq + 1);
  }
  if (values.persistent === true) headers['persistent'] = 'true';
  if (values.body !== undefined && values.file !== undefined) throw usageError('give the body with --body or with --file, not both');
  const fileBody = values.file !== undefined ? readFileSync(values.file) : undefined;
  const stdinBody = fileBody === undefined && values.body === undefined ? readStdin() : undefined;
  const client = await openClient(values);
  try {
    const window: Promise<void>[] = [];
    for (let n = 1; n <= count; n++) {
      let body: Buffer;
      const frameHeaders = { ...headers };
      if (values.body !== undefined) body = Buffer.from(values.body.replaceAll('{n}', String(n)), 'utf8');
      else {
        body = (fileBody ?? stdinBody)!;
        // bytes from a file keep their length even when they contain NUL
        frameHeaders['content-length'] = String(body.length);
      }
      window.push(client.request('SEND', frameHeaders, body));
      if (window.length >= 100) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
  } finally {
    await client.close();
  }
  process.stderr.write(`sent ${count} message${count === 1 ? '' : 's'} to ${destination}\n`);
  return 0;
}

function printFrame(frame: StompFrame, withHeaders: boolean): void {
  if (withHeaders) {
    for (const [name, value] of frame.headers) process.stdout.write(`${name}:${value}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(frame.body);
  process.stdout.write('\n');
}

export async function receive(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...connectionOptions,
      destination: { type: 'string', short: 'd' },
      count: { type: 'string', short: 'n' },
      timeout: { type: 'string', short: 't' },
      ack: { type: 'string' },
      headers: { type: 'boolean' },
      durable: { type: 'string' },
      'client-id': { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(receiveHelp);
    return 0;
  }
  const destination = destinationOf(values.destination);
  const count = positive('--count', values.count, 1);
  // Node fires a longer timer at once
  const timeout = positive('--timeout', values.timeout, 5000, MAX_TIMER_DELAY);
  const ack = values.ack ?? 'client-individual';
  if (ack !== 'auto' && ack !== 'client-individual') throw usageError(`--ack must be auto or client-individual, got "${ack}"`);
  // the broker would refuse it only after connecting, and the refusal would read as an unreachable broker (exit 2)
  if (values.durable !== undefined && values['client-id'] === undefined) throw usageError('--durable needs --client-id: a durable subscription belongs to a client id');
  const opening = openClient(values, values['client-id'] === undefined ? {} : { 'client-id': values['client-id'] });
  let client: StompClient;
  try {
    client = await opening;
  } catch (err) {
    if (didNotGetThrough(err)) throw err;
    // a refused login is the broker closing the connection: status 1 would tell a script to wait on
    process.stderr.write(`ferry: ${(err as Error).message}\n`);
    return 2;
  }
  let received = 0;
  const outcome = await new Promise<number>((resolve) => {
    let timer = setTimeout(() => resolve(count === 0 ? 0 : 1), timeout);
    client.onError = (err) => {
      process.stderr.write(`${err.message}\n`);
      clearTimeout(timer);
      resolve(2);
    };
    client.onMessage = (frame) => {
      if (count !== 0 && received >= count) return;
      received++;
      printFrame(frame, values.headers === true);
      const ackId = frame.headers.get('ack');
      if (ack !== 'auto' && ackId !== undefined) client.write('ACK', { id: ackId });
      clearTimeout(timer);
      if (count !== 0 && received >= count) resolve(0);
      else timer = setTimeout(() => resolve(count === 0 ? 0 : 1), timeout);
    };
    const headers: Record<string, string> = {
      destination,
      id: '1',
      ack,
      // no more in flight than we mean to take, so the rest stay on the broker for others
      'activemq.prefetchSize': String(count === 0 ? 1000 : Math.min(count, 1000)),
    };
    if (values.durable !== undefined) headers['activemq.subscriptionName'] = values.durable;
    client.write('SUBSCRIBE', headers);
  });
  await client.close();
  if (outcome === 1) process.stderr.write(`received ${received} of ${count} before the ${timeout} ms timeout\n`);
  return outcome;
}
