/**
 * A consumer on a wildcard queue (ActiveMQ's `orders.*`): one handle that takes from every queue
 * whose name matches, now and later, with delivery tags, the prefetch and client acknowledgement
 * shared across them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryError, isFerryError } from '../../src/errors.js';
import type { Authenticator, Authorizer, Destination, Operation, Principal } from '../../src/core/index.js';
import { Client, queue, RecordingSink, settle, startBroker, topic, type TestBroker } from './harness.js';

const dequeued = (b: TestBroker, name: string): number => b.broker.stats().queues.find((q) => q.name === name)?.dequeued ?? -1;
const sorted = (list: readonly string[]): string[] => [...list].sort();

test('a wildcard queue consumer takes from every queue that exists and matches', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('orders.eu'), 'eu');
  client.send(queue('orders.us'), 'us');
  client.send(queue('invoices.eu'), 'invoice');
  const s = client.subscribe(queue('orders.*'));
  await settle();
  assert.deepEqual(sorted(s.bodies()), ['eu', 'us']);
  assert.equal(b.queueStats('invoices.eu').pending, 1, 'a queue the pattern does not match keeps its message');
  assert.equal(b.queueStats('orders.eu').consumers, 1);
});

test('a queue made after the subscription joins it, and what is sent to it is delivered', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const s = client.subscribe(queue('orders.*'));
  await settle();
  client.send(queue('orders.new'), 'first');
  await settle();
  client.send(queue('orders.new'), 'second');
  client.send(queue('other.new'), 'elsewhere');
  await settle();
  assert.deepEqual(s.bodies(), ['first', 'second']);
  assert.equal(b.queueStats('other.new').pending, 1);
});

test('* matches one level, > every deeper one', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  for (const name of ['wc.a', 'wc.a.b', 'wc.a.b.c', 'wc', 'wcx.a']) client.send(queue(name), name);
  const producer = await b.connect();
  const star = client.subscribe(queue('wc.*'), { ackMode: 'individual' });
  await settle();
  const rest = producer.subscribe(queue('wc.>'), { ackMode: 'individual' });
  await settle();
  assert.deepEqual(star.bodies(), ['wc.a']);
  assert.deepEqual(sorted(rest.bodies()), ['wc.a.b', 'wc.a.b.c'], 'wc.a went to the first consumer; > needs at least one level');
  assert.equal(b.queueStats('wc').pending, 1);
  assert.equal(b.queueStats('wcx.a').pending, 1);
});

test('tags are unique across the member queues and each acknowledgement reaches its own queue', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(queue('jobs.a'), ['a1', 'a2']);
  client.sendAll(queue('jobs.b'), ['b1', 'b2']);
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'individual' });
  await settle();
  const tags = s.deliveries.map((d) => d.tag);
  assert.equal(new Set(tags).size, 4, `tags ${tags.join(',')} repeat`);
  s.ack('a2');
  s.ack('b1');
  assert.equal(b.queueStats('jobs.a').inFlight, 1);
  assert.equal(b.queueStats('jobs.b').inFlight, 1);
  assert.equal(s.handle.inFlightCount, 2);
  assert.throws(() => s.ack('a2'), (err: unknown) => isFerryError(err, 'FERRY_DELIVERY_NOT_FOUND'));
  s.reject('a1');
  s.release('b2');
  await settle();
  const rejected = b.queueStats('jobs.a');
  assert.equal(rejected.deadLettered + rejected.discarded, 1);
  assert.equal(s.deliveries.at(-1)!.message.body.toString(), 'b2', 'the released message came back to the same consumer');
  assert.equal(s.deliveries.at(-1)!.redelivered, false);
});

test('a client acknowledgement covers every earlier delivery, whichever queue it came from', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'client' });
  await settle();
  client.send(queue('jobs.a'), 'a1');
  await settle();
  client.send(queue('jobs.b'), 'b1');
  await settle();
  client.send(queue('jobs.a'), 'a2');
  client.send(queue('jobs.b'), 'b2');
  assert.deepEqual(s.bodies(), ['a1', 'b1', 'a2', 'b2']);
  s.ack('a2');
  assert.equal(b.queueStats('jobs.a').inFlight, 0);
  assert.equal(b.queueStats('jobs.b').inFlight, 1, 'b2 came after a2');
  assert.equal(dequeued(b, 'jobs.b'), 1);
  assert.equal(s.handle.inFlightCount, 1);
});

test('the prefetch bounds the whole subscription, and freed room goes to the queues in turn', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.sendAll(queue('jobs.a'), ['a1', 'a2', 'a3']);
  client.sendAll(queue('jobs.b'), ['b1', 'b2', 'b3']);
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'individual', prefetch: 2 });
  await settle();
  assert.equal(s.deliveries.length, 2);
  assert.equal(s.handle.inFlightCount, 2);
  for (let i = 0; i < 4; i++) s.ack(s.bodies()[i]!);
  assert.equal(s.deliveries.length, 6);
  assert.equal(s.handle.inFlightCount, 2);
  const a = s.bodies().filter((body) => body.startsWith('a'));
  assert.deepEqual(a, ['a1', 'a2', 'a3'], 'each queue keeps its order');
  assert.ok(s.bodies().slice(0, 4).some((body) => body.startsWith('b')), `one queue took every freed slot: ${s.bodies().join(',')}`);
});

test('protocol credit is shared too: a grant wakes the queues it held back', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a1');
  client.send(queue('jobs.b'), 'b1');
  const s = client.subscribe(queue('jobs.*'), { credit: 0 });
  await settle();
  assert.deepEqual(s.bodies(), []);
  s.grant(1);
  assert.equal(s.deliveries.length, 1);
  s.grant(1);
  assert.deepEqual(sorted(s.bodies()), ['a1', 'b1']);
  assert.deepEqual(s.sink.breaches, []);
});

test('closing gives every in-flight message back to its own queue, redelivered', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a1');
  client.send(queue('jobs.b'), 'b1');
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'individual' });
  await settle();
  assert.equal(s.deliveries.length, 2);
  s.close();
  assert.equal(b.queueStats('jobs.a').pending, 1);
  assert.equal(b.queueStats('jobs.b').pending, 1);
  assert.equal(b.queueStats('jobs.a').consumers, 0);
  assert.throws(() => s.ack('a1'), (err: unknown) => isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND'));
  client.send(queue('jobs.c'), 'c1');
  await settle();
  assert.equal(b.queueStats('jobs.c').consumers, 0, 'a closed subscription attaches to no new queue');
  const again = await drain(client, 'jobs.a');
  assert.deepEqual(again, [{ body: 'a1', redelivered: true }]);
});

async function drain(client: Client, name: string): Promise<{ body: string; redelivered: boolean }[]> {
  const s = client.subscribe(queue(name));
  await settle();
  s.close();
  return s.deliveries.map((d) => ({ body: d.message.body.toString(), redelivered: d.redelivered }));
}

test('a selector applies in every member queue', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a-red', { properties: { colour: 'red' } });
  client.send(queue('jobs.a'), 'a-blue', { properties: { colour: 'blue' } });
  client.send(queue('jobs.b'), 'b-red', { properties: { colour: 'red' } });
  const s = client.subscribe(queue('jobs.*'), { selector: "colour = 'red'" });
  await settle();
  assert.deepEqual(sorted(s.bodies()), ['a-red', 'b-red']);
  assert.equal(b.queueStats('jobs.a').pending, 1);
});

test('acknowledgements in a transaction take effect at commit, and go back at rollback', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a1');
  client.send(queue('jobs.b'), 'b1');
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'individual' });
  await settle();
  client.begin('tx');
  s.ack('a1', 'tx');
  s.ack('b1', 'tx');
  assert.equal(s.handle.inFlightCount, 0, 'the prefetch is freed at once');
  client.rollback('tx');
  await settle();
  assert.equal(s.deliveries.length, 4, 'both came back');
  client.begin('tx2');
  s.ack('a1', 'tx2');
  s.ack('b1', 'tx2');
  assert.equal(dequeued(b, 'jobs.a'), 0);
  await client.commit('tx2');
  assert.equal(dequeued(b, 'jobs.a'), 1);
  assert.equal(dequeued(b, 'jobs.b'), 1);
});

test('a deleted queue leaves the subscription; a late acknowledgement of its delivery is no error', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a1');
  client.send(queue('jobs.b'), 'b1');
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'individual' });
  await settle();
  client.connection.deleteQueue('jobs.a', { ifUnused: false, ifEmpty: false });
  assert.deepEqual(s.sink.cancels, [], 'the subscription goes on');
  assert.equal(s.handle.inFlightCount, 1);
  s.ack('a1');
  s.ack('b1');
  client.send(queue('jobs.a'), 'a2');
  await settle();
  assert.equal(s.bodies().at(-1), 'a2', 'the queue made again joins again');
});

test('a lease that runs out frees the shared prefetch for the other queues; a late acknowledgement does nothing', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a1');
  const s = client.subscribe(queue('jobs.*'), { ackMode: 'individual', prefetch: 1, ackTimeout: 10_000 });
  await settle();
  const first = s.delivery('a1').tag;
  client.send(queue('jobs.b'), 'b1');
  await settle();
  assert.deepEqual(s.bodies(), ['a1'], 'the prefetch is full');
  await b.clock!.advance(10_000);
  assert.deepEqual(s.bodies(), ['a1', 'b1'], 'the slot a1 left went to jobs.b, which waited longest');
  s.handle.acknowledge(first);
  assert.equal(b.queueStats('jobs.a').pending, 1, 'a1 waits, counted, for the slot');
});

test('sending to a wildcard queue is still refused', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  assert.throws(() => client.send(queue('orders.*'), 'x'), (err: unknown) => isFerryError(err, 'FERRY_DESTINATION_INVALID'));
  assert.throws(() => client.send(queue('orders.>'), 'x'), (err: unknown) => isFerryError(err, 'FERRY_DESTINATION_INVALID'));
});

test('exclusive consumers, browsers and malformed patterns on a wildcard queue are refused', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const invalid = (err: unknown): boolean => isFerryError(err, 'FERRY_DESTINATION_INVALID');
  assert.throws(() => client.subscribe(queue('orders.*'), { exclusive: true }), invalid);
  assert.throws(() => client.openBrowser(queue('orders.*'), new RecordingSink()), invalid);
  assert.throws(() => client.subscribe(queue('orders.a*')), invalid);
  assert.throws(() => client.subscribe(queue('orders.>.x')), invalid);
});

test('temporary queues are never members', async (t) => {
  const b = await startBroker(t);
  const owner = await b.connect();
  const s = owner.subscribe(queue('>'), { ackMode: 'individual' });
  await settle();
  const temporary = owner.temporaryQueue();
  owner.send(temporary, 'private');
  owner.send(queue('plain'), 'public');
  await settle();
  assert.deepEqual(s.bodies(), ['public']);
});

test('a declared queue matches; another connection\'s exclusive one does not', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const other = await b.connect();
  const s = client.subscribe(queue('decl.*'));
  await settle();
  client.declareQueue('decl.shared');
  other.declareQueue('decl.private', { exclusive: true });
  client.send(queue('decl.shared'), 'shared');
  other.send(queue('decl.private'), 'private');
  await settle();
  assert.deepEqual(s.bodies(), ['shared']);
});

/** Refuses consume on the queues `refused` names; allows the rest. */
class ConsumeRefuser implements Authorizer {
  readonly checks: string[] = [];
  constructor(private readonly refused: ReadonlySet<string>) {}

  authorize(principal: Principal, operation: Operation, destination: Destination): void {
    if (operation !== 'consume') return;
    this.checks.push(destination.name);
    if (this.refused.has(destination.name)) throw new FerryError('FERRY_NOT_AUTHORIZED', `${principal.username ?? 'anonymous'} may not consume from ${destination.name}`);
  }
}

const users: Authenticator = { authenticate: (request) => ({ username: request.credentials?.username, groups: [], internal: false }) };

test('the consume right is checked for the pattern and for each queue; a queue refused is left out', async (t) => {
  const authorizer = new ConsumeRefuser(new Set(['pay.secret', 'secret.*']));
  const b = await startBroker(t, { authenticator: users, authorizer });
  const client = new Client(await b.broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, credentials: { username: 'alice' } }));
  client.send(queue('pay.open'), 'open');
  client.send(queue('pay.secret'), 'secret');
  const s = client.subscribe(queue('pay.*'));
  await settle();
  assert.deepEqual(s.bodies(), ['open']);
  assert.equal(b.queueStats('pay.secret').pending, 1);
  assert.deepEqual(sorted(authorizer.checks), ['pay.*', 'pay.open', 'pay.secret']);
  assert.throws(() => client.subscribe(queue('secret.*')), (err: unknown) => isFerryError(err, 'FERRY_NOT_AUTHORIZED'));
});

test('operators see the subscription once, under its pattern', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  client.send(queue('jobs.a'), 'a1');
  client.send(queue('jobs.b'), 'b1');
  client.subscribe(queue('jobs.*'), { ackMode: 'individual', prefetch: 5 });
  client.subscribe(topic('news.*'));
  await settle();
  const listed = b.broker.admin.consumerList().filter((c) => c.destination.kind === 'queue');
  assert.equal(listed.length, 1);
  assert.deepEqual(listed[0]!.destination, queue('jobs.*'));
  assert.equal(listed[0]!.inFlight, 2);
  assert.equal(listed[0]!.delivered, 2);
  assert.equal(listed[0]!.prefetch, 5);
});
