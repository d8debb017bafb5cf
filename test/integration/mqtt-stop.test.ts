import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { connectAmqp } from '../helpers/amqp.js';
import { connectMqtt, dropConnection } from '../helpers/mqtt.js';
import { RawStompClient, eventually } from '../helpers/raw-stomp.js';

const v5 = { protocolVersion: 5 as const };

/** A STOMP subscriber whose SUBSCRIBE the broker has taken (its receipt came back). */
async function stompSubscriber(port: number, destination: string): Promise<RawStompClient> {
  const { raw } = await RawStompClient.connected(port);
  await raw.send('SUBSCRIBE', { destination, id: 's', ack: 'auto', receipt: 'subscribed' });
  await raw.nextFrameOf('RECEIPT');
  return raw;
}

/** The bodies of the MESSAGE frames a STOMP client received before its connection closed. */
async function stompBodies(raw: RawStompClient): Promise<string[]> {
  return (await raw.untilClosed()).filter((f) => f.command === 'MESSAGE').map((f) => f.body.toString('utf8'));
}

test('a graceful stop publishes the wills of the MQTT clients still connected: subscribers of every protocol get them before their connections close, and a retained will is kept', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-stop-'));
  try {
    let broker = await startBroker({ data });
    const mqttWatcher = await connectMqtt(broker.mqttPort, { clientId: 'stop-watcher', clean: false });
    await mqttWatcher.subscribe('will/#', { qos: 1 });
    const stompWatcher = await stompSubscriber(broker.stompPort, '/topic/will.willer');
    const amqp = await connectAmqp(broker.amqpPort);
    const { inbox: amqpInbox } = await amqp.openReceiver('topic://will.willer');
    const willer = await connectMqtt(broker.mqttPort, { clientId: 'willer', will: { topic: 'will/willer', payload: Buffer.from('willer died'), qos: 1, retain: true } });
    const v5Willer = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'willer5', will: { topic: 'will/willer5', payload: Buffer.from('willer5 died'), qos: 1, retain: false } });

    await broker.server.stop();
    await Promise.all([willer.closed, v5Willer.closed, mqttWatcher.closed]);

    const heard = await mqttWatcher.inbox.take(2);
    assert.deepEqual(heard.map((m) => `${m.topic}=${m.payload}`).sort(), ['will/willer5=willer5 died', 'will/willer=willer died'], 'an MQTT subscriber connected at the stop gets both wills before its connection closes');
    assert.deepEqual(await stompBodies(stompWatcher), ['willer died'], 'a STOMP subscriber gets the will before its connection closes');
    assert.equal(((await amqpInbox.next()).message.body as { content: Buffer }).content.toString('utf8'), 'willer died', 'an AMQP 1.0 subscriber gets the will before the broker closes its connection');
    await amqp.closed;

    broker = await startBroker({ data });
    const fresh = await connectMqtt(broker.mqttPort);
    await fresh.subscribe('will/#', { qos: 1 });
    const retained = await fresh.inbox.next();
    assert.equal(`${retained.topic}=${retained.payload}:${retained.packet.retain}`, 'will/willer=willer died:true', 'the retained will was stored before the store closed');
    await fresh.end();
    await broker.server.stop();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('a graceful stop publishes an MQTT 5 will still waiting out its delay: it cannot outlive the stop, so it goes to persistent sessions and the retained store before it', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-stop-'));
  try {
    let broker = await startBroker({ data });
    const away = await connectMqtt(broker.mqttPort, { clientId: 'delay-watcher', clean: false });
    await away.subscribe('wd/#', { qos: 1 });
    await away.end();
    const live = await stompSubscriber(broker.stompPort, '/topic/wd.delayed');
    const delayed = await connectMqtt(broker.mqttPort, {
      ...v5,
      clientId: 'delayed',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      will: { topic: 'wd/delayed', payload: Buffer.from('gone for good'), qos: 1, retain: true, properties: { willDelayInterval: 3600 } },
    });
    dropConnection(delayed.client);
    await eventually('the broker noticed the dropped client', () => broker.server.broker.admin.connectionList().every((c) => c.clientId !== 'delayed'));

    await broker.server.stop();
    assert.deepEqual(await stompBodies(live), ['gone for good'], 'a subscriber connected at the stop gets the delayed will');

    broker = await startBroker({ data });
    const back = await connectMqtt(broker.mqttPort, { clientId: 'delay-watcher', clean: false });
    const queued = await back.inbox.next();
    assert.equal(`${queued.topic}=${queued.payload}`, 'wd/delayed=gone for good', 'the persistent session kept the will for its client');
    const fresh = await connectMqtt(broker.mqttPort);
    await fresh.subscribe('wd/#', { qos: 1 });
    const retained = await fresh.inbox.next();
    assert.equal(`${retained.topic}=${retained.payload}:${retained.packet.retain}`, 'wd/delayed=gone for good:true');
    await Promise.all([back.end(), fresh.end()]);
    await broker.server.stop();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('a graceful stop tells MQTT 5 clients why with DISCONNECT 0x8B (Server shutting down)', async () => {
  const broker = await startBroker();
  try {
    const client = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'told-stop' });
    await broker.server.stop();
    await client.closed;
    assert.deepEqual(client.disconnects.map((d) => d.reasonCode), [0x8b]);
  } finally {
    await broker.server.stop();
  }
});

test('an operator closing an MQTT 5 connection sends DISCONNECT 0x98 (Administrative action)', async () => {
  const broker = await startBroker();
  try {
    const client = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'closed-by-operator' });
    const id = broker.server.broker.admin.connectionList().find((c) => c.clientId === 'closed-by-operator')!.id;
    broker.server.broker.admin.closeConnection(id);
    await client.closed;
    assert.deepEqual(client.disconnects.map((d) => [d.reasonCode, d.properties?.reasonString]), [[0x98, 'an operator closed the connection']]);
  } finally {
    await broker.server.stop();
  }
});
