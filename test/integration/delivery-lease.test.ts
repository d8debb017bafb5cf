import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqplib, { type ConsumeMessage } from 'amqplib';
import type { Delivery } from 'rhea';
import { connectAmqp, rhea } from '../helpers/amqp.js';
import { channelError } from '../helpers/amqp091.js';
import { startBroker } from '../helpers/broker.js';
import { RawStompClient } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * Delivery leases on the wire (docs/delivery-lease.md): a delivery not acknowledged within its
 * time-out returns to the queue and goes out again, flagged; a client extends a lease with STOMP's
 * `ferry.extend` on an ACK frame or AMQP's received state. When exactly a lease runs out is core's
 * business, tested with an injected clock in test/core/leases.test.ts; here the wire forms.
 */

test('STOMP: ferry.ack-timeout on SUBSCRIBE; an unacknowledged message comes back redelivered; ferry.extend answers in the receipt; a late ACK is no error', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const q = '/queue/lease.stomp';
  const producer = await connectStomp(broker.stompPort);
  const { raw } = await RawStompClient.connected(broker.stompPort);
  await raw.send('SUBSCRIBE', { id: 's', destination: q, ack: 'client-individual', 'activemq.prefetchSize': '1', 'ferry.ack-timeout': '200', receipt: 'sub' });
  await raw.nextFrameOf('RECEIPT');
  await producer.sendConfirmed(q, 'job', { persistent: 'true' });
  const first = await raw.nextFrameOf('MESSAGE');
  assert.equal(first.headers.get('redelivered'), undefined);

  // the lease runs out: the message goes back to the queue, and out again flagged
  const again = await raw.nextFrameOf('MESSAGE', 10_000);
  assert.equal(again.body.toString(), 'job');
  assert.equal(again.headers.get('redelivered'), 'true');

  // asking for more time on the expired delivery: no lease to extend; the current one has one
  await raw.send('ACK', { id: first.headers.get('ack')!, 'ferry.extend': '', receipt: 'x1' });
  assert.equal((await raw.nextFrameOf('RECEIPT')).headers.get('ferry.extended'), 'false');
  await raw.send('ACK', { id: again.headers.get('ack')!, 'ferry.extend': '60000', receipt: 'x2' });
  assert.equal((await raw.nextFrameOf('RECEIPT')).headers.get('ferry.extended'), 'true');
  // the first delivery's late ACK does nothing and costs no ERROR; the second's consumes the message
  await raw.send('ACK', { id: first.headers.get('ack')!, receipt: 'late' });
  assert.equal((await raw.nextFrameOf('RECEIPT')).headers.get('receipt-id'), 'late');
  await raw.send('ACK', { id: again.headers.get('ack')!, receipt: 'done' });
  await raw.nextFrameOf('RECEIPT');
  const stats = broker.server.broker.stats().queues.find((s) => s.name === 'lease.stomp')!;
  assert.equal(stats.pending + stats.inFlight, 0, 'consumed once');
  // a bad value is the client's mistake, in STOMP's terms
  await raw.send('ACK', { id: again.headers.get('ack')!, 'ferry.extend': 'soon' });
  const error = await raw.nextFrameOf('ERROR');
  assert.equal(error.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
  await producer.disconnect();
});

test('AMQP 1.0: the destination policy\'s ackTimeout returns an unsettled delivery to the queue; it arrives again with its delivery count; received does not settle it', async (t) => {
  const broker = await startBroker({ 'destinations.policies': [{ match: 'lease.amqp', ackTimeout: 200 }] });
  t.after(() => broker.stop());
  const client = await connectAmqp(broker.amqpPort);
  const sender = await client.openSender('lease.amqp');
  assert.deepEqual(await client.send(sender, { body: 'job', durable: true }), { state: 'accepted' });
  const receiver = client.connection.open_receiver({ source: 'lease.amqp', autoaccept: false, credit_window: 10 });
  const deliveries: { delivery: Delivery; count: number | undefined }[] = [];
  let wake: (() => void) | undefined;
  receiver.on('message', (ctx) => {
    deliveries.push({ delivery: ctx.delivery!, count: ctx.message?.delivery_count });
    wake?.();
  });
  const next = async (): Promise<void> => {
    const had = deliveries.length;
    while (deliveries.length === had) await new Promise<void>((resolve) => (wake = resolve));
  };
  await next();
  // received: still working on it; the delivery stays unsettled and in flight
  deliveries[0]!.delivery.update(false, (rhea.message as unknown as { received(f: object): { described(): unknown } }).received({ section_number: 0, section_offset: 0 }).described() as never);
  await next();
  assert.equal(deliveries[1]!.count, 1, 'the second delivery counts the first');
  deliveries[1]!.delivery.accept();
  deliveries[0]!.delivery.accept();
  await client.close();
  const stats = broker.server.broker.stats().queues.find((s) => s.name === 'lease.amqp')!;
  assert.equal(stats.pending + stats.inFlight, 0, 'consumed once; the late acceptance of the expired delivery did nothing');
});

test('AMQP 0-9-1: the x-ack-timeout consumer argument returns an unacknowledged message, redelivered; the late ack of the first delivery is no channel error', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const connection = await amqplib.connect(`amqp://127.0.0.1:${broker.amqpPort}`);
  t.after(() => connection.close().catch(() => undefined));
  const ch = await connection.createChannel();
  await ch.assertQueue('lease.091');
  await ch.prefetch(1);
  const got: ConsumeMessage[] = [];
  let wake: (() => void) | undefined;
  await ch.consume('lease.091', (m) => {
    if (m !== null) got.push(m);
    wake?.();
  }, { arguments: { 'x-ack-timeout': 200 } });
  ch.sendToQueue('lease.091', Buffer.from('job'), { persistent: true });
  while (got.length < 2) await new Promise<void>((resolve) => (wake = resolve));
  assert.equal(got[0]!.fields.redelivered, false);
  assert.equal(got[1]!.fields.redelivered, true);
  assert.equal(got[1]!.content.toString(), 'job');
  ch.ack(got[0]!);
  ch.ack(got[1]!);
  // the channel is still open: a passive declare answers
  assert.equal((await ch.checkQueue('lease.091')).messageCount, 0);
  const closing = channelError(ch);
  await assert.rejects(ch.consume('lease.091', () => {}, { arguments: { 'x-ack-timeout': -5 } }));
  assert.equal((await closing).code, 406);
});
