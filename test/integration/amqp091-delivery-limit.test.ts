import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Channel, GetMessage } from 'amqplib';
import { MemoryStore } from '../../src/store/index.js';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { startBroker } from '../helpers/broker.js';
import { channelError, connect091, consumeInto, getWaiting } from '../helpers/amqp091.js';

const fixture = amqp091Fixture('t091.limit');
const unique = fixture.unique;

const deaths = (m: GetMessage): [string, string, number][] => (m.properties.headers?.['x-death'] ?? []).map((d) => [d.queue, d.reason, d.count]);

/** Nacks with requeue every delivery of `queue` until its dead-letter queue `dead` has the message; answers how many deliveries there were. */
async function nackUntilDead(ch: Channel, queue: string, dead: string): Promise<{ deliveries: number; deadLettered: GetMessage }> {
  let deliveries = 0;
  await ch.consume(queue, (m) => {
    if (m === null) return;
    deliveries++;
    ch.nack(m, false, true);
  });
  const deadLettered = await getWaiting(ch, dead);
  return { deliveries, deadLettered };
}

describe('x-delivery-limit', () => {
  test('a message requeued more often than the limit is dead-lettered with reason delivery_limit, as by a quorum queue', async () => {
    const ch = await fixture.conn().createChannel();
    const [q, dead] = [unique('quorum'), unique('quorum.dead')];
    await ch.assertQueue(dead);
    await ch.assertQueue(q, { arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 2, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    ch.sendToQueue(q, Buffer.from('poison'));
    const { deliveries, deadLettered } = await nackUntilDead(ch, q, dead);
    // the first delivery and two redeliveries, as RabbitMQ makes them
    assert.equal(deliveries, 3);
    assert.equal(deadLettered.content.toString(), 'poison');
    assert.deepEqual(deaths(deadLettered), [[q, 'delivery_limit', 1]]);
    assert.equal(deadLettered.properties.headers?.['x-first-death-reason'], 'delivery_limit');
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  test('the limit holds on a queue of any x-queue-type, and a redeclare with another limit is 406', async () => {
    const ch = await fixture.conn().createChannel();
    const [q, dead] = [unique('classic'), unique('classic.dead')];
    await ch.assertQueue(dead);
    await ch.assertQueue(q, { arguments: { 'x-delivery-limit': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    ch.sendToQueue(q, Buffer.from('once'));
    const { deliveries, deadLettered } = await nackUntilDead(ch, q, dead);
    assert.equal(deliveries, 1);
    assert.deepEqual(deaths(deadLettered), [[q, 'delivery_limit', 1]]);
    await ch.close();
    const other = await fixture.conn().createChannel();
    const failed = channelError(other);
    await assert.rejects(other.assertQueue(q, { arguments: { 'x-delivery-limit': 5, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } }), /PRECONDITION_FAILED/);
    assert.equal((await failed).code, 406);
  });

  test('a delivery left unacknowledged by a closed channel counts; without a dead-letter exchange the message is dropped', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('closed');
    await ch.assertQueue(q, { arguments: { 'x-delivery-limit': 0 } });
    ch.sendToQueue(q, Buffer.from('held'));
    const consumer = await fixture.conn().createChannel();
    const { inbox } = await consumeInto(consumer, q);
    await inbox.next();
    await consumer.close();
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  test('without the argument a requeued message comes back without a maximum', async () => {
    const ch = await fixture.conn().createChannel();
    const [q, dead] = [unique('unlimited'), unique('unlimited.dead')];
    await ch.assertQueue(dead);
    await ch.assertQueue(q, { deadLetterExchange: '', deadLetterRoutingKey: dead });
    ch.sendToQueue(q, Buffer.from('again'));
    const { inbox } = await consumeInto(ch, q);
    // more than the redelivery policy's default of 6, which declared queues do not follow
    for (let i = 0; i < 10; i++) ch.nack(await inbox.next(), false, true);
    const last = await inbox.next();
    assert.equal(last.properties.headers?.['x-delivery-count'], 10);
    ch.ack(last);
    assert.equal((await ch.checkQueue(dead)).messageCount, 0);
    await ch.close();
  });

  test('a durable queue keeps its limit over a restart', async () => {
    const store = new MemoryStore();
    const [q, dead] = [unique('durable'), unique('durable.dead')];
    const args = { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead };
    let restartable = await startBroker({}, { store });
    try {
      const first = await connect091(restartable.amqpPort);
      const ch = await first.createChannel();
      await ch.assertQueue(dead, { durable: true });
      await ch.assertQueue(q, { durable: true, arguments: args });
      await first.close();
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const second = await connect091(restartable.amqpPort);
      const back = await second.createChannel();
      // the same declaration is still equivalent: the limit came back with the queue
      await back.assertQueue(q, { durable: true, arguments: args });
      back.sendToQueue(q, Buffer.from('after restart'));
      const { deliveries, deadLettered } = await nackUntilDead(back, q, dead);
      assert.equal(deliveries, 2);
      assert.deepEqual(deaths(deadLettered), [[q, 'delivery_limit', 1]]);
      await second.close();
    } finally {
      await restartable.stop();
    }
  });
});
