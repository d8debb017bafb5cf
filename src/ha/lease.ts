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
  /** `ha.failback`: while waiting as a backup, ask the holder to hand the lease over. */
  readonly failback?: boolean;
}

export type HaRole = 'backup' | 'primary' | 'fenced' | 'stopped';

/**
 * The part of a lease duration a holder may still write in after the start of its last successful
 * renewal. A backup takes over only after seeing no renewal for a whole duration by its own clock,
 * counted from when it saw the last one, which is after that renewal started; the rest is margin for
 * clocks that run at slightly different rates and for the write already under way.
 */
const SAFE_SHARE = 0.8;

/** The longest a backup waits before it tries again to read or take a lease it could not. */
const MAX_RETRY_INTERVAL = 1000;

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
  /** The renewal under way, which a release waits for so that it cannot overwrite the released record. */
  private renewing: Promise<void> | undefined;
  private releasing = false;
  private lostReason: string | undefined;
  /** What `startRenewing` was given, called once when the lease is lost, whatever finds it lost. */
  private onLost: ((reason: string) => void) | undefined;
  private lostReported = false;
  private readonly space = processSpace();

  constructor(private readonly options: HaLeaseOptions) {
    this.holder = options.holder ?? newHolderId();
    this.file = options.store;
    this.clock = options.clock ?? (() => performance.now());
  }

  get role(): HaRole {
    return this.roleNow;
  }

  /**
   * While primary, how long ago (ms, by this broker's clock) its last successful renewal began: the
   * broker fences itself once this reaches 80 % of the lease duration, so an operator can alert on
   * it climbing before that.
   */
  get renewedAgo(): number | undefined {
    return this.roleNow === 'primary' ? Math.max(0, this.clock() - this.renewStartedAt) : undefined;
  }

  /** Why the lease was lost, once it was. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /**
   * How often a backup reads the lease: a tenth of its duration, at most 100 ms. A holder that died
   * on this machine is seen at the next read, so this is most of a takeover there; reading a small
   * file ten times a second costs nothing, and how often it is read does not change when a backup
   * may take an unrenewed lease (a whole duration after it saw the last change).
   */
  private get pollInterval(): number {
    return Math.max(50, Math.min(100, Math.floor(this.options.leaseDuration / 10)));
  }

  /**
   * Waits as a backup until this broker holds the lease. `onWaiting` is called with the holder it
   * waits for (undefined while the lease is missing or a newer generation's claim has no lease yet),
   * and again whenever that changes. `onOverdue` hears true when the holder has missed a renewal by a tenth of the
   * duration (it may be dead: the backup can get ready meanwhile), and false if it renews after all.
   * Rejects with FERRY_BROKER_STOPPING when `signal` aborts.
   */
  async acquire(signal?: AbortSignal, onWaiting?: (holder: LeaseRecord | undefined) => void, onOverdue?: (overdue: boolean) => void): Promise<void> {
    let seen: string | undefined;
    let seenAt = this.clock();
    let announced: string | undefined;
    let asked = false;
    let overdue = false;
    let differs: number | undefined;
    // the last record read: a lease gone missing is waited out by its holder's duration
    let last: LeaseRecord | undefined;
    let failures = 0;
    try {
      for (;;) {
        try {
          const record = await this.file.read();
          // read after the record: a claim made meanwhile is newer than it, and makes this broker wait
          const claimed = await this.file.lastClaim();
          last = record ?? last;
          const now = this.clock();
          const state = `${record?.generation ?? '-'}/${record?.counter ?? '-'}/${claimed}`;
          const free = this.freeBecause(record, claimed, last, now, state === seen ? now - seenAt : 0);
          if (state !== seen) {
            seen = state;
            seenAt = now;
          }
          const duration = this.holderDuration(last);
          if (record?.leaseDuration !== undefined && record.leaseDuration !== this.options.leaseDuration && record.leaseDuration !== differs && !record.released) {
            differs = record.leaseDuration;
            this.options.logger.warn(
              { event: 'ha.lease-duration-differs', holder: record.holder, holderLeaseDuration: record.leaseDuration, leaseDuration: this.options.leaseDuration },
              `the lease holder ${record.holder} runs with ha.leaseDuration ${record.leaseDuration} ms and this broker with ${this.options.leaseDuration} ms; it waits ${duration} ms for an unrenewed lease (set the same on every broker)`,
            );
          }
          const late = record !== undefined && !record.released && now - seenAt >= duration / 3 + duration / 10;
          // a lease about to be taken keeps what was read ahead for it
          if (free === undefined && late !== overdue) {
            overdue = late;
            this.options.logger.info({ event: late ? 'ha.holder-overdue' : 'ha.holder-renewed', holder: record?.holder, sinceMs: Math.round(now - seenAt) }, late ? 'the lease holder missed a renewal; reading the store ahead in case it is gone' : 'the lease holder renewed after all');
            onOverdue?.(late);
          }
          if (free !== undefined) {
            // never below a claim: generations only go forward, whatever happened to the lease
            const generation = Math.max(record?.generation ?? 0, claimed) + 1;
            if (await this.take(generation, free)) {
              // the request is answered; left behind, it would send the lease back to us later
              if (asked) await this.file.requestHandback(undefined).catch(() => undefined);
              asked = false;
              return;
            }
            // another backup won the race: watch the new holder from now
            seen = undefined;
          } else {
            const current = record === undefined || claimed > record.generation ? undefined : record;
            // a lease just handed to another broker is as good as that broker's
            const holder = current === undefined ? undefined : current.released && current.handbackTo !== undefined ? current.handbackTo : current.holder;
            if ((holder ?? `generation ${claimed}`) !== announced) {
              announced = holder ?? `generation ${claimed}`;
              const text =
                holder !== undefined
                  ? `backup: the lease on ${this.file.where} is held by ${holder}; waiting`
                  : record === undefined
                    ? `backup: the lease on ${this.file.where} is missing, though generation ${claimed} was claimed; waiting ${duration} ms for its holder to find it gone and stop`
                    : `backup: generation ${claimed} of the lease on ${this.file.where} was claimed and its lease not yet written; waiting`;
              this.options.logger.info({ event: 'ha.backup', holder, generation: current?.generation ?? claimed }, text);
              onWaiting?.(current);
            }
            if (this.options.failback === true && record !== undefined && !record.released && record.holder !== this.holder && (await this.file.handbackRequest()) !== this.holder) {
              await this.file.requestHandback(this.holder);
              asked = true;
              this.options.logger.info({ event: 'ha.failback-requested', holder: record.holder }, `failback: asked ${record.holder} to hand the lease over`);
            }
          }
          failures = 0;
        } catch (err) {
          // the folder or database failing now is most likely what stopped the holder too: the backup
          // is needed once it is back, so it keeps trying, less often the longer it lasts
          failures++;
          const retryInMs = Math.min(MAX_RETRY_INTERVAL, this.pollInterval * 2 ** Math.min(failures, 10));
          this.options.logger.warn({ event: 'ha.acquire-failed', err, retryInMs }, `backup: could not read or take the lease on ${this.file.where}; trying again in ${retryInMs} ms`);
          await abortable(retryInMs, signal);
          continue;
        }
        await abortable(this.pollInterval, signal);
      }
    } finally {
      if (asked) await this.file.requestHandback(undefined).catch(() => undefined);
    }
  }

  /**
   * Why the lease can be taken now, or undefined while its holder keeps it. `still` is how long the
   * record and the claims have stayed as they are by this broker's clock.
   */
  private freeBecause(record: LeaseRecord | undefined, claimed: number, last: LeaseRecord | undefined, now: number, still: number): string | undefined {
    if (record === undefined && claimed === 0) return 'no broker has held the lease';
    if (record === undefined || claimed > record.generation) {
      // a holder finds its lease gone (or a newer claim) at its next renewal and stops; a claimer
      // writes its lease at once, or not at all once most of a lease has passed
      if (still < this.holderDuration(last)) return undefined;
      return record === undefined
        ? `the lease has been missing for ${Math.round(still)} ms, though generation ${claimed} was claimed`
        : `generation ${claimed} was claimed ${Math.round(still)} ms ago and its lease never written`;
    }
    const unrenewed = still >= this.holderDuration(record);
    if (record.released) {
      // handed over to another broker: that one takes it, unless it does not within a lease duration
      if (record.handbackTo === undefined || record.handbackTo === this.holder) return `${record.holder} released it${record.handbackTo === undefined ? '' : ' to this broker'}`;
      return unrenewed ? `${record.holder} handed it to ${record.handbackTo}, which did not take it within ${Math.round(still)} ms` : undefined;
    }
    if (record.processSpace === this.space && !this.space.includes('unknown') && record.pid !== process.pid && !processAlive(record.pid)) {
      return `its holder ${record.holder} is no longer running`;
    }
    return unrenewed ? `${record.holder} has not renewed it for ${Math.round(still)} ms` : undefined;
  }

  /**
   * How long a lease may go unrenewed before a backup takes it: the holder fences itself by its own
   * duration, so a backup with a shorter one would take the lease from a holder still writing; a
   * longer one of its own only makes it wait longer. A record without the holder's is judged by ours.
   */
  private holderDuration(record: LeaseRecord | undefined): number {
    return Math.max(this.options.leaseDuration, record?.leaseDuration ?? 0);
  }

  private async take(generation: number, why: string): Promise<boolean> {
    const started = this.clock();
    if (!(await this.file.claim(generation, this.holder))) return false;
    // another backup takes a claim left without its lease for a whole lease duration: a lease written
    // that late could overwrite the newer holder's
    if (this.clock() >= started + this.options.leaseDuration * SAFE_SHARE) return false;
    this.generation = generation;
    this.counter = 0;
    await this.file.write(this.record(false));
    this.renewStartedAt = started;
    this.roleNow = 'primary';
    this.options.logger.info({ event: 'ha.primary', holder: this.holder, generation, reason: why }, `primary: took the lease (generation ${generation}): ${why}`);
    return true;
  }

  private record(released: boolean, handbackTo?: string): LeaseRecord {
    return {
      holder: this.holder,
      host: hostname(),
      processSpace: this.space,
      pid: process.pid,
      generation: this.generation,
      counter: this.counter,
      released,
      leaseDuration: this.options.leaseDuration,
      ...(handbackTo === undefined ? {} : { handbackTo }),
      renewedAt: new Date().toISOString(),
    };
  }

  /** Writes the renewed lease if it is still this broker's; fences it and answers false if not. */
  private async renewOnce(): Promise<boolean> {
    this.counter++;
    const lost = await this.writeIfHeld(this.record(false));
    if (lost === undefined) return true;
    this.fence(lost);
    return false;
  }

  /**
   * Writes `record` only if the lease is still this broker's at its generation and no later one was
   * claimed; otherwise writes nothing and says who has it. A renewal and a release alike may be held
   * up past the lease (a slow store, a paused process), and must not overwrite a newer holder's record.
   */
  private async writeIfHeld(record: LeaseRecord): Promise<string | undefined> {
    if (this.file.renew !== undefined) {
      if (await this.file.renew(record)) return undefined;
      const current = await this.file.read().catch(() => undefined);
      return `the lease was taken by ${current === undefined || current.holder === this.holder ? 'another broker (a later generation was claimed)' : current.holder}`;
    }
    const current = await this.file.read();
    if (current === undefined || current.holder !== this.holder || current.generation !== this.generation) return `the lease was taken by ${current?.holder ?? 'nobody (the lease file is gone)'}`;
    const claimed = await this.file.lastClaim();
    if (claimed > this.generation) return `generation ${claimed} was claimed by another broker`;
    await this.file.write(record);
    return undefined;
  }

  /** Throws FERRY_HA_FENCED unless this broker surely still holds the lease. */
  guard(): void {
    if (this.roleNow !== 'primary') throw new FerryError('FERRY_HA_FENCED', `this broker does not hold the lease on ${this.file.where} (${this.lostReason ?? this.roleNow}); it writes nothing there`);
    if (this.clock() >= this.renewStartedAt + this.options.leaseDuration * SAFE_SHARE) {
      this.fence(`the lease was last renewed ${Math.round(this.clock() - this.renewStartedAt)} ms ago, too long to be sure no backup has taken it`);
      throw new FerryError('FERRY_HA_FENCED', `this broker lost the lease on ${this.file.where}: ${this.lostReason!}`);
    }
  }

  /**
   * Renews the lease every third of its duration, and a renewal that failed every poll interval
   * until one succeeds or the lease is too old; `onLost` is called once if it is lost.
   * `onHandback` is called once when a backup with `ha.failback` asks for the lease: the holder
   * stops serving and calls `release(asker)`; renewal goes on meanwhile, so the lease stays safe
   * to write under while the last group commit finishes.
   */
  startRenewing(onLost: (reason: string) => void, onHandback?: (asker: string) => void): void {
    let handing = false;
    this.onLost = onLost;
    const period = Math.max(10, Math.floor(this.options.leaseDuration / 3));
    // a renewal that failed is tried again at once and often, not a third of the lease later: the
    // store (a database restarting, a folder remounted) may be back well before the lease is too old
    // to write under, and a primary that waits for its next regular renewal fences itself though no
    // backup could have taken its lease yet
    const retry = this.pollInterval;
    let failedSince: number | undefined;
    let failures = 0;
    const tick = async (): Promise<void> => {
      if (this.releasing) return;
      if (this.roleNow !== 'primary') return this.reportLost();
      const started = this.clock();
      let failed = false;
      try {
        // a broker that was paused past its lease learns it here, before anything else it writes
        this.guard();
        if (await this.renewOnce()) {
          if (this.roleNow === 'primary') this.renewStartedAt = started;
          if (failedSince !== undefined && this.roleNow === 'primary') {
            this.options.logger.info({ event: 'ha.renewed', failures, failingMs: Math.round(this.clock() - failedSince) }, `renewed the lease after ${failures} failed attempts`);
          }
          failedSince = undefined;
          failures = 0;
          const asker = onHandback === undefined || handing ? undefined : await this.file.handbackRequest();
          if (asker !== undefined && asker !== this.holder && this.roleNow === 'primary') {
            handing = true;
            this.options.logger.info({ event: 'ha.handback', to: asker }, `failback: ${asker} asked for the lease; handing it over`);
            onHandback!(asker);
          }
        }
      } catch (err) {
        failed = true;
        failures++;
        // logged once per outage: the retries that follow would say the same ten times a second
        if (this.roleNow === 'primary' && failedSince === undefined) {
          const fencesInMs = Math.max(0, Math.round(this.renewStartedAt + this.options.leaseDuration * SAFE_SHARE - this.clock()));
          this.options.logger.warn({ event: 'ha.renew-failed', err, retryInMs: retry, fencesInMs }, `could not renew the lease; trying again every ${retry} ms, and stopping in ${fencesInMs} ms unless one succeeds`);
        }
        failedSince ??= started;
      }
      if (this.roleNow !== 'primary') return this.reportLost();
      if (!this.releasing) this.renewTimer = setTimeout(run, failed ? retry : period);
    };
    const run = (): void => {
      this.renewing = tick().finally(() => (this.renewing = undefined));
    };
    this.renewTimer = setTimeout(run, period);
    this.renewEarly = (): Promise<void> => {
      if (this.renewing === undefined && !this.releasing && this.roleNow === 'primary') {
        clearTimeout(this.renewTimer);
        run();
      }
      return this.renewing ?? Promise.resolve();
    };
  }

  private renewEarly: (() => Promise<void>) | undefined;

  /**
   * Renews the lease now rather than at its next turn (or waits for the renewal under way): a
   * primary that took over renews before it serves, so that a start which took most of the lease
   * (a long recovery, a machine short of CPU) does not fence it at its first write.
   */
  renewNow(): Promise<void> {
    return this.renewEarly?.() ?? Promise.resolve();
  }

  private fence(reason: string): void {
    if (this.roleNow !== 'primary') return;
    this.roleNow = 'fenced';
    this.lostReason = reason;
    this.options.logger.error({ event: 'ha.fenced', holder: this.holder, reason }, `lost the lease: ${reason}; this broker stops and writes nothing more`);
    // a write that finds the lease too old fences between renewals: the broker stops serving now,
    // not at a renewal that would find it already fenced, and not inside the write that tripped it
    if (this.onLost !== undefined) setImmediate(() => this.reportLost());
  }

  private reportLost(): void {
    clearTimeout(this.renewTimer);
    // a clean stop or a handback under way ends the broker anyway
    if (this.lostReported || this.releasing || this.onLost === undefined) return;
    this.lostReported = true;
    this.onLost(this.lostReason ?? 'lease lost');
  }

  /** On a clean stop: gives the lease up so that a backup (`handbackTo`, when named) takes over at once. */
  async release(handbackTo?: string): Promise<void> {
    this.releasing = true;
    clearTimeout(this.renewTimer);
    await this.renewing;
    if (this.roleNow !== 'primary') {
      this.roleNow = this.roleNow === 'fenced' ? 'fenced' : 'stopped';
      await this.file.close().catch(() => undefined);
      return;
    }
    try {
      this.guard();
      this.counter++;
      const lost = await this.writeIfHeld(this.record(true, handbackTo));
      if (lost === undefined) this.options.logger.info({ event: 'ha.released', holder: this.holder, ...(handbackTo === undefined ? {} : { to: handbackTo }) }, 'released the lease');
      else this.options.logger.warn({ event: 'ha.release-skipped', holder: this.holder, reason: lost }, `did not release the lease: ${lost}`);
    } catch (err) {
      this.options.logger.warn({ event: 'ha.release-failed', err }, 'could not release the lease; a backup takes over when it expires');
    }
    this.roleNow = 'stopped';
    await this.file.close().catch(() => undefined);
  }
}
