import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt, rawMqtt, type RawMqtt } from '../helpers/mqtt.js';

/**
 * A persistent session's unacknowledged publishes are resent on every reconnect [MQTT-4.4.0-1], and
 * MQTT has no delivery limit: the destination policy's maxRedeliveries (6 by default) must not send
 * them to the dead-letter queue however often the client comes back without acknowledging them.
 */

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

type Raw = RawMqtt;
type Version = 4 | 5;

const RECONNECTS = 8;
const bodies = ['m1', 'm2', 'm3', 'm4'];

async function connectSession(version: Version, clientId: string, clean: boolean, present = !clean): Promise<Raw> {
  const raw = await rawMqtt(broker.mqttPort, version);
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean, keepalive: 0, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) });
  const connack = (await raw.next('connack')) as mqttPacket.IConnackPacket;
  assert.equal(connack.sessionPresent, present, 'the session is kept between connections');
  return raw;
}

/** DISCONNECT that keeps the session, and the broker's close of the socket after it. */
async function leave(raw: Raw, then?: mqttPacket.Packet): Promise<void> {
  // both in one write, as libmosquitto sends them when its client disconnects from the message
  // callback; the 3.1.1 encodings are MQTT 5's with reason 0x00 and no properties
  raw.socket.write(Buffer.concat([mqttPacket.generate({ cmd: 'disconnect' }), ...(then === undefined ? [] : [mqttPacket.generate(then)])]));
  await raw.closed;
}

async function publishAway(topic: string, qos: 1 | 2): Promise<void> {
  const publisher = await connectMqtt(broker.mqttPort);
  for (const body of bodies) await publisher.publish(topic, body, { qos });
  await publisher.end();
}

function deadLettered(): number {
  return broker.server.broker.stats().queues.find((q) => q.name === 'ActiveMQ.DLQ')?.pending ?? 0;
}

async function takePublishes(raw: Raw, n: number, when: string): Promise<mqttPacket.IPublishPacket[]> {
  const got: mqttPacket.IPublishPacket[] = [];
  try {
    for (let i = 0; i < n; i++) got.push((await raw.next('publish')) as mqttPacket.IPublishPacket);
  } catch (err) {
    assert.fail(`${when}: ${got.length} of ${n} publishes (${(err as Error).message})`);
  }
  return got;
}

async function acknowledge(raw: Raw, publish: mqttPacket.IPublishPacket): Promise<void> {
  const messageId = publish.messageId!;
  if (publish.qos === 1) raw.send({ cmd: 'puback', messageId });
  else {
    raw.send({ cmd: 'pubrec', messageId });
    await raw.next('pubrel');
    raw.send({ cmd: 'pubcomp', messageId });
  }
}

for (const [version, qos] of [[4, 1], [4, 2], [5, 1], [5, 2]] as const) {
  const name = `MQTT ${version === 5 ? '5 (session expiry)' : '3.1.1 (clean session 0)'} QoS ${qos}`;

  test(`${name}: a persistent session that comes back ${RECONNECTS} times without ${qos === 1 ? 'PUBACK' : 'PUBREC'} gets its publishes on each return, with DUP, and at last every one; none is dead-lettered [MQTT-4.4.0-1]`, async () => {
    const clientId = `resend-${version}-${qos}`;
    const topic = `${clientId}/t`;
    const dlqBefore = deadLettered();
    // 3.1.1 keeps a session of clean session 0 only; MQTT 5 one of a session expiry, clean start or not
    const first = await connectSession(version, clientId, version === 5, false);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] });
    await first.next('suback');
    await leave(first);
    await publishAway(topic, qos);
    for (let round = 1; round <= RECONNECTS; round++) {
      const raw = await connectSession(version, clientId, false);
      const got = await takePublishes(raw, bodies.length, `return ${round}`);
      assert.deepEqual(got.map((p) => p.payload.toString()), bodies, `return ${round}: the session's publishes, in order`);
      assert.deepEqual(got.map((p) => p.dup), bodies.map(() => round > 1), `return ${round}: DUP set on those sent before`);
      await leave(raw);
    }
    const last = await connectSession(version, clientId, false);
    const got = await takePublishes(last, bodies.length, 'the last return');
    assert.deepEqual(got.map((p) => p.payload.toString()), bodies, 'every message is still there after the last return');
    for (const publish of got) await acknowledge(last, publish);
    last.send({ cmd: 'disconnect', ...(version === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}) });
    await last.closed;
    assert.equal(deadLettered(), dlqBefore, 'nothing went to ActiveMQ.DLQ');
  });
}

test(`MQTT 3.1.1: a client that takes one message a connection and sends DISCONNECT before its PUBACK (mosquitto_sub -c -C 1) gets every message at last; none is dead-lettered`, async () => {
  const clientId = 'pop-one';
  const topic = `${clientId}/t`;
  const dlqBefore = deadLettered();
  const first = await connectSession(4, clientId, false, false);
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
  await first.next('suback');
  await leave(first);
  await publishAway(topic, 1);
  const taken = new Set<string>();
  for (let round = 1; round <= RECONNECTS; round++) {
    const raw = await connectSession(4, clientId, false);
    const [publish] = await takePublishes(raw, 1, `return ${round}`);
    taken.add(publish!.payload.toString());
    await leave(raw, { cmd: 'puback', messageId: publish!.messageId! });
  }
  const last = await connectSession(4, clientId, false);
  // whether a PUBACK behind DISCONNECT counts is the broker's choice; what it did not take comes now, before this
  const marker = await connectMqtt(broker.mqttPort);
  await marker.publish(topic, 'end', { qos: 1 });
  await marker.end();
  for (;;) {
    const [publish] = await takePublishes(last, 1, `the last return, after ${[...taken].sort().join(' ')}`);
    await acknowledge(last, publish!);
    if (publish!.payload.toString() === 'end') break;
    taken.add(publish!.payload.toString());
  }
  assert.deepEqual([...taken].sort(), bodies, 'every message reached the client');
  last.send({ cmd: 'disconnect' });
  await last.closed;
  assert.equal(deadLettered(), dlqBefore, 'nothing went to ActiveMQ.DLQ');
});
