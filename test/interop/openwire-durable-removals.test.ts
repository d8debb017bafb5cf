/**
 * A durable subscription removed by a client of another protocol or by an operator, as a JMS
 * advisory consumer (ActiveMQ's own client) hears of it: ActiveMQ tells every removal on the
 * topic's consumer advisory, whoever removes it, as it tells a JMS unsubscribe. And the durable
 * subscribers of other protocols, and the AMQP connections that own such subscriptions, as the
 * same consumer names them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Receiver } from 'rhea';
import { connectAmqp } from '../helpers/amqp.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient } from '../helpers/management.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { openwireJavaMissing, spawnDriver, type DriverLine } from '../helpers/openwire-java.js';
import { subscribeConfirmed, withReceipt, within } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

const skip = openwireJavaMissing() ?? false;

let broker: TestBroker;
before(async () => {
  if (skip === false) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

/** The driver's lines as they come, and a wait for the first one (seen or to come) that `matches`. */
class Lines {
  private readonly seen: DriverLine[] = [];
  private readonly waiting: { matches: (line: DriverLine) => boolean; resolve: (line: DriverLine) => void }[] = [];

  add = (line: DriverLine): void => {
    this.seen.push(line);
    for (const w of [...this.waiting]) {
      if (!w.matches(line)) continue;
      this.waiting.splice(this.waiting.indexOf(w), 1);
      w.resolve(line);
    }
  };

  next(what: string, matches: (line: DriverLine) => boolean): Promise<DriverLine> {
    const found = this.seen.find(matches);
    if (found !== undefined) return Promise.resolve(found);
    return within(30_000, what, new Promise((resolve) => this.waiting.push({ matches, resolve })));
  }
}

const removal = (clientId: string) => (line: DriverLine): boolean => line['data'] === 'RemoveSubscriptionInfo' && line['clientId'] === clientId;
const connection = (connectionId: unknown) => (line: DriverLine): boolean => line['data'] === 'ConnectionInfo' && line['connectionId'] === connectionId;

function detached(receiver: Receiver): Promise<void> {
  return new Promise((resolve) => {
    receiver.once('receiver_close', () => resolve());
    receiver.close();
  });
}

test('a durable subscription removed by STOMP, MQTT, AMQP 1.0 or the management API is told on the topic\'s consumer advisory as a JMS unsubscribe is: a RemoveSubscriptionInfo naming the owner, the subscription and the connection that removed it', { skip, timeout: 120_000 }, async () => {
  const lines = new Lines();
  const watcher = spawnDriver('watch-advisories', `tcp://127.0.0.1:${broker.ports['openwire']}`, { topic: 'ActiveMQ.Advisory.Connection,ActiveMQ.Advisory.Consumer.Topic.removals.>', count: 4 }, 90_000, lines.add);
  try {
    await lines.next('the advisory consumer', (line) => line['event'] === 'ready');

    const stomp = await connectStomp(broker.stompPort, { headers: { 'client-id': 'stomp-owner' } });
    const inbox = await subscribeConfirmed(stomp, '/topic/removals.stomp', { 'activemq.subscriptionName': 'stomp-sub' });
    await withReceipt(stomp, (headers) => inbox.subscription.unsubscribe({ ...headers, 'activemq.subscriptionName': 'stomp-sub' }));
    const stompRemoval = await lines.next('the STOMP removal', removal('stomp-owner'));
    await stomp.disconnect();

    const mqtt = await connectMqtt(broker.mqttPort, { clientId: 'mqtt-owner', clean: false });
    await mqtt.subscribe('removals/mqtt', { qos: 1 });
    await mqtt.client.unsubscribeAsync('removals/mqtt');
    const mqttRemoval = await lines.next('the MQTT removal', removal('mqtt-owner'));
    await mqtt.end();

    const amqp = await connectAmqp(broker.amqpPort, { container_id: 'amqp-owner' });
    const { receiver } = await amqp.openReceiver({ name: 'amqp-sub', source: { address: 'removals.amqp', durable: 2, expiry_policy: 'never', capabilities: ['topic'] } });
    await detached(receiver);
    const amqpRemoval = await lines.next('the AMQP removal', removal('amqp-owner'));
    await amqp.close();

    const kept = await connectStomp(broker.stompPort, { headers: { 'client-id': 'kept-owner' } });
    await subscribeConfirmed(kept, '/topic/removals.operator', { 'activemq.subscriptionName': 'kept-sub' });
    await kept.disconnect();
    const deleted = await new ApiClient(broker.server.ports['http']!).call('DELETE', '/api/v1/subscriptions/kept-owner/kept-sub');
    assert.equal(deleted.status, 204);
    const operatorRemoval = await lines.next('the operator\'s removal', removal('kept-owner'));

    const expected = (topic: string, clientId: string, subscription: string, connectionId: unknown): unknown => ({
      event: 'advisory',
      on: `ActiveMQ.Advisory.Consumer.Topic.removals.${topic}`,
      data: 'RemoveSubscriptionInfo',
      clientId,
      subscription,
      connectionId,
      consumerCount: 0,
    });
    // each client's removal names that client's connection, as its ConnectionInfo advisory did
    const announced = async (removed: DriverLine): Promise<unknown> => (await lines.next('the remover\'s ConnectionInfo', connection(removed['connectionId'])))['connectionId'];
    assert.deepEqual(stompRemoval, expected('stomp', 'stomp-owner', 'stomp-sub', await announced(stompRemoval)));
    assert.equal((await lines.next('the STOMP connection', connection(stompRemoval['connectionId'])))['clientId'], 'stomp-owner');
    // Ferry's name for an MQTT client's durable subscription to a filter (its first part)
    assert.deepEqual(mqttRemoval, expected('mqtt', 'mqtt-owner', '0|removals/mqtt', await announced(mqttRemoval)));
    assert.deepEqual(amqpRemoval, expected('amqp', 'amqp-owner', 'amqp-sub', await announced(amqpRemoval)));
    // an operator's removal comes from no connection, as from ActiveMQ's JMX
    assert.deepEqual(operatorRemoval, expected('operator', 'kept-owner', 'kept-sub', null));
    assert.equal((await watcher.done).code, 0);
  } finally {
    watcher.kill();
  }
});

const advisoryOf = (data: string, topic: string) => (line: DriverLine): boolean => line['data'] === data && line['on'] === topic;

test('a STOMP or AMQP 1.0 durable subscriber\'s ConsumerInfo advisory names its durable subscription, as ActiveMQ\'s does, not the STOMP subscription id', { skip, timeout: 90_000 }, async () => {
  const lines = new Lines();
  const watcher = spawnDriver('watch-advisories', `tcp://127.0.0.1:${broker.ports['openwire']}`, { topic: 'ActiveMQ.Advisory.Connection,ActiveMQ.Advisory.Consumer.Topic.named.>', count: 1 }, 60_000, lines.add);
  try {
    await lines.next('the advisory consumer', (line) => line['event'] === 'ready');
    const stomp = await connectStomp(broker.stompPort, { headers: { 'client-id': 'stomp-named' } });
    await subscribeConfirmed(stomp, '/topic/named.durable', { id: 's1', 'activemq.subscriptionName': 'sd' });
    await subscribeConfirmed(stomp, '/topic/named.plain', { id: 's2' });
    const durable = await lines.next('the durable subscriber', advisoryOf('ConsumerInfo', 'ActiveMQ.Advisory.Consumer.Topic.named.durable'));
    const plain = await lines.next('the plain subscriber', advisoryOf('ConsumerInfo', 'ActiveMQ.Advisory.Consumer.Topic.named.plain'));
    const stompConnection = await lines.next('the STOMP connection', (line) => line['data'] === 'ConnectionInfo' && line['clientId'] === 'stomp-named');
    assert.equal(durable['subscription'], 'sd');
    assert.equal(durable['connectionId'], stompConnection['connectionId']);
    assert.equal(plain['subscription'], null);

    const amqp = await connectAmqp(broker.amqpPort, { container_id: 'amqp-named' });
    await amqp.openReceiver({ name: 'amqp-durable', source: { address: 'named.amqp', durable: 2, expiry_policy: 'never', capabilities: ['topic'] } });
    const amqpDurable = await lines.next('the AMQP durable subscriber', advisoryOf('ConsumerInfo', 'ActiveMQ.Advisory.Consumer.Topic.named.amqp'));
    assert.equal(amqpDurable['subscription'], 'amqp-durable');
    await amqp.close();
    await stomp.disconnect();
  } finally {
    watcher.kill();
  }
});

test('an AMQP 1.0 connection\'s ConnectionInfo advisory has its container id as client id, as ActiveMQ\'s AMQP transport gives it, sole-connection-for-container or not', { skip, timeout: 90_000 }, async () => {
  const lines = new Lines();
  const watcher = spawnDriver('watch-advisories', `tcp://127.0.0.1:${broker.ports['openwire']}`, { topic: 'ActiveMQ.Advisory.Connection', count: 1 }, 60_000, lines.add);
  try {
    await lines.next('the advisory consumer', (line) => line['event'] === 'ready');
    const amqp = await connectAmqp(broker.amqpPort, { container_id: 'amqp-container' });
    // its advisory has core's connection id, which the management API shows beside the protocol
    const listed = await new ApiClient(broker.server.ports['http']!).get<{ items: { id: string; protocol: string }[] }>('/api/v1/connections');
    const amqpConnections = listed.body.items.filter((c) => c.protocol === 'amqp');
    assert.equal(amqpConnections.length, 1);
    const announced = await lines.next('the AMQP connection', connection(amqpConnections[0]!.id));
    assert.equal(announced['clientId'], 'amqp-container');
    await amqp.close();
  } finally {
    watcher.kill();
  }
});
