/** Which consumer sees what, and in what order: selectors, no-local, message priority. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const q = queue('sel');

test('a selector consumer and a plain one share a queue; what the selector refuses does not wait behind it', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const red = client.subscribe(q, { ackMode: 'individual', selector: "colour = 'red'" });
  await settle();
  client.sendAll(q, ['b1'], { properties: { colour: 'blue' } });
  client.sendAll(q, ['r1'], { properties: { colour: 'red' } });
  client.sendAll(q, ['b2'], { properties: { colour: 'blue' } });
  assert.deepEqual(red.bodies(), ['r1'], 'r1 overtakes b1, which the only consumer may not have');
  const any = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  assert.deepEqual(any.bodies(), ['b1', 'b2']);
  client.sendAll(q, ['r2'], { properties: { colour: 'red' } });
  client.sendAll(q, ['r3'], { properties: { colour: 'red' } });
  assert.deepEqual([...red.bodies(), ...any.bodies()].filter((x) => x.startsWith('r')).sort(), ['r1', 'r2', 'r3']);
});

test('selectors see headers and typed properties: JMSPriority, JMSType, numbers, booleans, IN, LIKE, IS NULL', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['low'], { priority: 1, type: 'order', properties: { amount: 5, urgent: false, region: 'eu-west' } });
  client.sendAll(q, ['high'], { priority: 8, type: 'order', properties: { amount: 500, urgent: true, region: 'us-east' } });
  client.sendAll(q, ['bare'], { priority: 4 });
  const cases: [string, string[]][] = [
    ['JMSPriority > 5', ['high']],
    ["JMSType = 'order' AND amount < 100", ['low']],
    ['urgent = TRUE', ['high']],
    ["region LIKE 'eu-%'", ['low']],
    ["region IN ('us-east', 'ap')", ['high']],
    ['amount IS NULL', ['bare']],
  ];
  for (const [selector, expected] of cases) assert.deepEqual(await client.browse(q, selector), expected, selector);
});

test('string properties compare with numbers only when the subscription asks for conversion', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const strict = client.subscribe(topic('conv'), { selector: 'n > 3' });
  const lenient = client.subscribe(topic('conv'), { selector: 'n > 3', selectorConvertsStrings: true });
  await settle();
  client.sendAll(topic('conv'), ['five'], { properties: { n: '5' } });
  assert.deepEqual(strict.bodies(), []);
  assert.deepEqual(lenient.bodies(), ['five']);
});

test('a topic subscription filters with its selector when routing: nothing refused is kept for it', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const big = client.subscribe(topic('prices'), { selector: 'price > 100', ackMode: 'individual', prefetch: 1 });
  const all = client.subscribe(topic('prices'));
  await settle();
  for (const price of [50, 150, 20, 300]) client.sendAll(topic('prices'), [`p${price}`], { properties: { price } });
  assert.deepEqual(all.bodies(), ['p50', 'p150', 'p20', 'p300']);
  assert.deepEqual(big.bodies(), ['p150']);
  big.ack('p150');
  assert.deepEqual(big.bodies(), ['p150', 'p300'], 'the waiting ones were only those it selects');
});

test('a selector that does not parse is refused at subscribe', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  assert.throws(() => client.subscribe(q, { selector: 'colour = ' }), { code: 'FERRY_SELECTOR_INVALID' });
  assert.throws(() => client.subscribe(topic('x'), { selector: "a = 'b' AND" }), { code: 'FERRY_SELECTOR_INVALID' });
});

test('no-local skips messages sent on the subscriber\'s own connection, on exact and wildcard subscriptions', async (t) => {
  const b = await startBroker(t);
  const me = await b.connect();
  const other = await b.connect();
  const exact = me.subscribe(topic('chat.room'), { noLocal: true });
  const wild = me.subscribe(topic('chat.>'), { noLocal: true });
  const echo = me.subscribe(topic('chat.room'));
  await settle();
  me.sendAll(topic('chat.room'), ['mine']);
  other.sendAll(topic('chat.room'), ['theirs']);
  assert.deepEqual(exact.bodies(), ['theirs']);
  assert.deepEqual(wild.bodies(), ['theirs']);
  assert.deepEqual(echo.bodies(), ['mine', 'theirs']);
});

test('waiting messages go out highest priority first, in order within a priority; priorities clamp to 0-9', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const sent: [string, number][] = [['a4', 4], ['b1', 1], ['c9', 9], ['d4', 4], ['e12', 12], ['f-3', -3], ['g9', 9]];
  for (const [body, priority] of sent) client.sendAll(q, [body], { priority });
  const got = await drain(client, q);
  assert.deepEqual(got.map((d) => d.message.body.toString()), ['c9', 'e12', 'g9', 'a4', 'd4', 'b1', 'f-3']);
  assert.deepEqual(got.map((d) => d.message.priority), [9, 9, 9, 4, 4, 1, 0]);
});

test('a returned message goes back to its place by priority, ahead of lower ones', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(q, ['high'], { priority: 7 });
  const s = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await settle();
  client.sendAll(q, ['low'], { priority: 2 });
  client.sendAll(q, ['mid'], { priority: 5 });
  s.close();
  assert.deepEqual((await drain(client, q)).map((d) => d.message.body.toString()), ['high', 'mid', 'low']);
});

test('a durable no-local subscription skips its own connection\'s messages, also those kept while it is away', async (t) => {
  const b = await startBroker(t);
  const me = await b.connect('me');
  const other = await b.connect();
  me.subscribeDurable(topic('room'), 'd', { noLocal: true }).close();
  me.sendAll(topic('room'), ['mine'], { persistent: true });
  other.sendAll(topic('room'), ['theirs'], { persistent: true });
  const back = me.subscribeDurable(topic('room'), 'd', { noLocal: true });
  await settle();
  assert.deepEqual(back.bodies(), ['theirs']);
});

test('a selector on a virtual topic consumer queue picks among the topic\'s messages', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const eu = client.subscribe(queue('Consumer.EU.VirtualTopic.sales'), { selector: "region = 'eu'" });
  await settle();
  client.sendAll(topic('VirtualTopic.sales'), ['s-eu'], { properties: { region: 'eu' } });
  client.sendAll(topic('VirtualTopic.sales'), ['s-us'], { properties: { region: 'us' } });
  assert.deepEqual(eu.bodies(), ['s-eu']);
  assert.equal(b.queueStats('Consumer.EU.VirtualTopic.sales').pending, 1);
});
