import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, transactions, type AmqpTestClient } from '../helpers/amqp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await broker.stop();
});

const clients: AmqpTestClient[] = [];
async function client(): Promise<AmqpTestClient> {
  const c = await connectAmqp(broker.amqpPort);
  clients.push(c);
  return c;
}

let counter = 0;
function unique(name: string): string {
  return `amqp.tx.${name}.${Date.now().toString(36)}${counter++}`;
}

function bodies(items: { message: { body?: unknown } }[]): unknown[] {
  return items.map((i) => i.message.body);
}

describe('transactional sends', () => {
  test('messages sent in a transaction appear only when it commits', async () => {
    const q = unique('commit');
    const c = await client();
    const tx = await transactions(c);
    const txnId = await tx.declare();
    assert.ok(txnId.length > 0);
    const sender = await c.openSender(q);
    assert.deepEqual(await tx.send(sender, { body: 'one', durable: true }, txnId), { state: 'accepted' });
    assert.deepEqual(await tx.send(sender, { body: 'two' }, txnId), { state: 'accepted' });
    const observer = await client();
    const { inbox } = await observer.openReceiver(q);
    await inbox.expectNothing(150);
    assert.deepEqual(await tx.discharge(txnId, false), { state: 'accepted' });
    assert.deepEqual(bodies(await inbox.take(2)), ['one', 'two']);
  });

  test('a discharge with fail drops what was sent in the transaction', async () => {
    const q = unique('rollback');
    const c = await client();
    const tx = await transactions(c);
    const txnId = await tx.declare();
    const sender = await c.openSender(q);
    await tx.send(sender, { body: 'never' }, txnId);
    assert.deepEqual(await tx.discharge(txnId, true), { state: 'accepted' });
    await c.send(sender, { body: 'outside' });
    const { inbox } = await c.openReceiver(q);
    assert.deepEqual(bodies(await inbox.take(1)), ['outside']);
    await inbox.expectNothing(150);
  });

  test('a transaction left open when its coordinator goes away is rolled back', async () => {
    const q = unique('abandoned');
    const c = await client();
    const tx = await transactions(c);
    const txnId = await tx.declare();
    await tx.send(await c.openSender(q), { body: 'abandoned' }, txnId);
    await c.close();
    const other = await client();
    const { inbox } = await other.openReceiver(q);
    await inbox.expectNothing(200);
  });

  test('discharging an unknown transaction is rejected with transaction:unknown-id', async () => {
    const c = await client();
    const tx = await transactions(c);
    const outcome = await tx.discharge(Buffer.from('nope'), false);
    assert.equal(outcome.state, 'rejected');
    assert.equal(outcome.state === 'rejected' ? outcome.error?.condition : undefined, 'amqp:transaction:unknown-id');
  });
});

describe('transactional acknowledgements', () => {
  test('acceptances in a rolled-back transaction are undone: the messages come back, redelivered', async () => {
    const q = unique('ack-rollback');
    const c = await client();
    const sender = await c.openSender(q);
    await c.send(sender, { body: 'a' });
    await c.send(sender, { body: 'b' });
    const tx = await transactions(c);
    const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
    const txnId = await tx.declare();
    for (const got of await inbox.take(2)) tx.settle(got.delivery, txnId);
    await inbox.expectNothing(100);
    await tx.discharge(txnId, true);
    const again = await inbox.take(2);
    assert.deepEqual(bodies(again), ['a', 'b']);
    assert.deepEqual(again.map((g) => g.message.delivery_count), [1, 1]);

    const commit = await tx.declare();
    for (const got of again) tx.settle(got.delivery, commit);
    assert.deepEqual(await tx.discharge(commit, false), { state: 'accepted' });
    await inbox.expectNothing(150);
    const stats = broker.server.broker.stats().queues.find((s) => s.name === q);
    assert.equal(stats?.pending, 0);
    assert.equal(stats?.inFlight, 0);
  });

  test('a send and an acknowledgement commit together', async () => {
    const input = unique('in');
    const output = unique('out');
    const c = await client();
    await c.send(await c.openSender(input), { body: 'work' });
    const tx = await transactions(c);
    const { inbox } = await c.openReceiver({ source: input, autoaccept: false });
    const forward = await c.openSender(output);
    const txnId = await tx.declare();
    const work = await inbox.next();
    await tx.send(forward, { body: `done: ${String(work.message.body)}` }, txnId);
    tx.settle(work.delivery, txnId);
    await tx.discharge(txnId, false);
    const results = await c.openReceiver(output);
    assert.equal((await results.inbox.next()).message.body, 'done: work');
    assert.equal(broker.server.broker.stats().queues.find((s) => s.name === input)?.pending, 0);
  });
});
