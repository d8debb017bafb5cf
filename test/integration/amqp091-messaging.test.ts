import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChannelModel, GetMessage, Message } from 'amqplib';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { encodeContentHeader, encodeProperties } from '../../src/protocols/amqp091/frames.js';
import { encodeMethod } from '../../src/protocols/amqp091/methods.js';
import { Raw091, channelError, connect091, consumeInto } from '../helpers/amqp091.js';

const fixture = amqp091Fixture('t091');
const unique = fixture.unique;

describe('connection', () => {
  test('the server properties announce the capabilities RabbitMQ clients look for', () => {
    const props = (fixture.conn().connection as unknown as { serverProperties: { product: string; capabilities: Record<string, boolean> } }).serverProperties;
    assert.equal(props.product, 'Ferry');
    for (const c of ['publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify', 'per_consumer_qos', 'connection.blocked', 'direct_reply_to']) assert.equal(props.capabilities[c], true, c);
  });

  test('the OpenWire port, which serves every protocol, serves 0-9-1 too', async () => {
    const c = await connect091(fixture.broker().ports.openwire);
    const ch = await c.createChannel();
    assert.equal((await ch.assertQueue(unique('openwire-port'))).messageCount, 0);
    await c.close();
  });

  test('a virtual host other than / is refused with a connection.close', async () => {
    await assert.rejects(connect091(fixture.broker().amqpPort, '/other'), /ConnectionClose/);
  });

  test('heartbeats keep an idle connection open', async () => {
    const c = await connect091(fixture.broker().amqpPort, '?heartbeat=1');
    const ch = await c.createChannel();
    // three heartbeat intervals with nothing else said; the connection must still work after
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const q = await ch.assertQueue(unique('hb'), { autoDelete: true });
    assert.ok(q.queue.startsWith('t091.hb'));
    await c.close();
  });
});

describe('queues and the default exchange', () => {
  test('declare, publish to the default exchange, consume with manual acks', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('basic');
    const ok = await ch.assertQueue(q, { durable: true });
    assert.deepEqual(ok, { queue: q, messageCount: 0, consumerCount: 0 });
    ch.sendToQueue(q, Buffer.from('one'), { persistent: true });
    ch.sendToQueue(q, Buffer.from('two'));
    const { inbox } = await consumeInto(ch, q);
    const [a, b] = await inbox.take(2);
    assert.equal(a!.content.toString(), 'one');
    assert.equal(a!.properties.deliveryMode, 2);
    assert.equal(a!.fields.exchange, '');
    assert.equal(a!.fields.routingKey, q);
    assert.equal(b!.content.toString(), 'two');
    ch.ack(b!, true);
    await ch.close();
  });

  test('bodies over frame-max travel in several body frames both ways; an empty body is a message too', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('large');
    await ch.assertQueue(q);
    const large = Buffer.alloc(300_000);
    for (let i = 0; i < large.length; i++) large[i] = i % 251;
    ch.sendToQueue(q, large);
    ch.sendToQueue(q, Buffer.alloc(0));
    const { inbox } = await consumeInto(ch, q, { noAck: true });
    const [big, empty] = await inbox.take(2);
    assert.deepEqual(big!.content, large);
    assert.equal(empty!.content.length, 0);
    await ch.close();
  });

  test('a server-named queue is amq.gen-..., and an empty name means the last declared', async () => {
    const ch = await fixture.conn().createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    assert.match(queue, /^amq\.gen-/);
    ch.sendToQueue(queue, Buffer.from('x'));
    const got = await ch.get('');
    assert.ok(got !== false);
    assert.equal(got.content.toString(), 'x');
    ch.ack(got);
    await ch.close();
  });

  test('basic.get answers get-empty, then get-ok with the count left', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('get');
    await ch.assertQueue(q);
    assert.equal(await ch.get(q), false);
    for (const body of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(body));
    await ch.checkQueue(q);
    const first = await ch.get(q, { noAck: true });
    assert.ok(first !== false);
    assert.equal(first.content.toString(), 'a');
    assert.equal(first.fields.messageCount, 2);
    const second = await ch.get(q);
    assert.ok(second !== false);
    ch.nack(second, false, true);
    const again = await ch.get(q);
    assert.ok(again !== false);
    assert.equal(again.content.toString(), 'b');
    assert.equal(again.fields.redelivered, true);
    ch.ack(again);
    await ch.close();
  });

  test('purge and delete answer with message counts; passive declare of a missing queue is 404', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('purge');
    await ch.assertQueue(q);
    for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await ch.checkQueue(q);
    assert.deepEqual(await ch.purgeQueue(q), { messageCount: 3 });
    ch.sendToQueue(q, Buffer.from('left'));
    await ch.checkQueue(q);
    assert.deepEqual(await ch.deleteQueue(q), { messageCount: 1 });
    const failed = channelError(ch);
    await assert.rejects(ch.checkQueue(q), /404/);
    const err = await failed;
    assert.equal(err.code, 404);
  });

  test('consuming from a queue never declared is 404 and creates no queue, as basic.get', async () => {
    const q = unique('undeclared');
    for (const attempt of ['consume', 'get']) {
      const ch = await fixture.conn().createChannel();
      const failed = channelError(ch);
      await assert.rejects(attempt === 'consume' ? ch.consume(q, () => {}) : ch.get(q), /404/, attempt);
      const err = await failed;
      assert.equal(err.code, 404, attempt);
      assert.match(err.message, new RegExp(`NOT_FOUND - no queue "${q}"`), attempt);
    }
    const check = await fixture.conn().createChannel();
    const missing = channelError(check);
    await assert.rejects(check.checkQueue(q), /404/, 'the refused consume left no queue behind');
    await missing;
  });

  test('redeclaring with other flags is 406, with another exclusive flag 405; another connection\'s exclusive queue is 405', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('flags');
    await ch.assertQueue(q, { durable: false });
    const redeclared = channelError(ch);
    await assert.rejects(ch.assertQueue(q, { durable: true }), /406|PRECONDITION_FAILED/);
    assert.equal((await redeclared).code, 406);
    const ch2 = await fixture.conn().createChannel();
    const ex = unique('excl');
    await ch2.assertQueue(ex, { exclusive: true });
    const other = await connect091(fixture.broker().amqpPort);
    const och = await other.createChannel();
    och.on('error', () => {});
    await assert.rejects(och.consume(ex, () => {}), /405|RESOURCE_LOCKED/);
    await other.close();
    await ch2.close();
    // the exclusive flag is checked first, as RabbitMQ does: 405 on the same connection too
    const ch3 = await fixture.conn().createChannel();
    const locked = channelError(ch3);
    await assert.rejects(ch3.assertQueue(q, { durable: false, exclusive: true }), /405|RESOURCE_LOCKED/);
    assert.equal((await locked).code, 405);
  });

  test('the 406 of a redeclaration names the flag or argument that differs, as RabbitMQ does', async () => {
    const q = unique('inequivalent');
    const setup = await fixture.conn().createChannel();
    await setup.assertQueue(q, { durable: false, arguments: { 'x-max-priority': 10 } });
    const refusal = async (options: { durable: boolean; arguments?: Record<string, unknown> }): Promise<string> => {
      const ch = await fixture.conn().createChannel();
      const closed = channelError(ch);
      await assert.rejects(ch.assertQueue(q, options));
      const err = await closed;
      assert.equal(err.code, 406);
      return err.message;
    };
    assert.match(await refusal({ durable: false, arguments: { 'x-max-priority': 5 } }), /inequivalent arg 'x-max-priority' for queue "[^"]+": received '5' but current is '10'/);
    assert.match(await refusal({ durable: false }), /inequivalent arg 'x-max-priority' for queue "[^"]+": received none but current is '10'/);
    assert.match(await refusal({ durable: true, arguments: { 'x-max-priority': 10 } }), /inequivalent arg 'durable' for queue "[^"]+": received 'true' but current is 'false'/);
    await setup.deleteQueue(q);
  });
});

describe('exchanges', () => {
  test('direct, topic (* and #), fanout and headers route to their bound queues', async () => {
    const ch = await fixture.conn().createChannel();
    const names = { direct: unique('direct'), topic: unique('topic'), fanout: unique('fanout'), headers: unique('headers') };
    for (const [type, name] of Object.entries(names)) await ch.assertExchange(name, type);
    const q = async (): Promise<string> => (await ch.assertQueue('', { exclusive: true })).queue;
    const dq = await q();
    const tq = await q();
    const tq2 = await q();
    const fq1 = await q();
    const fq2 = await q();
    const hq = await q();
    await ch.bindQueue(dq, names.direct, 'red');
    await ch.bindQueue(tq, names.topic, 'a.*.c');
    await ch.bindQueue(tq2, names.topic, 'a.#');
    await ch.bindQueue(fq1, names.fanout, '');
    await ch.bindQueue(fq2, names.fanout, '');
    await ch.bindQueue(hq, names.headers, '', { 'x-match': 'all', kind: 'order', n: 1 });
    ch.publish(names.direct, 'red', Buffer.from('d1'));
    ch.publish(names.direct, 'blue', Buffer.from('d2'));
    ch.publish(names.topic, 'a.b.c', Buffer.from('t1'));
    ch.publish(names.topic, 'a', Buffer.from('t2'));
    ch.publish(names.fanout, 'whatever', Buffer.from('f'));
    ch.publish(names.headers, '', Buffer.from('h1'), { headers: { kind: 'order', n: 1 } });
    ch.publish(names.headers, '', Buffer.from('h2'), { headers: { kind: 'order', n: 2 } });
    const bodies = async (queue: string): Promise<string[]> => {
      const out: string[] = [];
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (m === false) return out;
        out.push(m.content.toString());
      }
    };
    await ch.checkQueue(hq);
    assert.deepEqual(await bodies(dq), ['d1']);
    assert.deepEqual(await bodies(tq), ['t1']);
    assert.deepEqual(await bodies(tq2), ['t1', 't2']);
    assert.deepEqual(await bodies(fq1), ['f']);
    assert.deepEqual(await bodies(fq2), ['f']);
    assert.deepEqual(await bodies(hq), ['h1']);
    await ch.close();
  });

  test('exchange-to-exchange bindings, and a delivery names the exchange and key it was published with', async () => {
    const ch = await fixture.conn().createChannel();
    const source = unique('e2e.src');
    const dest = unique('e2e.dst');
    await ch.assertExchange(source, 'topic', { autoDelete: false });
    await ch.assertExchange(dest, 'fanout');
    await ch.bindExchange(dest, source, 'orders.#');
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, dest, '');
    const { inbox } = await consumeInto(ch, queue, { noAck: true });
    ch.publish(source, 'orders.eu', Buffer.from('x'));
    const m = await inbox.next();
    assert.equal(m.fields.exchange, source);
    assert.equal(m.fields.routingKey, 'orders.eu');
    await ch.unbindExchange(dest, source, 'orders.#');
    await ch.deleteExchange(dest);
    await ch.close();
  });

  test('the default exchange is bound to nothing, as a source or as a destination: 403 ACCESS_REFUSED, as RabbitMQ answers', async () => {
    const source = unique('e2e.default');
    const setup = await fixture.conn().createChannel();
    await setup.assertExchange(source, 'direct');
    await setup.close();
    // through a binding to it, a publish to any exchange would reach whichever queue its key named
    for (const [destination, from] of [['', source], [source, '']] as const) {
      const ch = await fixture.conn().createChannel();
      const failed = channelError(ch);
      await assert.rejects(ch.bindExchange(destination, from, 'k'), /403|ACCESS_REFUSED/);
      assert.equal((await failed).code, 403);
    }
  });

  test('a mandatory publish nobody takes comes back as basic.return 312 NO_ROUTE', async () => {
    const ch = await fixture.conn().createChannel();
    const ex = unique('nowhere');
    await ch.assertExchange(ex, 'direct');
    const returned = new Promise<{ replyCode: number; body: string; key: string }>((resolve) =>
      ch.once('return', (m: { fields: { replyCode: number; routingKey: string }; content: Buffer }) => resolve({ replyCode: m.fields.replyCode, body: m.content.toString(), key: m.fields.routingKey })),
    );
    ch.publish(ex, 'no.such.key', Buffer.from('lost'), { mandatory: true });
    assert.deepEqual(await returned, { replyCode: 312, body: 'lost', key: 'no.such.key' });
    await ch.close();
  });

  test('publishing to a missing exchange is 404; declaring amq.* is 403', async () => {
    const ch = await fixture.conn().createChannel();
    const failed = channelError(ch);
    ch.publish(unique('missing'), 'k', Buffer.from('x'));
    const err = await failed;
    assert.equal(err.code, 404);
    assert.equal(err.classId, 60);
    assert.equal(err.methodId, 40);
    const ch2 = await fixture.conn().createChannel();
    const refused = channelError(ch2);
    await assert.rejects(ch2.assertExchange('amq.mine', 'direct'), /403|ACCESS_REFUSED/);
    assert.equal((await refused).code, 403);
  });
});

describe('queue arguments', () => {
  const drain = async (ch: Awaited<ReturnType<ChannelModel['createChannel']>>, queue: string): Promise<string[]> => {
    const out: string[] = [];
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (m === false) return out;
      out.push(m.content.toString());
    }
  };

  test('x-max-priority orders by priority; without it the queue is FIFO', async () => {
    const ch = await fixture.conn().createChannel();
    const prio = unique('prio');
    const fifo = unique('fifo');
    await ch.assertQueue(prio, { maxPriority: 9 });
    await ch.assertQueue(fifo);
    for (const [body, priority] of [['low', 1], ['high', 8], ['mid', 5]] as const) {
      ch.sendToQueue(prio, Buffer.from(body), { priority });
      ch.sendToQueue(fifo, Buffer.from(body), { priority });
    }
    await ch.checkQueue(fifo);
    assert.deepEqual(await drain(ch, prio), ['high', 'mid', 'low']);
    assert.deepEqual(await drain(ch, fifo), ['low', 'high', 'mid']);
    await ch.close();
  });

  test('x-max-length with drop-head keeps the newest; x-message-ttl 0 drops what no consumer takes at once', async () => {
    const ch = await fixture.conn().createChannel();
    const capped = unique('capped');
    await ch.assertQueue(capped, { maxLength: 2 });
    for (const body of ['1', '2', '3']) ch.sendToQueue(capped, Buffer.from(body));
    await ch.checkQueue(capped);
    assert.deepEqual(await drain(ch, capped), ['2', '3']);
    // a message that comes back counts against the limit as a publish does: the head goes, as in RabbitMQ
    const requeued = unique('capped-requeue');
    await ch.assertQueue(requeued, { maxLength: 2 });
    for (const body of ['0', '1']) ch.sendToQueue(requeued, Buffer.from(body));
    const held = await ch.get(requeued);
    assert.ok(held !== false);
    for (const body of ['2', '3']) ch.sendToQueue(requeued, Buffer.from(body));
    await ch.checkQueue(requeued);
    ch.reject(held, true);
    assert.equal((await ch.checkQueue(requeued)).messageCount, 2);
    assert.deepEqual(await drain(ch, requeued), ['2', '3']);
    const ttl = unique('ttl0');
    await ch.assertQueue(ttl, { messageTtl: 0 });
    ch.sendToQueue(ttl, Buffer.from('gone'));
    await ch.checkQueue(ttl);
    assert.deepEqual(await drain(ch, ttl), []);
    await ch.close();
  });

  test('x-single-active-consumer: one consumer gets everything, the next takes over when it goes', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('sac');
    await ch.assertQueue(q, { arguments: { 'x-single-active-consumer': true } });
    const first = await consumeInto(ch, q, { noAck: true });
    const second = await consumeInto(ch, q, { noAck: true });
    ch.sendToQueue(q, Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    assert.deepEqual((await first.inbox.take(2)).map((m) => m.content.toString()), ['a', 'b']);
    await ch.cancel(first.tag);
    ch.sendToQueue(q, Buffer.from('c'));
    assert.equal((await second.inbox.next()).content.toString(), 'c');
    assert.equal(second.inbox.size, 0);
    await ch.close();
  });

  test('an exclusive consume of an x-single-active-consumer queue is 403 ACCESS_REFUSED, as RabbitMQ refuses it', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('sac-exclusive');
    await ch.assertQueue(q, { arguments: { 'x-single-active-consumer': true } });
    const failed = channelError(ch);
    await assert.rejects(ch.consume(q, () => undefined, { exclusive: true }));
    const err = await failed;
    assert.equal(err.code, 403);
    assert.match(err.message, /ACCESS_REFUSED .*in exclusive use/);
  });

  test('an alternate exchange takes what its exchange cannot route', async () => {
    const ch = await fixture.conn().createChannel();
    const ae = unique('ae');
    const main = unique('main');
    await ch.assertExchange(ae, 'fanout');
    await ch.assertExchange(main, 'direct', { alternateExchange: ae });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ae, '');
    ch.publish(main, 'unbound', Buffer.from('caught'));
    await ch.checkQueue(queue);
    assert.deepEqual(await drain(ch, queue), ['caught']);
    await ch.close();
  });

  test('a bad argument is 406 PRECONDITION_FAILED', async () => {
    const ch = await fixture.conn().createChannel();
    const failed = channelError(ch);
    await assert.rejects(ch.assertQueue(unique('bad'), { arguments: { 'x-overflow': 'sideways' } }), /406|PRECONDITION_FAILED/);
    assert.equal((await failed).code, 406);
  });
});

describe('consumers', () => {
  test('a global prefetch limits the channel\'s consumers together', async () => {
    const ch = await fixture.conn().createChannel();
    const a = unique('global.a');
    const b = unique('global.b');
    await ch.assertQueue(a);
    await ch.assertQueue(b);
    await ch.prefetch(1, true);
    const ca = await consumeInto(ch, a);
    const cb = await consumeInto(ch, b);
    ch.sendToQueue(a, Buffer.from('a1'));
    ch.sendToQueue(b, Buffer.from('b1'));
    const first = await ca.inbox.next();
    await cb.inbox.expectNothing(200);
    ch.ack(first);
    assert.equal((await cb.inbox.next()).content.toString(), 'b1');
    await ch.close();
  });

  test('a global prefetch does not count what basic.get took, as RabbitMQ does not: a new consumer still gets its messages', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('global.get');
    await ch.assertQueue(q);
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await ch.prefetch(2, true);
    const got = [await ch.get(q), await ch.get(q)];
    assert.ok(got.every((m) => m !== false));
    const { inbox } = await consumeInto(ch, q);
    assert.deepEqual((await inbox.take(2)).map((m) => m.content.toString()), ['2', '3']);
    // the consumer's two fill the limit: the rest wait
    assert.equal((await ch.checkQueue(q)).messageCount, 2);
    await ch.close();
  });

  test('nack with requeue redelivers with redelivered set and x-delivery-count; reject dead-letters to the queue\'s exchange', async () => {
    const ch = await fixture.conn().createChannel();
    const dlx = unique('dlx');
    await ch.assertExchange(dlx, 'fanout');
    const dead = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(dead, dlx, '');
    const q = unique('nack');
    await ch.assertQueue(q, { deadLetterExchange: dlx });
    ch.sendToQueue(q, Buffer.from('m'));
    const { inbox, tag } = await consumeInto(ch, q);
    const first = await inbox.next();
    assert.equal(first.fields.redelivered, false);
    ch.nack(first, false, true);
    const second = await inbox.next();
    assert.equal(second.fields.redelivered, true);
    assert.equal(second.properties.headers?.['x-delivery-count'], 1);
    ch.reject(second, false);
    await ch.cancel(tag);
    const deadLettered = await ch.get(dead);
    assert.ok(deadLettered !== false);
    assert.equal(deadLettered.content.toString(), 'm');
    ch.ack(deadLettered);
    await ch.close();
  });

  test('x-death counts each queue and reason a message died in, the latest first, as retries through a dead-letter exchange read it', async () => {
    const ch = await fixture.conn().createChannel();
    const [work, retry] = [unique('work'), unique('retry')];
    await ch.assertQueue(work, { deadLetterExchange: '', deadLetterRoutingKey: retry });
    await ch.assertQueue(retry, { deadLetterExchange: '', deadLetterRoutingKey: work });
    ch.sendToQueue(work, Buffer.from('job'));
    const take = async (q: string): Promise<GetMessage> => {
      for (;;) {
        const got = await ch.get(q);
        if (got !== false) return got;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const deaths = (m: GetMessage): [string, string, number][] => (m.properties.headers?.['x-death'] ?? []).map((d) => [d.queue, d.reason, d.count]);
    const first = await take(work);
    assert.equal(first.properties.headers?.['x-death'], undefined, 'no death yet');
    ch.reject(first, false);
    const once = await take(retry);
    assert.deepEqual(deaths(once), [[work, 'rejected', 1]]);
    const entry = once.properties.headers!['x-death']![0]!;
    assert.equal(entry.exchange, '');
    assert.deepEqual(entry['routing-keys'], [work]);
    assert.ok(entry.time !== undefined, 'the time of the death');
    ch.reject(once, false);
    const back = await take(work);
    assert.deepEqual(deaths(back), [[retry, 'rejected', 1], [work, 'rejected', 1]]);
    ch.reject(back, false);
    const twice = await take(retry);
    assert.deepEqual(deaths(twice), [[work, 'rejected', 2], [retry, 'rejected', 1]]);
    assert.equal(twice.properties.headers?.['x-first-death-queue'], work);
    assert.equal(twice.properties.headers?.['x-last-death-queue'], work);
    ch.ack(twice);
    await ch.close();
  });

  test('prefetch holds deliveries until acks; ack with multiple settles every earlier one', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('qos');
    await ch.assertQueue(q);
    await ch.prefetch(2);
    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    const { inbox } = await consumeInto(ch, q);
    const two = await inbox.take(2);
    await inbox.expectNothing(200);
    ch.ack(two[1]!, true);
    const next = await inbox.take(2);
    assert.deepEqual(next.map((m) => m.content.toString()), ['2', '3']);
    ch.ack(next[1]!, true);
    const last = await inbox.next();
    ch.ack(last);
    await ch.close();
  });

  test('an unknown delivery tag is 406 PRECONDITION_FAILED on that channel only', async () => {
    const ch = await fixture.conn().createChannel();
    const failed = channelError(ch);
    ch.ack({ fields: { deliveryTag: 999 } } as never);
    const err = await failed;
    assert.equal(err.code, 406);
    const ch2 = await fixture.conn().createChannel();
    await ch2.assertQueue(unique('after'));
    await ch2.close();
  });

  test('deleting a queue cancels its consumers with a server-sent basic.cancel', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('cancel');
    await ch.assertQueue(q);
    const cancelled = new Promise<null>((resolve) => void ch.consume(q, (m) => m === null && resolve(m)));
    const other = await fixture.conn().createChannel();
    await other.deleteQueue(q);
    assert.equal(await cancelled, null);
    await other.close();
    await ch.close();
  });

  test('deliveries outstanding when their queue is deleted can still be acked, nacked and rejected: the channel carries on, as RabbitMQ lets it', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('deleted.unacked');
    await ch.assertQueue(q);
    await ch.prefetch(3);
    for (const body of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(body));
    const got: Message[] = [];
    let cancel: () => void = () => {};
    const cancelled = new Promise<void>((resolve) => (cancel = resolve));
    await ch.consume(q, (m) => (m === null ? cancel() : got.push(m)));
    while (got.length < 3) await new Promise((resolve) => setImmediate(resolve));
    const other = await fixture.conn().createChannel();
    await other.deleteQueue(q);
    await cancelled;
    ch.ack(got[0]!);
    ch.nack(got[1]!, false, true);
    ch.reject(got[2]!, false);
    // the channel is still open: a method on it is answered
    assert.equal((await ch.assertQueue(q)).messageCount, 0);
    await other.close();
    await ch.close();
  });

  test('a consumer cancelled with deliveries unacknowledged is no consumer of its queue any more; its deliveries can still be acked', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('cancelled.unacked');
    await ch.assertQueue(q);
    for (const body of ['a', 'b']) ch.sendToQueue(q, Buffer.from(body));
    const { inbox, tag } = await consumeInto(ch, q);
    const held = await inbox.take(2);
    await ch.cancel(tag);
    assert.equal((await ch.checkQueue(q)).consumerCount, 0, 'consumer_count');
    const other = await fixture.conn().createChannel();
    // an exclusive consume needs the queue to have no consumer
    const { tag: sole } = await consumeInto(other, q, { exclusive: true });
    for (const m of held) ch.ack(m);
    await ch.close();
    assert.equal((await other.checkQueue(q)).messageCount, 0, 'the acknowledged messages are consumed, not given back');
    await other.cancel(sole);

    // an auto-delete queue goes when its last consumer cancels, unacknowledged deliveries or not
    const auto = unique('cancelled.autodelete');
    const ch2 = await fixture.conn().createChannel();
    await ch2.assertQueue(auto, { autoDelete: true });
    ch2.sendToQueue(auto, Buffer.from('x'));
    const last = await consumeInto(ch2, auto);
    await last.inbox.next();
    await ch2.cancel(last.tag);
    const failed = channelError(other);
    await assert.rejects(other.checkQueue(auto), /404|NOT_FOUND/);
    assert.equal((await failed).code, 404);
    await ch2.close();
  });

  test('an exclusive consumer is its queue\'s only one: another consume is 403 ACCESS_REFUSED', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('sole');
    await ch.assertQueue(q);
    await ch.consume(q, () => {}, { exclusive: true });
    const other = await fixture.conn().createChannel();
    const refused = channelError(other);
    await assert.rejects(other.consume(q, () => {}), /403|ACCESS_REFUSED/);
    assert.equal((await refused).code, 403);
    await ch.close();
  });

  test('basic.recover redelivers what is unacknowledged', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('recover');
    await ch.assertQueue(q);
    ch.sendToQueue(q, Buffer.from('r'));
    const { inbox } = await consumeInto(ch, q);
    const m = await inbox.next();
    assert.equal(m.fields.redelivered, false);
    await ch.recover();
    const again = await inbox.next();
    assert.equal(again.fields.redelivered, true);
    ch.ack(again);
    await ch.close();
  });
});

describe('channel.flow', () => {
  test('a client\'s flow off stops deliveries to its channel until flow on', async () => {
    const q = unique('flow');
    const ch = await fixture.conn().createChannel();
    await ch.assertQueue(q);
    const raw = await Raw091.ready(fixture.broker().amqpPort);
    raw.send(1, 'basic.consume', { ticket: 0, queue: q, consumerTag: 'flow', noLocal: false, noAck: true, exclusive: false, noWait: false, arguments: new Map() });
    assert.deepEqual(await raw.method().then((m) => [m.classId, m.methodId]), [60, 21]);
    raw.send(1, 'channel.flow', { active: false });
    assert.deepEqual(await raw.method().then((m) => [m.classId, m.methodId, m.args[0]]), [20, 21, 0]);
    ch.sendToQueue(q, Buffer.from('held'));
    await ch.checkQueue(q);
    await assert.rejects(raw.method(300), /no frame/);
    raw.send(1, 'channel.flow', { active: true });
    assert.deepEqual(await raw.method().then((m) => [m.classId, m.methodId]), [20, 21]);
    assert.deepEqual(await raw.method().then((m) => [m.classId, m.methodId]), [60, 60]);
    raw.socket.destroy();
    await ch.close();
  });
});

describe('publisher confirms', () => {
  test('persistent messages are confirmed once durable, every one of them', async () => {
    const ch = await fixture.conn().createConfirmChannel();
    const q = unique('confirms');
    await ch.assertQueue(q, { durable: true });
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      acks.push(new Promise((resolve, reject) => ch.sendToQueue(q, Buffer.alloc(64, i), { persistent: true }, (err) => (err ? reject(err) : resolve()))));
    }
    await Promise.all(acks);
    await ch.waitForConfirms();
    assert.equal((await ch.checkQueue(q)).messageCount, 200);
    await ch.close();
  });

  test('the confirms of one read go out as one basic.ack with multiple', async () => {
    const q = unique('batched');
    const raw = await Raw091.ready(fixture.broker().amqpPort);
    raw.send(1, 'queue.declare', { ticket: 0, queue: q, passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: new Map() });
    await raw.method();
    raw.send(1, 'confirm.select', { noWait: false });
    assert.deepEqual(await raw.method().then((m) => [m.classId, m.methodId]), [85, 11]);
    const publish = Buffer.concat([
      encodeMethod(1, 'basic.publish', { ticket: 0, exchange: '', routingKey: q, mandatory: false, immediate: false }),
      encodeContentHeader(1, 0, encodeProperties({})),
    ]);
    raw.write(Buffer.concat([publish, publish, publish, publish, publish]));
    const ack = await raw.method();
    assert.deepEqual([ack.classId, ack.methodId, Number(ack.args.readBigUInt64BE(0)), ack.args[8]], [60, 80, 5, 1]);
    raw.socket.destroy();
  });

  test('a queue full with reject-publish refuses: the publish is nacked', async () => {
    const ch = await fixture.conn().createConfirmChannel();
    const q = unique('full');
    await ch.assertQueue(q, { maxLength: 1, arguments: { 'x-overflow': 'reject-publish' } });
    const outcome = (body: string): Promise<string> => new Promise((resolve) => ch.sendToQueue(q, Buffer.from(body), {}, (err) => resolve(err ? 'nack' : 'ack')));
    assert.equal(await outcome('1'), 'ack');
    assert.equal(await outcome('2'), 'nack');
    await ch.close();
  });
});

describe('properties', () => {
  test('every property and typed headers come through to a 0-9-1 consumer as sent', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('props');
    await ch.assertQueue(q);
    const { inbox } = await consumeInto(ch, q, { noAck: true });
    ch.sendToQueue(q, Buffer.from('{}'), {
      contentType: 'application/json',
      contentEncoding: 'identity',
      headers: { s: 'text', i: 42, big: 2 ** 40, f: 1.5, b: true, nested: { a: [1, 'x'] } },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'corr',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'mid-1',
      timestamp: 1_700_000_000,
      type: 'kind',
      userId: 'guest',
      appId: 'app',
    });
    const m = await inbox.next();
    const p = m.properties;
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.contentEncoding, 'identity');
    assert.deepEqual(p.headers, { s: 'text', i: 42, big: 2 ** 40, f: 1.5, b: true, nested: { a: [1, 'x'] } });
    assert.equal(p.deliveryMode, 2);
    assert.equal(p.priority, 3);
    assert.equal(p.correlationId, 'corr');
    assert.equal(p.replyTo, 'replies');
    assert.equal(p.expiration, '60000');
    assert.equal(p.messageId, 'mid-1');
    assert.equal(p.timestamp, 1_700_000_000);
    assert.equal(p.type, 'kind');
    assert.equal(p.userId, 'guest');
    assert.equal(p.appId, 'app');
    await ch.close();
  });

  test('a user-id other than the connection\'s user is 406, as RabbitMQ checks it', async () => {
    const ch = await fixture.conn().createChannel();
    const failed = channelError(ch);
    ch.sendToQueue(unique('uid'), Buffer.from('x'), { userId: 'someone-else' });
    assert.equal((await failed).code, 406);
  });

  test('a message that expires before it is consumed is not delivered', async () => {
    const ch = await fixture.conn().createChannel();
    const q = unique('ttl');
    await ch.assertQueue(q);
    // expiration 0: gone unless a consumer takes it at once, as RabbitMQ has it
    ch.sendToQueue(q, Buffer.from('gone'), { expiration: '0' });
    ch.sendToQueue(q, Buffer.from('kept'));
    await ch.checkQueue(q);
    const m = await ch.get(q, { noAck: true });
    assert.ok(m !== false);
    assert.equal(m.content.toString(), 'kept');
    await ch.close();
  });
});
