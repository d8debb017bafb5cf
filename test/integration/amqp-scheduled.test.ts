import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, rhea, type AmqpTestClient } from '../helpers/amqp.js';

/** AMQP's delivery-delay annotations (Qpid JMS's `MessageProducer.setDeliveryDelay`) through the broker's scheduler. */

let broker: TestBroker;
let amqp: AmqpTestClient;
before(async () => {
  broker = await startBroker();
  amqp = await connectAmqp(broker.amqpPort);
});
after(async () => {
  await amqp.close();
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `amqp.${name}.${Date.now().toString(36)}${counter++}`;
}

test('x-opt-delivery-delay and x-opt-delivery-time hold a message back, so one sent after them arrives first; the annotations do not travel on', async () => {
  assert.ok([amqp.connection.remote.open?.offered_capabilities ?? []].flat().includes('DELAYED_DELIVERY'), 'offered, so Qpid JMS sends a delay');
  const q = unique('delayed');
  const { inbox } = await amqp.openReceiver(q);
  const sender = await amqp.openSender(q);
  assert.equal((await amqp.send(sender, { message_annotations: { 'x-opt-delivery-delay': rhea.types.wrap_long(300) }, body: 'by delay' })).state, 'accepted');
  assert.equal((await amqp.send(sender, { message_annotations: { 'x-opt-delivery-time': rhea.types.wrap_timestamp(Date.now() + 300) }, body: 'by time' })).state, 'accepted');
  assert.equal((await amqp.send(sender, { body: 'marker' })).state, 'accepted');
  const [first, ...held] = (await inbox.take(3)).map((r) => r.message);
  assert.equal(first!.body, 'marker');
  assert.deepEqual(held.map((m) => m.body).sort(), ['by delay', 'by time']);
  for (const m of held) assert.deepEqual(Object.keys(m.message_annotations ?? {}).filter((name) => name.startsWith('x-opt-delivery')), []);
});

test('a delivery time ahead is the scheduled job\'s due time; one already past is delivered at once', async () => {
  const q = unique('delivery-time');
  const sender = await amqp.openSender(q);
  const at = Date.now() + 3_600_000;
  await amqp.send(sender, { message_annotations: { 'x-opt-delivery-time': rhea.types.wrap_timestamp(at) }, body: 'in an hour' });
  const jobs = broker.server.broker.admin.scheduledList().filter((j) => j.message.destination.name === q);
  assert.equal(jobs.length, 1);
  assert.ok(jobs[0]!.due >= at, `due ${jobs[0]!.due}, asked ${at}`);

  const { inbox } = await amqp.openReceiver(q);
  await amqp.send(sender, { message_annotations: { 'x-opt-delivery-time': rhea.types.wrap_timestamp(Date.now() - 1000) }, body: 'past' });
  assert.equal((await inbox.next()).message.body, 'past');
  await inbox.expectNothing(100);
});
