import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { jmsCheck, jmsCheckHeard, jmsMissing, one } from '../helpers/jms.js';
import { pulls, startNode, stopAll, until, type NetworkNode } from '../helpers/network.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * A message forwarded over a network link reads on the far broker as it was sent: its JMS type,
 * property types, message id and user id, and none of the link's own bookkeeping
 * (docs/network.md, "The link form").
 */
describe('network of brokers: messages arrive as they were sent', () => {
  const nodes: NetworkNode[] = [];
  after(() => stopAll(nodes));

  const pair = async (): Promise<{ A: NetworkNode; B: NetworkNode }> => {
    const A = await startNode({ name: 'A', stompPort: 0, neighbours: [] });
    nodes.push(A);
    const B = await startNode({ name: 'B', stompPort: 0, neighbours: [{ name: 'to-A', port: A.process.ports['stomp']! }] });
    nodes.push(B);
    return { A, B };
  };
  const openwire = (node: NetworkNode): string => `tcp://127.0.0.1:${node.process.ports['openwire']!}`;
  const pending = async (node: NetworkNode, queue: string): Promise<number> => (await node.stats()).queues.find((q) => q.name === queue)?.pending ?? 0;

  it('keeps JMS body types, property types and the JMSMessageID, and shows no link property', { skip: jmsMissing() }, async () => {
    const { A, B } = await pair();
    const sent = await jmsCheck(openwire(A), 'send-kinds', 'net.kinds');
    const got = await jmsCheck(openwire(B), 'read-kinds', 'net.kinds', '6');
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `${String(one(got, `${i}.class`))} ${String(one(got, `${i}.body`))}`),
      ['TextMessage typed', 'MapMessage 70000 in a map', 'ObjectMessage [an, object]', 'StreamMessage 70000 in a stream', 'Message ', 'BytesMessage length 3'],
    );
    assert.equal(
      one(got, '0.properties'),
      'aBoolean=Boolean:true,aByte=Byte:7,aDouble=Double:2.25,aFloat=Float:1.5,aLong=Long:5000000000,aShort=Short:300,aString=String:text,anInt=Integer:42',
    );
    for (const i of [1, 2, 3, 5]) assert.equal(one(got, `${i}.properties`), '', `message ${i} has no property of the link's`);
    assert.equal(one(got, '4.properties'), 'aString=String:no body');
    for (const i of [0, 1, 2, 3, 4, 5]) assert.equal(one(got, `${i}.id`), one(sent, `id.${i}`), `message ${i} keeps its JMSMessageID`);
  });

  for (const named of ['queue:net.selected', 'topic:net.selected']) {
    it(`brings a ${named.split(':')[0]!} selector consumer on B what its numeric and boolean selector matches, and takes nothing else from A`, { skip: jmsMissing() }, async () => {
      const { A, B } = await pair();
      const kind = named.split(':')[0]!;
      let ready!: () => void;
      const open = new Promise<void>((resolve) => (ready = resolve));
      const consumer = jmsCheckHeard(openwire(B), 'selected', [named, 'ip >= 5 AND flag = TRUE', '2'], (key) => key === 'ready' && ready());
      await open;
      await until('the conduit on A', () => pulls(B, 'to-A', kind, 'net.selected'));
      await jmsCheck(openwire(A), 'send-numbered', named, '10');
      const got = await consumer;
      assert.equal(one(got, 'texts'), '6,8');
      assert.equal(one(got, 'more'), false);
      if (kind === 'queue') {
        // what no consumer on B selects waits on A for one that does
        assert.equal(await pending(A, 'net.selected'), 8);
        assert.equal(await pending(B, 'net.selected'), 0);
      }
    });
  }
  it('reads a producer\'s headers that look like the link form\'s as the producer\'s own, and shows the path only to a link', async () => {
    const { A, B } = await pair();
    const onB = await connectStomp(B.process.ports['stomp']!);
    const inbox = onB.subscribe('/queue/net.claims');
    const link = await connectStomp(B.process.ports['stomp']!, { headers: { 'ferry.link-form': '1' } });
    const asLink = link.subscribe('/queue/net.claims.seen');
    await until('the conduits on A', async () => (await pulls(B, 'to-A', 'queue', 'net.claims')) && (await pulls(B, 'to-A', 'queue', 'net.claims.seen')));
    const producer = await connectStomp(A.process.ports['stomp']!);
    const claims = { 'ferry-user': 'admin', 'ferry-body': 'map', 'ferry-property.amount': 'int:5', 'ferry-broker-property.FerryNetworkPath': 'string:|B|' };
    await producer.sendConfirmed('/queue/net.claims', 'claimed', claims);
    await producer.sendConfirmed('/queue/net.claims.seen', 'seen');
    const m = await inbox.next(10_000);
    assert.equal(m.body, 'claimed');
    for (const [name, value] of Object.entries(claims)) assert.equal(m.headers[name], value, name);
    assert.equal(m.headers['JMSXUserID'], undefined);
    assert.deepEqual(Object.keys(m.headers).filter((name) => name === 'FerryNetworkPath' || name === '_AMQ_DUPL_ID'), []);
    // a client that asks for the link form reads it, the broker's own properties with it
    const seen = await asLink.next(10_000);
    assert.equal(seen.headers['ferry-broker-property.FerryNetworkPath'], 'string:|A|');
    assert.equal(seen.headers['ferry-broker-property.FerryNetworkHops'], 'number:1');
    await Promise.all([onB.disconnect(), link.disconnect(), producer.disconnect()]);
  });
});
