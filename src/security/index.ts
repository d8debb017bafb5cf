import type { FerryConfig } from '../config/index.js';
import type { Authenticator, Authorizer, Logger, Principal } from '../core/index.js';
import { FerryError } from '../errors.js';
import { SecurityAuthenticator } from './authenticator.js';
import { DestinationAuthorizer } from './authorization.js';
import type { UserDirectory } from './directory.js';
import { LdapDirectory } from './ldap-directory.js';
import { LoginDelay } from './login-delay.js';
import { scramExchange } from './scram.js';
import { UsersFileDirectory } from './users-file.js';

export { SecurityAuthenticator, isLoopback } from './authenticator.js';
export { DestinationAuthorizer } from './authorization.js';

/** What the broker needs to close the connections of a user removed from the users file. */
export interface ConnectionCloser {
  closeConnections(pick: (principal: Principal) => boolean, reason: FerryError): number;
}

export interface Security {
  readonly authenticator: SecurityAuthenticator;
  /** Undefined without `security.authorization`: every authenticated client may do everything. */
  readonly authorizer: Authorizer | undefined;
  /** The broker whose connections a removed user loses. */
  attach(broker: ConnectionCloser): void;
  close(): void;
}

/**
 * Security as the configuration describes it: the users file and LDAP as directories, the
 * authenticator over them, the authorizer of the authorization entries. Logs once, at start, when
 * the broker lets clients in without users.
 */
export function buildSecurity(config: FerryConfig['security'], logger: Logger): Security {
  let broker: ConnectionCloser | undefined;
  const directories: UserDirectory[] = [];
  if (config.anonymous !== undefined && config.users === undefined && config.ldap === undefined) {
    throw new FerryError('FERRY_CONFIG_INVALID', 'security.anonymous: names a user, but no users are configured (security.users or security.ldap)');
  }
  if (config.users !== undefined) {
    const usersFile = new UsersFileDirectory(config.users, logger, {
        onRemoved: (names) => {
          const removed = new Set(names);
          const closed = broker?.closeConnections(
            (p) => p.username !== undefined && removed.has(p.username),
            new FerryError('FERRY_AUTHENTICATION_FAILED', 'the user was removed from the users file'),
          );
          logger.info({ event: 'security.users-removed', users: names, connectionsClosed: closed ?? 0 }, `users removed: ${names.join(', ')}`);
        },
      });
    directories.push(usersFile);
    if (config.anonymous !== undefined && config.ldap === undefined && !usersFile.knows(config.anonymous)) {
      usersFile.close();
      throw new FerryError('FERRY_CONFIG_INVALID', `security.anonymous: "${config.anonymous}" is not a user of ${config.users}`);
    }
    logger.info({ event: 'security.users-loaded', path: config.users, users: usersFile.size }, `${usersFile.size} users from ${config.users}`);
  }
  if (config.ldap !== undefined) {
    try {
      directories.push(new LdapDirectory(config.ldap, logger));
    } catch (err) {
      for (const directory of directories) directory.close?.();
      throw err;
    }
  }
  const authenticator = new SecurityAuthenticator({
    directories,
    anonymousUser: config.anonymous,
    certificateRules: config.certificateUsers,
    loginDelay: new LoginDelay(config.failedLoginDelay),
    scram: scramExchange,
    logger,
  });
  if (directories.length === 0) {
    logger.warn(
      { event: 'security.no-users' },
      'no users are configured: only loopback clients (127.0.0.0/8, ::1) are accepted, with every right; set security.users to let other clients log in (docs/security.md)',
    );
  }
  const authorizer = config.authorization === undefined ? undefined : new DestinationAuthorizer(config.authorization);
  return {
    authenticator,
    authorizer,
    attach(b) {
      broker = b;
    },
    close() {
      for (const directory of directories) directory.close?.();
    },
  };
}

export type { Authenticator };
