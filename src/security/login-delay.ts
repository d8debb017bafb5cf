/**
 * Slows password guessing from one address: after a failed login, the next ones from that address
 * wait, the wait doubling with each further failure up to a limit, and a success or a long quiet
 * spell starts the address afresh. Other addresses never wait for it.
 */
export interface LoginDelayOptions {
  /** ms the first wait lasts. */
  readonly initial: number;
  readonly max: number;
  /** ms after its last failure at which an address is forgotten. */
  readonly forgetAfter: number;
  readonly clock?: () => number;
  /** Waits `ms`; tests give a timer they drive. */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface Failures {
  count: number;
  last: number;
  /** ms between two logins from the address being checked, after its latest failure. */
  delay: number;
  /** No login from the address is checked before this time: the next free turn. */
  until: number;
}

/** Addresses remembered at most: an attacker with many addresses cannot grow the map without bound. */
const MAX_ADDRESSES = 100_000;

export class LoginDelay {
  private readonly failures = new Map<string, Failures>();
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: LoginDelayOptions) {
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
  }

  /** Resolves when a login from `address` may be checked. */
  async wait(address: string): Promise<void> {
    const entry = this.failures.get(address);
    if (entry === undefined) return;
    const now = this.clock();
    if (now - entry.last > this.options.forgetAfter) {
      this.failures.delete(address);
      return;
    }
    // logins from the address take turns a delay apart: guesses sent side by side are checked
    // one by one, not all at once when a shared wait ends
    const turn = Math.max(entry.until, now);
    entry.until = turn + entry.delay;
    if (turn > now) await this.sleep(turn - now);
  }

  /** The ms the next login from `address` will wait (0: none), for logs and tests. */
  delayOf(address: string): number {
    const entry = this.failures.get(address);
    return entry === undefined ? 0 : Math.max(0, entry.until - this.clock());
  }

  failed(address: string): void {
    const now = this.clock();
    let entry = this.failures.get(address);
    if (entry === undefined || now - entry.last > this.options.forgetAfter) {
      if (this.failures.size >= MAX_ADDRESSES) this.forgetOldest();
      entry = { count: 0, last: now, delay: 0, until: now };
      this.failures.set(address, entry);
    }
    entry.count++;
    entry.last = now;
    entry.delay = Math.min(this.options.max, this.options.initial * 2 ** Math.min(entry.count - 1, 30));
    // turns already given to waiting logins stay theirs; the next one is at least a delay away
    entry.until = Math.max(entry.until, now + entry.delay);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private forgetOldest(): void {
    // a Map iterates in insertion order: the first entries are the oldest addresses
    let n = MAX_ADDRESSES / 10;
    for (const address of this.failures.keys()) {
      this.failures.delete(address);
      if (--n <= 0) break;
    }
  }
}
