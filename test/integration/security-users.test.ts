import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, type IFrame } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { connectAmqp } from '../helpers/amqp.js';
import { startBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { RawStompClient, uniqueName, within } from '../helpers/raw-stomp.js';
import { startSecureBroker, writeUsers } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';

const example = fileURLToPath(new URL('../../../docs/examples/secure/ferry.yaml', import.meta.url));

test('the secure example: admin sends to secure.q, reader consumes it and may not send, a wrong password is refused', async () => {
  const broker = await startBroker({}, {}, example);
  try {
    const admin = await RawStompClient.connected(broker.stompPort, { login: 'admin', passcode: 'admin-secret' });
    await admin.raw.send('SEND', { destination: '/queue/secure.q', persistent: 'true', receipt: 'r1' }, 'for the reader');
    assert.equal((await admin.raw.nextFrameOf('RECEIPT')).headers.get('receipt-id'), 'r1');

    const reader = await RawStompClient.connected(broker.stompPort, { login: 'reader', passcode: 'reader-secret' });
    assert.match(reader.connected.headers.get('session') ?? '', /.+/);
    await reader.raw.send('SUBSCRIBE', { destination: '/queue/secure.q', id: 's1' });
    const message = await reader.raw.nextFrameOf('MESSAGE');
    assert.equal(message.body.toString(), 'for the reader');
    await reader.raw.send('SEND', { destination: '/queue/secure.q', receipt: 'r2' }, 'not allowed');
    const refused = await reader.raw.nextFrameOf('ERROR');
    assert.equal(refused.headers.get('code'), 'FERRY_NOT_AUTHORIZED');
    assert.equal(refused.headers.get('receipt-id'), 'r2');
    await within(3000, 'the reader connection to close', reader.raw.closed);

    const guesser = await RawStompClient.open(broker.stompPort);
    await guesser.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'admin', passcode: 'admin-wrong' });
    const error = await guesser.nextFrameOf('ERROR');
    assert.equal(error.headers.get('code'), 'FERRY_AUTHENTICATION_FAILED');
    assert.ok(!error.body.toString().includes('admin-wrong') && !(error.headers.get('message') ?? '').includes('admin-wrong'));
    await within(3000, 'the refused connection to close', guesser.closed);
    admin.raw.socket.destroy();
  } finally {
    await broker.stop();
  }
});

test('users file changes apply without a restart: a new user logs in, a removed user is disconnected on every protocol', async () => {
  const broker = await startSecureBroker({ users: { bob: { password: 'bob-pw' }, keeper: { password: 'keeper-pw' } }, authorization: null });
  try {
    const stomp = await connectStomp(broker.stompPort, { headers: { login: 'bob', passcode: 'bob-pw' } });
    const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'bob', password: 'bob-pw', clientId: uniqueName('bob') });
    const amqp = await connectAmqp(broker.amqpPort, { username: 'bob', password: 'bob-pw' });
    const keeper = await connectStomp(broker.stompPort, { headers: { login: 'keeper', passcode: 'keeper-pw' } });
    await assert.rejects(connectMqtt(broker.mqttPort, { username: 'carol', password: 'carol-pw', clientId: uniqueName('carol') }), /Bad username or password|Not authorized/i);

    // bob leaves the file and carol joins: written whole and renamed over it, as `ferry user` does
    const replacement = await writeUsers(dirname(broker.usersFile), { carol: { password: 'carol-pw' }, keeper: { password: 'keeper-pw' } }, 'next.yaml');
    const { renameSync } = await import('node:fs');
    renameSync(replacement, broker.usersFile);

    await within(5000, 'the STOMP connection of the removed user to close', stomp.closed);
    assert.equal(stomp.errors[0]?.headers['code'], 'FERRY_AUTHENTICATION_FAILED');
    await within(5000, 'the MQTT connection of the removed user to close', mqtt.closed);
    assert.equal(mqtt.disconnects[0]?.reasonCode, 0x87);
    const amqpError = await within(5000, 'the AMQP connection of the removed user to close', amqp.closed);
    assert.equal(amqpError?.condition, 'amqp:unauthorized-access');

    const carol = await connectMqtt(broker.mqttPort, { username: 'carol', password: 'carol-pw', clientId: uniqueName('carol') });
    await carol.end();
    // the user who stayed was not disturbed
    await keeper.sendConfirmed(`/queue/${uniqueName('still')}`, 'here');
    await keeper.disconnect();
  } finally {
    await broker.stop();
  }
});

test('security mistakes stop the start with one line: a bad hash, an unknown anonymous user', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bad-users-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'users:\n  eve:\n    password: hunter2\n');
  await assert.rejects(startBroker({ 'security.users': bad }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FERRY_CONFIG_INVALID');
    assert.match(err.message, /users\.eve\.password: the password is not a hash/);
    assert.ok(!err.message.includes('hunter2'));
    return true;
  });
  const good = await writeUsers(dir, { frank: { password: 'f' } });
  await assert.rejects(startBroker({ 'security.users': good, 'security.anonymous': 'nobody' }), /security\.anonymous: "nobody" is not a user/);
});

/** One of this machine's own addresses that is not loopback, if it has one. */
const ownAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address;

test(
  'with no users configured, a client on this machine that connects to its non-loopback address is refused with a message that says loopback',
  { skip: ownAddress === undefined ? 'SKIPPED: this machine has no non-loopback IPv4 address to connect through' : false },
  async () => {
    const broker = await startBroker({ 'listeners.stomp.host': '0.0.0.0' });
    try {
      const errors: IFrame[] = [];
      const client = new Client({ webSocketFactory: () => new TCPWrapper(ownAddress!, broker.stompPort), connectHeaders: { host: 'localhost' }, reconnectDelay: 0, debug: () => {} });
      client.onStompError = (frame) => errors.push(frame);
      const closed = new Promise<void>((resolve) => (client.onWebSocketClose = () => resolve()));
      client.onConnect = () => assert.fail('the broker let in a client that is not on loopback');
      client.activate();
      await within(5000, 'the refused connection to close', closed);
      await client.deactivate();
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.headers['code'], 'FERRY_AUTHENTICATION_FAILED');
      // the body carries the text as it is; the message header has STOMP 1.2's escapes (\\c for a colon)
      const message = errors[0]!.body;
      assert.match(message, /no users are configured: only loopback clients \(127\.0\.0\.0\/8, ::1\) may connect/);
      assert.ok(message.includes(ownAddress!), `the refusal names the client's address: ${message}`);
      assert.doesNotMatch(message, /this machine/, 'the client is on this machine: the rule is loopback, not the machine');
    } finally {
      await broker.stop();
    }
  },
);
