import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const python = '/usr/bin/python3';
const script = fileURLToPath(new URL('../../../test/interop/stomp_py_client.py', import.meta.url));
const probe = spawnSync(python, ['-c', 'import stomp'], { encoding: 'utf8' });
const missing = probe.status === 0 ? undefined : `stomp.py is not installed for ${python} (apt-get install python3-stomp); .ci/run installs it`;
if (missing !== undefined) {
  console.warn(`\n*** SKIPPING the stomp.py interop test: ${missing} ***\n`);
  if (process.env['CI'] !== undefined) throw new Error(`interop prerequisites missing in CI: ${missing}`);
}

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('stomp.py: send with receipts, client-individual ack, nack to the dead-letter queue, commit and abort', { skip: missing }, async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(python, [script, String(broker.stompPort)], { timeout: 60_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`${err.message}\n${errOut}`));
      else resolve(out);
    });
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
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
