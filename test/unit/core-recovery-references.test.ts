import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeReference } from '../../src/core/records.js';
import { RecoveredReferences } from '../../src/core/recovery-references.js';

function visited(refs: RecoveredReferences): string[] {
  const out: string[] = [];
  for (const i of refs.order()) out.push(`${refs.queueId(i)}/${refs.seq(i)}:${refs.id(i)}:${refs.messageRecordId(i)}:${refs.deliveryCount(i)}`);
  return out;
}

test('references come back by queue, then by sequence, whatever order the journal held them in', () => {
  const refs = new RecoveredReferences();
  // interleaved queues, and a record compaction moved behind later ones; more than the first column size
  const input: [number, number, number][] = [];
  for (let seq = 1; seq <= 1500; seq++) for (const queueId of [7, 3]) input.push([queueId, seq, seq % 5]);
  input.push([3, 0, 2]);
  let id = 100;
  for (const [queueId, seq, deliveryCount] of input) refs.add(id++, encodeReference({ queueId, messageRecordId: 10_000 + seq, seq, deliveryCount, delayed: false, returns: 0, queueExpiry: 0 }));
  assert.equal(refs.length, input.length);
  const out = visited(refs);
  assert.equal(out.length, input.length);
  assert.equal(out[0], `3/0:${100 + input.length - 1}:10000:2`);
  assert.equal(out[1], '3/1:101:10001:1');
  assert.equal(out[1501], '7/1:100:10001:1');
  assert.equal(out.at(-1), `7/1500:${100 + 2 * 1499}:11500:0`);
  const keys = out.map((s) => s.split(':')[0]!.split('/').map(Number) as [number, number]);
  for (let i = 1; i < keys.length; i++) assert.ok(keys[i - 1]![0] < keys[i]![0] || (keys[i - 1]![0] === keys[i]![0] && keys[i - 1]![1] < keys[i]![1]), `out of order at ${i}`);
});

test('returns ride after the queue expiry, a delay in the count\'s top bit, and a reference without them keeps the older layout', () => {
  const refs = new RecoveredReferences();
  const cases = [
    { returns: 0, queueExpiry: 0, length: 28 },
    { returns: 3, queueExpiry: 0, length: 32 },
    { returns: 0, queueExpiry: 1_700_000_000_000, length: 36 },
    { returns: 4, queueExpiry: 1_700_000_000_000, length: 40 },
    { returns: 5, queueExpiry: 0, length: 32, delayed: true },
  ];
  for (const [i, c] of cases.entries()) {
    const data = encodeReference({ queueId: 1, messageRecordId: 50 + i, seq: i, deliveryCount: 2, delayed: c.delayed === true, returns: c.returns, queueExpiry: c.queueExpiry });
    assert.equal(data.length, c.length);
    refs.add(i, data);
  }
  for (const [i, c] of cases.entries()) {
    assert.equal(refs.deliveryCount(i), 2);
    assert.equal(refs.returns(i), c.returns);
    assert.equal(refs.queueExpiry(i), c.queueExpiry);
    assert.equal(refs.returnAdded(i), c.delayed !== true, 'a delayed entry\'s last delivery is counted already');
  }
});

test('a reference record of the wrong length is refused as corrupt', () => {
  assert.throws(() => new RecoveredReferences().add(1, Buffer.alloc(27)), { code: 'FERRY_STORE_CORRUPT' });
});
