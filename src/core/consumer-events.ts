import { Watched, type Watcher } from './watched.js';
import type { Destination } from './message.js';

/**
 * A consumer as those watching demand see it: where it takes from, and on what terms. A durable
 * subscription is one too, whether its subscriber is connected or not: it keeps what it is sent.
 */
export interface ConsumerInfo {
  /** Negative for a durable subscription itself (its subscriber, when connected, is a consumer of its own). */
  readonly id: number;
  readonly connectionId: string;
  /** The protocol of that connection; empty for a durable subscription itself. */
  readonly protocol: string;
  /** Opened by a connection the broker opened for itself. */
  readonly internal: boolean;
  /** A queue, or a topic pattern. */
  readonly destination: Destination;
  readonly selector: string | undefined;
  readonly priority: number;
  readonly durable: boolean;
  /** The durable subscription's name, which a STOMP client gives apart from its subscription id. */
  readonly durableName: string | undefined;
  /** What the client calls the subscription (a STOMP subscription id), when its protocol names it. */
  readonly label: string | undefined;
}

/** A durable subscription as demand: its topic pattern, selector and name. */
export interface DurableKept {
  readonly pattern: string;
  readonly selector: string | undefined;
  readonly name: string;
}

/**
 * A durable subscription removed: unsubscribed by a client of any protocol, dropped by an MQTT
 * clean start or session expiry, or deleted by an operator. Not one that a subscriber replaced by
 * subscribing under its name on other terms.
 */
export interface DurableRemoved {
  readonly owner: string;
  readonly name: string;
  /** Its topic pattern. */
  readonly pattern: string;
  /** The connection that removed it; undefined for an operator. */
  readonly connectionId: string | undefined;
}

/** Told when consumers come and go (a network connector follows demand this way). */
export interface ConsumerWatcher extends Watcher<ConsumerInfo> {
  /** A durable subscription was removed, told after its `removed`. */
  unsubscribed?(removal: DurableRemoved): void;
}

/**
 * The broker's open consumers (browsers left out) and who watches them. A new watcher hears of
 * every consumer already open first, so it never has to list and watch in two steps.
 */
export class ConsumerEvents {
  private readonly open = new Watched<number, ConsumerInfo>();
  /** Durable subscriptions by their owner-and-name key, as the ids they have here. */
  private readonly durables = new Map<string, number>();
  private nextDurable = -1;
  private readonly removalWatchers = new Set<ConsumerWatcher>();

  /**
   * A durable subscription kept (made, or read back at start), or, with `kept` undefined, gone. Its
   * name is its label: a network connector's durable conduit names the path of its demand there.
   * `removed` says it was removed rather than replaced.
   */
  durableChanged(key: string, kept: DurableKept | undefined, removed?: DurableRemoved): void {
    const id = this.durables.get(key);
    if (id !== undefined) {
      this.durables.delete(key);
      this.closed(id);
    }
    if (removed !== undefined) for (const watcher of this.removalWatchers) watcher.unsubscribed?.(removed);
    if (kept === undefined) return;
    const created = this.nextDurable--;
    this.durables.set(key, created);
    this.opened({ id: created, connectionId: '', protocol: '', internal: false, destination: { kind: 'topic', name: kept.pattern }, selector: kept.selector, priority: 0, durable: true, durableName: kept.name, label: kept.name });
  }

  opened(consumer: ConsumerInfo): void {
    this.open.opened(consumer.id, consumer);
  }

  closed(id: number): void {
    this.open.closed(id);
  }

  /** Returns the function that stops watching. */
  watch(watcher: ConsumerWatcher): () => void {
    if (watcher.unsubscribed !== undefined) this.removalWatchers.add(watcher);
    const unwatch = this.open.watch(watcher);
    return () => {
      unwatch();
      this.removalWatchers.delete(watcher);
    };
  }
}
