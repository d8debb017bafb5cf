import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqplib from 'amqplib';
import { restartableBrokers } from '../helpers/restartable.js';
import { consumeInto, getWaiting } from '../helpers/amqp091.js';

/**
 * A queue's `x-message-ttl` counts from when the message entered the queue, across a restart as
 * before it (RabbitMQ's rule): the publisher's `timestamp` property is whatever the client chose (an
 * old message published again, a skewed clock) and says nothing of how long the message has waited.
 */

const { folder, start } = restartableBrokers();

const HOUR = 3600;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
/** Publisher timestamps (seconds), by body: long past the TTL, none, now, and two TTLs ago. */
const published: readonly [string, number | undefined][] = [
  ['ts-2023', 1_700_000_000],
  ['ts-none', undefined],
  ['ts-now', nowSeconds()],
  ['ts-2h-ago', nowSeconds() - 2 * HOUR],
];

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`a queue with x-message-ttl keeps messages whose publisher timestamp is older than the TTL across a restart (${signal})`, async () => {
    const data = folder('ferry-ttl-restart-');
    let broker = await start(data);
    let conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
    conn.on('error', () => {});
    const pub = await conn.createConfirmChannel();
    pub.on('error', () => {});
    await pub.assertQueue('ttl.dead', { durable: true });
    await pub.assertQueue('ttl.q', { durable: true, arguments: { 'x-message-ttl': 60_000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'ttl.dead' } });
    // a TTL that runs out after the restart, however far ahead its publisher's clock is
    await pub.assertQueue('ttl.short', { durable: true, arguments: { 'x-message-ttl': 3000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'ttl.dead' } });
    for (const [body, timestamp] of published) pub.sendToQueue('ttl.q', Buffer.from(body), { persistent: true, ...(timestamp === undefined ? {} : { timestamp }) });
    pub.sendToQueue('ttl.short', Buffer.from('ts-2100'), { persistent: true, timestamp: 4_102_444_800 });
    await pub.waitForConfirms();
    assert.equal((await pub.checkQueue('ttl.q')).messageCount, published.length);
    await broker.stop(signal);

    broker = await start(data);
    conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
    const ch = await conn.createChannel();
    const back: string[] = [];
    for (let i = 0; i < published.length; i++) back.push((await getWaiting(ch, 'ttl.q')).content.toString());
    assert.deepEqual(back, published.map(([body]) => body));
    // the short TTL still runs out after the restart, its publisher's timestamp far in the future notwithstanding
    const dead = await getWaiting(ch, 'ttl.dead', 10_000);
    assert.equal(dead.content.toString(), 'ts-2100');
    assert.equal((await ch.checkQueue('ttl.dead')).messageCount, 0);
    ch.ackAll();
    await conn.close();
    await broker.stop('SIGTERM');
  });
}

test('a persistent message that a TTL of 0 handed to a consumer does not come back as a first delivery after a crash', async () => {
  const data = folder('ferry-ttl0-crash-');
  let broker = await start(data);
  let conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  await ch.assertQueue('ttl0.dead', { durable: true });
  await ch.assertQueue('ttl0.q', { durable: true, arguments: { 'x-message-ttl': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'ttl0.dead' } });
  const { inbox } = await consumeInto(ch, 'ttl0.q');
  ch.sendToQueue('ttl0.q', Buffer.from('held'), { persistent: true });
  await ch.waitForConfirms();
  // delivered, and never acknowledged: the crash comes while the consumer holds it
  assert.equal((await inbox.next()).content.toString(), 'held');
  await broker.stop('SIGKILL');

  broker = await start(data);
  conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
  const restarted = await conn.createChannel();
  const again = await consumeInto(restarted, 'ttl0.q');
  // its time was up before the crash: it expires, dead-lettered, and reaches no consumer of its queue
  const dead = await getWaiting(restarted, 'ttl0.dead', 10_000);
  assert.equal(dead.content.toString(), 'held');
  assert.equal(dead.properties.headers?.['x-death']?.[0]?.reason, 'expired');
  await again.inbox.expectNothing(200);
  restarted.ackAll();
  await conn.close();
  await broker.stop('SIGTERM');
});
