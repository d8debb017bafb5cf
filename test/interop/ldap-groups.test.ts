import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { configSchema } from '../../src/config/index.js';
import { silentLogger } from '../../src/core/index.js';
import { isFerryError } from '../../src/errors.js';
import { LdapDirectory, type LdapConfig } from '../../src/security/ldap-directory.js';
import { escapeDnValue, firstRdnValue } from '../../src/security/ldap-dn.js';
import { startBroker } from '../helpers/broker.js';
import { connectMqtt, type MqttTestClient } from '../helpers/mqtt.js';
import { runFerry } from '../helpers/process.js';
import { slapdMissing, startSlapd, SUFFIX, type Slapd } from '../helpers/slapd.js';

const missing = slapdMissing();

function ldapConfig(settings: Record<string, unknown>): LdapConfig {
  return configSchema.parse({ security: { ldap: settings } }).security.ldap!;
}

const searchAccount = { bindDn: `cn=ferry,ou=services,${SUFFIX}`, bindPassword: 'search-secret' };
const userDn = `uid={user},ou=people,${SUFFIX}`;
const groupBase = `ou=groups,${SUFFIX}`;

/**
 * Beside the seed's admins (alice) and readers (alice, bob): staff holds admins and everyone holds
 * staff, so alice is in everyone two levels up; ring-a holds readers and ring-b, ring-b holds
 * ring-a, a cycle above bob; "smith, jr" has a comma in his uid.
 */
const NESTED = `dn: cn=staff,${groupBase}
changetype: add
objectClass: groupOfNames
cn: staff
member: cn=admins,${groupBase}

dn: cn=everyone,${groupBase}
changetype: add
objectClass: groupOfNames
cn: everyone
member: cn=staff,${groupBase}

dn: cn=ring-a,${groupBase}
changetype: add
objectClass: groupOfNames
cn: ring-a
member: cn=readers,${groupBase}

dn: cn=ring-b,${groupBase}
changetype: add
objectClass: groupOfNames
cn: ring-b
member: cn=ring-a,${groupBase}

dn: cn=ring-a,${groupBase}
changetype: modify
add: member
member: cn=ring-b,${groupBase}

dn: uid=smith\\2C jr,ou=people,${SUFFIX}
changetype: add
objectClass: inetOrgPerson
uid: smith, jr
cn: Smith
sn: Junior
userPassword: smith-secret

dn: cn=readers,${groupBase}
changetype: modify
add: member
member: uid=smith\\2C jr,ou=people,${SUFFIX}
`;

let slapd: Slapd | undefined;

before(async () => {
  if (missing !== undefined) return;
  slapd = await startSlapd({ memberOf: true });
  await slapd.modify(NESTED);
});

after(async () => {
  await slapd?.stop();
});

const sorted = (user: unknown): unknown => (typeof user === 'object' && user !== null && 'groups' in user ? { ...user, groups: [...(user.groups as string[])].sort() } : user);

test('escapeDnValue escapes what RFC 4514 asks, and firstRdnValue undoes it', () => {
  assert.equal(escapeDnValue('smith, jr'), 'smith\\, jr');
  assert.equal(escapeDnValue('a+b=c;d<e>f"g\\h\0'), 'a\\+b\\=c\\;d\\<e\\>f\\"g\\\\h\\00');
  assert.equal(escapeDnValue(' #x '), '\\ #x\\ ');
  assert.equal(escapeDnValue('#'), '\\#');
  assert.equal(escapeDnValue('élodie'), 'élodie');
  assert.equal(firstRdnValue(`cn=admins,${groupBase}`), 'admins');
  assert.equal(firstRdnValue(`CN=Domain Admins,CN=Users,DC=corp,DC=example`), 'Domain Admins');
  assert.equal(firstRdnValue(`cn=a\\2C b\\+c+ou=x,${groupBase}`), 'a, b+c');
  assert.equal(firstRdnValue('cn=\\C3\\A9quipe,dc=x'), 'équipe');
  assert.equal(firstRdnValue('nonsense'), undefined);
});

test('configuration mistakes of userDn and nestedGroupDepth stop the start', () => {
  const refused = (settings: Record<string, unknown>, key: string) =>
    assert.throws(
      () => new LdapDirectory(ldapConfig({ url: 'ldap://127.0.0.1:1', ...settings }), silentLogger),
      (err: unknown) => isFerryError(err, 'FERRY_CONFIG_INVALID') && err.message.startsWith(`security.ldap${key}`),
      JSON.stringify(settings),
    );
  refused({ userDn, userBase: `ou=people,${SUFFIX}` }, '.userDn: given with userBase');
  refused({ userDn, userFilter: '(uid={user})' }, '.userDn: given with userFilter');
  refused({ userDn: `ou=people,${SUFFIX}` }, '.userDn');
  refused({ userDn: `cn=x,uid={user},ou=people,${SUFFIX}` }, '.userDn');
  refused({ userDn: `uid={user},ou={user},${SUFFIX}` }, '.userDn');
  refused({}, ': neither userBase');
  refused({ userDn, nestedGroupDepth: 2 }, '.nestedGroupDepth: 2 with no groups');
  refused({ userDn, groupBase, groupFilter: '(memberUid={user})', nestedGroupDepth: 1 }, '.nestedGroupDepth: groupFilter');
  assert.throws(() => ldapConfig({ url: 'ldap://127.0.0.1:1', userDn, nestedGroupDepth: 11 }));
  // what worked before still does
  new LdapDirectory(ldapConfig({ url: 'ldap://127.0.0.1:1', userBase: `ou=people,${SUFFIX}`, groupBase }), silentLogger);
  new LdapDirectory(ldapConfig({ url: 'ldap://127.0.0.1:1', userDn, groupBase, groupFilter: '(memberUid={user})' }), silentLogger);
});

test('a userDn mistake stops `ferry start` with 78 and one line naming the key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-ldap-config-'));
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, `security:\n  ldap:\n    url: ldap://127.0.0.1:1\n    userDn: "ou=people,${SUFFIX}"\n`);
  const bad = await runFerry(['start', '--config', file, '--data', join(dir, 'data')]);
  assert.equal(bad.code, 78, bad.stderr);
  const lines = bad.stderr.trim().split('\n');
  assert.equal(lines.length, 1, bad.stderr);
  assert.match(lines[0]!, /security\.ldap\.userDn/);
});

test('LDAP userDn: a login binds as the DN made from the name, without a search account or a search', { skip: missing }, async () => {
  for (const account of [{}, searchAccount]) {
    const directory = new LdapDirectory(ldapConfig({ url: slapd!.url, ...account, userDn, groupBase }), silentLogger);
    const label = JSON.stringify(account);
    assert.deepEqual(sorted(await directory.verify('alice', 'alice-secret')), { name: 'alice', groups: ['admins', 'readers'] }, label);
    assert.deepEqual(await directory.verify('BOB', 'bob-secret'), { name: 'bob', groups: ['readers'] }, `${label}: the name is the entry's uid`);
    assert.deepEqual(await directory.verify('smith, jr', 'smith-secret'), { name: 'smith, jr', groups: ['readers'] }, `${label}: the comma is escaped`);
    assert.equal(await directory.verify('alice', 'bob-secret'), 'wrong-password', label);
    assert.equal(await directory.verify('alice', ''), 'wrong-password', `${label}: an empty password never binds`);
    assert.equal(await directory.verify('carol', 'alice-secret'), 'wrong-password', `${label}: without a search, an unknown name is a refused bind`);
    for (const name of ['*', 'alice,ou=people', `alice,ou=people,${SUFFIX}`, 'alice+cn=Alice']) {
      assert.equal(await directory.verify(name, 'alice-secret'), 'wrong-password', `${label}: ${name}`);
    }
    assert.deepEqual(await directory.lookup('bob'), { name: 'bob', groups: ['readers'] }, `${label}: a certificate user's entry is read by its DN`);
    assert.equal(await directory.lookup('carol'), undefined, label);
  }
});

test('LDAP userGroupAttribute: groups from the memberOf the server keeps on the user\'s entry', { skip: missing }, async () => {
  const byDn = new LdapDirectory(ldapConfig({ url: slapd!.url, userDn, userGroupAttribute: 'memberOf' }), silentLogger);
  assert.deepEqual(sorted(await byDn.verify('alice', 'alice-secret')), { name: 'alice', groups: ['admins', 'readers'] });
  assert.deepEqual(await byDn.lookup('bob'), { name: 'bob', groups: ['readers'] });
  const bySearch = new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, userBase: `ou=people,${SUFFIX}`, userGroupAttribute: 'memberOf' }), silentLogger);
  assert.deepEqual(sorted(await bySearch.verify('alice', 'alice-secret')), { name: 'alice', groups: ['admins', 'readers'] });
  assert.deepEqual(await bySearch.verify('smith, jr', 'smith-secret'), { name: 'smith, jr', groups: ['readers'] });
});

test('LDAP nestedGroupDepth: groups within groups, as deep as allowed, through memberOf or the group search, a cycle followed once', { skip: missing }, async () => {
  const sources = { memberOf: { userGroupAttribute: 'memberOf' }, search: { groupBase }, both: { groupBase, userGroupAttribute: 'memberOf' } };
  for (const [source, settings] of Object.entries(sources)) {
    const at = (depth: number) => new LdapDirectory(ldapConfig({ url: slapd!.url, ...searchAccount, userDn, ...settings, nestedGroupDepth: depth }), silentLogger);
    assert.deepEqual(sorted(await at(0).verify('alice', 'alice-secret')), { name: 'alice', groups: ['admins', 'readers'] }, source);
    assert.deepEqual(sorted(await at(1).verify('alice', 'alice-secret')), { name: 'alice', groups: ['admins', 'readers', 'ring-a', 'staff'] }, source);
    assert.deepEqual(sorted(await at(2).verify('alice', 'alice-secret')), { name: 'alice', groups: ['admins', 'everyone', 'readers', 'ring-a', 'ring-b', 'staff'] }, source);
    assert.deepEqual(sorted(await at(10).lookup('bob')), { name: 'bob', groups: ['readers', 'ring-a', 'ring-b'] }, `${source}: the cycle ends`);
  }
});

/** The SUBACK's return code for each filter, 128 where the subscription is refused (MQTT.js rejects a SUBACK with any 128 in it). */
async function grants(client: MqttTestClient, filters: readonly string[]): Promise<number[]> {
  const codes: number[] = [];
  for (const filter of filters) {
    codes.push(
      await client.subscribe(filter, { qos: 1 }).then(
        (granted) => granted[0]!.qos,
        (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] ?? -1,
      ),
    );
  }
  return codes;
}

test('a broker with userDn and no search account: MQTT.js clients log in by binding as their DN, and get per-destination rights from their groups', { skip: missing }, async () => {
  const broker = await startBroker({
    'security.ldap': { url: slapd!.url, userDn, groupBase, timeout: 2000 },
    'security.authorization': [
      { topic: 'admins.>', read: ['admins'] },
      { topic: 'readers.>', read: ['readers'], write: ['readers'], create: ['readers'] },
    ],
    'security.failedLoginDelay.initial': 1,
    'security.failedLoginDelay.max': 1,
  });
  const filters = ['admins/+', 'readers/+'];
  try {
    const alice = await connectMqtt(broker.mqttPort, { username: 'alice', password: 'alice-secret', protocolVersion: 4 });
    assert.deepEqual(await grants(alice, filters), [1, 1]);
    const smith = await connectMqtt(broker.mqttPort, { username: 'smith, jr', password: 'smith-secret', protocolVersion: 4 });
    assert.deepEqual(await grants(smith, filters), [128, 1], 'the comma in the name is escaped in the DN');
    await smith.publish('readers/news', 'hello', { qos: 1 });
    assert.equal((await alice.inbox.next()).payload, 'hello');
    for (const [username, password] of [['alice', 'bob-secret'], ['alice', ''], ['carol', 'alice-secret'], ['alice,ou=people', 'alice-secret']]) {
      await assert.rejects(connectMqtt(broker.mqttPort, { username: username!, password: password!, protocolVersion: 4 }), /Not authorized|Bad username or password/i, `${username}/${password}`);
    }
    await alice.end();
    await smith.end();
  } finally {
    await broker.stop();
  }
});

test('a broker with userGroupAttribute: memberOf: MQTT.js clients get per-destination rights from the groups listed on their entry', { skip: missing }, async () => {
  const broker = await startBroker({
    'security.ldap': { url: slapd!.url, ...searchAccount, userBase: `ou=people,${SUFFIX}`, userGroupAttribute: 'memberOf', timeout: 2000 },
    'security.authorization': [
      { topic: 'admins.>', read: ['admins'] },
      { topic: 'readers.>', read: ['readers'] },
    ],
  });
  const filters = ['admins/+', 'readers/+'];
  try {
    const alice = await connectMqtt(broker.mqttPort, { username: 'alice', password: 'alice-secret', protocolVersion: 4 });
    assert.deepEqual(await grants(alice, filters), [1, 1], 'alice\'s memberOf has admins and readers');
    const bob = await connectMqtt(broker.mqttPort, { username: 'bob', password: 'bob-secret', protocolVersion: 4 });
    assert.deepEqual(await grants(bob, filters), [128, 1], 'bob\'s has readers only');
    await alice.end();
    await bob.end();
  } finally {
    await broker.stop();
  }
});

test('a broker with userDn, memberOf and nested groups: MQTT.js clients get per-destination rights from groups within groups', { skip: missing }, async () => {
  for (const groups of [{ userGroupAttribute: 'memberOf' }, { groupBase }]) {
    const broker = await startBroker({
      'security.ldap': { url: slapd!.url, userDn, ...groups, nestedGroupDepth: 2, timeout: 2000 },
      'security.authorization': [
        { topic: 'admins.>', read: ['admins'] },
        { topic: 'everyone.>', read: ['everyone'], write: ['everyone'], create: ['everyone'] },
        { topic: 'ring.>', read: ['ring-b'] },
      ],
      'security.failedLoginDelay.initial': 1,
      'security.failedLoginDelay.max': 1,
    });
    const label = JSON.stringify(groups);
    const filters = ['admins/+', 'everyone/+', 'ring/+'];
    try {
      const alice = await connectMqtt(broker.mqttPort, { username: 'alice', password: 'alice-secret', protocolVersion: 4 });
      assert.deepEqual(await grants(alice, filters), [1, 1, 1], `${label}: alice is in admins, in everyone through staff, and in ring-b through readers and ring-a`);
      const bob = await connectMqtt(broker.mqttPort, { username: 'bob', password: 'bob-secret', protocolVersion: 4 });
      assert.deepEqual(await grants(bob, filters), [128, 128, 1], `${label}: bob is only in readers and the ring above it`);
      await alice.publish('everyone/news', 'hello', { qos: 1 });
      assert.equal((await alice.inbox.next()).payload, 'hello');
      await assert.rejects(connectMqtt(broker.mqttPort, { username: 'alice', password: 'bob-secret', protocolVersion: 4 }), /Not authorized|Bad username or password/i, label);
      await assert.rejects(connectMqtt(broker.mqttPort, { username: 'alice', password: '', protocolVersion: 4 }), /Not authorized|Bad username or password/i, label);
      await alice.end();
      await bob.end();
    } finally {
      await broker.stop();
    }
  }
});
