import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectStomp } from '../helpers/stomp.js';
import { pulls, startNode, stopAll, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('network of brokers: what the receiving broker refuses', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  it('leaves a message on the neighbour while its queue here is full (memoryPolicy fail), and forwards it once there is room', async () => {
    const A = await startNode({ name: 'A', stompPort: 0, neighbours: [] });
    nodes.push(A);
    const B = await startNode({
      name: 'B',
      stompPort: 0,
      neighbours: [{ name: 'to-A', port: A.process.ports['stomp']! }],
      config: ['destinations:', '  policies:', '    - match: "full.>"', '      memoryLimit: 20000', '      memoryPolicy: fail', ''].join('\n'),
    });
    nodes.push(B);

    const producer = await connectStomp(A.process.ports['stomp']!);
    const sent = bodies('f', 60).map((b) => b.padEnd(1024, '.'));
    for (const body of sent) await producer.sendConfirmed('/queue/full.q', body, { persistent: 'true' });

    const consumer = await connectStomp(B.process.ports['stomp']!);
    const inbox = consumer.subscribe('/queue/full.q', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    const first = await inbox.next(20_000);
    // B's queue fills to its limit behind the consumer that does not acknowledge; the rest must stay A's
    await B.process.logged('network.store-refused', 20_000);
    first.ack();
    const got = [first.body];
    while (got.length < sent.length) {
      const m = await inbox.next(20_000);
      m.ack();
      got.push(m.body);
    }
    assert.deepEqual(got.sort(), [...sent].sort());
    await inbox.expectNothing(300);

    const onA = (await A.stats()).queues;
    assert.equal(onA.find((q) => q.name === 'ActiveMQ.DLQ')?.pending ?? 0, 0, 'nothing dead-lettered on A');
    assert.equal(onA.find((q) => q.name === 'full.q')?.pending ?? 0, 0);
    assert.ok(await pulls(B, 'to-A', 'queue', 'full.q'));
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
  });
});
