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

const NOTIFY = 0; // bumped by the consumer thread to wake the producer
const PROGRESS = 1; // messages (any phase) received by the slowest subscription / by the queue's consumers
const WAITING = 2; // while the producer waits: the PROGRESS it waits for; else 0
const FIXED_SLOTS = 3;

export class SharedCounters {
  readonly buffer: SharedArrayBuffer;
  private readonly view: Int32Array;
  readonly groups: number;
  readonly producers: number;

  constructor(groups: number, producers: number, buffer?: SharedArrayBuffer) {
    this.groups = groups;
    this.producers = producers;
    this.buffer = buffer ?? new SharedArrayBuffer((FIXED_SLOTS + groups + producers) * 4);
    this.view = new Int32Array(this.buffer);
  }

  get progress(): number {
    return Atomics.load(this.view, PROGRESS);
  }

  setProgress(value: number): void {
    if (Atomics.load(this.view, PROGRESS) === value) return;
    Atomics.store(this.view, PROGRESS, value);
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
    return Atomics.load(this.view, FIXED_SLOTS + group);
  }

  setGroupUnique(group: number, value: number): void {
    Atomics.store(this.view, FIXED_SLOTS + group, value);
  }

  /** Measured messages that producer `producer` has written so far. */
  sentMeasured(producer: number): number {
    return Atomics.load(this.view, FIXED_SLOTS + this.groups + producer);
  }

  setSentMeasured(producer: number, value: number): void {
    Atomics.store(this.view, FIXED_SLOTS + this.groups + producer, value);
  }
}
