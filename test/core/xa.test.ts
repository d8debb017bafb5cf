/** Prepared (XA) transactions: durable once prepared, owned by the broker, completed only on request. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain as drainDeliveries, queue, settle, startBroker, type Client, type StoreKind } from './harness.js';
import type { Destination } from '../../src/core/index.js';

async function drain(client: Client, destination: Destination): Promise<string[]> {
  return (await drainDeliveries(client, destination)).map((d) => d.message.body.toString());
}

const orders = queue('xa.orders');
const stock = queue('xa.stock');

for (const storeKind of ['memory', 'journal'] as const satisfies readonly StoreKind[]) {
  test(`[${storeKind}] a prepared transaction survives its connection and a restart, and commits on request`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const producer = await b.connect();
    await producer.send(stock, 'item-1', { persistent: true });
    await producer.send(stock, 'item-2', { persistent: true });
    const worker = await b.connect();
    const s = worker.subscribe(stock, { ackMode: 'individual' });
    await settle();
    worker.begin('xid-1');
    s.ack('item-1', 'xid-1');
    await worker.send(orders, 'order-1', { persistent: true, txId: 'xid-1' });
    await worker.connection.prepare('xid-1');
    worker.close();

    // prepared: neither applied nor undone; item-2 went back to its queue with the connection
    const again = await b.restart();
    const manager = await again.connect();
    assert.deepEqual(manager.connection.preparedTransactions(), ['xid-1']);
    assert.deepEqual(await drain(manager, orders), []);
    assert.deepEqual(await drain(manager, stock), ['item-2']);
    await manager.connection.commitPrepared('xid-1');
    assert.deepEqual(manager.connection.preparedTransactions(), []);
    assert.deepEqual(await drain(manager, orders), ['order-1']);
    assert.deepEqual(await drain(manager, stock), []);

    // completed for good: nothing comes back after another restart
    const third = await again.restart();
    const check = await third.connect();
    assert.deepEqual(check.connection.preparedTransactions(), []);
    assert.deepEqual(await drain(check, orders), []);
    assert.deepEqual(await drain(check, stock), []);
  });

  test(`[${storeKind}] a prepared transaction rolled back after a restart drops its sends and gives back what it consumed`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const client = await b.connect();
    await client.send(stock, 'item', { persistent: true });
    const s = client.subscribe(stock, { ackMode: 'individual' });
    await settle();
    client.begin('xid-2');
    s.ack('item', 'xid-2');
    await client.send(orders, 'order', { persistent: true, txId: 'xid-2' });
    await client.connection.prepare('xid-2');
    const again = await b.restart();
    const manager = await again.connect();
    assert.throws(() => manager.connection.commitPrepared('xid-unknown'), /no prepared transaction/);
    manager.connection.rollback('xid-2');
    assert.deepEqual(manager.connection.preparedTransactions(), []);
    assert.deepEqual(await drain(manager, orders), []);
    assert.deepEqual(await drain(manager, stock), ['item']);
  });
}

test('a prepared transaction cannot be prepared again, a second-phase commit needs a prepare first, and a one-phase commit of a prepared one commits it', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.begin('xid-3');
  await client.send(orders, 'x', { txId: 'xid-3', persistent: true });
  assert.throws(() => client.connection.commitPrepared('xid-3'), { code: 'FERRY_TX_STATE' });
  await client.connection.prepare('xid-3');
  assert.throws(() => client.connection.prepare('xid-3'), { code: 'FERRY_TX_STATE' });
  await client.commit('xid-3');
  assert.deepEqual(await drain(client, orders), ['x']);
  assert.throws(() => client.connection.commitPrepared('xid-3'), { code: 'FERRY_TX_NOT_FOUND' });
  assert.throws(() => client.rollback('xid-3'), { code: 'FERRY_TX_NOT_FOUND' });
});

test('a transaction that holds nothing is over at its prepare: nothing to write, no second phase', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.begin('xid-4');
  assert.equal(client.connection.prepare('xid-4'), null);
  assert.deepEqual(client.connection.preparedTransactions(), []);
  assert.throws(() => client.commit('xid-4'), { code: 'FERRY_TX_NOT_FOUND' });
});

test('an XA transaction is the broker\'s: a second connection joins it by its id, and the work of both completes through either', async (t) => {
  const b = await startBroker(t);
  const producer = await b.connect();
  await producer.send(stock, 'item', { persistent: true });
  const first = await b.connect();
  const joiner = await b.connect();
  const s = joiner.subscribe(stock, { ackMode: 'individual' });
  await settle();
  first.connection.begin('xid-join', { xa: true });
  await first.send(orders, 'from-first', { txId: 'xid-join', persistent: true });
  joiner.connection.begin('xid-join', { xa: true });
  // a repeated begin (a resumed branch) is no second transaction
  joiner.connection.begin('xid-join', { xa: true });
  s.ack('item', 'xid-join');
  await joiner.send(orders, 'from-joiner', { txId: 'xid-join', persistent: true });
  assert.throws(() => joiner.connection.commitPrepared('xid-join'), { code: 'FERRY_TX_STATE' });
  await joiner.connection.prepare('xid-join');
  assert.throws(() => first.connection.begin('xid-join', { xa: true }), { code: 'FERRY_TX_STATE' });
  await first.connection.commitPrepared('xid-join');
  assert.deepEqual(await drain(producer, orders), ['from-first', 'from-joiner']);
  assert.deepEqual(await drain(producer, stock), []);
  // over for both connections
  assert.throws(() => joiner.send(orders, 'late', { txId: 'xid-join' }), { code: 'FERRY_TX_NOT_FOUND' });
});

test('each connection in an XA transaction hands over what its protocol holds back before it commits, and drops it when it rolls back', async (t) => {
  const b = await startBroker(t);
  const first = await b.connect();
  const joiner = await b.connect();
  const ending: string[] = [];
  first.connection.onTransactionEnding = (txId, keep) => ending.push(`first ${txId} ${keep}`);
  joiner.connection.onTransactionEnding = (txId, keep) => ending.push(`joiner ${txId} ${keep}`);
  for (const xid of ['xid-a', 'xid-b']) {
    first.connection.begin(xid, { xa: true });
    joiner.connection.begin(xid, { xa: true });
    await joiner.send(orders, xid, { txId: xid });
  }
  await first.commit('xid-a');
  joiner.rollback('xid-b');
  assert.deepEqual(ending, ['first xid-a true', 'joiner xid-a true', 'first xid-b false', 'joiner xid-b false']);
  assert.deepEqual(await drain(first, orders), ['xid-a']);
});

test('a connection that joined an XA transaction leaves it by closing, and its work stays in; the one that began it rolls it back by closing', async (t) => {
  const b = await startBroker(t);
  const observer = await b.connect();
  const first = await b.connect();
  const joiner = await b.connect();
  first.connection.begin('xid-stays', { xa: true });
  joiner.connection.begin('xid-stays', { xa: true });
  await joiner.send(orders, 'kept', { txId: 'xid-stays', persistent: true });
  joiner.close();
  await first.commit('xid-stays');
  assert.deepEqual(await drain(observer, orders), ['kept']);

  const owner = await b.connect();
  const other = await b.connect();
  owner.connection.begin('xid-goes', { xa: true });
  other.connection.begin('xid-goes', { xa: true });
  await other.send(orders, 'dropped', { txId: 'xid-goes', persistent: true });
  owner.close();
  assert.throws(() => other.commit('xid-goes'), { code: 'FERRY_TX_NOT_FOUND' });
  assert.deepEqual(await drain(observer, orders), []);
});

test('a local transaction keeps its name to its connection, beside an XA transaction of the same name', async (t) => {
  const b = await startBroker(t);
  const xa = await b.connect();
  const local = await b.connect();
  xa.connection.begin('same', { xa: true });
  local.begin('same');
  await local.send(orders, 'local', { txId: 'same' });
  await xa.send(orders, 'xa', { txId: 'same' });
  await local.commit('same');
  assert.deepEqual(await drain(local, orders), ['local']);
  xa.rollback('same');
  assert.deepEqual(await drain(local, orders), []);
});
