import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectAmqp, type AmqpInbox, type AmqpTestClient } from '../helpers/amqp.js';
import { amqpFixture } from '../helpers/amqp-fixture.js';
import { connectStomp } from '../helpers/stomp.js';

// A dead-letter copy counts the redeliveries the message had, as ActiveMQ's keeps its
// redeliveryCounter: the AMQP header's delivery-count and STOMP's redelivered say so in the
// dead-letter queue, whose own maximum redeliveries counts only the failures there. The rejection
// that sent it there is not one of them, as ActiveMQ counts no poison acknowledgement.

const fixture = amqpFixture('dlcount', { 'destinations.policies': [{ match: 'dlcount.>', maxRedeliveries: 2, individualDeadLetter: true }] });
const { client, unique } = fixture;

/** Sends `body` to `q`, then fails its delivery `failures` times (modified, delivery-failed), each failure counted. */
async function failed(c: AmqpTestClient, q: string, body: string, failures: number): Promise<AmqpInbox> {
  const sender = await c.openSender(q);
  await c.send(sender, { body, durable: true });
  const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
  for (let i = 0; i < failures; i++) {
    const m = await inbox.next();
    assert.equal(m.message.delivery_count ?? 0, i);
    m.delivery.modified({ delivery_failed: true });
  }
  return inbox;
}

test('a message rejected after two failed deliveries reaches the dead-letter queue with delivery-count 2', async () => {
  const q = unique('rejected');
  const c = await client();
  const inbox = await failed(c, q, 'poison', 2);
  (await inbox.next()).delivery.reject();
  // browsed, so the copy stays where it is
  const { inbox: dlq } = await c.openReceiver({ source: { address: `DLQ.${q}`, distribution_mode: 'copy' } });
  const copy = await dlq.next();
  assert.deepEqual([copy.message.body, copy.message.delivery_count], ['poison', 2], 'the copy counts the two redeliveries, not the rejection');
  // an operator's retry sends it back for a fresh start, as it drops the failure cause
  assert.equal(fixture.broker().server.broker.admin.transfer(`DLQ.${q}`, {}, 'retry'), 1);
  const retried = await inbox.next();
  assert.deepEqual([retried.message.body, retried.message.delivery_count ?? 0], ['poison', 0]);
  retried.delivery.accept();
});

test('a message past its maximum redeliveries is dead-lettered with its count, which goes on in the dead-letter queue; a failure there does not drop it', async () => {
  const q = unique('max');
  const c = await client();
  // maxRedeliveries 2: the third failure sends it to DLQ.<q>
  await failed(c, q, 'tired', 3);
  const { inbox: dlq, receiver } = await c.openReceiver({ source: `DLQ.${q}`, autoaccept: false });
  const copy = await dlq.next();
  assert.deepEqual([copy.message.body, copy.message.delivery_count], ['tired', 3]);
  copy.delivery.modified({ delivery_failed: true });
  const again = await dlq.next();
  assert.deepEqual([again.message.body, again.message.delivery_count], ['tired', 4], 'a failure in the dead-letter queue counts on, and keeps the message there');
  receiver.close();
  const stomp = await connectStomp(fixture.broker().stompPort);
  try {
    const m = await stomp.subscribe(`/queue/DLQ.${q}`).next();
    assert.equal(m.body, 'tired');
    assert.equal(m.headers['redelivered'], 'true', 'a STOMP consumer of the dead-letter queue sees it redelivered');
  } finally {
    await stomp.disconnect();
  }
});

test('the dead-letter copy\'s count outlives a restart', async () => {
  const store = new MemoryStore();
  const settings = { 'destinations.policies': [{ match: 'dlcount.>', maxRedeliveries: 2, individualDeadLetter: true }] };
  const first = await startBroker(settings, { store });
  const q = unique('restart');
  try {
    const c = await connectAmqp(first.amqpPort);
    const inbox = await failed(c, q, 'kept', 1);
    (await inbox.next()).delivery.reject();
    await c.close();
  } finally {
    await first.stop();
  }
  const second = await startBroker(settings, { store });
  try {
    const c = await connectAmqp(second.amqpPort);
    const { inbox } = await c.openReceiver({ source: `DLQ.${q}`, autoaccept: false });
    const copy = await inbox.next();
    assert.deepEqual([copy.message.body, copy.message.delivery_count], ['kept', 1]);
    copy.delivery.accept();
    await c.close();
  } finally {
    await second.stop();
  }
});
