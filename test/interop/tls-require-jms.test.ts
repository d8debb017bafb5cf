import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestBroker } from '../helpers/broker.js';
import { jmsCheckWith, jmsMissing, one } from '../helpers/jms.js';
import { within } from '../helpers/raw-stomp.js';
import { LogLines, issueCertificate, makeCertificates, makeCrl, startTlsBroker, type TestCertificates, type TlsPorts } from '../helpers/tls.js';

/**
 * ActiveMQ's own JMS client over `ssl://` against a broker with `tls.requireCert`, as it would be
 * pointed at an ActiveMQ connector with `transport.needClientAuth=true`: the JVM's trust store holds
 * the test CA, and its key store, when it has one, a client certificate.
 */
const skip = jmsMissing();

describe('ActiveMQ JMS client over ssl:// with client certificates required', { skip }, () => {
  let certs: TestCertificates;
  let broker: TestBroker & { readonly tlsPorts: TlsPorts };
  const logs = new LogLines();
  const password = randomBytes(9).toString('hex');
  let trust: string[];
  /** The JVM options of a key store holding the certificate and key of `pair`. */
  let keyStore: (pair: { readonly cert: string; readonly key: string }, name: string) => string[];
  let revoked: { readonly cert: string; readonly key: string };
  let url: string;

  before(async () => {
    certs = makeCertificates();
    revoked = issueCertificate(certs, { subject: '/O=Ferry example/CN=gone' });
    const trustStore = join(certs.dir, 'trust.p12');
    execFileSync('keytool', ['-importcert', '-noprompt', '-alias', 'ferry-ca', '-file', certs.ca, '-keystore', trustStore, '-storetype', 'PKCS12', '-storepass', password], { stdio: 'ignore' });
    trust = [`-Djavax.net.ssl.trustStore=${trustStore}`, `-Djavax.net.ssl.trustStorePassword=${password}`, '-Djavax.net.ssl.trustStoreType=PKCS12'];
    keyStore = (pair, name) => {
      const store = join(certs.dir, `${name}.p12`);
      execFileSync('openssl', ['pkcs12', '-export', '-in', pair.cert, '-inkey', pair.key, '-name', name, '-out', store, '-passout', `pass:${password}`], { stdio: 'ignore' });
      return [`-Djavax.net.ssl.keyStore=${store}`, `-Djavax.net.ssl.keyStorePassword=${password}`, '-Djavax.net.ssl.keyStoreType=PKCS12'];
    };
    const listener = { 'listeners.openwireTls.enabled': true, 'listeners.openwireTls.host': '127.0.0.1', 'listeners.openwireTls.port': 0 };
    broker = await startTlsBroker(certs, { ...listener, 'tls.requireCert': true, 'tls.crl': makeCrl(certs, [revoked.cert]) }, {}, logs);
    url = `ssl://localhost:${broker.server.ports['openwire-tls'] ?? 0}`;
  });

  after(async () => {
    await broker?.stop();
  });

  test('without a key store the connection is refused, and the broker says whom and why', async () => {
    const result = await jmsCheckWith(trust, url, 'login', 'app', 'secret', 'jms.tls.none');
    assert.notEqual(one(result, 'connect'), 'ok');
    const line = await within(5000, 'the warning', logs.waitFor((l) => l['event'] === 'tls.client-refused' && l['protocol'] === 'openwire-tls'));
    assert.equal(line['reason'], 'no client certificate');
  });

  test('with a revoked certificate the connection is refused', async () => {
    const result = await jmsCheckWith([...trust, ...keyStore(revoked, 'gone')], url, 'login', 'app', 'secret', 'jms.tls.gone');
    assert.notEqual(one(result, 'connect'), 'ok');
    await within(5000, 'the warning', logs.waitFor((l) => l['event'] === 'tls.client-refused' && l['reason'] === 'CERT_REVOKED'));
  });

  test('with a key store holding a good certificate it connects, sends and receives', async () => {
    const result = await jmsCheckWith([...trust, ...keyStore(certs.admin, 'admin')], url, 'login', 'app', 'secret', 'jms.tls.admin');
    assert.equal(one(result, 'connect'), 'ok');
    assert.equal(one(result, 'send'), 'ok');
    assert.equal(one(result, 'receive'), 'from app');
  });
});
