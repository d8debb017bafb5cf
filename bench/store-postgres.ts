// The PostgreSQL store against the journal and against ActiveMQ on KahaDB, in one run:
// `queue-1-1-persistent` (STOMP, 1 -> 1, 1 KiB, a receipt for every SEND, at most 100 in flight)
// on each, for a number of rounds, in turn, so that the machine's other load falls on all alike.
//
// PostgreSQL is a cluster of the benchmark's own (initdb in a temporary folder, unix socket only,
// fsync on, every other setting PostgreSQL's default), a fresh database per round. The CPU charged
// to Ferry on PostgreSQL is Ferry's process plus every PostgreSQL process: the postmaster, its
// background workers (WAL writer, checkpointer...) and the backends serving Ferry, counted from
// /proc as the postmaster's own time, its live children's, and its reaped children's (cutime).
//
//   npm run build && node dist/bench/store-postgres.js [--rounds 3] [--duration 10] [--warmup 3] [--no-activemq]
//
// With --commits, the stores alone instead, no broker and no sockets: 100 records of 1.1 KB per
// commit, one commit at a time, for 4 s each, on PostgreSQL (fsync on, then a second cluster with
// fsync off) and on the journal: how long one group commit takes.
//
// With --recovery N, a broker's restart on PostgreSQL: N persistent 1 KiB messages sent through
// the broker's core (no sockets) to one queue, the broker stopped, and a new one started on the
// same database, timed from start() to a running broker with every message waiting. With
// --body-cache BYTES the restarted broker keeps at most that many bytes of bodies in memory and
// leaves the rest in the database (store.bodyCacheSize); without it, every body is loaded.

import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_ACTIVEMQ_HOME, activeMqInstalled, startActiveMq } from './activemq.js';
import { commandLine, positive } from './args.js';
import type { RunningBroker } from './broker.js';
import { stopAll } from './children.js';
import { CLK_TCK, processCpuUs } from './cpu.js';
import { startFerry } from './ferry.js';
import { runScenario, type ScenarioResult } from './runner.js';
import { findScenario } from './scenarios.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Broker } from '../src/core/index.js';
import { JournalStore, PostgresStore, type Store } from '../src/store/index.js';
import { startPostgres } from '../test/helpers/postgres.js';

type Target = 'ferry-journal' | 'ferry-postgres' | 'activemq-kahadb';

const USAGE = `usage: npm run build && node dist/bench/store-postgres.js [--rounds 3] [--duration 10] [--warmup 3] [--no-activemq] [--activemq-home DIR]
       node dist/bench/store-postgres.js --commits
       node dist/bench/store-postgres.js --recovery N [--body-cache BYTES]`;

const { values, rounds, durationSeconds, warmupSeconds, recoveryMessages, bodyCache } = commandLine(USAGE, {
  rounds: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'activemq-home': { type: 'string', default: DEFAULT_ACTIVEMQ_HOME },
  'no-activemq': { type: 'boolean', default: false },
  commits: { type: 'boolean', default: false },
  recovery: { type: 'string' },
  'body-cache': { type: 'string' },
}, (values) => ({
  values,
  rounds: positive('rounds', values.rounds, 3, true),
  durationSeconds: positive('duration', values.duration, 10, false),
  warmupSeconds: positive('warmup', values.warmup, 3, false),
  recoveryMessages: values.recovery === undefined ? undefined : positive('recovery', values.recovery, 0, true),
  bodyCache: values['body-cache'] === undefined ? undefined : positive('body-cache', values['body-cache'], 0, true),
}));
const run = { durationSeconds, warmupSeconds, window: 5000, confirmWindow: 100, drainTimeoutMs: 15_000 };
const scenario = findScenario('queue-1-1-persistent')!;

/** utime + stime (+ cutime + cstime with `reaped`), in µs, from /proc/<pid>/stat. */
function statCpuUs(pid: number, reaped: boolean): { us: number; ppid: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17
  const ticks = Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0);
  return { us: (ticks * 1e6) / CLK_TCK, ppid: Number(fields[1]) };
}

/** CPU of a PostgreSQL cluster so far: the postmaster, its live children, and its children that have exited. */
function postgresCpuUs(postmaster: number): number {
  let total = statCpuUs(postmaster, true).us;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { us, ppid } = statCpuUs(Number(entry), false);
      if (ppid === postmaster) total += us;
    } catch {
      // gone since the listing
    }
  }
  return total;
}

interface Outcome {
  readonly target: Target;
  readonly result: ScenarioResult;
  /** PostgreSQL's share of the CPU per delivery, µs (Ferry on PostgreSQL only). */
  readonly databaseCpuUsPerDelivery?: number;
}

async function main(): Promise<void> {
  const withActiveMq = !values['no-activemq'];
  if (withActiveMq && !activeMqInstalled(values['activemq-home'])) throw new Error(`no ActiveMQ in ${values['activemq-home']}; --no-activemq runs without it`);
  const cluster = await startPostgres({ fsync: true });
  if (typeof cluster === 'string') throw new Error(cluster);
  const outcomes: Outcome[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const targets: Target[] = ['ferry-postgres', 'ferry-journal', ...(withActiveMq ? (['activemq-kahadb'] as const) : [])];
      for (const target of targets) {
        process.stdout.write(`round ${round}/${rounds}: ${target}... `);
        let broker: RunningBroker;
        let database: number[] | undefined;
        let configFile: string | undefined;
        if (target === 'ferry-postgres') {
          const url = await cluster.createDatabase(`bench_${round}`);
          configFile = path.join(cluster.socketDir, `ferry-${round}.yaml`);
          writeFileSync(configFile, `store:\n  type: postgres\n  postgres:\n    url: ${JSON.stringify(url)}\n`);
          const ferry = await startFerry({ config: configFile });
          const samples: number[] = [];
          database = samples;
          broker = {
            ...ferry,
            cpuUs: () => {
              const pg = postgresCpuUs(cluster.pid);
              samples.push(pg);
              return processCpuUs(ferry.pid) + pg;
            },
          };
        } else if (target === 'ferry-journal') {
          broker = await startFerry();
        } else {
          broker = await startActiveMq({ home: values['activemq-home'] });
        }
        try {
          const result = await runScenario(broker, scenario, run, `${target}-${round}`);
          const pgUs = database !== undefined && database.length >= 2 ? database[database.length - 1]! - database[0]! : undefined;
          outcomes.push({ target, result, ...(pgUs === undefined || result.delivered === 0 ? {} : { databaseCpuUsPerDelivery: pgUs / result.delivered }) });
          process.stdout.write(result.error !== undefined ? `failed: ${result.error}\n` : `${Math.round(result.deliveriesPerSecond)} msgs/s, ${result.brokerCpuUsPerDelivery.toFixed(1)} µs CPU/msg, lost ${result.lost}\n`);
        } finally {
          await broker.stop();
          if (configFile !== undefined) rmSync(configFile, { force: true });
        }
      }
    }
  } finally {
    await cluster.stop();
  }
  report(outcomes);
}

/** Group commits per second of `store`, 100 records of 1.1 KB each. */
async function commitRate(label: string, store: Store): Promise<void> {
  await store.open();
  const body = Buffer.alloc(1100, 0x61);
  let id = 1;
  let commits = 0;
  const started = performance.now();
  while (performance.now() - started < 4000) {
    for (let i = 0; i < 100; i++) store.add(id++, 3, body);
    await store.sync();
    commits++;
  }
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  process.stdout.write(`${label.padEnd(26)} ${(commits / seconds).toFixed(0).padStart(5)} commits/s  ${((seconds * 1000) / commits).toFixed(2).padStart(6)} ms per commit\n`);
}

async function commits(): Promise<void> {
  for (const fsync of [true, false]) {
    const cluster = await startPostgres({ fsync });
    if (typeof cluster === 'string') throw new Error(cluster);
    try {
      await commitRate(`PostgreSQL, fsync ${fsync ? 'on' : 'off'}`, new PostgresStore({ url: await cluster.createDatabase('commits') }));
    } finally {
      await cluster.stop();
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-journal-'));
  try {
    await commitRate('journal', new JournalStore({ dir, compactInterval: 0 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function recovery(messages: number): Promise<void> {
  const cluster = await startPostgres({ fsync: true });
  if (typeof cluster === 'string') throw new Error(cluster);
  try {
    const url = await cluster.createDatabase('recovery');
    const filling = new Broker({ store: new PostgresStore({ url }) });
    await filling.start();
    const session = (await filling.connect({ protocol: 'bench', transport: { remoteAddress: 'local' } })).createSession();
    const body = Buffer.alloc(1024, 0x61);
    let window: Promise<void>[] = [];
    const filled = performance.now();
    for (let i = 0; i < messages; i++) {
      const durable = session.send({ destination: { kind: 'queue', name: 'backlog' }, body, persistent: true });
      if (durable !== null) window.push(durable);
      if (window.length >= 1000) {
        await Promise.all(window);
        window = [];
      }
    }
    await Promise.all(window);
    const fillSeconds = (performance.now() - filled) / 1000;
    await filling.stop();
    process.stdout.write(`filled ${messages} persistent 1 KiB messages in ${fillSeconds.toFixed(1)} s (${Math.round(messages / fillSeconds)} msg/s)\n`);

    // with --expose-gc, what the recovered broker holds after a collection, beside rss (which keeps its peak)
    const collect = (globalThis as { gc?: () => void }).gc;
    collect?.();
    const before = process.memoryUsage();
    const rssBefore = before.rss;
    const started = performance.now();
    const recovered = new Broker({ store: new PostgresStore({ url }), ...(bodyCache === undefined ? {} : { bodyCacheSize: bodyCache }) });
    await recovered.start();
    const seconds = (performance.now() - started) / 1000;
    const waiting = recovered.stats().queues.find((q) => q.name === 'backlog')?.pending ?? 0;
    const bodies = recovered.stats().messageBodies;
    collect?.();
    const held = process.memoryUsage();
    const mib = (n: number): string => (n / 1024 / 1024).toFixed(0);
    if (collect !== undefined) process.stdout.write(`after a collection: heap used up ${mib(held.heapUsed - before.heapUsed)} MiB, buffers up ${mib(held.arrayBuffers - before.arrayBuffers)} MiB, rss up ${mib(held.rss - before.rss)} MiB\n`);
    process.stdout.write(
      `recovered ${waiting} waiting messages from PostgreSQL in ${seconds.toFixed(1)} s; rss grew by ${((process.memoryUsage().rss - rssBefore) / 1024 / 1024).toFixed(0)} MiB; ` +
        `body cache ${bodyCache === undefined ? 'unlimited' : `${bodyCache} bytes`}: ${(bodies.residentBytes / 1024 / 1024).toFixed(1)} MiB of bodies in memory, ${bodies.onDisk} left in the database\n`,
    );
    await recovered.stop();
  } finally {
    await cluster.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function report(outcomes: Outcome[]): void {
  const ok = outcomes.filter((o) => o.result.error === undefined);
  const of = (target: Target, pick: (o: Outcome) => number | undefined): number =>
    median(ok.filter((o) => o.target === target).flatMap((o) => {
      const v = pick(o);
      return v === undefined ? [] : [v];
    }));
  const lines = ['', `queue-1-1-persistent, median of ${rounds} rounds (${run.durationSeconds} s measured each)`, ''];
  lines.push('target            msgs/s   p50 ms   p99 ms   CPU µs/msg (of which PostgreSQL)   lost');
  for (const target of ['ferry-postgres', 'ferry-journal', 'activemq-kahadb'] as const) {
    if (!ok.some((o) => o.target === target)) continue;
    const db = of(target, (o) => o.databaseCpuUsPerDelivery);
    lines.push(
      `${target.padEnd(16)} ${of(target, (o) => o.result.deliveriesPerSecond).toFixed(0).padStart(7)}  ${of(target, (o) => o.result.latencyMs.p50).toFixed(2).padStart(7)}  ${of(target, (o) => o.result.latencyMs.p99).toFixed(2).padStart(7)}  ${of(target, (o) => o.result.brokerCpuUsPerDelivery).toFixed(1).padStart(11)}${Number.isNaN(db) ? '' : ` (${db.toFixed(1)})`.padStart(12)}  ${ok.filter((o) => o.target === target).reduce((a, o) => a + o.result.lost, 0)}`,
    );
  }
  const rate = (t: Target): number => of(t, (o) => o.result.deliveriesPerSecond);
  const cpu = (t: Target): number => of(t, (o) => o.result.brokerCpuUsPerDelivery);
  lines.push('');
  lines.push(`PostgreSQL store / ActiveMQ on KahaDB: throughput ${(rate('ferry-postgres') / rate('activemq-kahadb')).toFixed(2)}x, CPU per message ${(cpu('ferry-postgres') / cpu('activemq-kahadb')).toFixed(2)}x`);
  lines.push(`PostgreSQL store / journal:            throughput ${(rate('ferry-postgres') / rate('ferry-journal')).toFixed(2)}x, CPU per message ${(cpu('ferry-postgres') / cpu('ferry-journal')).toFixed(2)}x`);
  // each round's own ratio too: the machine's noise moves both brokers of a round together
  for (let round = 0; round < rounds; round++) {
    const one = (t: Target): ScenarioResult | undefined => ok.filter((o) => o.target === t)[round]?.result;
    const pgResult = one('ferry-postgres');
    const amq = one('activemq-kahadb');
    const journal = one('ferry-journal');
    if (pgResult === undefined) continue;
    lines.push(
      `  round ${round + 1}: ${[amq === undefined ? '' : `vs ActiveMQ ${(pgResult.deliveriesPerSecond / amq.deliveriesPerSecond).toFixed(2)}x`, journal === undefined ? '' : `vs journal ${(pgResult.deliveriesPerSecond / journal.deliveriesPerSecond).toFixed(2)}x`].filter((s) => s !== '').join(', ')}`,
    );
  }
  const failed = outcomes.filter((o) => o.result.error !== undefined);
  for (const o of failed) lines.push(`${o.target} failed: ${o.result.error}`);
  process.stdout.write(lines.join('\n') + '\n');
  if (failed.length > 0) process.exitCode = 1;
}

(values.commits ? commits() : recoveryMessages !== undefined ? recovery(recoveryMessages) : main()).then(
  async () => {
    await stopAll();
    process.exit(process.exitCode ?? 0);
  },
  async (err: unknown) => {
    process.stderr.write(`store-postgres: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
