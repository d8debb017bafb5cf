/**
 * Exchanges and bindings (RabbitMQ's model) over the core API: each exchange type and its match
 * rule, exchange-to-exchange bindings and loops, alternate exchanges, and a declared queue being an
 * ordinary core queue.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Authorizer } from '../../src/core/index.js';
import { FerryError, isFerryError } from '../../src/errors.js';
import { drain, queue, settle, startBroker, topic } from './harness.js';

const bodies = async (client: Parameters<typeof drain>[0], name: string): Promise<string[]> => (await drain(client, queue(name))).map((d) => d.message.body.toString());

test('the default exchange routes to the queue its key names, and a declared queue is a core queue', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  assert.deepEqual(client.declareQueue('orders'), { name: 'orders', messageCount: 0, consumerCount: 0 });
  const result = client.publish('', 'orders', 'one');
  assert.equal(result.routed, 1);
  assert.equal(result.refused, false);
  assert.equal(client.publish('', 'nowhere', 'lost').routed, 0, 'the default exchange creates no queue');
  assert.equal(b.hasQueue('nowhere'), false);
  await client.send(queue('orders'), 'two');
  assert.equal(client.declareQueue('orders').messageCount, 2);
  const got = await drain(client, queue('orders'));
  assert.deepEqual(got.map((d) => d.message.body.toString()), ['one', 'two']);
  assert.equal(got[0]!.message.exchange, '');
  assert.equal(got[0]!.message.routingKey, 'orders');
  assert.equal(got[1]!.message.exchange, undefined);
});

test('direct, fanout, topic and headers exchanges each match by their rule', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  for (const name of ['d1', 'd2', 'f1', 'f2', 't1', 't2', 't3', 'h1', 'h2']) c.declareQueue(name);
  c.bind('amq.direct', 'd1', 'red');
  c.bind('amq.direct', 'd2', 'blue');
  c.bind('amq.fanout', 'f1', 'ignored');
  c.bind('amq.fanout', 'f2', '');
  c.bind('amq.topic', 't1', 'sensors.*.temp');
  c.bind('amq.topic', 't2', 'sensors.#');
  c.bind('amq.topic', 't3', '#.alarm.#');
  c.bind('amq.headers', 'h1', '', { match: 'all', values: new Map<string, string | number | null>([['kind', 'a'], ['level', 2]]) });
  c.bind('amq.headers', 'h2', '', { match: 'any', values: new Map<string, string | number | null>([['kind', 'b'], ['tag', null]]) });

  assert.equal(c.publish('amq.direct', 'red', 'r').routed, 1);
  assert.equal(c.publish('amq.direct', 'green', 'g').routed, 0);
  assert.equal(c.publish('amq.fanout', 'whatever', 'f').routed, 2);
  assert.equal(c.publish('amq.topic', 'sensors.kitchen.temp', 'k').routed, 2);
  assert.equal(c.publish('amq.topic', 'sensors', 's').routed, 1, '# takes zero words');
  assert.equal(c.publish('amq.topic', 'sensors.a.b.temp', 'deep').routed, 1, '* is exactly one word');
  assert.equal(c.publish('amq.topic', 'alarm', 'alone').routed, 1);
  assert.equal(c.publish('amq.topic', 'x.alarm.y.z', 'mid').routed, 1);
  assert.equal(c.publish('amq.headers', '', 'all', { properties: { kind: 'a', level: 2, extra: true } }).routed, 1);
  assert.equal(c.publish('amq.headers', '', 'all-but-type', { properties: { kind: 'a', level: '2' } }).routed, 0, 'a string is not a number');
  assert.equal(c.publish('amq.headers', '', 'long-equals-int', { properties: { kind: 'a', level: 2n } }).routed, 1);
  assert.equal(c.publish('amq.headers', '', 'any', { properties: { tag: 'anything' } }).routed, 1, 'a null value asks for presence');
  assert.equal(c.publish('amq.headers', '', 'none', { properties: { kind: 'c' } }).routed, 0);

  assert.deepEqual(await bodies(c, 'd1'), ['r']);
  assert.deepEqual(await bodies(c, 'd2'), []);
  assert.deepEqual(await bodies(c, 'f1'), ['f']);
  assert.deepEqual(await bodies(c, 't1'), ['k']);
  assert.deepEqual(await bodies(c, 't2'), ['k', 's', 'deep']);
  assert.deepEqual(await bodies(c, 't3'), ['alone', 'mid']);
  assert.deepEqual(await bodies(c, 'h1'), ['all', 'long-equals-int']);
  assert.deepEqual(await bodies(c, 'h2'), ['any']);
});

test('a queue reached by several bindings and exchange-to-exchange loops gets a message once', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareExchange('a', 'topic');
  c.declareExchange('b', 'fanout');
  c.declareQueue('q');
  c.bind('a', 'q', 'x.*');
  c.bind('a', 'q', '#');
  c.connection.bind({ source: 'a', destination: { kind: 'exchange', name: 'b' }, routingKey: '#' });
  c.connection.bind({ source: 'b', destination: { kind: 'exchange', name: 'a' }, routingKey: '' });
  c.bind('b', 'q', '');
  assert.equal(c.publish('a', 'x.y', 'once').routed, 1);
  assert.equal(c.publish('b', 'k', 'once-more').routed, 1);
  await settle();
  assert.deepEqual(await bodies(c, 'q'), ['once', 'once-more']);
});

test('an exchange that routes nowhere hands the message to its alternate exchange', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareExchange('unrouted', 'fanout');
  c.declareExchange('main', 'direct', { alternateExchange: 'unrouted' });
  c.declareQueue('known');
  c.declareQueue('rest');
  c.bind('main', 'known', 'k');
  c.bind('unrouted', 'rest', '');
  assert.equal(c.publish('main', 'k', 'a').routed, 1);
  assert.equal(c.publish('main', 'other', 'b').routed, 1);
  assert.deepEqual(await bodies(c, 'known'), ['a']);
  assert.deepEqual(await bodies(c, 'rest'), ['b']);
});

test('declarations that disagree, reserved names and missing exchanges are refused with their codes', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareExchange('e', 'direct');
  assert.throws(() => c.declareExchange('e', 'topic'), (err) => isFerryError(err, 'FERRY_PRECONDITION_FAILED'));
  assert.throws(() => c.declareExchange('amq.mine', 'topic'), (err) => isFerryError(err, 'FERRY_NAME_RESERVED'));
  c.declareExchange('amq.topic', 'topic');
  assert.throws(() => c.connection.deleteExchange('amq.direct', false), (err) => isFerryError(err, 'FERRY_NAME_RESERVED'));
  assert.throws(() => c.connection.declareExchange({ name: 'missing', type: 'direct', durable: true, autoDelete: false, internal: false }, true), (err) => isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND'));
  assert.throws(() => c.publish('missing', 'k', 'x'), (err) => isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND'));
  c.declareQueue('q', { arguments: { maxLength: 10 } });
  assert.throws(() => c.declareQueue('q'), (err) => isFerryError(err, 'FERRY_PRECONDITION_FAILED'));
  assert.throws(() => c.declareQueue('amq.q'), (err) => isFerryError(err, 'FERRY_NAME_RESERVED'));
  assert.throws(() => c.bind('', 'q', 'q'), (err) => isFerryError(err, 'FERRY_NAME_RESERVED'));
  c.bind('e', 'q', 'k');
  assert.throws(() => c.connection.deleteExchange('e', true), (err) => isFerryError(err, 'FERRY_PRECONDITION_FAILED'));
  c.connection.deleteExchange('e', false);
  assert.throws(() => c.publish('e', 'k', 'x'), (err) => isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND'));
  const named = c.declareQueue('');
  assert.match(named.name, /^amq\.gen-/);
});

test('amq.topic meets core topics both ways: a topic send reaches bound queues, a publish reaches topic subscribers', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('readings');
  c.bind('amq.topic', 'readings', 'sensors.#');
  const subscriber = c.subscribe(topic('a.b'));
  const wildcard = c.subscribe(topic('sensors.>'));
  await settle();
  await c.send(topic('sensors.kitchen'), 'from-a-topic-send');
  assert.equal(c.publish('amq.topic', 'a.b', 'from-a-publish').routed, 1, 'a topic subscription counts as routed');
  assert.equal(c.publish('amq.topic', 'sensors.hall', 'both').routed, 2, 'a bound queue and a topic subscription');
  await settle();
  assert.deepEqual(await bodies(c, 'readings'), ['from-a-topic-send', 'both']);
  assert.deepEqual(subscriber.bodies(), ['from-a-publish']);
  assert.deepEqual(wildcard.bodies(), ['from-a-topic-send', 'both']);
  assert.equal(c.publish('amq.direct', 'a.b', 'not-a-topic').routed, 0, 'only amq.topic is the bridge');
});

test('a publish in a transaction is held until commit and routed through its exchange then', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareQueue('held');
  c.bind('amq.direct', 'held', 'k');
  c.begin('tx');
  assert.equal(c.publish('amq.direct', 'k', 'in-tx', { txId: 'tx', persistent: true }).routed, 1);
  assert.equal(b.queueStats('held').pending, 0);
  await c.commit('tx');
  const [d] = await drain(c, queue('held'));
  assert.equal(d!.message.body.toString(), 'in-tx');
  assert.equal(d!.message.exchange, 'amq.direct');
});

test('authorization: declare needs create, delete and purge need admin, publish needs send on the exchange, bind needs send on the queue and consume on the exchange', async (t) => {
  const checks: string[] = [];
  const refuse = new Set<string>();
  const authorizer: Authorizer = {
    authorize: (_principal, operation, destination) => {
      const check = `${operation} ${destination.kind}:${destination.name}`;
      checks.push(check);
      if (refuse.has(check)) throw new FerryError('FERRY_NOT_AUTHORIZED', `may not ${check}`);
    },
  };
  const b = await startBroker(t, { authorizer, authenticator: { authenticate: () => ({ username: 'alice', groups: [], internal: false }) } });
  const c = await b.connect();
  const refused = (err: unknown): boolean => isFerryError(err, 'FERRY_NOT_AUTHORIZED');
  c.declareExchange('ex', 'direct');
  c.declareQueue('q');
  c.bind('ex', 'q', 'k');
  c.publish('ex', 'k', 'm');
  c.publish('', 'q', 'n');
  c.connection.purgeQueue('q');
  c.connection.deleteQueue('q', { ifUnused: false, ifEmpty: false });
  c.connection.deleteExchange('ex', false);
  assert.deepEqual(checks.splice(0), [
    'create topic:ex',
    'create queue:q',
    'send queue:q',
    'consume topic:ex',
    'send topic:ex',
    'send queue:q',
    'admin queue:q',
    'admin queue:q',
    'admin topic:ex',
  ]);
  refuse.add('create queue:secret');
  assert.throws(() => c.declareQueue('secret'), refused);
  assert.equal(b.hasQueue('secret'), false);
  c.declareExchange('ex', 'direct');
  c.declareQueue('q');
  refuse.add('consume topic:ex');
  assert.throws(() => c.bind('ex', 'q', 'k'), refused);
  refuse.add('send topic:ex');
  assert.throws(() => c.publish('ex', 'k', 'x'), refused);
  refuse.add('admin queue:q');
  assert.throws(() => c.connection.deleteQueue('q', { ifUnused: false, ifEmpty: false }), refused);
  assert.equal(b.hasQueue('q'), true);
});

test('an auto-delete exchange goes when its last binding goes; an internal one takes messages only from other exchanges', async (t) => {
  const b = await startBroker(t);
  const c = await b.connect();
  c.declareExchange('passing', 'fanout', { autoDelete: true, durable: false });
  c.declareExchange('inner', 'fanout', { internal: true });
  c.declareQueue('q1');
  c.declareQueue('q2');
  c.bind('passing', 'q1', '');
  c.bind('passing', 'q2', '');
  c.connection.unbind({ source: 'passing', destination: { kind: 'queue', name: 'q1' }, routingKey: '' });
  assert.equal(c.publish('passing', '', 'still').routed, 1);
  c.connection.deleteQueue('q2', { ifUnused: false, ifEmpty: false });
  assert.throws(() => c.publish('passing', '', 'gone'), (err) => isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND'));
  c.bind('inner', 'q1', '');
  c.connection.bind({ source: 'amq.fanout', destination: { kind: 'exchange', name: 'inner' }, routingKey: '' });
  assert.throws(() => c.publish('inner', '', 'direct'), (err) => isFerryError(err, 'FERRY_NAME_RESERVED'));
  assert.equal(c.publish('amq.fanout', '', 'through').routed, 1);
  assert.deepEqual(await bodies(c, 'q1'), ['through']);
});
