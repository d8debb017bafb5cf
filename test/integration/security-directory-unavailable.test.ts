import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import amqplib from 'amqplib';
import type { ConnectionOptions } from 'rhea';
import { rhea } from '../helpers/amqp.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient, basicAuth } from '../helpers/management.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { RawStompClient } from '../helpers/raw-stomp.js';
import { writeUsers } from '../helpers/security.js';

/**
 * LDAP that cannot be reached: no password was judged, so each protocol says "try again later" in
 * its own terms, not "bad user name or password", which clients take as a setting to fix.
 */

let broker: TestBroker;

before(async () => {
  // a port that was free a moment ago: connections to it are refused at once
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as { port: number };
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const usersFile = await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), { admin: { password: 'admin-secret' } });
  broker = await startBroker({
    'security.users': usersFile,
    'security.ldap': { url: `ldap://127.0.0.1:${port}`, bindDn: 'cn=ferry,dc=example,dc=com', bindPassword: 'search-secret', userBase: 'dc=example,dc=com', timeout: 2000 },
    'security.failedLoginDelay.initial': 1,
    'security.failedLoginDelay.max': 1,
  });
});

after(async () => {
  await broker.stop();
});

test('MQTT 5 and 3.1.1: an LDAP user while LDAP is down gets CONNACK "server unavailable" (0x88, return code 3)', async () => {
  for (const [version, expected] of [[5, 0x88], [4, 3]] as const) {
    const err = await connectMqtt(broker.mqttPort, { protocolVersion: version, username: 'bob', password: 'bob-secret', clientId: `ldap-down-${version}` }).then(
      () => assert.fail('the broker accepted the login'),
      (e: unknown) => e as { code?: number },
    );
    assert.equal(err.code, expected, `MQTT protocol level ${version}`);
  }
  const admin = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'admin', password: 'admin-secret', clientId: 'file-user' });
  assert.equal(admin.connack.reasonCode, 0, 'a users-file login goes on');
  await admin.end();
});

test('AMQP 1.0: rhea with PLAIN while LDAP is down gets the SASL outcome sys-temp (4)', async () => {
  const connection = rhea.create_container({ id: 'ldap-down' }).connect({ host: '127.0.0.1', port: broker.amqpPort, reconnect: false, username: 'bob', password: 'bob-secret' } as ConnectionOptions);
  connection.on('connection_error', () => {});
  connection.on('error', () => {});
  const error = await new Promise<{ condition: string; description: string } | undefined>((resolve, reject) => {
    connection.once('connection_open', () => reject(new Error('the connection opened')));
    connection.once('disconnected', () => resolve(connection.get_error() as { condition: string; description: string } | undefined));
  });
  // rhea names every outcome but auth (1) amqp:internal-error, and gives the outcome's code in its description
  assert.deepEqual(error && { condition: error.condition, description: error.description }, { condition: 'amqp:internal-error', description: 'Failed to authenticate: 4' });
});

test('STOMP, AMQP 0-9-1 and the management API name the unreachable directory, and none says a password was wrong', async () => {
  const raw = await RawStompClient.open(broker.stompPort);
  await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'bob', passcode: 'bob-secret' });
  const refused = await raw.nextFrameOf('ERROR');
  assert.equal(refused.headers.get('code'), 'FERRY_DIRECTORY_UNAVAILABLE');
  assert.equal(refused.headers.get('message'), 'the user directory cannot be reached');

  await assert.rejects(amqplib.connect(`amqp://bob:bob-secret@127.0.0.1:${broker.amqpPort}`), /ACCESS_REFUSED - the user directory cannot be reached/);

  const api = await new ApiClient(broker.server.ports['http']!, basicAuth('bob', 'bob-secret')).get('/api/v1/whoami');
  assert.equal(api.status, 503);
  assert.equal(api.body['code'], 'FERRY_DIRECTORY_UNAVAILABLE');
});
