import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { Inbox } from '../helpers/inbox.js';

// A refusal frees the consumer's prefetch slot exactly as an acceptance does, on every protocol that
// holds one for an unsettled delivery: with one slot per consumer, what waits behind a refused
// message must still come. (An AMQP 1.0 consumer holds none: only link credit bounds what it is sent.)

let broker: TestBroker;
before(async () => {
  // one message in flight per MQTT 3.1.1 subscriber
  broker = await startBroker({ 'mqtt.maxInflight': 1 });
});
after(async () => {
  await broker.stop();
});

let counter = 0;
const unique = (name: string): string => `slots.${name}.${Date.now().toString(36)}${counter++}`;

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
