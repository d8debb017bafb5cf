import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { encodeRaw, uniqueName, within } from '../helpers/raw-stomp.js';
import { openWebSocket, WsRecorder } from '../helpers/ws.js';

// a client that offers no subprotocol is served by the protocol its first bytes name; STOMP takes the rest
let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'websocket.handshakeTimeout': 1000, 'stomp.connectTimeout': 1000 });
});
const mqttClients: MqttClient[] = [];
const sockets: WebSocket[] = [];
after(async () => {
  for (const s of sockets) s.terminate();
  await Promise.all(mqttClients.map((c) => c.endAsync(true)));
  await broker.stop();
});

async function bare(): Promise<WsRecorder> {
  const h = await openWebSocket(broker.wsPort, []);
  assert.ok(h.socket, `the upgrade was refused: ${h.status} ${h.body}`);
  assert.equal(h.protocol, '', 'no subprotocol chosen');
  sockets.push(h.socket);
  return new WsRecorder(h.socket);
}

test('an MQTT.js client on a WebSocket without a subprotocol is answered as MQTT at once, and its messages flow', async () => {
  const topic = uniqueName('bare-mqtt').replace(/\./g, '/');
  const subprotocolsOffered: string[][] = [];
  const client = await within(
    3000,
    'the CONNACK',
    mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}/mqtt`, {
      clientId: uniqueName('bare'),
      reconnectPeriod: 0,
      createWebsocket: (url: string, protocols: string[]) => {
        subprotocolsOffered.push(protocols);
        return new WebSocket(url);
      },
    }),
  );
  mqttClients.push(client);
  assert.equal(subprotocolsOffered.length, 1, 'the client went through the bare WebSocket');
  const got = new Promise<string>((resolve) => client.once('message', (_t, payload) => resolve(payload.toString())));
  await client.subscribeAsync(topic, { qos: 1 });
  await client.publishAsync(topic, 'over a bare WebSocket', { qos: 1 });
  assert.equal(await within(3000, 'the message', got), 'over a bare WebSocket');
});

test('an AMQP 1.0 header on a WebSocket without a subprotocol is answered with the AMQP header', async () => {
  const raw = await bare();
  raw.socket.send(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'));
  await raw.waitFor(/^AMQP\x00\x01\x00\x00/);
});

test('STOMP, and bytes that name no protocol, are served as STOMP, as before', async () => {
  const stomp = await bare();
  stomp.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
  await stomp.waitFor(/^CONNECTED\n/);

  const garbage = await bare();
  garbage.socket.send(Buffer.from('HELLO\n\n\0', 'latin1'));
  await garbage.waitFor(/^ERROR\n/);
  await within(3000, 'the close', garbage.closed);
});

test('a client without a subprotocol that sends nothing gets STOMP\'s CONNECT time-out, as before', async () => {
  const silent = await bare();
  const text = await silent.waitFor(/^ERROR\n[^]*\0/, 5000);
  assert.match(text, /FERRY_STOMP_CONNECT_TIMEOUT/);
  await within(3000, 'the close', silent.closed);
});
