import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { JournalStore } from '../../src/store/journal/index.js';
import { crc32, encodeSegmentHeader } from '../../src/store/journal/format.js';
import { testFolder } from '../helpers/temp-dir.js';
import { flipByte } from '../helpers/damage.js';

/** Repair loses only what is damaged: a flipped byte costs the record it is in, reported by id. */

const HEADER = 32;
const BATCH = 17;
/** 12 (magic, CRC, length) + 13 (kind, id, type) + data. */
const addFrame = (dataLength: number): number => 25 + dataLength;

function payload(id: number, size: number): Buffer {
  const data = Buffer.alloc(size, 0x61 + (id % 26));
  data.writeUInt32LE(id, 0);
  return data;
}

/** Writes records 1..count of `size` bytes in writes of `perBatch`, into one segment, and closes. */
async function writeSegment(dir: string, count: number, size: number, perBatch: number): Promise<string> {
  const store = new JournalStore({ dir, compactInterval: 0, segmentSize: 1 << 30 });
  await store.open();
  for (let id = 1; id <= count; id++) {
    store.add(id, 4, payload(id, size));
    if (id % perBatch === 0) await store.sync();
  }
  await store.close();
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jnl')).sort();
  return files[files.length - 1]!;
}

/** File offset of record `id` (1-based) in a segment written by `writeSegment`. */
function offsetOf(id: number, size: number, perBatch: number): number {
  const before = id - 1;
  return HEADER + (Math.floor(before / perBatch) + 1) * BATCH + before * addFrame(size);
}

test('one flipped byte in the middle of a 2,000-message segment: repair loses that message only, and says which', async (t) => {
  const dir = await testFolder('ferry-repair-');
  const size = 200;
  const file = await writeSegment(dir, 2000, size, 50);
  const at = offsetOf(1000, size, 50);
  await flipByte(join(dir, file), at + 40);

  await assert.rejects(
    () => new JournalStore({ dir, compactInterval: 0 }).open(),
    (err: unknown) => isFerryError(err, 'FERRY_STORE_CORRUPT') && err.message.includes('store.journal.repair') && !err.message.includes('JournalOptions'),
  );
  const store = new JournalStore({ dir, compactInterval: 0, repair: true });
  const state = await store.open();
  t.after(() => store.close());
  assert.equal(state.records.length, 1999);
  assert.ok(!state.records.some((r) => r.id === 1000));
  for (const r of state.records) assert.deepEqual(r.data, payload(r.id, size));
  assert.deepEqual(
    store.lastRecovery?.dropped.map((d) => [d.offset, d.bytes, d.kind, d.ids]),
    [[at, addFrame(size), 'repaired', [1000]]],
  );
});

/** A version 1 segment, as builds before the frame magic wrote it: frames are u32 length, u32 CRC of the body, body. */
function v1Segment(number: number, batches: readonly (readonly number[])[], size: number): Buffer {
  const header = encodeSegmentHeader(number, 0);
  header.writeUInt16LE(1, 4);
  header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
  const frame = (body: Buffer): Buffer => {
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32LE(body.length, 0);
    prefix.writeUInt32LE(crc32(body), 4);
    return Buffer.concat([prefix, body]);
  };
  const parts: Buffer[] = [header];
  for (const ids of batches) {
    const adds = ids.map((id) => {
      const body = Buffer.alloc(13 + size);
      body[0] = 2; // Add
      body.writeUInt32LE(id, 1);
      body.writeUInt32LE(4, 9);
      payload(id, size).copy(body, 13);
      return frame(body);
    });
    const batch = Buffer.alloc(5);
    batch[0] = 1;
    batch.writeUInt32LE(adds.reduce((n, b) => n + b.length, 0), 1);
    parts.push(frame(batch), ...adds);
  }
  return Buffer.concat(parts);
}

test('a version 1 segment still reads; repaired, its damage costs the rest of that write, not of the file', async (t) => {
  const dir = await testFolder('ferry-repair-');
  const size = 50;
  const batches = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]];
  const bytes = v1Segment(1, batches, size);
  await writeFile(join(dir, '00000001.jnl'), bytes);
  const clean = new JournalStore({ dir, compactInterval: 0 });
  const state = await clean.open();
  assert.deepEqual(
    state.records.map((r) => r.id),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  await clean.close();
  await rm(join(dir, '00000002.jnl'));

  // record 6: header, batch 1 (13 + 4 adds of 21 + 50), batch frame 2, record 5
  const v1Add = 21 + size;
  await flipByte(join(dir, '00000001.jnl'), HEADER + 13 + 4 * v1Add + 13 + v1Add + 30);
  const store = new JournalStore({ dir, compactInterval: 0, repair: true });
  const repaired = await store.open();
  t.after(() => store.close());
  assert.deepEqual(
    repaired.records.map((r) => r.id),
    [1, 2, 3, 4, 5, 9, 10, 11, 12],
  );
  assert.deepEqual(store.lastRecovery?.dropped[0]?.ids, [6, 7, 8]);
});

test('random damage: repair never loses more records than the damage touched, and every record it keeps is whole', async (t) => {
  const dir = await testFolder('ferry-repair-');
  const size = 64;
  const perBatch = 20;
  const count = 400;
  const file = await writeSegment(dir, count + 1, size, perBatch);
  const pristine = await readFile(join(dir, file));
  // record 401 is the last write, left undamaged, so damage is never a torn tail
  const damageable = offsetOf(count + 1, size, perBatch) - BATCH;
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.integer({ min: HEADER, max: damageable - 1 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 255 }), async (offsets, mask) => {
      const caseDir = join(dir, `case-${run++}`);
      const damaged = Buffer.from(pristine);
      for (const offset of offsets) damaged[offset] = damaged[offset]! ^ mask;
      await mkdir(caseDir);
      await writeFile(join(caseDir, file), damaged);
      const store = new JournalStore({ dir: caseDir, compactInterval: 0, repair: true });
      const state = await store.open();
      await store.close();
      await rm(caseDir, { recursive: true, force: true });
      // the records whose frames hold a damaged byte
      const hit = new Set<number>();
      for (const offset of offsets) {
        for (let id = 1; id <= count; id++) {
          const at = offsetOf(id, size, perBatch);
          if (offset >= at && offset < at + addFrame(size)) hit.add(id);
        }
      }
      const kept = new Set(state.records.map((r) => r.id));
      const lost = Array.from({ length: count + 1 }, (_, i) => i + 1).filter((id) => !kept.has(id));
      assert.ok(lost.length <= hit.size, `lost ${lost.join(',')} with damage in ${[...hit].join(',') || 'no record (a batch frame)'}`);
      for (const id of lost) assert.ok(hit.has(id), `record ${id} was lost without damage`);
      for (const r of state.records) assert.deepEqual(r.data, payload(r.id, size));
    }),
    { numRuns: 60 },
  );
});
