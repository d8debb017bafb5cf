import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/index.js';
import { SecurityAuthenticator } from '../../src/security/authenticator.js';
import type { DirectoryUser, UserDirectory } from '../../src/security/directory.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { startBroker } from '../helpers/broker.js';
import { ApiClient, basicAuth } from '../helpers/management.js';
import { writeUsers } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * The management API checks a password once and takes it again for a while (the console sends it
 * with every request, and each check is an scrypt); a failure is never kept, protocol logins are
 * always checked, and a change of the users is seen at the next request.
 */

/** alice (password `alice-pw`) and bob (`bob-pw`), counting the passwords it checks. */
class CountingDirectory implements UserDirectory {
  readonly description = 'counting directory';
  checked = 0;
  generation = 1;
  groups = ['admins'];

  async verify(username: string, password: string): Promise<DirectoryUser | 'wrong-password' | undefined> {
    this.checked++;
    if (username !== 'alice' && username !== 'bob') return undefined;
    return password === `${username}-pw` ? { name: username, groups: this.groups } : 'wrong-password';
  }

  async lookup(username: string): Promise<DirectoryUser | undefined> {
    return username === 'alice' || username === 'bob' ? { name: username, groups: this.groups } : undefined;
  }
}

test('a verified password is checked once for many API requests; failures, other passwords, protocol logins and changed users are checked again', async () => {
  const directory = new CountingDirectory();
  const authenticator = new SecurityAuthenticator({ directories: [directory], loginDelay: new LoginDelay({ initial: 1, max: 1, forgetAfter: 1 }), logger: silentLogger });
  const broker = await startBroker({}, { authenticator });
  try {
    const api = new ApiClient(broker.server.ports['http']!);
    const alice = api.as(basicAuth('alice', 'alice-pw'));
    for (let i = 0; i < 5; i++) assert.equal((await alice.get('/api/v1/whoami')).status, 200);
    assert.equal(directory.checked, 1, 'five requests, one check');

    for (let i = 0; i < 2; i++) assert.equal((await api.as(basicAuth('alice', 'wrong')).get('/api/v1/whoami')).status, 401);
    assert.equal(directory.checked, 3, 'each wrong password is checked');
    assert.equal((await alice.get('/api/v1/whoami')).status, 200);
    assert.equal(directory.checked, 3, 'the right one is still known');

    assert.equal((await api.as(basicAuth('bob', 'bob-pw')).get('/api/v1/whoami')).status, 200);
    assert.equal(directory.checked, 4, 'another user is checked');

    for (let i = 0; i < 2; i++) {
      const client = await connectStomp(broker.stompPort, { headers: { login: 'alice', passcode: 'alice-pw' } });
      await client.disconnect();
    }
    assert.equal(directory.checked, 6, 'protocol logins are checked each time');

    // the users changed (a users file read again): the next request is checked, with the new groups
    directory.groups = ['monitors'];
    directory.generation++;
    assert.deepEqual((await alice.get('/api/v1/whoami')).body['groups'], ['monitors']);
    assert.equal(directory.checked, 7);
  } finally {
    await broker.stop();
  }
});

test('a password changed in the users file is refused at the next request, though it was verified a moment before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-users-'));
  const usersFile = await writeUsers(dir, { admin: { password: 'old-secret', groups: ['admins'] } });
  const broker = await startBroker({ 'security.users': usersFile });
  try {
    const api = new ApiClient(broker.server.ports['http']!);
    const old = api.as(basicAuth('admin', 'old-secret'));
    assert.equal((await old.get('/api/v1/whoami')).status, 200);
    assert.equal((await old.get('/api/v1/whoami')).status, 200);
    await writeUsers(dir, { admin: { password: 'new-secret', groups: ['admins'] } });
    let status = 0;
    // asked as a console tab asks, until the broker has read the file again (100 ms after the change)
    for (let tries = 0; tries < 100 && status !== 401; tries++) {
      status = (await old.get('/api/v1/whoami')).status;
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(status, 401, 'the old password is refused within 5 s of the change');
    assert.equal((await api.as(basicAuth('admin', 'new-secret')).get('/api/v1/whoami')).status, 200);
  } finally {
    await broker.stop();
  }
});
