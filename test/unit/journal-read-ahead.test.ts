/**
 * An HA backup replays the journal ahead (`readAhead`) while its primary's lease runs out: the
 * replay writes nothing, and `open` uses it only if no segment file changed since; a torn tail it
 * found is cut by `open`, by the broker that then holds the folder.
 */
import assert from 'node:assert/strict';
import { appendFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { JournalStore, type JournalEvent } from '../../src/store/journal/index.js';
import { testFolder } from '../helpers/temp-dir.js';

function journal(dir: string, events: JournalEvent[] = []): JournalStore {
  return new JournalStore({ dir, compactInterval: 0, onEvent: (event) => events.push(event) });
}

async function fill(store: JournalStore, from: number, count: number): Promise<void> {
  for (let id = from; id < from + count; id++) store.add(id, 7, Buffer.from(`record ${id}`));
  await store.sync();
}

function ids(records: Iterable<{ id: number }>): number[] {
  return [...records].map((r) => r.id);
}

/** A folder holding a closed journal of records 1 to `count`. */
async function closedJournal(t: TestContext, count: number): Promise<string> {
  const dir = await testFolder('ferry-read-ahead-');
  const first = journal(dir);
  await first.open();
  await fill(first, 1, count);
  await first.close();
  return dir;
}

async function sizes(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of await readdir(dir)) out[name] = (await stat(join(dir, name))).size;
  return out;
}

test('open uses a replay made ahead when no segment changed since', async (t) => {
  const dir = await closedJournal(t, 3000);

  const events: JournalEvent[] = [];
  const second = journal(dir, events);
  await second.readAhead();
  const state = await second.open();
  t.after(() => second.close());
  assert.deepEqual(ids(state.records), Array.from({ length: 3000 }, (_, i) => i + 1));
  assert.ok(events.some((e) => e.event === 'journal.read-ahead-used'), JSON.stringify(events));
});

test('open replays again when the folder changed after the replay made ahead, and so misses nothing written meanwhile', async (t) => {
  const dir = await testFolder('ferry-read-ahead-');
  const primary = journal(dir);
  await primary.open();
  await fill(primary, 1, 100);

  const events: JournalEvent[] = [];
  const backup = journal(dir, events);
  await backup.readAhead();
  // the primary was slow, not dead: it writes more before it goes
  await fill(primary, 101, 50);
  await primary.close();

  const state = await backup.open();
  t.after(() => backup.close());
  assert.deepEqual(ids(state.records), Array.from({ length: 150 }, (_, i) => i + 1));
  assert.ok(events.some((e) => e.event === 'journal.read-ahead-stale'), JSON.stringify(events));
  assert.ok(!events.some((e) => e.event === 'journal.read-ahead-used'));
});

test('a replay made ahead writes nothing: the torn tail it finds is cut by open, and reported once', async (t) => {
  const dir = await closedJournal(t, 200);
  const segments = (await readdir(dir)).filter((name) => name.endsWith('.jnl')).sort();
  const last = segments.at(-1)!;
  // half a record at the end of the last segment: a write the kill cut short
  await appendFile(join(dir, last), Buffer.from([0x46, 0x52, 0x59, 0x01, 0x00, 0x00]));
  const before = await sizes(dir);

  const events: JournalEvent[] = [];
  const backup = journal(dir, events);
  await backup.readAhead();
  assert.deepEqual(await sizes(dir), before, 'the replay ahead changed nothing on disk');
  assert.equal(events.filter((e) => e.event === 'journal.truncated').length, 0, 'nor reported a cut it has not made');

  const state = await backup.open();
  t.after(() => backup.close());
  assert.deepEqual(ids(state.records), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.ok(events.some((e) => e.event === 'journal.read-ahead-used'));
  assert.equal(events.filter((e) => e.event === 'journal.truncated').length, 1);
  assert.equal((await stat(join(dir, last))).size, before[last]! - 6, 'open cut the torn tail');
});

test('a replay made ahead and dropped is not used', async (t) => {
  const dir = await closedJournal(t, 10);
  const events: JournalEvent[] = [];
  const backup = journal(dir, events);
  backup.readAhead();
  backup.dropReadAhead();
  const state = await backup.open();
  t.after(() => backup.close());
  assert.equal(ids(state.records).length, 10);
  assert.ok(!events.some((e) => e.event.startsWith('journal.read-ahead')), JSON.stringify(events));
});
