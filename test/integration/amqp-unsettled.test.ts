import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, type AmqpTestClient } from '../helpers/amqp.js';

// [AMQP 2.5.6] what a session sends is bounded by the client's incoming window and each link's
// credit, not by how many deliveries the client leaves unsettled: more than amqp.sessionWindow
// (4096 by default) unsettled, or one old delivery held while thousands after it are settled, must
// not stop the session, nor the other links on it.

const N = 4200;

let broker: TestBroker;
const clients: AmqpTestClient[] = [];
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await broker.stop();
});

async function client(): Promise<AmqpTestClient> {
  // rhea's own incoming window counts its unsettled deliveries: room for all of them
  const c = await connectAmqp(broker.amqpPort, { session_buffer_size: 2 * N });
  clients.push(c);
  return c;
}

let counter = 0;
const unique = (name: string): string => `unsettled.${name}.${Date.now().toString(36)}${counter++}`;

/** Puts `count` messages m0, m1, ... in queue `q`, as fast as the broker's credit lets them go, and waits for every acceptance. */
async function fill(q: string, count: number): Promise<void> {
  const c = await client();
  const sender = await c.openSender(q);
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let accepted = 0;
    const more = (): void => {
      while (sent < count && sender.sendable()) sender.send({ body: `m${sent++}` });
    };
    sender.on('sendable', more);
    sender.on('accepted', () => ++accepted === count && resolve());
    sender.on('rejected', () => reject(new Error('a send was rejected')));
    more();
  });
  sender.close();
}

test('a receiver holding its first delivery unsettled and accepting every other gets them all, and a second receiver on its session is served', async () => {
  const qa = unique('held');
  const qb = unique('other');
  await fill(qa, N);
  await fill(qb, 5);
  const c = await client();
  const a = await c.openReceiver({ source: qa, autoaccept: false });
  const held = await a.inbox.next();
  assert.equal(held.message.body, 'm0');
  for (let i = 1; i < N; i++) {
    const got = await a.inbox.next();
    assert.equal(got.message.body, `m${i}`);
    got.delivery.accept();
  }
  // on the same connection, so on the same session, while m0 is still unsettled
  const b = await c.openReceiver(qb);
  assert.deepEqual((await b.inbox.take(5)).map((r) => r.message.body), ['m0', 'm1', 'm2', 'm3', 'm4']);
  // the held delivery is still the link's: when the link goes, it alone comes back
  a.receiver.close();
  const again = await c.openReceiver(qa);
  const back = await again.inbox.next();
  assert.equal(back.message.body, 'm0');
  assert.equal(back.message.delivery_count, 1);
  await again.inbox.expectNothing(200);
});

test('a receiver that takes more than the session window before settling any gets them all, and settles them after', async () => {
  const q = unique('batch');
  await fill(q, N);
  const c = await client();
  const { receiver, inbox } = await c.openReceiver({ source: q, autoaccept: false });
  const all = await inbox.take(N);
  assert.deepEqual(
    all.map((r) => r.message.body),
    all.map((_, i) => `m${i}`),
  );
  for (const r of all) r.delivery.accept();
  // the acceptances go before the detach: had any not counted, it would come back ahead of the next message
  receiver.close();
  const check = await c.openReceiver({ source: q, autoaccept: false });
  const sender = await c.openSender(q);
  assert.equal((await c.send(sender, { body: 'after' })).state, 'accepted');
  assert.equal((await check.inbox.next()).message.body, 'after');
});
