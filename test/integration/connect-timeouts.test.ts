import assert from 'node:assert/strict';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { makeCertificates, startTlsBroker, type TlsPorts } from '../helpers/tls.js';
import type { TestBroker } from '../helpers/broker.js';

/**
 * Connect and handshake time-outs fire when they say, counted from the moment the socket was
 * accepted, whatever stages (TLS handshake, WebSocket upgrade) come before the protocol's CONNECT.
 * The clock is node:test's mock (setTimeout and Date), moved by hand; the sockets are real.
 */

const TIMEOUT = 10_000;
let broker: TestBroker & { readonly tlsPorts: TlsPorts };
let certs: ReturnType<typeof makeCertificates>;

before(async () => {
  certs = makeCertificates();
  broker = await startTlsBroker(certs, {
    'stomp.connectTimeout': TIMEOUT,
    'mqtt.connectTimeout': TIMEOUT,
    'amqp.openTimeout': TIMEOUT,
    'openwire.negotiateTimeout': TIMEOUT,
    'websocket.handshakeTimeout': TIMEOUT,
    'transport.handshakeTimeout': TIMEOUT,
    'http.headersTimeout': TIMEOUT,
    'http.maxConnections': 1000,
  });
});
after(() => broker.stop());

/** A few turns of the event loop (setImmediate is not mocked): what the broker sent has arrived. */
async function turns(n = 30): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface Watched {
  readonly name: string;
  readonly socket: Socket;
  closed: boolean;
}

function watch(name: string, socket: Socket): Watched {
  const watched: Watched = { name, socket, closed: false };
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.once('close', () => (watched.closed = true));
  return watched;
}

function opened(socket: Socket, event = 'connect'): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(event, () => resolve());
    socket.once('error', reject);
  });
}

async function closedAll(sockets: readonly Watched[]): Promise<void> {
  await Promise.all(sockets.map((w) => (w.closed ? undefined : new Promise((resolve) => w.socket.once('close', resolve)))));
}

function mockClock(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
}

describe('connect time-outs', () => {
  test('a socket that never speaks is dropped at the time-out of every protocol and stage, not a moment before', { timeout: 60_000 }, async (t) => {
    mockClock(t);
    const ports: [string, number][] = [
      ['stomp', broker.stompPort],
      ['mqtt', broker.mqttPort],
      ['amqp', broker.amqpPort],
      ['openwire', broker.ports.openwire],
      ['websocket upgrade', broker.wsPort],
      ['TLS handshake', broker.tlsPorts.stomp],
      ['http request head', broker.server.ports['http'] ?? 0],
    ];
    const sockets = ports.map(([name, port]) => watch(name, connect(port, '127.0.0.1')));
    await Promise.all(sockets.map((w) => opened(w.socket)));
    await turns();
    t.mock.timers.tick(TIMEOUT - 1);
    await turns();
    assert.deepEqual(
      sockets.filter((w) => w.closed).map((w) => w.name),
      [],
      'nothing is dropped before its time-out',
    );
    t.mock.timers.tick(1);
    await closedAll(sockets);
  });

  test('stages count from the accept: a WebSocket upgraded, or a TLS handshake finished, at 9 s and then silent is dropped at 10 s', { timeout: 60_000 }, async (t) => {
    mockClock(t);
    const raw = connect(broker.wsPort, '127.0.0.1');
    await opened(raw);
    const tcp = connect(broker.tlsPorts.stomp, '127.0.0.1');
    await opened(tcp);
    await turns();
    t.mock.timers.tick(9_000);
    // the WebSocket client upgrades over the socket it opened 9 s ago
    const ws = new WebSocket(`ws://127.0.0.1:${broker.wsPort}/`, 'v12.stomp', { createConnection: () => raw });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const secure = tlsConnect({ socket: tcp, ca: certs.pem(certs.ca), cert: certs.pem(certs.admin.cert), key: certs.pem(certs.admin.key), servername: 'localhost' });
    await opened(secure, 'secureConnect');
    const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const tls = watch('stomp over TLS', secure);
    await turns();
    t.mock.timers.tick(TIMEOUT - 9_000 - 1);
    await turns();
    assert.equal(tls.closed, false);
    assert.equal(ws.readyState, WebSocket.OPEN);
    t.mock.timers.tick(1);
    await closedAll([tls]);
    await wsClosed;
  });

  test('500 half-sent HTTP requests are dropped at http.headersTimeout while a whole request still gets its answer', { timeout: 60_000 }, async (t) => {
    mockClock(t);
    const port = broker.server.ports['http'] ?? 0;
    const sockets: Watched[] = [];
    for (let i = 0; i < 500; i++) {
      const w = watch(`half-sent ${i}`, connect(port, '127.0.0.1'));
      w.socket.write('GET /api/stats HTTP/1.1\r\nHost: localhost\r\n');
      sockets.push(w);
    }
    await Promise.all(sockets.map((w) => opened(w.socket)));
    await turns();
    t.mock.timers.tick(TIMEOUT / 2);
    const answer = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/api/stats', agent: false }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      }).once('error', reject);
    });
    assert.equal(answer, 200);
    t.mock.timers.tick(TIMEOUT / 2 - 1);
    await turns();
    assert.equal(sockets.filter((w) => w.closed).length, 0);
    t.mock.timers.tick(1);
    await closedAll(sockets);
  });
});
