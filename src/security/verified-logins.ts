import { createHmac, randomBytes } from 'node:crypto';
import type { Principal } from '../core/index.js';

/** ms a verified password is taken again without checking its hash. */
export const VERIFIED_LOGIN_MS = 60_000;
/** Verifications kept at most; past it the oldest is dropped. */
const MAX_KEPT = 1000;

interface Verified {
  readonly principal: Principal;
  readonly until: number;
}

/**
 * Passwords that passed their check lately, for the management API: the console and scripts send
 * Basic credentials with every request, and each check is one scrypt (about 90 ms of a core, on one
 * of the two slots protocol logins share), so an open console tab cost 5-7% of a core and slowed
 * everyone's logins. A success is kept for `VERIFIED_LOGIN_MS`, keyed by the user name and an HMAC
 * of the password under a key made at start, so the password is never held; a failure never is. The
 * whole is dropped when the directories' users change (`generation`): a new password, new groups or
 * a removed user apply from the next request.
 */
export class VerifiedLogins {
  private readonly key = randomBytes(32);
  private readonly kept = new Map<string, Verified>();
  private generation = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** The principal `username` proved with this password lately, while the users are as they were. */
  find(username: string, password: string | Buffer, generation: number): Principal | undefined {
    this.follow(generation);
    const key = this.keyOf(username, password);
    const verified = this.kept.get(key);
    if (verified === undefined) return undefined;
    if (verified.until > this.clock()) return verified.principal;
    this.kept.delete(key);
    return undefined;
  }

  /** Keeps a success; `generation` is the users' as they were when the check began. */
  keep(username: string, password: string | Buffer, generation: number, principal: Principal): void {
    this.follow(generation);
    if (generation !== this.generation) return;
    const key = this.keyOf(username, password);
    this.kept.delete(key);
    if (this.kept.size >= MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(key, { principal, until: this.clock() + VERIFIED_LOGIN_MS });
  }

  private follow(generation: number): void {
    if (generation <= this.generation) return;
    this.kept.clear();
    this.generation = generation;
  }

  private keyOf(username: string, password: string | Buffer): string {
    return `${username}\n${createHmac('sha256', this.key).update(password).digest('base64')}`;
  }
}
