import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/index.js';
import { parsePasswordHash, parseScramCredentials, verifyPassword } from '../../src/security/passwords.js';
import { readUsersFile, tokenHash, UsersFileDirectory, writeUsersFile } from '../../src/security/users-file.js';
import { startBroker } from '../helpers/broker.js';
import { ferryBin, runFerry } from '../helpers/process.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ferry-cli-user-'));

async function verifies(path: string, name: string, password: string): Promise<boolean> {
  const entry = readUsersFile(path).users.get(name);
  assert.ok(entry !== undefined, `user ${name} is in the file`);
  return verifyPassword(password, parsePasswordHash(entry.password, name));
}

test('ferry user add, passwd, list and remove, with the password on standard input', async () => {
  const file = join(tmp(), 'users.yaml');
  const added = await runFerry(['user', 'add', 'alice', '--groups', 'admins, ops', '--file', file], { input: 'alice-secret\n' });
  assert.equal(added.code, 0, added.stderr);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /written by "ferry user"/);
  assert.ok(!text.includes('alice-secret'), 'the file holds no password');
  const entry = readUsersFile(file).users.get('alice')!;
  assert.match(entry.password, /^scrypt\$/);
  assert.deepEqual(entry.groups, ['admins', 'ops']);
  assert.equal(parseScramCredentials(entry.scram!, 'alice').iterations, 4096);
  assert.ok(await verifies(file, 'alice', 'alice-secret'));
  assert.ok(!(await verifies(file, 'alice', 'alice-secret\n')), 'the line end is not part of the password');

  // the directory the broker uses agrees
  const directory = new UsersFileDirectory(file, silentLogger);
  try {
    assert.deepEqual(await directory.verify('alice', 'alice-secret'), { name: 'alice', groups: ['admins', 'ops'] });
    assert.ok(directory.scramCredentials('alice') !== undefined);
  } finally {
    directory.close();
  }

  const twice = await runFerry(['user', 'add', 'alice', '--file', file], { input: 'other\n' });
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /user "alice" already exists/);
  assert.ok(await verifies(file, 'alice', 'alice-secret'), 'a refused add changes nothing');

  const bob = await runFerry(['user', 'add', 'bob', '--file', file], { input: 'bob-secret\r\nignored second line\n' });
  assert.equal(bob.code, 0, bob.stderr);
  assert.ok(await verifies(file, 'bob', 'bob-secret'));

  const changed = await runFerry(['user', 'passwd', 'alice', '--file', file], { input: 'new-secret\n' });
  assert.equal(changed.code, 0, changed.stderr);
  assert.ok(await verifies(file, 'alice', 'new-secret'));
  assert.ok(!(await verifies(file, 'alice', 'alice-secret')));
  assert.deepEqual(readUsersFile(file).users.get('alice')!.groups, ['admins', 'ops'], 'passwd keeps the groups');

  const short = await runFerry(['passwd', 'bob', '--file', file], { input: 'bob-2\n' });
  assert.equal(short.code, 0, short.stderr);
  assert.ok(await verifies(file, 'bob', 'bob-2'));
  const regrouped = await runFerry(['passwd', 'bob', '--groups', 'readers', '--file', file], { input: 'bob-3\n' });
  assert.equal(regrouped.code, 0, regrouped.stderr);
  assert.deepEqual(readUsersFile(file).users.get('bob')!.groups, ['readers']);
  const ungrouped = await runFerry(['passwd', 'bob', '--groups', '', '--file', file], { input: 'bob-4\n' });
  assert.equal(ungrouped.code, 0, ungrouped.stderr);
  assert.deepEqual(readUsersFile(file).users.get('bob')!.groups, []);

  const listed = await runFerry(['user', 'list', '--file', file]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.stdout.split('\n').map((l) => l.trimEnd().split(/\s+/)), [['alice', 'admins,ops'], ['bob'], ['']]);
  assert.doesNotMatch(listed.stdout, /scrypt|SCRAM/);

  const removed = await runFerry(['user', 'remove', 'bob', '--file', file]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual([...readUsersFile(file).users.keys()], ['alice']);
  const missing = await runFerry(['user', 'remove', 'bob', '--file', file]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no user "bob"/);
});

test('ferry user groups changes a user\'s groups without asking for a password, and keeps the password, SCRAM keys and tokens', async () => {
  const file = join(tmp(), 'users.yaml');
  const added = await runFerry(['user', 'add', 'carol', '--groups', 'readers', '--file', file], { input: 'carol-secret\n' });
  assert.equal(added.code, 0, added.stderr);
  const token = await runFerry(['user', 'token', 'carol', '--file', file]);
  assert.equal(token.code, 0, token.stderr);
  const before = readUsersFile(file).users.get('carol')!;

  // nothing on standard input: a password asked for would make it fail with "no password on standard input"
  const regrouped = await runFerry(['user', 'groups', 'carol', '--groups', 'writers, ops', '--file', file]);
  assert.equal(regrouped.code, 0, regrouped.stderr);
  assert.match(regrouped.stderr, /set the groups of "carol" in .* to writers,ops/);
  const after = readUsersFile(file).users.get('carol')!;
  assert.deepEqual(after, { ...before, groups: ['writers', 'ops'] }, 'only the groups changed');
  const directory = new UsersFileDirectory(file, silentLogger);
  try {
    assert.deepEqual(await directory.verify('carol', 'carol-secret'), { name: 'carol', groups: ['writers', 'ops'] });
  } finally {
    directory.close();
  }

  const shown = await runFerry(['user', 'groups', 'carol', '--file', file]);
  assert.deepEqual([shown.code, shown.stdout], [0, 'writers,ops\n']);
  const none = await runFerry(['user', 'groups', 'carol', '--groups', '', '--file', file]);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(readUsersFile(file).users.get('carol'), { ...before, groups: [] });

  const missing = await runFerry(['user', 'groups', 'dave', '--groups', 'ops', '--file', file]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no user "dave"/);
  const usage = await runFerry(['user', 'groups', '--file', file]);
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /^ferry: FERRY_CLI_USAGE: ferry user groups needs a user name/);
});

test('ferry user refuses an empty password, a missing one, and a name the broker would refuse', async () => {
  const file = join(tmp(), 'users.yaml');
  for (const input of ['', '\n']) {
    const result = await runFerry(['user', 'add', 'alice', '--file', file], { input });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no password on standard input/);
  }
  const spaced = await runFerry(['user', 'add', 'al ice', '--file', file], { input: 'pw\n' });
  assert.equal(spaced.code, 1);
  assert.match(spaced.stderr, /"al ice": a user name has no spaces/);
  assert.throws(() => statSync(file), 'nothing was written');
  const usage = await runFerry(['user', 'add', '--file', file]);
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /^ferry: FERRY_CLI_USAGE: ferry user add needs a user name\n\nUsage: ferry user/);
});

test('ferry user token prints a token once and keeps only its SHA-256', async () => {
  const file = join(tmp(), 'users.yaml');
  assert.equal((await runFerry(['user', 'add', 'ops', '--groups', 'admins', '--file', file], { input: 'ops-secret\n' })).code, 0);
  const made = await runFerry(['user', 'token', 'ops', '--file', file]);
  assert.equal(made.code, 0, made.stderr);
  const token = made.stdout.trim();
  assert.match(token, /^ferry_[A-Za-z0-9_-]{43}$/, 'a prefix, then 256 random bits in base64url: it never starts with a dash');
  assert.ok(!readFileSync(file, 'utf8').includes(token), 'the token itself is not stored');
  assert.match(readUsersFile(file).users.get('ops')!.tokens[0]!, /^sha256\$[0-9a-f]{64}$/);
  const directory = new UsersFileDirectory(file, silentLogger);
  try {
    assert.deepEqual(directory.tokenUser(token), { name: 'ops', groups: ['admins'] });
  } finally {
    directory.close();
  }
  const second = await runFerry(['user', 'token', 'ops', '--file', file]);
  assert.notEqual(second.stdout.trim(), token);
  assert.equal(readUsersFile(file).users.get('ops')!.tokens.length, 2);
});

test('a token works as the documented --token "$TOKEN", a new one and an older one that starts with a dash alike', async () => {
  const file = join(tmp(), 'users.yaml');
  assert.equal((await runFerry(['user', 'add', 'ops', '--groups', 'admins', '--file', file], { input: 'ops-secret\n' })).code, 0);
  const made = await runFerry(['user', 'token', 'ops', '--file', file]);
  assert.equal(made.code, 0, made.stderr);
  // base64url without a prefix, as tokens were made before: 1 in 64 of them starts with a dash
  const older = '-Abc_def0123456789abcdefghijklmnopqrstuvwxy';
  const model = readUsersFile(file);
  const ops = model.users.get('ops')!;
  model.users.set('ops', { ...ops, tokens: [...ops.tokens, tokenHash(older)] });
  writeUsersFile(file, model);
  const broker = await startBroker({ 'security.users': file });
  try {
    const url = `http://127.0.0.1:${broker.server.ports['http']}`;
    for (const token of [made.stdout.trim(), older]) {
      const queue = `token.q${token.length}${token[0] === '-' ? 'dash' : ''}`;
      const created = await fetch(`${url}/api/v1/destinations`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'queue', name: queue }) });
      assert.equal(created.status, 201);
      const purged = await runFerry(['purge', queue, '--token', token, '--url', url]);
      assert.equal(purged.code, 0, `${token}: ${purged.stderr}`);
    }
    const wrong = await runFerry(['purge', 'token.q', '--token', '-not-a-token', '--url', url]);
    assert.equal(wrong.code, 3, 'a refusal, not a usage error');
    assert.match(wrong.stderr, /FERRY_AUTHENTICATION_FAILED/);
  } finally {
    await broker.stop();
  }
});

test('ferry user finds the users file through --config or FERRY_CONFIG, relative to the configuration file', async () => {
  const dir = tmp();
  const config = join(dir, 'ferry.yaml');
  writeFileSync(config, 'security:\n  users: accounts.yaml\n');
  const viaOption = await runFerry(['user', 'add', 'alice', '--config', config], { input: 'a-secret\n' });
  assert.equal(viaOption.code, 0, viaOption.stderr);
  assert.ok(await verifies(join(dir, 'accounts.yaml'), 'alice', 'a-secret'));
  const viaEnv = await runFerry(['user', 'add', 'bob'], { input: 'b-secret\n', env: { FERRY_CONFIG: config } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.ok(await verifies(join(dir, 'accounts.yaml'), 'bob', 'b-secret'));
});

/**
 * Runs `ferry ARGS` on a terminal of its own (util-linux `script` gives it one), answering each
 * prompt as it appears; resolves with the exit code and everything the terminal showed.
 */
function onTerminal(args: string[], answers: [prompt: string, reply: string][]): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, ferryBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let answered = 0;
  let seen = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString();
    const next = answers[answered];
    const at = next === undefined ? -1 : screen.indexOf(next[0], seen);
    if (at < 0) return;
    seen = at + next![0].length;
    answered++;
    child.stdin.write(`${next![1]}\r`);
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, screen })));
}

const terminalMissing = spawnSync('script', ['--version']).error === undefined ? undefined : 'util-linux script is not installed';

test('on a terminal the password is asked twice without echo, and two different answers are refused', { skip: terminalMissing }, async () => {
  const file = join(tmp(), 'users.yaml');
  const added = await onTerminal(['user', 'add', 'tty', '--file', file], [['Password for tty: ', 'tty-secret'], ['Again: ', 'tty-secret']]);
  assert.equal(added.code, 0, added.screen);
  assert.ok(!added.screen.includes('tty-secret'), `the password is not echoed: ${JSON.stringify(added.screen)}`);
  assert.ok(await verifies(file, 'tty', 'tty-secret'));

  const mismatch = await onTerminal(['user', 'passwd', 'tty', '--file', file], [['Password for tty: ', 'one'], ['Again: ', 'two']]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.screen, /the passwords do not match/);
  assert.ok(await verifies(file, 'tty', 'tty-secret'), 'nothing changed');
});
