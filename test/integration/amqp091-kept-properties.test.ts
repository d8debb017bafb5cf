import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Channel, GetMessage, MessageProperties } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091, getWaiting } from '../helpers/amqp091.js';
import { startPostgres } from '../helpers/postgres.js';

/**
 * A 0-9-1 message reads the same after a dead-letter exchange and after a restart as it did when
 * first delivered: the publisher's content header, nested tables, arrays, timestamps and decimals
 * included, its priority above 9 and its expiration as published, with nothing the broker made up.
 */

const headers = {
  nested: { a: 1, b: { c: 'deep', arr: [1, 'two', { three: 3 }] } },
  arr: [1, 2, [3, 4]],
  ts: { '!': 'timestamp', value: 1_704_164_645 },
  dec: { '!': 'decimal', value: { places: 2, digits: 125 } },
  text: 'plain',
};

/** amqplib reads them back as it writes them. */
const decoded = headers;

const published = { persistent: true, priority: 15, expiration: '500000', contentType: 'application/json', headers };

/** The headers a publisher set, without the dead-letter history the broker adds. */
function ownHeaders(p: MessageProperties): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p.headers ?? {}).filter(([name]) => !name.startsWith('x-')));
}

function assertAsPublished(m: GetMessage, what: string, deadLettered: boolean): void {
  const p = m.properties;
  assert.deepEqual(ownHeaders(p), decoded, what);
  assert.equal(p.priority, 15, what);
  assert.equal(p.contentType, 'application/json', what);
  assert.equal(p.deliveryMode, 2, what);
  // as RabbitMQ: nothing the publisher left out, and a dead-lettered copy loses its expiration
  assert.deepEqual([p.messageId, p.timestamp, p.expiration], [undefined, undefined, deadLettered ? undefined : '500000'], what);
  if (deadLettered) assert.equal((p.headers?.['x-death'] as { reason: string }[])[0]?.reason, 'rejected', what);
}

async function declare(ch: Channel): Promise<void> {
  await ch.assertQueue('kept.dl', { durable: true });
  await ch.assertQueue('kept.q', { durable: true, arguments: { 'x-max-priority': 20, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'kept.dl' } });
}

/**
 * Publishes three messages; one is dead-lettered before the restart, one after it, one is only read
 * after it. `start` starts the broker on the same store each time.
 */
async function acrossRestart(start: () => Promise<TestBroker>): Promise<void> {
  let broker = await start();
  try {
    let conn = await connect091(broker.amqpPort);
    const pub = await conn.createConfirmChannel();
    await declare(pub);
    for (const body of ['dead before', 'dead after', 'kept']) pub.sendToQueue('kept.q', Buffer.from(body), published);
    await pub.waitForConfirms();
    const ch = await conn.createChannel();
    const first = await getWaiting(ch, 'kept.q');
    assertAsPublished(first, 'before the restart', false);
    ch.reject(first, false);
    assertAsPublished(await getWaiting(ch, 'kept.dl'), 'dead-lettered', true);
    await conn.close();
    await broker.server.stop();

    broker = await start();
    conn = await connect091(broker.amqpPort);
    const again = await conn.createChannel();
    const dead = await getWaiting(again, 'kept.dl');
    assert.equal(dead.content.toString(), 'dead before');
    assertAsPublished(dead, 'dead-lettered before the restart', true);
    const second = await getWaiting(again, 'kept.q');
    assert.equal(second.content.toString(), 'dead after');
    assertAsPublished(second, 'after the restart', false);
    again.reject(second, false);
    const deadAfter = await getWaiting(again, 'kept.dl');
    assert.equal(deadAfter.content.toString(), 'dead after');
    assertAsPublished(deadAfter, 'dead-lettered after the restart', true);
    const kept = await getWaiting(again, 'kept.q');
    assert.equal(kept.content.toString(), 'kept');
    assertAsPublished(kept, 'after the restart', false);
    again.ackAll();
    await conn.close();
  } finally {
    await broker.server.stop();
  }
}

test('a dead-lettered copy keeps the publisher\'s headers and properties, with x-death added and no expiration', async () => {
  const broker = await startBroker();
  try {
    const conn = await connect091(broker.amqpPort);
    const ch = await conn.createChannel();
    await declare(ch);
    ch.sendToQueue('kept.q', Buffer.from('x'), published);
    const m = await getWaiting(ch, 'kept.q');
    assertAsPublished(m, 'first delivery', false);
    ch.nack(m, false, true);
    assertAsPublished(await getWaiting(ch, 'kept.q'), 'redelivered', false);
    ch.nackAll(false);
    const dead = await getWaiting(ch, 'kept.dl');
    assertAsPublished(dead, 'dead-lettered', true);
    ch.ack(dead);
    await conn.close();
  } finally {
    await broker.stop();
  }
});

test('a message reads the same after a restart, and dead-lettered before or after it (journal)', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-kept-'));
  try {
    await acrossRestart(() => startBroker({ data }));
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

const cluster = await startPostgres();
describe('the PostgreSQL store', { skip: typeof cluster === 'string' ? cluster : false }, () => {
  if (typeof cluster === 'string') return;
  after(() => cluster.stop());

  test('a message reads the same after a restart, and dead-lettered before or after it (PostgreSQL)', async () => {
    const url = await cluster.createDatabase();
    await acrossRestart(() => startBroker({ 'store.type': 'postgres', 'store.postgres.url': url }));
  });
});
