import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/index.js';
import { SecurityAuthenticator } from '../../src/security/authenticator.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { scramExchange } from '../../src/security/scram.js';
import { UsersFileDirectory } from '../../src/security/users-file.js';
import { writeUsers } from './security.js';

/**
 * The security core's authenticator over a users file (scrypt hashes at a test cost, SCRAM keys),
 * with SCRAM-SHA-256 from src/security/scram.ts: what `ferry start` with `security.users` runs.
 * Failed logins add no delay here (the delay has its own tests).
 */
export async function saslAuthenticator(users: Record<string, string>, options: { anonymousUser?: string } = {}): Promise<SecurityAuthenticator> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sasl-'));
  const path = await writeUsers(dir, Object.fromEntries(Object.entries(users).map(([name, password]) => [name, { password }])));
  return new SecurityAuthenticator({
    directories: [new UsersFileDirectory(path, silentLogger, { watch: false })],
    anonymousUser: options.anonymousUser,
    loginDelay: new LoginDelay({ initial: 0, max: 0, forgetAfter: 0, sleep: () => Promise.resolve() }),
    scram: scramExchange,
    logger: silentLogger,
  });
}
