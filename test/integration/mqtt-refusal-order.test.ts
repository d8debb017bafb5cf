/**
 * A refused PUBLISH behind QoS 1 publishes whose store sync is still pending: their PUBACKs go out
 * first, in order. The store holds its syncs, so those publishes are unconfirmed when the refusal comes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { startBroker } from '../helpers/broker.js';
import { HeldSyncStore } from '../helpers/held-sync-store.js';
import { connectMqtt, rawMqtt } from '../helpers/mqtt.js';

function publish(topic: string, messageId: number, payload: Buffer, properties?: { payloadFormatIndicator: boolean }): Packet {
  return { cmd: 'publish', topic, payload, qos: 1, messageId, dup: false, retain: false, ...(properties === undefined ? {} : { properties }) };
}

test('MQTT 3.1.1: a publish refused behind stored QoS 1 publishes closes the connection after their PUBACKs, and a publish after it is not taken', async () => {
  const store = new HeldSyncStore();
  const broker = await startBroker({}, { store });
  try {
    const subscriber = { clientId: 'refusal-order-sub', clean: false, protocolVersion: 4 as const };
    const sub = await connectMqtt(broker.mqttPort, subscriber);
    await sub.subscribe({ 'refusal/order': { qos: 1 } });
    await sub.end();

    const pub = await rawMqtt(broker.mqttPort);
    pub.send({ cmd: 'connect', clientId: 'refusal-order-pub', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
    await pub.next('connack');
    store.hold();
    const taken = store.nextAppend();
    // one write: the broker reads every packet in one turn, the refused one while those before it wait on the store
    const packets = [
      ...[1, 2, 3, 4, 5].map((n) => publish('refusal/order', n, Buffer.from(`plain-${n}`))),
      // a topic name may not hold a wildcard: 3.1.1 has no way to refuse one publish, so the connection closes [MQTT-3.3.5-2]
      publish('refusal/+', 6, Buffer.from('refused')),
      publish('refusal/order', 7, Buffer.from('after')),
    ];
    pub.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: 4 }))));
    await taken;
    store.release();
    await pub.closed;
    assert.deepEqual(
      pub.packets.map((p) => `${p.cmd} ${(p as { messageId?: number }).messageId ?? ''}`),
      ['puback 1', 'puback 2', 'puback 3', 'puback 4', 'puback 5'],
      'every stored publish acknowledged before the close',
    );

    const again = await connectMqtt(broker.mqttPort, subscriber);
    const got = await again.inbox.take(5);
    const last = await connectMqtt(broker.mqttPort, { protocolVersion: 4 });
    await last.publish('refusal/order', 'marker', { qos: 1 });
    got.push(...(await again.inbox.take(1)));
    assert.deepEqual(got.map((m) => m.payload), ['plain-1', 'plain-2', 'plain-3', 'plain-4', 'plain-5', 'marker'], 'the publish after the refused one was not taken');
    await last.end();
    await again.end();
  } finally {
    store.release();
    await broker.stop();
  }
});

test('MQTT 5: the PUBACK that refuses a publish comes after the PUBACKs of the stored publishes before it [MQTT-4.6.0-2]', async () => {
  const store = new HeldSyncStore();
  const broker = await startBroker({}, { store });
  try {
    // a persistent session's subscription, so the publishes go to the store
    const sub = await connectMqtt(broker.mqttPort, { clientId: 'refusal-order-v5-sub', clean: false, protocolVersion: 4 });
    await sub.subscribe({ 'refusal/v5': { qos: 1 } });
    await sub.end();
    const pub = await rawMqtt(broker.mqttPort, 5);
    pub.send({ cmd: 'connect', clientId: 'refusal-order-v5', clean: true, keepalive: 0, protocolVersion: 5, protocolId: 'MQTT' });
    await pub.next('connack');
    store.hold();
    const taken = store.nextAppend();
    const packets = [
      ...[1, 2, 3].map((n) => publish('refusal/v5', n, Buffer.from(`plain-${n}`))),
      // Payload Format Indicator 1 and a payload that is not UTF-8: refused with 0x99, the connection goes on
      publish('refusal/v5', 4, Buffer.from([0xff, 0xfe]), { payloadFormatIndicator: true }),
    ];
    pub.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: 5 }))));
    await taken;
    store.release();
    const acks: string[] = [];
    for (let n = 0; n < 4; n++) {
      const ack = (await pub.next('puback')) as { messageId?: number; reasonCode?: number };
      acks.push(`${ack.messageId ?? ''}:${ack.reasonCode ?? 0}`);
    }
    assert.deepEqual(acks, ['1:0', '2:0', '3:0', '4:153']);
    pub.socket.destroy();
  } finally {
    store.release();
    await broker.stop();
  }
});
