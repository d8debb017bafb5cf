import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type mqttPacket from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt, rawMqtt, type RawMqtt } from '../helpers/mqtt.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

type Raw = RawMqtt;

/** Acknowledges a publish as its QoS asks, through to PUBCOMP for QoS 2. */
async function acknowledge(raw: Raw, publish: mqttPacket.IPublishPacket): Promise<void> {
  const messageId = publish.messageId!;
  if (publish.qos === 1) raw.send({ cmd: 'puback', messageId });
  else if (publish.qos === 2) {
    raw.send({ cmd: 'pubrec', messageId });
    await raw.next('pubrel');
    raw.send({ cmd: 'pubcomp', messageId });
  }
}

const cases = [
  { session: 'clean', first: 1, again: 1 },
  { session: 'clean', first: 1, again: 2 },
  { session: 'clean', first: 2, again: 0 },
  { session: 'persistent', first: 1, again: 1 },
  { session: 'persistent', first: 2, again: 2 },
  { session: 'persistent', first: 1, again: 2 },
  { session: 'clean', first: 1, again: 1, shared: true },
] as const;

for (const { session, first, again, ...rest } of cases) {
  const shared = 'shared' in rest;
  test(`a ${session} session that subscribes again to a ${shared ? 'shared subscription' : 'filter'}, QoS ${first} then ${again}, with publishes in flight and more queued, gets each message once [MQTT-3.8.4-3]`, async () => {
    const topic = `resub-${session}-${first}-${again}${shared ? '-shared' : ''}`;
    const filter = shared ? `$share/g/${topic}/#` : `${topic}/#`;
    const raw = await rawMqtt(broker.mqttPort, 5);
    const persistent = session === 'persistent';
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: topic, clean: true, keepalive: 0, properties: { receiveMaximum: 5, ...(persistent ? { sessionExpiryInterval: 300 } : {}) } });
    await raw.next('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: first }] });
    await raw.next('suback');
    const pub = await connectMqtt(broker.mqttPort);
    const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const body of sent) await pub.publish(`${topic}/x`, body, { qos: 1 });
    await pub.end();
    // the client's Receive Maximum holds five in flight, unacknowledged; fifteen wait behind them
    const inFlight: mqttPacket.IPublishPacket[] = [];
    for (let i = 0; i < 5; i++) inFlight.push((await raw.next('publish')) as mqttPacket.IPublishPacket);
    raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: filter, qos: again }] });
    await raw.next('suback');
    for (const publish of inFlight) await acknowledge(raw, publish);
    const received = inFlight.map((p) => p.payload.toString());
    while (received.length < sent.length) {
      const publish = (await raw.next('publish')) as mqttPacket.IPublishPacket;
      received.push(publish.payload.toString());
      await acknowledge(raw, publish);
    }
    assert.deepEqual(received, sent, 'every message once, in order');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(
      raw.packets.filter((p) => p.cmd === 'publish').map((p) => (p as mqttPacket.IPublishPacket).payload.toString()),
      [],
      'nothing sent twice',
    );
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    raw.socket.end();
    await raw.closed;
  });
}

for (const [protocolVersion, qos] of [[4, 0], [4, 1], [5, 1]] as const) {
  test(`a clean session that subscribes again to a filter gets its retained messages again, MQTT ${protocolVersion === 5 ? '5' : '3.1.1'} QoS ${qos}, and none goes to the dead-letter queue [MQTT-3.3.1-9]`, async () => {
    const topic = `retained-again/${protocolVersion}/${qos}`;
    const publisher = await connectMqtt(broker.mqttPort, { protocolVersion });
    await publisher.publish(`${topic}/a`, 'kept a', { qos: 1, retain: true });
    await publisher.publish(`${topic}/b`, 'kept b', { qos: 1, retain: true });
    const client = await connectMqtt(broker.mqttPort, { protocolVersion, clean: true });
    await client.subscribe(`${topic}/#`, { qos });
    const first = await client.inbox.take(2);
    // the same filter again, with the first delivery just taken: the retained messages come again [MQTT-3.8.4-3]
    await client.subscribe(`${topic}/#`, { qos });
    const again = await client.inbox.take(2);
    assert.deepEqual([first, again].map((got) => got.map((m) => String(m.payload)).sort()), [['kept a', 'kept b'], ['kept a', 'kept b']]);
    await publisher.publish(`${topic}/c`, 'live', { qos: 1 });
    assert.equal(String((await client.inbox.next()).payload), 'live');
    const dead = broker.server.broker.stats().queues.find((q) => q.name === 'ActiveMQ.DLQ');
    assert.equal(dead?.pending ?? 0, 0, 'nothing was dead-lettered');
    await client.end();
    await publisher.end();
  });
}

test('MQTT 5: QoS 2 deliveries in flight when the client unsubscribes are completed, clean or persistent: PUBREC gets PUBREL 0x00 [MQTT-3.10.4-3]', async () => {
  for (const persistent of [false, true]) {
    const clientId = `unsub-inflight-${persistent ? 'p' : 'c'}`;
    const raw = await rawMqtt(broker.mqttPort, 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, properties: { receiveMaximum: 2, ...(persistent ? { sessionExpiryInterval: 60 } : {}) } });
    await raw.next('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${clientId}/t`, qos: 2 }] });
    await raw.next('suback');
    const pub = await connectMqtt(broker.mqttPort);
    for (const n of [1, 2, 3]) await pub.publish(`${clientId}/t`, `m${n}`, { qos: 2 });
    await pub.end();
    const ids = [((await raw.next('publish')) as mqttPacket.IPublishPacket).messageId!, ((await raw.next('publish')) as mqttPacket.IPublishPacket).messageId!];
    raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`${clientId}/t`] });
    await raw.next('unsuback');
    for (const id of ids) {
      raw.send({ cmd: 'pubrec', messageId: id });
      assert.equal(((await raw.next('pubrel')) as mqttPacket.IPubrelPacket).reasonCode ?? 0, 0, `${persistent ? 'persistent' : 'clean'}: PUBREL for ${id}`);
      raw.send({ cmd: 'pubcomp', messageId: id });
    }
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await raw.closed;
  }
});
