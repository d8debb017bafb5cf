// A network of brokers against one broker, in the same run: a STOMP producer sends persistent 1 KiB
// messages (receipts, a window of 200) and a consumer takes them (auto acknowledgement), either
// both on one Ferry broker, or the producer on A and the consumer on C of a line A <- B <- C (C's
// connector pulls from B, B's from A). Reported: messages per second end to end, and the brokers'
// CPU time per message (the line's is the sum of the three processes, and B's alone is one hop's
// cost). Aggregate: three producer/consumer pairs at once, all on one broker, or one pair on each
// of A, B and C (what a network adds when the load is spread over its brokers). Then the time for a
// backlog on B to follow a consumer that appears on C.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame } from '../src/protocols/stomp/index.js';
import { stopAll } from './children.js';
import { processCpuUs } from './cpu.js';
import { startFerry } from './ferry.js';
import { StompClient } from './stomp-client.js';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node dist/bench/network.js [--messages 20000] [--backlog 10000] [--rounds 3]`;

const { messages, backlog, rounds } = commandLine(USAGE, { messages: { type: 'string' }, backlog: { type: 'string' }, rounds: { type: 'string' } }, (values) => ({
  messages: positive('messages', values.messages, 20_000, true),
  backlog: positive('backlog', values.backlog, 10_000, true),
  rounds: positive('rounds', values.rounds, 3, true),
}));
const HOST = '127.0.0.1';
const BODY = Buffer.alloc(1024, 0x61);

type Ferry = Awaited<ReturnType<typeof startFerry>>;

/** A Ferry broker named `name` whose connectors pull from the STOMP ports in `from`. */
function startNode(name: string, from: readonly number[]): Promise<Ferry> {
  const folder = mkdtempSync(join(tmpdir(), 'ferry-bench-net-'));
  const config = join(folder, 'ferry.yaml');
  const connectors = from.map((port, i) => `    - name: c${i}\n      uris: ["stomp://${HOST}:${port}"]\n      prefetch: 1000\n`).join('');
  writeFileSync(config, `broker:\n  name: ${name}\nnetwork:\n  connectors:\n${connectors === '' ? '    []\n' : connectors}`);
  return startFerry({ config });
}

async function produce(port: number, queue: string, count: number): Promise<void> {
  const client = await StompClient.connect(HOST, port);
  client.version = '1.2';
  let confirmed = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const sendMore = (): void => {
      // a window of 200 unconfirmed sends
      while (sent < count && sent - confirmed < 200) {
        client.write(encodeFrame('SEND', [['destination', `/queue/${queue}`], ['persistent', 'true'], ['receipt', `s${sent++}`]], BODY, '1.2'));
      }
    };
    client.onReceipt = () => {
      if (++confirmed === count) resolve();
      else sendMore();
    };
    sendMore();
  });
  await client.close();
}

async function consume(port: number, queue: string, count: number): Promise<void> {
  const client = await StompClient.connect(HOST, port);
  let got = 0;
  await new Promise<void>((resolve) => {
    client.onMessage = () => {
      if (++got === count) resolve();
    };
    client.write(encodeFrame('SUBSCRIBE', [['id', '1'], ['destination', `/queue/${queue}`], ['ack', 'auto'], ['activemq.prefetchSize', '1000']], undefined, '1.2'));
  });
  await client.close();
}

/** Producer on `into`, consumer on `outOf`, at once; messages per second and CPU µs per message of `brokers`. */
async function run(into: Ferry, outOf: Ferry, brokers: readonly Ferry[], queue: string): Promise<{ rate: number; cpuUs: number[] }> {
  return runPairs([[into, outOf]], brokers, queue);
}

/** One producer and one consumer per pair, all at once, each pair on its own queue: all messages per second. */
async function runPairs(pairs: readonly (readonly [Ferry, Ferry])[], brokers: readonly Ferry[], queue: string): Promise<{ rate: number; cpuUs: number[] }> {
  const cpu0 = brokers.map((b) => processCpuUs(b.pid));
  const t0 = process.hrtime.bigint();
  await Promise.all(pairs.flatMap(([into, outOf], i) => [consume(outOf.stompPort, `${queue}.${i}`, messages), produce(into.stompPort, `${queue}.${i}`, messages)]));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const total = messages * pairs.length;
  return { rate: total / seconds, cpuUs: brokers.map((b, i) => (processCpuUs(b.pid) - cpu0[i]!) / total) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const single = await startNode('solo', []);
  const A = await startNode('A', []);
  const B = await startNode('B', [A.stompPort]);
  const C = await startNode('C', [B.stompPort]);
  const one: { rate: number; cpu: number }[] = [];
  const line: { rate: number; cpu: number; hop: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const s = await run(single, single, [single], `bench.one.${r}`);
    one.push({ rate: s.rate, cpu: s.cpuUs[0]! });
    const l = await run(A, C, [A, B, C], `bench.line.${r}`);
    line.push({ rate: l.rate, cpu: l.cpuUs.reduce((x, y) => x + y, 0), hop: l.cpuUs[1]! });
    console.log(`round ${r + 1}: one broker ${s.rate.toFixed(0)} msg/s, ${s.cpuUs[0]!.toFixed(0)} µs CPU/msg; A->B->C ${l.rate.toFixed(0)} msg/s, ${l.cpuUs.map((c) => c.toFixed(0)).join('+')} µs CPU/msg (A+B+C)`);
  }
  const oneRate = median(one.map((x) => x.rate));
  const lineRate = median(line.map((x) => x.rate));
  const oneCpu = median(one.map((x) => x.cpu));
  const lineCpu = median(line.map((x) => x.cpu));
  const hop = median(line.map((x) => x.hop));
  const spreadOne: number[] = [];
  const spreadThree: number[] = [];
  for (let r = 0; r < rounds; r++) {
    spreadOne.push((await runPairs([[single, single], [single, single], [single, single]], [single], `bench.agg1.${r}`)).rate);
    spreadThree.push((await runPairs([[A, A], [B, B], [C, C]], [A, B, C], `bench.agg3.${r}`)).rate);
    console.log(`round ${r + 1}: three pairs on one broker ${spreadOne[r]!.toFixed(0)} msg/s; one pair on each of A, B, C ${spreadThree[r]!.toFixed(0)} msg/s`);
  }
  console.log(`\n${messages} persistent 1 KiB messages, median of ${rounds} rounds`);
  console.log(`one broker:       ${oneRate.toFixed(0)} msg/s, broker CPU ${oneCpu.toFixed(0)} µs/msg`);
  console.log(`A -> B -> C:      ${lineRate.toFixed(0)} msg/s (${(lineRate / oneRate).toFixed(2)}x one broker), CPU of the three ${lineCpu.toFixed(0)} µs/msg (${(lineCpu / oneCpu).toFixed(2)}x)`);
  console.log(`one hop (B alone): ${hop.toFixed(0)} µs CPU per forwarded message (${(hop / oneCpu).toFixed(2)}x a single broker's per-message cost)`);
  const aggOne = median(spreadOne);
  const aggThree = median(spreadThree);
  console.log(`aggregate, three pairs: one broker ${aggOne.toFixed(0)} msg/s; spread over A, B, C ${aggThree.toFixed(0)} msg/s (${(aggThree / aggOne).toFixed(2)}x)`);

  // a backlog waiting on B, then a consumer on C: the time until C has had all of it
  await produce(B.stompPort, 'bench.move', backlog);
  const t0 = process.hrtime.bigint();
  await consume(C.stompPort, 'bench.move', backlog);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`backlog of ${backlog} on B follows a consumer on C in ${ms.toFixed(0)} ms (${((backlog / ms) * 1000).toFixed(0)} msg/s)`);
}

try {
  await main();
} finally {
  await stopAll();
}
