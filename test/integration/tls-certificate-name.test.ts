/**
 * A client that sends a user name with its certificate and no password, as Mosquitto's clients with
 * use_identity_as_username and STOMP clients that always send `login` do. The login delay's clock
 * stands still, so whether a refusal counted is read from it, never timed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/index.js';
import { SecurityAuthenticator } from '../../src/security/authenticator.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { UsersFileDirectory } from '../../src/security/users-file.js';
import type { TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { ADMIN_AND_READER, writeUsers } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';
import { makeCertificates, startTlsBroker, type TestCertificates, type TlsPorts } from '../helpers/tls.js';

let certs: TestCertificates;
let broker: TestBroker & { readonly tlsPorts: TlsPorts };
let loginDelay: LoginDelay;

before(async () => {
  certs = makeCertificates();
  const users = new UsersFileDirectory(await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-cert-name-')), ADMIN_AND_READER), silentLogger, { watch: false });
  // a clock that stands still and sleeps that end at once: delayOf tells whether a failure counted
  loginDelay = new LoginDelay({ initial: 200, max: 10_000, forgetAfter: 600_000, clock: () => 1_000_000, sleep: () => Promise.resolve() });
  const authenticator = new SecurityAuthenticator({ directories: [users], certificateRules: [{ subject: '(?:^|,)CN=([^,]+)', user: '$1' }], loginDelay, logger: silentLogger });
  broker = await startTlsBroker(certs, {}, { authenticator });
});
after(() => broker?.stop());

const asAdmin = () => ({ ca: certs.pem(certs.ca), cert: certs.pem(certs.admin.cert), key: certs.pem(certs.admin.key) });

test('the certificate\'s own user name without a password logs in, over MQTT and STOMP', async () => {
  const mqtt = await connectMqtt(broker.tlsPorts.mqtt, { protocol: 'mqtts', ...asAdmin(), servername: 'localhost', username: 'admin' });
  assert.equal(mqtt.connack.returnCode, 0);
  await mqtt.end();
  const stomp = await connectStomp(broker.tlsPorts.stomp, { tls: asAdmin(), headers: { login: 'admin' } });
  assert.equal(stomp.connected.command, 'CONNECTED');
  await stomp.disconnect();
  assert.equal(loginDelay.delayOf('127.0.0.1'), 0);
});

test('another user name without a password is "not authorized", and is no password guess', async () => {
  await assert.rejects(connectMqtt(broker.tlsPorts.mqtt, { protocol: 'mqtts', ...asAdmin(), servername: 'localhost', username: 'reader' }), (err: Error & { code?: number }) => {
    // MQTT 3.1.1 CONNACK 5, not 4 (bad user name or password)
    assert.equal(err.code, 5, err.message);
    return true;
  });
  assert.equal(loginDelay.delayOf('127.0.0.1'), 0);
  // a password tried for that name still goes the password way, and counts when wrong
  await assert.rejects(connectMqtt(broker.tlsPorts.mqtt, { protocol: 'mqtts', ...asAdmin(), servername: 'localhost', username: 'reader', password: 'wrong' }), (err: Error & { code?: number }) => err.code === 4);
  assert.ok(loginDelay.delayOf('127.0.0.1') > 0);
  // and the right one logs in as that user, certificate or not
  const reader = await connectMqtt(broker.tlsPorts.mqtt, { protocol: 'mqtts', ...asAdmin(), servername: 'localhost', username: 'reader', password: 'reader-secret' });
  assert.equal(reader.connack.returnCode, 0);
  await reader.end();
});
