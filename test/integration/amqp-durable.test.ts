import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Receiver } from 'rhea';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { testFolder } from '../helpers/temp-dir.js';
import { AMQP_HEADER, connectAmqp, frame, frames, rawAmqp, rhea, terminus, type AmqpTestClient } from '../helpers/amqp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await broker.stop();
});

const clients: AmqpTestClient[] = [];
async function client(containerId?: string, port = broker.amqpPort): Promise<AmqpTestClient> {
  const c = await connectAmqp(port, containerId === undefined ? {} : { container_id: containerId });
  clients.push(c);
  return c;
}

let counter = 0;
function unique(name: string): string {
  return `amqp.durable.${name}.${Date.now().toString(36)}${counter++}`;
}

function durableSource(topic: string): { address: string; durable: 2; expiry_policy: 'never'; capabilities: string[] } {
  return { address: topic, durable: 2, expiry_policy: 'never', capabilities: ['topic'] };
}

function detached(receiver: Receiver, closed: boolean): Promise<void> {
  return new Promise((resolve) => {
    receiver.once('receiver_close', () => resolve());
    if (closed) receiver.close();
    else receiver.detach();
  });
}

function bodies(items: { message: { body?: unknown } }[]): unknown[] {
  return items.map((i) => i.message.body);
}

describe('durable subscriptions', () => {
  test('a durable topic source with expiry-policy never keeps messages while its link is detached', async () => {
    const topic = unique('kept');
    const containerId = unique('container');
    const sub = await client(containerId);
    const first = await sub.openReceiver({ name: 'orders', source: durableSource(topic) });
    assert.equal(first.receiver.source.durable, 2);
    assert.equal(first.receiver.source.expiry_policy, 'never');
    const producer = await client();
    const sender = await producer.openSender(`topic://${topic}`);
    await producer.send(sender, { body: 'while attached', durable: true });
    assert.equal((await first.inbox.next()).message.body, 'while attached');
    await detached(first.receiver, false);

    await producer.send(sender, { body: 'while away 1', durable: true });
    await producer.send(sender, { body: 'while away 2' });
    const stats = broker.server.broker.stats().durableSubscriptions.find((s) => s.clientId === containerId && s.name === 'orders');
    assert.equal(stats?.pending, 2);

    const again = await sub.openReceiver({ name: 'orders', source: durableSource(topic) });
    assert.deepEqual(bodies(await again.inbox.take(2)), ['while away 1', 'while away 2']);
  });

  test('the subscription survives its connection; a detach with closed removes it', async () => {
    const topic = unique('removed');
    const containerId = unique('container');
    let sub = await client(containerId);
    await sub.openReceiver({ name: 'audit', source: durableSource(topic) });
    await sub.close();
    const producer = await client();
    const sender = await producer.openSender(`topic://${topic}`);
    await producer.send(sender, { body: 'kept for audit', durable: true });

    sub = await client(containerId);
    const back = await sub.openReceiver({ name: 'audit', source: durableSource(topic) });
    assert.equal((await back.inbox.next()).message.body, 'kept for audit');
    await detached(back.receiver, true);
    assert.equal(broker.server.broker.stats().durableSubscriptions.some((s) => s.clientId === containerId && s.name === 'audit'), false);

    await producer.send(sender, { body: 'nobody subscribed', durable: true });
    const fresh = await sub.openReceiver({ name: 'audit', source: durableSource(topic) });
    await fresh.inbox.expectNothing(200);
  });

  test('a client that asks for a sole connection (JMS with a client id) keeps its subscriptions on it', async () => {
    const topic = unique('sole');
    const containerId = unique('jms');
    const options = { container_id: containerId, desired_capabilities: ['sole-connection-for-container'] };
    const sub = await connectAmqp(broker.amqpPort, options);
    clients.push(sub);
    const first = await sub.openReceiver({ name: 'jms-sub', source: durableSource(topic) });
    await detached(first.receiver, false);
    const producer = await client();
    await producer.send(await producer.openSender(`topic://${topic}`), { body: 'kept', durable: true });
    const again = await sub.openReceiver({ name: 'jms-sub', source: durableSource(topic) });
    assert.equal((await again.inbox.next()).message.body, 'kept');
  });

  test('a receiving link without a source finds the container\'s durable subscription of its name, as Qpid JMS\'s unsubscribe looks it up; closing it ends the subscription', async () => {
    const topic = unique('lookup');
    const containerId = unique('container');
    const sub = await client(containerId);
    const first = await sub.openReceiver({ name: 'looked-up', source: { ...durableSource(topic), filter: rhea.filter.selector("kind = 'kept'") } });
    await detached(first.receiver, false);
    const producer = await client();
    const sender = await producer.openSender(`topic://${topic}`);
    await producer.send(sender, { body: 'kept', application_properties: { kind: 'kept' }, durable: true });
    await producer.send(sender, { body: 'filtered out', application_properties: { kind: 'other' }, durable: true });

    const lookup = await sub.openReceiver({ name: 'looked-up', source: null as never });
    assert.equal(lookup.receiver.source.address, topic);
    assert.equal(lookup.receiver.source.durable, 2);
    assert.equal(lookup.receiver.source.expiry_policy, 'never');
    assert.equal((await lookup.inbox.next()).message.body, 'kept', 'the subscription, its selector and what it kept');
    await detached(lookup.receiver, true);
    await assert.rejects(sub.openReceiver({ name: 'looked-up', source: null as never }), /no durable subscription/);
    await assert.rejects(sub.openReceiver({ name: 'never-made', source: null as never }), /no durable subscription/);
  });

  test('a second live link on the same durable subscription is refused', async () => {
    const topic = unique('exclusive');
    const containerId = unique('container');
    const a = await client(containerId);
    await a.openReceiver({ name: 'only-one', source: durableSource(topic) });
    const b = await client(containerId);
    await assert.rejects(b.openReceiver({ name: 'only-one', source: durableSource(topic) }), /link refused/);
  });

  test('a topic source without expiry-policy never is an ordinary subscription', async () => {
    const topic = unique('ordinary');
    const containerId = unique('container');
    const sub = await client(containerId);
    const { receiver } = await sub.openReceiver({ name: 'plain', source: { address: topic, durable: 2, capabilities: ['topic'] } });
    assert.equal(receiver.source.durable ?? 0, 0);
    assert.equal(broker.server.broker.stats().durableSubscriptions.some((s) => s.clientId === containerId), false);
  });
});

interface TypedValue {
  readonly type: { readonly typecode: number };
  readonly value: unknown;
}
const types = rhea.types as unknown as {
  wrap_ulong(v: Buffer | number): unknown;
  wrap_ubyte(v: unknown): unknown;
  wrap_ushort(v: unknown): unknown;
  wrap_uint(v: unknown): unknown;
  wrap_byte(v: unknown): unknown;
  wrap_short(v: unknown): unknown;
  wrap_float(v: unknown): unknown;
  wrap_double(v: unknown): unknown;
  wrap_symbol(v: unknown): unknown;
  wrap_uuid(v: unknown): unknown;
  wrap_timestamp(v: unknown): unknown;
  wrap_char(v: unknown): unknown;
  Reader: new (b: Buffer) => { read(): { descriptor?: { value: unknown }; value: unknown }; remaining(): number };
};

/** The application properties of the first message on `q`, with their AMQP type codes as the broker wrote them, which rhea's message API does not show. */
async function applicationPropertiesOnWire(port: number, q: string): Promise<Record<string, { typecode: number; hex: string }>> {
  const raw = await rawAmqp(port);
  raw.write(
    Buffer.concat([
      AMQP_HEADER,
      frame(frames.open({ container_id: 'typed' })),
      frame(frames.begin({ next_outgoing_id: 0, incoming_window: 1000, outgoing_window: 1000 })),
      frame(frames.attach({ name: 'typed', handle: 0, role: true, snd_settle_mode: 1, source: terminus.source({ address: q }).described(), target: terminus.target({}).described() })),
      frame(frames.flow({ next_incoming_id: 0, incoming_window: 1000, next_outgoing_id: 0, outgoing_window: 1000, handle: 0, delivery_count: 0, link_credit: 1 })),
    ]),
  );
  for (let n = 8; ; ) {
    const bytes = await raw.waitFor(n);
    for (let at = 8; at + 8 <= bytes.length; at += bytes.readUInt32BE(at)) {
      if (at + bytes.readUInt32BE(at) > bytes.length) break;
      const f = (frames.read_frame as (b: Buffer) => { performative?: { constructor: { toString(): string } }; payload?: Buffer } | null)(bytes.subarray(at, at + bytes.readUInt32BE(at)));
      if (f?.payload === undefined || !String(f.performative?.constructor).startsWith('transfer')) continue;
      raw.socket.destroy();
      const reader = new types.Reader(f.payload);
      while (reader.remaining() > 0) {
        const section = reader.read();
        if (section.descriptor?.value !== 0x74) continue;
        const entries = section.value as TypedValue[];
        const out: Record<string, { typecode: number; hex: string }> = {};
        for (let i = 0; i + 1 < entries.length; i += 2) {
          const v = entries[i + 1]!;
          out[String(entries[i]!.value)] = { typecode: v.type.typecode, hex: Buffer.isBuffer(v.value) ? v.value.toString('hex') : v.value instanceof Date ? String(v.value.getTime()) : String(v.value) };
        }
        return out;
      }
      return {};
    }
    n = bytes.length + 1;
  }
}

describe('persistence', () => {
  test('a durable message is settled only once the store has synced it', async () => {
    let release: () => void = () => {};
    let gated = false;
    class SlowStore extends MemoryStore {
      override sync(): Promise<void> {
        const synced = super.sync();
        if (!gated) return synced;
        return new Promise((resolve) => {
          release = () => synced.then(resolve);
        });
      }
    }
    const slow = await startBroker({}, { store: new SlowStore() });
    try {
      const c = await connectAmqp(slow.amqpPort);
      const sender = await c.openSender(unique('synced'));
      gated = true;
      let settled = false;
      const outcome = c.send(sender, { body: 'durable', durable: true }).then((o) => {
        settled = true;
        return o;
      });
      assert.deepEqual(await c.send(sender, { body: 'not durable' }), { state: 'accepted' }, 'a non-durable message does not wait');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(settled, false, 'not settled before the sync');
      gated = false;
      release();
      assert.deepEqual(await outcome, { state: 'accepted' });
      await c.close();
    } finally {
      await slow.stop();
    }
  });

  test('durable messages and durable subscriptions survive a broker restart', async () => {
    const store = new MemoryStore();
    const q = unique('restart-q');
    const topic = unique('restart-t');
    const containerId = unique('container');
    let restartable = await startBroker({}, { store });
    try {
      const sub = await connectAmqp(restartable.amqpPort, { container_id: containerId });
      await sub.openReceiver({ name: 'restart', source: durableSource(topic) });
      await sub.close();
      const producer = await connectAmqp(restartable.amqpPort);
      await producer.send(await producer.openSender(q), {
        body: 'queued',
        durable: true,
        priority: 8,
        message_id: rhea.types.wrap_ulong(77),
        subject: 'kind',
        application_properties: { n: 5, s: 'värde' },
      });
      await producer.send(await producer.openSender(q), { body: 'transient' });
      await producer.send(await producer.openSender(`topic://${topic}`), { body: 'for the subscriber', durable: true });
      await producer.close();
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const back = await connectAmqp(restartable.amqpPort, { container_id: containerId });
      const queued = await back.openReceiver(q);
      const { message } = await queued.inbox.next();
      assert.equal(message.body, 'queued');
      assert.equal(message.durable, true);
      assert.equal(message.priority, 8);
      assert.equal(message.message_id, 77);
      assert.equal(message.subject, 'kind');
      assert.deepEqual(message.application_properties, { n: 5, s: 'värde' });
      await queued.inbox.expectNothing(150);
      const subscribed = await back.openReceiver({ name: 'restart', source: durableSource(topic) });
      assert.equal((await subscribed.inbox.next()).message.body, 'for the subscriber');
      await back.close();
    } finally {
      await restartable.stop();
    }
  });

  test('a durable message with a ulong property past a long\'s range is stored, and comes back after a restart as the same ulong', async () => {
    const store = new MemoryStore();
    const q = unique('ulong');
    let restartable = await startBroker({}, { store });
    try {
      const producer = await connectAmqp(restartable.amqpPort);
      const top = types.wrap_ulong(Buffer.from('ffffffffffffffff', 'hex'));
      const half = types.wrap_ulong(Buffer.from('8000000000000000', 'hex'));
      const sender = await producer.openSender(q);
      const outcome = await Promise.race([
        producer.send(sender, { body: 'big', durable: true, application_properties: { top, half } }),
        producer.closed.then((error) => ({ closedWith: error?.condition })),
      ]);
      assert.deepEqual(outcome, { state: 'accepted' }, 'accepted, and the connection stays open');
      await producer.close();
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const ULONG = 0x80;
      assert.deepEqual(await applicationPropertiesOnWire(restartable.amqpPort, q), {
        top: { typecode: ULONG, hex: 'ffffffffffffffff' },
        half: { typecode: ULONG, hex: '8000000000000000' },
      });
    } finally {
      await restartable.stop();
    }
  });

  test('application properties keep their AMQP types, live and after a restart from the journal', async () => {
    const data = await testFolder('ferry-amqp-types-');
    const settings = { data, 'store.journal.minFreeDisk': 0 };
    const q = unique('typed');
    const properties = {
      ub: types.wrap_ubyte(200),
      us: types.wrap_ushort(60000),
      ui: types.wrap_uint(4000000000),
      sb: types.wrap_byte(-5),
      ss: types.wrap_short(-300),
      ul: types.wrap_ulong(7),
      f: types.wrap_float(1.5),
      wd: types.wrap_double(2),
      sym: types.wrap_symbol('s'),
      id: types.wrap_uuid(Buffer.from('0123456789abcdef0123456789abcdef', 'hex')),
      ts: types.wrap_timestamp(1700000000123),
      // rhea's char takes the code point
      ch: types.wrap_char(0x78),
    };
    const expected = {
      ub: { typecode: 0x50, hex: '200' },
      us: { typecode: 0x60, hex: '60000' },
      ui: { typecode: 0x70, hex: '4000000000' },
      sb: { typecode: 0x51, hex: '-5' },
      ss: { typecode: 0x61, hex: '-300' },
      ul: { typecode: 0x53, hex: '7' },
      f: { typecode: 0x72, hex: '1.5' },
      wd: { typecode: 0x82, hex: '2' },
      sym: { typecode: 0xa3, hex: 's' },
      id: { typecode: 0x98, hex: '0123456789abcdef0123456789abcdef' },
      ts: { typecode: 0x83, hex: '1700000000123' },
      ch: { typecode: 0x73, hex: '120' },
    };
    let restartable = await startBroker(settings);
    try {
      const producer = await connectAmqp(restartable.amqpPort);
      const sender = await producer.openSender(q);
      // two: the reader below takes one at most once (its link's sender settles)
      for (let i = 0; i < 2; i++) assert.deepEqual(await producer.send(sender, { body: 'typed', durable: true, application_properties: properties }), { state: 'accepted' });
      await producer.close();
      assert.deepEqual(await applicationPropertiesOnWire(restartable.amqpPort, q), expected);
      await restartable.stop();

      restartable = await startBroker(settings);
      assert.deepEqual(await applicationPropertiesOnWire(restartable.amqpPort, q), expected);
    } finally {
      await restartable.stop();
    }
  });

  test("a durable subscriber's selector compares strings with numbers the same way after a restart", async () => {
    // AMQP properties are typed, so its selectors are strict JMS: the string '5' is not greater than 3
    const store = new MemoryStore();
    const topic = unique('strict-t');
    const containerId = unique('container');
    const source = { ...durableSource(topic), filter: rhea.filter.selector('n > 3') };
    let restartable = await startBroker({}, { store });
    try {
      const sub = await connectAmqp(restartable.amqpPort, { container_id: containerId });
      const before = await sub.openReceiver({ name: 'strict', source });
      const producer = await connectAmqp(restartable.amqpPort);
      const sender = await producer.openSender(`topic://${topic}`);
      await producer.send(sender, { body: 'text before', durable: true, application_properties: { n: '5' } });
      await producer.send(sender, { body: 'number before', durable: true, application_properties: { n: 5 } });
      assert.equal((await before.inbox.next()).message.body, 'number before');
      await sub.close();
      await producer.close();
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const again = await connectAmqp(restartable.amqpPort);
      const resender = await again.openSender(`topic://${topic}`);
      await again.send(resender, { body: 'text after', durable: true, application_properties: { n: '5' } });
      await again.send(resender, { body: 'number after', durable: true, application_properties: { n: 5 } });
      await again.close();
      const back = await connectAmqp(restartable.amqpPort, { container_id: containerId });
      const after = await back.openReceiver({ name: 'strict', source });
      assert.equal((await after.inbox.next()).message.body, 'number after');
      await after.inbox.expectNothing(150);
      await back.close();
    } finally {
      await restartable.stop();
    }
  });
});
