import type { PropertyValue } from './message.js';
import { TopicTrie } from './topic-trie.js';

/**
 * RabbitMQ's exchanges (AMQP 0-9-1's routing model) as core keeps them: named routers in front of
 * core's queues. Protocol-neutral: a declared queue is an ordinary core queue, so STOMP, AMQP 1.0
 * and OpenWire reach it by name.
 */
export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';

export interface ExchangeSpec {
  readonly name: string;
  readonly type: ExchangeType;
  /** Kept in the store and back after a restart. */
  readonly durable: boolean;
  /** Deleted when its last binding (as a source) goes. */
  readonly autoDelete: boolean;
  /** Only other exchanges may publish to it (through an exchange-to-exchange binding). */
  readonly internal: boolean;
  /** Where a message this exchange routes to no queue goes next. */
  readonly alternateExchange?: string | undefined;
}

/**
 * A headers exchange's binding condition: `all` (every value present and equal) or `any` (one is).
 * The `-with-x` modes match the same way; they differ in what the adapter puts in `values`, and
 * are kept as such because a binding's identity, and its record, carry the mode the client named.
 */
export interface HeadersMatch {
  readonly match: 'all' | 'any' | 'all-with-x' | 'any-with-x';
  /**
   * Header name -> value, compared by type and value with the message's properties; a `null` value
   * asks only that the header be present (RabbitMQ's `void`). Arguments starting `x-` are matched
   * only in the `-with-x` modes (`x-match` itself never): otherwise the adapter leaves them out.
   */
  readonly values: ReadonlyMap<string, PropertyValue>;
}

export interface BindingSpec {
  /** The exchange messages come from. */
  readonly source: string;
  readonly destination: { readonly kind: 'queue' | 'exchange'; readonly name: string };
  /** Direct: the key; topic: a pattern of `.`-separated words with `*` (one word) and `#` (zero or more). */
  readonly routingKey: string;
  /** Only for a headers exchange (which ignores the routing key). */
  readonly headers?: HeadersMatch | undefined;
}

/**
 * RabbitMQ's sender-selected distribution: a published message is routed also by each key in its
 * `CC` header, on the same exchange, each queue getting it once; consumers see the header (and the
 * keys in `BCC`, which they do not see: `Message.bccKeys`).
 */
export const CC_HEADER = 'CC';

const NO_KEYS: readonly string[] = [];

/**
 * The keys in a message's `CC` property: a string is one key; the JSON text of an array (what a
 * protocol whose headers have arrays, as 0-9-1's, gives core's flat properties) is its strings.
 */
export function ccKeys(properties: ReadonlyMap<string, PropertyValue>): readonly string[] {
  const value = properties.get(CC_HEADER);
  if (typeof value !== 'string') return NO_KEYS;
  if (value.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (Array.isArray(parsed)) return parsed.filter((k): k is string => typeof k === 'string');
    } catch {
      // a key that only looks like an array is a key
    }
  }
  return [value];
}

/** The pre-declared exchanges: `''` is the default exchange, every queue bound to it by its own name. */
export const DEFAULT_EXCHANGES: readonly ExchangeSpec[] = [
  { name: '', type: 'direct', durable: true, autoDelete: false, internal: false },
  { name: 'amq.direct', type: 'direct', durable: true, autoDelete: false, internal: false },
  { name: 'amq.fanout', type: 'fanout', durable: true, autoDelete: false, internal: false },
  { name: 'amq.topic', type: 'topic', durable: true, autoDelete: false, internal: false },
  { name: 'amq.headers', type: 'headers', durable: true, autoDelete: false, internal: false },
  { name: 'amq.match', type: 'headers', durable: true, autoDelete: false, internal: false },
];

/** What a publish to an exchange did. */
export interface PublishResult {
  /**
   * How many queues its bindings reached (after alternate exchanges), a full queue that refused it
   * included: 0 means unroutable (a mandatory publish is returned), and a refusal is told by
   * `refused` (a nack), as RabbitMQ returns only what matched no queue.
   */
  readonly routed: number;
  /**
   * True when a queue in its way refused it (`overflow: 'reject-publish'` or `'reject-publish-dlx'`
   * and full): the adapter nacks the publish (publisher confirms). The other queues still got it.
   */
  readonly refused: boolean;
  /** Resolves when the message is durable in every queue that keeps it; null when nothing was written. */
  readonly durable: Promise<void> | null;
  /**
   * In a transaction: what its commit did with it, to read once the commit is made. Until then
   * `routed` is how many queues the publish was routed to, which the commit delivers to.
   */
  readonly committed?: CommittedPublish | undefined;
}

/** What the commit of a transaction did with a publish it held. */
export interface CommittedPublish {
  /**
   * How many of the queues it was routed to when published still existed at the commit, a full one
   * that refused it included: 0 means it reached none, and a mandatory publish is returned then, as
   * RabbitMQ does.
   */
  readonly routed: number;
  /**
   * True when a full queue (`overflow: 'reject-publish'` or `'reject-publish-dlx'`) refused it at
   * the commit: the other queues still got it, and RabbitMQ fails the commit.
   */
  readonly refused: boolean;
}

export interface PublishOptions {
  /**
   * The publisher wants an unroutable message back: core routes the same either way and reports
   * `routed: 0`; the adapter returns it (basic.return).
   */
  readonly mandatory?: boolean | undefined;
  /**
   * The default exchange only: the temporary queue the routing key stands for, where a protocol
   * names one by a key of its own (AMQP 0-9-1's direct reply-to keys). The right to send is still
   * checked on the key, as for every default-exchange publish, not on the temporary queue; a queue
   * that is gone, or not temporary, routes nowhere.
   */
  readonly temporaryQueue?: string | undefined;
}

/** One binding as the book holds it: its spec, and what it leads to (a queue, or another exchange). */
export interface Binding<Q> {
  readonly spec: BindingSpec;
  /** Identity: destination, key and header condition (RabbitMQ's binding key and arguments). */
  readonly id: string;
  readonly target: Q | Exchange<Q>;
  /** Store record, 0 when transient. */
  recordId: number;
}

/**
 * An exchange and its bindings, indexed for its type: direct by key (one Map lookup), topic in a
 * trie, fanout and headers as a list.
 */
export class Exchange<Q> {
  readonly bindings = new Map<string, Binding<Q>>();
  private readonly byKey: Map<string, Set<Binding<Q>>> | undefined;
  private readonly trie: TopicTrie<Binding<Q>> | undefined;
  recordId = 0;
  /** Has had a binding as a source: an auto-delete exchange goes only after that. */
  hadBindings = false;
  deleted = false;

  constructor(readonly spec: ExchangeSpec) {
    if (spec.type === 'direct') this.byKey = new Map();
    else if (spec.type === 'topic') this.trie = new TopicTrie();
  }

  get name(): string {
    return this.spec.name;
  }

  add(binding: Binding<Q>): boolean {
    if (this.bindings.has(binding.id)) return false;
    this.bindings.set(binding.id, binding);
    this.hadBindings = true;
    const key = binding.spec.routingKey;
    if (this.byKey !== undefined) {
      let set = this.byKey.get(key);
      if (set === undefined) this.byKey.set(key, (set = new Set()));
      set.add(binding);
    } else this.trie?.add(key, binding);
    return true;
  }

  remove(id: string): Binding<Q> | undefined {
    const binding = this.bindings.get(id);
    if (binding === undefined) return undefined;
    this.bindings.delete(id);
    const key = binding.spec.routingKey;
    if (this.byKey !== undefined) {
      const set = this.byKey.get(key);
      set?.delete(binding);
      if (set?.size === 0) this.byKey.delete(key);
    } else this.trie?.remove(key, binding);
    return binding;
  }

  /** Whether its bindings look at the routing key: a fanout or headers exchange matches the same whatever the key. */
  get routesByKey(): boolean {
    return this.spec.type === 'direct' || this.spec.type === 'topic';
  }

  /** For a direct exchange whose key leads to exactly one binding, to a queue: that queue. */
  directQueue(routingKey: string): Q | undefined {
    const set = this.byKey?.get(routingKey);
    if (set === undefined || set.size !== 1) return undefined;
    for (const binding of set) return binding.target instanceof Exchange ? undefined : binding.target;
    return undefined;
  }

  /** Calls `visit` for each binding the message matches (maybe more than once for one target). */
  match(routingKey: string, properties: ReadonlyMap<string, PropertyValue>, visit: (binding: Binding<Q>) => void): void {
    switch (this.spec.type) {
      case 'direct': {
        const set = this.byKey!.get(routingKey);
        if (set !== undefined) for (const binding of set) visit(binding);
        return;
      }
      case 'topic':
        this.trie!.match(routingKey, visit);
        return;
      case 'fanout':
        for (const binding of this.bindings.values()) visit(binding);
        return;
      case 'headers':
        for (const binding of this.bindings.values()) if (binding.spec.headers === undefined || headersMatch(binding.spec.headers, properties)) visit(binding);
    }
  }
}

/**
 * RabbitMQ's headers rule: `all` (and `all-with-x`) wants every bound header present with an
 * equal value, `any` (and `any-with-x`) one of them; a null bound value asks only for presence. Values compare by type and value: a string
 * never equals a number; integers compare by value whether they came as a number or a long.
 */
export function headersMatch(condition: HeadersMatch, properties: ReadonlyMap<string, PropertyValue>): boolean {
  const all = condition.match === 'all' || condition.match === 'all-with-x';
  if (condition.values.size === 0) return all;
  for (const [name, wanted] of condition.values) {
    const ok = properties.has(name) && (wanted === null || sameValue(wanted, properties.get(name)!));
    if (all && !ok) return false;
    if (!all && ok) return true;
  }
  return all;
}

function sameValue(a: PropertyValue, b: PropertyValue): boolean {
  if (a === null || b === null) return a === b;
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    if (typeof a === typeof b) return a === b;
    const int = typeof a === 'number' ? a : (b as number);
    const long = typeof a === 'bigint' ? a : (b as bigint);
    return Number.isInteger(int) && BigInt(int) === long;
  }
  return typeof a === typeof b && a === b;
}

/** A binding's identity within its source: what it leads to, its key, and its header condition. */
export function bindingId(spec: BindingSpec): string {
  let id = `${spec.destination.kind}\u0000${spec.destination.name}\u0000${spec.routingKey}`;
  if (spec.headers !== undefined) {
    const entries = [...spec.headers.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    id += `\u0000${spec.headers.match}`;
    for (const [name, value] of entries) id += `\u0000${name}=${typeTag(value)}:${Buffer.isBuffer(value) ? value.toString('hex') : String(value)}`;
  }
  return id;
}

function typeTag(v: PropertyValue): string {
  if (v === null) return 'v';
  if (Buffer.isBuffer(v)) return 'x';
  return typeof v;
}
