// What Ferry's own AMQP 1.0 code costs per message, without sockets, the disk or the rest of the
// broker: a rhea message as `queue-1-1-amqp-rhea-persistent` sends it (durable, four application
// properties, a 1 KiB body) is decoded from a view into a 64 KiB chunk, as a socket read hands it
// over, built into a core message, and written as a delivery into a write slab (the message's head
// made once, then the body). Run it against two builds to see what a change to the codec or the
// mapping gives; the benchmark's broker CPU per message also holds core, the journal and the socket.

import { createRequire } from 'node:module';
import { buildMessage } from '../src/core/message.js';
import type { Destination } from '../src/core/index.js';
import { decodeMessage, headerSize, messageHead } from '../src/protocols/amqp/mapping.js';
import { transferSize, writeTransfer } from '../src/protocols/amqp/transfers.js';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node dist/bench/amqp-path.js [--rounds 7] [--messages 300000]`;

const require = createRequire(import.meta.url);
const rhea = require('rhea') as { message: { encode(message: unknown): Buffer } };

const { rounds, perRound } = commandLine(USAGE, { rounds: { type: 'string' }, messages: { type: 'string' } }, (values) => ({
  rounds: positive('rounds', values.rounds, 7, true),
  perRound: positive('messages', values.messages, 300_000, true),
}));

const body = Buffer.alloc(1024, 'x');
const BATCH = 50;
const payloads: Buffer[] = [];
for (let i = 0; i < BATCH; i++) {
  payloads.push(rhea.message.encode({ durable: true, application_properties: { producer: '0', seq: String(100_000 + i), ts: String(1e12 + i * 37), phase: 'm' }, body }));
}
// 20 bytes stand for each transfer's frame head and performative
const chunk = Buffer.concat(payloads.flatMap((p) => [Buffer.alloc(20), p]));
const views: Buffer[] = [];
let at = 0;
for (const p of payloads) {
  at += 20;
  views.push(chunk.subarray(at, at + p.length));
  at += p.length;
}

const destination: Destination = { kind: 'queue', name: 'bench.amqp-path' };
const slab = Buffer.allocUnsafe(64 * 1024);
const SLOT = 1400;
let written = 0;

function oneMessage(i: number): void {
  const { fields } = decodeMessage(views[i % BATCH]!, 1e12);
  fields.destination = destination;
  const message = buildMessage(fields, `ID:ferry-bench-1:${i}`, 1e12);
  const messageBody = message.body;
  const head = messageHead(message, messageBody);
  const size = transferSize(0, i, i, headerSize(message, 0, true, 0) + head.length + messageBody.length);
  const offset = (i % 40) * SLOT;
  writeTransfer(slab.subarray(offset, offset + size), 0, 0, i, i, false, message, 0, true, 0, head, messageBody);
  written += size;
}

for (let i = 0; i < 200_000; i++) oneMessage(i);
const cpuBefore = process.cpuUsage();
const walls: number[] = [];
for (let r = 0; r < rounds; r++) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < perRound; i++) oneMessage(i);
  walls.push(Number(process.hrtime.bigint() - started) / perRound / 1000);
}
const cpu = process.cpuUsage(cpuBefore);
walls.sort((a, b) => a - b);
console.log(
  `decode + build + delivery of a 1 KiB rhea message: median ${walls[Math.floor(rounds / 2)]!.toFixed(3)} µs, fastest ${walls[0]!.toFixed(3)} µs; ` +
    `process CPU (garbage collector threads too) ${((cpu.user + cpu.system) / (rounds * perRound)).toFixed(3)} µs (${written > 0 ? rounds : 0} rounds of ${perRound})`,
);
