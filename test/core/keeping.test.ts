/** What core keeps, replaces or drops: last values, duplicate ids, retained messages, shared subscriptions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const bodiesOf = (deliveries: readonly { message: { body: Buffer } }[]): string[] => deliveries.map((d) => d.message.body.toString());

test('a last-value queue keeps only the newest waiting message per key; messages without the key all stay', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'ticker', lastValueKey: 'symbol' }] });
  const client = await b.connect();
  const tq = queue('ticker');
  client.sendAll(tq, ['A1'], { properties: { symbol: 'A' } });
  client.sendAll(tq, ['B1'], { properties: { symbol: 'B' } });
  client.sendAll(tq, ['A2'], { properties: { symbol: 'A' } });
  client.sendAll(tq, ['none1', 'none2']);
  client.sendAll(tq, ['A3'], { properties: { symbol: 'A' } });
  assert.deepEqual(bodiesOf(await drain(client, tq)), ['B1', 'none1', 'none2', 'A3']);
});

test('a last value in flight is not replaced: the consumer keeps it, and the newer one waits', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'ticker', lastValueKey: 'symbol' }] });
  const client = await b.connect();
  const tq = queue('ticker');
  const s = client.subscribe(tq, { ackMode: 'individual', prefetch: 1 });
  await settle();
  client.sendAll(tq, ['A1', 'A2', 'A3'], { properties: { symbol: 'A' } });
  assert.deepEqual(s.bodies(), ['A1']);
  s.ack('A1');
  assert.deepEqual(s.bodies(), ['A1', 'A3']);
});

test('a resend with the same _AMQ_DUPL_ID is accepted and dropped; the id is per destination', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const dq = queue('dup');
  for (let i = 0; i < 3; i++) await client.send(dq, `try${i}`, { persistent: true, properties: { _AMQ_DUPL_ID: 'order-1' } });
  await client.send(queue('dup.other'), 'elsewhere', { persistent: true, properties: { _AMQ_DUPL_ID: 'order-1' } });
  await client.send(dq, 'next', { persistent: true, properties: { _AMQ_DUPL_ID: 'order-2' } });
  assert.deepEqual(bodiesOf(await drain(client, dq)), ['try0', 'next']);
  assert.deepEqual(bodiesOf(await drain(client, queue('dup.other'))), ['elsewhere']);
});

test('duplicate ids are remembered within the window only, in transactions too, and across a restart', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'dup', duplicateWindow: 2 }] });
  const client = await b.connect();
  const dq = queue('dup');
  for (const id of ['a', 'b', 'c']) await client.send(dq, id, { persistent: true, properties: { _AMQ_DUPL_ID: id } });
  client.begin('t');
  for (const id of ['a', 'c']) client.sendAll(dq, [`${id}-again`], { txId: 't', persistent: true, properties: { _AMQ_DUPL_ID: id } });
  await client.commit('t');
  assert.deepEqual(bodiesOf(await drain(client, dq)), ['a', 'b', 'c', 'a-again'], 'a had left the window of two; c had not');
  const again = await b.restart();
  const back = await again.connect();
  await back.send(dq, 'c-after-restart', { persistent: true, properties: { _AMQ_DUPL_ID: 'c' } });
  await back.send(dq, 'd', { persistent: true, properties: { _AMQ_DUPL_ID: 'd' } });
  assert.deepEqual(bodiesOf(await drain(back, dq)), ['d']);
});

test('copies arriving late, in their original order, past the duplicate window: only those older than the window get through', async (t) => {
  // a network ring: the originals came along one path, a backlog of copies follows along another
  const b = await startBroker(t, { policies: [{ match: 'dup.late', duplicateWindow: 3 }] });
  const client = await b.connect();
  const dq = queue('dup.late');
  const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
  for (const [i, id] of ids.entries()) await client.send(dq, id, { persistent: true, timestamp: 1_000 + i, properties: { _AMQ_DUPL_ID: id } });
  for (const [i, id] of ids.entries()) await client.send(dq, `${id}-copy`, { persistent: true, timestamp: 1_000 + i, properties: { _AMQ_DUPL_ID: id } });
  assert.deepEqual(bodiesOf(await drain(client, dq)), [...ids, 'm1-copy', 'm2-copy', 'm3-copy'], 'm4 to m6 were still in the window of three');
});

test('a retained message is handed first to new subscriptions that ask for it, flagged retained', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  await client.send(topic('home.temp'), '20C', { options: { retain: true } });
  await client.send(topic('home.temp'), '21C', { options: { retain: true } });
  await client.send(topic('home.hum'), '40%', { options: { retain: true } });
  const all = client.subscribe(topic('home.>'), { retainedMessages: 'all' });
  const none = client.subscribe(topic('home.>'), { retainedMessages: 'none' });
  const plain = client.subscribe(topic('home.>'));
  await settle();
  assert.deepEqual(all.bodies().sort(), ['21C', '40%'], 'one per topic, the latest');
  assert.ok(all.deliveries.every((d) => d.retained === true));
  assert.deepEqual(none.bodies(), []);
  assert.deepEqual(plain.bodies(), []);
  client.sendAll(topic('home.temp'), ['22C']);
  assert.equal(all.deliveries.at(-1)!.retained, false, 'a live message is not flagged retained');
});

test('an empty retained message clears the topic; retained messages survive a restart', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  await client.send(topic('r.kept'), 'stay', { options: { retain: true } });
  await client.send(topic('r.gone'), 'go', { options: { retain: true } });
  await client.send(topic('r.gone'), '', { options: { retain: true } });
  const again = await b.restart();
  const back = await again.connect();
  const s = back.subscribe(topic('r.*'), { retainedMessages: 'all' });
  await settle();
  assert.deepEqual(s.bodies(), ['stay']);
});

test('retained messages "new": a durable subscription gets them when created, not when resumed', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect('retainer');
  await client.send(topic('status'), 'up', { options: { retain: true } });
  const first = client.subscribeDurable(topic('status'), 'watch', { retainedMessages: 'new' });
  await settle();
  assert.deepEqual(first.bodies(), ['up']);
  first.close();
  const resumed = client.subscribeDurable(topic('status'), 'watch', { retainedMessages: 'new' });
  await settle();
  assert.deepEqual(resumed.bodies(), []);
});

test('a retained message cannot be sent to a queue, a wildcard, or in a transaction', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  assert.throws(() => client.send(queue('q'), 'x', { options: { retain: true } }), { code: 'FERRY_DESTINATION_INVALID' });
  assert.throws(() => client.send(topic('a.*'), 'x', { options: { retain: true } }), { code: 'FERRY_DESTINATION_INVALID' });
  client.begin('t');
  assert.throws(() => client.send(topic('a'), 'x', { txId: 't', options: { retain: true } }), { code: 'FERRY_DESTINATION_INVALID' });
});

test('shared subscriptions: members of one share compete; other shares and plain subscribers get everything', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const w1 = client.subscribe(topic('jobs.>'), { shareName: 'workers' });
  const w2 = client.subscribe(topic('jobs.>'), { shareName: 'workers' });
  const audit = client.subscribe(topic('jobs.>'), { shareName: 'audit' });
  const plain = client.subscribe(topic('jobs.>'));
  await settle();
  client.sendAll(topic('jobs.a'), ['j1', 'j2', 'j3', 'j4']);
  assert.deepEqual(w1.bodies(), ['j1', 'j3']);
  assert.deepEqual(w2.bodies(), ['j2', 'j4']);
  assert.deepEqual(audit.bodies(), ['j1', 'j2', 'j3', 'j4']);
  assert.deepEqual(plain.bodies(), ['j1', 'j2', 'j3', 'j4']);
});

test('a shared subscription hands a leaving member\'s unacknowledged messages to the others, and ends with its last member', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const w1 = client.subscribe(topic('tasks'), { shareName: 's', ackMode: 'individual', prefetch: 1 });
  const w2 = client.subscribe(topic('tasks'), { shareName: 's', ackMode: 'individual', prefetch: 1 });
  await settle();
  client.sendAll(topic('tasks'), ['t1', 't2', 't3']);
  assert.deepEqual([w1.bodies(), w2.bodies()], [['t1'], ['t2']]);
  w1.close();
  assert.deepEqual(w2.bodies(), ['t2']);
  w2.ack('t2');
  assert.deepEqual(w2.bodies(), ['t2', 't1']);
  assert.equal(w2.deliveries.at(-1)!.redelivered, true);
  w2.ack('t1');
  assert.deepEqual(w2.bodies(), ['t2', 't1', 't3']);
  w2.close();
  client.sendAll(topic('tasks'), ['while nobody shares']);
  const w3 = client.subscribe(topic('tasks'), { shareName: 's' });
  await settle();
  assert.deepEqual(w3.bodies(), [], 'the share ended with its last member and kept nothing');
});

test('a durable membership keeps a shared subscription and its messages while its members are away, across a restart, until the last membership is deleted', async (t) => {
  const b = await startBroker(t, { storeKind: 'journal' });
  const one = await b.connect('member-1');
  const two = await b.connect('member-2');
  one.subscribeDurable(topic('tasks'), 'm', { shareName: 's' }).close();
  two.subscribeDurable(topic('tasks'), 'm', { shareName: 's' }).close();
  assert.deepEqual(one.durableSubscriptions(), [{ name: 'm', topic: 'tasks', selector: undefined, active: false }]);
  await one.send(topic('tasks'), 'while away', { persistent: true });
  const again = await b.restart();
  const back = await again.connect('member-2');
  const w = back.subscribeDurable(topic('tasks'), 'm', { shareName: 's' });
  await settle();
  assert.deepEqual(w.bodies(), ['while away']);
  w.close();
  back.unsubscribeDurable('m');
  const first = await again.connect('member-1');
  first.unsubscribeDurable('m');
  await first.send(topic('tasks'), 'after the last membership', { persistent: true });
  const late = first.subscribeDurable(topic('tasks'), 'm', { shareName: 's' });
  await settle();
  assert.deepEqual(late.bodies(), [], 'the share ended with its last membership and kept nothing');
});

test('a last-value queue still replaces after a restart', async (t) => {
  const b = await startBroker(t, { storeKind: 'journal', policies: [{ match: 'ticker', lastValueKey: 'symbol' }] });
  const client = await b.connect();
  const tq = queue('ticker');
  await client.send(tq, 'A1', { persistent: true, properties: { symbol: 'A' } });
  await client.send(tq, 'B1', { persistent: true, properties: { symbol: 'B' } });
  const again = await b.restart();
  const back = await again.connect();
  await back.send(tq, 'A2', { persistent: true, properties: { symbol: 'A' } });
  assert.deepEqual(bodiesOf(await drain(back, tq)), ['B1', 'A2']);
});

test('a duplicate id sent to a composite is checked once for the whole send', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  for (let i = 0; i < 2; i++) await client.send(queue('dc.a,dc.b'), `try${i}`, { persistent: true, properties: { _AMQ_DUPL_ID: 'x' } });
  assert.deepEqual(bodiesOf(await drain(client, queue('dc.a'))), ['try0']);
  assert.deepEqual(bodiesOf(await drain(client, queue('dc.b'))), ['try0']);
});
