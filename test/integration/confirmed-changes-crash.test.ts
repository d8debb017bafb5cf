import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqplib from 'amqplib';
import { restartableBrokers } from '../helpers/restartable.js';
import { connectStomp } from '../helpers/stomp.js';
import { connectAmqp } from '../helpers/amqp.js';
import { jmsCheck, jmsCheckHeard, jmsMissing, one } from '../helpers/jms.js';

/**
 * A change the broker has answered for is on disk: a kill -9 right after the answer keeps it. The
 * journal writes what no answer waits for a little later, in one batch; these answers wait for it.
 */

const { folder, start } = restartableBrokers();

test('AMQP 0-9-1 declares, binds, purges and deletes, and a STOMP durable subscription, each answered, survive a kill -9 right after the answer', async () => {
  const data = folder('ferry-confirmed-');
  let broker = await start(data);
  const url = `amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`;
  let conn = await amqplib.connect(url);
  // the kill -9 ends this connection
  conn.on('error', () => {});
  const setup = await conn.createConfirmChannel();
  for (const q of ['crash.purged', 'crash.deleted']) {
    await setup.assertQueue(q, { durable: true });
    for (let i = 0; i < 5; i++) setup.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
  }
  await setup.waitForConfirms();
  // written a moment ago: the changes below go in batches of their own
  await new Promise((resolve) => setTimeout(resolve, 100));

  const stomp = await connectStomp(broker.ports['stomp']!, { headers: { 'client-id': 'crash-durable' } });
  const subscribed = new Promise<void>((resolve) => stomp.client.watchForReceipt('subscribed', () => resolve()));
  stomp.client.subscribe('/topic/crash.events', () => {}, { 'activemq.subscriptionName': 'kept', receipt: 'subscribed' });
  await subscribed;
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  setup.on('error', () => {});
  await ch.assertQueue('crash.kept', { durable: true });
  await ch.assertExchange('crash.exchange', 'direct', { durable: true });
  await ch.bindQueue('crash.kept', 'crash.exchange', 'key');
  assert.equal((await ch.purgeQueue('crash.purged')).messageCount, 5);
  assert.equal((await ch.deleteQueue('crash.deleted')).messageCount, 5);
  await broker.stop('SIGKILL');

  broker = await start(data);
  conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.ports['amqp']}`);
  const after = await conn.createConfirmChannel();
  after.publish('crash.exchange', 'key', Buffer.from('routed'), { persistent: true });
  await after.waitForConfirms();
  assert.equal((await after.checkQueue('crash.kept')).messageCount, 1, 'the queue, the exchange and the binding are there');
  assert.equal((await after.checkQueue('crash.purged')).messageCount, 0, 'the purge held');
  after.on('error', () => {});
  await assert.rejects(after.checkQueue('crash.deleted'), /404|NOT_FOUND/, 'the delete held');
  await conn.close().catch(() => {});
  const publisher = await connectStomp(broker.ports['stomp']!);
  await publisher.sendConfirmed('/topic/crash.events', 'while away', { persistent: 'true' });
  await publisher.disconnect();
  const back = await connectStomp(broker.ports['stomp']!, { headers: { 'client-id': 'crash-durable' } });
  const inbox = back.subscribe('/topic/crash.events', { 'activemq.subscriptionName': 'kept' });
  assert.equal((await inbox.next()).body, 'while away', 'the durable subscription kept what was published');
  await back.disconnect();
  assert.equal(await broker.stop(), 0);
});

test('JMS: a durable subscriber made, and messages acknowledged with the answer awaited (jms.sendAcksAsync=false), survive a kill -9 the moment the client has its answer', { skip: jmsMissing() }, async () => {
  const data = folder('ferry-confirmed-jms-');
  let broker = await start(data);
  let url = `tcp://127.0.0.1:${broker.ports['openwire']}`;
  await jmsCheck(url, 'produce', 'crash.jms.acked', '20');
  assert.equal(one(await jmsCheck(url, 'durable-subscribe', 'crash.jms.events', 'crash-jms', 'kept'), 'subscribed'), 'kept');
  // the moment the client prints that the broker answered its acknowledgement
  const killed = broker;
  const acked = await jmsCheckHeard(url, 'ack-waiting', ['crash.jms.acked', '20'], (key) => key === 'acknowledged' && killed.child.kill('SIGKILL'));
  assert.equal(one(acked, 'acknowledged'), 20);
  await broker.exited;

  broker = await start(data);
  url = `tcp://127.0.0.1:${broker.ports['openwire']}`;
  const publisher = await connectStomp(broker.ports['stomp']!);
  await publisher.sendConfirmed('/topic/crash.jms.events', 'while away', { persistent: 'true' });
  await publisher.disconnect();
  assert.equal(one(await jmsCheck(url, 'durable-subscribe', 'crash.jms.events', 'crash-jms', 'kept', 'receive'), 'received'), 'while away');
  assert.equal(one(await jmsCheck(url, 'count', 'crash.jms.acked'), 'count'), 0, 'nothing acknowledged came back');
  assert.equal(await broker.stop(), 0);
});

test('AMQP 1.0: a durable subscription whose attach came back, and its end once the detach came back, survive a kill -9 the moment the client has the answer', async () => {
  const data = folder('ferry-confirmed-amqp-');
  let broker = await start(data);
  const source = { address: 'crash.amqp.events', durable: 2 as const, expiry_policy: 'never', capabilities: ['topic'] };
  const first = await connectAmqp(broker.ports['amqp']!, { container_id: 'crash-amqp' });
  first.connection.on('connection_error', () => {});
  first.connection.on('error', () => {});
  await first.openReceiver({ name: 'kept', source });
  // the moment the attach is read, the broker goes
  broker.child.kill('SIGKILL');
  await broker.exited;

  broker = await start(data);
  const producer = await connectAmqp(broker.ports['amqp']!);
  assert.equal((await producer.send(await producer.openSender('topic://crash.amqp.events'), { body: 'while away', durable: true })).state, 'accepted');
  await producer.close();
  let back = await connectAmqp(broker.ports['amqp']!, { container_id: 'crash-amqp' });
  const { receiver, inbox } = await back.openReceiver({ name: 'kept', source });
  assert.equal((await inbox.next()).message.body, 'while away', 'the durable subscription kept what was published');
  // a detach with closed=true ends the subscription: the moment its answer is read, the broker goes
  await new Promise<void>((resolve) => {
    receiver.once('receiver_close', () => resolve());
    receiver.close();
  });
  broker.child.kill('SIGKILL');
  await broker.exited;

  broker = await start(data);
  const late = await connectAmqp(broker.ports['amqp']!);
  await late.send(await late.openSender('topic://crash.amqp.events'), { body: 'after the end', durable: true });
  await late.close();
  back = await connectAmqp(broker.ports['amqp']!, { container_id: 'crash-amqp' });
  const again = await back.openReceiver({ name: 'kept', source });
  await again.inbox.expectNothing(300);
  await back.close();
  assert.equal(await broker.stop(), 0);
});
