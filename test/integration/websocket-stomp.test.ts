import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';
import { encodeRaw, eventually, parseFrames, subscribeConfirmed, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { connectStompWs, openWebSocket, WsRecorder } from '../helpers/ws.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'websocket.maxPayload': 1024 * 1024 });
});
after(async () => {
  await broker.stop();
});

const clients: StompTestClient[] = [];
async function wsClient(options: Parameters<typeof connectStompWs>[1] = {}): Promise<Awaited<ReturnType<typeof connectStompWs>>> {
  const c = await connectStompWs(broker.wsPort, options);
  clients.push(c);
  return c;
}
async function tcpClient(): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort);
  clients.push(c);
  return c;
}
const rawSockets: WebSocket[] = [];
async function rawStomp(subprotocols: readonly string[] = ['v12.stomp']): Promise<WsRecorder> {
  const handshake = await openWebSocket(broker.wsPort, subprotocols);
  assert.ok(handshake.socket, `the upgrade was refused: ${handshake.status} ${handshake.body}`);
  rawSockets.push(handshake.socket);
  return new WsRecorder(handshake.socket);
}
after(async () => {
  for (const s of rawSockets) s.terminate();
  await Promise.all(clients.map((c) => c.disconnect()));
});

function queue(name: string): string {
  return `/queue/${uniqueName(`ws.${name}`)}`;
}

describe('STOMP over WebSocket with @stomp/stompjs', () => {
  test('connects with each STOMP subprotocol and negotiates the version', async () => {
    for (const [subprotocol, version] of [
      ['v10.stomp', '1.0'],
      ['v11.stomp', '1.1'],
      ['v12.stomp', '1.2'],
    ] as const) {
      const c = await wsClient({ subprotocols: [subprotocol], version });
      assert.equal(c.socket().protocol, subprotocol);
      assert.equal(c.connected.headers['version'], version);
      await c.disconnect();
    }
  });

  test('sends and receives, in text frames and in binary frames', async () => {
    for (const binary of [false, true]) {
      const q = queue(binary ? 'binary' : 'text');
      const c = await wsClient({ binary });
      const inbox = await subscribeConfirmed(c, q);
      await c.sendConfirmed(q, 'héllo wörld ✓', { persistent: 'true', colour: 'blue' });
      const m = await inbox.next();
      assert.equal(m.body, 'héllo wörld ✓');
      assert.equal(m.headers['colour'], 'blue');
      assert.equal(m.headers['persistent'], 'true');
    }
  });

  test('client-individual ack: acknowledged messages are gone, the rest come back redelivered', async () => {
    const q = queue('ack');
    const producer = await wsClient();
    for (const body of ['a', 'b', 'c']) await producer.sendConfirmed(q, body);
    const consumer = await wsClient();
    const inbox = consumer.subscribe(q, { ack: 'client-individual' });
    const [a, b, c] = await inbox.take(3);
    a!.ack();
    c!.ack();
    assert.equal(b!.body, 'b');
    // a receipt on the DISCONNECT makes sure both ACKs were handled first
    await consumer.disconnect();
    const again = (await wsClient()).subscribe(q);
    const redelivered = await again.next();
    assert.equal(redelivered.body, 'b');
    assert.equal(redelivered.headers['redelivered'], 'true');
    await again.expectNothing(200);
  });

  test('a message sent over TCP reaches a WebSocket subscriber, and back', async () => {
    const q1 = queue('tcp-to-ws');
    const q2 = queue('ws-to-tcp');
    const tcp = await tcpClient();
    const ws = await wsClient();
    const wsInbox = await subscribeConfirmed(ws, q1);
    const tcpInbox = await subscribeConfirmed(tcp, q2);
    await tcp.sendConfirmed(q1, 'from tcp', { 'content-type': 'text/plain' });
    const m1 = await wsInbox.next();
    assert.equal(m1.body, 'from tcp');
    assert.equal(m1.headers['content-type'], 'text/plain');
    await ws.sendConfirmed(q2, 'from websocket');
    assert.equal((await tcpInbox.next()).body, 'from websocket');
  });

  test('a topic fans out to TCP and WebSocket subscribers alike', async () => {
    const topic = `/topic/${uniqueName('ws.fan')}`;
    const tcp = await tcpClient();
    const ws1 = await wsClient();
    const ws2 = await wsClient({ binary: true });
    const inboxes = [await subscribeConfirmed(tcp, topic), await subscribeConfirmed(ws1, topic), await subscribeConfirmed(ws2, topic)];
    for (let i = 0; i < 20; i++) ws1.client.publish({ destination: topic, body: `m${i}` });
    for (const inbox of inboxes) assert.deepEqual((await inbox.take(20)).map((m) => m.body), Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  test('a large message (4 MiB, non-UTF-8 bytes) goes both ways intact', async () => {
    const q = queue('large');
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
    const tcp = await tcpClient();
    const ws = await wsClient({ binary: true });
    const inbox = await subscribeConfirmed(ws, q);
    const receipt = 'large-1';
    const confirmed = new Promise<void>((resolve) => tcp.client.watchForReceipt(receipt, () => resolve()));
    tcp.client.publish({ destination: q, binaryBody: body, headers: { receipt } });
    await confirmed;
    const m = await inbox.next(10_000);
    assert.ok(Buffer.from(m.binaryBody).equals(body));
    // and a message under websocket.maxPayload back from the browser side
    const q2 = queue('large-back');
    const back = await subscribeConfirmed(tcp, q2);
    const small = body.subarray(0, 900 * 1024);
    ws.client.publish({ destination: q2, binaryBody: small });
    assert.ok(Buffer.from((await back.next(10_000)).binaryBody).equals(small));
    // text over 64 KiB leaves in fragments of one text message
    const textClient = await wsClient();
    const q3 = queue('large-text');
    const textInbox = await subscribeConfirmed(textClient, q3);
    const text = 'grüße ✓ '.repeat(40_000);
    await tcp.sendConfirmed(q3, text);
    assert.equal((await textInbox.next(10_000)).body, text);
  });

  test('STOMP heart-beats keep a WebSocket connection alive', async () => {
    const c = await wsClient({ heartbeatIncoming: 100, heartbeatOutgoing: 100 });
    assert.match(String(c.connected.headers['heart-beat']), /^\d+,\d+$/);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(c.client.connected, true);
    const q = queue('heartbeat');
    const inbox = await subscribeConfirmed(c, q);
    await c.sendConfirmed(q, 'still here');
    assert.equal((await inbox.next()).body, 'still here');
  });
});

describe('the WebSocket handshake', () => {
  test('picks STOMP\'s newest offered version, as ActiveMQ does; serves plain `stomp` and a client that offers no subprotocol as STOMP', async () => {
    const h = await openWebSocket(broker.wsPort, ['v99.stomp', 'v10.stomp', 'v11.stomp', 'v12.stomp'], '/any/path');
    assert.equal(h.protocol, 'v12.stomp');
    h.socket!.terminate();
    for (const offered of [['stomp'], []]) {
      const c = await wsClient({ subprotocols: offered });
      const q = queue(`bare-${offered.length}`);
      const inbox = await subscribeConfirmed(c, q);
      await c.sendConfirmed(q, 'served');
      assert.equal((await inbox.next()).body, 'served');
    }
  });

  test('refuses with HTTP 400 a client that offers only subprotocols Ferry does not serve', async () => {
    const unknown = await openWebSocket(broker.wsPort, ['xmpp', 'v99.stomp']);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body!, /v12\.stomp/);
    assert.match(unknown.body!, /offered: xmpp, v99\.stomp/);
  });

  test('answers a plain HTTP request with 426 Upgrade Required', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: broker.wsPort, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(status, 426);
  });
});

describe('frames on the wire', () => {
  test('replies in the kind of frame the client sent: text to text, binary to binary, binary for bytes that are not UTF-8', async () => {
    const q = queue('kinds');
    const text = await rawStomp();
    text.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }).toString('utf8'));
    await text.waitFor(/^CONNECTED\n/);
    assert.equal(text.messages[0]!.binary, false);

    const binary = await rawStomp();
    binary.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
    await binary.waitFor(/^CONNECTED\n/);
    assert.equal(binary.messages[0]!.binary, true);

    text.socket.send(encodeRaw('SUBSCRIBE', { id: '1', destination: q, receipt: 's' }).toString('utf8'));
    await text.waitFor(/receipt-id:s/);
    const tcp = await tcpClient();
    await tcp.sendConfirmed(q, 'plain text');
    await text.waitFor(/plain text\0/);
    tcp.client.publish({ destination: q, binaryBody: new Uint8Array([0xff, 0xfe, 0x00, 0x41]) });
    await eventually('the non-UTF-8 message', () => text.messages.some((m) => m.data.includes(Buffer.from([0xff, 0xfe]))));
    const kinds = text.messages.map((m) => (m.data.includes(Buffer.from([0xff, 0xfe])) ? 'bytes' : m.binary ? 'binary' : 'text'));
    assert.deepEqual(kinds, ['text', 'text', 'text', 'bytes']);
    assert.equal(text.messages.at(-1)!.binary, true);
  });

  test('deliveries of one turn share a WebSocket message, and every message holds whole frames', async () => {
    const q = queue('batched');
    const raw = await rawStomp();
    raw.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
    await raw.waitFor(/^CONNECTED/);
    const tcp = await tcpClient();
    for (let i = 0; i < 50; i++) tcp.client.publish({ destination: q, body: `queued ${i}` });
    await tcp.sendConfirmed(q, 'last');
    const before = raw.messages.length;
    raw.socket.send(encodeRaw('SUBSCRIBE', { id: '1', destination: q }));
    await raw.waitFor(/last\0/);
    const messages = raw.messages.slice(before);
    assert.ok(messages.length < 51, `51 deliveries came in ${messages.length} WebSocket messages`);
    for (const m of messages) {
      const parsed = parseFrames(m.data);
      assert.equal(parsed.rest.length, 0, 'a WebSocket message ended inside a frame');
    }
    assert.equal(parseFrames(Buffer.concat(messages.map((m) => m.data))).frames.length, 51);
  });

  test('a bad frame gets an ERROR and closes that connection only', async () => {
    const q = queue('bad-frame');
    const bystander = await wsClient();
    const inbox = await subscribeConfirmed(bystander, q);
    const bad = await rawStomp();
    bad.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
    await bad.waitFor(/^CONNECTED/);
    bad.socket.send('NOT-A-COMMAND\nfoo:bar\n\n\0');
    await bad.waitFor(/ERROR\n/);
    const closed = await within(7000, 'the close', bad.closed);
    assert.equal(closed.code, 1000);
    await bystander.sendConfirmed(q, 'unaffected');
    assert.equal((await inbox.next()).body, 'unaffected');
  });

  test('a bad frame in the same message as CONNECT: CONNECTED first, then the ERROR, and the close handshake completes (under its 5 s grace)', async () => {
    const bad = await rawStomp();
    bad.socket.send(Buffer.concat([encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }), Buffer.from('BOGUS\n\n\0')]));
    const text = await bad.waitFor(/ERROR\n/);
    assert.match(text, /^CONNECTED\n[^]*\0ERROR\n/, 'CONNECTED, then the ERROR');
    const closed = await within(3000, 'the close handshake', bad.closed);
    assert.equal(closed.code, 1000);
  });

  test('a message over websocket.maxPayload closes that connection with 1009', async () => {
    const raw = await rawStomp();
    raw.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
    await raw.waitFor(/^CONNECTED/);
    raw.socket.send(encodeRaw('SEND', { destination: queue('too-big') }, Buffer.alloc(1024 * 1024 + 1, 0x61)));
    const closed = await within(5000, 'the close', raw.closed);
    assert.equal(closed.code, 1009);
    const other = await wsClient();
    assert.equal(other.client.connected, true);
  });

  test('a consumer that stops reading holds back deliveries instead of buffering them all', async () => {
    const name = uniqueName('ws.slow');
    const raw = await rawStomp();
    raw.socket.send(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
    await raw.waitFor(/^CONNECTED/);
    raw.socket.send(encodeRaw('SUBSCRIBE', { id: '1', destination: `/queue/${name}`, ack: 'client-individual', 'activemq.prefetchSize': '100000', receipt: 'sub' }));
    await raw.waitFor(/receipt-id:sub/);
    raw.socket.pause();
    const tcp = await tcpClient();
    const total = 400;
    const body = Buffer.alloc(64 * 1024, 0x62);
    for (let i = 0; i < total - 1; i++) tcp.client.publish({ destination: `/queue/${name}`, binaryBody: body });
    const receipt = 'slow-last';
    const confirmed = new Promise<void>((resolve) => tcp.client.watchForReceipt(receipt, () => resolve()));
    tcp.client.publish({ destination: `/queue/${name}`, binaryBody: body, headers: { receipt } });
    await confirmed;
    const stats = broker.server.broker.stats().queues.find((s) => s.name === name)!;
    assert.ok(stats.pending > total / 2, `only ${stats.pending} of ${total} messages held back (in flight: ${stats.inFlight})`);
    raw.socket.resume();
    await eventually('all deliveries', () => parseFrames(Buffer.concat(raw.messages.map((m) => m.data))).frames.length >= total + 2, 15_000);
  });
});

describe('keep-alive pings', () => {
  test('a client that answers no ping is dropped; one that does stays', async () => {
    const pinging = await startBroker({ 'websocket.pingInterval': 100 });
    try {
      const silent = new WebSocket(`ws://127.0.0.1:${pinging.wsPort}/`, ['v12.stomp'], { autoPong: false });
      const answering = new WebSocket(`ws://127.0.0.1:${pinging.wsPort}/`, ['v12.stomp']);
      await Promise.all([silent, answering].map((s) => new Promise((resolve) => s.once('open', resolve))));
      const answeringClosed = new Promise((resolve) => answering.once('close', resolve));
      const silentClose = await within(2000, 'the silent client dropped', new Promise<number>((resolve) => silent.once('close', (code: number) => resolve(code))));
      assert.equal(silentClose, 1006);
      assert.equal(answering.readyState, WebSocket.OPEN);
      answering.close();
      await answeringClosed;
    } finally {
      await pinging.stop();
    }
  });
});

describe('handshake timeout', () => {
  test('a socket that sends no upgrade request within websocket.handshakeTimeout is closed', async () => {
    const strict = await startBroker({ 'websocket.handshakeTimeout': 200 });
    try {
      const socket = connect(strict.wsPort, '127.0.0.1');
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString()));
      const started = Date.now();
      await within(5000, 'the close', new Promise((resolve) => socket.once('close', resolve)));
      assert.ok(Date.now() - started >= 150, 'closed before the timeout');
      assert.match(answer, /^(HTTP\/1\.1 408|$)/);
    } finally {
      await strict.stop();
    }
  });
});

describe('ferry start', () => {
  test('announces the WebSocket port with its subprotocols, and --ws-port off switches it off', async () => {
    const on = await spawnBroker(['--data', `${broker.dataDir}/child-on`, '--stomp-port', '0', '--http-port', '0']);
    try {
      const ready = on.logs.find((l) => l['event'] === 'listener.ready' && l['protocol'] === 'websocket');
      assert.ok(ready, 'no listener.ready line for websocket');
      assert.equal(ready['host'], '127.0.0.1');
      assert.ok((ready['subprotocols'] as string[]).includes('v12.stomp'));
      const h = await openWebSocket(on.ports['websocket']!, ['v12.stomp']);
      assert.equal(h.protocol, 'v12.stomp');
      h.socket!.close();
    } finally {
      assert.equal(await on.stop(), 0);
    }
    const off = await spawnBroker(['--data', `${broker.dataDir}/child-off`, '--stomp-port', '0', '--http-port', '0', '--ws-port', 'off']);
    try {
      assert.equal(off.ports['websocket'], undefined);
    } finally {
      assert.equal(await off.stop(), 0);
    }
  });
});
