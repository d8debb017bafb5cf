import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectAmqp } from '../helpers/amqp.js';
import { startBroker } from '../helpers/broker.js';
import { RawStompClient } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * A queue's memoryLimit and what its memoryPolicy does there: `fail` refuses sends in the
 * producer's protocol while consumers go on, `drop-oldest` keeps the newest as a bounded ring.
 */

const KIB = 'k'.repeat(1024);

test('memoryPolicy fail: a send to a full queue is refused in STOMP and AMQP 1.0 terms; other queues carry on; room made by a consumer takes sends again', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.fail', memoryLimit: 4096, memoryPolicy: 'fail' }] });
  t.after(() => broker.stop());
  const producer = await connectStomp(broker.stompPort);
  for (let i = 0; i < 4; i++) await producer.sendConfirmed('/queue/mem.fail', KIB, { persistent: 'true' });

  const { raw } = await RawStompClient.connected(broker.stompPort);
  await raw.send('SEND', { destination: '/queue/mem.fail', receipt: 'r' }, KIB);
  const error = await raw.nextFrame();
  assert.equal(error.command, 'ERROR');
  assert.equal(error.headers.get('code'), 'FERRY_DESTINATION_FULL');

  const amqp = await connectAmqp(broker.amqpPort);
  const sender = await amqp.openSender('mem.fail');
  const outcome = await amqp.send(sender, { body: KIB });
  assert.equal(outcome.state, 'rejected');
  assert.equal(outcome.state === 'rejected' ? outcome.error?.condition : undefined, 'amqp:resource-limit-exceeded');

  // another queue is not affected, and neither is the producer's own connection for it
  await producer.sendConfirmed('/queue/mem.other', 'elsewhere');
  // a consumer makes room; the queue takes sends again
  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe('/queue/mem.fail', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
  const first = await inbox.next();
  first.ack();
  const waiting = (): number => broker.server.broker.stats().queues.find((q) => q.name === 'mem.fail')!.pending;
  while (waiting() > 2) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(await amqp.send(sender, { body: KIB }), { state: 'accepted' });
  await amqp.close();
  await consumer.disconnect();
  await producer.disconnect();
});

test('memoryPolicy drop-oldest: the queue keeps the newest messages within its limit and counts what it discarded', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.ring', memoryLimit: 3000, memoryPolicy: 'drop-oldest' }] });
  t.after(() => broker.stop());
  const producer = await connectStomp(broker.stompPort);
  for (let i = 0; i < 10; i++) await producer.sendConfirmed('/queue/mem.ring', `${i}${KIB.slice(1)}`, { persistent: 'true' });
  const stats = broker.server.broker.stats().queues.find((q) => q.name === 'mem.ring')!;
  assert.equal(stats.pending, 2);
  assert.equal(stats.discarded, 8);
  const inbox = producer.subscribe('/queue/mem.ring');
  assert.deepEqual([(await inbox.next()).body[0], (await inbox.next()).body[0]], ['8', '9']);
  await producer.disconnect();
});
