/**
 * The login/permission matrix over MQTT 5 and 3.1.1 with MQTT.js: a good login, a wrong password, an
 * unknown user, and a user short of the right to write, to read, to create. MQTT has no browse, and
 * nothing creates a topic but a publish or a subscription: what applies is tested here, browsing in
 * the AMQP matrix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type mqtt from 'mqtt';
import { assertRefusalLogged, password, startMatrixBroker, type MatrixBroker } from '../helpers/authz-matrix.js';
import { connectMqtt, type MqttTestClient } from '../helpers/mqtt.js';
import { eventually, uniqueName, within } from '../helpers/raw-stomp.js';

let broker: MatrixBroker;
before(async () => {
  broker = await startMatrixBroker();
});
after(() => broker.stop());

type Version = 4 | 5;

const login = (user: string, version: Version, extra: mqtt.IClientOptions = {}): Promise<MqttTestClient> =>
  connectMqtt(broker.mqttPort, { protocolVersion: version, username: user, password: password(user), clientId: uniqueName(user), ...extra });

/** The reason (5) or return (3.1.1) code of the CONNACK refusing these credentials. */
async function refusedLogin(user: string, pw: string, version: Version): Promise<number> {
  const err = await connectMqtt(broker.mqttPort, { protocolVersion: version, username: user, password: pw, clientId: uniqueName('refused') }).then(
    () => assert.fail('the broker accepted the login'),
    (e: unknown) => e as { code?: number },
  );
  assert.equal(typeof err.code, 'number', String(err));
  return err.code!;
}

/** The SUBACK codes for `filters`, subscribed together in one SUBSCRIBE. */
async function suback(client: MqttTestClient, filters: readonly string[]): Promise<number[]> {
  const packet = new Promise<number[]>((resolve) => {
    const listener = (p: mqtt.Packet): void => {
      if (p.cmd !== 'suback') return;
      client.client.removeListener('packetreceive', listener);
      resolve((p as unknown as { granted: number[] }).granted);
    };
    client.client.on('packetreceive', listener);
  });
  client.client.subscribe(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])), () => {});
  return within(5000, 'the SUBACK', packet);
}

/** The reason code of the PUBACK (QoS 1) or PUBREC (QoS 2) answering a publish. */
async function publishReason(client: MqttTestClient, topic: string, qos: 1 | 2, retain = false): Promise<number> {
  try {
    await client.publish(topic, 'x', { qos, retain });
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

/** A topic that exists (the user with every right subscribed to it once). */
async function existingTopic(prefix: string): Promise<string> {
  const topic = `matrix/${uniqueName(prefix)}`;
  const full = await login('full', 5);
  await full.subscribe(topic, { qos: 1 });
  await full.end();
  return topic;
}

for (const version of [5, 4] as const) {
  const name = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
  describe(`${name} login and permission matrix`, { timeout: 20_000 }, () => {
    test('good login: the user with every right subscribes, publishes and receives', async () => {
      const client = await login('full', version);
      assert.equal(version === 5 ? client.connack.reasonCode : client.connack.returnCode, 0);
      const topic = `matrix/${uniqueName('good')}`;
      await client.subscribe(topic, { qos: 1 });
      await client.publish(topic, 'hello', { qos: 1 });
      assert.equal((await client.inbox.next()).payload, 'hello');
      await client.end();
    });

    test(`wrong password and unknown user: CONNACK ${version === 5 ? '0x86' : 'return code 4'}, logged with user and address, never the password`, async () => {
      const expected = version === 5 ? 0x86 : 4;
      assert.equal(await refusedLogin('full', `wrong-${version}`, version), expected);
      await assertRefusalLogged(broker, 'mqtt', 'full', `wrong-${version}`);
      assert.equal(await refusedLogin(`stranger${version}`, 'stranger-pw', version), expected);
      await assertRefusalLogged(broker, 'mqtt', `stranger${version}`, 'stranger-pw');
    });

    test(`a will on a topic the user may not write to: CONNACK ${version === 5 ? '0x87' : 'return code 5'} (the broker would publish it unchecked later)`, async () => {
      const topic = await existingTopic('will');
      const will = { topic, payload: Buffer.from('gone'), qos: 0 as const, retain: false };
      const err = await login('nowrite', version, { will }).then(
        () => assert.fail('the connect was accepted'),
        (e: unknown) => e as { code?: number },
      );
      assert.equal(err.code, version === 5 ? 0x87 : 5);
      const allowed = await login('nowrite', version, { will: { ...will, topic: `open/${uniqueName('will')}` } });
      await allowed.end();
    });

    test('no right to read: SUBACK refuses that filter and grants the other in the same SUBSCRIBE', async () => {
      const client = await login('noread', version);
      const refusedCode = version === 5 ? 0x87 : 0x80;
      const open = `open/${uniqueName('noread')}`;
      assert.deepEqual(await suback(client, [await existingTopic('noread'), open]), [refusedCode, 1]);
      // the connection goes on, and the granted subscription works
      await client.publish(open, 'still here', { qos: 1 });
      assert.equal((await client.inbox.next()).payload, 'still here');
      await client.end();
    });

    test('no right to create: a subscription that would make a topic is refused; a wildcard one is granted', async () => {
      const client = await login('nocreate', version);
      const refusedCode = version === 5 ? 0x87 : 0x80;
      assert.deepEqual(await suback(client, [`matrix/${uniqueName('fresh')}`, 'matrix/+/wild']), [refusedCode, 1]);
      await client.end();
    });

    test('no right to create: a filter ending in # that also matches a topic not made yet (its parent level) is a wildcard subscription, granted with read, making no topic; + too', async () => {
      const client = await login('nocreate', version);
      const fresh = `matrix/${uniqueName('parent')}`;
      assert.deepEqual(await suback(client, [`${fresh}/#`, `${fresh}/+`, `${fresh}/+/#`]), [1, 1, 1]);
      const ferryName = fresh.replace('/', '.');
      assert.ok(!broker.server.broker.stats().topics.some((t) => t.name === ferryName), 'the subscription made no topic');
      // the parent level is subscribed to all the same [MQTT-4.7.1-2]: a publish that makes it reaches the client
      const publisher = await login('full', version);
      await publisher.publish(fresh, 'parent', { qos: 1 });
      await publisher.publish(`${fresh}/a`, 'child', { qos: 1 });
      const got = await client.inbox.take(2);
      assert.deepEqual(got.map((m) => `${m.topic}: ${m.payload}`), [`${fresh}: parent`, `${fresh}/a: child`]);
      await publisher.end();
      await client.end();
    });

    test('no right to create: a persistent session cannot make a durable subscription, even on a topic that exists', async () => {
      const topic = await existingTopic('durable');
      const options = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 300 } } : { clean: false };
      const client = await login('nocreate', version, options);
      assert.deepEqual(await suback(client, [topic]), [version === 5 ? 0x87 : 0x80]);
      await client.end();
      const allowed = await login('full', version, options);
      assert.deepEqual(await suback(allowed, [topic]), [1]);
      await allowed.end();
    });

    test('a persistent session ends its own subscriptions with the rights subscribing needs: unsubscribe, a new QoS, a clean start need no admin right', async () => {
      const topic = `matrix/${uniqueName('own')}`;
      const clientId = uniqueName('own-session');
      const persistent = version === 5 ? { clean: false, clientId, properties: { sessionExpiryInterval: 300 } } : { clean: false, clientId };
      const client = await login('full', version, persistent);
      assert.deepEqual(await suback(client, [topic]), [1]);
      // a second SUBSCRIBE to the filter replaces the subscription
      assert.deepEqual((await client.subscribe(topic, { qos: 2 })).map((g) => g.qos), [2]);
      await client.client.unsubscribeAsync(topic);
      await client.publish(topic, 'nobody hears this', { qos: 1 });
      await client.inbox.expectNothing(200);
      assert.deepEqual(await suback(client, [topic]), [1]);
      await client.end();
      const fresh = await login('full', version, { clean: true, clientId });
      assert.equal(version === 5 ? fresh.connack.reasonCode : fresh.connack.returnCode, 0);
      assert.equal(fresh.connack.sessionPresent, false);
      await fresh.end();
    });
  });
}

describe('MQTT 5 publish refusals', { timeout: 20_000 }, () => {
  test('no right to write: PUBACK 0x87 for QoS 1, PUBREC 0x87 for QoS 2, a retained message refused alike; the connection goes on', async () => {
    const topic = await existingTopic('nowrite5');
    const client = await login('nowrite', 5);
    assert.equal(await publishReason(client, topic, 1), 0x87);
    assert.equal(await publishReason(client, topic, 2), 0x87);
    assert.equal(await publishReason(client, topic, 1, true), 0x87);
    const open = `open/${uniqueName('nowrite')}`;
    assert.equal(await publishReason(client, open, 1), 0);
    await client.end();
    // nothing was retained: a new subscriber's first message is one sent after it subscribed
    const full = await login('full', 5);
    await full.subscribe(topic, { qos: 1 });
    await full.publish(topic, 'marker', { qos: 1 });
    const first = await full.inbox.next();
    assert.equal(first.payload, 'marker');
    assert.equal(first.packet.retain, false);
    await full.end();
  });

  test('no right to write at QoS 0: the message is dropped with a log line, the connection goes on', async () => {
    const topic = await existingTopic('nowrite0');
    const open = `open/${uniqueName('after')}`;
    const watcher = await login('full', 5);
    await watcher.subscribe([topic, open], { qos: 1 });
    const client = await login('nowrite', 5);
    await client.publish(topic, 'dropped', { qos: 0 });
    await client.publish(open, 'after', { qos: 1 });
    // one connection, in order: had the first been routed it would arrive first
    assert.equal((await watcher.inbox.next()).payload, 'after');
    await eventually('an mqtt.publish-refused log line', () => broker.logLines.some((l) => l['event'] === 'mqtt.publish-refused' && l['code'] === 'FERRY_NOT_AUTHORIZED'));
    assert.equal(client.disconnects.length, 0);
    await client.end();
    await watcher.end();
  });

  test('no right to create: a publish to a topic not there yet gets PUBACK 0x87; to one that exists, 0', async () => {
    const client = await login('nocreate', 5);
    assert.equal(await publishReason(client, `matrix/${uniqueName('fresh')}`, 1), 0x87);
    assert.equal(await publishReason(client, await existingTopic('exists'), 1), 0);
    await client.end();
  });
});

describe('MQTT 3.1.1 publish refusals', { timeout: 20_000 }, () => {
  test('no right to write: 3.1.1 cannot refuse one message, so the connection closes [MQTT-3.3.5-2]; what was acknowledged before stays', async () => {
    const topic = await existingTopic('nowrite4');
    const open = `open/${uniqueName('kept')}`;
    const keeper = await login('full', 4, { clean: false, clientId: uniqueName('keeper') });
    await keeper.subscribe(open, { qos: 1 });
    const client = await login('nowrite', 4);
    await client.publish(open, 'acknowledged', { qos: 1 });
    void client.client.publish(topic, 'refused', { qos: 1 });
    await within(5000, 'the refused connection to close', client.closed);
    assert.equal((await keeper.inbox.next()).payload, 'acknowledged');
    await keeper.end();
  });

  test('no right to write at QoS 0 closes the connection too', async () => {
    const topic = await existingTopic('nowrite40');
    const client = await login('nowrite', 4);
    void client.client.publish(topic, 'refused', { qos: 0 });
    await within(5000, 'the refused connection to close', client.closed);
  });
});
