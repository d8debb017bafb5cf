import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import amqplib from 'amqplib';
import { restartableBrokers } from '../helpers/restartable.js';

/**
 * Consumers that go because the broker stops leave their durable queues in place, as RabbitMQ's
 * do: a queue with `x-expires` does not expire while the stop waits on a slow client, and an
 * auto-delete queue goes only when its last consumer is cancelled, not when the broker stops.
 */

const { folder, start } = restartableBrokers();
const sockets: Socket[] = [];
after(() => {
  for (const socket of sockets) socket.destroy();
});

/**
 * A client that sent the protocol header and never ends its side of the connection: the broker's
 * stop waits for it until it drops the socket (5 s), far longer than the queue's `x-expires`.
 */
async function halfOpenClient(port: number): Promise<void> {
  const socket = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  sockets.push(socket);
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  // connection.start back: the broker holds this connection
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
}

test('durable queues with x-expires or auto-delete whose consumers go with a slow SIGTERM stop are there after the restart', async () => {
  const data = folder('ferry-stop-queues-');
  let broker = await start(data);
  let conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
  conn.on('error', () => {});
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  await ch.assertQueue('stop.expires', { durable: true, arguments: { 'x-expires': 2000 } });
  await ch.assertQueue('stop.auto-delete', { durable: true, autoDelete: true });
  await ch.consume('stop.expires', () => {});
  await ch.consume('stop.auto-delete', () => {});
  await halfOpenClient(broker.ports['amqp']!);
  assert.equal(await broker.stop('SIGTERM'), 0);

  broker = await start(data);
  conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
  conn.on('error', () => {});
  const after: Record<string, string> = {};
  // one channel each: a queue not found closes its channel
  for (const queue of ['stop.expires', 'stop.auto-delete']) {
    const check = await conn.createChannel();
    check.on('error', () => {});
    after[queue] = await check.checkQueue(queue).then((ok) => `found ${ok.queue}`, (err: Error) => err.message);
  }
  assert.deepEqual(after, { 'stop.expires': 'found stop.expires', 'stop.auto-delete': 'found stop.auto-delete' });
  await conn.close();
  await broker.stop('SIGTERM');
});
