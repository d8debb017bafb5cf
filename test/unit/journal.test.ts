import assert from 'node:assert/strict';
import { cp, open as openFile, readdir, readlink, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isFerryError } from '../../src/errors.js';
import { MemoryStore, type RecoveredState } from '../../src/store/index.js';
import { JournalStore, nodeFileSystem, type JournalEvent, type JournalFileSystem, type JournalOptions } from '../../src/store/journal/index.js';
import { testFolder } from '../helpers/temp-dir.js';
import { flipByte } from '../helpers/damage.js';

/** The file system the journal uses, with counters and switches to make an operation fail. */
class TestFileSystem implements JournalFileSystem {
  fdatasyncs = 0;
  writes = 0;
  /** The memory each write came from. */
  readonly written = new Set<ArrayBufferLike>();
  failWrite: Error | undefined;
  /** With failWrite: write this many bytes of the next write before failing. */
  partialWrite = 0;
  failSync: Error | undefined;
  /** After a simulated crash nothing reaches the disk any more; `unlinksBeforeCrash` lets that many unlinks through first. */
  crashed = false;
  unlinksBeforeCrash: number | undefined;
  /** While set, fdatasync waits for it; `syncStarted` is called as one begins. */
  hold: Promise<void> | undefined;
  syncStarted: (() => void) | undefined;

  mkdir = nodeFileSystem.mkdir;
  readdir = nodeFileSystem.readdir;
  close = nodeFileSystem.close;
  size = nodeFileSystem.size;
  read = nodeFileSystem.read;
  fsync = nodeFileSystem.fsync;

  async open(path: string, flags: string): Promise<number> {
    if (this.crashed && flags.includes('w')) throw new Error('crashed');
    return nodeFileSystem.open(path, flags);
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    if (!this.crashed) return nodeFileSystem.ftruncate(fd, length);
  }

  async unlink(path: string): Promise<void> {
    if (this.unlinksBeforeCrash !== undefined && this.unlinksBeforeCrash-- <= 0) this.crashed = true;
    if (!this.crashed) return nodeFileSystem.unlink(path);
  }

  async rename(from: string, to: string): Promise<void> {
    if (!this.crashed) return nodeFileSystem.rename(from, to);
  }

  async write(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (this.crashed) return length;
    this.writes++;
    this.written.add(buffer.buffer);
    if (this.failWrite !== undefined) {
      if (this.partialWrite > 0) {
        const n = Math.min(this.partialWrite, length);
        this.partialWrite = 0;
        return nodeFileSystem.write(fd, buffer, offset, n, position);
      }
      throw this.failWrite;
    }
    return nodeFileSystem.write(fd, buffer, offset, length, position);
  }

  async fdatasync(fd: number): Promise<void> {
    if (this.crashed) return;
    this.fdatasyncs++;
    this.syncStarted?.();
    if (this.hold !== undefined) await this.hold;
    if (this.failSync !== undefined) throw this.failSync;
    return nodeFileSystem.fdatasync(fd);
  }
}

interface Opened {
  store: JournalStore;
  state: RecoveredState;
  events: JournalEvent[];
  /** Resolves once the events so far satisfy `done`. */
  until(done: (events: readonly JournalEvent[]) => boolean): Promise<void>;
}

async function openJournal(t: TestContext, options: JournalOptions): Promise<Opened> {
  const events: JournalEvent[] = [];
  let waiters: { done: (events: readonly JournalEvent[]) => boolean; resolve: () => void }[] = [];
  const onEvent = (event: JournalEvent): void => {
    events.push(event);
    waiters = waiters.filter((w) => (w.done(events) ? (w.resolve(), false) : true));
  };
  const store = new JournalStore({ compactInterval: 0, ...options, onEvent });
  const state = await store.open();
  t.after(() => store.close().catch(() => undefined));
  const until = (done: (events: readonly JournalEvent[]) => boolean): Promise<void> =>
    done(events) ? Promise.resolve() : new Promise((resolve) => waiters.push({ done, resolve }));
  return { store, state, events, until };
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.jnl')).sort();
}

function payload(id: number, size: number): Buffer {
  const data = Buffer.alloc(size, 0x61 + (id % 26));
  if (size >= 4) data.writeUInt32LE(id, 0);
  return data;
}

/** Bytes an add frame takes: 12 (magic, CRC, length) + 13 (kind, id, type) + data. */
const addFrame = (dataLength: number): number => 25 + dataLength;

/** Adds `count` records of `size` bytes from `firstId`, syncing after every `perBatch`. */
async function addRecords(store: JournalStore, firstId: number, count: number, size: number, perBatch = 10): Promise<void> {
  for (let i = 0; i < count; i++) {
    store.add(firstId + i, 4, payload(firstId + i, size));
    if ((i + 1) % perBatch === 0) await store.sync();
  }
  await store.sync();
}

test('group commit: a thousand appends in one tick share one write and one fdatasync', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store } = await openJournal(t, { dir, fileSystem: fs });
  fs.fdatasyncs = 0;
  fs.writes = 0;
  const syncs: Promise<void>[] = [];
  for (let id = 1; id <= 1000; id++) {
    store.add(id, 4, payload(id, 28));
    syncs.push(store.sync());
  }
  await Promise.all(syncs);
  assert.equal(fs.fdatasyncs, 1);
  assert.equal(fs.writes, 1);

  // appends of later turns, made while a write is in flight, all go out in the one next write
  fs.fdatasyncs = 0;
  fs.writes = 0;
  let release = (): void => undefined;
  fs.hold = new Promise((resolve) => (release = resolve));
  const inFlight = new Promise<void>((resolve) => (fs.syncStarted = resolve));
  store.add(1001, 4, payload(1001, 28));
  const firstSync = store.sync();
  await inFlight;
  fs.syncStarted = undefined;
  const later: Promise<void>[] = [];
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 50; i++) store.add(2000 + round * 50 + i, 4, payload(i, 28));
    later.push(store.sync());
    await new Promise((resolve) => setImmediate(resolve));
  }
  fs.hold = undefined;
  release();
  await firstSync;
  await Promise.all(later);
  assert.equal(fs.fdatasyncs, 2);
  assert.equal(fs.writes, 2);
  assert.equal(store.stats().records, 2001);
});

test('a batch larger than one arena goes out as several writes, each synced before the next (so a torn one is always the tail), reads back whole, and is written again when a sync fails', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store, until } = await openJournal(t, { dir, fileSystem: fs, segmentSize: 64 * 1024 * 1024 });
  fs.fdatasyncs = 0;
  fs.writes = 0;
  const count = 12_000;
  const syncs: Promise<void>[] = [];
  // 12 MB in one turn: arenas stop at 4 MB
  for (let id = 1; id <= count / 2; id++) {
    store.add(id, 4, payload(id, 1000));
    syncs.push(store.sync());
  }
  await Promise.all(syncs);
  assert.ok(fs.writes >= 2, `${fs.writes} writes`);
  assert.equal(fs.fdatasyncs, fs.writes);
  fs.failSync = Object.assign(new Error('input/output error'), { code: 'EIO' });
  for (let id = count / 2 + 1; id <= count; id++) store.add(id, 4, payload(id, 1000));
  const waiting = store.sync();
  await until((e) => e.some((x) => x.event === 'journal.stalled'));
  assert.ok(isFerryError(store.writeRefusal(), 'FERRY_STORE_FAILED'));
  const writesBefore = fs.writes;
  fs.failSync = undefined;
  await until((e) => e.some((x) => x.event === 'journal.resumed'));
  await waiting;
  assert.ok(fs.writes - writesBefore >= 2, 'every write of the batch went again');
  await store.close();
  const again = await openJournal(t, { dir });
  assert.equal(again.state.records.length, count);
  for (const record of again.state.records) assert.ok(record.data.equals(payload(record.id, 1000)), `record ${record.id}`);
});

test('one small write after another fills the same few buffers again, not a fresh one each (V8 counts every fresh one against the heap until a full collection)', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store } = await openJournal(t, { dir, fileSystem: fs });
  fs.writes = 0;
  fs.written.clear();
  for (let id = 1; id <= 200; id++) {
    store.add(id, 4, payload(id, 1000));
    await store.sync();
  }
  assert.equal(fs.writes, 200);
  assert.ok(fs.written.size <= 3, `${fs.written.size} buffers for 200 writes`);
  await store.close();
});

test('appends nobody waits for (acknowledgements\' deletes) ride in the next sync\'s write, or go out by themselves a moment later', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store } = await openJournal(t, { dir, fileSystem: fs });
  store.add(1, 4, payload(1, 28));
  store.add(2, 4, payload(2, 28));
  await store.sync();
  fs.fdatasyncs = 0;
  fs.writes = 0;

  // a delete made while a write is in flight is not written after it: nobody waits for it
  let release = (): void => undefined;
  fs.hold = new Promise((resolve) => (release = resolve));
  const inFlight = new Promise<void>((resolve) => (fs.syncStarted = resolve));
  store.add(3, 4, payload(3, 28));
  const firstSync = store.sync();
  await inFlight;
  fs.syncStarted = undefined;
  fs.hold = undefined;
  store.delete(1);
  release();
  await firstSync;
  assert.equal(fs.writes, 1);
  // the next send's sync takes it along: one more write and fdatasync for both
  store.add(4, 4, payload(4, 28));
  await store.sync();
  assert.equal(fs.writes, 2);
  assert.equal(fs.fdatasyncs, 2);

  // with no send after it, it is written by itself all the same
  store.delete(2);
  while (fs.writes < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(fs.writes, 3);
  await store.close();
  const reopened = new JournalStore({ dir, compactInterval: 0 });
  const state = await reopened.open();
  t.after(() => reopened.close());
  assert.deepEqual(state.records.map((r) => r.id), [3, 4]);
});

test('background compaction runs on its timer', { timeout: 30_000 }, async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store, until } = await openJournal(t, { dir, segmentSize: 4096, compactInterval: 20 });
  // the journal's timer is unref'd and does not keep the process alive on its own
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(() => clearInterval(keepAlive));
  store.add(1, 4, payload(1, 100));
  await addRecords(store, 2, 40, 200);
  for (let id = 2; id <= 41; id++) store.delete(id);
  await store.sync();
  await until((events) => events.some((e) => e.event === 'journal.compacted' && e['moved'] === 1));
  await store.compact();
  assert.equal((await segmentFiles(dir)).length, 1);
});

test('a torn last record is cut off, reported, and the journal goes on', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir });
  await addRecords(first.store, 1, 50, 100);
  await first.store.close();
  const [file] = await segmentFiles(dir);
  const path = join(dir, file!);
  const size = (await stat(path)).size;
  // cut the file in the middle of the last record
  await truncate(path, size - 60);

  const second = await openJournal(t, { dir });
  assert.deepEqual(
    second.state.records.map((r) => r.id),
    Array.from({ length: 49 }, (_, i) => i + 1),
  );
  assert.deepEqual(second.store.lastRecovery?.dropped, [
    { file, offset: size - addFrame(100), bytes: addFrame(100) - 60, reason: second.store.lastRecovery?.dropped[0]?.reason, kind: 'torn-tail', ids: [] },
  ]);
  assert.ok(second.events.some((e) => e.event === 'journal.truncated' && e['file'] === file && e['offset'] === size - addFrame(100)));
  assert.equal((await stat(path)).size, size - addFrame(100), 'the file is truncated where the torn record began');

  second.store.add(50, 4, payload(50, 100));
  await second.store.sync();
  await second.store.close();
  const third = await openJournal(t, { dir });
  assert.equal(third.state.records.length, 50);
  assert.deepEqual(third.store.lastRecovery?.dropped, []);
  assert.deepEqual(third.state.records[49]!.data, payload(50, 100));
});

test('a flipped byte in the last record is treated as a torn tail', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir });
  await addRecords(first.store, 1, 30, 100);
  await first.store.close();
  const [file] = await segmentFiles(dir);
  const path = join(dir, file!);
  const size = (await stat(path)).size;
  await flipByte(path, size - 3);

  const second = await openJournal(t, { dir });
  assert.equal(second.state.records.length, 29);
  const dropped = second.store.lastRecovery?.dropped ?? [];
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]!.kind, 'torn-tail');
  assert.equal(dropped[0]!.offset, size - addFrame(100));
  assert.equal(dropped[0]!.bytes, addFrame(100));
  assert.match(dropped[0]!.reason, /checksum/);
});

test('a flipped byte in the middle stops the open unless store.journal.repair is on, which drops that record only', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir });
  await addRecords(first.store, 1, 50, 100, 10);
  await first.store.close();
  const [file] = await segmentFiles(dir);
  const path = join(dir, file!);
  const size = (await stat(path)).size;
  // record 15 sits in the second of five writes; each write starts with a 17-byte batch frame
  const offsetOf15 = 32 + 17 + 10 * addFrame(100) + 17 + 4 * addFrame(100);
  await flipByte(path, offsetOf15 + 50);

  await assert.rejects(
    () => new JournalStore({ dir, compactInterval: 0 }).open(),
    (err: unknown) => isFerryError(err, 'FERRY_STORE_CORRUPT') && err.message.includes(file!) && err.message.includes(`offset ${offsetOf15}`) && err.message.includes('store.journal.repair') && !err.message.includes('JournalOptions'),
  );
  assert.equal((await stat(path)).size, size, 'a refused open changes nothing');

  const repaired = await openJournal(t, { dir, repair: true });
  assert.deepEqual(
    repaired.state.records.map((r) => r.id),
    Array.from({ length: 50 }, (_, i) => i + 1).filter((id) => id !== 15),
  );
  assert.deepEqual(
    repaired.store.lastRecovery?.dropped.map((d) => [d.file, d.offset, d.bytes, d.kind, d.ids]),
    [[file, offsetOf15, addFrame(100), 'repaired', [15]]],
  );
  assert.ok(repaired.events.some((e) => e.event === 'journal.repaired' && JSON.stringify(e['recordIds']) === '[15]'));
  await repaired.store.close();

  // the damaged record was overwritten with padding: the journal opens without repair from now on
  const after = await openJournal(t, { dir });
  assert.equal(after.state.records.length, 49);
  assert.deepEqual(after.store.lastRecovery?.dropped, []);
});

test('damage in a segment that is not the last is corruption, even at its end', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir, segmentSize: 4096 });
  await addRecords(first.store, 1, 100, 100);
  await first.store.close();
  const files = await segmentFiles(dir);
  assert.ok(files.length >= 3);
  const path = join(dir, files[0]!);
  await flipByte(path, (await stat(path)).size - 3);
  await assert.rejects(
    () => new JournalStore({ dir, compactInterval: 0 }).open(),
    (err: unknown) => isFerryError(err, 'FERRY_STORE_CORRUPT') && err.message.includes(files[0]!),
  );
  const repaired = await openJournal(t, { dir, repair: true });
  assert.equal(repaired.state.records.length, 99);
  assert.equal(repaired.store.lastRecovery?.dropped[0]?.kind, 'repaired');
});

test('segments roll at segmentSize, and a larger record gets a segment of its own', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir, segmentSize: 4096 });
  await addRecords(store, 1, 100, 200, 7);
  store.add(1000, 3, payload(1000, 10_000));
  store.add(1001, 4, payload(1001, 50));
  await store.sync();
  const segments = store.describe().segments;
  const big = segments.find((s) => s.keptAliveBy.includes(1000))!;
  assert.equal(big.liveRecords, 1);
  assert.ok(big.size > 10_000);
  for (const segment of segments) if (segment !== big) assert.ok(segment.size <= 4096, `${segment.file} is ${segment.size} bytes`);
  assert.ok(segments.length >= 100 * addFrame(200) / 4096);
  assert.deepEqual(await segmentFiles(dir), segments.map((s) => s.file));
  await store.close();
  const again = await openJournal(t, { dir, segmentSize: 4096 });
  assert.equal(again.state.records.length, 102);
  assert.deepEqual(again.state.records[100]!.data, payload(1000, 10_000));
});

test('segments whose records are all deleted are removed from disk after the sync', { timeout: 30_000 }, async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store, until } = await openJournal(t, { dir, segmentSize: 4096 });
  await addRecords(store, 1, 100, 200);
  const before = (await segmentFiles(dir)).length;
  assert.ok(before >= 5);
  // every segment but the one the big record went to, and no compaction asked for
  const removed = until((events) => events.filter((e) => e.event === 'journal.segment.deleted').length >= before);
  for (let id = 1; id <= 100; id++) store.delete(id);
  // one more record makes the segment holding the deletes a sealed one
  store.add(500, 4, payload(500, 4000));
  await store.sync();
  await removed;
  const files = await segmentFiles(dir);
  assert.ok(files.length <= 2, `${files.length} files left: ${files.join(' ')}`);
  await store.close();
  const again = await openJournal(t, { dir, segmentSize: 4096 });
  assert.deepEqual(
    again.state.records.map((r) => r.id),
    [500],
  );
  assert.equal(again.state.maxId, 500);
});

test('a segment holding the delete of a record in an older segment outlives that segment', async (t) => {
  const dir = await testFolder('ferry-journal-');
  // compactBelow 0: compact() only reclaims, so the oldest segment stays for now
  const first = await openJournal(t, { dir, segmentSize: 4096, compactBelow: 0 });
  const { store } = first;
  store.add(1, 4, payload(1, 100)); // X: deleted later
  store.add(2, 4, payload(2, 100)); // Y: keeps the oldest segment alive
  await store.sync();
  await addRecords(store, 3, 40, 200); // fillers, into newer segments
  for (let id = 3; id < 43; id++) store.delete(id);
  store.delete(1);
  await store.sync();
  // a record too big for what is left of the segment seals the one holding the deletes
  store.add(100, 4, payload(100, 4000));
  await addRecords(store, 101, 29, 200);
  await store.compact();
  const view = store.describe();
  const oldest = view.segments[0]!;
  assert.ok(oldest.keptAliveBy.includes(2));
  const waiting = view.segments.filter((s) => s.waitsFor.includes(oldest.file));
  assert.ok(waiting.length >= 1, 'the segment with the delete of record 1 is still there');
  for (const segment of waiting) assert.equal(segment.liveRecords, 0);
  for (const segment of waiting) assert.ok((await segmentFiles(dir)).includes(segment.file));
  await store.close();

  const second = await openJournal(t, { dir, segmentSize: 4096, compactBelow: 0.5 });
  assert.ok(!second.state.records.some((r) => r.id === 1), 'record 1 stays deleted');
  assert.ok(second.state.records.some((r) => r.id === 2));
  await second.store.compact();
  const files = await segmentFiles(dir);
  assert.ok(!files.includes(oldest.file), 'the oldest segment was compacted away');
  for (const segment of waiting) assert.ok(!files.includes(segment.file), `${segment.file} went after the segment it waited for`);
  await second.store.close();

  const third = await openJournal(t, { dir, segmentSize: 4096 });
  assert.ok(!third.state.records.some((r) => r.id === 1), 'record 1 is not resurrected');
  assert.deepEqual(third.state.records.find((r) => r.id === 2)?.data, payload(2, 100));
  assert.equal(third.state.records.length, 31);
});

test('compaction moves the one live record out of a segment of dead ones and frees the file', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store, events } = await openJournal(t, { dir, segmentSize: 8192 });
  store.add(1, 1, payload(1, 300));
  await addRecords(store, 2, 200, 200);
  for (let id = 2; id <= 201; id++) store.delete(id);
  await store.sync();
  const oldestFile = store.describe().segments[0]!.file;
  assert.ok(store.describe().segments[0]!.keptAliveBy.includes(1));
  await store.compact();
  const files = await segmentFiles(dir);
  assert.ok(!files.includes(oldestFile));
  assert.equal(files.length, 1, `left: ${files.join(' ')}`);
  const compacted = events.find((e) => e.event === 'journal.compacted');
  assert.equal(compacted?.['moved'], 1);
  assert.deepEqual(await store.read(1), payload(1, 300));
  store.update(1, 1, payload(7, 300));
  await store.close();
  const again = await openJournal(t, { dir, segmentSize: 8192 });
  assert.deepEqual(
    again.state.records.map((r) => [r.id, r.type]),
    [[1, 1]],
  );
  assert.deepEqual(again.state.records[0]!.data, payload(7, 300));
  assert.equal(again.state.maxId, 201);
});

test('compaction reads only the live records of the segment it empties, not the whole file', async (t) => {
  const dir = await testFolder('ferry-journal-');
  let bytesRead = 0;
  const fileSystem: JournalFileSystem = {
    ...nodeFileSystem,
    read: async (fd, buffer, offset, length, position) => {
      const n = await nodeFileSystem.read(fd, buffer, offset, length, position);
      bytesRead += n;
      return n;
    },
  };
  const segmentSize = 64 * 1024;
  const { store } = await openJournal(t, { dir, segmentSize, fileSystem });
  store.add(1, 1, payload(1, 300));
  store.add(2, 1, payload(2, 500));
  await addRecords(store, 3, 200, 1000);
  for (let id = 3; id <= 202; id++) store.delete(id);
  await store.sync();
  const oldest = store.describe().segments[0]!;
  assert.deepEqual(oldest.keptAliveBy, [1, 2]);
  bytesRead = 0;
  await store.compact();
  assert.ok(!(await segmentFiles(dir)).includes(oldest.file), 'the segment was compacted away');
  // two records of 800 bytes in all, read in one span (they lie side by side), against 64 KiB
  assert.ok(bytesRead < 2048, `compaction read ${bytesRead} bytes`);
  assert.deepEqual(await store.read(1), payload(1, 300));
  assert.deepEqual(await store.read(2), payload(2, 500));
});

test('a record updated in a newer segment survives compaction of the segment that created it', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir, segmentSize: 4096 });
  store.add(1, 4, payload(1, 100));
  await addRecords(store, 2, 30, 200);
  store.update(1, 4, payload(99, 100));
  await addRecords(store, 100, 30, 200);
  for (let id = 2; id <= 31; id++) store.delete(id);
  for (let id = 100; id <= 129; id++) store.delete(id);
  await store.sync();
  await store.compact();
  assert.deepEqual(await store.read(1), payload(99, 100));
  await store.close();
  const again = await openJournal(t, { dir, segmentSize: 4096 });
  assert.deepEqual(
    again.state.records.map((r) => [r.id, r.data.equals(payload(99, 100))]),
    [[1, true]],
  );
});

test('transactions survive compaction and reclaim across segments', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir, segmentSize: 4096 });
  store.add(1, 4, payload(1, 100));
  store.add(10, 3, payload(10, 300), 500);
  await addRecords(store, 100, 20, 200);
  store.add(11, 4, payload(11, 100), 500);
  store.delete(1, 500);
  store.prepare(500, Buffer.from('xid'));
  store.add(12, 4, payload(12, 100), 501);
  await addRecords(store, 200, 20, 200);
  store.commit(501);
  for (let id = 100; id < 120; id++) store.delete(id);
  await store.sync();
  await store.compact();
  await store.close();

  const second = await openJournal(t, { dir, segmentSize: 4096 });
  assert.deepEqual(
    second.state.prepared.map((p) => [p.txId, p.operations.length]),
    [[500, 3]],
  );
  assert.ok(second.state.records.some((r) => r.id === 1));
  assert.ok(second.state.records.some((r) => r.id === 12));
  second.store.commit(500);
  for (let id = 200; id < 220; id++) second.store.delete(id);
  await second.store.sync();
  await second.store.compact();
  await second.store.close();

  const third = await openJournal(t, { dir, segmentSize: 4096 });
  assert.deepEqual(third.state.prepared, []);
  assert.deepEqual(
    third.state.records.map((r) => r.id).sort((a, b) => a - b),
    [10, 11, 12],
  );
  assert.deepEqual(third.state.records.find((r) => r.id === 10)?.data, payload(10, 300));
  await third.store.compact();
  assert.ok((await segmentFiles(dir)).length <= 2);
});

test('read returns a live record from disk, also one appended a moment ago', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir });
  store.add(1, 3, payload(1, 5000));
  store.add(2, 4, Buffer.alloc(0));
  const early = store.read(1);
  assert.deepEqual(await early, payload(1, 5000));
  assert.deepEqual(await store.read(2), Buffer.alloc(0));
  store.update(1, 3, payload(11, 700));
  assert.deepEqual(await store.read(1), payload(11, 700));
  await assert.rejects(store.read(3), (err: unknown) => isFerryError(err, 'FERRY_STORE_FAILED'));
  await store.close();
  const again = await openJournal(t, { dir });
  assert.deepEqual(await again.store.read(1), payload(11, 700));
});

test('the reader: readSync serves a record still in the write batch, readMany groups reads across segments', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir, segmentSize: 4096 });
  store.add(1, 3, payload(1, 900));
  // not written yet: copied from the batch in memory
  assert.equal(store.reader.has(1), true);
  assert.deepEqual(store.reader.readSync(1), payload(1, 900));
  await store.sync();
  assert.deepEqual(store.reader.readSync(1), payload(1, 900));
  await addRecords(store, 2, 200, 150, 20);
  const ids = [150, 2, 77, 1, 200, 3, 4, 5, 120];
  const read = await store.reader.readMany(ids);
  assert.deepEqual(
    read.map((b) => b.length),
    ids.map((id) => (id === 1 ? 900 : 150)),
  );
  for (let i = 0; i < ids.length; i++) assert.deepEqual(Buffer.from(read[i]!), payload(ids[i]!, ids[i] === 1 ? 900 : 150));
  store.add(300, 3, payload(300, 40));
  assert.deepEqual((await store.reader.readMany([300, 2]))[0], payload(300, 40), 'readMany waits for a record not yet written');
  store.delete(2);
  assert.equal(store.reader.has(2), false);
  assert.throws(() => store.reader.readSync(2), (err: unknown) => isFerryError(err, 'FERRY_STORE_FAILED'));
  await assert.rejects(store.reader.readMany([2]), (err: unknown) => isFerryError(err, 'FERRY_STORE_FAILED'));
});

test('the reader reads a sealed segment whose descriptor was closed, and follows a record compaction moved', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir, segmentSize: 4096 });
  await addRecords(first.store, 1, 600, 200, 50);
  await first.store.close();
  const { store } = await openJournal(t, { dir, segmentSize: 4096 });
  // after a restart no sealed segment is open: each readSync opens its file for that read
  for (let id = 1; id <= 600; id += 37) assert.deepEqual(store.reader.readSync(id), payload(id, 200));
  for (let id = 2; id <= 600; id++) store.delete(id);
  await store.sync();
  await store.compact();
  assert.deepEqual(store.reader.readSync(1), payload(1, 200));
  assert.deepEqual(Buffer.from((await store.reader.readMany([1]))[0]!), payload(1, 200));
});

test('open keeps only the prefix of a record that keep() asks for, and the rest stays readable', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir });
  first.store.add(1, 9, payload(1, 1000));
  first.store.add(2, 4, payload(2, 1000));
  await first.store.close();
  const store = new JournalStore({ dir, compactInterval: 0 });
  const state = await store.open({ keep: (type) => (type === 9 ? 10 : Number.MAX_SAFE_INTEGER) });
  t.after(() => store.close().catch(() => undefined));
  const byId = new Map(state.records.map((r) => [r.id, r.data]));
  assert.deepEqual(byId.get(1), payload(1, 1000).subarray(0, 10));
  assert.deepEqual(byId.get(2), payload(2, 1000));
  assert.deepEqual(store.reader.readSync(1), payload(1, 1000));
});

test('the records stream one at a time in the order first added; deletes and adds made while it streams are neither handed back nor lost', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir });
  await addRecords(first.store, 1, 300, 40);
  // a record updated after later ones were added keeps its place; a deleted one is gone
  first.store.update(5, 4, payload(5005, 40));
  first.store.delete(7);
  await first.store.sync();
  await first.store.close();

  const store = new JournalStore({ dir, compactInterval: 0 });
  const state = await store.open();
  t.after(() => store.close().catch(() => undefined));
  assert.ok(state.stream !== undefined, 'the journal streams its records');
  const seen: number[] = [];
  for (const record of state.stream) {
    seen.push(record.id);
    if (record.id === 5) assert.deepEqual(record.data, payload(5005, 40));
    else assert.deepEqual(record.data, payload(record.id, 40));
    // what a caller does while it recovers: deletes some records still to come, adds new ones
    if (record.id === 100) {
      for (let id = 150; id < 160; id++) store.delete(id);
      for (let id = 1000; id < 1010; id++) store.add(id, 4, payload(id, 40));
    }
  }
  const expected = [...Array.from({ length: 300 }, (_, i) => i + 1)].filter((id) => id !== 7 && (id < 150 || id >= 160));
  assert.deepEqual(seen, expected);
  // once the stream ends, rows are reused: more adds and deletes, then a restart, keep everything straight
  for (let id = 1010; id < 1100; id++) store.add(id, 4, payload(id, 40));
  for (let id = 1; id < 50; id++) store.delete(id);
  await store.sync();
  await store.close();
  const again = new JournalStore({ dir, compactInterval: 0 });
  const reopened = await again.open();
  t.after(() => again.close().catch(() => undefined));
  const ids = reopened.records.map((r) => r.id).sort((a, b) => a - b);
  const live = [...expected.filter((id) => id >= 50), ...Array.from({ length: 100 }, (_, i) => 1000 + i)];
  assert.deepEqual(ids, live);
  for (const r of reopened.records) assert.deepEqual(r.data, r.id === 5 ? payload(5005, 40) : payload(r.id, 40));
});

test('a journal of many segments keeps only a few of them open', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const first = await openJournal(t, { dir, segmentSize: 4096 });
  await addRecords(first.store, 1, 1000, 200, 50);
  await first.store.close();
  const { store } = await openJournal(t, { dir, segmentSize: 4096 });
  const segments = (await segmentFiles(dir)).length;
  assert.ok(segments > 50);
  for (let id = 1; id <= 1000; id += 7) assert.deepEqual(await store.read(id), payload(id, 200));
  const open = await openDescriptorsUnder(dir);
  if (open !== undefined) assert.ok(open <= 40, `${open} descriptors open for ${segments} segments`);
});

/** How many of this process's descriptors point into `dir` (undefined where /proc is not there to tell). */
async function openDescriptorsUnder(dir: string): Promise<number | undefined> {
  let fds: string[];
  try {
    fds = await readdir('/proc/self/fd');
  } catch {
    return undefined;
  }
  let n = 0;
  for (const fd of fds) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir)) n++;
  }
  return n;
}

test('a long-lived record that keeps emptied segments on disk is moved without waiting for the timer', { timeout: 30_000 }, async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store, until } = await openJournal(t, { dir, segmentSize: 4096, compactInterval: 60_000 });
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(() => clearInterval(keepAlive));
  store.add(1, 1, Buffer.from('queue orders'));
  // messages acknowledged a few segments after they were sent: each segment's deletes need the one before
  for (let id = 2; id < 400; id++) {
    store.add(id, 3, payload(id, 200));
    if (id > 41) store.delete(id - 40);
    if (id % 10 === 0) await store.sync();
  }
  await until((events) => events.some((e) => e.event === 'journal.compacted'));
  for (let id = 360; id < 400; id++) store.delete(id);
  await store.sync();
  await store.compact();
  assert.ok((await segmentFiles(dir)).length <= 2);
  assert.deepEqual(await store.read(1), Buffer.from('queue orders'));
});

test('describe reports live and dead bytes, records by type, and who keeps a segment', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir });
  for (let id = 1; id <= 30; id++) store.add(id, id <= 10 ? 3 : 4, payload(id, 100));
  for (let id = 1; id <= 30; id += 2) store.delete(id);
  await store.sync();
  const view = store.describe();
  assert.equal(view.records, 15);
  assert.equal(view.bytes, 1500);
  assert.equal(view.segments.length, 1);
  const segment = view.segments[0]!;
  assert.equal(segment.current, true);
  assert.equal(segment.liveBytes, 15 * addFrame(100));
  assert.equal(segment.deadBytes, segment.size - segment.liveBytes);
  assert.equal(segment.size, 32 + 17 + 30 * addFrame(100) + 15 * 21);
  assert.deepEqual(segment.liveRecordsByType, { 3: 5, 4: 10 });
  assert.deepEqual(segment.keptAliveBy, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);
  assert.equal(view.failure, null);
});

test('a failed write stalls the journal: its syncs wait, new persistent sends are refused with FERRY_STORE_FULL, appends go on in memory, and it writes again by itself once the disk takes it', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store, events, until } = await openJournal(t, { dir, fileSystem: fs });
  await addRecords(store, 1, 20, 100);
  const cause = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  fs.failWrite = cause;
  fs.partialWrite = 80; // the failing write leaves part of itself behind: its batch frame and part of a record
  for (let id = 21; id <= 30; id++) store.add(id, 4, payload(id, 100));
  // what a sync waits for is routed already and will be on disk: it is not refused, it waits
  let settled = 0;
  const waiting = store.sync().then(() => void settled++);
  await until((e) => e.some((x) => x.event === 'journal.stalled'));
  const refusal = store.writeRefusal();
  assert.ok(isFerryError(refusal, 'FERRY_STORE_FULL') && refusal.cause === cause, 'new persistent sends are refused meanwhile');
  assert.match(store.describe().failure ?? '', /no space/);
  assert.equal(events.filter((e) => e.event === 'journal.stalled').length, 1);
  // a consumer's acknowledgement (a delete) and what else core appends must not throw
  store.delete(1);
  store.add(31, 4, payload(31, 100));
  const later = store.sync().then(() => void settled++);
  assert.deepEqual(await store.read(25), payload(25, 100), 'a record waiting to be written is read from memory');
  assert.equal(settled, 0, 'no sync resolves while nothing is written');

  // a crash now: the journal on disk opens with what was written before the failure
  const copy = await testFolder('ferry-journal-');
  await cp(dir, copy, { recursive: true });
  const crashed = await openJournal(t, { dir: copy });
  assert.deepEqual(
    crashed.state.records.map((r) => r.id),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal(crashed.store.lastRecovery?.dropped[0]?.kind, 'torn-tail');

  fs.failWrite = undefined;
  await until((e) => e.some((x) => x.event === 'journal.resumed'));
  assert.equal(store.writeRefusal(), undefined);
  await Promise.all([waiting, later]);
  assert.equal(settled, 2);
  await store.close();
  const again = await openJournal(t, { dir });
  assert.deepEqual(
    again.state.records.map((r) => r.id),
    Array.from({ length: 30 }, (_, i) => i + 2),
  );
});

test('closing a stalled journal tries its batch once more: it closes cleanly if the disk takes it, and says so if not', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store, until } = await openJournal(t, { dir, fileSystem: fs });
  await addRecords(store, 1, 5, 50);
  fs.failWrite = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  store.delete(1);
  const waiting = store.sync().then(
    () => undefined,
    (err: unknown) => err,
  );
  await until((e) => e.some((x) => x.event === 'journal.stalled'));
  await assert.rejects(store.close(), (err: unknown) => isFerryError(err, 'FERRY_STORE_FULL'), 'the delete could not be written');
  assert.ok(isFerryError(await waiting, 'FERRY_STORE_FULL'), 'a sync still waiting hears it too');

  fs.failWrite = undefined;
  const second = await openJournal(t, { dir, fileSystem: fs });
  assert.equal(second.state.records.length, 5, 'what was not written is not there');
  fs.failWrite = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  second.store.delete(1);
  const secondWaiting = second.store.sync();
  await second.until((e) => e.some((x) => x.event === 'journal.stalled'));
  fs.failWrite = undefined;
  await second.store.close();
  await secondWaiting;
  const third = await openJournal(t, { dir });
  assert.deepEqual(
    third.state.records.map((r) => r.id),
    [2, 3, 4, 5],
  );
});

test('a failed fdatasync (EIO) refuses new persistent sends with FERRY_STORE_FAILED, keeps the records and the syncs waiting for them, and writes them again', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store, until } = await openJournal(t, { dir, fileSystem: fs });
  store.add(1, 4, payload(1, 10));
  await store.sync();
  fs.failSync = Object.assign(new Error('input/output error'), { code: 'EIO' });
  store.add(2, 4, payload(2, 10));
  const a = store.sync();
  store.add(3, 4, payload(3, 10));
  const b = store.sync();
  await until((e) => e.some((x) => x.event === 'journal.stalled'));
  assert.ok(isFerryError(store.writeRefusal(), 'FERRY_STORE_FAILED'), 'EIO is a failure, not a full disk');
  store.delete(1);
  fs.failSync = undefined;
  await until((e) => e.some((x) => x.event === 'journal.resumed'));
  await Promise.all([a, b, store.sync()]);
  await store.close();
  const again = await openJournal(t, { dir });
  assert.deepEqual(
    again.state.records.map((r) => r.id),
    [2, 3],
  );
});

test('store.journal.maxSize: past it persistent sends are refused; deletes still go in, and once files are reclaimed sends are taken again', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const segmentSize = 4096;
  const { store, events, until } = await openJournal(t, { dir, segmentSize, maxSize: 5 * segmentSize });
  let id = 0;
  while (store.writeRefusal() === undefined) {
    store.add(++id, 4, payload(id, 500));
    await store.sync();
    assert.ok(id < 100, 'refused before 100 records of 500 bytes (about 52 KiB) against 20 KiB');
  }
  const refusal = store.writeRefusal();
  assert.ok(isFerryError(refusal, 'FERRY_STORE_FULL'));
  assert.match(refusal.message, /store\.journal\.maxSize \(20480\)/);
  assert.ok(events.some((e) => e.event === 'journal.space.exhausted'));
  for (let n = 1; n <= id; n++) store.delete(n);
  await store.sync();
  await until((e) => e.some((x) => x.event === 'journal.space.available'));
  assert.equal(store.writeRefusal(), undefined);
  assert.equal(store.describe().refusing, null);
});

test('store.journal.minFreeDisk: under it persistent sends are refused, and taken again once the disk has room', async (t) => {
  const dir = await testFolder('ferry-journal-');
  let free = 500;
  const { store, until } = await openJournal(t, { dir, minFreeDisk: 1000, freeSpace: async () => free });
  const refusal = store.writeRefusal();
  assert.ok(isFerryError(refusal, 'FERRY_STORE_FULL'));
  assert.match(refusal.message, /500 bytes are free .* under store\.journal\.minFreeDisk \(1000\)/);
  assert.equal(store.describe().freeDiskBytes, 500);
  free = 1_000_000;
  // what is written makes the journal look at the disk again, without waiting for its timer
  store.add(1, 4, payload(1, 300));
  await store.sync();
  await until((e) => e.some((x) => x.event === 'journal.space.available'));
  assert.equal(store.writeRefusal(), undefined);
});

test('syncOnWrite false writes without fdatasync and still recovers after a clean close', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const fs = new TestFileSystem();
  const { store } = await openJournal(t, { dir, fileSystem: fs, syncOnWrite: false });
  fs.fdatasyncs = 0;
  await addRecords(store, 1, 100, 50);
  assert.equal(fs.fdatasyncs, 0);
  await store.close();
  const again = await openJournal(t, { dir });
  assert.equal(again.state.records.length, 100);
});

test('throughput: 100k 1 KiB records in batches of 100, and the raw fdatasync rate of this disk', async (t) => {
  const dir = await testFolder('ferry-journal-');
  const { store } = await openJournal(t, { dir });
  const data = Buffer.alloc(1024, 0x78);
  const started = performance.now();
  let id = 0;
  for (let batch = 0; batch < 1000; batch++) {
    const syncs: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      store.add(++id, 3, data);
      syncs.push(store.sync());
    }
    await Promise.all(syncs);
  }
  const seconds = (performance.now() - started) / 1000;
  assert.equal(store.stats().records, 100_000);
  await store.close();
  const reopened = await openJournal(t, { dir });
  const recovery = reopened.store.lastRecovery!;
  assert.equal(reopened.state.records.length, 100_000);
  for (let n = 1; n <= 100_000; n++) reopened.store.delete(n);
  await reopened.store.sync();
  await reopened.store.compact();
  assert.equal((await segmentFiles(dir)).length, 1);
  await reopened.store.close();

  const probe = await openFile(join(dir, 'fdatasync-probe'), 'w');
  const block = Buffer.alloc(4096, 1);
  let syncs = 0;
  const probeStart = performance.now();
  while (performance.now() - probeStart < 2000) {
    await probe.write(block, 0, block.length, 0);
    await probe.datasync();
    syncs++;
  }
  await probe.close();
  const probeSeconds = (performance.now() - probeStart) / 1000;
  console.log(
    `journal: ${Math.round(100_000 / seconds)} appends/s of 1 KiB (sync per 100; ${Math.round(1000 / seconds)} batches/s); ` +
      `raw 4 KiB write+fdatasync: ${Math.round(syncs / probeSeconds)}/s; ` +
      `recovery of ${recovery.records} records in ${recovery.segments} segments: ${recovery.durationMs} ms`,
  );
});

test('random operations leave the journal where the in-memory store is, across compactions and restarts', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const dir = await testFolder('ferry-journal-');
    let next = seed * 0x9e3779b9;
    const random = (): number => {
      next = (next + 0x6d2b79f5) | 0;
      let x = Math.imul(next ^ (next >>> 15), 1 | next);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
    const options = { dir, segmentSize: 2048, compactBelow: 0.5 };
    // the reference, and a copy of its live data that can be looked at without opening it again
    const model = new MemoryStore();
    await model.open();
    const data = new Map<number, Buffer>();
    const txOps = new Map<number, (() => void)[]>();
    let fs = new TestFileSystem();
    let journal = (await openJournal(t, { ...options, fileSystem: fs })).store;
    let nextId = 1;
    const openTx: number[] = [];
    const preparedTx: number[] = [];
    const compare = (state: RecoveredState, expected: RecoveredState, step: number): void => {
      const byId = (s: RecoveredState): [number, number, string][] =>
        s.records.map((r): [number, number, string] => [r.id, r.type, r.data.toString('hex')]).sort((a, b) => a[0] - b[0]);
      assert.deepEqual(byId(state), byId(expected), `records after step ${step} (seed ${seed})`);
      const tx = (s: RecoveredState): unknown =>
        s.prepared
          .map((p) => [p.txId, p.data.toString(), p.operations.map((op) => (op.op === 'delete' ? [op.op, op.id] : [op.op, op.record.id, op.record.data.toString('hex')]))])
          .sort();
      assert.deepEqual(tx(state), tx(expected), `prepared after step ${step} (seed ${seed})`);
      assert.equal(state.maxId, expected.maxId, `maxId after step ${step} (seed ${seed})`);
    };
    const later = (txId: number | undefined, apply: () => void): void => {
      if (txId === undefined) apply();
      else txOps.get(txId)!.push(apply);
    };
    const end = (txId: number, commit: boolean): void => {
      if (commit) {
        model.commit(txId);
        journal.commit(txId);
        for (const apply of txOps.get(txId) ?? []) apply();
      } else {
        model.rollback(txId);
        journal.rollback(txId);
      }
      txOps.delete(txId);
    };
    for (let step = 0; step < 2500; step++) {
      const r = random();
      const inTx = openTx.length > 0 && random() < 0.3 ? pick(openTx) : undefined;
      if (r < 0.35) {
        const id = nextId++;
        const bytes = payload(id, Math.floor(random() * 400));
        model.add(id, 3 + (id % 2), bytes, inTx);
        journal.add(id, 3 + (id % 2), bytes, inTx);
        later(inTx, () => data.set(id, bytes));
      } else if (r < 0.45) {
        const id = pick([...data.keys()]) ?? nextId;
        const bytes = payload(id + step, Math.floor(random() * 300));
        model.update(id, 4, bytes, inTx);
        journal.update(id, 4, bytes, inTx);
        later(inTx, () => data.has(id) && data.set(id, bytes));
      } else if (r < 0.7) {
        const id = pick([...data.keys()]) ?? nextId;
        model.delete(id, inTx);
        journal.delete(id, inTx);
        later(inTx, () => data.delete(id));
      } else if (r < 0.74) {
        const txId = nextId++;
        openTx.push(txId);
        txOps.set(txId, []);
      } else if (r < 0.78 && openTx.length > 0) {
        end(openTx.shift()!, random() < 0.5);
      } else if (r < 0.8 && openTx.length > 0) {
        const txId = openTx.shift()!;
        model.prepare(txId, Buffer.from(`xid-${txId}`));
        journal.prepare(txId, Buffer.from(`xid-${txId}`));
        preparedTx.push(txId);
      } else if (r < 0.82 && preparedTx.length > 0) {
        end(preparedTx.shift()!, random() < 0.5);
      } else if (r < 0.9) {
        await journal.sync();
      } else if (r < 0.95) {
        await journal.compact();
      } else if (r < 0.97) {
        assert.deepEqual(journal.stats(), model.stats());
        if (random() < 0.5) await journal.close();
        else {
          // the process dies after a sync, possibly in the middle of a compaction and its deletes
          await journal.sync();
          fs.unlinksBeforeCrash = Math.floor(random() * 4);
          await journal.compact().catch(() => undefined);
          fs.crashed = true;
          await journal.close().catch(() => undefined);
        }
        await model.close();
        const expected = await model.open();
        for (const txId of openTx) txOps.delete(txId);
        openTx.length = 0;
        fs = new TestFileSystem();
        const opened = await openJournal(t, { ...options, fileSystem: fs });
        journal = opened.store;
        compare(opened.state, expected, step);
      } else {
        const id = pick([...data.keys()]);
        if (id !== undefined) assert.deepEqual(await journal.read(id), data.get(id), `read ${id} after step ${step} (seed ${seed})`);
      }
    }
    await journal.close();
    await model.close();
    const expected = await model.open();
    const last = await openJournal(t, options);
    compare(last.state, expected, -1);
    await last.store.compact();
    const files = await segmentFiles(dir);
    const liveBytes = last.store.describe().segments.reduce((n, s) => n + s.liveBytes, 0);
    assert.ok(files.length <= 3 + Math.ceil(liveBytes / 1024), `${files.length} segment files for ${liveBytes} live bytes (seed ${seed})` + JSON.stringify(last.store.describe().segments.map((s) => [s.file.slice(4, 8), s.size, s.liveBytes, s.liveRecords, s.openTransactionFrames, s.waitsFor.map((f) => f.slice(4, 8))])));
  }
});
