/**
 * A queue deleted through the management API goes the way a client's delete takes it (AMQP 0-9-1
 * queue.delete): its exchange bindings go with it, and its consumers hear of it as their protocols
 * can. Real clients: amqplib, rhea, @stomp/stompjs and ActiveMQ's JMS client.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { AmqpError, EventContext } from 'rhea';
import { connectAmqp } from '../helpers/amqp.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091 } from '../helpers/amqp091.js';
import { Inbox } from '../helpers/inbox.js';
import { ApiClient } from '../helpers/management.js';
import { eventLine, openwireJavaMissing, runDriver } from '../helpers/openwire-java.js';
import { eventually, subscribeConfirmed, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;
let api: ApiClient;

before(async () => {
  broker = await startBroker();
  api = new ApiClient(broker.server.ports['http']!);
});

after(async () => {
  await broker.stop();
});

const enc = encodeURIComponent;

function publishConfirmed(ch: ConfirmChannel, exchange: string, key: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => ch.publish(exchange, key, Buffer.from(body), { mandatory: true }, (err) => (err ? reject(err) : resolve())));
}

describe('AMQP 0-9-1 bindings', () => {
  test('a queue deleted through the API loses its bindings: a publish to them is returned, and the queue declared again gets what its new binding routes', async () => {
    const exchange = uniqueName('del.x');
    const queue = uniqueName('del.bound');
    const connection = await connect091(broker.amqpPort);
    try {
      const ch = await connection.createConfirmChannel();
      const returned = new Inbox<ConsumeMessage>('return', (m) => m.content.toString());
      ch.on('return', (m: ConsumeMessage) => returned.push(m));
      await ch.assertExchange(exchange, 'direct', { durable: true });
      await ch.assertQueue(queue, { durable: true });
      await ch.bindQueue(queue, exchange, 'k');

      assert.equal((await api.delete(`/api/v1/destinations/queue/${enc(queue)}`)).status, 204);
      await publishConfirmed(ch, exchange, 'k', 'unroutable');
      assert.equal((await returned.next()).content.toString(), 'unroutable');

      await ch.assertQueue(queue, { durable: true });
      await ch.bindQueue(queue, exchange, 'k');
      await publishConfirmed(ch, exchange, 'k', 'routed');
      assert.equal((await ch.checkQueue(queue)).messageCount, 1);
      const got = await ch.get(queue, { noAck: true });
      assert.ok(got !== false);
      assert.equal(got.content.toString(), 'routed');
      await ch.close();
    } finally {
      await connection.close();
    }
  });
});

describe('consumers of a queue deleted through the API', () => {
  test('an AMQP 0-9-1 consumer gets basic.cancel', async () => {
    const queue = uniqueName('del.c091');
    const connection = await connect091(broker.amqpPort);
    try {
      const ch = await connection.createChannel();
      await ch.assertQueue(queue, { durable: false });
      let cancelled!: () => void;
      const cancel = new Promise<void>((resolve) => (cancelled = resolve));
      // amqplib hands a server-sent basic.cancel to the consume callback as null
      await ch.consume(queue, (m) => m === null && cancelled(), { noAck: true });
      assert.equal((await api.delete(`/api/v1/destinations/queue/${enc(queue)}`)).status, 204);
      await within(3000, 'basic.cancel', cancel);
      await ch.close();
    } finally {
      await connection.close();
    }
  });

  test('an AMQP 1.0 receiver is detached with amqp:resource-deleted, and its connection goes on', async () => {
    const queue = uniqueName('del.amqp');
    const client = await connectAmqp(broker.amqpPort);
    try {
      const { receiver } = await client.openReceiver(queue);
      const detached = new Promise<AmqpError | undefined>((resolve) => receiver.once('receiver_error', (ctx: EventContext) => resolve(ctx.receiver?.error as AmqpError | undefined)));
      assert.equal((await api.delete(`/api/v1/destinations/queue/${enc(queue)}`)).status, 204);
      const error = await within(3000, 'the detach', detached);
      assert.equal(error?.condition, 'amqp:resource-deleted');
      // a new receiver on the same connection gets what is sent to the name afterwards
      const { inbox } = await client.openReceiver(queue);
      assert.equal((await client.send(await client.openSender(queue), { body: 'after' })).state, 'accepted');
      assert.equal((await inbox.next()).message.body, 'after');
      assert.equal(client.connection.is_open(), true);
    } finally {
      await client.close();
    }
  });

  test('a STOMP subscriber gets an ERROR and its connection closes', async () => {
    const queue = uniqueName('del.stomp');
    const client = await connectStomp(broker.stompPort);
    try {
      await subscribeConfirmed(client, `/queue/${queue}`);
      assert.equal((await api.delete(`/api/v1/destinations/queue/${enc(queue)}`)).status, 204);
      await within(3000, 'the connection to close', client.closed);
      assert.equal(client.errors.length, 1);
      assert.equal(client.errors[0]!.headers['code'], 'FERRY_DESTINATION_NOT_FOUND');
      assert.match(client.errors[0]!.headers['message'] ?? '', /was deleted/);
    } finally {
      await client.disconnect().catch(() => undefined);
    }
  });

  test('a JMS listener stays subscribed, as with ActiveMQ: it gets what is sent to the queue after the delete', { skip: openwireJavaMissing() ?? false, timeout: 120_000 }, async () => {
    const queue = uniqueName('del.jms');
    const result = await runDriver('deleted-queue-listener', `tcp://127.0.0.1:${broker.ports.openwire}`, {
      queue,
      count: 3,
      timeout: 5000,
      delete: `http://127.0.0.1:${api.port}/api/v1/destinations/queue/${enc(queue)}`,
    });
    const line = eventLine(result, 'deleted-queue-listener');
    assert.equal(line['status'], 204);
    assert.deepEqual(line['received'], ['before', 'after 0', 'after 1', 'after 2']);
    assert.deepEqual(line['exceptions'], []);
  });
});

describe('a queue deleted while a message waits out its redelivery delay', () => {
  test('the message\'s records leave the store with the queue, and a restart on the same data finds none left over', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-del-delay-'));
    const settings = { data, 'destinations.policies': [{ match: 'del-delay.>', redeliveryDelay: 600_000 }] };
    const queue = uniqueName('del-delay.q');
    let restarted: TestBroker | undefined;
    const first = await startBroker(settings);
    try {
      const firstApi = new ApiClient(first.server.ports['http']!);
      const liveRecords = async (): Promise<string[]> => Object.keys((await firstApi.get<{ owners: Record<string, string> }>('/api/v1/store')).body.owners);
      const consumer = await connectStomp(first.stompPort);
      // the store's first reference also writes its sequence ceiling, the broker's record, not the queue's
      await consumer.sendConfirmed(`/queue/${uniqueName('del-delay.other')}`, 'stays', { persistent: 'true' });
      const before = new Set(await liveRecords());
      const inbox = await subscribeConfirmed(consumer, `/queue/${queue}`, { ack: 'client-individual' });
      await consumer.sendConfirmed(`/queue/${queue}`, 'waits', { persistent: 'true' });
      assert.equal((await inbox.next()).body, 'waits');
      // gone without an ACK: the failed delivery is counted and the message waits out the delay
      await consumer.disconnect();
      await eventually('the message in its redelivery delay', () => first.server.broker.stats().queues.find((q) => q.name === queue)?.delayed === 1);

      assert.equal((await firstApi.delete(`/api/v1/destinations/queue/${enc(queue)}`)).status, 204);
      assert.deepEqual((await liveRecords()).filter((id) => !before.has(id)), [], 'no record of the queue or its message is left');
      await first.stop();

      const logLines: Record<string, unknown>[] = [];
      restarted = await startBroker(settings, { logLines });
      assert.equal(logLines.find((l) => l['event'] === 'store.orphans'), undefined);
      assert.equal(logLines.find((l) => l['event'] === 'broker.recovered')?.['messages'], 1, 'the other queue\'s message alone');
      const again = await connectStomp(restarted.stompPort);
      try {
        await (await subscribeConfirmed(again, `/queue/${queue}`)).expectNothing();
      } finally {
        await again.disconnect();
      }
    } finally {
      await first.stop();
      await restarted?.stop();
      rmSync(data, { recursive: true, force: true });
    }
  });
});
