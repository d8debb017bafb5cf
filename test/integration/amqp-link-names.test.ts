import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AmqpError, EventContext, Receiver, Sender } from 'rhea';
import { AmqpInbox, type AmqpTestClient } from '../helpers/amqp.js';
import { amqpFixture } from '../helpers/amqp-fixture.js';

// [AMQP 2.6.1] a link is its name, its role and the two containers, and only one such link is
// attached at a time: a second attach of a name attached on the connection in the same role steals
// the link, and the first is detached with amqp:link:stolen. What the first held unsettled goes
// back to its queue and comes again, counted as a redelivery; nothing is lost, nothing is consumed twice.

const fixture = amqpFixture('links');
const { client, unique } = fixture;

/** The error the broker's detach of `link` carries; undefined when the link is still attached after 3 seconds. */
function detachedWith(link: Sender | Receiver, kind: 'sender' | 'receiver'): Promise<AmqpError | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 3000);
    link.once(`${kind}_error`, (ctx: EventContext) => {
      clearTimeout(timer);
      resolve(ctx[kind]?.error as AmqpError | undefined);
    });
  });
}

/** A receiver on a session of its own on `c`'s connection, open once the broker answered. */
async function receiverOnNewSession(c: AmqpTestClient, options: { source: string | object; name: string; autoaccept: boolean }): Promise<{ receiver: Receiver; inbox: AmqpInbox }> {
  const session = c.connection.create_session();
  session.begin();
  const receiver = session.open_receiver(options);
  const inbox = new AmqpInbox();
  receiver.on('message', (ctx: EventContext) => inbox.push({ message: ctx.message!, delivery: ctx.delivery! }));
  await new Promise<void>((resolve, reject) => {
    receiver.once('receiver_open', () => resolve());
    receiver.once('receiver_error', () => reject(new Error('link refused')));
  });
  return { receiver, inbox };
}

test('a receiver attached again under its name on another session takes the link over; the first is detached as stolen and its unsettled messages come again, counted', async () => {
  const q = unique('recv');
  const c = await client();
  const sender = await c.openSender(q);
  for (const body of ['m0', 'm1']) await c.send(sender, { body, durable: true });
  const first = await c.openReceiver({ source: q, name: 'orders-in', autoaccept: false });
  const held = await first.inbox.take(2);
  assert.deepEqual(held.map((m) => m.message.body), ['m0', 'm1']);
  const stolen = detachedWith(first.receiver, 'receiver');
  const second = await receiverOnNewSession(c, { source: q, name: 'orders-in', autoaccept: false });
  assert.equal((await stolen)?.condition, 'amqp:link:stolen', 'the first link is detached as stolen');
  // a late acceptance on the stolen link consumes nothing
  held[0]!.delivery.accept();
  const again = await second.inbox.take(2);
  assert.deepEqual(again.map((m) => [m.message.body, m.message.delivery_count]), [['m0', 1], ['m1', 1]], 'each comes again once, counted as redelivered');
  for (const m of again) m.delivery.accept();
  await second.inbox.expectNothing(200);
});

test('a second attach of a receiver\'s name on the same session steals it too', async () => {
  const q = unique('same');
  const c = await client();
  const sender = await c.openSender(q);
  await c.send(sender, { body: 'one', durable: true });
  const first = await c.openReceiver({ source: q, name: 'dup', autoaccept: false });
  assert.equal((await first.inbox.next()).message.body, 'one');
  const stolen = detachedWith(first.receiver, 'receiver');
  const second = await c.openReceiver({ source: q, name: 'dup', autoaccept: false });
  assert.equal((await stolen)?.condition, 'amqp:link:stolen');
  const m = await second.inbox.next();
  assert.deepEqual([m.message.body, m.message.delivery_count], ['one', 1]);
  m.delivery.accept();
  await second.inbox.expectNothing(200);
});

test('a sender attached again under its name takes the link over, and its sends are taken', async () => {
  const q = unique('send');
  const c = await client();
  const first = await c.openSender({ target: q, name: 'orders-out' });
  const stolen = detachedWith(first, 'sender');
  // on a session of its own: rhea keeps a session's links by name, so it would lose track of a second one there
  const session = c.connection.create_session();
  session.begin();
  const second = session.open_sender({ target: q, name: 'orders-out' });
  await new Promise<void>((resolve) => second.once('sendable', () => resolve()));
  assert.equal((await stolen)?.condition, 'amqp:link:stolen');
  assert.deepEqual(await c.send(second, { body: 'after' }), { state: 'accepted' });
  const { inbox } = await c.openReceiver(q);
  assert.equal((await inbox.next()).message.body, 'after');
});

test('a sender and a receiver of the same name are two links, and both stay', async () => {
  const q = unique('roles');
  const c = await client();
  const sender = await c.openSender({ target: q, name: 'both' });
  let detached = false;
  sender.once('sender_error', () => (detached = true));
  const { inbox } = await receiverOnNewSession(c, { source: q, name: 'both', autoaccept: true });
  assert.deepEqual(await c.send(sender, { body: 'x' }), { state: 'accepted' });
  assert.equal((await inbox.next()).message.body, 'x');
  assert.equal(detached, false);
});

test('a durable subscription\'s link attached again keeps the subscription: the stolen link\'s detach ends nothing', async () => {
  const topic = unique('topic');
  const sub = await client(undefined, { container_id: unique('container') });
  const source = { address: topic, durable: 2 as const, expiry_policy: 'never' as const, capabilities: ['topic'] };
  const first = await sub.openReceiver({ name: 'audit', source });
  const stolen = detachedWith(first.receiver, 'receiver');
  const second = await receiverOnNewSession(sub, { source, name: 'audit', autoaccept: true });
  assert.equal((await stolen)?.condition, 'amqp:link:stolen');
  // rhea answers the broker's detach with closed=true, which would end the subscription were it still the link's
  const p = await client();
  const sender = await p.openSender({ target: { address: topic, capabilities: ['topic'] } });
  await p.send(sender, { body: 'kept', durable: true });
  assert.equal((await second.inbox.next()).message.body, 'kept');
});
