import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker, type ConsumerHandle, type CoreConnection, type Delivery, type DeliverySink, type SubscribeOptions } from '../../src/core/index.js';
import { MemoryStore } from '../../src/store/index.js';

/** A sink that records deliveries; writability can be switched to exercise backpressure. */
class RecordingSink implements DeliverySink {
  readonly deliveries: Delivery[] = [];
  writable = true;
  private resumers: (() => void)[] = [];

  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
  }
  isWritable(): boolean {
    return this.writable;
  }
  onWritable(resume: () => void): void {
    this.resumers.push(resume);
  }
  drain(): void {
    this.writable = true;
    const r = this.resumers;
    this.resumers = [];
    for (const f of r) f();
  }
  bodies(): string[] {
    return this.deliveries.map((d) => d.message.body.toString());
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function startedBroker(store = new MemoryStore()): Promise<{ broker: Broker; store: MemoryStore }> {
  const broker = new Broker({ store });
  await broker.start();
  return { broker, store };
}

function subscribe(connection: CoreConnection, options: Omit<SubscribeOptions, 'sink'>): { consumer: ConsumerHandle; sink: RecordingSink } {
  const sink = new RecordingSink();
  const consumer = connection.createSession().subscribe({ ...options, sink });
  return { consumer, sink };
}

function send(connection: CoreConnection, queue: string, body: string, persistent = true, txId?: string): Promise<void> | null {
  return connection.createSession().send({ destination: { kind: 'queue', name: queue }, body: Buffer.from(body), persistent }, txId);
}

test('persistent messages survive a restart on the same store, in order, and non-persistent ones do not', async () => {
  const { broker, store } = await startedBroker();
  const producer = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  for (let i = 1; i <= 5; i++) await send(producer, 'orders', `p${i}`, true);
  send(producer, 'orders', 'transient', false);
  await broker.stop();

  const { broker: again } = await startedBroker(store);
  const consumer = await again.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const { sink } = subscribe(consumer, { destination: { kind: 'queue', name: 'orders' }, ackMode: 'individual' });
  await tick();
  assert.deepEqual(sink.bodies(), ['p1', 'p2', 'p3', 'p4', 'p5']);
  await again.stop();
});

test('acknowledged messages leave the store, message record with the last reference', async () => {
  const { broker, store } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const { consumer, sink } = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'client' });
  const baseline = store.stats().records;
  for (let i = 0; i < 10; i++) await send(connection, 'q', `m${i}`);
  await tick();
  assert.equal(sink.deliveries.length, 10);
  // a message record and a reference record each, the queue's delivery mark, and the sequence ceiling written with the first reference
  assert.equal(store.stats().records, baseline + 22);
  consumer.acknowledge(sink.deliveries[9]!.tag);
  assert.equal(store.stats().records, baseline + 2, 'a cumulative ack of the last removes all ten');
  await broker.stop();
});

test('a closed consumer returns its unacknowledged messages, redelivered, and the count survives a restart', async () => {
  const { broker, store } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  await send(connection, 'q', 'once');
  const first = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual' });
  await tick();
  assert.equal(first.sink.deliveries[0]?.deliveryCount, 1);
  first.consumer.close();
  const second = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual' });
  await tick();
  assert.equal(second.sink.deliveries[0]?.redelivered, true);
  assert.equal(second.sink.deliveries[0]?.deliveryCount, 2);
  await broker.stop();

  const { broker: again } = await startedBroker(store);
  const later = subscribe(await again.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }), { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual' });
  await tick();
  assert.equal(later.sink.deliveries[0]?.deliveryCount, 3, 'the stop returned it once more, and the store kept the count');
  await again.stop();
});

test('prefetch limits what is in flight; an ack makes room', async () => {
  const { broker } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  for (let i = 0; i < 5; i++) send(connection, 'q', `m${i}`, false);
  const { consumer, sink } = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual', prefetch: 2 });
  await tick();
  assert.deepEqual(sink.bodies(), ['m0', 'm1']);
  consumer.acknowledge(sink.deliveries[0]!.tag);
  assert.deepEqual(sink.bodies(), ['m0', 'm1', 'm2']);
  await broker.stop();
});

test('a sink that is not writable is skipped until it drains, and others go on', async () => {
  const { broker } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const slow = subscribe(connection, { destination: { kind: 'queue', name: 'q' } });
  const fast = subscribe(connection, { destination: { kind: 'queue', name: 'q' } });
  await tick();
  slow.sink.writable = false;
  for (let i = 0; i < 4; i++) send(connection, 'q', `m${i}`, false);
  assert.equal(slow.sink.deliveries.length, 0);
  assert.deepEqual(fast.sink.bodies(), ['m0', 'm1', 'm2', 'm3']);
  slow.sink.writable = true;
  fast.sink.writable = false;
  send(connection, 'q', 'm4', false);
  slow.sink.drain();
  assert.deepEqual(slow.sink.bodies(), ['m4']);
  await broker.stop();
});

test('a committed transaction writes its sends atomically; a rolled back one leaves nothing', async () => {
  const { broker, store } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const baseline = store.stats().records;
  connection.begin('t1');
  send(connection, 'q', 'a', true, 't1');
  send(connection, 'q', 'b', true, 't1');
  // the queue record is written when the queue is first named; no message yet
  assert.equal(store.stats().records, baseline + 1);
  await connection.commit('t1');
  // two messages and their references, and the sequence ceiling written before the first reference
  assert.equal(store.stats().records, baseline + 6);
  connection.begin('t2');
  send(connection, 'q', 'c', true, 't2');
  connection.rollback('t2');
  assert.equal(store.stats().records, baseline + 6);
  await broker.stop();
});

test('an auto-acknowledging consumer of a transactional send leaves no record to resurrect on restart', async () => {
  const { broker, store } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const { sink } = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'auto' });
  await tick();
  connection.begin('t');
  send(connection, 'q', 'x', true, 't');
  await connection.commit('t');
  assert.deepEqual(sink.bodies(), ['x']);
  await broker.stop();
  const { broker: again } = await startedBroker(store);
  const later = subscribe(await again.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }), { destination: { kind: 'queue', name: 'q' } });
  await tick();
  assert.deepEqual(later.sink.bodies(), []);
  await again.stop();
});

test('rollback returns acknowledged deliveries in their original order, redelivered', async () => {
  const { broker } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  for (const body of ['a', 'b', 'c']) send(connection, 'q', body, false);
  const { consumer, sink } = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual', prefetch: 3 });
  await tick();
  connection.begin('t');
  consumer.acknowledge(sink.deliveries[2]!.tag, 't');
  consumer.acknowledge(sink.deliveries[0]!.tag, 't');
  connection.rollback('t');
  const redelivered = sink.deliveries.slice(3);
  assert.deepEqual(redelivered.map((d) => d.message.body.toString()), ['a', 'c']);
  assert.ok(redelivered.every((d) => d.redelivered));
  await broker.stop();
});

test('durable subscriptions keep persistent messages while away and across a restart', async () => {
  const { broker, store } = await startedBroker();
  const subscriber = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' }, clientId: 'c1' });
  const first = subscribe(subscriber, { destination: { kind: 'topic', name: 'prices.>' }, durable: { name: 'watch' } });
  first.consumer.close();
  subscriber.close();
  const producer = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const session = producer.createSession();
  for (let i = 0; i < 3; i++) await session.send({ destination: { kind: 'topic', name: `prices.eu.${i}` }, body: Buffer.from(`p${i}`), persistent: true });
  await session.send({ destination: { kind: 'topic', name: 'other' }, body: Buffer.from('no'), persistent: true });
  await broker.stop();

  const { broker: again } = await startedBroker(store);
  const back = await again.connect({ protocol: 'test', transport: { remoteAddress: 'here' }, clientId: 'c1' });
  const { sink } = subscribe(back, { destination: { kind: 'topic', name: 'prices.>' }, durable: { name: 'watch' } });
  await tick();
  assert.deepEqual(sink.bodies(), ['p0', 'p1', 'p2']);
  await assert.rejects(again.connect({ protocol: 'test', transport: { remoteAddress: 'here' }, clientId: 'c1' }), { code: 'FERRY_CLIENT_ID_IN_USE' });
  await again.stop();
});

test('topic subscriptions match * as one level and > as the rest; no-local skips own messages', async () => {
  const { broker } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const other = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const one = subscribe(connection, { destination: { kind: 'topic', name: 'a.*' } });
  const rest = subscribe(connection, { destination: { kind: 'topic', name: 'a.>' } });
  const exact = subscribe(connection, { destination: { kind: 'topic', name: 'a.b' }, noLocal: true });
  await tick();
  for (const [conn, name] of [[other, 'a.b'], [other, 'a.b.c'], [other, 'a'], [connection, 'a.b']] as const) {
    conn.createSession().send({ destination: { kind: 'topic', name }, body: Buffer.from(name) });
  }
  assert.deepEqual(one.sink.bodies(), ['a.b', 'a.b']);
  assert.deepEqual(rest.sink.bodies(), ['a.b', 'a.b.c', 'a.b']);
  assert.deepEqual(exact.sink.bodies(), ['a.b']);
  await broker.stop();
});

test('consumer priority: lower priority consumers get messages only when higher ones are full', async () => {
  const { broker } = await startedBroker();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const low = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual', prefetch: 10, priority: 1 });
  const high = subscribe(connection, { destination: { kind: 'queue', name: 'q' }, ackMode: 'individual', prefetch: 2, priority: 5 });
  await tick();
  for (let i = 0; i < 4; i++) send(connection, 'q', `m${i}`, false);
  assert.deepEqual(high.sink.bodies(), ['m0', 'm1']);
  assert.deepEqual(low.sink.bodies(), ['m2', 'm3']);
  await broker.stop();
});

test('an expired message is never delivered', async () => {
  let now = 1_000_000;
  const broker = new Broker({ store: new MemoryStore(), clock: () => now });
  await broker.start();
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  const session = connection.createSession();
  session.send({ destination: { kind: 'queue', name: 'q' }, body: Buffer.from('old'), expiration: now + 100 });
  session.send({ destination: { kind: 'queue', name: 'q' }, body: Buffer.from('fresh'), expiration: now + 10_000 });
  now += 500;
  const { sink } = subscribe(connection, { destination: { kind: 'queue', name: 'q' } });
  await tick();
  assert.deepEqual(sink.bodies(), ['fresh']);
  assert.equal(broker.stats().queues.find((q) => q.name === 'q')?.expired, 1);
  await broker.stop();
});
