/**
 * Declared queues (RabbitMQ's flags and arguments) over the core API: what survives a restart,
 * exclusive, auto-delete and expires lifecycles, message TTL and dead-letter exchanges, maximum
 * length with both overflows, priorities on and off, single active consumer, and the cancel notice.
 * Time is the harness's ManualClock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFerryError } from '../../src/errors.js';
import { drain, queue, settle, startBroker, type Client } from './harness.js';

const bodiesOf = async (client: Client, name: string): Promise<string[]> => (await drain(client, queue(name))).map((d) => d.message.body.toString());

for (const storeKind of ['memory', 'journal'] as const) test(`durable exchanges, bindings and queue arguments come back after a restart; transient ones do not (${storeKind} store)`, async (t) => {
  let b = await startBroker(t, { storeKind });
  let c = await b.connect();
  c.declareExchange('keep', 'topic');
  c.declareExchange('lose', 'fanout', { durable: false });
  c.declareQueue('kept', { arguments: { maxLength: 2, deadLetterExchange: 'keep', deadLetterRoutingKey: 'dead.kept' } });
  c.declareQueue('gone', { durable: false });
  c.declareQueue('dead');
  c.bind('keep', 'kept', 'a.#');
  c.bind('keep', 'dead', 'dead.#');
  c.bind('keep', 'gone', '#');
  c.bind('amq.fanout', 'kept', '');
  await c.publish('keep', 'a.b', 'persisted', { persistent: true }).durable;
  b = await b.restart();
  c = await b.connect();
  assert.equal(b.hasQueue('gone'), false);
  assert.throws(() => c.connection.declareExchange({ name: 'lose', type: 'fanout', durable: false, autoDelete: false, internal: false }, true), (err) => isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND'));
  assert.throws(() => c.declareQueue('kept'), (err) => isFerryError(err, 'FERRY_PRECONDITION_FAILED'), 'its arguments came back');
  const back = c.declareQueue('kept', { arguments: { maxLength: 2, deadLetterExchange: 'keep', deadLetterRoutingKey: 'dead.kept' } });
  assert.equal(back.messageCount, 1);
  const [d] = await drain(c, queue('kept'));
  assert.equal(d!.message.exchange, 'keep');
  assert.equal(d!.message.routingKey, 'a.b');
  assert.equal(c.publish('keep', 'a.c', 'x').routed, 1, 'the durable binding came back');
  assert.equal(c.publish('amq.fanout', '', 'y').routed, 1, 'a binding to a pre-declared exchange came back');
  // the maximum length came back too: the oldest of three goes to the dead-letter exchange
  c.publish('keep', 'a.d', 'z');
  assert.deepEqual(await bodiesOf(c, 'kept'), ['y', 'z']);
  assert.deepEqual(await bodiesOf(c, 'dead'), ['x']);
});

test('an exclusive queue belongs to its connection: others are locked out, and it goes when the connection closes', async (t) => {
  const b = await startBroker(t);
  const owner = await b.connect();
  const other = await b.connect();
  owner.declareQueue('mine', { exclusive: true });
  const locked = (err: unknown): boolean => isFerryError(err, 'FERRY_RESOURCE_LOCKED');
  assert.throws(() => other.declareQueue('mine', { exclusive: true }), locked);
  assert.throws(() => other.subscribe(queue('mine')), locked, 'a consumer of any protocol is locked out');
  assert.throws(() => other.connection.deleteQueue('mine', { ifUnused: false, ifEmpty: false }), locked);
  assert.throws(() => other.connection.purgeQueue('mine'), locked);
  assert.equal(other.publish('', 'mine', 'still accepted').routed, 1, 'publishing to it is allowed, as RabbitMQ');
  owner.close();
  assert.equal(b.hasQueue('mine'), false);
});

test('an auto-delete queue goes when its last consumer goes, not before it has had one', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('brief', { autoDelete: true });
  c.bind('amq.fanout', 'brief', '');
  await settle();
  assert.equal(b.hasQueue('brief'), true);
  const first = c.subscribe(queue('brief'));
  const second = c.subscribe(queue('brief'));
  first.close();
  await settle();
  assert.equal(b.hasQueue('brief'), true);
  second.close();
  await settle();
  assert.equal(b.hasQueue('brief'), false);
  assert.equal(c.publish('amq.fanout', '', 'x').routed, 0, 'its bindings went with it');
});

test('a queue with expires is deleted once unused that long; a consumer or a redeclaration keeps it', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const c = await b.connect();
  const declare = (): void => void c.declareQueue('idle', { arguments: { expires: 5000 } });
  declare();
  await clock.advance(4000);
  declare();
  await clock.advance(4000);
  assert.equal(b.hasQueue('idle'), true, 'the redeclaration started the count again');
  const s = c.subscribe(queue('idle'));
  await clock.advance(10_000);
  assert.equal(b.hasQueue('idle'), true, 'a consumer keeps it in use');
  s.close();
  await clock.advance(4900);
  assert.equal(b.hasQueue('idle'), true);
  await clock.advance(100);
  assert.equal(b.hasQueue('idle'), false);
});

test('message TTL: the earlier of the queue\'s and the message\'s own; expired messages go to the dead-letter exchange with x-death headers', async (t) => {
  const b = await startBroker(t, { manualClock: true, expirySweepInterval: 100 });
  const clock = b.clock!;
  const c = await b.connect();
  c.declareExchange('dlx', 'fanout');
  c.declareQueue('dead');
  c.bind('dlx', 'dead', '');
  c.declareQueue('ttl', { arguments: { messageTtl: 1000, deadLetterExchange: 'dlx' } });
  c.publish('', 'ttl', 'queue-ttl');
  c.publish('', 'ttl', 'own-ttl', { expiration: clock.now + 300 });
  c.publish('', 'ttl', 'later-own', { expiration: clock.now + 60_000 });
  await clock.advance(500);
  assert.deepEqual((await drain(c, queue('dead'))).map((d) => d.message.body.toString()), ['own-ttl']);
  await clock.advance(600);
  const dead = await drain(c, queue('dead'));
  assert.deepEqual(dead.map((d) => d.message.body.toString()), ['queue-ttl', 'later-own']);
  const m = dead[0]!.message;
  assert.equal(m.properties.get('x-first-death-queue'), 'ttl');
  assert.equal(m.properties.get('x-first-death-reason'), 'expired');
  assert.equal(m.properties.get('x-first-death-exchange'), '');
  assert.equal(m.exchange, 'dlx');
  assert.equal(m.routingKey, 'ttl');
  assert.equal(m.expiration, 0);
  assert.equal(b.queueStats('ttl').pending, 0);
});

test('a rejected message goes to the dead-letter exchange under its dead-letter routing key; without one it is dropped', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('parked');
  c.declareQueue('work', { arguments: { deadLetterExchange: '', deadLetterRoutingKey: 'parked' } });
  c.declareQueue('plain');
  c.publish('', 'work', 'bad', { persistent: true });
  c.publish('', 'plain', 'also-bad', { persistent: true });
  const s = c.subscribe(queue('work'), { ackMode: 'individual' });
  const p = c.subscribe(queue('plain'), { ackMode: 'individual' });
  await settle();
  s.reject('bad');
  p.reject('also-bad');
  await settle();
  const dead = await drain(c, queue('parked'));
  assert.deepEqual(dead.map((d) => d.message.body.toString()), ['bad']);
  assert.equal(dead[0]!.message.properties.get('x-first-death-reason'), 'rejected');
  assert.equal(dead[0]!.message.persistent, true);
  assert.equal(b.hasQueue('ActiveMQ.DLQ'), false, 'a declared queue without a dead-letter exchange drops, as RabbitMQ');
  assert.equal(b.queueStats('plain').discarded, 1);
});

test('max length with drop-head drops (or dead-letters) the oldest; with reject-publish the publish is refused', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('overflowed');
  c.declareQueue('head', { arguments: { maxLength: 2, deadLetterExchange: '', deadLetterRoutingKey: 'overflowed' } });
  c.declareQueue('bytes', { arguments: { maxLengthBytes: 10 } });
  c.declareQueue('strict', { arguments: { maxLength: 2, overflow: 'reject-publish' } });
  c.declareQueue('other');
  c.declareExchange('both', 'fanout');
  c.bind('both', 'strict', '');
  c.bind('both', 'other', '');
  for (const body of ['1', '2', '3', '4']) c.publish('', 'head', body);
  assert.deepEqual(await bodiesOf(c, 'head'), ['3', '4']);
  const dropped = await drain(c, queue('overflowed'));
  assert.deepEqual(dropped.map((d) => d.message.body.toString()), ['1', '2']);
  assert.equal(dropped[0]!.message.properties.get('x-first-death-reason'), 'maxlen');
  for (const body of ['aaaa', 'bbbb', 'cccc']) c.publish('', 'bytes', body);
  assert.deepEqual(await bodiesOf(c, 'bytes'), ['bbbb', 'cccc']);
  assert.deepEqual([c.publish('both', '', 'a').refused, c.publish('both', '', 'b').refused], [false, false]);
  const third = c.publish('both', '', 'c');
  assert.equal(third.refused, true);
  assert.equal(third.routed, 2, 'both queues matched: it is refused, not unroutable');
  assert.deepEqual(await bodiesOf(c, 'strict'), ['a', 'b']);
  assert.deepEqual(await bodiesOf(c, 'other'), ['a', 'b', 'c']);
});

test('a queue declared without a maximum priority is first in, first out; with one, higher priorities go first', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('fifo');
  c.declareQueue('ranked', { arguments: { maxPriority: 5 } });
  for (const [body, priority] of [['low', 1], ['high', 9], ['mid', 5], ['top', 7]] as const) {
    c.publish('', 'fifo', body, { priority });
    c.publish('', 'ranked', body, { priority });
  }
  assert.deepEqual(await bodiesOf(c, 'fifo'), ['low', 'high', 'mid', 'top']);
  // 7 and 9 count as the maximum, 5, and keep their order among themselves
  assert.deepEqual(await bodiesOf(c, 'ranked'), ['high', 'mid', 'top', 'low']);
});

test('single active consumer: one consumer gets everything; the next in order of subscription takes over when it goes', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('sac', { arguments: { singleActiveConsumer: true } });
  const first = c.subscribe(queue('sac'), { ackMode: 'individual' });
  const second = c.subscribe(queue('sac'), { ackMode: 'individual', priority: 9 });
  const third = c.subscribe(queue('sac'), { ackMode: 'individual' });
  for (const body of ['a', 'b', 'c']) c.publish('', 'sac', body);
  await settle();
  assert.deepEqual([first.bodies(), second.bodies(), third.bodies()], [['a', 'b', 'c'], [], []]);
  first.ack('a');
  first.close();
  await settle();
  assert.deepEqual(second.bodies(), ['b', 'c'], 'the next one takes over what was in flight');
  assert.deepEqual(third.bodies(), []);
});

test('consumers hear that their queue was deleted; if-unused and if-empty refuse', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('doomed');
  c.publish('', 'doomed', 'x');
  c.publish('', 'doomed', 'y');
  const s = c.subscribe(queue('doomed'), { ackMode: 'individual', prefetch: 1 });
  await settle();
  const precondition = (err: unknown): boolean => isFerryError(err, 'FERRY_PRECONDITION_FAILED');
  assert.throws(() => c.connection.deleteQueue('doomed', { ifUnused: true, ifEmpty: false }), precondition);
  assert.throws(() => c.connection.deleteQueue('doomed', { ifUnused: false, ifEmpty: true }), precondition);
  assert.equal(c.connection.deleteQueue('doomed', { ifUnused: false, ifEmpty: false }), 1);
  assert.equal(s.sink.cancels.length, 1);
  assert.equal(s.handle.isClosed, true);
  assert.equal(b.hasQueue('doomed'), false);
  assert.equal(c.connection.deleteQueue('doomed', { ifUnused: false, ifEmpty: false }), 0, 'deleting what is gone succeeds, as RabbitMQ');
});

test('a get takes one waiting message without being a consumer; what it has not settled comes back when its session closes', async (t) => {
  const b = await startBroker(t);
  const owner = await b.connect();
  const c = await b.connect();
  owner.declareQueue('polled', { autoDelete: true });
  for (const body of ['a', 'b', 'c']) c.publish('', 'polled', body, { persistent: true });
  const first = c.session.get('polled', 'individual')!;
  assert.equal(first.delivery.message.body.toString(), 'a');
  assert.equal(first.messageCount, 2);
  assert.equal(b.queueStats('polled').consumers, 0, 'a get is no consumer');
  const second = c.session.get('polled', 'auto')!;
  assert.equal(second.delivery.message.body.toString(), 'b');
  const third = c.session.get('polled', 'individual')!;
  assert.equal(third.consumer, first.consumer, 'one handle per session and queue');
  first.consumer.acknowledge(first.delivery.tag);
  await settle();
  assert.equal(b.hasQueue('polled'), true, 'gets never make an auto-delete queue go');
  assert.equal(c.session.get('polled', 'individual'), undefined);
  c.close();
  const left = await drain(owner, queue('polled'));
  assert.deepEqual(left.map((d) => [d.message.body.toString(), d.redelivered]), [['c', true]]);
  assert.throws(() => owner.session.get('missing', 'auto'), (err) => isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND'));
});

test('reject-publish-dlx refuses the publish and dead-letters the refused message', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('refusals');
  c.declareQueue('full', { arguments: { maxLength: 1, overflow: 'reject-publish-dlx', deadLetterExchange: '', deadLetterRoutingKey: 'refusals' } });
  assert.equal(c.publish('', 'full', 'in').refused, false);
  const second = c.publish('', 'full', 'out');
  assert.deepEqual([second.refused, second.routed], [true, 1]);
  assert.deepEqual(await bodiesOf(c, 'full'), ['in']);
  const dead = await drain(c, queue('refusals'));
  assert.deepEqual(dead.map((d) => [d.message.body.toString(), d.message.properties.get('x-first-death-reason')]), [['out', 'maxlen']]);
});

test('a sole consumer (0-9-1 exclusive consume) is refused on a queue with consumers and keeps others out while it is open', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  const other = await b.connect();
  c.declareQueue('mine');
  const inUse = (err: unknown): boolean => isFerryError(err, 'FERRY_QUEUE_IN_USE');
  const plain = c.subscribe(queue('mine'));
  assert.throws(() => other.subscribe(queue('mine'), { soleConsumer: true }), inUse);
  plain.close();
  const sole = other.subscribe(queue('mine'), { soleConsumer: true });
  assert.throws(() => c.subscribe(queue('mine')), inUse, 'a consumer of any protocol is kept out');
  c.publish('', 'mine', 'x');
  await settle();
  assert.deepEqual(sole.bodies(), ['x']);
  sole.close();
  c.subscribe(queue('mine')).close();
});

test('a full reject-publish queue drops a message sent by another protocol rather than its oldest', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('strict', { arguments: { maxLength: 1, overflow: 'reject-publish' } });
  await c.send(queue('strict'), 'first', { persistent: true });
  await c.send(queue('strict'), 'second', { persistent: true });
  assert.equal(b.queueStats('strict').discarded, 1);
  assert.deepEqual(await bodiesOf(c, 'strict'), ['first']);
});

test('a durable auto-delete queue whose consumers go because the broker stops is there after the restart', async (t) => {
  let b = await startBroker(t);
  let c = await b.connect();
  c.declareQueue('lasting', { autoDelete: true });
  c.subscribe(queue('lasting'));
  c.publish('', 'lasting', 'kept', { persistent: true });
  await settle();
  b = await b.restart();
  c = await b.connect();
  assert.equal(b.hasQueue('lasting'), true);
});

test('a queue with a message TTL dead-letters each message when it comes due, not at the next periodic sweep', async (t) => {
  const b = await startBroker(t, { manualClock: true, expirySweepInterval: 60_000 });
  const clock = b.clock!;
  const c = await b.connect();
  c.declareQueue('retry-now');
  c.declareQueue('delay', { arguments: { messageTtl: 250, deadLetterExchange: '', deadLetterRoutingKey: 'retry-now' } });
  const retries = c.subscribe(queue('retry-now'));
  c.publish('', 'delay', 'first');
  await clock.advance(100);
  c.publish('', 'delay', 'second');
  await clock.advance(100);
  assert.deepEqual(retries.bodies(), []);
  await clock.advance(100);
  assert.deepEqual(retries.bodies(), ['first']);
  await clock.advance(100);
  assert.deepEqual(retries.bodies(), ['first', 'second']);
});

test('a dead letter moved to its exchange is in its new queue only, after a restart too', async (t) => {
  let b = await startBroker(t, { storeKind: 'journal' });
  let c = await b.connect();
  c.declareExchange('dlx', 'fanout');
  c.declareQueue('graveyard');
  c.bind('dlx', 'graveyard', '');
  c.declareQueue('work', { arguments: { deadLetterExchange: 'dlx' } });
  await c.publish('', 'work', 'poison', { persistent: true }).durable;
  const s = c.subscribe(queue('work'), { ackMode: 'individual' });
  await settle();
  s.reject('poison');
  await b.store.sync();
  b = await b.restart();
  c = await b.connect();
  assert.equal(b.queueStats('work').pending, 0);
  const dead = await drain(c, queue('graveyard'));
  assert.deepEqual(dead.map((d) => [d.message.body.toString(), d.message.properties.get('x-first-death-queue'), d.message.exchange]), [['poison', 'work', 'dlx']]);
});
