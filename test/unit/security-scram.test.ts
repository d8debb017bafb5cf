import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { describe, test } from 'node:test';
import { isFerryError, type ErrorCode } from '../../src/errors.js';
import type { SaslStep } from '../../src/core/index.js';
import type { ScramCredentials } from '../../src/security/directory.js';
import { makeScramCredentials, parseScramCredentials, scramKeys } from '../../src/security/passwords.js';
import { ScramExchange } from '../../src/security/scram.js';
import { ScramClient } from '../helpers/scram-client.js';

// [RFC 7677] 3: user "user", password "pencil"
const RFC = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcKeys(): ScramCredentials {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  return { salt, iterations: 4096, ...scramKeys(pbkdf2Sync('pencil', salt, 4096, 32, 'sha256')) };
}

const SECRET = Buffer.from('a secret of the broker run, 32 b');

function exchange(users: Record<string, ScramCredentials>, nonce?: () => string, secret = SECRET): ScramExchange {
  return new ScramExchange({ credentials: (name) => users[name], secret, ...(nonce === undefined ? {} : { nonce }) });
}

const challengeOf = (step: SaslStep): string => {
  assert.equal(step.done, false);
  return (step as { challenge: Buffer }).challenge.toString('utf8');
};

async function rejects(promise: Promise<unknown>, code: ErrorCode, text?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isFerryError(err, code), `expected ${code}, got ${String(err)}`);
    if (text !== undefined) assert.match((err as Error).message, text);
    return true;
  });
}

describe('SCRAM-SHA-256, the server side', () => {
  test('the RFC 7677 test vector: server-first and server-final byte for byte', async () => {
    const scram = exchange({ user: rfcKeys() }, () => RFC.serverNonce);
    const first = await scram.respond(Buffer.from(RFC.clientFirst));
    assert.equal(challengeOf(first), RFC.serverFirst);
    assert.equal(scram.username, undefined);
    const final = await scram.respond(Buffer.from(RFC.clientFinal));
    assert.deepEqual(final, { done: true, additionalData: Buffer.from(RFC.serverFinal) });
    assert.equal(scram.username, 'user');
  });

  test('keys as the users file keeps them, a random nonce, and the test client', async () => {
    const keys = parseScramCredentials(await makeScramCredentials('s3cret, with a comma'), 'test');
    const scram = exchange({ alice: keys });
    const client = new ScramClient('alice', 's3cret, with a comma');
    const first = await scram.respond(client.clientFirst);
    const final = await scram.respond(client.final(Buffer.from(challengeOf(first))));
    assert.equal(final.done, true);
    assert.ok(client.verify(final.done ? final.additionalData : undefined));
    assert.equal(scram.username, 'alice');
  });

  test('y,, (a client able to bind the channel, told the server cannot) is accepted', async () => {
    const scram = exchange({ user: rfcKeys() });
    const client = new ScramClient('user', 'pencil', { gs2Header: 'y,,' });
    const final = await scram.respond(client.final(Buffer.from(challengeOf(await scram.respond(client.clientFirst)))));
    assert.equal(final.done, true);
  });

  test('names with , and = travel as =2C and =3D', async () => {
    const scram = exchange({ 'a,b=c': rfcKeys() });
    const client = new ScramClient('a,b=c', 'pencil');
    assert.match(client.clientFirst.toString(), /^n,,n=a=2Cb=3Dc,r=/);
    const final = await scram.respond(client.final(Buffer.from(challengeOf(await scram.respond(client.clientFirst)))));
    assert.equal(final.done, true);
    assert.equal(scram.username, 'a,b=c');
  });

  test('an authzid equal to the user is accepted; another user is refused', async () => {
    const same = exchange({ user: rfcKeys() }, () => RFC.serverNonce);
    await same.respond(Buffer.from('n,a=user,n=user,r=rOprNGfwEbeRWgbNEkqO'));
    const other = exchange({ user: rfcKeys() });
    await rejects(other.respond(Buffer.from('n,a=admin,n=user,r=abc')), 'FERRY_AUTHENTICATION_FAILED', /another user/);
  });

  test('a wrong password fails at the proof', async () => {
    const scram = exchange({ user: rfcKeys() });
    const client = new ScramClient('user', 'pencils');
    const first = await scram.respond(client.clientFirst);
    await rejects(scram.respond(client.final(Buffer.from(challengeOf(first)))), 'FERRY_AUTHENTICATION_FAILED', /unknown user or wrong password/);
    assert.equal(scram.username, undefined);
  });

  test('a proof made for another exchange\'s nonce fails', async () => {
    const scram = exchange({ user: rfcKeys() }, () => 'another-server-nonce');
    const first = await scram.respond(Buffer.from(RFC.clientFirst));
    const nonce = challengeOf(first).split(',')[0]!.slice(2);
    const replayed = RFC.clientFinal.replace(/r=[^,]+/, `r=${nonce}`);
    await rejects(scram.respond(Buffer.from(replayed)), 'FERRY_AUTHENTICATION_FAILED');
  });

  test('an unknown user gets a stable salt and 4096 iterations, and fails at the proof like a wrong password', async () => {
    const serverFirst = async (name: string, secret = SECRET) => challengeOf(await exchange({ user: rfcKeys() }, undefined, secret).respond(new ScramClient(name, 'x').clientFirst));
    const saltOf = (text: string) => text.split(',')[1]!;
    const a = await serverFirst('mallory');
    assert.match(a, /^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=4096$/);
    assert.equal(saltOf(await serverFirst('mallory')), saltOf(a));
    assert.notEqual(saltOf(await serverFirst('trudy')), saltOf(a));
    assert.notEqual(saltOf(await serverFirst('mallory', Buffer.from('another secret'))), saltOf(a));

    const scram = exchange({ user: rfcKeys() });
    const client = new ScramClient('mallory', 'pencil');
    const first = await scram.respond(client.clientFirst);
    await rejects(scram.respond(client.final(Buffer.from(challengeOf(first)))), 'FERRY_AUTHENTICATION_FAILED', /unknown user or wrong password/);
  });

  describe('malformed messages are FERRY_SASL_MALFORMED', () => {
    const firsts: Record<string, [string, RegExp]> = {
      'channel binding asked for': ['p=tls-unique,,n=user,r=abc', /channel binding/],
      'no gs2 header': ['n=user,r=abc', /gs2/],
      'an unknown gs2 flag': ['x,,n=user,r=abc', /gs2 flag/],
      'a second gs2 field that is not a=': ['n,b=user,n=user,r=abc', /a=authzid/],
      'the reserved m= first': ['n,,m=ext,n=user,r=abc', /m=/],
      'attributes out of order': ['n,,r=abc,n=user', /n=username/],
      'no nonce': ['n,,n=user', /r=nonce/],
      'an empty user': ['n,,n=,r=abc', /empty user/],
      'a bad =XX escape in the name': ['n,,n=us=41er,r=abc', /2C or 3D/],
      'an empty nonce': ['n,,n=user,r=', /nonce/],
      'a nonce with a space': ['n,,n=user,r=a b', /nonce/],
      'm= after the nonce': ['n,,n=user,r=abc,m=x', /attribute/],
    };
    for (const [name, [message, text]] of Object.entries(firsts)) {
      test(`client-first: ${name}`, async () => {
        await rejects(exchange({ user: rfcKeys() }).respond(Buffer.from(message)), 'FERRY_SASL_MALFORMED', text);
      });
    }

    test('client-first: bytes that are not UTF-8', async () => {
      await rejects(exchange({}).respond(Buffer.from([0x6e, 0x2c, 0x2c, 0xff, 0xfe])), 'FERRY_SASL_MALFORMED', /UTF-8/);
    });

    const finals: Record<string, [(valid: string) => string, RegExp]> = {
      'no proof': [(v) => v.replace(/,p=.*$/, ''), /p=proof/],
      'c= of another gs2 header': [(v) => v.replace('c=biws', 'c=eSws'), /gs2 header/],
      'c= missing': [(v) => v.replace('c=biws,', ''), /begin with c=/],
      'a nonce not the server\'s': [(v) => v.replace('k0,', 'k1,'), /nonce/],
      'attributes out of order': [(v) => v.replace(/^c=biws,(r=[^,]+)/, '$1,c=biws'), /begin with c=/],
      'a proof that is not base64': [(v) => v.replace(/p=.*$/, 'p=not*base64'), /base64/],
      'a proof of the wrong length': [(v) => v.replace(/p=.*$/, 'p=AAAA'), /bytes/],
      'an attribute after the proof': [(v) => `${v},x=1`, /base64/],
    };
    for (const [name, [mutate, text]] of Object.entries(finals)) {
      test(`client-final: ${name}`, async () => {
        const scram = exchange({ user: rfcKeys() }, () => RFC.serverNonce);
        await scram.respond(Buffer.from(RFC.clientFirst));
        await rejects(scram.respond(Buffer.from(mutate(RFC.clientFinal))), 'FERRY_SASL_MALFORMED', text);
        assert.equal(scram.username, undefined);
      });
    }

    test('a message after the exchange ended, well or badly', async () => {
      const done = exchange({ user: rfcKeys() }, () => RFC.serverNonce);
      await done.respond(Buffer.from(RFC.clientFirst));
      await done.respond(Buffer.from(RFC.clientFinal));
      await rejects(done.respond(Buffer.from(RFC.clientFinal)), 'FERRY_SASL_MALFORMED', /ended/);

      const failed = exchange({ user: rfcKeys() }, () => RFC.serverNonce);
      await rejects(failed.respond(Buffer.from('n,,r=x')), 'FERRY_SASL_MALFORMED');
      await rejects(failed.respond(Buffer.from(RFC.clientFirst)), 'FERRY_SASL_MALFORMED', /ended/);
    });
  });
});
