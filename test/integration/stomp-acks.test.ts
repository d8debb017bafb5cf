import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import { connectStomp, type Inbox, type StompTestClient } from '../helpers/stomp.js';
import { stompFixture } from '../helpers/stomp-fixture.js';
import { startBroker } from '../helpers/broker.js';
import { RawStompClient, subscribeConfirmed, uniqueName, withReceipt, within } from '../helpers/raw-stomp.js';

const fixture = stompFixture();
const client = (): Promise<StompTestClient> => fixture.client();

function queue(name: string): string {
  return `/queue/${uniqueName(name)}`;
}

async function sendAll(c: StompTestClient, destination: string, bodies: string[]): Promise<void> {
  for (const body of bodies) await c.sendConfirmed(destination, body);
}

function bodies(messages: IMessage[]): string[] {
  return messages.map((m) => m.body);
}

async function ack(c: StompTestClient, m: IMessage): Promise<void> {
  await withReceipt(c, (headers) => m.ack(headers));
}

/** Takes `n` messages and checks that each is marked as redelivered. */
async function takeRedelivered(inbox: Inbox, n: number): Promise<string[]> {
  const messages = await inbox.take(n);
  for (const m of messages) assert.equal(m.headers['redelivered'], 'true', `${m.body} should be marked redelivered`);
  return bodies(messages);
}

describe('ack modes', () => {
  test('ack:client is cumulative: acknowledging the 3rd acknowledges the 1st and 2nd', async () => {
    const q = queue('client-ack');
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q, { ack: 'client' });
    await sendAll(consumer, q, ['m1', 'm2', 'm3', 'm4', 'm5']);
    const received = await inbox.take(5);
    assert.deepEqual(bodies(received), ['m1', 'm2', 'm3', 'm4', 'm5']);
    await ack(consumer, received[2]!);
    await consumer.disconnect();

    const next = await client();
    const again = next.subscribe(q);
    assert.deepEqual(await takeRedelivered(again, 2), ['m4', 'm5']);
    await next.sendConfirmed(q, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });

  test('ack:client-individual acknowledges only the message named', async () => {
    const q = queue('individual-ack');
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q, { ack: 'client-individual' });
    await sendAll(consumer, q, ['m1', 'm2', 'm3']);
    const received = await inbox.take(3);
    await ack(consumer, received[1]!);
    await consumer.disconnect();

    const next = await client();
    const again = next.subscribe(q);
    assert.deepEqual(await takeRedelivered(again, 2), ['m1', 'm3']);
    await next.sendConfirmed(q, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });

  test('ack:auto needs no ACK: nothing comes back after a disconnect', async () => {
    const q = queue('auto-ack');
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    await sendAll(consumer, q, ['m1', 'm2']);
    await inbox.take(2);
    await consumer.disconnect();
    const next = await client();
    const again = next.subscribe(q);
    await next.sendConfirmed(q, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });

  test('STOMP 1.2 MESSAGE frames carry an ack header for client and client-individual, not for auto', async () => {
    const c = await client();
    for (const mode of ['client', 'client-individual', 'auto']) {
      const q = queue(`ack-header.${mode}`);
      const inbox = await subscribeConfirmed(c, q, { ack: mode });
      await c.sendConfirmed(q, mode);
      const m = await inbox.next();
      if (mode === 'auto') assert.equal(m.headers['ack'], undefined);
      else {
        assert.ok((m.headers['ack'] ?? '').length > 0, `ack header for ack:${mode}`);
        await ack(c, m);
      }
    }
  });

  test('an unknown ack mode is refused', async () => {
    const c = await client();
    c.subscribe(queue('bad-mode'), { ack: 'sometimes' });
    await within(3000, 'close after a bad ack mode', c.closed);
    assert.equal(c.errors[0]?.headers['code'], 'FERRY_STOMP_PROTOCOL');
  });
});

describe('acknowledgements by older protocol versions', () => {
  for (const version of ['1.0', '1.1'] as const) {
    test(`stompjs over STOMP ${version} acknowledges by message-id`, async () => {
      const q = queue(`ack-${version}`);
      const c = await fixture.client({ version });
      assert.equal(c.connected.headers['version'], version);
      const inbox = await subscribeConfirmed(c, q, { ack: 'client' });
      for (const body of ['m1', 'm2', 'm3']) await c.sendConfirmed(q, body);
      const received = await inbox.take(3);
      assert.equal(received[0]?.headers['ack'], undefined, `no ack header in STOMP ${version}`);
      await ack(c, received[1]!);
      await c.disconnect();
      const next = await client();
      const again = next.subscribe(q);
      assert.deepEqual(await takeRedelivered(again, 1), ['m3']);
      await next.sendConfirmed(q, 'marker');
      assert.equal((await again.next()).body, 'marker');
    });
  }
});

/** Reads the shared dead-letter queue until a message with `body` arrives; others are left acknowledged. */
async function fromDeadLetters(c: StompTestClient, body: string): Promise<IMessage> {
  const dlq = c.subscribe('/queue/ActiveMQ.DLQ');
  for (;;) {
    const m = await dlq.next();
    if (m.body === body) {
      dlq.subscription.unsubscribe();
      return m;
    }
  }
}

// ActiveMQ takes a STOMP NACK as a poison acknowledgement: the message goes to the dead-letter
// queue (ActiveMQ.DLQ by default) and is not redelivered; non-persistent messages are dropped
describe('NACK', () => {
  test('a NACKed persistent message goes to ActiveMQ.DLQ, not back to the consumer', async () => {
    const q = queue('nack');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'poison', { persistent: 'true', reason: 'bad' });
    const m = await inbox.next();
    await withReceipt(c, (headers) => m.nack(headers));
    await c.sendConfirmed(q, 'marker');
    const next = await inbox.next();
    assert.equal(next.body, 'marker', 'the NACKed message is not redelivered');
    await ack(c, next);

    const dead = await fromDeadLetters(c, 'poison');
    assert.equal(dead.headers['original-destination'], q);
    assert.equal(dead.headers['destination'], '/queue/ActiveMQ.DLQ');
    assert.equal(dead.headers['persistent'], 'true');
    assert.equal(dead.headers['reason'], 'bad', 'user properties are kept');
  });

  test('a NACKed non-persistent message is dropped, not dead-lettered', async () => {
    const q = queue('nack-transient');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'transient poison');
    await c.sendConfirmed(q, 'persistent poison', { persistent: 'true' });
    const [first, second] = await inbox.take(2);
    await withReceipt(c, (headers) => first!.nack(headers));
    await withReceipt(c, (headers) => second!.nack(headers));
    const dlq = c.subscribe('/queue/ActiveMQ.DLQ');
    const seen: string[] = [];
    for (;;) {
      const m = await dlq.next();
      seen.push(m.body);
      if (m.body === 'persistent poison') break;
    }
    assert.equal(seen.includes('transient poison'), false);
  });

  test('NACK in client mode refuses only the message named', async () => {
    const q = queue('nack-client');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client' });
    for (const body of ['m1', 'm2']) await c.sendConfirmed(q, body, { persistent: 'true' });
    const [m1, m2] = await inbox.take(2);
    await withReceipt(c, (headers) => m2!.nack(headers));
    await c.disconnect();
    const next = await client();
    const again = next.subscribe(q);
    const back = await again.next();
    assert.equal(back.body, 'm1', 'm1 was neither acknowledged nor refused');
    assert.equal(back.headers['redelivered'], 'true');
    assert.equal(m1!.body, 'm1');
  });
});

// A NACK frees the prefetch slot as an ACK does, whether or not it asks for a receipt
describe('NACK and prefetch', () => {
  for (const withReceiptHeader of [false, true]) {
    const label = withReceiptHeader ? 'with a receipt' : 'without a receipt';
    test(`raw frames: NACK ${label} lets the next persistent message through a prefetch of 1`, async () => {
      const q = queue('nack-prefetch-raw');
      const { raw } = await RawStompClient.connected(fixture.broker().stompPort);
      try {
        for (const body of ['first', 'second']) await raw.sendWithReceipt('SEND', { destination: q, persistent: 'true' }, body);
        await raw.sendWithReceipt('SUBSCRIBE', { id: 's1', destination: q, ack: 'client-individual', 'activemq.prefetchSize': '1' });
        const first = await raw.nextFrameOf('MESSAGE');
        assert.equal(first.body.toString(), 'first');
        const ackId = first.headers.get('ack')!;
        await raw.send('NACK', withReceiptHeader ? { id: ackId, receipt: 'nack-1' } : { id: ackId });
        // the freed slot is filled at once, so the next MESSAGE may come before the RECEIPT
        const frames = [await raw.nextFrame(), ...(withReceiptHeader ? [await raw.nextFrame()] : [])];
        const second = frames.find((f) => f.command === 'MESSAGE');
        assert.equal(second?.body.toString(), 'second');
        assert.equal(second.headers.get('subscription'), 's1');
        if (withReceiptHeader) assert.ok(frames.some((f) => f.command === 'RECEIPT' && f.headers.get('receipt-id') === 'nack-1'), 'the RECEIPT comes too');
      } finally {
        raw.destroy();
      }
    });

    test(`@stomp/stompjs: NACK ${label} lets the next persistent message through a prefetch of 1`, async () => {
      const q = queue('nack-prefetch-stompjs');
      const c = await client();
      for (const body of ['first', 'second']) await c.sendConfirmed(q, body, { persistent: 'true' });
      const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual', 'activemq.prefetchSize': '1' });
      const first = await inbox.next();
      assert.equal(first.body, 'first');
      if (withReceiptHeader) await withReceipt(c, (headers) => first.nack(headers));
      else first.nack();
      const second = await within(3000, 'the second message after the NACK', inbox.next());
      assert.equal(second.body, 'second');
      await ack(c, second);
    });
  }
});

describe('receipts of acknowledgements', () => {
  for (const command of ['ACK', 'NACK']) {
    test(`${command} with a receipt: the RECEIPT comes before the message the freed prefetch slot lets through, as ActiveMQ orders them`, async () => {
      const q = queue(`receipt-order-${command.toLowerCase()}`);
      const { raw } = await RawStompClient.connected(fixture.broker().stompPort);
      try {
        for (const body of ['first', 'second']) await raw.sendWithReceipt('SEND', { destination: q, persistent: 'true' }, body);
        await raw.sendWithReceipt('SUBSCRIBE', { id: 's1', destination: q, ack: 'client-individual', 'activemq.prefetchSize': '1' });
        const first = await raw.nextFrameOf('MESSAGE');
        await raw.send(command, { id: first.headers.get('ack')!, receipt: 'done-1' });
        const receipt = await raw.nextFrame();
        assert.equal(receipt.command, 'RECEIPT');
        assert.equal(receipt.headers.get('receipt-id'), 'done-1');
        const second = await raw.nextFrame();
        assert.equal(second.command, 'MESSAGE');
        assert.equal(second.body.toString(), 'second');
      } finally {
        raw.destroy();
      }
    });
  }
});

describe('bad acknowledgements', () => {
  test('an ACK of an unknown id gets an ERROR and the connection is closed', async () => {
    const c = await client();
    const q = queue('unknown-ack');
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    c.client.ack('no-such-ack-id', inbox.subscription.id, { receipt: 'ack-1' });
    await within(3000, 'close after an unknown ack id', c.closed);
    const error = c.errors[0];
    assert.equal(error?.command, 'ERROR');
    assert.equal(error?.headers['code'], 'FERRY_DELIVERY_NOT_FOUND');
    assert.equal(error?.headers['receipt-id'], 'ack-1');
    assert.ok((error?.headers['message'] ?? '').includes('no-such-ack-id'));
  });

  test('acknowledging the same message twice is an error', async () => {
    const c = await client();
    const q = queue('double-ack');
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'once');
    const m = await inbox.next();
    await ack(c, m);
    m.ack();
    await within(3000, 'close after a second ACK', c.closed);
    assert.equal(c.errors[0]?.headers['code'], 'FERRY_DELIVERY_NOT_FOUND');
  });

  test('an ACK on an ack:auto subscription is an error', async () => {
    const q = queue('ack-auto');
    const { raw } = await RawStompClient.connected(fixture.broker().stompPort, { 'accept-version': '1.1' });
    await raw.sendWithReceipt('SUBSCRIBE', { destination: q, id: 'auto-1', ack: 'auto' });
    await raw.send('SEND', { destination: q }, 'x');
    const m = await raw.nextFrame();
    assert.equal(m.command, 'MESSAGE');
    await raw.send('ACK', { 'message-id': m.headers.get('message-id')!, subscription: 'auto-1' });
    const frames = await raw.untilClosed();
    assert.equal(frames[0]?.command, 'ERROR');
    assert.ok(['FERRY_STOMP_PROTOCOL', 'FERRY_DELIVERY_NOT_FOUND'].includes(frames[0]?.headers.get('code') ?? ''), frames[0]?.headers.get('code'));
  });

  test('an ACK whose id names another connection’s delivery is refused', async () => {
    const q = queue('foreign-ack');
    const owner = await client();
    const inbox = await subscribeConfirmed(owner, q, { ack: 'client-individual' });
    await owner.sendConfirmed(q, 'mine');
    const m = await inbox.next();
    const thief = await client();
    const theirs = await subscribeConfirmed(thief, queue('foreign-ack.other'), { ack: 'client-individual' });
    thief.client.ack(m.headers['ack']!, theirs.subscription.id);
    await within(3000, 'close after acking a foreign delivery', thief.closed);
    assert.equal(thief.errors[0]?.headers['code'], 'FERRY_DELIVERY_NOT_FOUND');
    // the owner still holds it and may acknowledge it
    await ack(owner, m);
  });
});

describe('prefetch and dispatch', () => {
  test('with activemq.prefetchSize:1 the 2nd message comes only after the 1st is acknowledged', async () => {
    const q = queue('prefetch-1');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client', 'activemq.prefetchSize': '1' });
    await sendAll(c, q, ['m1', 'm2', 'm3']);
    const m1 = await inbox.next();
    assert.equal(m1.body, 'm1');
    await inbox.expectNothing(300);
    await ack(c, m1);
    const m2 = await inbox.next();
    assert.equal(m2.body, 'm2');
    await inbox.expectNothing(150);
    await ack(c, m2);
    assert.equal((await inbox.next()).body, 'm3');
  });

  test('with activemq.prefetchSize:2 two messages are in flight at most', async () => {
    const q = queue('prefetch-2');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual', 'activemq.prefetchSize': '2' });
    await sendAll(c, q, ['m1', 'm2', 'm3', 'm4']);
    const [m1, m2] = await inbox.take(2);
    await inbox.expectNothing(300);
    await ack(c, m2!);
    assert.equal((await inbox.next()).body, 'm3');
    await inbox.expectNothing(150);
    await ack(c, m1!);
    assert.equal((await inbox.next()).body, 'm4');
  });

  test('without activemq.prefetchSize a subscription gets stomp.defaultPrefetch', async () => {
    const small = await startBroker({ 'stomp.defaultPrefetch': 2 });
    try {
      const q = queue('default-prefetch');
      const c = await connectStomp(small.stompPort);
      const inbox = await subscribeConfirmed(c, q, { ack: 'client' });
      for (const body of ['m1', 'm2', 'm3']) await c.sendConfirmed(q, body);
      const [, m2] = await inbox.take(2);
      await inbox.expectNothing(250);
      await ack(c, m2!);
      assert.equal((await inbox.next()).body, 'm3');
      await c.disconnect();
    } finally {
      await small.stop();
    }
  });

  test('500 messages through a prefetch of 10 arrive once each, in order', async () => {
    const q = queue('many');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual', 'activemq.prefetchSize': '10' });
    const raw = (await RawStompClient.connected(fixture.broker().stompPort)).raw;
    const frames: Buffer[] = [];
    for (let i = 0; i < 500; i++) frames.push(Buffer.from(`SEND\ndestination:${q}\n\nm${i}\0`));
    await raw.write(Buffer.concat(frames));
    const got: string[] = [];
    for (let i = 0; i < 500; i++) {
      const m = await inbox.next();
      got.push(m.body);
      m.ack();
    }
    assert.deepEqual(got, Array.from({ length: 500 }, (_v, i) => `m${i}`));
    await c.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
    raw.destroy();
  });

  test('a bad activemq.prefetchSize is refused', async () => {
    const c = await client();
    c.subscribe(queue('bad-prefetch'), { 'activemq.prefetchSize': 'lots' });
    await within(3000, 'close after a bad prefetch', c.closed);
    assert.equal(c.errors[0]?.headers['code'], 'FERRY_STOMP_PROTOCOL');
  });

  test('two consumers on a queue share its messages round robin', async () => {
    const q = queue('round-robin');
    const a = await client();
    const b = await client();
    const inboxA = await subscribeConfirmed(a, q);
    const inboxB = await subscribeConfirmed(b, q);
    await sendAll(a, q, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    const gotA = bodies(await inboxA.take(3));
    const gotB = bodies(await inboxB.take(3));
    assert.deepEqual([...gotA, ...gotB].sort(), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    // turns alternate: one consumer has the odd ones, the other the even ones
    const odd = ['m1', 'm3', 'm5'];
    const even = ['m2', 'm4', 'm6'];
    assert.ok(
      (JSON.stringify(gotA) === JSON.stringify(odd) && JSON.stringify(gotB) === JSON.stringify(even)) ||
        (JSON.stringify(gotA) === JSON.stringify(even) && JSON.stringify(gotB) === JSON.stringify(odd)),
      `A got ${gotA.join(',')}, B got ${gotB.join(',')}`,
    );
  });

  test('a consumer whose prefetch is full is skipped; the other takes the rest', async () => {
    const q = queue('full-prefetch');
    const slow = await client();
    const fast = await client();
    const slowInbox = await subscribeConfirmed(slow, q, { ack: 'client', 'activemq.prefetchSize': '1' });
    const fastInbox = await subscribeConfirmed(fast, q);
    await sendAll(slow, q, ['m1', 'm2', 'm3', 'm4', 'm5']);
    const slowFirst = await slowInbox.next();
    const fastGot = bodies(await fastInbox.take(4));
    assert.deepEqual([slowFirst.body, ...fastGot].sort(), ['m1', 'm2', 'm3', 'm4', 'm5']);
    await slowInbox.expectNothing(150);
    await ack(slow, slowFirst);
  });

  test('an activemq.priority that is not an integer is refused, not taken as 0', async () => {
    const { raw } = await RawStompClient.connected(fixture.broker().stompPort);
    try {
      await raw.send('SUBSCRIBE', { id: 's', destination: queue('bad-priority'), 'activemq.priority': 'high', receipt: 'sub' });
      const frames = await raw.untilClosed();
      const error = frames.find((f) => f.command === 'ERROR');
      assert.equal(error?.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
      assert.match(error.headers.get('message') ?? '', /activemq\.priority/);
    } finally {
      raw.destroy();
    }
  });

  test('a consumer with a higher activemq.priority gets the messages while it has room', async () => {
    const q = queue('consumer-priority');
    const low = await client();
    const high = await client();
    const lowInbox = await subscribeConfirmed(low, q, { 'activemq.priority': '1' });
    const highInbox = await subscribeConfirmed(high, q, { 'activemq.priority': '9' });
    await sendAll(low, q, ['m1', 'm2', 'm3', 'm4']);
    assert.deepEqual(bodies(await highInbox.take(4)), ['m1', 'm2', 'm3', 'm4']);
    await lowInbox.expectNothing(200);
  });
});

describe('redelivery', () => {
  test('a consumer that disconnects without acknowledging: its messages go to another, redelivered, in order', async () => {
    const q = queue('redeliver-disconnect');
    const first = await client();
    const inbox = await subscribeConfirmed(first, q, { ack: 'client-individual' });
    await sendAll(first, q, ['m1', 'm2', 'm3']);
    await inbox.take(3);
    const second = await client();
    const secondInbox = await subscribeConfirmed(second, q, { ack: 'client-individual' });
    await secondInbox.expectNothing(100);
    await first.disconnect();
    const again = await secondInbox.take(3);
    assert.deepEqual(bodies(again), ['m1', 'm2', 'm3']);
    for (const m of again) assert.equal(m.headers['redelivered'], 'true');
    for (const m of again) await ack(second, m);
  });

  test('a consumer whose socket drops: its messages go to another, redelivered', async () => {
    const q = queue('redeliver-drop');
    const first = await client();
    const inbox = await subscribeConfirmed(first, q, { ack: 'client' });
    await sendAll(first, q, ['m1', 'm2']);
    await inbox.take(2);
    const second = await client();
    const secondInbox = await subscribeConfirmed(second, q);
    first.client.forceDisconnect();
    await first.closed;
    assert.deepEqual(await takeRedelivered(secondInbox, 2), ['m1', 'm2']);
  });

  test('a consumer that unsubscribes without acknowledging: its messages go to another, redelivered', async () => {
    const q = queue('redeliver-unsubscribe');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client' });
    await sendAll(c, q, ['m1', 'm2']);
    await inbox.take(2);
    const other = await client();
    const otherInbox = await subscribeConfirmed(other, q);
    await withReceipt(c, (headers) => inbox.subscription.unsubscribe(headers));
    assert.deepEqual(await takeRedelivered(otherInbox, 2), ['m1', 'm2']);
  });

  test('redelivered messages keep their place ahead of messages not yet delivered', async () => {
    const q = queue('redeliver-order');
    const first = await client();
    const inbox = await subscribeConfirmed(first, q, { ack: 'client', 'activemq.prefetchSize': '2' });
    await sendAll(first, q, ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.deepEqual(bodies(await inbox.take(2)), ['m1', 'm2']);
    await first.disconnect();
    const second = await client();
    const again = await second.subscribe(q).take(5);
    assert.deepEqual(bodies(again), ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.deepEqual(again.map((m) => m.headers['redelivered']), ['true', 'true', undefined, undefined, undefined]);
  });

  test('unacknowledged messages of a closing connection are not handed to its own ack:auto subscription', async () => {
    const q = queue('redeliver-same-connection');
    const leaving = await client();
    // one connection, two subscriptions on one queue: they take turns
    const clientAck = await subscribeConfirmed(leaving, q, { ack: 'client-individual' });
    const autoAck = await subscribeConfirmed(leaving, q);
    await leaving.sendConfirmed(q, 'm1');
    await leaving.sendConfirmed(q, 'm2');
    assert.equal((await clientAck.next()).body, 'm1');
    assert.equal((await autoAck.next()).body, 'm2');
    await leaving.disconnect();

    const next = await client();
    const inbox = next.subscribe(q);
    await next.sendConfirmed(q, 'marker');
    const first = await inbox.next();
    assert.equal(first.body, 'm1', 'the unacknowledged m1 must come back before the marker');
    assert.equal(first.headers['redelivered'], 'true');
  });

  test('unacknowledged messages of a dropped connection are not handed to its own ack:auto subscription', async () => {
    const q = queue('redeliver-same-connection-drop');
    const leaving = await client();
    const clientAck = await subscribeConfirmed(leaving, q, { ack: 'client' });
    const autoAck = await subscribeConfirmed(leaving, q);
    await leaving.sendConfirmed(q, 'm1');
    await leaving.sendConfirmed(q, 'm2');
    assert.equal((await clientAck.next()).body, 'm1');
    assert.equal((await autoAck.next()).body, 'm2');
    leaving.client.forceDisconnect();
    await leaving.closed;

    const next = await client();
    const inbox = next.subscribe(q);
    await next.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'm1', 'the unacknowledged m1 must come back before the marker');
  });

  test('a message redelivered twice is still marked redelivered and arrives once per delivery', async () => {
    const q = queue('redeliver-twice');
    const producer = await client();
    await producer.sendConfirmed(q, 'bounce');
    for (let round = 0; round < 2; round++) {
      const c = await client();
      const m = await c.subscribe(q, { ack: 'client' }).next();
      assert.equal(m.body, 'bounce');
      if (round > 0) assert.equal(m.headers['redelivered'], 'true');
      await c.disconnect();
    }
    const last = await client();
    const inbox = last.subscribe(q, { ack: 'client' });
    const m = await inbox.next();
    assert.equal(m.headers['redelivered'], 'true');
    await ack(last, m);
    await last.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });
});

describe('exclusive consumers', () => {
  test('an exclusive consumer gets every message while it lives; then the other consumer does', async () => {
    const q = queue('exclusive');
    const plain = await client();
    const exclusive = await client();
    const plainInbox = await subscribeConfirmed(plain, q);
    const exclusiveInbox = await subscribeConfirmed(exclusive, q, { 'activemq.exclusive': 'true' });
    await sendAll(plain, q, ['m1', 'm2', 'm3', 'm4']);
    assert.deepEqual(bodies(await exclusiveInbox.take(4)), ['m1', 'm2', 'm3', 'm4']);
    await plainInbox.expectNothing(200);
    await exclusive.disconnect();
    await sendAll(plain, q, ['m5', 'm6']);
    assert.deepEqual(bodies(await plainInbox.take(2)), ['m5', 'm6']);
  });

  test('when an exclusive consumer leaves, what it had not acknowledged goes to the next one, redelivered', async () => {
    const q = queue('exclusive-unacked');
    const exclusive = await client();
    const plain = await client();
    const exclusiveInbox = await subscribeConfirmed(exclusive, q, { 'activemq.exclusive': 'true', ack: 'client' });
    const plainInbox = await subscribeConfirmed(plain, q);
    await sendAll(plain, q, ['m1', 'm2', 'm3']);
    const got = await exclusiveInbox.take(3);
    await ack(exclusive, got[0]!);
    await plainInbox.expectNothing(100);
    await exclusive.disconnect();
    assert.deepEqual(await takeRedelivered(plainInbox, 2), ['m2', 'm3']);
  });

  test('of two exclusive consumers the first keeps the queue; the second takes over when it leaves', async () => {
    const q = queue('exclusive-two');
    const first = await client();
    const second = await client();
    const firstInbox = await subscribeConfirmed(first, q, { 'activemq.exclusive': 'true' });
    const secondInbox = await subscribeConfirmed(second, q, { 'activemq.exclusive': 'true' });
    await sendAll(first, q, ['m1', 'm2']);
    assert.deepEqual(bodies(await firstInbox.take(2)), ['m1', 'm2']);
    await secondInbox.expectNothing(150);
    await first.disconnect();
    await sendAll(second, q, ['m3']);
    assert.equal((await secondInbox.next()).body, 'm3');
  });
});
