// `node dist/bench/scheduled.js`: how punctually a broker delivers messages sent with
// AMQ_SCHEDULED_DELAY. One producer sends every message at once, each with the delay that makes it
// due at its own point of a window of `--spread` seconds (or, with `--burst`, all at one instant);
// one consumer receives them and compares each arrival with the due time the message carries.
// The spread runs Ferry alone by default: ActiveMQ's job scheduler needed about three hours to
// deliver 20,000 delayed messages due within 33 minutes. A burst runs against both.

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError, positive } from './args.js';
import { ACTIVEMQ_INSTALL_HINT, DEFAULT_ACTIVEMQ_HOME, activeMqInstalled, startActiveMq } from './activemq.js';
import type { RunningBroker } from './broker.js';
import { stopAll, wasInterrupted } from './children.js';
import { nowUs } from './clock.js';
import { processCpuUs } from './cpu.js';
import { startFerry } from './ferry.js';
import { LatencyHistogram } from './histogram.js';
import { StompClient } from './stomp-client.js';
import { offsetsOf, writeDigits } from './stomp-driver.js';

const USAGE = `usage: npm run build && node dist/bench/scheduled.js [options]

  --messages N[,N]          messages to schedule, one run per count (default 100000)
  --spread SECONDS          the window over which they come due (default 20)
  --burst                   all due at one instant instead of over a window
  --lead SECONDS            from the first send to the start of that window, or to the burst's
                            instant (default 5; 15 with --burst)
  --body-bytes N            body size (default 1024)
  --persistent              send them persistent:true (default false)
  --delivery LIST           persistent, non-persistent or both (one run each; overrides --persistent)
  --broker LIST             ferry, activemq or both (default ferry; both with --burst), one run
                            each, every run on a fresh broker
  --drain-timeout SECONDS   wait after the last due time before counting the rest lost (default 15)
  --ferry-main FILE         Ferry's CLI entry point (default dist/src/cli/main.js of this build)
  --ferry-node-args ARGS    options for Ferry's Node, space-separated (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
  --activemq-home DIR       an ActiveMQ 5.x (default /usr/share/activemq), started with schedulerSupport
  --results DIR             folder for the JSON result (default bench/results)
  --keep                    keep Ferry's temporary folder (log, data)
`;

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const SEQ_DIGITS = 10;
const US_DIGITS = 16;
/** AMQ_SCHEDULED_DELAY in ms, zero-padded: up to 11.5 days. */
const DELAY_DIGITS = 9;
const SEQ_MARK = '#'.repeat(SEQ_DIGITS);
const TS_MARK = '&'.repeat(US_DIGITS);
const DUE_MARK = '@'.repeat(US_DIGITS);
const DELAY_MARK = '%'.repeat(DELAY_DIGITS);
const BATCH_BYTES = 64 * 1024;
/** A delivery later than this counts as late in the summary. */
const LATE_US = 1_000_000;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string' },
      spread: { type: 'string' },
      burst: { type: 'boolean', default: false },
      delivery: { type: 'string' },
      broker: { type: 'string' },
      'activemq-home': { type: 'string', default: DEFAULT_ACTIVEMQ_HOME },
      lead: { type: 'string' },
      'body-bytes': { type: 'string' },
      persistent: { type: 'boolean', default: false },
      'drain-timeout': { type: 'string' },
      'ferry-main': { type: 'string' },
      'ferry-node-args': { type: 'string' },
      results: { type: 'string', default: RESULTS_DIR },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const counts = (values.messages ?? '100000').split(',').map((count) => positive('messages', count, 100_000, true));
  const delivery = values.delivery ?? (values.persistent ? 'persistent' : 'non-persistent');
  const persistence =
    delivery === 'both' ? [true, false] : delivery === 'persistent' ? [true] : delivery === 'non-persistent' ? [false] : undefined;
  if (persistence === undefined) throw new UsageError(`--delivery must be persistent, non-persistent or both, not ${JSON.stringify(delivery)}`);
  const brokerList = values.broker ?? (values.burst ? 'both' : 'ferry');
  const brokers = brokerList === 'both' ? ['ferry', 'activemq'] : brokerList.split(',');
  for (const broker of brokers) {
    if (broker !== 'ferry' && broker !== 'activemq') throw new UsageError(`--broker must be ferry, activemq or both, not ${JSON.stringify(broker)}`);
  }
  return {
    counts,
    spreadSeconds: positive('spread', values.spread, 20, false),
    burst: values.burst,
    leadSeconds: positive('lead', values.lead, values.burst ? 15 : 5, false),
    bodyBytes: positive('body-bytes', values['body-bytes'], 1024, true),
    persistence,
    brokers: brokers as ('ferry' | 'activemq')[],
    activeMqHome: values['activemq-home'],
    drainTimeoutSeconds: positive('drain-timeout', values['drain-timeout'], 15, false),
    ferryMain: values['ferry-main'],
    ferryNodeArgs: (values['ferry-node-args'] ?? '').split(' ').filter((arg) => arg !== ''),
    resultsDir: values.results,
    keep: values.keep,
    help: values.help,
  };
}

type Options = ReturnType<typeof parse>;

/** One measurement: a broker, a number of messages, persistent or not. */
interface Run {
  readonly broker: 'ferry' | 'activemq';
  readonly messages: number;
  readonly persistent: boolean;
}

function runName(options: Options, run: Run): string {
  return `scheduled-${options.burst ? 'burst-' : ''}${countLabel(run.messages)}-${run.persistent ? 'persistent' : 'non-persistent'}`;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Message `seq`'s place in the window, as a slot 0..n-1: a permutation that spreads consecutive
 * sends far apart, so that the broker's timers are armed out of order, as delays from independent
 * senders are, while exactly one message comes due every spread/n.
 */
function slotOrder(n: number): (seq: number) => number {
  let stride = Math.max(1, Math.round(n * 0.6180339887));
  while (gcd(stride, n) !== 1) stride++;
  return (seq) => (seq * stride) % n;
}

interface Quantiles {
  p50: number;
  p99: number;
  max: number;
}

function quantilesMs(histogram: LatencyHistogram): Quantiles {
  return { p50: histogram.quantileUs(0.5) / 1000, p99: histogram.quantileUs(0.99) / 1000, max: histogram.maxUs / 1000 };
}

interface Outcome {
  sent: number;
  /** Sent after the due time they were meant to have: sent with delay 0 (the sends were too slow). */
  sentLate: number;
  sendSeconds: number;
  delivered: number;
  lost: number;
  duplicates: number;
  unreadable: number;
  /** Received before the due time they carry. */
  early: number;
  /** Receive time minus the due time the message carries: its send time plus its delay. */
  latenessMs: Quantiles;
  /** Received more than 1 s after their due time. */
  lateOver1s: number;
  /**
   * Receive time minus the broker's own due time: the `timestamp` it stamped on arrival (ms) plus
   * the delay. What separates the scheduler's lateness from the time a message spent in the
   * sockets on its way in, which during the burst of sends is tens of milliseconds.
   */
  brokerLatenessMs: Quantiles;
  brokerLateOver1s: number;
  /** Messages without a readable `timestamp` header: not in `brokerLatenessMs`. */
  noTimestamp: number;
  brokerCpuSeconds: number;
  error?: string;
}

/** Receives the messages and keeps, per message, whether it came and how late. */
class Receiver {
  delivered = 0;
  duplicates = 0;
  unreadable = 0;
  early = 0;
  lateOver1s = 0;
  brokerLateOver1s = 0;
  noTimestamp = 0;
  readonly lateness = new LatencyHistogram();
  readonly brokerLateness = new LatencyHistogram();
  private readonly seen: Uint8Array;
  /** Epoch µs minus monotonic µs, to put the broker's epoch-ms timestamps on nowUs()'s clock. */
  private readonly epochOffsetUs = Date.now() * 1000 - nowUs();

  constructor(private readonly messages: number) {
    this.seen = new Uint8Array(messages);
  }

  /** `sentUs` and `dueUs` are the producer's stamps; `brokerMs` the broker's arrival timestamp. */
  take(seq: number, sentUs: number, dueUs: number, brokerMs: number, recvUs: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.messages || !Number.isFinite(dueUs) || !Number.isFinite(sentUs)) {
      this.unreadable++;
      return;
    }
    if (this.seen[seq] === 1) {
      this.duplicates++;
      return;
    }
    this.seen[seq] = 1;
    this.delivered++;
    const late = recvUs - dueUs;
    if (late < 0) this.early++;
    if (late > LATE_US) this.lateOver1s++;
    this.lateness.record(Math.max(0, late));
    if (!Number.isFinite(brokerMs) || brokerMs <= 0) {
      this.noTimestamp++;
      return;
    }
    // The timestamp is whole ms, so this is up to 1 ms too late; it is never read as early.
    const brokerLate = recvUs - (brokerMs * 1000 - this.epochOffsetUs + (dueUs - sentUs));
    if (brokerLate > LATE_US) this.brokerLateOver1s++;
    this.brokerLateness.record(Math.max(0, brokerLate));
  }
}

async function measure(broker: RunningBroker & { readonly stompPort: number }, options: Options, run: Run): Promise<Outcome> {
  const destination = `/queue/bench.scheduled.${randomBytes(3).toString('hex')}`;
  const n = run.messages;
  const receiver = new Receiver(n);
  const outcome: Outcome = {
    sent: 0,
    sentLate: 0,
    sendSeconds: 0,
    delivered: 0,
    lost: n,
    duplicates: 0,
    unreadable: 0,
    early: 0,
    latenessMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
    lateOver1s: 0,
    brokerLatenessMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
    brokerLateOver1s: 0,
    noTimestamp: 0,
    brokerCpuSeconds: 0,
  };
  let failure: Error | undefined;
  const onFailure = (err: Error): void => {
    failure ??= err;
  };

  const consumer = await StompClient.connect(broker.host, broker.stompPort);
  const producer = await StompClient.connect(broker.host, broker.stompPort);
  try {
    consumer.onFailure = onFailure;
    producer.onFailure = onFailure;
    consumer.onMessage = (frame, recvUs) => {
      const { headers } = frame;
      receiver.take(Number(headers.get('seq')), Number(headers.get('ts')), Number(headers.get('due')), Number(headers.get('timestamp')), recvUs);
    };
    await consumer.request('SUBSCRIBE', [
      ['id', '0'],
      ['destination', destination],
      ['ack', 'auto'],
    ]);

    const frame = producer.encode(
      'SEND',
      [
        ['destination', destination],
        ['persistent', String(run.persistent)],
        ['seq', SEQ_MARK],
        ['ts', TS_MARK],
        ['due', DUE_MARK],
        ['AMQ_SCHEDULED_DELAY', DELAY_MARK],
      ],
      Buffer.alloc(options.bodyBytes, 'x'),
    );
    const [seqAt, tsAt, dueAt, delayAt] = [SEQ_MARK, TS_MARK, DUE_MARK, DELAY_MARK].map((mark) => {
      const found = offsetsOf(frame, mark);
      if (found.length !== 1 || found[0] === undefined) throw new Error('the SEND template lost a placeholder');
      return found[0];
    }) as [number, number, number, number];
    const batch = Math.max(1, Math.floor(BATCH_BYTES / frame.length));
    const slot = slotOrder(n);
    const cpuBefore = processCpuUs(broker.pid);
    const startUs = nowUs();
    const windowStartUs = startUs + options.leadSeconds * 1e6;
    // a burst: every message due at the window's start
    const slotUs = options.burst ? 0 : (options.spreadSeconds * 1e6) / n;

    for (let seq = 0; seq < n && failure === undefined; ) {
      const count = Math.min(batch, n - seq);
      const out = Buffer.allocUnsafe(frame.length * count);
      const now = nowUs();
      for (let i = 0; i < count; i++, seq++) {
        const base = i * frame.length;
        frame.copy(out, base);
        const plannedUs = windowStartUs + slot(seq) * slotUs;
        if (plannedUs < now) outcome.sentLate++;
        // Whole milliseconds, as the header is; the due time carried is the one the delay gives.
        const delayMs = Math.max(0, Math.round((plannedUs - now) / 1000));
        writeDigits(out, base + seqAt, SEQ_DIGITS, seq);
        writeDigits(out, base + tsAt, US_DIGITS, now);
        writeDigits(out, base + dueAt, US_DIGITS, now + delayMs * 1000);
        writeDigits(out, base + delayAt, DELAY_DIGITS, delayMs);
      }
      outcome.sent = seq;
      if (producer.write(out)) await yieldToLoop();
      else await producer.drained();
    }
    outcome.sendSeconds = (nowUs() - startUs) / 1e6;

    const lastDueUs = Math.max(nowUs(), windowStartUs + (options.burst ? 0 : options.spreadSeconds * 1e6));
    const deadlineUs = lastDueUs + options.drainTimeoutSeconds * 1e6;
    while (failure === undefined && receiver.delivered < outcome.sent && nowUs() < deadlineUs && !wasInterrupted()) {
      if (broker.exited()) throw new Error(`${broker.name} exited during the run`);
      await sleep(20);
    }
    outcome.brokerCpuSeconds = (processCpuUs(broker.pid) - cpuBefore) / 1e6;
    // Late copies of messages already counted would show up as duplicates in this short wait.
    await sleep(200);
    if (failure !== undefined) throw failure;
  } catch (err) {
    outcome.error = err instanceof Error ? err.message : String(err);
  } finally {
    await producer.close();
    await consumer.close();
  }
  outcome.delivered = receiver.delivered;
  outcome.lost = n - receiver.delivered;
  outcome.duplicates = receiver.duplicates;
  outcome.unreadable = receiver.unreadable;
  outcome.early = receiver.early;
  outcome.lateOver1s = receiver.lateOver1s;
  outcome.latenessMs = quantilesMs(receiver.lateness);
  outcome.brokerLatenessMs = quantilesMs(receiver.brokerLateness);
  outcome.brokerLateOver1s = receiver.brokerLateOver1s;
  outcome.noTimestamp = receiver.noTimestamp;
  return outcome;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function tables(name: string, outcome: Outcome): string {
  const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const counts = table(
    ['measurement', 'sent', 'delivered', 'lost', 'dups', 'early', 'broker CPU s'],
    [
      [
        name,
        outcome.sent.toLocaleString('en-US'),
        outcome.delivered.toLocaleString('en-US'),
        String(outcome.lost),
        String(outcome.duplicates + outcome.unreadable),
        String(outcome.early),
        outcome.brokerCpuSeconds.toFixed(2),
      ],
    ],
  );
  const lateness = table(
    ['lateness: receive time - due time', 'p50 ms', 'p99 ms', 'max ms', '> 1 s late'],
    [
      ['due = send time + delay', ms(outcome.latenessMs.p50), ms(outcome.latenessMs.p99), ms(outcome.latenessMs.max), String(outcome.lateOver1s)],
      [
        "due = broker's arrival timestamp + delay",
        ms(outcome.brokerLatenessMs.p50),
        ms(outcome.brokerLatenessMs.p99),
        ms(outcome.brokerLatenessMs.max),
        String(outcome.brokerLateOver1s),
      ],
    ],
  );
  return `${counts}\n\n${lateness}`;
}

async function startBroker(options: Options, name: Run['broker']): Promise<RunningBroker & { readonly stompPort: number }> {
  if (name === 'ferry') {
    return startFerry({ keepFolder: options.keep, nodeArgs: options.ferryNodeArgs, ...(options.ferryMain === undefined ? {} : { main: path.resolve(options.ferryMain) }) });
  }
  const broker = await startActiveMq({ home: options.activeMqHome, keepFolder: options.keep, schedulerSupport: true });
  if (broker.stompPort === undefined) throw new Error('ActiveMQ has no STOMP port');
  return { ...broker, stompPort: broker.stompPort };
}

/** The summary of every run, and Ferry's lateness as a ratio of ActiveMQ's where both ran. */
function summary(options: Options, results: { run: Run; outcome: Outcome }[]): string {
  const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const rows = results.map(({ run, outcome }) => [
    `${run.broker} ${runName(options, run)}`,
    outcome.delivered.toLocaleString('en-US'),
    String(outcome.lost),
    String(outcome.duplicates + outcome.unreadable),
    String(outcome.sentLate),
    ms(outcome.latenessMs.p50),
    ms(outcome.latenessMs.p99),
    ms(outcome.latenessMs.max),
    ms(outcome.brokerLatenessMs.p50),
    ms(outcome.brokerLatenessMs.max),
  ]);
  let text = table(['run', 'delivered', 'lost', 'dups', 'sent late', 'p50 ms', 'p99 ms', 'max ms', 'broker p50', 'broker max'], rows);
  const ratios: string[][] = [];
  for (const { run, outcome } of results) {
    if (run.broker !== 'ferry') continue;
    const other = results.find((r) => r.run.broker === 'activemq' && r.run.messages === run.messages && r.run.persistent === run.persistent);
    if (other === undefined) continue;
    const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(3) : '-');
    ratios.push([
      runName(options, run),
      ratio(outcome.latenessMs.p50, other.outcome.latenessMs.p50),
      ratio(outcome.latenessMs.p99, other.outcome.latenessMs.p99),
      ratio(outcome.latenessMs.max, other.outcome.latenessMs.max),
    ]);
  }
  if (ratios.length > 0) {
    text += `\n\nFerry / ActiveMQ lateness (below 1: Ferry is more punctual)\n${table(['run', 'p50', 'p99', 'max'], ratios)}`;
  }
  return text;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.brokers.includes('activemq') && !activeMqInstalled(options.activeMqHome)) {
    process.stderr.write(`${ACTIVEMQ_INSTALL_HINT}\n`);
    return 1;
  }
  const startedAt = new Date();
  const runs: Run[] = [];
  for (const broker of options.brokers) {
    for (const messages of options.counts) for (const persistent of options.persistence) runs.push({ broker, messages, persistent });
  }
  const results: { run: Run; outcome: Outcome }[] = [];
  for (const run of runs) {
    if (wasInterrupted()) return 130;
    const name = runName(options, run);
    process.stdout.write(`starting ${run.broker}... `);
    const broker = await startBroker(options, run.broker);
    process.stdout.write(`pid ${broker.pid}, STOMP on ${broker.stompPort}\n`);
    const when = options.burst
      ? `all due at one instant ${options.leadSeconds} s after the first send`
      : `due over ${options.spreadSeconds} s, from ${options.leadSeconds} s after the first send`;
    process.stdout.write(
      `  ${run.broker} ${name}: ${run.messages.toLocaleString('en-US')} messages (${options.bodyBytes} B, ` +
        `${run.persistent ? 'persistent' : 'non-persistent'}) ${when}...\n`,
    );
    let outcome: Outcome;
    try {
      outcome = await measure(broker, options, run);
    } finally {
      await broker.stop();
      if (options.keep) process.stdout.write(`  ${run.broker} log: ${broker.logFile}\n`);
    }
    if (wasInterrupted()) return 130;
    results.push({ run, outcome });

    process.stdout.write(`\n${tables(`${run.broker} ${name}`, outcome)}\n`);
    if (outcome.noTimestamp > 0) process.stdout.write(`${outcome.noTimestamp} messages had no broker timestamp (not in the second row)\n`);
    process.stdout.write(`\nthe sends took ${outcome.sendSeconds.toFixed(1)} s`);
    process.stdout.write(
      outcome.sentLate > 0
        ? `; ${outcome.sentLate} messages were sent after their planned due time (with delay 0)\n\n`
        : '; every message was sent before its due time\n\n',
    );
    if (outcome.error !== undefined) process.stdout.write(`failed: ${outcome.error}\n\n`);
  }
  if (results.length > 1) process.stdout.write(`${summary(options, results)}\n`);

  mkdirSync(options.resultsDir, { recursive: true });
  const label = results.length === 1 && results[0] !== undefined ? runName(options, results[0].run) : `scheduled${options.burst ? '-burst' : ''}`;
  const file = path.join(options.resultsDir, `${label}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', platform: `${os.platform()} ${os.release()}`, node: process.version };
  const { counts, spreadSeconds, burst, leadSeconds, bodyBytes, drainTimeoutSeconds } = options;
  const settings = { counts, spreadSeconds, burst, leadSeconds, bodyBytes, drainTimeoutSeconds };
  const measurements = results.map(({ run, outcome }) => ({ measurement: runName(options, run), ...run, result: outcome }));
  writeFileSync(file, JSON.stringify({ startedAt: startedAt.toISOString(), machine, options: settings, measurements }, null, 2) + '\n');
  process.stdout.write(`results: ${file}\n`);
  return results.some(({ outcome }) => outcome.error !== undefined) ? 1 : 0;
}

/** 100000 -> 100k, for the measurement's name. */
function countLabel(count: number): string {
  return count % 1000 === 0 ? `${count / 1000}k` : String(count);
}

main().then(
  async (code) => {
    await stopAll();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
