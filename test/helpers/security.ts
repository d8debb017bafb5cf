import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigValue } from '../../src/config/index.js';
import { hashPassword, makeScramCredentials } from '../../src/security/passwords.js';
import { writeUsersFile, type UserRecord } from '../../src/security/users-file.js';
import { startBroker, type TestBroker, type TestServerOptions } from './broker.js';

/** scrypt at a cost that keeps tests quick; the format and the check are the real ones. */
export const TEST_SCRYPT_COST = { N: 1024, r: 8, p: 1 } as const;

export interface TestUser {
  readonly password: string;
  readonly groups?: readonly string[];
}

/** Writes a users file with the broker's own writer (as `ferry user` does) into `dir`; returns its path. */
export async function writeUsers(dir: string, users: Record<string, TestUser>, file = 'users.yaml'): Promise<string> {
  const records = new Map<string, UserRecord>();
  for (const [name, user] of Object.entries(users)) {
    records.set(name, { password: await hashPassword(user.password, TEST_SCRYPT_COST), scram: await makeScramCredentials(user.password), groups: [...(user.groups ?? [])], tokens: [] });
  }
  const path = join(dir, file);
  writeUsersFile(path, { users: records });
  return path;
}

/** The users and rights most security tests use: an admin with every right, a reader of `secure.q` only. */
export const ADMIN_AND_READER: Record<string, TestUser> = {
  admin: { password: 'admin-secret', groups: ['admins'] },
  reader: { password: 'reader-secret', groups: ['readers'] },
};

const everything = { read: ['admins'], write: ['admins'], create: ['admins'], browse: ['admins'], admin: ['admins'] };

export const ADMIN_AND_READER_RIGHTS: ConfigValue = [
  { queue: '>', ...everything },
  { topic: '>', ...everything },
  { temporary: true, ...everything },
  { queue: 'secure.q', read: ['readers'] },
];

export interface SecureBroker extends TestBroker {
  readonly usersFile: string;
}

/**
 * A test broker (see startBroker) with a users file and, unless `authorization` is null, the rights
 * of ADMIN_AND_READER_RIGHTS; `settings` add or override dotted configuration keys.
 */
export async function startSecureBroker(
  options: { users?: Record<string, TestUser>; authorization?: ConfigValue | null; settings?: Record<string, ConfigValue> } = {},
  serverOptions: TestServerOptions = {},
): Promise<SecureBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-users-'));
  const usersFile = await writeUsers(dir, options.users ?? ADMIN_AND_READER);
  const authorization = options.authorization === undefined ? ADMIN_AND_READER_RIGHTS : options.authorization;
  const broker = await startBroker(
    {
      'security.users': usersFile,
      ...(authorization === null ? {} : { 'security.authorization': authorization }),
      ...options.settings,
    },
    serverOptions,
  );
  return { ...broker, usersFile };
}
