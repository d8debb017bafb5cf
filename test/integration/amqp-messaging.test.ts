import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventContext } from 'rhea';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, rhea, type AmqpTestClient } from '../helpers/amqp.js';
import { within } from '../helpers/raw-stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'amqp.maxFrameSize': 16 * 1024 });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await broker.stop();
});

const clients: AmqpTestClient[] = [];
async function client(options: Parameters<typeof connectAmqp>[1] = {}): Promise<AmqpTestClient> {
  const c = await connectAmqp(broker.amqpPort, options);
  clients.push(c);
  return c;
}

let counter = 0;
function unique(name: string): string {
  return `amqp.${name}.${Date.now().toString(36)}${counter++}`;
}

function bodies(items: { message: { body?: unknown } }[]): unknown[] {
  return items.map((i) => i.message.body);
}

/** Waits for the receiver's flow to reach the broker, so that what follows is dispatched to it. */
function settle(ms = 50): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('queues', () => {
  test('messages sent before any consumer wait, in order, and a plain address is a queue', async () => {
    const q = unique('kept');
    const producer = await client();
    const sender = await producer.openSender(q);
    for (let i = 0; i < 5; i++) assert.deepEqual(await producer.send(sender, { body: `m${i}`, durable: i % 2 === 0 }), { state: 'accepted' });
    await producer.close();
    const consumer = await client();
    const { inbox } = await consumer.openReceiver(`queue://${q}`);
    assert.deepEqual(bodies(await inbox.take(5)), ['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  test('a receiver whose source is a wildcard queue takes from every queue it matches, existing or made after', async () => {
    const base = unique('wild');
    const producer = await client();
    const a = await producer.openSender(`${base}.a`);
    assert.deepEqual(await producer.send(a, { body: 'from a' }), { state: 'accepted' });
    const consumer = await client();
    const { inbox } = await consumer.openReceiver(`queue://${base}.*`);
    const b = await producer.openSender(`${base}.b`);
    assert.deepEqual(await producer.send(b, { body: 'from b' }), { state: 'accepted' });
    assert.deepEqual(bodies(await inbox.take(2)).sort(), ['from a', 'from b']);
  });

  test('each queue message goes to one consumer; consumers take turns', async () => {
    const q = unique('competing');
    const c = await client();
    const a = await c.openReceiver(q);
    const b = await c.openReceiver(q);
    await settle();
    const sender = await c.openSender(q);
    for (let i = 0; i < 6; i++) await c.send(sender, { body: `m${i}` });
    const got = [...(await a.inbox.take(3)), ...(await b.inbox.take(3))];
    assert.deepEqual(bodies(got).sort(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    await a.inbox.expectNothing(150);
    assert.equal(b.inbox.size, 0);
  });

  test('the attach echoes the address and names the node kind in its capabilities', async () => {
    const c = await client();
    const { receiver } = await c.openReceiver(unique('echo'));
    assert.deepEqual([receiver.source.capabilities].flat(), ['queue']);
    const { receiver: topicReceiver } = await c.openReceiver({ source: { address: unique('echo-topic'), capabilities: ['topic'] } });
    assert.deepEqual([topicReceiver.source.capabilities].flat(), ['topic']);
  });
});

describe('topics', () => {
  test('topic:// and the topic capability both address a topic; every subscriber gets every message', async () => {
    const t = unique('fanout');
    const c = await client();
    const a = await c.openReceiver(`topic://${t}`);
    const b = await c.openReceiver({ source: { address: t, capabilities: ['topic'] } });
    await settle();
    const sender = await c.openSender({ target: { address: t, capabilities: ['topic'] } });
    await c.send(sender, { body: 'one' });
    await c.send(sender, { body: 'two' });
    assert.deepEqual(bodies(await a.inbox.take(2)), ['one', 'two']);
    assert.deepEqual(bodies(await b.inbox.take(2)), ['one', 'two']);
  });

  test('a topic message with no subscriber is not kept', async () => {
    const t = `topic://${unique('nobody')}`;
    const c = await client();
    const sender = await c.openSender(t);
    await c.send(sender, { body: 'lost' });
    const { inbox } = await c.openReceiver(t);
    await inbox.expectNothing(200);
  });

  test('a no-local filter keeps a connection from receiving its own messages', async () => {
    const t = `topic://${unique('nolocal')}`;
    const own = await client();
    const other = await client();
    const mine = await own.openReceiver({ source: { address: t, filter: { 'no-local': rhea.types.described(rhea.types.wrap_symbol('apache.org:no-local-filter:list'), rhea.types.wrap_list([])) } } });
    assert.ok(mine.receiver.source.filter !== undefined && 'no-local' in mine.receiver.source.filter, 'the applied filter is echoed');
    await settle();
    await own.send(await own.openSender(t), { body: 'from me' });
    await other.send(await other.openSender(t), { body: 'from the other' });
    assert.deepEqual(bodies(await mine.inbox.take(1)), ['from the other']);
    await mine.inbox.expectNothing(150);
  });
});

describe('anonymous relay and temporary queues', () => {
  test('a sender without a target address sends each message where its "to" says', async () => {
    const q = unique('relay-q');
    const t = unique('relay-t');
    const c = await client();
    assert.ok([c.connection.remote.open?.offered_capabilities ?? []].flat().includes('ANONYMOUS-RELAY'));
    const queueIn = await c.openReceiver(q);
    const topicIn = await c.openReceiver(`topic://${t}`);
    await settle();
    const relay = await c.openSender({ target: {} });
    assert.deepEqual(await c.send(relay, { to: q, body: 'to the queue' }), { state: 'accepted' });
    assert.deepEqual(await c.send(relay, { to: `topic://${t}`, body: 'to the topic' }), { state: 'accepted' });
    const missing = await c.send(relay, { body: 'nowhere' });
    assert.equal(missing.state, 'rejected');
    assert.equal((await queueIn.inbox.next()).message.body, 'to the queue');
    assert.equal((await topicIn.inbox.next()).message.body, 'to the topic');
  });

  test('a dynamic source is a temporary queue whose address others can reply to', async () => {
    const requester = await client();
    const { receiver, inbox } = await requester.openReceiver({ source: { address: '', dynamic: true } });
    const replyTo = receiver.source.address;
    assert.match(replyTo, /^temp-queue:\/\//);
    const service = await client();
    const requests = unique('requests');
    const serviceIn = await service.openReceiver(requests);
    await settle();
    await requester.send(await requester.openSender(requests), { body: 'ping', reply_to: replyTo, correlation_id: 'c-1' });
    const request = await serviceIn.inbox.next();
    assert.equal(request.message.reply_to, replyTo);
    const reply = await service.openSender({ target: {} });
    await service.send(reply, { to: request.message.reply_to!, correlation_id: request.message.correlation_id!, body: 'pong' });
    const answer = await inbox.next();
    assert.equal(answer.message.body, 'pong');
    assert.equal(answer.message.correlation_id, 'c-1');
    // only its owner may consume it
    await assert.rejects(service.openReceiver(replyTo), /link refused/);
  });

  test('a dynamic node goes with the link that made it (delete-on-close, as its attach says): a reply sent after the detach is refused, not kept', async () => {
    const requester = await client();
    const service = await client();
    const relay = await service.openSender({ target: {} });
    const temporaryQueues = (): number => broker.server.broker.admin.destinationList().filter((d) => d.temporary).length;
    const before = temporaryQueues();
    for (let i = 0; i < 20; i++) {
      const { receiver, inbox } = await requester.openReceiver({ source: { address: '', dynamic: true } });
      const source = receiver.source as unknown as { address: string; expiry_policy: string; dynamic_node_properties: Record<string, unknown> | undefined };
      assert.equal(source.expiry_policy, 'link-detach');
      assert.ok(source.dynamic_node_properties !== undefined && 'lifetime-policy' in source.dynamic_node_properties);
      assert.equal((await service.send(relay, { to: source.address, body: `reply ${i}` })).state, 'accepted');
      assert.equal((await inbox.next()).message.body, `reply ${i}`);
      const closed = new Promise((resolve) => receiver.once('receiver_close', resolve));
      receiver.close();
      await closed;
      const late = await service.send(relay, { to: source.address, body: 'too late' });
      assert.equal(late.state, 'rejected');
      assert.equal(late.state === 'rejected' ? late.error?.condition : undefined, 'amqp:not-found');
    }
    for (let i = 0; i < 20; i++) {
      const sender = await requester.openSender({ target: { dynamic: true } });
      const target = sender.target as unknown as { address: string; expiry_policy: string };
      assert.equal(target.expiry_policy, 'link-detach');
      const closed = new Promise((resolve) => sender.once('sender_close', resolve));
      sender.close();
      await closed;
      assert.equal((await service.send(relay, { to: target.address, body: 'too late' })).state, 'rejected');
    }
    assert.equal(temporaryQueues(), before, 'no dynamic node outlives its link');
  });

  test('a temporary queue is gone with its connection', async () => {
    const owner = await client();
    const { receiver } = await owner.openReceiver({ source: { address: '', dynamic: true } });
    const address = receiver.source.address;
    await owner.close();
    const other = await client();
    await assert.rejects(other.openSender(address), /link refused/);
  });
});

describe('settlement', () => {
  test('an unsettled delivery that is never settled comes back, redelivered, when the consumer leaves', async () => {
    const q = unique('unsettled');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'again' });
    const first = await client();
    const { inbox } = await first.openReceiver({ source: q, autoaccept: false });
    const got = await inbox.next();
    assert.equal(got.message.delivery_count ?? 0, 0);
    assert.equal(got.delivery.remote_settled, false);
    await first.close();
    const second = await client();
    const again = await second.openReceiver(q);
    const redelivered = await again.inbox.next();
    assert.equal(redelivered.message.body, 'again');
    assert.equal(redelivered.message.delivery_count, 1);
  });

  test('a receiver that asks for settled deliveries gets them pre-settled, and they are gone at once (at most once)', async () => {
    const q = unique('presettled');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'once' });
    const consumer = await client();
    const { inbox } = await consumer.openReceiver({ source: q, snd_settle_mode: 1, autoaccept: false });
    const got = await inbox.next();
    assert.equal(got.message.body, 'once');
    assert.equal(got.delivery.remote_settled, true);
    await consumer.close();
    const after = await client();
    const { inbox: nothing } = await after.openReceiver(q);
    await nothing.expectNothing(200);
  });

  test('a pre-settled sender is not answered; its messages are delivered', async () => {
    const q = unique('fire-and-forget');
    const c = await client();
    const sender = await c.openSender({ target: q, snd_settle_mode: 1 });
    for (let i = 0; i < 3; i++) sender.send({ body: `f${i}` });
    const { inbox } = await c.openReceiver(q);
    assert.deepEqual(bodies(await inbox.take(3)), ['f0', 'f1', 'f2']);
  });

  test('released comes back uncounted, modified with delivery-failed counted, accepted is gone', async () => {
    const q = unique('outcomes');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'x' });
    const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
    const first = await inbox.next();
    first.delivery.release();
    const second = await inbox.next();
    assert.equal(second.message.delivery_count ?? 0, 0, 'released does not count');
    second.delivery.modified({ delivery_failed: true });
    const third = await inbox.next();
    assert.equal(third.message.delivery_count, 1, 'modified with delivery-failed counts');
    third.delivery.accept();
    await inbox.expectNothing(200);
  });

  test('modified with undeliverable-here goes to another consumer, never again to the link that refused it [AMQP 3.4.5]', async () => {
    const q = unique('not-here');
    const c = await client();
    const sender = await c.openSender(q);
    await c.send(sender, { body: 'm0' });
    const refuser = await client();
    const r1 = await refuser.openReceiver({ source: q, autoaccept: false });
    const got = await r1.inbox.next();
    assert.equal(got.message.body, 'm0');
    const other = await client();
    const r2 = await other.openReceiver({ source: q, autoaccept: false });
    got.delivery.modified({ undeliverable_here: true });
    const there = await r2.inbox.next();
    assert.equal(there.message.body, 'm0');
    assert.equal(there.message.delivery_count ?? 0, 0, 'not a failed delivery: not counted');
    there.delivery.accept();
    await r1.inbox.expectNothing(200);
    // the refusing link still takes everything else
    r2.receiver.close();
    await c.send(sender, { body: 'm1' });
    const next = await r1.inbox.next();
    assert.equal(next.message.body, 'm1');
    next.delivery.accept();
  });

  test('a message refused by its only consumer waits in the queue, neither sent back nor dead-lettered, for the next link', async () => {
    const q = unique('not-here-alone');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'wait', durable: true });
    const { inbox, receiver } = await c.openReceiver({ source: q, autoaccept: false });
    const got = await inbox.next();
    got.delivery.modified({ undeliverable_here: true, delivery_failed: true });
    await inbox.expectNothing(200);
    receiver.close();
    // a new link, even from the same client, may have it: it was this link that could not take it
    const again = await c.openReceiver({ source: q, autoaccept: false });
    const back = await again.inbox.next();
    assert.equal(back.message.body, 'wait');
    assert.equal(back.message.delivery_count, 1, 'a failed delivery counts');
    back.delivery.accept();
  });

  test('rejected sends a persistent message to the dead-letter queue', async () => {
    const q = unique('poison');
    const c = await client();
    await c.send(await c.openSender(q), { body: 'poison', durable: true, message_id: 'poison-1' });
    const { inbox, receiver } = await c.openReceiver({ source: q, autoaccept: false });
    (await inbox.next()).delivery.reject({ condition: 'amqp:internal-error', description: 'cannot handle it' });
    receiver.close();
    const dlq = await c.openReceiver('ActiveMQ.DLQ');
    let found;
    for (;;) {
      const m = await dlq.inbox.next();
      if (m.message.message_id === 'poison-1') {
        found = m;
        break;
      }
    }
    assert.equal(found.message.body, 'poison');
    assert.equal(found.message.application_properties?.['dlqDeliveryFailureCause'], 'rejected by the consumer: amqp:internal-error: cannot handle it');
  });
});

describe('credit', () => {
  test('link credit drives dispatch: a consumer gets no more than it granted, the rest go to others', async () => {
    const q = unique('credit');
    const c = await client();
    const sender = await c.openSender(q);
    for (let i = 0; i < 4; i++) await c.send(sender, { body: `m${i}` });
    const stingy = await c.openReceiver({ source: q, credit_window: 0, autoaccept: false });
    stingy.receiver.add_credit(1);
    assert.deepEqual(bodies(await stingy.inbox.take(1)), ['m0']);
    await stingy.inbox.expectNothing(150);
    const other = await c.openReceiver({ source: q, credit_window: 10 });
    assert.deepEqual(bodies(await other.inbox.take(3)), ['m1', 'm2', 'm3']);
    stingy.receiver.add_credit(1);
    await stingy.inbox.expectNothing(150);
  });

  test('a drain sends what there is and gives back the rest of the credit', async () => {
    const q = unique('drain');
    const c = await client();
    const sender = await c.openSender(q);
    await c.send(sender, { body: 'a' });
    await c.send(sender, { body: 'b' });
    const { receiver, inbox } = await c.openReceiver({ source: q, credit_window: 0 });
    const drained = new Promise<void>((resolve) => receiver.once('receiver_drained', () => resolve()));
    receiver.add_credit(10);
    receiver.drain_credit();
    await drained;
    assert.equal((receiver as unknown as { credit: number }).credit, 0);
    assert.deepEqual(bodies(await inbox.take(2)), ['a', 'b']);
  });
});

describe('messages', () => {
  test('a large message crosses in many frames both ways', async () => {
    const q = unique('large');
    const c = await client({ max_frame_size: 4096 });
    const body = Buffer.alloc(300 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
    const outcome = await c.send(await c.openSender(q), { body: rhea.message.data_section(body), durable: true });
    assert.deepEqual(outcome, { state: 'accepted' });
    const { inbox } = await c.openReceiver(q);
    const got = await inbox.next(5000);
    const section = got.message.body as { typecode: number; content: Buffer };
    assert.equal(section.typecode, 0x75);
    assert.ok(Buffer.compare(section.content, body) === 0, 'the body arrives intact');
  });

  test('header, properties, application properties and annotations survive the broker', async () => {
    const q = unique('mapping');
    const c = await client();
    const replyTo = `topic://${unique('replies')}`;
    const sent = {
      durable: true,
      priority: 7,
      ttl: 60_000,
      message_id: 'mid-1',
      correlation_id: rhea.types.wrap_ulong(42),
      subject: 'order.created',
      reply_to: replyTo,
      content_type: 'application/json',
      content_encoding: 'utf-8',
      group_id: 'g1',
      group_sequence: 3,
      application_properties: { s: 'text', i: 7, neg: -100000, b: true, f: 1.5, l: rhea.types.wrap_long(Buffer.from('0030000000000001', 'hex') as unknown as number), n: null },
      message_annotations: { 'x-opt-partition-key': 'pk', 'x-opt-sequence': 12 },
      body: '{"id":1}',
    };
    await c.send(await c.openSender(q), sent as Parameters<AmqpTestClient['send']>[1]);
    const { inbox } = await c.openReceiver(q);
    const { message } = await inbox.next();
    assert.equal(message.durable, true);
    assert.equal(message.priority, 7);
    assert.ok(typeof message.ttl === 'number' && message.ttl > 50_000 && message.ttl <= 60_000, `ttl ${message.ttl}`);
    assert.ok(message.absolute_expiry_time instanceof Date);
    assert.equal(message.message_id, 'mid-1');
    assert.equal(message.correlation_id, 42);
    assert.equal(message.subject, 'order.created');
    assert.equal(message.reply_to, replyTo);
    assert.equal(message.to, q);
    assert.equal(message.content_type, 'application/json');
    assert.equal(message.content_encoding, 'utf-8');
    assert.equal(message.group_id, 'g1');
    assert.equal(message.group_sequence, 3);
    assert.ok(message.creation_time instanceof Date);
    const props = message.application_properties!;
    assert.equal(props['s'], 'text');
    assert.equal(props['i'], 7);
    assert.equal(props['neg'], -100000);
    assert.equal(props['b'], true);
    assert.equal(props['f'], 1.5);
    assert.deepEqual(props['l'], Buffer.from('0030000000000001', 'hex'), 'a long beyond 2^53 keeps every bit');
    assert.equal(props['n'], null);
    assert.equal(message.message_annotations?.['x-opt-partition-key'], 'pk');
    assert.equal(message.message_annotations?.['x-opt-sequence'], 12);
    assert.equal(message.message_annotations?.['x-opt-jms-msg-type'], 5);
    assert.equal(message.body, '{"id":1}');
  });

  test('bodies keep their kind: data, amqp-value of any type, amqp-sequence', async () => {
    const q = unique('bodies');
    const c = await client();
    const sender = await c.openSender(q);
    const sent: unknown[] = [
      'text',
      rhea.message.data_section(Buffer.from([1, 2, 3])),
      Buffer.from([4, 5]),
      { k: 'v', n: 1 },
      [1, 'two', false],
      rhea.message.sequence_section([1, 2]),
      42,
      null,
    ];
    for (const body of sent) await c.send(sender, { body });
    const { inbox } = await c.openReceiver(q);
    const got = bodies(await inbox.take(sent.length));
    assert.equal(got[0], 'text');
    assert.deepEqual((got[1] as { content: Buffer }).content, Buffer.from([1, 2, 3]));
    assert.deepEqual((got[2] as { content: Buffer }).content, Buffer.from([4, 5]), 'amqp-value binary comes back as data');
    assert.deepEqual(got[3], { k: 'v', n: 1 });
    assert.deepEqual(got[4], [1, 'two', false]);
    assert.equal((got[5] as { typecode: number }).typecode, 0x76);
    assert.deepEqual((got[5] as { content: unknown }).content, [1, 2]);
    assert.equal(got[6], 42);
    assert.deepEqual((got[7] as { content: Buffer }).content, Buffer.alloc(0), 'a null body is an empty bytes message');
  });

  test('a message that does not decode is rejected and the link stays usable', async () => {
    const q = unique('garbage');
    const c = await client();
    const sender = await c.openSender(q);
    const delivery = sender.send(Buffer.from([0x00, 0x53, 0x77, 0xff]), undefined, 0);
    const outcome = await new Promise<string>((resolve) => {
      sender.on('rejected', (ctx: EventContext) => ctx.delivery === delivery && resolve('rejected'));
      sender.on('accepted', (ctx: EventContext) => ctx.delivery === delivery && resolve('accepted'));
    });
    assert.equal(outcome, 'rejected');
    assert.deepEqual(await c.send(sender, { body: 'fine' }), { state: 'accepted' });
  });
});

describe('selectors', () => {
  test('a selector filter delivers only matching messages and is echoed in the attach', async () => {
    const q = unique('selector');
    const c = await client();
    const sender = await c.openSender(q);
    await c.send(sender, { body: 'red', application_properties: { color: 'red', size: 2 } });
    await c.send(sender, { body: 'blue', application_properties: { color: 'blue', size: 5 } });
    await c.send(sender, { body: 'big red', application_properties: { color: 'red', size: 9 } });
    const { receiver, inbox } = await c.openReceiver({ source: { address: q, filter: rhea.filter.selector("color = 'red' AND size > 3") } });
    assert.ok(receiver.source.filter !== undefined, 'the selector filter is echoed');
    assert.deepEqual(bodies(await inbox.take(1)), ['big red']);
    await inbox.expectNothing(150);
  });

  test('a selector that does not parse refuses the link', async () => {
    const c = await client();
    await assert.rejects(c.openReceiver({ source: { address: unique('bad-selector'), filter: rhea.filter.selector('color = = red') } }), /link refused/);
  });
});

describe('drain', () => {
  test('a drain on a queue of durable messages gets them all before it ends [AMQP 2.6.7]', async () => {
    const c = await client();
    const q = unique('drain-durable');
    const sender = await c.openSender(q);
    for (let i = 0; i < 5; i++) await c.send(sender, { body: `d${i}`, durable: true });
    const receiver = c.connection.open_receiver({ source: { address: q }, credit_window: 0, autoaccept: true });
    await within(5000, 'the attach', new Promise((resolve) => receiver.once('receiver_open', resolve)));
    const got: string[] = [];
    receiver.on('message', (ctx: EventContext) => got.push(ctx.message!.body as string));
    const drained = new Promise((resolve) => receiver.once('receiver_drained', resolve));
    receiver.drain = true;
    receiver.add_credit(5);
    await within(5000, 'the end of the drain', drained);
    assert.deepEqual(got, ['d0', 'd1', 'd2', 'd3', 'd4']);
  });
});

describe('drain with no credit', () => {
  test('a drain with link-credit 0 is answered with the link\'s flow state though echo is not set [AMQP 2.6.7]', async () => {
    const c = await client();
    const q = unique('drain-none');
    const { receiver } = await c.openReceiver({ source: q, credit_window: 0 });
    const drained = new Promise((resolve) => receiver.once('receiver_drained', resolve));
    receiver.drain_credit();
    // rhea says drained on a flow with drain set and no credit, which is the broker's answer
    await within(5000, 'the answer to a drain without credit', drained);
    assert.equal((receiver as unknown as { credit: number }).credit, 0);
  });
});

describe('link state at attach', () => {
  test('a sender that starts its delivery count above 0 is granted credit from it [AMQP 2.6.7]; the broker, receiving, says it settles first [AMQP 2.6.12]', async () => {
    const c = await client();
    const q = unique('initial-count');
    const sender = c.connection.open_sender({ target: { address: q }, rcv_settle_mode: 1, snd_settle_mode: 0 });
    // rhea has no option for initial-delivery-count: the attach it is about to send, and its own count, start at 1000
    (sender as unknown as { local: { attach: { initial_delivery_count: number } }; delivery_count: number }).local.attach.initial_delivery_count = 1000;
    (sender as unknown as { delivery_count: number }).delivery_count = 1000;
    const opened = await within(5000, 'the attach', new Promise<EventContext>((resolve) => sender.once('sender_open', resolve)));
    assert.equal((opened.sender as unknown as { remote: { attach?: { rcv_settle_mode?: number } } }).remote.attach?.rcv_settle_mode ?? 0, 0, 'the broker settles first');
    await within(5000, 'credit for a sender whose count starts at 1000', new Promise<void>((resolve) => (sender.sendable() ? resolve() : sender.once('sendable', () => resolve()))));
    assert.equal((await c.send(sender, { body: 'counted from 1000' })).state, 'accepted');
    const { inbox } = await c.openReceiver(q);
    assert.equal((await inbox.next()).message.body, 'counted from 1000');
  });
});
