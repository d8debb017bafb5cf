import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectStomp } from '../helpers/stomp.js';
import { makeCertificates, type TestCertificates } from '../helpers/tls.js';
import { freePort, pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';

const bodies = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/**
 * A broker that lets in only its users (docs/examples/secure): admins may do everything, readers
 * may consume (and create) queues `linked.>` and nothing else; TLS listeners ask for certificates.
 */
function secured(certs: TestCertificates): string {
  return [
    'tls:',
    `  cert: ${certs.serverCert}`,
    `  key: ${certs.serverKey}`,
    `  ca: ${certs.ca}`,
    '  requestCert: true',
    'security:',
    `  users: ${join(certs.dir, 'users.yaml')}`,
    '  certificateUsers:',
    '    - subject: "(?:^|,)CN=([^,]+)"',
    '      user: "$1"',
    '  authorization:',
    '    - queue: ">"',
    '      read: [admins]',
    '      write: [admins]',
    '      create: [admins]',
    '      browse: [admins]',
    '      admin: [admins]',
    '    - queue: "linked.>"',
    '      read: [readers]',
    '      create: [readers]',
    '',
  ].join('\n');
}

describe('network of brokers: TLS and the link user', () => {
  const nodes: NetworkNode[] = [];
  let certs: TestCertificates;
  before(() => {
    certs = makeCertificates();
  });
  after(() => stopAll(nodes));

  it('links over TLS with a login, forwards what the link user may read, and is refused the rest without losing the link for good', async () => {
    const [a, aTls, b] = [await freePort(), await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, stompTlsPort: aTls, neighbours: [], config: secured(certs) });
    const B = await startNode({
      name: 'B',
      stompPort: b,
      neighbours: [{ name: 'to-A', port: aTls, uri: `ssl://127.0.0.1:${aTls}`, settings: ['username: reader', 'password: reader-secret', 'tls:', `  ca: ${certs.ca}`] }],
    });
    nodes.push(A, B);
    const producer = await connectStomp(a, { headers: { login: 'admin', passcode: 'admin-secret' } });
    // in the link form, which alone shows the broker's own properties
    const consumer = await connectStomp(b, { headers: { 'ferry.link-form': '1' } });
    const orders = consumer.subscribe('/queue/linked.orders');
    await until('the subscription on A', () => pulls(B, 'to-A', 'queue', 'linked.orders'));
    const first = bodies('o', 10);
    for (const body of first) await producer.sendConfirmed('/queue/linked.orders', body, { persistent: 'true' });
    const got = await orders.take(first.length, 10_000);
    assert.deepEqual(got.map((m) => m.body).sort(), [...first].sort());
    assert.equal(got[0]!.headers['ferry-broker-property.FerryNetworkPath'], 'string:|A|');

    // reader may not read private.q on A: A refuses, B marks it and links again without it
    consumer.subscribe('/queue/private.q');
    await until('A to refuse private.q', async () => (await B.stats()).network[0]!.refused.includes('queue:private.q'));
    await until('the link to be made again', async () => {
      const c = (await B.stats()).network[0]!;
      return c.state === 'connected' && c.links >= 2;
    });
    // open once A's receipt for the new link's subscription is back
    await until('what the link user may read to be pulled again', () => pulls(B, 'to-A', 'queue', 'linked.orders'));
    const second = bodies('p', 10);
    for (const body of second) await producer.sendConfirmed('/queue/linked.orders', body, { persistent: 'true' });
    assert.deepEqual((await orders.take(second.length, 10_000)).map((m) => m.body).sort(), [...second].sort());
    await orders.expectNothing(300);
    assert.equal((await B.stats()).network[0]!.links, 2, 'the refusal is not asked again');
    await producer.disconnect();
    await consumer.disconnect();
  });

  it('links as the user its client certificate names, and will not link to a neighbour whose certificate it cannot verify', async () => {
    const [a, aTls, c, d] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const A = await startNode({ name: 'A', stompPort: a, stompTlsPort: aTls, neighbours: [], config: secured(certs) });
    const uri = `stomp+ssl://127.0.0.1:${aTls}`;
    // no password: the certificate (CN=admin) is the login, and admin may read private.q
    const C = await startNode({ name: 'C', stompPort: c, neighbours: [{ name: 'to-A', port: aTls, uri, settings: ['tls:', `  ca: ${certs.ca}`, `  cert: ${certs.admin.cert}`, `  key: ${certs.admin.key}`] }] });
    // the test CA is not one of the system's: the link is not made
    const D = await startNode({ name: 'D', stompPort: d, neighbours: [{ name: 'to-A', port: aTls, uri }] });
    nodes.push(A, C, D);

    const consumer = await connectStomp(c);
    const inbox = consumer.subscribe('/queue/private.q');
    await until('the subscription on A', () => pulls(C, 'to-A', 'queue', 'private.q'));
    const producer = await connectStomp(a, { headers: { login: 'admin', passcode: 'admin-secret' } });
    const sent = bodies('s', 10);
    for (const body of sent) await producer.sendConfirmed('/queue/private.q', body, { persistent: 'true' });
    assert.deepEqual((await inbox.take(sent.length, 10_000)).map((m) => m.body).sort(), [...sent].sort());

    const failed = await D.process.logged('network.link-failed', 20_000);
    assert.match(String(failed['message']), /certificate/i);
    assert.equal((await D.stats()).network[0]!.state, 'connecting');
    await producer.disconnect();
    await consumer.disconnect();
  });

  it('logs a neighbour\'s refusal of the link in its own words, STOMP escapes undone', async () => {
    // a STOMP server that refuses every CONNECT, its ERROR's message escaped as STOMP 1.2 says
    const neighbour = createServer((socket) => {
      socket.once('data', () => socket.end('ERROR\nmessage:10.0.0.2\\c4800 is not\\c allowed \\\\ here\ncontent-length:0\n\n\0'));
    });
    await new Promise<void>((resolve) => neighbour.listen(0, '127.0.0.1', resolve));
    try {
      const B = await startNode({ name: 'B', stompPort: 0, neighbours: [{ name: 'to-X', port: (neighbour.address() as { port: number }).port }] });
      nodes.push(B);
      const failed = await B.process.logged('network.link-failed', 20_000);
      assert.match(String(failed['message']), /10\.0\.0\.2:4800 is not: allowed \\ here$/);
    } finally {
      await new Promise((resolve) => neighbour.close(resolve));
    }
  });
});
