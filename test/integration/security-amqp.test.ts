/**
 * The login/permission matrix over AMQP 1.0 with rhea: a good login, a wrong password, an unknown
 * user, and a user short of the right to write, to read, to create, to browse (a receiver in
 * distribution-mode copy). A refused link is detached with amqp:unauthorized-access while its
 * session and connection go on; a refused transfer over the anonymous relay is rejected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AmqpError, ConnectionOptions } from 'rhea';
import { assertRefusalLogged, password, startMatrixBroker, type MatrixBroker } from '../helpers/authz-matrix.js';
import { connectAmqp, rhea, type AmqpTestClient } from '../helpers/amqp.js';
import { uniqueName, within } from '../helpers/raw-stomp.js';

let broker: MatrixBroker;
before(async () => {
  broker = await startMatrixBroker();
});
after(() => broker.stop());

const login = (user: string): Promise<AmqpTestClient> => connectAmqp(broker.amqpPort, { username: user, password: password(user) });

/** Connects with PLAIN; resolves with the error rhea reports once the broker ends the connection. */
function refusedLogin(username: string, pw: string): Promise<AmqpError> {
  const connection = rhea.create_container({ id: uniqueName('refused') }).connect({ host: '127.0.0.1', port: broker.amqpPort, reconnect: false, username, password: pw } as ConnectionOptions);
  connection.on('connection_error', () => {});
  connection.on('error', () => {});
  return within(
    5000,
    'the refused connection to end',
    new Promise((resolve, reject) => {
      connection.once('connection_open', () => reject(new Error('the connection opened')));
      connection.once('disconnected', () => {
        const error = connection.get_error() as AmqpError | undefined;
        if (error === undefined) reject(new Error('closed without an error'));
        else resolve(error);
      });
    }),
  );
}

/** The error of a link the broker refused. */
async function linkRefusal(open: Promise<unknown>): Promise<AmqpError> {
  const err = await open.then(
    () => assert.fail('the broker attached the link'),
    (e: unknown) => e as { amqp?: AmqpError },
  );
  assert.ok(err.amqp !== undefined, String(err));
  return err.amqp;
}

/** A queue made by the user with every right, holding `bodies`. */
async function existingQueue(prefix: string, bodies: readonly string[] = []): Promise<string> {
  const name = uniqueName(`matrix.amqp.${prefix}`);
  const full = await login('full');
  const sender = await full.openSender(name);
  for (const body of bodies) assert.deepEqual(await full.send(sender, { body, durable: true }), { state: 'accepted' });
  if (bodies.length === 0) (await full.openReceiver(name)).receiver.close();
  await full.close();
  return name;
}

/** The connection still works after a refusal: a link to an `open.>` queue carries a message. */
async function stillWorks(client: AmqpTestClient): Promise<void> {
  const name = uniqueName('open.amqp');
  const sender = await client.openSender(name);
  assert.deepEqual(await client.send(sender, { body: 'still here' }), { state: 'accepted' });
  const { inbox } = await client.openReceiver(name);
  assert.equal((await inbox.next()).message.body, 'still here');
}

describe('AMQP 1.0 login and permission matrix', { timeout: 20_000 }, () => {
  test('good login: the user with every right sends, creating the queue, and receives', async () => {
    const client = await login('full');
    const name = uniqueName('matrix.amqp.good');
    const sender = await client.openSender(name);
    assert.deepEqual(await client.send(sender, { body: 'hello' }), { state: 'accepted' });
    const { inbox } = await client.openReceiver(name);
    assert.equal((await inbox.next()).message.body, 'hello');
    await client.close();
  });

  test('wrong password and unknown user: SASL outcome auth, logged with user and address, never the password', async () => {
    const refused = { condition: 'amqp:unauthorized-access', description: 'Failed to authenticate: 1' };
    const wrong = await refusedLogin('full', 'amqp-wrong-pw');
    assert.deepEqual({ condition: wrong.condition, description: wrong.description }, refused);
    await assertRefusalLogged(broker, 'amqp', 'full', 'amqp-wrong-pw');
    const unknown = await refusedLogin('stranger', 'stranger-amqp-pw');
    assert.deepEqual({ condition: unknown.condition, description: unknown.description }, refused);
    await assertRefusalLogged(broker, 'amqp', 'stranger', 'stranger-amqp-pw');
  });

  test('no right to write: the sender link is detached with amqp:unauthorized-access; the connection goes on', async () => {
    const name = await existingQueue('nowrite');
    const client = await login('nowrite');
    const error = await linkRefusal(client.openSender(name));
    assert.equal(error.condition, 'amqp:unauthorized-access');
    assert.match(String(error.description), /write/);
    await stillWorks(client);
    await client.close();
  });

  test('no right to write over the anonymous relay: the transfer is rejected with amqp:unauthorized-access, the link stays', async () => {
    const name = await existingQueue('relay');
    const client = await login('nowrite');
    const relay = await client.openSender({ target: {} });
    const outcome = await client.send(relay, { to: name, body: 'refused' });
    assert.equal(outcome.state, 'rejected');
    assert.equal(outcome.state === 'rejected' ? outcome.error?.condition : undefined, 'amqp:unauthorized-access');
    assert.deepEqual(await client.send(relay, { to: uniqueName('open.relay'), body: 'allowed' }), { state: 'accepted' });
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === name)?.pending, 0);
    await client.close();
  });

  test('no right to read: the receiver link is refused; the messages stay', async () => {
    const name = await existingQueue('noread', ['kept']);
    const client = await login('noread');
    const error = await linkRefusal(client.openReceiver(name));
    assert.equal(error.condition, 'amqp:unauthorized-access');
    assert.match(String(error.description), /read/);
    await stillWorks(client);
    await client.close();
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === name)?.pending, 1);
  });

  test('no right to create: a link to a queue not there yet is refused, to an existing one attached', async () => {
    const client = await login('nocreate');
    const fresh = uniqueName('matrix.amqp.fresh');
    const error = await linkRefusal(client.openSender(fresh));
    assert.equal(error.condition, 'amqp:unauthorized-access');
    assert.match(String(error.description), /create/);
    assert.equal(broker.server.broker.stats().queues.some((q) => q.name === fresh), false);
    const receiverError = await linkRefusal(client.openReceiver(uniqueName('matrix.amqp.fresh')));
    assert.equal(receiverError.condition, 'amqp:unauthorized-access');
    const sender = await client.openSender(await existingQueue('exists'));
    assert.deepEqual(await client.send(sender, { body: 'to an existing queue' }), { state: 'accepted' });
    await client.close();
  });

  test('no right to create: a temporary queue (dynamic source) is everyone\'s here, and still works', async () => {
    const client = await login('nocreate');
    const { receiver } = await client.openReceiver({ source: { address: '', dynamic: true } });
    assert.match(String(receiver.source.address), /.+/);
    await client.close();
  });

  test('browse: a copy-mode receiver needs the browse right and takes nothing; without it the link is refused', async () => {
    const name = await existingQueue('browse', ['a', 'b']);
    const reader = await login('nobrowse');
    const error = await linkRefusal(reader.openReceiver({ source: { address: name, distribution_mode: 'copy' } }));
    assert.equal(error.condition, 'amqp:unauthorized-access');
    assert.match(String(error.description), /browse/);
    await stillWorks(reader);
    await reader.close();
    const browser = await login('noread');
    const { inbox } = await browser.openReceiver({ source: { address: name, distribution_mode: 'copy' } });
    assert.deepEqual([(await inbox.next()).message.body, (await inbox.next()).message.body], ['a', 'b']);
    await browser.close();
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === name)?.pending, 2, 'browsing took nothing');
  });
});
