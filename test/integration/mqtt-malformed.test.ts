import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type mqttPacket from 'mqtt-packet';
import { loadConfig, type ConfigValue } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { connectMqtt, rawMqtt } from '../helpers/mqtt.js';
import { within } from '../helpers/raw-stomp.js';
import { openWebSocket, WsRecorder } from '../helpers/ws.js';

// a broker of its own, to read what it logs
let server: RunningServer;
let dataDir: string;
let port: number;
const logged: { level: number; code?: string; msg?: string; err?: unknown; stack?: unknown }[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ferry-test-'));
  const config = loadConfig(
    undefined,
    new Map<string, ConfigValue>([
      ['data', dataDir],
      ['listeners.stomp.port', 0],
      ['listeners.stomp.host', '127.0.0.1'],
      ['listeners.http.port', 0],
      ['listeners.http.host', '127.0.0.1'],
      ['listeners.amqp.port', 0],
      ['listeners.amqp.host', '127.0.0.1'],
      ['listeners.mqtt.port', 0],
      ['listeners.mqtt.host', '127.0.0.1'],
      ['listeners.websocket.port', 0],
      ['listeners.websocket.host', '127.0.0.1'],
      // far longer than any test here waits: a close before CONNECT comes from what the client sent
      ['mqtt.connectTimeout', 3_600_000],
    ]),
  );
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  server = await startServer(config, logger);
  port = server.ports['mqtt']!;
});
after(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const cases: [string, 4 | 5, number[]][] = [
  // [MQTT-3.8.3-3]: a SUBSCRIBE carries at least one topic filter
  ['MQTT 3.1.1 SUBSCRIBE', 4, [0x82, 2, 0, 1]],
  ['MQTT 5 SUBSCRIBE', 5, [0x82, 3, 0, 1, 0]],
  // [MQTT-3.10.3-2]: so does an UNSUBSCRIBE
  ['MQTT 3.1.1 UNSUBSCRIBE', 4, [0xa2, 2, 0, 2]],
  ['MQTT 5 UNSUBSCRIBE', 5, [0xa2, 3, 0, 2, 0]],
];

for (const [what, version, bytes] of cases) {
  test(`${what} without a topic filter is a malformed packet: that connection closes (MQTT 5: DISCONNECT 0x81), logged at warn, others carry on`, async () => {
    const bystander = await connectMqtt(port, { protocolVersion: version });
    await bystander.subscribe('malformed/ok', { qos: 1 });
    const raw = await rawMqtt(port, version);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `malformed-${what.replace(/\W/g, '')}`, clean: true, keepalive: 0 });
    await raw.next('connack');
    const before = logged.length;
    raw.socket.write(Buffer.from(bytes));
    if (version === 5) {
      const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
      assert.equal(disconnect.reasonCode, 0x81);
    }
    await raw.closed;
    assert.equal(raw.packets.filter((p) => p.cmd === 'suback' || p.cmd === 'unsuback').length, 0);
    const entries = logged.slice(before).filter((e) => e.code !== undefined || e.level >= 50);
    assert.deepEqual(
      entries.map((e) => [e.level, e.code]),
      [[40, 'FERRY_MQTT_MALFORMED']],
    );
    assert.equal(entries[0]!.err, undefined, 'no stack: bad input is not a bug');
    const pub = await connectMqtt(port);
    await pub.publish('malformed/ok', 'still here', { qos: 1 });
    assert.equal((await bystander.inbox.next()).payload, 'still here');
    await Promise.all([pub.end(), bystander.end()]);
  });
}

// Found by fuzzing: mqtt-packet leaves a binary property whose length runs past the packet's end
// as null instead of failing, and mapping it then threw a TypeError inside the session.
test('an MQTT 5 PUBLISH whose Correlation Data runs past the packet\'s end is a malformed packet: DISCONNECT 0x81, logged at warn without a stack', async () => {
  const raw = await rawMqtt(port, 5);
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'malformed-correlation', clean: true, keepalive: 0 });
  await raw.next('connack');
  const before = logged.length;
  // topic "a", properties of 3 bytes: Correlation Data (0x09) announcing 16 bytes; 2 follow
  raw.socket.write(Buffer.from([0x30, 9, 0, 1, 0x61, 3, 0x09, 0, 16, 0x41, 0x42]));
  const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
  assert.equal(disconnect.reasonCode, 0x81);
  await raw.closed;
  const entries = logged.slice(before).filter((e) => e.code !== undefined || e.level >= 50);
  assert.deepEqual(entries.map((e) => [e.level, e.code]), [[40, 'FERRY_MQTT_MALFORMED']]);
  assert.equal(entries[0]!.err, undefined, 'no stack: bad input is not a bug');
});

test('a SUBSCRIBE with packet identifier 0 is malformed [MQTT-2.3.1-1], and one with subscription identifier 0 a protocol error: no SUBACK, the connection closes', async () => {
  for (const [version, packet, reason] of [
    [4, { cmd: 'subscribe', messageId: 0, subscriptions: [{ topic: 'zero/id', qos: 1 }] }, undefined],
    [5, { cmd: 'subscribe', messageId: 0, subscriptions: [{ topic: 'zero/id', qos: 1 }] }, 0x81],
    [5, { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'zero/sid', qos: 1 }], properties: { subscriptionIdentifier: 0 } }, 0x82],
  ] as const) {
    const raw = await rawMqtt(port, version);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `zero-${version}-${String(reason)}`, clean: true, keepalive: 0 });
    await raw.next('connack');
    raw.send(packet as unknown as mqttPacket.Packet);
    if (reason !== undefined) assert.equal(((await raw.next('disconnect')) as { reasonCode?: number }).reasonCode, reason);
    await raw.closed;
    assert.equal(raw.packets.filter((p) => p.cmd === 'suback').length, 0);
  }
});

test('a PUBLISH whose topic name is ill-formed UTF-8 or holds U+0000 closes its connection and reaches no one [MQTT-1.5.4-1, MQTT-1.5.4-2], with or without MQTT 5 properties', async () => {
  const watcher = await connectMqtt(port, { protocolVersion: 5 });
  await watcher.subscribe('#', { qos: 1 });
  const topics = [Buffer.from([0x75, 0x74, 0x66, 0xc3, 0x28]), Buffer.from([0x75, 0x74, 0x66, 0x00, 0x61])];
  for (const [version, topic, properties] of [
    [4, topics[0]!, []],
    [5, topics[0]!, [0]],
    [5, topics[0]!, [2, 0x01, 1]],
    [4, topics[1]!, []],
    [5, topics[1]!, [2, 0x01, 1]],
  ] as const) {
    const raw = await rawMqtt(port, version);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `bad-utf8-${version}-${properties.length}`, clean: true, keepalive: 0 });
    await raw.next('connack');
    // QoS 1, packet id 1, then the properties (MQTT 5: their length, then a payload format indicator) and the payload
    const body = Buffer.concat([Buffer.from([0, topic.length]), topic, Buffer.from([0, 1]), Buffer.from(properties), Buffer.from('x')]);
    raw.socket.write(Buffer.concat([Buffer.from([0x32, body.length]), body]));
    await within(3000, 'the close', raw.closed);
    assert.equal(raw.packets.filter((p) => p.cmd === 'puback').length, 0, `MQTT ${version}, ${topic.toString('hex')}: not taken`);
    if (version === 5) assert.equal((raw.packets.find((p) => p.cmd === 'disconnect') as { reasonCode?: number } | undefined)?.reasonCode, 0x81);
  }
  await watcher.publish('utf8/ok', 'after', { qos: 1 });
  assert.equal((await watcher.inbox.next()).topic, 'utf8/ok', 'nothing else reached the subscriber');
  await watcher.end();
});

// [MQTT-3.1.0-1]: "CONNECT\n" reads as a PUBACK (0x43) announcing 79 bytes, which a STOMP client
// never sends: the close comes from the first byte, not from mqtt.connectTimeout (an hour here)
test('a first packet that is not CONNECT closes its connection from its first byte, though the packet is not complete, over TCP and WebSocket', { timeout: 30_000 }, async () => {
  const stompConnect = Buffer.from('CONNECT\naccept-version:1.2\nhost:/\n\n\0');
  const before = logged.length;
  const raw = await rawMqtt(port);
  raw.socket.write(stompConnect);
  await raw.closed;
  const ws = await openWebSocket(server.ports['websocket']!, ['mqtt']);
  assert.equal(ws.protocol, 'mqtt');
  const recorder = new WsRecorder(ws.socket!);
  ws.socket!.send(stompConnect);
  await recorder.closed;
  assert.equal(raw.packets.length + recorder.messages.length, 0, 'nothing answered');
  const entries = logged.slice(before).filter((e) => e.code !== undefined);
  assert.deepEqual(
    entries.map((e) => [e.level, e.code, e.msg]),
    [
      [40, 'FERRY_MQTT_NOT_CONNECTED', 'closing an MQTT connection'],
      [40, 'FERRY_MQTT_NOT_CONNECTED', 'closing an MQTT connection'],
    ],
  );
});
