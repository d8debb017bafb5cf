/**
 * RabbitMQ's routing model meeting Ferry's protocols over real sockets: a declared queue bound to
 * amq.topic takes MQTT and STOMP topic sends, and is a queue STOMP reads as `/queue/<name>`; a
 * publish to amq.topic reaches MQTT subscribers of the topic its key names. Declarations and
 * publishes go through the core API, as the AMQP 0-9-1 adapter makes them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await broker.stop();
});

async function core() {
  const connection = await broker.server.broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, internal: true });
  return { connection, session: connection.createSession() };
}

test('MQTT and STOMP topic sends reach a queue bound to amq.topic, which STOMP reads as a queue', async () => {
  const { connection } = await core();
  connection.declareQueue({ name: 'readings', durable: true, exclusive: false, autoDelete: false, arguments: {} });
  connection.bind({ source: 'amq.topic', destination: { kind: 'queue', name: 'readings' }, routingKey: 'sensors.#' });
  const mqtt = await connectMqtt(broker.mqttPort);
  const stomp = await connectStomp(broker.stompPort);
  await mqtt.publish('sensors/kitchen/temp', '21.5', { qos: 1 });
  await stomp.sendConfirmed('/topic/sensors.hall', 'open');
  await stomp.sendConfirmed('/topic/other.hall', 'not bound');
  await stomp.sendConfirmed('/topic/sensors', 'zero words for #');
  const inbox = stomp.subscribe('/queue/readings');
  const got = await inbox.take(3);
  assert.deepEqual(got.map((m) => m.body), ['21.5', 'open', 'zero words for #']);
  await mqtt.end();
  await stomp.disconnect();
  connection.close();
});

test('a publish to amq.topic reaches MQTT subscribers of the topic its key names', async () => {
  const { connection, session } = await core();
  const mqtt = await connectMqtt(broker.mqttPort);
  await mqtt.subscribe('alerts/+', { qos: 1 });
  const result = session.publish('amq.topic', 'alerts.fire', { body: Buffer.from('evacuate'), persistent: true });
  assert.equal(result.routed, 1);
  await result.durable;
  const received = await mqtt.inbox.next();
  assert.equal(received.topic, 'alerts/fire');
  assert.equal(received.payload, 'evacuate');
  await mqtt.end();
  connection.close();
});
