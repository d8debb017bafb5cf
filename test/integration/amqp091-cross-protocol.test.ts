import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Channel, ChannelModel } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091, consumeInto } from '../helpers/amqp091.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { connectMqtt, type MqttTestClient } from '../helpers/mqtt.js';
import { connectAmqp, type AmqpTestClient } from '../helpers/amqp.js';
import { within } from '../helpers/raw-stomp.js';

let broker: TestBroker;
let conn: ChannelModel;
let ch: Channel;
let stomp: StompTestClient;
let mqtt: MqttTestClient;
let amqp: AmqpTestClient;
before(async () => {
  broker = await startBroker({ 'destinations.composites': [{ name: 'x091.comp.in', kind: 'queue', forwardTo: ['queue://x091.comp.a', 'topic://x091.comp.t'] }] });
  conn = await connect091(broker.amqpPort);
  ch = await conn.createChannel();
  stomp = await connectStomp(broker.stompPort);
  mqtt = await connectMqtt(broker.mqttPort);
  amqp = await connectAmqp(broker.amqpPort);
});
after(async () => {
  await conn.close();
  await stomp.disconnect();
  await mqtt.end();
  await amqp.close();
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `x091.${name}.${counter++}`;
}

async function stompSubscribe(destination: string): Promise<ReturnType<StompTestClient['subscribe']>> {
  const receipt = `sub-${counter++}`;
  const confirmed = new Promise<void>((resolve) => stomp.client.watchForReceipt(receipt, () => resolve()));
  const inbox = stomp.subscribe(destination, { receipt });
  await confirmed;
  return inbox;
}

test('0-9-1 -> STOMP: a declared queue is STOMP\'s /queue/x, with properties as headers', async () => {
  const q = unique('to-stomp');
  await ch.assertQueue(q);
  const inbox = await stompSubscribe(`/queue/${q}`);
  ch.sendToQueue(q, Buffer.from('hello stomp'), { contentType: 'text/plain', persistent: true, priority: 6, correlationId: 'c1', type: 'greet', headers: { region: 'eu', n: 3 } });
  const m = await inbox.next();
  assert.equal(m.body, 'hello stomp');
  assert.equal(m.headers['destination'], `/queue/${q}`);
  assert.equal(m.headers['persistent'], 'true');
  assert.equal(m.headers['priority'], '6');
  assert.equal(m.headers['correlation-id'], 'c1');
  assert.equal(m.headers['type'], 'greet');
  assert.equal(m.headers['content-type'], 'text/plain');
  assert.equal(m.headers['region'], 'eu');
  assert.equal(m.headers['n'], '3');
});

test('STOMP -> 0-9-1: a STOMP send to /queue/x reaches a 0-9-1 consumer of queue x', async () => {
  const q = unique('from-stomp');
  await ch.assertQueue(q);
  const { inbox } = await consumeInto(ch, q, { noAck: true });
  const receipt = `send-${counter++}`;
  const sent = new Promise<void>((resolve) => stomp.client.watchForReceipt(receipt, () => resolve()));
  stomp.client.publish({ destination: `/queue/${q}`, body: 'hello 0-9-1', headers: { receipt, persistent: 'true', 'correlation-id': 'c2', region: 'us' }, skipContentLengthHeader: true });
  await sent;
  const m = await inbox.next();
  assert.equal(m.content.toString(), 'hello 0-9-1');
  assert.equal(m.properties.deliveryMode, 2);
  assert.equal(m.properties.correlationId, 'c2');
  assert.equal(m.properties.headers?.['region'], 'us');
  assert.equal(m.fields.routingKey, q);
});

test('0-9-1 -> MQTT: a publish to amq.topic with key a.b reaches an MQTT subscriber of a/b', async () => {
  const topic = unique('sensor').replace(/\./g, '-');
  await mqtt.subscribe(`${topic}/temp`, { qos: 1 });
  ch.publish('amq.topic', `${topic}.temp`, Buffer.from('21.5'));
  const m = await mqtt.inbox.next();
  assert.equal(m.topic, `${topic}/temp`);
  assert.equal(m.payload, '21.5');
});

test('MQTT -> 0-9-1: a queue bound to amq.topic with # receives MQTT publishes, from amq.topic', async () => {
  const topic = unique('meter').replace(/\./g, '-');
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'amq.topic', `${topic}.#`);
  const { inbox } = await consumeInto(ch, queue, { noAck: true });
  await mqtt.publish(`${topic}/kitchen/power`, '42', { qos: 1 });
  const m = await inbox.next();
  assert.equal(m.content.toString(), '42');
  assert.equal(m.fields.routingKey, `${topic}.kitchen.power`);
  assert.equal(m.fields.exchange, 'amq.topic', 'the exchange it came through, as RabbitMQ\'s MQTT plugin publishes');
});

test('0-9-1 <-> AMQP 1.0: the same queue, properties both ways', async () => {
  const q = unique('amqp10');
  await ch.assertQueue(q);
  const { inbox } = await amqp.openReceiver(q);
  ch.sendToQueue(q, Buffer.from('to 1.0'), { messageId: 'm-091', correlationId: 'c3', persistent: true, headers: { k: 'v' } });
  const { message } = await inbox.next();
  assert.deepEqual((message.body as { content: Buffer }).content ?? message.body, Buffer.from('to 1.0'));
  assert.equal(message.message_id, 'm-091');
  assert.equal(message.correlation_id, 'c3');
  assert.equal(message.durable, true);
  assert.equal(message.application_properties?.['k'], 'v');

  const back = unique('amqp10-back');
  await ch.assertQueue(back);
  const { inbox: in091 } = await consumeInto(ch, back, { noAck: true });
  await amqp.send(await amqp.openSender(back), { body: 'from 1.0', message_id: 'm-10', subject: 'kind', application_properties: { flag: true } });
  const m = await in091.next();
  assert.equal(m.content.toString(), 'from 1.0');
  assert.equal(m.properties.messageId, 'm-10');
  assert.equal(m.properties.type, 'kind');
  assert.equal(m.properties.headers?.['flag'], true);
});

test('0-9-1 JMSXGroupID and JMSXGroupSeq headers are the message\'s group for STOMP and AMQP 1.0 consumers, and stay headers for 0-9-1 ones, also dead-lettered', async () => {
  const q = unique('group-out');
  await ch.assertQueue(q);
  const headers = { JMSXGroupID: 'gg', JMSXGroupSeq: 2, other: 'o' };
  const inbox = await stompSubscribe(`/queue/${q}`);
  ch.sendToQueue(q, Buffer.from('grouped'), { headers });
  const s = await inbox.next();
  assert.deepEqual([s.headers['JMSXGroupID'], s.headers['JMSXGroupSeq'], s.headers['other']], ['gg', '2', 'o']);
  inbox.subscription.unsubscribe();

  const { inbox: amqpInbox } = await amqp.openReceiver(q);
  ch.sendToQueue(q, Buffer.from('grouped'), { headers });
  const { message } = await amqpInbox.next();
  assert.deepEqual([message.group_id, message.group_sequence, message.application_properties], ['gg', 2, { other: 'o' }]);

  const dead = unique('group-dead');
  const work = unique('group-work');
  await ch.assertQueue(dead);
  await ch.assertQueue(work, { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
  ch.sendToQueue(work, Buffer.from('grouped'), { headers });
  const { inbox: workInbox, tag } = await consumeInto(ch, work);
  const first = await workInbox.next();
  assert.deepEqual([first.properties.headers?.['JMSXGroupID'], first.properties.headers?.['JMSXGroupSeq']], ['gg', 2]);
  await ch.cancel(tag);
  ch.reject(first, false);
  const { inbox: deadInbox } = await consumeInto(ch, dead, { noAck: true });
  const again = await deadInbox.next();
  assert.deepEqual([again.properties.headers?.['JMSXGroupID'], again.properties.headers?.['JMSXGroupSeq'], again.properties.headers?.['other']], ['gg', 2, 'o']);
});

test('a STOMP or AMQP 1.0 message\'s group reaches 0-9-1 consumers as the JMSXGroupID and JMSXGroupSeq headers', async () => {
  const q = unique('group-in');
  await ch.assertQueue(q);
  const { inbox } = await consumeInto(ch, q, { noAck: true });
  await stomp.sendConfirmed(`/queue/${q}`, 'from stomp', { JMSXGroupID: 'g1', JMSXGroupSeq: '3', custom: 'v' });
  const fromStomp = await inbox.next();
  assert.deepEqual(fromStomp.properties.headers, { JMSXGroupID: 'g1', JMSXGroupSeq: 3, custom: 'v' });
  await amqp.send(await amqp.openSender(q), { body: 'from 1.0', group_id: 'ga', group_sequence: 7 });
  const fromAmqp = await inbox.next();
  assert.deepEqual([fromAmqp.properties.headers?.['JMSXGroupID'], fromAmqp.properties.headers?.['JMSXGroupSeq']], ['ga', 7]);
});

test('a 0-9-1 publish to the default exchange with a composite queue\'s name reaches the composite\'s parts, as a STOMP send to it does', async () => {
  const topic = await stompSubscribe('/topic/x091.comp.t');
  const confirms = await conn.createConfirmChannel();
  const returned: string[] = [];
  confirms.on('return', (m: { content: Buffer }) => returned.push(m.content.toString()));
  await confirms.assertQueue('x091.comp.cc');
  confirms.publish('', 'x091.comp.in', Buffer.from('to the parts'), { mandatory: true, persistent: true, CC: ['x091.comp.cc'] });
  await confirms.waitForConfirms();
  assert.deepEqual(returned, []);
  assert.equal((await topic.next()).body, 'to the parts');
  const m = await confirms.get('x091.comp.a', { noAck: true });
  assert.notEqual(m, false);
  assert.equal((m as { content: Buffer }).content.toString(), 'to the parts');
  const cc = await confirms.get('x091.comp.cc', { noAck: true });
  assert.notEqual(cc, false, 'a CC key routes too');
  await confirms.close();
});

/**
 * The RabbitMQ RPC pattern: the requester's reply-to is its exclusive server-named queue, which
 * goes with its connection. The request waits for its responder after the requester has gone.
 */
async function requestFromGoneRequester(target: string): Promise<string> {
  const requester = await connect091(broker.amqpPort);
  const rch = await requester.createChannel();
  const { queue: replyQueue } = await rch.assertQueue('', { exclusive: true });
  assert.match(replyQueue, /^amq\.gen-/);
  await rch.assertQueue(target);
  rch.sendToQueue(target, Buffer.from('request'), { replyTo: replyQueue, correlationId: 'late' });
  // the request is in place before its requester goes
  assert.equal((await rch.checkQueue(target)).messageCount, 1);
  await requester.close();
  return replyQueue;
}

async function assertNoQueue(name: string): Promise<void> {
  const probe = await conn.createChannel();
  probe.on('error', () => {});
  await assert.rejects(probe.checkQueue(name), /404|NOT_FOUND/);
}

test('a STOMP or AMQP 1.0 reply to a 0-9-1 requester\'s exclusive queue after the requester has gone is refused as not found, as to a gone temporary queue, and makes no queue', async () => {
  const stompTarget = unique('late.stomp');
  const stompReplyQueue = await requestFromGoneRequester(stompTarget);
  const responder = await connectStomp(broker.stompPort);
  const request = await responder.subscribe(`/queue/${stompTarget}`).next();
  assert.equal(request.headers['reply-to'], `/queue/${stompReplyQueue}`);
  responder.client.publish({ destination: request.headers['reply-to']!, body: 'too late' });
  await within(3000, 'close after sending to a gone exclusive queue', responder.closed);
  assert.equal(responder.errors[0]?.headers['code'], 'FERRY_DESTINATION_NOT_FOUND');
  await assertNoQueue(stompReplyQueue);

  const amqpTarget = unique('late.amqp');
  const amqpReplyQueue = await requestFromGoneRequester(amqpTarget);
  const { inbox } = await amqp.openReceiver(amqpTarget);
  const { message } = await inbox.next();
  assert.equal(message.reply_to, amqpReplyQueue);
  const relay = await amqp.openSender({ target: {} });
  const outcome = await amqp.send(relay, { to: message.reply_to, body: 'too late', correlation_id: 'late' });
  assert.equal(outcome.state, 'rejected');
  assert.equal(outcome.state === 'rejected' ? outcome.error?.condition : undefined, 'amqp:not-found');
  await assertNoQueue(amqpReplyQueue);
});
