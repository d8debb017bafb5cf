import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker, type CoreConnection, type Delivery, type DeliverySink } from '../../src/core/index.js';
import { Writer } from '../../src/core/record-codec.js';
import { RecordType, decodeScheduled } from '../../src/core/records.js';
import { SCHEDULER_BATCH } from '../../src/core/scheduler.js';
import { MemoryStore } from '../../src/store/index.js';

/** Counts committed transactions and their operations; can lose commits, as a crash before the commit record does. */
class CountingStore extends MemoryStore {
  /** Operations of each transaction committed, in order. */
  readonly committed: number[] = [];
  loseCommits = false;
  lost = 0;
  private readonly operations = new Map<number, number>();

  override add(id: number, type: number, data: Buffer, txId?: number): void {
    if (txId !== undefined) this.operations.set(txId, (this.operations.get(txId) ?? 0) + 1);
    super.add(id, type, data, txId);
  }

  override update(id: number, type: number, data: Buffer, txId?: number): void {
    if (txId !== undefined) this.operations.set(txId, (this.operations.get(txId) ?? 0) + 1);
    super.update(id, type, data, txId);
  }

  override delete(id: number, txId?: number): void {
    if (txId !== undefined) this.operations.set(txId, (this.operations.get(txId) ?? 0) + 1);
    super.delete(id, txId);
  }

  override commit(txId: number): void {
    const operations = this.operations.get(txId) ?? 0;
    this.operations.delete(txId);
    if (this.loseCommits) {
      this.lost++;
      super.rollback(txId);
      return;
    }
    if (operations > 0) this.committed.push(operations);
    super.commit(txId);
  }
}

/** Records deliveries, and how many arrived in each run of synchronous code (one dispatch of a batch). */
class BatchSink implements DeliverySink {
  readonly deliveries: Delivery[] = [];
  readonly perRun: number[] = [];
  private inRun = false;

  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
    if (!this.inRun) {
      this.inRun = true;
      this.perRun.push(0);
      queueMicrotask(() => {
        this.inRun = false;
      });
    }
    this.perRun[this.perRun.length - 1]!++;
  }
  isWritable(): boolean {
    return true;
  }
  onWritable(): void {}
  bodies(): string[] {
    return this.deliveries.map((d) => d.message.body.toString());
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await tick();
  assert.ok(done(), `never happened: ${what}`);
}

function scheduleBurst(connection: CoreConnection, count: number, delayMs: number, persistent: boolean): void {
  const session = connection.createSession();
  for (let i = 0; i < count; i++) {
    session.send({
      destination: { kind: 'queue', name: 'due' },
      body: Buffer.from(`m${i}`),
      persistent,
      properties: new Map([['AMQ_SCHEDULED_DELAY', delayMs]]),
    });
  }
}

function subscribe(connection: CoreConnection): BatchSink {
  const sink = new BatchSink();
  connection.createSession().subscribe({ destination: { kind: 'queue', name: 'due' }, ackMode: 'individual', prefetch: 100_000, sink });
  return sink;
}

const names = (count: number): string[] => Array.from({ length: count }, (_, i) => `m${i}`);

test('a burst of persistent scheduled messages comes due as one batch: one transaction, one dispatch; a crash before its commit loses and doubles nothing', async () => {
  let now = 1_000_000;
  const clock = (): number => now;
  const store = new CountingStore();
  const count = 1500;
  assert.ok(count <= SCHEDULER_BATCH);

  const first = new Broker({ store, clock });
  await first.start();
  scheduleBurst(await first.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }), count, 60_000, true);
  assert.equal(first.stats().scheduled, count);
  await first.stop();

  // Due while the broker is down; the next one to start fires them at once, and crashes before
  // the batch's commit record reaches the store.
  now += 120_000;
  store.loseCommits = true;
  const crashed = new Broker({ store, clock });
  await crashed.start();
  await until('the batch is committed', () => store.lost > 0);
  assert.equal(store.lost, 1, 'the whole burst is one transaction');
  store.loseCommits = false;
  await crashed.stop();

  const again = new Broker({ store, clock });
  await again.start();
  assert.equal(again.stats().scheduled, count, 'every message is still scheduled after the lost commit');
  const sink = subscribe(await again.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }));
  // subscribed before the burst comes due, so that its dispatch is the batch's own
  assert.equal(again.stats().scheduled, count);
  await until('the burst is delivered', () => sink.deliveries.length >= count);
  await tick();
  assert.deepEqual(sink.bodies(), names(count));
  // each message's move: its message record, its reference, the scheduled record's delete
  assert.deepEqual(store.committed, [3 * count]);
  assert.deepEqual(sink.perRun, [count], 'one dispatch for the batch');
  assert.equal(again.stats().scheduled, 0);
  await again.stop();

  // Delivered but not acknowledged: after a restart every message waits in its queue, once.
  const last = new Broker({ store, clock });
  await last.start();
  assert.equal(last.stats().scheduled, 0);
  const redelivered = subscribe(await last.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }));
  await until('the queue is delivered', () => redelivered.deliveries.length >= count);
  await tick();
  assert.deepEqual(redelivered.bodies(), names(count));
  await last.stop();
});

test('a burst larger than a batch comes due in batches of SCHEDULER_BATCH, one dispatch each, in order', async () => {
  const now = 1_000_000;
  for (const persistent of [false, true]) {
    const store = new CountingStore();
    const broker = new Broker({ store, clock: () => now });
    await broker.start();
    const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
    const sink = subscribe(connection);
    const count = 2 * SCHEDULER_BATCH + 500;
    scheduleBurst(connection, count, 0, persistent);
    await until('the burst is delivered', () => sink.deliveries.length >= count);
    await tick();
    assert.deepEqual(sink.bodies(), names(count));
    assert.deepEqual(sink.perRun, [SCHEDULER_BATCH, SCHEDULER_BATCH, 500], `persistent: ${persistent}`);
    // the sends' own writes are outside transactions; the moves are one transaction per batch
    if (persistent) assert.deepEqual(store.committed, [3 * SCHEDULER_BATCH, 3 * SCHEDULER_BATCH, 3 * 500]);
    // a non-persistent job is stored too (its record goes), its delivery is not
    else assert.deepEqual(store.committed, [SCHEDULER_BATCH, SCHEDULER_BATCH, 500]);
    await broker.stop();
  }
});

test('a job stored by an older build, without an id or delivery mode of its own, keeps its message\'s id as its id and its message persistent', async () => {
  const now = 1_000_000;
  const scheduledRecords = new Map<number, Buffer>();
  class WatchingStore extends MemoryStore {
    override add(id: number, type: number, data: Buffer, txId?: number): void {
      if (type === RecordType.Scheduled) scheduledRecords.set(id, data);
      super.add(id, type, data, txId);
    }
  }
  const store = new WatchingStore();
  const first = new Broker({ store, clock: () => now });
  await first.start();
  scheduleBurst(await first.connect({ protocol: 'test', transport: { remoteAddress: 'here' } }), 2, 60_000, true);
  const made = first.admin.scheduledList();
  assert.equal(new Set(made.map((job) => job.id)).size, 2);
  assert.ok(made.every((job) => job.id !== job.message.id), 'a new job has an id of its own');
  await first.stop();

  // the layout before the delivery mode and the job id followed the message
  const [oldId, data] = [...scheduledRecords][0]!;
  const state = decodeScheduled(data);
  const old = new Writer();
  old.f64(state.due);
  old.f64(state.remaining);
  old.f64(state.period);
  old.optStr(state.cron);
  old.f64(state.fired);
  old.bytes(state.message);
  await store.open();
  store.update(oldId, RecordType.Scheduled, old.finish());
  await store.close();

  const again = new Broker({ store, clock: () => now });
  await again.start();
  const jobs = again.admin.scheduledList();
  const older = jobs.find((job) => job.message.body.toString() === 'm0')!;
  assert.equal(older.id, older.message.id, 'its id is its message\'s, as it was');
  assert.equal(older.message.persistent, true);
  const newer = jobs.find((job) => job.message.body.toString() === 'm1')!;
  assert.equal(newer.id, made.find((job) => job.message.body.toString() === 'm1')!.id, 'a job keeps its id across a restart');
  assert.equal(again.admin.cancelScheduled({ id: older.id }), 1);
  assert.deepEqual(again.admin.scheduledList().map((job) => job.id), [newer.id]);
  await again.stop();
});
