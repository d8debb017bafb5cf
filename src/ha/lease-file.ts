import { randomUUID } from 'node:crypto';
import { constants, promises as fs, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * The lease record on the shared folder. It is the only thing the brokers sharing a folder agree
 * through: an OS lock alone is not enough, since NFS can lose one silently while its holder runs on.
 *
 * `generation` counts takeovers and `counter` renewals within one. A backup decides that the holder
 * is gone when neither has changed for a whole lease duration by its own clock, so the brokers need
 * no synchronised clocks; `renewedAt` is for people reading the file.
 */
export interface LeaseRecord {
  readonly holder: string;
  readonly host: string;
  /** Where `pid` means something: this boot of this machine, in this process-id namespace. */
  readonly processSpace: string;
  readonly pid: number;
  readonly generation: number;
  readonly counter: number;
  /** Written by a holder that stopped cleanly: a backup takes over at once. */
  readonly released: boolean;
  /**
   * The holder's `ha.leaseDuration` (ms): it fences itself by this one, so a backup waits at least
   * this long. Absent from a record written by a broker before it was kept.
   */
  readonly leaseDuration?: number | undefined;
  /** A broker asking the holder to hand the lease over (failback). */
  readonly handbackTo?: string | undefined;
  readonly renewedAt: string;
}

export const LEASE_FILE = 'ha-lease';
const HANDBACK_FILE = 'ha-handback';
const CLAIM_PREFIX = 'ha-claim-';

/**
 * Where a process id names this process: the host name, the machine's boot id and the pid
 * namespace. Two containers with one host name have different pid namespaces, so a broker never
 * takes a lease because a pid that belongs to another namespace looks dead from its own.
 */
export function processSpace(): string {
  const read = (what: () => string): string => {
    try {
      return what().trim();
    } catch {
      return 'unknown';
    }
  };
  return `${hostname()}/${read(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'))}/${read(() => readlinkSync('/proc/self/ns/pid'))}`;
}

/** A name for this broker process that no other process on any host shares. */
export function newHolderId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

function isLeaseRecord(value: unknown): value is LeaseRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['holder'] === 'string' && typeof v['processSpace'] === 'string' && typeof v['generation'] === 'number' && typeof v['counter'] === 'number' && typeof v['released'] === 'boolean' && (v['leaseDuration'] === undefined || (typeof v['leaseDuration'] === 'number' && v['leaseDuration'] > 0));
}

/**
 * Where the lease lives: a shared folder (`LeaseFile`) or a database (`PostgresLease`). `claim`
 * must succeed for exactly one of several brokers claiming one generation.
 */
export interface LeaseStore {
  /** Where the lease is, for logs and errors: a folder, a database. */
  readonly where: string;
  read(): Promise<LeaseRecord | undefined>;
  write(record: LeaseRecord): Promise<void>;
  /**
   * Writes its holder's renewed record in one step only if the lease is still that holder's at its
   * generation and no later generation was claimed: false, writing nothing, when it is not. A store
   * without it is renewed by a read, a check and a write.
   */
  renew?(record: LeaseRecord): Promise<boolean>;
  claim(generation: number, holder: string): Promise<boolean>;
  /** The highest generation claimed so far, 0 when none was: a lease record that went missing does not take the count back. */
  lastClaim(): Promise<number>;
  /**
   * Failback: a backup with `ha.failback: true` asks the holder to hand the lease over to `holder`
   * (kept apart from the lease record, which only its holder writes); `undefined` withdraws it.
   */
  requestHandback(holder: string | undefined): Promise<void>;
  /** The broker that asked for the lease, if one did. */
  handbackRequest(): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * Reads and writes the lease on the shared folder, every write synced: a new version goes to a
 * file of its own, is fsynced, renamed over the lease (atomic on a local file system and on NFS),
 * and the folder is fsynced, so a reader sees the old record or the new one, never half of one.
 */
export class LeaseFile implements LeaseStore {
  constructor(private readonly folder: string) {}

  get where(): string {
    return this.folder;
  }

  async close(): Promise<void> {}

  get path(): string {
    return join(this.folder, LEASE_FILE);
  }

  /** The current record; undefined when no broker ever held the folder. */
  async read(): Promise<LeaseRecord | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed: unknown = JSON.parse(text);
    if (!isLeaseRecord(parsed)) throw new Error(`${this.path} is not a lease record`);
    return parsed;
  }

  async write(record: LeaseRecord): Promise<void> {
    const temporary = join(this.folder, `${LEASE_FILE}.${record.holder.replaceAll('/', '_')}.tmp`);
    const file = await fs.open(temporary, 'w');
    try {
      await file.writeFile(JSON.stringify(record));
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(temporary, this.path);
    await this.syncFolder();
  }

  /**
   * Claims `generation` for this broker: creating the claim file exclusively succeeds for exactly
   * one of the brokers racing to take over (O_EXCL is atomic on local file systems and NFSv3+).
   */
  async claim(generation: number, holder: string): Promise<boolean> {
    try {
      const file = await fs.open(join(this.folder, `${CLAIM_PREFIX}${generation}`), constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
      try {
        await file.writeFile(holder);
        await file.sync();
      } finally {
        await file.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    // claims of generations before the previous one can no longer be raced for
    await fs.rm(join(this.folder, `${CLAIM_PREFIX}${generation - 2}`), { force: true });
    return true;
  }

  async lastClaim(): Promise<number> {
    let highest = 0;
    for (const name of await fs.readdir(this.folder)) {
      if (!name.startsWith(CLAIM_PREFIX)) continue;
      const generation = Number(name.slice(CLAIM_PREFIX.length));
      if (Number.isSafeInteger(generation) && generation > highest) highest = generation;
    }
    return highest;
  }

  async requestHandback(holder: string | undefined): Promise<void> {
    const path = join(this.folder, HANDBACK_FILE);
    if (holder === undefined) {
      await fs.rm(path, { force: true });
      return;
    }
    const temporary = `${path}.${holder.replaceAll('/', '_')}.tmp`;
    await fs.writeFile(temporary, holder);
    await fs.rename(temporary, path);
    await this.syncFolder();
  }

  async handbackRequest(): Promise<string | undefined> {
    try {
      const holder = (await fs.readFile(join(this.folder, HANDBACK_FILE), 'utf8')).trim();
      return holder === '' ? undefined : holder;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async syncFolder(): Promise<void> {
    const dir = await fs.open(this.folder, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
