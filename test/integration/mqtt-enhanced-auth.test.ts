import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import type { IAuthPacket } from 'mqtt-packet';
import type { IConnackPacket } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt, rawMqtt } from '../helpers/mqtt.js';
import { connectScram } from '../helpers/mqtt-scram.js';
import { saslAuthenticator } from '../helpers/sasl.js';
import { ScramClient } from '../helpers/scram-client.js';

/** MQTT 5 enhanced authentication with SCRAM-SHA-256, through MQTT.js (see helpers/mqtt-scram.ts). */

const METHOD = 'SCRAM-SHA-256';
let broker: TestBroker;
before(async () => {
  broker = await startBroker({}, { authenticator: await saslAuthenticator({ alice: 'alice-secret', bob: 'bob-secret' }) });
});
after(async () => {
  await broker.stop();
});

/** The reason code of the CONNACK that refused a client, as MQTT.js reports it. */
async function refusal(user: string, password: string, method = METHOD): Promise<number> {
  try {
    const c = await connectScram(broker.mqttPort, user, password, method);
    c.client.end(true);
  } catch (err) {
    return (err as { code: number }).code;
  }
  assert.fail('the broker accepted the client');
}

describe('MQTT 5 enhanced authentication (SCRAM-SHA-256)', () => {
  test('the right password: CONNACK 0 carries the method and the server signature; messages flow', async () => {
    const c = await connectScram(broker.mqttPort, 'alice', 'alice-secret');
    assert.equal(c.connack.reasonCode, 0);
    assert.equal(c.connack.properties?.authenticationMethod, METHOD);
    assert.ok(c.scram.verify(c.connack.properties?.authenticationData), 'the server proved it knows the keys');
    await c.client.subscribeAsync('enhanced/ok', { qos: 1 });
    await c.client.publishAsync('enhanced/ok', 'hello', { qos: 1 });
    assert.equal((await c.inbox.next()).payload, 'hello');
    await c.client.endAsync();
  });

  test('a wrong password and an unknown user get CONNACK 0x86 alike', async () => {
    assert.equal(await refusal('alice', 'wrong'), 0x86);
    assert.equal(await refusal('mallory', 'alice-secret'), 0x86);
  });

  test('a method the broker does not run over AUTH gets CONNACK 0x8C: an unknown one, and PLAIN (which travels as user name and password)', async () => {
    assert.equal(await refusal('alice', 'alice-secret', 'DIGEST-MD5'), 0x8c);
    assert.equal(await refusal('alice', 'alice-secret', 'PLAIN'), 0x8c);
  });

  test('user name and password still log in without an authentication method', async () => {
    const c = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'bob', password: 'bob-secret' });
    assert.equal(c.connack.reasonCode, 0);
    await c.end();
    await assert.rejects(connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'bob', password: 'wrong' }), (err: { code?: number }) => err.code === 0x86);
  });

  test('re-authentication with the right password ends in AUTH 0x00 with the server signature; messages flow meanwhile', async () => {
    const c = await connectScram(broker.mqttPort, 'alice', 'alice-secret');
    await c.client.subscribeAsync('enhanced/during', { qos: 1 });
    const other = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'bob', password: 'bob-secret' });
    const { final, scram } = await c.reauthenticate('alice', 'alice-secret', {
      // between the broker's challenge and the client's answer, a message still arrives
      duringChallenge: async () => {
        await other.publish('enhanced/during', 'mid-exchange', { qos: 1 });
        assert.equal((await c.inbox.next()).payload, 'mid-exchange');
      },
    });
    assert.equal(final.reasonCode, 0x00);
    assert.equal(final.properties?.authenticationMethod, METHOD);
    assert.ok(scram.verify(final.properties?.authenticationData));
    await other.publish('enhanced/during', 'after', { qos: 1 });
    assert.equal((await c.inbox.next()).payload, 'after');
    assert.deepEqual(c.disconnects, []);
    await other.end();
    await c.client.endAsync();
  });

  test('re-authentication with a wrong password: DISCONNECT 0x87 and the connection closes', async () => {
    const c = await connectScram(broker.mqttPort, 'alice', 'alice-secret');
    void c.reauthenticate('alice', 'wrong');
    await c.closed;
    assert.deepEqual(c.disconnects.map((d) => d.reasonCode), [0x87]);
  });

  test('re-authentication as another user: DISCONNECT 0x87 (a connection keeps its user)', async () => {
    const c = await connectScram(broker.mqttPort, 'alice', 'alice-secret');
    void c.reauthenticate('bob', 'bob-secret');
    await c.closed;
    assert.deepEqual(c.disconnects.map((d) => d.reasonCode), [0x87]);
  });

  test('re-authentication naming another method: DISCONNECT 0x82 (protocol error, [MQTT-4.12.1-1])', async () => {
    const c = await connectScram(broker.mqttPort, 'alice', 'alice-secret');
    void c.reauthenticate('alice', 'alice-secret', { method: 'SCRAM-SHA-1' });
    await c.closed;
    assert.deepEqual(c.disconnects.map((d) => d.reasonCode), [0x82]);
  });

  test('AUTH on a connection that logged in with a user name and password: DISCONNECT 0x82', async () => {
    const c = await connectMqtt(broker.mqttPort, { protocolVersion: 5, username: 'bob', password: 'bob-secret' });
    c.client.stream.write(mqttPacket.generate({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('n,,n=bob,r=x') } }, { protocolVersion: 5 }));
    await c.closed;
    assert.deepEqual(c.disconnects.map((d) => d.reasonCode), [0x82]);
  });

  test('a packet other than AUTH before CONNACK: CONNACK 0x82 and the socket closes', async () => {
    const raw = await rawMqtt(broker.mqttPort, 5);
    const scram = new ScramClient('alice', 'alice-secret');
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'raw-scram', keepalive: 0, properties: { authenticationMethod: METHOD, authenticationData: scram.clientFirst } });
    const challenge = (await raw.next('auth')) as IAuthPacket;
    assert.equal(challenge.reasonCode, 0x18);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x', qos: 0 }] });
    const connack = (await raw.next('connack')) as IConnackPacket;
    assert.equal(connack.reasonCode, 0x82);
    await raw.closed;
  });

  test('a malformed SCRAM message in CONNECT: CONNACK 0x86', async () => {
    const raw = await rawMqtt(broker.mqttPort, 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'raw-bad', keepalive: 0, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('p=tls-unique,,n=alice,r=abc') } });
    const connack = (await raw.next('connack')) as IConnackPacket;
    assert.equal(connack.reasonCode, 0x86);
    await raw.closed;
  });

  test('an exchange the client leaves unanswered ends at mqtt.connectTimeout: CONNACK 0x82', async () => {
    const quick = await startBroker({ 'mqtt.connectTimeout': 300 }, { authenticator: await saslAuthenticator({ alice: 'alice-secret' }) });
    try {
      const raw = await rawMqtt(quick.mqttPort, 5);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'raw-silent', keepalive: 0, properties: { authenticationMethod: METHOD, authenticationData: new ScramClient('alice', 'x').clientFirst } });
      assert.equal(((await raw.next('auth')) as IAuthPacket).reasonCode, 0x18);
      const connack = (await raw.next('connack', 5000)) as IConnackPacket;
      assert.equal(connack.reasonCode, 0x82);
      await raw.closed;
    } finally {
      await quick.stop();
    }
  });
});
