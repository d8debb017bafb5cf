import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const script = interopScript('amqp_proton_settle_second.py');
const missing = pythonModuleMissing('proton', 'Qpid Proton', 'python3-qpid-proton');

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('qpid-proton: with rcv-settle-mode second, the settling disposition carries the outcome the receiver gave (AMQP 3.4)', { skip: missing }, async () => {
  const report = lastJsonLine<Record<string, unknown>>(await run(python, [script, String(broker.amqpPort)]));
  assert.equal(report['rcv_settle_mode_second'], true);
  assert.deepEqual(report['outcomes'], ['accepted', 'rejected']);
});
