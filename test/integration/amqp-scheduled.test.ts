import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, rhea, type AmqpTestClient } from '../helpers/amqp.js';
import { ApiClient } from '../helpers/management.js';
import { connectStomp } from '../helpers/stomp.js';

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

test('two messages sharing one message id are two jobs with ids of their own: DELETE and ActiveMQ.Scheduler.Management\'s REMOVE each cancel the one named', async () => {
  const q = unique('same-id');
  const api = new ApiClient(broker.server.ports['http']!);
  const sender = await amqp.openSender(q);
  const later = { 'x-opt-delivery-delay': rhea.types.wrap_long(3_600_000) };
  for (const body of ['first', 'second', 'third']) await amqp.send(sender, { message_id: 'order-1', message_annotations: later, body });
  const jobs = async (): Promise<{ id: string; messageId: string }[]> =>
    (await api.get<{ items: { id: string; messageId: string; destination: string }[] }>('/api/v1/scheduled?limit=1000')).body.items.filter((job) => job.destination === `queue://${q}`);
  const listed = await jobs();
  assert.deepEqual(listed.map((job) => job.messageId), ['order-1', 'order-1', 'order-1']);
  assert.equal(new Set(listed.map((job) => job.id)).size, 3, `three ids: ${JSON.stringify(listed)}`);
  assert.ok(listed.every((job) => job.id !== 'order-1'));

  assert.equal((await api.call('DELETE', `/api/v1/scheduled/${encodeURIComponent(listed[0]!.id)}`)).status, 204);
  assert.deepEqual((await jobs()).map((job) => job.id), listed.slice(1).map((job) => job.id), 'one DELETE cancels one job');

  const stomp = await connectStomp(broker.stompPort);
  try {
    await stomp.sendConfirmed('/topic/ActiveMQ.Scheduler.Management', '', { AMQ_SCHEDULER_ACTION: 'REMOVE', scheduledJobId: listed[1]!.id });
  } finally {
    await stomp.disconnect();
  }
  assert.deepEqual((await jobs()).map((job) => job.id), [listed[2]!.id], 'one REMOVE cancels one job');

  // a delivery names its job, not its message
  const { inbox } = await amqp.openReceiver(q);
  await amqp.send(sender, { message_id: 'order-1', message_annotations: { 'x-opt-delivery-delay': rhea.types.wrap_long(1) }, body: 'soon' });
  const delivered = (await inbox.next()).message;
  assert.equal(delivered.body, 'soon');
  assert.equal(delivered.message_id, 'order-1');
  const jobId = delivered.application_properties?.['scheduledJobId'] as string;
  assert.match(jobId, /^ID:/);
  assert.ok(!listed.some((job) => job.id === jobId));
});
