import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp } from '../helpers/stomp.js';
import { RawStompClient, encodeRaw, eventually, exchangeUntilClosed, subscribeConfirmed, uniqueName, within } from '../helpers/raw-stomp.js';

let broker: TestBroker;
/** Heart-beats at 100 ms both ways, so that timing tests finish quickly. */
let fastBeats: TestBroker;

before(async () => {
  broker = await startBroker();
  fastBeats = await startBroker({ 'stomp.heartbeatSend': 100, 'stomp.heartbeatReceive': 100, 'stomp.heartbeatGrace': 3 });
});
after(async () => {
  await broker.stop();
  await fastBeats.stop();
});

describe('CONNECT and version negotiation', () => {
  test('CONNECTED names the version, a session, the server and heart-beats', async () => {
    const { raw, connected } = await RawStompClient.connected(broker.stompPort, { 'accept-version': '1.0,1.1,1.2' });
    assert.equal(connected.headers.get('version'), '1.2');
    assert.ok((connected.headers.get('session') ?? '').length > 0, 'session header');
    assert.match(connected.headers.get('server') ?? '', /^Ferry\/\d+\.\d+\.\d+/);
    assert.equal(connected.headers.get('heart-beat'), '0,0');
    raw.destroy();
  });

  test('each connection gets its own session id', async () => {
    const a = await RawStompClient.connected(broker.stompPort);
    const b = await RawStompClient.connected(broker.stompPort);
    assert.notEqual(a.connected.headers.get('session'), b.connected.headers.get('session'));
    a.raw.destroy();
    b.raw.destroy();
  });

  test('the STOMP command connects like CONNECT', async () => {
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.send('STOMP', { 'accept-version': '1.2', host: 'localhost' });
    const frame = await raw.nextFrame();
    assert.equal(frame.command, 'CONNECTED');
    assert.equal(frame.headers.get('version'), '1.2');
    raw.destroy();
  });

  test('without accept-version the connection is STOMP 1.0, with no heart-beat header', async () => {
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.send('CONNECT', { login: 'guest', passcode: 'guest' });
    const frame = await raw.nextFrame();
    assert.equal(frame.command, 'CONNECTED');
    assert.equal(frame.headers.get('version'), '1.0');
    assert.ok(frame.headers.has('session'));
    assert.equal(frame.headers.has('heart-beat'), false);
    raw.destroy();
  });

  for (const [offered, chosen] of [['1.1', '1.1'], ['1.0', '1.0'], ['1.0,1.1', '1.1'], ['1.1,1.0,1.2', '1.2'], ['1.1, 1.2', '1.2'], ['1.2,9.9', '1.2']] as const) {
    test(`accept-version ${offered} gives version ${chosen}`, async () => {
      const { raw, connected } = await RawStompClient.connected(broker.stompPort, { 'accept-version': offered });
      assert.equal(connected.headers.get('version'), chosen);
      raw.destroy();
    });
  }

  test('stompjs negotiates each version it is limited to', async () => {
    for (const version of ['1.0', '1.1', '1.2'] as const) {
      const client = await connectStomp(broker.stompPort, { version });
      assert.equal(client.connected.headers['version'], version);
      await client.disconnect();
    }
  });

  test('no common version: ERROR with a version header listing the supported ones and the code, then close', async () => {
    const { frames } = await exchangeUntilClosed(broker.stompPort, encodeRaw('CONNECT', { 'accept-version': '2.0,3.1', host: 'localhost' }));
    assert.equal(frames.length, 1, 'exactly one frame, the ERROR');
    const error = frames[0]!;
    assert.equal(error.command, 'ERROR');
    const versions = (error.headers.get('version') ?? '').split(',').map((v) => v.trim()).sort();
    assert.deepEqual(versions, ['1.0', '1.1', '1.2']);
    assert.ok((error.headers.get('message') ?? '').length > 0, 'message header');
    assert.equal(error.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
  });

  test('a second CONNECT on a connected socket is a protocol error', async () => {
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost' });
    const frames = await raw.untilClosed();
    assert.equal(frames[0]?.command, 'ERROR');
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
  });

  test('a malformed heart-beat header is refused', async () => {
    const { frames } = await exchangeUntilClosed(broker.stompPort, encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'heart-beat': 'often' }));
    assert.equal(frames[0]?.command, 'ERROR');
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
    assert.match(frames[0]?.headers.get('message') ?? '', /heart-beat/);
  });

  test('DISCONNECT with a receipt is answered with its RECEIPT, then the socket closes', async () => {
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.send('DISCONNECT', { receipt: 'bye-1' });
    const frames = await raw.untilClosed();
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.command, 'RECEIPT');
    assert.equal(frames[0]?.headers.get('receipt-id'), 'bye-1');
  });

  test('a client that connects and disconnects leaves the broker serving others', async () => {
    const queue = `/queue/${uniqueName('connect.after')}`;
    for (let i = 0; i < 3; i++) {
      const c = await connectStomp(broker.stompPort);
      await c.disconnect();
    }
    const client = await connectStomp(broker.stompPort);
    const inbox = await subscribeConfirmed(client, queue);
    await client.sendConfirmed(queue, 'still here');
    assert.equal((await inbox.next()).body, 'still here');
    await client.disconnect();
  });
});

describe('heart-beat negotiation', () => {
  // broker defaults: heartbeatSend 1000, heartbeatReceive 1000
  for (const [asked, answered] of [
    ['0,0', '0,0'],
    ['0,500', '1000,0'],
    ['500,0', '0,1000'],
    ['100,5000', '5000,1000'],
    ['4000,200', '1000,4000'],
  ] as const) {
    test(`client heart-beat ${asked} -> CONNECTED heart-beat ${answered}`, async () => {
      const { raw, connected } = await RawStompClient.connected(broker.stompPort, { 'heart-beat': asked });
      assert.equal(connected.headers.get('heart-beat'), answered);
      raw.destroy();
    });
  }

  test('a broker with heart-beats switched off never asks for or sends them', async () => {
    const quiet = await startBroker({ 'stomp.heartbeatSend': 0, 'stomp.heartbeatReceive': 0 });
    try {
      const { raw, connected } = await RawStompClient.connected(quiet.stompPort, { 'heart-beat': '100,100' });
      assert.equal(connected.headers.get('heart-beat'), '0,0');
      raw.destroy();
    } finally {
      await quiet.stop();
    }
  });
});

describe('heart-beating', () => {
  test('the broker sends heart-beat EOLs to a client that asked for them', async () => {
    const { raw, connected } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '0,100' });
    assert.equal(connected.headers.get('heart-beat'), '100,0');
    const start = Date.now();
    await raw.waitForHeartbeats(3, 5000);
    // three beats 100 ms apart cannot come sooner than about 200 ms
    assert.ok(Date.now() - start >= 150, `three heart-beats in ${Date.now() - start} ms`);
    assert.ok(raw.isOpen);
    raw.destroy();
  });

  test('the broker sends no heart-beats to a client that did not ask for them', async () => {
    const { raw } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '0,0' });
    // the broker would beat every 100 ms; wait well past that
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(raw.heartbeats, 0);
    assert.equal(raw.received.toString('latin1').endsWith('\0'), true, 'nothing after CONNECTED');
    raw.destroy();
  });

  // Node's timers hold at most 2^31-1 ms: half of anything past 4,294,967,295 ms would fire after 1 ms
  for (const asked of ['0,4294967296', '0,99999999999', '99999999999,99999999999']) {
    test(`heart-beat ${asked}, past what a timer holds, is answered as negotiated and brings no beat every millisecond`, async () => {
      const { raw, connected } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': asked });
      const [cx, cy] = asked.split(',');
      assert.equal(connected.headers.get('heart-beat'), `${cy},${cx}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(raw.heartbeats, 0);
      const receipt = await raw.sendWithReceipt('SEND', { destination: `/queue/${uniqueName('beats.far')}` }, 'still here');
      assert.equal(receipt.command, 'RECEIPT');
      raw.destroy();
    });
  }

  test('a client that promises heart-beats and goes silent gets an ERROR and is closed', async () => {
    const start = Date.now();
    const { raw, connected } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '100,0' });
    assert.equal(connected.headers.get('heart-beat'), '0,100');
    const frames = await raw.untilClosed(5000);
    const elapsed = Date.now() - start;
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.command, 'ERROR');
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_HEARTBEAT_TIMEOUT');
    assert.ok((frames[0]?.headers.get('message') ?? '').length > 0);
    // 100 ms times a grace of 3: not before 300 ms of silence
    assert.ok(elapsed >= 280, `closed after ${elapsed} ms`);
  });

  test('a client that keeps sending heart-beats stays connected', async () => {
    const { raw } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '100,0' });
    const beating = setInterval(() => raw.socket.write('\n'), 50);
    try {
      await new Promise((resolve) => setTimeout(resolve, 800));
      assert.ok(raw.isOpen, 'still open after 800 ms of heart-beats');
      const receipt = await raw.sendWithReceipt('SEND', { destination: `/queue/${uniqueName('beats.raw')}` }, 'alive');
      assert.equal(receipt.command, 'RECEIPT');
    } finally {
      clearInterval(beating);
      raw.destroy();
    }
  });

  test('CRLF heart-beats count as traffic too', async () => {
    const { raw } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '100,0' });
    const beating = setInterval(() => raw.socket.write('\r\n'), 50);
    try {
      await new Promise((resolve) => setTimeout(resolve, 800));
      assert.ok(raw.isOpen);
      await raw.sendWithReceipt('SEND', { destination: `/queue/${uniqueName('beats.crlf')}` }, 'alive');
    } finally {
      clearInterval(beating);
      raw.destroy();
    }
  });

  test('a stompjs client with outgoing heart-beats stays connected past the silence limit', async () => {
    const queue = `/queue/${uniqueName('beats.stompjs')}`;
    const client = await connectStomp(fastBeats.stompPort, { heartbeatOutgoing: 50, heartbeatIncoming: 0 });
    assert.equal(client.connected.headers['heart-beat'], '0,100');
    let closed = false;
    void client.closed.then(() => (closed = true));
    // a silent client is dropped after 300 ms here
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(closed, false, 'connection closed despite heart-beats');
    assert.deepEqual(client.errors, []);
    const inbox = await subscribeConfirmed(client, queue);
    await client.sendConfirmed(queue, 'beating');
    assert.equal((await inbox.next()).body, 'beating');
    await client.disconnect();
  });

  // STOMP 1.1, Heart-beating: the sender "will send a heart-beat at least every <sx> milliseconds";
  // a client that allows only a little slack (stompjs: twice the interval) relies on that
  test('the first heart-beat comes within the negotiated interval after CONNECTED', async () => {
    const { raw, connected } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '0,300' });
    assert.equal(connected.headers.get('heart-beat'), '300,0');
    const connectedAt = raw.arrivals[raw.arrivals.length - 1]!;
    await raw.waitForHeartbeats(1, 3000);
    const gap = raw.arrivals[raw.arrivals.length - 1]! - connectedAt;
    assert.ok(gap < 500, `first heart-beat ${gap} ms after CONNECTED, negotiated 300 ms`);
    raw.destroy();
  });

  test('after a frame the broker wrote, the next heart-beat still comes within the interval', async () => {
    const { raw } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '0,300' });
    await raw.waitForHeartbeats(1, 3000);
    await raw.sendWithReceipt('SEND', { destination: `/queue/${uniqueName('beats.gap')}` }, 'x');
    const receiptAt = raw.arrivals[raw.arrivals.length - 1]!;
    await raw.waitForHeartbeats(raw.heartbeats + 1, 3000);
    const gap = raw.arrivals[raw.arrivals.length - 1]! - receiptAt;
    assert.ok(gap < 500, `${gap} ms of silence after a RECEIPT, negotiated 300 ms`);
    raw.destroy();
  });

  test('a stompjs client that expects heart-beats from the broker stays connected', async () => {
    // stompjs closes the socket when the server is silent for twice the negotiated interval
    const client = await connectStomp(fastBeats.stompPort, { heartbeatIncoming: 200, heartbeatOutgoing: 100 });
    assert.equal(client.connected.headers['heart-beat'], '200,100');
    let closed = false;
    void client.closed.then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal(closed, false, 'stompjs dropped the connection for want of heart-beats');
    await client.disconnect();
  });

  test('the broker closes a silent client only, not the others', async () => {
    const queue = `/queue/${uniqueName('beats.others')}`;
    const other = await connectStomp(fastBeats.stompPort);
    const inbox = await subscribeConfirmed(other, queue);
    const { raw } = await RawStompClient.connected(fastBeats.stompPort, { 'heart-beat': '100,0' });
    const frames = await within(5000, 'ERROR for the silent client', raw.untilClosed());
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_HEARTBEAT_TIMEOUT');
    await other.sendConfirmed(queue, 'unaffected');
    assert.equal((await inbox.next()).body, 'unaffected');
    await other.disconnect();
  });
});

test('every connection of these tests is released by the broker', async () => {
  await eventually('connections released', () => broker.server.broker.stats().connections === 0 && fastBeats.server.broker.stats().connections === 0);
});
