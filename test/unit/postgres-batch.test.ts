import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingBatch, decodeOperations, encodeOperations } from '../../src/store/postgres/batch.js';

const changes = (batch: PendingBatch): [number, string][] => [...batch.records].map(([id, c]) => [id, c.put ? `put ${c.data.toString()} seq ${c.seq}` : 'delete']);

test('a record added and deleted in one batch leaves nothing; one that may be in the database leaves its delete', () => {
  const batch = new PendingBatch();
  batch.putRecord(1, 4, Buffer.from('new'), 1, true);
  batch.deleteRecord(1);
  batch.putRecord(2, 4, Buffer.from('stored before'), 2, false);
  batch.deleteRecord(2);
  assert.deepEqual(changes(batch), [[2, 'delete']]);
});

test('a later write of a record keeps the place of its first', () => {
  const batch = new PendingBatch();
  batch.putRecord(1, 4, Buffer.from('a'), 1, true);
  batch.putRecord(1, 4, Buffer.from('b'), 7, false);
  assert.deepEqual(changes(batch), [[1, 'put b seq 1']]);
  const change = batch.records.get(1);
  assert.ok(change?.put === true && change.fresh, 'still fresh, as the first write was');
});

test('after a failed commit, a delete of one of its records is sent: the commit may have reached the disk', () => {
  const failed = new PendingBatch();
  failed.putRecord(1, 4, Buffer.from('maybe committed'), 1, true);
  failed.putPrepared(9, Buffer.from('xid'), Buffer.alloc(0), true);
  failed.unsure();
  const next = new PendingBatch();
  next.deleteRecord(1);
  next.deletePrepared(9);
  next.putRecord(2, 4, Buffer.from('new'), 2, true);
  failed.absorb(next);
  assert.deepEqual(changes(failed), [
    [1, 'delete'],
    [2, 'put new seq 2'],
  ]);
  assert.deepEqual([...failed.prepared].map(([txId, c]) => [txId, c.put]), [[9, false]]);
});

test('a failed batch folded with the next keeps its records\' places, and their newest data', () => {
  const failed = new PendingBatch();
  failed.putRecord(1, 4, Buffer.from('first'), 1, true);
  failed.unsure();
  const next = new PendingBatch();
  next.putRecord(1, 4, Buffer.from('updated'), 5, false);
  failed.absorb(next);
  assert.deepEqual(changes(failed), [[1, 'put updated seq 1']]);
});

test('a prepared transaction\'s operations make the round trip', () => {
  const operations = [
    { op: 'add', record: { id: 2 ** 40, type: 0xffff_ffff, data: Buffer.from('payload') } },
    { op: 'update', record: { id: 3, type: 4, data: Buffer.alloc(0) } },
    { op: 'delete', id: 5 },
  ] as const;
  assert.deepEqual(decodeOperations(1, encodeOperations(operations)), operations);
  assert.throws(() => decodeOperations(1, encodeOperations(operations).subarray(0, 20)), /do not decode/);
});
