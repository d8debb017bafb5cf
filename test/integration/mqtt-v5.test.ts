import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { connectMqtt, rawMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';
import { eventually } from '../helpers/raw-stomp.js';

function writeRaw(client: mqtt.MqttClient, packet: mqttPacket.Packet): void {
  (client as unknown as { stream: { write(b: Buffer): void } }).stream.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
}

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'mqtt.maxKeepAlive': 30, 'mqtt.maxPacketSize': 4096, 'mqtt.topicAliasMaximum': 5 });
});
after(async () => {
  await broker.stop();
});

const v5 = { protocolVersion: 5 } as const;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))]);
}

test('CONNACK advertises the broker\'s limits, an assigned client id and Server Keep Alive', async () => {
  const c = await connectMqtt(broker.mqttPort, { ...v5, clientId: '', keepalive: 120 });
  assert.equal(c.connack.reasonCode, 0);
  const p = c.connack.properties!;
  assert.equal(p.maximumPacketSize, 4096);
  assert.equal(p.topicAliasMaximum, 5);
  assert.equal(p.serverKeepAlive, 30);
  assert.equal(p.sharedSubscriptionAvailable, true);
  assert.match(p.assignedClientIdentifier ?? '', /^ferry-/);
  await c.end();
});

test('message properties both ways: user properties, content type, payload format, expiry, response topic, correlation data', async () => {
  const sub = await connectMqtt(broker.mqttPort, v5);
  await sub.subscribe('props/t', { qos: 1 });
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('props/t', '{"x":1}', {
    qos: 1,
    properties: {
      userProperties: { site: 'north', unit: 'C' },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      responseTopic: 'props/reply',
      correlationData: Buffer.from('req-42'),
    },
  });
  const got = await sub.inbox.next();
  const p = got.packet.properties!;
  assert.deepEqual({ ...p.userProperties }, { site: 'north', unit: 'C' });
  assert.equal(p.contentType, 'application/json');
  assert.equal(p.payloadFormatIndicator, true);
  assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 60 && p.messageExpiryInterval >= 58);
  assert.equal(p.responseTopic, 'props/reply');
  assert.equal(Buffer.from(p.correlationData!).toString(), 'req-42');
  await Promise.all([sub.end(), pub.end()]);
});

test('user properties reach subscribers with every repeated name, in the order they were published [MQTT-3.3.2-18]', async () => {
  const sub = await rawMqtt(broker.mqttPort, 5);
  let bytes = Buffer.alloc(0);
  sub.socket.on('data', (chunk: Buffer) => void (bytes = Buffer.concat([bytes, chunk])));
  sub.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'order-sub', clean: true, keepalive: 60 });
  await sub.next('connack');
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'props/order', qos: 1 }] });
  await sub.next('suback');
  const grouped = await connectMqtt(broker.mqttPort, v5);
  await grouped.subscribe('props/order', { qos: 1 });
  // a=1, b=2, a=3 interleaved, which no client library's object of properties can express
  const pair = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x26, 0, name.length]), Buffer.from(name), Buffer.from([0, value.length]), Buffer.from(value)]);
  const userProperties = Buffer.concat([pair('a', '1'), pair('b', '2'), pair('a', '3')]);
  const topic = Buffer.from('props/order');
  const body = Buffer.concat([Buffer.from([0, topic.length]), topic, Buffer.from([0, 7, userProperties.length]), userProperties, Buffer.from('hello')]);
  const pub = await rawMqtt(broker.mqttPort, 5);
  pub.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'order-pub', clean: true, keepalive: 60 });
  await pub.next('connack');
  pub.socket.write(Buffer.concat([Buffer.from([0x32, body.length]), body]));
  assert.equal((await pub.next('puback')).messageId, 7);
  const delivered = (await sub.next('publish')) as mqttPacket.IPublishPacket;
  assert.equal(String(delivered.payload), 'hello');
  assert.ok(bytes.includes(userProperties), 'the three user properties arrive in their order, side by side');
  const got = await grouped.inbox.next();
  assert.deepEqual({ ...got.packet.properties?.userProperties }, { a: ['1', '3'], b: '2' });
  sub.socket.destroy();
  pub.socket.destroy();
  await grouped.end();
});

test('request/response: the responder answers on the response topic with the correlation data', async () => {
  const responder = await connectMqtt(broker.mqttPort, v5);
  await responder.subscribe('svc/echo', { qos: 1 });
  responder.client.on('message', (_topic, payload, packet) => {
    const props = packet.properties ?? {};
    if (props.responseTopic === undefined) return;
    void responder.publish(props.responseTopic, `echo:${payload.toString()}`, { qos: 1, properties: { correlationData: props.correlationData! } });
  });
  const requester = await connectMqtt(broker.mqttPort, v5);
  await requester.subscribe('svc/replies/me', { qos: 1 });
  await requester.publish('svc/echo', 'ping', { qos: 1, properties: { responseTopic: 'svc/replies/me', correlationData: Buffer.from('c-1') } });
  const reply = await requester.inbox.next();
  assert.equal(reply.payload, 'echo:ping');
  assert.equal(Buffer.from(reply.packet.properties!.correlationData!).toString(), 'c-1');
  await Promise.all([responder.end(), requester.end()]);
});

test('a reply on a response topic that was a temporary topic, once its requester has gone, is taken with 0x10 (no matching subscribers) and dropped, and makes no topic', async () => {
  const responder = await connectMqtt(broker.mqttPort, v5);
  await responder.subscribe('svc/late', { qos: 1 });
  const pubacks: mqttPacket.IPubackPacket[] = [];
  responder.client.on('packetreceive', (packet) => packet.cmd === 'puback' && pubacks.push(packet));
  const requester = await connectStomp(broker.stompPort);
  const replies = requester.subscribe('/temp-topic/replies');
  await requester.sendConfirmed('/topic/svc.late', 'request', { 'reply-to': '/temp-topic/replies' });
  const responseTopic = (await responder.inbox.next()).packet.properties?.responseTopic ?? '';
  assert.match(responseTopic, /^ID:/);
  await responder.publish(responseTopic, 'on time', { qos: 1 });
  assert.equal((await replies.next()).body, 'on time');

  await requester.disconnect();
  const topics = (): string[] => broker.server.broker.stats().topics.map((t) => t.name);
  await eventually('the temporary topic is gone', () => !topics().includes(responseTopic));
  await responder.publish(responseTopic, 'too late, QoS 0', { qos: 0 });
  await responder.publish(responseTopic, 'too late', { qos: 1 });
  assert.equal(pubacks.at(-1)?.reasonCode, 0x10);
  assert.ok(!topics().includes(responseTopic), 'no topic made');
  // the connection goes on
  await responder.publish('svc/late/after', 'still here', { qos: 1 });
  assert.equal(pubacks.at(-1)?.reasonCode ?? 0, 0);
  await responder.end();
});

test('Correlation Data that is not UTF-8 text, or text that looks like an AMQP id, arrives unaltered [MQTT-3.3.2-16]', async () => {
  const sub = await connectMqtt(broker.mqttPort, v5);
  await sub.subscribe('corr/t', { qos: 1 });
  const pub = await connectMqtt(broker.mqttPort, v5);
  const sent = [Buffer.from([0x00, 0xff, 0xfe, 0x80]), Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), Buffer.from('AMQP_BINARY:00'), Buffer.from('plain')];
  for (const data of sent) await pub.publish('corr/t', 'x', { qos: 1, properties: { correlationData: data } });
  const got: Buffer[] = [];
  for (let i = 0; i < sent.length; i++) got.push(Buffer.from((await sub.inbox.next()).packet.properties!.correlationData!));
  assert.deepEqual(got.map((b) => b.toString('hex')), sent.map((b) => b.toString('hex')));
  await Promise.all([sub.end(), pub.end()]);
});

test('a topic name with "*" or ">", which MQTT does not reserve, is published to and delivered as it was written', async () => {
  const sub = await connectMqtt(broker.mqttPort, v5);
  await sub.subscribe(['stars/#', 'stars/+/t*'], { qos: 1 });
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('stars/a*b/t*', 'one', { qos: 1 });
  await pub.publish('stars/>', 'two', { qos: 1 });
  const got = [await sub.inbox.next(), await sub.inbox.next()];
  assert.deepEqual(got.map((m) => [m.topic, m.payload]), [['stars/a*b/t*', 'one'], ['stars/>', 'two']]);
  await Promise.all([sub.end(), pub.end()]);
});

test('an expired message is not delivered', async () => {
  const sub = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'expiry-sub', clean: false, properties: { sessionExpiryInterval: 60 } });
  await sub.subscribe('exp/t', { qos: 1 });
  await sub.end();
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('exp/t', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
  await pub.publish('exp/t', 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
  await new Promise((r) => setTimeout(r, 1200));
  const again = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'expiry-sub', clean: false, properties: { sessionExpiryInterval: 0 } });
  assert.equal((await again.inbox.next()).payload, 'long');
  await again.inbox.expectNothing(200);
  await Promise.all([again.end(), pub.end()]);
});

test('topic aliases both ways', async () => {
  const sub = await connectMqtt(broker.mqttPort, { ...v5, properties: { topicAliasMaximum: 3 } });
  await sub.subscribe('alias/#', { qos: 0 });
  const aliases: (number | undefined)[] = [];
  sub.client.on('packetreceive', (packet) => {
    if (packet.cmd === 'publish') aliases.push(packet.properties?.topicAlias);
  });
  const pub = await connectMqtt(broker.mqttPort, v5);
  // the client sets alias 1 with the topic, then publishes by the alias alone
  await pub.publish('alias/long/topic/name', 'one', { qos: 1, properties: { topicAlias: 1 } });
  await pub.publish('', 'two', { qos: 1, properties: { topicAlias: 1 } });
  const got = await sub.inbox.take(2);
  assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}`), ['alias/long/topic/name=one', 'alias/long/topic/name=two']);
  assert.deepEqual(aliases, [1, 1]);
  await Promise.all([sub.end(), pub.end()]);
});

test('a topic alias over the maximum is answered with DISCONNECT 0x94', async () => {
  const pub = await connectMqtt(broker.mqttPort, v5);
  // MQTT.js checks aliases against the broker's maximum itself, so write the packet by hand
  writeRaw(pub.client, { cmd: 'publish', topic: 'alias/x', payload: Buffer.from('bad'), qos: 0, dup: false, retain: false, properties: { topicAlias: 6 } });
  await within(pub.closed, 2000, 'the close');
  assert.equal(pub.disconnects[0]?.reasonCode, 0x94);
});

test('subscription identifiers, no-local, retain handling and retain as published', async () => {
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('opts/r', 'kept', { qos: 1, retain: true });
  const c = await connectMqtt(broker.mqttPort, v5);
  await c.client.subscribeAsync('opts/r', { qos: 1, rh: 0, rap: true, properties: { subscriptionIdentifier: 7 } });
  const first = await c.inbox.next();
  assert.equal(first.payload, 'kept');
  assert.equal(first.packet.retain, true);
  assert.deepEqual([first.packet.properties?.subscriptionIdentifier].flat(), [7]);
  // retain handling 1: nothing when the subscription already exists
  await c.client.subscribeAsync('opts/r', { qos: 1, rh: 1, rap: true, properties: { subscriptionIdentifier: 7 } });
  await c.inbox.expectNothing(200);
  // retain handling 2: never
  await c.client.subscribeAsync('opts/+', { qos: 1, rh: 2 });
  await c.inbox.expectNothing(200);
  // retain as published: a live retained publish keeps its flag on the rap subscription only; the
  // client's two matching subscriptions make one copy, the rap one's, and one without rap clears it
  const plain = await connectMqtt(broker.mqttPort, v5);
  await plain.client.subscribeAsync('opts/r', { qos: 1, rh: 2 });
  await pub.publish('opts/r', 'live', { qos: 1, retain: true });
  const live = await c.inbox.next();
  assert.equal(live.packet.retain, true);
  assert.deepEqual([live.packet.properties?.subscriptionIdentifier].flat(), [7]);
  assert.equal((await plain.inbox.next()).packet.retain, false);
  await plain.end();
  // no-local: the client's own publications do not come back
  await c.client.unsubscribeAsync('opts/+');
  await c.client.subscribeAsync('opts/self', { qos: 1, nl: true });
  await c.publish('opts/self', 'mine', { qos: 1 });
  await pub.publish('opts/self', 'theirs', { qos: 1 });
  const others = await c.inbox.take(1);
  await c.inbox.expectNothing(200);
  assert.deepEqual(others.map((m) => m.payload), ['theirs']);
  await Promise.all([c.end(), pub.end()]);
});

test('shared subscriptions: members of a group compete, other groups and plain subscribers get everything', async () => {
  const a = await connectMqtt(broker.mqttPort, v5);
  const b = await connectMqtt(broker.mqttPort, v5);
  const other = await connectMqtt(broker.mqttPort, v5);
  await a.subscribe('$share/workers/jobs/+', { qos: 1 });
  await b.subscribe('$share/workers/jobs/+', { qos: 1 });
  await other.subscribe('$share/audit/jobs/#', { qos: 1 });
  const pub = await connectMqtt(broker.mqttPort, v5);
  for (let i = 0; i < 10; i++) await pub.publish('jobs/x', `j${i}`, { qos: 1 });
  const audit = await other.inbox.take(10);
  assert.equal(audit.length, 10);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(a.inbox.size + b.inbox.size, 10);
  assert.ok(a.inbox.size > 0 && b.inbox.size > 0, `split ${a.inbox.size}/${b.inbox.size}`);
  await Promise.all([a.end(), b.end(), other.end(), pub.end()]);
});

test('reason codes: SUBACK refuses a bad filter, UNSUBACK says when nothing was subscribed', async () => {
  const c = await connectMqtt(broker.mqttPort, v5);
  // MQTT.js refuses a bad filter itself, so write the SUBSCRIBE by hand
  const suback = new Promise<mqtt.Packet>((resolve) => c.client.on('packetreceive', (p) => p.cmd === 'suback' && resolve(p)));
  writeRaw(c.client, { cmd: 'subscribe', messageId: 999, subscriptions: [{ topic: 'ok/topic', qos: 2 }, { topic: 'bad/#/filter', qos: 1 }] });
  assert.deepEqual((await suback as mqttPacket.ISubackPacket).granted, [2, 0x8f]);
  const unsuback = new Promise<mqtt.Packet>((resolve) => c.client.on('packetreceive', (p) => p.cmd === 'unsuback' && resolve(p)));
  await c.client.unsubscribeAsync(['ok/topic', 'never/subscribed']);
  assert.deepEqual((await unsuback as mqttPacket.IUnsubackPacket).granted, [0, 0x11]);
  await c.end();
});

test('maximum packet size: a larger packet from the client is refused with DISCONNECT 0x95; none larger than the client\'s goes out', async () => {
  const small = await connectMqtt(broker.mqttPort, { ...v5, properties: { maximumPacketSize: 200 } });
  await small.subscribe('size/#', { qos: 0 });
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('size/big', Buffer.alloc(500, 1), { qos: 1 });
  await pub.publish('size/small', 'fits', { qos: 1 });
  assert.equal((await small.inbox.next()).payload, 'fits');
  await small.inbox.expectNothing(100);
  // MQTT.js checks the broker's maximum itself, so write past it by hand
  (pub.client as unknown as { stream: { write(b: Buffer): void } }).stream.write(Buffer.concat([Buffer.from([0x30, 0x90, 0x40, 0x00, 0x01, 0x61, 0x00]), Buffer.alloc(8200)]));
  await within(pub.closed, 2000, 'the close');
  assert.equal(pub.disconnects[0]?.reasonCode, 0x95);
  await small.end();
});

test('session expiry: a session outlives its connection for its expiry interval, then goes', async () => {
  const first = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'expiring', clean: true, properties: { sessionExpiryInterval: 1 } });
  await first.subscribe('sess/t', { qos: 1 });
  await first.end();
  const pub = await connectMqtt(broker.mqttPort, v5);
  await pub.publish('sess/t', 'kept', { qos: 1 });
  const back = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 1 } });
  assert.equal(back.connack.sessionPresent, true);
  assert.equal((await back.inbox.next()).payload, 'kept');
  await back.end();
  await new Promise((r) => setTimeout(r, 1300));
  await pub.publish('sess/t', 'after expiry', { qos: 1 });
  const late = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'expiring', clean: false });
  assert.equal(late.connack.sessionPresent, false);
  await late.inbox.expectNothing(200);
  await Promise.all([late.end(), pub.end()]);
});

test('session expiry leaves the durable subscriptions another protocol keeps under the same client id', async () => {
  const stomp = await connectStomp(broker.stompPort, { headers: { 'client-id': 'shared-id' } });
  const kept = stomp.subscribe('/topic/shared.news', { 'activemq.subscriptionName': 'reader', receipt: 'subscribed' });
  await new Promise<void>((resolve) => stomp.client.watchForReceipt('subscribed', () => resolve()));
  kept.subscription.unsubscribe();
  await stomp.disconnect();
  const mqttSession = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'shared-id', clean: true, properties: { sessionExpiryInterval: 1 } });
  await mqttSession.subscribe('shared/mqtt', { qos: 1 });
  await mqttSession.end();
  await new Promise((r) => setTimeout(r, 1300));
  const producer = await connectStomp(broker.stompPort);
  await producer.sendConfirmed('/topic/shared.news', 'for the reader', { persistent: 'true' });
  await producer.disconnect();
  const back = await connectStomp(broker.stompPort, { headers: { 'client-id': 'shared-id' } });
  const inbox = back.subscribe('/topic/shared.news', { 'activemq.subscriptionName': 'reader' });
  assert.equal((await inbox.next()).body, 'for the reader');
  await back.disconnect();
});

test('will delay: a reconnection within the delay cancels the will; DISCONNECT 0x04 sends it', async () => {
  const watcher = await connectMqtt(broker.mqttPort, v5);
  await watcher.subscribe('wd/+', { qos: 1 });
  const opts = { ...v5, clientId: 'will-delay', clean: false, properties: { sessionExpiryInterval: 10 }, will: { topic: 'wd/delayed', payload: Buffer.from('late'), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } } };
  const c = await connectMqtt(broker.mqttPort, opts);
  (c.client as unknown as { stream: { destroy(): void } }).stream.destroy();
  const c2 = await connectMqtt(broker.mqttPort, opts);
  await watcher.inbox.expectNothing(1300);
  c2.client.end(false, { reasonCode: 0x04 });
  const will = await watcher.inbox.next();
  assert.equal(will.payload, 'late');
  await watcher.end();
});

test('takeover is announced with DISCONNECT 0x8E; a malformed packet with 0x81', async () => {
  const first = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'v5-twin' });
  const second = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'v5-twin' });
  await within(first.closed, 2000, 'the close');
  assert.equal(first.disconnects[0]?.reasonCode, 0x8e);
  // SUBSCRIBE with reserved flags 0000 instead of 0010 ([MQTT-3.8.1-1])
  (second.client as unknown as { stream: { write(b: Buffer): void } }).stream.write(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61]));
  await within(second.closed, 2000, 'the close');
  assert.equal(second.disconnects[0]?.reasonCode, 0x81);
});

test('a bad PUBLISH closes its connection only, with the reason for what is wrong with it', async () => {
  const bystander = await connectMqtt(broker.mqttPort, v5);
  await bystander.subscribe('bad-publish/ok', { qos: 1 });
  const cases: [string, Buffer, number][] = [
    // QoS bits 11 ([MQTT-3.3.1-4])
    ['QoS 3', Buffer.from([0x36, 6, 0, 1, 0x61, 0, 1, 0]), 0x81],
    ['a topic length past the end', Buffer.from([0x30, 4, 0, 9, 0x61, 0]), 0x81],
    ['a remaining length of 5 bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0x81],
    ['a wildcard in the topic name', Buffer.from([0x30, 6, 0, 3, 0x61, 0x2f, 0x2b, 0]), 0x90],
    ['an empty topic name without a topic alias', Buffer.from([0x30, 4, 0, 0, 0, 0x78]), 0x82],
    ['PUBACK with reserved flags set', Buffer.from([0x41, 2, 0, 1]), 0x81],
  ];
  for (const [what, bytes, reason] of cases) {
    const client = await connectMqtt(broker.mqttPort, v5);
    (client.client as unknown as { stream: { write(b: Buffer): void } }).stream.write(bytes);
    await within(client.closed, 2000, `the close on ${what}`);
    assert.equal(client.disconnects[0]?.reasonCode, reason, what);
  }
  const publisher = await connectMqtt(broker.mqttPort, v5);
  await publisher.publish('bad-publish/ok', 'unaffected', { qos: 1 });
  assert.equal((await bystander.inbox.next()).payload, 'unaffected');
  await Promise.all([bystander.end(), publisher.end()]);
});

test('a CONNECT with Receive Maximum 0, Maximum Packet Size 0 or a Topic Alias is a protocol error: CONNACK 0x82 and the close [MQTT-3.1.2.11.3, 3.1.2.11.4]', async () => {
  const cases: [string, NonNullable<mqttPacket.IConnectPacket['properties']>][] = [
    ['Receive Maximum 0', { receiveMaximum: 0 }],
    ['Maximum Packet Size 0', { maximumPacketSize: 0 }],
    ['a Topic Alias', { topicAlias: 1 } as NonNullable<mqttPacket.IConnectPacket['properties']>],
  ];
  for (const [what, properties] of cases) {
    const raw = await rawMqtt(broker.mqttPort, 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `bad-props-${cases.findIndex((c) => c[0] === what)}`, clean: true, keepalive: 30, properties });
    const connack = (await raw.next('connack')) as mqttPacket.IConnackPacket;
    assert.equal(connack.reasonCode, 0x82, what);
    await within(raw.closed, 2000, `the close on ${what}`);
  }
});

test('a payload marked UTF-8 (Payload Format Indicator 1) that is not is refused with 0x99: PUBACK and PUBREC at QoS 1 and 2, DISCONNECT at QoS 0, CONNACK for a will', async () => {
  const latin1 = Buffer.from('temp 21\xb0C caf\xe9', 'latin1');
  const sub = await connectMqtt(broker.mqttPort, v5);
  await sub.subscribe('pfi/#', { qos: 1 });
  const pub = await connectMqtt(broker.mqttPort, v5);
  for (const qos of [1, 2] as const) {
    await assert.rejects(pub.publish('pfi/bad', latin1, { qos, properties: { payloadFormatIndicator: true } }), (err: { code?: number }) => err.code === 0x99, `QoS ${qos}`);
  }
  // the connection goes on, and the same bytes without the indicator are bytes like any other
  await pub.publish('pfi/bytes', latin1, { qos: 1 });
  await pub.publish('pfi/text', 'temp 21°C café', { qos: 1, properties: { payloadFormatIndicator: true } });
  const got = await sub.inbox.take(2);
  assert.deepEqual(got.map((m) => [m.topic, Buffer.from(m.packet.payload).toString('hex'), m.packet.properties?.payloadFormatIndicator ?? false]), [
    ['pfi/bytes', latin1.toString('hex'), false],
    ['pfi/text', Buffer.from('temp 21°C café').toString('hex'), true],
  ]);
  pub.client.publish('pfi/bad', latin1, { qos: 0, properties: { payloadFormatIndicator: true } });
  await within(pub.closed, 2000, 'the close');
  assert.equal(pub.disconnects[0]?.reasonCode, 0x99);
  await assert.rejects(
    connectMqtt(broker.mqttPort, { ...v5, will: { topic: 'pfi/will', payload: latin1, qos: 1, retain: false, properties: { payloadFormatIndicator: true } } }),
    (err: { code?: number }) => err.code === 0x99,
  );
  await assert.rejects(sub.inbox.next(300), 'nothing refused was delivered');
  await sub.end();
});
