import { FerryError } from '../errors.js';

/**
 * Destination names are dotted (`orders.eu.paid`). In a subscription, `*` matches one level and
 * `>` the rest (one or more levels), as in ActiveMQ.
 */
export function hasWildcard(name: string): boolean {
  return name.includes('*') || name.includes('>');
}

export function validateDestinationName(name: string, allowWildcards: boolean): void {
  if (name.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', 'destination name is empty');
  if (name.length > 1024) throw new FerryError('FERRY_DESTINATION_INVALID', 'destination name is longer than 1024 characters');
  if (!allowWildcards && hasWildcard(name)) {
    throw new FerryError('FERRY_DESTINATION_INVALID', `wildcards are not allowed here: "${name}"`);
  }
  if (allowWildcards) {
    const levels = name.split('.');
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      if ((level.includes('*') && level !== '*') || (level.includes('>') && level !== '>')) {
        throw new FerryError('FERRY_DESTINATION_INVALID', `a wildcard must be a whole level: "${name}"`);
      }
      if (level === '>' && i !== levels.length - 1) {
        throw new FerryError('FERRY_DESTINATION_INVALID', `">" must be the last level: "${name}"`);
      }
    }
  }
}

/**
 * Topics whose first level starts with `$` (`$SYS.broker.uptime`) are the broker's own: a pattern
 * whose first level is a wildcard does not match them, so `>` means every application topic.
 */
export function isSystemTopic(name: string): boolean {
  return name.charCodeAt(0) === 0x24;
}

/**
 * Queue names starting `amq.` are the broker's (RabbitMQ's reservation): the server-named
 * `amq.gen-...` queues, made only by a declare that asks for a name.
 */
export function isReservedQueueName(name: string): boolean {
  return name.startsWith('amq.');
}

/**
 * Every temporary destination's name starts `ID:`, the broker's and those OpenWire clients make
 * (see `CoreConnection.createTemporaryDestination`), so such a name is known for one after its
 * destination has gone.
 */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('ID:');
}

/** True when a topic subscription `pattern` takes messages sent to topic `name`, system topics included. */
export function subscriptionMatches(pattern: string, name: string): boolean {
  if (isSystemTopic(name) && (pattern.startsWith('*') || pattern.startsWith('>'))) return false;
  return matchesPattern(pattern, name);
}

/** True when the topic `name` (no wildcards) is matched by the subscription `pattern`. */
export function matchesPattern(pattern: string, name: string): boolean {
  if (!hasWildcard(pattern)) return pattern === name;
  const p = pattern.split('.');
  const n = name.split('.');
  for (let i = 0; i < p.length; i++) {
    const level = p[i]!;
    if (level === '>') return n.length > i;
    if (i >= n.length) return false;
    if (level !== '*' && level !== n[i]) return false;
  }
  return p.length === n.length;
}

interface TrieNode<T> {
  children: Map<string, TrieNode<T>>;
  values: Set<T>;
}

/**
 * Subscriptions indexed by their pattern, so that a publish walks only the branches its name can
 * match instead of testing every subscription on the broker.
 */
/** Topic names whose matches are remembered; past it the memory starts again. */
const MATCH_CACHE_NAMES = 10_000;

export class SubscriptionIndex<T> {
  private readonly root: TrieNode<T> = { children: new Map(), values: new Set() };
  private count = 0;
  /**
   * What each recently published name matched: most traffic goes to a few names, and splitting a
   * name and walking the trie for every message was a twentieth of the broker's time in the MQTT
   * QoS 1 benchmark. Any subscription change forgets it all.
   */
  private readonly matches = new Map<string, T[]>();

  get size(): number {
    return this.count;
  }

  add(pattern: string, value: T): void {
    let node = this.root;
    for (const level of pattern.split('.')) {
      let child = node.children.get(level);
      if (child === undefined) {
        child = { children: new Map(), values: new Set() };
        node.children.set(level, child);
      }
      node = child;
    }
    if (!node.values.has(value)) {
      node.values.add(value);
      this.count++;
      this.matches.clear();
    }
  }

  remove(pattern: string, value: T): void {
    const path: TrieNode<T>[] = [this.root];
    const levels = pattern.split('.');
    let node = this.root;
    for (const level of levels) {
      const child = node.children.get(level);
      if (child === undefined) return;
      node = child;
      path.push(node);
    }
    if (!node.values.delete(value)) return;
    this.count--;
    this.matches.clear();
    for (let i = levels.length; i > 0; i--) {
      const current = path[i]!;
      if (current.values.size > 0 || current.children.size > 0) break;
      path[i - 1]!.children.delete(levels[i - 1]!);
    }
  }

  /** Every value, whatever its pattern (one under two patterns comes twice). */
  *values(): IterableIterator<T> {
    const nodes: TrieNode<T>[] = [this.root];
    for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
      yield* node.values;
      nodes.push(...node.children.values());
    }
  }

  /** Calls `visit` once for each value whose pattern matches `name`. */
  match(name: string, visit: (value: T) => void): void {
    let hits = this.matches.get(name);
    if (hits === undefined) {
      const found: T[] = [];
      this.walk(this.root, name.split('.'), 0, (value) => found.push(value), isSystemTopic(name));
      if (this.matches.size >= MATCH_CACHE_NAMES) this.matches.clear();
      this.matches.set(name, found);
      hits = found;
    }
    for (let i = 0; i < hits.length; i++) visit(hits[i]!);
  }

  private walk(node: TrieNode<T>, levels: string[], i: number, visit: (value: T) => void, system = false): void {
    // a system topic's first level is matched only by its own name, never by a wildcard
    const wildcards = !(system && i === 0);
    const rest = wildcards ? node.children.get('>') : undefined;
    if (rest !== undefined && i < levels.length) for (const v of rest.values) visit(v);
    if (i === levels.length) {
      for (const v of node.values) visit(v);
      return;
    }
    const exact = node.children.get(levels[i]!);
    if (exact !== undefined) this.walk(exact, levels, i + 1, visit);
    const one = wildcards ? node.children.get('*') : undefined;
    if (one !== undefined) this.walk(one, levels, i + 1, visit);
  }
}
