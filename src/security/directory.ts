/**
 * Where users and their groups come from: the users file, LDAP. The authenticator asks each
 * directory configured, in order, and takes the first that knows the user.
 */

export interface DirectoryUser {
  readonly name: string;
  readonly groups: readonly string[];
}

/** What SCRAM-SHA-256 needs of a user ([RFC 5802] 3): never the password itself. */
export interface ScramCredentials {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export interface UserDirectory {
  /** For logs and errors: `users file /etc/ferry/users.yaml`, `LDAP ldap://...`. */
  readonly description: string;
  /**
   * True when `verify` asks a server over the network (LDAP) rather than hashing the password on
   * this machine (the users file): its wait is no work of this machine's, so it takes none of the
   * authenticator's few hashing turns, and the directory bounds its own connections instead.
   */
  readonly remote?: boolean;
  /**
   * Checks a password. Resolves to the user, or to undefined when this directory does not know the
   * name (the next directory is asked), or to `'wrong-password'` when it knows the name and the
   * password is wrong. Rejects only when the directory cannot answer (LDAP unreachable).
   */
  verify(username: string, password: string): Promise<DirectoryUser | 'wrong-password' | undefined>;
  /** A user named without a password (a client certificate's mapped name, the anonymous user). */
  lookup(username: string): Promise<DirectoryUser | undefined>;
  /** SCRAM keys for a user, for directories that keep them (the users file); undefined otherwise. */
  scramCredentials?(username: string): ScramCredentials | undefined;
  /** The user a management API token belongs to (the users file keeps tokens' hashes). */
  tokenUser?(token: string): DirectoryUser | undefined;
  /**
   * Goes up whenever the users, their passwords or groups may have changed (the users file read
   * again), so that what was verified before is checked anew; absent where Ferry cannot see changes (LDAP).
   */
  readonly generation?: number;
  /** Stops watching files or holding connections. */
  close?(): void;
}
