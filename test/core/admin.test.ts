/** The operator's controls (Broker.admin): moves, copies and retries as store transactions, deletes, pause, traffic. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker, type Destination } from '../../src/core/index.js';
import type { TransferMode } from '../../src/core/admin.js';
import { RateCounter } from '../../src/core/traffic.js';
import { FerryError } from '../../src/errors.js';
import { MemoryStore, type RecoveredState, type Store, type StoreStats } from '../../src/store/index.js';
import { Client, queue, settle, startBroker } from './harness.js';

/**
 * A store that dies at its `crashAt`th write once armed: that write and every later one are lost,
 * as if the process had been killed there. What it had committed before lives on in `inner`,
 * which the next broker opens, as a restarted process would open the same files.
 */
class CrashingStore implements Store {
  private writes = 0;
  private crashAt = Number.POSITIVE_INFINITY;
  crashed = false;

  constructor(readonly inner: MemoryStore) {}

  arm(crashAt: number): void {
    this.writes = 0;
    this.crashAt = crashAt;
  }

  /** Writes seen since `arm`. */
  get written(): number {
    return this.writes;
  }

  private write(op: () => void): void {
    if (this.crashed) throw new FerryError('FERRY_STORE_FAILED', 'the process is gone');
    if (++this.writes >= this.crashAt) {
      this.crashed = true;
      throw new FerryError('FERRY_STORE_FAILED', 'killed here');
    }
    op();
  }

  open(): Promise<RecoveredState> {
    return this.inner.open();
  }



  add(id: number, type: number, data: Buffer, txId?: number): void {
    this.write(() => this.inner.add(id, type, data, txId));
  }
  update(id: number, type: number, data: Buffer, txId?: number): void {
    this.write(() => this.inner.update(id, type, data, txId));
  }
  delete(id: number, txId?: number): void {
    this.write(() => this.inner.delete(id, txId));
  }
  prepare(txId: number, data: Buffer): void {
    this.write(() => this.inner.prepare(txId, data));
  }
  commit(txId: number): void {
    this.write(() => this.inner.commit(txId));
  }
  rollback(txId: number): void {
    this.write(() => this.inner.rollback(txId));
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  compact(): Promise<void> {
    return Promise.resolve();
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  async close(): Promise<void> {
    if (!this.crashed) await this.inner.close();
  }
}

async function connect(broker: Broker): Promise<Client> {
  return new Client(await broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' } }));
}

function waiting(broker: Broker, name: string): string[] {
  if (!broker.admin.destinationList().some((d) => d.kind === 'queue' && d.name === name)) return [];
  return broker.admin.browse(name, undefined, 0, 1000).items.map((w) => w.message.body.toString());
}

/**
 * Runs `mode` on a queue of persistent messages with the store killed at its 1st, 2nd, ... write,
 * until a run completes; after each kill a new broker opens the same store and `check` looks at
 * where the messages are.
 */
async function crashEverywhere(
  mode: TransferMode,
  setUp: (broker: Broker, client: Client) => Promise<void>,
  run: (broker: Broker) => number,
  check: (broker: Broker, completed: boolean) => void,
): Promise<number> {
  for (let crashAt = 1; ; crashAt++) {
    const inner = new MemoryStore();
    const store = new CrashingStore(inner);
    const first = new Broker({ store, policies: [{ kind: 'queue', match: '>', maxRedeliveries: 0 }] });
    await first.start();
    await setUp(first, await connect(first));
    await settle();
    store.arm(crashAt);
    let completed = true;
    try {
      run(first);
    } catch (err) {
      assert.ok(store.crashed, `${mode} failed without a crash: ${String(err)}`);
      completed = false;
    }
    await first.stop().catch(() => undefined);
    const again = new Broker({ store: inner });
    await again.start();
    try {
      check(again, completed);
    } finally {
      await again.stop();
    }
    if (completed) return crashAt;
  }
}

const sendPersistent = async (client: Client, to: Destination, bodies: string[], properties?: Record<string, string>): Promise<void> => {
  for (const body of bodies) await client.send(to, body, { persistent: true, ...(properties === undefined ? {} : { properties }) });
};

test('a move killed at any write leaves every message in one queue or the other, never both or neither', async () => {
  const runs = await crashEverywhere(
    'move',
    (_broker, client) => sendPersistent(client, queue('src'), ['m1', 'm2', 'm3']),
    (broker) => broker.admin.transfer('src', {}, 'move', queue('dst')),
    (broker, completed) => {
      const src = waiting(broker, 'src');
      const dst = waiting(broker, 'dst');
      assert.deepEqual([...src, ...dst].sort(), ['m1', 'm2', 'm3'], `src ${JSON.stringify(src)} dst ${JSON.stringify(dst)}`);
      // one transaction: all or nothing
      assert.ok(completed ? src.length === 0 : dst.length === 0, `src ${JSON.stringify(src)} dst ${JSON.stringify(dst)}`);
    },
  );
  // the kills fell before, between and on each of the move's writes
  assert.ok(runs > 6, `the move wrote only ${runs - 1} times`);
});

test('a copy killed at any write leaves the originals, and the copies all or none', async () => {
  await crashEverywhere(
    'copy',
    (_broker, client) => sendPersistent(client, queue('src'), ['c1', 'c2']),
    (broker) => broker.admin.transfer('src', {}, 'copy', queue('dst')),
    (broker, completed) => {
      assert.deepEqual(waiting(broker, 'src'), ['c1', 'c2']);
      assert.deepEqual(waiting(broker, 'dst'), completed ? ['c1', 'c2'] : []);
    },
  );
});

test('a retry killed at any write leaves each dead letter in the dead-letter queue or back in its queue, never both or neither', async () => {
  await crashEverywhere(
    'retry',
    async (broker, client) => {
      await sendPersistent(client, queue('orders'), ['d1', 'd2']);
      const consumer = client.subscribe(queue('orders'), { ackMode: 'client' });
      await settle();
      // rejected past max redeliveries 0: both go to the dead-letter queue
      for (const d of [...consumer.deliveries]) consumer.handle.reject(d.tag);
      consumer.close();
      await settle();
      assert.deepEqual(waiting(broker, 'ActiveMQ.DLQ'), ['d1', 'd2']);
    },
    (broker) => broker.admin.transfer('ActiveMQ.DLQ', {}, 'retry'),
    (broker, completed) => {
      const dlq = waiting(broker, 'ActiveMQ.DLQ');
      const back = waiting(broker, 'orders');
      assert.deepEqual([...dlq, ...back].sort(), ['d1', 'd2']);
      assert.deepEqual(back, completed ? ['d1', 'd2'] : []);
      if (completed) {
        const retried = broker.admin.browse('orders', undefined, 0, 10).items[0]!.message;
        assert.equal(retried.originalDestination, undefined);
        assert.equal(retried.properties.has('dlqDeliveryFailureCause'), false);
      }
    },
  );
});

test('move and copy by id and by selector take only those; a copy gets a new id; delete by id', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  for (const [body, colour] of [['r1', 'red'], ['b1', 'blue'], ['r2', 'red'], ['b2', 'blue']]) await client.send(queue('q'), body!, { persistent: true, properties: { colour: colour! } });
  const admin = b.broker.admin;
  assert.equal(admin.transfer('q', { selector: "colour = 'red'" }, 'move', queue('reds')), 2);
  assert.deepEqual(waiting(b.broker, 'reds'), ['r1', 'r2']);
  const b1 = admin.browse('q', "colour = 'blue'", 0, 1).items[0]!.message;
  assert.equal(admin.transfer('q', { ids: [b1.id] }, 'copy', queue('copies')), 1);
  const copy = admin.browse('copies', undefined, 0, 10).items[0]!.message;
  assert.equal(copy.body.toString(), 'b1');
  assert.notEqual(copy.id, b1.id);
  assert.equal(admin.deleteMessages('q', { ids: [b1.id] }), 1);
  assert.deepEqual(waiting(b.broker, 'q'), ['b2']);
  assert.throws(() => admin.transfer('q', {}, 'move', queue('q')), /to itself/);
  assert.throws(() => admin.transfer('nope', {}, 'move', queue('x')), (err: FerryError) => err.code === 'FERRY_DESTINATION_NOT_FOUND');
  // after a restart the moved messages are where they went
  const again = await b.restart();
  assert.deepEqual(waiting(again.broker, 'reds'), ['r1', 'r2']);
  assert.deepEqual(waiting(again.broker, 'q'), ['b2']);
  assert.deepEqual(waiting(again.broker, 'copies'), ['b1']);
});

test('a browse goes on after the last message of the page before, in dispatch order, even once that message has left the queue', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  for (const [body, priority] of [['a', 4], ['b', 4], ['c', 9], ['d', 0], ['e', 4]] as const) await client.send(queue('q'), body, { persistent: true, priority });
  const admin = b.broker.admin;
  const first = admin.browse('q', undefined, 0, 2);
  assert.deepEqual(first.items.map((w) => w.message.body.toString()), ['c', 'a']);
  assert.equal(first.more, true);
  // the page's messages are consumed before the next page is asked for
  assert.equal(admin.deleteMessages('q', { ids: first.items.map((w) => w.message.id) }), 2);
  const second = admin.browse('q', undefined, 0, 10, { after: first.next });
  assert.deepEqual(second.items.map((w) => w.message.body.toString()), ['b', 'e', 'd']);
  assert.equal(second.more, false);
  assert.deepEqual(admin.browse('q', undefined, 0, 10, { after: second.next }), { items: [], more: false, next: undefined });
});

test('a paused queue takes sends and delivers nothing until resumed', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  b.broker.admin.createDestination('queue', 'held');
  b.broker.admin.setPaused('held', true);
  const consumer = client.subscribe(queue('held'));
  client.sendAll(queue('held'), ['h1', 'h2']);
  await settle();
  assert.deepEqual(consumer.bodies(), []);
  assert.equal(b.broker.admin.destination('queue', 'held').depth, 2);
  assert.equal(b.broker.admin.setPaused('held', false).paused, false);
  await settle();
  assert.deepEqual(consumer.bodies(), ['h1', 'h2']);
});

test('a deleted queue is gone with its messages, after a restart too; its consumers are closed', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  await client.send(queue('doomed'), 'x', { persistent: true });
  const consumer = client.subscribe(queue('doomed'), { ackMode: 'client', prefetch: 1 });
  await client.send(queue('doomed'), 'y', { persistent: true });
  await settle();
  b.broker.admin.deleteDestination('queue', 'doomed');
  assert.equal(consumer.handle.isClosed, true);
  assert.equal(b.hasQueue('doomed'), false);
  assert.equal(b.broker.admin.createDestination('queue', 'doomed'), true);
  assert.equal(b.broker.admin.createDestination('queue', 'doomed'), false);
  b.broker.admin.deleteDestination('queue', 'doomed');
  const again = await b.restart();
  assert.equal(again.hasQueue('doomed'), false);
  // nothing of it is left in the store: no message, no reference (the sequence ceiling written with the first stays)
  assert.equal(again.store.stats().records, 1);
});

test('connection figures: messages in and out, producers by destination, consumers with their counts', async (t) => {
  const b = await startBroker(t);
  const producer = await b.connect();
  const consumerClient = await b.connect();
  const consumer = consumerClient.subscribe(queue('f'), { ackMode: 'client' });
  producer.sendAll(queue('f'), ['1', '2', '3']);
  producer.sendAll({ kind: 'topic', name: 't' }, ['4']);
  await settle();
  consumer.ack('2');
  const admin = b.broker.admin;
  const p = admin.connection(producer.id);
  assert.equal(p.figures.messagesIn, 4);
  assert.deepEqual(p.producers.map((x) => [x.destination.kind, x.destination.name, x.sent]), [['queue', 'f', 3], ['topic', 't', 1]]);
  const c = admin.connection(consumerClient.id);
  assert.equal(c.figures.messagesOut, 3);
  assert.deepEqual(c.consumers.map((x) => [x.destination.name, x.delivered, x.acknowledged, x.inFlight]), [['f', 3, 2, 1]]);
  const f = admin.destination('queue', 'f');
  assert.deepEqual([f.enqueued, f.dequeued, f.inFlight, f.producers, f.consumers], [3, 2, 1, 1, 1]);
  assert.equal(admin.destination('topic', 't').enqueued, 1);
  admin.closeConnection(producer.id);
  assert.equal(producer.connection.isClosed, true);
});

test('a rate is the count of the last ten seconds over ten, by the injected clock', () => {
  let now = 1_000_000;
  // the clock read on every count, so that each count lands in its own second
  const rate = new RateCounter(() => now, 1);
  for (let s = 0; s < 10; s++) {
    rate.count(10);
    now += 1000;
  }
  // the ten counted seconds, the current one empty: 90 in the window
  assert.equal(rate.rate(), 9);
  now += 5000;
  assert.equal(rate.rate(), 4);
  now += 60_000;
  assert.equal(rate.rate(), 0);
  rate.count(20);
  assert.equal(rate.rate(), 2);
  assert.equal(rate.total, 120);
  // read once per batch: counts between reads land in the second their batch completes in
  const batched = new RateCounter(() => now, 64);
  for (let i = 0; i < 63; i++) batched.count();
  now += 1000;
  batched.count();
  now += 20_000;
  assert.equal(batched.rate(), 0);
  assert.equal(batched.total, 64);
});

test('scheduled messages are listed soonest first and cancelled by id or by due time, their records gone', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const client = await b.connect();
  await client.send(queue('later'), 's1', { persistent: true, properties: { AMQ_SCHEDULED_DELAY: 60_000 } });
  await client.send(queue('later'), 's2', { persistent: true, properties: { AMQ_SCHEDULED_DELAY: 10_000 } });
  await client.send(queue('later'), 's3', { persistent: true, properties: { AMQ_SCHEDULED_DELAY: 30_000 } });
  const admin = b.broker.admin;
  const jobs = admin.scheduledList();
  assert.deepEqual(jobs.map((j) => j.message.body.toString()), ['s2', 's3', 's1']);
  assert.equal(admin.cancelScheduled({ id: jobs[0]!.id }), 1);
  const now = b.clock!.now;
  assert.equal(admin.cancelScheduled({ from: now + 20_000, to: now + 40_000 }), 1);
  await b.clock!.advance(120_000);
  assert.deepEqual(waiting(b.broker, 'later'), ['s1']);
  const again = await b.restart();
  assert.equal(again.scheduledCount, 0);
});
