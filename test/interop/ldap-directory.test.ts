import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { configSchema } from '../../src/config/index.js';
import { silentLogger, type Logger } from '../../src/core/index.js';
import { isFerryError } from '../../src/errors.js';
import { SecurityAuthenticator } from '../../src/security/authenticator.js';
import { escapeFilterValue, LdapDirectory, type LdapConfig } from '../../src/security/ldap-directory.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { verifyPassword } from '../../src/security/passwords.js';
import { UsersFileDirectory } from '../../src/security/users-file.js';
import { connectAmqp } from '../helpers/amqp.js';
import { ApiClient, basicAuth } from '../helpers/management.js';
import { startBroker } from '../helpers/broker.js';
import { eventually, RawStompClient } from '../helpers/raw-stomp.js';
import { writeUsers } from '../helpers/security.js';
import { slapdMissing, startSlapd, SUFFIX, type Slapd } from '../helpers/slapd.js';

const missing = slapdMissing();

/** The security.ldap section as the configuration loader gives it, defaults filled in. */
function ldapConfig(settings: Record<string, unknown>): LdapConfig {
  return configSchema.parse({ security: { ldap: settings } }).security.ldap!;
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown> }[] = [];
  const log = (level: string) => (obj: object) => void lines.push({ level, obj: obj as Record<string, unknown> });
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { logger, lines };
}

const searchAccount = { bindDn: `cn=ferry,ou=services,${SUFFIX}`, bindPassword: 'search-secret' };
const bases = { userBase: `ou=people,${SUFFIX}`, groupBase: `ou=groups,${SUFFIX}` };

test('escapeFilterValue escapes what RFC 4515 asks', () => {
  assert.equal(escapeFilterValue('a*b(c)d\\e\0f'), 'a\\2ab\\28c\\29d\\5ce\\00f');
  assert.equal(escapeFilterValue('élodie'), 'élodie');
});

test('an unreadable security.ldap.ca is a configuration error naming the file', () => {
  assert.throws(
    () => new LdapDirectory(ldapConfig({ url: 'ldaps://127.0.0.1:1', ca: '/nonexistent/no-such-ca.pem', ...bases }), recordingLogger().logger),
    (err: unknown) => isFerryError(err, 'FERRY_CONFIG_INVALID') && err.message.includes('/nonexistent/no-such-ca.pem') && err.message.includes('ENOENT'),
  );
});

test('security.ldap.bindDn without a bindPassword is a configuration error, not an unauthenticated bind that searches anonymously', () => {
  for (const password of [{}, { bindPassword: '' }]) {
    assert.throws(
      () => new LdapDirectory(ldapConfig({ url: 'ldap://127.0.0.1:1', bindDn: searchAccount.bindDn, ...password, ...bases }), recordingLogger().logger),
      (err: unknown) => isFerryError(err, 'FERRY_CONFIG_INVALID') && err.message.startsWith('security.ldap.bindPassword: required with bindDn'),
      JSON.stringify(password),
    );
  }
  assert.throws(
    () => new LdapDirectory(ldapConfig({ url: 'ldap://127.0.0.1:1', bindPassword: 'search-secret', ...bases }), recordingLogger().logger),
    (err: unknown) => isFerryError(err, 'FERRY_CONFIG_INVALID') && err.message.includes('without bindDn'),
  );
});

let slapd: Slapd | undefined;

before(async () => {
  if (missing === undefined) slapd = await startSlapd();
});

after(async () => {
  await slapd?.stop();
});

test('LDAP with a search account: good password, wrong password, unknown user, groups', { skip: missing }, async () => {
  const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), recordingLogger().logger);
  const alice = await directory.verify('alice', 'alice-secret');
  assert.ok(alice !== undefined && alice !== 'wrong-password');
  assert.equal(alice.name, 'alice');
  assert.deepEqual([...alice.groups].sort(), ['admins', 'readers']);
  assert.deepEqual(await directory.verify('bob', 'bob-secret'), { name: 'bob', groups: ['readers'] });
  assert.equal(await directory.verify('alice', 'bob-secret'), 'wrong-password');
  assert.equal(await directory.verify('alice', ''), 'wrong-password', 'an empty password is not an unauthenticated bind that succeeds');
  assert.equal(await directory.verify('carol', 'alice-secret'), undefined);
  assert.equal(await directory.verify('', 'alice-secret'), undefined);
});

test('LDAP lookup without a password, for certificate users', { skip: missing }, async () => {
  const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), recordingLogger().logger);
  assert.deepEqual(await directory.lookup('bob'), { name: 'bob', groups: ['readers'] });
  assert.equal(await directory.lookup('carol'), undefined);
});

test('LDAP login names are escaped in the filter: a wildcard or a filter in the name matches nobody', { skip: missing }, async () => {
  const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), recordingLogger().logger);
  for (const name of ['*', 'al*', 'alice)(uid=*', '*)(|(uid=*']) {
    assert.equal(await directory.verify(name, 'alice-secret'), undefined, name);
    assert.equal(await directory.lookup(name), undefined, name);
  }
});

test('LDAP anonymous search, groups by another filter and attribute, no groupBase', { skip: missing }, async () => {
  const anonymous = new LdapDirectory(
    ldapConfig({ url: slapd!.url, ...bases, userFilter: '(&(objectClass=inetOrgPerson)(uid={user}))', groupFilter: '(&(objectClass=groupOfNames)(member={dn}))', groupAttribute: 'description' }),
    recordingLogger().logger,
  );
  assert.deepEqual(await anonymous.verify('alice', 'alice-secret'), { name: 'alice', groups: [] }, 'the groups have no description');
  assert.equal(await anonymous.verify('alice', 'nope'), 'wrong-password');

  const byCn = new LdapDirectory(ldapConfig({ url: slapd!.url, userBase: bases.userBase, userFilter: '(cn={user})' }), recordingLogger().logger);
  assert.deepEqual(await byCn.verify('Bob', 'bob-secret'), { name: 'Bob', groups: [] });
  assert.deepEqual(await byCn.verify('bob', 'bob-secret'), { name: 'Bob', groups: [] }, 'the name is the entry\'s cn');
});

test('LDAP: the user is named by the entry\'s own value of the filter\'s attribute, however the login name was spelled', { skip: missing }, async () => {
  const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), recordingLogger().logger);
  for (const spelling of ['BOB', ' bob', 'bob ', 'Bob']) {
    assert.deepEqual(await directory.verify(spelling, 'bob-secret'), { name: 'bob', groups: ['readers'] }, spelling);
    assert.deepEqual(await directory.lookup(spelling), { name: 'bob', groups: ['readers'] }, spelling);
  }
  const either = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases, userFilter: '(|(cn={user})(uid={user}))' }), recordingLogger().logger);
  assert.equal(await either.lookup('BOB').then((u) => u?.name), 'Bob', 'the first attribute of the filter names the user');
  assert.throws(
    () => new LdapDirectory(ldapConfig({ url: slapd!.url, ...bases, userFilter: '(mail={user}@example.com)' }), recordingLogger().logger),
    (err: unknown) => isFerryError(err, 'FERRY_CONFIG_INVALID') && err.message.includes('security.ldap.userFilter'),
  );
});

test('a broker with the users file and LDAP: every spelling LDAP matches is one user, and a users-file name hides its LDAP entry under any spelling', { skip: missing }, async () => {
  const usersFile = await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), { alice: { password: 'file-alice', groups: ['shop'] } });
  const broker = await startBroker({
    'security.users': usersFile,
    'security.ldap': { url: slapd!.url, ...searchAccount, ...bases, timeout: 2000 },
    'security.failedLoginDelay.initial': 1,
    'security.failedLoginDelay.max': 1,
    'limits.connectionsPerUser': 1,
  });
  const refusal = async (login: string, passcode: string): Promise<string | undefined> => {
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login, passcode });
    return (await raw.nextFrameOf('ERROR')).headers.get('code');
  };
  const users = () => broker.server.broker.admin.connectionList().map((c) => c.user);
  try {
    const shouting = await RawStompClient.connected(broker.stompPort, { login: 'BOB', passcode: 'bob-secret' });
    assert.deepEqual(users(), ['bob']);
    for (const login of ['bob', ' bob', 'bob ', 'Bob']) assert.equal(await refusal(login, 'bob-secret'), 'FERRY_LIMIT_EXCEEDED', `"${login}" is bob, who has his one connection`);
    shouting.raw.socket.destroy();
    await shouting.raw.closed;
    await eventually('bob\'s connection is gone', () => users().length === 0);
    const spaced = await RawStompClient.connected(broker.stompPort, { login: ' bob', passcode: 'bob-secret' });
    assert.deepEqual(users(), ['bob']);
    spaced.raw.socket.destroy();

    for (const login of ['ALICE', 'Alice', ' alice']) {
      assert.equal(await refusal(login, 'alice-secret'), 'FERRY_AUTHENTICATION_FAILED', `"${login}" with LDAP's password: the users file's alice hides LDAP's`);
      assert.equal(await refusal(login, 'file-alice'), 'FERRY_AUTHENTICATION_FAILED', `"${login}" is not a name of the users file`);
    }
    const alice = await RawStompClient.connected(broker.stompPort, { login: 'alice', passcode: 'file-alice' });
    assert.ok(users().includes('alice'));
    alice.raw.socket.destroy();
  } finally {
    await broker.stop();
  }
});

test('a certificate mapped to another spelling of a users-file name does not reach its LDAP entry', { skip: missing }, async () => {
  const usersFile = new UsersFileDirectory(await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), { alice: { password: 'file-alice', groups: ['shop'] } }), silentLogger, { watch: false });
  const auth = new SecurityAuthenticator({
    directories: [usersFile, new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), silentLogger)],
    certificateRules: [{ subject: '^CN=(.+)$', user: '$1' }],
    loginDelay: new LoginDelay({ initial: 0, max: 0, forgetAfter: 0 }),
    logger: silentLogger,
  });
  const withCertificate = (cn: string) => ({ protocol: 'stomp', transport: { remoteAddress: '10.0.0.5', peerCertificate: { subject: `CN=${cn}`, subjectAltNames: [], fingerprint256: 'AA' } }, credentials: { external: true } }) as const;
  assert.deepEqual(await auth.authenticate(withCertificate('alice')), { username: 'alice', groups: ['shop'], internal: false });
  await assert.rejects(auth.authenticate(withCertificate('ALICE')), /not a known user/);
  assert.deepEqual(await auth.authenticate(withCertificate('BOB')), { username: 'bob', groups: ['readers'], internal: false });
  usersFile.close();
});

test('LDAP: a search account with a wrong password refuses every login, and says why in the log', { skip: missing }, async () => {
  const { logger, lines } = recordingLogger();
  const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, bindPassword: 'wrong', ...bases }), logger);
  await assert.rejects(directory.verify('alice', 'alice-secret'), (err: unknown) => isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE'));
  const warned = lines.find((l) => l.obj['event'] === 'security.ldap-unavailable');
  assert.equal(warned?.level, 'warn');
  assert.match(String(warned?.obj['err']), /InvalidCredentials/);
  assert.ok(!JSON.stringify(lines).includes('alice-secret'), 'no password in the log');
});

test('LDAP: a server that accepts connections and never answers times out', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const { logger, lines } = recordingLogger();
  const directory = new LdapDirectory(ldapConfig({ url: `ldap://127.0.0.1:${port}`, ...searchAccount, ...bases, timeout: 200 }), logger);
  try {
    await assert.rejects(directory.verify('alice', 'alice-secret'), (err: unknown) => isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE'));
    assert.match(String(lines.find((l) => l.obj['event'] === 'security.ldap-unavailable')?.obj['err']), /timeout|timed out/i);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('ldaps:// and StartTLS with security.ldap.ca: the server is trusted through that CA, and refused without it', { skip: missing }, async () => {
  const own = await startSlapd({ tls: true });
  try {
    const trusting = new LdapDirectory(ldapConfig({ url: own.ldapsUrl, ca: own.caFile, ...searchAccount, ...bases }), recordingLogger().logger);
    assert.deepEqual(await trusting.verify('bob', 'bob-secret'), { name: 'bob', groups: ['readers'] });
    assert.equal(await trusting.verify('bob', 'alice-secret'), 'wrong-password');

    const { logger, lines } = recordingLogger();
    const untrusting = new LdapDirectory(ldapConfig({ url: own.ldapsUrl, ...searchAccount, ...bases }), logger);
    await assert.rejects(untrusting.verify('bob', 'bob-secret'), (err: unknown) => isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE'));
    assert.match(String(lines.find((l) => l.obj['event'] === 'security.ldap-unavailable')?.obj['err']), /certificate/i);

    const upgrading = new LdapDirectory(ldapConfig({ url: own.url, startTls: true, ca: own.caFile, ...searchAccount, ...bases }), logger);
    assert.deepEqual(await upgrading.verify('alice', 'alice-secret').then((u) => typeof u === 'object' && u.name), 'alice');
    const untrustingUpgrade = new LdapDirectory(ldapConfig({ url: own.url, startTls: true, ...searchAccount, ...bases }), logger);
    await assert.rejects(untrustingUpgrade.verify('alice', 'alice-secret'), (err: unknown) => isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE'));
    assert.ok(!lines.some((l) => l.obj['event'] === 'security.ldap-cleartext'), 'no cleartext warning with TLS');
    new LdapDirectory(ldapConfig({ url: own.url, ...bases }), logger);
    assert.equal(lines.find((l) => l.obj['event'] === 'security.ldap-cleartext')?.level, 'warn');
  } finally {
    await own.stop();
  }
});

test('a broker with security.ldap: logins over STOMP and AMQP (SASL PLAIN), groups as rights, a stopped server refuses logins', { skip: missing }, async () => {
  const own = await startSlapd();
  const broker = await startBroker({
    'security.ldap': { url: own.url, ...searchAccount, ...bases, timeout: 2000 },
    'security.authorization': [
      { queue: '>', read: ['admins'], write: ['admins'], create: ['admins'], browse: ['admins'], admin: ['admins'] },
      { queue: 'ldap.q', read: ['readers'] },
    ],
    'security.failedLoginDelay.initial': 1,
    'security.failedLoginDelay.max': 1,
  });
  try {
    const alice = await RawStompClient.connected(broker.stompPort, { login: 'alice', passcode: 'alice-secret' });
    await alice.raw.send('SEND', { destination: '/queue/ldap.q', receipt: 'r1' }, 'from alice');
    assert.equal((await alice.raw.nextFrameOf('RECEIPT')).headers.get('receipt-id'), 'r1');

    const bob = await RawStompClient.connected(broker.stompPort, { login: 'bob', passcode: 'bob-secret' });
    await bob.raw.send('SEND', { destination: '/queue/ldap.q', receipt: 'r2' }, 'from bob');
    assert.equal((await bob.raw.nextFrameOf('ERROR')).headers.get('code'), 'FERRY_NOT_AUTHORIZED', 'readers may not send');

    const amqp = await connectAmqp(broker.amqpPort, { username: 'bob', password: 'bob-secret' });
    amqp.connection.close();

    for (const [login, passcode] of [['alice', 'wrong'], ['carol', 'alice-secret'], ['alice', '']]) {
      const guesser = await RawStompClient.open(broker.stompPort);
      await guesser.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: login!, passcode: passcode! });
      assert.equal((await guesser.nextFrameOf('ERROR')).headers.get('code'), 'FERRY_AUTHENTICATION_FAILED', `${login}/${passcode}`);
    }

    await own.stop();
    const late = await RawStompClient.open(broker.stompPort);
    await late.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'alice', passcode: 'alice-secret' });
    const refused = await late.nextFrameOf('ERROR');
    assert.equal(refused.headers.get('code'), 'FERRY_DIRECTORY_UNAVAILABLE');
    const told = `${refused.headers.get('message') ?? ''} ${refused.body.toString()}`;
    assert.match(told, /the user directory cannot be reached/);
    assert.doesNotMatch(told, /ECONNREFUSED/, 'the cause is for the log, not the client');
    for (const internal of [own.url, '127.0.0.1', String(own.port)]) assert.ok(!told.includes(internal), `the client is not told ${internal}`);
    const api = await new ApiClient(broker.server.ports['http']!, basicAuth('alice', 'alice-secret')).get('/api/v1/whoami');
    assert.equal(api.status, 503);
    assert.equal(api.body['code'], 'FERRY_DIRECTORY_UNAVAILABLE');
    assert.match(api.text, /the user directory cannot be reached/);
    for (const internal of [own.url, '127.0.0.1', String(own.port)]) assert.ok(!api.text.includes(internal), `the API's answer does not tell ${internal}`);
    await alice.raw.send('SEND', { destination: '/queue/ldap.q', receipt: 'r3' }, 'still connected');
    assert.equal((await alice.raw.nextFrameOf('RECEIPT')).headers.get('receipt-id'), 'r3', 'open connections stay');
    alice.raw.socket.destroy();
  } finally {
    await broker.stop();
    await own.stop();
  }
});

test('logins refused because LDAP cannot be reached do not count toward the failed-login delay; wrong passwords still do', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as { port: number };
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const waits: number[] = [];
  const loginDelay = new LoginDelay({ initial: 200, max: 10_000, forgetAfter: 600_000, clock: () => 1_000_000, sleep: async (ms) => void waits.push(ms) });
  const usersFile = new UsersFileDirectory(await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), { alice: { password: 'file-alice' } }), silentLogger, { watch: false });
  const authenticator = new SecurityAuthenticator({
    directories: [usersFile, new LdapDirectory(ldapConfig({ url: `ldap://127.0.0.1:${port}`, ...searchAccount, ...bases, timeout: 2000 }), silentLogger)],
    loginDelay,
    logger: silentLogger,
  });
  const broker = await startBroker({}, { authenticator });
  const code = async (login: string, passcode: string): Promise<string | undefined> => {
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login, passcode });
    const frame = await raw.nextFrame();
    raw.socket.destroy();
    return frame.command === 'CONNECTED' ? 'CONNECTED' : frame.headers.get('code');
  };
  try {
    for (let i = 0; i < 5; i++) assert.equal(await code('bob', 'bob-secret'), 'FERRY_DIRECTORY_UNAVAILABLE', 'LDAP is down');
    assert.equal(loginDelay.delayOf('127.0.0.1'), 0, 'the outage is no guess at a password');
    assert.equal(await code('alice', 'file-alice'), 'CONNECTED');
    assert.deepEqual(waits, [], 'no login waited');

    assert.equal(await code('alice', 'wrong'), 'FERRY_AUTHENTICATION_FAILED');
    assert.equal(loginDelay.delayOf('127.0.0.1'), 200, 'a wrong password counts');
  } finally {
    await broker.stop();
    usersFile.close();
  }
});

test('with LDAP, a wrong password for an LDAP user is refused after the same password hash as an unknown name, so the refusal takes as long', { skip: missing }, async () => {
  const decoyChecks: string[] = [];
  const usersFile = new UsersFileDirectory(await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), { admin: { password: 'file-admin' } }), silentLogger, { watch: false });
  const authenticator = new SecurityAuthenticator({
    directories: [usersFile, new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), silentLogger)],
    loginDelay: new LoginDelay({ initial: 0, max: 0, forgetAfter: 0 }),
    logger: silentLogger,
    verifyPassword: (password, hash) => {
      decoyChecks.push(password);
      return verifyPassword(password, hash);
    },
  });
  const broker = await startBroker({}, { authenticator });
  /** The answer to one STOMP login, and the decoy checks made for it. */
  const attempt = async (login: string, passcode: string): Promise<{ answer: string | undefined; decoys: string[] }> => {
    decoyChecks.length = 0;
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login, passcode });
    const frame = await raw.nextFrame();
    raw.socket.destroy();
    return { answer: frame.command === 'CONNECTED' ? 'CONNECTED' : frame.headers.get('code'), decoys: [...decoyChecks] };
  };
  try {
    const refused = 'FERRY_AUTHENTICATION_FAILED';
    assert.deepEqual(await attempt('nobody', 'guess-1'), { answer: refused, decoys: ['guess-1'] }, 'an unknown name');
    assert.deepEqual(await attempt('bob', 'guess-2'), { answer: refused, decoys: ['guess-2'] }, 'an LDAP user with a wrong password');
    assert.deepEqual(await attempt('BOB', ''), { answer: refused, decoys: [''] }, 'an LDAP user with an empty password');
    assert.deepEqual(await attempt('bob', 'bob-secret'), { answer: 'CONNECTED', decoys: [] });
    assert.deepEqual(await attempt('admin', 'guess-3'), { answer: refused, decoys: [] }, 'the users file hashes the password itself');
  } finally {
    await broker.stop();
    usersFile.close();
  }
});

// last: it stops the shared server
test('LDAP: a stopped server rejects with FERRY_DIRECTORY_UNAVAILABLE and logs the cause at warn', { skip: missing }, async () => {
  const { logger, lines } = recordingLogger();
  const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, ...bases }), logger);
  assert.ok(typeof (await directory.verify('alice', 'alice-secret')) === 'object');
  await slapd!.stop();
  await assert.rejects(directory.verify('alice', 'alice-secret'), (err: unknown) => isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE') && /cannot be reached/.test(err.message));
  await assert.rejects(directory.lookup('alice'), (err: unknown) => isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE'));
  const warned = lines.filter((l) => l.obj['event'] === 'security.ldap-unavailable');
  assert.equal(warned.length, 2);
  assert.ok(warned.every((l) => l.level === 'warn' && l.obj['url'] === slapd!.url));
  assert.match(String(warned[0]!.obj['err']), /ECONNREFUSED/);
});
