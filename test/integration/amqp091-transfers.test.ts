/**
 * Messages published over AMQP 0-9-1 through an exchange, then moved, copied or retried by an
 * operator through the management API, or dead-lettered by the broker's policies: each goes to the
 * one place it is sent, not through its exchange's bindings again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091 } from '../helpers/amqp091.js';
import { ApiClient } from '../helpers/management.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { eventually, subscribeConfirmed, uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;
let api: ApiClient;
let conn: ChannelModel;
let ch: ConfirmChannel;

before(async () => {
  broker = await startBroker({ 'destinations.policies': [{ match: 'xfer-dl.>', individualDeadLetter: true }] });
  api = new ApiClient(broker.server.ports['http']!);
  conn = await connect091(broker.amqpPort);
  ch = await conn.createConfirmChannel();
});

after(async () => {
  await conn.close();
  await broker.stop();
});

function depth(queue: string): number {
  return broker.server.broker.admin.destination('queue', queue).depth;
}

async function getOne(queue: string): Promise<GetMessage> {
  const m = await ch.get(queue, { noAck: true });
  assert.notEqual(m, false, `a message in ${queue}`);
  return m as GetMessage;
}

test('a message published to a fanout exchange moves and copies to the target alone, once', async () => {
  const name = uniqueName('xfer');
  const [q1, q2, q3] = [`${name}.q1`, `${name}.q2`, `${name}.q3`];
  await ch.assertExchange(`${name}.fx`, 'fanout');
  for (const q of [q1, q2, q3]) await ch.assertQueue(q);
  await ch.bindQueue(q1, `${name}.fx`, '');
  await ch.bindQueue(q2, `${name}.fx`, '');
  ch.publish(`${name}.fx`, '', Buffer.from('hello'), { persistent: true, headers: { h: 'v' } });
  await ch.waitForConfirms();
  assert.deepEqual([depth(q1), depth(q2), depth(q3)], [1, 1, 0]);

  assert.deepEqual((await api.post(`/api/v1/queues/${q1}/messages/move`, { to: `queue://${q3}` })).body, { moved: 1 });
  assert.deepEqual([depth(q1), depth(q2), depth(q3)], [0, 1, 1]);
  assert.deepEqual((await api.post(`/api/v1/queues/${q2}/messages/copy`, { to: `queue://${q3}` })).body, { copied: 1 });
  assert.deepEqual([depth(q1), depth(q2), depth(q3)], [0, 1, 2]);

  // as a shovel's republish to the queue: the default exchange, the queue's name as the key
  for (let i = 0; i < 2; i++) {
    const m = await getOne(q3);
    assert.equal(m.content.toString(), 'hello');
    assert.deepEqual([m.fields.exchange, m.fields.routingKey], ['', q3]);
    assert.equal(m.properties.headers?.['h'], 'v');
  }
});

test('a message published to the default exchange moves out of its queue and copies elsewhere, not back into it', async () => {
  const name = uniqueName('xfer-default');
  const [src, dst] = [`${name}.src`, `${name}.dst`];
  await ch.assertQueue(src);
  await ch.assertQueue(dst);
  ch.sendToQueue(src, Buffer.from('a'), { persistent: true });
  ch.sendToQueue(src, Buffer.from('b'), { persistent: true });
  await ch.waitForConfirms();
  assert.deepEqual((await api.post(`/api/v1/queues/${src}/messages/copy`, { to: `queue://${dst}` })).body, { copied: 2 });
  assert.deepEqual([depth(src), depth(dst)], [2, 2]);
  assert.deepEqual((await api.post(`/api/v1/queues/${src}/messages/move`, { to: `queue://${dst}` })).body, { moved: 2 });
  assert.deepEqual([depth(src), depth(dst)], [0, 4]);
});

test('a message published to amq.topic moves to a queue without reaching the topic\'s subscribers again', async () => {
  const name = uniqueName('xfer-topic').replace(/\./g, '-');
  const [bound, dst] = [`${name}.bound`, `${name}.dst`];
  const mqtt = await connectMqtt(broker.mqttPort);
  try {
    await mqtt.subscribe(`${name}/t`, { qos: 1 });
    await ch.assertQueue(bound);
    await ch.assertQueue(dst);
    await ch.bindQueue(bound, 'amq.topic', `${name}.t`);
    ch.publish('amq.topic', `${name}.t`, Buffer.from('once'), { persistent: true });
    await ch.waitForConfirms();
    assert.equal((await mqtt.inbox.next()).payload, 'once');
    assert.deepEqual((await api.post(`/api/v1/queues/${bound}/messages/move`, { to: `queue://${dst}` })).body, { moved: 1 });
    assert.deepEqual([depth(bound), depth(dst)], [0, 1]);
    // anything the move had sent to the topic would come before this
    ch.publish('amq.topic', `${name}.t`, Buffer.from('marker'));
    await ch.waitForConfirms();
    assert.equal((await mqtt.inbox.next()).payload, 'marker');
  } finally {
    await mqtt.end();
  }
});

test('a message from a named exchange that fails in a queue of the broker\'s policies is dead-lettered under that queue, and a retry puts it back there alone', async () => {
  const name = uniqueName('xfer-dl');
  const [q1, q2] = [`${name}.q1`, `${name}.q2`];
  // made by an operator, not declared over 0-9-1: the broker's dead-letter policy applies, not RabbitMQ's
  for (const q of [q1, q2]) assert.equal((await api.post('/api/v1/destinations', { kind: 'queue', name: q })).status, 201);
  await ch.assertExchange(`${name}.fx`, 'fanout');
  await ch.bindQueue(q1, `${name}.fx`, '');
  await ch.bindQueue(q2, `${name}.fx`, '');
  ch.publish(`${name}.fx`, '', Buffer.from('poison'), { persistent: true });
  await ch.waitForConfirms();

  const stomp = await connectStomp(broker.stompPort);
  try {
    const inbox = await subscribeConfirmed(stomp, `/queue/${q1}`, { ack: 'client-individual' });
    (await inbox.next()).nack();
    const dlq = `DLQ.${q1}`;
    await eventually('the message is dead-lettered', () => broker.server.broker.admin.destinationKeys().some((d) => d.name === dlq) && depth(dlq) === 1);
    inbox.subscription.unsubscribe();
    assert.equal(broker.server.broker.admin.destinationKeys().some((d) => d.name === `DLQ.${name}.fx`), false);
    const dead = await api.get<{ items: { originalDestination: string | null }[] }>(`/api/v1/queues/${dlq}/messages`);
    assert.deepEqual(dead.body.items.map((m) => m.originalDestination), [`queue://${q1}`]);

    assert.deepEqual((await api.post(`/api/v1/queues/${dlq}/messages/retry`, {})).body, { retried: 1 });
    assert.deepEqual([depth(q1), depth(q2), depth(dlq)], [1, 1, 0]);
  } finally {
    await stomp.disconnect();
  }
});
