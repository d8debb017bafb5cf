/** Sequence marks: the highest sequence taken from a producer, kept across restarts under a protocol's scope. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settle, startBroker } from './harness.js';

test('sequence marks only rise, are kept per scope, and survive a restart; a deleted one does not come back', async (t) => {
  let b = await startBroker(t, { storeKind: 'journal' });
  const marks = b.broker.sequenceMarks('openwire');
  marks.set('ID:p1:1:1', 5);
  marks.set('ID:p1:1:1', 3);
  marks.set('ID:p2:1:1', 1);
  marks.set('ID:gone:1:1', 9);
  marks.delete('ID:gone:1:1');
  b.broker.sequenceMarks('other').set('ID:p1:1:1', 100);
  assert.deepEqual([...marks.entries()], [['ID:p1:1:1', 5], ['ID:p2:1:1', 1]]);
  await settle();

  b = await b.restart();
  const back = b.broker.sequenceMarks('openwire');
  assert.deepEqual([...back.entries()].sort(), [['ID:p1:1:1', 5], ['ID:p2:1:1', 1]]);
  assert.deepEqual([...b.broker.sequenceMarks('other').entries()], [['ID:p1:1:1', 100]]);
  back.set('ID:p2:1:1', 7);
  b = await b.restart();
  assert.deepEqual([...b.broker.sequenceMarks('openwire').entries()].sort(), [['ID:p1:1:1', 5], ['ID:p2:1:1', 7]]);
});
