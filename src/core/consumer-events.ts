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
  /** What the client calls the subscription (a STOMP subscription id), when its protocol names it. */
  readonly label: string | undefined;
}

/** A durable subscription as demand: its topic pattern, selector and name. */
export interface DurableKept {
  readonly pattern: string;
  readonly selector: string | undefined;
  readonly name: string;
}

/** Told when consumers come and go (a network connector follows demand this way). */
export type ConsumerWatcher = Watcher<ConsumerInfo>;

/**
 * The broker's open consumers (browsers left out) and who watches them. A new watcher hears of
 * every consumer already open first, so it never has to list and watch in two steps.
 */
export class ConsumerEvents {
  private readonly open = new Watched<number, ConsumerInfo>();
  /** Durable subscriptions by their owner-and-name key, as the ids they have here. */
  private readonly durables = new Map<string, number>();
  private nextDurable = -1;

  /**
   * A durable subscription kept (made, or read back at start), or, with `kept` undefined, gone. Its
   * name is its label: a network connector's durable conduit names the path of its demand there.
   */
  durableChanged(key: string, kept: DurableKept | undefined): void {
    const id = this.durables.get(key);
    if (id !== undefined) {
      this.durables.delete(key);
      this.closed(id);
    }
    if (kept === undefined) return;
    const created = this.nextDurable--;
    this.durables.set(key, created);
    this.opened({ id: created, connectionId: '', protocol: '', internal: false, destination: { kind: 'topic', name: kept.pattern }, selector: kept.selector, priority: 0, durable: true, label: kept.name });
  }

  opened(consumer: ConsumerInfo): void {
    this.open.opened(consumer.id, consumer);
  }

  closed(id: number): void {
    this.open.closed(id);
  }

  /** Returns the function that stops watching. */
  watch(watcher: ConsumerWatcher): () => void {
    return this.open.watch(watcher);
  }
}
