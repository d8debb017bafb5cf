/**
 * Who is connected as whom: the management API's stats and `ferry stat` list client connections,
 * and only a connection's own user takes its client id over.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BrokerStats } from '../../src/core/index.js';
import { connectAmqp } from '../helpers/amqp.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { runFerry } from '../helpers/process.js';
import { RawStompClient, eventually, uniqueName } from '../helpers/raw-stomp.js';
import { startSecureBroker } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';

test('GET /api/stats and ferry stat list each client connection with protocol, address, user and client id; internal ones are left out', async () => {
  const broker = await startSecureBroker({ authorization: null });
  try {
    const httpPort = broker.server.ports['http']!;
    const stomp = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-secret', 'client-id': 'stomp-admin' } });
    const mqttId = uniqueName('mqtt-reader');
    // a will makes the MQTT adapter open a connection of its own when it is due: never listed
    const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'reader', password: 'reader-secret', clientId: mqttId, will: { topic: 'wills/x', payload: Buffer.from('gone'), qos: 0, retain: false } });
    // an AMQP container id is a client id only when the client asks for it (the sole-connection capability)
    const amqp = await connectAmqp(broker.amqpPort, { username: 'admin', password: 'admin-secret', container_id: 'amqp-admin' });

    const stats = (await (await fetch(`http://127.0.0.1:${httpPort}/api/stats`, { headers: { authorization: `Basic ${Buffer.from('admin:admin-secret').toString('base64')}` } })).json()) as BrokerStats;
    const seen = stats.clients.map((c) => [c.protocol, c.user, c.clientId]).sort();
    assert.deepEqual(seen, [['amqp', 'admin', undefined], ['mqtt', 'reader', mqttId], ['stomp', 'admin', 'stomp-admin']].sort());
    assert.equal(stats.connections, 3);
    for (const c of stats.clients) {
      assert.match(c.remoteAddress, /^127\.0\.0\.1:\d+$/);
      assert.equal(typeof c.connectedAt, 'number');
      assert.match(c.id, /.+/);
    }

    const table = await runFerry(['stat', '--http-port', String(httpPort), '--user', 'admin', '--password', 'admin-secret']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /protocol\s+address\s+user\s+client id/);
    assert.match(table.stdout, /stomp\s+127\.0\.0\.1:\d+\s+admin\s+stomp-admin/);
    assert.ok(table.stdout.split('\n').some((l) => /^mqtt\s+127\.0\.0\.1:\d+\s+reader\s+/.test(l) && l.includes(mqttId)), table.stdout);

    // the will fires through the adapter's own connection, which is not a client
    mqtt.client.stream.destroy();
    await stomp.disconnect();
    await eventually('the dropped MQTT client and the STOMP client gone from the list', () => broker.server.broker.stats().clients.length === 1);
    assert.deepEqual(broker.server.broker.stats().clients.map((c) => c.protocol), ['amqp']);
    await amqp.close();
  } finally {
    await broker.stop();
  }
});

test('a STOMP client takes a client id over (ferry.take-over) only from a connection of its own user; another user, without any right, is refused as already connected and the holder carries on', async () => {
  const broker = await startSecureBroker();
  try {
    const clientId = uniqueName('orders-service');
    const queue = `/queue/${uniqueName('taken')}`;
    const holder = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-secret', 'client-id': clientId } });
    const taker = await RawStompClient.open(broker.stompPort);
    await taker.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'reader', passcode: 'reader-secret', 'client-id': clientId, 'ferry.take-over': 'true' });
    const refused = await taker.untilClosed();
    assert.deepEqual(refused.map((f) => [f.command, f.headers.get('code')]), [['ERROR', 'FERRY_CLIENT_ID_IN_USE']]);
    assert.match(refused[0]!.headers.get('message') ?? '', /already connected/);
    await holder.sendConfirmed(queue, 'still connected');
    assert.equal(holder.errors.length, 0);

    // the same user replaces its own connection, which hears why
    const { raw: successor, connected } = await RawStompClient.connected(broker.stompPort, { login: 'admin', passcode: 'admin-secret', 'client-id': clientId, 'ferry.take-over': 'true' });
    assert.equal(connected.command, 'CONNECTED');
    await holder.closed;
    assert.equal(holder.errors[0]?.headers['code'], 'FERRY_CLIENT_ID_IN_USE');
    assert.match(holder.errors[0]?.headers['message'] ?? '', /taken over/);
    successor.destroy();
  } finally {
    await broker.stop();
  }
});

test('MQTT keeps its own rule: a client id connected over MQTT is taken over by the newer MQTT connection whoever its user, but not one held over STOMP by another user', async () => {
  const broker = await startSecureBroker();
  try {
    const mqttId = uniqueName('device');
    const first = await connectMqtt(broker.mqttPort, { username: 'admin', password: 'admin-secret', clientId: mqttId });
    const second = await connectMqtt(broker.mqttPort, { username: 'reader', password: 'reader-secret', clientId: mqttId });
    await first.closed;
    assert.equal(second.connack.returnCode, 0);
    await second.end();

    const stompId = uniqueName('stomp-held');
    const holder = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-secret', 'client-id': stompId } });
    await assert.rejects(connectMqtt(broker.mqttPort, { username: 'reader', password: 'reader-secret', clientId: stompId }));
    await holder.sendConfirmed(`/queue/${uniqueName('held')}`, 'still connected');
    assert.equal(holder.errors.length, 0);
    await holder.disconnect();
  } finally {
    await broker.stop();
  }
});
