import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';
import { RawStompClient } from '../helpers/raw-stomp.js';
import { ADMIN_AND_READER, ADMIN_AND_READER_RIGHTS, writeUsers } from '../helpers/security.js';
import { makeCertificates, startTlsBroker } from '../helpers/tls.js';

const script = interopScript('amqp_proton_external.py');
const missing = pythonModuleMissing('proton', 'Qpid Proton', 'python3-qpid-proton');

test('Qpid Proton logs in with SASL EXTERNAL and its certificate: the certificate names the user, whose rights apply', { skip: missing }, async () => {
  const certs = makeCertificates();
  const users = await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-external-')), ADMIN_AND_READER);
  const broker = await startTlsBroker(certs, {
    'security.users': users,
    'security.authorization': ADMIN_AND_READER_RIGHTS,
    'security.certificateUsers': [{ subject: '(?:^|,)CN=([^,]+)', user: '$1' }],
  });
  try {
    const admin = await RawStompClient.connected(broker.stompPort, { login: 'admin', passcode: 'admin-secret' });
    await admin.raw.send('SEND', { destination: '/queue/secure.q', receipt: 'r' }, 'for the certificate');
    await admin.raw.nextFrameOf('RECEIPT');
    admin.raw.socket.destroy();
    const report = lastJsonLine<Record<string, string>>(await run(python, [script, String(broker.tlsPorts.amqp), 'secure.q', certs.ca, certs.reader.cert, certs.reader.key]));
    // reader's certificate: reader may consume secure.q and may not send to it
    assert.deepEqual(report, { mechanism: 'EXTERNAL', received: 'for the certificate', send: 'amqp:unauthorized-access' });
  } finally {
    await broker.stop();
  }
});
