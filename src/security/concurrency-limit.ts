/**
 * How many password hashes are checked at once: each scrypt takes a thread of libuv's pool, which
 * the journal's file writes share. It is also how many logins from one address are checked at once
 * (`LoginDelay`), so an application opening many connections from one address loses nothing by it.
 */
export const CONCURRENT_HASHES = 2;

/** A caller that waited longer for its turn than it was willing to. */
export class TurnTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no turn within ${ms} ms`);
    this.name = 'TurnTimeout';
  }
}

/** Runs at most `limit` pieces of work at once; the others wait their turn, first come first served. */
export class ConcurrencyLimit {
  private running = 0;
  private readonly queued: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /**
   * Runs `work` in its turn. With `waitAtMost`, a caller still waiting that many ms later leaves the
   * line and rejects with `TurnTimeout`, without having run.
   */
  async run<T>(work: () => Promise<T>, waitAtMost?: number): Promise<T> {
    await (waitAtMost === undefined ? this.turn() : this.turnWithin(waitAtMost));
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** True while nothing runs or waits. */
  get idle(): boolean {
    return this.running === 0;
  }

  /** Resolves when the caller may run; it must `release()` once, whatever happens. */
  turn(): Promise<void> {
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queued.push(resolve));
  }

  private turnWithin(ms: number): Promise<void> {
    if (this.running < this.limit) return this.turn();
    return new Promise((resolve, reject) => {
      const granted = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const at = this.queued.indexOf(granted);
        if (at >= 0) this.queued.splice(at, 1);
        reject(new TurnTimeout(ms));
      }, ms);
      this.queued.push(granted);
    });
  }

  release(): void {
    const next = this.queued.shift();
    // the turn passes straight to the next in line, so `running` never dips below what runs
    if (next !== undefined) next();
    else this.running--;
  }
}
