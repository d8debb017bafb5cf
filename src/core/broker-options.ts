import type { Store } from '../store/index.js';
import type { Authenticator, Authorizer } from './access.js';
import type { CompositeDestination, VirtualTopicOptions } from './destinations.js';
import type { ClientLimitOptions } from './limits.js';
import type { Logger } from './logger.js';
import type { PolicyRule } from './policy.js';

/** What a broker is built with: its store, defaults, policies, security, logger and clock. */
export interface BrokerOptions {
  readonly store: Store;
  /** Appears in message and connection ids. */
  readonly name?: string;
  /** Create queues and topics the first time they are used (ActiveMQ's default). */
  readonly autoCreateDestinations?: boolean;
  readonly defaultPrefetch?: number;
  readonly policies?: readonly PolicyRule[];
  readonly composites?: readonly CompositeDestination[];
  readonly virtualTopics?: VirtualTopicOptions;
  /** How often waiting messages are checked for expiry, in ms. */
  readonly expirySweepInterval?: number;
  /** Ms after which a topic with no subscription, no retained message and no send is forgotten (see `Destinations.sweepIdleTopics`); 0: never. Default 300000. */
  readonly idleTopicTimeout?: number;
  /**
   * Bytes of persistent message bodies kept in memory (default: no limit). Past it, bodies wait in
   * the store and are read back near the head of their queue; a store without a reader keeps all.
   */
  readonly bodyCacheSize?: number;
  /**
   * A persistent message consumed and acknowledged before its write is synced is confirmed to its
   * producer then (default true; see `Persistence.durableOrConsumed`); false: every confirm waits
   * for the disk.
   */
  readonly confirmConsumed?: boolean;
  /**
   * Waiting messages in the store above which `start` returns before they are all back in their
   * queues (default: never): the broker serves at once, each such queue takes sends meanwhile and
   * delivers once it is whole (`loaded`). A takeover with a large backlog serves in seconds.
   */
  readonly loadInBackgroundAbove?: number;
  /**
   * How long a stop waits, before it closes the store, for recovery to delete the stored messages
   * still to come of queues purged or deleted while they loaded (default 3000 ms).
   */
  readonly stopTimeout?: number;
  /** Who may connect (default: everyone, as who they say they are). */
  readonly authenticator?: Authenticator;
  /** What each principal may do to which destination (default: everything). */
  readonly authorizer?: Authorizer;
  /** What one client may hold: connections per user, destinations, consumers (default: no limits). */
  readonly limits?: ClientLimitOptions;
  readonly logger?: Logger;
  readonly clock?: () => number;
  /**
   * Throws while this broker may not serve (with HA: once it is no longer sure to hold its lease).
   * Asked before a send or a commit is taken, which then fails with its error, and before messages
   * go out to consumers, which then get none: what a broker that lost its lease hands out would be
   * on no disk, or delivered again as new by the broker that took over.
   */
  readonly guard?: () => void;
}

/** False when `guard` (see `BrokerOptions.guard`) says the broker may not serve now. */
export function guardPasses(guard: (() => void) | undefined): boolean {
  if (guard === undefined) return true;
  try {
    guard();
    return true;
  } catch {
    return false;
  }
}
