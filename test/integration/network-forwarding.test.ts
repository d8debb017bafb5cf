import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runFerry } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('network of brokers: queues', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  it('carries a producer on A to a consumer on C through B, once each, and leaves nothing behind', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    // C pulls from B, B pulls from A: demand travels C -> B -> A, messages A -> B -> C
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-B', port: b }] });
    nodes.push(A, B, C);

    const producer = await connectStomp(a);
    const sent = bodies('m', 40);
    // sent before anyone consumes: they wait on A until the demand reaches it
    for (const body of sent) await producer.sendConfirmed('/queue/orders', body, { persistent: 'true' });

    // in the link form, which alone shows the broker's own properties: no consumer gets them
    const consumer = await connectStomp(c, { headers: { 'ferry.link-form': '1' } });
    const inbox = consumer.subscribe('/queue/orders');
    const got = await inbox.take(sent.length, 20_000);
    assert.deepEqual(got.map((m) => m.body).sort(), [...sent].sort());
    assert.equal(got[0]!.headers['ferry-broker-property.FerryNetworkPath'], 'string:|A|B|');
    assert.equal(got[0]!.headers['ferry-broker-property.FerryNetworkHops'], 'number:2');
    await inbox.expectNothing(300);

    assert.ok(await pulls(C, 'to-B', 'queue', 'orders'));
    // operators see the connector, its neighbour, its demand and what it brought in
    const table = await runFerry(['stat', '--http-port', String(C.process.ports['http'])]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`to-B\\s+B\\s+connected\\s+queue:orders\\s+${sent.length}\\s+1`));
    // and Prometheus the same figures
    const metrics = await (await fetch(`http://127.0.0.1:${C.process.ports['http']}/metrics`)).text();
    assert.match(metrics, /^ferry_network_connector_up\{connector="to-B"\} 1$/m);
    assert.match(metrics, /^ferry_network_demand\{connector="to-B"\} 1$/m);
    assert.match(metrics, new RegExp(`^ferry_network_received_total\\{connector="to-B"\\} ${sent.length}$`, 'm'));
    assert.match(metrics, /^ferry_network_links_total\{connector="to-B"\} 1$/m);
    const demandOnA = (await B.stats()).network[0]!.demand.find((d) => d.name === 'orders');
    assert.deepEqual(demandOnA?.path, ['C', 'B']);
    for (const node of [A, B]) {
      const queue = (await node.stats()).queues.find((q) => q.name === 'orders');
      assert.equal(queue?.pending ?? 0, 0, `${node.spec.name} keeps nothing`);
      assert.equal(queue?.inFlight ?? 0, 0, `${node.spec.name} has nothing in flight`);
    }
    await producer.disconnect();
    await consumer.disconnect();
    // the demand goes with the consumer: C stops pulling from B
    await until('C to drop its demand', async () => !(await pulls(C, 'to-B', 'queue', 'orders')));
    await until('B to drop its demand', async () => !(await pulls(B, 'to-A', 'queue', 'orders')));
  });

  it('moves a backlog from B to C when the consumer moves, and nothing comes back', async () => {
    const [b, c] = [await freePort(), await freePort()];
    // each pulls from the other
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-C', port: c }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-B', port: b }] });
    nodes.push(B, C);

    const producer = await connectStomp(b);
    const sent = bodies('w', 60);
    for (const body of sent) await producer.sendConfirmed('/queue/work', body, { persistent: 'true' });

    const first = await connectStomp(b);
    const onB = first.subscribe('/queue/work', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    const taken = [];
    for (let i = 0; i < 10; i++) {
      const m = await onB.next(10_000);
      m.ack();
      taken.push(m);
    }
    await first.disconnect();

    const second = await connectStomp(c);
    const onC = second.subscribe('/queue/work');
    const rest = await onC.take(sent.length - taken.length, 20_000);
    const all = [...taken, ...rest].map((m) => m.body).sort();
    assert.deepEqual(all, [...sent].sort());
    await onC.expectNothing(300);
    assert.equal((await B.stats()).queues.find((q) => q.name === 'work')?.pending ?? 0, 0);
    // C's consumer is demand for B's messages only: B asks nothing of C for it
    assert.ok(!(await pulls(B, 'to-C', 'queue', 'work')));
    await producer.disconnect();
    await second.disconnect();
  });

  it('with localFirst, gives the neighbour only what the local consumers cannot take; without it, shares', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a, settings: ['localFirst: true'] }] });
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-A', port: a }] });
    nodes.push(A, B, C);
    const producer = await connectStomp(a);
    const send = async (queue: string, prefix: string, n: number): Promise<string[]> => {
      const sent = bodies(prefix, n);
      for (const body of sent) await producer.sendConfirmed(`/queue/${queue}`, body, { persistent: 'true' });
      return sent;
    };

    // B is localFirst: A's own consumer, while it has room, takes everything
    const local = await connectStomp(a);
    const onA = local.subscribe('/queue/first');
    const remote = await connectStomp(b);
    const onB = remote.subscribe('/queue/first');
    await until('B to pull first from A', () => pulls(B, 'to-A', 'queue', 'first'));
    const sent = await send('first', 'f', 30);
    const taken = await onA.take(sent.length, 10_000);
    assert.deepEqual(taken.map((m) => m.body).sort(), [...sent].sort());
    await onB.expectNothing(300);
    // and once A's consumer has no room (nothing acknowledged, prefetch 1), B takes the rest
    await local.disconnect();
    const slow = await connectStomp(a);
    const onSlow = slow.subscribe('/queue/first', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    const more = await send('first', 'g', 20);
    const held = await onSlow.next(10_000);
    const toB = await onB.take(more.length - 1, 10_000);
    assert.deepEqual([held, ...toB].map((m) => m.body).sort(), [...more].sort());

    // C is not localFirst: A's consumer and C's subscription share
    const shared = await connectStomp(a);
    const onShared = shared.subscribe('/queue/second');
    const onCClient = await connectStomp(c);
    const onC = onCClient.subscribe('/queue/second');
    await until('C to pull second from A', () => pulls(C, 'to-A', 'queue', 'second'));
    await send('second', 's', 30);
    // each side gets some: this is the contrast that shows the first part's order is localFirst's doing
    const [x, y] = await Promise.all([onShared.take(1, 10_000), onC.take(1, 10_000)]);
    assert.equal(x.length + y.length, 2);
    await Promise.all([producer.disconnect(), slow.disconnect(), remote.disconnect(), shared.disconnect(), onCClient.disconnect()]);
  });

  it('gives a wildcard queue consumer on B the messages of every queue on A its pattern matches, each in its own queue', async () => {
    const A = await startNode({ name: 'A', stompPort: 0, neighbours: [] });
    nodes.push(A);
    const B = await startNode({ name: 'B', stompPort: 0, neighbours: [{ name: 'to-A', port: A.process.ports['stomp']! }] });
    nodes.push(B);
    const producer = await connectStomp(A.process.ports['stomp']!);
    const sent = [...bodies('x', 5).map((body) => ['wild.x', body]), ...bodies('y', 3).map((body) => ['wild.y', body])];
    for (const [queue, body] of sent) await producer.sendConfirmed(`/queue/${queue!}`, body!, { persistent: 'true' });

    const consumer = await connectStomp(B.process.ports['stomp']!);
    const inbox = consumer.subscribe('/queue/wild.>');
    const got = await inbox.take(sent.length, 20_000);
    assert.deepEqual(got.map((m) => [m.headers['destination']!.slice('/queue/'.length), m.body]).sort(), sent.map(([q, b]) => [q, b]).sort());
    await inbox.expectNothing(300);
    const onA = (await A.stats()).queues;
    for (const name of ['wild.x', 'wild.y', 'ActiveMQ.DLQ']) assert.equal(onA.find((q) => q.name === name)?.pending ?? 0, 0, `nothing left in ${name} on A`);
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
  });
});
