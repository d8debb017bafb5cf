// Counters shared, without messages, between the runner, the producer thread and the consumer
// thread. The producer reads the consumers' progress on every batch to keep its window, which a
// postMessage round trip per batch would make far too slow.

/** Waits until `view[index]` is no longer `value`, or `timeoutMs` passes (Node >= 16 has it). */
type WaitAsync = (
  view: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const NOTIFY = 0; // bumped by a consumer thread to wake the producer
const WAITING = 1; // while the producer waits: the progress it waits for; else 0
const PROGRESS = 2; // one slot per consumer thread: messages (any phase) it has received, see `progress`

export interface CounterLayout {
  readonly groups: number;
  readonly producers: number;
  /** Consumer threads, each with its own progress slot. */
  readonly shards: number;
  /** How the shards' progress combines: the slowest subscription (topics) or the sum (a queue's consumers). */
  readonly combine: 'min' | 'sum';
}

export class SharedCounters {
  readonly buffer: SharedArrayBuffer;
  private readonly view: Int32Array;
  readonly groups: number;
  readonly producers: number;
  private readonly shards: number;
  private readonly combine: 'min' | 'sum';
  private readonly groupBase: number;

  constructor(layout: CounterLayout, buffer?: SharedArrayBuffer) {
    this.groups = layout.groups;
    this.producers = layout.producers;
    this.shards = layout.shards;
    this.combine = layout.combine;
    this.groupBase = PROGRESS + layout.shards;
    this.buffer = buffer ?? new SharedArrayBuffer((this.groupBase + layout.groups + layout.producers) * 4);
    this.view = new Int32Array(this.buffer);
  }

  /** Messages received by the slowest subscription (topics) or by all of a queue's consumers. */
  get progress(): number {
    let progress = this.combine === 'min' ? Number.POSITIVE_INFINITY : 0;
    for (let s = 0; s < this.shards; s++) {
      const v = Atomics.load(this.view, PROGRESS + s);
      progress = this.combine === 'min' ? Math.min(progress, v) : progress + v;
    }
    return progress;
  }

  setProgress(shard: number, value: number): void {
    if (Atomics.load(this.view, PROGRESS + shard) === value) return;
    Atomics.store(this.view, PROGRESS + shard, value);
    value = this.progress;
    // A wake-up is a futex system call: measured at 15 % of the consumer thread's time when made on
    // every read, so it is made only when the producer waits, and for as much as it waits for.
    const waitingFor = Atomics.load(this.view, WAITING);
    if (waitingFor !== 0 && value >= waitingFor) {
      Atomics.store(this.view, WAITING, 0);
      Atomics.add(this.view, NOTIFY, 1);
      Atomics.notify(this.view, NOTIFY);
    }
  }

  /** Resolves once the progress reaches `atLeast` (> 0), or after `timeoutMs`. */
  async progressReaches(atLeast: number, timeoutMs: number): Promise<void> {
    // Order matters: WAITING is set before PROGRESS is read again, so a consumer that moves PROGRESS
    // past `atLeast` after this read sees WAITING and bumps NOTIFY, and the wait returns at once.
    Atomics.store(this.view, WAITING, atLeast);
    const stamp = Atomics.load(this.view, NOTIFY);
    if (this.progress < atLeast) {
      const result = waitAsync(this.view, NOTIFY, stamp, timeoutMs);
      if (result.async) await result.value;
    }
    Atomics.store(this.view, WAITING, 0);
  }

  /** Distinct measured messages that consumer group `group` has received. */
  groupUnique(group: number): number {
    return Atomics.load(this.view, this.groupBase + group);
  }

  setGroupUnique(group: number, value: number): void {
    Atomics.store(this.view, this.groupBase + group, value);
  }

  /** Measured messages that producer `producer` has written so far. */
  sentMeasured(producer: number): number {
    return Atomics.load(this.view, this.groupBase + this.groups + producer);
  }

  setSentMeasured(producer: number, value: number): void {
    Atomics.store(this.view, this.groupBase + this.groups + producer, value);
  }
}
