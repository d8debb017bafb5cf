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
