import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.js';
import type { TestBroker } from '../helpers/broker.js';
import { makeCertificates, startTlsBroker, type TlsPorts } from '../helpers/tls.js';
import { subscribeConfirmed, uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { openWebSocket } from '../helpers/ws.js';

const chromiumPath = '/usr/bin/chromium';
const repo = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const assets: Record<string, string> = {
  '/': repo('test/browser/page.html'),
  '/stomp.umd.min.js': repo('node_modules/@stomp/stompjs/bundles/stomp.umd.min.js'),
  '/mqtt.min.js': repo('node_modules/mqtt/dist/mqtt.min.js'),
};

const missing = existsSync(chromiumPath) ? undefined : `${chromiumPath} is missing (apt-get install chromium); .ci/run installs it`;
if (missing !== undefined) {
  console.warn(`\n*** SKIPPING the browser tests: ${missing} ***\n`);
  if (process.env['CI'] !== undefined) throw new Error(`browser test prerequisites missing in CI: ${missing}`);
}

let broker: TestBroker & { readonly tlsPorts: TlsPorts };
let pageServer: Server;
let pageUrl: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const clients: StompTestClient[] = [];

before(async () => {
  if (missing !== undefined) return;
  pageServer = createServer((req, res) => {
    const file = assets[req.url ?? ''];
    if (file === undefined || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': file.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  const address = pageServer.address();
  pageUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;
  // the page's origin is another port than the broker's, so the broker lists it (websocket.allowedOrigins);
  // no client certificates asked for: headless Chromium, which has no way to pick one, hangs up when asked
  const certs = makeCertificates();
  broker = await startTlsBroker(certs, { 'websocket.allowedOrigins': [new URL(pageUrl).origin], 'tls.requestCert': false });
  // the test CA is not in Chromium's store: Chromium is told to accept the broker's key, and only it
  const serverKey = new X509Certificate(certs.pem(certs.serverCert)).publicKey.export({ type: 'spki', format: 'der' });
  const pinned = createHash('sha256').update(serverKey).digest('base64');
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [`--ignore-certificate-errors-spki-list=${pinned}`, '--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(pageUrl);
});

after(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  await browser?.close();
  await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
  await broker?.stop();
});

async function tcpClient(): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort);
  clients.push(c);
  return c;
}

/** Calls one of the page's functions (`window.ferry.<name>`) with one JSON argument. */
function inPage<T>(name: string, arg: unknown): Promise<T> {
  return page.evaluate(
    ([fn, a]) => (globalThis as unknown as { ferry: Record<string, (x: unknown) => Promise<unknown>> }).ferry[fn as string]!(a),
    [name, arg] as const,
  ) as Promise<T>;
}

interface StompResult {
  version: string;
  subprotocol: string;
  fromNode: { body: string; type: string };
  looped: string[];
  errors: string[];
  kinds: string[];
}

describe('@stomp/stompjs in headless Chromium', () => {
  for (const [binary, secure] of [[false, false], [true, false], [false, true]] as const) {
    test(`connects over ${secure ? 'wss' : 'WebSocket'}, sends, receives and acknowledges (${binary ? 'binary' : 'text'} frames), across to TCP and back`, { timeout: 60_000, skip: missing }, async () => {
      const loaded = await page.evaluate(() => (globalThis as unknown as { ferry: { loaded: { stomp: boolean } } }).ferry.loaded);
      assert.equal(loaded.stomp, true, `the STOMP bundle did not load: ${pageErrors.join('; ')}`);
      const name = uniqueName('browser.stomp');
      const tcp = await tcpClient();
      await tcp.sendConfirmed(`/queue/${name}.fromNode`, 'waiting for the browser ✓', { type: 'note' });
      const result = await inPage<StompResult>('stompRoundTrip', {
        url: secure ? `wss://127.0.0.1:${broker.tlsPorts.websocket}/stomp` : `ws://127.0.0.1:${broker.wsPort}/stomp`,
        loop: `/queue/${name}.loop`,
        fromNode: `/queue/${name}.fromNode`,
        toNode: `/queue/${name}.toNode`,
        count: 10,
        binary,
      });
      assert.deepEqual(result.errors, [], 'ERROR frames in the browser');
      assert.equal(result.version, '1.2');
      assert.equal(result.subprotocol, 'v12.stomp');
      assert.deepEqual(result.fromNode, { body: 'waiting for the browser ✓', type: 'note' });
      assert.deepEqual(result.looped, Array.from({ length: 10 }, (_, i) => `browser ${i} ✓ ünïcödé`));
      // the broker answers in the kind of frame the browser sends
      assert.deepEqual(result.kinds, [binary ? 'binary' : 'text']);
      const inbox = await subscribeConfirmed(tcp, `/queue/${name}.toNode`);
      const m = await inbox.next();
      assert.equal(m.body, 'from the browser');
      assert.equal(m.headers['type'], 'greeting');
      // every message acknowledged in the browser is gone
      const stats = broker.server.broker.stats().queues.filter((q) => q.name.startsWith(name) && !q.name.endsWith('toNode'));
      for (const q of stats) assert.equal(q.pending + q.inFlight, 0, `${q.name} still holds messages`);
    });
  }
});

/** Why the MQTT half cannot run, or undefined when it can. */
async function mqttUnavailable(): Promise<string | undefined> {
  if (!existsSync(assets['/mqtt.min.js']!)) return 'the mqtt package (MQTT.js) is not installed, so there is no browser bundle';
  const configured = 'mqtt' in loadConfig(undefined).listeners;
  const probe = await openWebSocket(broker.wsPort, ['mqtt']);
  probe.socket?.terminate();
  if (probe.protocol === 'mqtt') return undefined;
  if (configured) throw new Error(`listeners.mqtt is configured but the WebSocket listener refuses the mqtt subprotocol: ${probe.status} ${probe.body}`);
  return 'no MQTT adapter is registered (no listeners.mqtt and the WebSocket listener does not serve the mqtt subprotocol)';
}

describe('MQTT.js in headless Chromium', () => {
  for (const protocolVersion of [4, 5]) {
    test(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5.0'} over WebSocket: publishes and receives at QoS 0 and 1, across to STOMP and back`, { timeout: 60_000, skip: missing }, async (t) => {
      const unavailable = await mqttUnavailable();
      if (unavailable !== undefined) {
        console.warn(`\n*** SKIPPING the MQTT browser test: ${unavailable} ***\n`);
        t.skip(unavailable);
        return;
      }
      const loaded = await page.evaluate(() => (globalThis as unknown as { ferry: { loaded: { mqtt: boolean } } }).ferry.loaded);
      assert.equal(loaded.mqtt, true, `the MQTT.js bundle did not load: ${pageErrors.join('; ')}`);
      const prefix = uniqueName('browser-mqtt').replace(/\./g, '-');
      const tcp = await tcpClient();
      const fromBrowser = await subscribeConfirmed(tcp, `/topic/${prefix}-out.toStomp`);
      await inPage('mqttStart', { url: `ws://127.0.0.1:${broker.wsPort}/mqtt`, prefix, protocolVersion });
      await tcp.sendConfirmed(`/topic/${prefix}.fromStomp`, 'from STOMP over TCP');
      const { received } = await inPage<{ received: { topic: string; payload: string; qos: number }[] }>('mqttFinish', { prefix, toNode: `${prefix}-out/toStomp`, expect: 3 });
      assert.deepEqual(
        received.map((r) => [r.topic, r.payload]),
        [
          [`${prefix}/fromStomp`, 'from STOMP over TCP'],
          [`${prefix}/loop/q0`, 'qos zero'],
          [`${prefix}/loop/q1`, 'qos one ✓'],
        ],
      );
      assert.equal(received.find((r) => r.topic.endsWith('q1'))!.qos, 1);
      assert.equal((await fromBrowser.next()).body, 'from MQTT in the browser');
    });
  }
});
