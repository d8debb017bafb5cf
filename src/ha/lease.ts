import { hostname } from 'node:os';
import { FerryError } from '../errors.js';
import type { Logger } from '../core/index.js';
import { processAlive } from '../store/index.js';
import { newHolderId, processSpace, type LeaseRecord, type LeaseStore } from './lease-file.js';

export interface HaLeaseOptions {
  /** Where the lease is kept: the shared data folder, or the shared database. */
  readonly store: LeaseStore;
  /** How long a lease lasts without renewal (ms); renewed every third of it. */
  readonly leaseDuration: number;
  readonly logger: Logger;
  /** Monotonic milliseconds; tests pass their own. */
  readonly clock?: () => number;
  readonly holder?: string;
}

export type HaRole = 'backup' | 'primary' | 'fenced' | 'stopped';

/**
 * The part of a lease duration a holder may still write in after the start of its last successful
 * renewal. A backup takes over only after seeing no renewal for a whole duration by its own clock,
 * counted from when it saw the last one, which is after that renewal started; the rest is margin for
 * clocks that run at slightly different rates and for the write already under way.
 */
const SAFE_SHARE = 0.8;

function abortable(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(new FerryError('FERRY_BROKER_STOPPING', 'stopped while waiting as a backup'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new FerryError('FERRY_BROKER_STOPPING', 'stopped while waiting as a backup'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Primary and backup on one shared data folder or database. `acquire` waits as a backup until the lease is free
 * (never held, released by a clean stop, held by a dead process of this machine's boot and pid
 * namespace, or not renewed for a whole lease duration) and takes it; `startRenewing` keeps it; `guard` is called before every write
 * to the store and refuses once this broker can no longer be sure it holds the lease (it was paused,
 * or cut off from the folder or database), so two brokers never write to one store.
 */
export class HaLease {
  readonly holder: string;
  private readonly file: LeaseStore;
  private readonly clock: () => number;
  private roleNow: HaRole = 'backup';
  private generation = 0;
  private counter = 0;
  /** Monotonic time the last successful write of our lease began. */
  private renewStartedAt = Number.NEGATIVE_INFINITY;
  private renewTimer: NodeJS.Timeout | undefined;
  private lostReason: string | undefined;
  private readonly space = processSpace();

  constructor(private readonly options: HaLeaseOptions) {
    this.holder = options.holder ?? newHolderId();
    this.file = options.store;
    this.clock = options.clock ?? (() => performance.now());
  }

  get role(): HaRole {
    return this.roleNow;
  }

  /** Why the lease was lost, once it was. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /** How often a backup reads the lease. */
  private get pollInterval(): number {
    return Math.max(50, Math.floor(this.options.leaseDuration / 10));
  }

  /**
   * Waits as a backup until this broker holds the lease. `onWaiting` is called once with the holder
   * it waits for. Rejects with FERRY_BROKER_STOPPING when `signal` aborts.
   */
  async acquire(signal?: AbortSignal, onWaiting?: (holder: LeaseRecord) => void): Promise<void> {
    let seen: string | undefined;
    let seenAt = this.clock();
    let announced = false;
    for (;;) {
      const record = await this.file.read();
      const now = this.clock();
      let free: string | undefined;
      if (record === undefined) free = 'no broker has held the lease';
      else if (record.released) free = `${record.holder} released it`;
      else if (record.processSpace === this.space && !this.space.includes('unknown') && record.pid !== process.pid && !processAlive(record.pid)) {
        free = `its holder ${record.holder} is no longer running`;
      }
      else {
        const version = `${record.generation}/${record.counter}`;
        if (version !== seen) {
          seen = version;
          seenAt = now;
        } else if (now - seenAt >= this.options.leaseDuration) {
          free = `${record.holder} has not renewed it for ${Math.round(now - seenAt)} ms`;
        }
      }
      if (free !== undefined) {
        const generation = (record?.generation ?? 0) + 1;
        if (await this.take(generation, free)) return;
        // another backup won the race: watch the new holder from now
        seen = undefined;
      } else if (!announced && record !== undefined) {
        announced = true;
        this.options.logger.info({ event: 'ha.backup', holder: record.holder, generation: record.generation }, `backup: the lease on ${this.file.where} is held by ${record.holder}; waiting`);
        onWaiting?.(record);
      }
      await abortable(this.pollInterval, signal);
    }
  }

  private async take(generation: number, why: string): Promise<boolean> {
    if (!(await this.file.claim(generation, this.holder))) return false;
    this.generation = generation;
    this.counter = 0;
    const started = this.clock();
    await this.file.write(this.record(false));
    this.renewStartedAt = started;
    this.roleNow = 'primary';
    this.options.logger.info({ event: 'ha.primary', holder: this.holder, generation, reason: why }, `primary: took the lease (generation ${generation}): ${why}`);
    return true;
  }

  private record(released: boolean): LeaseRecord {
    return { holder: this.holder, host: hostname(), processSpace: this.space, pid: process.pid, generation: this.generation, counter: this.counter, released, renewedAt: new Date().toISOString() };
  }

  /** Throws FERRY_HA_FENCED unless this broker surely still holds the lease. */
  guard(): void {
    if (this.roleNow !== 'primary') throw new FerryError('FERRY_HA_FENCED', `this broker does not hold the lease on ${this.file.where} (${this.lostReason ?? this.roleNow}); it writes nothing there`);
    if (this.clock() >= this.renewStartedAt + this.options.leaseDuration * SAFE_SHARE) {
      this.fence(`the lease was last renewed ${Math.round(this.clock() - this.renewStartedAt)} ms ago, too long to be sure no backup has taken it`);
      throw new FerryError('FERRY_HA_FENCED', `this broker lost the lease on ${this.file.where}: ${this.lostReason!}`);
    }
  }

  /** Renews the lease every third of its duration; `onLost` is called once if it is lost. */
  startRenewing(onLost: (reason: string) => void): void {
    const period = Math.max(10, Math.floor(this.options.leaseDuration / 3));
    const tick = async (): Promise<void> => {
      if (this.roleNow !== 'primary') return;
      const started = this.clock();
      try {
        // a broker that was paused past its lease learns it here, before anything else it writes
        this.guard();
        const record = await this.file.read();
        if (record === undefined || record.holder !== this.holder || record.generation !== this.generation) {
          this.fence(`the lease was taken by ${record?.holder ?? 'nobody (the lease file is gone)'}`);
        } else {
          this.counter++;
          await this.file.write(this.record(false));
          if (this.roleNow === 'primary') this.renewStartedAt = started;
        }
      } catch (err) {
        if (this.roleNow === 'primary') this.options.logger.warn({ event: 'ha.renew-failed', err }, 'could not renew the lease');
      }
      if (this.roleNow !== 'primary') {
        onLost(this.lostReason ?? 'lease lost');
        return;
      }
      this.renewTimer = setTimeout(() => void tick(), period);
    };
    this.renewTimer = setTimeout(() => void tick(), period);
  }

  private fence(reason: string): void {
    if (this.roleNow !== 'primary') return;
    this.roleNow = 'fenced';
    this.lostReason = reason;
    this.options.logger.error({ event: 'ha.fenced', holder: this.holder, reason }, `lost the lease: ${reason}; this broker stops and writes nothing more`);
  }

  /** On a clean stop: gives the lease up so that a backup takes over at once. */
  async release(): Promise<void> {
    clearTimeout(this.renewTimer);
    if (this.roleNow !== 'primary') {
      this.roleNow = this.roleNow === 'fenced' ? 'fenced' : 'stopped';
      await this.file.close().catch(() => undefined);
      return;
    }
    try {
      this.guard();
      await this.file.write(this.record(true));
      this.options.logger.info({ event: 'ha.released', holder: this.holder }, 'released the lease');
    } catch (err) {
      this.options.logger.warn({ event: 'ha.release-failed', err }, 'could not release the lease; a backup takes over when it expires');
    }
    this.roleNow = 'stopped';
    await this.file.close().catch(() => undefined);
  }
}
