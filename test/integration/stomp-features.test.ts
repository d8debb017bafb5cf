import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawStompClient, escapeValue, unescapeValue, withReceipt, within } from '../helpers/raw-stomp.js';
import { connectStomp, type Inbox, type StompTestClient } from '../helpers/stomp.js';

let broker: TestBroker;
const clients: StompTestClient[] = [];
let unique = 0;
const name = (base: string): string => `${base}.${++unique}.${Date.now().toString(36)}`;

async function client(headers: Record<string, string> = {}): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort, { headers });
  clients.push(c);
  return c;
}

async function bodies(inbox: Inbox, n: number): Promise<string[]> {
  return (await inbox.take(n)).map((m) => m.body);
}

before(async () => {
  broker = await startBroker({
    'destinations.policies': [
      { match: 'redeliver.>', maxRedeliveries: 2, redeliveryDelay: 200, backoffMultiplier: 2 },
      { match: 'redeliver.>', individualDeadLetter: true },
      { match: 'lvq.>', lastValueKey: 'symbol' },
    ],
    'destinations.composites': [{ name: 'fanout.both', kind: 'queue', forwardTo: ['queue://fanout.one', 'topic://fanout.two'] }],
    'destinations.expirySweepInterval': 100,
  });
});
after(async () => {
  for (const c of clients) await c.disconnect().catch(() => {});
  await broker.stop();
});

describe('selectors', () => {
  test('a selector consumer and a plain consumer share a queue; non-matching messages do not wait behind matching ones', async () => {
    const q = `/queue/${name('sel')}`;
    const c = await client();
    const red = c.subscribe(q, { selector: "color = 'red'", 'activemq.prefetchSize': '1', ack: 'client-individual' });
    const all = c.subscribe(q, { ack: 'auto' });
    await c.sendConfirmed(q, 'r1', { color: 'red' });
    await c.sendConfirmed(q, 'r2', { color: 'red' });
    await c.sendConfirmed(q, 'b1', { color: 'blue' });
    // the red consumer holds r1 unacknowledged (prefetch 1); r2 waits for it, and b1 goes past r2
    const first = await red.next();
    assert.equal(first.body, 'r1');
    const plain = await all.next();
    assert.ok(['r2', 'b1'].includes(plain.body));
    first.ack();
    const second = plain.body === 'r2' ? await all.next() : await red.next();
    assert.ok(['r2', 'b1'].includes(second.body) && second.body !== plain.body);
  });

  test('numeric selectors work on STOMP headers, which are strings', async () => {
    const q = `/queue/${name('num')}`;
    const c = await client();
    const big = c.subscribe(q, { selector: 'amount > 100 AND region IN (\'eu\', \'us\')' });
    for (const [amount, region] of [[50, 'eu'], [150, 'eu'], [500, 'asia'], [101, 'us']] as const) {
      await c.sendConfirmed(q, `${amount}-${region}`, { amount: String(amount), region });
    }
    assert.deepEqual(await bodies(big, 2), ['150-eu', '101-us']);
    await big.expectNothing(200);
  });

  test('a selector that does not parse is refused at subscribe, pointing at the error', async () => {
    const c = await client();
    c.subscribe(`/queue/${name('bad')}`, { selector: 'price > AND x' });
    await c.closed;
    const error = c.errors[0];
    assert.equal(error?.headers['code'], 'FERRY_SELECTOR_INVALID');
    assert.match(error?.headers['message'] ?? '', /column/);
  });

  test('topic subscriptions filter with their selector', async () => {
    const topic = `/topic/${name('prices')}`;
    const c = await client();
    const cheap = c.subscribe(topic, { selector: 'price < 10', receipt: 'sub-cheap' });
    const ready = new Promise<void>((resolve) => c.client.watchForReceipt('sub-cheap', () => resolve()));
    await ready;
    for (const price of [5, 50, 7]) await c.sendConfirmed(topic, String(price), { price: String(price) });
    assert.deepEqual(await bodies(cheap, 2), ['5', '7']);
  });
});

describe('priority', () => {
  test('higher priority first; equal priority keeps its order', async () => {
    const q = `/queue/${name('prio')}`;
    const c = await client();
    for (const [body, priority] of [['a4', 4], ['b9', 9], ['c1', 1], ['d9', 9], ['e4', 4]] as const) {
      await c.sendConfirmed(q, body, { priority: String(priority) });
    }
    const inbox = c.subscribe(q);
    assert.deepEqual(await bodies(inbox, 5), ['b9', 'd9', 'a4', 'e4', 'c1']);
  });
});

describe('message groups', () => {
  test('a group sticks to one consumer, and moves on when that consumer dies mid-group', async () => {
    const q = `/queue/${name('groups')}`;
    const one = await client();
    const two = await client();
    const inOne = one.subscribe(q, { ack: 'client-individual' });
    const inTwo = two.subscribe(q, { ack: 'client-individual' });
    const producer = await client();
    for (let i = 1; i <= 4; i++) await producer.sendConfirmed(q, `A${i}`, { JMSXGroupID: 'A' });
    // all four go to whichever consumer got A1
    const owner = await Promise.race([inOne.next().then(() => 'one'), inTwo.next().then(() => 'two')]);
    const ownerInbox = owner === 'one' ? inOne : inTwo;
    const otherInbox = owner === 'one' ? inTwo : inOne;
    const rest = await ownerInbox.take(3);
    assert.deepEqual(rest.map((m) => m.headers['JMSXGroupID']), ['A', 'A', 'A']);
    await otherInbox.expectNothing(200);
    // the owner acknowledges two and dies; the other consumer gets the unacknowledged ones and the rest of the group
    rest[0]!.ack();
    const ownerClient = owner === 'one' ? one : two;
    await ownerClient.disconnect();
    await producer.sendConfirmed(q, 'A5', { JMSXGroupID: 'A' });
    const moved = await otherInbox.take(4);
    assert.equal(moved.filter((m) => m.headers['redelivered'] === 'true').length, 3);
    assert.equal(moved[moved.length - 1]!.body, 'A5');
  });
});

describe('dead letters, expiry and redelivery', () => {
  test('a NACKed persistent message goes to ActiveMQ.DLQ with its original destination and the reason', async () => {
    const q = name('poison');
    const c = await client();
    await c.sendConfirmed(`/queue/${q}`, 'bad', { persistent: 'true' });
    const inbox = c.subscribe(`/queue/${q}`, { ack: 'client-individual' });
    const m = await inbox.next();
    m.nack();
    const dlq = c.subscribe('/queue/ActiveMQ.DLQ', { selector: `JMSMessageID = '${m.headers['message-id']}'` });
    const dead = await dlq.next();
    assert.equal(dead.body, 'bad');
    assert.equal(dead.headers['original-destination'], `/queue/${q}`);
    assert.equal(dead.headers['dlqDeliveryFailureCause'], 'rejected by the consumer');
    await inbox.expectNothing(200);
  });

  test('redelivery waits with backoff, then dead-letters past the maximum (individual DLQ by policy)', async () => {
    const q = name('redeliver.orders');
    const c = await client();
    await c.sendConfirmed(`/queue/${q}`, 'retry', { persistent: 'true' });
    const inbox = c.subscribe(`/queue/${q}`, { ack: 'client-individual' });
    const times: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const m = await inbox.next(5000);
      times.push(Date.now());
      assert.equal(m.headers['redelivered'], attempt === 0 ? undefined : 'true');
      const tx = c.client.begin();
      m.ack({ transaction: tx.id });
      tx.abort();
    }
    // rolled back three times: two redeliveries allowed, the third failure dead-letters it
    await inbox.expectNothing(1000);
    const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
    assert.ok(gaps[0]! >= 180 && gaps[0]! < 1500, `first redelivery after ${gaps[0]} ms, policy 200`);
    assert.ok(gaps[1]! >= 380 && gaps[1]! < 2500, `second redelivery after ${gaps[1]} ms, policy 200 x 2`);
    assert.ok(gaps[1]! > gaps[0]!, 'the backoff grows');
    const dead = c.subscribe('/queue/ActiveMQ.DLQ', { selector: "dlqDeliveryFailureCause LIKE 'delivery failed%'" });
    await dead.expectNothing(100);
    const individual = c.subscribe(`/queue/DLQ.${q}`);
    assert.equal((await individual.next()).body, 'retry');
  });

  test('an expired message is never delivered; persistent ones go to the DLQ, also from a queue nobody consumes', async () => {
    const q = name('expiring');
    const c = await client();
    const soon = String(Date.now() + 150);
    await c.sendConfirmed(`/queue/${q}`, 'stale', { persistent: 'true', expires: soon });
    await c.sendConfirmed(`/queue/${q}`, 'fresh', { persistent: 'true' });
    const dlq = c.subscribe('/queue/ActiveMQ.DLQ', { selector: `dlqDeliveryFailureCause = 'expired' AND originalExpiration = ${soon}` });
    const dead = await dlq.next(3000);
    assert.equal(dead.body, 'stale');
    assert.equal(dead.headers['original-destination'], `/queue/${q}`);
    const inbox = c.subscribe(`/queue/${q}`);
    assert.equal((await inbox.next()).body, 'fresh');
    await inbox.expectNothing(200);
  });

  test('a message that expires in a consumer\'s prefetch is not handed to the next consumer', async () => {
    const q = `/queue/${name('prefetch-expiry')}`;
    const first = await client();
    const inbox = first.subscribe(q, { ack: 'client-individual' });
    await first.sendConfirmed(q, 'short-lived', { expires: String(Date.now() + 200) });
    await inbox.next();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first.disconnect();
    const second = await client();
    const later = second.subscribe(q);
    await second.sendConfirmed(q, 'marker');
    assert.equal((await later.next()).body, 'marker');
  });
});

describe('scheduled delivery', () => {
  test('AMQ_SCHEDULED_DELAY holds a message; PERIOD and REPEAT deliver it again', async () => {
    const q = `/queue/${name('scheduled')}`;
    const c = await client();
    const inbox = c.subscribe(q);
    const sent = Date.now();
    await c.sendConfirmed(q, 'later', { AMQ_SCHEDULED_DELAY: '300' });
    const m = await inbox.next(3000);
    assert.ok(Date.now() - sent >= 290, `delivered ${Date.now() - sent} ms after sending, asked 300`);
    assert.equal(m.body, 'later');
    await c.sendConfirmed(q, 'tick', { AMQ_SCHEDULED_PERIOD: '100', AMQ_SCHEDULED_REPEAT: '2' });
    const ticks = await inbox.take(3, 3000);
    assert.deepEqual(ticks.map((t) => t.body), ['tick', 'tick', 'tick']);
    assert.equal(new Set(ticks.map((t) => t.headers['message-id'])).size, 3, 'each repeat has its own id');
    await inbox.expectNothing(300);
  });

  test('AMQ_SCHEDULED_REPEAT alone schedules nothing: the message is delivered once, without a scheduledJobId', async () => {
    const q = `/queue/${name('repeat-only')}`;
    const c = await client();
    const inbox = c.subscribe(q);
    await c.sendConfirmed(q, 'once', { AMQ_SCHEDULED_REPEAT: '3' });
    const m = await inbox.next(3000);
    assert.equal(m.body, 'once');
    assert.equal(m.headers['scheduledJobId'], undefined);
    await c.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next(3000)).body, 'marker', 'nothing came between the message and the marker sent after it');
    await inbox.expectNothing(300);
  });

  test('an AMQ_SCHEDULED_CRON that is not a cron expression is refused', async () => {
    const c = await client();
    c.client.publish({ destination: `/queue/${name('cron')}`, body: 'x', headers: { AMQ_SCHEDULED_CRON: 'every tuesday', receipt: 'cron' } });
    await c.closed;
    assert.match(c.errors[0]?.headers['message'] ?? '', /AMQ_SCHEDULED_CRON/);
  });
});

describe('exactly-once publishing', () => {
  test('a resend with the same _AMQ_DUPL_ID is acknowledged but not enqueued again', async () => {
    const q = `/queue/${name('dupes')}`;
    const c = await client();
    await c.sendConfirmed(q, 'pay 10', { _AMQ_DUPL_ID: 'payment-1', persistent: 'true' });
    await c.sendConfirmed(q, 'pay 10', { _AMQ_DUPL_ID: 'payment-1', persistent: 'true' });
    await c.sendConfirmed(q, 'pay 20', { _AMQ_DUPL_ID: 'payment-2', persistent: 'true' });
    const inbox = c.subscribe(q);
    assert.deepEqual(await bodies(inbox, 2), ['pay 10', 'pay 20']);
    await inbox.expectNothing(200);
  });
});

describe('virtual topics and composite destinations', () => {
  test('VirtualTopic.X feeds every Consumer.<group>.VirtualTopic.X queue; consumers of one group compete', async () => {
    const topic = name('VirtualTopic.orders');
    const c = await client();
    const a1 = c.subscribe(`/queue/Consumer.A.${topic}`);
    const a2 = c.subscribe(`/queue/Consumer.A.${topic}`);
    const b = c.subscribe(`/queue/Consumer.B.${topic}`, { receipt: 'vt-sub' });
    await new Promise<void>((resolve) => c.client.watchForReceipt('vt-sub', () => resolve()));
    for (let i = 1; i <= 4; i++) await c.sendConfirmed(`/topic/${topic}`, `o${i}`);
    assert.deepEqual(await bodies(b, 4), ['o1', 'o2', 'o3', 'o4']);
    const groupA = [...(await a1.take(2)), ...(await a2.take(2))].map((m) => m.body).sort();
    assert.deepEqual(groupA, ['o1', 'o2', 'o3', 'o4']);
  });

  test('a comma-separated destination and a configured composite deliver to each part', async () => {
    const c = await client();
    const x = name('cx');
    const y = name('cy');
    await c.sendConfirmed(`/queue/${x},/queue/${y}`, 'both');
    assert.equal((await c.subscribe(`/queue/${x}`).next()).body, 'both');
    assert.equal((await c.subscribe(`/queue/${y}`).next()).body, 'both');
    const topic = c.subscribe('/topic/fanout.two', { receipt: 'fan' });
    await new Promise<void>((resolve) => c.client.watchForReceipt('fan', () => resolve()));
    await c.sendConfirmed('/queue/fanout.both', 'forwarded');
    assert.equal((await topic.next()).body, 'forwarded');
    assert.equal((await c.subscribe('/queue/fanout.one').next()).body, 'forwarded');
  });
});

describe('wildcard queues', () => {
  test('SUBSCRIBE to /queue/x.* receives from x.a, which existed, and x.b, made after; a client ACK covers both', async () => {
    const base = name('wq');
    const c = await client();
    await c.sendConfirmed(`/queue/${base}.a`, 'from a');
    const all = c.subscribe(`/queue/${base}.*`, { ack: 'client', receipt: 'wq-sub' });
    await new Promise<void>((resolve) => c.client.watchForReceipt('wq-sub', () => resolve()));
    await c.sendConfirmed(`/queue/${base}.b`, 'from b');
    await c.sendConfirmed(`/queue/${base}.b.deep`, 'too deep');
    const got = await all.take(2);
    assert.deepEqual(got.map((m) => [m.headers['destination'], m.body]).sort(), [
      [`/queue/${base}.a`, 'from a'],
      [`/queue/${base}.b`, 'from b'],
    ]);
    got[1]!.ack();
    await c.disconnect();
    // what the ACK covered is gone from both queues; the marker is the first thing a new subscriber gets
    const again = await client();
    const next = again.subscribe(`/queue/${base}.*`);
    await again.sendConfirmed(`/queue/${base}.a`, 'marker');
    assert.equal((await next.next()).body, 'marker');
    assert.equal((await again.subscribe(`/queue/${base}.b.deep`).next()).body, 'too deep');
  });
});

describe('browsing and last-value queues', () => {
  test('a browser:true subscription sees the waiting messages, then browser:end, and consumes nothing', async () => {
    const q = `/queue/${name('browse')}`;
    const c = await client();
    for (const body of ['one', 'two']) await c.sendConfirmed(q, body);
    const view = c.subscribe(q, { browser: 'true' });
    const [one, two, end] = await view.take(3);
    assert.deepEqual([one!.body, two!.body], ['one', 'two']);
    assert.equal(end!.headers['browser'], 'end');
    assert.equal(end!.body, '');
    assert.deepEqual(await bodies(c.subscribe(q), 2), ['one', 'two']);
  });

  test('an ACK or NACK of a browsed message (STOMP 1.2, by its ack header) gets its receipt and leaves it in the queue, as with ActiveMQ', async () => {
    const q = `/queue/${name('browse-ack')}`;
    const c = await client();
    for (const body of ['one', 'two']) await c.sendConfirmed(q, body);
    const view = c.subscribe(q, { browser: 'true', ack: 'client-individual' });
    const [one, two, end] = await view.take(3);
    assert.equal(end!.headers['browser'], 'end');
    assert.ok(one!.headers['ack'] !== undefined, 'a browsed message has an ack header to name it by');
    await within(5000, 'the receipt of the ACK', withReceipt(c, (headers) => one!.ack(headers)));
    await within(5000, 'the receipt of the NACK', withReceipt(c, (headers) => two!.nack(headers)));
    assert.equal(c.errors.length, 0);
    assert.deepEqual(await bodies(c.subscribe(q), 2), ['one', 'two']);
  });

  for (const version of ['1.0', '1.1'] as const) {
    test(`an ACK of a browsed message by message-id (STOMP ${version}) gets its receipt and leaves it in the queue`, async () => {
      const q = `/queue/${name('browse-ack')}`;
      const producer = await client();
      for (const body of ['one', 'two']) await producer.sendConfirmed(q, body);
      const r = await RawStompClient.open(broker.stompPort);
      try {
        await r.connect({ 'accept-version': version });
        await r.send('SUBSCRIBE', { destination: q, id: 'view', browser: 'true', ack: 'client' });
        const browsed = [await r.nextFrame(), await r.nextFrame()];
        assert.equal((await r.nextFrame()).headers.get('browser'), 'end');
        for (const m of browsed) {
          const messageId = unescapeValue(m.headers.get('message-id')!);
          // 1.0 names the message alone; 1.1 needs the subscription too
          await r.sendWithReceipt('ACK', version === '1.0' ? { 'message-id': messageId } : { 'message-id': escapeValue(messageId), subscription: 'view' });
        }
        assert.ok(r.isOpen);
      } finally {
        r.destroy();
      }
      assert.deepEqual(await bodies(producer.subscribe(q), 2), ['one', 'two']);
    });
  }

  test('a last-value queue keeps only the newest waiting message per key', async () => {
    const q = `/queue/${name('lvq.prices')}`;
    const c = await client();
    for (const [body, symbol] of [['A@1', 'A'], ['B@1', 'B'], ['A@2', 'A'], ['A@3', 'A']] as const) await c.sendConfirmed(q, body, { symbol });
    const inbox = c.subscribe(q);
    assert.deepEqual(await bodies(inbox, 2), ['B@1', 'A@3']);
    await inbox.expectNothing(200);
  });
});

describe('across a restart', () => {
  test('scheduled messages and duplicate ids survive a broker restart', async () => {
    const store = new MemoryStore();
    const first = await startBroker({}, { store });
    const c1 = await connectStomp(first.stompPort);
    const sent = Date.now();
    await c1.sendConfirmed('/queue/restart.scheduled', 'after restart', { persistent: 'true', AMQ_SCHEDULED_DELAY: '700' });
    await c1.sendConfirmed('/queue/restart.dupes', 'once', { persistent: 'true', _AMQ_DUPL_ID: 'x-1' });
    await c1.disconnect();
    await first.stop();

    const second = await startBroker({}, { store });
    try {
      const c2 = await connectStomp(second.stompPort);
      await c2.sendConfirmed('/queue/restart.dupes', 'once', { persistent: 'true', _AMQ_DUPL_ID: 'x-1' });
      const dupes = c2.subscribe('/queue/restart.dupes');
      assert.equal((await dupes.next()).body, 'once');
      await dupes.expectNothing(200);
      const scheduled = c2.subscribe('/queue/restart.scheduled');
      const m = await scheduled.next(5000);
      assert.equal(m.body, 'after restart');
      assert.ok(Date.now() - sent >= 690, 'not before its time');
      await c2.disconnect();
    } finally {
      await second.stop();
    }
  });
});
