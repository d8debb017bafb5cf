import assert from 'node:assert/strict';
import { test } from 'node:test';
import { amqpFixture } from '../helpers/amqp-fixture.js';

// [AMQP 3.2.1] header first-acquirer: "If this value is true, then this message has not been
// acquired by any other link." True on a message's first delivery from its queue, as RabbitMQ sets
// it; false once a link has taken it, even one that released it uncounted.

const fixture = amqpFixture('acquirer');
const { client, unique } = fixture;

test('a message\'s first delivery says first-acquirer; after a release or a failed delivery it does not', async () => {
  const q = unique('queue');
  const c = await client();
  const sender = await c.openSender(q);
  await c.send(sender, { body: 'one', durable: true });
  const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
  const first = await inbox.next();
  assert.deepEqual([first.message.first_acquirer, first.message.delivery_count ?? 0], [true, 0]);
  first.delivery.release();
  const released = await inbox.next();
  assert.deepEqual([released.message.first_acquirer ?? false, released.message.delivery_count ?? 0], [false, 0], 'released, it was acquired before, uncounted');
  released.delivery.modified({ delivery_failed: true });
  const failed = await inbox.next();
  assert.deepEqual([failed.message.first_acquirer ?? false, failed.message.delivery_count], [false, 1]);
  failed.delivery.accept();
});

test('a browser acquires nothing: the consumer after it is still the first acquirer', async () => {
  const q = unique('browsed');
  const c = await client();
  const sender = await c.openSender(q);
  await c.send(sender, { body: 'seen', durable: true });
  const { inbox: browsed, receiver } = await c.openReceiver({ source: { address: q, distribution_mode: 'copy' } });
  const copy = await browsed.next();
  assert.equal(copy.message.first_acquirer ?? false, false);
  receiver.close();
  const { inbox } = await c.openReceiver(q);
  assert.equal((await inbox.next()).message.first_acquirer, true);
});
