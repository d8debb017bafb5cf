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
  private remaining: number;
  /** False until recovery knows how many stored messages it will put back (a store opened from its catalog says so once it has read the rest). */
  private counted: boolean;
  /** Answers a purge that came before recovery had counted what it will put back, with that count. */
  private answerDiscard: ((count: number) => void) | undefined;
  private wholePromise: Promise<void> | undefined;
  private wholeNow: (() => void) | undefined;

  /** `remaining`: the stored messages recovery has still to put back, undefined while it does not know. */
  constructor(remaining: number | undefined) {
    this.remaining = remaining ?? 0;
    this.counted = remaining !== undefined;
  }

  /** Waiting messages the queue does not hold yet and knows of: those to come, once counted, and those that arrived meanwhile. */
  get count(): number {
    return this.remaining + this.arrivals.length;
  }

  /** Stored messages recovery has still to put back; undefined while it has not counted them yet (none once purged). */
  get toLoad(): number | undefined {
    return this.counted || this.discarded ? this.remaining : undefined;
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
    this.counted = true;
    const answer = this.answerDiscard;
    this.answerDiscard = undefined;
    // a purge that came first deletes them: it is told how many, and none is to come any more
    if (answer !== undefined) answer(count);
    else if (!this.discarded) this.remaining = count;
  }

  /** Recovery put one stored message back. */
  putBack(): void {
    if (this.remaining > 0) this.remaining--;
  }

  /**
   * What is still to come is to be deleted: returns the arrivals, which the caller drops now, and
   * how many stored messages recovery will delete instead of putting back; while it has not counted
   * them, a promise of that count, kept once it has.
   */
  discard(): { arrivals: QueueEntry[]; toLoad: number | Promise<number> } {
    const arrivals = this.arrivals;
    this.arrivals = [];
    let toLoad: number | Promise<number> = this.remaining;
    // a second purge before the count finds nothing more to come: the first one has it
    if (!this.counted && !this.discarded) toLoad = new Promise<number>((resolve) => (this.answerDiscard = resolve));
    this.remaining = 0;
    this.discarded = true;
    return { arrivals, toLoad };
  }

  /** Resolves once the queue is whole (see `whole`). */
  whenWhole(): Promise<void> {
    return (this.wholePromise ??= new Promise<void>((resolve) => (this.wholeNow = resolve)));
  }

  /** Every stored message is back: returns the arrivals to place, and lets waiting gets go. */
  whole(): QueueEntry[] {
    // a queue recovery found nothing stored for is whole without a count: a purge waiting for one dropped none
    this.answerDiscard?.(0);
    this.answerDiscard = undefined;
    this.wholeNow?.();
    return this.arrivals;
  }
}

/** The refusal of what needs every waiting message of queue `name` while some are still to come. */
export function stillLoading(name: string): FerryError {
  return new FerryError('FERRY_QUEUE_LOADING', `queue "${name}" is still being loaded from the store after the broker started; its messages can be browsed, listed or moved once it is loaded`);
}
