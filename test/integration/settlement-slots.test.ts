import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, type AmqpTestClient } from '../helpers/amqp.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { Inbox } from '../helpers/inbox.js';

// A refusal frees the consumer's prefetch slot exactly as an acceptance does, on every protocol:
// with one slot per consumer, what waits behind a refused message must still come.

let broker: TestBroker;
const amqpClients: AmqpTestClient[] = [];
before(async () => {
  // one message in flight per AMQP consumer, and per MQTT 3.1.1 subscriber
  broker = await startBroker({ 'amqp.sessionWindow': 1, 'mqtt.maxInflight': 1 });
});
after(async () => {
  await Promise.all(amqpClients.map((c) => c.close()));
  await broker.stop();
});

let counter = 0;
const unique = (name: string): string => `slots.${name}.${Date.now().toString(36)}${counter++}`;

async function amqpWithTwoWaiting(): Promise<{ c: AmqpTestClient; q: string }> {
  const c = await connectAmqp(broker.amqpPort);
  amqpClients.push(c);
  const q = unique('amqp');
  const sender = await c.openSender(q);
  for (const body of ['first', 'second']) assert.equal((await c.send(sender, { body, durable: true })).state, 'accepted');
  return { c, q };
}

test('AMQP rejected frees the slot: the next message comes', async () => {
  const { c, q } = await amqpWithTwoWaiting();
  const { inbox } = await c.openReceiver({ source: q, autoaccept: false, credit_window: 10 });
  const first = await inbox.next();
  assert.equal(first.message.body, 'first');
  await inbox.expectNothing(100);
  first.delivery.reject({ condition: 'amqp:internal-error', description: 'poison' });
  const next = await inbox.next();
  assert.equal(next.message.body, 'second');
  next.delivery.accept();
});

for (const [outcome, settle] of [
  ['released', (d: { release(): void }) => d.release()],
  ['modified (delivery-failed)', (d: { modified(o: object): void }) => d.modified({ delivery_failed: true })],
] as const) {
  test(`AMQP ${outcome} frees the slot: the message comes back, then the next`, async () => {
    const { c, q } = await amqpWithTwoWaiting();
    const { inbox } = await c.openReceiver({ source: q, autoaccept: false, credit_window: 10 });
    const first = await inbox.next();
    assert.equal(first.message.body, 'first');
    settle(first.delivery as never);
    const again = await inbox.next();
    assert.equal(again.message.body, 'first', 'it returns to its place at the head');
    again.delivery.accept();
    const next = await inbox.next();
    assert.equal(next.message.body, 'second');
    next.delivery.accept();
  });
}

// undeliverable-here asks that the message not come back on this link; whether it does is not the
// point here (Ferry, with no other consumer, does send it again), only that the slot is free
test('AMQP modified (undeliverable-here) frees the slot: the next message comes', async () => {
  const { c, q } = await amqpWithTwoWaiting();
  const { inbox } = await c.openReceiver({ source: q, autoaccept: false, credit_window: 10 });
  const first = await inbox.next();
  assert.equal(first.message.body, 'first');
  first.delivery.modified({ undeliverable_here: true });
  for (;;) {
    const next = await inbox.next();
    next.delivery.accept();
    if (next.message.body === 'second') break;
  }
});

test('MQTT 5 PUBACK with an error reason code frees the slot: the next message comes', async () => {
  const topic = unique('mqtt').replace(/\./g, '/');
  const received = new Inbox<string>('MQTT delivery', (s) => s);
  let refused = false;
  const subscriber = await connectMqtt(broker.mqttPort, {
    protocolVersion: 5,
    properties: { receiveMaximum: 1 },
    customHandleAcks: (_topic, message, _packet, done) => {
      received.push(message.toString());
      // the first is refused (0x80 unspecified error), the rest accepted
      done(refused ? 0 : ((refused = true), 0x80));
    },
  });
  try {
    await subscriber.subscribe(topic, { qos: 1 });
    const publisher = await connectMqtt(broker.mqttPort);
    for (const body of ['first', 'second']) await publisher.publish(topic, body, { qos: 1 });
    await publisher.end();
    assert.deepEqual(await received.take(2), ['first', 'second']);
  } finally {
    await subscriber.end();
  }
});
