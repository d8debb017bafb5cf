import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { rawMqtt } from '../helpers/mqtt.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'mqtt.receiveMaximum': 3 });
});
after(async () => {
  await broker.stop();
});

function publish(id: number, qos: 1 | 2): { cmd: 'publish'; topic: string; payload: Buffer; qos: 1 | 2; messageId: number; retain: false; dup: false } {
  return { cmd: 'publish', topic: 'receive-max/t', payload: Buffer.from(`m${id}`), qos, messageId: id, retain: false, dup: false };
}

test('MQTT 5: QoS 2 publishes not completed count against the Receive Maximum in CONNACK; one more is DISCONNECT 0x93 [MQTT-3.3.4-9]', async () => {
  const raw = await rawMqtt(broker.mqttPort, 5);
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'receive-max', clean: true, keepalive: 0 });
  const connack = (await raw.next('connack')) as { properties?: { receiveMaximum?: number } };
  assert.equal(connack.properties?.receiveMaximum, 3);
  for (const id of [1, 2, 3]) {
    raw.send(publish(id, 2));
    assert.equal(((await raw.next('pubrec')) as { messageId?: number }).messageId, id);
  }
  // completing one makes room for one more
  raw.send({ cmd: 'pubrel', messageId: 1 });
  assert.equal(((await raw.next('pubcomp')) as { messageId?: number }).messageId, 1);
  raw.send(publish(4, 2));
  assert.equal(((await raw.next('pubrec')) as { messageId?: number }).messageId, 4);
  // 2, 3 and 4 are open: a fourth is over the limit
  raw.send(publish(5, 2));
  const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
  assert.equal(disconnect.reasonCode, 0x93);
  await raw.closed;
  assert.equal(raw.packets.filter((p) => p.cmd === 'pubrec').length, 0, 'the publish over the limit is not taken');
});

test('MQTT 5: publishes completed in turn never reach the Receive Maximum', async () => {
  const raw = await rawMqtt(broker.mqttPort, 5);
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'receive-max-ok', clean: true, keepalive: 0 });
  await raw.next('connack');
  for (let id = 1; id <= 10; id++) {
    raw.send(publish(id, 2));
    await raw.next('pubrec');
    raw.send({ cmd: 'pubrel', messageId: id });
    await raw.next('pubcomp');
    raw.send(publish(100 + id, 1));
    await raw.next('puback');
  }
  raw.socket.end();
  await raw.closed;
  assert.equal(raw.packets.filter((p) => p.cmd === 'disconnect').length, 0);
});
