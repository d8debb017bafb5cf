// What the secure scenarios need, made once per run in a temporary folder: a test certificate
// authority and a server certificate for 127.0.0.1 (openssl, as docs/examples/secure/make-certs.sh
// makes them), the same key and certificate as a PKCS12 keystore for ActiveMQ's JVM, one user with
// a password, and Ferry's users file and configuration granting that user's group the bench's
// destinations. Both brokers present the same certificate and check the same user.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hashPassword, makeScramCredentials, SCRYPT_COST } from '../src/security/passwords.js';
import { writeUsersFile } from '../src/security/users-file.js';
import { BenchSetupError } from './broker.js';
import type { ClientSecurity } from './broker.js';

const run = promisify(execFile);

export interface SecureSetup extends ClientSecurity {
  readonly folder: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PKCS12 keystore holding the server's key and certificate (Java 17 reads it as it is). */
  readonly keyStore: string;
  readonly keyStorePassword: string;
  /** Ferry's configuration file: TLS certificate, users file, authorization. */
  readonly ferryConfig: string;
  /** The group the user is in, and the one the authorization rules grant. */
  readonly group: string;
  remove(): void;
}

export const BENCH_USER = 'bench';
export const BENCH_GROUP = 'bench';

async function openssl(cwd: string, args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { code?: unknown; stderr?: string };
    const hint = e.code === 'ENOENT' ? 'openssl was not found: install it with `sudo apt-get install openssl`' : (e.stderr ?? e.message).trim();
    throw new BenchSetupError('BENCH_CERTS', `could not make the benchmark's certificates: ${hint}`, { cause: err });
  }
}

/**
 * The authorization rules of the secure scenarios, in Ferry's terms: the bench's group may send,
 * receive and create on every queue and topic (MQTT topics turn `.` into `/`, so a prefix rule on
 * `bench.` would miss them), and nobody else may do anything.
 */
export function ferrySecureConfig(group: string): string {
  const rights = `read: [${group}], write: [${group}], create: [${group}]`;
  return [
    'tls:',
    '  cert: server.pem',
    '  key: server-key.pem',
    'security:',
    '  users: users.yaml',
    '  authorization:',
    `    - { queue: ">", ${rights} }`,
    `    - { topic: ">", ${rights} }`,
    '',
  ].join('\n');
}

export async function makeSecureSetup(): Promise<SecureSetup> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-secure-'));
  const remove = (): void => rmSync(folder, { recursive: true, force: true });
  try {
    const days = '30';
    await openssl(folder, [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', days,
      '-subj', '/O=Ferry bench/CN=Ferry bench CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    ]);
    await openssl(folder, ['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', '/O=Ferry bench/CN=localhost', '-keyout', 'server-key.pem', '-out', 'server.csr']);
    writeFileSync(
      path.join(folder, 'server.ext'),
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
    );
    await openssl(folder, [
      'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', days, '-sha256',
      '-extfile', 'server.ext', '-out', 'server.pem',
    ]);
    const keyStorePassword = randomBytes(12).toString('hex');
    await openssl(folder, [
      'pkcs12', '-export', '-in', 'server.pem', '-inkey', 'server-key.pem', '-name', 'server',
      '-out', 'server.p12', '-passout', `pass:${keyStorePassword}`,
    ]);

    const password = randomBytes(12).toString('hex');
    // the default scrypt cost, as `ferry user` writes it: each connection's login costs what a real one does
    writeUsersFile(path.join(folder, 'users.yaml'), {
      users: new Map([
        [BENCH_USER, { password: await hashPassword(password, SCRYPT_COST), scram: await makeScramCredentials(password), groups: [BENCH_GROUP], tokens: [] }],
      ]),
    });
    const ferryConfig = path.join(folder, 'ferry.yaml');
    writeFileSync(ferryConfig, ferrySecureConfig(BENCH_GROUP));
    return {
      folder,
      ca: readFileSync(path.join(folder, 'ca.pem'), 'utf8'),
      user: BENCH_USER,
      password,
      group: BENCH_GROUP,
      certFile: path.join(folder, 'server.pem'),
      keyFile: path.join(folder, 'server-key.pem'),
      keyStore: path.join(folder, 'server.p12'),
      keyStorePassword,
      ferryConfig,
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}
