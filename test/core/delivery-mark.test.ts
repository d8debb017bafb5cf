/**
 * A queue's delivery mark is written and synced ahead of the persistent messages it covers, so a
 * crash at any moment brings back every message a consumer may have seen flagged redelivered. The
 * crash is a copy of the journal's folder taken inside the delivery itself: what a kill -9 at that
 * instant would leave on disk.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Broker, type BrokerOptions, type CoreSession, type Delivery } from '../../src/core/index.js';
import { DELIVERY_MARK_WINDOW } from '../../src/core/delivery-mark.js';
import { JournalStore } from '../../src/store/index.js';
import { testFolder } from '../helpers/temp-dir.js';
import { RecordingSink, queue } from './harness.js';

async function journalBroker(t: TestContext, dir: string, policies: BrokerOptions['policies'] = []): Promise<{ broker: Broker; session: CoreSession; store: JournalStore }> {
  const store = new JournalStore({ dir, compactInterval: 0 });
  const broker = new Broker({ store, policies });
  await broker.start();
  t.after(() => broker.stop());
  const connection = await broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' } });
  return { broker, session: connection.createSession(), store };
}

/** Waits, a turn and a store sync at a time (a mark must be synced before what it covers goes out), until `sink` holds `count` deliveries. */
async function deliveriesOf(sink: RecordingSink, count: number, store: JournalStore): Promise<Delivery[]> {
  for (let turn = 0; turn < 1000 && sink.deliveries.length < count; turn++) {
    await nextTurn();
    await store.sync();
  }
  assert.equal(sink.deliveries.length, count, `expected ${count} deliveries`);
  return sink.deliveries;
}

/** A sink that copies the journal's folder at its first delivery, before recording it. */
function crashingSink(dir: string, crashCopy: string): RecordingSink {
  const sink = new RecordingSink();
  const record = sink.deliver.bind(sink);
  let crashed = false;
  sink.deliver = (delivery) => {
    if (!crashed) cpSync(dir, crashCopy, { recursive: true });
    crashed = true;
    record(delivery);
  };
  return sink;
}

/** The broker's data folder, and where the copy taken at the moment of the crash goes. */
async function folders(): Promise<{ dir: string; crashCopy: string }> {
  const dir = await testFolder('ferry-mark-');
  return { dir, crashCopy: join(await testFolder('ferry-mark-crash-'), 'data') };
}

test('a crash at the moment a persistent message goes out brings it back flagged redelivered', async (t) => {
  const { dir, crashCopy } = await folders();
  const { session, store } = await journalBroker(t, dir);
  await session.send({ destination: queue('orders'), body: Buffer.from('pay 10'), persistent: true });
  const sink = crashingSink(dir, crashCopy);
  session.subscribe({ destination: queue('orders'), sink, ackMode: 'client' });
  const [first] = await deliveriesOf(sink, 1, store);
  assert.equal(first!.redelivered, false);

  const after = await journalBroker(t, crashCopy);
  const again = new RecordingSink();
  after.session.subscribe({ destination: queue('orders'), sink: again, ackMode: 'client' });
  const [back] = await deliveriesOf(again, 1, after.store);
  assert.equal(back!.message.body.toString(), 'pay 10');
  assert.equal(back!.redelivered, true, 'the consumer may have seen it before the crash');
});

test('what the mark covers ahead of the deliveries is bounded by its window; later messages come back as first deliveries', async (t) => {
  const { dir, crashCopy } = await folders();
  const { session, store } = await journalBroker(t, dir);
  const total = DELIVERY_MARK_WINDOW + 500;
  for (let i = 1; i <= total; i++) void session.send({ destination: queue('orders'), body: Buffer.from(`m${i}`), persistent: true });
  await session.send({ destination: queue('orders'), body: Buffer.from('last'), persistent: true });
  const sink = crashingSink(dir, crashCopy);
  session.subscribe({ destination: queue('orders'), sink, ackMode: 'client', prefetch: 1 });
  await deliveriesOf(sink, 1, store);

  const after = await journalBroker(t, crashCopy);
  const again = new RecordingSink();
  after.session.subscribe({ destination: queue('orders'), sink: again, ackMode: 'client', prefetch: total + 1 });
  const back = await deliveriesOf(again, total + 1, after.store);
  const flagged = back.filter((d) => d.redelivered).map((d) => d.message.body.toString());
  assert.equal(flagged[0], 'm1', 'the one delivered is flagged');
  assert.ok(flagged.length <= DELIVERY_MARK_WINDOW + 1, `at most the window past it is flagged too (${flagged.length})`);
  assert.equal(back.at(-1)!.redelivered, false, 'a message past the window comes back as a first delivery');
});

/** Redelivery delays far longer than a test: a failed delivery stays in its delay until the broker stops. */
const longDelays: BrokerOptions['policies'] = [{ match: 'retried', redeliveryDelay: 600_000, maxRedeliveries: 5 }];

/** Takes the message waiting in `retried` and fails its delivery, which the policy then holds in a delay; returns the failed delivery. */
async function failOnce(broker: { broker: Broker; session: CoreSession; store: JournalStore }): Promise<Delivery> {
  const sink = new RecordingSink();
  const consumer = broker.session.subscribe({ destination: queue('retried'), sink, ackMode: 'client' });
  const [delivery] = await deliveriesOf(sink, 1, broker.store);
  consumer.redeliver(delivery!.tag);
  assert.equal(broker.broker.stats().queues.find((q) => q.name === 'retried')?.delayed, 1);
  await broker.store.sync();
  return delivery!;
}

test('a crash while a failed delivery waits out its redelivery delay counts that delivery once, after a first crash too', async (t) => {
  const { dir, crashCopy } = await folders();
  const first = await journalBroker(t, dir, longDelays);
  await first.session.send({ destination: queue('retried'), body: Buffer.from('pay 10'), persistent: true });
  assert.equal((await failOnce(first)).deliveryCount, 1);
  cpSync(dir, crashCopy, { recursive: true });

  const second = await journalBroker(t, crashCopy, longDelays);
  assert.equal((await failOnce(second)).deliveryCount, 2, 'one delivery failed before the crash');
  const secondCrash = join(await testFolder('ferry-mark-crash-'), 'data');
  cpSync(crashCopy, secondCrash, { recursive: true });

  const third = await journalBroker(t, secondCrash, longDelays);
  assert.equal((await failOnce(third)).deliveryCount, 3, 'two deliveries failed before the second crash');
});

test('a clean stop while a failed delivery waits out its redelivery delay keeps that delivery counted', async (t) => {
  const dir = await testFolder('ferry-mark-');
  const first = await journalBroker(t, dir, longDelays);
  await first.session.send({ destination: queue('retried'), body: Buffer.from('pay 10'), persistent: true });
  await failOnce(first);
  await first.broker.stop();

  const second = await journalBroker(t, dir, longDelays);
  assert.equal((await failOnce(second)).deliveryCount, 2);
});
