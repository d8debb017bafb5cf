import { hasWildcard, matchesPattern } from '../../core/index.js';

type Kind = 'queue' | 'topic';

/**
 * The `consumerCount` of ActiveMQ's consumer advisories. ActiveMQ adds a consumer on a wildcard to
 * every queue (topic) it matches, and counts, for the destination a consumer consumes, the
 * consumers of each existing destination that matches it: a consumer on `orders.eu` counts the one
 * on `orders.*` too, and one on `orders.*` is told the sum over the queues that match it, which is
 * none while no queue does (measured against ActiveMQ 5.17). A durable subscription counts once,
 * whether its subscriber is connected or not.
 */
export class ConsumerCounts {
  /** By `kind:name`, names without wildcards: how many consume exactly that destination. */
  private readonly exact = new Map<string, number>();
  /** By `kind:pattern`: how many consume through that wildcard. */
  private readonly wildcards = new Map<string, { kind: Kind; pattern: string; count: number }>();

  change(kind: Kind, name: string, delta: number): void {
    const key = `${kind}:${name}`;
    if (hasWildcard(name)) {
      const entry = this.wildcards.get(key) ?? { kind, pattern: name, count: 0 };
      entry.count += delta;
      if (entry.count > 0) this.wildcards.set(key, entry);
      else this.wildcards.delete(key);
      return;
    }
    const count = (this.exact.get(key) ?? 0) + delta;
    if (count > 0) this.exact.set(key, count);
    else this.exact.delete(key);
  }

  /**
   * What a consumer advisory about a consumer on `name` says. `existing`: the names of the queues
   * (topics) that exist, beside those that have consumers, which exist as long as they do.
   */
  count(kind: Kind, name: string, existing: Iterable<string>): number {
    if (!hasWildcard(name)) return this.consumersOf(kind, name);
    let count = 0;
    const counted = new Set<string>();
    for (const destination of existing) {
      if (hasWildcard(destination) || counted.has(destination) || !matchesPattern(name, destination)) continue;
      counted.add(destination);
      count += this.consumersOf(kind, destination);
    }
    const prefix = `${kind}:`;
    for (const key of this.exact.keys()) {
      if (!key.startsWith(prefix)) continue;
      const destination = key.slice(prefix.length);
      if (!counted.has(destination) && matchesPattern(name, destination)) count += this.consumersOf(kind, destination);
    }
    return count;
  }

  /** The consumers of one destination: its own and those of every wildcard that matches it. */
  private consumersOf(kind: Kind, name: string): number {
    let count = this.exact.get(`${kind}:${name}`) ?? 0;
    for (const wildcard of this.wildcards.values()) if (wildcard.kind === kind && matchesPattern(wildcard.pattern, name)) count += wildcard.count;
    return count;
  }
}
