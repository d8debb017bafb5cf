import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { openwireJavaMissing, runDriver } from '../helpers/openwire-java.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { RawStompClient, subscribeConfirmed, uniqueName, withReceipt, within } from '../helpers/raw-stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

const clients: StompTestClient[] = [];
async function client(options: Parameters<typeof connectStomp>[1] = {}): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort, options);
  clients.push(c);
  return c;
}
after(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
});

function queue(name: string): string {
  return `/queue/${uniqueName(name)}`;
}

describe('queues', () => {
  test('messages sent to a queue with no consumer are kept, in order, until one subscribes', async () => {
    const q = queue('kept');
    const producer = await client();
    for (let i = 0; i < 5; i++) await producer.sendConfirmed(q, `m${i}`, i % 2 === 0 ? { persistent: 'true' } : {});
    await producer.disconnect();
    const consumer = await client();
    const inbox = consumer.subscribe(q);
    const bodies = (await inbox.take(5)).map((m) => m.body);
    assert.deepEqual(bodies, ['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  test('each queue message goes to one consumer only', async () => {
    const q = queue('one-consumer');
    const a = await client();
    const b = await client();
    const inboxA = await subscribeConfirmed(a, q);
    const inboxB = await subscribeConfirmed(b, q);
    for (let i = 0; i < 6; i++) await a.sendConfirmed(q, `m${i}`);
    // consumers take turns, so each has three
    const got = [...(await inboxA.take(3)), ...(await inboxB.take(3))].map((m) => m.body);
    assert.deepEqual(got.sort(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    await inboxA.expectNothing(150);
    await inboxB.expectNothing(0);
  });

  test('after UNSUBSCRIBE a queue keeps its messages for the next consumer', async () => {
    const q = queue('unsubscribed');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    await withReceipt(c, (headers) => inbox.subscription.unsubscribe(headers));
    await c.sendConfirmed(q, 'after unsubscribe');
    const other = await client();
    const otherInbox = other.subscribe(q);
    assert.equal((await otherInbox.next()).body, 'after unsubscribe');
    assert.equal(inbox.size, 0);
  });

  test('an ACK or NACK that follows the UNSUBSCRIBE of its subscription gets its receipt; the message has gone back to the queue, and the connection carries on', async () => {
    const q = queue('late-ack');
    const c = await client();
    await c.sendConfirmed(q, 'first');
    await c.sendConfirmed(q, 'second');
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual', 'activemq.prefetchSize': '2' });
    const [first, second] = await inbox.take(2);
    await withReceipt(c, (headers) => inbox.subscription.unsubscribe(headers));
    await within(5000, 'the receipt of the late ACK', withReceipt(c, (headers) => first!.ack(headers)));
    await within(5000, 'the receipt of the late NACK', withReceipt(c, (headers) => second!.nack(headers)));
    await c.sendConfirmed(q, 'third');
    const other = await client();
    const again = (await other.subscribe(q).take(3)).map((m) => [m.body, m.headers['redelivered'] ?? 'false']);
    assert.deepEqual(again, [['first', 'true'], ['second', 'true'], ['third', 'false']]);
  });
});

describe('MESSAGE headers', () => {
  test('a MESSAGE carries message-id, destination, subscription, expires, priority and timestamp', async () => {
    const q = queue('headers');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    const before = Date.now();
    await c.sendConfirmed(q, 'hello');
    const m = await inbox.next();
    const h = m.headers;
    assert.ok((h['message-id'] ?? '').length > 0, 'message-id');
    assert.equal(h['destination'], q);
    assert.equal(h['subscription'], inbox.subscription.id);
    assert.equal(h['expires'], '0');
    assert.equal(h['priority'], '4');
    const timestamp = Number(h['timestamp']);
    assert.ok(timestamp >= before - 1000 && timestamp <= Date.now() + 1000, `timestamp ${h['timestamp']}`);
    assert.equal(h['persistent'], undefined, 'a non-persistent message has no persistent header');
    assert.equal(h['redelivered'], undefined);
    assert.equal(h['ack'], undefined, 'no ack header for ack:auto');
    assert.equal(m.body, 'hello');
  });

  test('message ids are unique', async () => {
    const q = queue('ids');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    for (let i = 0; i < 5; i++) await c.sendConfirmed(q, `m${i}`);
    const ids = (await inbox.take(5)).map((m) => m.headers['message-id']);
    assert.equal(new Set(ids).size, 5);
  });

  test('persistent, priority, expires, reply-to, correlation-id and type come back as sent', async () => {
    const q = queue('jms-headers');
    const replyTo = queue('jms-headers.reply');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    const expires = String(Date.now() + 3_600_000);
    await c.sendConfirmed(q, 'with headers', {
      persistent: 'true',
      priority: '7',
      expires,
      'reply-to': replyTo,
      'correlation-id': 'corr-42',
      type: 'order.created',
    });
    const h = (await inbox.next()).headers;
    assert.equal(h['persistent'], 'true');
    assert.equal(h['priority'], '7');
    assert.equal(h['expires'], expires);
    assert.equal(h['reply-to'], replyTo);
    assert.equal(h['correlation-id'], 'corr-42');
    assert.equal(h['type'], 'order.created');
  });

  test('a reply-to that names no STOMP destination is accepted and comes back verbatim, as ActiveMQ passes it through', async () => {
    const q = queue('reply-to-verbatim');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    const values = ['', 'plain', 'plain.name', '/reply-queue/abc', '/amq/queue/x', '/exchange/amq.direct/x', 'queue://a', 'topic://b', '/queue/'];
    for (const value of values) {
      await within(5000, `the receipt for reply-to "${value}"`, c.sendConfirmed(q, value, { 'reply-to': value }));
    }
    const got = await inbox.take(values.length);
    assert.deepEqual(got.map((m) => [m.body, m.headers['reply-to']]), values.map((value) => [value, value]));
  });

  test('a JMS consumer sees a reply-to that names no STOMP destination as the string property reply-to, with no JMSReplyTo, as with ActiveMQ', { skip: openwireJavaMissing() ?? false, timeout: 120_000 }, async () => {
    const name = uniqueName('reply-to-jms');
    const c = await client();
    await within(5000, 'the receipt of the SEND', c.sendConfirmed(`/queue/${name}`, 'answer me', { 'reply-to': '/reply-queue/abc' }));
    const received = (await runDriver('receive', `tcp://127.0.0.1:${broker.ports.openwire}`, { queue: name, count: 1 })).lines.filter((l) => l['event'] === 'received');
    assert.equal(received.length, 1);
    assert.equal(received[0]!['replyTo'], null);
    assert.deepEqual((received[0]!['properties'] as Record<string, unknown>)['reply-to'], ['string', '/reply-queue/abc']);
  });

  test('other SEND headers come back as headers of the MESSAGE', async () => {
    const q = queue('properties');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    await c.sendConfirmed(q, 'props', { 'x-order': '17', region: 'eu-west', 'empty-one': '' });
    const h = (await inbox.next()).headers;
    assert.equal(h['x-order'], '17');
    assert.equal(h['region'], 'eu-west');
    assert.equal(h['empty-one'], '');
    assert.equal(h['receipt'], undefined, 'receipt is not a user property');
    assert.equal(h['transaction'], undefined);
  });

  test('a priority outside 0-9 is clamped', async () => {
    const q = queue('priority-clamp');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    await c.sendConfirmed(q, 'high', { priority: '42' });
    await c.sendConfirmed(q, 'low', { priority: '-3' });
    const [high, low] = await inbox.take(2);
    assert.equal(high?.headers['priority'], '9');
    assert.equal(low?.headers['priority'], '0');
  });

  test('waiting messages are delivered highest priority first, in order within a priority', async () => {
    const q = queue('priority-order');
    const c = await client();
    for (const [body, priority] of [['low', '1'], ['normal-1', '4'], ['high', '9'], ['normal-2', '4']] as const) {
      await c.sendConfirmed(q, body, { priority });
    }
    const inbox = c.subscribe(q);
    assert.deepEqual((await inbox.take(4)).map((m) => m.body), ['high', 'normal-1', 'normal-2', 'low']);
  });

  test('a message that has expired before it is sent is never delivered (queue)', async () => {
    const q = queue('expired');
    const c = await client();
    await c.sendConfirmed(q, 'too late', { expires: String(Date.now() - 1000) });
    await c.sendConfirmed(q, 'in time', { expires: String(Date.now() + 3_600_000) });
    const inbox = c.subscribe(q);
    assert.equal((await inbox.next()).body, 'in time');
    await inbox.expectNothing(200);
  });

  test('an expired message is never delivered to a topic subscriber', async () => {
    const topic = `/topic/${uniqueName('expired')}`;
    const c = await client();
    const inbox = await subscribeConfirmed(c, topic);
    await c.sendConfirmed(topic, 'too late', { expires: String(Date.now() - 1) });
    await c.sendConfirmed(topic, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('a message that expires while it waits behind a full prefetch is dropped', async () => {
    const q = queue('expires-waiting');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    await c.sendConfirmed(q, 'first');
    await c.sendConfirmed(q, 'short-lived', { expires: String(Date.now() + 250) });
    const first = await inbox.next();
    assert.equal(first.body, 'first');
    // prefetch 1 holds the second back; by the end of this it has expired
    await inbox.expectNothing(600);
    await withReceipt(c, (headers) => first.ack(headers));
    await c.sendConfirmed(q, 'marker');
    const next = await inbox.next();
    assert.equal(next.body, 'marker');
    next.ack();
  });
});

describe('bodies', () => {
  test('a SEND without content-length is a text message: no content-length on the MESSAGE', async () => {
    const q = queue('text-body');
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's1' });
    await raw.send('SEND', { destination: q }, 'plain text');
    const m = await raw.nextFrame();
    assert.equal(m.command, 'MESSAGE');
    assert.equal(m.headers.has('content-length'), false);
    assert.equal(m.body.toString(), 'plain text');
    raw.destroy();
  });

  test('a SEND with content-length is a bytes message: the MESSAGE has content-length', async () => {
    const q = queue('bytes-body');
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's1' });
    await raw.send('SEND', { destination: q, 'content-length': '5' }, 'bytes');
    const m = await raw.nextFrame();
    assert.equal(m.command, 'MESSAGE');
    assert.equal(m.headers.get('content-length'), '5');
    assert.equal(m.body.toString(), 'bytes');
    raw.destroy();
  });

  test('a body with NUL bytes round-trips through content-length', async () => {
    const q = queue('binary');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    const body = new Uint8Array([0, 1, 2, 0, 255, 0, 10, 13, 0]);
    await withReceipt(c, (headers) => c.client.publish({ destination: q, binaryBody: body, headers }));
    const m = await inbox.next();
    assert.equal(m.headers['content-length'], String(body.length));
    assert.deepEqual(Buffer.from(m.binaryBody), Buffer.from(body));
  });

  test('an empty body round-trips', async () => {
    const q = queue('empty');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    await c.sendConfirmed(q, '');
    assert.equal((await inbox.next()).body, '');
  });

  test('UTF-8 text round-trips', async () => {
    const q = queue('utf8');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    const text = 'grüße, 世界, 🚢';
    await c.sendConfirmed(q, text, { note: 'ünïcödé' });
    const m = await inbox.next();
    assert.equal(m.body, text);
    assert.equal(m.headers['note'], 'ünïcödé');
  });

  test('a backlog delivered in one turn, with UTF-8 headers and frames of every size, arrives whole and in order', async () => {
    // the first frame of the turn goes out at once, the rest are written into the room the
    // transport reserves for the turn: both ways must count a header's bytes, not its characters
    const q = queue('utf8-backlog');
    const c = await client();
    const sizes = [0, 1, 700, 4000, 8200, 20_000, 3, 9000];
    const texts = sizes.map((size, i) => `${i}: ${'ü世🚢'.repeat(size / 8)}`);
    for (const [i, text] of texts.entries()) await c.sendConfirmed(q, text, { note: `ünïcödé ${i} 世界` });
    const inbox = await subscribeConfirmed(c, q);
    for (const [i, text] of texts.entries()) {
      const m = await inbox.next();
      assert.equal(m.body, text);
      assert.equal(m.headers['note'], `ünïcödé ${i} 世界`);
    }
  });

  test('a large body (256 KiB) arrives whole', async () => {
    const q = queue('large');
    const c = await client();
    const inbox = await subscribeConfirmed(c, q);
    const body = Buffer.alloc(256 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    await withReceipt(c, (headers) => c.client.publish({ destination: q, binaryBody: body, headers }));
    const m = await inbox.next();
    assert.equal(m.binaryBody.length, body.length);
    assert.ok(Buffer.from(m.binaryBody).equals(body));
  });
});

describe('topics', () => {
  test('every subscriber of a topic gets each message', async () => {
    const topic = `/topic/${uniqueName('fanout')}`;
    const a = await client();
    const b = await client();
    const inboxA = await subscribeConfirmed(a, topic);
    const inboxB = await subscribeConfirmed(b, topic);
    const inboxA2 = await subscribeConfirmed(a, topic);
    await b.sendConfirmed(topic, 'to all');
    for (const inbox of [inboxA, inboxB, inboxA2]) {
      const m = await inbox.next();
      assert.equal(m.body, 'to all');
      assert.equal(m.headers['destination'], topic);
      assert.equal(m.headers['subscription'], inbox.subscription.id);
    }
  });

  test('a topic keeps nothing for subscribers that come later', async () => {
    const topic = `/topic/${uniqueName('no-retain')}`;
    const c = await client();
    await c.sendConfirmed(topic, 'nobody listens');
    const inbox = await subscribeConfirmed(c, topic);
    await c.sendConfirmed(topic, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('after UNSUBSCRIBE a topic subscriber gets nothing more', async () => {
    const topic = `/topic/${uniqueName('unsub')}`;
    const c = await client();
    const gone = await subscribeConfirmed(c, topic);
    const stays = await subscribeConfirmed(c, topic);
    await withReceipt(c, (headers) => gone.subscription.unsubscribe(headers));
    await c.sendConfirmed(topic, 'after');
    assert.equal((await stays.next()).body, 'after');
    await gone.expectNothing(200);
  });

  test('/topic/a.* matches a.b but not a.b.c nor a', async () => {
    const root = uniqueName('wild');
    const c = await client();
    const inbox = await subscribeConfirmed(c, `/topic/${root}.*`);
    await c.sendConfirmed(`/topic/${root}.b.c`, 'two levels');
    await c.sendConfirmed(`/topic/${root}`, 'the root');
    await c.sendConfirmed(`/topic/${root}.b`, 'one level');
    const m = await inbox.next();
    assert.equal(m.body, 'one level');
    assert.equal(m.headers['destination'], `/topic/${root}.b`, 'the destination is the topic, not the pattern');
    await c.sendConfirmed(`/topic/${root}.x`, 'another level');
    assert.equal((await inbox.next()).body, 'another level');
  });

  test('/topic/a.> matches a.b and a.b.c', async () => {
    const root = uniqueName('wild');
    const c = await client();
    const inbox = await subscribeConfirmed(c, `/topic/${root}.>`);
    await c.sendConfirmed(`/topic/${root}.b`, 'one level');
    await c.sendConfirmed(`/topic/${root}.b.c`, 'two levels');
    await c.sendConfirmed(`/topic/${root}.b.c.d.e`, 'four levels');
    await c.sendConfirmed(`/topic/other.${root}.b`, 'elsewhere');
    await c.sendConfirmed(`/topic/${root}.z`, 'marker');
    const bodies = (await inbox.take(4)).map((m) => m.body);
    assert.deepEqual(bodies, ['one level', 'two levels', 'four levels', 'marker']);
  });

  test('a wildcard in the middle: /topic/a.*.c', async () => {
    const root = uniqueName('wild');
    const c = await client();
    const inbox = await subscribeConfirmed(c, `/topic/${root}.*.c`);
    await c.sendConfirmed(`/topic/${root}.b.d`, 'no');
    await c.sendConfirmed(`/topic/${root}.b.c.d`, 'no either');
    await c.sendConfirmed(`/topic/${root}.b.c`, 'yes');
    assert.equal((await inbox.next()).body, 'yes');
    await inbox.expectNothing(150);
  });

  test('a subscriber matched by two of its subscriptions gets one copy per subscription', async () => {
    const root = uniqueName('wild');
    const c = await client();
    const star = await subscribeConfirmed(c, `/topic/${root}.*`);
    const rest = await subscribeConfirmed(c, `/topic/${root}.>`);
    await c.sendConfirmed(`/topic/${root}.b`, 'both');
    assert.equal((await star.next()).body, 'both');
    assert.equal((await rest.next()).body, 'both');
  });

  test('activemq.noLocal skips messages from the subscriber’s own connection', async () => {
    const topic = `/topic/${uniqueName('nolocal')}`;
    const self = await client();
    const other = await client();
    const inbox = await subscribeConfirmed(self, topic, { 'activemq.noLocal': 'true' });
    const plain = await subscribeConfirmed(self, topic);
    await self.sendConfirmed(topic, 'own');
    await other.sendConfirmed(topic, 'from another');
    assert.equal((await inbox.next()).body, 'from another');
    assert.deepEqual((await plain.take(2)).map((m) => m.body), ['own', 'from another']);
  });

  test('activemq.noLocal on a queue leaves the subscriber\'s own connection\'s messages to other consumers, as ActiveMQ does', async () => {
    const q = queue('nolocal');
    const self = await client();
    const other = await client();
    const inbox = await subscribeConfirmed(self, q, { 'activemq.noLocal': 'true' });
    await self.sendConfirmed(q, 'own');
    await other.sendConfirmed(q, 'from another');
    assert.equal((await inbox.next()).body, 'from another');
    await inbox.expectNothing(200);
    const rest = await subscribeConfirmed(other, q);
    assert.equal((await rest.next()).body, 'own');
  });

  test('sending to a wildcard destination is refused', async () => {
    const c = await client();
    c.client.publish({ destination: `/topic/${uniqueName('wild')}.*`, body: 'x' });
    await within(3000, 'close after sending to a wildcard', c.closed);
    assert.equal(c.errors[0]?.headers['code'], 'FERRY_DESTINATION_INVALID');
  });
});

describe('composite destinations', () => {
  // ActiveMQ's CompositeDestinationBroker sends each copy with its own destination, and keeps the
  // composite name as the original destination
  test('a SEND to /queue/a,/topic/b reaches both, each copy named by the destination it arrived at', async () => {
    const q = queue('composite');
    const topic = `/topic/${uniqueName('composite')}`;
    const c = await client();
    const queueInbox = await subscribeConfirmed(c, q);
    const topicInbox = await subscribeConfirmed(c, topic);
    await c.sendConfirmed(`${q},${topic}`, 'to both');
    const fromQueue = await queueInbox.next();
    const fromTopic = await topicInbox.next();
    assert.equal(fromQueue.body, 'to both');
    assert.equal(fromTopic.body, 'to both');
    assert.equal(fromQueue.headers['destination'], q);
    assert.equal(fromTopic.headers['destination'], topic);
  });
});

describe('temporary destinations', () => {
  test('request/reply through a temporary queue', async () => {
    const requests = queue('requests');
    const requester = await client();
    const responder = await client();
    const requestsInbox = await subscribeConfirmed(responder, requests);
    const replies = await subscribeConfirmed(requester, '/temp-queue/replies');
    await requester.sendConfirmed(requests, 'what time is it?', { 'reply-to': '/temp-queue/replies', 'correlation-id': 'c-1' });

    const request = await requestsInbox.next();
    const replyTo = request.headers['reply-to'] ?? '';
    assert.match(replyTo, /^\/remote-temp-queue\/ID:/);
    await responder.sendConfirmed(replyTo, 'noon', { 'correlation-id': request.headers['correlation-id'] ?? '' });

    const reply = await replies.next();
    assert.equal(reply.body, 'noon');
    assert.equal(reply.headers['correlation-id'], 'c-1');
    assert.equal(reply.headers['destination'], '/temp-queue/replies', 'the owner sees its own name');

    await requester.disconnect();
    responder.client.publish({ destination: replyTo, body: 'too late' });
    await within(3000, 'close after sending to a deleted temporary queue', responder.closed);
    assert.equal(responder.errors[0]?.command, 'ERROR');
    assert.equal(responder.errors[0]?.headers['code'], 'FERRY_DESTINATION_NOT_FOUND');
    assert.ok((responder.errors[0]?.headers['message'] ?? '').length > 0);
  });

  test('a reply sent before the requester subscribes waits in the temporary queue', async () => {
    const requests = queue('requests');
    const requester = await client();
    const responder = await client();
    const requestsInbox = await subscribeConfirmed(responder, requests);
    await requester.sendConfirmed(requests, 'ping', { 'reply-to': '/temp-queue/later' });
    const request = await requestsInbox.next();
    await responder.sendConfirmed(request.headers['reply-to'] ?? '', 'pong');
    const replies = requester.subscribe('/temp-queue/later');
    assert.equal((await replies.next()).body, 'pong');
  });

  test('the same temporary name on two connections names two different queues', async () => {
    const a = await client();
    const b = await client();
    const inboxA = await subscribeConfirmed(a, '/temp-queue/mine');
    const inboxB = await subscribeConfirmed(b, '/temp-queue/mine');
    await a.sendConfirmed('/temp-queue/mine', 'for a');
    await b.sendConfirmed('/temp-queue/mine', 'for b');
    assert.equal((await inboxA.next()).body, 'for a');
    assert.equal((await inboxB.next()).body, 'for b');
    await inboxA.expectNothing(150);
  });

  test('a temporary topic delivers to its owner’s subscribers', async () => {
    const c = await client();
    const inbox = await subscribeConfirmed(c, '/temp-topic/events');
    await c.sendConfirmed('/temp-topic/events', 'event');
    const m = await inbox.next();
    assert.equal(m.body, 'event');
    assert.equal(m.headers['destination'], '/temp-topic/events');
  });

  test('another connection may send to a temporary topic but not subscribe to it', async () => {
    const owner = await client();
    const other = await client();
    const events = await subscribeConfirmed(owner, '/temp-topic/events');
    const requests = queue('temp-topic.requests');
    const otherInbox = await subscribeConfirmed(other, requests);
    await owner.sendConfirmed(requests, 'hi', { 'reply-to': '/temp-topic/events' });
    const remote = (await otherInbox.next()).headers['reply-to'] ?? '';
    assert.match(remote, /^\/remote-temp-topic\/ID:/);
    await other.sendConfirmed(remote, 'published by another');
    assert.equal((await events.next()).body, 'published by another');
    other.subscribe(remote);
    await within(3000, 'close after subscribing to another connection’s temporary topic', other.closed);
    assert.equal(other.errors[0]?.headers['code'], 'FERRY_DESTINATION_NOT_FOUND');
  });

  test('a temporary topic is its owner\'s alone: another connection\'s wildcard subscription does not get its messages', async () => {
    const owner = await client();
    const other = await client();
    const everything = await subscribeConfirmed(other, '/topic/>');
    const events = await subscribeConfirmed(owner, '/temp-topic/events');
    await owner.sendConfirmed('/temp-topic/events', 'private');
    assert.equal((await events.next()).body, 'private');
    // a topic message sent after it: what the wildcard subscriber got before it would have come first
    const marker = `temp-topic.marker.${Date.now()}`;
    await owner.sendConfirmed(`/topic/${marker}`, 'public');
    const seen: string[] = [];
    for (let m = await everything.next(); ; m = await everything.next()) {
      seen.push(m.body);
      if (m.headers['destination'] === `/topic/${marker}`) break;
    }
    assert.ok(!seen.includes('private'), `the wildcard subscriber got ${JSON.stringify(seen)}`);
  });

  test('another connection may not consume from a temporary queue', async () => {
    const owner = await client();
    const other = await client();
    const requests = queue('temp-queue.requests');
    const otherInbox = await subscribeConfirmed(other, requests);
    await owner.sendConfirmed(requests, 'hi', { 'reply-to': '/temp-queue/private' });
    const remote = (await otherInbox.next()).headers['reply-to'] ?? '';
    other.subscribe(remote);
    await within(3000, 'close after subscribing to another connection’s temporary queue', other.closed);
    assert.equal(other.errors[0]?.headers['code'], 'FERRY_DESTINATION_NOT_FOUND');
  });
});
