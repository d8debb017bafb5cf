import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker } from './harness.js';

const q = queue('orders');
const bodies = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('competing consumers of a queue take turns, each message going to one of them', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const a = client.subscribe(q, { ackMode: 'individual' });
  const c = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.sendAll(q, bodies(6));
  assert.deepEqual(a.bodies(), ['m0', 'm2', 'm4']);
  assert.deepEqual(c.bodies(), ['m1', 'm3', 'm5']);
});

test('messages sent before anyone subscribes wait, in order, for the first consumer', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, bodies(3));
  assert.equal(b.queueStats('orders').pending, 3);
  const s = client.subscribe(q);
  assert.deepEqual(s.bodies(), [], 'nothing is delivered before subscribe returns');
  await settle();
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2']);
});

test('a consumer whose prefetch is full is skipped; the others take the rest', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const small = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  const large = client.subscribe(q, { ackMode: 'individual', prefetch: 10 });
  await settle();
  client.sendAll(q, bodies(5));
  assert.deepEqual(small.bodies(), ['m0']);
  assert.deepEqual(large.bodies(), ['m1', 'm2', 'm3', 'm4']);
  assert.equal(small.handle.inFlightCount, 1);
  assert.equal(large.handle.inFlightCount, 4);
});

test('a cumulative acknowledgement frees the prefetch of every delivery it covers', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, bodies(6));
  const s = client.subscribe(q, { ackMode: 'client', prefetch: 3 });
  await settle();
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2']);
  s.ack('m1');
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2', 'm3', 'm4'], 'm0 and m1 both left the prefetch');
  assert.equal(s.handle.inFlightCount, 3);
});

test('a consumer of higher priority gets every message while it has room, including after it acknowledges', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const low = client.subscribe(q, { ackMode: 'individual', prefetch: 10, priority: 0 });
  const high = client.subscribe(q, { ackMode: 'individual', prefetch: 1, priority: 9 });
  await settle();
  client.sendAll(q, ['a', 'b']);
  assert.deepEqual(high.bodies(), ['a']);
  assert.deepEqual(low.bodies(), ['b']);
  high.ack('a');
  client.sendAll(q, ['c']);
  assert.deepEqual(high.bodies(), ['a', 'c'], 'room again at the higher priority: it wins over the lower one');
  assert.deepEqual(low.bodies(), ['b']);
});

test('an exclusive consumer takes the whole queue, even when it subscribed second; the other takes over when it leaves', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const first = client.subscribe(q, { ackMode: 'individual' });
  const exclusive = client.subscribe(q, { ackMode: 'individual', exclusive: true });
  await settle();
  client.sendAll(q, bodies(4));
  assert.deepEqual(exclusive.bodies(), ['m0', 'm1', 'm2', 'm3']);
  assert.deepEqual(first.bodies(), []);
  exclusive.ack('m0');
  exclusive.close();
  await settle();
  assert.deepEqual(first.bodies(), ['m1', 'm2', 'm3']);
  assert.ok(first.deliveries.every((d) => d.redelivered && d.deliveryCount === 2));
});

test('of two exclusive consumers the first keeps the queue until it leaves', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const one = client.subscribe(q, { exclusive: true });
  const two = client.subscribe(q, { exclusive: true });
  await settle();
  client.sendAll(q, ['a', 'b']);
  one.close();
  client.sendAll(q, ['c']);
  assert.deepEqual(one.bodies(), ['a', 'b']);
  assert.deepEqual(two.bodies(), ['c']);
});

test('ack mode auto: a delivery is consumed as it is handed over, nothing returns when the consumer closes', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, bodies(3), { persistent: true });
  const s = client.subscribe(q, { ackMode: 'auto', prefetch: 1 });
  await settle();
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2'], 'auto acknowledgement does not hold the prefetch');
  assert.equal(s.handle.inFlightCount, 0);
  s.close();
  assert.deepEqual((await drain(client, q)).length, 0);
  assert.equal(b.queueStats('orders').pending, 0);
});

test('ack mode client is cumulative: acknowledging the third acknowledges the first two, not the fourth', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, bodies(4));
  const s = client.subscribe(q, { ackMode: 'client' });
  await settle();
  s.ack('m2');
  assert.equal(s.handle.inFlightCount, 1);
  s.close();
  const rest = await drain(client, q);
  assert.deepEqual(rest.map((d) => d.message.body.toString()), ['m3']);
  assert.equal(rest[0]!.redelivered, true);
});

test('ack mode individual: an acknowledgement covers exactly the delivery it names', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, bodies(3));
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  s.ack('m1');
  s.close();
  const rest = await drain(client, q);
  assert.deepEqual(rest.map((d) => d.message.body.toString()), ['m0', 'm2']);
});

test('a delivery acknowledged twice, or never made, is refused', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a']);
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  const tag = s.delivery('a').tag;
  s.handle.acknowledge(tag);
  assert.throws(() => s.handle.acknowledge(tag), { code: 'FERRY_DELIVERY_NOT_FOUND' });
  assert.throws(() => s.handle.acknowledge(tag + 100), { code: 'FERRY_DELIVERY_NOT_FOUND' });
});

test('a consumer that closes returns its unacknowledged messages ahead of new ones, flagged and counted once per return', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b']);
  const first = client.subscribe(q, { ackMode: 'individual', prefetch: 2 });
  await settle();
  assert.ok(first.deliveries.every((d) => !d.redelivered && d.deliveryCount === 1));
  client.sendAll(q, ['c']);
  first.close();
  const second = client.subscribe(q, { ackMode: 'individual', prefetch: 5 });
  await settle();
  assert.deepEqual(second.bodies(), ['a', 'b', 'c'], 'returned messages keep their place ahead of c');
  assert.deepEqual(second.deliveries.map((d) => [d.redelivered, d.deliveryCount]), [[true, 2], [true, 2], [false, 1]]);
  second.close();
  const third = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(third.deliveries.map((d) => d.deliveryCount), [3, 3, 2]);
});

test('a connection that closes returns its messages to consumers of other connections, not to its own', async (t) => {
  const b = await startBroker(t);
  const leaving = await b.connect();
  const staying = await b.connect();
  const mine = leaving.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  const sibling = leaving.subscribe(q, { prefetch: 100 });
  await settle();
  leaving.sendAll(q, ['a']);
  assert.deepEqual(mine.bodies(), ['a']);
  const other = staying.subscribe(q, { ackMode: 'individual' });
  await settle();
  leaving.close();
  assert.deepEqual(sibling.bodies(), [], 'the closing connection\'s own auto consumer must not swallow it');
  assert.deepEqual(other.bodies(), ['a']);
  assert.equal(other.deliveries[0]!.redelivered, true);
});

test('redeliver counts as a failed attempt; release gives the message back as it was', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a']);
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  s.release('a');
  await settle();
  assert.deepEqual(s.deliveries.map((d) => [d.deliveryCount, d.redelivered]), [[1, false], [1, false]]);
  s.redeliver('a');
  await settle();
  assert.deepEqual(s.deliveries.slice(2).map((d) => [d.deliveryCount, d.redelivered]), [[2, true]]);
});

test('a refused message goes to the other consumers, never back to the one that refused it, until it closes', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b']);
  const refuser = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(refuser.bodies(), ['a', 'b']);
  refuser.refuse('a');
  refuser.refuse('b', true);
  await settle();
  assert.deepEqual(refuser.bodies(), ['a', 'b'], 'not sent back to the consumer that refused them');
  assert.equal(b.queueStats('orders').pending, 2, 'nor dead-lettered: they wait');
  const other = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(other.deliveries.map((d) => [d.message.body.toString(), d.deliveryCount]), [['a', 1], ['b', 2]], 'counted only when the delivery failed too');
  client.sendAll(q, ['c', 'd']);
  assert.deepEqual(refuser.bodies().slice(2), ['c'], 'the refuser still takes other messages');
  other.release('a');
  other.close();
  refuser.close();
  const later = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(later.bodies().sort(), ['a', 'b', 'c', 'd']);
});

test('a consumer without protocol credit gets nothing until the protocol grants more', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const s = client.subscribe(q, { credit: 1 });
  await settle();
  client.sendAll(q, bodies(4));
  assert.deepEqual(s.bodies(), ['m0']);
  assert.equal(b.queueStats('orders').pending, 3);
  s.grant(2);
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2']);
  s.grant(5);
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2', 'm3']);
  assert.deepEqual(s.sink.breaches, []);
});

test('a sink that is not writable is asked to say when it drains, and then gets the backlog in order', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const s = client.subscribe(q, { blocked: true });
  await settle();
  client.sendAll(q, bodies(3));
  assert.deepEqual(s.bodies(), []);
  assert.equal(s.sink.waitingForWritable, 1, 'core asks once, not once per message');
  s.sink.unblock();
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2']);
  assert.deepEqual(s.sink.breaches, []);
});

test('a queue keeps its messages for the next consumer after one unsubscribes', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  s.close();
  client.sendAll(q, ['kept']);
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['kept']);
});

test('an exclusive consumer wins over a consumer of higher priority', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const high = client.subscribe(q, { priority: 9 });
  const exclusive = client.subscribe(q, { exclusive: true, priority: 0 });
  await settle();
  client.sendAll(q, ['a', 'b']);
  assert.deepEqual(exclusive.bodies(), ['a', 'b']);
  assert.deepEqual(high.bodies(), []);
});

test('a consumer that closes while its sink is blocked leaves the backlog to the others', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const blocked = client.subscribe(q, { blocked: true });
  await settle();
  client.sendAll(q, ['a', 'b']);
  blocked.close();
  const other = client.subscribe(q);
  await settle();
  blocked.sink.unblock();
  assert.deepEqual(other.bodies(), ['a', 'b']);
  assert.deepEqual(blocked.bodies(), []);
});

test('acknowledgeOnly settles without dispatching; one wake then dispatches for the whole batch', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, bodies(6));
  const s = client.subscribe(q, { ackMode: 'individual', prefetch: 2 });
  await settle();
  assert.deepEqual(s.bodies(), ['m0', 'm1']);
  s.handle.acknowledgeOnly(s.delivery('m0').tag);
  s.handle.acknowledgeOnly(s.delivery('m1').tag);
  assert.deepEqual(s.bodies(), ['m0', 'm1'], 'nothing more until the wake');
  s.handle.wake();
  assert.deepEqual(s.bodies(), ['m0', 'm1', 'm2', 'm3']);
});

test('tagOf finds the delivery of a message in flight, for protocols that acknowledge by message id', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b']);
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  const b2 = s.delivery('b');
  assert.equal(s.handle.tagOf(b2.message.id), b2.tag);
  s.handle.acknowledge(b2.tag);
  assert.equal(s.handle.tagOf(b2.message.id), undefined);
  assert.equal(s.handle.tagOf('ID:nobody'), undefined);
});

test('closing a session closes its consumers and returns their messages; a closed connection refuses work', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a']);
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.session.close();
  assert.equal(s.handle.isClosed, true);
  const other = await b.connect();
  assert.deepEqual((await drain(other, q)).map((d) => [d.message.body.toString(), d.redelivered]), [['a', true]]);
  client.close();
  assert.throws(() => client.connection.createSession(), { code: 'FERRY_CONNECTION_CLOSED' });
  assert.throws(() => client.connection.begin('t'), { code: 'FERRY_CONNECTION_CLOSED' });
});
