/**
 * One timer for the whole broker: redelivery delays, scheduled messages and expiry sweeps are
 * entries in a min-heap, and a single Node timer is armed for the earliest. A hundred thousand
 * scheduled messages cost a heap, not a hundred thousand timers.
 */
export interface TimerHandle {
  readonly due: number;
  cancelled: boolean;
}

interface HeapItem extends TimerHandle {
  readonly seq: number;
  readonly run: () => void;
}

export class TimerQueue {
  private readonly heap: HeapItem[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private seq = 0;
  private stopped = false;

  constructor(private readonly clock: () => number) {}

  get size(): number {
    return this.heap.length;
  }

  /** Runs `run` at `due` (epoch ms) or as soon after as the event loop allows. */
  at(due: number, run: () => void): TimerHandle {
    const item: HeapItem = { due, seq: this.seq++, run, cancelled: false };
    this.heap.push(item);
    this.up(this.heap.length - 1);
    this.arm();
    return item;
  }

  cancel(handle: TimerHandle): void {
    handle.cancelled = true;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
  }

  private arm(): void {
    if (this.stopped) return;
    const first = this.heap[0];
    if (first === undefined) return;
    if (this.timer !== undefined && this.armedFor <= first.due) return;
    clearTimeout(this.timer);
    this.armedFor = first.due;
    // Node timers are capped at 2^31-1 ms; a later due re-arms when this one fires
    const delay = Math.min(2_147_483_647, Math.max(0, first.due - this.clock()));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.clock();
    // bounded per turn, so a burst of due items never holds the event loop for long
    for (let n = 0; n < 10_000; n++) {
      const first = this.heap[0];
      if (first === undefined || first.due > now) break;
      this.pop();
      if (!first.cancelled) first.run();
    }
    if (this.heap.length > 0 && this.heap[0]!.due <= now) {
      setImmediate(() => this.fire());
      return;
    }
    this.arm();
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private less(a: HeapItem, b: HeapItem): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(item, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.less(heap[right]!, heap[left]!) ? right : left;
      if (!this.less(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
