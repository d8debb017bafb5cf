import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { isFerryError } from '../../src/errors.js';
import { PostgresStore, type PostgresEvent, type RecoveredState, type Store } from '../../src/store/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { storeConformance } from './store-conformance.js';

const cluster = await startPostgres();
const skip = typeof cluster === 'string' ? cluster : false;
if (typeof cluster !== 'string') after(() => cluster.stop());

if (typeof cluster !== 'string') {
  storeConformance('PostgresStore', async () => {
    const url = await cluster.createDatabase();
    const open = (): PostgresStore => new PostgresStore({ url, poolSize: 2 });
    let current: Store = open();
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = open();
        return current;
      },
      cleanup: () => current.close(),
    };
  });
}

/** Every row change of ferry_records, with the database transaction that made it, from a trigger. */
async function audited(url: string): Promise<{ changes(): Promise<{ op: string; id: number; tx: string }[]>; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`
    CREATE TABLE audit (n serial, op text, id int8, tx int8);
    CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO audit (op, id, tx) VALUES (TG_OP, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, txid_current());
      RETURN NULL;
    END $$;
    CREATE TRIGGER audit_records AFTER INSERT OR UPDATE OR DELETE ON ferry_records FOR EACH ROW EXECUTE FUNCTION audit_row();`);
  return {
    async changes() {
      const result = await client.query<{ op: string; id: string; tx: string }>('SELECT op, id, tx FROM audit ORDER BY n');
      return result.rows.map((r) => ({ op: r.op, id: Number(r.id), tx: r.tx }));
    },
    end: () => client.end(),
  };
}

describe('PostgresStore batches', { skip }, () => {
  if (typeof cluster === 'string') return;

  test('the appends of one turn go to the database in one transaction; a record added and deleted in it never does', async () => {
    const url = await cluster.createDatabase();
    const store = new PostgresStore({ url });
    await store.open();
    const audit = await audited(url);
    try {
      store.add(1, 4, Buffer.from('one'));
      store.add(2, 4, Buffer.from('two'));
      store.update(2, 4, Buffer.from('two, again'));
      store.add(3, 4, Buffer.from('three'));
      store.delete(3);
      for (let id = 10; id < 110; id++) store.add(id, 4, Buffer.from(`r${id}`));
      await store.sync();
      const first = await audit.changes();
      assert.equal(first.length, 102, 'one row change per record left: 2 folded into one, 3 never written');
      assert.ok(first.every((c) => c.op === 'INSERT'));
      assert.deepEqual(new Set(first.map((c) => c.id)).has(3), false);
      assert.equal(new Set(first.map((c) => c.tx)).size, 1, 'one database transaction');

      store.delete(1);
      store.update(2, 4, Buffer.from('two, third time'));
      await store.sync();
      const second = (await audit.changes()).slice(first.length);
      assert.deepEqual(
        second.map((c) => [c.op, c.id]).sort(),
        [
          ['DELETE', 1],
          ['UPDATE', 2],
        ],
      );
      assert.equal(new Set(second.map((c) => c.tx)).size, 1);
      assert.notEqual(second[0]!.tx, first[0]!.tx);
      assert.deepEqual(await store.readMany([2, 10]), [Buffer.from('two, third time'), Buffer.from('r10')]);
    } finally {
      await audit.end();
      await store.close();
    }
  });

  test('a batch larger than one statement takes is still one transaction', async () => {
    const url = await cluster.createDatabase();
    const store = new PostgresStore({ url });
    await store.open();
    const audit = await audited(url);
    try {
      const mib = Buffer.alloc(1024 * 1024, 7);
      for (let id = 1; id <= 40; id++) store.add(id, 3, Buffer.concat([Buffer.from([id]), mib]));
      await store.sync();
      const changes = await audit.changes();
      assert.equal(changes.length, 40);
      assert.equal(new Set(changes.map((c) => c.tx)).size, 1);
      const again = new PostgresStore({ url });
      await store.close();
      const state = await again.open();
      assert.deepEqual(
        state.records.map((r) => [r.id, r.data.length, r.data[0]]),
        Array.from({ length: 40 }, (_, i) => [i + 1, mib.length + 1, i + 1]),
      );
      await again.close();
    } finally {
      await audit.end();
      await store.close().catch(() => undefined);
    }
  });

  test('connections the server ends are replaced: the next batch goes out on a new one', async () => {
    const database = 'ferry_terminated';
    const url = await cluster.createDatabase(database);
    const store = new PostgresStore({ url, poolSize: 2 });
    await store.open();
    store.add(1, 4, Buffer.from('one'));
    await store.sync();
    assert.ok((await cluster.terminate(database)) >= 1);
    store.add(2, 4, Buffer.from('two'));
    // the commit may find the ended connection before the pool has noticed: then it fails, and the
    // batch goes out again with the next
    const outcome = await store.sync().then(
      () => 'committed',
      (err: unknown) => (isFerryError(err, 'FERRY_STORE_FAILED') ? 'failed' : err),
    );
    assert.ok(outcome === 'committed' || outcome === 'failed', String(outcome));
    store.add(3, 4, Buffer.from('three'));
    await store.sync();
    await store.close();
    const again = new PostgresStore({ url });
    const state = await again.open();
    assert.deepEqual(
      state.records.map((r) => r.data.toString()),
      ['one', 'two', 'three'],
    );
    await again.close();
  });

  test('a database that goes away keeps the waiting syncs until their batch goes in, and refuses new persistent messages meanwhile; the held batch goes out with the next', async () => {
    const url = await cluster.createDatabase();
    const events: PostgresEvent[] = [];
    let failedOnce!: () => void;
    const failed = new Promise<void>((resolve) => (failedOnce = resolve));
    const store = new PostgresStore({
      url,
      onEvent: (event) => {
        events.push(event);
        if (event.event === 'postgres.failed') failedOnce();
      },
    });
    await store.open();
    store.add(1, 4, Buffer.from('before'));
    store.add(2, 4, Buffer.from('deleted while down'));
    await store.sync();
    assert.equal(store.writeRefusal(), undefined);

    await cluster.halt();
    let committed = false;
    let waiting: Promise<void>;
    try {
      store.add(3, 4, Buffer.from('while down'));
      store.delete(2);
      waiting = store.sync().then(() => {
        committed = true;
      });
      await failed;
      assert.equal(committed, false, 'the sync waits for its batch, which may yet go in');
      assert.ok(isFerryError(store.writeRefusal(), 'FERRY_STORE_FAILED'), 'new persistent messages are refused');
      // appends go on while the database is away; the store keeps them with the failed batch
      store.add(4, 4, Buffer.from('added meanwhile'));
      store.update(3, 4, Buffer.from('while down, updated'));
    } finally {
      await cluster.resume();
    }
    await waiting;
    assert.equal(store.writeRefusal(), undefined);
    store.add(5, 4, Buffer.from('after'));
    await store.sync();
    assert.equal(events[events.length - 1]?.event, 'postgres.recovered');
    await store.close();

    const again = new PostgresStore({ url });
    const state = await again.open();
    assert.deepEqual(
      state.records.map((r) => [r.id, r.data.toString()]),
      [
        [1, 'before'],
        [3, 'while down, updated'],
        [4, 'added meanwhile'],
        [5, 'after'],
      ],
    );
    await again.close();
  });

  test('a store closed while the database is away refuses the syncs still waiting, with FERRY_STORE_FAILED', async () => {
    const url = await cluster.createDatabase();
    let failedOnce!: () => void;
    const failed = new Promise<void>((resolve) => (failedOnce = resolve));
    const store = new PostgresStore({ url, onEvent: (event) => event.event === 'postgres.failed' && failedOnce() });
    await store.open();
    await cluster.halt();
    try {
      store.add(1, 4, Buffer.from('never committed'));
      const waiting = store.sync();
      await failed;
      await assert.rejects(store.close(), (err: unknown) => isFerryError(err, 'FERRY_STORE_FAILED'));
      await assert.rejects(waiting, (err: unknown) => isFerryError(err, 'FERRY_STORE_FAILED'));
    } finally {
      await cluster.resume();
    }
  });
});

if (typeof cluster === 'string') test('PostgresStore', { skip }, () => undefined);

describe('PostgresStore, the rows a broker needs first', { skip }, () => {
  if (typeof cluster === 'string') return;
  const later = { types: [20], above: 0 };
  const all = async (state: RecoveredState): Promise<[number, string][]> => {
    const records = [...state.records, ...(state.later === undefined ? [] : await state.later)];
    return records.map((r): [number, string] => [r.id, `${r.type}:${r.data.toString()}`]).sort((a, b) => a[0] - b[0]);
  };

  test('the others are read in the background, in the snapshot of the open, while appends go on; a new row comes after every old one', async () => {
    const url = await cluster.createDatabase();
    const first = new PostgresStore({ url });
    assert.equal((await first.open({ later })).later, undefined, 'an empty database is read whole');
    first.add(1, 1, Buffer.from('queue'));
    for (let id = 2; id < 50; id++) first.add(id, 20, Buffer.from(`m${id}`));
    first.delete(7);
    await first.sync();
    await first.close();

    const second = new PostgresStore({ url });
    const state = await second.open({ later });
    assert.deepEqual(
      state.records.map((r) => r.id),
      [1],
      'only the rows needed first',
    );
    assert.ok(state.later !== undefined);
    second.add(100, 20, Buffer.from('new'));
    second.delete(1);
    await second.sync();
    const rest = [...(await state.later)].map((r) => r.id).sort((a, b) => a - b);
    assert.deepEqual(
      rest,
      Array.from({ length: 48 }, (_, i) => i + 2).filter((id) => id !== 7),
      'what was there at the open, not what came since',
    );
    assert.equal(second.stats().records, 48, 'the rows read in the background count as live');
    await second.close();

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const newest = await client.query<{ id: string }>('SELECT id FROM ferry_records ORDER BY seq DESC LIMIT 1');
    await client.end();
    assert.equal(Number(newest.rows[0]?.id), 100, 'the row added after the open is last in the recovery order');

    const third = new PostgresStore({ url });
    assert.deepEqual(await all(await third.open()), [...rest.map((id): [number, string] => [id, `20:m${id}`]), [100, '20:new']]);
    await third.close();
  });

  test('a prepared transaction has everything read before open returns', async () => {
    const url = await cluster.createDatabase();
    const first = new PostgresStore({ url });
    await first.open({ later });
    first.add(1, 20, Buffer.from('waiting'));
    first.add(2, 20, Buffer.from('in doubt'), 3);
    first.prepare(3, Buffer.from('xid'));
    await first.sync();
    await first.close();
    const second = new PostgresStore({ url });
    const state = await second.open({ later });
    assert.equal(state.later, undefined);
    assert.equal(state.prepared.length, 1);
    assert.deepEqual(await all(state), [[1, '20:waiting']]);
    await second.close();
  });
});
