import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';
import { saslAuthenticator } from '../helpers/sasl.js';

/** Qpid Proton (Python) logging in over AMQP SASL, the outcome decided by the security authenticator. */

const script = interopScript('amqp_proton_sasl.py');
const missing = pythonModuleMissing('proton', 'Qpid Proton', 'python3-qpid-proton');

/**
 * Proton does SCRAM only through Cyrus SASL (libsasl2 with libsasl2-modules' SCRAM plugin), and
 * only when it was built against it. Debian's libqpid-proton is not (it links no libsasl2, and
 * `proton.SASL.extended()` is False): its built-in SASL knows ANONYMOUS, PLAIN and EXTERNAL only.
 */
function scramUnavailable(): string | undefined {
  if (missing !== undefined) return missing;
  const probe = spawnSync(python, ['-c', 'from proton import SASL; print(SASL.extended())'], { encoding: 'utf8' });
  if (probe.stdout.trim() === 'True') return undefined;
  const reason =
    'python3-qpid-proton cannot do SCRAM-SHA-256: its libqpid-proton is built without Cyrus SASL (proton.SASL.extended() is False), so libsasl2-modules\' SCRAM plugin is out of its reach; SCRAM over AMQP is tested with the test SCRAM client in test/integration/amqp-sasl.test.ts instead';
  console.warn(`\n*** SKIPPING the qpid-proton SCRAM-SHA-256 tests: ${reason} ***\n`);
  return reason;
}

interface Report {
  readonly extended: boolean;
  readonly connected: boolean;
  readonly error?: string;
}

let broker: TestBroker;
before(async () => {
  if (missing === undefined) broker = await startBroker({}, { authenticator: await saslAuthenticator({ alice: 'alice-secret' }) });
});
after(async () => {
  await broker?.stop();
});

const login = async (mechanisms: string, user: string, password: string): Promise<Report> => lastJsonLine<Report>(await run(python, [script, String(broker.amqpPort), mechanisms, user, password]));

describe('qpid-proton SASL', () => {
  test('PLAIN with the right password connects', { skip: missing }, async () => {
    assert.equal((await login('PLAIN', 'alice', 'alice-secret')).connected, true);
  });

  test('PLAIN with a wrong password is refused by the SASL outcome (auth)', { skip: missing }, async () => {
    const report = await login('PLAIN', 'alice', 'wrong');
    assert.equal(report.connected, false);
    // proton turns sasl-outcome auth into amqp:unauthorized-access, "Authentication failed"
    assert.match(report.error ?? '', /unauthorized-access.*Authentication failed/s);
  });

  const skipScram = scramUnavailable();
  test('SCRAM-SHA-256 with the right password connects', { skip: skipScram }, async () => {
    assert.equal((await login('SCRAM-SHA-256', 'alice', 'alice-secret')).connected, true);
  });

  test('SCRAM-SHA-256 with a wrong password is refused', { skip: skipScram }, async () => {
    const report = await login('SCRAM-SHA-256', 'alice', 'wrong');
    assert.equal(report.connected, false);
    assert.match(report.error ?? '', /unauthorized-access/);
  });
});
