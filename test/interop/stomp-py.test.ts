import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const script = interopScript('stomp_py_client.py');
const missing = pythonModuleMissing('stomp', 'stomp.py', 'python3-stomp');

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('stomp.py: send with receipts, client-individual ack, nack to the dead-letter queue, commit and abort', { skip: missing }, async () => {
  const report = lastJsonLine<Record<string, unknown>>(await run(python, [script, String(broker.stompPort)]));
  assert.equal(report['connected'], true);
  assert.deepEqual(report['received'], ['m1', 'm2', 'm3']);
  assert.deepEqual(report['seq'], ['1', '2', '3']);
  assert.deepEqual(report['dead_letter'], { body: 'm2', 'original-destination': '/queue/interop.py', dlqDeliveryFailureCause: 'rejected by the consumer' });
  assert.equal(report['nothing_after_acks'], null);
  assert.equal(report['before_commit'], null);
  assert.equal(report['after_commit'], 'in-tx');
  assert.deepEqual(report['after_abort'], { body: 'in-tx', redelivered: 'true' });
  assert.deepEqual(report['errors'], []);
});
