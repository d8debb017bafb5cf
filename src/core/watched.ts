/** Told when things come and go. */
export interface Watcher<T> {
  added(thing: T): void;
  removed(thing: T): void;
}

/**
 * What is open now, by key, and who watches it. A new watcher hears of everything already open
 * first, so it never has to list and watch in two steps.
 */
export class Watched<K, T> {
  private readonly open = new Map<K, T>();
  private readonly watchers = new Set<Watcher<T>>();

  opened(key: K, thing: T): void {
    this.open.set(key, thing);
    for (const watcher of this.watchers) watcher.added(thing);
  }

  closed(key: K): void {
    const thing = this.open.get(key);
    if (thing === undefined) return;
    this.open.delete(key);
    for (const watcher of this.watchers) watcher.removed(thing);
  }

  /** Returns the function that stops watching. */
  watch(watcher: Watcher<T>): () => void {
    this.watchers.add(watcher);
    for (const thing of this.open.values()) watcher.added(thing);
    return () => void this.watchers.delete(watcher);
  }
}
