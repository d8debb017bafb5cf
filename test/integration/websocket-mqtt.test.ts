import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { WebSocket } from 'ws';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { subscribeConfirmed, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStompWs, openWebSocket, WsRecorder } from '../helpers/ws.js';

let broker: TestBroker;
let unavailable: string | undefined;
before(async () => {
  broker = await startBroker();
  const probe = await openWebSocket(broker.wsPort, ['mqtt']);
  probe.socket?.terminate();
  if (probe.protocol !== 'mqtt') {
    unavailable = `the WebSocket listener does not serve the mqtt subprotocol (no MQTT adapter registered): ${probe.status} ${probe.body?.trim()}`;
    console.warn(`\n*** SKIPPING the MQTT over WebSocket tests: ${unavailable} ***\n`);
  }
});
const mqttClients: MqttClient[] = [];
const sockets: WebSocket[] = [];
after(async () => {
  for (const s of sockets) s.terminate();
  await Promise.all(mqttClients.map((c) => c.endAsync(true)));
  await broker.stop();
});

/** A CONNECT packet for MQTT 3.1.1, clean session, keep-alive 60 s. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  return Buffer.concat([Buffer.from([0x10, variable.length + payload.length]), variable, payload]);
}

test('MQTT.js and @stomp/stompjs share the one WebSocket port, and a publish reaches both', async (t) => {
  if (unavailable !== undefined) return t.skip(unavailable);
  const prefix = uniqueName('ws-mqtt').replace(/\./g, '-');
  const stomp = await connectStompWs(broker.wsPort);
  const stompInbox = await subscribeConfirmed(stomp, `/topic/${prefix}.readings`);
  const client = await mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}/mqtt`, { clientId: `${prefix}-c`, reconnectPeriod: 0 });
  mqttClients.push(client);
  const received = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())));
  await client.subscribeAsync(`${prefix}/#`, { qos: 1 });
  await client.publishAsync(`${prefix}/readings`, '21.5', { qos: 1 });
  assert.equal(await within(3000, 'the MQTT message', received), '21.5');
  assert.equal((await stompInbox.next()).body, '21.5');
  await stomp.disconnect();
});

test('a text frame on the mqtt subprotocol closes that connection [MQTT-6.0.0-1]', async (t) => {
  if (unavailable !== undefined) return t.skip(unavailable);
  const h = await openWebSocket(broker.wsPort, ['mqtt']);
  sockets.push(h.socket!);
  const raw = new WsRecorder(h.socket!);
  raw.socket.send(connectPacket('text-frame').toString('latin1'));
  const closed = await within(3000, 'the close', raw.closed);
  assert.equal(closed.code, 1003);
  assert.equal(raw.messages.length, 0, 'no CONNACK for a text frame');
});

test('a malformed MQTT packet over WebSocket closes only that connection', async (t) => {
  if (unavailable !== undefined) return t.skip(unavailable);
  const bystander = await mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}/mqtt`, { clientId: uniqueName('bystander'), reconnectPeriod: 0 });
  mqttClients.push(bystander);
  const h = await openWebSocket(broker.wsPort, ['mqtt']);
  sockets.push(h.socket!);
  const raw = new WsRecorder(h.socket!);
  raw.socket.send(connectPacket('malformed'));
  // a PUBLISH whose remaining length runs past the packet: reserved flags and a topic length of 0xffff
  raw.socket.send(Buffer.from([0x3f, 0x04, 0xff, 0xff, 0x00, 0x00]));
  await within(3000, 'the close', raw.closed);
  const topic = uniqueName('still').replace(/\./g, '/');
  const got = new Promise<string>((resolve) => bystander.once('message', (_t, p) => resolve(p.toString())));
  await bystander.subscribeAsync(topic, { qos: 1 });
  await bystander.publishAsync(topic, 'unaffected', { qos: 1 });
  assert.equal(await within(3000, 'the bystander message', got), 'unaffected');
});
