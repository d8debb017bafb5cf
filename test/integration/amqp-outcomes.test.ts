import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectAmqp, type AmqpTestClient } from '../helpers/amqp.js';
import { amqpFixture } from '../helpers/amqp-fixture.js';
import { connectStomp } from '../helpers/stomp.js';

const fixture = amqpFixture('outcomes');
const { client, unique } = fixture;

const original = { 'x-opt-a': 'orig', 'x-opt-b': 'orig' };
const changes = { 'x-opt-b': 'changed', 'x-opt-added': 'new' };
const merged = { 'x-opt-a': 'orig', 'x-opt-b': 'changed', 'x-opt-added': 'new' };

/** The message's own annotations, without those Ferry writes from its body kind and destinations. */
function annotations(message: { message_annotations?: Record<string, unknown> }): Record<string, unknown> {
  return Object.fromEntries(Object.entries(message.message_annotations ?? {}).filter(([key]) => !key.startsWith('x-opt-jms-')));
}

// [AMQP 3.4.5] modified's message-annotations are combined with the message's: a key it names
// replaces the message's annotation of that name, a key it adds is added
describe('modified with message-annotations', () => {
  test('the redelivered message carries the annotations merged, counted when the delivery failed', async () => {
    const q = unique('merge');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'x', message_annotations: original });
    const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
    const first = await inbox.next();
    assert.deepEqual(annotations(first.message), original);
    first.delivery.modified({ delivery_failed: true, message_annotations: changes });
    const second = await inbox.next();
    assert.deepEqual(annotations(second.message), merged, 'the annotations of the modified outcome are merged into the message');
    assert.equal(second.message.delivery_count, 1);
    // without delivery-failed, and handed back for other links only, the annotations still apply
    second.delivery.modified({ message_annotations: { 'x-opt-b': 'again' } });
    const third = await inbox.next();
    assert.deepEqual(annotations(third.message), { ...merged, 'x-opt-b': 'again' });
    assert.equal(third.message.delivery_count, 1, 'not a failed delivery: not counted');
    third.delivery.accept();
    await inbox.expectNothing(150);
  });

  test('a consumer of another protocol gets the merged annotations as the properties they map to', async () => {
    const q = unique('stomp');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'x', message_annotations: original });
    const { inbox, receiver } = await c.openReceiver({ source: q, autoaccept: false, credit_window: 1 });
    (await inbox.next()).delivery.modified({ undeliverable_here: true, message_annotations: changes });
    receiver.close();
    const stomp = await connectStomp(fixture.broker().stompPort);
    try {
      const messages = stomp.subscribe(`/queue/${q}`);
      const m = await messages.next();
      assert.equal(m.headers['x-opt-a'], 'orig');
      assert.equal(m.headers['x-opt-b'], 'changed');
      assert.equal(m.headers['x-opt-added'], 'new');
    } finally {
      await stomp.disconnect();
    }
  });

  test('a persistent message keeps the merged annotations across a restart', async () => {
    const store = new MemoryStore();
    const q = unique('restart');
    let restartable = await startBroker({}, { store });
    try {
      const c = await connectAmqp(restartable.amqpPort);
      await c.send(await c.openSender(q), { body: 'kept', durable: true, message_annotations: original });
      const { inbox } = await c.openReceiver({ source: q, autoaccept: false, credit_window: 1 });
      (await inbox.next()).delivery.modified({ delivery_failed: true, message_annotations: changes });
      const again = await inbox.next();
      assert.deepEqual(annotations(again.message), merged);
      // left unsettled: the broker stops with it in flight, and it stays in the store as it is now
      await c.close();
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const back = await connectAmqp(restartable.amqpPort);
      const { inbox: recovered } = await back.openReceiver({ source: q, autoaccept: false });
      const m = await recovered.next();
      assert.equal(m.message.body, 'kept');
      assert.deepEqual(annotations(m.message), merged, 'the merged annotations were stored');
      m.delivery.accept();
      await recovered.expectNothing(150);
      await back.close();
    } finally {
      await restartable.stop();
    }
  });
});

/** The dead-letter copy of the message with id `id`, taken from ActiveMQ.DLQ (other tests' copies are passed over and left). */
async function deadLettered(c: AmqpTestClient, id: string): Promise<{ message: { body?: unknown; application_properties?: Record<string, unknown> } }> {
  const { inbox, receiver } = await c.openReceiver({ source: 'ActiveMQ.DLQ', autoaccept: false });
  try {
    for (;;) {
      const m = await inbox.next();
      if (m.message.message_id === id) {
        m.delivery.accept();
        return m;
      }
      m.delivery.release();
    }
  } finally {
    receiver.close();
  }
}

// [AMQP 3.4.2] rejected's error says why the receiver refused the message: the dead-letter copy keeps it
describe('rejected with an error', () => {
  test('the dead-letter copy\'s failure cause carries the condition and description the consumer gave', async () => {
    const q = unique('reject');
    const c = await client();
    const sender = await c.openSender(q);
    await c.send(sender, { body: 'bad', durable: true, message_id: `${q}-1` });
    await c.send(sender, { body: 'plain', durable: true, message_id: `${q}-2` });
    await c.send(sender, { body: 'terse', durable: true, message_id: `${q}-3` });
    const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
    const cause = (m: { message: { application_properties?: Record<string, unknown> } }): unknown => m.message.application_properties?.['dlqDeliveryFailureCause'];
    // one at a time: rhea sends the settlements of one turn as one disposition with the first's outcome
    (await inbox.next()).delivery.reject({ condition: 'app:bad', description: 'nope' });
    assert.equal(cause(await deadLettered(c, `${q}-1`)), 'rejected by the consumer: app:bad: nope');
    (await inbox.next()).delivery.reject();
    assert.equal(cause(await deadLettered(c, `${q}-2`)), 'rejected by the consumer');
    (await inbox.next()).delivery.reject({ condition: 'app:bad' });
    assert.equal(cause(await deadLettered(c, `${q}-3`)), 'rejected by the consumer: app:bad');
  });
});
