import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A PostgreSQL cluster of a test file's own: initdb in a temporary folder, the server in the
 * foreground as a child of the test, listening only on a unix socket in that folder. Root cannot
 * run PostgreSQL, so as root the cluster belongs to the `postgres` user that Debian's package makes.
 */
export interface TestPostgres {
  /** The server's process id (the postmaster; its backends are its children). */
  readonly pid: number;
  /** The folder of the unix socket. */
  readonly socketDir: string;
  /** A connection string for `database` in this cluster. */
  url(database: string): string;
  /** Creates an empty database and returns its connection string. */
  createDatabase(name?: string): Promise<string>;
  /** Ends the server and deletes the folder (idempotent). */
  stop(): Promise<void>;
  /** Ends every connection to `database` from the server's side, as a server restart or a proxy would; resolves with how many. */
  terminate(database: string): Promise<number>;
  /**
   * Shuts the server down and keeps its data: clients see the database go away. `immediate` is a
   * crash (`pg_ctl stop -m immediate`): the next start recovers from the WAL.
   */
  halt(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts the server again on the same data after `halt`. */
  resume(): Promise<void>;
}

export interface PostgresStartOptions {
  /** Tests run with fsync off (they do not cut power); the benchmark keeps it on. Default false. */
  readonly fsync?: boolean;
}

const PORT = 5432;

/** Where Debian puts the newest installed server's programs, or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Says loudly why the PostgreSQL tests do not run here; under CI it is an error. */
function skipping(reason: string): string {
  console.warn(`\n*** SKIPPING PostgreSQL tests: ${reason} ***\n`);
  if (process.env['CI'] !== undefined) throw new Error(`PostgreSQL is needed in CI: ${reason}`);
  return reason;
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root, and there is no postgres user to run PostgreSQL as (apt-get install postgresql makes one)');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function runAs(file: string, args: string[], user: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(user ?? {}) });
    let errors = '';
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${file} exited with ${code}: ${errors.slice(-2000)}`))));
  });
}

function launch(bin: string, data: string, socketDir: string, fsync: boolean, user: { uid: number; gid: number } | undefined): Promise<ChildProcess> {
  const args = ['-D', data, '-k', socketDir, '-p', String(PORT), '-c', "listen_addresses=", '-c', `fsync=${fsync ? 'on' : 'off'}`, '-c', 'max_connections=50'];
  const child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(user ?? {}) });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('database system is ready to accept connections')) {
        child.stderr!.off('data', onData);
        // keep draining, so a chatty server never blocks on a full pipe
        child.stderr!.resume();
        child.off('exit', onExit);
        resolve(child);
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`postgres exited with ${code} before accepting connections:\n${output.slice(-2000)}`));
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', reject);
  });
}

/**
 * Starts a cluster, or returns why it cannot (printed loudly; an error under CI) so that the
 * caller skips its tests with that reason.
 */
export async function startPostgres(options: PostgresStartOptions = {}): Promise<TestPostgres | string> {
  const bin = postgresBin();
  if (bin === undefined) return skipping('no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql; .ci/run installs it)');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  let server: ChildProcess | undefined;
  let user: { uid: number; gid: number } | undefined;
  const data = join(dir, 'data');
  const fsync = options.fsync ?? false;
  try {
    user = postgresUser();
    mkdirSync(data, { mode: 0o700 });
    if (user !== undefined) {
      chownSync(dir, user.uid, user.gid);
      chownSync(data, user.uid, user.gid);
    }
    await runAs(join(bin, 'initdb'), ['-D', data, '--username=ferry', '--auth=trust', '--encoding=UTF8', '--no-sync', '--no-instructions'], user);
    server = await launch(bin, data, dir, fsync, user);
  } catch (err) {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    return skipping(`PostgreSQL could not be started: ${(err as Error).message}`);
  }
  let child = server;
  // a test process that dies without stopping its cluster must not leave a server behind:
  // SIGQUIT is PostgreSQL's immediate shutdown, and can be sent from an 'exit' handler
  const orphaned = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
  };
  process.once('exit', orphaned);
  const exitOf = (process: ChildProcess): Promise<void> => new Promise<void>((resolve) => (process.exitCode !== null || process.signalCode !== null ? resolve() : process.once('exit', () => resolve())));
  const halt = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    // SIGINT is PostgreSQL's fast shutdown: sessions are ended, and the data is left consistent;
    // SIGQUIT its immediate one, which leaves crash recovery to the next start
    if (child.exitCode === null && child.signalCode === null) child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await exitOf(child);
  };
  const url = (database: string): string => `postgresql://ferry@/${database}?host=${encodeURIComponent(dir)}&port=${PORT}`;
  const admin = async <T>(body: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url('postgres') });
    await client.connect();
    try {
      return await body(client);
    } finally {
      await client.end();
    }
  };
  let databases = 0;
  let stopped: Promise<void> | undefined;
  return {
    get pid() {
      return child.pid!;
    },
    socketDir: dir,
    url,
    async createDatabase(name = `ferry_${process.pid}_${++databases}`) {
      await admin((client) => client.query(`CREATE DATABASE ${name}`));
      return url(name);
    },
    terminate(database) {
      return admin(async (client) => {
        const result = await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
        return result.rowCount ?? 0;
      });
    },
    halt,
    async resume() {
      await halt();
      child = await launch(bin, data, dir, fsync, user);
    },
    stop() {
      stopped ??= (async () => {
        process.off('exit', orphaned);
        await halt();
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
