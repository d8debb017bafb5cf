import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { Inbox as BaseInbox } from '../helpers/inbox.js';
import { connectStomp } from '../helpers/stomp.js';
import { demandMap, freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('network of brokers: topics and rings', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  it('gives a topic subscriber on each of three brokers every message once, whichever broker it was published on', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    // a line A - B - C, each pulling from its neighbours
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }, { name: 'to-C', port: c }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-B', port: b }] });
    nodes.push(A, B, C);

    const onA = await connectStomp(a);
    const inboxA = onA.subscribe('/topic/news.eu');
    const mqttB = await mqtt.connectAsync(`mqtt://127.0.0.1:${B.process.ports['mqtt']}`, { clientId: 'sub-b' });
    const inboxB = new BaseInbox<string>();
    mqttB.on('message', (_topic, payload) => inboxB.push(payload.toString()));
    await mqttB.subscribeAsync('news/eu', { qos: 1 });
    const onC = await connectStomp(c);
    // a wildcard on C: one conduit subscription for it
    const inboxC = onC.subscribe('/topic/news.>');

    await until('conduit subscriptions', async () =>
      (await pulls(A, 'to-B', 'topic', 'news.eu')) &&
      (await pulls(B, 'to-A', 'topic', 'news.eu')) &&
      (await pulls(B, 'to-A', 'topic', 'news.>')) &&
      (await pulls(B, 'to-C', 'topic', 'news.eu')) &&
      (await pulls(C, 'to-B', 'topic', 'news.>')),
    );

    const fromA = bodies('a', 5);
    const fromC = bodies('c', 5);
    const fromB = bodies('b', 5);
    const producerA = await connectStomp(a);
    for (const body of fromA) await producerA.sendConfirmed('/topic/news.eu', body);
    const producerC = await connectStomp(c);
    for (const body of fromC) await producerC.sendConfirmed('/topic/news.eu', body);
    const mqttPub = await mqtt.connectAsync(`mqtt://127.0.0.1:${B.process.ports['mqtt']}`, { clientId: 'pub-b' });
    for (const body of fromB) await mqttPub.publishAsync('news/eu', body, { qos: 1 });

    const all = [...fromA, ...fromB, ...fromC].sort();
    assert.deepEqual((await inboxA.take(all.length, 10_000)).map((m) => m.body).sort(), all);
    assert.deepEqual((await inboxB.take(all.length, 10_000)).sort(), all);
    assert.deepEqual((await inboxC.take(all.length, 10_000)).map((m) => m.body).sort(), all);
    await Promise.all([inboxA.expectNothing(300), inboxB.expectNothing(300), inboxC.expectNothing(300)]);

    await Promise.all([onA.disconnect(), onC.disconnect(), producerA.disconnect(), producerC.disconnect(), mqttB.endAsync(), mqttPub.endAsync()]);
    await until('no demand left', async () => (await demandMap([A, B, C])).every((line) => line.endsWith(': ')));
  });

  it('in a ring of three, a queue message reaches its consumer once and a topic message each subscriber once; demand dies with the consumers', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    // every broker pulls from both others
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }, { name: 'to-C', port: c }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }, { name: 'to-C', port: c }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-A', port: a }, { name: 'to-B', port: b }] });
    nodes.push(A, B, C);

    // in the link form, which alone shows the broker's own properties
    const consumer = await connectStomp(c, { headers: { 'ferry.link-form': '1' } });
    const queueInbox = consumer.subscribe('/queue/ring');
    const subscribers = await Promise.all([a, b, c].map((port) => connectStomp(port)));
    const topicInboxes = subscribers.map((s) => s.subscribe('/topic/ring.news'));
    await until('demand round the ring', async () =>
      (await pulls(C, 'to-A', 'queue', 'ring')) &&
      (await pulls(C, 'to-B', 'queue', 'ring')) &&
      (await pulls(A, 'to-B', 'topic', 'ring.news')) &&
      (await pulls(A, 'to-C', 'topic', 'ring.news')) &&
      (await pulls(B, 'to-A', 'topic', 'ring.news')) &&
      (await pulls(B, 'to-C', 'topic', 'ring.news')) &&
      (await pulls(C, 'to-A', 'topic', 'ring.news')) &&
      (await pulls(C, 'to-B', 'topic', 'ring.news')),
    );

    const producer = await connectStomp(a);
    const queued = bodies('q', 50);
    for (const body of queued) await producer.sendConfirmed('/queue/ring', body, { persistent: 'true' });
    const published = bodies('t', 10);
    for (const body of published) await producer.sendConfirmed('/topic/ring.news', body);

    const got = await queueInbox.take(queued.length, 20_000);
    assert.deepEqual(got.map((m) => m.body).sort(), [...queued].sort());
    for (const m of got) {
      const path = (m.headers['ferry-broker-property.FerryNetworkPath'] ?? '').replace(/^string:/, '').split('|').filter((p) => p !== '');
      assert.ok(path.length > 0, 'forwarded');
      assert.equal(new Set(path).size, path.length, `no broker twice on a path: ${path.join('|')}`);
      assert.ok(!path.includes('C'));
    }
    for (const inbox of topicInboxes) assert.deepEqual((await inbox.take(published.length, 10_000)).map((m) => m.body).sort(), [...published].sort());
    await Promise.all([queueInbox.expectNothing(300), ...topicInboxes.map((i) => i.expectNothing(0))]);
    for (const node of [A, B, C]) assert.equal((await node.stats()).queues.find((q) => q.name === 'ring')?.pending ?? 0, 0, `nothing stuck on ${node.spec.name}`);

    await Promise.all([consumer.disconnect(), producer.disconnect(), ...subscribers.map((s) => s.disconnect())]);
    // demand that only other brokers' connectors keep up would go round the ring for ever
    await until('no demand left in the ring', async () => (await demandMap([A, B, C])).every((line) => line.endsWith(': ')));
  });

  it('keeps what exclude names on the neighbour, also when a wildcard consumer\'s pattern covers it', async () => {
    const A = await startNode({ name: 'A', stompPort: 0, neighbours: [] });
    nodes.push(A);
    const B = await startNode({ name: 'B', stompPort: 0, neighbours: [{ name: 'to-A', port: A.process.ports['stomp']!, settings: ['include: [orders.>]', 'exclude: [orders.local.>]'] }] });
    nodes.push(B);
    const onB = await connectStomp(B.process.ports['stomp']!);
    const wildTopic = onB.subscribe('/topic/orders.>');
    const localTopic = onB.subscribe('/topic/orders.local.y');
    const wildQueue = onB.subscribe('/queue/orders.>');
    await until('the conduits on A', async () => (await pulls(B, 'to-A', 'topic', 'orders.>')) && (await pulls(B, 'to-A', 'queue', 'orders.>')));

    const producer = await connectStomp(A.process.ports['stomp']!);
    // the excluded first: once the others are in, they would have been too
    for (const body of bodies('l', 5)) {
      await producer.sendConfirmed('/topic/orders.local.y', body);
      await producer.sendConfirmed('/queue/orders.local.q', body, { persistent: 'true' });
    }
    const sent = bodies('x', 5);
    for (const body of sent) {
      await producer.sendConfirmed('/topic/orders.x', body);
      await producer.sendConfirmed('/queue/orders.q', body, { persistent: 'true' });
    }
    assert.deepEqual((await wildTopic.take(sent.length, 10_000)).map((m) => `${m.headers['destination']!} ${m.body}`), sent.map((b) => `/topic/orders.x ${b}`));
    assert.deepEqual((await wildQueue.take(sent.length, 10_000)).map((m) => `${m.headers['destination']!} ${m.body}`), sent.map((b) => `/queue/orders.q ${b}`));
    await Promise.all([wildTopic.expectNothing(300), localTopic.expectNothing(0), wildQueue.expectNothing(0)]);
    // the excluded queue's messages wait on A for its own consumers
    assert.equal((await A.stats()).queues.find((q) => q.name === 'orders.local.q')?.pending, 5);
    await Promise.all([onB.disconnect(), producer.disconnect()]);
  });
});
