import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFerryError } from '../../src/errors.js';
import type { RecoveredState, Store, StoreRecord } from '../../src/store/index.js';

export interface StoreUnderTest {
  /** A store that has not been opened yet. */
  readonly store: Store;
  /** Closes the store handed out last and returns one on the same data, not opened yet. */
  readonly reopen: () => Promise<Store>;
  readonly cleanup: () => Promise<void>;
}

/**
 * The behaviour every store must share, registered as node:test tests. The in-memory store is the
 * reference; the journal and PostgreSQL run the same suite.
 */
export function storeConformance(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  const check = (title: string, body: (subject: StoreUnderTest) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const subject = await makeStore();
      try {
        await body(subject);
      } finally {
        await subject.cleanup();
      }
    });
  };

  const reopened = async (subject: StoreUnderTest): Promise<{ store: Store; state: RecoveredState }> => {
    const store = await subject.reopen();
    return { store, state: await store.open() };
  };

  const summary = (records: readonly StoreRecord[]): [number, number, string][] => records.map((r) => [r.id, r.type, r.data.toString()]);

  check('a new store is empty', async ({ store }) => {
    const state = await store.open();
    assert.deepEqual(state.records, []);
    assert.deepEqual(state.prepared, []);
    assert.equal(state.maxId, 0);
    assert.deepEqual(store.stats(), { records: 0, bytes: 0 });
  });

  check('records added, updated and deleted come back as they were left', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 1, Buffer.from('one'));
    store.add(2, 3, Buffer.from('two'));
    store.add(3, 4, Buffer.from('three'));
    store.update(2, 3, Buffer.from('two, again'));
    store.delete(3);
    assert.deepEqual(store.stats(), { records: 2, bytes: 3 + 10 });
    await store.sync();
    const { store: again, state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [
      [1, 1, 'one'],
      [2, 3, 'two, again'],
    ]);
    assert.deepEqual(again.stats(), { records: 2, bytes: 13 });
  });

  check('records come back in the order they were first added', async (subject) => {
    await subject.store.open();
    for (const id of [5, 3, 9, 1, 7]) subject.store.add(id, 4, Buffer.from(`r${id}`));
    await subject.store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(
      state.records.map((r) => r.id),
      [5, 3, 9, 1, 7],
    );
  });

  check('an update keeps the record in its place', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('a'));
    store.add(2, 4, Buffer.from('b'));
    store.add(3, 4, Buffer.from('c'));
    store.update(1, 4, Buffer.from('a2'));
    store.update(2, 4, Buffer.from('b2'));
    store.update(1, 4, Buffer.from('a3'));
    await store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [
      [1, 4, 'a3'],
      [2, 4, 'b2'],
      [3, 4, 'c'],
    ]);
  });

  check('an update of a deleted or unknown record is ignored', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('a'));
    store.delete(1);
    store.update(1, 4, Buffer.from('ghost'));
    store.update(2, 4, Buffer.from('never added'));
    store.add(3, 4, Buffer.from('c'));
    assert.deepEqual(store.stats(), { records: 1, bytes: 1 });
    await store.sync();
    const { store: again, state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [[3, 4, 'c']]);
    assert.deepEqual(again.stats(), { records: 1, bytes: 1 });
  });

  check('a committed transaction applies all its operations', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('old'));
    store.add(2, 4, Buffer.from('kept'));
    store.add(10, 3, Buffer.from('m10'), 100);
    store.add(11, 4, Buffer.from('r11'), 100);
    store.update(2, 4, Buffer.from('kept, updated'), 100);
    store.delete(1, 100);
    assert.equal(store.stats().records, 2, 'nothing applies before the commit');
    store.commit(100);
    assert.equal(store.stats().records, 3);
    await store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [
      [2, 4, 'kept, updated'],
      [10, 3, 'm10'],
      [11, 4, 'r11'],
    ]);
    assert.deepEqual(state.prepared, []);
  });

  check('a rolled back transaction applies nothing', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('a'));
    store.add(10, 3, Buffer.from('m10'), 100);
    store.delete(1, 100);
    store.rollback(100);
    assert.deepEqual(store.stats(), { records: 1, bytes: 1 });
    await store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [[1, 4, 'a']]);
    assert.deepEqual(state.prepared, []);
  });

  check('a transaction neither prepared nor committed at close is dropped', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('a'));
    store.add(10, 3, Buffer.from('m10'), 100);
    store.delete(1, 100);
    await store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [[1, 4, 'a']]);
    assert.deepEqual(state.prepared, []);
  });

  check('a prepared transaction comes back with its data and operations', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('a'));
    store.add(2, 4, Buffer.from('b'));
    store.add(20, 3, Buffer.from('m20'), 200);
    store.update(1, 4, Buffer.from('a2'), 200);
    store.delete(2, 200);
    store.prepare(200, Buffer.from('xid-200'));
    await store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [
      [1, 4, 'a'],
      [2, 4, 'b'],
    ]);
    assert.equal(state.prepared.length, 1);
    const tx = state.prepared[0]!;
    assert.equal(tx.txId, 200);
    assert.equal(tx.data.toString(), 'xid-200');
    assert.deepEqual(
      tx.operations.map((op) => (op.op === 'delete' ? ['delete', op.id] : [op.op, op.record.id, op.record.type, op.record.data.toString()])),
      [
        ['add', 20, 3, 'm20'],
        ['update', 1, 4, 'a2'],
        ['delete', 2],
      ],
    );
  });

  check('a prepared transaction can be committed after a restart', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(1, 4, Buffer.from('a'));
    store.add(2, 4, Buffer.from('b'));
    store.add(20, 3, Buffer.from('m20'), 200);
    store.update(1, 4, Buffer.from('a2'), 200);
    store.delete(2, 200);
    store.prepare(200, Buffer.from('xid-200'));
    store.add(30, 3, Buffer.from('m30'), 300);
    store.prepare(300, Buffer.from('xid-300'));
    await store.sync();
    const first = await reopened(subject);
    assert.deepEqual(
      first.state.prepared.map((p) => p.txId),
      [200, 300],
    );
    first.store.commit(200);
    first.store.rollback(300);
    await first.store.sync();
    const { state } = await reopened(subject);
    assert.deepEqual(summary(state.records), [
      [1, 4, 'a2'],
      [20, 3, 'm20'],
    ]);
    assert.deepEqual(state.prepared, []);
  });

  check('maxId covers every record and transaction id used, deleted ones too', async (subject) => {
    const { store } = subject;
    await store.open();
    store.add(7, 4, Buffer.from('x'));
    store.delete(7);
    await store.sync();
    const first = await reopened(subject);
    assert.equal(first.state.maxId, 7);
    first.store.add(8, 4, Buffer.from('y'), 60);
    first.store.commit(60);
    await first.store.sync();
    const second = await reopened(subject);
    assert.equal(second.state.maxId, 60);
    second.store.delete(8, 61);
    second.store.prepare(61, Buffer.from('xid'));
    await second.store.sync();
    const third = await reopened(subject);
    assert.equal(third.state.maxId, 61);
  });

  check('sync resolves with nothing pending and after appends', async ({ store }) => {
    await store.open();
    await store.sync();
    store.add(1, 4, Buffer.from('a'));
    const syncs = [store.sync(), store.sync()];
    store.add(2, 4, Buffer.from('b'));
    syncs.push(store.sync());
    await Promise.all(syncs);
    await store.sync();
  });

  check('appends after close throw FERRY_STORE_FAILED', async ({ store }) => {
    await store.open();
    await store.close();
    assert.throws(
      () => store.add(1, 4, Buffer.from('late')),
      (err: unknown) => isFerryError(err, 'FERRY_STORE_FAILED'),
    );
  });

  check('ten thousand records make the round trip', async (subject) => {
    const { store } = subject;
    await store.open();
    const expected = new Map<number, [number, string]>();
    for (let id = 1; id <= 10_000; id++) {
      const data = `record ${id} `.repeat(1 + (id % 7));
      store.add(id, 3 + (id % 2), Buffer.from(data));
      expected.set(id, [3 + (id % 2), data]);
      if (id % 500 === 0) await store.sync();
    }
    for (let id = 3; id <= 10_000; id += 3) {
      store.delete(id);
      expected.delete(id);
    }
    for (let id = 5; id <= 10_000; id += 5) {
      store.update(id, 4, Buffer.from(`updated ${id}`));
      if (expected.has(id)) expected.set(id, [4, `updated ${id}`]);
    }
    await store.sync();
    const { store: again, state } = await reopened(subject);
    assert.deepEqual(
      summary(state.records),
      [...expected].map(([id, [type, data]]) => [id, type, data]),
    );
    let bytes = 0;
    for (const [, [, data]] of expected) bytes += Buffer.byteLength(data);
    assert.deepEqual(again.stats(), { records: expected.size, bytes });
  });
}
