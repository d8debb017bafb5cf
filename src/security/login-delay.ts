import { CONCURRENT_HASHES, ConcurrencyLimit } from './concurrency-limit.js';

/**
 * Slows password guessing from one address: at most a few logins from an address are checked at
 * once, the others queue in order and take their turn only once an earlier one's outcome is known;
 * after a failed login, the next ones from that address wait, the wait doubling with each further
 * failure up to a limit. A success clears the failures of its own user name only, and a long quiet
 * spell all of them. Other addresses never wait for it.
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

/** A login's place among those of its address being checked: ended once, whatever the outcome. */
export interface LoginTurn {
  end(): void;
}

interface AddressState {
  /**
   * Logins from the address being checked. Without it, every guess that arrived before the first
   * failure was recorded would be checked at once, none of them waiting.
   */
  readonly checking: ConcurrencyLimit;
  /**
   * Failures by the user name they guessed at, the latest last. A success clears its own name's
   * only: one by any user would let an attacker holding an account (or behind the same proxy as a
   * user) guess another's password at full speed by logging in as itself between guesses.
   */
  readonly byName: Map<string, number>;
  /** Failures that named no user, or whose name was forgotten to bound `byName`: no success clears them. */
  unnamed: number;
  count: number;
  last: number;
  /** ms between two logins from the address being checked, after its latest failure. */
  delay: number;
  /** No login from the address is checked before this time: the next free turn. */
  until: number;
}

/** Addresses remembered at most: an attacker with many addresses cannot grow the map without bound. */
const MAX_ADDRESSES = 100_000;
/** User names remembered per address at most; an address guessing at more names keeps their failures unnamed. */
const MAX_NAMES_PER_ADDRESS = 100;

export class LoginDelay {
  private readonly addresses = new Map<string, AddressState>();
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: LoginDelayOptions) {
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
  }

  /**
   * Resolves when a login from `address` may be checked. The caller records its outcome
   * (`failed`, `succeeded`, or neither when nothing was judged) before it ends the turn, so the
   * logins queued behind it wait for that outcome's delay.
   */
  async turn(address: string): Promise<LoginTurn> {
    const state = this.stateOf(address);
    await state.checking.turn();
    let ended = false;
    const turn: LoginTurn = {
      end: () => {
        if (ended) return;
        ended = true;
        state.checking.release();
        this.forgetIfIdle(address, state);
      },
    };
    try {
      await this.waitForDelay(state);
    } catch (err) {
      turn.end();
      throw err;
    }
    return turn;
  }

  /** The ms the next login from `address` will wait (0: none), for logs and tests. */
  delayOf(address: string): number {
    const state = this.addresses.get(address);
    return state === undefined || state.count === 0 ? 0 : Math.max(0, state.until - this.clock());
  }

  /** A login from `address` failed; `username` is the name whose password it guessed, if any. */
  failed(address: string, username?: string): void {
    const now = this.clock();
    const state = this.stateOf(address);
    this.forgetIfQuiet(state, now);
    if (username === undefined || username === '') state.unnamed++;
    else {
      const before = state.byName.get(username) ?? 0;
      state.byName.delete(username);
      state.byName.set(username, before + 1);
      if (state.byName.size > MAX_NAMES_PER_ADDRESS) {
        // a Map iterates in insertion order: the first name is the one that failed longest ago
        const [oldest, failures] = state.byName.entries().next().value!;
        state.byName.delete(oldest);
        state.unnamed += failures;
      }
    }
    state.count++;
    state.last = now;
    state.delay = this.delayAfter(state.count);
    // turns already given to waiting logins stay theirs; the next one is at least a delay away
    state.until = Math.max(state.until, now + state.delay);
  }

  /** A login from `address` proved it is `username`: that name's failures there are forgotten, no other's. */
  succeeded(address: string, username: string | undefined): void {
    const state = this.addresses.get(address);
    if (state === undefined || username === undefined) return;
    const now = this.clock();
    this.forgetIfQuiet(state, now);
    const failures = state.byName.get(username);
    if (failures !== undefined) {
      state.byName.delete(username);
      state.count -= failures;
      if (state.count === 0) this.clearFailures(state, now);
      else {
        state.delay = this.delayAfter(state.count);
        state.until = Math.min(state.until, now + state.delay);
      }
    }
    this.forgetIfIdle(address, state);
  }

  private delayAfter(failures: number): number {
    return Math.min(this.options.max, this.options.initial * 2 ** Math.min(failures - 1, 30));
  }

  private async waitForDelay(state: AddressState): Promise<void> {
    const now = this.clock();
    this.forgetIfQuiet(state, now);
    if (state.count === 0) return;
    // logins from the address take turns a delay apart: guesses sent side by side are checked
    // one by one, not all at once when a shared wait ends
    const turn = Math.max(state.until, now);
    state.until = turn + state.delay;
    if (turn > now) await this.sleep(turn - now);
  }

  private stateOf(address: string): AddressState {
    let state = this.addresses.get(address);
    if (state === undefined) {
      if (this.addresses.size >= MAX_ADDRESSES) this.forgetOldest();
      const now = this.clock();
      state = { checking: new ConcurrencyLimit(CONCURRENT_HASHES), byName: new Map(), unnamed: 0, count: 0, last: now, delay: 0, until: now };
      this.addresses.set(address, state);
    }
    return state;
  }

  private forgetIfQuiet(state: AddressState, now: number): void {
    if (state.count > 0 && now - state.last > this.options.forgetAfter) this.clearFailures(state, now);
  }

  private clearFailures(state: AddressState, now: number): void {
    state.byName.clear();
    state.unnamed = 0;
    state.count = 0;
    state.delay = 0;
    state.until = now;
  }

  private forgetIfIdle(address: string, state: AddressState): void {
    this.forgetIfQuiet(state, this.clock());
    if (state.count === 0 && state.checking.idle && this.addresses.get(address) === state) this.addresses.delete(address);
  }

  private forgetOldest(): void {
    // a Map iterates in insertion order: the first entries are the oldest addresses. One with a
    // login being checked stays: its queue lives here, and there are no more of those than
    // connections being opened.
    let n = MAX_ADDRESSES / 10;
    for (const [address, state] of this.addresses) {
      if (!state.checking.idle) continue;
      this.addresses.delete(address);
      if (--n <= 0) break;
    }
  }
}
