/**
 * A channel exception behind confirm-mode publishes whose store sync is still pending: their
 * confirms go out before the channel.close. The store holds its syncs, so those publishes are
 * unconfirmed when the exception comes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { HeldSyncStore } from '../helpers/held-sync-store.js';
import { channelError, connect091 } from '../helpers/amqp091.js';
import { uniqueName, within } from '../helpers/raw-stomp.js';

test('AMQP 0-9-1: a channel exception behind stored confirm-mode publishes closes the channel after their confirms', async () => {
  const store = new HeldSyncStore();
  const broker = await startBroker({}, { store });
  const conn = await connect091(broker.amqpPort);
  try {
    const queue = uniqueName('amqp091.refusal.order');
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true });
    const other = await conn.createChannel();
    const error = channelError(ch);
    store.hold();
    const taken = store.nextAppend();
    const outcomes = [1, 2, 3, 4, 5].map(
      (n) => new Promise<string>((resolve) => ch.publish('', queue, Buffer.from(`plain-${n}`), { persistent: true }, (err) => resolve(err ? `failed: ${String(err)}` : 'confirmed'))),
    );
    // no such exchange: 404, a channel exception
    ch.publish('no.such.exchange', 'x', Buffer.from('refused'), { persistent: true }, () => {});
    await taken;
    // frames of one connection are handled in order: once another channel's answer is back, the
    // broker has met the exception (basic.qos: an answer that waits for no store sync)
    await within(5000, 'basic.qos-ok', other.prefetch(1));
    store.release();
    assert.deepEqual(await within(5000, 'the confirms', Promise.all(outcomes)), ['confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed'], 'every stored publish confirmed before the channel closed');
    assert.equal((await error).code, 404);
    assert.equal((await other.checkQueue(queue)).messageCount, 5);
  } finally {
    store.release();
    await conn.close().catch(() => {});
    await broker.stop();
  }
});
