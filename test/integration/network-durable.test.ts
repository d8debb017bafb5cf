import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectStomp } from '../helpers/stomp.js';
import { freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

async function durableOn(node: NetworkNode, name: string): Promise<{ active: boolean; pending: number } | undefined> {
  return (await node.stats()).durableSubscriptions.find((d) => d.name === name);
}

describe('network of brokers: durable subscribers away', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  // `todo`, loudly: it fails in about two runs of three. Before the restart the subscription away is
  // demand and its messages wait on B; after B's restart the second ten do not all arrive. Not yet
  // understood, so the part across a restart is not claimed.
  it('keeps pulling a topic for a durable subscription on B whose subscriber is away, across a restart of B', { todo: 'after a restart of B the second ten do not all reach B in about two runs of three; not yet understood' }, async () => {
    const [a, b] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    nodes.push(A, B);
    const subscribe = { 'activemq.subscriptionName': 'prices-feed' };

    const first = await connectStomp(b, { headers: { 'client-id': 'away' } });
    first.subscribe('/topic/prices.eu', subscribe);
    await until('the conduit subscription on A', () => pulls(B, 'to-A', 'topic', 'prices.eu'));
    await first.disconnect();
    await until('the subscriber to be away', async () => (await durableOn(B, 'prices-feed'))?.active === false);
    assert.ok(await pulls(B, 'to-A', 'topic', 'prices.eu'), 'the subscription away is still demand');

    const producer = await connectStomp(a);
    const sent = bodies('p', 20);
    for (const body of sent.slice(0, 10)) await producer.sendConfirmed('/topic/prices.eu', body, { persistent: 'true' });
    await until('the first ten to wait on B', async () => (await durableOn(B, 'prices-feed'))?.pending === 10);

    // read back from B's disk, the subscription is demand again
    await B.process.stop('SIGKILL');
    await B.restart();
    await until('the conduit subscription on A again', () => pulls(B, 'to-A', 'topic', 'prices.eu'));
    for (const body of sent.slice(10)) await producer.sendConfirmed('/topic/prices.eu', body, { persistent: 'true' });
    await until('all twenty to wait on B', async () => (await durableOn(B, 'prices-feed'))?.pending === 20);

    const back = await connectStomp(b, { headers: { 'client-id': 'away' } });
    const inbox = back.subscribe('/topic/prices.eu', subscribe);
    const got = await inbox.take(sent.length, 20_000);
    assert.deepEqual(got.map((m) => m.body).sort(), [...sent].sort());
    await inbox.expectNothing(300);
    await producer.disconnect();
    await back.disconnect();
  });
});
