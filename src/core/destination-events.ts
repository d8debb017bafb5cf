import type { Destination } from './message.js';

/** Told when queues and topics are made and deleted (an OpenWire listener's destination advisories). */
export interface DestinationWatcher {
  added(destination: Destination): void;
  removed(destination: Destination): void;
}

/**
 * The broker's queues and topics as they come and go, and who watches them; temporary ones are
 * left out (their owners' protocols announce them). A new watcher first hears of every one that
 * exists, so it never has to list and watch in two steps.
 */
export class DestinationEvents {
  private readonly watchers = new Set<DestinationWatcher>();

  constructor(private readonly existing: () => Iterable<Destination>) {}

  added(destination: Destination): void {
    for (const watcher of this.watchers) watcher.added(destination);
  }

  removed(destination: Destination): void {
    for (const watcher of this.watchers) watcher.removed(destination);
  }

  /** Returns the function that stops watching. */
  watch(watcher: DestinationWatcher): () => void {
    this.watchers.add(watcher);
    for (const destination of this.existing()) watcher.added(destination);
    return () => void this.watchers.delete(watcher);
  }
}
