/** Browsers on queues: each message in the queue (waiting or in flight) once, through the sink, consuming nothing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordingSink, drain, queue, settle, startBroker, topic } from './harness.js';

const q = queue('shelf');

test('a browser sees the waiting messages in dispatch order, ends once, and consumes nothing', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['a', 'b'], { persistent: true });
  client.sendAll(q, ['urgent'], { persistent: true, priority: 9 });
  assert.deepEqual(await client.browse(q), ['urgent', 'a', 'b']);
  assert.deepEqual(await client.browse(q), ['urgent', 'a', 'b'], 'a second browse sees the same');
  assert.equal(b.queueStats('shelf').pending, 3);
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['urgent', 'a', 'b']);
});

test('a browser shows the messages a consumer holds unacknowledged too, where they stand in the queue, and applies its selector', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['taken']);
  client.sendAll(q, ['urgent taken'], { priority: 9 });
  const s = client.subscribe(q, { ackMode: 'individual', prefetch: 2 });
  await settle();
  client.sendAll(q, ['red'], { properties: { colour: 'red' } });
  client.sendAll(q, ['blue'], { properties: { colour: 'blue' } });
  client.sendAll(q, ['urgent'], { priority: 9 });
  assert.deepEqual(s.bodies(), ['urgent taken', 'taken']);
  assert.deepEqual(await client.browse(q), ['urgent taken', 'urgent', 'taken', 'red', 'blue'], 'by priority, then in queue order');
  assert.deepEqual(await client.browse(q, "colour = 'blue'"), ['blue']);
  // the browse left the deliveries as they were: acknowledged, they make room for the next ones, not redelivered
  s.ack('taken');
  s.ack('urgent taken');
  await settle();
  assert.deepEqual(s.bodies(), ['urgent taken', 'taken', 'urgent', 'red']);
  assert.deepEqual(s.deliveries.map((d) => d.redelivered), [false, false, false, false]);
  assert.deepEqual(await client.browse(q), ['urgent', 'red', 'blue']);
});

test('a browser honours its sink\'s writability and credit, and ends only after the last message', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['1', '2', '3', '4']);
  const sink = new RecordingSink();
  sink.block();
  const browser = client.openBrowser(q, sink);
  await settle();
  assert.deepEqual(sink.bodies(), []);
  assert.equal(sink.browseEnds, 0);
  sink.setCredit(2);
  sink.unblock();
  await settle();
  assert.deepEqual(sink.bodies(), ['1', '2']);
  assert.equal(sink.browseEnds, 0, 'not at the end while out of credit');
  sink.addCredit(5);
  browser.wake();
  await settle();
  assert.deepEqual(sink.bodies(), ['1', '2', '3', '4']);
  assert.equal(sink.browseEnds, 1);
  assert.deepEqual(sink.breaches, []);
});

test('a browser walks what waited when it opened: later messages are not in it, consumed ones are skipped', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['old-1', 'old-2', 'old-3']);
  const sink = new RecordingSink();
  sink.setCredit(1);
  const browser = client.openBrowser(q, sink);
  await settle();
  assert.deepEqual(sink.bodies(), ['old-1']);
  client.sendAll(q, ['new']);
  const taker = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await settle();
  taker.ack('old-1');
  assert.deepEqual(taker.bodies(), ['old-1', 'old-2']);
  taker.ack('old-2');
  sink.addCredit(10);
  browser.wake();
  await settle();
  assert.deepEqual(sink.bodies(), ['old-1', 'old-3'], 'old-2 was consumed meanwhile; new came after the browser opened');
  assert.equal(sink.browseEnds, 1);
});

test('a browser closed midway delivers nothing more and never ends', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['1', '2', '3']);
  const sink = new RecordingSink();
  sink.setCredit(1);
  const browser = client.openBrowser(q, sink);
  await settle();
  browser.close();
  sink.addCredit(10);
  browser.wake();
  await settle();
  assert.deepEqual(sink.bodies(), ['1']);
  assert.equal(sink.browseEnds, 0);
  assert.equal(b.queueStats('shelf').pending, 3);
});

test('browsing a queue that does not exist ends at once with nothing and does not create it; a topic cannot be browsed', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  assert.deepEqual(await client.browse(queue('nowhere')), []);
  assert.equal(b.hasQueue('nowhere'), false);
  assert.throws(() => client.openBrowser(topic('news'), new RecordingSink()), { code: 'FERRY_DESTINATION_INVALID' });
});

test('an expired message is not shown to a browser', async (t) => {
  const b = await startBroker(t, { manualClock: true, expirySweepInterval: 60_000 });
  const clock = b.clock!;
  const client = await b.connect();
  client.sendAll(q, ['short'], { expiration: clock.now + 100 });
  client.sendAll(q, ['long'], { expiration: clock.now + 10_000 });
  await clock.advance(200);
  assert.deepEqual(await client.browse(q), ['long']);
});
