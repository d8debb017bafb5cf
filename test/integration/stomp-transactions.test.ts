import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import type { StompTestClient } from '../helpers/stomp.js';
import { stompFixture } from '../helpers/stomp-fixture.js';
import { RawStompClient, subscribeConfirmed, uniqueName, withReceipt, within } from '../helpers/raw-stomp.js';

const fixture = stompFixture();
const client = (): Promise<StompTestClient> => fixture.client();

function queue(name: string): string {
  return `/queue/${uniqueName(name)}`;
}

function bodies(messages: IMessage[]): string[] {
  return messages.map((m) => m.body);
}

/** A frame that the broker answers only after every frame sent before it: a SEND with a receipt to a queue nobody reads. */
async function barrier(c: StompTestClient): Promise<void> {
  await c.sendConfirmed(`/queue/${uniqueName('barrier')}`, 'barrier');
}

describe('transactional sends', () => {
  test('messages sent in a transaction are invisible until COMMIT, then arrive in order', async () => {
    const q = queue('tx-send');
    const producer = await client();
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    const tx = producer.client.begin();
    for (const body of ['t1', 't2', 't3']) producer.client.publish({ destination: q, body, headers: { transaction: tx.id } });
    await barrier(producer);
    await inbox.expectNothing(250);
    tx.commit();
    assert.deepEqual(bodies(await inbox.take(3)), ['t1', 't2', 't3']);
  });

  test('messages sent in a transaction are dropped on ABORT', async () => {
    const q = queue('tx-abort');
    const producer = await client();
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    const tx = producer.client.begin();
    producer.client.publish({ destination: q, body: 'never', headers: { transaction: tx.id } });
    tx.abort();
    await producer.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
    await inbox.expectNothing(150);
  });

  test('sends outside the transaction are not held back by it', async () => {
    const q = queue('tx-mixed');
    const producer = await client();
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    const tx = producer.client.begin();
    producer.client.publish({ destination: q, body: 'in tx', headers: { transaction: tx.id } });
    await producer.sendConfirmed(q, 'outside');
    assert.equal((await inbox.next()).body, 'outside');
    tx.commit();
    assert.equal((await inbox.next()).body, 'in tx');
  });

  test('a committed transaction reaches queues and topics alike', async () => {
    const q = queue('tx-both');
    const topic = `/topic/${uniqueName('tx-both')}`;
    const producer = await client();
    const consumer = await client();
    const queueInbox = await subscribeConfirmed(consumer, q);
    const topicInbox = await subscribeConfirmed(consumer, topic);
    const tx = producer.client.begin();
    producer.client.publish({ destination: q, body: 'to queue', headers: { transaction: tx.id, persistent: 'true' } });
    producer.client.publish({ destination: topic, body: 'to topic', headers: { transaction: tx.id } });
    tx.commit();
    assert.equal((await queueInbox.next()).body, 'to queue');
    assert.equal((await topicInbox.next()).body, 'to topic');
  });

  test('a transaction sent to a queue with no consumer is kept after COMMIT', async () => {
    const q = queue('tx-kept');
    const producer = await client();
    const tx = producer.client.begin();
    producer.client.publish({ destination: q, body: 'kept', headers: { transaction: tx.id, persistent: 'true' } });
    tx.commit();
    await barrier(producer);
    await producer.disconnect();
    const consumer = await client();
    assert.equal((await consumer.subscribe(q).next()).body, 'kept');
  });

  test('a transaction id can be used again once the transaction has ended', async () => {
    const q = queue('tx-reuse');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    for (const round of ['first', 'second']) {
      c.client.begin('same-id');
      c.client.publish({ destination: q, body: round, headers: { transaction: 'same-id' } });
      c.client.commit('same-id');
    }
    assert.deepEqual(bodies(await inbox.take(2)), ['first', 'second']);
  });

  test('transaction ids belong to their connection', async () => {
    const q = queue('tx-scope');
    const a = await client();
    const b = await client();
    const inbox = await subscribeConfirmed(a, q);
    a.client.begin('shared');
    b.client.begin('shared');
    a.client.publish({ destination: q, body: 'from a', headers: { transaction: 'shared' } });
    b.client.publish({ destination: q, body: 'from b', headers: { transaction: 'shared' } });
    b.client.abort('shared');
    await barrier(b);
    a.client.commit('shared');
    assert.equal((await inbox.next()).body, 'from a');
    await a.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });
});

describe('transactional acknowledgements', () => {
  test('an ACK in a transaction takes effect at COMMIT', async () => {
    const q = queue('tx-ack-commit');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'acked in tx');
    const m = await inbox.next();
    const tx = c.client.begin();
    m.ack({ transaction: tx.id });
    tx.commit();
    await barrier(c);
    await c.disconnect();
    const next = await client();
    const again = next.subscribe(q);
    await next.sendConfirmed(q, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });

  test('ABORT returns the messages acknowledged in the transaction, marked redelivered', async () => {
    const q = queue('tx-ack-abort');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'm1');
    await c.sendConfirmed(q, 'm2');
    const [m1, m2] = await inbox.take(2);
    const tx = c.client.begin();
    m1!.ack({ transaction: tx.id });
    m2!.ack({ transaction: tx.id });
    tx.abort();
    const again = await inbox.take(2);
    assert.deepEqual(bodies(again), ['m1', 'm2']);
    for (const m of again) assert.equal(m.headers['redelivered'], 'true');
    for (const m of again) await withReceipt(c, (headers) => m.ack(headers));
  });

  test('ABORT of a cumulative ACK returns every message it covered', async () => {
    const q = queue('tx-cumulative');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client' });
    for (const body of ['m1', 'm2', 'm3']) await c.sendConfirmed(q, body);
    const received = await inbox.take(3);
    const tx = c.client.begin();
    received[2]!.ack({ transaction: tx.id });
    tx.abort();
    const again = await inbox.take(3);
    assert.deepEqual(bodies(again), ['m1', 'm2', 'm3']);
    assert.deepEqual(again.map((m) => m.headers['redelivered']), ['true', 'true', 'true']);
    await withReceipt(c, (headers) => again[2]!.ack(headers));
  });

  test('an ACK in a transaction frees the prefetch at once, as ActiveMQ does', async () => {
    const q = queue('tx-prefetch');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    await c.sendConfirmed(q, 'm1');
    await c.sendConfirmed(q, 'm2');
    const m1 = await inbox.next();
    const tx = c.client.begin();
    m1.ack({ transaction: tx.id });
    const m2 = await inbox.next();
    assert.equal(m2.body, 'm2');
    m2.ack({ transaction: tx.id });
    tx.commit();
    await barrier(c);
  });

  test('a NACK in a transaction dead-letters the message at COMMIT, not before', async () => {
    const q = queue('tx-nack');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'refused in tx', { persistent: 'true' });
    const m = await inbox.next();
    const tx = c.client.begin();
    m.nack({ transaction: tx.id });
    await barrier(c);
    await inbox.expectNothing(100);
    tx.commit();
    await barrier(c);
    const dlq = c.subscribe('/queue/ActiveMQ.DLQ');
    let dead = await dlq.next();
    while (dead.body !== 'refused in tx') dead = await dlq.next();
    assert.equal(dead.headers['original-destination'], q);
    await c.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('a NACK in an aborted transaction is undone: the message comes back, redelivered', async () => {
    const q = queue('tx-nack-abort');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'refused, then not', { persistent: 'true' });
    const m = await inbox.next();
    const tx = c.client.begin();
    m.nack({ transaction: tx.id });
    tx.abort();
    const again = await inbox.next();
    assert.equal(again.body, 'refused, then not');
    assert.equal(again.headers['redelivered'], 'true');
    await withReceipt(c, (headers) => again.ack(headers));
  });

  test('a send and an ACK in one transaction: consume-and-forward', async () => {
    const input = queue('tx-in');
    const output = queue('tx-out');
    const worker = await client();
    const reader = await client();
    const inInbox = await subscribeConfirmed(worker, input, { ack: 'client-individual' });
    const outInbox = await subscribeConfirmed(reader, output);
    await reader.sendConfirmed(input, 'job');
    const job = await inInbox.next();
    const tx = worker.client.begin();
    worker.client.publish({ destination: output, body: `done: ${job.body}`, headers: { transaction: tx.id } });
    job.ack({ transaction: tx.id });
    tx.commit();
    assert.equal((await outInbox.next()).body, 'done: job');
    await worker.disconnect();
    const check = await client();
    const again = check.subscribe(input);
    await check.sendConfirmed(input, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });
});

describe('transactions and disconnects', () => {
  test('DISCONNECT with an open transaction rolls it back: sends dropped, acknowledgements undone', async () => {
    const q = queue('tx-disconnect');
    const out = queue('tx-disconnect.out');
    const worker = await client();
    const inbox = await subscribeConfirmed(worker, q, { ack: 'client-individual' });
    await worker.sendConfirmed(q, 'work');
    const m = await inbox.next();
    const tx = worker.client.begin();
    worker.client.publish({ destination: out, body: 'never', headers: { transaction: tx.id } });
    m.ack({ transaction: tx.id });
    await barrier(worker);
    await worker.disconnect();

    const next = await client();
    const again = next.subscribe(q);
    const redelivered = await again.next();
    assert.equal(redelivered.body, 'work');
    assert.equal(redelivered.headers['redelivered'], 'true');
    const outInbox = next.subscribe(out);
    await next.sendConfirmed(out, 'marker');
    assert.equal((await outInbox.next()).body, 'marker');
  });

  test('a rolled-back acknowledgement is not handed to an ack:auto subscription of the closing connection', async () => {
    const q = queue('tx-disconnect-auto');
    const worker = await client();
    const clientAck = await subscribeConfirmed(worker, q, { ack: 'client-individual' });
    const autoAck = await subscribeConfirmed(worker, q);
    await worker.sendConfirmed(q, 'm1');
    await worker.sendConfirmed(q, 'm2');
    const m1 = await clientAck.next();
    assert.equal(m1.body, 'm1');
    assert.equal((await autoAck.next()).body, 'm2');
    const tx = worker.client.begin();
    m1.ack({ transaction: tx.id });
    await barrier(worker);
    await worker.disconnect();

    const next = await client();
    const again = next.subscribe(q);
    await next.sendConfirmed(q, 'marker');
    const first = await again.next();
    assert.equal(first.body, 'm1', 'the acknowledgement was rolled back, so m1 must come back before the marker');
    assert.equal(first.headers['redelivered'], 'true');
  });

  test('a dropped socket with an open transaction rolls it back', async () => {
    const q = queue('tx-drop');
    const worker = await client();
    const inbox = await subscribeConfirmed(worker, q, { ack: 'client-individual' });
    await worker.sendConfirmed(q, 'work');
    const m = await inbox.next();
    const tx = worker.client.begin();
    worker.client.publish({ destination: q, body: 'never', headers: { transaction: tx.id } });
    m.ack({ transaction: tx.id });
    await barrier(worker);
    worker.client.forceDisconnect();
    await worker.closed;

    const next = await client();
    const again = next.subscribe(q);
    const redelivered = await again.next();
    assert.equal(redelivered.body, 'work');
    assert.equal(redelivered.headers['redelivered'], 'true');
    await next.sendConfirmed(q, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });
});

describe('receipts', () => {
  test('receipts come in the order of their frames, also when a later frame\'s write settles first; DISCONNECT drops none of them', async () => {
    const q = queue('receipt-order');
    const { raw } = await RawStompClient.connected(fixture.broker().stompPort);
    const frame = (command: string, headers: Record<string, string>, body = ''): string =>
      `${command}\n${Object.entries(headers)
        .map(([k, v]) => `${k}:${v}\n`)
        .join('')}\n${body}\u0000`;
    // one write: a persistent SEND, then a transaction whose COMMIT waits for its own sync, then DISCONNECT
    raw.socket.write(
      frame('SEND', { destination: q, persistent: 'true', receipt: 'send-1' }, 'one') +
        frame('BEGIN', { transaction: 't1', receipt: 'begin' }) +
        frame('SEND', { destination: q, persistent: 'true', transaction: 't1' }, 'two') +
        frame('COMMIT', { transaction: 't1', receipt: 'commit' }) +
        frame('SEND', { destination: q, persistent: 'true', receipt: 'send-2' }, 'three') +
        frame('DISCONNECT', { receipt: 'disconnect' }),
    );
    const receipts: string[] = [];
    for (let i = 0; i < 5; i++) {
      const got = await raw.nextFrame();
      assert.equal(got.command, 'RECEIPT');
      receipts.push(got.headers.get('receipt-id')!);
    }
    assert.deepEqual(receipts, ['send-1', 'begin', 'commit', 'send-2', 'disconnect']);
    await raw.closed;
  });
});

describe('transaction errors', () => {
  async function expectError(frames: [string, Record<string, string>][], code: string): Promise<void> {
    const { raw } = await RawStompClient.connected(fixture.broker().stompPort);
    for (const [command, headers] of frames) await raw.send(command, headers);
    const received = await raw.untilClosed();
    const error = received.find((f) => f.command === 'ERROR');
    assert.ok(error, 'an ERROR frame');
    assert.equal(error.headers.get('code'), code);
    assert.ok((error.headers.get('message') ?? '').length > 0);
  }

  test('COMMIT of a transaction never begun', async () => {
    await expectError([['COMMIT', { transaction: 'nope', receipt: 'c1' }]], 'FERRY_TX_NOT_FOUND');
  });

  test('ABORT of a transaction never begun', async () => {
    await expectError([['ABORT', { transaction: 'nope' }]], 'FERRY_TX_NOT_FOUND');
  });

  test('BEGIN twice with one id', async () => {
    await expectError([['BEGIN', { transaction: 't' }], ['BEGIN', { transaction: 't' }]], 'FERRY_TX_EXISTS');
  });

  test('COMMIT twice', async () => {
    await expectError([['BEGIN', { transaction: 't' }], ['COMMIT', { transaction: 't' }], ['COMMIT', { transaction: 't' }]], 'FERRY_TX_NOT_FOUND');
  });

  test('SEND in a transaction never begun', async () => {
    await expectError([['SEND', { destination: queue('tx-none'), transaction: 'ghost' }]], 'FERRY_TX_NOT_FOUND');
  });

  test('BEGIN without a transaction header', async () => {
    await expectError([['BEGIN', {}]], 'FERRY_STOMP_PROTOCOL');
  });

  test('a failed transaction frame closes only its own connection', async () => {
    const q = queue('tx-error-others');
    const other = await client();
    const inbox = await subscribeConfirmed(other, q);
    const bad = await client();
    bad.client.commit('unknown');
    await within(3000, 'close after a bad COMMIT', bad.closed);
    await other.sendConfirmed(q, 'fine');
    assert.equal((await inbox.next()).body, 'fine');
  });
});
