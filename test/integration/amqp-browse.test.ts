import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Receiver } from 'rhea';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, rhea, type AmqpInbox, type AmqpTestClient } from '../helpers/amqp.js';

let broker: TestBroker;
let c: AmqpTestClient;
before(async () => {
  broker = await startBroker();
  c = await connectAmqp(broker.amqpPort);
});
after(async () => {
  await c.close();
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `amqp.browse.${name}.${Date.now().toString(36)}${counter++}`;
}

async function fill(q: string, messages: { body: string; application_properties?: Record<string, string> }[]): Promise<void> {
  const sender = await c.openSender(q);
  for (const m of messages) assert.deepEqual(await c.send(sender, m), { state: 'accepted' });
}

/** Grants `credit` with drain and waits for the broker's answer: the drain is over when its credit is used up. */
function drainOnce(receiver: Receiver, credit: number): Promise<void> {
  return new Promise((resolve) => {
    receiver.once('receiver_drained', () => resolve());
    receiver.add_credit(credit);
    receiver.drain_credit();
  });
}

function bodies(inbox: AmqpInbox, n: number): Promise<unknown[]> {
  return inbox.take(n).then((items) => items.map((r) => r.message.body));
}

test('a browser (distribution-mode copy) sees each waiting message once, takes none, and its drain ends with the credit used up', async () => {
  const q = unique('all');
  await fill(q, [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
  const { receiver, inbox } = await c.openReceiver({ source: { address: q, distribution_mode: 'copy' }, credit_window: 0 });
  assert.equal((receiver.source as { distribution_mode?: string }).distribution_mode, 'copy', 'the attach echoes the distribution mode');
  await drainOnce(receiver, 10);
  assert.deepEqual(await bodies(inbox, 3), ['a', 'b', 'c']);
  assert.equal((receiver as unknown as { credit: number }).credit, 0);
  // the end of the queue: a second drain gets nothing and ends at once
  await drainOnce(receiver, 10);
  await inbox.expectNothing(50);
  receiver.close();
  const { inbox: consumer } = await c.openReceiver(q);
  assert.deepEqual(await bodies(consumer, 3), ['a', 'b', 'c'], 'browsing took nothing');
});

test('a browser honours its credit and a selector', async () => {
  const q = unique('selected');
  await fill(q, ['red', 'blue', 'red', 'red'].map((color, i) => ({ body: `${color}-${i}`, application_properties: { color } })));
  const { receiver, inbox } = await c.openReceiver({
    source: { address: q, distribution_mode: 'copy', filter: rhea.filter.selector("color = 'red'") },
    credit_window: 0,
  });
  receiver.add_credit(2);
  assert.deepEqual(await bodies(inbox, 2), ['red-0', 'red-2']);
  await inbox.expectNothing(50);
  await drainOnce(receiver, 5);
  assert.deepEqual(await bodies(inbox, 1), ['red-3']);
  receiver.close();
});
