import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { eventually, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStompWs } from '../helpers/ws.js';

const maxPayload = 64 * 1024;
const logLines: Record<string, unknown>[] = [];
let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'websocket.maxPayload': maxPayload, 'stomp.maxFrameSize': 16 * 1024 }, { logLines });
});
after(async () => {
  await broker.stop();
});

function tooLargeLines(): Record<string, unknown>[] {
  return logLines.filter((l) => l['event'] === 'websocket.message-too-large');
}

test('a STOMP frame over stomp.maxFrameSize but within websocket.maxPayload gets an ERROR naming stomp.maxFrameSize', async () => {
  const c = await connectStompWs(broker.wsPort);
  c.client.publish({ destination: `/queue/${uniqueName('ws-size')}`, body: 'x'.repeat(32 * 1024) });
  await within(3000, 'the close', c.closed);
  assert.match(c.errors[0]?.headers['message'] ?? '', /stomp\.maxFrameSize/);
});

test('a message over websocket.maxPayload closes with 1009 and is logged at warn, naming the setting, its limit and the protocol, without a stack', async () => {
  const stomp = await connectStompWs(broker.wsPort);
  const stompClosed = new Promise<number>((resolve) => stomp.socket().once('close', (code: number) => resolve(code)));
  stomp.client.publish({ destination: `/queue/${uniqueName('ws-size')}`, body: 'x'.repeat(maxPayload + 1) });
  assert.equal(await within(3000, 'the STOMP close', stompClosed), 1009);

  let mqttSocket: WebSocket | undefined;
  const client = await mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}/mqtt`, {
    clientId: uniqueName('ws-size'),
    reconnectPeriod: 0,
    createWebsocket: (url: string, protocols: string[]) => (mqttSocket = new WebSocket(url, protocols)),
  });
  const mqttClosed = new Promise<number>((resolve) => mqttSocket!.once('close', (code: number) => resolve(code)));
  client.publish('ws/size', Buffer.alloc(maxPayload + 1), { qos: 0 });
  assert.equal(await within(3000, 'the MQTT close', mqttClosed), 1009);
  await client.endAsync(true);

  await eventually('both logged', () => tooLargeLines().length === 2);
  for (const [line, protocol] of tooLargeLines().map((l, i) => [l, ['stomp', 'mqtt'][i]] as const)) {
    assert.equal(line['level'], 40, 'warn');
    assert.equal(line['protocol'], protocol);
    assert.equal(line['setting'], 'websocket.maxPayload');
    assert.equal(line['limit'], maxPayload);
    assert.match(String(line['msg']), /websocket\.maxPayload \(65536 bytes\).*1009/);
    assert.equal(line['err'], undefined, 'no error object, so no stack');
  }
});
