import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { getWaiting } from '../helpers/amqp091.js';

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
