import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { serverFrames } from '../fuzz/websocket.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { eventually, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';
import { connectStompWs } from '../helpers/ws.js';

/**
 * The WebSocket ping check drops peers that are gone, and only those: a client whose reading the
 * broker holds, or which is midway through one large frame, cannot have its pong read, and is
 * still there.
 */

const PING_INTERVAL = 300;
const BODY = 'k'.repeat(16 * 1024);
/** What `n` such messages hold, near enough for a limit: the next one goes past it. */
const heldBy = (n: number): number => n * BODY.length;

/** Resolves once `socket` has received `count` pings from the broker; fails if it closes first. */
function pings(socket: WebSocket, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const onPing = (): void => {
      if (++seen < count) return;
      socket.off('close', onClose);
      socket.off('ping', onPing);
      resolve();
    };
    const onClose = (code: number): void => reject(new Error(`closed with ${code} after ${seen} of ${count} pings`));
    socket.on('ping', onPing);
    socket.once('close', onClose);
  });
}

function pendingIn(broker: TestBroker, name: string): number {
  return broker.server.broker.stats().queues.find((q) => q.name === name)?.pending ?? 0;
}

/** An MQTT.js client over WebSocket, with the socket it runs on. */
async function mqttOverWs(broker: TestBroker): Promise<{ client: Awaited<ReturnType<typeof connectMqtt>>; socket: WebSocket }> {
  let socket: WebSocket | undefined;
  const client = await connectMqtt(broker.wsPort, { protocol: 'ws', path: '/mqtt', createWebsocket: (url: string, protocols: string[]) => (socket = new WebSocket(url, protocols)) });
  return { client, socket: socket! };
}

test('a STOMP producer over WebSocket held by memoryPolicy block stays connected across pings, and every message it sent arrives once a consumer drains the queue', async (t) => {
  const broker = await startBroker({ 'websocket.pingInterval': PING_INTERVAL, 'destinations.policies': [{ match: 'ws.held.>', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const name = uniqueName('ws.held.stomp');
  const total = 20;
  const producer = await connectStompWs(broker.wsPort);
  let closedWith: number | undefined;
  producer.socket().once('close', (code: number) => (closedWith = code));
  let receipts = 0;
  for (let i = 0; i < total; i++) {
    const receipt = `r${i}`;
    producer.client.watchForReceipt(receipt, () => receipts++);
    producer.client.publish({ destination: `/queue/${name}`, body: `${i}${BODY}`, headers: { receipt, persistent: 'true' } });
  }
  await eventually('the queue full', () => pendingIn(broker, name) >= 4, 15_000);
  await within(5000, 'pings while held', pings(producer.socket(), 3));
  assert.ok(pendingIn(broker, name) < total, 'the producer is held');
  assert.ok(receipts < total, 'the producer has not had every receipt');

  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe(`/queue/${name}`, { ack: 'auto' });
  const bodies: string[] = [];
  for (let i = 0; i < total; i++) bodies.push((await inbox.next(10_000)).body.slice(0, String(i).length));
  assert.deepEqual(bodies, Array.from({ length: total }, (_, i) => String(i)), 'every message, in order');
  await eventually('every receipt', () => receipts === total, 5000);
  assert.equal(closedWith, undefined, 'the producer stays connected');
  await producer.disconnect();
  await consumer.disconnect();
});

test('an MQTT.js publisher over WebSocket held by memoryPolicy block stays connected across pings, and every publish reaches the subscriber once it returns', async (t) => {
  const broker = await startBroker({ 'mqtt.websocketPingInterval': PING_INTERVAL, 'destinations.policies': [{ match: 'ws.held.>', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const topic = uniqueName('ws.held.mqtt').replace(/\./g, '/');
  const subscriberId = uniqueName('held-sub');
  const away = await connectMqtt(broker.mqttPort, { clientId: subscriberId, clean: false });
  await away.subscribe(topic, { qos: 1 });
  await away.end();

  const { client: publisher, socket } = await mqttOverWs(broker);
  const total = 12;
  let acked = 0;
  const published = Array.from({ length: total }, (_, i) => publisher.publish(topic, `${i}${BODY}`, { qos: 1 }).then(() => acked++));
  await eventually('the subscription full', () => (broker.server.broker.stats().durableSubscriptions[0]?.pending ?? 0) >= 4, 15_000);
  await within(5000, 'pings while held', pings(socket, 3));
  assert.ok(acked < total, 'the publisher is held');

  const back = await connectMqtt(broker.mqttPort, { clientId: subscriberId, clean: false });
  const got = await back.inbox.take(total, 10_000);
  assert.deepEqual(got.map((m) => m.payload.slice(0, m.payload.length - BODY.length)), Array.from({ length: total }, (_, i) => String(i)));
  await within(5000, 'every PUBACK', Promise.all(published));
  assert.equal(socket.readyState, WebSocket.OPEN);
  await back.end();
  await publisher.end();
});

test('MQTT clients over WebSocket are not pinged by default, STOMP clients are; mqtt.websocketPingInterval pings MQTT clients too', async (t) => {
  const broker = await startBroker({ 'websocket.pingInterval': PING_INTERVAL });
  t.after(() => broker.stop());
  const mqttClient = await mqttOverWs(broker);
  let mqttPings = 0;
  mqttClient.socket.on('ping', () => mqttPings++);
  const stomp = await connectStompWs(broker.wsPort);
  await within(5000, 'pings to the STOMP client', pings(stomp.socket(), 3));
  assert.equal(mqttPings, 0, 'MQTT keep-alive, not WebSocket pings, finds dead MQTT clients');
  await stomp.disconnect();
  await mqttClient.client.end();

  const pingingMqtt = await startBroker({ 'mqtt.websocketPingInterval': PING_INTERVAL, 'websocket.pingInterval': 0 });
  t.after(() => pingingMqtt.stop());
  const pinged = await mqttOverWs(pingingMqtt);
  await within(5000, 'pings to the MQTT client', pings(pinged.socket, 3));
  await pinged.client.end();
});

/** A client frame, masked with the zero key ([RFC 6455 5.3]: every client frame is masked; that key leaves the payload as it is). */
function maskedFrameHead(opcode: number, length: number): Buffer {
  const head = Buffer.alloc(14);
  head[0] = 0x80 | opcode;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(length), 2);
  return head;
}

/** A raw WebSocket on `port` offering `subprotocol`, with the server's frames as they come. */
async function rawWebSocket(port: number, subprotocol: string): Promise<{ socket: Socket; received: () => ReturnType<typeof serverFrames>; onData: (listener: () => void) => void }> {
  const socket = connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  const listeners: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    for (const l of listeners) l();
  });
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: bGl2ZW5lc3MtY2hlY2shIQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${subprotocol}\r\n\r\n`,
  );
  await eventually('the 101 answer', () => serverFrames(received).status !== undefined);
  assert.equal(serverFrames(received).status, 101);
  return { socket, received: () => serverFrames(received), onData: (l) => listeners.push(l) };
}

test('a client midway through sending one large frame is not dropped for a pong it cannot send inside it', async (t) => {
  const broker = await startBroker({ 'websocket.pingInterval': PING_INTERVAL });
  t.after(() => broker.stop());
  const raw = await rawWebSocket(broker.wsPort, 'v12.stomp');
  t.after(() => raw.socket.destroy());
  const connectFrame = Buffer.from('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
  raw.socket.write(Buffer.concat([maskedFrameHead(0x2, connectFrame.length), connectFrame]));
  const name = uniqueName('ws.slow-frame');
  const pieces = 4;
  const send = Buffer.concat([Buffer.from(`SEND\ndestination:/queue/${name}\nreceipt:whole\n\n`), Buffer.alloc(pieces * 1024, 0x61), Buffer.from('\0')]);
  raw.socket.write(maskedFrameHead(0x2, send.length));
  // one piece of the frame after each ping the broker sends: the frame spans several ping intervals
  let written = 0;
  let closed = false;
  raw.socket.once('close', () => (closed = true));
  const pingCount = (): number => raw.received().frames.filter((f) => f.opcode === 0x9).length;
  const step = (): void => {
    const due = Math.min(pingCount(), pieces);
    if (due > written) {
      const end = due === pieces ? send.length : due * 1024;
      raw.socket.write(send.subarray(written === 0 ? 0 : written * 1024, end));
      written = due;
    }
  };
  raw.onData(step);
  await eventually('the RECEIPT', () => closed || raw.received().frames.some((f) => f.payload.toString('latin1').startsWith('RECEIPT')), 10_000);
  assert.equal(closed, false, `dropped after ${pingCount()} pings, ${written} of ${pieces} pieces of the frame sent`);
  assert.ok(pingCount() >= pieces, 'the frame spanned the pings');
  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe(`/queue/${name}`);
  assert.equal((await inbox.next()).body.length, pieces * 1024);
  await consumer.disconnect();
  raw.socket.destroy();
});
