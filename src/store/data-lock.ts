import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../errors.js';

/** True when a process with this id runs (in this pid namespace), ours or another user's. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a broker killed with SIGKILL stays a zombie until its parent reaps it: it runs no more
  return !isZombie(pid);
}

/** Linux's state of the process is Z; false where there is no /proc to say. */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false;
  }
  // pid (comm) state ...: the name may hold spaces and parentheses, the state follows the last ')'
  return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
}

/**
 * How a broker holds its data folder: `alone`, the only broker on it; `ha`, the primary of brokers
 * that share it, each started with `--ha`, of which the lease decides which one runs.
 */
export type FolderHolding = 'alone' | 'ha';

/**
 * One broker per data folder: a `lock` file holding the owner's pid (and `ha` for a primary that
 * shares the folder with its backups), created exclusively. A lock left by a process that no longer
 * runs (a broker killed with SIGKILL) is taken over. The lease, not this file, decides between
 * brokers started with `--ha`: a primary takes over the lock of a live `--ha` broker, which lost
 * its lease and is fenced; it never takes over that of a broker started without `--ha`, which
 * never looks at the lease. The pid means something on this host only: brokers on several hosts
 * share a folder only with `--ha`.
 */
export class DataFolderLock {
  private constructor(private readonly file: string) {}

  static acquire(folder: string, holding: FolderHolding = 'alone'): DataFolderLock {
    const file = join(folder, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx');
        writeSync(fd, holding === 'ha' ? `${process.pid} ha\n` : `${process.pid}\n`);
        closeSync(fd);
        return new DataFolderLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new FerryError('FERRY_STORE_FAILED', `cannot lock the data folder ${folder}: ${(err as Error).message}`, { cause: err });
        }
        DataFolderLock.refuseIfHeld(folder, holding);
        rmSync(file, { force: true });
      }
    }
    throw new FerryError('FERRY_STORE_LOCKED', `could not lock the data folder ${folder}`);
  }

  /**
   * Throws FERRY_STORE_LOCKED when a running broker holds the folder in a way `holding` may not take
   * over, writing nothing: an `--ha` broker asks before it takes the lease, so that a folder a broker
   * without `--ha` holds gets no lease files and its log no `ha.primary`.
   */
  static refuseIfHeld(folder: string, holding: FolderHolding): void {
    const owner = readOwner(join(folder, 'lock'));
    if (owner !== undefined && owner.pid !== process.pid && processAlive(owner.pid) && !(holding === 'ha' && owner.holding === 'ha')) {
      throw new FerryError('FERRY_STORE_LOCKED', refusal(folder, owner, holding));
    }
  }

  /** Removes the lock, unless another broker has taken it over since (a primary that lost its lease). */
  release(): void {
    if (readOwner(this.file)?.pid === process.pid) rmSync(this.file, { force: true });
  }
}

function readOwner(file: string): { pid: number; holding: FolderHolding } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [pid, mark] = text.trim().split(/\s+/);
  const owner = Number(pid);
  return Number.isInteger(owner) && owner > 0 ? { pid: owner, holding: mark === 'ha' ? 'ha' : 'alone' } : undefined;
}

function refusal(folder: string, owner: { pid: number; holding: FolderHolding }, holding: FolderHolding): string {
  if (owner.holding === 'alone') {
    return `the data folder ${folder} is in use by process ${owner.pid}, a broker started without --ha${holding === 'ha' ? ', which shares it with no backup' : ''}; give this broker its own with --data`;
  }
  return `the data folder ${folder} is in use by process ${owner.pid}, the primary of brokers started with --ha; start this one with --ha to be its backup, or give it its own folder with --data`;
}
