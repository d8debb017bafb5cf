import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { freePort, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

async function pending(node: NetworkNode, queue: string): Promise<number> {
  const q = (await node.stats()).queues.find((x) => x.name === queue);
  return (q?.pending ?? 0) + (q?.inFlight ?? 0);
}

/**
 * Takes `n` messages on `port`'s queue with a consumer that leaves once `settled` holds (the
 * backlog has followed it); returns their bodies.
 */
async function takeAndLeave(port: number, queue: string, n: number, settled: () => Promise<void> = async () => {}): Promise<string[]> {
  const client: StompTestClient = await connectStomp(port);
  const inbox = client.subscribe(`/queue/${queue}`, { ack: 'client-individual', 'activemq.prefetchSize': '1' });
  const got: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = await inbox.next(20_000);
    m.ack();
    got.push(m.body);
  }
  await settled();
  await client.disconnect();
  return got;
}

describe('network of brokers: messages go back along their path', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  it('follows a consumer that moves A -> B -> A -> B with a backlog each time, every message once', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    nodes.push(A, B);
    const producer = await connectStomp(a);
    const sent: string[] = [];
    const send = async (prefix: string, n: number): Promise<void> => {
      for (const body of bodies(prefix, n)) {
        await producer.sendConfirmed('/queue/moving', body, { persistent: 'true' });
        sent.push(body);
      }
    };
    const seen: string[] = [];

    await send('first', 30);
    seen.push(...(await takeAndLeave(a, 'moving', 5)));

    // the consumer is on B: A's backlog follows it, and stays there when it leaves
    await send('second', 20);
    seen.push(...(await takeAndLeave(b, 'moving', 5, () => until('the backlog to be on B', async () => (await pending(A, 'moving')) === 0))));
    assert.equal(await pending(B, 'moving'), sent.length - seen.length);

    // back on A: what waits on B came from A, and goes back to it
    await send('third', 20);
    seen.push(...(await takeAndLeave(a, 'moving', 10, () => until('the backlog to be back on A', async () => (await pending(B, 'moving')) === 0))));
    assert.equal(await pending(A, 'moving'), sent.length - seen.length);

    // and once more to B: a message that has made the trip before makes it again
    // in the link form, which alone shows the broker's own properties
    const last = await connectStomp(b, { headers: { 'ferry.link-form': '1' } });
    const inbox = last.subscribe('/queue/moving');
    const rest = await inbox.take(sent.length - seen.length, 20_000);
    seen.push(...rest.map((m) => m.body));
    await inbox.expectNothing(300);
    // the second trip to B is a return too: B is on its path since the first
    assert.ok(rest.some((m) => m.headers['ferry-broker-property.FerryNetworkReturns'] === 'number:2' && m.headers['ferry-broker-property.FerryNetworkPath'] === 'string:|A|B|'), 'some messages went A -> B -> A -> B');
    assert.ok((await B.stats()).network[0]!.returned > 0);

    assert.deepEqual([...seen].sort(), [...sent].sort(), 'every message once');
    assert.equal(await pending(A, 'moving'), 0);
    assert.equal(await pending(B, 'moving'), 0);
    await producer.disconnect();
    await last.disconnect();
  });

  it('brings back what A forwarded to C through B when the consumer returns from C to A', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    // a line A - B - C, each pulling from its neighbours
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [{ name: 'to-B', port: b }] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }, { name: 'to-C', port: c }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-B', port: b }] });
    nodes.push(A, B, C);
    const producer = await connectStomp(a);
    const sent = bodies('m', 40);
    for (const body of sent) await producer.sendConfirmed('/queue/far', body, { persistent: 'true' });

    const seen = await takeAndLeave(c, 'far', 5, () => until('the backlog to be on C', async () => (await pending(A, 'far')) + (await pending(B, 'far')) === 0));
    assert.equal(await pending(C, 'far'), sent.length - seen.length);

    const back = await connectStomp(a);
    const inbox = back.subscribe('/queue/far');
    const rest = await inbox.take(sent.length - seen.length, 20_000);
    await inbox.expectNothing(300);
    seen.push(...rest.map((m) => m.body));
    assert.deepEqual([...seen].sort(), [...sent].sort(), 'every message once');
    for (const node of [A, B, C]) assert.equal(await pending(node, 'far'), 0, `nothing left on ${node.spec.name}`);
    await producer.disconnect();
    await back.disconnect();
  });
});
