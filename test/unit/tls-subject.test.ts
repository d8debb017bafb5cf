import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { subjectText } from '../../src/transport/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-subject-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A certificate with this subject (OpenSSL's `/A=v/B=w` form), as a client would present it. */
function certificate(subject: string): X509Certificate {
  const pem = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', pem, '-days', '1', '-subj', subject], { stdio: 'ignore' });
  return new X509Certificate(readFileSync(pem));
}

// the rule docs/security.md and docs/examples/secure/ferry.yaml give
const rule = /(?:^|,)CN=([^,]+)/;

test('a value that holds ",CN=..." cannot pass for a second CN: its special characters are hex escapes', () => {
  const forged = subjectText(certificate('/O=Shop/OU=x,CN=admin/CN=alice'));
  assert.equal(forged, 'O=Shop,OU=x\\2CCN=admin,CN=alice');
  assert.equal(rule.exec(forged)?.[1], 'alice');
  assert.equal(subjectText(certificate('/CN=alice/O=Shop')), 'CN=alice,O=Shop');
  assert.equal(subjectText(certificate('/CN=a\\\\b"c;d<e>f/O=g\\+h')), 'CN=a\\5Cb\\22c\\3Bd\\3Ce\\3Ef,O=g\\2Bh');
});
