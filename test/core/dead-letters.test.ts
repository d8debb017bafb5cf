import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const q = queue('work');
const DLQ = queue('ActiveMQ.DLQ');

test('a rejected persistent message goes to ActiveMQ.DLQ as a copy naming where it came from and why', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  await client.send(q, 'poison', { persistent: true, properties: { kept: 'yes' }, correlationId: 'c-1' });
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  const original = s.delivery('poison').message;
  s.reject('poison');
  await settle();
  assert.equal(s.deliveries.length, 1, 'a rejected message does not come back to the consumer');
  const [dead] = await drain(client, DLQ);
  assert.ok(dead !== undefined, 'the dead-letter queue holds the message');
  assert.equal(dead.message.id, original.id);
  assert.equal(dead.message.body.toString(), 'poison');
  assert.equal(dead.message.correlationId, 'c-1');
  assert.equal(dead.message.properties.get('kept'), 'yes');
  assert.deepEqual(dead.message.originalDestination, q);
  assert.deepEqual(dead.message.destination, DLQ);
  assert.match(String(dead.message.properties.get('dlqDeliveryFailureCause')), /rejected/);
  assert.equal(b.queueStats('work').pending + b.queueStats('work').inFlight, 0);
});

test('past the maximum redeliveries a message is dead-lettered, with the count in the cause', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'work', maxRedeliveries: 2 }] });
  const client = await b.connect();
  await client.send(q, 'flaky', { persistent: true });
  const counts: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const s = client.subscribe(q, { ackMode: 'individual' });
    await settle();
    counts.push(...s.deliveries.map((d) => d.deliveryCount));
    s.close();
  }
  assert.deepEqual(counts, [1, 2, 3], 'the first delivery and two redeliveries');
  const again = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(again.bodies(), [], 'a fourth delivery would pass the maximum');
  const [dead] = await drain(client, DLQ);
  assert.equal(dead?.message.body.toString(), 'flaky');
  assert.match(String(dead?.message.properties.get('dlqDeliveryFailureCause')), /3 times.*max redeliveries 2/);
  assert.equal(b.queueStats('work').deadLettered, 1);
});

test('redeliver through the handle counts towards the maximum too; release does not', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'work', maxRedeliveries: 1 }] });
  const client = await b.connect();
  await client.send(q, 'm', { persistent: true });
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  for (let i = 0; i < 3; i++) {
    s.release('m');
    await settle();
  }
  assert.equal(s.deliveries.length, 4);
  s.redeliver('m');
  await settle();
  assert.equal(s.deliveries.length, 5);
  s.redeliver('m');
  await settle();
  assert.equal(s.deliveries.length, 5, 'the second counted failure passes the maximum of 1');
  assert.equal((await drain(client, DLQ)).length, 1);
});

test('individual dead-letter policy: each destination gets DLQ.<name>', async (t) => {
  const b = await startBroker(t, { policies: [{ match: '>', individualDeadLetter: true }] });
  const client = await b.connect();
  for (const name of ['a', 'b']) {
    await client.send(queue(name), `from-${name}`, { persistent: true });
    const s = client.subscribe(queue(name), { ackMode: 'individual' });
    await settle();
    s.reject(`from-${name}`);
  }
  await settle();
  assert.equal(b.hasQueue('ActiveMQ.DLQ'), false);
  assert.deepEqual((await drain(client, queue('DLQ.a'))).map((d) => d.message.body.toString()), ['from-a']);
  assert.deepEqual((await drain(client, queue('DLQ.b'))).map((d) => d.message.body.toString()), ['from-b']);
});

test('a non-persistent message is dropped, not dead-lettered, unless the policy says otherwise', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'keep.>', deadLetterNonPersistent: true }] });
  const client = await b.connect();
  for (const name of ['work', 'keep.work']) {
    await client.send(queue(name), name, { persistent: false });
    const s = client.subscribe(queue(name), { ackMode: 'individual' });
    await settle();
    s.reject(name);
  }
  await settle();
  const dead = await drain(client, DLQ);
  assert.deepEqual(dead.map((d) => d.message.body.toString()), ['keep.work']);
  assert.equal(dead[0]!.message.persistent, false);
  assert.equal(b.queueStats('work').pending + b.queueStats('work').inFlight, 0, 'the dropped one is gone from its queue too');
  assert.deepEqual([b.queueStats('work').discarded, b.queueStats('work').deadLettered], [1, 0]);
  assert.deepEqual([b.queueStats('keep.work').discarded, b.queueStats('keep.work').deadLettered], [0, 1]);
});

test('a message that fails in the dead-letter queue itself is dropped, not looped', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  await client.send(q, 'twice', { persistent: true });
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  s.reject('twice');
  await settle();
  const dlq = client.subscribe(DLQ, { ackMode: 'individual' });
  await settle();
  dlq.reject('twice');
  await settle();
  assert.equal(b.queueStats('ActiveMQ.DLQ').pending + b.queueStats('ActiveMQ.DLQ').inFlight, 0);
  assert.equal(dlq.deliveries.length, 1);
});

test('an expired persistent message goes to the DLQ from a queue nobody consumes, found by the sweep', async (t) => {
  const b = await startBroker(t, { manualClock: true, expirySweepInterval: 1000 });
  const clock = b.clock!;
  const client = await b.connect();
  await client.send(q, 'stale', { persistent: true, expiration: clock.now + 500 });
  await client.send(q, 'fresh', { persistent: true, expiration: clock.now + 60_000 });
  await clock.advance(999);
  assert.equal(b.queueStats('work').pending, 2, 'nothing has swept yet');
  await clock.advance(1);
  assert.equal(b.queueStats('work').pending, 1);
  assert.equal(b.queueStats('work').expired, 1);
  const [dead] = await drain(client, DLQ);
  assert.equal(dead?.message.body.toString(), 'stale');
  assert.equal(dead?.message.properties.get('dlqDeliveryFailureCause'), 'expired');
  assert.equal(dead?.message.properties.get('originalExpiration'), clock.now - 1000 + 500);
  assert.equal(dead?.message.expiration, 0, 'the copy in the DLQ does not expire');
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['fresh']);
});

test('an expired message is dropped, not dead-lettered, when the policy says so, and never delivered', async (t) => {
  const b = await startBroker(t, { manualClock: true, policies: [{ match: 'work', expiredToDeadLetter: false }] });
  const clock = b.clock!;
  const client = await b.connect();
  await client.send(q, 'stale', { persistent: true, expiration: clock.now + 10 });
  await clock.advance(20);
  assert.deepEqual(await drain(client, q), []);
  assert.equal(b.queueStats('work').expired, 1);
  assert.equal(b.hasQueue('ActiveMQ.DLQ'), false);
});

test('a message that expires while in a consumer\'s prefetch is not handed to the next consumer when it returns', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const first = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  await client.send(q, 'short', { persistent: true, expiration: clock.now + 100 });
  assert.deepEqual(first.bodies(), ['short']);
  await clock.advance(200);
  first.close();
  assert.deepEqual(await drain(client, q), []);
  assert.equal((await drain(client, DLQ)).length, 1);
});

test('each rollback of a transacted acknowledgement counts towards the maximum redeliveries', async (t) => {
  const b = await startBroker(t, { policies: [{ match: 'work', maxRedeliveries: 1 }] });
  const client = await b.connect();
  await client.send(q, 'rolled', { persistent: true });
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  for (let i = 0; i < 2; i++) {
    client.begin(`t${i}`);
    s.ack('rolled', `t${i}`);
    client.rollback(`t${i}`);
    await settle();
  }
  assert.deepEqual(s.deliveries.map((d) => d.deliveryCount), [1, 2]);
  assert.deepEqual((await drain(client, DLQ)).map((d) => d.message.body.toString()), ['rolled']);
});

test('a message rejected by a durable topic subscriber is dead-lettered with the topic as its origin', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect('dl-client');
  const s = client.subscribeDurable({ kind: 'topic', name: 'events' }, 'sub', { ackMode: 'individual' });
  await settle();
  await client.send({ kind: 'topic', name: 'events' }, 'bad event', { persistent: true });
  s.reject('bad event');
  await settle();
  const [dead] = await drain(client, DLQ);
  assert.equal(dead?.message.body.toString(), 'bad event');
  assert.deepEqual(dead?.message.originalDestination, { kind: 'topic', name: 'events' });
});

test('a persistent message that expires in a durable subscription while its subscriber is away goes to the DLQ', async (t) => {
  const b = await startBroker(t, { manualClock: true, expirySweepInterval: 1000 });
  const clock = b.clock!;
  const client = await b.connect('away');
  client.subscribeDurable({ kind: 'topic', name: 'events' }, 'sub').close();
  await client.send({ kind: 'topic', name: 'events' }, 'stale', { persistent: true, expiration: clock.now + 100 });
  await clock.advance(1000);
  const [dead] = await drain(client, DLQ);
  assert.equal(dead?.message.properties.get('dlqDeliveryFailureCause'), 'expired');
  const back = client.subscribeDurable({ kind: 'topic', name: 'events' }, 'sub');
  await settle();
  assert.deepEqual(back.bodies(), []);
});

test('a rejection in client mode refuses only the delivery named, not the ones before it', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b', 'c'], { persistent: true });
  const s = client.subscribe(q, { ackMode: 'client' });
  await settle();
  s.reject('b');
  await settle();
  assert.equal(s.handle.inFlightCount, 2);
  assert.deepEqual((await drain(client, DLQ)).map((d) => d.message.body.toString()), ['b']);
});

test('a message a consumer\'s protocol cannot put into its terms goes to the dead-letter queue, and the queue and its producer carry on', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const refused = new Set(['cannot be carried']);
  const delivered: string[] = [];
  const sink = {
    deliver: (d: { message: { body: Buffer } }) => {
      const body = d.message.body.toString();
      // an encoder that meets a value its protocol has no room for
      if (refused.has(body)) throw new RangeError('a value over the protocol\'s limit');
      delivered.push(body);
    },
    isWritable: () => true,
    onWritable: () => {},
  };
  for (const ackMode of ['auto', 'individual'] as const) {
    delivered.length = 0;
    const consumer = client.session.subscribe({ destination: q, sink, ackMode });
    await client.send(q, 'before', { persistent: true });
    await client.send(q, 'cannot be carried', { persistent: true });
    await client.send(q, 'after', { persistent: true });
    await settle();
    assert.deepEqual(delivered, ['before', 'after'], ackMode);
    if (ackMode === 'individual') {
      assert.equal(consumer.inFlightCount, 2, 'the message it could not carry is not in flight');
      for (const tag of [1, 3]) consumer.acknowledge(tag);
    }
    consumer.close();
    const [dead, ...more] = await drain(client, DLQ);
    assert.equal(more.length, 0);
    assert.equal(dead?.message.body.toString(), 'cannot be carried');
    assert.match(String(dead?.message.properties.get('dlqDeliveryFailureCause')), /could not carry it: a value over the protocol's limit/);
  }
});

test('a virtual topic group\'s dead letter comes from its consumer queue, and a retry sends it back to that group alone', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const groupA = client.subscribe(queue('Consumer.A.VirtualTopic.orders'), { ackMode: 'individual' });
  const groupB = client.subscribe(queue('Consumer.B.VirtualTopic.orders'), { ackMode: 'individual' });
  await settle();
  await client.send(topic('VirtualTopic.orders'), 'poison', { persistent: true });
  await settle();
  assert.deepEqual(groupA.delivery('poison').message.destination, queue('Consumer.A.VirtualTopic.orders'));
  assert.deepEqual(groupA.delivery('poison').message.originalDestination, topic('VirtualTopic.orders'));
  groupB.ack('poison');
  groupA.reject('poison');
  await settle();
  const [dead] = b.broker.admin.browse('ActiveMQ.DLQ', undefined, 0, 10).items;
  assert.deepEqual(dead?.message.originalDestination, queue('Consumer.A.VirtualTopic.orders'));
  groupA.close();
  groupB.close();
  assert.equal(b.broker.admin.transfer('ActiveMQ.DLQ', {}, 'retry'), 1);
  assert.equal(b.queueStats('Consumer.A.VirtualTopic.orders').pending, 1);
  assert.equal(b.queueStats('Consumer.B.VirtualTopic.orders').pending, 0);
});
