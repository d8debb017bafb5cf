import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Channel, ChannelModel } from 'amqplib';
import { amqp091Fixture } from '../helpers/amqp091-fixture.js';
import { startBroker } from '../helpers/broker.js';
import { bodyFrame, connect091, Raw091 } from '../helpers/amqp091.js';
import { encodeContentHeader, encodeProperties } from '../../src/protocols/amqp091/frames.js';

const fixture = amqp091Fixture('r091');
const unique = fixture.unique;

/** Every body waiting in the queue, taken with basic.get. */
async function bodies(ch: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
}

describe('headers exchange', () => {
  const modes = ['all', 'any', 'all-with-x', 'any-with-x'] as const;

  /** Publishes the same four messages to the exchange and reads what each mode's queue got. */
  async function routed(c: ChannelModel, exchange: string): Promise<Record<string, string[]>> {
    const ch = await c.createChannel();
    const messages: Record<string, Record<string, string>> = { m_a: { a: '1' }, m_xk: { 'x-k': 'v' }, m_both: { a: '1', 'x-k': 'v' }, m_none: {} };
    for (const [body, headers] of Object.entries(messages)) ch.publish(exchange, '', Buffer.from(body), { headers });
    const got: Record<string, string[]> = {};
    for (const mode of modes) got[mode] = await bodies(ch, `${exchange}.${mode}`);
    await ch.close();
    return got;
  }

  test('all-with-x and any-with-x match the x- arguments too, as RabbitMQ 3.10, and keep doing so after a restart', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-hx-'));
    try {
      let b = await startBroker({ data });
      let c = await connect091(b.amqpPort);
      const ch = await c.createChannel();
      const exchange = 'hx.modes';
      await ch.assertExchange(exchange, 'headers', { durable: true });
      for (const mode of modes) {
        await ch.assertQueue(`${exchange}.${mode}`, { durable: true });
        await ch.bindQueue(`${exchange}.${mode}`, exchange, '', { 'x-match': mode, a: '1', 'x-k': 'v' });
      }
      await ch.close();
      const expected = { all: ['m_a', 'm_both'], any: ['m_a', 'm_both'], 'all-with-x': ['m_both'], 'any-with-x': ['m_a', 'm_xk', 'm_both'] };
      assert.deepEqual(await routed(c, exchange), expected);
      await c.close();
      await b.stop();

      b = await startBroker({ data });
      c = await connect091(b.amqpPort);
      try {
        assert.deepEqual(await routed(c, exchange), expected);
        // the mode is part of the binding: unbinding the all one leaves the all-with-x one with the same arguments
        const un = await c.createChannel();
        await un.bindQueue(`${exchange}.all`, exchange, '', { 'x-match': 'all-with-x', a: '1', 'x-k': 'v' });
        await un.unbindQueue(`${exchange}.all`, exchange, '', { 'x-match': 'all', a: '1', 'x-k': 'v' });
        await un.close();
        assert.deepEqual((await routed(c, exchange)).all, ['m_both']);
      } finally {
        await c.close();
        await b.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('sender-selected distribution (CC and BCC headers)', () => {
  /** A direct exchange with a queue bound by each key, named after it; the names by key. */
  async function keyed(ch: Channel, keys: readonly string[], args: Record<string, Record<string, unknown>> = {}): Promise<{ exchange: string; queue: Record<string, string> }> {
    const exchange = unique('cc');
    await ch.assertExchange(exchange, 'direct', { autoDelete: false });
    const queue: Record<string, string> = {};
    for (const key of keys) {
      queue[key] = `${exchange}.${key}`;
      await ch.assertQueue(queue[key]!, { arguments: args[key] ?? {} });
      await ch.bindQueue(queue[key]!, exchange, key);
    }
    return { exchange, queue };
  }

  test('CC and BCC keys route the message too, each queue once; BCC is gone before anyone sees it, CC stays', async () => {
    const ch = await fixture.conn().createChannel();
    const { exchange, queue } = await keyed(ch, ['a', 'b', 'c', 'd']);
    // d is bound by two of the keys: one copy still
    await ch.bindQueue(queue['d']!, exchange, 'b');
    ch.publish(exchange, 'a', Buffer.from('one'), { headers: { CC: ['b', 'd'], BCC: ['c'], k: 'v' } });
    ch.publish(exchange, 'x', Buffer.from('two'), { headers: { CC: 'b' } });
    for (const key of ['a', 'b', 'c', 'd']) {
      const got: { body: string; routingKey: string; headers: Record<string, unknown> }[] = [];
      for (;;) {
        const m = await ch.get(queue[key]!, { noAck: true });
        if (m === false) break;
        got.push({ body: m.content.toString(), routingKey: m.fields.routingKey, headers: m.properties.headers ?? {} });
      }
      const one = { body: 'one', routingKey: 'a', headers: { CC: ['b', 'd'], k: 'v' } };
      const two = { body: 'two', routingKey: 'x', headers: { CC: 'b' } };
      const expected = { a: [one], b: [one, two], c: [one], d: [one, two] }[key];
      assert.deepEqual(got, expected, key);
    }
    await ch.close();
  });

  test('a mandatory publish that only its CC keys route is not returned; in a transaction they route at commit', async () => {
    const ch = await fixture.conn().createConfirmChannel();
    const { exchange, queue } = await keyed(ch, ['a']);
    const returned: string[] = [];
    ch.on('return', (m: { content: Buffer }) => returned.push(m.content.toString()));
    ch.publish(exchange, 'nowhere', Buffer.from('cc'), { mandatory: true, headers: { CC: ['a'] } });
    ch.publish(exchange, 'nowhere', Buffer.from('bcc'), { mandatory: true, headers: { BCC: ['a'] } });
    await ch.waitForConfirms();
    assert.deepEqual(returned, []);
    assert.deepEqual(await bodies(ch, queue['a']!), ['cc', 'bcc']);
    await ch.close();

    // amqplib has no tx.select: a raw client publishes in a transaction
    const raw = await Raw091.ready(fixture.broker().amqpPort);
    raw.send(1, 'tx.select', {});
    await raw.method(); // select-ok
    const body = Buffer.from('held');
    raw.send(1, 'basic.publish', { ticket: 0, exchange, routingKey: 'nowhere', mandatory: false, immediate: false });
    raw.write(Buffer.concat([encodeContentHeader(1, body.length, encodeProperties({ headers: new Map([['BCC', ['a']]]) })), bodyFrame(1, body)]));
    const check = await fixture.conn().createChannel();
    assert.equal((await check.checkQueue(queue['a']!)).messageCount, 0);
    raw.send(1, 'tx.commit', {});
    const commitOk = await raw.method();
    assert.deepEqual([commitOk.classId, commitOk.methodId], [90, 21]);
    raw.socket.destroy();
    const got = await check.get(queue['a']!, { noAck: true });
    assert.ok(got !== false);
    assert.equal(got.content.toString(), 'held');
    assert.deepEqual(got.properties.headers, {});
    await check.close();
  });

  test('a dead letter goes by its own key and its CC keys, which x-death names; a dead-letter routing key replaces them and drops CC', async () => {
    const ch = await fixture.conn().createChannel();
    const exchange = unique('cc.dlx');
    await ch.assertExchange(exchange, 'direct', { autoDelete: false });
    const name = (key: string): string => `${exchange}.${key}`;
    await ch.assertQueue(name('src'), { deadLetterExchange: exchange });
    await ch.assertQueue(name('keyed'), { deadLetterExchange: exchange, deadLetterRoutingKey: 'b' });
    for (const key of ['a', 'b']) await ch.assertQueue(name(key));
    for (const key of ['src', 'keyed', 'a', 'b']) await ch.bindQueue(name(key), exchange, key);
    ch.publish(exchange, 'src', Buffer.from('one'), { headers: { CC: ['a'] } });
    ch.publish(exchange, 'keyed', Buffer.from('two'), { headers: { CC: ['a'] } });
    assert.deepEqual(await bodies(ch, name('a')), ['one', 'two']);
    for (const key of ['src', 'keyed']) {
      const m = await ch.get(name(key));
      assert.ok(m !== false);
      ch.reject(m, false);
    }
    type Death = { queue: string; 'routing-keys': string[] };
    const deaths = async (queue: string): Promise<[string, Death[], boolean][]> => {
      const out: [string, Death[], boolean][] = [];
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (m === false) return out;
        const headers = m.properties.headers ?? {};
        out.push([m.content.toString(), (headers['x-death'] as Death[]).map((d) => ({ queue: d.queue, 'routing-keys': d['routing-keys'] })), 'CC' in headers]);
      }
    };
    const one: [string, Death[], boolean] = ['one', [{ queue: name('src'), 'routing-keys': ['src', 'a'] }], true];
    assert.deepEqual(await deaths(name('src')), [one]);
    assert.deepEqual(await deaths(name('a')), [one]);
    assert.deepEqual(await deaths(name('b')), [['two', [{ queue: name('keyed'), 'routing-keys': ['keyed', 'a'] }], false]]);
    await ch.close();
  });
});

describe('dead-letter cycles', () => {
  /** A queue's figures in the broker's stats. */
  function stats(name: string): { pending: number; expired: number } {
    const s = fixture.broker().server.broker.stats().queues.find((q) => q.name === name);
    assert.ok(s !== undefined, name);
    return { pending: s.pending, expired: s.expired };
  }

  /** Waits until `done`, looking again every 20 ms; fails after 10 s. */
  async function until(what: string, done: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('a message expiring round two queues is dropped when it would come back to one it died in, as RabbitMQ drops it', async () => {
    const ch = await fixture.conn().createChannel();
    const a = unique('cycle.a');
    const b = unique('cycle.b');
    await ch.assertQueue(a, { messageTtl: 50, deadLetterExchange: '', deadLetterRoutingKey: b });
    await ch.assertQueue(b, { messageTtl: 50, deadLetterExchange: '', deadLetterRoutingKey: a });
    ch.sendToQueue(a, Buffer.from('round'));
    // after a round trip the message is in one of them
    await ch.checkQueue(a);
    // a message moves from queue to queue in one step: while it goes round, one of them holds it
    await until('both queues empty', () => stats(a).pending === 0 && stats(b).pending === 0);
    assert.deepEqual([stats(a).expired, stats(b).expired], [1, 1]);
    await ch.close();
  });

  test('an overflow and an expiry make a cycle too; the message that did not die stays', async () => {
    const ch = await fixture.conn().createChannel();
    const full = unique('cycle.full');
    const wait = unique('cycle.wait');
    await ch.assertQueue(full, { maxLength: 1, deadLetterExchange: '', deadLetterRoutingKey: wait });
    await ch.assertQueue(wait, { messageTtl: 50, deadLetterExchange: '', deadLetterRoutingKey: full });
    ch.sendToQueue(full, Buffer.from('first'));
    ch.sendToQueue(full, Buffer.from('second'));
    await until('the first expired in the wait queue', () => stats(wait).expired === 1 && stats(wait).pending === 0);
    const m = await ch.get(full, { noAck: true });
    assert.ok(m !== false);
    assert.deepEqual([m.content.toString(), m.properties.headers?.['x-death']], ['second', undefined]);
    assert.deepEqual([stats(full).pending, stats(wait).pending, stats(wait).expired], [0, 0, 1]);
    await ch.close();
  });

  test('a rejection on the way is no cycle: a retry through a waiting queue comes back to the queue it was rejected from', async () => {
    const ch = await fixture.conn().createChannel();
    const work = unique('cycle.work');
    const wait = unique('cycle.retry');
    await ch.assertQueue(work, { deadLetterExchange: '', deadLetterRoutingKey: wait });
    await ch.assertQueue(wait, { messageTtl: 50, deadLetterExchange: '', deadLetterRoutingKey: work });
    ch.sendToQueue(work, Buffer.from('retry'));
    type Death = { queue: string; reason: string };
    for (let round = 1; round <= 2; round++) {
      await until(`round ${round} back in the work queue`, () => stats(work).pending === 1);
      const m = await ch.get(work);
      assert.ok(m !== false);
      if (round === 2) assert.deepEqual((m.properties.headers?.['x-death'] as Death[]).map((d) => [d.queue, d.reason]), [[wait, 'expired'], [work, 'rejected']]);
      ch.reject(m, false);
    }
    await ch.close();
  });
});

describe('unbinding what is not bound', () => {
  test('queue.unbind and exchange.unbind answer unbind-ok for a missing binding, queue or exchange, as RabbitMQ 3.10 does', async () => {
    const ch = await fixture.conn().createChannel();
    const exchange = unique('unbind.x');
    const queue = unique('unbind.q');
    await ch.assertExchange(exchange, 'direct');
    await ch.assertQueue(queue);
    await ch.bindQueue(queue, exchange, 'k');
    await ch.bindExchange('amq.fanout', exchange, 'k');
    // cleanup written for RabbitMQ, run twice: every unbind after the first finds nothing to remove
    for (let round = 0; round < 2; round++) {
      await ch.unbindQueue(queue, exchange, 'k');
      await ch.unbindExchange('amq.fanout', exchange, 'k');
    }
    await ch.unbindQueue(unique('unbind.no-queue'), exchange, 'k');
    await ch.unbindQueue(queue, unique('unbind.no-exchange'), 'k');
    await ch.unbindExchange(unique('unbind.no-destination'), exchange, 'k');
    await ch.unbindExchange(exchange, unique('unbind.no-source'), 'k');
    await ch.deleteExchange(exchange);
    await ch.unbindQueue(queue, exchange, 'k');
    // the channel is still open, and the bindings are gone: a publish now reaches nothing
    await ch.assertExchange(exchange, 'direct');
    ch.publish(exchange, 'k', Buffer.from('unrouted'));
    assert.deepEqual(await bodies(ch, queue), []);
    await ch.close();
  });
});
