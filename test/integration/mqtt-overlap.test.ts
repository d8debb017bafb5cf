import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

const v5 = { protocolVersion: 5 } as const;

/** The subscription identifiers of a received PUBLISH, as a sorted list. */
function idsOf(properties: { subscriptionIdentifier?: number | number[] } | undefined): number[] {
  return [properties?.subscriptionIdentifier ?? []].flat().sort((a, b) => a - b);
}

test('MQTT 5: overlapping subscriptions of one client get one copy, at the highest QoS, with every matching subscription identifier [MQTT-3.3.4-2, MQTT-3.3.4-4]', async () => {
  const sub = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'overlap-v5' });
  await sub.client.subscribeAsync('ov5/a', { qos: 0, properties: { subscriptionIdentifier: 1 } });
  await sub.client.subscribeAsync('ov5/a/#', { qos: 1, properties: { subscriptionIdentifier: 2 } });
  await sub.client.subscribeAsync('ov5/+/b', { qos: 0, properties: { subscriptionIdentifier: 3 } });
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('ov5/a', 'both', { qos: 1 });
  await pub.publish('ov5/a/b', 'hash and plus', { qos: 1 });
  await pub.publish('ov5/a/c', 'hash only', { qos: 1 });
  const [first, second, third] = await sub.inbox.take(3);
  assert.equal(first!.payload, 'both');
  assert.equal(first!.packet.qos, 1);
  assert.deepEqual(idsOf(first!.packet.properties), [1, 2]);
  // a second copy of 'both' would have come before the next message
  assert.equal(second!.payload, 'hash and plus');
  assert.equal(second!.packet.qos, 1);
  assert.deepEqual(idsOf(second!.packet.properties), [2, 3]);
  assert.equal(third!.payload, 'hash only');
  assert.deepEqual(idsOf(third!.packet.properties), [2]);
  await sub.end();
  await pub.end();
});

test('MQTT 3.1.1: overlapping subscriptions of one client get one copy, at the highest QoS', async () => {
  const sub = await connectMqtt(broker.mqttPort, { clientId: 'overlap-v4' });
  await sub.subscribe({ 'ov4/x': { qos: 0 }, 'ov4/#': { qos: 2 } });
  const pub = await connectMqtt(broker.mqttPort);
  await pub.publish('ov4/x', 'one', { qos: 2 });
  await pub.publish('ov4/y', 'marker', { qos: 2 });
  const [first, second] = await sub.inbox.take(2);
  assert.equal(first!.payload, 'one');
  assert.equal(first!.packet.qos, 2);
  assert.equal(second!.payload, 'marker');
  await sub.end();
  await pub.end();
});

test('a persistent session away gets one copy of a message its overlapping subscriptions match, from the QoS 1 one', async () => {
  const options = { clientId: 'overlap-persistent', clean: false } as const;
  const first = await connectMqtt(broker.mqttPort, options);
  await first.subscribe({ 'ovp/a': { qos: 0 }, 'ovp/#': { qos: 1 } });
  await first.end();
  const pub = await connectMqtt(broker.mqttPort);
  await pub.publish('ovp/a', 'while away', { qos: 1 });
  await pub.publish('ovp/b', 'marker', { qos: 1 });
  await pub.end();
  const back = await connectMqtt(broker.mqttPort, options);
  assert.equal(back.connack.sessionPresent, true);
  const [got, marker] = await back.inbox.take(2);
  assert.equal(got!.payload, 'while away');
  assert.equal(got!.packet.qos, 1);
  assert.equal(marker!.payload, 'marker');
  // subscribed again: the live subscriptions route once too
  const pub2 = await connectMqtt(broker.mqttPort);
  await pub2.publish('ovp/a', 'live', { qos: 1 });
  await pub2.publish('ovp/b', 'marker 2', { qos: 1 });
  const [live, marker2] = await back.inbox.take(2);
  assert.equal(live!.payload, 'live');
  assert.equal(live!.packet.qos, 1);
  assert.equal(marker2!.payload, 'marker 2');
  await pub2.end();
  await back.end();
  const clean = await connectMqtt(broker.mqttPort, { clientId: 'overlap-persistent', clean: true });
  await clean.end();
});
