import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { consumeInto, getWaiting } from '../helpers/amqp091.js';
import { connectStomp } from '../helpers/stomp.js';

const fixture = amqp091Fixture('exp091');
const unique = fixture.unique;

describe('dead-lettering a message that had its own expiration', () => {
  test('x-death keeps it as original-expiration, and the copy has no expiration, as RabbitMQ writes them', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('dl.src');
    const dead = unique('dl.dead');
    await ch.assertQueue(dead);
    await ch.assertQueue(q, { deadLetterExchange: '', deadLetterRoutingKey: dead });
    ch.sendToQueue(q, Buffer.from('rejected'), { expiration: '60000' });
    const held = await getWaiting(ch, q);
    ch.reject(held, false);
    ch.sendToQueue(q, Buffer.from('expired'), { expiration: '1' });
    const copies = [await getWaiting(ch, dead), await getWaiting(ch, dead)].sort((a, b) => a.content.toString().localeCompare(b.content.toString()));
    const entries = copies.map((m) => m.properties.headers?.['x-death']?.[0]);
    assert.deepEqual(entries.map((e) => [e?.reason, e?.['original-expiration']]), [['expired', '1'], ['rejected', '60000']]);
    assert.deepEqual(copies.map((m) => m.properties.expiration), [undefined, undefined]);
    // a message without an expiration of its own has none to record
    ch.sendToQueue(q, Buffer.from('plain'));
    ch.reject(await getWaiting(ch, q), false);
    const plain = await getWaiting(ch, dead);
    assert.equal(plain.properties.headers?.['x-death']?.[0]?.['original-expiration'], undefined);
    ch.ackAll();
    await ch.close();
  });
});

describe('a TTL of 0, RabbitMQ\'s replacement for the immediate flag', () => {
  test('x-message-ttl 0 and expiration "0" deliver to a consumer ready to take the message at once', async () => {
    const ch = await fixture.conn().createChannel();
    const zeroTtl = unique('ttl0');
    const plain = unique('plain');
    // durable, with persistent messages: the first one of the queue does not wait for the disk either
    await ch.assertQueue(zeroTtl, { durable: true, messageTtl: 0 });
    await ch.assertQueue(plain);
    const fromTtl = await consumeInto(ch, zeroTtl, { noAck: true });
    const fromPlain = await consumeInto(ch, plain, { noAck: true });
    for (let i = 0; i < 3; i++) {
      ch.sendToQueue(zeroTtl, Buffer.from(`q${i}`), { persistent: true });
      ch.sendToQueue(plain, Buffer.from(`e${i}`), { expiration: '0' });
    }
    assert.deepEqual((await fromTtl.inbox.take(3)).map((m) => m.content.toString()), ['q0', 'q1', 'q2']);
    assert.deepEqual((await fromPlain.inbox.take(3)).map((m) => m.content.toString()), ['e0', 'e1', 'e2']);
    await ch.close();
  });

  test('what no consumer can take at once expires: dead-lettered as expired, not kept for the consumer', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('ttl0.full');
    const dead = unique('ttl0.dead');
    await ch.assertQueue(dead);
    await ch.assertQueue(q, { messageTtl: 0, deadLetterExchange: '', deadLetterRoutingKey: dead });
    await ch.prefetch(1);
    const { inbox } = await consumeInto(ch, q);
    ch.sendToQueue(q, Buffer.from('taken'));
    const taken = await inbox.next();
    assert.equal(taken.content.toString(), 'taken');
    // the consumer's prefetch is full: this one cannot be delivered now
    ch.sendToQueue(q, Buffer.from('late'), { expiration: '0' });
    const late = await getWaiting(ch, dead);
    assert.equal(late.content.toString(), 'late');
    assert.equal(late.properties.headers?.['x-death']?.[0]?.reason, 'expired');
    ch.ack(late);
    ch.ack(taken);
    await inbox.expectNothing(200);
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  test('a message whose own expiration passed before it arrived is not delivered by a queue TTL of 0', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('ttl0.past');
    await ch.assertQueue(q, { messageTtl: 0 });
    const { inbox } = await consumeInto(ch, q, { noAck: true });
    const stomp = await connectStomp(fixture.broker().stompPort);
    try {
      await stomp.sendConfirmed(`/queue/${q}`, 'too late', { expires: String(Date.now() - 1000) });
      await stomp.sendConfirmed(`/queue/${q}`, 'marker');
    } finally {
      await stomp.disconnect();
    }
    assert.equal((await inbox.next()).content.toString(), 'marker');
    await ch.close();
  });
});
