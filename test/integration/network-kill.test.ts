import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectStomp } from '../helpers/stomp.js';
import { cuttableLink, freePort, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';
import { makeNamespace, type TestNamespace } from '../helpers/netns.js';

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

/**
 * Brokers reached from another namespace's address are not on loopback: they need users, and here
 * let anonymous clients in with every right (the example users file, anonymous as its admin).
 */
const openToAll = [
  'security:',
  `  users: ${fileURLToPath(new URL('../../../docs/examples/secure/users.yaml', import.meta.url))}`,
  '  anonymous: admin',
  '  authorization:',
  ...['queue', 'topic'].flatMap((kind) => [`    - ${kind}: ">"`, ...['read', 'write', 'create', 'browse', 'admin'].map((right) => `      ${right}: ["*"]`)]),
  '',
].join('\n');

describe('network of brokers: a partition, in a network namespace', () => {
  const nodes: NetworkNode[] = [];
  const made = makeNamespace();
  after(async () => {
    await stopAll(nodes);
    if (typeof made !== 'string') made.remove();
  });

  // a partition drops packets without a reset: only the link's heart-beats find it, on both sides
  it('loses, doubles and strands nothing when the link to a broker in another namespace goes silent twice under load', { skip: typeof made === 'string' ? made : false }, async () => {
    const ns = made as TestNamespace;
    const [a, c] = [await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, stompHost: '0.0.0.0', neighbours: [], config: openToAll });
    const C = await startNode({
      name: 'C',
      stompPort: c,
      netns: { name: ns.name, address: ns.clientAddress },
      config: openToAll,
      neighbours: [{ name: 'to-A', port: a, uri: `stomp://${ns.hostOnLink}:${a}`, settings: ['heartbeat: 300'] }],
    });
    nodes.push(A, C);

    const consumer = await connectStomp(c, { host: ns.clientAddress });
    const inbox = consumer.subscribe('/queue/partition', { ack: 'client-individual' });
    const seen = new Map<string, number>();
    const total = 600;
    let cuts = 0;
    const received = (async () => {
      while (seen.size < total) {
        const m = await inbox.next(60_000);
        seen.set(m.body, (seen.get(m.body) ?? 0) + 1);
        m.ack();
        if (seen.get(m.body) === 1 && (seen.size === 150 || seen.size === 400)) {
          // silent until C has given the link up, with messages in flight on it from A
          ns.cut();
          cuts++;
          await until('C to notice the partition', async () => (await C.stats()).network[0]!.state !== 'connected');
          ns.heal();
        }
      }
    })();
    const producer = await connectStomp(a);
    for (let i = 0; i < total; i++) await producer.sendConfirmed('/queue/partition', `m-${i}`, { persistent: 'true' });
    await received;
    await inbox.expectNothing(500);
    assert.equal(cuts, 2);
    assert.deepEqual([...seen].filter(([, n]) => n > 1).map(([body]) => body), [], 'no message delivered twice');
    assert.equal(seen.size, total);
    // A gave back what it had in flight on the silent link: nothing waits there for a dead connection
    await until('nothing left on A', async () => {
      const queue = (await A.stats()).queues.find((q) => q.name === 'partition');
      return (queue?.pending ?? 0) === 0 && (queue?.inFlight ?? 0) === 0;
    });
    assert.ok((await C.stats()).network[0]!.links >= 3, 'linked again after each partition');
    await producer.disconnect();
    await consumer.disconnect();
  });
});
