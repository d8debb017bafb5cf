import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectStomp, type Inbox } from '../helpers/stomp.js';
import { freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

/** What comes until nothing has come for `quietMs`. */
async function drain(inbox: Inbox, quietMs: number): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    try {
      got.push((await inbox.next(quietMs)).body);
    } catch {
      return got;
    }
  }
}

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('network of brokers: virtual topics', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  it('gives a consumer queue each message once when its broker also has a subscriber of the virtual topic', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    nodes.push(A, B);

    // on B: the group's consumer and a plain subscriber of the topic, so B pulls the message from A
    // both ways, out of A's consumer queue and through the topic into its own consumer queue
    const onB = await connectStomp(b);
    const group = onB.subscribe('/queue/Consumer.G.VirtualTopic.orders');
    const monitor = onB.subscribe('/topic/VirtualTopic.orders');
    await until('conduit subscriptions', async () => (await pulls(B, 'to-A', 'queue', 'Consumer.G.VirtualTopic.orders')) && (await pulls(B, 'to-A', 'topic', 'VirtualTopic.orders')));

    const sent = bodies('o', 20);
    const producer = await connectStomp(a);
    for (const body of sent) await producer.sendConfirmed('/topic/VirtualTopic.orders', body);

    assert.deepEqual((await group.take(sent.length, 10_000)).map((m) => m.body).sort(), [...sent].sort());
    assert.deepEqual((await monitor.take(sent.length, 10_000)).map((m) => m.body).sort(), [...sent].sort());
    await Promise.all([group.expectNothing(500), monitor.expectNothing(300)]);
    await Promise.all([onB.disconnect(), producer.disconnect()]);
  });

  it('gives a group each message once, with group consumers and subscribers on both, published on both', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    nodes.push(A, B);

    // group G on A and B, group H on B alone; a subscriber of the topic on each
    const onA = await connectStomp(a);
    const groupA = onA.subscribe('/queue/Consumer.G.VirtualTopic.prices');
    const monitorA = onA.subscribe('/topic/VirtualTopic.prices');
    const onB = await connectStomp(b);
    const groupB = onB.subscribe('/queue/Consumer.G.VirtualTopic.prices');
    const groupH = onB.subscribe('/queue/Consumer.H.VirtualTopic.prices');
    const monitorB = onB.subscribe('/topic/VirtualTopic.prices');
    await until('conduit subscriptions', async () =>
      (await pulls(B, 'to-A', 'queue', 'Consumer.G.VirtualTopic.prices')) &&
      (await pulls(B, 'to-A', 'queue', 'Consumer.H.VirtualTopic.prices')) &&
      (await pulls(B, 'to-A', 'topic', 'VirtualTopic.prices')) &&
      (await pulls(A, 'to-B', 'queue', 'Consumer.G.VirtualTopic.prices')) &&
      (await pulls(A, 'to-B', 'topic', 'VirtualTopic.prices')),
    );

    const fromA = bodies('a', 10);
    const fromB = bodies('b', 10);
    const producerA = await connectStomp(a);
    for (const body of fromA) await producerA.sendConfirmed('/topic/VirtualTopic.prices', body);
    const producerB = await connectStomp(b);
    for (const body of fromB) await producerB.sendConfirmed('/topic/VirtualTopic.prices', body);

    const all = [...fromA, ...fromB].sort();
    assert.deepEqual((await groupH.take(all.length, 10_000)).map((m) => m.body).sort(), all);
    assert.deepEqual((await monitorA.take(all.length, 10_000)).map((m) => m.body).sort(), all);
    assert.deepEqual((await monitorB.take(all.length, 10_000)).map((m) => m.body).sort(), all);
    // the group takes each message once, on one broker or the other: only the broker it was published
    // on fills its consumer queue, and the neighbour's consumers take from that queue across the link
    const got = { A: [] as string[], B: [] as string[] };
    await until('group G has every message', async () => {
      got.A.push(...(await drain(groupA, 100)));
      got.B.push(...(await drain(groupB, 100)));
      return new Set([...got.A, ...got.B]).size === all.length;
    });
    got.A.push(...(await drain(groupA, 500)));
    got.B.push(...(await drain(groupB, 500)));
    const group = [...got.A, ...got.B];
    assert.equal(group.length, all.length, `group G took a message on both brokers, or twice on one: A ${[...got.A].sort().join(' ')}; B ${[...got.B].sort().join(' ')}`);
    await groupH.expectNothing(300);
    await Promise.all([onA.disconnect(), onB.disconnect(), producerA.disconnect(), producerB.disconnect()]);
  });
});
