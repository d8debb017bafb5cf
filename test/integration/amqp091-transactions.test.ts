import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Channel } from 'amqplib';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { channelError } from '../helpers/amqp091.js';

const fixture = amqp091Fixture('x091');
const unique = fixture.unique;

/** tx.select, tx.commit and tx.rollback through amqplib's channel rpc, which its typings leave out. */
function tx(ch: Channel, method: 'select' | 'commit' | 'rollback'): Promise<unknown> {
  const id = { select: 10, commit: 20, rollback: 30 }[method];
  return (ch as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc((90 << 16) | id, {}, (90 << 16) | (id + 1));
}

/** Every body waiting in the queue, taken with basic.get. */
async function bodies(ch: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
}

/** The `basic.return`s a channel gets, as `<reply code> <body>`. */
function returnsOf(ch: Channel): string[] {
  const returned: string[] = [];
  ch.on('return', (m: { fields: { replyCode: number }; content: Buffer }) => returned.push(`${m.fields.replyCode} ${m.content.toString()}`));
  return returned;
}

describe('transactions', () => {
  test('an unroutable mandatory publish in a transaction comes back at the commit, never for a rollback', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('tx');
    await ch.assertQueue(q);
    const returned = returnsOf(ch);
    await tx(ch, 'select');
    ch.publish('', unique('tx.nowhere'), Buffer.from('rolled back'), { mandatory: true });
    // a round trip on the channel: a return sent for the publish would have come before its answer
    await ch.checkQueue(q);
    await tx(ch, 'rollback');
    await ch.checkQueue(q);
    assert.deepEqual(returned, []);
    ch.publish('', unique('tx.nowhere'), Buffer.from('committed'), { mandatory: true });
    ch.sendToQueue(q, Buffer.from('routed'), { mandatory: true });
    await ch.checkQueue(q);
    assert.deepEqual(returned, []);
    await tx(ch, 'commit');
    assert.deepEqual(returned, ['312 committed']);
    assert.equal((await ch.checkQueue(q)).messageCount, 1);
    await ch.close();
  });

  test('a publish in a transaction goes at the commit to the queues it was routed to when published, and comes back only if none of them is left', async () => {
    const ch = await fixture.conn().createChannel();
    // another channel changes bindings and queues between the publishes and the commit
    const admin = await fixture.conn().createChannel();
    const exchange = unique('x');
    await admin.assertExchange(exchange, 'direct');
    const [unbound, boundLater, deleted, redeclared] = ['unbound', 'bound-later', 'deleted', 'redeclared'].map((name) => unique(name)) as [string, string, string, string];
    for (const q of [unbound, boundLater, deleted, redeclared]) await admin.assertQueue(q);
    await admin.bindQueue(unbound, exchange, 'k1');
    await admin.bindQueue(deleted, exchange, 'k3');
    await admin.bindQueue(redeclared, exchange, 'k4');
    const returned = returnsOf(ch);
    await tx(ch, 'select');
    for (const [key, body] of [['k1', 'one'], ['k2', 'two'], ['k3', 'three'], ['k4', 'four']] as const) ch.publish(exchange, key, Buffer.from(body), { mandatory: true });
    await admin.unbindQueue(unbound, exchange, 'k1');
    await admin.bindQueue(boundLater, exchange, 'k2');
    await admin.deleteQueue(deleted);
    // a queue of the same name, declared again, is where RabbitMQ delivers it
    await admin.deleteQueue(redeclared);
    await admin.assertQueue(redeclared);
    await tx(ch, 'commit');
    assert.deepEqual(returned, ['312 two', '312 three']);
    assert.deepEqual(await bodies(admin, unbound), ['one']);
    assert.deepEqual(await bodies(admin, boundLater), []);
    assert.deepEqual(await bodies(admin, redeclared), ['four']);
    await ch.close();
    await admin.close();
  });

  test('a commit that a full reject-publish queue refused some of fails with 406 partial tx completion, as RabbitMQ\'s; what the queues took stays', async () => {
    const ch = await fixture.conn().createChannel();
    const admin = await fixture.conn().createChannel();
    const [full, fullDlx, dlq, free] = ['full', 'full-dlx', 'dlq', 'free'].map((name) => unique(name)) as [string, string, string, string];
    await admin.assertQueue(full, { maxLength: 1, arguments: { 'x-overflow': 'reject-publish' } });
    await admin.assertQueue(fullDlx, { maxLength: 1, deadLetterExchange: '', deadLetterRoutingKey: dlq, arguments: { 'x-overflow': 'reject-publish-dlx' } });
    await admin.assertQueue(dlq);
    await admin.assertQueue(free);
    await tx(ch, 'select');
    for (const body of ['r0', 'r1', 'r2']) ch.sendToQueue(full, Buffer.from(body));
    for (const body of ['d0', 'd1']) ch.sendToQueue(fullDlx, Buffer.from(body));
    ch.sendToQueue(free, Buffer.from('free'));
    const failed = channelError(ch);
    await assert.rejects(tx(ch, 'commit'));
    const err = await failed;
    assert.equal(err.code, 406);
    assert.match(err.message, /PRECONDITION_FAILED - partial tx completion/);
    assert.deepEqual(await bodies(admin, full), ['r0']);
    assert.deepEqual(await bodies(admin, fullDlx), ['d0']);
    assert.deepEqual(await bodies(admin, dlq), ['d1']);
    assert.deepEqual(await bodies(admin, free), ['free']);
    await admin.close();
  });
});
