import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Logger } from '../../src/core/index.js';
import { isFerryError } from '../../src/errors.js';
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

/** Resolves with the next log line of `event`; holds the process open meanwhile (the watcher does not). */
function nextLine(logger: ReturnType<typeof recordingLogger>, event: string): Promise<Record<string, unknown>> {
  const seen = logger.lines.length;
  const keepAlive = setInterval(() => undefined, 1000);
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), 5000);
    const poll = setInterval(() => {
      const line = logger.lines.slice(seen).find((l) => l.fields['event'] === event);
      if (line === undefined) return;
      clearInterval(poll);
      clearTimeout(deadline);
      resolve(line.fields);
    }, 5);
  }).finally(() => clearInterval(keepAlive));
}

test('errors name the file, the user and the field, and never print a hash', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ferry-users-file-')), 'users.yaml');
  const hash = await hashPassword('pw', CHEAP);
  const salt = hash.split('$')[2]!;
  const cases: [string, RegExp][] = [
    [`users:\n  alice:\n    password: ${JSON.stringify(hash)}\n    groups: admins\n`, /users\.alice\.groups: Expected array/],
    [`users:\n  alice:\n    password: ${JSON.stringify(hash.slice(0, -4) + '!!!!')}\n`, /users\.alice\.password: the password is not a hash/],
    [`users:\n  alice:\n    groups: [a]\n`, /users\.alice\.password: Required/],
    [`users:\n  alice:\n    password: ${JSON.stringify(hash)}\n    tokens: [abc]\n`, /users\.alice\.tokens\.0: a token is kept as sha256/],
    [`users:\n  "al ice":\n    password: ${JSON.stringify(hash)}\n`, /a user name has no spaces/],
    [`users: [\n`, /is not valid YAML/],
  ];
  for (const [text, expected] of cases) {
    writeFileSync(path, text);
    assert.throws(
      () => readUsersFile(path),
      (err: unknown) => {
        assert.ok(isFerryError(err, 'FERRY_CONFIG_INVALID'), String(err));
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, expected);
        assert.ok(!err.message.includes(salt), 'no part of the hash is in the message');
        return true;
      },
    );
  }
});

test('writeUsersFile refuses, writing nothing, an entry the broker would refuse to read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-users-file-'));
  const path = join(dir, 'users.yaml');
  const good = { password: await hashPassword('pw', CHEAP), groups: [], tokens: [] };
  for (const [name, record, expected] of [
    ['al ice', good, /users\.al ice: a user name has no spaces/],
    ['alice', { ...good, password: 'plain-text' }, /users\.alice\.password: the password is not a hash/],
    ['alice', { ...good, tokens: ['t-plain'] }, /users\.alice\.tokens\.0/],
  ] as const) {
    assert.throws(() => writeUsersFile(path, { users: new Map([[name, record]]) }), (err: unknown) => isFerryError(err, 'FERRY_CONFIG_INVALID') && expected.test(err.message));
  }
  assert.deepEqual(readdirSync(dir), [], 'no file, not even a temporary one');
});

test('a stored token hash is not itself a token', async () => {
  const path = await usersFile();
  const directory = new UsersFileDirectory(path, recordingLogger(), { watch: false });
  assert.equal(directory.tokenUser(tokenHash('t-ann')), undefined);
  assert.equal(directory.tokenUser('t-ann '), undefined);
});

test('the watcher: a password changed by a rename works and the old one fails; a change written in place is seen; a deleted file keeps the users', async () => {
  const path = await usersFile();
  const logger = recordingLogger();
  const removed: string[][] = [];
  const directory = new UsersFileDirectory(path, logger, { onRemoved: (names) => removed.push(names) });
  try {
    const model = readUsersFile(path);
    model.users.set('ann', { ...model.users.get('ann')!, password: await hashPassword('ann-new', CHEAP) });
    let reloaded = nextLine(logger, 'security.users-reloaded');
    writeUsersFile(path, model);
    await reloaded;
    assert.deepEqual(await directory.verify('ann', 'ann-new'), { name: 'ann', groups: ['ops'] });
    assert.equal(await directory.verify('ann', 'ann-pw'), 'wrong-password');

    reloaded = nextLine(logger, 'security.users-reloaded');
    writeFileSync(path, readFileSync(path, 'utf8').replace('- ops', '- ops\n      - audit'));
    await reloaded;
    assert.deepEqual(await directory.lookup('ann'), { name: 'ann', groups: ['ops', 'audit'] });

    const failed = nextLine(logger, 'security.users-reload-failed');
    renameSync(path, `${path}.moved`);
    await failed;
    assert.equal(directory.size, 2);
    assert.deepEqual(await directory.verify('ann', 'ann-new'), { name: 'ann', groups: ['ops', 'audit'] });
    assert.deepEqual(removed, []);
  } finally {
    directory.close();
  }
});
