import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { ConnectionOptions } from 'rhea';
import { AMQP_HEADER, SASL_HEADER, connectAmqp, frame, frames, rawAmqp, readFrames, rhea, type RawAmqp } from '../helpers/amqp.js';
import { saslAuthenticator } from '../helpers/sasl.js';
import { ScramClient } from '../helpers/scram-client.js';

/** AMQP 1.0 SASL decided by the security core's authenticator: the outcome is its decision. */

let broker: TestBroker;
before(async () => {
  broker = await startBroker({}, { authenticator: await saslAuthenticator({ alice: 'alice-secret' }) });
});
after(async () => {
  await broker.stop();
});

const saslInit = (mechanism: string, initialResponse?: Buffer): Buffer =>
  frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism, ...(initialResponse === undefined ? {} : { initial_response: initialResponse }) })));
const saslResponse = (response: Buffer): Buffer => frames.write_frame(frames.sasl_frame(frames.sasl_response({ response })));
const plain = (user: string, password: string): Buffer => Buffer.from(`\u0000${user}\u0000${password}`);

/** Connects rhea with PLAIN; resolves with the error rhea reports once the broker ends the connection, rejects if it opens. */
function refusedLogin(username: string, password: string): Promise<{ condition: string; description: string }> {
  const connection = rhea.create_container({ id: `refused-${Math.random().toString(36).slice(2)}` }).connect({ host: '127.0.0.1', port: broker.amqpPort, reconnect: false, username, password } as ConnectionOptions);
  connection.on('connection_error', () => {});
  connection.on('error', () => {});
  return new Promise((resolve, reject) => {
    connection.once('connection_open', () => reject(new Error('the connection opened')));
    connection.once('disconnected', () => {
      const error = connection.get_error() as { condition: string; description: string } | undefined;
      if (error === undefined) reject(new Error('closed without an error'));
      else resolve({ condition: error.condition, description: error.description });
    });
  });
}

/** The SASL frames received after the header, once there are `count` of them. */
async function saslFrames(raw: RawAmqp, count: number): Promise<{ name: string; fields: Record<string, unknown> }[]> {
  for (;;) {
    const got = readFrames(raw.received().subarray(8));
    if (got.length >= count) return got;
    await raw.waitFor(raw.received().length + 1);
  }
}

describe('AMQP SASL with the security authenticator', () => {
  test('the broker offers what the authenticator offers: SCRAM-SHA-256 and PLAIN, no ANONYMOUS when users are configured', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(SASL_HEADER);
    const [mechanisms] = await saslFrames(raw, 1);
    assert.deepEqual([mechanisms!.fields['sasl_server_mechanisms']].flat(), ['SCRAM-SHA-256', 'PLAIN']);
    raw.socket.destroy();
  });

  test('rhea with PLAIN and the right password connects and sends', async () => {
    const client = await connectAmqp(broker.amqpPort, { username: 'alice', password: 'alice-secret' });
    const sender = await client.openSender('sasl.plain.ok');
    assert.deepEqual(await client.send(sender, { body: 'hello' }), { state: 'accepted' });
    await client.close();
  });

  test('rhea with PLAIN and a wrong password gets the SASL outcome auth, and the connection closes', async () => {
    // rhea reports the sasl-outcome's code in its error
    const refused = { condition: 'amqp:unauthorized-access', description: 'Failed to authenticate: 1' };
    assert.deepEqual(await refusedLogin('alice', 'wrong'), refused);
    assert.deepEqual(await refusedLogin('nobody', 'alice-secret'), refused);
  });

  test('a wrong PLAIN password on the wire: outcome code 1, then the socket ends, no open', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    // the AMQP header and open sent at once are never read
    raw.write(Buffer.concat([SASL_HEADER, saslInit('PLAIN', plain('alice', 'wrong')), AMQP_HEADER, frame(frames.open({ container_id: 'x' }))]));
    await raw.closed;
    const got = readFrames(raw.received().subarray(8));
    assert.deepEqual(got.map((f) => f.name), ['sasl_mechanisms', 'sasl_outcome']);
    assert.equal(got[1]!.fields['code'], 1);
  });

  test('the right PLAIN password with the AMQP header and open sent at once: they wait for the outcome, then open', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, saslInit('PLAIN', plain('alice', 'alice-secret')), AMQP_HEADER, frame(frames.open({ container_id: 'held' }))]));
    for (;;) {
      const bytes = await raw.waitFor(raw.received().length + 1);
      const at = bytes.indexOf(AMQP_HEADER, 8);
      if (at > 0 && readFrames(bytes.subarray(at)).some((f) => f.name === 'open')) break;
    }
    const sasl = readFrames(raw.received().subarray(8, raw.received().indexOf(AMQP_HEADER, 8)));
    assert.deepEqual(sasl.map((f) => [f.name, f.fields['code']]), [['sasl_mechanisms', undefined], ['sasl_outcome', 0]]);
    raw.socket.destroy();
  });

  async function scram(password: string): Promise<{ raw: RawAmqp; client: ScramClient; outcome: Record<string, unknown> }> {
    const client = new ScramClient('alice', password);
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, saslInit('SCRAM-SHA-256', client.clientFirst)]));
    const [, challenge] = await saslFrames(raw, 2);
    assert.equal(challenge!.name, 'sasl_challenge');
    raw.write(saslResponse(client.final(challenge!.fields['challenge'] as Buffer)));
    const [, , outcome] = await saslFrames(raw, 3);
    assert.equal(outcome!.name, 'sasl_outcome');
    return { raw, client, outcome: outcome!.fields };
  }

  test('SCRAM-SHA-256 with the right password: challenge, response, outcome ok carrying the server signature, then open', async () => {
    const { raw, client, outcome } = await scram('alice-secret');
    assert.equal(outcome['code'], 0);
    assert.ok(client.verify(outcome['additional_data'] as Buffer), 'the server proved it knows the keys');
    const before = raw.received().length;
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'scram' }))]));
    for (;;) {
      const bytes = await raw.waitFor(raw.received().length + 1);
      if (bytes.length >= before + 8 && readFrames(bytes.subarray(before + 8)).some((f) => f.name === 'open')) break;
    }
    raw.socket.destroy();
  });

  test('SCRAM-SHA-256 with a wrong password: outcome auth, the socket closes', async () => {
    const { raw, outcome } = await scram('wrong');
    assert.equal(outcome['code'], 1);
    await raw.closed;
  });

  test('a SCRAM sasl-init without its initial response gets an empty challenge first', async () => {
    const client = new ScramClient('alice', 'alice-secret');
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, saslInit('SCRAM-SHA-256')]));
    const [, empty] = await saslFrames(raw, 2);
    assert.equal(empty!.name, 'sasl_challenge');
    assert.equal((empty!.fields['challenge'] as Buffer).length, 0);
    raw.write(saslResponse(client.clientFirst));
    const [, , first] = await saslFrames(raw, 3);
    raw.write(saslResponse(client.final(first!.fields['challenge'] as Buffer)));
    const [, , , outcome] = await saslFrames(raw, 4);
    assert.equal(outcome!.fields['code'], 0);
    raw.socket.destroy();
  });

  test('a malformed SCRAM message (channel binding asked for) is outcome auth and a closed socket', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, saslInit('SCRAM-SHA-256', Buffer.from('p=tls-unique,,n=alice,r=abc'))]));
    await raw.closed;
    const got = readFrames(raw.received().subarray(8));
    assert.deepEqual(got.map((f) => [f.name, f.fields['code']]), [['sasl_mechanisms', undefined], ['sasl_outcome', 1]]);
  });

  test('a mechanism the broker does not offer (ANONYMOUS here) is outcome auth and a closed socket', async () => {
    for (const mechanism of ['ANONYMOUS', 'CRAM-MD5']) {
      const raw = await rawAmqp(broker.amqpPort);
      raw.write(Buffer.concat([SASL_HEADER, saslInit(mechanism, Buffer.from('x'))]));
      await raw.closed;
      const got = readFrames(raw.received().subarray(8));
      assert.deepEqual(got.map((f) => [f.name, f.fields['code']]), [['sasl_mechanisms', undefined], ['sasl_outcome', 1]], mechanism);
    }
  });

  test('a sasl-response where none was asked for ends the exchange with outcome sys-perm, then the socket', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, saslResponse(Buffer.from('x'))]));
    await raw.closed;
    const frames = readFrames(raw.received().subarray(8));
    assert.deepEqual(frames.map((f) => f.name), ['sasl_mechanisms', 'sasl_outcome']);
    assert.equal(frames[1]!.fields['code'], 3);
  });

  test('an AMQP frame where a SASL one is due, in the same read as the SASL header: the header and mechanisms, then outcome sys-perm', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, frame(frames.open({ container_id: 'early' }))]));
    await raw.closed;
    assert.equal(raw.received().subarray(0, 8).toString('hex'), SASL_HEADER.toString('hex'));
    const got = readFrames(raw.received().subarray(8));
    assert.deepEqual(got.map((f) => f.name), ['sasl_mechanisms', 'sasl_outcome']);
    assert.equal(got[1]!.fields['code'], 3);
  });

  test('other clients carry on while logins fail', async () => {
    const client = await connectAmqp(broker.amqpPort, { username: 'alice', password: 'alice-secret' });
    assert.equal((await refusedLogin('alice', 'wrong')).description, 'Failed to authenticate: 1');
    const sender = await client.openSender('sasl.carry.on');
    assert.deepEqual(await client.send(sender, { body: 'still here' }), { state: 'accepted' });
    await client.close();
  });
});

describe('AMQP SASL ANONYMOUS, where security.anonymous names a user', () => {
  let open: TestBroker;
  before(async () => {
    open = await startBroker({}, { authenticator: await saslAuthenticator({ alice: 'alice-secret', guest: 'unused' }, { anonymousUser: 'guest' }) });
  });
  after(async () => {
    await open.stop();
  });

  test('ANONYMOUS is offered last, and rhea without credentials logs in with it', async () => {
    const raw = await rawAmqp(open.amqpPort);
    raw.write(SASL_HEADER);
    const [mechanisms] = await saslFrames(raw, 1);
    assert.deepEqual([mechanisms!.fields['sasl_server_mechanisms']].flat(), ['SCRAM-SHA-256', 'PLAIN', 'ANONYMOUS']);
    raw.socket.destroy();
    const client = await connectAmqp(open.amqpPort);
    const sender = await client.openSender('sasl.anonymous');
    assert.deepEqual(await client.send(sender, { body: 'from nobody' }), { state: 'accepted' });
    await client.close();
  });

  test('a PLAIN login with a wrong password is still refused', async () => {
    const raw = await rawAmqp(open.amqpPort);
    raw.write(Buffer.concat([SASL_HEADER, saslInit('PLAIN', plain('alice', 'wrong'))]));
    await raw.closed;
    assert.equal(readFrames(raw.received().subarray(8)).at(-1)?.fields['code'], 1);
  });
});
