import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const python = '/usr/bin/python3';
const script = fileURLToPath(new URL('../../../test/interop/amqp_proton_client.py', import.meta.url));
const probe = spawnSync(python, ['-c', 'import proton'], { encoding: 'utf8' });
const missing = probe.status === 0 ? undefined : `Qpid Proton is not installed for ${python} (apt-get install python3-qpid-proton); .ci/run installs it`;
if (missing !== undefined) {
  console.warn(`\n*** SKIPPING the qpid-proton interop test: ${missing} ***\n`);
  if (process.env['CI'] !== undefined) throw new Error(`interop prerequisites missing in CI: ${missing}`);
}

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('qpid-proton: send, receive, settle modes, selectors, transactions, a durable subscription', { skip: missing }, async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(python, [script, String(broker.amqpPort)], { timeout: 60_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`${err.message}\n${errOut}`));
      else resolve(out);
    });
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
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
  assert.deepEqual(report['transactions'], { committed: true, aborted: true, consumed_in_tx: ['tx-1', 'tx-2'] });
  assert.deepEqual(report['after_transactions'], []);
  assert.deepEqual(report['durable'], ['while away']);
});
