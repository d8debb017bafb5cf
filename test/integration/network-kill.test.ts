import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectStomp } from '../helpers/stomp.js';
import { cuttableLink, freePort, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

describe('network of brokers: a killed broker, a cut link', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  it('loses, doubles and strands nothing when B between A and C is killed with SIGKILL under load', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-B', port: b }] });
    nodes.push(A, B, C);

    const consumer = await connectStomp(c);
    const inbox = consumer.subscribe('/queue/load', { ack: 'client-individual' });
    const seen = new Map<string, number>();
    const total = 600;
    let killed = false;
    let restarted: Promise<void> | undefined;
    const allIn = (async () => {
      while (seen.size < total) {
        const m = await inbox.next(60_000);
        seen.set(m.body, (seen.get(m.body) ?? 0) + 1);
        m.ack();
        if (!killed && seen.size === 150) {
          killed = true;
          // B dies with messages on its disk, in flight to C and unacknowledged to A
          await B.process.stop('SIGKILL');
          restarted = B.restart();
        }
      }
    })();

    const producer = await connectStomp(a);
    for (let i = 0; i < total; i++) await producer.sendConfirmed('/queue/load', `m-${i}`, { persistent: 'true' });
    await allIn;
    await restarted;
    assert.ok(killed, 'B was killed mid-stream');
    await inbox.expectNothing(500);
    const doubled = [...seen].filter(([, n]) => n > 1).map(([body]) => body);
    assert.deepEqual(doubled, [], 'no message delivered twice');
    assert.equal(seen.size, total);
    for (const node of [A, B, C]) {
      await until(`nothing left on ${node.spec.name}`, async () => {
        const queue = (await node.stats()).queues.find((q) => q.name === 'load');
        return (queue?.pending ?? 0) === 0 && (queue?.inFlight ?? 0) === 0;
      });
    }
    await producer.disconnect();
    await consumer.disconnect();
  });

  it('loses and doubles nothing when the link between two brokers is cut three times under load', async () => {
    const [a, c] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [] });
    const relay = await cuttableLink(a);
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-A', port: relay.port }] });
    nodes.push(A, C);

    const consumer = await connectStomp(c);
    const inbox = consumer.subscribe('/queue/cut', { ack: 'client-individual' });
    const seen = new Map<string, number>();
    const total = 600;
    const received = (async () => {
      while (seen.size < total) {
        const m = await inbox.next(60_000);
        seen.set(m.body, (seen.get(m.body) ?? 0) + 1);
        m.ack();
        // the link breaks with messages stored on C and not yet acknowledged to A
        if (seen.size % 150 === 0 && seen.get(m.body) === 1) relay.cut();
      }
    })();
    const producer = await connectStomp(a);
    for (let i = 0; i < total; i++) await producer.sendConfirmed('/queue/cut', `m-${i}`, { persistent: 'true' });
    await received;
    await inbox.expectNothing(500);
    assert.ok(relay.accepted >= 4, `the connector linked again after each cut (${relay.accepted} links)`);
    assert.deepEqual([...seen].filter(([, n]) => n > 1).map(([body]) => body), [], 'no message delivered twice');
    assert.equal(seen.size, total);
    await until('nothing left on A', async () => {
      const queue = (await A.stats()).queues.find((q) => q.name === 'cut');
      return (queue?.pending ?? 0) === 0 && (queue?.inFlight ?? 0) === 0;
    });
    await producer.disconnect();
    await consumer.disconnect();
    await relay.close();
  });
});
