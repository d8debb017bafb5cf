import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Channel, ChannelModel } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091 } from '../helpers/amqp091.js';

let broker: TestBroker;
let conn: ChannelModel;
before(async () => {
  broker = await startBroker();
  conn = await connect091(broker.amqpPort);
});
after(async () => {
  await conn.close();
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `r091.${name}.${counter++}`;
}

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
