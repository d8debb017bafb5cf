import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Broker, type ConsumerHandle, type CoreConnection, type Delivery, type Destination } from '../../src/core/index.js';
import { JournalStore } from '../../src/store/index.js';
import { browseAll, consume } from '../helpers/core-consumer.js';

// Bodies past the cache limit wait in the journal; these tests check that they come back whole, in
// order, through every path that needs a body: in-order dispatch, selectors, redelivery, dead letters,
// a restart.

const KIB = 1024;

function bodyOf(i: number, size = KIB): Buffer {
  const body = Buffer.alloc(size, i % 251);
  body.write(`message ${i};`, 0);
  return body;
}

async function openBroker(dir: string, bodyCacheSize: number, extra: Partial<ConstructorParameters<typeof Broker>[0]> = {}): Promise<Broker> {
  const broker = new Broker({ store: new JournalStore({ dir, compactInterval: 0 }), bodyCacheSize, ...extra });
  await broker.start();
  return broker;
}

async function sendAll(connection: CoreConnection, destination: Destination, count: number, size = KIB, headers: (i: number) => { expiration?: number; properties?: Map<string, string> } = () => ({})): Promise<void> {
  const session = connection.createSession();
  let window: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const durable = session.send({ destination, body: bodyOf(i, size), persistent: true, ...headers(i) });
    if (durable !== null) window.push(durable);
    if (window.length >= 100) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  // evictions run after the send that made them
  await new Promise((resolve) => setImmediate(resolve));
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref())]);
}

function assertBodies(received: Buffer[], expected: number[], size = KIB): void {
  assert.equal(received.length, expected.length);
  for (let k = 0; k < expected.length; k++) {
    if (!received[k]!.equals(bodyOf(expected[k]!, size))) assert.fail(`delivery ${k} should be message ${expected[k]}, got "${received[k]!.subarray(0, 16).toString()}" (${received[k]!.length} bytes)`);
  }
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

test('a backlog larger than the body cache waits on disk and comes back whole and in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bodies-'));
  const broker = await openBroker(dir, 64 * KIB);
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const queue: Destination = { kind: 'queue', name: 'backlog' };
  await sendAll(connection, queue, 2000);

  const before = broker.stats().messageBodies;
  assert.ok(before.residentBytes <= 64 * KIB, `${before.residentBytes} bytes of bodies in memory, the limit is ${64 * KIB}`);
  assert.ok(before.onDisk >= 2000 - 64, `${before.onDisk} bodies on disk only`);

  const { done } = consume(connection, queue, 2000);
  assertBodies(await within(done, 20_000, 'the backlog'), range(2000));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = broker.stats().messageBodies;
  assert.ok(after.readAhead >= 1900, `${after.readAhead} bodies read ahead of delivery`);
  assert.equal(after.onDisk, 0);
  assert.equal(after.residentBytes, 0, 'acknowledged messages leave the cache');
  await broker.stop();
});

test('after a restart only the cache size of bodies is loaded, and the rest are read back on delivery', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bodies-'));
  let broker = await openBroker(dir, 64 * KIB);
  await sendAll(await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }), { kind: 'queue', name: 'kept' }, 1500);
  await broker.stop();

  broker = await openBroker(dir, 64 * KIB);
  const recovered = broker.stats().messageBodies;
  assert.ok(recovered.residentBytes <= 64 * KIB, `${recovered.residentBytes} bytes of bodies in memory after recovery`);
  assert.ok(recovered.onDisk >= 1500 - 64, `${recovered.onDisk} bodies left on disk by recovery`);
  const { done } = consume(await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }), { kind: 'queue', name: 'kept' }, 1500);
  assertBodies(await within(done, 20_000, 'the recovered backlog'), range(1500));
  await broker.stop();
});

test('selectors, redelivery and dead letters read bodies that wait on disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bodies-'));
  let now = Date.now();
  const broker = await openBroker(dir, 16 * KIB, { clock: () => now, expirySweepInterval: 60_000 });
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });

  // selectors: the selective dispatch reads each body when it hands the message over
  const shards: Destination = { kind: 'queue', name: 'shards' };
  await sendAll(connection, shards, 400, KIB, (i) => ({ properties: new Map([['shard', String(i % 2)]]) }));
  assert.ok(broker.stats().messageBodies.onDisk > 300);
  const odd = consume(connection, shards, 200, { selector: "shard = '1'" });
  assertBodies(await within(odd.done, 10_000, 'odd shard'), range(200).map((k) => 2 * k + 1));

  // redelivery: a consumer that leaves without acknowledging gives the messages back, bodies and all
  const again: Destination = { kind: 'queue', name: 'again' };
  await sendAll(connection, again, 300);
  const first = consume(connection, again, 300, { acknowledge: false, prefetch: 300 });
  assertBodies(await within(first.done, 10_000, 'first delivery'), range(300));
  first.consumer.close();
  const second = consume(connection, again, 300);
  assertBodies(await within(second.done, 10_000, 'redelivery'), range(300));

  // dead letters: expired messages move to the DLQ as copies, read from disk
  const expiring: Destination = { kind: 'queue', name: 'expiring' };
  await sendAll(connection, expiring, 300, KIB, () => ({ expiration: now + 1000 }));
  now += 2000;
  const dlq = consume(connection, { kind: 'queue', name: 'ActiveMQ.DLQ' }, 300);
  // a consumer on the expired queue makes dispatch find them stale
  consume(connection, expiring, 1);
  assertBodies(await within(dlq.done, 10_000, 'dead letters'), range(300));

  // browsing reads each body on demand, and does not keep them: a long queue browsed does not fill memory
  const browsed: Destination = { kind: 'queue', name: 'browsed' };
  await sendAll(connection, browsed, 200);
  const before = broker.stats().messageBodies;
  assertBodies(await browseAll(connection, browsed), range(200));
  const after = broker.stats().messageBodies;
  assert.ok(after.readOnDemand - before.readOnDemand >= 150, `${after.readOnDemand - before.readOnDemand} bodies read on demand`);
  assert.ok(after.residentBytes <= 16 * KIB, `${after.residentBytes} bytes of bodies in memory after the browse`);
  await broker.stop();
});

test('a message also held by a non-durable subscriber keeps its body in memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bodies-'));
  const broker = await openBroker(dir, 8 * KIB);
  const subscriberConnection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' }, clientId: 'away' });
  const durable = subscriberConnection.createSession().subscribe({
    destination: { kind: 'topic', name: 'prices' },
    durable: { name: 'd' },
    ackMode: 'individual',
    sink: { deliver: () => {}, isWritable: () => true, onWritable: () => {} },
  });
  durable.close();
  subscriberConnection.close();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  // a non-durable subscriber that never acknowledges: its copies are in memory only
  const live = consume(connection, { kind: 'topic', name: 'prices' }, 200, { acknowledge: false, prefetch: 1 });
  await sendAll(connection, { kind: 'topic', name: 'prices' }, 200);
  assert.equal(broker.stats().messageBodies.onDisk, 0, 'no body left memory while a non-durable subscriber holds it');
  live.consumer.close();

  // then only the durable subscription holds the next ones: they may leave memory
  await sendAll(connection, { kind: 'topic', name: 'prices' }, 200);
  assert.ok(broker.stats().messageBodies.onDisk > 150);
  const back = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' }, clientId: 'away' });
  const bodies: Buffer[] = [];
  const all = new Promise<void>((resolve) => {
    const consumer = back.createSession().subscribe({
      destination: { kind: 'topic', name: 'prices' },
      durable: { name: 'd' },
      ackMode: 'individual',
      sink: {
        deliver: (d) => {
          bodies.push(Buffer.from(d.message.body));
          consumer.acknowledge(d.tag);
          if (bodies.length === 400) resolve();
        },
        isWritable: () => true,
        onWritable: () => {},
      },
    });
  });
  await within(all, 10_000, 'the durable subscriber');
  assertBodies(bodies, [...range(200), ...range(200)]);
  await broker.stop();
});

test('200 MiB waiting on disk holds memory near the cache size', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bodies-'));
  const limit = 8 * 1024 * KIB;
  const broker = await openBroker(dir, limit);
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  gc();
  const baseline = process.memoryUsage().arrayBuffers;
  await sendAll(connection, { kind: 'queue', name: 'big' }, 3200, 64 * KIB);
  gc();
  const grown = process.memoryUsage().arrayBuffers - baseline;
  console.log(`200 MiB backlog: ${(grown / 1024 / 1024).toFixed(1)} MiB more in buffers, ${(broker.stats().messageBodies.residentBytes / 1024 / 1024).toFixed(1)} MiB of bodies cached`);
  assert.ok(grown < 64 * 1024 * KIB, `buffers grew by ${grown} bytes for a 200 MiB backlog with an 8 MiB cache`);
  const { done } = consume(connection, { kind: 'queue', name: 'big' }, 3200);
  const bodies = await within(done, 60_000, 'the 200 MiB backlog');
  assertBodies(bodies, range(3200), 64 * KIB);
  await broker.stop();
});

test('bodies on disk stay whole while compaction moves their records, consumers come and go and a restart comes in between', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bodies-'));
  // small segments and frequent compaction: records of waiting messages move while their bodies are on disk
  let moved = 0;
  const onEvent = (event: { readonly event: string; readonly [key: string]: unknown }): void => {
    if (event.event === 'journal.compacted') moved += Number(event['moved'] ?? 0);
  };
  const open = async (): Promise<Broker> => {
    const broker = new Broker({ store: new JournalStore({ dir, segmentSize: 96 * KIB, compactInterval: 20, compactBelow: 0.6, onEvent }), bodyCacheSize: 24 * KIB });
    await broker.start();
    return broker;
  };
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const queue: Destination = { kind: 'queue', name: 'churn' };
  const total = 3000;
  const acknowledged = new Set<number>();
  const check = (delivery: Delivery): number => {
    const i = Number(/^message (\d+);/.exec(delivery.message.body.toString('latin1', 0, 20))?.[1]);
    if (!delivery.message.body.equals(bodyOf(i, 700))) assert.fail(`message ${i} came back damaged`);
    return i;
  };
  /** Takes up to `count` messages, acknowledging most and leaving the rest unacknowledged when it closes. */
  const session = async (broker: Broker, count: number): Promise<void> => {
    const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
    let taken = 0;
    await new Promise<void>((resolve) => {
      const consumer: ConsumerHandle = connection.createSession().subscribe({
        destination: queue,
        ackMode: 'individual',
        prefetch: 1 + Math.floor(random() * 200),
        sink: {
          deliver: (delivery) => {
            const i = check(delivery);
            // past its share it takes no more: those come back when it closes
            if (++taken > count) return;
            if (random() < 0.9) {
              setImmediate(() => {
                if (consumer.isClosed) return;
                consumer.acknowledge(delivery.tag);
                assert.equal(acknowledged.has(i), false, `message ${i} acknowledged twice`);
                acknowledged.add(i);
              });
            }
            if (taken === count) setTimeout(resolve, 5);
          },
          isWritable: () => true,
          onWritable: () => {},
        },
      });
      // fewer waiting than asked for: what came is enough
      setTimeout(resolve, 1000);
    });
    connection.close();
  };

  let broker = await open();
  const producer = (await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } })).createSession();
  let window: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const durable = producer.send({ destination: queue, body: bodyOf(i, 700), persistent: true });
    if (durable !== null) window.push(durable);
    if (window.length >= 50) {
      await Promise.all(window);
      window = [];
      if (i % 500 === 499) await session(broker, 50 + Math.floor(random() * 150));
    }
  }
  await Promise.all(window);
  await broker.stop();

  broker = await open();
  const recoveredOnDisk = broker.stats().messageBodies.onDisk;
  assert.ok(recoveredOnDisk > 500, `${recoveredOnDisk} bodies left on disk by recovery`);
  while (acknowledged.size < total) {
    const before = acknowledged.size;
    await session(broker, 50 + Math.floor(random() * 600));
    if (acknowledged.size === before && broker.stats().queues.find((q) => q.name === 'churn')?.pending === 0) break;
  }
  assert.equal(acknowledged.size, total, 'every message acknowledged once');
  assert.ok(moved > 100, `compaction moved ${moved} records`);
  const bodies = broker.stats().messageBodies;
  assert.equal(bodies.onDisk, 0);
  assert.ok(bodies.readAhead + bodies.readOnDemand >= recoveredOnDisk, `${bodies.readAhead} bodies read ahead, ${bodies.readOnDemand} on demand`);
  await broker.stop();
});
