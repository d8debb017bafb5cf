import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const script = interopScript('amqp_proton_detach.py');
const missing = pythonModuleMissing('proton', 'Qpid Proton', 'python3-qpid-proton');

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('qpid-proton: a detach is answered with a detach and a close with a close [AMQP 2.6.6]; a durable subscription outlives its link\'s detach', { skip: missing }, async () => {
  const report = lastJsonLine<{ answers: Record<string, string>; kept: string[] }>(await run(python, [script, String(broker.amqpPort)]));
  assert.deepEqual(report.answers, { durable_detach: 'detach', queue_detach: 'detach', queue_close: 'close', durable_again: 'close' });
  assert.deepEqual(report.kept, ['kept']);
});
