/**
 * The journal's catalog: an open from it hands back the early records at once and the rest once the
 * journal is replayed in the background, and what it hands back is exactly what a full replay
 * would, whatever the journal went through (transactions, compaction, deleted segments, torn
 * writes, appends made while the background replay runs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalStore, nodeFileSystem, type JournalFileSystem, type RecoveredState, type StoreRecord } from '../../src/store/index.js';
import type { JournalEvent } from '../../src/store/journal/index.js';
import { testFolder } from '../helpers/temp-dir.js';

/** Type 20 can come later (waiting messages); the others (destinations and the like) come first. */
const takenLater = { types: [20], above: 0 };
const early = (type: number): boolean => type !== 20;

/** File operations that stop reaching the disk at a crash, as a killed process's would. */
function crashable(): JournalFileSystem & { crash(): void } {
  let crashed = false;
  const refuse = (): Promise<never> => Promise.reject(new Error('crashed'));
  return {
    ...nodeFileSystem,
    open: (path, flags) => (crashed && flags !== 'r' ? refuse() : nodeFileSystem.open(path, flags)),
    write: (fd, buffer, offset, length, position) => (crashed ? refuse() : nodeFileSystem.write(fd, buffer, offset, length, position)),
    fdatasync: (fd) => (crashed ? refuse() : nodeFileSystem.fdatasync(fd)),
    ftruncate: (fd, length) => (crashed ? refuse() : nodeFileSystem.ftruncate(fd, length)),
    unlink: (path) => (crashed ? refuse() : nodeFileSystem.unlink(path)),
    rename: (from, to) => (crashed ? refuse() : nodeFileSystem.rename(from, to)),
    crash: () => (crashed = true),
  };
}

/** Every record an open hands back: the early ones, then (opened from the catalog) the rest. */
async function everything(state: RecoveredState): Promise<Map<number, string>> {
  const all = new Map<number, string>();
  const take = (r: StoreRecord): void => {
    assert.equal(all.has(r.id), false, `record ${r.id} handed back twice`);
    all.set(r.id, `${r.type}:${r.data.toString()}`);
  };
  for (const r of state.stream ?? state.records) take(r);
  if (state.later !== undefined) for (const r of await state.later) take(r);
  return all;
}

/** Writes `records` ([id, type, data]) to the journal in `dir` and closes it, leaving a catalog. */
async function written(dir: string, records: readonly [number, number, string][]): Promise<void> {
  const store = new JournalStore({ dir });
  await everything(await store.open({ later: takenLater }));
  for (const [id, type, data] of records) store.add(id, type, Buffer.from(data));
  await store.close();
}

function sorted(map: ReadonlyMap<number, string>): [number, string][] {
  return [...map].sort((a, b) => a[0] - b[0]);
}

test('a journal closed with a catalog opens from it: the early records at once, the others once replayed', async (t) => {
  const dir = await testFolder('ferry-catalog-');
  const first = new JournalStore({ dir });
  await everything(await first.open({ later: takenLater }));
  first.add(1, 1, Buffer.from('queue a'));
  for (let id = 2; id < 50; id++) first.add(id, 20, Buffer.from(`message ${id}`));
  first.add(50, 2, Buffer.from('subscription'));
  first.update(1, 1, Buffer.from('queue a, changed'));
  first.delete(7);
  await first.sync();
  await first.close();
  assert.ok((await readdir(dir)).includes('catalog'));

  const events: JournalEvent[] = [];
  const second = new JournalStore({ dir, onEvent: (e) => events.push(e) });
  t.after(() => second.close());
  const state = await second.open({ later: takenLater });
  assert.equal(second.openedFromCatalog, true);
  assert.deepEqual(
    state.records.map((r) => [r.id, r.data.toString()]),
    [
      [1, 'queue a, changed'],
      [50, 'subscription'],
    ],
  );
  assert.ok(state.later !== undefined);
  assert.equal(second.lastRecovery, undefined, 'the journal is replayed after open returns');
  const later = [...(await state.later)];
  assert.deepEqual(
    later.map((r) => r.id),
    Array.from({ length: 48 }, (_, i) => i + 2).filter((id) => id !== 7),
  );
  assert.ok(events.some((e) => e.event === 'journal.opened-from-catalog'));
});

test('at most `above` records to take later, or without types to take later, the journal is replayed whole before open returns', async (t) => {
  const dir = await testFolder('ferry-catalog-');
  await written(dir, [
    [1, 1, 'queue'],
    [2, 20, 'message'],
  ]);
  const second = new JournalStore({ dir });
  const state = await second.open({ later: { ...takenLater, above: 1 } });
  assert.equal(state.later, undefined);
  assert.equal(second.openedFromCatalog, false);
  assert.deepEqual(sorted(await everything(state)), [
    [1, '1:queue'],
    [2, '20:message'],
  ]);
  await second.close();
  const third = new JournalStore({ dir });
  const plain = await third.open();
  assert.equal(plain.later, undefined);
  assert.equal(plain.records.length, 2);
  await third.close();
});

test('changes to older records made while the journal is replayed in the background are kept, in order', async (t) => {
  const dir = await testFolder('ferry-catalog-');
  await written(dir, [
    [1, 1, 'queue'],
    [2, 3, 'duplicate id'],
    [3, 20, 'message'],
  ]);

  const second = new JournalStore({ dir });
  const state = await second.open({ later: takenLater });
  assert.ok(state.later !== undefined);
  // before the replay has begun: an older record deleted, another changed, new ones in and out of a transaction
  second.delete(2);
  second.update(1, 1, Buffer.from('queue, changed'));
  second.add(10, 20, Buffer.from('new message'));
  second.delete(3, 11);
  second.add(12, 1, Buffer.from('new queue'), 11);
  second.commit(11);
  await second.sync();
  const later = [...(await state.later)];
  assert.deepEqual(later, [], 'the one older message was deleted in the transaction');
  await second.close();

  const third = new JournalStore({ dir });
  const whole = await third.open();
  assert.deepEqual(sorted(await everything(whole)), [
    [1, '1:queue, changed'],
    [10, '20:new message'],
    [12, '1:new queue'],
  ]);
  await third.close();
});

test('a torn write after the catalog is cut off, and the records before it stay', async (t) => {
  const dir = await testFolder('ferry-catalog-');
  await written(dir, [[1, 1, 'queue']]);
  const second = new JournalStore({ dir, catalogEvery: 0 });
  await everything(await second.open({ later: takenLater }));
  second.add(2, 20, Buffer.from('message'));
  second.add(3, 2, Buffer.from('subscription'));
  await second.sync();
  const segments = (await readdir(dir)).filter((name) => name.endsWith('.jnl')).sort();
  const last = join(dir, segments[segments.length - 1]!);
  // the process dies in the middle of its last write
  await truncate(last, (await stat(last)).size - 3);

  const events: JournalEvent[] = [];
  const third = new JournalStore({ dir, onEvent: (e) => events.push(e) });
  t.after(() => third.close());
  const state = await third.open({ later: takenLater });
  assert.equal(third.openedFromCatalog, true);
  assert.ok(events.some((e) => e.event === 'journal.truncated'));
  assert.deepEqual(sorted(await everything(state)), [
    [1, '1:queue'],
    [2, '20:message'],
  ]);
});

test('a transaction prepared after the catalog makes the open replay the journal whole', async (t) => {
  const dir = await testFolder('ferry-catalog-');
  await written(dir, [
    [1, 1, 'queue'],
    [2, 20, 'message'],
  ]);
  const fs = crashable();
  const second = new JournalStore({ dir, fileSystem: fs, catalogEvery: 0 });
  await everything(await second.open({ later: takenLater }));
  second.add(3, 20, Buffer.from('sent in doubt'), 4);
  second.prepare(4, Buffer.from('xid'));
  await second.sync();
  fs.crash();

  const events: JournalEvent[] = [];
  const third = new JournalStore({ dir, onEvent: (e) => events.push(e) });
  t.after(() => third.close());
  const state = await third.open({ later: takenLater });
  assert.equal(third.openedFromCatalog, false);
  assert.equal(state.prepared.length, 1);
  assert.ok(events.some((e) => e.event === 'journal.catalog.unused' && /prepared/.test(String(e.reason))));
});

/** A deterministic pseudo-random sequence (xorshift32). */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`seed ${seed}: after crashes at random points, an open from the catalog hands back what the journal holds`, async (t) => {
    const dir = await testFolder('ferry-catalog-');
    const rand = random(seed * 7919);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    /** What the journal must hold: id -> "type:data". */
    const model = new Map<number, string>();
    let nextId = 1;
    let fromCatalog = 0;
    const seen = new Set<string>();
    for (let life = 0; life < 6; life++) {
      const fs = crashable();
      // small segments and frequent catalogs: segments are deleted and compacted under catalogs' feet
      const store = new JournalStore({
        dir,
        fileSystem: fs,
        segmentSize: 2048,
        // now and then only at a clean close: a crash then opens from a catalog many segments old
        catalogEvery: rand() < 0.5 ? 1 + Math.floor(rand() * 3000) : 1e12,
        compactInterval: 0,
        compactBelow: 0.6,
        onEvent: (e) => seen.add(e.event),
      });
      const state = await store.open({ later: takenLater });
      if (store.openedFromCatalog) fromCatalog++;
      const atOpen = new Map(model);
      const deletedMeanwhile = new Set<number>();
      if (state.later !== undefined) {
        // changes while the rest is replayed in the background, to older records too
        for (let i = 0; i < 10; i++) {
          const ids = [...model.keys()];
          if (ids.length > 0 && rand() < 0.5) {
            const id = pick(ids);
            store.delete(id);
            model.delete(id);
            deletedMeanwhile.add(id);
          } else {
            const id = nextId++;
            const type = rand() < 0.3 ? 1 : 20;
            store.add(id, type, Buffer.from(`meanwhile ${id}`));
            model.set(id, `${type}:meanwhile ${id}`);
          }
        }
        await store.sync();
      }
      // the early records as they were at open, and the others that were not deleted before they came back
      const expected = new Map([...atOpen].filter(([id, value]) => early(Number(value.split(':')[0])) || !deletedMeanwhile.has(id)));
      assert.deepEqual(sorted(await everything(state)), sorted(expected), `life ${life}: the open hands back what the journal holds`);

      for (let i = 0; i < 300; i++) {
        const roll = rand();
        const ids = [...model.keys()];
        if (roll < 0.45 || ids.length === 0) {
          const id = nextId++;
          const type = rand() < 0.25 ? pick([1, 2, 3]) : 20;
          const value = `v${id}-${'x'.repeat(Math.floor(rand() * 200))}`;
          store.add(id, type, Buffer.from(value));
          model.set(id, `${type}:${value}`);
        } else if (roll < 0.6) {
          const id = pick(ids);
          const type = Number(model.get(id)!.split(':')[0]);
          const value = `u${i}`;
          store.update(id, type, Buffer.from(value));
          model.set(id, `${type}:${value}`);
        } else if (roll < 0.85) {
          const id = pick(ids);
          store.delete(id);
          model.delete(id);
        } else if (roll < 0.97) {
          // a transaction of a few operations, committed or rolled back
          const txId = nextId++;
          const effects: (() => void)[] = [];
          for (let k = 0; k < 3; k++) {
            const live = [...model.keys()];
            if (rand() < 0.5 || live.length === 0) {
              const id = nextId++;
              const type = rand() < 0.3 ? 2 : 20;
              store.add(id, type, Buffer.from(`t${id}`), txId);
              effects.push(() => model.set(id, `${type}:t${id}`));
            } else {
              const id = pick(live);
              store.delete(id, txId);
              effects.push(() => model.delete(id));
            }
          }
          if (rand() < 0.75) {
            store.commit(txId);
            for (const effect of effects) effect();
          } else store.rollback(txId);
        } else {
          await store.sync();
          await store.compact();
        }
        if (rand() < 0.1) await store.sync();
      }
      await store.sync();
      // a crash (every write so far on disk), or a clean stop now and then
      if (rand() < 0.3) await store.close();
      else {
        fs.crash();
        await store.close().catch(() => undefined);
      }
      const check = new JournalStore({ dir, catalogEvery: 0 });
      const whole = await everything(await check.open());
      await check.close();
      assert.deepEqual(sorted(whole), sorted(model), `life ${life}: a full replay holds what was written`);
    }
    assert.ok(fromCatalog >= 3, `${fromCatalog} of 5 opens after the first were from the catalog`);
    for (const event of ['journal.segment.deleted', 'journal.compacted']) assert.ok(seen.has(event), `the journal went through ${event}`);
    const last = new JournalStore({ dir });
    const state = await last.open({ later: takenLater });
    assert.equal(last.openedFromCatalog, true, 'the last open is from the catalog');
    assert.deepEqual(sorted(await everything(state)), sorted(model));
    await last.close();
  });
}

test('a replay made ahead that the folder has outgrown gives way to the catalog', async (t) => {
  const dir = await testFolder('ferry-catalog-');
  await written(dir, [
    [1, 1, 'queue'],
    [2, 20, 'message'],
  ]);
  const events: JournalEvent[] = [];
  const backup = new JournalStore({ dir, onEvent: (e) => events.push(e) });
  t.after(() => backup.close());
  await backup.readAhead({ later: takenLater });
  // the holder was slow, not dead: it wrote more before it went
  const holder = new JournalStore({ dir });
  await everything(await holder.open({ later: takenLater }));
  holder.add(3, 20, Buffer.from('written after the read ahead'));
  await holder.close();

  const state = await backup.open({ later: takenLater });
  assert.ok(events.some((e) => e.event === 'journal.read-ahead-stale'));
  assert.equal(backup.openedFromCatalog, true);
  assert.deepEqual(sorted(await everything(state)), [
    [1, '1:queue'],
    [2, '20:message'],
    [3, '20:written after the read ahead'],
  ]);
});
