import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { FerryError } from '../errors.js';
import type { Logger } from '../core/index.js';
import type { DirectoryUser, ScramCredentials, UserDirectory } from './directory.js';
import { parsePasswordHash, parseScramCredentials, verifyPassword } from './passwords.js';

/**
 * The users file: YAML written by `ferry user`, holding password hashes and SCRAM keys, never a
 * password.
 *
 *   users:
 *     admin:
 *       password: scrypt$N=32768,r=8,p=1$<salt>$<hash>
 *       scram: SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
 *       groups: [admins]
 *       tokens: [sha256$<hex>]
 */

// names travel in SASL, HTTP basic authentication and log lines: a colon, a space or a control
// character in one is a typing mistake or an attack on a log, never a user
const userName = z.string().min(1).max(256).regex(/^[^\s:\p{Cc}]+$/u, 'a user name has no spaces, colons or control characters');

const userEntry = z
  .object({
    password: z.string().min(1),
    scram: z.string().min(1).optional(),
    groups: z.array(z.string().min(1)).default([]),
    tokens: z.array(z.string().regex(/^sha256\$[0-9a-f]{64}$/, 'a token is kept as sha256$<64 hex digits>')).default([]),
  })
  .strict();

const usersFileSchema = z.object({ users: z.record(userName, userEntry).default({}) }).strict();

export interface UserRecord {
  readonly password: string;
  readonly scram?: string | undefined;
  readonly groups: readonly string[];
  readonly tokens: readonly string[];
}

export interface UsersFileModel {
  readonly users: Map<string, UserRecord>;
}

const HEADER = '# Ferry users, written by "ferry user". Passwords are kept as scrypt hashes and SCRAM-SHA-256 keys,\n# never as the passwords themselves. Edit with "ferry user add|passwd|groups|remove|token".\n';

/** Reads and checks a users file; throws FERRY_CONFIG_INVALID naming the file and the entry, never printing a hash. */
export function readUsersFile(path: string): UsersFileModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FerryError('FERRY_CONFIG_INVALID', `cannot read the users file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text) ?? {};
  } catch (err) {
    throw new FerryError('FERRY_CONFIG_INVALID', `the users file ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = usersFileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]].join('.') : issue.path.join('.');
    throw new FerryError('FERRY_CONFIG_INVALID', `the users file ${path}: ${key || '(top level)'}: ${issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message}`);
  }
  const users = new Map<string, UserRecord>();
  for (const [name, entry] of Object.entries(result.data.users)) {
    // checked now, so that a mistyped hash is found at load, not at the user's first login
    checkHashes(path, name, entry);
    users.set(name, entry);
  }
  return { users };
}

function checkHashes(path: string, name: string, record: UserRecord): void {
  parsePasswordHash(record.password, `the users file ${path}: users.${name}.password`);
  if (record.scram !== undefined) parseScramCredentials(record.scram, `the users file ${path}: users.${name}.scram`);
}

/** Why `name` cannot be a user's name in the users file, or undefined when it can. */
export function userNameProblem(name: string): string | undefined {
  const named = userName.safeParse(name);
  return named.success ? undefined : named.error.issues[0]!.message;
}

/** Throws what readUsersFile would throw for this entry, so a file the broker would refuse is never written. */
function checkRecord(path: string, name: string, record: UserRecord): void {
  const named = userName.safeParse(name);
  const entry = userEntry.safeParse({ ...record, groups: [...record.groups], tokens: [...record.tokens] });
  const issue = named.success ? (entry.success ? undefined : entry.error.issues[0]!) : named.error.issues[0]!;
  if (issue !== undefined) throw new FerryError('FERRY_CONFIG_INVALID', `the users file ${path}: ${['users', name, ...issue.path].join('.')}: ${issue.message}`);
  checkHashes(path, name, record);
}

/**
 * Writes the users file whole: a temporary file beside it, synced, then renamed over it, readable by
 * its owner only. An entry that readUsersFile would refuse throws FERRY_CONFIG_INVALID and nothing
 * is written.
 */
export function writeUsersFile(path: string, model: UsersFileModel): void {
  const users: Record<string, Record<string, unknown>> = {};
  for (const [name, user] of [...model.users].sort(([a], [b]) => a.localeCompare(b))) {
    checkRecord(path, name, user);
    users[name] = {
      password: user.password,
      ...(user.scram === undefined ? {} : { scram: user.scram }),
      groups: [...user.groups],
      ...(user.tokens.length === 0 ? {} : { tokens: [...user.tokens] }),
    };
  }
  const text = HEADER + stringifyYaml({ users }, { lineWidth: 0 });
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/** How a token is kept: its SHA-256 (a token is random and long, so no salt or slow hash is needed). */
export function tokenHash(token: string): string {
  return `sha256$${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

interface LoadedUser {
  readonly user: DirectoryUser;
  readonly hash: ReturnType<typeof parsePasswordHash>;
  readonly scram: ScramCredentials | undefined;
}

/** The wait after a change is seen before the file is read: editors write in several steps. */
const RELOAD_DEBOUNCE_MS = 100;

/**
 * The users file as a directory, reloaded when it changes without a restart. A file that no longer
 * reads is logged and the users before it stay; users that disappeared are reported to
 * `onRemoved`, so their connections can be closed.
 */
export class UsersFileDirectory implements UserDirectory {
  readonly description: string;
  private users = new Map<string, LoadedUser>();
  private tokens = new Map<string, DirectoryUser>();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private loads = 0;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly options: { readonly onRemoved?: (names: string[]) => void; readonly watch?: boolean } = {},
  ) {
    this.description = `users file ${path}`;
    this.load(readUsersFile(path));
    this.lastText = this.readText();
    if (options.watch !== false) {
      // the folder, not the file: `ferry user` and editors replace the file by renaming another over it
      this.watcher = watch(dirname(path), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(path)) this.scheduleReload();
      });
      this.watcher.on('error', (err) => this.logger.warn({ event: 'security.users-watch-failed', path, err: err.message }, 'cannot watch the users file for changes'));
    }
  }

  get size(): number {
    return this.users.size;
  }

  get generation(): number {
    return this.loads;
  }

  knows(username: string): boolean {
    return this.users.has(username);
  }

  async verify(username: string, password: string): Promise<DirectoryUser | 'wrong-password' | undefined> {
    const entry = this.users.get(username);
    if (entry === undefined) return undefined;
    return (await verifyPassword(password, entry.hash)) ? entry.user : 'wrong-password';
  }

  async lookup(username: string): Promise<DirectoryUser | undefined> {
    return this.users.get(username)?.user;
  }

  scramCredentials(username: string): ScramCredentials | undefined {
    return this.users.get(username)?.scram;
  }

  tokenUser(token: string): DirectoryUser | undefined {
    const hash = tokenHash(token);
    for (const [kept, user] of this.tokens) {
      if (kept.length === hash.length && timingSafeEqual(Buffer.from(kept), Buffer.from(hash))) return user;
    }
    return undefined;
  }

  /** Reads the file again now (the watcher calls this after a change). */
  reload(): void {
    const text = this.readText();
    if (text === this.lastText) return;
    let model: UsersFileModel;
    try {
      model = readUsersFile(this.path);
    } catch (err) {
      this.logger.error({ event: 'security.users-reload-failed', path: this.path, message: (err as Error).message }, 'the users file changed and does not read; the users before the change stay');
      return;
    }
    this.lastText = text;
    const before = new Set(this.users.keys());
    this.load(model);
    const removed = [...before].filter((name) => !this.users.has(name));
    this.logger.info({ event: 'security.users-reloaded', path: this.path, users: this.users.size, removed }, `users file reloaded: ${this.users.size} users`);
    if (removed.length > 0) this.options.onRemoved?.(removed);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.reloadTimer);
  }

  private scheduleReload(): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), RELOAD_DEBOUNCE_MS);
    this.reloadTimer.unref();
  }

  private readText(): string | undefined {
    try {
      return readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
  }

  private load(model: UsersFileModel): void {
    const users = new Map<string, LoadedUser>();
    const tokens = new Map<string, DirectoryUser>();
    for (const [name, record] of model.users) {
      const user: DirectoryUser = { name, groups: record.groups };
      users.set(name, {
        user,
        hash: parsePasswordHash(record.password, name),
        scram: record.scram === undefined ? undefined : parseScramCredentials(record.scram, name),
      });
      for (const token of record.tokens) tokens.set(token, user);
    }
    this.users = users;
    this.tokens = tokens;
    this.loads++;
  }
}
