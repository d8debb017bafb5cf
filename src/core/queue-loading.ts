import { FerryError } from '../errors.js';
import type { QueueEntry } from './queue-entry.js';

/**
 * What a queue keeps while recovery is still putting its stored messages back after the broker
 * started serving (see `MessageQueue.startLoading`): how many are still to come, and the entries
 * accepted meanwhile, in order, to be placed after them.
 */
export class QueueLoading {
  private arrivals: QueueEntry[] = [];
  private discarded = false;
  private wholePromise: Promise<void> | undefined;
  private wholeNow: (() => void) | undefined;

  constructor(
    /** Stored messages recovery has still to put back. */
    private remaining: number,
  ) {}

  /** Waiting messages the queue does not hold yet: those to come and those that arrived meanwhile. */
  get count(): number {
    return this.remaining + this.arrivals.length;
  }

  /** Purged or deleted meanwhile: recovery deletes what is still to come instead of putting it back. */
  get discarding(): boolean {
    return this.discarded;
  }

  /** An entry accepted meanwhile (stored already, when persistent). */
  arrived(entry: QueueEntry): void {
    this.arrivals.push(entry);
  }

  /** Recovery now knows how many stored messages it will put back (it started without knowing). */
  expect(count: number): void {
    if (!this.discarded) this.remaining = count;
  }

  /** Recovery put one stored message back. */
  putBack(): void {
    if (this.remaining > 0) this.remaining--;
  }

  /** What is still to come is to be deleted; returns the arrivals, which the caller drops now. */
  discard(): QueueEntry[] {
    const arrivals = this.arrivals;
    this.arrivals = [];
    this.remaining = 0;
    this.discarded = true;
    return arrivals;
  }

  /** Resolves once the queue is whole (see `whole`). */
  whenWhole(): Promise<void> {
    return (this.wholePromise ??= new Promise<void>((resolve) => (this.wholeNow = resolve)));
  }

  /** Every stored message is back: returns the arrivals to place, and lets waiting gets go. */
  whole(): QueueEntry[] {
    this.wholeNow?.();
    return this.arrivals;
  }
}

/** The refusal of what needs every waiting message of queue `name` while some are still to come. */
export function stillLoading(name: string): FerryError {
  return new FerryError('FERRY_QUEUE_LOADING', `queue "${name}" is still being loaded from the store after the broker started; its messages can be browsed, listed or moved once it is loaded`);
}
