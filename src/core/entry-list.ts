/** Anything kept in queue order. */
export interface Sequenced {
  readonly seq: number;
}

/**
 * Entries in queue order. New messages are appended and taken from the front in O(1); an entry that
 * comes back (its consumer left, its transaction rolled back) is put back at its original place, so
 * redelivery keeps the queue's order.
 */
export class EntryList<T extends Sequenced> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(entry: T): void {
    const last = this.items[this.items.length - 1];
    if (this.length === 0 || last === undefined || last.seq < entry.seq) this.items.push(entry);
    else this.insert(entry);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const entry = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as T;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  /** Removes and returns every entry for which `predicate` is true, keeping the order of the rest. */
  removeWhere(predicate: (entry: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const entry = this.items[i]!;
      if (predicate(entry)) removed.push(entry);
      else kept.push(entry);
    }
    this.items = kept;
    this.head = 0;
    return removed;
  }

  /**
   * Offers entries from the front to `visit`: true takes the entry out, false leaves it, 'stop' ends
   * the scan. Costs what it scanned, not the whole list: the kept entries of the scanned prefix slide
   * up against the unscanned rest. Returns true when it stopped early.
   */
  scan(visit: (entry: T) => boolean | 'stop'): boolean {
    const items = this.items;
    const start = this.head;
    let end = start;
    let stopped = false;
    const kept: T[] = [];
    for (; end < items.length; end++) {
      const entry = items[end]!;
      const verdict = visit(entry);
      if (verdict === 'stop') {
        stopped = true;
        break;
      }
      if (!verdict) kept.push(entry);
    }
    let write = end - kept.length;
    for (let i = start; i < write; i++) items[i] = undefined as unknown as T;
    this.head = write;
    for (const entry of kept) items[write++] = entry;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
    }
    return stopped;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }

  /** The entries after sequence number `seq`, in order; found by bisection, not by walking from the front. */
  *after(seq: number): IterableIterator<T> {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.items.length; i++) yield this.items[i]!;
  }

  private insert(entry: T): void {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.head && this.head > 0) {
      this.head--;
      this.items[this.head] = entry;
    } else this.items.splice(lo, 0, entry);
  }
}
