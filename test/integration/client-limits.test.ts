import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqplib from 'amqplib';
import type { AmqpError, EventContext } from 'rhea';
import { connectAmqp, rhea } from '../helpers/amqp.js';
import { channelError } from '../helpers/amqp091.js';
import { startBroker } from '../helpers/broker.js';
import type { Packet } from 'mqtt';
import { connectMqtt, type MqttTestClient } from '../helpers/mqtt.js';
import { RawStompClient, eventually } from '../helpers/raw-stomp.js';
import { startSecureBroker } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * The limits on what one client may hold (`limits.*`), checked in core: every protocol refuses
 * with FERRY_LIMIT_EXCEEDED in its own terms, only the request past the limit is refused, and
 * room comes back when what held it goes.
 */

/** A rhea connection the broker refuses: the condition of its close. */
function refusedAmqp(port: number, options: Record<string, unknown> = {}): Promise<string | undefined> {
  const connection = rhea.create_container({ id: `limits-${Math.random().toString(36).slice(2)}` }).connect({ host: '127.0.0.1', port, reconnect: false, ...options } as never);
  connection.on('connection_error', () => {});
  connection.on('error', () => {});
  return new Promise((resolve) => {
    connection.once('connection_close', (ctx: EventContext) => resolve((ctx.connection.error as AmqpError | undefined)?.condition));
    connection.once('disconnected', (ctx: EventContext) => resolve((ctx.connection.error as AmqpError | undefined)?.condition));
  });
}

/** The SUBACK's reason codes for `filters` (MQTT.js rejects a SUBSCRIBE with any refusal in it, without them). */
function suback(client: MqttTestClient, filters: readonly string[]): Promise<number[]> {
  const packet = new Promise<number[]>((resolve) => {
    const listener = (p: Packet): void => {
      if (p.cmd !== 'suback') return;
      client.client.removeListener('packetreceive', listener);
      resolve((p as unknown as { granted: number[] }).granted);
    };
    client.client.on('packetreceive', listener);
  });
  client.client.subscribe(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])), () => {});
  return packet;
}

/** A STOMP CONNECT the broker answers with ERROR: that frame's code, once the broker has closed. */
async function refusedStomp(port: number, headers: Record<string, string> = {}): Promise<string | undefined> {
  const raw = await RawStompClient.open(port);
  await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', ...headers });
  const frame = await raw.nextFrame();
  await raw.closed;
  assert.equal(frame.command, 'ERROR');
  return frame.headers.get('code');
}

test('limits.connectionsPerUser and limits.users: a user at its limit is refused in every protocol; other users carry on; room comes back', async (t) => {
  const broker = await startSecureBroker({ settings: { 'limits.connectionsPerUser': 2, 'limits.users': { reader: 1 } } });
  t.after(() => broker.stop());
  const admin = { login: 'admin', passcode: 'admin-secret' };
  const first = await connectStomp(broker.stompPort, { headers: admin });
  const second = await connectStomp(broker.stompPort, { headers: admin });

  assert.equal(await refusedStomp(broker.stompPort, admin), 'FERRY_LIMIT_EXCEEDED');
  await assert.rejects(connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'admin', password: 'admin-secret' }), (err: { code?: number }) => err.code === 0x97);
  await assert.rejects(connectMqtt(broker.mqttPort, { protocolVersion: 4, username: 'admin', password: 'admin-secret' }), (err: { code?: number }) => err.code === 3);
  assert.equal(await refusedAmqp(broker.amqpPort, { username: 'admin', password: 'admin-secret' }), 'amqp:resource-limit-exceeded');
  await assert.rejects(amqplib.connect(`amqp://admin:admin-secret@127.0.0.1:${broker.amqpPort}`), /530|NOT_ALLOWED/);

  // the override: one for the reader, whatever the admin holds
  const reader = await connectStomp(broker.stompPort, { headers: { login: 'reader', passcode: 'reader-secret' } });
  assert.equal(await refusedStomp(broker.stompPort, { login: 'reader', passcode: 'reader-secret' }), 'FERRY_LIMIT_EXCEEDED');

  assert.equal(broker.server.broker.stats().limitRefusals.connections, 6);
  await second.disconnect();
  await eventually('the admin\'s second connection is gone', () => broker.server.broker.stats().connections === 2);
  const again = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'admin', password: 'admin-secret' });
  await again.end();
  await first.sendConfirmed('/queue/limits.user', 'still here');
  await reader.disconnect();
  await first.disconnect();
});

test('limits.anonymousConnections: anonymous clients share one limit', async (t) => {
  const broker = await startBroker({ 'limits.anonymousConnections': 1 });
  t.after(() => broker.stop());
  const only = await connectStomp(broker.stompPort);
  assert.equal(await refusedStomp(broker.stompPort), 'FERRY_LIMIT_EXCEEDED');
  await assert.rejects(connectMqtt(broker.mqttPort, { protocolVersion: 5 }), (err: { code?: number }) => err.code === 0x97);
  await only.disconnect();
});

test('limits.maxDestinations: a destination past the limit is refused in every protocol and by operators; existing ones carry on; dead letters are never refused', async (t) => {
  const broker = await startBroker({ 'limits.maxDestinations': 3 });
  t.after(() => broker.stop());
  // the broker's own $SYS topics are listed, and count toward no limit
  const count = (): number => {
    const s = broker.server.broker.stats();
    return s.queues.length + s.topics.filter((t) => !t.name.startsWith('$SYS')).length;
  };
  assert.equal(count(), 0, 'a new broker has no destinations');
  const stomp = await connectStomp(broker.stompPort);
  await stomp.sendConfirmed('/queue/limits.a', 'one', { persistent: 'true' });
  await stomp.sendConfirmed('/topic/limits.b', 'two');
  const amqp091 = await amqplib.connect(`amqp://127.0.0.1:${broker.amqpPort}`);
  const ch = await amqp091.createChannel();
  await ch.assertQueue('limits.c');
  assert.equal(count(), 3);

  // STOMP: an ERROR for the send
  const raw = await RawStompClient.connected(broker.stompPort);
  await raw.raw.send('SEND', { destination: '/queue/limits.d', receipt: 'r' }, 'past');
  const error = await raw.raw.nextFrame();
  assert.equal(error.command, 'ERROR');
  assert.equal(error.headers.get('code'), 'FERRY_LIMIT_EXCEEDED');
  // AMQP 0-9-1: precondition-failed on the channel, as RabbitMQ's queue limit
  const closing = channelError(ch);
  await assert.rejects(ch.assertQueue('limits.e'));
  assert.equal((await closing).code, 406);
  // MQTT 5: PUBACK quota exceeded
  const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  await assert.rejects(mqtt.publish('limits/f', 'past', { qos: 1 }), (err: { code?: number }) => err.code === 0x97);
  // the broker's own $SYS figures, published once an MQTT client is on, are neither refused nor counted
  await mqtt.subscribe('$SYS/broker/version');
  assert.match((await mqtt.inbox.next()).payload, /^Ferry /);
  // AMQP 1.0: the link is refused
  const amqp = await connectAmqp(broker.amqpPort);
  await assert.rejects(amqp.openSender('limits.g'), (err: { amqp?: AmqpError }) => err.amqp?.condition === 'amqp:resource-limit-exceeded');
  // operators too
  assert.throws(() => broker.server.broker.admin.createDestination('queue', 'limits.h'), /maxDestinations/);
  assert.throws(() => broker.server.broker.admin.createDestination('topic', 'limits.i'), /maxDestinations/);
  assert.equal(count(), 3);
  assert.ok(broker.server.broker.stats().limitRefusals.destinations >= 5);
  const metrics = await (await fetch(`http://127.0.0.1:${broker.server.ports['http']!}/metrics`)).text();
  assert.match(metrics, /ferry_limit_refusals_total\{limit="destinations"\} 6\n/, 'the six refusals above, and none of the $SYS figures');

  // what exists carries on, and a dead letter (a STOMP NACK, as in ActiveMQ) finds its queue although the limit is reached
  await stomp.sendConfirmed('/queue/limits.a', 'again');
  const sub = stomp.subscribe('/queue/limits.a', { ack: 'client-individual' });
  const first = await sub.next();
  assert.equal(first.body, 'one');
  first.nack();
  const second = await sub.next();
  assert.equal(second.body, 'again');
  second.ack();
  await eventually('the nacked message is dead-lettered', () => broker.server.broker.stats().queues.some((q) => q.name === 'ActiveMQ.DLQ' && q.pending === 1));
  await mqtt.end();
  await amqp.close();
  await amqp091.close();
  await raw.raw.socket.end();
  await stomp.disconnect();
});

test('limits.maxDestinations: temporary topics (STOMP, AMQP 1.0 dynamic nodes) go with their connection, so request/reply never uses the limit up', async (t) => {
  const broker = await startBroker({ 'limits.maxDestinations': 5 });
  t.after(() => broker.stop());
  for (let i = 0; i < 10; i++) {
    const stomp = await connectStomp(broker.stompPort);
    const events = stomp.subscribe('/temp-topic/events');
    await stomp.sendConfirmed('/temp-topic/events', `stomp ${i}`);
    assert.equal((await events.next()).body, `stomp ${i}`);
    await stomp.disconnect();
    const amqp = await connectAmqp(broker.amqpPort);
    const { receiver, inbox } = await amqp.openReceiver({ source: { address: '', dynamic: true, capabilities: ['temporary-topic'] } });
    assert.equal((await amqp.send(await amqp.openSender({ target: {} }), { to: receiver.source.address, body: `amqp ${i}` })).state, 'accepted');
    assert.equal((await inbox.next()).message.body, `amqp ${i}`);
    await amqp.close();
  }
  await eventually('the temporary topics are gone', () => broker.server.broker.stats().topics.length === 0);
  const stomp = await connectStomp(broker.stompPort);
  await stomp.sendConfirmed('/queue/limits.after', 'room for a plain queue');
  await stomp.disconnect();
});

test('limits.maxConsumersPerDestination: one consumer too many on a queue or a topic is refused; the others keep receiving', async (t) => {
  const broker = await startBroker({ 'limits.maxConsumersPerDestination': 2 });
  t.after(() => broker.stop());
  const stomp = await connectStomp(broker.stompPort);
  const a = stomp.subscribe('/queue/limits.consumers');
  const amqp091 = await amqplib.connect(`amqp://127.0.0.1:${broker.amqpPort}`);
  const ch = await amqp091.createChannel();
  await ch.consume('limits.consumers', () => {});
  // the third: AMQP 0-9-1 channel error, AMQP 1.0 refused link, STOMP ERROR
  // on a channel of its own: the refusal closes the channel, and with it that channel's consumers
  const ch2 = await amqp091.createChannel();
  const closing = channelError(ch2);
  await assert.rejects(ch2.consume('limits.consumers', () => {}));
  assert.equal((await closing).code, 406);
  const amqp = await connectAmqp(broker.amqpPort);
  await assert.rejects(amqp.openReceiver('limits.consumers'), (err: { amqp?: AmqpError }) => err.amqp?.condition === 'amqp:resource-limit-exceeded');
  const raw = await RawStompClient.connected(broker.stompPort);
  await raw.raw.send('SUBSCRIBE', { id: '1', destination: '/queue/limits.consumers' });
  assert.equal((await raw.raw.nextFrame()).headers.get('code'), 'FERRY_LIMIT_EXCEEDED');
  await stomp.sendConfirmed('/queue/limits.consumers', 'to the first two');
  assert.equal((await a.next()).body, 'to the first two');

  // a topic: MQTT 5 SUBACK 0x97 for the third subscription to the same name
  const m1 = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  const m2 = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  const m3 = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  await m1.subscribe('limits/topic', { qos: 1 });
  await m2.subscribe('limits/topic', { qos: 1 });
  assert.deepEqual(await suback(m3, ['limits/topic']), [0x97]);
  assert.ok(broker.server.broker.stats().limitRefusals.consumers >= 4);
  for (const c of [m1, m2, m3]) await c.end();
  await amqp.close();
  await amqp091.close().catch(() => undefined);
  await stomp.disconnect();
});

test('limits.maxSubscriptionsPerConnection: a connection past its limit is refused its next subscription; closing one makes room', async (t) => {
  const broker = await startBroker({ 'limits.maxSubscriptionsPerConnection': 2 });
  t.after(() => broker.stop());
  const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  assert.deepEqual(await suback(mqtt, ['limits/a', 'limits/b', 'limits/c']), [1, 1, 0x97]);
  await mqtt.client.unsubscribeAsync('limits/a');
  assert.deepEqual((await mqtt.subscribe('limits/c', { qos: 1 })).map((g) => g.qos), [1]);

  const raw = await RawStompClient.connected(broker.stompPort);
  await raw.raw.send('SUBSCRIBE', { id: '1', destination: '/queue/limits.s1', receipt: 'r1' });
  await raw.raw.send('SUBSCRIBE', { id: '2', destination: '/topic/limits.s2', receipt: 'r2' });
  await raw.raw.nextFrameOf('RECEIPT');
  await raw.raw.nextFrameOf('RECEIPT');
  await raw.raw.send('SUBSCRIBE', { id: '3', destination: '/queue/limits.s3' });
  assert.equal((await raw.raw.nextFrame()).headers.get('code'), 'FERRY_LIMIT_EXCEEDED');

  const amqp = await connectAmqp(broker.amqpPort);
  await amqp.openReceiver('limits.r1');
  await amqp.openReceiver('limits.r2');
  await assert.rejects(amqp.openReceiver('limits.r3'), (err: { amqp?: AmqpError }) => err.amqp?.condition === 'amqp:resource-limit-exceeded');
  assert.equal(broker.server.broker.stats().limitRefusals.subscriptions, 3);
  await amqp.close();
  await mqtt.end();
});
