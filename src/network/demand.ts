import { matchesPattern, type ConsumerInfo, type Destination } from '../core/index.js';

/**
 * How a connector names the subscriptions it opens on a neighbour (the STOMP subscription id):
 * `ferry-network|C,B|7` is demand that began on broker C and passed through B. The neighbour's
 * own connectors read the path back from its consumer events, so demand never goes back to a
 * broker it came from, and stops after `ttl` brokers.
 */
const LABEL_PREFIX = 'ferry-network|';

/** The message properties a forwarded message carries (see docs/network.md). */
export const PATH_PROPERTY = 'FerryNetworkPath';
export const HOPS_PROPERTY = 'FerryNetworkHops';

export function demandLabel(path: readonly string[], sequence: number): string {
  return `${LABEL_PREFIX}${path.join(',')}|${sequence}`;
}

/** The brokers a consumer's demand came through, oldest first: empty for a client's own consumer. */
export function demandPathOf(consumer: ConsumerInfo): string[] {
  const label = consumer.label;
  if (label === undefined || !label.startsWith(LABEL_PREFIX)) return [];
  const end = label.lastIndexOf('|');
  return label.slice(LABEL_PREFIX.length, end).split(',').filter((name) => name !== '');
}

/** What a connector asks its neighbour for on one destination, made from the local consumers. */
export interface Demand {
  readonly destination: Destination;
  /** The path the demand carries on: the shortest contributing path, then this broker. */
  readonly path: readonly string[];
  /** The consumers' selectors joined by OR; undefined when one of them takes everything. */
  readonly selector: string | undefined;
}

export interface DemandRules {
  readonly self: string;
  readonly neighbour: string;
  readonly ttl: number;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

function listed(patterns: readonly string[], name: string): boolean {
  return patterns.some((pattern) => pattern === name || matchesPattern(pattern, name));
}

/** Whether a destination may be forwarded under the connector's include and exclude lists. */
export function forwards(rules: DemandRules, name: string): boolean {
  if (listed(rules.exclude, name)) return false;
  return rules.include.length === 0 || listed(rules.include, name);
}

/**
 * The demand a connector carries to its neighbour, by destination key, from the consumers open on
 * this broker. A consumer whose demand already passed the neighbour (or this broker) adds none: that
 * is what stops demand going round a ring.
 */
export function demandFrom(consumers: Iterable<ConsumerInfo>, rules: DemandRules): Map<string, Demand> {
  const byKey = new Map<string, { destination: Destination; path: string[]; selectors: Set<string>; everything: boolean }>();
  for (const consumer of consumers) {
    const { destination } = consumer;
    if (destination.temporary === true || !forwards(rules, destination.name)) continue;
    const path = demandPathOf(consumer);
    if (path.includes(rules.neighbour) || path.includes(rules.self) || path.length + 1 > rules.ttl) continue;
    const key = destinationKey(destination);
    let entry = byKey.get(key);
    if (entry === undefined) byKey.set(key, (entry = { destination, path, selectors: new Set(), everything: false }));
    else if (path.length < entry.path.length) entry.path = path;
    if (consumer.selector === undefined || consumer.selector.trim() === '') entry.everything = true;
    else entry.selectors.add(consumer.selector);
  }
  const demand = new Map<string, Demand>();
  for (const [key, entry] of byKey) {
    const selector = entry.everything ? undefined : [...entry.selectors].map((s) => `(${s})`).join(' OR ');
    demand.set(key, { destination: entry.destination, path: [...entry.path, rules.self], selector });
  }
  return demand;
}

export function destinationKey(destination: Destination): string {
  return `${destination.kind}:${destination.name}`;
}

/** A string literal for a LIKE pattern, with `_`, `%` and the escape itself escaped. */
function likeLiteral(text: string): string {
  return text.replace(/[\\_%]/g, (c) => `\\${c}`).replaceAll("'", "''");
}

/**
 * The selector of the subscription a connector opens on its neighbour: no message that has been on
 * this broker already (no loops), none that has passed `ttl` brokers, and only what the local
 * consumers select.
 */
export function linkSelector(self: string, ttl: number, demand: Demand): string {
  const loops = `(${PATH_PROPERTY} IS NULL OR ${PATH_PROPERTY} NOT LIKE '%|${likeLiteral(self)}|%' ESCAPE '\\')`;
  const hops = `(${HOPS_PROPERTY} IS NULL OR ${HOPS_PROPERTY} < ${ttl})`;
  return demand.selector === undefined ? `${loops} AND ${hops}` : `${loops} AND ${hops} AND (${demand.selector})`;
}
