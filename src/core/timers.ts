/**
 * One timer for the whole broker: redelivery delays, scheduled messages and expiry sweeps are
 * entries in a min-heap, and a single Node timer is armed for the earliest. A hundred thousand
 * scheduled messages cost a heap, not a hundred thousand timers. Entries due at the same
 * millisecond share one slot of the heap, in the order they were added: a burst of messages all due
 * at one moment is one heap entry and a list, so it comes due without a heap operation per message.
 */
export interface TimerHandle {
  readonly due: number;
  cancelled: boolean;
}

interface TimerItem extends TimerHandle {
  readonly run: () => void;
}

/** Every entry due at one time, in the order added; `next` is the first not yet run. */
interface Slot {
  readonly due: number;
  readonly items: TimerItem[];
  next: number;
}

/** The most entries run in one turn of the event loop; the rest follow in the next turns. */
const RUN_PER_TURN = 10_000;

export class TimerQueue {
  private readonly heap: Slot[] = [];
  private readonly slots = new Map<number, Slot>();
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;
  private held = false;

  constructor(private readonly clock: () => number) {}

  get size(): number {
    return this.count;
  }

  /** Runs `run` at `due` (epoch ms) or as soon after as the event loop allows. */
  at(due: number, run: () => void): TimerHandle {
    const item: TimerItem = { due, run, cancelled: false };
    let slot = this.slots.get(due);
    if (slot === undefined) {
      slot = { due, items: [], next: 0 };
      this.slots.set(due, slot);
      this.heap.push(slot);
      this.up(this.heap.length - 1);
    }
    slot.items.push(item);
    this.count++;
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
    this.slots.clear();
    this.count = 0;
  }

  /** Nothing runs until `resume`: recovery yields to the event loop while what timers act on is half built. */
  hold(): void {
    this.held = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  resume(): void {
    this.held = false;
    this.arm();
  }

  private arm(): void {
    if (this.stopped || this.held) return;
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
    let budget = RUN_PER_TURN;
    while (budget > 0) {
      const slot = this.heap[0];
      if (slot === undefined || slot.due > now) break;
      const items = slot.items;
      while (budget > 0 && slot.next < items.length) {
        const item = items[slot.next++]!;
        this.count--;
        budget--;
        if (!item.cancelled) item.run();
      }
      // an entry added to this slot while it ran (due now again) is run in this loop too
      if (slot.next < items.length) break;
      this.pop();
      this.slots.delete(slot.due);
    }
    const first = this.heap[0];
    if (first !== undefined && first.due <= now) {
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

  private up(i: number): void {
    const heap = this.heap;
    const slot = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (slot.due >= heap[parent]!.due) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = slot;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const slot = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right]!.due < heap[left]!.due ? right : left;
      if (heap[child]!.due >= slot.due) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = slot;
  }
}
