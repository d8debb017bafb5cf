import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AMQP_HEADER, SASL_HEADER, frame, frames, rawAmqp, readFrames } from '../helpers/amqp.js';
import { connectScram } from '../helpers/mqtt-scram.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';
import { ScramClient } from '../helpers/scram-client.js';

/** SCRAM-SHA-256 as `ferry start` runs it: a `security.users` file, its SCRAM keys, the authenticator the configuration builds. */

let broker: SecureBroker;
before(async () => {
  broker = await startSecureBroker();
});
after(async () => {
  await broker.stop();
});

test('MQTT 5: the users file\'s admin logs in with SCRAM-SHA-256 and may publish; a wrong password gets CONNACK 0x86', async () => {
  const c = await connectScram(broker.mqttPort, 'admin', 'admin-secret');
  assert.ok(c.scram.verify(c.connack.properties?.authenticationData));
  await c.client.subscribeAsync('secure/topic', { qos: 1 });
  await c.client.publishAsync('secure/topic', 'signed in', { qos: 1 });
  assert.equal((await c.inbox.next()).payload, 'signed in');
  await c.client.endAsync();
  await assert.rejects(connectScram(broker.mqttPort, 'admin', 'reader-secret'), (err: { code?: number }) => err.code === 0x86);
});

test('AMQP: SCRAM-SHA-256 is offered first, and the users file\'s reader logs in with it and opens', async () => {
  const client = new ScramClient('reader', 'reader-secret');
  const raw = await rawAmqp(broker.amqpPort);
  raw.write(Buffer.concat([SASL_HEADER, frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism: 'SCRAM-SHA-256', initial_response: client.clientFirst })))]));
  const saslFrames = async (n: number) => {
    for (;;) {
      const got = readFrames(raw.received().subarray(8));
      if (got.length >= n) return got;
      await raw.waitFor(raw.received().length + 1);
    }
  };
  const [mechanisms, challenge] = await saslFrames(2);
  assert.equal([mechanisms!.fields['sasl_server_mechanisms']].flat()[0], 'SCRAM-SHA-256');
  raw.write(frames.write_frame(frames.sasl_frame(frames.sasl_response({ response: client.final(challenge!.fields['challenge'] as Buffer) }))));
  const [, , outcome] = await saslFrames(3);
  assert.equal(outcome!.fields['code'], 0);
  assert.ok(client.verify(outcome!.fields['additional_data'] as Buffer));
  const before = raw.received().length;
  raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'reader-scram' }))]));
  for (;;) {
    const bytes = await raw.waitFor(raw.received().length + 1);
    if (bytes.length >= before + 8 && readFrames(bytes.subarray(before + 8)).some((f) => f.name === 'open')) break;
  }
  raw.socket.destroy();
});
