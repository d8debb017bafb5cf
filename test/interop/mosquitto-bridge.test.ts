import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { MosquittoEdge, mosquittoBrokerMissing } from '../helpers/mosquitto-edge.js';
import { connectMqtt, type MqttInbox } from '../helpers/mqtt.js';
import { startSecureBroker } from '../helpers/security.js';

/** Ferry as the central broker of a Mosquitto edge broker that bridges to it, the way such deployments are set up. */

const skip = mosquittoBrokerMissing;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function edgeOf(broker: TestBroker, bridge: readonly string[], persistent = false): MosquittoEdge {
  const edge = new MosquittoEdge(broker.mqttPort, bridge, persistent);
  cleanups.push(() => edge.dispose());
  return edge;
}

/** What `inbox` has or gets, up to `count`: fewer once none comes for a while. */
async function takeUpTo(inbox: MqttInbox, count: number): Promise<string[]> {
  const got: string[] = [];
  try {
    while (got.length < count) got.push((await inbox.next(5000)).payload);
  } catch {
    // the rest never came
  }
  return got;
}

async function brokerFor(start: () => Promise<TestBroker>): Promise<TestBroker> {
  const broker = await start();
  cleanups.push(() => broker.stop());
  return broker;
}

test('a Mosquitto bridge over MQTT 3.1.1 gets every QoS 2 message Ferry kept for it while it was away', { skip }, async () => {
  const broker = await brokerFor(() => startBroker());
  const edge = edgeOf(broker, ['remote_clientid edge-a', 'topic down/# in 2', 'try_private true', 'cleansession false', 'notifications false', 'bridge_protocol_version mqttv311', 'restart_timeout 1'], true);
  await edge.start();
  await edge.logged('Received SUBACK from local.edge-a');
  // a persistent subscriber on the edge collects what comes over the bridge, also while it is away
  const first = await edge.client({ clientId: 'edge-sub', clean: false });
  await first.client.subscribeAsync('down/#', { qos: 2 });
  await first.client.endAsync();
  await edge.stop();

  const publisher = await connectMqtt(broker.mqttPort);
  const count = 100;
  for (let i = 0; i < count; i++) await publisher.publish('down/x', `m${i}`, { qos: 2 });
  await publisher.end();

  await edge.start();
  const sub = await edge.client({ clientId: 'edge-sub', clean: false });
  cleanups.push(() => sub.client.endAsync(true).then(() => undefined));
  // each message over the bridge ends in Ferry's PUBREL, whether the edge kept it or not
  await edge.logged('Received PUBREL from local.edge-a', count);
  const got = await takeUpTo(sub.inbox, count);
  assert.equal(new Set(got).size, count, `every message once; the edge's subscriber got ${got.length}`);
  // Mosquitto takes 20 publishes in flight from a bridge (its max_inflight_messages) and refuses the
  // rest with 0x97, which a 3.1.1 PUBREC cannot carry: they would be lost without a word
  assert.doesNotMatch(edge.log, /Sending PUBREC to local\.edge-a \(m\d+, rc151\)/);
});

/** A Ferry with security on, where the user `bridge` may publish under up/ only, and an admin subscribed to `filter` there. */
async function secureCentral(filter: string): Promise<{ broker: TestBroker; central: Awaited<ReturnType<typeof connectMqtt>> }> {
  const broker = await brokerFor(() =>
    startSecureBroker({
      users: { admin: { password: 'admin-secret', groups: ['admins'] }, bridge: { password: 'bridge-secret', groups: ['bridges'] } },
      authorization: [
        { topic: '>', read: ['admins'], write: ['admins'], create: ['admins'] },
        { topic: 'up.>', write: ['bridges'], create: ['bridges'] },
      ],
    }),
  );
  const central = await connectMqtt(broker.mqttPort, { username: 'admin', password: 'admin-secret' });
  cleanups.push(() => central.end());
  await central.subscribe(filter, { qos: 1 });
  return { broker, central };
}

test('a Mosquitto bridge logs in to a Ferry with security on, though its will is on $SYS/broker/connection/<id>/state, where it may not publish', { skip }, async () => {
  const { broker, central } = await secureCentral('up/#');
  // notifications are on by default: the bridge's CONNECT carries its will there
  const edge = edgeOf(broker, ['remote_clientid edge-c', 'remote_username bridge', 'remote_password bridge-secret', 'topic up/# out 1', 'try_private true', 'bridge_protocol_version mqttv311', 'restart_timeout 1']);
  await edge.start();
  await edge.logged('Received CONNACK on connection local.edge-c');
  const local = await edge.client();
  cleanups.push(() => local.client.endAsync(true).then(() => undefined));
  await local.client.publishAsync('up/x', 'over the bridge', { qos: 1 });
  const got = await central.inbox.next(10_000).catch((err: unknown) => {
    throw new Error(`nothing came over the bridge (${String(err)}); the edge logged: ${edge.log.split('\n').filter((l) => /refused|CONNACK/i.test(l)).join(' | ')}`);
  });
  assert.equal(got.payload, 'over the bridge');
  assert.doesNotMatch(edge.log, /Connection Refused/);
});

test('a Mosquitto bridge (3.1.1) forwarding a publish Ferry does not authorize goes on with the next ones, as with Mosquitto', { skip }, async () => {
  const { broker, central } = await secureCentral('#');
  const edge = edgeOf(broker, [
    'remote_clientid edge-d',
    'remote_username bridge',
    'remote_password bridge-secret',
    'topic secret/# out 1',
    'topic up/# out 1',
    'try_private true',
    'cleansession false',
    'notifications false',
    'bridge_protocol_version mqttv311',
    'restart_timeout 1',
  ]);
  await edge.start();
  await edge.logged('Received CONNACK on connection local.edge-d');
  const local = await edge.client();
  cleanups.push(() => local.client.endAsync(true).then(() => undefined));
  await local.client.publishAsync('secret/x', 'not for the bridge to send', { qos: 1 });
  await local.client.publishAsync('up/y', 'after it', { qos: 1 });
  // closed for the first, a persistent bridge sends it again first on every reconnection: nothing behind it would ever pass
  const got = await central.inbox.next(10_000).catch((err: unknown) => {
    throw new Error(`nothing came over the bridge (${String(err)}); the bridge connected ${edge.log.split('Received CONNACK on connection local.edge-d').length - 1} times`);
  });
  assert.equal(got.topic, 'up/y');
  assert.equal(got.payload, 'after it');
  assert.equal(edge.log.split('Received CONNACK on connection local.edge-d').length - 1, 1, 'the bridge stays connected');
});

test('a Mosquitto bridge\'s notifications: $SYS/broker/connection/<id>/state is 1 while it is connected and its will, 0, once it is gone, retained', { skip }, async () => {
  const broker = await brokerFor(() => startBroker());
  const central = await connectMqtt(broker.mqttPort);
  cleanups.push(() => central.end());
  await central.subscribe('$SYS/broker/connection/+/state', { qos: 1 });
  const edge = edgeOf(broker, ['remote_clientid edge-b', 'topic up/# out 1', 'try_private true', 'notifications true', 'bridge_protocol_version mqttv311', 'restart_timeout 30']);
  await edge.start();
  const up = await central.inbox.next(10_000);
  assert.deepEqual([up.topic, up.payload], ['$SYS/broker/connection/edge-b/state', '1']);
  await edge.stop('SIGKILL');
  const down = await central.inbox.next(10_000);
  assert.deepEqual([down.topic, down.payload], ['$SYS/broker/connection/edge-b/state', '0']);
  const later = await connectMqtt(broker.mqttPort);
  cleanups.push(() => later.end());
  await later.subscribe('$SYS/broker/connection/#', { qos: 1 });
  const kept = await later.inbox.next();
  assert.deepEqual([kept.topic, kept.payload, kept.packet.retain], ['$SYS/broker/connection/edge-b/state', '0', true]);
});
