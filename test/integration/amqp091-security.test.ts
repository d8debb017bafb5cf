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
