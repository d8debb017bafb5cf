// Isolation: the rate of an unrelated producer/consumer pair on a queue, alone and beside each of
// three disturbances, with the broker's RSS, for Ferry (with its limits set) and ActiveMQ (its
// defaults) in one run:
//   slow   a subscriber that never reads its socket, on a topic published to at --topic-rate;
//   flood  a producer sending to a queue nobody consumes, as fast as the broker takes it;
//   idle   --idle (20,000) STOMP connections that connected and then say nothing.
//
//   npm run build && node dist/bench/isolation.js [--duration 10] [--topic-rate 5000] [--idle 20000] [--cases slow,flood,idle] [--no-activemq]
//
// Both the load generator and the broker hold one descriptor per idle connection, so the idle case
// opens at most the descriptor limit less 1,000 (raise it with `prlimit --nofile=65536:65536` where
// the machine allows), and says how many it opened.

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
const IDLE = Math.min(option('idle', 20_000), descriptorLimit() - 1000);
/** The flooded queue's memoryLimit on Ferry (memoryPolicy block). */
const FLOOD_LIMIT = 64 * 1024 * 1024;
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
function runRate(producer: Stomp, rate: number): () => void {
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

type Disturbance = 'none' | 'slow' | 'flood' | 'idle';

/** Sends to `destination` as fast as the socket drains; returns a stop function. */
function runFlood(producer: Stomp, destination: string): () => void {
  const batch = frame(destination).repeat(64);
  let stopped = false;
  const pump = (): void => {
    if (stopped || producer.socket.destroyed) return;
    if (producer.socket.write(batch)) setImmediate(pump);
    else producer.socket.once('drain', pump);
  };
  pump();
  return () => (stopped = true);
}

/** Opens `count` STOMP connections that connect and then stay silent, 500 at a time. */
async function idleConnections(port: number, count: number): Promise<Stomp[]> {
  const open: Stomp[] = [];
  while (open.length < count) {
    const batch = Math.min(500, count - open.length);
    open.push(...(await Promise.all(Array.from({ length: batch }, () => stomp(port)))));
  }
  return open;
}

async function measure(broker: RunningBroker, disturbance: Disturbance): Promise<Figures> {
  const port = broker.stompPort!;
  const consumer = await stomp(port);
  consumer.socket.write('SUBSCRIBE\nid:1\ndestination:/queue/iso.pair\nack:auto\nreceipt:s\n\n\0');
  const producer = await stomp(port);
  const extra: Stomp[] = [];
  let stopDisturbance = (): void => {};
  if (disturbance === 'slow') {
    const stalled = await stomp(port);
    stalled.socket.write('SUBSCRIBE\nid:1\ndestination:/topic/iso.busy\nack:auto\n\n\0');
    await sleep(200);
    stalled.socket.pause();
    const publisher = await stomp(port);
    stopDisturbance = runRate(publisher, TOPIC_RATE);
    extra.push(stalled, publisher);
  } else if (disturbance === 'flood') {
    const flooder = await stomp(port);
    stopDisturbance = runFlood(flooder, '/queue/iso.flood');
    extra.push(flooder);
  } else if (disturbance === 'idle') {
    extra.push(...(await idleConnections(port, IDLE)));
  }
  const stopPair = runPair(producer, consumer);
  await sleep(2000);
  const from = consumer.frames;
  await sleep(DURATION);
  const rate = Math.round(((consumer.frames - from) * 1000) / DURATION);
  const rss = rssMiB(broker.pid);
  stopPair();
  stopDisturbance();
  for (const c of [consumer, producer, ...extra]) c.socket.destroy();
  await sleep(disturbance === 'idle' ? 3000 : 500);
  return { rate, rss };
}

/** Each disturbance on a fresh broker, after the pair alone on it. */
async function scenario(label: string, disturbances: readonly Disturbance[], start: () => Promise<RunningBroker>): Promise<void> {
  for (const disturbance of disturbances) {
    const broker = await start();
    try {
      const alone = await measure(broker, 'none');
      const beside = await measure(broker, disturbance);
      const ratio = beside.rate / alone.rate;
      console.log(
        `${label.padEnd(10)} ${disturbance.padEnd(6)} pair ${String(alone.rate).padStart(7)} msg/s alone, ${String(beside.rate).padStart(7)} beside it (${ratio.toFixed(2)}x); broker RSS ${alone.rss} MiB -> ${beside.rss} MiB`,
      );
    } catch (err) {
      console.log(`${label.padEnd(10)} ${disturbance.padEnd(6)} failed: ${(err as Error).message}`);
    } finally {
      await broker.stop();
    }
  }
}

/** The soft descriptor limit this process (and the brokers it starts) runs with. */
// a function declaration: IDLE above is computed before this line is reached
function descriptorLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  return Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 0);
}

const folder = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-isolation-'));
const config = path.join(folder, 'ferry.yaml');
writeFileSync(
  config,
  [
    'destinations:',
    '  policies:',
    '    - match: iso.busy',
    '      kind: topic',
    '      pendingMessageLimit: 1000',
    '      slowConsumerPolicy: evict-oldest',
    '    - match: iso.flood',
    '      kind: queue',
    `      memoryLimit: ${FLOOD_LIMIT}`,
    '      memoryPolicy: block',
    '',
  ].join('\n'),
);
const casesAt = args.indexOf('--cases');
const disturbances = (casesAt >= 0 ? args[casesAt + 1]!.split(',') : ['slow', 'flood', 'idle']) as Disturbance[];
console.log(`pair of 1 KiB non-persistent STOMP messages, ${DURATION / 1000} s measured after 2 s; slow: topic at ${TOPIC_RATE} msg/s of 1 KiB; flood: 1 KiB as fast as taken (Ferry: memoryLimit ${FLOOD_LIMIT / 1024 / 1024} MiB, block); idle: ${IDLE} connections`);
await scenario('ferry', disturbances, () => startFerry({ config }));
if (!args.includes('--no-activemq') && activeMqInstalled(DEFAULT_ACTIVEMQ_HOME)) {
  await scenario('activemq', disturbances, () => startActiveMq({ home: DEFAULT_ACTIVEMQ_HOME }));
}
process.exit(0);
