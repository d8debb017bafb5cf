/**
 * memoryPolicy page with non-persistent messages: past a queue's memoryLimit their bodies are
 * written to the journal so the body cache can let them leave memory; those records never outlive
 * the broker, since non-persistent messages do not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queue, settle, startBroker } from './harness.js';

test('paged non-persistent messages go with a restart, records and all; persistent ones stay', async (t) => {
  const b = await startBroker(t, { storeKind: 'journal', bodyCacheSize: 1024, policies: [{ match: 'paged', memoryLimit: 2048, memoryPolicy: 'page' }] });
  const client = await b.connect();
  await client.send(queue('paged'), 'kept', { persistent: true });
  const recordsWithOne = b.broker.stats().store.records;
  client.sendAll(queue('paged'), Array.from({ length: 10 }, (_, i) => `${i}`.repeat(1024)));
  await settle();
  assert.ok(b.broker.stats().messageBodies.onDisk > 0, 'some bodies left memory');
  assert.ok(b.broker.stats().store.records > recordsWithOne);

  const again = await b.restart();
  assert.equal(again.queueStats('paged').pending, 1, 'only the persistent message is back');
  assert.equal(again.broker.stats().store.records, recordsWithOne, 'the paged records were deleted');
  const back = (await again.connect()).subscribe(queue('paged'));
  await settle();
  assert.deepEqual(back.bodies(), ['kept']);
});
