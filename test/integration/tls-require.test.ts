import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { runFerry } from '../helpers/process.js';
import { uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';
import { LogLines, issueCertificate, makeCertificates, makeCrl, otherAuthority, startTlsBroker, RecordingAuthenticator, type TestCertificates, type TlsPorts } from '../helpers/tls.js';
import { connectStompWs } from '../helpers/ws.js';

let certs: TestCertificates;
/** Signed by the test CA, and revoked by the CRL. */
let revoked: { readonly cert: string; readonly key: string };
/** The CRL file the brokers read: another authority's CRL first, then the test CA's, which revokes `revoked`. */
let crlFile: string;

before(() => {
  certs = makeCertificates();
  revoked = issueCertificate(certs, { subject: '/O=Ferry example/CN=gone' });
  // another authority's list first: Node reads only the first CRL of a buffer, so the test CA's would go unread
  const other = makeCrl(otherAuthority(), []);
  crlFile = join(mkdtempSync(join(tmpdir(), 'ferry-crl-file-')), 'crl.pem');
  writeFileSync(crlFile, Buffer.concat([readFileSync(other), readFileSync(makeCrl(certs, [revoked.cert]))]));
});

const trusting = (): { ca: Buffer } => ({ ca: certs.pem(certs.ca) });
const presenting = (pair: { readonly cert: string; readonly key: string }): { ca: Buffer; cert: Buffer; key: Buffer } => ({ ...trusting(), cert: certs.pem(pair.cert), key: certs.pem(pair.key) });
const subjectOf = (path: string): string => new X509Certificate(certs.pem(path)).subject.split('\n').join(',');

/** The status of a GET on the management API over https, or the error of a refused connection. */
function httpsGet(port: number, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/stats', servername: 'localhost', ...tls }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs `attempt`, which the broker refuses, and resolves with the one `tls.client-refused` line it logged. */
async function refusedOnce(logs: LogLines, listener: string, attempt: () => Promise<unknown>): Promise<Record<string, unknown>> {
  const before = logs.lines.length;
  await assert.rejects(attempt(), `${listener} lets the client in`);
  const line = await within(5000, `${listener}'s warning`, logs.waitFor((l) => logs.lines.indexOf(l) >= before && l['event'] === 'tls.client-refused'));
  const lines = logs.lines.slice(before).filter((l) => l['event'] === 'tls.client-refused' || l['event'] === 'tls.client-certificate-rejected');
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(line['level'], 40);
  assert.equal(line['protocol'], listener);
  assert.match(String(line['remoteAddress']), /^127\.0\.0\.1:\d+$/);
  return line;
}

describe('tls.requireCert', () => {
  let broker: TestBroker & { readonly tlsPorts: TlsPorts };
  const authenticator = new RecordingAuthenticator();
  const logs = new LogLines();
  before(async () => {
    broker = await startTlsBroker(certs, { 'tls.requireCert': true, 'tls.requestCert': false, 'tls.crl': crlFile }, { authenticator }, logs);
  });
  after(async () => {
    await broker?.stop();
  });

  test('@stomp/stompjs over TLS: refused without a certificate and with a revoked one, each logged once; a good one connects, identified', async () => {
    const none = await refusedOnce(logs, 'stomp-tls', () => connectStomp(broker.tlsPorts.stomp, { tls: trusting() }));
    assert.equal(none['reason'], 'no client certificate');
    const gone = await refusedOnce(logs, 'stomp-tls', () => connectStomp(broker.tlsPorts.stomp, { tls: presenting(revoked) }));
    assert.equal(gone['reason'], 'CERT_REVOKED');
    assert.equal(gone['subject'], subjectOf(revoked.cert));

    const admin = await connectStomp(broker.tlsPorts.stomp, { tls: presenting(certs.admin) });
    assert.equal(authenticator.last('stomp').transport.peerCertificate?.subject, 'O=Ferry example,CN=admin');
    const queue = `/queue/${uniqueName('tls.require')}`;
    const inbox = admin.subscribe(queue);
    await admin.sendConfirmed(queue, 'with a certificate');
    assert.equal((await inbox.next()).body, 'with a certificate');
    await admin.disconnect();
  });

  test('MQTT.js over mqtts: refused without a certificate and with a revoked one; a good one connects', async () => {
    const mqtts = { protocol: 'mqtts' as const, servername: 'localhost' };
    const none = await refusedOnce(logs, 'mqtt-tls', () => connectMqtt(broker.tlsPorts.mqtt, { ...mqtts, ...trusting() }));
    assert.equal(none['reason'], 'no client certificate');
    const gone = await refusedOnce(logs, 'mqtt-tls', () => connectMqtt(broker.tlsPorts.mqtt, { ...mqtts, ...presenting(revoked) }));
    assert.equal(gone['reason'], 'CERT_REVOKED');

    const reader = await connectMqtt(broker.tlsPorts.mqtt, { ...mqtts, ...presenting(certs.reader) });
    assert.equal(authenticator.last('mqtt').transport.peerCertificate?.subject, 'O=Ferry example,CN=reader');
    const topic = `require/${uniqueName('mqtt')}`;
    await reader.subscribe(topic, { qos: 1 });
    await reader.publish(topic, 'with a certificate', { qos: 1 });
    assert.equal((await reader.inbox.next()).payload, 'with a certificate');
    await reader.end();
  });

  test('wss follows it too; the management API over https does not', async () => {
    await refusedOnce(logs, 'websocket-tls', () => connectStompWs(broker.tlsPorts.websocket, { tls: trusting() }));
    const admin = await connectStompWs(broker.tlsPorts.websocket, { tls: presenting(certs.admin) });
    await admin.disconnect();

    const status = await httpsGet(broker.tlsPorts.http, trusting());
    assert.ok(status >= 200 && status < 500, `https answered ${status}`);
  });

  test('a changed CRL is read again: a certificate it now revokes is refused, connections already open stay', async () => {
    const tls = broker.server.tls;
    assert.ok(tls !== undefined);
    const open = await connectStomp(broker.tlsPorts.stomp, { tls: presenting(certs.reader) });
    const reloaded = new Promise<{ ok: boolean }>((resolve) => tls.onReload(resolve));
    copyFileSync(makeCrl(certs, [revoked.cert, certs.reader.cert]), `${crlFile}.new`);
    renameSync(`${crlFile}.new`, crlFile);
    assert.equal((await within(5000, 'the reload', reloaded)).ok, true);

    const line = await refusedOnce(logs, 'stomp-tls', () => connectStomp(broker.tlsPorts.stomp, { tls: presenting(certs.reader) }));
    assert.equal(line['reason'], 'CERT_REVOKED');
    const admin = await connectStomp(broker.tlsPorts.stomp, { tls: presenting(certs.admin) });
    await admin.disconnect();

    const queue = `/queue/${uniqueName('tls.crl.open')}`;
    const inbox = open.subscribe(queue);
    await open.sendConfirmed(queue, 'still here');
    assert.equal((await inbox.next()).body, 'still here');
    await open.disconnect();
  });
});

describe('tls.crl without requireCert', () => {
  test('a revoked certificate is no identity: the client connects as one without a certificate, and the broker says why', async () => {
    const authenticator = new RecordingAuthenticator();
    const logs = new LogLines();
    const broker = await startTlsBroker(certs, { 'tls.crl': crlFile }, { authenticator }, logs);
    try {
      const gone = await connectStomp(broker.tlsPorts.stomp, { tls: presenting(revoked) });
      assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
      await gone.disconnect();
      const line = await within(5000, 'the warning', logs.waitFor((l) => l['event'] === 'tls.client-certificate-rejected'));
      assert.equal(line['reason'], 'CERT_REVOKED');

      const admin = await connectStomp(broker.tlsPorts.stomp, { tls: presenting(certs.admin) });
      assert.equal(authenticator.last('stomp').transport.peerCertificate?.subject, 'O=Ferry example,CN=admin');
      await admin.disconnect();
      assert.deepEqual(logs.lines.filter((l) => l['event'] === 'tls.client-refused'), []);
    } finally {
      await broker.stop();
    }
  });

  test('a CRL past its next update is logged at start: no certificate of its issuer verifies until a current one is in place', async () => {
    const authenticator = new RecordingAuthenticator();
    const logs = new LogLines();
    const stale = makeCrl(certs, [], { lastUpdate: '20200101000000Z', nextUpdate: '20200102000000Z' });
    const broker = await startTlsBroker(certs, { 'tls.crl': stale }, { authenticator }, logs);
    try {
      const line = await within(5000, 'the warning', logs.waitFor((l) => l['event'] === 'tls.crl-out-of-date'));
      assert.equal(line['level'], 40);
      assert.equal(line['crl'], stale);
      assert.equal(line['nextUpdate'], '2020-01-02T00:00:00.000Z');
      const admin = await connectStomp(broker.tlsPorts.stomp, { tls: presenting(certs.admin) });
      assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
      await admin.disconnect();
      const rejected = await within(5000, 'the rejection', logs.waitFor((l) => l['event'] === 'tls.client-certificate-rejected'));
      assert.equal(rejected['reason'], 'CRL_HAS_EXPIRED');
    } finally {
      await broker.stop();
    }
  });
});

describe('tls.requireCertHttps', () => {
  test('the management API over https refuses a client without a certificate; the protocol listeners do not', async () => {
    const logs = new LogLines();
    const broker = await startTlsBroker(certs, { 'tls.requireCertHttps': true, 'tls.requestCert': false }, {}, logs);
    try {
      const line = await refusedOnce(logs, 'http-tls', () => httpsGet(broker.tlsPorts.http, trusting()));
      assert.equal(line['reason'], 'no client certificate');
      const status = await httpsGet(broker.tlsPorts.http, presenting(certs.admin));
      assert.ok(status >= 200 && status < 500, `https answered ${status}`);
      const stomp = await connectStomp(broker.tlsPorts.stomp, { tls: trusting() });
      await stomp.disconnect();
    } finally {
      await broker.stop();
    }
  });
});

/** A start that should stop at its configuration binds nothing if it does not. */
const otherListenersOff = ['--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off', '--http-port', 'off'];

describe('configuration mistakes', () => {
  test('requiring or revoking client certificates without tls.ca stops the start with 78 and one line', async () => {
    for (const [setting, key] of [['requireCert: true', 'tls.requireCert'], ['requireCertHttps: true', 'tls.requireCertHttps'], [`crl: ${crlFile}`, 'tls.crl']] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-require-'));
      const file = join(dir, 'ferry.yaml');
      writeFileSync(file, `tls:\n  cert: ${certs.serverCert}\n  key: ${certs.serverKey}\n  ${setting}\n`);
      const run = await runFerry(['start', '--config', file, '--data', join(dir, 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--stomp-tls-port', '0', '--stomp-tls-host', '127.0.0.1', ...otherListenersOff]);
      assert.equal(run.code, 78, run.stderr);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, new RegExp(`${key.replace('.', '\\.')} is set, so tls\\.ca must name`));
    }
  });

  test('a CRL file without a CRL stops the start with 78 and one line naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-require-'));
    const file = join(dir, 'ferry.yaml');
    writeFileSync(file, `tls:\n  cert: ${certs.serverCert}\n  key: ${certs.serverKey}\n  ca: ${certs.ca}\n  crl: ${certs.ca}\n`);
    const run = await runFerry(['start', '--config', file, '--data', join(dir, 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--stomp-tls-port', '0', '--stomp-tls-host', '127.0.0.1', ...otherListenersOff]);
    assert.equal(run.code, 78, run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /holds no PEM CRL/);
  });
});
