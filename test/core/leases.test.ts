/**
 * Delivery leases: a delivery not acknowledged within its consumer's time-out returns to the queue
 * as a counted redelivery; the consumer extends a lease it still needs. Time is the harness's
 * ManualClock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queue, settle, startBroker } from './harness.js';

const q = queue('leased');

test('a delivery left unacknowledged past ackTimeout goes back to the queue and out again, flagged and counted; a late acknowledgement of it does nothing', async (t) => {
  const b = await startBroker(t, { manualClock: true, policies: [{ match: 'leased', ackTimeout: 30_000 }] });
  const clock = b.clock!;
  const client = await b.connect();
  const slow = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await settle();
  await client.send(q, 'job', { persistent: true });
  assert.deepEqual(slow.bodies(), ['job']);
  const other = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await clock.advance(29_999);
  assert.equal(other.deliveries.length, 0, 'the lease has a millisecond left');
  const lateTag = slow.delivery('job').tag;
  await clock.advance(1);
  await settle();
  const all = [...slow.deliveries, ...other.deliveries];
  assert.equal(all.length, 2, 'delivered again once the lease ran out');
  const again = all[1]!;
  assert.equal(again.deliveryCount, 2);
  assert.equal(again.redelivered, true);
  // the first consumer answers at last: nothing happens, and the new delivery stays in flight
  slow.handle.acknowledge(lateTag);
  assert.equal(b.queueStats('leased').inFlight, 1);
});

test('extending a lease keeps the delivery; the consumer\'s own ackTimeout overrides the policy; without a time-out extend says false', async (t) => {
  const b = await startBroker(t, { manualClock: true });
  const clock = b.clock!;
  const client = await b.connect();
  const worker = client.subscribe(q, { ackMode: 'individual', ackTimeout: 10_000 });
  const plain = client.subscribe(queue('unleased'), { ackMode: 'individual' });
  await settle();
  await client.send(q, 'long job', { persistent: true });
  await client.send(queue('unleased'), 'no lease', { persistent: true });
  const tag = worker.delivery('long job').tag;
  await clock.advance(9_000);
  assert.equal(worker.handle.extend(tag), true, 'another 10 s from now');
  await clock.advance(9_000);
  assert.equal(worker.handle.extend(tag, 60_000), true, 'a minute from now');
  await clock.advance(59_000);
  assert.equal(worker.deliveries.length, 1, 'still the first delivery');
  worker.ack('long job');
  assert.equal(b.queueStats('leased').inFlight, 0);
  assert.equal(worker.handle.extend(tag), false, 'a settled delivery has no lease');
  assert.equal(plain.handle.extend(plain.delivery('no lease').tag), false);
  await clock.advance(3_600_000);
  assert.equal(plain.deliveries.length, 1, 'without a time-out a delivery waits for its consumer');
});
