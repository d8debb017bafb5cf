import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt, dropConnection, rawMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'mqtt.connectTimeout': 500 });
});
after(async () => {
  await broker.stop();
});


function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))]);
}

test('QoS 0, 1 and 2 both ways; delivery at the lower of the two QoS', async () => {
  const sub = await connectMqtt(broker.mqttPort, { clientId: 'qos-sub' });
  const pub = await connectMqtt(broker.mqttPort, { clientId: 'qos-pub' });
  const granted = await sub.subscribe({ 'qos/zero': { qos: 0 }, 'qos/one': { qos: 1 }, 'qos/two': { qos: 2 } });
  assert.deepEqual(granted.map((g) => g.qos), [0, 1, 2]);
  for (const qos of [0, 1, 2] as const) {
    for (const topic of ['qos/zero', 'qos/one', 'qos/two']) await pub.publish(topic, `${topic}@${qos}`, { qos });
  }
  const got = await sub.inbox.take(9);
  const byPayload = new Map(got.map((m) => [m.payload, m.packet.qos]));
  assert.equal(byPayload.get('qos/zero@2'), 0);
  assert.equal(byPayload.get('qos/one@2'), 1);
  assert.equal(byPayload.get('qos/two@2'), 2);
  assert.equal(byPayload.get('qos/two@1'), 1);
  assert.equal(byPayload.get('qos/two@0'), 0);
  assert.equal(byPayload.get('qos/one@1'), 1);
  await sub.end();
  await pub.end();
});

test('wildcards + and #, "a/#" matching "a", and "$" topics not matched by a leading wildcard', async () => {
  const sub = await connectMqtt(broker.mqttPort);
  await sub.subscribe(['w/+/temp', 'w/deep/#', '#']);
  const pub = await connectMqtt(broker.mqttPort);
  await pub.publish('w/kitchen/temp', 'a', { qos: 1 });
  await pub.publish('w/deep', 'b', { qos: 1 });
  await pub.publish('w/deep/x/y', 'c', { qos: 1 });
  const got = await sub.inbox.take(3);
  // each message reaches the client once, however many of its subscriptions match ([MQTT-3.3.4-2])
  assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}`).sort(), ['w/deep/x/y=c', 'w/deep=b', 'w/kitchen/temp=a']);
  const sys = await connectMqtt(broker.mqttPort);
  await sys.subscribe('+/private');
  // a client may publish to $-topics here; wildcard subscribers still do not see them
  await pub.publish('$internal/private', 'hidden', { qos: 1 });
  await sub.inbox.expectNothing(200);
  await sys.inbox.expectNothing(100);
  await Promise.all([sub.end(), pub.end(), sys.end()]);
});

test('retained: set, handed to new subscribers with RETAIN, replaced, cleared by an empty payload', async () => {
  const pub = await connectMqtt(broker.mqttPort);
  await pub.publish('ret/a', 'first', { qos: 1, retain: true });
  await pub.publish('ret/a', 'second', { qos: 1, retain: true });
  await pub.publish('ret/b', 'bee', { qos: 0, retain: true });
  const sub = await connectMqtt(broker.mqttPort);
  await sub.subscribe('ret/+', { qos: 1 });
  const got = await sub.inbox.take(2);
  assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}:${m.packet.retain}`).sort(), ['ret/a=second:true', 'ret/b=bee:true']);
  // a live publication is forwarded without RETAIN ([MQTT-3.3.1-9])
  await pub.publish('ret/a', 'third', { qos: 1, retain: true });
  const live = await sub.inbox.next();
  assert.equal(live.payload, 'third');
  assert.equal(live.packet.retain, false);
  await pub.publish('ret/a', '', { qos: 1, retain: true });
  assert.equal((await sub.inbox.next()).payload, '');
  const late = await connectMqtt(broker.mqttPort);
  await late.subscribe('ret/#', { qos: 1 });
  const only = await late.inbox.next();
  assert.equal(only.topic, 'ret/b');
  await late.inbox.expectNothing(200);
  await Promise.all([pub.end(), sub.end(), late.end()]);
});

test('persistent session: subscriptions and QoS 1 messages wait for the client; clean session discards them', async () => {
  const first = await connectMqtt(broker.mqttPort, { clientId: 'persist-1', clean: false });
  assert.equal(first.connack.sessionPresent, false);
  await first.subscribe('persist/topic', { qos: 1 });
  await first.end();
  const pub = await connectMqtt(broker.mqttPort);
  for (let i = 0; i < 3; i++) await pub.publish('persist/topic', `m${i}`, { qos: 1 });
  await pub.publish('persist/topic', 'qos0', { qos: 0 });
  const again = await connectMqtt(broker.mqttPort, { clientId: 'persist-1', clean: false });
  assert.equal(again.connack.sessionPresent, true);
  const got = await again.inbox.take(3);
  assert.deepEqual(got.map((m) => m.payload), ['m0', 'm1', 'm2']);
  await again.end();
  const clean = await connectMqtt(broker.mqttPort, { clientId: 'persist-1', clean: true });
  assert.equal(clean.connack.sessionPresent, false);
  await clean.end();
  await pub.publish('persist/topic', 'after-clean', { qos: 1 });
  const resumed = await connectMqtt(broker.mqttPort, { clientId: 'persist-1', clean: false });
  assert.equal(resumed.connack.sessionPresent, false);
  await resumed.inbox.expectNothing(200);
  await Promise.all([resumed.end(), pub.end()]);
});

test('a persistent session that subscribes again to its filters on reconnecting, as paho clients do in on_connect, gets what waited for it [MQTT-3.8.4-3]', async () => {
  for (const [version, qos] of [[4, 1], [5, 1], [4, 2], [5, 2]] as const) {
    const clientId = `resubscribe-${version}-${qos}`;
    const persistent = version === 5 ? { clientId, protocolVersion: version, clean: false, properties: { sessionExpiryInterval: 300 } } : { clientId, protocolVersion: version, clean: false };
    const first = await connectMqtt(broker.mqttPort, persistent);
    await first.subscribe('resubscribe/#', { qos: 1 });
    await first.end();
    const pub = await connectMqtt(broker.mqttPort);
    for (let i = 0; i < 20; i++) await pub.publish('resubscribe/x', `m${i}`, { qos: 1 });
    await pub.end();
    const again = await connectMqtt(broker.mqttPort, persistent);
    assert.equal(again.connack.sessionPresent, true);
    // the same filter, at the same QoS or another: the subscription is replaced, its messages kept
    await again.subscribe('resubscribe/#', { qos });
    const got = await again.inbox.take(20);
    assert.deepEqual(got.map((m) => m.payload), Array.from({ length: 20 }, (_, i) => `m${i}`), `MQTT ${version}, again at QoS ${qos}`);
    await again.inbox.expectNothing(100);
    await again.end();
    await (await connectMqtt(broker.mqttPort, { clientId, protocolVersion: version, clean: true })).end();
  }
});

test('unacknowledged QoS 1 deliveries come back with DUP, under their original packet ids, when a persistent session reconnects', async () => {
  const raw = await rawMqtt(broker.mqttPort);
  raw.send({ cmd: 'connect', clientId: 'dup-client', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  await raw.next('connack');
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dup/t', qos: 1 }] });
  await raw.next('suback');
  const pub = await connectMqtt(broker.mqttPort);
  for (const body of ['a', 'b', 'c']) await pub.publish('dup/t', body, { qos: 1 });
  const first = [];
  for (let i = 0; i < 3; i++) first.push((await raw.next('publish')) as mqttPacket.IPublishPacket);
  assert.deepEqual(
    first.map((p) => [p.payload.toString(), p.dup]),
    [
      ['a', false],
      ['b', false],
      ['c', false],
    ],
  );
  // a and b acknowledged; c is in flight when the connection drops
  raw.send({ cmd: 'puback', messageId: first[0]!.messageId! });
  raw.send({ cmd: 'puback', messageId: first[1]!.messageId! });
  await new Promise((resolve) => setTimeout(resolve, 50));
  raw.socket.destroy();
  await raw.closed;
  const again = await rawMqtt(broker.mqttPort);
  again.send({ cmd: 'connect', clientId: 'dup-client', clean: false, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  const connack = (await again.next('connack')) as mqttPacket.IConnackPacket;
  assert.equal(connack.sessionPresent, true);
  const second = (await again.next('publish')) as mqttPacket.IPublishPacket;
  assert.equal(second.payload.toString(), 'c');
  assert.equal(second.dup, true);
  // [MQTT-4.4.0-1]: not the 1 a fresh connection would start from
  assert.equal(second.messageId, first[2]!.messageId);
  again.send({ cmd: 'puback', messageId: second.messageId! });
  again.send({ cmd: 'disconnect' });
  await again.closed;
  await pub.end();
});

test('QoS 2 inbound: a resent PUBLISH before PUBREL is not delivered twice', async () => {
  const sub = await connectMqtt(broker.mqttPort);
  await sub.subscribe('q2/once', { qos: 2 });
  const raw = await rawMqtt(broker.mqttPort);
  raw.send({ cmd: 'connect', clientId: 'q2-raw', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  await raw.next('connack');
  const publish: mqttPacket.IPublishPacket = { cmd: 'publish', topic: 'q2/once', payload: Buffer.from('exactly'), qos: 2, dup: false, retain: false, messageId: 7 };
  raw.send(publish);
  assert.equal((await raw.next('pubrec')).messageId, 7);
  raw.send({ ...publish, dup: true });
  assert.equal((await raw.next('pubrec')).messageId, 7);
  raw.send({ cmd: 'pubrel', messageId: 7 });
  assert.equal((await raw.next('pubcomp')).messageId, 7);
  assert.equal((await sub.inbox.next()).payload, 'exactly');
  await sub.inbox.expectNothing(200);
  // after PUBREL the id is free again: the same id is a new message
  raw.send(publish);
  await raw.next('pubrec');
  raw.send({ cmd: 'pubrel', messageId: 7 });
  await raw.next('pubcomp');
  assert.equal((await sub.inbox.next()).payload, 'exactly');
  raw.socket.destroy();
  await sub.end();
});

test('QoS 2 outbound: PUBLISH, PUBREC, PUBREL, PUBCOMP', async () => {
  const raw = await rawMqtt(broker.mqttPort);
  raw.send({ cmd: 'connect', clientId: 'q2-out', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  await raw.next('connack');
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2/out', qos: 2 }] });
  await raw.next('suback');
  const pub = await connectMqtt(broker.mqttPort);
  await pub.publish('q2/out', 'two', { qos: 2 });
  const p = (await raw.next('publish')) as mqttPacket.IPublishPacket;
  assert.equal(p.qos, 2);
  raw.send({ cmd: 'pubrec', messageId: p.messageId! });
  assert.equal((await raw.next('pubrel')).messageId, p.messageId);
  raw.send({ cmd: 'pubcomp', messageId: p.messageId! });
  raw.send({ cmd: 'pingreq' });
  await raw.next('pingresp');
  raw.socket.destroy();
  await pub.end();
});

test('will: published on an abnormal end, not after DISCONNECT', async () => {
  const watcher = await connectMqtt(broker.mqttPort);
  await watcher.subscribe('will/+', { qos: 1 });
  const dying = await connectMqtt(broker.mqttPort, { will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: false } });
  dropConnection(dying.client);
  const will = await watcher.inbox.next();
  assert.equal(will.topic, 'will/dying');
  assert.equal(will.payload, 'gone');
  const polite = await connectMqtt(broker.mqttPort, { will: { topic: 'will/polite', payload: Buffer.from('never'), qos: 1, retain: false } });
  await polite.end();
  await watcher.inbox.expectNothing(300);
  await watcher.end();
});

test('a second connection with the same client id takes over; the first is closed', async () => {
  const first = await connectMqtt(broker.mqttPort, { clientId: 'twin' });
  const second = await connectMqtt(broker.mqttPort, { clientId: 'twin' });
  await within(first.closed, 2000, 'closing the first connection');
  await second.subscribe('twin/t');
  await second.publish('twin/t', 'still here');
  assert.equal((await second.inbox.next()).payload, 'still here');
  await second.end();
});

test('keep-alive: a client silent for 1.5 times its keep-alive is closed, and its will published', async () => {
  const watcher = await connectMqtt(broker.mqttPort);
  await watcher.subscribe('ka/will');
  const raw = await rawMqtt(broker.mqttPort);
  const started = Date.now();
  raw.send({ cmd: 'connect', clientId: 'silent', clean: true, keepalive: 1, protocolVersion: 4, protocolId: 'MQTT', will: { topic: 'ka/will', payload: Buffer.from('timed out'), qos: 0, retain: false } });
  await raw.next('connack');
  await within(raw.closed, 4000, 'the keep-alive close');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 1400 && elapsed < 3000, `closed after ${elapsed} ms`);
  assert.equal((await watcher.inbox.next()).payload, 'timed out');
  await watcher.end();
});

test('bad input closes that connection only: garbage, a first packet that is not CONNECT, no CONNECT in time, a packet over the limit', async () => {
  const bystander = await connectMqtt(broker.mqttPort);
  await bystander.subscribe('bad/ok');

  const garbage = await rawMqtt(broker.mqttPort);
  garbage.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  await within(garbage.closed, 2000, 'closing on garbage');

  const early = await rawMqtt(broker.mqttPort);
  early.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x', qos: 0 }] });
  await within(early.closed, 2000, 'closing on SUBSCRIBE before CONNECT');

  const mute = await rawMqtt(broker.mqttPort);
  await within(mute.closed, 2000, 'closing without CONNECT');

  const big = await rawMqtt(broker.mqttPort);
  big.send({ cmd: 'connect', clientId: 'big', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  await big.next('connack');
  // a fixed header announcing 200 MiB: refused from its length alone
  big.socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]));
  await within(big.closed, 2000, 'closing on a packet over the limit');

  const second = await rawMqtt(broker.mqttPort);
  second.send({ cmd: 'connect', clientId: 'twice', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  await second.next('connack');
  second.send({ cmd: 'connect', clientId: 'twice', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT' });
  await within(second.closed, 2000, 'closing on a second CONNECT');

  const publisher = await connectMqtt(broker.mqttPort);
  await publisher.publish('bad/ok', 'unaffected', { qos: 1 });
  assert.equal((await bystander.inbox.next()).payload, 'unaffected');
  await Promise.all([bystander.end(), publisher.end()]);
});

test('an unsupported protocol level gets CONNACK 0x01 and a close', async () => {
  const raw = await rawMqtt(broker.mqttPort);
  // CONNECT, protocol name MQTT, level 9
  raw.socket.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 9, 2, 0, 0, 0, 0]));
  const connack = (await raw.next('connack')) as mqttPacket.IConnackPacket;
  assert.equal(connack.returnCode, 1);
  await within(raw.closed, 2000, 'the close');
});

test('STOMP to MQTT and back: /topic/a.b is MQTT a/b', async () => {
  const stomp = await connectStomp(broker.stompPort);
  const mq = await connectMqtt(broker.mqttPort);
  await mq.subscribe('cross/+/b', { qos: 1 });
  const inbox = stomp.subscribe('/topic/cross.from-mqtt.*');
  await new Promise((r) => setTimeout(r, 50));
  await stomp.sendConfirmed('/topic/cross.a.b', 'from stomp', { persistent: 'true', colour: 'blue' });
  const got = await mq.inbox.next();
  assert.equal(got.topic, 'cross/a/b');
  assert.equal(got.payload, 'from stomp');
  assert.equal(got.packet.qos, 1);
  await mq.publish('cross/from-mqtt/x', 'from mqtt', { qos: 1 });
  const back = await inbox.next();
  assert.equal(back.body, 'from mqtt');
  assert.equal(back.headers['destination'], '/topic/cross.from-mqtt.x');
  assert.equal(back.headers['persistent'], 'true');
  await mq.end();
  await stomp.disconnect();
});

test('a client\'s publish under $SYS is acknowledged and dropped, retained or not, so it cannot pass for the broker\'s own figures [MQTT-4.7.2]', async () => {
  /** What `client` gets up to `marker`: the broker's own retained version may come before it, no forgery. */
  const upTo = async (client: Awaited<ReturnType<typeof connectMqtt>>, marker: string): Promise<string[]> => {
    const got: string[] = [];
    while (got.at(-1) !== marker) got.push((await client.inbox.next()).payload);
    return got.filter((p) => !p.startsWith('Ferry '));
  };
  for (const protocolVersion of [4, 5] as const) {
    const watcher = await connectMqtt(broker.mqttPort, { protocolVersion });
    await watcher.subscribe(['$SYS/broker/version', `sys-marker/${protocolVersion}`]);
    const forger = await connectMqtt(broker.mqttPort, { protocolVersion });
    for (const qos of [0, 1, 2] as const) await forger.publish('$SYS/broker/version', `forged ${qos}`, { qos, retain: true });
    // published after the forgeries on the same connection: had one been routed, it would come first
    await forger.publish(`sys-marker/${protocolVersion}`, 'marker', { qos: 1 });
    assert.deepEqual(await upTo(watcher, 'marker'), ['marker']);
    const later = await connectMqtt(broker.mqttPort, { protocolVersion });
    await later.subscribe(['$SYS/broker/version', `sys-marker/${protocolVersion}`]);
    await forger.publish(`sys-marker/${protocolVersion}`, 'marker again', { qos: 1 });
    assert.deepEqual(await upTo(later, 'marker again'), ['marker again'], 'no forged retained message came first');
    await Promise.all([watcher.end(), forger.end(), later.end()]);
  }
});

test('a client\'s will under $SYS is dropped, retained or not, as its publish there is: the broker\'s own figures stay its own [MQTT-4.7.2]', async () => {
  const sysBroker = await startBroker({ 'mqtt.sysInterval': 100 });
  try {
    for (const protocolVersion of [4, 5] as const) {
      const clientId = `sys-will-${protocolVersion}`;
      const dying = await connectMqtt(sysBroker.mqttPort, { protocolVersion, clientId, will: { topic: '$SYS/broker/version', payload: Buffer.from('forged by a will'), qos: 1, retain: true } });
      dropConnection(dying.client);
      // the CONNACK of the same client id comes after the first connection's end, and its will, whichever noticed first
      const successor = await connectMqtt(sysBroker.mqttPort, { protocolVersion, clientId });
      const later = await connectMqtt(sysBroker.mqttPort, { protocolVersion });
      await later.subscribe('$SYS/broker/version');
      // a retained will would come with the SUBACK, before the broker's next figures
      assert.match((await later.inbox.next(3000)).payload, /^Ferry /);
      await Promise.all([successor.end(), later.end()]);
    }
  } finally {
    await sysBroker.stop();
  }
});

test('$SYS/broker statistics are published every mqtt.sysInterval, to subscribers of $SYS filters only', async () => {
  const sysBroker = await startBroker({ 'mqtt.sysInterval': 100 });
  try {
    const c = await connectMqtt(sysBroker.mqttPort);
    await c.subscribe(['$SYS/broker/clients/connected', '$SYS/broker/uptime']);
    const everything = await connectMqtt(sysBroker.mqttPort);
    await everything.subscribe('#');
    const byTopic = new Map<string, string>();
    // an interval may have passed before the second client connected: wait for one after it
    while (byTopic.get('$SYS/broker/clients/connected') !== '2' || !byTopic.has('$SYS/broker/uptime')) {
      const m = await c.inbox.next(3000);
      byTopic.set(m.topic, m.payload);
    }
    assert.match(byTopic.get('$SYS/broker/uptime') ?? '', /^\d+ seconds$/);
    await everything.inbox.expectNothing(250);
    await Promise.all([c.end(), everything.end()]);
  } finally {
    await sysBroker.stop();
  }
});

test('$SYS/broker values are retained in memory, as Mosquitto retains them: a new subscriber gets the latest of each at once with RETAIN set; after a restart, the new broker\'s values from its start, none from before', async () => {
  const names = ['version', 'uptime', 'clients/connected', 'subscriptions/count', 'retained messages/count', 'messages/received', 'messages/sent', 'messages/stored'];
  const received = '$SYS/broker/messages/received';
  const data = mkdtempSync(join(tmpdir(), 'ferry-sys-retained-'));
  const open: { end(): Promise<void> }[] = [];
  let sysBroker = await startBroker({ data, 'mqtt.sysInterval': 100 });
  try {
    const first = await connectMqtt(sysBroker.mqttPort);
    open.push(first);
    await first.subscribe(received);
    await first.publish('sys-retained/x', 'counted', { qos: 1 });
    // an interval after the publish
    while ((await first.inbox.next()).payload === '0');
    for (const protocolVersion of [4, 5] as const) {
      const later = await connectMqtt(sysBroker.mqttPort, { protocolVersion });
      open.push(later);
      await later.subscribe('$SYS/#');
      // handed over with the subscription, before any interval's live publishes (RETAIN 0) [MQTT-3.3.1-9]
      const got = await later.inbox.take(names.length);
      assert.deepEqual(got.map((m) => m.topic).sort(), names.map((n) => `$SYS/broker/${n}`).sort(), `MQTT ${protocolVersion}: every value at once`);
      assert.deepEqual(got.filter((m) => !m.packet.retain).map((m) => m.topic), [], `MQTT ${protocolVersion}: each with RETAIN set`);
      assert.notEqual(got.find((m) => m.topic === received)?.payload, '0', `MQTT ${protocolVersion}: the latest value`);
    }
    for (const client of open.splice(0)) await client.end();
    await sysBroker.server.stop();

    // no interval passes now: what a subscriber gets was published at the start, and a value kept
    // from before the restart would say a message was received
    sysBroker = await startBroker({ data, 'mqtt.sysInterval': 3_600_000 });
    const restarted = await connectMqtt(sysBroker.mqttPort);
    open.push(restarted);
    await restarted.subscribe(received);
    assert.equal((await restarted.inbox.next()).payload, '0', 'the new broker\'s own figure, at once');
  } finally {
    for (const client of open) await client.end();
    await sysBroker.server.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test('$SYS/broker/subscriptions/count is the MQTT subscriptions, one per client and filter, those of persistent sessions away included, as Mosquitto counts them', async () => {
  const sysBroker = await startBroker({ 'mqtt.sysInterval': 100 });
  const open: { end(): Promise<void> }[] = [];
  try {
    const watcher = await connectMqtt(sysBroker.mqttPort);
    open.push(watcher);
    await watcher.subscribe('$SYS/broker/subscriptions/count');
    const clean = await connectMqtt(sysBroker.mqttPort);
    open.push(clean);
    // a wildcard filter no topic matches yet counts, and `x/#` (two core patterns) counts once
    await clean.subscribe(['x/y', 'x/#', '+/z', '$share/g/q/#']);
    const persistent = { clientId: 'sys-count-away', clean: false };
    const away = await connectMqtt(sysBroker.mqttPort, persistent);
    await away.subscribe(['a/#', 'b/c'], { qos: 1 });
    await away.end();
    const stomp = await connectStomp(sysBroker.stompPort);
    open.push({ end: () => stomp.disconnect() });
    stomp.subscribe('/topic/x.y');
    /** Waits for the count to be `expected`, and to stay so at the next interval. */
    const countReaches = async (expected: string): Promise<void> => {
      const seen: string[] = [];
      for (;;) {
        const value = (await watcher.inbox.next(3000)).payload;
        seen.push(value);
        if (value === expected && seen.at(-2) === expected) return;
        if (seen.length > 50) assert.fail(`the count never settled at ${expected}: ${seen.join(' ')}`);
      }
    };
    await countReaches('7');
    // back, the persistent session's filters count once; an unsubscribed filter no more
    const back = await connectMqtt(sysBroker.mqttPort, persistent);
    open.push(back);
    await clean.client.unsubscribeAsync('x/#');
    await countReaches('6');
  } finally {
    for (const client of open) await client.end();
    await sysBroker.stop();
  }
});

test('a bridge (protocol level 0x84, Mosquitto\'s try_private) gets none of its own publishes back, and the RETAIN flag as published', async () => {
  const bridge = await rawMqtt(broker.mqttPort);
  // mqtt-packet writes the bridge bit for `bridgeMode`, which its types leave out
  bridge.send({ cmd: 'connect', clientId: 'bridge-1', clean: true, keepalive: 0, protocolVersion: 4, protocolId: 'MQTT', bridgeMode: true } as mqttPacket.IConnectPacket);
  assert.equal(((await bridge.next('connack')) as mqttPacket.IConnackPacket).returnCode, 0);
  bridge.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bridged/#', qos: 1 }] });
  assert.deepEqual(((await bridge.next('suback')) as mqttPacket.ISubackPacket).granted, [1]);
  const other = await connectMqtt(broker.mqttPort);
  await other.subscribe('bridged/#', { qos: 1 });

  bridge.send({ cmd: 'publish', topic: 'bridged/x', payload: Buffer.from('from the bridge'), qos: 1, messageId: 2, retain: false, dup: false });
  await bridge.next('puback');
  assert.equal((await other.inbox.next()).payload, 'from the bridge');
  // published after the bridge's own: had that come back, it would come first
  await other.publish('bridged/y', 'from a client', { qos: 1, retain: true });
  const got = (await bridge.next('publish')) as mqttPacket.IPublishPacket;
  assert.equal(got.topic, 'bridged/y');
  assert.equal(got.payload.toString(), 'from a client');
  assert.equal(got.retain, true, 'a live publish keeps its RETAIN flag on the way to a bridge');
  bridge.send({ cmd: 'puback', messageId: got.messageId! });
  assert.equal((await other.inbox.next()).payload, 'from a client');

  await other.publish('bridged/y', '', { qos: 1, retain: true });
  bridge.socket.destroy();
  await other.end();
});
