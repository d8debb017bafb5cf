import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFerryError } from '../../src/errors.js';
import { JournalStore } from '../../src/store/journal/index.js';
import { FORMAT_VERSION, FRAME_MAGIC, crc32 } from '../../src/store/journal/format.js';
import { runFerry } from '../helpers/process.js';
import { testFolder } from '../helpers/temp-dir.js';

/**
 * Older journals are read by newer builds; a journal written by a newer build is refused, untouched:
 * a segment whose header is whole but names a later format is neither a torn write to cut off nor
 * damage for repair to drop.
 */

/** Writes two segments of records, and closes. */
async function writeJournal(dir: string): Promise<string[]> {
  const store = new JournalStore({ dir, compactInterval: 0, segmentSize: 4096 });
  await store.open();
  for (let id = 1; id <= 40; id++) {
    store.add(id, 4, Buffer.alloc(200, id));
    if (id % 10 === 0) await store.sync();
  }
  await store.close();
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jnl')).sort();
  assert.ok(files.length >= 2, `expected several segments, got ${files.join(', ')}`);
  return files;
}

/** Gives a segment the next format version, with a header checksum that matches; `frames` also changes the frame magic, as a later frame layout would. */
async function makeNewer(path: string, frames: boolean): Promise<void> {
  const bytes = await readFile(path);
  bytes.writeUInt16LE(FORMAT_VERSION + 1, 4);
  bytes.writeUInt32LE(crc32(bytes.subarray(0, 28)), 28);
  if (frames) {
    for (let at = 32; at + 4 <= bytes.length; at++) if (bytes.readUInt32LE(at) === FRAME_MAGIC) bytes.writeUInt32LE(~FRAME_MAGIC >>> 0, at);
  }
  await writeFile(path, bytes);
}

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) files.set(name, await readFile(join(dir, name)));
  return files;
}

const REFUSAL = new RegExp(`written by a newer Ferry, in journal format ${FORMAT_VERSION + 1}; this build reads formats up to ${FORMAT_VERSION}`);

function refusesAsNewer(err: unknown): boolean {
  assert.ok(isFerryError(err, 'FERRY_STORE_FAILED'), String(err));
  const message = (err as Error).message;
  assert.match(message, REFUSAL);
  assert.doesNotMatch(message, /repair/);
  assert.doesNotMatch(message, /\n/);
  return true;
}

for (const which of ['last', 'first'] as const) {
  for (const frames of [false, true]) {
    test(`the ${which} segment in a newer format (${frames ? 'new frame layout' : 'same frames'}) is refused, with repair too, and no byte changes`, async () => {
      const dir = await testFolder('ferry-versions-');
      const files = await writeJournal(dir);
      await makeNewer(join(dir, which === 'last' ? files[files.length - 1]! : files[0]!), frames);
      const before = await snapshot(dir);

      await assert.rejects(() => new JournalStore({ dir, compactInterval: 0 }).open(), refusesAsNewer);
      assert.deepEqual(await snapshot(dir), before);
      await assert.rejects(() => new JournalStore({ dir, compactInterval: 0, repair: true }).open(), refusesAsNewer);
      assert.deepEqual(await snapshot(dir), before);
    });
  }
}

test('ferry start on a data folder a newer Ferry wrote exits 1 with one line saying so, with store.journal.repair too, and changes no segment', async () => {
  const dir = await testFolder('ferry-versions-');
  const data = join(dir, 'data');
  const journal = join(data, 'journal');
  const files = await writeJournal(journal);
  await makeNewer(join(journal, files[files.length - 1]!), true);
  const before = await snapshot(journal);
  const config = join(dir, 'repair.yaml');
  await writeFile(config, 'store:\n  journal:\n    repair: true\n');
  const off = Object.fromEntries(['HTTP', 'AMQP', 'MQTT', 'OPENWIRE', 'WS', 'STOMP'].map((listener) => [`FERRY_${listener}_PORT`, 'off']));
  for (const args of [[], ['--config', config]]) {
    const start = await runFerry(['start', '--data', data, ...args], { env: off });
    assert.equal(start.code, 1, start.stderr);
    const lines = start.stderr.trim().split('\n');
    assert.equal(lines.length, 1, start.stderr);
    assert.match(lines[0]!, /^ferry: FERRY_STORE_FAILED: /);
    assert.match(lines[0]!, REFUSAL);
    assert.doesNotMatch(lines[0]!, /repair/);
    assert.deepEqual(await snapshot(journal), before);
  }
});

test('segments of format 2, as builds before format 3 wrote them, and a catalog of version 1 are still read', async () => {
  const dir = await testFolder('ferry-versions-');
  const later = { types: [4], above: 0 };
  const writer = new JournalStore({ dir, compactInterval: 0, segmentSize: 4096 });
  const empty = await writer.open({ later });
  for (const _ of empty.stream ?? empty.records);
  for (let id = 1; id <= 40; id++) writer.add(id, id % 10 === 0 ? 1 : 4, Buffer.alloc(200, id));
  await writer.close();
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jnl'));
  for (const file of files) {
    const path = join(dir, file);
    const bytes = await readFile(path);
    assert.equal(bytes.readUInt16LE(4), FORMAT_VERSION);
    bytes.writeUInt16LE(2, 4);
    bytes.writeUInt32LE(crc32(bytes.subarray(0, 28)), 28);
    await writeFile(path, bytes);
  }
  const catalog = await readFile(join(dir, 'catalog'));
  catalog.writeUInt16LE(1, 4);
  catalog.writeUInt32LE(crc32(catalog.subarray(0, catalog.length - 4)), catalog.length - 4);
  await writeFile(join(dir, 'catalog'), catalog);

  const events: string[] = [];
  const store = new JournalStore({ dir, compactInterval: 0, onEvent: (e) => events.push(e.event) });
  const state = await store.open({ later });
  const ids: number[] = [];
  for (const record of state.stream ?? state.records) ids.push(record.id);
  for (const record of (await state.later) ?? []) ids.push(record.id);
  await store.close();
  assert.deepEqual(ids.sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.ok(!events.includes('journal.catalog.unused'), events.join(', '));
});
