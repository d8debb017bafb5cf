import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqplib from 'amqplib';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';
import { channelError } from '../helpers/amqp091.js';

let broker: SecureBroker;
before(async () => {
  broker = await startSecureBroker();
});
after(async () => {
  await broker.stop();
});

const url = (user: string, password: string): string => `amqp://${user}:${password}@127.0.0.1:${broker.amqpPort}`;

test('PLAIN: the broker\'s users file decides; a wrong password is refused with 403 ACCESS_REFUSED', async () => {
  const ok = await amqplib.connect(url('admin', 'admin-secret'));
  await ok.close();
  await assert.rejects(amqplib.connect(url('admin', 'wrong')), /ACCESS_REFUSED|403/);
});

test('AMQPLAIN logs in as well, and a user-id must name the logged-in user', async () => {
  const conn = await amqplib.connect({ hostname: '127.0.0.1', port: broker.amqpPort }, { credentials: amqplib.credentials.amqplain('admin', 'admin-secret') });
  const ch = await conn.createChannel();
  const q = 'secure.amqplain';
  await ch.assertQueue(q);
  ch.sendToQueue(q, Buffer.from('mine'), { userId: 'admin' });
  const got = await ch.get(q, { noAck: true });
  assert.ok(got !== false);
  assert.equal(got.properties.userId, 'admin');
  const failed = channelError(ch);
  ch.sendToQueue(q, Buffer.from('theirs'), { userId: 'reader' });
  assert.equal((await failed).code, 406);
  await conn.close();
});

test('the authorizer\'s refusal is 403 ACCESS_REFUSED on that channel', async () => {
  const conn = await amqplib.connect(url('reader', 'reader-secret'));
  const ch = await conn.createChannel();
  const failed = channelError(ch);
  await assert.rejects(ch.assertQueue('not.for.readers'), /403|ACCESS_REFUSED/);
  assert.equal((await failed).code, 403);
  await conn.close();
});

/** A broker where admin may do everything and alice only with app.* (and read and write amq.topic), each connected over 0-9-1. */
async function adminAndAlice(): Promise<{ secure: Awaited<ReturnType<typeof startSecureBroker>>; admin: amqplib.ChannelModel; alice: amqplib.ChannelModel }> {
  const app = { read: ['app'], write: ['app'], create: ['app'] };
  const everything = { read: ['admins'], write: ['admins'], create: ['admins'], browse: ['admins'], admin: ['admins'] };
  const secure = await startSecureBroker({
    users: { admin: { password: 'admin-secret', groups: ['admins'] }, alice: { password: 'alice-secret', groups: ['app'] } },
    authorization: [{ queue: '>', ...everything }, { topic: '>', ...everything }, { queue: 'app.>', ...app }, { topic: 'app.>', ...app }, { topic: 'amq.topic', read: ['app'], write: ['app'] }],
  });
  const connect = (user: string): Promise<amqplib.ChannelModel> => amqplib.connect(`amqp://${user}:${user}-secret@127.0.0.1:${secure.amqpPort}`);
  return { secure, admin: await connect('admin'), alice: await connect('alice') };
}

test('dead-letter and alternate exchanges, and amq.topic, route only where the user may send or consume, as RabbitMQ checks them', async () => {
  const { secure, admin, alice } = await adminAndAlice();
  try {
    const adminChannel = await admin.createChannel();
    await adminChannel.assertQueue('secret.q');
    await adminChannel.assertExchange('secret.ex', 'fanout');
    await adminChannel.bindQueue('secret.q', 'amq.topic', 'secret.#');
    /** What `act` does on a fresh channel of alice's: 'ok', or the code of the channel's refusal. */
    const outcome = async (act: (ch: amqplib.Channel) => Promise<unknown>): Promise<number | 'ok'> => {
      const ch = await alice.createChannel();
      const failed = channelError(ch);
      try {
        await act(ch);
        // a refused publish is heard only when the channel closes for it: a round trip makes sure
        await ch.checkQueue('app.q');
        await ch.close();
        return 'ok';
      } catch {
        return (await failed).code ?? -1;
      }
    };
    assert.equal(await outcome((ch) => ch.assertQueue('app.q')), 'ok');
    const deadLetters = (exchange: string, key?: string) => ({ arguments: { 'x-dead-letter-exchange': exchange, ...(key === undefined ? {} : { 'x-dead-letter-routing-key': key }) } });
    assert.equal(await outcome((ch) => ch.assertQueue('app.dl1', deadLetters('', 'secret.q'))), 403, 'dead letters to a queue she may not send to');
    assert.equal(await outcome((ch) => ch.assertQueue('app.dl2', deadLetters(''))), 403, 'dead letters by their own keys: to any queue');
    assert.equal(await outcome((ch) => ch.assertQueue('app.dl3', deadLetters('secret.ex'))), 403, 'dead letters to an exchange she may not send to');
    assert.equal(await outcome((ch) => ch.assertQueue('app.dl4', deadLetters('', 'app.q'))), 'ok');
    assert.equal(await outcome((ch) => ch.assertExchange('app.ex1', 'direct', { alternateExchange: 'secret.ex' })), 403);
    assert.equal(await outcome((ch) => ch.assertExchange('app.ex2', 'direct', { alternateExchange: 'amq.topic' })), 403, 'amq.topic with any key: every core topic');
    assert.equal(await outcome(async (ch) => ch.publish('amq.topic', 'secret.t', Buffer.from('x'))), 403, 'amq.topic carries core topic secret.t');
    assert.equal(await outcome(async (ch) => ch.publish('amq.topic', 'app.t', Buffer.from('x'))), 'ok');
    // keys that are no core topic's name still match bindings such as secret.#: checked as written
    for (const key of ['secret.*', 'secret..t', 'secret.>', 'secret.t.', '']) {
      assert.equal(await outcome(async (ch) => ch.publish('amq.topic', key, Buffer.from('x'))), 403, `amq.topic key "${key}"`);
      assert.equal(await outcome(async (ch) => ch.publish('amq.topic', 'app.t', Buffer.from('x'), { CC: [key] })), 403, `CC key "${key}" on amq.topic`);
    }
    assert.equal(await outcome((ch) => ch.assertQueue('app.dl5', deadLetters('amq.topic', 'secret.*'))), 403, 'a dead-letter key on amq.topic that is no topic name');
    assert.equal(await outcome(async (ch) => ch.sendToQueue('app.q', Buffer.from('x'), { headers: { CC: ['secret.q'] } })), 403, 'a CC key routes too: to a queue she may not send to');
    assert.equal(await outcome(async (ch) => ch.sendToQueue('app.q', Buffer.from('x'), { headers: { BCC: 'secret.q' } })), 403, 'a BCC key too');
    assert.equal(await outcome((ch) => ch.bindQueue('app.q', 'amq.topic', '#')), 403, 'a binding to amq.topic subscribes to the core topics its key matches');
    assert.equal(await outcome((ch) => ch.bindQueue('app.q', 'amq.topic', 'app.#')), 'ok');
    const spied = await adminChannel.checkQueue('secret.q');
    assert.equal(spied.messageCount, 0);
  } finally {
    await alice.close().catch(() => undefined);
    await admin.close();
    await secure.stop();
  }
});

test('declaring a queue or exchange that exists needs create on it, as RabbitMQ asks for configure; a passive declare needs nothing', async () => {
  const { secure, admin, alice } = await adminAndAlice();
  try {
    const adminChannel = await admin.createChannel();
    await adminChannel.assertQueue('secret.q', { durable: true });
    adminChannel.sendToQueue('secret.q', Buffer.from('private'));
    await adminChannel.assertExchange('secret.ex', 'fanout', { durable: true });
    /** What `act` does on a fresh channel of alice's: 'ok', or the code of the channel's refusal. */
    const outcome = async (act: (ch: amqplib.Channel) => Promise<unknown>): Promise<number | 'ok'> => {
      const ch = await alice.createChannel();
      const failed = channelError(ch);
      try {
        await act(ch);
        await ch.close();
        return 'ok';
      } catch {
        return (await failed).code ?? -1;
      }
    };
    assert.equal(await outcome((ch) => ch.assertQueue('secret.q', { durable: true })), 403);
    assert.equal(await outcome((ch) => ch.assertQueue('secret.q', { durable: false })), 403, 'other flags: refused before they are compared, so no 406 describes them');
    assert.equal(await outcome((ch) => ch.assertExchange('secret.ex', 'fanout', { durable: true })), 403);
    assert.equal(await outcome((ch) => ch.assertExchange('secret.ex', 'direct', { durable: true })), 403);
    assert.equal(await outcome((ch) => ch.assertExchange('amq.topic', 'topic', { durable: true })), 403);
    assert.equal(await outcome((ch) => ch.checkQueue('secret.q')), 'ok', 'passive, as in RabbitMQ');
    assert.equal(await outcome((ch) => ch.checkExchange('secret.ex')), 'ok', 'passive, as in RabbitMQ');
    assert.equal(await outcome(async (ch) => (await ch.assertQueue('app.q'), ch.assertQueue('app.q'))), 'ok', 'her own queue, declared again');
    assert.equal((await adminChannel.assertQueue('secret.q', { durable: true })).messageCount, 1, 'the owner declares it again');
    await adminChannel.assertExchange('secret.ex', 'fanout', { durable: true });

    // a refused declare does not start the expires countdown again: the queue goes while she keeps declaring it
    await adminChannel.assertQueue('secret.idle', { arguments: { 'x-expires': 300 } });
    const exists = (): boolean => secure.server.broker.stats().queues.some((s) => s.name === 'secret.idle');
    const deadline = Date.now() + 10_000;
    while (exists() && Date.now() < deadline) await outcome((ch) => ch.assertQueue('secret.idle', { arguments: { 'x-expires': 300 } }));
    assert.equal(exists(), false, 'her declarations kept the queue from expiring');
  } finally {
    await alice.close().catch(() => undefined);
    await admin.close();
    await secure.stop();
  }
});
