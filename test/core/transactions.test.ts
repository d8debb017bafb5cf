import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const q = queue('tx.orders');

test('sends in a transaction are invisible until commit, then arrive in order; sends outside it are not held', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  client.begin('t1');
  await client.send(q, 'in-1', { txId: 't1', persistent: true });
  await client.send(q, 'outside');
  await client.send(q, 'in-2', { txId: 't1', persistent: true });
  assert.deepEqual(s.bodies(), ['outside']);
  assert.equal(b.queueStats('tx.orders').pending, 0);
  await client.commit('t1');
  assert.deepEqual(s.bodies(), ['outside', 'in-1', 'in-2']);
});

test('a rolled back transaction drops its sends', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.begin('t');
  client.sendAll(q, ['a', 'b'], { txId: 't' });
  client.rollback('t');
  assert.deepEqual(await drain(client, q), []);
});

test('a committed transaction reaches queues and topics alike', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const sub = client.subscribe(topic('tx.news'));
  await settle();
  client.begin('t');
  client.sendAll(topic('tx.news'), ['t1'], { txId: 't' });
  client.sendAll(q, ['q1'], { txId: 't' });
  assert.deepEqual(sub.bodies(), []);
  await client.commit('t');
  assert.deepEqual(sub.bodies(), ['t1']);
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['q1']);
});

test('an acknowledgement in a transaction takes effect at commit', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b'], { persistent: true });
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.begin('t');
  s.ack('a', 't');
  await client.commit('t');
  s.close();
  const rest = await drain(client, q);
  assert.deepEqual(rest.map((d) => d.message.body.toString()), ['b'], 'a was consumed by the commit, b was never acknowledged');
});

test('rollback returns what the transaction acknowledged, redelivered, and the next commit can consume it', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b', 'c']);
  const s = client.subscribe(q, { ackMode: 'client', prefetch: 10 });
  await settle();
  client.begin('t');
  s.ack('b', 't');
  client.rollback('t');
  await settle();
  assert.deepEqual(s.bodies(), ['a', 'b', 'c', 'a', 'b'], 'the cumulative ack of b covered a too; c was not covered');
  assert.ok(s.deliveries.slice(3).every((d) => d.redelivered && d.deliveryCount === 2));
  // cumulative in delivery order: the redelivered a came after c, so acknowledging it covers c, not b
  client.begin('t');
  s.ack('a', 't');
  await client.commit('t');
  assert.equal(s.handle.inFlightCount, 1);
  s.close();
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['b']);
});

test('an acknowledgement in a transaction frees the prefetch at once, as ActiveMQ does', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b']);
  const s = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await settle();
  client.begin('t');
  s.ack('a', 't');
  assert.deepEqual(s.bodies(), ['a', 'b']);
});

test('a rejection in a transaction dead-letters at commit, not before; rolled back, the message comes back', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['poison', 'again'], { persistent: true });
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.begin('t1');
  s.reject('poison', 't1');
  assert.equal(b.hasQueue('ActiveMQ.DLQ'), false);
  await client.commit('t1');
  await settle();
  assert.deepEqual((await drain(client, queue('ActiveMQ.DLQ'))).map((d) => d.message.body.toString()), ['poison']);

  client.begin('t2');
  s.reject('again', 't2');
  client.rollback('t2');
  await settle();
  assert.deepEqual(s.bodies().slice(-1), ['again']);
  assert.equal(s.deliveries.at(-1)!.redelivered, true);
});

test('consume and forward in one transaction: the forward appears exactly when the consumption does', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const out = queue('tx.out');
  client.sendAll(q, ['job'], { persistent: true });
  const s = client.subscribe(q, { ackMode: 'individual' });
  const watcher = client.subscribe(out);
  await settle();
  client.begin('t');
  s.ack('job', 't');
  client.sendAll(out, ['done'], { txId: 't', persistent: true });
  assert.deepEqual(watcher.bodies(), []);
  await client.commit('t');
  assert.deepEqual(watcher.bodies(), ['done']);
  s.close();
  assert.deepEqual(await drain(client, q), []);
});

test('a connection that closes with a transaction open rolls it back: sends dropped, acknowledgements undone', async (t) => {
  const b = await startBroker(t);
  const leaving = await b.connect();
  const staying = await b.connect();
  leaving.sendAll(q, ['a']);
  const s = leaving.subscribe(q, { ackMode: 'individual' });
  await settle();
  leaving.begin('t');
  s.ack('a', 't');
  leaving.sendAll(q, ['never'], { txId: 't' });
  leaving.close();
  const rest = await drain(staying, q);
  assert.deepEqual(rest.map((d) => [d.message.body.toString(), d.redelivered]), [['a', true]]);
});

test('transaction ids: begun once, ended once, scoped to their connection', async (t) => {
  const b = await startBroker(t);
  const one = await b.connect();
  const two = await b.connect();
  one.begin('t');
  assert.throws(() => one.begin('t'), { code: 'FERRY_TX_EXISTS' });
  assert.throws(() => two.commit('t'), { code: 'FERRY_TX_NOT_FOUND' });
  assert.throws(() => two.send(q, 'x', { txId: 't' }), { code: 'FERRY_TX_NOT_FOUND' });
  two.begin('t');
  two.rollback('t');
  await one.commit('t');
  assert.throws(() => one.commit('t'), { code: 'FERRY_TX_NOT_FOUND' });
  assert.throws(() => one.rollback('t'), { code: 'FERRY_TX_NOT_FOUND' });
  one.begin('t');
  one.rollback('t');
});

test('a delivery acknowledged in a transaction belongs to the transaction, not to the consumer, once the consumer closes', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['kept-by-tx', 'returned']);
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.begin('t1');
  s.ack('kept-by-tx', 't1');
  s.close();
  const other = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(other.bodies(), ['returned'], 'the closing consumer returns only what no transaction holds');
  client.rollback('t1');
  await settle();
  assert.deepEqual(other.bodies(), ['returned', 'kept-by-tx'], 'rollback gives it back to the queue');
  assert.equal(other.deliveries.at(-1)!.redelivered, true);
});
