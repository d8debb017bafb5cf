import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectMqtt, type MqttTestClient, type Received } from '../helpers/mqtt.js';
import { freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const seen = (r: Received): string => `${r.topic}=${r.payload} retain=${String(r.packet.retain)}`;

describe('network of brokers: MQTT retained messages', () => {
  const nodes: NetworkNode[] = [];
  const clients: MqttTestClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await stopAll(nodes);
  });

  async function pair(): Promise<{ A: NetworkNode; B: NetworkNode; mqtt: (node: NetworkNode) => Promise<MqttTestClient> }> {
    const [a, b] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    nodes.push(A, B);
    const mqtt = async (node: NetworkNode): Promise<MqttTestClient> => {
      const client = await connectMqtt(node.process.ports['mqtt']!);
      clients.push(client);
      return client;
    };
    return { A, B, mqtt };
  }

  it('hands subscribers on B the retained message published on A before B had demand, each once', async () => {
    const { A, B, mqtt } = await pair();
    const publisher = await mqtt(A);
    await publisher.publish('r/x', 'retained-before', { qos: 1, retain: true });

    // B has no subscriber yet: the first one's conduit brings A's retained message to it
    const watcher = await mqtt(B);
    await watcher.subscribe('r/#', { qos: 1 });
    assert.deepEqual((await watcher.inbox.take(1, 10_000)).map(seen), ['r/x=retained-before retain=true']);
    await until('the conduit for r/#', () => pulls(B, 'to-A', 'topic', 'r.>'));

    // another filter: its own conduit on A is handed the message again, which neither subscriber gets twice
    const late = await mqtt(B);
    await late.subscribe('r/x', { qos: 1 });
    assert.deepEqual((await late.inbox.take(1, 10_000)).map(seen), ['r/x=retained-before retain=true']);
    await until('the conduit for r/x', () => pulls(B, 'to-A', 'topic', 'r.x'));
    await Promise.all([late.inbox.expectNothing(500), watcher.inbox.expectNothing(300)]);

    // what A publishes from now on reaches both once, as a publication
    await publisher.publish('r/x', 'after', { qos: 1 });
    assert.deepEqual((await watcher.inbox.take(1, 10_000)).map(seen), ['r/x=after retain=false']);
    assert.deepEqual((await late.inbox.take(1, 10_000)).map(seen), ['r/x=after retain=false']);
  });

  it('gives a new subscriber on B the current retained message of A, never the copy B kept from an earlier subscriber, and none once A cleared it', async () => {
    const { A, B, mqtt } = await pair();
    const publisher = await mqtt(A);

    const first = await mqtt(B);
    await first.subscribe('s/t', { qos: 1 });
    await until('the conduit for s/t', () => pulls(B, 'to-A', 'topic', 's.t'));
    await publisher.publish('s/t', '20', { qos: 1, retain: true });
    assert.deepEqual((await first.inbox.take(1, 10_000)).map(seen), ['s/t=20 retain=false']);
    await first.end();
    await until('no conduit for s/t', async () => !(await B.stats()).network.some((c) => c.demand.some((d) => d.kind === 'topic' && d.name === 's.t')));

    await publisher.publish('s/t', '25', { qos: 1, retain: true });
    const second = await mqtt(B);
    await second.subscribe('s/t', { qos: 1 });
    assert.deepEqual((await second.inbox.take(1, 10_000)).map(seen), ['s/t=25 retain=true']);
    await second.inbox.expectNothing(500);

    // while the conduit is open, B's copy follows A: a subscriber that comes now gets it from B, once
    await until('the conduit for s/t', () => pulls(B, 'to-A', 'topic', 's.t'));
    await publisher.publish('s/t', '30', { qos: 1, retain: true });
    assert.deepEqual((await second.inbox.take(1, 10_000)).map(seen), ['s/t=30 retain=false']);
    const third = await mqtt(B);
    await third.subscribe('s/t', { qos: 1 });
    assert.deepEqual((await third.inbox.take(1, 10_000)).map(seen), ['s/t=30 retain=true']);
    await Promise.all([third.inbox.expectNothing(500), second.inbox.expectNothing(300)]);

    // cleared on A while B has no subscriber: B does not answer from its old copy
    await Promise.all([second.end(), third.end()]);
    await until('no conduit for s/t', async () => !(await B.stats()).network.some((c) => c.demand.some((d) => d.kind === 'topic' && d.name === 's.t')));
    await publisher.publish('s/t', '', { qos: 1, retain: true });
    const fourth = await mqtt(B);
    await fourth.subscribe('s/t', { qos: 1 });
    await until('the conduit for s/t', () => pulls(B, 'to-A', 'topic', 's.t'));
    await fourth.inbox.expectNothing(500);
  });
});
