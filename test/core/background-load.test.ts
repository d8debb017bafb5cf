/**
 * A broker started on a store with more waiting messages than `loadInBackgroundAbove` serves before
 * they are all back in their queues: sends are stored and confirmed at once, a queue still loading
 * dispatches nothing, and once it is whole it delivers its stored messages first, then what arrived
 * meanwhile. The load puts messages back a turn's worth at a time, so what a test does right after
 * `restart` (no timer or I/O turn in between) happens before the first message is back.
 *
 * Two ways to get there: a journal that keeps a catalog serves from it before it reads the rest
 * (every queue loads then, and how many messages each will get back is not known until the journal
 * is read); one without replays it whole first, then puts messages back while it serves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isFerryError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/core/index.js';
import { JournalStore } from '../../src/store/index.js';
import { queue, settle, startBroker, type StoreKind, type Subscriber, type TestBroker } from './harness.js';

/** More than the load puts back in one turn, so that it takes several. */
const BACKLOG = 5000;

/** Settles until `subscriber` holds `count` deliveries (persistent ones go out a delivery mark's window at a time). */
async function received(subscriber: { deliveries: readonly unknown[] }, count: number): Promise<void> {
  for (let turn = 0; turn < 200 && subscriber.deliveries.length < count; turn++) await settle();
}

/** The bodies `subscriber` is handed while queue `name` of `broker` is still loading, as they come. */
function deliveredWhileLoading(broker: TestBroker, name: string, subscriber: Subscriber): string[] {
  const loading = (): boolean => broker.broker.stats().queues.find((q) => q.name === name)?.loading === true;
  const delivered: string[] = [];
  const record = subscriber.sink.deliver.bind(subscriber.sink);
  subscriber.sink.deliver = (delivery) => {
    if (loading()) delivered.push(delivery.message.body.toString());
    record(delivery);
  };
  return delivered;
}

/** A logger that keeps every line's fields, its level as `level`. */
function keptLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const keep = (level: string) => (fields: object) => void lines.push({ level, ...fields });
  return { logger: { ...silentLogger, info: keep('info'), warn: keep('warn') }, lines };
}

async function withBacklog(t: Parameters<typeof startBroker>[0], name: string, count: number, storeKind: StoreKind = 'journal', logger?: Logger): Promise<TestBroker> {
  const broker = await startBroker(t, { storeKind, loadInBackgroundAbove: 0, ...(logger === undefined ? {} : { logger }) });
  const client = await broker.connect();
  const confirms: (Promise<void> | null)[] = [];
  for (let i = 0; i < count; i++) confirms.push(client.send(queue(name), `old-${i}`, { persistent: true }));
  await Promise.all(confirms);
  return broker;
}

for (const storeKind of ['journal', 'journal-without-catalog'] as const) {
  test(`${storeKind}: a queue still loading takes sends and confirms them, delivers nothing, and once whole delivers its stored messages in order, then the new ones`, async (t) => {
    const first = await withBacklog(t, 'orders', BACKLOG, storeKind);
    const broker = await first.restart();
    const fromCatalog = (broker.store as JournalStore).openedFromCatalog;
    assert.equal(fromCatalog, storeKind === 'journal');
    const stats = broker.queueStats('orders') as { pending: number; loading?: true };
    assert.equal(stats.loading, true, 'the queue is still loading when the broker has started');
    // read from the catalog, the journal has not said yet what waits where
    assert.equal(stats.pending, fromCatalog ? 0 : BACKLOG, 'its pending count includes what is known to come');

    const client = await broker.connect();
    const subscriber = client.subscribe(queue('orders'), { prefetch: BACKLOG + 10 });
    const whileLoading = deliveredWhileLoading(broker, 'orders', subscriber);
    const confirms = [client.send(queue('orders'), 'new-1', { persistent: true }), client.send(queue('orders'), 'new-2', { persistent: true })];
    assert.equal(broker.queueStats('orders').pending, fromCatalog ? 2 : BACKLOG + 2);
    // a browse needs every waiting message: refused until they are back
    assert.throws(
      () => broker.broker.admin.browse('orders', undefined, 0, 10),
      (err: unknown) => isFerryError(err) && err.code === 'FERRY_QUEUE_LOADING',
    );
    await Promise.all(confirms);

    await broker.broker.loaded;
    await received(subscriber, BACKLOG + 2);
    const expected = [...Array.from({ length: BACKLOG }, (_, i) => `old-${i}`), 'new-1', 'new-2'];
    assert.deepEqual(subscriber.bodies(), expected);
    assert.deepEqual(whileLoading, [], 'nothing is delivered while the queue loads');
    assert.equal((broker.queueStats('orders') as { loading?: true }).loading, undefined);
    // and a browse is answered now
    assert.equal(broker.broker.admin.browse('orders', undefined, 0, 1).items.length, 0, 'everything waiting went to the consumer');
  });

  test(`${storeKind}: a queue purged while it loads loses its stored messages and those sent meanwhile, for good, and the purge counts them all`, async (t) => {
    const { logger, lines } = keptLogger();
    const first = await withBacklog(t, 'stale', BACKLOG, storeKind, logger);
    const client0 = await first.connect();
    await client0.send(queue('kept'), 'keep-me', { persistent: true });
    const broker = await first.restart();
    const fromCatalog = (broker.store as JournalStore).openedFromCatalog;
    const figures = broker.broker.admin.destination('queue', 'stale');
    // read from the catalog, the journal has not said yet how many wait there
    assert.deepEqual({ loading: figures.loading, toLoad: figures.toLoad }, { loading: true, toLoad: fromCatalog ? null : BACKLOG });
    const client = await broker.connect();
    const confirm = client.send(queue('stale'), 'late', { persistent: true });
    const purged = broker.broker.admin.purge('stale');
    assert.equal(broker.queueStats('stale').pending, 0);
    assert.equal(await purged, BACKLOG + 1, 'the purge counts what was still to be loaded, once the store has counted it');
    await confirm;
    await broker.broker.loaded;
    await settle();
    assert.equal(broker.queueStats('stale').pending, 0, 'nothing came back after the purge');
    assert.deepEqual(lines.filter((l) => l['event'] === 'store.orphans'), [], 'what the purge deleted is no orphan');
    assert.equal(lines.find((l) => l['event'] === 'broker.load-discarded')?.['references'], BACKLOG);

    const again = await broker.restart();
    await again.broker.loaded;
    assert.equal(again.queueStats('stale').pending, 0, 'the purged messages were deleted from the store');
    assert.equal(again.queueStats('kept').pending, 1, 'another queue kept its message');
  });
}

for (const storeKind of ['journal', 'journal-without-catalog'] as const) {
  test(`${storeKind}: a queue deleted while it loads says how many messages went with it`, async (t) => {
    const first = await withBacklog(t, 'doomed', BACKLOG, storeKind);
    const broker = await first.restart();
    assert.equal((broker.queueStats('doomed') as { loading?: true }).loading, true);
    const client = await broker.connect();
    // a client's delete, as AMQP 0-9-1's queue.delete, whose delete-ok carries the count
    assert.equal(await client.connection.deleteQueue('doomed', { ifUnused: false, ifEmpty: false }), BACKLOG);
    await broker.broker.loaded;
    const again = await broker.restart();
    await again.broker.loaded;
    assert.equal(again.hasQueue('doomed'), false, 'its messages were deleted from the store');
  });
}

test('a stop while queues load leaves every message in the store for the next start', async (t) => {
  const first = await withBacklog(t, 'orders', BACKLOG);
  const broker = await first.restart();
  // a few turns of loading: part of the queue is back, part not
  await nextTurn();
  await nextTurn();
  assert.equal((broker.queueStats('orders') as { loading?: true }).loading, true, 'still loading when stopped');
  const again = await broker.restart();
  await again.broker.loaded;
  assert.equal(again.queueStats('orders').pending, BACKLOG);
  const client = await again.connect();
  const subscriber = client.subscribe(queue('orders'), { prefetch: BACKLOG });
  await received(subscriber, BACKLOG);
  assert.deepEqual(subscriber.bodies(), Array.from({ length: BACKLOG }, (_, i) => `old-${i}`));
  assert.ok(subscriber.deliveries.every((d) => !d.redelivered), 'nothing was delivered, so nothing is flagged redelivered');
});

test('a broker under loadInBackgroundAbove loads everything before start returns', async (t) => {
  const filled = await startBroker(t, { storeKind: 'journal', loadInBackgroundAbove: BACKLOG });
  const client = await filled.connect();
  await Promise.all(Array.from({ length: 100 }, (_, i) => client.send(queue('small'), `m-${i}`, { persistent: true })));
  const broker = await filled.restart();
  const stats = broker.queueStats('small') as { pending: number; loading?: true };
  assert.equal(stats.loading, undefined);
  assert.equal(stats.pending, 100);
});

test('a consumer of a loading queue gets nothing before the queue is whole, so a high-priority message at its end still goes first', async (t) => {
  // in memory, where a delivery waits for no delivery mark's write: dispatch would be at once
  const first = await withBacklog(t, 'orders', BACKLOG, 'memory');
  const client0 = await first.connect();
  await client0.send(queue('orders'), 'urgent', { persistent: true, priority: 9 });
  const broker = await first.restart();
  assert.equal((broker.queueStats('orders') as { loading?: true }).loading, true);
  const client = await broker.connect();
  // part of the queue is back when the consumer comes
  await nextTurn();
  await nextTurn();
  assert.equal((broker.queueStats('orders') as { loading?: true }).loading, true, 'still loading when the consumer came');
  const subscriber = client.subscribe(queue('orders'), { prefetch: 10 });
  await broker.broker.loaded;
  await received(subscriber, 10);
  assert.deepEqual(subscriber.bodies().slice(0, 2), ['urgent', 'old-0']);
});

test('a get from a loading queue is not answered "empty": it waits until the queue is whole', async (t) => {
  const first = await withBacklog(t, 'orders', BACKLOG);
  const broker = await first.restart();
  const client = await broker.connect();
  assert.equal(client.session.get('orders', 'auto'), undefined, 'nothing can be taken yet');
  const whole = client.session.whenGettable('orders', 'auto');
  assert.ok(whole !== undefined, 'the get is told to wait, not that the queue is empty');
  await whole;
  assert.equal((broker.queueStats('orders') as { loading?: true }).loading, undefined);
  // the journal reads the head's body back first when it is not in memory
  let got = client.session.get('orders', 'auto');
  for (let i = 0; i < 100 && got === undefined; i++) {
    await client.session.whenGettable('orders', 'auto');
    got = client.session.get('orders', 'auto');
  }
  assert.equal(got?.delivery.message.body.toString(), 'old-0');
  assert.equal(got?.messageCount, BACKLOG - 1);
});

test('opened from its catalog, every queue loads, one with nothing stored too, and delivers what it took meanwhile once the journal is read', async (t) => {
  const first = await withBacklog(t, 'orders', BACKLOG);
  first.broker.admin.createDestination('queue', 'quiet');
  const broker = await first.restart();
  assert.equal((broker.store as JournalStore).openedFromCatalog, true);
  assert.equal((broker.queueStats('quiet') as { loading?: true }).loading, true, 'whether it had messages stored is not known yet');
  const client = await broker.connect();
  const subscriber = client.subscribe(queue('quiet'));
  const whileLoading = deliveredWhileLoading(broker, 'quiet', subscriber);
  await client.send(queue('quiet'), 'meanwhile', { persistent: true });
  await broker.broker.loaded;
  assert.deepEqual(whileLoading, [], 'nothing is delivered while the queue loads');
  await received(subscriber, 1);
  assert.deepEqual(subscriber.bodies(), ['meanwhile']);
  assert.equal(broker.queueStats('orders').pending, BACKLOG);
});

test('opened from its catalog, a queue with nothing stored purged while it loads says so once the journal is read', async (t) => {
  const first = await withBacklog(t, 'orders', BACKLOG);
  first.broker.admin.createDestination('queue', 'quiet');
  const broker = await first.restart();
  assert.equal((broker.store as JournalStore).openedFromCatalog, true);
  const client = await broker.connect();
  await client.send(queue('quiet'), 'meanwhile', { persistent: true });
  assert.equal(await broker.broker.admin.purge('quiet'), 1, 'what arrived meanwhile, and nothing stored');
  await broker.broker.loaded;
  assert.equal(broker.queueStats('orders').pending, BACKLOG);
});

test('sends taken before the journal was read keep their place after the stored messages, through a restart before the load was over', async (t) => {
  const first = await withBacklog(t, 'orders', BACKLOG);
  const loading = await first.restart();
  assert.equal((loading.store as JournalStore).openedFromCatalog, true);
  const client = await loading.connect();
  // numbered before anything tells the queue how far its stored messages go
  const confirms = [client.send(queue('orders'), 'new-1', { persistent: true }), client.send(queue('orders'), 'new-2', { persistent: true })];
  assert.equal((loading.queueStats('orders') as { loading?: true }).loading, true, 'taken while the queue was loading');
  await Promise.all(confirms);
  const again = await loading.restart();
  await again.broker.loaded;
  const subscriber = (await again.connect()).subscribe(queue('orders'), { prefetch: BACKLOG + 10 });
  await received(subscriber, BACKLOG + 2);
  assert.deepEqual(subscriber.bodies(), [...Array.from({ length: BACKLOG }, (_, i) => `old-${i}`), 'new-1', 'new-2']);
});
