import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt, type MqttTestClient } from '../helpers/mqtt.js';

// A shared subscription is part of the session that holds it [MQTT 5 4.1, 4.8.2]: a persistent
// session that is away keeps its group's queue, and gets what was published meanwhile when it comes back.

const persistent = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } } as const;

async function publish(broker: TestBroker, topic: string, payloads: readonly string[]): Promise<void> {
  const pub = await connectMqtt(broker.mqttPort);
  for (const p of payloads) await pub.publish(topic, p, { qos: 1 });
  await pub.end();
}

function payloads(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

async function withData(body: (data: string) => Promise<void>): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-shared-'));
  try {
    await body(data);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

test('a persistent session that is away keeps its shared subscription: on its return it gets what was published meanwhile, without subscribing again', async () => {
  const broker = await startBroker();
  try {
    const worker = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-w1' });
    await worker.subscribe('$share/workers/jobs/#', { qos: 1 });
    await worker.end();
    await publish(broker, 'jobs/print', payloads('away', 5));
    const back = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-w1' });
    assert.equal(back.connack.sessionPresent, true);
    await publish(broker, 'jobs/print', ['after']);
    const got = await back.inbox.take(6);
    assert.deepEqual(
      got.map((m) => m.payload),
      [...payloads('away', 5), 'after'],
    );
    await back.end();
  } finally {
    await broker.stop();
  }
});

test('a persistent session\'s shared subscription and what it queued survive a broker restart', async () => {
  await withData(async (data) => {
    let broker = await startBroker({ data });
    const worker = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-restart' });
    await worker.subscribe('$share/workers/orders', { qos: 1 });
    await worker.end();
    await publish(broker, 'orders', payloads('o', 4));
    await broker.server.stop();

    broker = await startBroker({ data });
    try {
      await publish(broker, 'orders', ['after-restart']);
      const back = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-restart' });
      assert.equal(back.connack.sessionPresent, true);
      const got = await back.inbox.take(5);
      assert.deepEqual(
        got.map((m) => m.payload),
        [...payloads('o', 4), 'after-restart'],
      );
      await back.end();
    } finally {
      await broker.stop();
    }
  });
});

test('the group keeps one queue: members away and back, persistent or not, share each message once', async () => {
  const broker = await startBroker();
  const open: MqttTestClient[] = [];
  try {
    const clean = await connectMqtt(broker.mqttPort, { protocolVersion: 5, clientId: 'shared-clean' });
    open.push(clean);
    await clean.subscribe('$share/mixed/feed', { qos: 1 });
    const kept = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-kept' });
    await kept.subscribe('$share/mixed/feed', { qos: 1 });
    await publish(broker, 'feed', payloads('a', 10));
    for (let waited = 0; clean.inbox.size + kept.inbox.size < 10 && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 50));
    const firstRound = [...(await clean.inbox.take(clean.inbox.size)), ...(await kept.inbox.take(kept.inbox.size))].map((m) => m.payload).sort();
    assert.deepEqual(firstRound, payloads('a', 10).sort(), 'each message of the first round once, to one member');
    await clean.end();
    await kept.end();
    // nobody connected: the persistent member's membership keeps the group's queue
    await publish(broker, 'feed', payloads('b', 5));
    const back = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-kept' });
    open.push(back);
    const fromAway = await back.inbox.take(5);
    assert.deepEqual(
      fromAway.map((m) => m.payload),
      payloads('b', 5),
    );
  } finally {
    for (const c of open) await c.end();
    await broker.stop();
  }
});

test('UNSUBSCRIBE and a clean start end a persistent session\'s membership; the last one gone takes the queue with it', async () => {
  const broker = await startBroker();
  try {
    const w = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-leave' });
    await w.subscribe('$share/leavers/news', { qos: 1 });
    await w.client.unsubscribeAsync('$share/leavers/news');
    await w.end();
    await publish(broker, 'news', ['unseen-1']);
    const again = await connectMqtt(broker.mqttPort, { ...persistent, clientId: 'shared-leave' });
    await again.subscribe('$share/leavers/news', { qos: 1 });
    await again.end();
    await publish(broker, 'news', ['kept']);
    // a clean start discards the session, its membership and so the group's queue with it
    const fresh = await connectMqtt(broker.mqttPort, { protocolVersion: 5, clean: true, clientId: 'shared-leave' });
    assert.equal(fresh.connack.sessionPresent, false);
    await publish(broker, 'news', ['unseen-2']);
    await fresh.subscribe('$share/leavers/news', { qos: 1 });
    await publish(broker, 'news', ['seen']);
    // nothing published while no session held the subscription, nor what the discarded session had queued
    assert.equal((await fresh.inbox.next()).payload, 'seen');
    await fresh.inbox.expectNothing();
    await fresh.end();
  } finally {
    await broker.stop();
  }
});
