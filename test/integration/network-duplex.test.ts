import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectStomp } from '../helpers/stomp.js';
import { freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('network of brokers: a duplex connector', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  // A has no connector of its own and is never dialled by anyone but B: one connection, both ways
  it('carries both directions over the one connection B opened: B pulls from A, A pulls from B, and A\'s side goes and comes back with the link', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [] });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a, settings: ['duplex: true'] }] });
    nodes.push(A, B);
    const duplexOnA = async (): Promise<{ name: string; state: string; neighbour: string | undefined; received: number } | undefined> =>
      (await A.stats()).network.find((c) => c.name.startsWith('duplex-B-'));
    await until('A to run a connector back over the link', async () => (await duplexOnA())?.state === 'connected');
    assert.equal((await duplexOnA())?.name, 'duplex-B-to-A');
    assert.equal((await duplexOnA())?.neighbour, 'B');

    // B -> A: a consumer on A, messages sent to B
    // in the link form, which alone shows the broker's own properties
    const onA = await connectStomp(a, { headers: { 'ferry.link-form': '1' } });
    const atA = onA.subscribe('/queue/west');
    await until('A to pull west from B', () => pulls(A, 'duplex-B-to-A', 'queue', 'west'));
    const producerOnB = await connectStomp(b);
    const west = bodies('w', 30);
    for (const body of west) await producerOnB.sendConfirmed('/queue/west', body, { persistent: 'true' });
    const gotWest = await atA.take(west.length, 20_000);
    assert.deepEqual(gotWest.map((m) => m.body).sort(), [...west].sort());
    assert.equal(gotWest[0]!.headers['ferry-broker-property.FerryNetworkPath'], 'string:|B|');

    // A -> B: a consumer on B, messages sent to A
    const onB = await connectStomp(b);
    const atB = onB.subscribe('/queue/east');
    await until('B to pull east from A', () => pulls(B, 'to-A', 'queue', 'east'));
    const producerOnA = await connectStomp(a);
    const east = bodies('e', 30);
    for (const body of east) await producerOnA.sendConfirmed('/queue/east', body, { persistent: 'true' });
    assert.deepEqual((await atB.take(east.length, 20_000)).map((m) => m.body).sort(), [...east].sort());

    // one connection carries it all: A's only clients are the test's three and B's link
    assert.equal((await A.stats()).connections, 3);
    for (const [node, name] of [[A, 'west'], [B, 'east']] as const) {
      const queue = (await node.stats()).queues.find((q) => q.name === name);
      assert.equal((queue?.pending ?? 0) + (queue?.inFlight ?? 0), 0, `nothing left on ${node.spec.name}`);
    }

    // B dies: A's side of the link goes with it; B back, A pulls again and what waited on B arrives
    await B.process.stop('SIGKILL');
    await until('A to drop its side of the link', async () => (await duplexOnA()) === undefined);
    await B.restart();
    const producerAgain = await connectStomp(b);
    const later = bodies('later', 10);
    for (const body of later) await producerAgain.sendConfirmed('/queue/west', body, { persistent: 'true' });
    assert.deepEqual((await atA.take(later.length, 20_000)).map((m) => m.body).sort(), [...later].sort());
    await atA.expectNothing(300);
    assert.equal((await duplexOnA())?.state, 'connected');
    for (const client of [onA, producerOnA, producerAgain]) await client.disconnect();
  });

  it('pulls back only into destinations the user the link logged in as may send to', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const users = fileURLToPath(new URL('../../../docs/examples/secure/users.yaml', import.meta.url));
    const rights = (kind: string, name: string, groups: string): string[] => [`    - ${kind}: "${name}"`, ...['read', 'write', 'create', 'browse', 'admin'].map((r) => `      ${r}: [${groups}]`)];
    // the test's own clients are anonymous admins; B's link logs in as reader, who may send only to west.open
    const config = ['security:', `  users: ${users}`, '  anonymous: admin', '  authorization:', ...rights('queue', '>', 'admins'), ...rights('topic', '>', 'admins'), ...rights('queue', 'west.open', 'readers'), ''].join('\n');
    const A = await startNode({ name: 'A', stompPort: a, neighbours: [], config });
    const B = await startNode({ name: 'B', stompPort: b, neighbours: [{ name: 'to-A', port: a, settings: ['duplex: true', 'username: reader', 'password: reader-secret'] }] });
    nodes.push(A, B);
    await until('A to run a connector back over the link', async () => (await A.stats()).network.some((c) => c.state === 'connected'));

    const onA = await connectStomp(a);
    const open = onA.subscribe('/queue/west.open');
    onA.subscribe('/queue/west.private');
    await until('A to pull west.open from B', () => pulls(A, 'duplex-B-to-A', 'queue', 'west.open'));
    const producerOnB = await connectStomp(b);
    await producerOnB.sendConfirmed('/queue/west.open', 'allowed');
    await producerOnB.sendConfirmed('/queue/west.private', 'stays on B');
    assert.equal((await open.next(20_000)).body, 'allowed');
    assert.equal(await pulls(A, 'duplex-B-to-A', 'queue', 'west.private'), false, 'no demand the link user could not fill');
    assert.equal((await B.stats()).queues.find((q) => q.name === 'west.private')?.pending, 1);
    for (const client of [onA, producerOnB]) await client.disconnect();
  });
});
