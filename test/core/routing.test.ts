/** Where a message lands: composites, virtual topics, topic wildcards, temporary destinations. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const bodiesOf = (deliveries: readonly { message: { body: Buffer } }[]): string[] => deliveries.map((d) => d.message.body.toString());

test('a configured composite forwards a copy to each part, named by the part, and keeps none itself', async (t) => {
  const b = await startBroker(t, {
    composites: [{ kind: 'queue', name: 'fanout', forwardTo: [queue('fan.a'), topic('fan.b')], forwardOnly: true }],
  });
  const client = await b.connect();
  const listener = client.subscribe(topic('fan.b'));
  await settle();
  await client.send(queue('fanout'), 'one', { persistent: true });
  assert.deepEqual(listener.bodies(), ['one']);
  assert.deepEqual(listener.deliveries[0]!.message.destination, topic('fan.b'));
  assert.deepEqual(listener.deliveries[0]!.message.originalDestination, queue('fanout'));
  const [copy] = await drain(client, queue('fan.a'));
  assert.deepEqual(copy?.message.destination, queue('fan.a'));
  assert.equal(b.hasQueue('fanout') && b.queueStats('fanout').pending > 0, false);
});

test('a composite that is not forward-only also keeps the message itself', async (t) => {
  const b = await startBroker(t, {
    composites: [{ kind: 'queue', name: 'tee', forwardTo: [queue('tee.copy')], forwardOnly: false }],
  });
  const client = await b.connect();
  client.sendAll(queue('tee'), ['x']);
  assert.deepEqual(bodiesOf(await drain(client, queue('tee'))), ['x']);
  assert.deepEqual(bodiesOf(await drain(client, queue('tee.copy'))), ['x']);
});

test('a client-side composite "a,b" (and "queue://a,topic://b") reaches each part', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const sub = client.subscribe(topic('cs.t'));
  await settle();
  client.sendAll(queue('cs.a,cs.b'), ['both']);
  client.sendAll(queue('cs.a,topic://cs.t'), ['mixed']);
  assert.deepEqual(bodiesOf(await drain(client, queue('cs.a'))), ['both', 'mixed']);
  assert.deepEqual(bodiesOf(await drain(client, queue('cs.b'))), ['both']);
  assert.deepEqual(sub.bodies(), ['mixed']);
  assert.deepEqual(sub.deliveries[0]!.message.destination, topic('cs.t'));
});

test('VirtualTopic.X feeds every Consumer.<group>.VirtualTopic.X queue; consumers of one group compete', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const a1 = client.subscribe(queue('Consumer.A.VirtualTopic.orders'));
  const a2 = client.subscribe(queue('Consumer.A.VirtualTopic.orders'));
  const g = client.subscribe(queue('Consumer.B.VirtualTopic.orders'));
  const plain = client.subscribe(topic('VirtualTopic.orders'));
  await settle();
  client.sendAll(topic('VirtualTopic.orders'), ['o1', 'o2']);
  assert.deepEqual([...a1.bodies(), ...a2.bodies()].sort(), ['o1', 'o2']);
  assert.equal(a1.bodies().length, 1, 'group A shares the messages');
  assert.deepEqual(g.bodies(), ['o1', 'o2']);
  assert.deepEqual(plain.bodies(), ['o1', 'o2']);
  client.sendAll(topic('VirtualTopic.other'), ['elsewhere']);
  assert.equal(g.bodies().length, 2);
});

test('a virtual topic\'s consumer queue keeps messages while its consumers are away', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.subscribe(queue('Consumer.A.VirtualTopic.jobs')).close();
  client.sendAll(topic('VirtualTopic.jobs'), ['kept'], { persistent: true });
  assert.deepEqual(bodiesOf(await drain(client, queue('Consumer.A.VirtualTopic.jobs'))), ['kept']);
});

test('topic wildcards: * is one level, > the rest, also in the middle; one copy per matching subscription', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const middle = client.subscribe(topic('w.*.c'));
  const rest = client.subscribe(topic('w.>'));
  const exact = client.subscribe(topic('w.b.c'));
  await settle();
  for (const name of ['w.b.c', 'w.b', 'w.b.c.d', 'w.x.c', 'v.b.c']) client.sendAll(topic(name), [name]);
  assert.deepEqual(middle.bodies(), ['w.b.c', 'w.x.c']);
  assert.deepEqual(rest.bodies(), ['w.b.c', 'w.b', 'w.b.c.d', 'w.x.c']);
  assert.deepEqual(exact.bodies(), ['w.b.c']);
});

test('a topic keeps nothing for subscribers that come later or have left', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const early = client.subscribe(topic('news'));
  await settle();
  client.sendAll(topic('news'), ['first'], { persistent: true });
  early.close();
  client.sendAll(topic('news'), ['second'], { persistent: true });
  const late = client.subscribe(topic('news'));
  await settle();
  assert.deepEqual(early.bodies(), ['first']);
  assert.deepEqual(late.bodies(), []);
});

test('sending to a wildcard destination is refused', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  assert.throws(() => client.send(topic('w.*'), 'x'), { code: 'FERRY_DESTINATION_INVALID' });
  assert.throws(() => client.send(queue('q.>'), 'x'), { code: 'FERRY_DESTINATION_INVALID' });
});

test('a temporary queue: anyone may send to it, only its owner consume, and it goes with its owner', async (t) => {
  const b = await startBroker(t);
  const owner = await b.connect();
  const other = await b.connect();
  const replyTo = owner.temporaryQueue();
  assert.equal(replyTo.temporary, true);
  other.sendAll(replyTo, ['early reply']);
  assert.throws(() => other.subscribe(replyTo), { code: 'FERRY_DESTINATION_NOT_FOUND' });
  const s = owner.subscribe(replyTo);
  await settle();
  other.sendAll(replyTo, ['reply']);
  assert.deepEqual(s.bodies(), ['early reply', 'reply']);
  owner.close();
  assert.throws(() => other.send(replyTo, 'too late'), { code: 'FERRY_DESTINATION_NOT_FOUND' });
});

test('temporary names are per connection: two connections get two destinations', async (t) => {
  const b = await startBroker(t);
  const one = await b.connect();
  const two = await b.connect();
  const first = one.temporaryQueue();
  const second = two.temporaryQueue();
  assert.notEqual(first.name, second.name);
  const s1 = one.subscribe(first);
  const s2 = two.subscribe(second);
  await settle();
  one.sendAll(second, ['to two']);
  assert.deepEqual(s1.bodies(), []);
  assert.deepEqual(s2.bodies(), ['to two']);
});

test('a temporary topic delivers to its owner\'s subscribers; others may send but not subscribe', async (t) => {
  const b = await startBroker(t);
  const owner = await b.connect();
  const other = await b.connect();
  const tt = owner.temporaryTopic();
  const s = owner.subscribe(tt);
  await settle();
  assert.throws(() => other.subscribe(tt), { code: 'FERRY_DESTINATION_NOT_FOUND' });
  other.sendAll(tt, ['hello']);
  assert.deepEqual(s.bodies(), ['hello']);
});

test('a message rejected from a temporary queue is dropped, not dead-lettered', async (t) => {
  const b = await startBroker(t);
  const owner = await b.connect();
  const tq = owner.temporaryQueue();
  await owner.send(tq, 'nope', { persistent: true });
  const s = owner.subscribe(tq, { ackMode: 'individual' });
  await settle();
  s.reject('nope');
  await settle();
  assert.equal(b.hasQueue('ActiveMQ.DLQ'), false);
});

test('with creation on first use turned off, unknown destinations are refused, and dead letters still have a queue', async (t) => {
  const b = await startBroker(t, { autoCreateDestinations: false });
  const client = await b.connect();
  assert.throws(() => client.send(queue('unknown'), 'x'), { code: 'FERRY_DESTINATION_NOT_FOUND' });
  assert.throws(() => client.subscribe(queue('unknown')), { code: 'FERRY_DESTINATION_NOT_FOUND' });
  const tq = client.temporaryQueue();
  await client.send(tq, 'fine', { persistent: true });
  assert.equal(b.hasQueue('unknown'), false);
});
