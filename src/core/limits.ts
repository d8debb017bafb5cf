import { FerryError } from '../errors.js';
import { MessageMemory } from './message-memory.js';
import type { LimitRefusals, Principal } from './access.js';
import type { Destination } from './message.js';

/**
 * What one client may hold at once (`limits` in the configuration). 0 means no limit. The
 * connections the broker opens for itself (network links, MQTT wills) are never counted.
 */
export interface ClientLimitOptions {
  /** Open connections per authenticated user. */
  readonly connectionsPerUser?: number;
  /** Open connections of every anonymous client together. */
  readonly anonymousConnections?: number;
  /** Per-user overrides of `connectionsPerUser`, by user name. */
  readonly users?: Readonly<Record<string, number>>;
  /** Queues and topics in the broker; past it, creation on first use, declaration and operators' creation are refused. */
  readonly maxDestinations?: number;
  /** Consumers of one queue, or subscriptions one topic name reaches. */
  readonly maxConsumersPerDestination?: number;
  /** Consumers and subscriptions open on one connection, across its sessions. */
  readonly maxSubscriptionsPerConnection?: number;
  /** Bytes waiting messages hold in memory in all queues together (`heldBytes`, less bodies waiting on disk) before each queue's memoryPolicy applies (see `MessageMemory`); 0: no limit. */
  readonly messageMemory?: number;
}

/**
 * The limits on what clients hold, checked in core so that every protocol refuses the same way:
 * each refusal is FERRY_LIMIT_EXCEEDED, which each adapter says in its own terms (a STOMP ERROR,
 * MQTT 0x97 quota exceeded, AMQP 1.0 amqp:resource-limit-exceeded, AMQP 0-9-1 not-allowed or
 * precondition-failed, a JMS ResourceAllocationException).
 */
export class ClientLimits {
  private readonly openByUser = new Map<string, number>();
  private readonly refused = { connections: 0, destinations: 0, consumers: 0, subscriptions: 0 };

  /** What the waiting messages of all queues hold, against `messageMemory`. */
  readonly messageMemory: MessageMemory;

  constructor(private readonly options: ClientLimitOptions = {}) {
    this.messageMemory = new MessageMemory(options.messageMemory ?? 0);
  }

  /** Counts a connection in for its user, or refuses it when the user is at its limit. */
  admit(principal: Principal): void {
    if (principal.internal) return;
    const key = principal.username ?? '';
    const open = this.openByUser.get(key) ?? 0;
    const limit = this.connectionLimit(principal.username);
    if (limit > 0 && open >= limit) {
      this.refused.connections++;
      const who = principal.username === undefined ? 'anonymous clients' : `user "${principal.username}"`;
      throw new FerryError('FERRY_LIMIT_EXCEEDED', `${who} already ${open === 1 ? 'has' : 'have'} ${open} open connection${open === 1 ? '' : 's'}, the limit (limits.${principal.username === undefined ? 'anonymousConnections' : 'connectionsPerUser'})`);
    }
    this.openByUser.set(key, open + 1);
  }

  /** A connection `admit` counted has closed. */
  release(principal: Principal): void {
    if (principal.internal) return;
    const key = principal.username ?? '';
    const open = (this.openByUser.get(key) ?? 0) - 1;
    if (open > 0) this.openByUser.set(key, open);
    else this.openByUser.delete(key);
  }

  /** Refuses a new destination when `existing` destinations are already at the limit. */
  checkDestinations(existing: number, destination: { readonly kind: string; readonly name: string }): void {
    const max = this.options.maxDestinations ?? 0;
    if (max > 0 && existing >= max) {
      this.refused.destinations++;
      throw new FerryError('FERRY_LIMIT_EXCEEDED', `${destination.kind} "${destination.name}" would be destination ${existing + 1}, past limits.maxDestinations (${max})`);
    }
  }

  /** Refuses another consumer of `destination`, which has `existing` already (not asked for a durable subscription resumed, which is counted already). */
  checkConsumers(existing: number, destination: Destination, principal: Principal): void {
    const max = this.options.maxConsumersPerDestination ?? 0;
    if (max > 0 && existing >= max && !principal.internal) {
      this.refused.consumers++;
      throw new FerryError('FERRY_LIMIT_EXCEEDED', `${destination.kind} "${destination.name}" has ${existing} consumers, the limit (limits.maxConsumersPerDestination)`);
    }
  }

  /** Refuses another consumer on a connection that has `existing` open. */
  checkSubscriptions(existing: number, principal: Principal): void {
    const max = this.options.maxSubscriptionsPerConnection ?? 0;
    if (max > 0 && existing >= max && !principal.internal) {
      this.refused.subscriptions++;
      throw new FerryError('FERRY_LIMIT_EXCEEDED', `the connection has ${existing} consumers and subscriptions open, the limit (limits.maxSubscriptionsPerConnection)`);
    }
  }

  refusals(): LimitRefusals {
    return { ...this.refused };
  }

  private connectionLimit(username: string | undefined): number {
    if (username === undefined) return this.options.anonymousConnections ?? 0;
    return this.options.users?.[username] ?? this.options.connectionsPerUser ?? 0;
  }
}
