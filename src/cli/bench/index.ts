import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FerryError, isFerryError } from '../../errors.js';
import { destinationUri, readCaOption, usageError } from '../http-api.js';
import { managementCommand, plural, printJson } from '../output.js';
import { askHidden } from '../prompt.js';
import { amqpBench } from './amqp.js';
import { Latencies } from './latency.js';
import type { BenchConsumer, BenchProducer, BenchProtocol, BenchTarget } from './links.js';
import { mqttBench } from './mqtt.js';
import { stompBench } from './stomp.js';

export const benchHelp = `Usage: ferry bench [options]

Runs producers and consumers against a broker over STOMP, MQTT or AMQP 1.0, shows a live progress
line on a terminal, and ends with the send and receive rates and the latency percentiles (p50, p90,
p99, max) of the messages, from a timestamp each message carries.

Options:
  --protocol stomp|mqtt|amqp   the protocol (default stomp, or what --url's scheme names)
  --url URL                    the protocol listener, e.g. stomp://127.0.0.1:61613,
                               mqtt://host:1883, amqp://host:5672 (amqps://, mqtts://, stomp+ssl:// for TLS)
  --producers N                producer connections (default 1)
  --consumers N                consumer connections (default 1)
  --messages N                 messages in all, shared among the producers (default 10000)
  --duration SECONDS           send for this long instead of a number of messages
  --size BYTES                 body size (default 256, at least 16)
  --persistent                 persistent messages (MQTT: QoS 1), each confirmed by the broker
  --destination DEST           queue://NAME or topic://NAME (default queue://ferry.bench;
                               topic://ferry.bench over MQTT, which has topics only)
  --window N                   unconfirmed persistent sends per producer (default 100)
  --timeout SECONDS            give up when nothing arrives for this long (default 10)
  --user USER, --password PW   log in (the password also from FERRY_PASSWORD, or asked on a terminal)
  --ca FILE                    over TLS, the authority (PEM) that signed the broker's certificate
  --json                       the summary as JSON
  -h, --help

A topic's consumers each receive every message; a queue's share them. Exit status: 0 when every
message expected arrived, 2 when the broker cannot be reached, 5 when messages were missing or the
broker closed a connection, 1 for a bad command line.
`;

const protocols: Record<string, BenchProtocol> = { stomp: stompBench, mqtt: mqttBench, amqp: amqpBench };
const schemes: Record<string, [string, boolean]> = {
  'stomp:': ['stomp', false],
  'stomp+ssl:': ['stomp', true],
  'stomps:': ['stomp', true],
  'mqtt:': ['mqtt', false],
  'mqtts:': ['mqtt', true],
  'amqp:': ['amqp', false],
  'amqps:': ['amqp', true],
  'tcp:': ['', false],
};

/** Every message starts with when it was sent and which run sent it, so stale messages are not counted. */
const HEADER = 12;

function whole(option: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw usageError(`${option} must be an integer of at least ${min}, got "${text}"`);
  return n;
}

export interface BenchSettings {
  protocol: string;
  target: BenchTarget;
  producers: number;
  consumers: number;
  messages: number | undefined;
  durationSeconds: number | undefined;
  size: number;
  window: number;
  timeoutSeconds: number;
}

export async function benchSettings(argv: readonly string[]): Promise<BenchSettings | 'help'> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      protocol: { type: 'string' },
      url: { type: 'string' },
      producers: { type: 'string' },
      consumers: { type: 'string' },
      messages: { type: 'string' },
      duration: { type: 'string' },
      size: { type: 'string' },
      persistent: { type: 'boolean' },
      destination: { type: 'string' },
      window: { type: 'string' },
      timeout: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      ca: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  let url: URL | undefined;
  if (values.url !== undefined) {
    try {
      url = new URL(values.url);
    } catch {
      throw usageError(`--url must be a URL such as stomp://127.0.0.1:61613, got "${values.url}"`);
    }
  }
  const scheme = url === undefined ? undefined : schemes[url.protocol];
  if (url !== undefined && scheme === undefined) throw usageError(`--url scheme must be one of ${Object.keys(schemes).join(' ')}, got "${url.protocol}"`);
  const protocol = values.protocol ?? (scheme?.[0] || 'stomp');
  const driver = protocols[protocol];
  if (driver === undefined) throw usageError(`--protocol must be stomp, mqtt or amqp, got "${protocol}"`);
  if (scheme !== undefined && scheme[0] !== '' && scheme[0] !== protocol) throw usageError(`--url speaks ${scheme[0]} but --protocol is ${protocol}`);
  const destination = destinationUri(values.destination ?? (protocol === 'mqtt' ? 'topic://ferry.bench' : 'queue://ferry.bench'));
  const port = url === undefined || url.port === '' ? driver.defaultPort : Number(url.port);
  const host = url === undefined || url.hostname === '' ? '127.0.0.1' : url.hostname.replace(/^\[|\]$/g, '');
  const env = process.env['FERRY_PASSWORD'];
  const durationSeconds = values.duration === undefined ? undefined : Number(values.duration);
  if (durationSeconds !== undefined && !(durationSeconds > 0)) throw usageError(`--duration must be a number of seconds above 0, got "${values.duration}"`);
  if (durationSeconds !== undefined && values.messages !== undefined) throw usageError('give --messages or --duration, not both');
  const user = values.user ?? (url?.username === '' || url === undefined ? undefined : decodeURIComponent(url.username));
  let password = values.password ?? (env === '' ? undefined : env) ?? (url?.password === '' || url === undefined ? undefined : decodeURIComponent(url.password));
  if (user !== undefined && password === undefined && process.stdin.isTTY) password = await askHidden(`password for ${user}: `);
  const ca = readCaOption(values.ca);
  return {
    protocol,
    target: {
      host,
      port,
      tls: scheme?.[1] ?? false,
      ca,
      kind: destination.kind,
      name: destination.name,
      persistent: values.persistent === true,
      user,
      password,
    },
    producers: whole('--producers', values.producers, 1),
    consumers: whole('--consumers', values.consumers, 1),
    messages: durationSeconds === undefined ? whole('--messages', values.messages, 10_000) : undefined,
    durationSeconds,
    size: whole('--size', values.size, 256, 16),
    window: whole('--window', values.window, 100, 1),
    timeoutSeconds: whole('--timeout', values.timeout, 10, 1),
  };
}

export interface BenchResult {
  protocol: string;
  destination: string;
  producers: number;
  consumers: number;
  size: number;
  persistent: boolean;
  sent: number;
  expected: number;
  received: number;
  sendSeconds: number;
  receiveSeconds: number;
  sendRate: number;
  receiveRate: number;
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null };
}

function rounded(us: number): number | null {
  return Number.isNaN(us) ? null : Math.round(us) / 1000;
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);

/** A connection that could not be made at all means the broker is not there (exit status 2). */
function asUnreachable(err: unknown, settings: BenchSettings): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && unreachableCodes.has(code)) {
    return new FerryError('FERRY_CLI_UNREACHABLE', `cannot reach the ${settings.protocol} listener at ${settings.target.host}:${settings.target.port}: ${text}`, { cause: err });
  }
  return err;
}

/** Runs one bench; `progress` is called about once a second with the counts so far. */
export async function runBench(settings: BenchSettings, progress?: (sent: number, received: number, seconds: number) => void): Promise<BenchResult> {
  const driver = protocols[settings.protocol]!;
  const { target } = settings;
  const run = randomInt(0, 2 ** 32);
  const latencies = new Latencies();
  let sent = 0;
  let received = 0;
  let lastReceiveAt = 0;
  let failure: Error | undefined;
  let abort: ((err: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => (abort = reject));
  failed.catch(() => {});
  const onFailure = (err: Error): void => {
    failure ??= err;
    abort?.(err);
  };
  let arrived: (() => void) | undefined;
  const onMessage = (body: Buffer): void => {
    if (body.length < HEADER || body.readUInt32BE(8) !== run) return;
    const now = performance.now();
    latencies.record((now - body.readDoubleBE(0)) * 1000);
    received++;
    lastReceiveAt = now;
    arrived?.();
  };

  const consumers: BenchConsumer[] = [];
  const producers: BenchProducer[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled([...producers, ...consumers].map((l) => l.close()));
  };
  try {
    try {
      for (let i = 0; i < settings.consumers; i++) consumers.push(await driver.consumer(target, onMessage, onFailure));
      for (let i = 0; i < settings.producers; i++) producers.push(await driver.producer(target, onFailure));
    } catch (err) {
      throw asUnreachable(err, settings);
    }
    const start = performance.now();
    const deadline = settings.durationSeconds === undefined ? Infinity : start + settings.durationSeconds * 1000;
    let quotaLeft = settings.messages ?? Infinity;
    const take = (): boolean => {
      if (failure !== undefined || quotaLeft <= 0 || performance.now() >= deadline) return false;
      quotaLeft--;
      return true;
    };
    const ticker =
      progress === undefined
        ? undefined
        : setInterval(() => progress(sent, received, (performance.now() - start) / 1000), 1000);
    const produce = async (producer: BenchProducer): Promise<void> => {
      let open = 0;
      let wake: (() => void) | undefined;
      let sendFailure: unknown;
      let written = 0;
      const settled = (): void => {
        open--;
        wake?.();
        wake = undefined;
      };
      while (sendFailure === undefined && take()) {
        while (open >= settings.window) await new Promise<void>((resolve) => (wake = resolve));
        const body = Buffer.alloc(settings.size);
        body.writeDoubleBE(performance.now(), 0);
        body.writeUInt32BE(run, 8);
        open++;
        producer.send(body).then(
          () => {
            sent++;
            settled();
          },
          (err: unknown) => {
            sendFailure ??= err;
            settled();
          },
        );
        // a turn of the event loop now and then, so that consumers in this process read while producers write
        if ((++written & 255) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      while (open > 0) await new Promise<void>((resolve) => (wake = resolve));
      if (sendFailure !== undefined) throw sendFailure;
    };
    try {
      await Promise.race([Promise.all(producers.map(produce)), failed]);
      const sendEnd = performance.now();
      const expected = settings.consumers === 0 ? 0 : target.kind === 'topic' ? sent * settings.consumers : sent;
      // wait for the consumers: done when all arrived, given up when nothing arrives for --timeout
      lastReceiveAt = Math.max(lastReceiveAt, performance.now());
      while (received < expected && performance.now() - lastReceiveAt < settings.timeoutSeconds * 1000) {
        await Promise.race([
          new Promise<void>((resolve) => {
            arrived = resolve;
            setTimeout(resolve, 250).unref();
          }),
          failed,
        ]);
        arrived = undefined;
      }
      progress?.(sent, received, (performance.now() - start) / 1000);
      const sendSeconds = (sendEnd - start) / 1000;
      const receiveSeconds = received === 0 ? 0 : (lastReceiveAt - start) / 1000;
      return {
        protocol: settings.protocol,
        destination: `${target.kind}://${target.name}`,
        producers: settings.producers,
        consumers: settings.consumers,
        size: settings.size,
        persistent: target.persistent,
        sent,
        expected,
        received,
        sendSeconds,
        receiveSeconds,
        sendRate: sendSeconds > 0 ? sent / sendSeconds : 0,
        receiveRate: receiveSeconds > 0 ? received / receiveSeconds : 0,
        latencyMs: { p50: rounded(latencies.quantileUs(0.5)), p90: rounded(latencies.quantileUs(0.9)), p99: rounded(latencies.quantileUs(0.99)), max: rounded(latencies.count === 0 ? Number.NaN : latencies.maxUs) },
      };
    } finally {
      if (ticker !== undefined) clearInterval(ticker);
    }
  } finally {
    await closeAll();
  }
}

function ms(value: number | null): string {
  return value === null ? '-' : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

export function summary(r: BenchResult): string {
  const lines = [
    `${r.protocol} to ${r.destination}: ${plural(r.producers, 'producer')}, ${plural(r.consumers, 'consumer')}, ${r.size} B ${r.persistent ? 'persistent' : 'non-persistent'} messages`,
    `sent      ${r.sent} in ${r.sendSeconds.toFixed(2)} s: ${Math.round(r.sendRate)} msg/s`,
  ];
  if (r.consumers > 0) {
    lines.push(`received  ${r.received} of ${r.expected} in ${r.receiveSeconds.toFixed(2)} s: ${Math.round(r.receiveRate)} msg/s`);
    lines.push(`latency   p50 ${ms(r.latencyMs.p50)}  p90 ${ms(r.latencyMs.p90)}  p99 ${ms(r.latencyMs.p99)}  max ${ms(r.latencyMs.max)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function bench(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const settings = await benchSettings(argv);
    if (settings === 'help') {
      process.stdout.write(benchHelp);
      return 0;
    }
    const json = argv.includes('--json');
    const tty = process.stderr.isTTY === true;
    let last = { sent: 0, received: 0, seconds: 0 };
    const progress = tty
      ? (sent: number, received: number, seconds: number): void => {
          const span = Math.max(seconds - last.seconds, 1e-3);
          process.stderr.write(
            `\r\x1b[K${seconds.toFixed(0)} s  sent ${sent} (${Math.round((sent - last.sent) / span)}/s)  received ${received} (${Math.round((received - last.received) / span)}/s)`,
          );
          last = { sent, received, seconds };
        }
      : undefined;
    let result: BenchResult;
    try {
      result = await runBench(settings, progress);
    } catch (err) {
      if (isFerryError(err)) throw err;
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}ferry: bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
      return 5;
    }
    if (tty) process.stderr.write('\r\x1b[K');
    if (json) printJson(result);
    else process.stdout.write(summary(result));
    if (result.received < result.expected) {
      process.stderr.write(`ferry: ${result.expected - result.received} of ${result.expected} messages did not arrive within ${settings.timeoutSeconds} s of the last one\n`);
      return 5;
    }
    return 0;
  });
}
