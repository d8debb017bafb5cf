import type { DuplicateDetector } from './duplicates.js';

/** Ids kept in the store under a scope until forgotten (see `CoreConnection.rememberSessionId`). */
export interface IdKeeper {
  holds(scope: string, id: string): boolean;
  remember(scope: string, id: string): void;
  ids(scope: string): string[];
  forget(scope: string, id: string): boolean;
  forgetAll(scope: string): void;
  /** The scopes holding ids that start with `prefix`. */
  scopesStartingWith(prefix: string): string[];
}

/**
 * Ids a client names (producer and session ids) kept in the duplicate detector, each kind under
 * scopes of its own, so they survive a restart as the detector's ids do.
 */
export function idKeeperOn(detector: () => DuplicateDetector, scopeOf: (scope: string) => string): IdKeeper {
  return {
    holds: (scope, id) => detector().isDuplicate(scopeOf(scope), id),
    remember: (scope, id) => detector().remember(scopeOf(scope), id, Number.POSITIVE_INFINITY, true),
    ids: (scope) => detector().idsOf(scopeOf(scope)),
    forget: (scope, id) => detector().forget(scopeOf(scope), id),
    forgetAll: (scope) => detector().forgetAll(scopeOf(scope)),
    scopesStartingWith: (prefix) => {
      // a scope is kept under its own name with a prefix of the keeper's in front
      const kept = scopeOf(prefix);
      return detector()
        .destinationsStartingWith(kept)
        .map((destination) => destination.slice(kept.length - prefix.length));
    },
  };
}
