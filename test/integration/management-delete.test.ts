/**
 * A queue deleted through the management API goes the way a client's delete takes it (AMQP 0-9-1
 * queue.delete): its exchange bindings go with it, and its consumers hear of it as their protocols
 * can. Real clients: amqplib.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091 } from '../helpers/amqp091.js';
import { Inbox } from '../helpers/inbox.js';
import { ApiClient } from '../helpers/management.js';
import { uniqueName } from '../helpers/raw-stomp.js';

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
