import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import mqttPacket from 'mqtt-packet';
import mqtt, { type IClientOptions } from 'mqtt';
import { connectMqtt, rawMqtt } from '../helpers/mqtt.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { HeldSyncStore } from '../helpers/held-sync-store.js';
import { within } from '../helpers/raw-stomp.js';

/** A broker process of MQTT alone on `data`, for tests that kill it with SIGKILL. */
function startKillable(data: string): Promise<BrokerProcess> {
  return spawnBroker(['--data', data, '--mqtt-port', '0', '--mqtt-host', '127.0.0.1', '--stomp-port', 'off', '--amqp-port', 'off', '--openwire-port', 'off', '--ws-port', 'off', '--http-port', 'off']);
}

test('a persistent session, its queued QoS 1 and 2 messages and retained messages survive a broker restart (journal)', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  try {
    let broker = await startBroker({ data });
    const sub = await connectMqtt(broker.mqttPort, { clientId: 'restart-sub', clean: false });
    await sub.subscribe({ 'plant/+/level': { qos: 2 } });
    await sub.end();
    const pub = await connectMqtt(broker.mqttPort);
    await pub.publish('plant/tank1/level', 'q1', { qos: 1 });
    await pub.publish('plant/tank2/level', 'q2', { qos: 2 });
    await pub.publish('plant/status', 'running', { qos: 0, retain: true });
    await pub.publish('plant/mode', 'auto', { qos: 1, retain: true });
    await pub.end();
    await broker.server.stop();

    broker = await startBroker({ data });
    const again = await connectMqtt(broker.mqttPort, { clientId: 'restart-sub', clean: false });
    assert.equal(again.connack.sessionPresent, true);
    const got = await again.inbox.take(2);
    assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}@${m.packet.qos}`), ['plant/tank1/level=q1@1', 'plant/tank2/level=q2@2']);
    const fresh = await connectMqtt(broker.mqttPort);
    await fresh.subscribe('plant/#', { qos: 1 });
    const retained = await fresh.inbox.take(2);
    assert.deepEqual(retained.map((m) => `${m.topic}=${m.payload}:${m.packet.retain}`).sort(), ['plant/mode=auto:true', 'plant/status=running:true']);
    await again.end();
    await fresh.end();
    await broker.server.stop();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('QoS 2 from a persistent session: a PUBLISH resent after a broker restart is not delivered twice, and its id can be used again after PUBREL', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  const open: { end(): unknown }[] = [];
  let broker = await startBroker({ data });
  try {
    const sub = await connectMqtt(broker.mqttPort, { clientId: 'once-sub', clean: false });
    open.push(sub);
    await sub.subscribe({ 'ledger/entries': { qos: 2 } });
    await sub.end();

    // the broker takes the publish (PUBREC) and stops before the client's PUBREL: as if PUBREC was lost in the crash
    const publish: mqttPacket.IPublishPacket = { cmd: 'publish', topic: 'ledger/entries', payload: Buffer.from('debit 100'), qos: 2, messageId: 7, dup: false, retain: false };
    let pub = await rawMqtt(broker.mqttPort);
    open.push({ end: () => pub.socket.destroy() });
    pub.send({ cmd: 'connect', clientId: 'once-pub', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
    await pub.next('connack');
    pub.send(publish);
    assert.equal((await pub.next('pubrec')).messageId, 7);
    pub.socket.destroy();
    await broker.server.stop();

    broker = await startBroker({ data });
    pub = await rawMqtt(broker.mqttPort);
    pub.send({ cmd: 'connect', clientId: 'once-pub', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
    await pub.next('connack');
    // the client never saw PUBREC, so it resends the PUBLISH ([MQTT-4.3.3]), then completes the exchange
    pub.send({ ...publish, dup: true });
    assert.equal((await pub.next('pubrec')).messageId, 7);
    pub.send({ cmd: 'pubrel', messageId: 7 });
    assert.equal((await pub.next('pubcomp')).messageId, 7);
    // packet id 7 is free again: a new message under it is delivered
    pub.send({ ...publish, payload: Buffer.from('credit 40') });
    assert.equal((await pub.next('pubrec')).messageId, 7);
    pub.send({ cmd: 'pubrel', messageId: 7 });
    await pub.next('pubcomp');

    const again = await connectMqtt(broker.mqttPort, { clientId: 'once-sub', clean: false });
    open.push(again);
    const got = await again.inbox.take(2);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['debit 100', 'credit 40'],
    );
    await assert.rejects(again.inbox.next(500), 'nothing more: the resent PUBLISH was not delivered again');
    pub.send({ cmd: 'disconnect' });
    await pub.closed;
  } finally {
    // a failed assertion must not leave clients and the broker running
    for (const client of open) await client.end();
    await broker.server.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('QoS 2 to a persistent session: a PUBREL owed when the broker restarts is sent again, and the message is not', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  const open: { end(): unknown }[] = [];
  let broker = await startBroker({ data });
  try {
    const connect: mqttPacket.IConnectPacket = { cmd: 'connect', clientId: 'owed-sub', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' };
    let sub = await rawMqtt(broker.mqttPort);
    open.push({ end: () => sub.socket.destroy() });
    sub.send(connect);
    await sub.next('connack');
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'stock/moves', qos: 2 }] });
    await sub.next('suback');
    const pub = await connectMqtt(broker.mqttPort);
    open.push(pub);
    await pub.publish('stock/moves', 'take 3', { qos: 2 });
    const delivered = (await sub.next('publish')) as mqttPacket.IPublishPacket;
    sub.send({ cmd: 'pubrec', messageId: delivered.messageId! });
    assert.equal((await sub.next('pubrel')).messageId, delivered.messageId);
    // no PUBCOMP: the broker restarts owing nothing but that PUBREL, which MQTT.js waits for to hand the message over
    await pub.end();
    sub.socket.destroy();
    await broker.server.stop();

    broker = await startBroker({ data });
    sub = await rawMqtt(broker.mqttPort);
    sub.send(connect);
    assert.equal(((await sub.next('connack')) as mqttPacket.IConnackPacket).sessionPresent, true);
    assert.equal((await sub.next('pubrel')).messageId, delivered.messageId);
    sub.send({ cmd: 'pubcomp', messageId: delivered.messageId! });
    await assert.rejects(sub.next('publish', 500), /no publish/, 'the message itself is not delivered again');
    sub.send({ cmd: 'disconnect' });
    await sub.closed;

    // completed: a third connection owes nothing
    sub = await rawMqtt(broker.mqttPort);
    sub.send(connect);
    await sub.next('connack');
    await assert.rejects(sub.next('pubrel', 500), /no pubrel/);
  } finally {
    for (const client of open) await client.end();
    await broker.server.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('a persistent session away across a broker restart still gets one copy of what its overlapping subscriptions share', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  let broker = await startBroker({ data });
  try {
    const options = { clientId: 'restart-overlap', clean: false } as const;
    const sub = await connectMqtt(broker.mqttPort, options);
    await sub.subscribe({ 'ovr/a': { qos: 0 }, 'ovr/#': { qos: 1 } });
    await sub.end();
    await broker.server.stop();

    broker = await startBroker({ data });
    const pub = await connectMqtt(broker.mqttPort);
    await pub.publish('ovr/a', 'after the restart', { qos: 1 });
    await pub.publish('ovr/b', 'marker', { qos: 1 });
    await pub.end();
    const back = await connectMqtt(broker.mqttPort, options);
    assert.equal(back.connack.sessionPresent, true);
    const [got, marker] = await back.inbox.take(2);
    assert.equal(got!.payload, 'after the restart');
    assert.equal(got!.packet.qos, 1, "the copy kept is the QoS 1 subscription's");
    assert.equal(marker!.payload, 'marker', 'no second copy of the first message came before the marker');
    await back.end();
  } finally {
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('a persistent session\'s SUBACK comes once its subscription is on disk: a kill -9 right after it keeps the subscription', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-suback-'));
  const start = (): Promise<BrokerProcess> => startKillable(data);
  let broker = await start();
  try {
    for (const version of [4, 5] as const) {
      const persistent = { clientId: `suback-${version}`, protocolVersion: version, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) };
      const sub = await connectMqtt(broker.ports['mqtt']!, persistent);
      await sub.subscribe('suback/t', { qos: 1 });
      await broker.stop('SIGKILL');
      sub.client.end(true);
      broker = await start();
      const pub = await connectMqtt(broker.ports['mqtt']!);
      await pub.publish('suback/t', `after the kill ${version}`, { qos: 1 });
      await pub.end();
      const again = await connectMqtt(broker.ports['mqtt']!, persistent);
      assert.equal(again.connack.sessionPresent, true, `MQTT ${version}`);
      assert.equal((await again.inbox.next()).payload, `after the kill ${version}`);
      await again.end();
    }
  } finally {
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('a persistent session\'s UNSUBACK comes once the subscription is gone from disk: a kill -9 right after it does not bring it back', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-unsuback-'));
  const start = (): Promise<BrokerProcess> => startKillable(data);
  let broker = await start();
  try {
    const persistent = { clientId: 'unsuback', clean: false };
    const sub = await connectMqtt(broker.ports['mqtt']!, persistent);
    await sub.subscribe(['unsuback/kept', 'unsuback/gone'], { qos: 1 });
    // written a moment ago: the unsubscribe below goes in a batch of its own
    await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise<void>((resolve, reject) => sub.client.unsubscribe('unsuback/gone', (err) => (err ? reject(err) : resolve())));
    await broker.stop('SIGKILL');
    sub.client.end(true);
    broker = await start();
    const pub = await connectMqtt(broker.ports['mqtt']!);
    for (const topic of ['unsuback/gone', 'unsuback/kept']) await pub.publish(topic, topic, { qos: 1 });
    await pub.end();
    const again = await connectMqtt(broker.ports['mqtt']!, persistent);
    assert.equal(again.connack.sessionPresent, true);
    assert.equal((await again.inbox.next()).payload, 'unsuback/kept', 'only the subscription kept delivers');
    await again.inbox.expectNothing(200);
    await again.end();
  } finally {
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('MQTT 5: a session away across a broker restart still ends its expiry interval, counted from the restart; a longer one is kept', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  try {
    let broker = await startBroker({ data });
    const v5 = { protocolVersion: 5, clean: false } as const;
    for (const [clientId, sessionExpiryInterval] of [['expires-soon', 1], ['expires-late', 300]] as const) {
      const sub = await connectMqtt(broker.mqttPort, { ...v5, clientId, properties: { sessionExpiryInterval } });
      await sub.subscribe(`expiry-restart/${clientId}`, { qos: 1 });
      await sub.end();
    }
    // one that set a short expiry at CONNECT and a long one at DISCONNECT keeps the long one
    const changed = await rawMqtt(broker.mqttPort, 5);
    changed.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'expiry-changed', clean: true, keepalive: 0, properties: { sessionExpiryInterval: 1 } });
    await changed.next('connack');
    changed.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'expiry-restart/expiry-changed', qos: 1 }] });
    await changed.next('suback');
    changed.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 300 } });
    await changed.closed;
    await broker.server.stop();

    broker = await startBroker({ data });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const pub = await connectMqtt(broker.mqttPort);
    for (const clientId of ['expires-soon', 'expires-late', 'expiry-changed']) await pub.publish(`expiry-restart/${clientId}`, `for ${clientId}`, { qos: 1 });
    await pub.end();
    const soon = await connectMqtt(broker.mqttPort, { ...v5, clientId: 'expires-soon' });
    assert.equal(soon.connack.sessionPresent, false, 'the one-second session ended a second after the restart');
    await soon.inbox.expectNothing(200);
    for (const clientId of ['expires-late', 'expiry-changed']) {
      const late = await connectMqtt(broker.mqttPort, { ...v5, clientId, properties: { sessionExpiryInterval: 0 } });
      assert.equal(late.connack.sessionPresent, true, clientId);
      assert.equal((await late.inbox.next()).payload, `for ${clientId}`);
      await late.end();
    }
    await soon.end();
    await broker.server.stop();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('MQTT 5: a publisher\'s session that keeps only a QoS 2 packet id still ends its expiry interval after a restart, and the id carries a new message', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-restart-'));
  try {
    let broker = await startBroker({ data });
    // each takes a QoS 2 PUBLISH under id 5 and goes away before its PUBREL: the id is all its session keeps
    for (const [clientId, sessionExpiryInterval] of [['publisher-soon', 1], ['publisher-late', 300]] as const) {
      const raw = await rawMqtt(broker.mqttPort, 5);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, properties: { sessionExpiryInterval } });
      await raw.next('connack');
      raw.send({ cmd: 'publish', topic: `held-id/${clientId}`, payload: Buffer.from('first'), qos: 2, messageId: 5, retain: false, dup: false });
      await raw.next('pubrec');
      raw.socket.end();
      await raw.closed;
    }
    await broker.server.stop();

    broker = await startBroker({ data });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const late = await connectMqtt(broker.mqttPort, { protocolVersion: 5, clean: false, clientId: 'publisher-late', properties: { sessionExpiryInterval: 0 } });
    assert.equal(late.connack.sessionPresent, true, 'the 300-second session is kept');
    await late.end();
    const sub = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
    await sub.subscribe('held-id/publisher-soon', { qos: 2 });
    const soon = await rawMqtt(broker.mqttPort, 5);
    soon.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'publisher-soon', clean: false, keepalive: 0 });
    assert.equal((await soon.next('connack') as mqttPacket.IConnackPacket).sessionPresent, false, 'the one-second session ended a second after the restart');
    // with the session gone its id is free: the same id is a new message, not a resend
    soon.send({ cmd: 'publish', topic: 'held-id/publisher-soon', payload: Buffer.from('second'), qos: 2, messageId: 5, retain: false, dup: false });
    await soon.next('pubrec');
    soon.send({ cmd: 'pubrel', messageId: 5 });
    await soon.next('pubcomp');
    assert.equal(String((await sub.inbox.next()).payload), 'second');
    soon.socket.end();
    await sub.end();
    await broker.server.stop();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

/** Hands out one packet id, always: what a client's ids come round to after 65,535 publishes. */
function onePacketId(id: number): NonNullable<IClientOptions['messageIdProvider']> {
  return { allocate: () => id, getLastAllocated: () => id, register: () => true, deallocate: () => {}, clear: () => {} };
}

test('QoS 2 from a persistent session: PUBCOMP comes once the packet id is forgotten on disk, so after a kill -9 right after it the id carries a new message', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-pubcomp-'));
  let broker = await startKillable(data);
  try {
    for (const version of [4, 5] as const) {
      const publisher = { clientId: `pubcomp-${version}`, protocolVersion: version, clean: false, messageIdProvider: onePacketId(7), ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) };
      let pub = await connectMqtt(broker.ports['mqtt']!, publisher);
      // the publish's own sync is long done when its PUBREL comes: nothing else takes the forgetting to disk
      await pub.publish('pubcomp/t', `before the kill ${version}`, { qos: 2 });
      await broker.stop('SIGKILL');
      pub.client.end(true);

      broker = await startKillable(data);
      const sub = await connectMqtt(broker.ports['mqtt']!);
      await sub.subscribe('pubcomp/t', { qos: 1 });
      pub = await connectMqtt(broker.ports['mqtt']!, publisher);
      // the same packet id, DUP 0: a new publication [MQTT-4.3.3-9]
      await pub.publish('pubcomp/t', `after the kill ${version}`, { qos: 2 });
      assert.equal((await sub.inbox.next()).payload, `after the kill ${version}`, `MQTT ${version}`);
      await pub.end();
      await sub.end();
    }
  } finally {
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('QoS 2 to a persistent session: PUBREL goes out once the message is settled on disk, so a kill -9 the moment MQTT.js hands the message over does not bring it back', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-pubrel-'));
  let broker = await startKillable(data);
  try {
    for (const version of [4, 5] as const) {
      const subscriber = { clientId: `pubrel-${version}`, protocolVersion: version, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) };
      let sub = await connectMqtt(broker.ports['mqtt']!, subscriber);
      await sub.subscribe('pubrel/t', { qos: 2 });
      await sub.end();
      let pub = await connectMqtt(broker.ports['mqtt']!);
      await pub.publish('pubrel/t', `once ${version}`, { qos: 2 });
      await pub.end();

      // MQTT.js hands a QoS 2 message over on PUBREL: the broker goes that moment
      const killed = broker;
      const received: string[] = [];
      const client = mqtt.connect({ host: '127.0.0.1', port: broker.ports['mqtt']!, reconnectPeriod: 0, ...subscriber });
      client.on('error', () => {});
      await new Promise<void>((resolve) => {
        client.on('message', (_topic, payload) => {
          received.push(payload.toString());
          killed.child.kill('SIGKILL');
          resolve();
        });
      });
      await killed.exited;
      client.end(true);
      assert.deepEqual(received, [`once ${version}`]);

      broker = await startKillable(data);
      pub = await connectMqtt(broker.ports['mqtt']!);
      await pub.publish('pubrel/t', `marker ${version}`, { qos: 2 });
      await pub.end();
      sub = await connectMqtt(broker.ports['mqtt']!, subscriber);
      assert.equal(sub.connack.sessionPresent, true);
      assert.equal((await sub.inbox.next()).payload, `marker ${version}`, `MQTT ${version}: no second copy before the marker`);
      await sub.end();
    }
  } finally {
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('a publisher\'s persistent session that holds a QoS 2 packet id across a broker restart is present in its CONNACK', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-present-'));
  let broker = await startBroker({ data });
  try {
    for (const version of [4, 5] as const) {
      const clientId = `present-${version}`;
      const session = version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {};
      // the broker takes the publish (PUBREC) and the client goes before its PUBREL
      const pub = await rawMqtt(broker.mqttPort, version);
      pub.send({ cmd: 'connect', clientId, clean: false, keepalive: 0, protocolVersion: version, protocolId: 'MQTT', ...session });
      await pub.next('connack');
      pub.send({ cmd: 'publish', topic: 'present/t', payload: Buffer.from('held'), qos: 2, messageId: 3, dup: false, retain: false });
      assert.equal((await pub.next('pubrec')).messageId, 3);
      pub.socket.destroy();
      await broker.server.stop();

      broker = await startBroker({ data });
      const again = await connectMqtt(broker.mqttPort, { clientId, clean: false, protocolVersion: version, ...session });
      // [MQTT-3.2.2-2]: the broker holds packet id 3 for this session
      assert.equal(again.connack.sessionPresent, true, `MQTT ${version}`);
      await again.end();
    }
  } finally {
    await broker.server.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('QoS 2 from a persistent session: a stopping broker answers the PUBLISH and the PUBREL it has taken (PUBREC, PUBCOMP) once they are stored, before the connection closes, and delivers the message once', async () => {
  const store = new HeldSyncStore();
  let broker = await startBroker({}, { store });
  const open: { end(): unknown }[] = [];
  try {
    const subscriber = { clientId: 'stop-sub', clean: false };
    const sub = await connectMqtt(broker.mqttPort, subscriber);
    await sub.subscribe({ 'stop/t': { qos: 2 } });
    await sub.end();

    // the broker takes a PUBLISH whose sync is still to come when the stop begins
    const pub = await rawMqtt(broker.mqttPort);
    open.push({ end: () => pub.socket.destroy() });
    pub.send({ cmd: 'connect', clientId: 'stop-pub', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
    await pub.next('connack');
    store.hold();
    const taken = store.nextAppend();
    pub.send({ cmd: 'publish', topic: 'stop/t', payload: Buffer.from('first'), qos: 2, messageId: 7, dup: false, retain: false });
    await taken;
    let stopped = broker.server.stop();
    store.release();
    await stopped;
    await pub.closed;
    assert.equal((await pub.next('pubrec')).messageId, 7, 'PUBREC came before the close');

    // the client that saw PUBREC completes the exchange after the restart: nothing is delivered again
    broker = await startBroker({}, { store });
    const resumed = await rawMqtt(broker.mqttPort);
    open.push({ end: () => resumed.socket.destroy() });
    resumed.send({ cmd: 'connect', clientId: 'stop-pub', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
    await resumed.next('connack');
    resumed.send({ cmd: 'pubrel', messageId: 7 });
    assert.equal((await resumed.next('pubcomp')).messageId, 7);
    resumed.send({ cmd: 'disconnect' });
    await resumed.closed;

    // MQTT.js: the broker takes its PUBREL and has not synced the forgetting of the id when the stop begins
    const publisher = await connectMqtt(broker.mqttPort, { clientId: 'stop-pub', clean: false, messageIdProvider: onePacketId(7) });
    open.push(publisher);
    publisher.client.on('error', () => {});
    let forgetting: Promise<void> | undefined;
    // MQTT.js answers PUBREC with PUBREL as it reads it
    publisher.client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'pubrec') return;
      store.hold();
      forgetting = store.nextAppend();
    });
    const completed = publisher.publish('stop/t', 'second', { qos: 2 });
    completed.catch(() => {});
    while (forgetting === undefined) await new Promise((resolve) => setImmediate(resolve));
    await forgetting;
    stopped = broker.server.stop();
    store.release();
    await stopped;
    // without PUBCOMP a client sends PUBREL again, and paho 1.6 the PUBLISH itself (DUP 0) after more than one failed reconnect
    await within(3000, 'PUBCOMP before the close', completed);

    broker = await startBroker({}, { store });
    const back = await connectMqtt(broker.mqttPort, subscriber);
    open.push(back);
    assert.deepEqual(
      (await back.inbox.take(2)).map((m) => m.payload),
      ['first', 'second'],
    );
    await assert.rejects(back.inbox.next(300), 'nothing more');
  } finally {
    for (const client of open) await client.end();
    store.release();
    await broker.server.stop();
  }
});

/**
 * A TCP relay to the broker on `target()` that drops every byte from the broker once `mute` is
 * set, as a crash loses what it had not yet sent; `swallowed` resolves at the first byte dropped.
 */
function muteableRelay(target: () => number): Promise<{ port: number; mute(): void; unmute(): void; swallowed(): Promise<void>; cut(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let muted = false;
  let dropped: (() => void) | undefined;
  let swallowed = new Promise<void>((resolve) => (dropped = resolve));
  const server = createServer((client) => {
    const upstream = tcpConnect(target(), '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!muted) client.write(chunk);
      else dropped?.();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        mute: () => {
          muted = true;
          swallowed = new Promise<void>((done) => (dropped = done));
        },
        unmute: () => (muted = false),
        swallowed: () => swallowed,
        cut: () => {
          for (const socket of sockets) socket.destroy();
        },
        close: () => server.close(),
      }),
    ),
  );
}

test('QoS 2 from a persistent session: a PUBREL resent after a kill -9 that lost its PUBCOMP is answered with success, so MQTT.js reports the publish done', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-mqtt-pubrel-'));
  let broker = await startKillable(data);
  const relay = await muteableRelay(() => broker.ports['mqtt']!);
  const open: { end(): unknown }[] = [];
  try {
    for (const version of [4, 5] as const) {
      const sub = await connectMqtt(broker.ports['mqtt']!, { clientId: `pubrel-sub-${version}`, clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) });
      await sub.subscribe('pubrel/t', { qos: 2 });
      const pub = await connectMqtt(relay.port, { clientId: `pubrel-pub-${version}`, clean: false, protocolVersion: version, reconnectPeriod: 100, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) });
      open.push(pub);
      pub.client.on('error', () => {});
      // the broker's PUBCOMP, written once the released id is forgotten on disk, is lost in the crash
      const muteAtPubrel = (packet: mqttPacket.Packet): void => {
        if (packet.cmd !== 'pubrel') return;
        relay.mute();
        pub.client.off('packetsend', muteAtPubrel);
      };
      pub.client.on('packetsend', muteAtPubrel);
      const completed = pub.publish('pubrel/t', `once ${version}`, { qos: 2 });
      completed.catch(() => {});
      assert.equal((await sub.inbox.next()).payload, `once ${version}`);
      await relay.swallowed();
      await broker.stop('SIGKILL');
      relay.cut();
      await sub.end();
      broker = await startKillable(data);
      relay.unmute();
      // MQTT.js resends the PUBREL on its own when it reconnects
      await within(5000, `MQTT ${version}: the publish completes`, completed);
      const back = await connectMqtt(broker.ports['mqtt']!, { clientId: `pubrel-sub-${version}`, clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) });
      await assert.rejects(back.inbox.next(300), 'not delivered again');
      await back.end();
      await pub.end();
    }
  } finally {
    for (const client of open) await client.end();
    relay.close();
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  }
});
