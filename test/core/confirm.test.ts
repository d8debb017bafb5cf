/**
 * When a producer hears that its persistent message is safe: once it is on disk, or once consumers
 * have acknowledged it everywhere it was kept, whichever comes first. What outlives the delivery
 * (duplicate-detection ids, a retained copy, a transaction) always waits for the disk.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Broker } from '../../src/core/index.js';
import { MemoryStore } from '../../src/store/index.js';
import type { RecoveredState, Store, StoreStats } from '../../src/store/index.js';
import { Client, queue, topic } from './harness.js';

/** A store whose syncs resolve only when the test lets them: a disk that has not answered yet. */
class HeldStore implements Store {
  private readonly inner = new MemoryStore();
  private held: (() => void)[] = [];
  holding = false;

  open(): Promise<RecoveredState> {
    return this.inner.open();
  }
  add(id: number, type: number, data: Buffer, txId?: number): void {
    this.inner.add(id, type, data, txId);
  }
  update(id: number, type: number, data: Buffer, txId?: number): void {
    this.inner.update(id, type, data, txId);
  }
  delete(id: number, txId?: number): void {
    this.inner.delete(id, txId);
  }
  prepare(txId: number, data: Buffer): void {
    this.inner.prepare(txId, data);
  }
  commit(txId: number): void {
    this.inner.commit(txId);
  }
  rollback(txId: number): void {
    this.inner.rollback(txId);
  }
  sync(): Promise<void> {
    if (!this.holding) return Promise.resolve();
    return new Promise<void>((resolve) => this.held.push(resolve));
  }
  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const resolve of held) resolve();
  }
  compact(): Promise<void> {
    return this.inner.compact();
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function heldBroker(t: TestContext, confirmConsumed?: boolean): Promise<{ store: HeldStore; client: Client; other: Client }> {
  const store = new HeldStore();
  const broker = new Broker({ store, ...(confirmConsumed === undefined ? {} : { confirmConsumed }) });
  await broker.start();
  t.after(async () => {
    store.release();
    await broker.stop();
  });
  const client = new Client(await broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, clientId: 'confirm-test' }));
  const other = new Client(await broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' } }));
  return { store, client, other };
}

/** Whether `promise` has settled after the microtasks and immediates queued now have run. */
async function settledSoon(promise: Promise<void>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  for (let i = 0; i < 5; i++) await nextTurn();
  return settled;
}

test('a persistent message its consumer acknowledges is confirmed before the disk answers; one nobody took waits for it', async (t) => {
  const { store, client } = await heldBroker(t);
  const q = queue('orders');
  const consumer = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  // a first message writes the queue's delivery mark, which covers the ones after it
  await client.send(q, 'warm-up', { persistent: true });
  consumer.ack('warm-up');

  store.holding = true;
  const taken = client.send(q, 'taken', { persistent: true })!;
  const waiting = client.send(q, 'waiting', { persistent: true })!;
  assert.deepEqual(consumer.bodies(), ['warm-up', 'taken']);
  assert.equal(await settledSoon(taken), false, 'delivered but not acknowledged: the disk is still owed');
  consumer.ack('taken');
  assert.equal(await settledSoon(taken), true, 'acknowledged: confirmed without the disk');
  assert.equal(await settledSoon(waiting), false, 'in the queue (prefetch 1): it waits for the disk');
  store.release();
  assert.equal(await settledSoon(waiting), true);
});

test('a message kept by two durable subscriptions is confirmed early only when both have acknowledged it', async (t) => {
  const { store, client } = await heldBroker(t);
  const t1 = topic('prices');
  const a = client.subscribeDurable(t1, 'a', { ackMode: 'individual' });
  const b = client.subscribeDurable(t1, 'b', { ackMode: 'individual' });
  await client.send(t1, 'warm-up', { persistent: true });
  a.ack('warm-up');
  b.ack('warm-up');

  store.holding = true;
  const sent = client.send(t1, 'p1', { persistent: true })!;
  a.ack('p1');
  assert.equal(await settledSoon(sent), false, 'one of two subscriptions still holds it');
  b.ack('p1');
  assert.equal(await settledSoon(sent), true);
});

test('what outlives the delivery waits for the disk: a duplicate-detection id, and an acknowledgement in a transaction not yet committed', async (t) => {
  const { store, client, other } = await heldBroker(t);
  const q = queue('payments');
  const consumer = client.subscribe(q, { ackMode: 'individual' });
  await client.send(q, 'warm-up', { persistent: true });
  consumer.ack('warm-up');

  store.holding = true;
  const deduplicated = client.send(q, 'once', { persistent: true, properties: { _AMQ_DUPL_ID: 'payment-1' } })!;
  consumer.ack('once');
  assert.equal(await settledSoon(deduplicated), false, 'the remembered id must be on disk before the producer may rely on it');

  // from another connection: this one's later sends wait for the one above (see the next test)
  const inTx = other.send(q, 'later', { persistent: true })!;
  client.connection.begin('tx1');
  consumer.ack('later', 'tx1');
  assert.equal(await settledSoon(inTx), false, 'an acknowledgement held by an open transaction is not a consumption');
  void client.connection.commit('tx1');
  assert.equal(await settledSoon(inTx), true, 'committed: consumed');
  store.release();
  assert.equal(await settledSoon(deduplicated), true);
});

test('a connection hears of its sends in order: one consumed early waits for an earlier one still owed to the disk', async (t) => {
  const { store, client } = await heldBroker(t);
  const fast = queue('fast');
  const consumer = client.subscribe(fast, { ackMode: 'individual' });
  await client.send(fast, 'warm-up', { persistent: true });
  consumer.ack('warm-up');

  store.holding = true;
  const first = client.send(queue('nobody-reads'), 'first', { persistent: true })!;
  const second = client.send(fast, 'second', { persistent: true })!;
  consumer.ack('second');
  assert.equal(await settledSoon(second), false, 'consumed, but the send before it is not on disk yet');
  store.release();
  assert.equal(await settledSoon(first), true);
  assert.equal(await settledSoon(second), true);
});

test('an AMQP 0-9-1 style publish through an exchange is confirmed early too, once consumed', async (t) => {
  const { store, client } = await heldBroker(t);
  client.declareQueue('jobs');
  const consumer = client.subscribe(queue('jobs'), { ackMode: 'individual' });
  await client.publish('', 'jobs', 'warm-up', { persistent: true }).durable;
  consumer.ack('warm-up');

  store.holding = true;
  const published = client.publish('', 'jobs', 'job-1', { persistent: true }).durable!;
  assert.equal(await settledSoon(published), false);
  consumer.ack('job-1');
  assert.equal(await settledSoon(published), true);
});

test('store.confirmConsumed false: a consumed message is still confirmed only once on disk', async (t) => {
  const { store, client } = await heldBroker(t, false);
  const q = queue('audited');
  const consumer = client.subscribe(q, { ackMode: 'individual' });
  await client.send(q, 'warm-up', { persistent: true });
  consumer.ack('warm-up');

  store.holding = true;
  const sent = client.send(q, 'm1', { persistent: true })!;
  consumer.ack('m1');
  assert.equal(await settledSoon(sent), false);
  store.release();
  assert.equal(await settledSoon(sent), true);
});
