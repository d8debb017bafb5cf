import { hasWildcard, matchesPattern, type ConsumerInfo, type Destination } from '../core/index.js';

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
/** How many times the message went back to a broker on its path. */
export const RETURNS_PROPERTY = 'FerryNetworkReturns';

export function demandLabel(path: readonly string[], sequence: number): string {
  return `${LABEL_PREFIX}${path.join(',')}|${sequence}`;
}

/**
 * The name of the durable subscription a connector keeps on its neighbour for durable demand on a
 * topic (`ferry-network|C,B|prices.>`): the same for the same demand on every link, so a new link
 * takes up what the neighbour kept while the link was down, and a label like the others, so the
 * neighbour's connectors read its path from it.
 */
export function conduitName(demand: Demand): string {
  return `${LABEL_PREFIX}${demand.path.join(',')}|${demand.destination.name}`;
}

/** The brokers a consumer's demand came through, oldest first: empty for a client's own consumer. */
export function demandPathOf(consumer: ConsumerInfo): string[] {
  const label = consumer.label;
  if (label === undefined || !label.startsWith(LABEL_PREFIX)) return [];
  const end = label.indexOf('|', LABEL_PREFIX.length);
  return label.slice(LABEL_PREFIX.length, end === -1 ? undefined : end).split(',').filter((name) => name !== '');
}

/** What a connector asks its neighbour for on one destination, made from the local consumers. */
export interface Demand {
  readonly destination: Destination;
  /** The path the demand carries on: the shortest contributing path, then this broker. */
  readonly path: readonly string[];
  /** The consumers' selectors joined by OR; undefined when one of them takes everything. */
  readonly selector: string | undefined;
  /**
   * A durable subscription is among the consumers of a topic: the neighbour keeps a durable
   * subscription for it, so what is published there while the link is down waits there.
   */
  readonly durable: boolean;
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
export function forwards(rules: Pick<DemandRules, 'include' | 'exclude'>, name: string): boolean {
  if (listed(rules.exclude, name)) return false;
  return rules.include.length === 0 || listed(rules.include, name);
}

/**
 * The demand a connector carries to its neighbour for one destination, from the consumers open on
 * this broker for it (all of one destination key). A consumer whose demand already passed the
 * neighbour (or this broker) adds none: that is what stops demand going round a ring. `neighbourWants`
 * says whether such a consumer is there: the neighbour (or a broker behind it) has demand of its own.
 */
export function demandOf(consumers: Iterable<ConsumerInfo>, rules: DemandRules): { readonly demand: Demand | undefined; readonly neighbourWants: boolean } {
  let destination: Destination | undefined;
  let shortest: string[] = [];
  let everything = false;
  let neighbourWants = false;
  let durable = false;
  const selectors = new Set<string>();
  for (const consumer of consumers) {
    if (consumer.destination.temporary === true || !forwards(rules, consumer.destination.name)) continue;
    const path = demandPathOf(consumer);
    if (path.includes(rules.neighbour)) neighbourWants = true;
    if (path.includes(rules.neighbour) || path.includes(rules.self) || path.length + 1 > rules.ttl) continue;
    if (destination === undefined || path.length < shortest.length) shortest = path;
    destination ??= consumer.destination;
    if (consumer.durable && consumer.destination.kind === 'topic') durable = true;
    if (consumer.selector === undefined || consumer.selector.trim() === '') everything = true;
    else selectors.add(consumer.selector);
  }
  if (destination === undefined) return { demand: undefined, neighbourWants };
  const selector = everything ? undefined : [...selectors].map((s) => `(${s})`).join(' OR ');
  return { demand: { destination, path: [...shortest, rules.self], selector, durable }, neighbourWants };
}

/** The demand a connector carries to its neighbour, by destination key, from every consumer open here. */
export function demandFrom(consumers: Iterable<ConsumerInfo>, rules: DemandRules): Map<string, Demand> {
  const byKey = new Map<string, ConsumerInfo[]>();
  for (const consumer of consumers) {
    const key = destinationKey(consumer.destination);
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [consumer]);
    else list.push(consumer);
  }
  const demand = new Map<string, Demand>();
  for (const [key, list] of byKey) {
    const one = demandOf(list, rules).demand;
    if (one !== undefined) demand.set(key, one);
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
 * this broker already (no loops), none that has passed `ttl` brokers, none of a destination the
 * include and exclude lists leave out, and only what the local consumers select.
 */
export function linkSelector(rules: Pick<DemandRules, 'self' | 'ttl' | 'include' | 'exclude'>, demand: Demand): string {
  const loops = `(${PATH_PROPERTY} IS NULL OR ${PATH_PROPERTY} NOT LIKE '%|${likeLiteral(rules.self)}|%' ESCAPE '\\')`;
  const hops = `(${HOPS_PROPERTY} IS NULL OR ${HOPS_PROPERTY} < ${rules.ttl})`;
  return [loops, hops, listsSelector(rules, demand.destination), demand.selector === undefined ? undefined : `(${demand.selector})`].filter((c) => c !== undefined).join(' AND ');
}

/**
 * A wildcard demand is forwarded by its pattern (`orders.>`), but the destinations it matches may
 * not all be (`orders.local.>` excluded): this clause leaves those on the neighbour, by the name
 * its selectors give JMSDestination (`queue://orders.x`, as ActiveMQ's do). Undefined when the
 * lists cannot leave anything out. A neighbour whose JMSDestination is NULL lets everything
 * through (the connector then drops excluded topic messages itself, see `forwards`).
 */
export function listsSelector(rules: Pick<DemandRules, 'include' | 'exclude'>, destination: Destination): string | undefined {
  if (!hasWildcard(destination.name) || (rules.include.length === 0 && rules.exclude.length === 0)) return undefined;
  const named = (patterns: readonly string[]): string => patterns.map((p) => destinationCondition(destination.kind, p)).join(' OR ');
  const included = rules.include.length === 0 ? undefined : `(${named(rules.include)})`;
  const excluded = rules.exclude.length === 0 ? undefined : `NOT (${named(rules.exclude)})`;
  return `(JMSDestination IS NULL OR (${[included, excluded].filter((c) => c !== undefined).join(' AND ')}))`;
}

/** A condition that holds for the messages of the destinations `pattern` matches, in linear-time LIKEs. */
function destinationCondition(kind: string, pattern: string): string {
  if (!hasWildcard(pattern)) return `JMSDestination = '${`${kind}://${pattern}`.replaceAll("'", "''")}'`;
  const levels = pattern.split('.');
  const rest = levels.indexOf('>');
  // `>` takes the rest, whatever follows it
  const upTo = rest === -1 ? levels : levels.slice(0, rest + 1);
  const like = `JMSDestination LIKE '${likeLiteral(`${kind}://`)}${upTo.map((level) => (level === '*' || level === '>' ? '%' : likeLiteral(level))).join('.')}' ESCAPE '\\'`;
  // `*` is one level: a `%` in its place could take several, so names with more levels are left out
  return rest === -1 ? `(${like} AND JMSDestination NOT LIKE '${'%.'.repeat(levels.length)}%')` : like;
}

/**
 * The selector of the subscription that brings messages back: only those that have been on this
 * broker already, which the forward subscription refuses. It is opened only while this broker has
 * demand and the neighbour has none (docs/network.md, "Back along the path"), so a message moves
 * back only toward a consumer, and the TTL does not apply: the trips are bounded by the consumers'
 * moves, not by the shape of the network.
 */
export function returnSelector(rules: Pick<DemandRules, 'self' | 'include' | 'exclude'>, demand: Demand): string {
  const been = `${PATH_PROPERTY} LIKE '%|${likeLiteral(rules.self)}|%' ESCAPE '\\'`;
  return [been, listsSelector(rules, demand.destination), demand.selector === undefined ? undefined : `(${demand.selector})`].filter((c) => c !== undefined).join(' AND ');
}
