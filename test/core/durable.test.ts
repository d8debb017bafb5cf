/** Durable subscriptions, while their subscriber is away and across a restart, on each store. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settle, startBroker, topic, type StoreKind } from './harness.js';

const prices = topic('prices.eu');

for (const storeKind of ['memory', 'journal'] as const satisfies readonly StoreKind[]) {
  test(`[${storeKind}] a durable subscription keeps messages while its subscriber is away, persistent or not`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const subscriber = await b.connect('watcher');
    subscriber.subscribeDurable(prices, 'watch').close();
    const producer = await b.connect();
    await producer.send(prices, 'p1', { persistent: true });
    producer.sendAll(prices, ['n1'], { persistent: false });
    await producer.send(prices, 'p2', { persistent: true });
    const back = subscriber.subscribeDurable(prices, 'watch');
    await settle();
    assert.deepEqual(back.bodies(), ['p1', 'n1', 'p2']);
  });

  test(`[${storeKind}] across a restart the subscription, its selector and its persistent messages are kept`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const subscriber = await b.connect('watcher');
    subscriber.subscribeDurable(topic('prices.>'), 'eu-only', { selector: "region = 'eu'" }).close();
    subscriber.close();
    const producer = await b.connect();
    await producer.send(topic('prices.a'), 'eu-1', { persistent: true, properties: { region: 'eu' } });
    await producer.send(topic('prices.b'), 'us-1', { persistent: true, properties: { region: 'us' } });
    producer.sendAll(topic('prices.a'), ['eu-transient'], { persistent: false, properties: { region: 'eu' } });

    const again = await b.restart();
    const listing = await again.connect('watcher');
    assert.deepEqual(listing.durableSubscriptions(), [{ name: 'eu-only', topic: 'prices.>', selector: "region = 'eu'", active: false }]);
    listing.close();
    // routed after the restart, before the subscriber is back: the stored selector still filters
    const producer2 = await again.connect();
    await producer2.send(topic('prices.c'), 'eu-2', { persistent: true, properties: { region: 'eu' } });
    await producer2.send(topic('prices.c'), 'us-2', { persistent: true, properties: { region: 'us' } });
    const back = await again.connect('watcher');
    const s = back.subscribeDurable(topic('prices.>'), 'eu-only', { selector: "region = 'eu'" });
    await settle();
    assert.deepEqual(s.bodies(), ['eu-1', 'eu-2']);
  });

  test(`[${storeKind}] unacknowledged messages of a durable subscriber come back after a restart, redelivered`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const subscriber = await b.connect('watcher');
    const s = subscriber.subscribeDurable(prices, 'watch', { ackMode: 'individual' });
    await settle();
    const producer = await b.connect();
    for (const body of ['a', 'b', 'c']) await producer.send(prices, body, { persistent: true });
    s.ack('b');
    await settle();
    const again = await b.restart();
    const back = (await again.connect('watcher')).subscribeDurable(prices, 'watch', { ackMode: 'individual' });
    await settle();
    assert.deepEqual(back.deliveries.map((d) => [d.message.body.toString(), d.redelivered]), [['a', true], ['c', true]]);
  });

  test(`[${storeKind}] properties a subscriber changes on a message it hands back are kept in its subscription only, across a restart`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const first = (await b.connect('first')).subscribeDurable(prices, 'watch', { ackMode: 'individual' });
    const second = (await b.connect('second')).subscribeDurable(prices, 'watch', { ackMode: 'individual' });
    await settle();
    const producer = await b.connect();
    await producer.send(prices, 'm', { persistent: true, properties: { a: 'orig', b: 'orig' } });
    await settle();
    first.handle.redeliver(first.delivery('m').tag, new Map([['b', 'changed'], ['c', 'new']]));
    await settle();
    const changed = { a: 'orig', b: 'changed', c: 'new' };
    const propertiesOf = (s: { delivery(body: string): { message: { properties: ReadonlyMap<string, unknown> } } }): Record<string, unknown> => Object.fromEntries(s.delivery('m').message.properties);
    assert.deepEqual(propertiesOf(first), changed);
    assert.deepEqual(propertiesOf(second), { a: 'orig', b: 'orig' });
    const again = await b.restart();
    const firstBack = (await again.connect('first')).subscribeDurable(prices, 'watch', { ackMode: 'individual' });
    const secondBack = (await again.connect('second')).subscribeDurable(prices, 'watch', { ackMode: 'individual' });
    await settle();
    assert.deepEqual(propertiesOf(firstBack), changed, 'the changed message was stored');
    assert.equal(firstBack.delivery('m').deliveryCount, 3, 'counted once, and once more for the restart');
    assert.deepEqual(propertiesOf(secondBack), { a: 'orig', b: 'orig' }, 'the other subscription keeps the message as it was');
    firstBack.ack('m');
    secondBack.ack('m');
    await settle();
    const third = await again.restart();
    const empty = (await third.connect('first')).subscribeDurable(prices, 'watch');
    await settle();
    assert.deepEqual(empty.bodies(), []);
  });

  test(`[${storeKind}] unsubscribing removes the subscription and what it kept, for good`, async (t) => {
    const b = await startBroker(t, { storeKind });
    const subscriber = await b.connect('watcher');
    subscriber.subscribeDurable(prices, 'watch').close();
    subscriber.subscribeDurable(prices, 'other').close();
    const producer = await b.connect();
    await producer.send(prices, 'kept-for-nobody', { persistent: true });
    subscriber.unsubscribeDurable('watch');
    await producer.send(prices, 'after', { persistent: true });
    assert.deepEqual(subscriber.durableSubscriptions().map((d) => d.name), ['other']);
    const again = await b.restart();
    const back = await again.connect('watcher');
    assert.deepEqual(back.durableSubscriptions().map((d) => d.name), ['other']);
    const fresh = back.subscribeDurable(prices, 'watch');
    await settle();
    assert.deepEqual(fresh.bodies(), [], 'a new subscription of the old name starts empty');
    fresh.close();
    const other = back.subscribeDurable(prices, 'other');
    await settle();
    assert.deepEqual(other.bodies(), ['kept-for-nobody', 'after']);
  });
}

test('subscribing under the same name to another topic or selector replaces the subscription and drops what it kept', async (t) => {
  const b = await startBroker(t);
  const subscriber = await b.connect('watcher');
  subscriber.subscribeDurable(prices, 'watch').close();
  const producer = await b.connect();
  await producer.send(prices, 'old', { persistent: true });
  const moved = subscriber.subscribeDurable(topic('prices.us'), 'watch');
  await settle();
  assert.deepEqual(moved.bodies(), []);
  moved.close();
  await producer.send(topic('prices.us'), 'us', { persistent: true });
  const reselected = subscriber.subscribeDurable(topic('prices.us'), 'watch', { selector: 'x = 1' });
  await settle();
  assert.deepEqual(reselected.bodies(), [], 'a new selector starts a new subscription');
});

test('two client ids with the same subscription name are two subscriptions', async (t) => {
  const b = await startBroker(t);
  const one = await b.connect('one');
  const two = await b.connect('two');
  one.subscribeDurable(prices, 'watch').close();
  const active = two.subscribeDurable(prices, 'watch', { ackMode: 'individual' });
  await settle();
  const producer = await b.connect();
  await producer.send(prices, 'm', { persistent: true });
  assert.deepEqual(active.bodies(), ['m']);
  const back = one.subscribeDurable(prices, 'watch');
  await settle();
  assert.deepEqual(back.bodies(), ['m']);
});

test('a durable subscription needs a client id and a topic, has one subscriber at a time, and cannot be removed while active', async (t) => {
  const b = await startBroker(t);
  const anonymous = await b.connect();
  assert.throws(() => anonymous.subscribeDurable(prices, 'watch'), { code: 'FERRY_CLIENT_ID_REQUIRED' });
  const client = await b.connect('c');
  assert.throws(() => client.subscribeDurable({ kind: 'queue', name: 'q' }, 'watch'), { code: 'FERRY_DESTINATION_INVALID' });
  const s = client.subscribeDurable(prices, 'watch');
  assert.throws(() => client.subscribeDurable(prices, 'watch'), { code: 'FERRY_CONSUMER_EXISTS' });
  assert.throws(() => client.unsubscribeDurable('watch'), { code: 'FERRY_CONSUMER_EXISTS' });
  s.close();
  client.unsubscribeDurable('watch');
  assert.throws(() => client.unsubscribeDurable('watch'), { code: 'FERRY_CONSUMER_NOT_FOUND' });
});

test('a client id is held by one connection at a time, and free again once it closes', async (t) => {
  const b = await startBroker(t);
  const first = await b.connect('only');
  await assert.rejects(b.connect('only'), { code: 'FERRY_CLIENT_ID_IN_USE' });
  first.close();
  const second = await b.connect('only');
  assert.equal(second.connection.clientId, 'only');
});
