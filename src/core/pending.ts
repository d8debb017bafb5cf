import { EntryList } from './entry-list.js';
import type { QueueEntry } from './queue-entry.js';

/**
 * A queue's waiting entries: one list per JMS priority, highest first, each in queue order, so a
 * priority 9 message overtakes waiting priority 4 ones and equal priorities stay first in, first out.
 */
export class PendingEntries {
  private readonly byPriority: EntryList<QueueEntry>[] = Array.from({ length: 10 }, () => new EntryList<QueueEntry>());
  private count = 0;
  /** Highest priority that may be non-empty, so the common all-priority-4 queue looks at one list. */
  private top = 0;

  get length(): number {
    return this.count;
  }

  push(entry: QueueEntry): void {
    const p = entry.message.priority;
    this.byPriority[p]!.push(entry);
    this.count++;
    if (p > this.top) this.top = p;
  }

  shift(): QueueEntry | undefined {
    for (let p = this.top; p >= 0; p--) {
      const entry = this.byPriority[p]!.shift();
      if (entry !== undefined) {
        this.count--;
        this.top = p;
        return entry;
      }
    }
    this.top = 0;
    return undefined;
  }

  peek(): QueueEntry | undefined {
    for (let p = this.top; p >= 0; p--) {
      const entry = this.byPriority[p]!.peek();
      if (entry !== undefined) return entry;
    }
    return undefined;
  }

  /**
   * Offers entries in dispatch order to `visit`; those it returns true for are removed. Stops when
   * `visit` returns 'stop'.
   */
  scan(visit: (entry: QueueEntry) => boolean | 'stop'): void {
    for (let p = this.top; p >= 0; p--) {
      const list = this.byPriority[p]!;
      if (list.length === 0) continue;
      const before = list.length;
      const stopped = list.scan(visit);
      this.count -= before - list.length;
      if (stopped) return;
    }
  }

  removeWhere(predicate: (entry: QueueEntry) => boolean): QueueEntry[] {
    const removed: QueueEntry[] = [];
    for (const list of this.byPriority) {
      if (list.length === 0) continue;
      for (const entry of list.removeWhere(predicate)) removed.push(entry);
    }
    this.count -= removed.length;
    return removed;
  }

  *[Symbol.iterator](): IterableIterator<QueueEntry> {
    for (let p = this.top; p >= 0; p--) yield* this.byPriority[p]!;
  }
}
