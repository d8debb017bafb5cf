/** A client's connection as those watching connections see it (an OpenWire advisory, for one). */
export interface ConnectionFacts {
  readonly id: string;
  readonly protocol: string;
  readonly clientId: string | undefined;
  readonly user: string | undefined;
  readonly remoteAddress: string;
}

/** Told when clients connect and disconnect. */
export interface ConnectionWatcher {
  opened(connection: ConnectionFacts): void;
  closed(connection: ConnectionFacts): void;
}

/**
 * The clients' open connections (the broker's own internal ones left out) and who watches them. A
 * new watcher hears of every connection already open first, as with consumer events.
 */
export class ConnectionEvents {
  private readonly open = new Map<string, ConnectionFacts>();
  private readonly watchers = new Set<ConnectionWatcher>();

  opened(connection: ConnectionFacts): void {
    this.open.set(connection.id, connection);
    for (const watcher of this.watchers) watcher.opened(connection);
  }

  closed(id: string): void {
    const connection = this.open.get(id);
    if (connection === undefined) return;
    this.open.delete(id);
    for (const watcher of this.watchers) watcher.closed(connection);
  }

  watch(watcher: ConnectionWatcher): () => void {
    this.watchers.add(watcher);
    for (const connection of this.open.values()) watcher.opened(connection);
    return () => this.watchers.delete(watcher);
  }
}
