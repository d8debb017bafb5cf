import { silentLogger } from '../../src/core/index.js';
import { SecurityAuthenticator } from '../../src/security/authenticator.js';
import type { DirectoryUser, ScramCredentials, UserDirectory } from '../../src/security/directory.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { hashPassword, makeScramCredentials, parsePasswordHash, parseScramCredentials, verifyPassword } from '../../src/security/passwords.js';
import { scramExchange } from '../../src/security/scram.js';
import { TEST_SCRYPT_COST } from './security.js';

/**
 * The security core's authenticator over users kept in memory (real scrypt hashes at a test cost,
 * real SCRAM keys), with SCRAM-SHA-256 from src/security/scram.ts: what `ferry start` with a users
 * file runs, without the file. Failed logins add no delay here (the delay has its own tests).
 */
export async function saslAuthenticator(users: Record<string, string>, options: { anonymousUser?: string } = {}): Promise<SecurityAuthenticator> {
  const entries = new Map<string, { hash: ReturnType<typeof parsePasswordHash>; scram: ScramCredentials; user: DirectoryUser }>();
  for (const [name, password] of Object.entries(users)) {
    entries.set(name, {
      hash: parsePasswordHash(await hashPassword(password, TEST_SCRYPT_COST), name),
      scram: parseScramCredentials(await makeScramCredentials(password), name),
      user: { name, groups: [] },
    });
  }
  const directory: UserDirectory = {
    description: 'test users',
    async verify(name, password) {
      const entry = entries.get(name);
      if (entry === undefined) return undefined;
      return (await verifyPassword(password, entry.hash)) ? entry.user : 'wrong-password';
    },
    async lookup(name) {
      return entries.get(name)?.user;
    },
    scramCredentials: (name) => entries.get(name)?.scram,
  };
  return new SecurityAuthenticator({
    directories: [directory],
    anonymousUser: options.anonymousUser,
    loginDelay: new LoginDelay({ initial: 0, max: 0, forgetAfter: 0, sleep: () => Promise.resolve() }),
    scram: scramExchange,
    logger: silentLogger,
  });
}
