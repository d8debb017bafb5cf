import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAmqp } from '../helpers/amqp.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { testFolder } from '../helpers/temp-dir.js';

// A message a consumer holds when the broker stops (SIGTERM) or dies (SIGKILL) comes back flagged
// redelivered, but the broker's stop is no failure of the consumer's: it never brings the message
// nearer the policy's maxRedeliveries, however many maintenance restarts it lives through.

const MAX_REDELIVERIES = 1;
/** More restarts than the policy allows failures, so a stop that counted would dead-letter the message. */
const RESTARTS = MAX_REDELIVERIES + 2;

async function brokerFolder(): Promise<{ start: () => Promise<BrokerProcess> }> {
  const data = await testFolder('ferry-stop-redelivery-');
  const config = join(data, 'ferry.yaml');
  writeFileSync(config, `destinations:\n  policies:\n    - match: ">"\n      maxRedeliveries: ${MAX_REDELIVERIES}\n`);
  const start = (): Promise<BrokerProcess> => spawnBroker(['--data', join(data, 'data'), '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  return { start };
}

test('a STOMP consumer\'s unacknowledged message lives through more clean stops than maxRedeliveries, redelivered, and is not dead-lettered', async () => {
  const { start } = await brokerFolder();
  let broker = await start();
  try {
    const producer = await connectStomp(broker.ports['stomp']!);
    await producer.sendConfirmed('/queue/stop.stomp', 'long job', { persistent: 'true' });
    await producer.disconnect();
    for (let round = 0; round < RESTARTS; round++) {
      const consumer = await connectStomp(broker.ports['stomp']!);
      const inbox = consumer.subscribe('/queue/stop.stomp', { ack: 'client-individual' });
      const held = await inbox.next(20_000);
      assert.equal(held.body, 'long job');
      assert.equal(held.headers['redelivered'] === 'true', round > 0, `round ${round}: redelivered only once it was delivered before`);
      assert.equal(await broker.stop('SIGTERM'), 0);
      await consumer.closed;
      broker = await start();
    }
    const consumer = await connectStomp(broker.ports['stomp']!);
    const inbox = consumer.subscribe('/queue/stop.stomp', { ack: 'client-individual' });
    const last = await inbox.next(20_000);
    assert.equal(last.body, 'long job', 'still in its queue, not in the dead-letter queue');
    assert.equal(last.headers['redelivered'], 'true');
    last.ack({ receipt: 'acked' });
    const dead = consumer.subscribe('/queue/ActiveMQ.DLQ', { browser: 'true' });
    const end = await dead.next(20_000);
    assert.equal(end.headers['browser'], 'end', 'the dead-letter queue holds nothing');
    await consumer.disconnect();
  } finally {
    await broker.stop('SIGTERM');
  }
});

test('an AMQP 1.0 delivery held through clean stops counts them in delivery-count but not as failures: the policy\'s failures are still all there', async () => {
  const { start } = await brokerFolder();
  let broker = await start();
  try {
    const producer = await connectAmqp(broker.ports['amqp']!);
    const sender = await producer.openSender('stop.amqp');
    assert.equal((await producer.send(sender, { body: 'long job', durable: true })).state, 'accepted');
    await producer.close();
    for (let round = 0; round < RESTARTS; round++) {
      const consumer = await connectAmqp(broker.ports['amqp']!);
      const { inbox } = await consumer.openReceiver({ source: 'stop.amqp', autoaccept: false });
      const held = await inbox.next(20_000);
      assert.deepEqual([held.message.first_acquirer ?? false, held.message.delivery_count ?? 0], [round === 0, round], `round ${round}`);
      assert.equal(await broker.stop('SIGTERM'), 0);
      await consumer.closed;
      broker = await start();
    }
    const consumer = await connectAmqp(broker.ports['amqp']!);
    const { inbox } = await consumer.openReceiver({ source: 'stop.amqp', autoaccept: false });
    // the consumer's own failures: the first is within the maximum, the second is past it
    const failing = await inbox.next(20_000);
    assert.deepEqual([failing.message.first_acquirer ?? false, failing.message.delivery_count], [false, RESTARTS]);
    failing.delivery.modified({ delivery_failed: true });
    const again = await inbox.next(20_000);
    assert.equal(again.message.delivery_count, RESTARTS + 1);
    again.delivery.modified({ delivery_failed: true });
    const { inbox: dead } = await consumer.openReceiver({ source: 'ActiveMQ.DLQ', autoaccept: false });
    const copy = await dead.next(20_000);
    assert.equal(copy.message.body, 'long job');
    assert.equal(copy.message.application_properties?.['dlqDeliveryFailureCause'], `delivery failed ${MAX_REDELIVERIES + 1} times (max redeliveries ${MAX_REDELIVERIES})`);
    copy.delivery.accept();
    await consumer.close();
  } finally {
    await broker.stop('SIGTERM');
  }
});

test('a broker killed while a consumer holds a message brings it back redelivered, no nearer its maximum redeliveries', async () => {
  const { start } = await brokerFolder();
  let broker = await start();
  try {
    const producer = await connectStomp(broker.ports['stomp']!);
    await producer.sendConfirmed('/queue/stop.killed', 'long job', { persistent: 'true' });
    await producer.disconnect();
    const held = await connectStomp(broker.ports['stomp']!);
    assert.equal((await held.subscribe('/queue/stop.killed', { ack: 'client-individual' }).next(20_000)).body, 'long job');
    await broker.stop('SIGKILL');
    await held.closed;
    broker = await start();
    // a consumer that leaves without acknowledging fails once: within a maximum of one
    const leaving = await connectStomp(broker.ports['stomp']!);
    const first = await leaving.subscribe('/queue/stop.killed', { ack: 'client-individual' }).next(20_000);
    assert.equal(first.headers['redelivered'], 'true', 'it may have been seen before the crash');
    await leaving.disconnect();
    const consumer = await connectStomp(broker.ports['stomp']!);
    const last = await consumer.subscribe('/queue/stop.killed', { ack: 'client-individual' }).next(20_000);
    assert.equal(last.body, 'long job', 'one failure of the consumer\'s, and the crash, are not past a maximum of one');
    last.ack();
    await consumer.disconnect();
  } finally {
    await broker.stop('SIGTERM');
  }
});
