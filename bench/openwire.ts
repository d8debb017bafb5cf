// JMS over OpenWire, through ActiveMQ's own client (bench/openwire/JmsBench.java), against Ferry and
// ActiveMQ in one run: 1 KiB BytesMessages, AUTO_ACKNOWLEDGE, producers -> 1 consumer on a queue.
//
//   sync-persistent        1 producer, persistent, synchronous sends (the JMS default)
//   parallel-persistent    10 producers at once, persistent, synchronous sends
//   async-non-persistent   1 producer, non-persistent, asynchronous sends (jms.useAsyncSend)
//   sync-persistent-rate-500, async-non-persistent-rate-1k
//                          the same paced at 500 and 1,000 msgs/s: latency at light load, where
//                          neither the disk nor the CPU is the limit
//
// Per scenario: messages per second, p50 and p99 latency (send to onMessage, one JVM's clock), and the
// broker's CPU time per message over the measured window (its process, all threads; bench/cpu.ts).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/config/schema.js';
import { activeMqInstalled, DEFAULT_ACTIVEMQ_HOME, startActiveMq } from './activemq.js';
import { positive, UsageError } from './args.js';
import { portFor, type RunningBroker } from './broker.js';
import { processCpuUs } from './cpu.js';
import { startFerry } from './ferry.js';
import { compileJava, javaCommand, jmsClientMissing } from './java.js';

const HELP = `node dist/bench/openwire.js [options]
  --duration SECONDS   measured window per scenario (default 10)
  --warmup SECONDS     warm-up before each window (default 3)
  --scenario NAME[,NAME] sync-persistent, parallel-persistent, async-non-persistent,
                       sync-persistent-rate-500, async-non-persistent-rate-1k (default all)
  --broker NAME[,NAME] ferry, activemq or both (default both)
  --activemq-home DIR  an ActiveMQ 5.x (default ${DEFAULT_ACTIVEMQ_HOME})
  --keep               keep the brokers' temporary folders
  --ferry-node-args=ARGS  options for Ferry's Node, space-separated (e.g. --ferry-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof")`;

interface Scenario {
  readonly name: string;
  readonly producers: number;
  readonly persistent: boolean;
  readonly async: boolean;
  /** msgs/s for all producers together, each message sent at its planned time; unpaced when absent. */
  readonly rate?: number;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'sync-persistent', producers: 1, persistent: true, async: false },
  { name: 'parallel-persistent', producers: 10, persistent: true, async: false },
  { name: 'async-non-persistent', producers: 1, persistent: false, async: true },
  { name: 'sync-persistent-rate-500', producers: 1, persistent: true, async: false, rate: 500 },
  { name: 'async-non-persistent-rate-1k', producers: 1, persistent: false, async: true, rate: 1000 },
];

interface Options {
  durationS: number;
  warmupS: number;
  scenarios: Scenario[];
  brokers: string[];
  activeMqHome: string;
  keep: boolean;
  ferryNodeArgs: string[];
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        warmup: { type: 'string' },
        scenario: { type: 'string' },
        broker: { type: 'string' },
        'activemq-home': { type: 'string', default: DEFAULT_ACTIVEMQ_HOME },
        keep: { type: 'boolean', default: false },
        'ferry-node-args': { type: 'string', default: '' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${HELP}`);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const scenarios =
    values.scenario === undefined
      ? [...SCENARIOS]
      : values.scenario.split(',').map((n) => {
          const s = SCENARIOS.find((x) => x.name === n);
          if (s === undefined) throw new UsageError(`unknown scenario ${n}; one of ${SCENARIOS.map((x) => x.name).join(', ')}`);
          return s;
        });
  return {
    durationS: positive('duration', values.duration, 10, false),
    warmupS: positive('warmup', values.warmup, 3, false),
    scenarios,
    brokers: values.broker === undefined ? ['ferry', 'activemq'] : values.broker.split(',').flatMap((b) => (b === 'both' ? ['ferry', 'activemq'] : [b])),
    activeMqHome: values['activemq-home'],
    keep: values.keep,
    ferryNodeArgs: values['ferry-node-args'].split(' ').filter((arg) => arg !== ''),
  };
}

interface Result {
  readonly msgsPerS: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly cpuUsPerMsg: number;
  readonly measured: number;
}

/** Runs JmsBench once; the broker's CPU time is read when the window opens and when all has arrived. */
function runScenario(classPath: string, broker: RunningBroker, url: string, s: Scenario, o: Options): Promise<Result> {
  const queue = `bench.openwire.${s.name}.${randomBytes(4).toString('hex')}`;
  const args = ['--url', url, '--queue', queue, '--producers', String(s.producers), '--persistent', String(s.persistent), '--async', String(s.async), '--duration', String(o.durationS), '--warmup', String(o.warmupS), '--rate', String(s.rate ?? 0)];
  const [java, javaArgs] = javaCommand(classPath, 'JmsBench', args);
  const child = spawn(java, javaArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    let cpuAtStart: number | undefined;
    let result: Record<string, number> | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (record['event'] === 'start') cpuAtStart = processCpuUs(broker.pid);
      if (record['event'] === 'result' && cpuAtStart !== undefined) {
        const cpuUs = processCpuUs(broker.pid) - cpuAtStart;
        result = { ...(record as Record<string, number>), cpuUs };
      }
      if (record['event'] === 'error') stderr += `${String(record['message'])}\n`;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result === undefined || code !== 0) {
        reject(new Error(`JmsBench ${s.name} failed (exit ${code})${result ? `: sent ${result['sent']}, received ${result['received']}` : ''}\n${stderr}`));
        return;
      }
      resolve({ msgsPerS: result['msgsPerS']!, p50Us: result['p50Us']!, p99Us: result['p99Us']!, p999Us: result['p999Us']!, cpuUsPerMsg: result['cpuUs']! / result['measured']!, measured: result['measured']! });
    });
  });
}

function ferryHasOpenWire(): boolean {
  return 'openwire' in (configSchema.parse({}).listeners as Record<string, unknown>);
}

async function measure(name: string, broker: RunningBroker, classPath: string, o: Options, results: Map<string, Map<string, Result>>): Promise<void> {
  const port = portFor(broker, 'openwire');
  if (port === undefined) throw new Error(`${name} has no OpenWire port`);
  const byScenario = new Map<string, Result>();
  results.set(name, byScenario);
  for (const s of o.scenarios) {
    const r = await runScenario(classPath, broker, `tcp://127.0.0.1:${port}`, s, o);
    byScenario.set(s.name, r);
    console.log(`${name.padEnd(9)} ${s.name.padEnd(28)} ${r.msgsPerS.toFixed(0).padStart(8)} msgs/s  p50 ${(r.p50Us / 1000).toFixed(2).padStart(7)} ms  p99 ${(r.p99Us / 1000).toFixed(2).padStart(7)} ms  p99.9 ${(r.p999Us / 1000).toFixed(2).padStart(7)} ms  CPU ${r.cpuUsPerMsg.toFixed(1).padStart(6)} µs/msg  (${r.measured} msgs)`);
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const missing = jmsClientMissing();
  if (missing !== undefined) throw new UsageError(`ActiveMQ's JMS client cannot run: ${missing}`);
  const classPath = compileJava(fileURLToPath(new URL('../../bench/openwire/', import.meta.url)));
  console.log(`JMS over OpenWire, 1 KiB BytesMessage, AUTO_ACKNOWLEDGE, 1 consumer; ${o.warmupS} s warm-up, ${o.durationS} s window; ${os.cpus().length} cores`);
  const results = new Map<string, Map<string, Result>>();
  if (o.brokers.includes('ferry')) {
    if (!ferryHasOpenWire()) {
      console.log('ferry: skipped, its configuration has no openwire listener yet');
    } else {
      const ferry = await startFerry({ keepFolder: o.keep, nodeArgs: o.ferryNodeArgs });
      try {
        await measure('ferry', ferry, classPath, o, results);
      } finally {
        await ferry.stop();
      }
    }
  }
  if (o.brokers.includes('activemq')) {
    if (!activeMqInstalled(o.activeMqHome)) {
      console.log(`activemq: not installed in ${o.activeMqHome}, skipped`);
    } else {
      const amq = await startActiveMq({ home: o.activeMqHome, keepFolder: o.keep, openwire: true });
      try {
        await measure('activemq', amq, classPath, o, results);
      } finally {
        await amq.stop();
      }
    }
  }
  const ferry = results.get('ferry');
  const amq = results.get('activemq');
  if (ferry !== undefined && amq !== undefined) {
    console.log('\nFerry / ActiveMQ: msgs/s (higher is better), p50, p99, p99.9 and CPU per message (lower is better)');
    for (const s of o.scenarios) {
      const f = ferry.get(s.name)!;
      const a = amq.get(s.name)!;
      console.log(`${s.name.padEnd(28)} ${(f.msgsPerS / a.msgsPerS).toFixed(2)}x  p50 ${(f.p50Us / a.p50Us).toFixed(2)}x  p99 ${(f.p99Us / a.p99Us).toFixed(2)}x  p99.9 ${(f.p999Us / a.p999Us).toFixed(2)}x  CPU ${(f.cpuUsPerMsg / a.cpuUsPerMsg).toFixed(2)}x`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(err instanceof UsageError ? 2 : 1);
});
