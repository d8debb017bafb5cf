import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const script = interopScript('amqp091_celery_client.py');
const missing = pythonModuleMissing('celery, kombu, amqp', 'Celery, kombu and py-amqp', 'python3-celery python3-kombu python3-amqp');

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('celery: a worker holding ETA tasks past its prefetch still takes the tasks due now', { skip: missing }, async () => {
  const report = lastJsonLine<Record<string, unknown>>(await run(python, [script, String(broker.amqpPort)], 180_000));
  // prefetch 1: each ETA task held raises basic.qos (global=false, as kombu sends it to a broker
  // that does not call itself RabbitMQ), and that raise must reach the worker's running consumer
  assert.equal(report['now'], 5);
  assert.deepEqual(report['scheduled'], [5]);
});
