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

  it('keeps a durable subscription on B whose subscriber is away whole: what A publishes while B is down waits on A, nothing in flight at a kill of B is lost, and removing the subscription on B removes its conduit on A', async () => {
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
    const conduits = async (): Promise<string[]> => (await A.stats()).durableSubscriptions.map((d) => `${d.clientId}/${d.name}/${d.topic}`);
    assert.deepEqual(await conduits(), ['ferry-network:B:to-A/ferry-network|B|prices.eu/prices.eu'], 'A keeps a durable conduit for B');

    const producer = await connectStomp(a);
    const sent = bodies('p', 30);
    for (const body of sent.slice(0, 10)) await producer.sendConfirmed('/topic/prices.eu', body, { persistent: 'true' });
    await until('the first ten to wait on B', async () => (await durableOn(B, 'prices-feed'))?.pending === 10);

    // killed at once: some of the ten may not be on B's disk yet, and A still has those
    await B.process.stop('SIGKILL');
    for (const body of sent.slice(10, 20)) await producer.sendConfirmed('/topic/prices.eu', body, { persistent: 'true' });
    await B.restart();
    await until('the conduit subscription on A again', () => pulls(B, 'to-A', 'topic', 'prices.eu'));
    for (const body of sent.slice(20)) await producer.sendConfirmed('/topic/prices.eu', body, { persistent: 'true' });
    await until('all thirty to wait on B', async () => (await durableOn(B, 'prices-feed'))?.pending === 30);

    const back = await connectStomp(b, { headers: { 'client-id': 'away' } });
    const inbox = back.subscribe('/topic/prices.eu', subscribe);
    const got = await inbox.take(sent.length, 20_000);
    assert.deepEqual(got.map((m) => m.body).sort(), [...sent].sort());
    await inbox.expectNothing(300);

    // the subscription removed on B: no demand is left, and A drops the conduit and what it kept
    inbox.subscription.unsubscribe(subscribe);
    await until('the conduit to go from A', async () => (await conduits()).length === 0);
    await producer.disconnect();
    await back.disconnect();
  });
});
