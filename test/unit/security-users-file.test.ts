import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Logger } from '../../src/core/index.js';
import { hashPassword, makeScramCredentials } from '../../src/security/passwords.js';
import { UsersFileDirectory, readUsersFile, tokenHash, writeUsersFile } from '../../src/security/users-file.js';

const CHEAP = { N: 1024, r: 8, p: 1 };

/** A logger that keeps what it is given, to assert on. */
function recordingLogger(): Logger & { lines: { level: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: unknown) => void lines.push({ level, fields: fields as Record<string, unknown> });
  return { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') } as unknown as Logger & { lines: typeof lines };
}

async function usersFile(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'ferry-users-file-')), 'users.yaml');
  writeUsersFile(path, {
    users: new Map([
      ['ann', { password: await hashPassword('ann-pw', CHEAP), scram: await makeScramCredentials('ann-pw'), groups: ['ops'], tokens: [tokenHash('t-ann')] }],
      ['ben', { password: await hashPassword('ben-pw', CHEAP), groups: [], tokens: [] }],
    ]),
  });
  return path;
}

test('the users file is written whole, for its owner only, with hashes only, and reads back', async () => {
  const path = await usersFile();
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^# Ferry users, written by "ferry user"/);
  assert.ok(!text.includes('ann-pw') && !text.includes('t-ann'));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const model = readUsersFile(path);
  assert.deepEqual([...model.users.keys()], ['ann', 'ben']);
  assert.deepEqual(model.users.get('ann')!.groups, ['ops']);
});

test('the directory checks passwords, names token owners and hands out SCRAM keys', async () => {
  const directory = new UsersFileDirectory(await usersFile(), recordingLogger(), { watch: false });
  assert.deepEqual(await directory.verify('ann', 'ann-pw'), { name: 'ann', groups: ['ops'] });
  assert.equal(await directory.verify('ann', 'wrong'), 'wrong-password');
  assert.equal(await directory.verify('nobody', 'ann-pw'), undefined);
  assert.deepEqual(directory.tokenUser('t-ann'), { name: 'ann', groups: ['ops'] });
  assert.equal(directory.tokenUser('t-other'), undefined);
  assert.equal(directory.scramCredentials('ann')?.iterations, 4096);
  assert.equal(directory.scramCredentials('ben'), undefined, 'a user written without SCRAM keys cannot use SCRAM');
});

test('a reload takes the new users, reports the removed ones, and keeps the old users when the file no longer reads', async () => {
  const path = await usersFile();
  const logger = recordingLogger();
  const removed: string[][] = [];
  const directory = new UsersFileDirectory(path, logger, { watch: false, onRemoved: (names) => removed.push(names) });
  const model = readUsersFile(path);
  model.users.delete('ben');
  model.users.set('cay', { password: await hashPassword('cay-pw', CHEAP), groups: ['new'], tokens: [] });
  writeUsersFile(path, model);
  directory.reload();
  assert.deepEqual(removed, [['ben']]);
  assert.deepEqual(await directory.verify('cay', 'cay-pw'), { name: 'cay', groups: ['new'] });
  assert.equal(await directory.verify('ben', 'ben-pw'), undefined);

  writeFileSync(path, 'users:\n  cay:\n    password: plain-cay-pw\n');
  directory.reload();
  const failure = logger.lines.find((l) => l.fields['event'] === 'security.users-reload-failed');
  assert.equal(failure?.level, 'error');
  assert.ok(!JSON.stringify(failure).includes('plain-cay-pw'), 'the log never shows what the password field held');
  assert.deepEqual(await directory.verify('cay', 'cay-pw'), { name: 'cay', groups: ['new'] }, 'the users before the broken change stay');
  assert.equal(removed.length, 1);
});

test('the reload watcher sees a file renamed over the users file', async () => {
  const path = await usersFile();
  // the watcher and its timer do not hold the process open (a broker stops without closing them first); this does, until the change is seen
  const keepAlive = setTimeout(() => assert.fail('the change was not seen within 5 s'), 5000);
  const changed = new Promise<string[]>((resolve) => {
    const directory = new UsersFileDirectory(path, recordingLogger(), {
      onRemoved: (names) => {
        directory.close();
        resolve(names);
      },
    });
  });
  const model = readUsersFile(path);
  model.users.delete('ann');
  writeUsersFile(path, model);
  assert.deepEqual(await changed, ['ann']);
  clearTimeout(keepAlive);
});
