// The load generator's threads: one runs every consumer of a scenario, the other every producer, so
// that neither waits on the other's event loop. The runner talks to them with the messages below and
// they share counters (shared-state.ts) for the producer's window.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { nowUs } from './clock.js';
import { driverFor } from './drivers.js';
import type { ConsumerLink, Phase, ProducerLink, Target } from './drivers.js';
import type { SendSchedule } from './clock.js';
import { LatencyHistogram } from './histogram.js';
import { consumerTakes, counterLayout, groupCount, groupOf, shardConsumers } from './scenarios.js';
import type { Scenario } from './scenarios.js';
import { SharedCounters } from './shared-state.js';

export interface ConsumerWorkerData {
  role: 'consumers';
  /** Which consumer thread this is; it runs the consumers `shardConsumers` gives it. */
  shard: number;
  scenario: Scenario;
  target: Target;
  counters: SharedArrayBuffer;
}

export interface ProducerWorkerData {
  role: 'producers';
  scenario: Scenario;
  target: Target;
  counters: SharedArrayBuffer;
  /** Most messages sent but not yet received by the slowest consumer (or by the queue's consumers). */
  window: number;
  /** Most sends without their confirmation, for scenarios that confirm sends. */
  confirmWindow: number;
}

export type WorkerData = ConsumerWorkerData | ProducerWorkerData;

export type ToWorker =
  | { type: 'run'; phase: Phase; seconds: number; drainTimeoutMs: number }
  | { type: 'report' }
  | { type: 'close' };

export interface GroupReport {
  /** Distinct measured messages received. */
  unique: number;
  duplicates: number;
  /** Messages whose stamp could not be read. */
  unreadable: number;
  /** Measured messages received by a consumer whose selector excludes them (counted in `unique` too). */
  misrouted: number;
  lastRecvUs: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | { type: 'done'; phase: Phase; startUs: number; endUs: number; sent: number[]; drained: boolean; unconfirmed: number }
  | { type: 'report'; groups: GroupReport[]; histogram: Float64Array; maxUs: number }
  | { type: 'closed' };

function post(message: FromWorker): void {
  parentPort?.postMessage(message);
}

function fail(err: unknown): void {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}

/** Which measured sequence numbers one group has seen, per producer. */
class Group {
  unique = 0;
  duplicates = 0;
  unreadable = 0;
  misrouted = 0;
  lastRecvUs = 0;
  private readonly seen: Uint8Array[];

  constructor(producers: number) {
    this.seen = Array.from({ length: producers }, () => new Uint8Array(1 << 16));
  }

  /** True for the first delivery of (producer, seq). */
  mark(producer: number, seq: number): boolean | undefined {
    let bits = this.seen[producer];
    if (bits === undefined || !Number.isInteger(seq) || seq < 0) return undefined;
    const byte = seq >>> 3;
    if (byte >= bits.length) {
      let size = bits.length;
      while (size <= byte) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(bits);
      this.seen[producer] = bits = grown;
    }
    const bit = 1 << (seq & 7);
    const old = bits[byte] ?? 0;
    if ((old & bit) !== 0) return false;
    bits[byte] = old | bit;
    return true;
  }
}

async function runConsumers(data: ConsumerWorkerData): Promise<void> {
  const { scenario, target } = data;
  const counters = new SharedCounters(counterLayout(scenario), data.counters);
  const driver = driverFor(scenario);
  const groups = Array.from({ length: groupCount(scenario) }, () => new Group(scenario.producers));
  const mine = shardConsumers(scenario, data.shard);
  const myGroups = new Set(mine.map((i) => groupOf(scenario, i)));
  const received = new Array<number>(mine.length).fill(0);
  const histogram = new LatencyHistogram();
  const warmupHistogram = new LatencyHistogram();
  const topic = scenario.kind === 'topic';
  // BENCH_LATENCY_LOG=DIR: every measured delivery's send and receive time (µs of nowUs()), one per
  // line, for lining the slow ones up with what the broker did at the time (its GC, for one)
  const logDir = process.env['BENCH_LATENCY_LOG'];
  const latencyLog: number[] | undefined = logDir === undefined ? undefined : [];
  // and this thread's own GC pauses (start and duration, µs), which delay the reads it times
  const gcLog: number[] = [];
  if (logDir !== undefined) {
    const originUs = nowUs() - performance.now() * 1000;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcLog.push(Math.round(originUs + e.startTime * 1000), Math.round(e.duration * 1000));
    }).observe({ entryTypes: ['gc'] });
  }

  const publish = (): void => {
    let progress = topic ? Number.POSITIVE_INFINITY : 0;
    for (const n of received) progress = topic ? Math.min(progress, n) : progress + n;
    groups.forEach((g, i) => {
      if (myGroups.has(i)) counters.setGroupUnique(i, g.unique);
    });
    counters.setProgress(data.shard, progress);
  };

  const links: ConsumerLink[] = [];
  let failed = false;
  const onFailure = (err: Error): void => {
    if (!failed) fail(err);
    failed = true;
  };
  for (const [local, i] of mine.entries()) {
    const measured = groups[groupOf(scenario, i)] as Group;
    // Warm-up messages take the same path into throwaway counters, so that the measured path's code
    // is compiled before the window opens rather than on its first messages.
    const warmup = new Group(scenario.producers);
    const events = {
      message(producer: number, seq: number, sentUs: number, phase: Phase, recvUs: number): void {
        received[local] = (received[local] ?? 0) + 1;
        const measuring = phase === 'measure';
        const group = measuring ? measured : warmup;
        const first = group.mark(producer, seq);
        if (first === undefined || !Number.isFinite(sentUs)) group.unreadable++;
        else if (!first) group.duplicates++;
        else {
          group.unique++;
          if (!consumerTakes(scenario, i, seq)) group.misrouted++;
          (measuring ? histogram : warmupHistogram).record(recvUs - sentUs);
          if (measuring) latencyLog?.push(sentUs, recvUs);
          if (recvUs > group.lastRecvUs) group.lastRecvUs = recvUs;
        }
      },
      readEnd: publish,
    };
    links.push(await driver.openConsumer(target, scenario, i, events, onFailure));
  }
  post({ type: 'ready' });

  parentPort?.on('message', (message: ToWorker) => {
    if (message.type === 'report') {
      if (logDir !== undefined && latencyLog !== undefined) {
        const lines: string[] = [];
        for (let i = 0; i < latencyLog.length; i += 2) lines.push(`${latencyLog[i]}\t${latencyLog[i + 1]}`);
        writeFileSync(path.join(logDir, `${scenario.name}.${target.broker}.${data.shard}.tsv`), lines.join('\n') + '\n');
        const pauses: string[] = [];
        for (let i = 0; i < gcLog.length; i += 2) pauses.push(`${gcLog[i]}\t${gcLog[i + 1]}`);
        writeFileSync(path.join(logDir, `${scenario.name}.${target.broker}.${data.shard}.gc.tsv`), pauses.join('\n') + '\n');
      }
      post({
        type: 'report',
        groups: groups.map((g) => ({
          unique: g.unique,
          duplicates: g.duplicates,
          unreadable: g.unreadable,
          misrouted: g.misrouted,
          lastRecvUs: g.lastRecvUs,
        })),
        histogram: histogram.counts,
        maxUs: histogram.maxUs,
      });
    } else if (message.type === 'close') {
      void Promise.allSettled(links.map((l) => l.close())).then(() => post({ type: 'closed' }));
    }
  });
}

/** Blocks this thread; Atomics.wait sleeps to within tens of µs where a timer wakes up to a ms late. */
const parked = new Int32Array(new SharedArrayBuffer(4));
/** Longer waits than this let the event loop run (a timer) until about this much is left. */
const PARK_BELOW_US = 1500;

/**
 * Returns at `dueUs` (nowUs()), to within the scheduler's slack. setTimeout alone fires up to a
 * millisecond or more late, which at 1,000 msgs/s sent the messages in bursts and put the load
 * generator's lateness into every percentile. The thread is parked for at most PARK_BELOW_US at a
 * time, and the caller yields to the event loop after each send, so receipts are still read.
 */
async function waitUntil(dueUs: number): Promise<void> {
  let left = dueUs - nowUs();
  if (left > PARK_BELOW_US) {
    await sleep(Math.floor((left - PARK_BELOW_US) / 1000) + 1);
    left = dueUs - nowUs();
  }
  if (left > 0) Atomics.wait(parked, 0, 0, Math.min(left, PARK_BELOW_US) / 1000);
}

async function runProducers(data: ProducerWorkerData): Promise<void> {
  const { scenario, target } = data;
  const counters = new SharedCounters(counterLayout(scenario), data.counters);
  const driver = driverFor(scenario);
  let failed = false;
  const onFailure = (err: Error): void => {
    if (!failed) fail(err);
    failed = true;
  };
  const links: ProducerLink[] = [];
  for (let i = 0; i < scenario.producers; i++) links.push(await driver.openProducer(target, scenario, i, onFailure));
  /** Messages of every phase and producer written so far: compared with the consumers' progress. */
  let sentTotal = 0;

  const rate = scenario.ratePerSecond === undefined ? undefined : scenario.ratePerSecond / scenario.producers;
  const intervalUs = rate === undefined ? 0 : 1e6 / rate;

  const produce = async (link: ProducerLink, index: number, phase: Phase, startUs: number, deadlineUs: number): Promise<number> => {
    let seq = 0;
    for (let now = nowUs(); !failed && now < deadlineUs; now = nowUs()) {
      const progress = counters.progress;
      let room = data.window - (sentTotal - progress);
      if (room <= 0) {
        // Woken when a whole batch fits again: fewer wake-ups, and writes of full batches.
        await counters.progressReaches(sentTotal - data.window + Math.min(link.batchSize, data.window), 50);
        continue;
      }
      let schedule: SendSchedule | undefined;
      if (rate !== undefined) {
        // Message `seq` is due at startUs + seq * intervalUs, and is stamped with that time however
        // late it goes: a late turn of this loop is caught up and measured, not lost.
        const dueUs = startUs + seq * intervalUs;
        if (dueUs > now) {
          await waitUntil(dueUs);
          continue;
        }
        room = Math.min(room, Math.floor((now - startUs) / intervalUs) + 1 - seq);
        schedule = { firstUs: dueUs, stepUs: intervalUs };
      }
      if (scenario.confirmSends) {
        const confirmRoom = data.confirmWindow - link.unconfirmed;
        if (confirmRoom <= 0) {
          await Promise.race([link.confirmed(), sleep(20)]);
          continue;
        }
        room = Math.min(room, confirmRoom);
      }
      const count = Math.min(room, link.batchSize);
      const writable = link.send(seq, count, phase, schedule);
      seq += count;
      sentTotal += count;
      if (phase === 'measure') counters.setSentMeasured(index, seq);
      // Either way the loop gives the event loop a turn, so receipts and errors are read.
      if (writable) await yieldToLoop();
      else await link.drained();
    }
    return seq;
  };

  const run = async (phase: Phase, seconds: number, drainTimeoutMs: number): Promise<void> => {
    const startUs = nowUs();
    const sent = await Promise.all(links.map((link, i) => produce(link, i, phase, startUs, startUs + seconds * 1e6)));
    const endUs = nowUs();
    // Warm-up ends when everything sent has arrived, so that the measured window starts empty. The
    // measured phase is drained by the runner, which checks every message of every consumer.
    const deadline = Date.now() + drainTimeoutMs;
    let drained = true;
    if (phase === 'warmup') {
      while (!failed && counters.progress < sentTotal) {
        if (Date.now() > deadline) {
          drained = false;
          break;
        }
        await counters.progressReaches(sentTotal, 50);
      }
    }
    const unconfirmed = (): number => links.reduce((sum, l) => sum + l.unconfirmed, 0);
    while (!failed && unconfirmed() > 0 && Date.now() < deadline) await sleep(5);
    post({ type: 'done', phase, startUs, endUs, sent, drained, unconfirmed: unconfirmed() });
  };

  post({ type: 'ready' });
  parentPort?.on('message', (message: ToWorker) => {
    if (message.type === 'run') {
      run(message.phase, message.seconds, message.drainTimeoutMs).catch(onFailure);
    } else if (message.type === 'close') {
      void Promise.allSettled(links.map((l) => l.close())).then(() => post({ type: 'closed' }));
    }
  });
}

if (!isMainThread) {
  const data = workerData as WorkerData;
  (data.role === 'consumers' ? runConsumers(data) : runProducers(data)).catch(fail);
}
