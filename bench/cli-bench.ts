// `ferry bench` against Ferry and against ActiveMQ in one run: the operators' load tool is a client
// like any other, so the same scenarios run against both brokers, one after the other, and the
// figures come out as ratios. Each scenario runs --rounds times per broker; medians are compared.

import { spawn } from 'node:child_process';
import { DEFAULT_ACTIVEMQ_HOME, startActiveMq } from './activemq.js';
import type { RunningBroker } from './broker.js';
import { FERRY_MAIN, startFerry } from './ferry.js';
import { commandLine, positive } from './args.js';

const USAGE = `usage: node dist/bench/cli-bench.js [--rounds 3] [--messages 20000] [--activemq-home /usr/share/activemq]`;

interface Result {
  sendRate: number;
  receiveRate: number;
  sent: number;
  received: number;
  expected: number;
  latencyMs: { p50: number; p99: number };
}

interface Scenario {
  name: string;
  args(broker: RunningBroker, messages: number, tag: string): string[];
}

const scenarios: Scenario[] = [
  { name: 'STOMP queue, non-persistent, 1 to 1', args: (b, n, tag) => ['--url', `stomp://${b.host}:${b.stompPort}`, '--messages', String(n), '--destination', `queue://cli.bench.np.${tag}`] },
  { name: 'STOMP queue, persistent, 2 to 2', args: (b, n, tag) => ['--url', `stomp://${b.host}:${b.stompPort}`, '--messages', String(n), '--persistent', '--producers', '2', '--consumers', '2', '--destination', `queue://cli.bench.p.${tag}`] },
  { name: 'MQTT topic, QoS 1, 1 to 2', args: (b, n, tag) => ['--url', `mqtt://${b.host}:${b.ports?.['mqtt']}`, '--messages', String(n / 2), '--persistent', '--consumers', '2', '--destination', `topic://cli.bench.mqtt.${tag}`] },
];

function runCli(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY_MAIN, 'bench', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`ferry bench ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(broker: RunningBroker, rounds: number, messages: number): Promise<Map<string, { rate: number; p50: number; p99: number }>> {
  const figures = new Map<string, { rate: number; p50: number; p99: number }>();
  for (const scenario of scenarios) {
    const runs: Result[] = [];
    for (let round = 0; round < rounds; round++) {
      const r = await runCli(scenario.args(broker, messages, `${broker.name}${round}${Date.now().toString(36)}`));
      if (r.received !== r.expected) throw new Error(`${broker.name} ${scenario.name}: ${r.received} of ${r.expected} arrived`);
      runs.push(r);
    }
    const figure = { rate: median(runs.map((r) => r.receiveRate)), p50: median(runs.map((r) => r.latencyMs.p50)), p99: median(runs.map((r) => r.latencyMs.p99)) };
    figures.set(scenario.name, figure);
    process.stdout.write(`${broker.name.padEnd(8)} ${scenario.name.padEnd(38)} ${Math.round(figure.rate).toString().padStart(7)} msg/s  p50 ${figure.p50.toFixed(2)} ms  p99 ${figure.p99.toFixed(2)} ms  (rates ${runs.map((r) => Math.round(r.receiveRate)).join(', ')})\n`);
  }
  return figures;
}

async function main(): Promise<void> {
  const { rounds, messages, activemqHome } = commandLine(USAGE, { rounds: { type: 'string' }, messages: { type: 'string' }, 'activemq-home': { type: 'string' } }, (values) => ({
    rounds: positive('rounds', values.rounds, 3, true),
    messages: positive('messages', values.messages, 20_000, true),
    activemqHome: values['activemq-home'] ?? DEFAULT_ACTIVEMQ_HOME,
  }));
  const ferry = await startFerry();
  let ferryFigures;
  try {
    ferryFigures = await measure(ferry, rounds, messages);
  } finally {
    await ferry.stop();
  }
  const activemq = await startActiveMq({ home: activemqHome });
  let activemqFigures;
  try {
    activemqFigures = await measure(activemq, rounds, messages);
  } finally {
    await activemq.stop();
  }
  process.stdout.write('\nFerry / ActiveMQ (medians; rate above 1 and latency below 1 favour Ferry)\n');
  for (const { name } of scenarios) {
    const f = ferryFigures.get(name)!;
    const a = activemqFigures.get(name)!;
    process.stdout.write(`${name.padEnd(38)} rate ${(f.rate / a.rate).toFixed(2)}x  p50 ${(f.p50 / a.p50).toFixed(2)}x  p99 ${(f.p99 / a.p99).toFixed(2)}x\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
