// What Ferry's own OpenWire code and core cost per message, without sockets or the Java client: a
// producer's asynchronous 1 KiB BytesMessages (as ActiveMQ's client sends them in
// `async-non-persistent`, a long property each) arrive 50 to a chunk, as a socket read hands them
// over; core routes each to a queue with one consumer (prefetch 1,000), whose dispatch is written
// into a write slab; then the consumer's acknowledgements arrive 50 to a chunk, one per message, as
// the client sends them in AUTO_ACKNOWLEDGE. Run it against two builds to see what a change gives;
// `openwire.js`'s broker CPU per message also holds the sockets, and moves with the client's pace.

import { Broker } from '../src/core/broker.js';
import { silentLogger } from '../src/core/index.js';
import { T, type DataStructure } from '../src/protocols/openwire/commands.js';
import { DataWriter } from '../src/protocols/openwire/data-stream.js';
import { CommandSplitter, LooseCodec } from '../src/protocols/openwire/marshal.js';
import { createOpenWireAdapter, defaultOpenWireOptions } from '../src/protocols/openwire/index.js';
import { writeProperties, writeTypedMap } from '../src/protocols/openwire/primitives.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { TransportConnection, TransportHandler } from '../src/transport/index.js';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node dist/bench/openwire-path.js [--rounds 7] [--messages 50000]`;

const { rounds, perRound } = commandLine(USAGE, { rounds: { type: 'string' }, messages: { type: 'string' } }, (values) => ({
  rounds: positive('rounds', values.rounds, 7, true),
  perRound: positive('messages', values.messages, 50_000, true),
}));
const CHUNK = 50;

const codec = new LooseCodec(12);

/** A transport without a socket: what the broker writes goes into a reused slab, as over TCP under load. */
class SlabTransport implements TransportConnection {
  static nextId = 1;
  readonly id = SlabTransport.nextId++;
  readonly remoteAddress = '127.0.0.1:1';
  readonly pendingBytes = 0;
  readonly closed = false;
  handler: TransportHandler | undefined;
  written = 0;
  /** What the broker wrote, decoded, while `keep` is set (the handshake); counted only after. */
  keep = true;
  readonly commands: DataStructure[] = [];
  private readonly splitter = new CommandSplitter(1 << 24, (buffer, start, end) => this.commands.push(codec.decode(buffer, start, end)!));
  private readonly slab = Buffer.allocUnsafe(1 << 20);
  private at = 0;

  /** Until the handshake is done, everything is written whole, to be decoded. */
  write(data: Buffer | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.keep) {
      this.written += bytes.length;
      this.splitter.push(Buffer.from(bytes));
      return;
    }
    // as a socket's connection joins the small writes of a turn
    bytes.copy(this.room(bytes.length));
  }

  reserve(size: number): Buffer | undefined {
    return this.keep ? undefined : this.room(size);
  }

  private room(size: number): Buffer {
    if (this.at + size > this.slab.length) this.at = 0;
    const room = this.slab.subarray(this.at, this.at + size);
    this.at += size;
    this.written += size;
    return room;
  }

  isWritable(): boolean {
    return true;
  }

  onWritable(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {}

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
  }

  push(...structures: DataStructure[]): void {
    this.handler!.data(Buffer.concat(structures.map((s) => codec.encode(s))));
  }
}

function clientWireFormat(): DataStructure {
  const writer = new DataWriter();
  writeTypedMap(writer, new Map([
    ['TightEncodingEnabled', { t: 'boolean', v: false }],
    ['CacheEnabled', { t: 'boolean', v: false }],
    ['MaxInactivityDuration', { t: 'long', v: 0n }],
  ]));
  return { type: T.WIREFORMAT_INFO, magic: Buffer.from('ActiveMQ'), version: 12, marshalledProperties: writer.finish() };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function open(transport: SlabTransport, connectionId: string, commandId: number, last: DataStructure): Promise<void> {
  adapter.attach(transport, broker);
  transport.push(
    clientWireFormat(),
    { type: T.CONNECTION_INFO, commandId, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId }, clientId: connectionId },
    { type: T.SESSION_INFO, commandId: commandId + 1, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId, value: 1 } },
    { ...last, commandId: commandId + 2, responseRequired: true },
  );
  for (let i = 0; i < 100 && transport.commands.filter((c) => c.type === T.RESPONSE).length < 3; i++) await settle();
  const answers = transport.commands.filter((c) => c.type === T.RESPONSE || c.type === T.EXCEPTION_RESPONSE);
  if (answers.length < 3 || answers.some((c) => c.type !== T.RESPONSE)) throw new Error(`${connectionId} did not open: ${JSON.stringify(answers)}`);
  transport.keep = false;
}

const broker = new Broker({ store: new MemoryStore() });
await broker.start();
const adapter = createOpenWireAdapter(defaultOpenWireOptions, silentLogger);
const destination = { type: T.QUEUE, physicalName: 'bench.openwire-path' };
const producerId = { type: T.PRODUCER_ID, connectionId: 'ID:bench-producer', sessionId: 1, value: 1 };
const consumerId = { type: T.CONSUMER_ID, connectionId: 'ID:bench-consumer', sessionId: 1, value: 1 };
const producer = new SlabTransport();
const consumer = new SlabTransport();
await open(producer, 'ID:bench-producer', 1, { type: T.PRODUCER_INFO, producerId, destination, windowSize: 0 });
await open(consumer, 'ID:bench-consumer', 1, { type: T.CONSUMER_INFO, consumerId, destination, prefetchSize: 1000 });

const body = Buffer.alloc(1024, 'x');
let sequence = 0;
let commandId = 10;

/** One round's chunks: messages, and the acknowledgement of each (the dispatch sequence is the message's, one consumer). */
function chunks(count: number): { sends: Buffer[]; acks: Buffer[] } {
  const sends: Buffer[] = [];
  const acks: Buffer[] = [];
  for (let from = 0; from < count; from += CHUNK) {
    const send: Buffer[] = [];
    const ack: Buffer[] = [];
    for (let i = from; i < Math.min(count, from + CHUNK); i++) {
      sequence++;
      const messageId = { type: T.MESSAGE_ID, textView: null, producerId, producerSequenceId: sequence, brokerSequenceId: 0 };
      send.push(codec.encode({
        type: T.BYTES_MESSAGE, commandId: commandId++, responseRequired: false, producerId, destination, messageId,
        persistent: false, priority: 4, timestamp: 1e12 + sequence, content: body,
        marshalledProperties: writeProperties([['sent', BigInt(sequence) * 1000n]]),
      }));
      const delivered = { ...messageId, brokerSequenceId: sequence };
      ack.push(codec.encode({ type: T.MESSAGE_ACK, commandId: commandId++, responseRequired: false, destination, consumerId, ackType: 2, firstMessageId: delivered, lastMessageId: delivered, messageCount: 1 }));
    }
    sends.push(Buffer.concat(send));
    acks.push(Buffer.concat(ack));
  }
  return { sends, acks };
}

async function round(count: number): Promise<{ wall: number; cpu: number }> {
  const { sends, acks } = chunks(count);
  const dispatchedBefore = consumer.written;
  await settle();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < sends.length; i++) {
    producer.handler!.data(sends[i]!);
    consumer.handler!.data(acks[i]!);
  }
  await settle();
  const wall = Number(process.hrtime.bigint() - started) / count / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (consumer.written - dispatchedBefore < count * body.length) throw new Error(`only ${consumer.written - dispatchedBefore} bytes dispatched for ${count} messages`);
  return { wall, cpu: (cpu.user + cpu.system) / count };
}

await round(perRound);
const walls: number[] = [];
const cpus: number[] = [];
for (let r = 0; r < rounds; r++) {
  const { wall, cpu } = await round(perRound);
  walls.push(wall);
  cpus.push(cpu);
  if (process.env.BENCH_VERBOSE) console.log(wall.toFixed(2), cpu.toFixed(2), (process.memoryUsage().heapUsed / 1e6).toFixed(0), consumer.written);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `OpenWire 1 KiB BytesMessage, receive + route + dispatch + acknowledge: median ${median(walls).toFixed(3)} µs, fastest ${Math.min(...walls).toFixed(3)} µs; ` +
    `process CPU (garbage collector threads too) median ${median(cpus).toFixed(3)} µs (${rounds} rounds of ${perRound})`,
);
await broker.stop();
