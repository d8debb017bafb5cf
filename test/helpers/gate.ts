import { FerryError } from '../../src/errors.js';
import type { Authenticator, ConnectRequest, Principal } from '../../src/core/index.js';

/**
 * An authenticator the test decides for: each connect waits until the test lets it through or
 * refuses it, so what a session does while the broker decides can be seen.
 */
export class GateAuthenticator implements Authenticator {
  readonly requests: ConnectRequest[] = [];
  private readonly pending: { resolve: (p: Principal) => void; reject: (e: unknown) => void }[] = [];
  private waiter: (() => void) | undefined;

  authenticate(request: ConnectRequest): Promise<Principal> {
    this.requests.push(request);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.waiter?.();
    });
  }

  /** Resolves once a connect is waiting for a decision. */
  async asked(): Promise<void> {
    while (this.pending.length === 0) await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  allow(): void {
    this.pending.shift()!.resolve({ username: this.requests.at(-1)?.credentials?.username, groups: [], internal: false });
  }

  refuse(): void {
    this.pending.shift()!.reject(new FerryError('FERRY_AUTHENTICATION_FAILED', 'unknown user or wrong password'));
  }
}
