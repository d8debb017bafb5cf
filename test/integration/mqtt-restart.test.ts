import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';

test('a persistent session, its queued QoS 1 and 2 messages and retained messages survive a broker restart (journal)', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  try {
    let broker = await startBroker({ data });
    const sub = await connectMqtt(broker.mqttPort, { clientId: 'restart-sub', clean: false });
    await sub.subscribe({ 'plant/+/level': { qos: 2 } });
    await sub.end();
    const pub = await connectMqtt(broker.mqttPort);
    await pub.publish('plant/tank1/level', 'q1', { qos: 1 });
    await pub.publish('plant/tank2/level', 'q2', { qos: 2 });
    await pub.publish('plant/status', 'running', { qos: 0, retain: true });
    await pub.publish('plant/mode', 'auto', { qos: 1, retain: true });
    await pub.end();
    await broker.server.stop();

    broker = await startBroker({ data });
    const again = await connectMqtt(broker.mqttPort, { clientId: 'restart-sub', clean: false });
    assert.equal(again.connack.sessionPresent, true);
    const got = await again.inbox.take(2);
    assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}@${m.packet.qos}`), ['plant/tank1/level=q1@1', 'plant/tank2/level=q2@2']);
    const fresh = await connectMqtt(broker.mqttPort);
    await fresh.subscribe('plant/#', { qos: 1 });
    const retained = await fresh.inbox.take(2);
    assert.deepEqual(retained.map((m) => `${m.topic}=${m.payload}:${m.packet.retain}`).sort(), ['plant/mode=auto:true', 'plant/status=running:true']);
    await again.end();
    await fresh.end();
    await broker.server.stop();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
