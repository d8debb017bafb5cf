import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker, type CoreConnection, type Delivery, type DeliverySink, type SubscribeOptions } from '../../src/core/index.js';
import { MemoryStore } from '../../src/store/index.js';

class RecordingSink implements DeliverySink {
  readonly deliveries: Delivery[] = [];
  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
  }
  isWritable(): boolean {
    return true;
  }
  onWritable(): void {}
  seen(): string[] {
    return this.deliveries.map((d) => `${d.message.body.toString()}${d.matched === undefined ? '' : ` [${[...d.matched].sort().join(',')}]`}`);
  }
}

function subscribe(connection: CoreConnection, options: Omit<SubscribeOptions, 'sink'>): RecordingSink {
  const sink = new RecordingSink();
  connection.createSession().subscribe({ ...options, sink });
  return sink;
}

const topic = (name: string) => ({ kind: 'topic', name }) as const;

async function started(store = new MemoryStore()): Promise<Broker> {
  const broker = new Broker({ store });
  await broker.start();
  return broker;
}

test('an overlap group gets a message once, at its highest-ranked matching subscription, told every tag that matched', async () => {
  const broker = await started();
  const owner = (await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }));
  const low = subscribe(owner, { destination: topic('a.b'), overlap: { group: 'g', rank: 0, tag: 1 } });
  const high = subscribe(owner, { destination: topic('a.>'), overlap: { group: 'g', rank: 1, tag: 2 } });
  const star = subscribe(owner, { destination: topic('a.*'), overlap: { group: 'g', rank: 0, tag: 3 } });
  // outside the group: its own copy
  const plain = subscribe(owner, { destination: topic('a.b') });
  // the same group name on another connection is another owner
  const other = subscribe((await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } })), { destination: topic('a.b'), overlap: { group: 'g', rank: 0, tag: 9 } });
  const producer = (await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } })).createSession();
  for (const name of ['a.b', 'a.c', 'a.b.c']) producer.send({ destination: topic(name), body: Buffer.from(name) });
  assert.deepEqual(low.seen(), []);
  assert.deepEqual(star.seen(), []);
  assert.deepEqual(high.seen(), ['a.b [1,2,3]', 'a.c [2,3]', 'a.b.c']);
  assert.deepEqual(plain.seen(), ['a.b']);
  assert.deepEqual(other.seen(), ['a.b']);
  await broker.stop();
});

test('a member that would not take the message (no-local, selector) does not win it', async () => {
  const broker = await started();
  const owner = (await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }));
  const local = subscribe(owner, { destination: topic('s.x'), noLocal: true, overlap: { group: 'g', rank: 2, tag: 1 } });
  const picky = subscribe(owner, { destination: topic('s.>'), selector: "kind = 'big'", overlap: { group: 'g', rank: 1, tag: 2 } });
  const rest = subscribe(owner, { destination: topic('s.*'), overlap: { group: 'g', rank: 0, tag: 3 } });
  const session = owner.createSession();
  session.send({ destination: topic('s.x'), body: Buffer.from('own small') });
  session.send({ destination: topic('s.x'), body: Buffer.from('own big'), properties: new Map([['kind', 'big']]) });
  assert.deepEqual(local.seen(), []);
  assert.deepEqual(picky.seen(), ['own big [2,3]']);
  assert.deepEqual(rest.seen(), ['own small']);
  await broker.stop();
});

test('durable members keep their group while their owner is away: the persistent message waits once, in the highest-ranked one', async () => {
  const store = new MemoryStore();
  const broker = await started(store);
  const first = (await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' }, clientId: 'c1' }));
  const session = first.createSession();
  const sink = new RecordingSink();
  const weak = session.subscribe({ destination: topic('d.x'), durable: { name: 'weak' }, sink, overlap: { group: 'g', rank: 0, tag: 1 } });
  const strong = session.subscribe({ destination: topic('d.>'), durable: { name: 'strong' }, sink, overlap: { group: 'g', rank: 1, tag: 2 } });
  weak.close();
  strong.close();
  first.close();
  const producer = (await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } })).createSession();
  await producer.send({ destination: topic('d.x'), body: Buffer.from('kept'), persistent: true });
  const pending = new Map(broker.stats().durableSubscriptions.map((d) => [d.name, d.pending]));
  assert.deepEqual(Object.fromEntries(pending), { weak: 0, strong: 1 });
  await broker.stop();
});
