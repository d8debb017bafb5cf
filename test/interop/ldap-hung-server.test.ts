import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { eventually, RawStompClient, within } from '../helpers/raw-stomp.js';
import { writeUsers } from '../helpers/security.js';
import { slapdMissing, startSlapd, SUFFIX } from '../helpers/slapd.js';
import { connectStomp } from '../helpers/stomp.js';

const missing = slapdMissing();

const searchAccount = { bindDn: `cn=ferry,ou=services,${SUFFIX}`, bindPassword: 'search-secret' };
const bases = { userBase: `ou=people,${SUFFIX}`, groupBase: `ou=groups,${SUFFIX}` };

/** A TCP relay in front of the LDAP server that counts the broker's connections to it. */
async function countingRelay(target: number): Promise<{ port: number; open: number; opened: number; close(): void }> {
  const sockets = new Set<Socket>();
  const relay = { port: 0, open: 0, opened: 0, close: () => undefined as void };
  const server: Server = createServer((client) => {
    relay.open++;
    relay.opened++;
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => {
      relay.open--;
      upstream.destroy();
    });
    upstream.once('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as { port: number }).port;
  relay.close = () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  };
  return relay;
}

test('a hung LDAP server holds up LDAP logins only: a users-file login goes through, and LDAP gets concurrentLogins logins at once', { skip: missing }, async () => {
  const slapd = await startSlapd();
  const relay = await countingRelay(slapd.port);
  const usersFile = await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), { admin: { password: 'admin-secret', groups: ['admins'] } });
  const broker = await startBroker({
    'security.users': usersFile,
    // far longer than the test waits: a login that needs the hung server cannot end before it is resumed
    'security.ldap': { url: `ldap://127.0.0.1:${relay.port}`, ...searchAccount, ...bases, timeout: 120_000, concurrentLogins: 3 },
    'security.failedLoginDelay.initial': 1,
    'security.failedLoginDelay.max': 1,
  });
  const waiting: RawStompClient[] = [];
  try {
    slapd.pause();
    // each from an address of its own: logins from one address are checked two at a time
    // (docs/security.md, Failed logins), and those wait on the hung server too
    for (let i = 0; i < 6; i++) {
      const raw = await RawStompClient.open(broker.stompPort, `127.0.0.${10 + i}`);
      await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: i % 2 === 0 ? 'bob' : `nobody-${i}`, passcode: 'bob-secret' });
      waiting.push(raw);
    }
    await eventually('LDAP logins wait on the hung server', () => relay.open >= 2, 10_000);

    const admin = await within(20_000, 'the users-file login', connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-secret' } }));
    assert.ok(
      waiting.every((c) => c.received.length === 0),
      'the users-file login went through while every LDAP login still waited for its server',
    );
    await eventually('three LDAP logins talk to the server', () => relay.open === 3, 10_000);
    assert.equal(relay.opened, 3, 'the other three wait their turn without a connection');

    slapd.resume();
    const answers = await Promise.all(waiting.map((c) => c.nextFrame(30_000)));
    assert.deepEqual(
      answers.map((f) => f.command),
      ['CONNECTED', 'ERROR', 'CONNECTED', 'ERROR', 'CONNECTED', 'ERROR'],
      'each LDAP login is answered once the server is back',
    );
    await admin.disconnect();
  } finally {
    slapd.resume();
    for (const c of waiting) c.socket.destroy();
    await broker.stop();
    relay.close();
    await slapd.stop();
  }
});

test('a login queued behind concurrentLogins logins that wait on a hung server is refused after timeout, without reaching the server', async () => {
  const sockets: Socket[] = [];
  // accepts connections and never answers
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const broker = await startBroker({
    'security.ldap': { url: `ldap://127.0.0.1:${port}`, ...searchAccount, ...bases, timeout: 500, concurrentLogins: 1 },
    'security.failedLoginDelay.initial': 1,
    'security.failedLoginDelay.max': 1,
  });
  const clients: RawStompClient[] = [];
  const login = async (address: string): Promise<RawStompClient> => {
    // each from an address of its own, so that only the LDAP turns make them wait
    const raw = await RawStompClient.open(broker.stompPort, address);
    await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'bob', passcode: 'bob-secret' });
    clients.push(raw);
    return raw;
  };
  try {
    const first = await login('127.0.0.20');
    await eventually('the first login waits on the server', () => sockets.length === 1, 10_000);
    const second = await login('127.0.0.21');
    const third = await login('127.0.0.22');
    const refused = await third.nextFrameOf('ERROR', 30_000);
    assert.equal(refused.headers.get('code'), 'FERRY_DIRECTORY_UNAVAILABLE');
    assert.ok(sockets.length <= 2, `the third login was refused without a connection of its own to the server (it opened ${sockets.length})`);
    for (const raw of [first, second]) assert.equal((await raw.nextFrameOf('ERROR', 30_000)).headers.get('code'), 'FERRY_DIRECTORY_UNAVAILABLE');
  } finally {
    for (const c of clients) c.socket.destroy();
    await broker.stop();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
