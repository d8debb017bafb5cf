import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queue, settle, startBroker } from './harness.js';

const q = queue('grouped');

test('every message of a group goes to the one consumer that owns it, whatever round robin would say', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const a = client.subscribe(q, { ackMode: 'individual' });
  const c = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  for (let i = 0; i < 4; i++) {
    client.sendAll(q, [`x${i}`], { groupId: 'X' });
    client.sendAll(q, [`y${i}`], { groupId: 'Y' });
  }
  const owners = [a, c].map((s) => new Set(s.deliveries.map((d) => d.message.groupId)));
  assert.ok(owners.every((groups) => groups.size === 1), `each consumer owns one group: ${JSON.stringify(owners.map((o) => [...o]))}`);
  const ownerOfX = a.deliveries[0]!.message.groupId === 'X' ? a : c;
  assert.deepEqual(ownerOfX.bodies(), ['x0', 'x1', 'x2', 'x3']);
});

test('a group waits for its owner when the owner is full; ungrouped messages behind it go to others', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const owner = client.subscribe(q, { ackMode: 'individual', prefetch: 1 });
  await settle();
  client.sendAll(q, ['g1'], { groupId: 'G' });
  const other = client.subscribe(q, { ackMode: 'individual', prefetch: 10 });
  await settle();
  client.sendAll(q, ['g2'], { groupId: 'G' });
  client.sendAll(q, ['free']);
  assert.deepEqual(owner.bodies(), ['g1']);
  assert.deepEqual(other.bodies(), ['free'], 'g2 waits for its owner; it does not hold up free');
  owner.ack('g1');
  assert.deepEqual(owner.bodies(), ['g1', 'g2']);
});

test('when the owner closes, its group moves to another consumer, with what it had not acknowledged redelivered first', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const owner = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.sendAll(q, ['g1', 'g2'], { groupId: 'G' });
  const next = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.sendAll(q, ['g3'], { groupId: 'G' });
  assert.deepEqual(owner.bodies(), ['g1', 'g2', 'g3']);
  assert.deepEqual(next.bodies(), []);
  owner.ack('g1');
  owner.close();
  await settle();
  client.sendAll(q, ['g4'], { groupId: 'G' });
  assert.deepEqual(next.bodies(), ['g2', 'g3', 'g4']);
  assert.deepEqual(next.deliveries.map((d) => d.redelivered), [true, true, false]);
});

test('a message with group sequence -1 closes the group: the next one may go to another consumer', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const a = client.subscribe(q, { ackMode: 'individual' });
  const c = client.subscribe(q, { ackMode: 'individual' });
  await settle();
  client.sendAll(q, ['g1'], { groupId: 'G', groupSeq: 1 });
  client.sendAll(q, ['g2'], { groupId: 'G', groupSeq: 2 });
  client.sendAll(q, ['end'], { groupId: 'G', groupSeq: -1 });
  const owner = a.bodies().length > 0 ? a : c;
  const other = owner === a ? c : a;
  assert.deepEqual(owner.bodies(), ['g1', 'g2', 'end']);
  // round robin resumes after the owner, so the reopened group lands on the other consumer
  client.sendAll(q, ['again'], { groupId: 'G', groupSeq: 1 });
  assert.deepEqual(other.bodies(), ['again']);
});

test('a group owner is also subject to its selector: a group it may not see stays waiting', async (t) => {
  const b = await startBroker(t);
  const client = await b.connect();
  const red = client.subscribe(q, { ackMode: 'individual', selector: "colour = 'red'" });
  await settle();
  client.sendAll(q, ['r1'], { groupId: 'G', properties: { colour: 'red' } });
  client.sendAll(q, ['b1'], { groupId: 'G', properties: { colour: 'blue' } });
  assert.deepEqual(red.bodies(), ['r1']);
  assert.equal(b.queueStats('grouped').pending, 1);
});
