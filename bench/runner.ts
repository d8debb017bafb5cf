// Runs one scenario against one running broker: consumers subscribed first, then a warm-up, then the
// measured window, then a drain that counts every message of every consumer.

import v8 from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { portFor, tailOf } from './broker.js';
import type { BrokerName, RunningBroker } from './broker.js';
import type { Target } from './drivers.js';
import { processCpuUs } from './cpu.js';
import { LatencyHistogram } from './histogram.js';
import { consumerShards, counterLayout, groupCount } from './scenarios.js';
import type { Scenario } from './scenarios.js';
import { SharedCounters } from './shared-state.js';
import type { FromWorker, GroupReport, ToWorker, WorkerData } from './worker.js';

export interface RunOptions {
  durationSeconds: number;
  warmupSeconds: number;
  /** Most messages in flight: sent but not yet received by the slowest consumer. */
  window: number;
  /** Most unconfirmed sends, for scenarios that confirm sends. */
  confirmWindow: number;
  /** How long the drain waits for the last messages before counting them as lost. */
  drainTimeoutMs: number;
}

export interface ScenarioResult {
  scenario: string;
  broker: BrokerName;
  error?: string;
  /** Measured messages sent, over all producers. */
  sent: number;
  /** Deliveries expected: `sent` for a queue, `sent` times the subscribers for a topic. */
  expected: number;
  /** Distinct measured messages received, over all consumers. */
  delivered: number;
  lost: number;
  duplicates: number;
  unreadable: number;
  /** Messages received by a consumer whose selector excludes them (scenarios with a selectorPartition). */
  misrouted: number;
  /** From the start of the measured sends to the last measured delivery. */
  elapsedSeconds: number;
  deliveriesPerSecond: number;
  sendsPerSecond: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  brokerCpuUs: number;
  brokerCpuUsPerDelivery: number;
  /** CPU of this benchmark process (all its threads) over the window, in cores: 1 = one core busy. */
  loadGeneratorCores: number;
  warmupDrained: boolean;
  /** Scenarios of idle connections (mqtt-idle.ts) only. */
  idle?: {
    connections: number;
    connectsPerSecond: number;
    rssBeforeBytes: number;
    rssAfterBytes: number;
    /** Resident memory per connection 2 s after the last handshake. */
    bytesPerConnection: number;
    rssIdleBytes: number;
    /** Resident memory per connection after the connections stayed idle for 30 s more. */
    idleBytesPerConnection: number;
    brokerCpuUsPerConnection: number;
  };
}

// The load generator's threads must not pause on their own while they time deliveries. At a light,
// steady load V8's memory reducer sees a heap that allocates little and runs up to three full
// collections about 8 s after start-up (10-25 ms each, a consumer's whole inbox waiting), which
// landed in the same second of every 20 s window whichever broker was measured. The flag is
// process-wide and read when each worker's heap is made, so it must be set before any worker starts.
v8.setFlagsFromString('--no-memory-reducer');

/** A worker thread that answers in order; a failure it reports is kept and rejects every wait. */
class WorkerHandle {
  readonly worker: Worker;
  failure: Error | undefined;
  private readonly inbox: FromWorker[] = [];
  private wake: (() => void) | undefined;

  constructor(data: WorkerData) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (message: FromWorker) => {
      if (message.type === 'error') this.failure ??= new Error(`${data.role}: ${message.message}`);
      else this.inbox.push(message);
      this.wake?.();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      this.wake?.();
    });
    this.worker.on('exit', (code) => {
      this.failure ??= new Error(`${data.role} thread exited (${code})`);
      this.wake?.();
    });
  }

  post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  async next<T extends FromWorker['type']>(type: T, timeoutMs: number, what: string): Promise<Extract<FromWorker, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex((m) => m.type === type);
      if (index !== -1) return this.inbox.splice(index, 1)[0] as Extract<FromWorker, { type: T }>;
      if (this.failure !== undefined) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.failure === undefined) {
      this.post({ type: 'close' });
      await this.next('closed', 5_000, 'the connections to close').catch(() => undefined);
    }
    await this.worker.terminate();
  }
}

export function emptyResult(scenario: string, broker: BrokerName): ScenarioResult {
  return {
    scenario,
    broker,
    sent: 0,
    expected: 0,
    delivered: 0,
    lost: 0,
    duplicates: 0,
    unreadable: 0,
    misrouted: 0,
    elapsedSeconds: 0,
    deliveriesPerSecond: 0,
    sendsPerSecond: 0,
    latencyMs: { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN },
    brokerCpuUs: 0,
    brokerCpuUsPerDelivery: Number.NaN,
    loadGeneratorCores: 0,
    warmupDrained: false,
  };
}

/** One report from every consumer thread: each counts only its own groups, so the sums are exact. */
async function mergedReport(threads: readonly WorkerHandle[]): Promise<Extract<FromWorker, { type: 'report' }>> {
  for (const thread of threads) thread.post({ type: 'report' });
  const reports = [];
  for (const thread of threads) reports.push(await thread.next('report', 10_000, 'the consumers report'));
  const [first, ...rest] = reports;
  if (first === undefined) throw new Error('no consumer thread');
  const histogram = new LatencyHistogram(first.histogram);
  histogram.maxUs = first.maxUs;
  const groups = first.groups.map((g) => ({ ...g }));
  for (const other of rest) {
    const h = new LatencyHistogram(other.histogram);
    h.maxUs = other.maxUs;
    histogram.add(h);
    other.groups.forEach((g, i) => {
      const sum = groups[i]!;
      sum.unique += g.unique;
      sum.duplicates += g.duplicates;
      sum.unreadable += g.unreadable;
      sum.misrouted += g.misrouted;
      sum.lastRecvUs = Math.max(sum.lastRecvUs, g.lastRecvUs);
    });
  }
  return { type: 'report', groups, histogram: histogram.counts, maxUs: histogram.maxUs };
}

export async function runScenario(
  broker: RunningBroker,
  scenario: Scenario,
  options: RunOptions,
  runTag: string,
): Promise<ScenarioResult> {
  const result = emptyResult(scenario.name, broker.name);
  const counters = new SharedCounters(counterLayout(scenario));
  const secure = scenario.secureOf !== undefined;
  const listener = secure ? `${scenario.protocol}-tls` : scenario.protocol;
  const port = portFor(broker, listener);
  if (port === undefined) return { ...result, error: `${broker.name} has no ${listener} listener` };
  if (secure && broker.secure === undefined) return { ...result, error: `${broker.name} was not started with security on` };
  const target: Target = {
    broker: broker.name,
    host: broker.host,
    port,
    destination: `bench.${scenario.name}.${runTag}`,
    ...(secure && broker.secure !== undefined ? { secure: broker.secure } : {}),
  };
  const handles: WorkerHandle[] = [];
  const check = (): void => {
    for (const h of handles) if (h.failure !== undefined) throw h.failure;
    if (broker.exited()) throw new Error('the broker exited');
  };

  try {
    const consumerThreads: WorkerHandle[] = [];
    for (let shard = 0; shard < consumerShards(scenario); shard++) {
      const thread = new WorkerHandle({ role: 'consumers', shard, scenario, target, counters: counters.buffer });
      handles.push(thread);
      consumerThreads.push(thread);
    }
    for (const thread of consumerThreads) await thread.next('ready', 60_000, 'the consumers to subscribe');
    const producers = new WorkerHandle({
      role: 'producers',
      scenario,
      target,
      counters: counters.buffer,
      window: options.window,
      confirmWindow: options.confirmWindow,
    });
    handles.push(producers);
    await producers.next('ready', 60_000, 'the producers to connect');

    const phaseTimeoutMs = (seconds: number): number => seconds * 1000 + options.drainTimeoutMs + 30_000;
    producers.post({ type: 'run', phase: 'warmup', seconds: options.warmupSeconds, drainTimeoutMs: options.drainTimeoutMs });
    const warm = await producers.next('done', phaseTimeoutMs(options.warmupSeconds), 'the warm-up');
    result.warmupDrained = warm.drained;

    const cpuBefore = broker.cpuUs?.() ?? processCpuUs(broker.pid);
    const loadBefore = process.cpuUsage();
    producers.post({ type: 'run', phase: 'measure', seconds: options.durationSeconds, drainTimeoutMs: options.drainTimeoutMs });
    const done = await producers.next('done', phaseTimeoutMs(options.durationSeconds), 'the measured window');
    result.sent = done.sent.reduce((a, b) => a + b, 0);
    const groups = groupCount(scenario);
    result.expected = result.sent * (scenario.kind === 'topic' ? scenario.consumers : 1);

    const drainDeadline = Date.now() + options.drainTimeoutMs;
    const behind = (): boolean => {
      for (let g = 0; g < groups; g++) if (counters.groupUnique(g) < result.sent) return true;
      return false;
    };
    while (behind() && Date.now() < drainDeadline) {
      check();
      await sleep(5);
    }
    const cpuAfter = broker.cpuUs?.() ?? processCpuUs(broker.pid);
    const load = process.cpuUsage(loadBefore);
    // Late copies of messages already counted would show up as duplicates in this short wait.
    await sleep(200);
    check();

    const report = await mergedReport(consumerThreads);
    const sum = (pick: (g: GroupReport) => number): number => report.groups.reduce((a, g) => a + pick(g), 0);
    result.delivered = sum((g) => g.unique);
    result.duplicates = sum((g) => g.duplicates);
    result.unreadable = sum((g) => g.unreadable);
    result.misrouted = sum((g) => g.misrouted);
    result.lost = sum((g) => Math.max(0, result.sent - g.unique));
    const lastUs = Math.max(done.endUs, ...report.groups.map((g) => g.lastRecvUs));
    const elapsedUs = Math.max(1, lastUs - done.startUs);
    result.elapsedSeconds = elapsedUs / 1e6;
    result.deliveriesPerSecond = (result.delivered * 1e6) / elapsedUs;
    result.sendsPerSecond = (result.sent * 1e6) / Math.max(1, done.endUs - done.startUs);
    const histogram = new LatencyHistogram(report.histogram);
    histogram.maxUs = report.maxUs;
    result.latencyMs = {
      p50: histogram.quantileUs(0.5) / 1000,
      p99: histogram.quantileUs(0.99) / 1000,
      p999: histogram.quantileUs(0.999) / 1000,
      max: histogram.maxUs / 1000,
    };
    result.brokerCpuUs = cpuAfter - cpuBefore;
    result.brokerCpuUsPerDelivery = result.delivered > 0 ? result.brokerCpuUs / result.delivered : Number.NaN;
    result.loadGeneratorCores = (load.user + load.system) / elapsedUs;
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    await sleep(100); // a broker that died shows it by now, and that is the error worth reporting
    if (broker.exited()) {
      result.error = `${broker.name} exited during the run (${result.error}); its log ends:\n${tailOf(broker.logFile, 10)}`;
    }
  } finally {
    // Producers first, so that no consumer leaves while messages are still arriving for it.
    for (const h of handles.reverse()) await h.close();
  }
  return result;
}
