import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const script = interopScript('amqp091_pika_client.py');
const missing = pythonModuleMissing('pika', 'pika', 'python3-pika');

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('pika: topic exchange with confirms and acks, mandatory return, nack and requeue, basic.get, headers exchange, tx, direct reply-to', { skip: missing }, async () => {
  const report = lastJsonLine<Record<string, unknown>>(await run(python, [script, String(broker.amqpPort)]));
  assert.equal(report['unroutable_returned'], true);
  assert.deepEqual(report['received'], [
    { body: 'order-0', key: 'orders.eu.0', n: 0, redelivered: false },
    { body: 'order-1', key: 'orders.eu.1', n: 1, redelivered: false },
    { body: 'order-2', key: 'orders.eu.2', n: 2, redelivered: false },
  ]);
  assert.deepEqual(report['requeued'], { body: 'again', redelivered: true, count: 1 });
  assert.equal(report['get_empty'], true);
  assert.deepEqual(report['headers'], ['match']);
  assert.equal(report['before_commit'], 0);
  assert.equal(report['after_commit'], 1);
  assert.equal(report['tx_body'], 'committed');
  assert.equal(report['rpc_reply_to_is_key'], true);
  assert.deepEqual(report['rpc_replies'], [{ body: 'PING', correlation_id: 'pika-1' }]);
});
