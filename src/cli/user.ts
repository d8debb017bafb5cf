import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { hashPassword, makeScramCredentials } from '../security/passwords.js';
import { readUsersFile, tokenHash, userNameProblem, writeUsersFile, type UserRecord, type UsersFileModel } from '../security/users-file.js';
import { askHidden } from './prompt.js';

/** What every token `ferry user token` makes begins with; it also lets a secret scanner know one. */
const TOKEN_PREFIX = 'ferry_';

export const userHelp = `Usage: ferry user <add|passwd|groups|remove|list|token> [NAME] [options]

Manages the users file, which holds for each user a scrypt hash of the password, SCRAM-SHA-256
keys, groups, and the hashes of management API tokens; never a password. A running broker reloads
the file when it changes, and closes the connections of users removed from it.

  ferry user add NAME [--groups a,b]   add a user; asks for the password
  ferry user passwd NAME               change a user's password (also: ferry passwd NAME)
  ferry user groups NAME --groups a,b  replace a user's groups, leaving the password as it is;
                                       --groups "" leaves none; without --groups, print them
  ferry user remove NAME               remove a user
  ferry user list                      print each user's name and groups
  ferry user token NAME                make a management API token for a user, print it once

The password is asked twice on the terminal, without echo. When standard input is not a terminal,
its first line is the password, so a script can pipe it:  printf '%s\\n' "$PW" | ferry user add NAME

Options:
  --file FILE        the users file (default: security.users of --config, else ./users.yaml)
  --config FILE      the broker's configuration file, to find its users file   env FERRY_CONFIG
  --groups a,b       the user's groups (add, groups; with passwd, replaces them)
  -h, --help
`;

export const passwdHelp = `Usage: ferry passwd NAME [--file FILE] [--config FILE]

The same as "ferry user passwd NAME": changes a user's password in the users file.
`;

const options = {
  file: { type: 'string' },
  config: { type: 'string' },
  groups: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function fail(message: string): number {
  process.stderr.write(`ferry user: ${message}\n`);
  return 1;
}

/** The users file: --file, else the configuration's security.users (relative to that file), else ./users.yaml. */
function usersFilePath(values: { file?: string | undefined; config?: string | undefined }): string {
  if (values.file !== undefined) return resolve(values.file);
  const configFile = values.config ?? (process.env['FERRY_CONFIG'] || undefined);
  if (configFile !== undefined) {
    // the loader makes it absolute, relative to the configuration file
    const users = loadConfig(configFile).security.users;
    if (users !== undefined) return resolve(users);
  }
  return resolve('users.yaml');
}

function parseGroups(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
}

/** The first line of standard input; the rest is left unread. */
function readFirstLine(): Promise<string | undefined> {
  const input = process.stdin;
  return new Promise((resolveLine, reject) => {
    let text = '';
    const done = (line: string | undefined): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', reject);
      input.pause();
      resolveLine(line);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end >= 0) done(text.slice(0, end).replace(/\r$/, ''));
    };
    const onEnd = (): void => done(text === '' ? undefined : text.replace(/\r$/, ''));
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', reject);
  });
}

async function newPassword(name: string): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await askHidden(`Password for ${name}: `);
    const second = await askHidden('Again: ');
    if (first !== second) throw new Error('the passwords do not match');
    if (first === '') throw new Error('the password is empty');
    return first;
  }
  const line = await readFirstLine();
  if (line === undefined || line === '') throw new Error('no password on standard input (its first line is the password)');
  return line;
}

async function credentials(name: string): Promise<Pick<UserRecord, 'password' | 'scram'>> {
  const password = await newPassword(name);
  return { password: await hashPassword(password), scram: await makeScramCredentials(password) };
}

function readOrEmpty(path: string): UsersFileModel {
  return existsSync(path) ? readUsersFile(path) : { users: new Map() };
}

export async function user(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (err) {
    process.stderr.write(`ferry: FERRY_CLI_USAGE: ${(err as Error).message}\n\n${userHelp}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(userHelp);
    return 0;
  }
  const [action, name, ...extra] = positionals;
  const needsName = action === 'add' || action === 'passwd' || action === 'groups' || action === 'remove' || action === 'token';
  if (action === undefined || (!needsName && action !== 'list') || (needsName && name === undefined) || extra.length > 0 || (action === 'list' && name !== undefined)) {
    const problem = action === undefined ? 'no action given' : !needsName && action !== 'list' ? `unknown action "${action}"` : needsName && name === undefined ? `ferry user ${action} needs a user name` : `unexpected argument "${[name, ...extra].filter((a) => a !== undefined).pop()}"`;
    process.stderr.write(`ferry: FERRY_CLI_USAGE: ${problem}\n\n${userHelp}`);
    return 1;
  }
  const nameProblem = name === undefined ? undefined : userNameProblem(name);
  if (nameProblem !== undefined) return fail(`${JSON.stringify(name)}: ${nameProblem}`);
  const groups = parseGroups(values.groups);
  const path = usersFilePath(values);
  try {
    switch (action) {
      case 'list': {
        const model = readUsersFile(path);
        const width = Math.max(4, ...[...model.users.keys()].map((n) => n.length));
        for (const [userName, entry] of model.users) process.stdout.write(`${userName.padEnd(width)}  ${entry.groups.join(',')}\n`);
        return 0;
      }
      case 'add': {
        const model = readOrEmpty(path);
        if (model.users.has(name!)) return fail(`user "${name}" already exists in ${path} (change the password with "ferry user passwd ${name}")`);
        const entry: UserRecord = { ...(await credentials(name!)), groups: groups ?? [], tokens: [] };
        model.users.set(name!, entry);
        writeUsersFile(path, model);
        process.stderr.write(`added user "${name}" to ${path}\n`);
        return 0;
      }
      case 'passwd': {
        const model = readUsersFile(path);
        const old = model.users.get(name!);
        if (old === undefined) return fail(`no user "${name}" in ${path}`);
        model.users.set(name!, { ...old, ...(await credentials(name!)), ...(groups === undefined ? {} : { groups }) });
        writeUsersFile(path, model);
        process.stderr.write(`changed the password of "${name}" in ${path}\n`);
        return 0;
      }
      case 'groups': {
        const model = readUsersFile(path);
        const old = model.users.get(name!);
        if (old === undefined) return fail(`no user "${name}" in ${path}`);
        if (groups === undefined) {
          process.stdout.write(`${old.groups.join(',')}\n`);
          return 0;
        }
        // the hashes and tokens stay as they are: no password is asked for, as RabbitMQ's set_user_tags asks none
        model.users.set(name!, { ...old, groups });
        writeUsersFile(path, model);
        process.stderr.write(`set the groups of "${name}" in ${path} to ${groups.length === 0 ? 'none' : groups.join(',')}\n`);
        return 0;
      }
      case 'remove': {
        const model = readUsersFile(path);
        if (!model.users.delete(name!)) return fail(`no user "${name}" in ${path}`);
        writeUsersFile(path, model);
        process.stderr.write(`removed user "${name}" from ${path}\n`);
        return 0;
      }
      case 'token': {
        const model = readUsersFile(path);
        const old = model.users.get(name!);
        if (old === undefined) return fail(`no user "${name}" in ${path}`);
        // the prefix keeps a token from starting with a dash, as 1 base64url string in 64 does,
        // which a command line would read as an option (`--token "$TOKEN"`); 256 random bits follow it
        const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
        model.users.set(name!, { ...old, tokens: [...old.tokens, tokenHash(token)] });
        writeUsersFile(path, model);
        process.stderr.write(`a management API token for "${name}" (only its hash is kept in ${path}; it is not shown again):\n`);
        process.stdout.write(`${token}\n`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof Error && !('code' in err && typeof err.code === 'string' && err.code.startsWith('FERRY_'))) return fail(err.message);
    throw err;
  }
  return 1;
}

export function passwd(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(passwdHelp);
    return Promise.resolve(0);
  }
  return user(['passwd', ...argv]);
}
