import { EntryList } from './entry-list.js';
import type { MessageMemory } from './message-memory.js';
import { bodyState, heldBytes, type Message } from './message.js';
import type { QueueEntry } from './queue-entry.js';

/**
 * Where a waiting entry stands in dispatch order: its message's priority and its sequence number.
 * It still says where to go on from once that entry has left the queue (a browser's cursor).
 */
export interface WaitingPlace {
  readonly priority: number;
  readonly seq: number;
}

/**
 * A queue's waiting entries: one list per JMS priority, highest first, each in queue order, so a
 * priority 9 message overtakes waiting priority 4 ones and equal priorities stay first in, first out.
 */
export class PendingEntries {
  private readonly byPriority: EntryList<QueueEntry>[] = Array.from({ length: 10 }, () => new EntryList<QueueEntry>());
  private count = 0;
  /** Highest priority that may be non-empty, so the common all-priority-4 queue looks at one list. */
  private top = 0;
  /**
   * The highest priority kept apart: 9 (JMS) unless the queue was declared, where it is the queue's
   * maximum priority, or 0 for a queue declared without one (first in, first out, as RabbitMQ).
   */
  private cap = 9;
  /** Bytes of the waiting bodies, for a maximum length in bytes (RabbitMQ's counts bodies only). */
  bytes = 0;
  /** What the waiting messages hold in memory, bodies and headers (`heldBytes`), for memory limits. */
  held = 0;
  /** Told once when what the waiting messages hold falls below a number of bytes (a blocked queue's room). */
  private roomWatch: { readonly below: number; readonly made: () => void } | undefined;

  /** `memory` counts what the waiting messages of every queue together hold in memory (limits.messageMemory). */
  constructor(private readonly memory?: MessageMemory) {}

  /** Calls `made` once, when the waiting messages hold fewer than `below` bytes (at once if they do). */
  watchRoom(below: number, made: () => void): void {
    this.roomWatch = { below, made };
    this.shrunk();
  }

  /** Ends a watch without waiting for room (the queue is going away). */
  endWatch(): void {
    const watch = this.roomWatch;
    this.roomWatch = undefined;
    watch?.made();
  }

  private left(message: Message): void {
    this.bytes -= bodyState(message).bodyLength;
    this.held -= heldBytes(message);
    this.memory?.left(message);
  }

  private shrunk(): void {
    const watch = this.roomWatch;
    if (watch !== undefined && this.held < watch.below) {
      this.roomWatch = undefined;
      watch.made();
    }
  }

  get length(): number {
    return this.count;
  }

  /** Sets the priority cap; only while empty. */
  capPriority(cap: number): void {
    this.cap = Math.max(0, Math.min(9, cap));
  }

  push(entry: QueueEntry): void {
    const p = Math.min(entry.message.priority, this.cap);
    this.bytes += bodyState(entry.message).bodyLength;
    this.held += heldBytes(entry.message);
    this.memory?.waiting(entry.message);
    this.byPriority[p]!.push(entry);
    this.count++;
    if (p > this.top) this.top = p;
  }

  shift(): QueueEntry | undefined {
    for (let p = this.top; p >= 0; p--) {
      const entry = this.byPriority[p]!.shift();
      if (entry !== undefined) {
        this.count--;
        this.left(entry.message);
        this.top = p;
        if (this.roomWatch !== undefined) this.shrunk();
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
      const stopped = list.scan((entry) => {
        const taken = visit(entry);
        if (taken === true) this.left(entry.message);
        return taken;
      });
      this.count -= before - list.length;
      if (this.roomWatch !== undefined) this.shrunk();
      if (stopped) return;
    }
  }

  removeWhere(predicate: (entry: QueueEntry) => boolean): QueueEntry[] {
    const removed: QueueEntry[] = [];
    for (const list of this.byPriority) {
      if (list.length === 0) continue;
      for (const entry of list.removeWhere(predicate)) {
        removed.push(entry);
        this.left(entry.message);
      }
    }
    this.count -= removed.length;
    if (this.roomWatch !== undefined) this.shrunk();
    return removed;
  }

  *[Symbol.iterator](): IterableIterator<QueueEntry> {
    for (let p = this.top; p >= 0; p--) yield* this.byPriority[p]!;
  }

  /**
   * The waiting entries with `others` (a queue's in-flight ones) among them, each where it would
   * wait: by priority, then in queue order. A browser shows the queue so, as ActiveMQ's shows what
   * its consumers hold unacknowledged along with what waits.
   */
  withPlaced(others: readonly QueueEntry[]): QueueEntry[] {
    if (others.length === 0) return [...this];
    const rank = (entry: QueueEntry): number => Math.min(entry.message.priority, this.cap);
    const before = (a: QueueEntry, b: QueueEntry): boolean => rank(a) > rank(b) || (rank(a) === rank(b) && a.seq < b.seq);
    const placed = [...others].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    const all: QueueEntry[] = [];
    let next = 0;
    for (const entry of this) {
      while (next < placed.length && before(placed[next]!, entry)) all.push(placed[next++]!);
      all.push(entry);
    }
    while (next < placed.length) all.push(placed[next++]!);
    return all;
  }

  /** The entries after `place` in dispatch order (all of them without one), whether or not the entry at `place` still waits. */
  *after(place: WaitingPlace | undefined): IterableIterator<QueueEntry> {
    if (place === undefined) {
      yield* this;
      return;
    }
    const from = Math.min(place.priority, this.cap);
    for (let p = Math.min(this.top, from); p >= 0; p--) yield* p === from ? this.byPriority[p]!.after(place.seq) : this.byPriority[p]!;
  }
}
