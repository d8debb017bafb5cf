import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../errors.js';

/** True when a process with this id runs (in this pid namespace), ours or another user's. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One broker per data folder: a `lock` file holding the owner's pid, created exclusively. A lock
 * left by a process that no longer runs (a broker killed with SIGKILL) is taken over.
 */
export class DataFolderLock {
  private constructor(private readonly file: string) {}

  static acquire(folder: string): DataFolderLock {
    const file = join(folder, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new DataFolderLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new FerryError('FERRY_STORE_FAILED', `cannot lock the data folder ${folder}: ${(err as Error).message}`, { cause: err });
        }
        const owner = Number(readFileSync(file, 'utf8').trim());
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
          throw new FerryError('FERRY_STORE_LOCKED', `the data folder ${folder} is in use by process ${owner}; give this broker its own with --data`);
        }
        rmSync(file, { force: true });
      }
    }
    throw new FerryError('FERRY_STORE_LOCKED', `could not lock the data folder ${folder}`);
  }

  release(): void {
    rmSync(this.file, { force: true });
  }
}
