import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const script = interopScript('amqp_proton_client.py');
const detachScript = interopScript('amqp_proton_detach.py');
const settleScript = interopScript('amqp_proton_settle_second.py');
const missing = pythonModuleMissing('proton', 'Qpid Proton', 'python3-qpid-proton');

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('qpid-proton: send, receive, settle modes, selectors, a refused attach, a browser, transactions, a durable subscription', { skip: missing }, async () => {
  const report = lastJsonLine<Record<string, unknown>>(await run(python, [script, String(broker.amqpPort)]));
  assert.equal(report['connected'], true);
  assert.deepEqual(report['received'], ['m1', 'm2', 'm3']);
  assert.deepEqual(report['seq'], [1, 2, 3]);
  assert.equal(report['subject'], 'greeting');
  assert.equal(report['correlation_id'], 'c1');
  assert.equal(report['message_durable'], true);
  assert.deepEqual(report['after_release'], { body: 'm2', delivery_count: 0 });
  assert.deepEqual(report['after_failed'], { body: 'm2', delivery_count: 1 });
  assert.deepEqual(report['nothing_left'], []);
  assert.deepEqual(report['presettled'], ['f0', 'f1', 'f2']);
  assert.deepEqual(report['presettled_nothing_left'], []);
  assert.deepEqual(report['selected'], ['red-3']);
  assert.deepEqual(report['not_selected'], ['blue-2', 'red-1']);
  assert.deepEqual(report['after_refusal'], { refused: 'LinkDetached', received: ['after refusal'] });
  assert.deepEqual(report['browsed'], ['b1', 'b2']);
  assert.deepEqual(report['after_browse'], ['b1', 'b2']);
  assert.deepEqual(report['transactions'], { committed: true, aborted: true, consumed_in_tx: ['tx-1', 'tx-2'] });
  assert.deepEqual(report['after_transactions'], []);
  assert.deepEqual(report['durable'], ['while away']);
});

test('qpid-proton: a detach is answered with a detach and a close with a close [AMQP 2.6.6]; a durable subscription outlives its link\'s detach', { skip: missing }, async () => {
  const report = lastJsonLine<{ answers: Record<string, string>; kept: string[] }>(await run(python, [detachScript, String(broker.amqpPort)]));
  assert.deepEqual(report.answers, { durable_detach: 'detach', queue_detach: 'detach', queue_close: 'close', durable_again: 'close' });
  assert.deepEqual(report.kept, ['kept']);
});

test('qpid-proton: with rcv-settle-mode second, the settling disposition carries the outcome the receiver gave (AMQP 3.4)', { skip: missing }, async () => {
  const report = lastJsonLine<Record<string, unknown>>(await run(python, [settleScript, String(broker.amqpPort)]));
  assert.equal(report['rcv_settle_mode_second'], true);
  assert.deepEqual(report['outcomes'], ['accepted', 'rejected']);
});
