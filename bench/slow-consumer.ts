// Isolation from a slow consumer: the rate of an unrelated producer/consumer pair on a queue, alone
// and while a subscriber that never reads its socket sits on a busy topic, with the broker's RSS,
// for Ferry (with and without a pendingMessageLimit policy on the topic) and ActiveMQ in one run.
//
//   npm run build && node dist/bench/slow-consumer.js [--duration 10] [--topic-rate 5000] [--no-activemq]

import { writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ACTIVEMQ_HOME, activeMqInstalled, startActiveMq } from './activemq.js';
import type { RunningBroker } from './broker.js';
import { startFerry } from './ferry.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const DURATION = option('duration', 10) * 1000;
const TOPIC_RATE = option('topic-rate', 5000);
const BODY = 'x'.repeat(1024);

interface Stomp {
  readonly socket: Socket;
  /** Frames received (NUL bytes: bodies here never hold one). */
  frames: number;
}

async function stomp(port: number): Promise<Stomp> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const client: Stomp = { socket, frames: 0 };
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf(0); at >= 0; at = chunk.indexOf(0, at + 1)) client.frames++;
      if (client.frames === 1) resolve();
    });
    socket.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:admin\npasscode:admin\n\n\0');
  });
  socket.on('error', () => {});
  return client;
}

const frame = (destination: string): string => `SEND\ndestination:${destination}\npersistent:false\n\n${BODY}\0`;

/** Sends to the pair's queue as fast as its consumer takes them (at most `window` ahead); returns a stop function. */
function runPair(producer: Stomp, consumer: Stomp, window = 2000): () => void {
  let sent = 0;
  let stopped = false;
  const one = frame('/queue/iso.pair');
  const pump = (): void => {
    if (stopped) return;
    const received = consumer.frames - 2; // CONNECTED, RECEIPT
    let batch = '';
    while (sent - received < window && batch.length < 256 * 1024) {
      batch += one;
      sent++;
    }
    if (batch.length > 0 && !producer.socket.write(batch)) producer.socket.once('drain', () => setImmediate(pump));
    else setImmediate(pump);
  };
  pump();
  return () => (stopped = true);
}

/** Publishes to the busy topic at `rate` messages a second. */
function runFlood(producer: Stomp, rate: number): () => void {
  const one = frame('/topic/iso.busy');
  const perTick = Math.max(1, Math.round(rate / 100));
  const timer = setInterval(() => producer.socket.write(one.repeat(perTick)), 10);
  return () => clearInterval(timer);
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

interface Figures {
  readonly rate: number;
  readonly rss: number;
}

async function measure(broker: RunningBroker, slow: boolean): Promise<Figures> {
  const port = broker.stompPort!;
  const consumer = await stomp(port);
  consumer.socket.write('SUBSCRIBE\nid:1\ndestination:/queue/iso.pair\nack:auto\nreceipt:s\n\n\0');
  const producer = await stomp(port);
  let stopFlood = (): void => {};
  let stalled: Stomp | undefined;
  if (slow) {
    stalled = await stomp(port);
    stalled.socket.write('SUBSCRIBE\nid:1\ndestination:/topic/iso.busy\nack:auto\n\n\0');
    await sleep(200);
    stalled.socket.pause();
  }
  const flooder = await stomp(port);
  stopFlood = runFlood(flooder, TOPIC_RATE);
  const stopPair = runPair(producer, consumer);
  await sleep(2000);
  const from = consumer.frames;
  await sleep(DURATION);
  const rate = Math.round(((consumer.frames - from) * 1000) / DURATION);
  const rss = rssMiB(broker.pid);
  stopPair();
  stopFlood();
  for (const c of [consumer, producer, flooder, stalled]) c?.socket.destroy();
  await sleep(500);
  return { rate, rss };
}

async function scenario(label: string, start: () => Promise<RunningBroker>): Promise<void> {
  const broker = await start();
  try {
    const alone = await measure(broker, false);
    const slow = await measure(broker, true);
    const ratio = slow.rate / alone.rate;
    console.log(
      `${label.padEnd(44)} pair ${String(alone.rate).padStart(7)} msg/s alone, ${String(slow.rate).padStart(7)} with the slow subscriber (${ratio.toFixed(2)}x); RSS ${alone.rss} MiB -> ${slow.rss} MiB`,
    );
  } finally {
    await broker.stop();
  }
}

const folder = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-slow-'));
const bounded = path.join(folder, 'bounded.yaml');
writeFileSync(bounded, 'destinations:\n  policies:\n    - match: iso.busy\n      kind: topic\n      pendingMessageLimit: 1000\n      slowConsumerPolicy: evict-oldest\n');
const unbounded = path.join(folder, 'unbounded.yaml');
writeFileSync(unbounded, 'store:\n  bodyCacheSize: 268435456\n');
console.log(`topic flood ${TOPIC_RATE} msg/s of 1 KiB, pair of 1 KiB non-persistent messages, ${DURATION / 1000} s measured after 2 s`);
await scenario('ferry, evict-oldest past 1,000 waiting', () => startFerry({ config: bounded }));
await scenario('ferry, no pendingMessageLimit (the default)', () => startFerry({ config: unbounded }));
if (!args.includes('--no-activemq') && activeMqInstalled(DEFAULT_ACTIVEMQ_HOME)) {
  await scenario('activemq 5.17 (its defaults)', () => startActiveMq({ home: DEFAULT_ACTIVEMQ_HOME }));
}
process.exit(0);
