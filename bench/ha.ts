// Takeover time on a shared folder: a primary and a backup broker share one data folder; the
// primary is killed with SIGKILL, and the time from the kill to the first persistent STOMP message
// the backup confirms with a receipt is one takeover. The killed broker is started again as the new
// backup and the next round kills the new primary. Ferry runs with `--ha` (its lease, default
// duration unless --lease); ActiveMQ 5.17 as shared file system master/slave (two instances on one
// KahaDB folder, with its default lock retry interval), in the same run.
//
// Ferry is measured twice: as two brokers on one machine, where a backup that sees the holder's
// process gone takes over at once, and as two machines would behave, each broker in a process-id
// namespace of its own (`unshare`, as root), where the backup waits out the lease.
//
// With --store postgres (or journal,postgres) Ferry keeps its store and its lease in a PostgreSQL
// database of the run's own (Debian's server, fsync on) instead of on the shared folder.
//
// With --backlog N, N persistent 1 KiB messages wait in a queue before the first kill, in ActiveMQ
// as in Ferry. --timeline shows, after each takeover, when the new primary logged the steps of it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ACTIVEMQ_HOME, startActiveMq } from './activemq.js';
import { freePort, type RunningBroker } from './broker.js';
import { stopAll, track } from './children.js';
import { FERRY_MAIN } from './ferry.js';
import { StompClient } from './stomp-client.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node dist/bench/ha.js [--kills 20] [--activemq-kills 5] [--lease MS] [--backlog N] [--broker ferry,activemq] [--store journal,postgres] [--timeline]`;

const { values, kills, activeMqKills, backlog, lease } = commandLine(USAGE, {
  kills: { type: 'string' },
  'activemq-kills': { type: 'string' },
  lease: { type: 'string' },
  backlog: { type: 'string' },
  broker: { type: 'string' },
  store: { type: 'string' },
  timeline: { type: 'boolean' },
}, (values) => ({
  values,
  kills: positive('kills', values.kills, 20, true),
  activeMqKills: positive('activemq-kills', values['activemq-kills'], 5, true),
  backlog: positive('backlog', values.backlog, 0, true),
  lease: values.lease === undefined ? undefined : positive('lease', values.lease, 0, true),
}));
const brokers = (values.broker ?? 'ferry,activemq').split(',');
const stores = (values.store ?? 'journal').split(',');
const HOST = '127.0.0.1';

interface Member {
  readonly child: ChildProcess;
  readonly stompPort: number;
  /** When (performance.now()) each event of TIMELINE was logged, last one of each. */
  readonly seen: Map<string, number>;
}

/** What a takeover is made of, shown after each one with --timeline. */
const TIMELINE = ['ha.holder-overdue', 'journal.read-ahead-used', 'journal.read-ahead-stale', 'ha.primary', 'broker.loading', 'broker.started', 'broker.recovered'];

/** One Ferry process with `--ha` on `data`; resolves once it logs `event` (`broker.started` or `ha.backup`). */
async function startFerryMember(data: string, config: string | undefined, stompPort: number, event: string, apart: boolean): Promise<Member> {
  const node = [process.execPath, FERRY_MAIN, 'start', '--ha', '--data', data, '--stomp-port', String(stompPort), '--stomp-host', HOST, ...(config === undefined ? [] : ['--config', config])];
  // --kill-child: the broker dies with the unshare process the benchmark kills
  const [command, ...args] = apart ? ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', ...node] : node;
  const child = spawn(command!, args, {
    env: { ...process.env, FERRY_HTTP_PORT: 'off', FERRY_WS_PORT: 'off', FERRY_OPENWIRE_PORT: 'off', FERRY_AMQP_PORT: 'off', FERRY_MQTT_PORT: 'off', FERRY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  track(child, undefined);
  const last: string[] = [];
  const seen = new Map<string, number>();
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      last.push(line);
      if (last.length > 5) last.shift();
      const logged = /"event":"([^"]+)"/.exec(line)?.[1];
      if (logged !== undefined && TIMELINE.includes(logged)) seen.set(logged, performance.now());
      if (line.includes(`"event":"${event}"`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`ferry exited with ${code} before "${event}":\n${last.join('\n')}`)));
  });
  return { child, stompPort, seen };
}

/** Until a persistent SEND to `port` is confirmed by a RECEIPT: connect, send, and retry every 20 ms. */
async function firstConfirmedSend(port: number): Promise<void> {
  for (;;) {
    let client: StompClient | undefined;
    try {
      client = await StompClient.connect(HOST, port, 1000);
      await client.request('SEND', [['destination', '/queue/ha.probe'], ['persistent', 'true']], 5000);
      await client.close();
      return;
    } catch {
      client?.socket.destroy();
      await sleep(20);
    }
  }
}

async function fillBacklog(port: number, count: number): Promise<void> {
  if (count === 0) return;
  const client = await StompClient.connect(HOST, port);
  const body = Buffer.alloc(1024, 0x61);
  const window: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const id = `b-${i}`;
    window.push(client.request('SEND', [['destination', '/queue/ha.backlog'], ['persistent', 'true'], ['content-length', String(body.length)], ['id', id]], 60_000, body));
    if (window.length >= 200) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  await client.close();
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function ferryTakeovers(apart: boolean, postgresUrl?: string): Promise<number[]> {
  const data = mkdtempSync(join(tmpdir(), 'ferry-bench-ha-'));
  const text =
    (lease === undefined ? '' : `ha:\n  leaseDuration: ${lease}\n`) +
    (postgresUrl === undefined ? '' : `store:\n  type: postgres\n  postgres:\n    url: ${JSON.stringify(postgresUrl)}\n`);
  const config = text === '' ? undefined : join(data, '..', `${data.split('/').pop()!}.yaml`);
  if (config !== undefined) writeFileSync(config, text);
  const ports = [await freePort(HOST), await freePort(HOST)];
  let primary = await startFerryMember(data, config, ports[0]!, 'broker.started', apart);
  let backup = await startFerryMember(data, config, ports[1]!, 'ha.backup', apart);
  await fillBacklog(primary.stompPort, backlog);
  const times: number[] = [];
  try {
    for (let round = 0; round < kills; round++) {
      const started = performance.now();
      await killed(primary.child);
      await firstConfirmedSend(backup.stompPort);
      times.push(performance.now() - started);
      process.stdout.write(`ferry${apart ? ' (apart)' : ''} takeover ${round + 1}/${kills}: ${Math.round(times.at(-1)!)} ms\n`);
      if (values.timeline === true) {
        const steps = TIMELINE.filter((e) => (backup.seen.get(e) ?? 0) > started).map((e) => `${e} +${Math.round(backup.seen.get(e)! - started)}`);
        process.stdout.write(`  after the kill, ms: ${steps.join(', ')}\n`);
      }
      const next = await startFerryMember(data, config, primary.stompPort, 'ha.backup', apart);
      primary = backup;
      backup = next;
    }
  } finally {
    await killed(primary.child);
    await killed(backup.child);
    rmSync(data, { recursive: true, force: true });
    if (config !== undefined) rmSync(config, { force: true });
  }
  return times;
}

async function activeMqTakeovers(): Promise<number[]> {
  const shared = mkdtempSync(join(tmpdir(), 'ferry-bench-ha-kahadb-'));
  const bases = [mkdtempSync(join(tmpdir(), 'ferry-bench-ha-amq-a-')), mkdtempSync(join(tmpdir(), 'ferry-bench-ha-amq-b-'))];
  const ports = [await freePort(HOST), await freePort(HOST)];
  const start = (i: number, wait: boolean): Promise<RunningBroker> =>
    startActiveMq({ home: DEFAULT_ACTIVEMQ_HOME, sharedDataDir: shared, waitForPorts: wait, reuse: { base: bases[i]!, ports: { stomp: ports[i]! } } });
  let primaryIndex = 0;
  let primary = await start(0, true);
  let backup = await start(1, false);
  await fillBacklog(ports[0]!, backlog);
  // the slave must be up and polling for the lock before the master dies: give its JVM the time it takes to start
  await sleep(20_000);
  const times: number[] = [];
  try {
    for (let round = 0; round < activeMqKills; round++) {
      const started = performance.now();
      process.kill(primary.pid, 'SIGKILL');
      await firstConfirmedSend(ports[1 - primaryIndex]!);
      times.push(performance.now() - started);
      process.stdout.write(`activemq takeover ${round + 1}/${activeMqKills}: ${Math.round(times.at(-1)!)} ms\n`);
      const next = await start(primaryIndex, false);
      await sleep(20_000);
      primary = backup;
      backup = next;
      primaryIndex = 1 - primaryIndex;
    }
  } finally {
    await primary.stop();
    await backup.stop();
    for (const folder of [shared, ...bases]) rmSync(folder, { recursive: true, force: true });
  }
  return times;
}

function summary(name: string, times: number[]): string {
  if (times.length === 0) return `${name}: no takeovers`;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return `${name.padEnd(22)} takeovers ${String(times.length).padStart(3)}  median ${Math.round(median).toLocaleString('en')} ms  max ${Math.round(sorted.at(-1)!).toLocaleString('en')} ms`;
}

const results: [string, number[]][] = [];
try {
  if (brokers.includes('ferry') && stores.includes('journal')) {
    results.push(['ferry, one machine', await ferryTakeovers(false)]);
    process.stdout.write(`${summary(...results.at(-1)!)}\n`);
    if (process.getuid?.() === 0) {
      results.push(['ferry, apart', await ferryTakeovers(true)]);
      process.stdout.write(`${summary(...results.at(-1)!)}\n`);
    }
    else process.stdout.write('ferry, apart: skipped: separate process-id namespaces need root (unshare)\n');
  }
  if (brokers.includes('ferry') && stores.includes('postgres')) {
    const cluster = await startPostgres({ fsync: true });
    if (typeof cluster === 'string') process.stdout.write(`ferry on PostgreSQL: skipped: ${cluster}\n`);
    else {
      try {
        results.push(['ferry pg, one machine', await ferryTakeovers(false, await cluster.createDatabase('ha_one'))]);
        process.stdout.write(`${summary(...results.at(-1)!)}\n`);
        if (process.getuid?.() === 0) {
          results.push(['ferry pg, apart', await ferryTakeovers(true, await cluster.createDatabase('ha_apart'))]);
          process.stdout.write(`${summary(...results.at(-1)!)}\n`);
        }
      } finally {
        await cluster.stop();
      }
    }
  }
  if (brokers.includes('activemq')) results.push(['activemq', await activeMqTakeovers()]);
} finally {
  await stopAll();
}
process.stdout.write(`\nkill -9 of the primary -> first persistent message confirmed by the backup${backlog > 0 ? ` (backlog ${backlog.toLocaleString('en')} messages)` : ''}\n`);
for (const [name, times] of results) process.stdout.write(`${summary(name, times)}\n`);
const median = (t: number[]): number => [...t].sort((a, b) => a - b)[Math.floor((t.length - 1) / 2)]!;
const activemq = results.find(([name]) => name === 'activemq')?.[1];
for (const [name, times] of results) {
  if (name === 'activemq' || activemq === undefined || activemq.length === 0 || times.length === 0) continue;
  process.stdout.write(`ActiveMQ / ${name}: median takeover ${(median(activemq) / median(times)).toFixed(2)}x as long\n`);
}
