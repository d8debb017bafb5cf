import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { AmqplibInbox } from '../helpers/amqp091.js';

const fixture = amqp091Fixture('credit091');
const unique = fixture.unique;

describe('a channel-wide prefetch (basic.qos global=true)', () => {
  test('shares the credit freed by acks among the channel\'s consumers: a small queue is served while a busy one still has a backlog', async () => {
    const ch = await fixture.conn().createChannel();
    const busy = unique('busy');
    const urgent = unique('urgent');
    await ch.assertQueue(busy);
    await ch.assertQueue(urgent);
    for (let i = 0; i < 30; i++) ch.sendToQueue(busy, Buffer.from(`busy${i}`));
    for (let i = 0; i < 3; i++) ch.sendToQueue(urgent, Buffer.from(`urgent${i}`));
    await ch.checkQueue(urgent);
    await ch.prefetch(2, true);
    // one inbox for both consumers: the order the channel delivered in
    const inbox = new AmqplibInbox();
    const takeAndAck = (m: ConsumeMessage | null): void => {
      if (m === null) return;
      inbox.push(m);
      ch.ack(m);
    };
    await ch.consume(busy, takeAndAck);
    await ch.consume(urgent, takeAndAck);
    const order = (await inbox.take(33)).map((m) => m.content.toString());
    const lastUrgent = order.indexOf('urgent2');
    // the busy queue's first consumer had the whole limit; each ack's credit now goes to each consumer in turn
    assert.ok(lastUrgent >= 0 && lastUrgent < 10, `urgent2 came at ${lastUrgent} of ${order.join(' ')}`);
    assert.deepEqual(order.filter((b) => b.startsWith('urgent')), ['urgent0', 'urgent1', 'urgent2']);
    assert.deepEqual(order.filter((b) => b.startsWith('busy')), Array.from({ length: 30 }, (_, i) => `busy${i}`));
    await ch.close();
  });

  test('credit freed by one ack with multiple goes out one message per consumer in turn, never past the limit', async () => {
    const ch = await fixture.conn().createChannel();
    const a = unique('a');
    const b = unique('b');
    await ch.assertQueue(a);
    await ch.assertQueue(b);
    for (let i = 0; i < 10; i++) {
      ch.sendToQueue(a, Buffer.from(`a${i}`));
      ch.sendToQueue(b, Buffer.from(`b${i}`));
    }
    await ch.checkQueue(b);
    await ch.prefetch(4, true);
    const inbox = new AmqplibInbox();
    await ch.consume(a, (m) => m !== null && inbox.push(m));
    await ch.consume(b, (m) => m !== null && inbox.push(m));
    const first = await inbox.take(4);
    assert.deepEqual(first.map((m) => m.content.toString()), ['a0', 'a1', 'a2', 'a3']);
    ch.ack(first[3]!, true);
    const next = (await inbox.take(4)).map((m) => m.content.toString());
    assert.deepEqual([...next].sort(), ['a4', 'a5', 'b0', 'b1']);
    await inbox.expectNothing(200);
    await ch.close();
  });

  test('a per-consumer prefetch is still each consumer\'s own: one consumer\'s acks do not feed another', async () => {
    const ch = await fixture.conn().createChannel();
    const a = unique('own.a');
    const b = unique('own.b');
    await ch.assertQueue(a);
    await ch.assertQueue(b);
    for (let i = 0; i < 5; i++) {
      ch.sendToQueue(a, Buffer.from(`a${i}`));
      ch.sendToQueue(b, Buffer.from(`b${i}`));
    }
    await ch.checkQueue(b);
    await ch.prefetch(2, false);
    const ca = new AmqplibInbox();
    const cb = new AmqplibInbox();
    await ch.consume(a, (m) => m !== null && ca.push(m));
    await ch.consume(b, (m) => m !== null && cb.push(m));
    const fromA = await ca.take(2);
    assert.deepEqual((await cb.take(2)).map((m) => m.content.toString()), ['b0', 'b1']);
    ch.ack(fromA[1]!, true);
    assert.deepEqual((await ca.take(2)).map((m) => m.content.toString()), ['a2', 'a3']);
    await cb.expectNothing(200);
    await ch.close();
  });
});
