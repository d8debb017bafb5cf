/**
 * What core does at a time: redelivery delays and scheduled messages. Time is the harness's
 * ManualClock; nothing here waits for the wall clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const q = queue('timed');

test('a redelivery waits the policy\'s delay, growing by the backoff multiplier up to its cap', async (t) => {
  const b = await startBroker(t, {
    manualClock: true,
    policies: [{ match: 'timed', redeliveryDelay: 1000, backoffMultiplier: 2, maxRedeliveryDelay: 3000, maxRedeliveries: -1 }],
  });
  const clock = b.clock!;
  const client = await b.connect();
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  await client.send(q, 'retry', { persistent: true });
  // expected waits: 1000, 2000, then 4000 capped at 3000, and 3000 again
  for (const [n, wait] of [1000, 2000, 3000, 3000].entries()) {
    s.redeliver('retry');
    await settle();
    assert.equal(s.deliveries.length, n + 1, `redelivery ${n + 1} does not come at once`);
    assert.equal(b.queueStats('timed').delayed, 1);
    await clock.advance(wait - 100);
    assert.equal(s.deliveries.length, n + 1, `redelivery ${n + 1} is still waiting ${wait - 100} ms in`);
    await clock.advance(100);
    assert.equal(s.deliveries.length, n + 2, `redelivery ${n + 1} comes after ${wait} ms`);
    assert.equal(s.deliveries.at(-1)!.deliveryCount, n + 2);
  }
  assert.equal(b.queueStats('timed').delayed, 0);
});

test('a delayed redelivery does not hold up the messages behind it', async (t) => {
  const b = await startBroker(t, { manualClock: true, policies: [{ match: 'timed', redeliveryDelay: 5000 }] });
  const clock = b.clock!;
  const client = await b.connect();
  client.sendAll(q, ['first', 'second']);
  const s = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await settle();
  s.redeliver('first');
  await settle();
  assert.deepEqual(s.bodies(), ['first', 'second']);
  s.ack('second');
  await clock.advance(5000);
  assert.deepEqual(s.bodies(), ['first', 'second', 'first']);
});

test('a consumer closing counts as a failed delivery and its messages wait out the delay too', async (t) => {
  const b = await startBroker(t, { manualClock: true, policies: [{ match: 'timed', redeliveryDelay: 2000 }] });
  const clock = b.clock!;
  const client = await b.connect();
  client.sendAll(q, ['m']);
  const first = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  first.close();
  const second = client.subscribe(q, { ackMode: 'individual' });
  await clock.advance(1900);
  assert.deepEqual(second.bodies(), []);
  await clock.advance(100);
  assert.deepEqual(second.deliveries.map((d) => [d.message.body.toString(), d.deliveryCount]), [['m', 2]]);
});

test('AMQ_SCHEDULED_DELAY holds a message for that long', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  await client.send(q, 'later', { persistent: true, properties: { AMQ_SCHEDULED_DELAY: 5000 } });
  client.sendAll(q, ['now']);
  assert.deepEqual(s.bodies(), ['now']);
  assert.equal(b.scheduledCount, 1);
  await clock.advance(4900);
  assert.deepEqual(s.bodies(), ['now']);
  await clock.advance(100);
  assert.deepEqual(s.bodies(), ['now', 'later']);
  assert.equal(b.scheduledCount, 0);
});

test('AMQ_SCHEDULED_PERIOD and REPEAT deliver the message again, each time under an id of its own', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  client.sendAll(q, ['tick'], { properties: { AMQ_SCHEDULED_DELAY: 1000, AMQ_SCHEDULED_PERIOD: 500, AMQ_SCHEDULED_REPEAT: 2 } });
  const times: number[] = [];
  for (let elapsed = 0; elapsed < 4000; elapsed += 100) {
    const before = s.deliveries.length;
    await clock.advance(100);
    if (s.deliveries.length > before) times.push(elapsed + 100);
  }
  assert.deepEqual(times, [1000, 1500, 2000], 'the first at the delay, then two repeats a period apart');
  assert.equal(new Set(s.deliveries.map((d) => d.message.id)).size, 3);
  assert.equal(b.scheduledCount, 0);
});

test('AMQ_SCHEDULED_PERIOD and REPEAT without a delay wait one period before the first delivery, as ActiveMQ does', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  client.sendAll(q, ['tick'], { properties: { AMQ_SCHEDULED_PERIOD: 500, AMQ_SCHEDULED_REPEAT: 2 } });
  const times: number[] = [];
  for (let elapsed = 0; elapsed < 3000; elapsed += 100) {
    const before = s.deliveries.length;
    await clock.advance(100);
    if (s.deliveries.length > before) times.push(elapsed + 100);
  }
  assert.deepEqual(times, [500, 1000, 1500]);
});

test('AMQ_SCHEDULED_CRON with a delay and no repeat: the first firing comes the delay after the expression\'s time, the later ones at its times, as ActiveMQ does', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  client.sendAll(q, ['delayed cron'], { properties: { AMQ_SCHEDULED_CRON: '*/15 * * * *', AMQ_SCHEDULED_DELAY: 20_000 } });
  // with a period and no delay, the period takes the delay's place
  client.sendAll(q, ['period cron'], { properties: { AMQ_SCHEDULED_CRON: '*/15 * * * *', AMQ_SCHEDULED_PERIOD: 40_000 } });
  const quarter = 15 * 60_000;
  const times: [string, number][] = [];
  for (let elapsed = 0; elapsed < 2 * quarter + 60_000; elapsed += 10_000) {
    const before = s.deliveries.length;
    await clock.advance(10_000);
    for (const d of s.deliveries.slice(before)) times.push([d.message.body.toString(), elapsed + 10_000]);
  }
  assert.deepEqual(times, [
    ['delayed cron', quarter + 20_000],
    ['period cron', quarter + 40_000],
    ['delayed cron', 2 * quarter],
    ['period cron', 2 * quarter],
  ]);
});

test('AMQ_SCHEDULED_CRON delivers at each time the expression names', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  // the clock starts on a whole hour (UTC; every time zone is a whole quarter hour off it), so the first */15 is a quarter hour away
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  client.sendAll(q, ['cron'], { properties: { AMQ_SCHEDULED_CRON: '*/15 * * * *' } });
  await clock.advance(15 * 60_000 - 1000);
  assert.deepEqual(s.bodies(), []);
  await clock.advance(1000);
  assert.deepEqual(s.bodies(), ['cron']);
  await clock.advance(15 * 60_000);
  assert.deepEqual(s.bodies(), ['cron', 'cron']);
  assert.equal(b.scheduledCount, 1, 'a cron schedule goes on');
});

test('AMQ_SCHEDULED_CRON with a repeat starts, each time it fires, a run of repeat + 1 deliveries a period apart', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const s = client.subscribe(q);
  await settle();
  const properties = { AMQ_SCHEDULED_CRON: '*/15 * * * *', AMQ_SCHEDULED_DELAY: 1000, AMQ_SCHEDULED_PERIOD: 500, AMQ_SCHEDULED_REPEAT: 2 };
  client.sendAll(q, ['run'], { properties });
  const times: number[] = [];
  for (let elapsed = 0; elapsed < 31 * 60_000; elapsed += 100) {
    const before = s.deliveries.length;
    await clock.advance(100);
    if (s.deliveries.length > before) times.push(elapsed + 100);
  }
  const quarter = 15 * 60_000;
  assert.deepEqual(times, [quarter + 1000, quarter + 1500, quarter + 2000, 2 * quarter + 1000, 2 * quarter + 1500, 2 * quarter + 2000]);
  assert.equal(new Set(s.deliveries.map((d) => d.message.id)).size, 6, 'every delivery has an id of its own');
  assert.equal(b.scheduledCount, 1, 'the runs are over; the cron schedule goes on');
});

test('a persistent cron run under way survives a restart, next to its cron schedule', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const properties = { AMQ_SCHEDULED_CRON: '*/15 * * * *', AMQ_SCHEDULED_DELAY: 1000, AMQ_SCHEDULED_PERIOD: 500, AMQ_SCHEDULED_REPEAT: 2 };
  await client.send(q, 'run', { persistent: true, properties });
  // the cron fires at the quarter hour, its run's first delivery a second later
  await clock.advance(15 * 60_000);
  await clock.advance(1000);
  const again = await b.restart();
  assert.equal(again.scheduledCount, 2, 'the cron schedule and its run');
  const reader = await again.connect();
  const s = reader.subscribe(q);
  // one advance per period: each repeat is armed by the batch that delivered the one before
  for (let i = 0; i < 4; i++) await clock.advance(500);
  assert.deepEqual(s.bodies(), ['run', 'run', 'run'], 'the first delivery, waiting in the queue, then the two repeats');
  assert.equal(again.scheduledCount, 1);
});

test('an AMQ_SCHEDULED_CRON that is not a cron expression, or a negative delay, is refused', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const client = await b.connect();
  assert.throws(() => client.send(q, 'x', { properties: { AMQ_SCHEDULED_CRON: 'every tuesday' } }), { code: 'FERRY_DESTINATION_INVALID' });
  assert.throws(() => client.send(q, 'x', { properties: { AMQ_SCHEDULED_DELAY: -5 } }), { code: 'FERRY_DESTINATION_INVALID' });
  assert.equal(b.scheduledCount, 0);
});

test('a scheduled message sent in a transaction is scheduled at commit, and dropped by rollback', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  client.begin('t1');
  client.sendAll(q, ['kept'], { txId: 't1', persistent: true, properties: { AMQ_SCHEDULED_DELAY: 1000 } });
  client.begin('t2');
  client.sendAll(q, ['dropped'], { txId: 't2', persistent: true, properties: { AMQ_SCHEDULED_DELAY: 1000 } });
  assert.equal(b.scheduledCount, 0);
  await client.commit('t1');
  client.rollback('t2');
  assert.equal(b.scheduledCount, 1);
  await clock.advance(1000);
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['kept']);
});

test('a scheduled message survives a restart, persistent or not, and comes at its time in its own delivery mode', async (t) => {
  const b = await startBroker(t, { manualClock: true, storeKind: 'journal' });
  const clock = b.clock!;
  const client = await b.connect();
  await client.send(q, 'durable-later', { persistent: true, properties: { AMQ_SCHEDULED_DELAY: 3000 } });
  // stored as the persistent one is: its send waits for the store, as ActiveMQ's job scheduler keeps every job
  const transient = client.send(q, 'transient-later', { persistent: false, properties: { AMQ_SCHEDULED_DELAY: 3000 } });
  assert.ok(transient !== null, 'a non-persistent scheduled send is confirmed once stored');
  await transient;
  await clock.advance(1000);
  const again = await b.restart();
  assert.equal(again.scheduledCount, 2, 'both are kept');
  const reader = await again.connect();
  const s = reader.subscribe(q);
  await clock.advance(1900);
  assert.deepEqual(s.bodies(), []);
  await clock.advance(100);
  assert.deepEqual(s.deliveries.map((d) => [d.message.body.toString(), d.message.persistent]), [['durable-later', true], ['transient-later', false]]);
});

test('a non-persistent scheduled message sent in a transaction or with a duplicate id is stored with its commit or send, and survives a restart', async (t) => {
  const b = await startBroker(t, { manualClock: true, storeKind: 'journal' });
  const clock = b.clock!;
  const client = await b.connect();
  client.begin('t');
  client.sendAll(q, ['in-tx'], { txId: 't', persistent: false, properties: { AMQ_SCHEDULED_DELAY: 1000 } });
  const committed = client.commit('t');
  assert.ok(committed !== null, 'the commit waits for the store');
  await committed;
  const deduplicated = client.send(q, 'with-id', { persistent: false, properties: { AMQ_SCHEDULED_DELAY: 1000, _AMQ_DUPL_ID: 'once' } });
  assert.ok(deduplicated !== null, 'the send waits for the store');
  await deduplicated;
  const again = await b.restart();
  assert.equal(again.scheduledCount, 2);
  await clock.advance(1000);
  const reader = await again.connect();
  assert.deepEqual((await drain(reader, q)).map((d) => [d.message.body.toString(), d.message.persistent]), [['in-tx', false], ['with-id', false]]);
});

test('a rolled back acknowledgement is redelivered after the policy\'s delay', async (t) => {
  const b = await startBroker(t, { manualClock: true, policies: [{ match: 'timed', redeliveryDelay: 1500 }] });
  const clock = b.clock!;
  const client = await b.connect();
  client.sendAll(q, ['m']);
  const s = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.begin('t');
  s.ack('m', 't');
  client.rollback('t');
  await clock.advance(1400);
  assert.equal(s.deliveries.length, 1);
  await clock.advance(100);
  assert.deepEqual(s.deliveries.map((d) => d.deliveryCount), [1, 2]);
});

test('a scheduled message reaches a durable subscription whose subscriber is away, and survives a restart there', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect('sched');
  client.subscribeDurable({ kind: 'topic', name: 'alarms' }, 'sub').close();
  await client.send({ kind: 'topic', name: 'alarms' }, 'wake up', { persistent: true, properties: { AMQ_SCHEDULED_DELAY: 1000 } });
  await clock.advance(1000);
  const again = await b.restart();
  const back = (await again.connect('sched')).subscribeDurable({ kind: 'topic', name: 'alarms' }, 'sub');
  await settle();
  assert.deepEqual(back.bodies(), ['wake up']);
});

test('a topic nothing uses for idleTopicTimeout is forgotten and made again by its next use, and counts toward maxDestinations only while used; subscribed, retained and durable topics stay', async (t) => {
  const b = await startBroker(t, { manualClock: true, idleTopicTimeout: 60_000, limits: { maxDestinations: 5 } });
  const clock = b.clock!;
  const topics = (): string[] => b.broker.stats().topics.map((topic) => topic.name);
  const client = await b.connect('idle-topics');
  const live = client.subscribe(topic('idle.subscribed'));
  client.subscribeDurable(topic('idle.durable'), 'kept').close();
  await client.send(topic('idle.retained'), 'last value', { options: { retain: true } });
  await client.send(topic('idle.sent'), 'nobody listens');
  await settle();
  assert.deepEqual(topics(), ['idle.durable', 'idle.retained', 'idle.sent', 'idle.subscribed']);

  // used since the last sweep: kept one more round
  await clock.advance(60_000);
  assert.deepEqual(topics(), ['idle.durable', 'idle.retained', 'idle.sent', 'idle.subscribed']);
  await clock.advance(60_000);
  assert.deepEqual(topics(), ['idle.durable', 'idle.retained', 'idle.subscribed'], 'the idle topic went');

  // each new topic name counts toward maxDestinations only while it is used
  for (const device of ['a', 'b', 'c']) {
    await client.send(topic(`idle.device.${device}`), 'reading');
    await clock.advance(120_000);
  }
  assert.deepEqual(topics(), ['idle.durable', 'idle.retained', 'idle.subscribed']);
  await client.send(topic('idle.sent'), 'again');
  assert.equal(b.broker.stats().topics.find((topic) => topic.name === 'idle.sent')?.subscriptions, 0);
  live.close();
  await clock.advance(120_000);
  assert.deepEqual(topics(), ['idle.durable', 'idle.retained'], 'unsubscribed and idle: gone');
});
