import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { PeerCertificate } from '../../src/core/index.js';
import { connectAmqp } from '../helpers/amqp.js';
import type { TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { subscribeConfirmed, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';
import { LogLines, issueCertificate, makeCertificates, startTlsBroker, RecordingAuthenticator, type TestCertificates, type TlsPorts } from '../helpers/tls.js';
import { connectStompWs } from '../helpers/ws.js';

let certs: TestCertificates;
let broker: TestBroker & { readonly tlsPorts: TlsPorts };
let ports: TlsPorts;
const authenticator = new RecordingAuthenticator();
const logs = new LogLines();

before(async () => {
  certs = makeCertificates();
  // the TLS listeners the helper leaves off, for the tests that go through every one
  const more = Object.fromEntries(['amqp091Tls', 'openwireTls'].flatMap((name) => [[`listeners.${name}.enabled`, true], [`listeners.${name}.host`, '127.0.0.1'], [`listeners.${name}.port`, 0]]));
  broker = await startTlsBroker(certs, more, { authenticator }, logs);
  ports = broker.tlsPorts;
});

after(async () => {
  await broker?.stop();
});

/** Trust the test CA; present no certificate. */
const trusting = (): { ca: Buffer } => ({ ca: certs.pem(certs.ca) });
/** Trust the test CA and present the admin's certificate. */
const asAdmin = (): { ca: Buffer; cert: Buffer; key: Buffer } => ({ ca: certs.pem(certs.ca), cert: certs.pem(certs.admin.cert), key: certs.pem(certs.admin.key) });

function expectedAdmin(): PeerCertificate {
  return { subject: 'O=Ferry example,CN=admin', subjectAltNames: ['email:admin@example.com'], fingerprint256: new X509Certificate(certs.pem(certs.admin.cert)).fingerprint256 };
}

/** Opens a raw TLS socket and resolves once the handshake is done. */
function handshake(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('every protocol over TLS, with the clients people use', () => {
  test('@stomp/stompjs over a TLS socket sends and receives', async () => {
    const client = await connectStomp(ports.stomp, { tls: trusting() });
    const queue = `/queue/${uniqueName('tls.stomp')}`;
    const inbox = await subscribeConfirmed(client, queue);
    await client.sendConfirmed(queue, 'over tls');
    assert.equal((await inbox.next()).body, 'over tls');
    await client.disconnect();
  });

  test('MQTT.js over mqtts publishes and receives', async () => {
    const client = await connectMqtt(ports.mqtt, { protocol: 'mqtts', ...trusting(), servername: 'localhost' });
    const topic = `tls/${uniqueName('mqtt')}`;
    await client.subscribe(topic, { qos: 1 });
    await client.publish(topic, 'over mqtts', { qos: 1 });
    assert.equal((await client.inbox.next()).payload, 'over mqtts');
    await client.end();
  });

  test('rhea over TLS sends and receives', async () => {
    const client = await connectAmqp(ports.amqp, { transport: 'tls', ...trusting(), servername: 'localhost' });
    const address = uniqueName('tls.amqp');
    const { inbox } = await client.openReceiver(address);
    const sender = await client.openSender(address);
    assert.deepEqual(await client.send(sender, { body: 'over amqps' }), { state: 'accepted' });
    assert.equal((await inbox.next()).message.body, 'over amqps');
    await client.close();
  });

  test('@stomp/stompjs over wss sends and receives', async () => {
    const client = await connectStompWs(ports.websocket, { tls: trusting() });
    const queue = `/queue/${uniqueName('tls.wss')}`;
    const inbox = await subscribeConfirmed(client, queue);
    await client.sendConfirmed(queue, 'over wss');
    assert.equal((await inbox.next()).body, 'over wss');
    await client.disconnect();
  });

  test('TLS 1.1 and older are refused', async () => {
    await assert.rejects(handshake(ports.stomp, { ...trusting(), minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  });
});

describe('a client certificate reaches the authenticator', () => {
  test('each protocol passes the verified certificate of its client', async () => {
    const stomp = await connectStomp(ports.stomp, { tls: asAdmin() });
    assert.deepEqual(authenticator.last('stomp').transport.peerCertificate, expectedAdmin());
    await stomp.disconnect();

    const mqtt = await connectMqtt(ports.mqtt, { protocol: 'mqtts', ...asAdmin(), servername: 'localhost' });
    assert.deepEqual(authenticator.last('mqtt').transport.peerCertificate, expectedAdmin());
    await mqtt.end();

    const amqp = await connectAmqp(ports.amqp, { transport: 'tls', ...asAdmin(), servername: 'localhost' });
    assert.deepEqual(authenticator.last('amqp').transport.peerCertificate, expectedAdmin());
    await amqp.close();

    const wss = await connectStompWs(ports.websocket, { tls: asAdmin() });
    assert.deepEqual(authenticator.last('stomp').transport.peerCertificate, expectedAdmin());
    await wss.disconnect();

    const mqttWss = await connectMqtt(ports.websocket, { protocol: 'wss', path: '/mqtt', ...asAdmin(), servername: 'localhost' });
    assert.deepEqual(authenticator.last('mqtt').transport.peerCertificate, expectedAdmin());
    await mqttWss.end();
  });

  test('a client without a certificate connects, with none', async () => {
    const stomp = await connectStomp(ports.stomp, { tls: trusting() });
    assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
    await stomp.disconnect();
  });

  test('a certificate the CA did not sign connects, but is no identity, and the reason is logged', async () => {
    const selfSigned = await selfSignedPair();
    const stomp = await connectStomp(ports.stomp, { tls: { ...trusting(), ...selfSigned } });
    assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
    const line = await within(5000, 'a warning', logs.waitFor((l) => l['event'] === 'tls.client-certificate-rejected' && l['subject'] === 'CN=mallory'));
    assert.equal(line['level'], 40);
    assert.equal(line['protocol'], 'stomp-tls');
    assert.equal(line['reason'], 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.match(String(line['remoteAddress']), /^127\.0\.0\.1:\d+$/);
    await stomp.disconnect();
  });

  test('an expired certificate is no identity either; the log says it expired, on each protocol', async () => {
    const expired = issueCertificate(certs, { subject: '/O=Ferry example/CN=expired', notBefore: '20200101000000Z', notAfter: '20210101000000Z' });
    const tls = { ...trusting(), cert: certs.pem(expired.cert), key: certs.pem(expired.key) };
    const rejected = (protocol: string) => within(5000, `${protocol}'s warning`, logs.waitFor((l) => l['event'] === 'tls.client-certificate-rejected' && l['subject'] === 'O=Ferry example,CN=expired' && l['protocol'] === protocol));

    const stomp = await connectStomp(ports.stomp, { tls });
    assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
    assert.equal((await rejected('stomp-tls'))['reason'], 'CERT_HAS_EXPIRED');
    await stomp.disconnect();

    const mqtt = await connectMqtt(ports.mqtt, { protocol: 'mqtts', ...tls, servername: 'localhost' });
    assert.equal(authenticator.last('mqtt').transport.peerCertificate, undefined);
    assert.equal((await rejected('mqtt-tls'))['reason'], 'CERT_HAS_EXPIRED');
    await mqtt.end();

    const wss = await connectStompWs(ports.websocket, { tls });
    assert.equal((await rejected('websocket-tls'))['reason'], 'CERT_HAS_EXPIRED');
    await wss.disconnect();
  });

  test('a certificate with a 1024-bit RSA key is no identity, on each protocol; the log names the key', async () => {
    const weak = issueCertificate(certs, { subject: '/O=Ferry example/CN=weak', bits: 1024 });
    // security level 0 only so that this client loads its own weak key
    const tls = { ...trusting(), cert: certs.pem(weak.cert), key: certs.pem(weak.key), ciphers: 'DEFAULT:@SECLEVEL=0' };
    const rejected = (protocol: string) => within(5000, `${protocol}'s warning`, logs.waitFor((l) => l['event'] === 'tls.client-certificate-rejected' && l['subject'] === 'O=Ferry example,CN=weak' && l['protocol'] === protocol));

    const stomp = await connectStomp(ports.stomp, { tls });
    assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
    assert.equal((await rejected('stomp-tls'))['key'], 'rsa 1024 bits');
    await stomp.disconnect();

    const mqtt = await connectMqtt(ports.mqtt, { protocol: 'mqtts', ...tls, servername: 'localhost' });
    assert.equal(authenticator.last('mqtt').transport.peerCertificate, undefined);
    await rejected('mqtt-tls');
    await mqtt.end();

    const amqp = await connectAmqp(ports.amqp, { transport: 'tls', ...tls, servername: 'localhost' });
    assert.equal(authenticator.last('amqp').transport.peerCertificate, undefined);
    await rejected('amqp-tls');
    await amqp.close();

    const wss = await connectStompWs(ports.websocket, { tls });
    await rejected('websocket-tls');
    await wss.disconnect();

    for (const name of ['amqp091-tls', 'openwire-tls', 'http-tls']) {
      const port = broker.server.ports[name];
      assert.ok(port !== undefined, `${name} listens`);
      const socket = await handshake(port, tls);
      socket.on('error', () => {});
      // https looks at the certificate when a request comes
      if (name === 'http-tls') socket.write('GET /api/v1/broker HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await rejected(name);
      socket.destroy();
    }
  });

  test('plain listeners carry no certificate', async () => {
    const stomp = await connectStomp(broker.stompPort);
    assert.equal(authenticator.last('stomp').transport.peerCertificate, undefined);
    await stomp.disconnect();
  });
});

describe('failures close only their own connection', () => {
  test('a plain-text client on a TLS port is closed, and logged; a TLS client carries on', async () => {
    const bystander = await connectStomp(ports.stomp, { tls: trusting() });
    const queue = `/queue/${uniqueName('tls.bystander')}`;
    const inbox = await subscribeConfirmed(bystander, queue);

    // OpenSSL takes a STOMP CONNECT for an HTTP proxy request, and a GET for an HTTP request
    const clients: [string, number, string][] = [
      ['stomp-tls', ports.stomp, 'CONNECT\naccept-version:1.2\nhost:localhost\n\n\0'],
      ['http-tls', ports.http, 'GET /api/v1/broker HTTP/1.1\r\nHost: localhost\r\n\r\n'],
      ['websocket-tls', ports.websocket, 'GET /stomp HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ];
    for (const [name, port, text] of clients) {
      const plain = tcpConnect(port, '127.0.0.1');
      plain.on('error', () => {});
      await new Promise<void>((resolve) => plain.once('connect', () => resolve()));
      const remote = `127.0.0.1:${plain.localPort}`;
      const closed = new Promise<void>((resolve) => plain.once('close', () => resolve()));
      plain.write(text);
      await within(5000, `${name} closes the plain client`, closed);
      const line = await within(5000, `${name}'s log line`, logs.waitFor((l) => l['event'] === 'tls.handshake-failed' && l['remoteAddress'] === remote));
      assert.equal(line['level'], 30);
      assert.equal(line['protocol'], name);
      assert.equal(line['reason'], 'the client spoke plain text on a TLS port; use the TLS client settings or the plain port');
      assert.equal(line['msg'], `${name}: ${remote} spoke plain text on a TLS port; use the TLS client settings or the plain port`);
      assert.match(String(line['code']), /^ERR_SSL_HTTPS?_(PROXY_)?REQUEST$/);
    }

    await bystander.sendConfirmed(queue, 'still here');
    assert.equal((await inbox.next()).body, 'still here');
    await bystander.disconnect();
  });

  test('a handshake that fails (a client that trusts another CA) closes that connection only', async () => {
    const bystander = await connectMqtt(ports.mqtt, { protocol: 'mqtts', ...trusting(), servername: 'localhost' });
    const before = logs.lines.filter((l) => l['event'] === 'tls.handshake-failed' && l['protocol'] === 'mqtt-tls').length;
    // this client does not trust the broker's certificate, so it aborts the handshake
    await assert.rejects(handshake(ports.mqtt, {}));
    await within(5000, 'a log line', logs.waitFor((l) => l['event'] === 'tls.handshake-failed' && l['protocol'] === 'mqtt-tls' && logs.lines.indexOf(l) >= before));
    const topic = `tls/${uniqueName('bystander')}`;
    await bystander.subscribe(topic, { qos: 1 });
    await bystander.publish(topic, 'still here', { qos: 1 });
    assert.equal((await bystander.inbox.next()).payload, 'still here');
    await bystander.end();
  });
});

describe('a handshake the client does not finish', () => {
  test('is closed at the time-out and logged once, with the address and the time-out, on every TLS listener', async () => {
    const quick = new LogLines();
    const slow = await startTlsBroker(certs, { 'transport.handshakeTimeout': 300, 'websocket.handshakeTimeout': 300, 'http.headersTimeout': 300 }, {}, quick);
    const remotes: string[] = [];
    try {
      for (const [name, port] of Object.entries(slow.tlsPorts)) {
        // one client that sends nothing, one that stops half-way through its ClientHello
        for (const first of [undefined, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])]) {
          const socket = tcpConnect(port, '127.0.0.1');
          socket.on('error', () => {});
          await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
          if (first !== undefined) socket.write(first);
          const remote = `127.0.0.1:${socket.localPort}`;
          remotes.push(remote);
          const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
          await within(10_000, `${name} closes the silent client`, closed);
          const line = await within(10_000, `${name}'s log line`, quick.waitFor((l) => l['event'] === 'tls.handshake-failed' && l['remoteAddress'] === remote));
          assert.equal(line['level'], 30);
          assert.match(String(line['protocol']), /-tls$/);
          assert.equal(line['reason'], 'TLS handshake not completed within 300 ms');
          assert.match(String(line['msg']), new RegExp(`TLS handshake with ${remote} not completed within 300 ms`));
        }
      }
      for (const remote of remotes) assert.deepEqual(quick.lines.filter((l) => l['remoteAddress'] === remote && Number(l['level']) >= 30).map((l) => l['event']), ['tls.handshake-failed'], remote);
      // the broker's own close is not also logged as the peer's reset from nowhere
      assert.deepEqual(quick.lines.filter((l) => l['event'] === 'tls.handshake-failed' && (l['remoteAddress'] === 'unknown' || l['reason'] === 'ECONNRESET')), []);
    } finally {
      await slow.stop();
    }
  });
});

describe('tls.ciphers', () => {
  test('the configured list is what every TLS listener offers: a client with none of its ciphers fails the handshake', async () => {
    const narrow = await startTlsBroker(certs, { 'tls.ciphers': 'ECDHE-RSA-AES256-GCM-SHA384' });
    try {
      for (const [name, port] of Object.entries(narrow.tlsPorts)) {
        const socket = await handshake(port, { ...trusting(), maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256' });
        assert.equal(socket.getCipher().name, 'ECDHE-RSA-AES256-GCM-SHA384', name);
        socket.destroy();
        await assert.rejects(handshake(port, { ...trusting(), maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }), /handshake failure/, name);
      }
    } finally {
      await narrow.stop();
    }
  });

  test('by default the listeners offer Node\'s ciphers, TLS 1.3 first', async () => {
    const socket = await handshake(ports.stomp, trusting());
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    socket.destroy();
    const tls12 = await handshake(ports.stomp, { ...trusting(), maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    assert.equal(tls12.getCipher().name, 'ECDHE-RSA-AES128-GCM-SHA256');
    tls12.destroy();
  });
});

describe('renegotiation', () => {
  test('a TLS 1.2 client that asks to renegotiate is closed, on every TLS listener, and logged with its address', async () => {
    const listeners = ['stomp-tls', 'mqtt-tls', 'amqp-tls', 'amqp091-tls', 'openwire-tls', 'websocket-tls', 'http-tls'];
    for (const name of listeners) {
      const port = broker.server.ports[name];
      assert.ok(port !== undefined, `${name} listens`);
      const socket = await handshake(port, { ...trusting(), maxVersion: 'TLSv1.2' });
      const local = `:${socket.localPort}`;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => {});
      assert.equal(socket.renegotiate({ rejectUnauthorized: true }, () => {}), true);
      const line = await within(5000, `${name}'s warning`, logs.waitFor((l) => l['event'] === 'tls.renegotiation-refused' && String(l['remoteAddress']).endsWith(local)));
      assert.equal(line['level'], 40);
      assert.equal(line['protocol'], name);
      assert.match(String(line['remoteAddress']), /127\.0\.0\.1\]?:\d+$/);
      // an HTTP server's socket closes too, but Node's client, mid-renegotiation, does not notice the server's FIN
      if (name.startsWith('websocket') || name.startsWith('http')) socket.destroy();
      else await within(5000, `${name} closes the connection that renegotiates`, closed);
    }
  });
});

describe('certificate reload', () => {
  test('a changed certificate serves new connections; connected clients stay; a bad pair keeps the old one', async () => {
    const tls = broker.server.tls;
    assert.ok(tls !== undefined);
    const fingerprint = async (port = ports.stomp): Promise<string> => {
      const socket = await handshake(port, trusting());
      const value = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      return value;
    };
    const original = new X509Certificate(certs.pem(certs.serverCert)).fingerprint256;
    assert.equal(await fingerprint(), original);

    const connected = await connectStomp(ports.stomp, { tls: trusting() });
    const queue = `/queue/${uniqueName('tls.reload')}`;
    const inbox = await subscribeConfirmed(connected, queue);

    // a renewed pair, written beside and renamed over the old files as renewal tools do
    const renewed = await renewedServerPair(certs);
    const reloaded = new Promise<{ ok: boolean }>((resolve) => tls.onReload(resolve));
    copyFileSync(renewed.key, join(certs.dir, 'server-key.pem.new'));
    renameSync(join(certs.dir, 'server-key.pem.new'), certs.serverKey);
    copyFileSync(renewed.cert, join(certs.dir, 'server.pem.new'));
    renameSync(join(certs.dir, 'server.pem.new'), certs.serverCert);
    assert.equal((await within(5000, 'the reload', reloaded)).ok, true);
    const renewedPrint = new X509Certificate(certs.pem(certs.serverCert)).fingerprint256;
    assert.notEqual(renewedPrint, original);
    for (const port of [ports.stomp, ports.mqtt, ports.amqp, ports.websocket, ports.http]) assert.equal(await fingerprint(port), renewedPrint, `port ${port}`);

    // the client connected before the reload was not disturbed
    await connected.sendConfirmed(queue, 'after reload');
    assert.equal((await inbox.next()).body, 'after reload');

    // a key that is not PEM: a warning, and the last good pair stays
    const failed = new Promise<{ ok: boolean }>((resolve) => tls.onReload(resolve));
    writeFileSync(certs.serverKey, 'not a key\n');
    assert.equal((await within(5000, 'the failed reload', failed)).ok, false);
    await within(5000, 'a warning', logs.waitFor((l) => l['event'] === 'tls.reload-failed' && l['level'] === 40));
    assert.equal(await fingerprint(), renewedPrint);
    await connected.disconnect();
  });

  test('a CA file that holds no certificate does not load: the old authorities stay, and client certificates still verify', async () => {
    const tls = broker.server.tls;
    assert.ok(tls !== undefined);
    const outcome = (wanted: boolean) => new Promise<{ ok: boolean }>((resolve) => tls.onReload((o) => o.ok === wanted && resolve(o)));
    // a good pair in service first, whatever the test before left behind
    const good = outcome(true);
    const pair = await renewedServerPair(certs);
    copyFileSync(pair.key, join(certs.dir, 'server-key.pem.new'));
    renameSync(join(certs.dir, 'server-key.pem.new'), certs.serverKey);
    copyFileSync(pair.cert, join(certs.dir, 'server.pem.new'));
    renameSync(join(certs.dir, 'server.pem.new'), certs.serverCert);
    await within(5000, 'the reload of a good pair', good);

    const authorities = certs.pem(certs.ca);
    const broken: [string, Buffer][] = [
      ['truncated', authorities.subarray(0, 300)],
      ['garbage', Buffer.from('not a certificate\n')],
      ['empty', Buffer.alloc(0)],
      ['a key', certs.pem(certs.admin.key)],
    ];
    for (const [what, content] of broken) {
      const failed = outcome(false);
      const warned = logs.lines.length;
      writeFileSync(join(certs.dir, 'ca.pem.new'), content);
      renameSync(join(certs.dir, 'ca.pem.new'), certs.ca);
      await within(5000, `the failed reload of a CA file that is ${what}`, failed);
      await within(5000, 'a warning', logs.waitFor((l) => logs.lines.indexOf(l) >= warned && l['event'] === 'tls.reload-failed' && l['level'] === 40 && l['ca'] === certs.ca));
      const admin = await connectStomp(ports.stomp, { tls: { ...asAdmin(), ca: authorities } });
      assert.deepEqual(authenticator.last('stomp').transport.peerCertificate, expectedAdmin(), `the admin's certificate still verifies after a CA file that is ${what}`);
      await admin.disconnect();
    }
    writeFileSync(certs.ca, authorities);
  });
});

describe('a server certificate out of its dates', () => {
  test('starts, with a warning naming the certificate, its dates and each listener; a reload to one not yet valid warns too', async () => {
    const server = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1';
    const expired = issueCertificate(certs, { subject: '/CN=localhost', notBefore: '20200101000000Z', notAfter: '20210101000000Z', extensions: server });
    const lines = new LogLines();
    const old = await startTlsBroker(certs, { 'tls.cert': expired.cert, 'tls.key': expired.key }, {}, lines);
    try {
      const warnings = lines.lines.filter((l) => l['event'] === 'tls.certificate-out-of-date');
      assert.deepEqual(warnings.flatMap((l) => l['listeners'] as string[]).sort(), Object.keys(old.server.ports).filter((name) => name.endsWith('-tls')).sort());
      for (const line of warnings) {
        assert.equal(line['level'], 40);
        assert.equal(line['subject'], 'CN=localhost');
        assert.equal(line['validFrom'], '2020-01-01T00:00:00.000Z');
        assert.equal(line['validTo'], '2021-01-01T00:00:00.000Z');
        assert.match(String(line['msg']), /expired on 2021-01-01T00:00:00\.000Z/);
      }
      // it is served all the same: a client that checks it hears why it fails
      await assert.rejects(handshake(old.tlsPorts.stomp, trusting()), /certificate has expired/);

      const tls = old.server.tls;
      assert.ok(tls !== undefined);
      const early = issueCertificate(certs, { subject: '/CN=localhost', notBefore: '20990101000000Z', notAfter: '21000101000000Z', extensions: server });
      // the key and the certificate land one after the other: wait for the reload of the whole pair
      const reloaded = new Promise<{ ok: boolean }>((resolve) => tls.onReload((o) => o.ok && resolve(o)));
      const before = lines.lines.length;
      copyFileSync(early.key, expired.key);
      copyFileSync(early.cert, expired.cert);
      assert.equal((await within(5000, 'the reload', reloaded)).ok, true);
      const line = await within(5000, 'a warning', lines.waitFor((l) => lines.lines.indexOf(l) >= before && l['event'] === 'tls.certificate-out-of-date'));
      assert.equal(line['validFrom'], '2099-01-01T00:00:00.000Z');
      assert.match(String(line['msg']), /is not valid before 2099-01-01T00:00:00\.000Z/);
      assert.ok((line['listeners'] as string[]).includes('stomp-tls'));
    } finally {
      await old.stop();
    }
  });

  test('a certificate within its dates gives no warning', () => {
    assert.deepEqual(logs.lines.filter((l) => l['event'] === 'tls.certificate-out-of-date'), []);
  });
});

/** A key pair and a certificate signed by no one the broker trusts. */
async function selfSignedPair(): Promise<{ cert: Buffer; key: Buffer }> {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-self-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=mallory', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  return { cert: readFileSync(join(dir, 'c.pem')), key: readFileSync(join(dir, 'k.pem')) };
}

/** Another server certificate for localhost and 127.0.0.1 from the same CA, in a folder of its own. */
async function renewedServerPair(c: TestCertificates): Promise<{ cert: string; key: string }> {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-renewed-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', join(dir, 'req.csr')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'req.csr'), '-CA', c.ca, '-CAkey', join(c.dir, 'ca-key.pem'), '-CAcreateserial', '-CAserial', join(dir, 'ca.srl'), '-days', '2', '-extfile', join(dir, 'ext'), '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}
