import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryError, isFerryError } from '../../src/errors.js';
import { silentLogger, type ConnectRequest, type Principal } from '../../src/core/index.js';
import { SecurityAuthenticator, hostOf, isLoopback } from '../../src/security/authenticator.js';
import type { DirectoryUser, UserDirectory } from '../../src/security/directory.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { hashPassword, makeScramCredentials, parsePasswordHash, parseScramCredentials, verifyPassword } from '../../src/security/passwords.js';
import { scramExchange } from '../../src/security/scram.js';
import { ScramClient } from '../helpers/scram-client.js';

const CHEAP = { N: 1024, r: 8, p: 1 };

/** A directory over users kept in memory, with real scrypt hashes. */
async function memoryDirectory(users: Record<string, { password: string; groups: string[] }>): Promise<UserDirectory> {
  const hashes = new Map<string, { hash: ReturnType<typeof parsePasswordHash>; user: DirectoryUser }>();
  for (const [name, u] of Object.entries(users)) hashes.set(name, { hash: parsePasswordHash(await hashPassword(u.password, CHEAP), name), user: { name, groups: u.groups } });
  return {
    description: 'memory',
    async verify(name, password) {
      const entry = hashes.get(name);
      if (entry === undefined) return undefined;
      return (await verifyPassword(password, entry.hash)) ? entry.user : 'wrong-password';
    },
    async lookup(name) {
      return hashes.get(name)?.user;
    },
    tokenUser: (token) => (token === 'tok-1' ? { name: 'ops', groups: ['admins'] } : undefined),
  };
}

/** A clock and sleep the test drives: a wait resolves only when the test moves time past it. */
function manualTime() {
  let now = 1_000_000;
  const sleepers: { until: number; resolve: () => void }[] = [];
  return {
    clock: () => now,
    sleep: (ms: number) => new Promise<void>((resolve) => sleepers.push({ until: now + ms, resolve })),
    advance(ms: number) {
      now += ms;
      for (const s of sleepers.filter((s) => s.until <= now)) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.resolve();
      }
    },
    get waiting() {
      return sleepers.length;
    },
    /** Moves time to the end of the earliest wait. */
    advanceToNext() {
      this.advance(Math.min(...sleepers.map((s) => s.until)) - now);
    },
  };
}

const request = (credentials: ConnectRequest['credentials'], remoteAddress = '10.0.0.5', peerCertificate?: ConnectRequest['transport']['peerCertificate']): ConnectRequest => ({
  protocol: 'stomp',
  transport: { remoteAddress, peerCertificate },
  credentials,
});

/** Lets every pending promise callback and immediate run, so what can proceed has. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/** Moves the driven clock to `ms` after the time it started at. */
const advanceTo = (time: ReturnType<typeof manualTime>, ms: number): void => time.advance(1_000_000 + ms - time.clock());

const refusal = (err: unknown): boolean => isFerryError(err, 'FERRY_AUTHENTICATION_FAILED');

async function authenticator(options: Partial<ConstructorParameters<typeof SecurityAuthenticator>[0]> = {}, time = manualTime()) {
  const directory = await memoryDirectory({ alice: { password: 'alice-secret', groups: ['shop'] }, guest: { password: 'x', groups: ['visitors'] } });
  return new SecurityAuthenticator({
    directories: [directory],
    loginDelay: new LoginDelay({ initial: 200, max: 10_000, forgetAfter: 600_000, clock: time.clock, sleep: time.sleep }),
    logger: silentLogger,
    ...options,
  });
}

test('loopback addresses are told apart from others', () => {
  for (const a of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1', '127.0.0.1:5000', '[::1]:5000', '[::ffff:127.0.0.1]:61613']) assert.ok(isLoopback(a), a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '192.168.1.1', 'fe80::1', '', '10.0.0.1:5000', '[fe80::1]:5000', '[::1:5]:80']) assert.ok(!isLoopback(a), a);
  assert.equal(hostOf('10.1.2.3:4711'), '10.1.2.3');
  assert.equal(hostOf('[2001:db8::1]:4711'), '2001:db8::1');
});

test('a user logs in with the right password and gets its groups; a wrong password and an unknown user are refused alike', async () => {
  const auth = await authenticator();
  const principal: Principal = await auth.authenticate(request({ username: 'alice', password: 'alice-secret' }));
  assert.deepEqual(principal, { username: 'alice', groups: ['shop'], internal: false });
  const wrong = await auth.authenticate(request({ username: 'alice', password: 'nope' }, '10.0.0.6')).catch((e: Error) => e);
  const unknown = await auth.authenticate(request({ username: 'mallory', password: 'nope' }, '10.0.0.7')).catch((e: Error) => e);
  assert.ok(refusal(wrong) && refusal(unknown));
  assert.equal((wrong as Error).message, (unknown as Error).message);
  assert.ok(!(wrong as Error).message.includes('nope'));
});

test('with users configured, anonymous clients are refused unless security.anonymous names a user, whose groups they get', async () => {
  const strict = await authenticator();
  await assert.rejects(strict.authenticate(request(undefined, '127.0.0.1')), /user name and password are required/);
  assert.ok(!strict.mechanisms({ remoteAddress: '127.0.0.1' }).includes('ANONYMOUS'));
  const open = await authenticator({ anonymousUser: 'guest' });
  assert.deepEqual(await open.authenticate(request(undefined, '10.1.1.1')), { username: undefined, groups: ['visitors'], internal: false });
  assert.ok(open.mechanisms({ remoteAddress: '10.1.1.1' }).includes('ANONYMOUS'));
});

test('with no users configured, clients are accepted from loopback only, as who they say they are', async () => {
  const auth = await authenticator({ directories: [] });
  assert.deepEqual(await auth.authenticate(request({ username: 'app' }, '127.0.0.1')), { username: 'app', groups: [], internal: false });
  assert.deepEqual(await auth.authenticate(request(undefined, '::1')), { username: undefined, groups: [], internal: false });
  await assert.rejects(auth.authenticate(request({ username: 'app', password: 'p' }, '192.168.7.7')), (err: Error) => {
    assert.ok(refusal(err));
    assert.match(err.message, /only loopback clients \(127\.0\.0\.0\/8, ::1\) may connect.*192\.168\.7\.7.*security\.users/);
    return true;
  });
  assert.deepEqual(auth.mechanisms({ remoteAddress: '127.0.0.1' }), ['PLAIN', 'ANONYMOUS']);
  assert.deepEqual(auth.mechanisms({ remoteAddress: '192.168.7.7' }), ['PLAIN']);
});

test('a verified certificate names its user by the first matching rule; EXTERNAL is offered only with one', async () => {
  const auth = await authenticator({ certificateRules: [{ san: '^email:(\\w+)@shop\\.example$', user: '$1' }, { subject: '(?:^|,)CN=([^,]+)', user: '$1' }] });
  const cert = (subject: string, sans: string[] = []) => ({ subject, subjectAltNames: sans, fingerprint256: 'AA' });
  assert.deepEqual(await auth.authenticate(request({ external: true }, '10.0.0.9', cert('CN=alice,O=Shop'))), { username: 'alice', groups: ['shop'], internal: false });
  assert.deepEqual(await auth.authenticate(request(undefined, '10.0.0.9', cert('CN=nobody', ['email:guest@shop.example']))), { username: 'guest', groups: ['visitors'], internal: false });
  await assert.rejects(auth.authenticate(request({ external: true }, '10.0.0.10', cert('CN=mallory'))), /certificate's user "mallory" is not a known user/);
  await assert.rejects(auth.authenticate(request({ external: true }, '10.0.0.11')), /no verified client certificate/);
  assert.ok(auth.mechanisms({ remoteAddress: '10.0.0.9', peerCertificate: cert('CN=alice') }).includes('EXTERNAL'));
  assert.ok(!auth.mechanisms({ remoteAddress: '10.0.0.9' }).includes('EXTERNAL'));
});

test('a management token names its user', async () => {
  const auth = await authenticator();
  assert.deepEqual(await auth.authenticate(request({ token: 'tok-1' })), { username: 'ops', groups: ['admins'], internal: false });
  await assert.rejects(auth.authenticate(request({ token: 'tok-2' }, '10.9.9.9')), /unknown or revoked token/);
});

test('PLAIN, EXTERNAL and ANONYMOUS as one-step SASL exchanges: the outcome is the decision, and connect takes the exchange', async () => {
  const auth = await authenticator({ anonymousUser: 'guest' });
  const transport = { remoteAddress: '10.0.0.20' };
  const plain = auth.startExchange('PLAIN', transport)!;
  assert.deepEqual(await plain.respond(Buffer.from('\u0000alice\u0000alice-secret')), { done: true, additionalData: undefined });
  assert.equal(plain.username, 'alice');
  assert.deepEqual(await auth.authenticate({ protocol: 'amqp', transport, credentials: { exchange: plain }, clientId: 'c1' }), { username: 'alice', groups: ['shop'], internal: false });
  const bad = auth.startExchange('PLAIN', { remoteAddress: '10.0.0.21' })!;
  await assert.rejects(bad.respond(Buffer.from('\u0000alice\u0000wrong')), refusal);
  await assert.rejects(auth.authenticate({ protocol: 'amqp', transport, credentials: { exchange: bad } }), /did not prove a user/);
  await assert.rejects(auth.startExchange('PLAIN', transport)!.respond(Buffer.from('alice:secret')), (err) => isFerryError(err, 'FERRY_SASL_MALFORMED'));
  await assert.rejects(auth.startExchange('PLAIN', { remoteAddress: '10.0.0.22' })!.respond(Buffer.from('guest\u0000alice\u0000alice-secret')), /another user/);
  const anonymous = auth.startExchange('ANONYMOUS', transport)!;
  await anonymous.respond(Buffer.from('trace'));
  assert.deepEqual(await auth.authenticate({ protocol: 'amqp', transport, credentials: { exchange: anonymous } }), { username: undefined, groups: ['visitors'], internal: false });
  assert.equal(auth.startExchange('EXTERNAL', transport), undefined, 'EXTERNAL needs a certificate');
  assert.equal(auth.startExchange('CRAM-MD5', transport), undefined);
});

test('failed logins from one address wait longer each time, others do not wait, and a success starts afresh', async () => {
  const time = manualTime();
  const auth = await authenticator({}, time);
  const guess = (address: string, password: string) => auth.authenticate(request({ username: 'alice', password }, address));
  await assert.rejects(guess('10.6.6.6', 'a'), refusal);
  // the next guess from that address waits 200 ms before it is even checked
  let settled = false;
  const second = guess('10.6.6.6', 'b').then(
    () => assert.fail('a wrong password passed'),
    (err: unknown) => {
      settled = true;
      assert.ok(refusal(err));
    },
  );
  // another address is not held up
  assert.equal((await guess('10.7.7.7', 'alice-secret')).username, 'alice');
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
  assert.equal(time.waiting, 1);
  time.advance(199);
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
  time.advance(1);
  await second;
  // two failures: the third waits 400 ms (doubling), up to the maximum
  const loginDelay = (auth as unknown as { options: { loginDelay: LoginDelay } }).options.loginDelay;
  assert.equal(loginDelay.delayOf('10.6.6.6'), 400);
  for (let i = 0; i < 10; i++) loginDelay.failed('10.6.6.6', 'alice');
  assert.equal(loginDelay.delayOf('10.6.6.6'), 10_000);
  time.advance(10_000);
  assert.equal((await guess('10.6.6.6', 'alice-secret')).username, 'alice');
  assert.equal(loginDelay.delayOf('10.6.6.6'), 0);
  // a connection's address comes with its port: every port of an address counts as that address
  await assert.rejects(guess('10.8.8.8:4711', 'd'), refusal);
  assert.equal(loginDelay.delayOf('10.8.8.8'), 200);
});

test('guesses sent side by side from one address are checked one at a time, a delay apart, not all when one wait ends', async () => {
  const time = manualTime();
  const directory = await memoryDirectory({ alice: { password: 'alice-secret', groups: ['shop'] } });
  let checked = 0;
  // counts each password the directory is asked to judge, and judges it at once (no scrypt on the thread pool)
  const counting: typeof directory = { ...directory, verify: async () => (checked++, 'wrong-password' as const) };
  const auth = await authenticator({ directories: [counting] }, time);
  const guess = (password: string) => auth.authenticate(request({ username: 'alice', password }, '10.9.9.9'));
  await assert.rejects(guess('first'), refusal);
  checked = 0;
  const guesses = ['a', 'b', 'c', 'd'].map((p) => assert.rejects(guess(p), refusal));
  await settle();
  assert.equal(checked, 0);
  // each guess has its own turn, a delay after the one before; the two at the front have theirs at
  // 200 and 400 ms, and each later one waits for an earlier one's failure, whose longer delay it gets
  for (const [expected, at] of [[1, 200], [2, 400], [3, 600], [4, 1200]] as const) {
    advanceTo(time, at - 1);
    await settle();
    assert.equal(checked, expected - 1, `before turn ${expected} at ${at} ms`);
    time.advance(1);
    await settle();
    assert.equal(checked, expected, `at turn ${expected} at ${at} ms`);
  }
  await Promise.all(guesses);
});


test('guesses sent at once from a fresh address are checked two at a time, each next one only after an outcome and its delay', async () => {
  const time = manualTime();
  const directory = await memoryDirectory({ alice: { password: 'alice-secret', groups: ['shop'] } });
  const judged: string[] = [];
  // judges at once (no scrypt on the thread pool) and records which password it was asked about
  const recording: UserDirectory = {
    ...directory,
    verify: async (name, password) => (judged.push(password), password === 'alice-secret' ? { name, groups: ['shop'] } : 'wrong-password'),
  };
  const auth = await authenticator({ directories: [recording] }, time);
  const outcomes: string[] = [];
  const guesses = ['a', 'b', 'c', 'd', 'e', 'alice-secret'].map((password) =>
    auth.authenticate(request({ username: 'alice', password }, '10.4.4.4')).then(
      () => void outcomes.push(`${password}: accepted`),
      (err: unknown) => void outcomes.push(`${password}: ${refusal(err) ? 'refused' : String(err)}`),
    ),
  );
  await settle();
  assert.deepEqual(judged, ['a', 'b'], 'no failure was recorded yet, and still only two were checked at once');
  assert.deepEqual(outcomes, ['a: refused', 'b: refused']);
  // two failures: 400 ms to the next turn, each further one a delay after the one before
  for (const [at, password] of [[400, 'c'], [800, 'd'], [1200, 'e'], [2400, 'alice-secret']] as const) {
    advanceTo(time, at - 1);
    await settle();
    assert.equal(judged.at(-1) === password, false, `${password} was checked before its turn at ${at} ms`);
    time.advance(1);
    await settle();
    assert.equal(judged.at(-1), password, `${password} at ${at} ms`);
  }
  await Promise.all(guesses);
  assert.deepEqual(outcomes, ['a: refused', 'b: refused', 'c: refused', 'd: refused', 'e: refused', 'alice-secret: accepted']);
  // the success started the address afresh, and the turns were all given back
  assert.equal((await auth.authenticate(request({ username: 'alice', password: 'alice-secret' }, '10.4.4.4'))).username, 'alice');
});

test('a login refused because the directory did not answer gives its turn back and adds no wait', async () => {
  const time = manualTime();
  let down = true;
  const directory = await memoryDirectory({ alice: { password: 'alice-secret', groups: ['shop'] } });
  const flaky: UserDirectory = { ...directory, verify: (name, password) => (down ? Promise.reject(new Error('directory down')) : directory.verify(name, password)) };
  const auth = await authenticator({ directories: [flaky] }, time);
  const tries = Array.from({ length: 5 }, () => assert.rejects(auth.authenticate(request({ username: 'alice', password: 'alice-secret' }, '10.4.4.5')), /directory down/));
  await Promise.all(tries);
  down = false;
  assert.equal((await auth.authenticate(request({ username: 'alice', password: 'alice-secret' }, '10.4.4.5'))).username, 'alice');
  assert.equal(time.waiting, 0);
});

test('SCRAM steps from one address take turns like other logins: the proofs sent at once wait for the first failures', async () => {
  const time = manualTime();
  let proofsChecked = 0;
  // an exchange of two steps whose proof is always wrong, counting the proofs it judged
  const scram: NonNullable<ConstructorParameters<typeof SecurityAuthenticator>[0]['scram']> = () => {
    let step = 0;
    return {
      mechanism: 'SCRAM-SHA-256',
      username: undefined,
      async respond() {
        if (step++ === 0) return { done: false, challenge: Buffer.from('server-first') };
        proofsChecked++;
        throw new FerryError('FERRY_AUTHENTICATION_FAILED', 'wrong proof');
      },
    };
  };
  const directory = await memoryDirectory({ alice: { password: 'alice-secret', groups: ['shop'] } });
  const auth = await authenticator({ directories: [{ ...directory, scramCredentials: () => undefined }], scram }, time);
  const transport = { remoteAddress: '10.4.4.6' };
  const exchanges = Array.from({ length: 5 }, () => auth.startExchange('SCRAM-SHA-256', transport)!);
  // the first steps judge nothing: none of them waits for another
  for (const exchange of exchanges) assert.equal((await exchange.respond(Buffer.from('client-first'))).done, false);
  const proofs = exchanges.map((exchange) => assert.rejects(exchange.respond(Buffer.from('client-final')), refusal));
  await settle();
  assert.equal(proofsChecked, 2);
  time.advance(400);
  await settle();
  assert.equal(proofsChecked, 3);
  time.advance(10_000);
  await settle();
  time.advance(10_000);
  await settle();
  await Promise.all(proofs);
  assert.equal(proofsChecked, 5);
});

test("a success clears the failures of its own user name at the address only: logging in as oneself between guesses at another's password does not speed them up", async () => {
  const time = manualTime();
  const auth = await authenticator({}, time);
  const loginDelay = (auth as unknown as { options: { loginDelay: LoginDelay } }).options.loginDelay;
  const from = (username: string, password: string) => auth.authenticate(request({ username, password }, '10.5.5.5'));
  /** Logs in once the turn it waits for comes, and answers how long it waited. */
  const waited = async (login: Promise<unknown>): Promise<number> => {
    const start = time.clock();
    for (;;) {
      await settle();
      if (time.waiting === 0) break;
      time.advanceToNext();
    }
    await login.catch(() => undefined);
    return time.clock() - start;
  };
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    waits.push(await waited(assert.rejects(from('alice', `guess-${i}`), refusal)));
    // the attacker's own account: its success must not clear alice's failures
    assert.ok((await waited(from('guest', 'x').then((p) => assert.equal(p.username, 'guest')))) > 0, 'the attacker waits its turn too');
  }
  assert.ok(waits[3]! > waits[1]!, `the guesses at alice's password waited longer each time: ${waits.join(', ')}`);
  assert.ok(loginDelay.delayOf('10.5.5.5') > 0);
  // alice herself logging in clears her own failures: the address starts afresh
  await waited(from('alice', 'alice-secret'));
  assert.equal(loginDelay.delayOf('10.5.5.5'), 0);
});

test("a user's success leaves other names' failures at the address, with the delay their number gives, until the quiet spell forgets them", () => {
  let now = 1_000_000;
  const loginDelay = new LoginDelay({ initial: 200, max: 10_000, forgetAfter: 600_000, clock: () => now, sleep: () => Promise.resolve() });
  for (let i = 0; i < 3; i++) loginDelay.failed('10.5.5.6', 'alice');
  loginDelay.failed('10.5.5.6', 'bob');
  loginDelay.failed('10.5.5.6');
  assert.equal(loginDelay.delayOf('10.5.5.6'), 200 * 2 ** 4);
  loginDelay.succeeded('10.5.5.6', 'alice');
  // two failures left, bob's and the nameless one: the next login waits what two failures give
  assert.equal(loginDelay.delayOf('10.5.5.6'), 400);
  loginDelay.succeeded('10.5.5.6', 'bob');
  assert.equal(loginDelay.delayOf('10.5.5.6'), 200, 'a failure that named no user is cleared by no success');
  loginDelay.succeeded('10.5.5.6', undefined);
  assert.equal(loginDelay.delayOf('10.5.5.6'), 200);
  now += 600_001;
  assert.equal(loginDelay.delayOf('10.5.5.6'), 0, 'the quiet spell forgets them');
});

test("an address remembers the names of at most 100 users it failed for; older names' failures stay, cleared by no success", () => {
  const now = 1_000_000;
  const loginDelay = new LoginDelay({ initial: 1, max: 10_000_000, forgetAfter: 600_000, clock: () => now, sleep: () => Promise.resolve() });
  loginDelay.failed('10.5.5.7', 'alice');
  for (let i = 0; i < 100; i++) loginDelay.failed('10.5.5.7', `name-${i}`);
  const state = (loginDelay as unknown as { addresses: Map<string, { byName: Map<string, number> }> }).addresses.get('10.5.5.7')!;
  assert.equal(state.byName.size, 100);
  // alice's was the oldest name: her success no longer knows her failure, which keeps counting
  loginDelay.succeeded('10.5.5.7', 'alice');
  for (let i = 0; i < 100; i++) loginDelay.succeeded('10.5.5.7', `name-${i}`);
  assert.equal(loginDelay.delayOf('10.5.5.7'), 1);
});

test("a wrong SCRAM proof counts for the name its exchange claimed: cleared by that user's success, not by another's", async () => {
  const time = manualTime();
  const directory = await memoryDirectory({ alice: { password: 'alice-secret', groups: ['shop'] }, guest: { password: 'x', groups: ['visitors'] } });
  const keys = parseScramCredentials(await makeScramCredentials('alice-secret'), 'alice');
  const auth = await authenticator({ directories: [{ ...directory, scramCredentials: (name) => (name === 'alice' ? keys : undefined) }], scram: scramExchange }, time);
  const loginDelay = (auth as unknown as { options: { loginDelay: LoginDelay } }).options.loginDelay;
  const transport = { remoteAddress: '10.5.5.8' };
  const client = new ScramClient('alice', 'wrong');
  const exchange = auth.startExchange('SCRAM-SHA-256', transport)!;
  const first = await exchange.respond(client.clientFirst);
  assert.equal(first.done, false);
  await assert.rejects(exchange.respond(client.final(first.done ? Buffer.alloc(0) : first.challenge)), refusal);
  assert.equal(loginDelay.delayOf('10.5.5.8'), 200);
  loginDelay.succeeded('10.5.5.8', 'guest');
  assert.equal(loginDelay.delayOf('10.5.5.8'), 200, "guest's success leaves alice's failure");
  loginDelay.succeeded('10.5.5.8', 'alice');
  assert.equal(loginDelay.delayOf('10.5.5.8'), 0);
});
