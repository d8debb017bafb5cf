import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Authenticator, ConnectRequest, Principal } from '../../src/core/index.js';
import type { TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';
import { makeCertificates, startTlsBroker, type TestCertificates, type TlsPorts } from '../helpers/tls.js';

const script = interopScript('tls_clients.py');
const missing = pythonModuleMissing('stomp, paho.mqtt.client, proton', 'stomp.py, paho and Qpid Proton', 'python3-stomp python3-paho-mqtt python3-qpid-proton');

/** Lets everyone in, and keeps what each connect carried. */
const requests: ConnectRequest[] = [];
const recording: Authenticator = {
  authenticate(request: ConnectRequest): Principal {
    if (request.internal !== true) requests.push(request);
    return { username: request.credentials?.username, groups: [], internal: request.internal === true };
  },
};

let certs: TestCertificates;
let broker: TestBroker & { readonly tlsPorts: TlsPorts };
before(async () => {
  if (missing !== undefined) return;
  certs = makeCertificates();
  broker = await startTlsBroker(certs, {}, { authenticator: recording });
});
after(async () => {
  await broker?.stop();
});

test('stomp.py with ssl, paho with tls_set and qpid-proton over amqps each carry a message, and their client certificate reaches the authenticator', { skip: missing }, async () => {
  const { stomp, mqtt, amqp } = broker.tlsPorts;
  const report = lastJsonLine<Record<string, string>>(await run(python, [script, String(stomp), String(mqtt), String(amqp), certs.ca, certs.reader.cert, certs.reader.key]));
  assert.deepEqual(report, { 'stomp.py': 'stomp.py over tls', paho: 'paho over tls', 'qpid-proton': 'proton over amqps' });
  const fingerprint256 = new X509Certificate(certs.pem(certs.reader.cert)).fingerprint256;
  for (const protocol of ['stomp', 'mqtt', 'amqp']) {
    const seen = requests.filter((r) => r.protocol === protocol);
    assert.ok(seen.length > 0, `no ${protocol} connect`);
    for (const r of seen) assert.deepEqual(r.transport.peerCertificate, { subject: 'O=Ferry example,CN=reader', subjectAltNames: ['email:reader@example.com'], fingerprint256 }, protocol);
  }
});
