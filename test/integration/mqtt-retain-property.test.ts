import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { jmsCheck, jmsMissing } from '../helpers/jms.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

/** What an MQTT subscriber arriving now gets of `filter` at once: its retained messages, as topic=payload with the RETAIN flag. */
async function retainedFor(filter: string, version: 4 | 5, count: number): Promise<string[]> {
  const sub = await connectMqtt(broker.mqttPort, { protocolVersion: version });
  try {
    await sub.subscribe(filter, { qos: 1 });
    const got = await sub.inbox.take(count);
    await assert.rejects(sub.inbox.next(300), 'no other retained message');
    return got.map((m) => `${m.topic}=${m.payload}:${m.packet.retain}`).sort();
  } finally {
    await sub.end();
  }
}

test('a STOMP SEND with the header ActiveMQ.Retain:true is its topic\'s retained message for later MQTT subscribers, as ActiveMQ keeps it; an empty one clears it', async () => {
  const stomp = await connectStomp(broker.stompPort);
  try {
    await stomp.sendConfirmed('/topic/stomp.cfg.a', 'mode=auto', { 'ActiveMQ.Retain': 'true' });
    await stomp.sendConfirmed('/topic/stomp.cfg.b', 'mode=manual', { 'ActiveMQ.Retain': 'true' });
    await stomp.sendConfirmed('/topic/stomp.cfg.c', 'not kept', { 'ActiveMQ.Retain': 'false' });
    // the property means nothing to a queue: the message is queued as any other
    await stomp.sendConfirmed('/queue/stomp.cfg.q', 'queued', { 'ActiveMQ.Retain': 'true' });
    for (const version of [4, 5] as const) {
      assert.deepEqual(await retainedFor('stomp/cfg/+', version, 2), ['stomp/cfg/a=mode=auto:true', 'stomp/cfg/b=mode=manual:true'], `MQTT ${version}`);
    }
    await stomp.sendConfirmed('/topic/stomp.cfg.b', '', { 'ActiveMQ.Retain': 'true' });
    assert.deepEqual(await retainedFor('stomp/cfg/+', 5, 1), ['stomp/cfg/a=mode=auto:true']);
    const queue = stomp.subscribe('/queue/stomp.cfg.q');
    assert.equal((await queue.next()).body, 'queued');
  } finally {
    await stomp.disconnect();
  }
});

test('a JMS message with the boolean property ActiveMQ.Retain=true, sent alone or in a transaction, is its topic\'s retained message for later MQTT subscribers', { skip: jmsMissing() }, async () => {
  const url = `tcp://127.0.0.1:${broker.ports['openwire']}`;
  await jmsCheck(url, 'send-retained', 'topic:jms.cfg.alone', 'setpoint 21', 'false');
  await jmsCheck(url, 'send-retained', 'topic:jms.cfg.tx', 'setpoint 19', 'true');
  for (const version of [4, 5] as const) {
    assert.deepEqual(await retainedFor('jms/cfg/#', version, 2), ['jms/cfg/alone=setpoint 21:true', 'jms/cfg/tx=setpoint 19:true'], `MQTT ${version}`);
  }
});

test('an MQTT publish is retained by its RETAIN flag alone, not by a 5.0 user property ActiveMQ.Retain', async () => {
  const pub = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  for (const qos of [0, 1] as const) await pub.publish(`mqtt/cfg/flagless${qos}`, 'not kept', { qos, properties: { userProperties: { 'ActiveMQ.Retain': 'true' } } });
  await pub.publish('mqtt/cfg/flagged', 'kept', { qos: 1, retain: true });
  await pub.end();
  assert.deepEqual(await retainedFor('mqtt/cfg/+', 5, 1), ['mqtt/cfg/flagged=kept:true']);
});
