import type { Destination } from './message.js';
import { Watched, type Watcher } from './watched.js';

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
export type ProducerWatcher = Watcher<ProducerFacts>;

/** A producer as the protocol that opened it holds it. */
export interface ProducerHandle {
  readonly id: number;
  close(): void;
}

/**
 * The producers protocols have named, and who watches them. STOMP and MQTT clients name none:
 * their sends say where they go.
 */
export class ProducerEvents {
  private readonly open = new Watched<number, ProducerFacts>();
  private nextId = 1;

  opened(facts: Omit<ProducerFacts, 'id'>): ProducerHandle {
    const id = this.nextId++;
    this.open.opened(id, { id, ...facts });
    return { id, close: () => this.open.closed(id) };
  }

  watch(watcher: ProducerWatcher): () => void {
    return this.open.watch(watcher);
  }
}
