import type { Destination } from './message.js';

/** A producer a protocol names (an AMQP 1.0 sending link), as those watching producers see it. */
export interface ProducerFacts {
  readonly id: number;
  readonly connectionId: string;
  readonly protocol: string;
  /** Opened by a connection the broker opened for itself. */
  readonly internal: boolean;
  /** Where it sends; undefined when each message says (an anonymous relay). */
  readonly destination: Destination | undefined;
}

/** Told when producers come and go. */
export interface ProducerWatcher {
  added(producer: ProducerFacts): void;
  removed(producer: ProducerFacts): void;
}

/** A producer as the protocol that opened it holds it. */
export interface ProducerHandle {
  readonly id: number;
  close(): void;
}

/**
 * The producers protocols have named, and who watches them; a new watcher hears of every one open
 * first. STOMP and MQTT clients name none: their sends say where they go.
 */
export class ProducerEvents {
  private readonly open = new Map<number, ProducerFacts>();
  private readonly watchers = new Set<ProducerWatcher>();
  private nextId = 1;

  opened(facts: Omit<ProducerFacts, 'id'>): ProducerHandle {
    const producer: ProducerFacts = { id: this.nextId++, ...facts };
    this.open.set(producer.id, producer);
    for (const watcher of this.watchers) watcher.added(producer);
    return { id: producer.id, close: () => this.closed(producer.id) };
  }

  private closed(id: number): void {
    const producer = this.open.get(id);
    if (producer === undefined) return;
    this.open.delete(id);
    for (const watcher of this.watchers) watcher.removed(producer);
  }

  watch(watcher: ProducerWatcher): () => void {
    this.watchers.add(watcher);
    for (const producer of this.open.values()) watcher.added(producer);
    return () => this.watchers.delete(watcher);
  }
}
