import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectAmqp, transactions } from '../helpers/amqp.js';
import { connect091 } from '../helpers/amqp091.js';
import { startBroker } from '../helpers/broker.js';
import { RawStompClient, within } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { ApiClient } from '../helpers/management.js';

/**
 * A queue's memoryLimit and what its memoryPolicy does there: `fail` refuses sends in the
 * producer's protocol while consumers go on, `drop-oldest` keeps the newest as a bounded ring,
 * `block` holds the queue's producers, each in its protocol's way, until a consumer makes room.
 */

/** Large enough that what each message holds beside its body (headers, the objects around it) never adds up to one more. */
const BODY = 'k'.repeat(64 * 1024);
/** What `n` such messages hold, near enough for a limit: the next one goes past it. */
const heldBy = (n: number): number => n * BODY.length;

test('memoryPolicy fail: a send to a full queue is refused in STOMP, AMQP 1.0 and AMQP 0-9-1 terms; other queues carry on; room made by a consumer takes sends again', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.fail', memoryLimit: heldBy(4), memoryPolicy: 'fail' }] });
  t.after(() => broker.stop());
  const producer = await connectStomp(broker.stompPort);
  for (let i = 0; i < 4; i++) await producer.sendConfirmed('/queue/mem.fail', BODY, { persistent: 'true' });

  const { raw } = await RawStompClient.connected(broker.stompPort);
  await raw.send('SEND', { destination: '/queue/mem.fail', receipt: 'r' }, BODY);
  const error = await raw.nextFrame();
  assert.equal(error.command, 'ERROR');
  assert.equal(error.headers.get('code'), 'FERRY_DESTINATION_FULL');

  const amqp = await connectAmqp(broker.amqpPort);
  const sender = await amqp.openSender('mem.fail');
  const outcome = await amqp.send(sender, { body: BODY });
  assert.equal(outcome.state, 'rejected');
  assert.equal(outcome.state === 'rejected' ? outcome.error?.condition : undefined, 'amqp:resource-limit-exceeded');

  // AMQP 0-9-1: the publish is nacked on a confirm channel, and the queue does not take it
  const rabbit = await connect091(broker.amqpPort);
  const confirms = await rabbit.createConfirmChannel();
  confirms.publish('', 'mem.fail', Buffer.from(BODY), { persistent: true });
  await assert.rejects(confirms.waitForConfirms(), 'a basic.nack');
  await rabbit.close();
  assert.equal(broker.server.broker.stats().queues.find((q) => q.name === 'mem.fail')!.pending, 4);

  // inside a transaction the send is refused when made, not at a commit that would then fail whole
  const { raw: transacted } = await RawStompClient.connected(broker.stompPort);
  await transacted.send('BEGIN', { transaction: 'tx1' });
  await transacted.send('SEND', { destination: '/queue/mem.fail', transaction: 'tx1', receipt: 'in-tx' }, BODY);
  const txError = await transacted.nextFrame();
  assert.equal(txError.command, 'ERROR');
  assert.equal(txError.headers.get('code'), 'FERRY_DESTINATION_FULL');

  // another queue is not affected, and neither is the producer's own connection for it
  await producer.sendConfirmed('/queue/mem.other', 'elsewhere');
  // a consumer makes room; the queue takes sends again
  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe('/queue/mem.fail', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
  const first = await inbox.next();
  first.ack();
  const waiting = (): number => broker.server.broker.stats().queues.find((q) => q.name === 'mem.fail')!.pending;
  while (waiting() > 2) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(await amqp.send(sender, { body: BODY }), { state: 'accepted' });
  await amqp.close();
  await consumer.disconnect();
  await producer.disconnect();
});

test('memoryPolicy drop-oldest: the queue keeps the newest messages within its limit and counts what it discarded', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.ring', memoryLimit: heldBy(3) - 1000, memoryPolicy: 'drop-oldest' }] });
  t.after(() => broker.stop());
  const producer = await connectStomp(broker.stompPort);
  for (let i = 0; i < 10; i++) await producer.sendConfirmed('/queue/mem.ring', `${i}${BODY.slice(1)}`, { persistent: 'true' });
  const stats = broker.server.broker.stats().queues.find((q) => q.name === 'mem.ring')!;
  assert.equal(stats.pending, 2);
  assert.equal(stats.discarded, 8);
  const inbox = producer.subscribe('/queue/mem.ring');
  assert.deepEqual([(await inbox.next()).body[0], (await inbox.next()).body[0]], ['8', '9']);
  await producer.disconnect();
});

/** Waiting messages of queue `name`. */
function waitingIn(broker: Awaited<ReturnType<typeof startBroker>>, name: string): number {
  return broker.server.broker.stats().queues.find((q) => q.name === name)?.pending ?? 0;
}

test('memoryPolicy block: a STOMP producer that fills a queue is no longer read until a consumer makes room; other connections carry on', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.block', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const { raw } = await RawStompClient.connected(broker.stompPort);
  for (let i = 0; i < 4; i++) await raw.sendWithReceipt('SEND', { destination: '/queue/mem.block', persistent: 'true' }, `${i}${BODY.slice(1)}`);
  // the fourth filled the queue: the fifth waits unread in the socket
  await raw.send('SEND', { destination: '/queue/mem.block', persistent: 'true', receipt: 'fifth' }, `4${BODY.slice(1)}`);
  const other = await connectStomp(broker.stompPort);
  await other.sendConfirmed('/queue/mem.elsewhere', 'other queues and connections carry on');
  assert.equal(waitingIn(broker, 'mem.block'), 4);
  assert.equal(raw.received.toString().split('RECEIPT').length - 1, 4, 'no receipt for the fifth yet');

  const inbox = other.subscribe('/queue/mem.block', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
  const bodies: string[] = [];
  const first = await inbox.next();
  bodies.push(first.body[0]!);
  first.ack();
  const receipt = await raw.nextFrame();
  assert.equal(receipt.command, 'RECEIPT');
  assert.equal(receipt.headers.get('receipt-id'), 'fifth');
  for (let i = 0; i < 4; i++) {
    const next = await inbox.next();
    bodies.push(next.body[0]!);
    next.ack();
  }
  assert.deepEqual(bodies, ['0', '1', '2', '3', '4'], 'every message, in order: nothing held was dropped');
  raw.destroy();
  await other.disconnect();
});

test('memoryPolicy block on a topic: an MQTT publisher gets no PUBACK while an absent subscriber\'s session holds the limit; its return releases the publisher', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.mqtt', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const away = await connectMqtt(broker.mqttPort, { clientId: 'block-sub', clean: false });
  await away.subscribe('mem/mqtt', { qos: 1 });
  await away.end();
  const publisher = await connectMqtt(broker.mqttPort, { clientId: 'block-pub' });
  for (let i = 0; i < 4; i++) await publisher.publish('mem/mqtt', `${i}${BODY.slice(1)}`, { qos: 1 });
  let fifthAcked = false;
  const fifth = publisher.publish('mem/mqtt', `4${BODY.slice(1)}`, { qos: 1 }).then(() => (fifthAcked = true));
  const other = await connectStomp(broker.stompPort);
  await other.sendConfirmed('/queue/mem.elsewhere', 'the broker carries on');
  assert.equal(fifthAcked, false, 'the fifth PUBLISH waits unread');
  assert.deepEqual(broker.server.broker.stats().durableSubscriptions.map((d) => d.pending), [4], 'the absent session holds four');

  const back = await connectMqtt(broker.mqttPort, { clientId: 'block-sub', clean: false });
  const got = await back.inbox.take(5);
  await within(5000, 'the fifth PUBACK', fifth);
  assert.deepEqual(got.map((m) => m.payload[0]), ['0', '1', '2', '3', '4']);
  await back.end();
  await publisher.end();
  await other.disconnect();
});

test('memoryPolicy block: an AMQP 1.0 link that fills a queue has its credit taken back until the queue has room; the connection\'s other links go on', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.amqp', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const amqp = await connectAmqp(broker.amqpPort);
  const sender = await amqp.openSender('mem.amqp');
  // the broker's first flow may follow its attach in a later read
  if (!sender.sendable()) await new Promise<void>((resolve) => sender.once('sendable', () => resolve()));
  let sent = 0;
  // bounded: without flow control the credit would never run out
  while (sender.sendable() && sent < 50) {
    assert.deepEqual(await amqp.send(sender, { body: BODY }), { state: 'accepted' });
    sent++;
  }
  assert.equal(sender.sendable(), false, 'the link ran out of credit');
  assert.ok(sent >= 4 && sent <= 6, `the queue's limit, not the window of credit the client held (${sent})`);
  const elsewhere = await amqp.openSender('mem.amqp.other');
  assert.deepEqual(await amqp.send(elsewhere, { body: 'another link of the same connection' }), { state: 'accepted' });

  const credit = new Promise<void>((resolve) => sender.once('sendable', () => resolve()));
  const { inbox } = await amqp.openReceiver('mem.amqp');
  await inbox.take(sent);
  await within(5000, 'credit on the full link', credit);
  assert.deepEqual(await amqp.send(sender, { body: 'after' }), { state: 'accepted' });
  await amqp.close();
});

test('memoryPolicy block: an AMQP 0-9-1 publisher hears connection.blocked, is not read, and hears connection.unblocked once a consumer made room', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.rabbit', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const connection = await connect091(broker.amqpPort);
  const blocked = new Promise<string>((resolve) => connection.once('blocked', (reason: string) => resolve(reason)));
  const unblocked = new Promise<void>((resolve) => connection.once('unblocked', () => resolve()));
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue('mem.rabbit');
  for (let i = 0; i < 4; i++) channel.sendToQueue('mem.rabbit', Buffer.from(`${i}${BODY.slice(1)}`), { persistent: true });
  await channel.waitForConfirms();
  assert.match(await within(5000, 'connection.blocked', blocked), /memoryLimit/);
  channel.sendToQueue('mem.rabbit', Buffer.from(`4${BODY.slice(1)}`), { persistent: true });
  const fifth = channel.waitForConfirms();
  const other = await connectStomp(broker.stompPort);
  await other.sendConfirmed('/queue/mem.elsewhere', 'the broker carries on');
  assert.equal(waitingIn(broker, 'mem.rabbit'), 4, 'the fifth publish waits unread');

  const inbox = other.subscribe('/queue/mem.rabbit');
  await within(5000, 'connection.unblocked', unblocked);
  await within(5000, 'the fifth confirm', fifth);
  const bodies = (await inbox.take(5)).map((m) => m.body[0]);
  assert.deepEqual(bodies, ['0', '1', '2', '3', '4']);
  await connection.close();
  await other.disconnect();
});

test('limits.messageMemory: past the bytes waiting in all queues together, each queue applies its memoryPolicy (block holds, fail refuses, page keeps taking) until consumers make room', async (t) => {
  const broker = await startBroker({
    'limits.messageMemory': heldBy(4),
    'destinations.policies': [
      { match: 'all.block', memoryPolicy: 'block' },
      { match: 'all.fail', memoryPolicy: 'fail' },
    ],
  });
  t.after(() => broker.stop());
  const producer = await connectStomp(broker.stompPort);
  for (let i = 0; i < 4; i++) await producer.sendConfirmed('/queue/all.backlog', BODY, { persistent: 'true' });

  await producer.sendConfirmed('/queue/all.paged', BODY, { persistent: 'true' });
  const { raw: refused } = await RawStompClient.connected(broker.stompPort);
  await refused.send('SEND', { destination: '/queue/all.fail', receipt: 'r' }, BODY);
  const error = await refused.nextFrame();
  assert.equal(error.command, 'ERROR');
  assert.equal(error.headers.get('code'), 'FERRY_DESTINATION_FULL');

  const { raw: held } = await RawStompClient.connected(broker.stompPort);
  await held.sendWithReceipt('SEND', { destination: '/queue/all.block' }, 'taken, then its producer is held');
  await held.send('SEND', { destination: '/queue/all.block', receipt: 'second' }, 'waits unread');
  await producer.sendConfirmed('/queue/all.paged', 'the broker carries on');
  assert.equal(waitingIn(broker, 'all.block'), 1);

  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe('/queue/all.backlog');
  await inbox.take(4);
  const receipt = await held.nextFrame();
  assert.equal(receipt.headers.get('receipt-id'), 'second');
  assert.equal(waitingIn(broker, 'all.block'), 2);
  held.destroy();
  await consumer.disconnect();
  await producer.disconnect();
});

test('memoryPolicy page: past the limit, non-persistent messages sent to the queue wait on disk too, come back whole and in order, and their records go once consumed', async (t) => {
  const broker = await startBroker({ 'store.bodyCacheSize': 2048, 'destinations.policies': [{ match: 'mem.page', memoryLimit: 4096, memoryPolicy: 'page' }] });
  t.after(() => broker.stop());
  const stats = (): ReturnType<typeof broker.server.broker.stats> => broker.server.broker.stats();
  const producer = await connectStomp(broker.stompPort);
  await producer.sendConfirmed('/queue/mem.page', 'first, in memory');
  const recordsBefore = stats().store.records;
  const bodies = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'p'.repeat(1022)}`);
  for (const body of bodies) await producer.sendConfirmed('/queue/mem.page', body);
  assert.ok(stats().messageBodies.onDisk > 0, `bodies wait on disk (${stats().messageBodies.onDisk})`);
  assert.ok(stats().store.records > recordsBefore, 'the paged messages were written');

  const inbox = producer.subscribe('/queue/mem.page', { ack: 'client-individual' });
  const got: string[] = [];
  for (let i = 0; i < 21; i++) {
    const message = await inbox.next();
    got.push(message.body);
    message.ack();
  }
  assert.deepEqual(got, ['first, in memory', ...bodies], 'every body whole, in order');
  await producer.sendConfirmed('/queue/mem.page', 'a receipt after the acknowledgements');
  const drained = await inbox.next();
  drained.ack();
  while (stats().queues.find((q) => q.name === 'mem.page')!.inFlight > 0) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stats().messageBodies.onDisk, 0);
  assert.equal(stats().store.records, recordsBefore, 'each paged record went with its message');
  await producer.disconnect();
});

test('memoryPolicy fail on a topic: an MQTT 5 publish that reaches a full subscription gets PUBACK 0x97 (quota exceeded) and the connection stays; room made by the subscriber takes publishes again', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.quota', kind: 'topic', memoryLimit: heldBy(4), memoryPolicy: 'fail' }] });
  t.after(() => broker.stop());
  const session = { clientId: 'quota-sub', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } } as const;
  const away = await connectMqtt(broker.mqttPort, session);
  await away.subscribe('mem/quota', { qos: 1 });
  await away.end();
  const publisher = await connectMqtt(broker.mqttPort, { clientId: 'quota-pub', protocolVersion: 5 });
  for (let i = 0; i < 4; i++) await publisher.publish('mem/quota', `${i}${BODY.slice(1)}`, { qos: 1 });
  await assert.rejects(publisher.publish('mem/quota', 'refused', { qos: 1 }), (err: { code?: number }) => err.code === 0x97);
  await publisher.publish('mem/other', 'another topic, the same connection', { qos: 1 });

  const back = await connectMqtt(broker.mqttPort, session);
  const got = await back.inbox.take(4);
  assert.deepEqual(got.map((m) => m.payload[0]), ['0', '1', '2', '3'], 'what was taken is all there');
  while (broker.server.broker.stats().durableSubscriptions[0]!.pending > 0) await new Promise((resolve) => setImmediate(resolve));
  await publisher.publish('mem/quota', 'room again', { qos: 1 });
  assert.equal((await back.inbox.next()).payload, 'room again');
  await back.end();
  await publisher.end();
});

test('memoryPolicy block: a STOMP transaction whose commit fills the queue holds its producer after the commit, until a consumer makes room', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.txblock', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const { raw } = await RawStompClient.connected(broker.stompPort);
  await raw.send('BEGIN', { transaction: 't1' });
  for (let i = 0; i < 4; i++) await raw.send('SEND', { destination: '/queue/mem.txblock', transaction: 't1' }, `${i}${BODY.slice(1)}`);
  const committed = await raw.sendWithReceipt('COMMIT', { transaction: 't1' });
  assert.equal(committed.command, 'RECEIPT');
  await raw.send('SEND', { destination: '/queue/mem.txblock', receipt: 'after' }, 'waits unread');
  const other = await connectStomp(broker.stompPort);
  await other.sendConfirmed('/queue/mem.elsewhere', 'the broker carries on');
  assert.equal(waitingIn(broker, 'mem.txblock'), 4, 'the send after the commit waits unread');

  const inbox = other.subscribe('/queue/mem.txblock');
  await inbox.take(4);
  assert.equal((await raw.nextFrame()).headers.get('receipt-id'), 'after');
  assert.equal((await inbox.next()).body, 'waits unread');
  raw.destroy();
  await other.disconnect();
});

test('memoryPolicy block: an AMQP 1.0 discharge whose commit fills the queue is settled only once a consumer makes room; other connections carry on', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.amqptx', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const amqp = await connectAmqp(broker.amqpPort);
  const tx = await transactions(amqp);
  const txnId = await tx.declare();
  const sender = await amqp.openSender('mem.amqptx');
  for (let i = 0; i < 4; i++) assert.deepEqual(await tx.send(sender, { body: `${i}${BODY.slice(1)}` }, txnId), { state: 'accepted' });
  let settled = false;
  const discharged = tx.discharge(txnId, false).then((outcome) => {
    settled = true;
    return outcome;
  });
  const stomp = await connectStomp(broker.stompPort);
  while (waitingIn(broker, 'mem.amqptx') < 4) await new Promise((resolve) => setImmediate(resolve));
  // a round trip through another connection: had the discharge been settled, it would be here by now
  await stomp.sendConfirmed('/queue/mem.elsewhere', 'the broker carries on');
  await amqp.send(await amqp.openSender('mem.amqptx.other'), { body: 'and so does this connection' });
  assert.equal(settled, false, 'the discharge waits while its commit left the queue full');

  const inbox = stomp.subscribe('/queue/mem.amqptx');
  await inbox.take(4);
  assert.deepEqual(await within(5000, 'the discharge', discharged), { state: 'accepted' });
  await amqp.close();
  await stomp.disconnect();
});

test('limits.messageMemory with the default memoryPolicy page: a non-durable topic subscriber that stops reading holds the topic\'s producers, since topic messages cannot be paged; its leaving lets them go on', async (t) => {
  const broker = await startBroker({ 'limits.messageMemory': heldBy(4) });
  t.after(() => broker.stop());
  const { raw: stalled } = await RawStompClient.connected(broker.stompPort);
  await stalled.sendWithReceipt('SUBSCRIBE', { id: 's', destination: '/topic/mem.t', ack: 'client', 'activemq.prefetchSize': '1' });
  const fast = await connectStomp(broker.stompPort);
  const inbox = fast.subscribe('/topic/mem.t');
  await fast.sendConfirmed('/queue/mem.ready', 'subscribed');

  const { raw: producer } = await RawStompClient.connected(broker.stompPort);
  // the stalled subscriber holds one message unacknowledged; four more wait for it, at the limit
  for (let i = 0; i < 5; i++) await producer.sendWithReceipt('SEND', { destination: '/topic/mem.t' }, `${i}${BODY.slice(1)}`);
  await producer.send('SEND', { destination: '/topic/mem.t', receipt: 'sixth' }, `5${BODY.slice(1)}`);
  // a second producer's message is taken (its producer is held after it): had the sixth been read, it would come first
  const { raw: other } = await RawStompClient.connected(broker.stompPort);
  await other.sendWithReceipt('SEND', { destination: '/topic/mem.t' }, 'marker');
  const bodies = (await inbox.take(6)).map((m) => (m.body === 'marker' ? m.body : m.body[0]));
  assert.deepEqual(bodies, ['0', '1', '2', '3', '4', 'marker'], 'the sixth send waits unread');

  stalled.destroy();
  const receipt = await producer.nextFrame();
  assert.equal(receipt.headers.get('receipt-id'), 'sixth');
  assert.equal((await inbox.next()).body[0], '5');
  producer.destroy();
  other.destroy();
  await fast.disconnect();
});

test('limits.messageMemory counts what waiting messages hold in memory: a persistent backlog waiting on disk neither refuses a fail queue\'s sends nor holds a block queue\'s producer, and the count comes back to where it was once nack, redelivery, selectors, an aborted transaction, move and purge have drained it', async (t) => {
  const broker = await startBroker({
    'limits.messageMemory': heldBy(4),
    'store.bodyCacheSize': heldBy(2),
    'destinations.policies': [
      { match: 'disk.block', memoryPolicy: 'block' },
      { match: 'disk.fail', memoryPolicy: 'fail' },
    ],
  });
  t.after(() => broker.stop());
  const memory = broker.server.broker.limits.messageMemory;
  const before = memory.bytes;
  const producer = await connectStomp(broker.stompPort);
  for (let i = 0; i < 16; i++) await producer.sendConfirmed('/queue/disk.backlog', BODY, { persistent: 'true', colour: i % 2 === 0 ? 'red' : 'blue' });
  assert.ok(broker.server.broker.stats().messageBodies.onDisk >= 12, 'the backlog\'s bodies past the cache wait on disk');

  const { raw } = await RawStompClient.connected(broker.stompPort);
  await raw.send('SEND', { destination: '/queue/disk.fail', receipt: 'taken' }, 'small');
  assert.equal((await raw.nextFrame()).command, 'RECEIPT', 'an empty fail queue takes the send');
  await within(5000, 'a block queue\'s first receipt', raw.sendWithReceipt('SEND', { destination: '/queue/disk.block' }, 'small'));
  await within(5000, 'a block queue\'s second receipt: its producer is not held', raw.sendWithReceipt('SEND', { destination: '/queue/disk.block' }, 'small'));
  raw.destroy();

  // bodies come back from disk as consumers read ahead, and some go back to waiting (the NACK's to the dead-letter queue)
  const selective = await connectStomp(broker.stompPort);
  const reds = selective.subscribe('/queue/disk.backlog', { ack: 'client-individual', 'activemq.prefetchSize': '1', selector: "colour = 'red'" });
  (await reds.next()).nack();
  (await reds.next()).ack();
  await reds.next();
  await selective.disconnect();

  const { raw: transacted } = await RawStompClient.connected(broker.stompPort);
  await transacted.send('SUBSCRIBE', { id: 's', destination: '/queue/disk.backlog', ack: 'client-individual', 'activemq.prefetchSize': '2' });
  const acks = [await transacted.nextFrameOf('MESSAGE'), await transacted.nextFrameOf('MESSAGE')];
  await transacted.send('BEGIN', { transaction: 'tx' });
  for (const message of acks) await transacted.send('ACK', { id: message.headers.get('ack')!, transaction: 'tx' });
  await transacted.send('ABORT', { transaction: 'tx', receipt: 'aborted' });
  await transacted.nextFrameOf('RECEIPT');
  transacted.destroy();

  const api = new ApiClient(broker.server.ports['http']!);
  assert.equal((await api.post('/api/v1/queues/disk.backlog/messages/move', { to: 'queue://disk.moved', selector: "colour = 'blue'" })).body['moved'], 8);
  assert.equal((await api.post('/api/v1/destinations/queue/disk.moved/purge')).body['purged'], 8);
  const consumer = await connectStomp(broker.stompPort);
  assert.equal((await consumer.subscribe('/queue/disk.backlog').take(6)).length, 6);
  assert.equal((await consumer.subscribe('/queue/ActiveMQ.DLQ').next()).headers['colour'], 'red', 'the message nacked');
  await consumer.subscribe('/queue/disk.fail').next();
  await consumer.subscribe('/queue/disk.block').take(2);
  await consumer.sendConfirmed('/queue/disk.fence', 'after every delivery');
  await consumer.subscribe('/queue/disk.fence').next();
  assert.equal(memory.bytes, before, 'every byte counted in has been counted out');
  await consumer.disconnect();
  await producer.disconnect();
});

test('memoryPolicy block on a topic: a producer whose own subscription is full is still held by another full subscription, whichever the topic reaches first', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'mem.self', kind: 'topic', memoryLimit: heldBy(4), memoryPolicy: 'block' }] });
  t.after(() => broker.stop());
  const subscribe = { destination: '/topic/mem.self', ack: 'client-individual', 'activemq.prefetchSize': '1' };
  // the producer's subscription comes first: its own acknowledgements exempt it from that one only
  const { raw: producer } = await RawStompClient.connected(broker.stompPort);
  await producer.sendWithReceipt('SUBSCRIBE', { id: 'own', ...subscribe });
  const { raw: other } = await RawStompClient.connected(broker.stompPort);
  await other.sendWithReceipt('SUBSCRIBE', { id: 'other', ...subscribe });

  // each subscription has one message in flight, and four wait, at the limit
  for (let i = 0; i < 5; i++) {
    await producer.send('SEND', { destination: '/topic/mem.self', receipt: `r${i}` }, `${i}${BODY.slice(1)}`);
    await producer.nextFrameOf('RECEIPT');
  }
  await producer.send('SEND', { destination: '/topic/mem.self', receipt: 'sixth' }, `5${BODY.slice(1)}`);
  // a second producer's message is taken (its producer is held after it): had the sixth been read, it would come first
  const { raw: marker } = await RawStompClient.connected(broker.stompPort);
  await marker.sendWithReceipt('SEND', { destination: '/topic/mem.self' }, 'marker');

  const bodies: string[] = [];
  for (let i = 0; i < 7; i++) {
    const message = await other.nextFrameOf('MESSAGE', 5000);
    const body = message.body.toString();
    bodies.push(body === 'marker' ? body : body[0]!);
    await other.send('ACK', { id: message.headers.get('ack')! });
  }
  assert.deepEqual(bodies, ['0', '1', '2', '3', '4', 'marker', '5'], 'the sixth send waited unread until the other subscription had room');
  assert.equal((await producer.nextFrameOf('RECEIPT')).headers.get('receipt-id'), 'sixth');
  producer.destroy();
  other.destroy();
  marker.destroy();
});
