/**
 * Authorization in core: with an authorizer configured, each use of a destination is checked once
 * for each right it needs (send, consume, browse, create on first use, delete, admin), for every
 * protocol alike; a refused use changes nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryError } from '../../src/errors.js';
import type { Authenticator, Authorizer, Destination, Operation, Principal } from '../../src/core/index.js';
import { Client, RecordingSink, queue, settle, startBroker, topic, type TestBroker } from './harness.js';

/** Records every check; refuses the operations `refuse` names (as `operation kind:name`). */
class RecordingAuthorizer implements Authorizer {
  readonly checks: string[] = [];
  readonly refuse = new Set<string>();

  authorize(principal: Principal, operation: Operation, destination: Destination): void {
    const check = `${operation} ${destination.temporary === true ? 'temporary-' : ''}${destination.kind}:${destination.name}`;
    this.checks.push(check);
    if (this.refuse.has(check) || this.refuse.has(`${operation} ${destination.kind}:*`)) {
      throw new FerryError('FERRY_NOT_AUTHORIZED', `${principal.username ?? 'anonymous'} may not ${check}`);
    }
  }

  /** The checks since the last call. */
  take(): string[] {
    return this.checks.splice(0);
  }
}

const authenticator: Authenticator = {
  authenticate: (request) => ({ username: request.credentials?.username, groups: ['users'], internal: false }),
};

async function secured(t: Parameters<typeof startBroker>[0]): Promise<{ b: TestBroker; authorizer: RecordingAuthorizer; client: Client }> {
  const authorizer = new RecordingAuthorizer();
  const b = await startBroker(t, { authenticator, authorizer });
  const client = new Client(await b.broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, clientId: 'c1', credentials: { username: 'alice' } }));
  return { b, authorizer, client };
}

const refused = (err: unknown): boolean => err instanceof FerryError && err.code === 'FERRY_NOT_AUTHORIZED';

test('a send to a queue not yet there needs send and create, once each; later sends need send only', async (t) => {
  const { authorizer, client } = await secured(t);
  void client.send(queue('orders'), 'one');
  assert.deepEqual(authorizer.take(), ['send queue:orders', 'create queue:orders']);
  void client.send(queue('orders'), 'two');
  assert.deepEqual(authorizer.take(), ['send queue:orders']);
});

test('a send that would create a queue without the create right is refused and creates nothing; the queue made by another is usable', async (t) => {
  const { b, authorizer, client } = await secured(t);
  authorizer.refuse.add('create queue:orders');
  assert.throws(() => client.send(queue('orders'), 'one'), refused);
  assert.equal(b.hasQueue('orders'), false);
  authorizer.refuse.clear();
  void client.send(queue('orders'), 'made');
  authorizer.refuse.add('create queue:orders');
  void client.send(queue('orders'), 'two');
  assert.equal(b.queueStats('orders').pending, 2);
});

test('a composite send checks send for each part and create for the parts it brings into being', async (t) => {
  const { authorizer, client } = await secured(t);
  void client.send(queue('a'), 'first');
  authorizer.take();
  void client.send(queue('a,topic://b'), 'both');
  assert.deepEqual(authorizer.take(), ['send queue:a', 'send topic:b', 'create topic:b']);
});

test('a send in a transaction is checked when sent, not again at commit', async (t) => {
  const { b, authorizer, client } = await secured(t);
  client.begin('tx');
  void client.send(queue('held'), 'x', { txId: 'tx' });
  assert.deepEqual(authorizer.take(), ['send queue:held', 'create queue:held']);
  await client.commit('tx');
  assert.deepEqual(authorizer.take(), []);
  assert.equal(b.queueStats('held').pending, 1);
});

test('a retained message needs send (and create for a new topic), checked once', async (t) => {
  const { authorizer, client } = await secured(t);
  await client.send(topic('sensors.t1'), '21', { persistent: true, options: { retain: true } });
  assert.deepEqual(authorizer.take(), ['send topic:sensors.t1', 'create topic:sensors.t1']);
  authorizer.refuse.add('send topic:sensors.t1');
  assert.throws(() => client.send(topic('sensors.t1'), '22', { options: { retain: true } }), refused);
});

test('subscribing needs consume, and create when it brings the queue or topic into being; a wildcard creates nothing', async (t) => {
  const { authorizer, client } = await secured(t);
  client.subscribe(queue('work'));
  assert.deepEqual(authorizer.take(), ['consume queue:work', 'create queue:work']);
  client.subscribe(queue('work'));
  assert.deepEqual(authorizer.take(), ['consume queue:work']);
  client.subscribe(topic('news'));
  assert.deepEqual(authorizer.take(), ['consume topic:news', 'create topic:news']);
  client.subscribe(topic('news.>'));
  assert.deepEqual(authorizer.take(), ['consume topic:news.>']);
});

test('a subscription refused for want of create leaves no queue behind', async (t) => {
  const { b, authorizer, client } = await secured(t);
  authorizer.refuse.add('create queue:work');
  assert.throws(() => client.subscribe(queue('work')), refused);
  assert.equal(b.hasQueue('work'), false);
});

test('a durable subscription needs create when made, not when resumed; its removal needs delete', async (t) => {
  const { authorizer, client } = await secured(t);
  client.subscribe(topic('prices'));
  authorizer.take();
  const first = client.subscribeDurable(topic('prices'), 'ledger');
  assert.deepEqual(authorizer.take(), ['consume topic:prices', 'create topic:prices']);
  first.close();
  const resumed = client.subscribeDurable(topic('prices'), 'ledger');
  assert.deepEqual(authorizer.take(), ['consume topic:prices']);
  resumed.close();
  // on a topic not there yet: one create covers the topic and the subscription
  client.subscribeDurable(topic('rates'), 'book').close();
  assert.deepEqual(authorizer.take(), ['consume topic:rates', 'create topic:rates']);
  client.unsubscribeDurable('ledger');
  assert.deepEqual(authorizer.take(), ['delete topic:prices']);
});

test('a durable subscription refused for want of create is not made; one made before is resumed without it', async (t) => {
  const { authorizer, client } = await secured(t);
  client.subscribeDurable(topic('prices'), 'kept').close();
  authorizer.refuse.add('create topic:prices');
  assert.throws(() => client.subscribeDurable(topic('prices'), 'new-one'), refused);
  assert.deepEqual(client.durableSubscriptions().map((d) => d.name), ['kept']);
  client.subscribeDurable(topic('prices'), 'kept').close();
});

test('changing a durable subscription another user made needs delete on its topic, also after a restart; its maker changes it with what making one needs', async (t) => {
  const authorizer = new RecordingAuthorizer();
  const b = await startBroker(t, { authenticator, authorizer, storeKind: 'journal' });
  const as = async (broker: TestBroker, user: string): Promise<Client> =>
    new Client(await broker.broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, clientId: 'shared-id', credentials: { username: user } }));
  const alice = await as(b, 'alice');
  alice.subscribeDurable(topic('prices'), 'ledger').close();
  alice.close();
  const again = await b.restart();
  const bob = await as(again, 'bob');
  authorizer.take();
  authorizer.refuse.add('delete topic:prices');
  assert.throws(() => bob.subscribeDurable(topic('rates'), 'ledger'), refused);
  assert.deepEqual(authorizer.take(), ['consume topic:rates', 'create topic:rates', 'delete topic:prices']);
  assert.deepEqual(bob.durableSubscriptions().map((d) => d.topic), ['prices']);
  // resuming it unchanged is no change
  bob.subscribeDurable(topic('prices'), 'ledger').close();
  bob.close();
  const owner = await as(again, 'alice');
  authorizer.take();
  owner.subscribeDurable(topic('rates'), 'ledger').close();
  assert.deepEqual(authorizer.take(), ['consume topic:rates', 'create topic:rates']);
  assert.deepEqual(owner.durableSubscriptions().map((d) => d.topic), ['rates']);
});

test('browsing needs browse only: a browser creates nothing', async (t) => {
  const { b, authorizer, client } = await secured(t);
  assert.deepEqual(await client.browse(queue('shelf')), []);
  assert.deepEqual(authorizer.take(), ['browse queue:shelf']);
  assert.equal(b.hasQueue('shelf'), false);
  authorizer.refuse.add('browse queue:shelf');
  assert.throws(() => client.openBrowser(queue('shelf'), new RecordingSink()), refused);
});

test('a temporary destination needs create once; using it needs send and consume, never create', async (t) => {
  const { authorizer, client } = await secured(t);
  const reply = client.temporaryQueue();
  assert.deepEqual(authorizer.take(), [`create temporary-queue:${reply.name}`]);
  const s = client.subscribe(reply);
  void client.send(reply, 'answer');
  await settle();
  assert.deepEqual(s.bodies(), ['answer']);
  assert.deepEqual(authorizer.take(), [`consume temporary-queue:${reply.name}`, `send temporary-queue:${reply.name}`]);
  authorizer.refuse.add('create queue:*');
  assert.throws(() => client.temporaryQueue(), refused);
});

test('connections the broker opens for itself are never checked', async (t) => {
  const { authorizer, b } = await secured(t);
  const internal = new Client(await b.broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, internal: true }));
  void internal.send(queue('sys'), 'x');
  internal.subscribe(topic('sys.t'));
  assert.deepEqual(authorizer.take(), []);
});
