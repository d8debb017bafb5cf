import type { Destination } from './message.js';

/** Message ids (and record ids) named per destination; the count goes on past it. */
const LISTED = 100;
/** Destinations named; the others are counted. */
const DESTINATIONS = 100;

interface PerDestination {
  count: number;
  readonly messageIds: string[];
  readonly recordIds: number[];
  /** Message records counted here already: a message can be both a dangling reference's and an orphan. */
  readonly seen: Set<number>;
}

export interface UnplacedDestination {
  /** `queue://name`, `topic://name` (a message's own destination), `subscription://name`; null when neither the queue nor the message is in the store. */
  readonly destination: string | null;
  /** Messages of this destination that recovery could not place. */
  readonly count: number;
  /** The first ids of those messages that the store still holds (a reference whose message record is gone names none). */
  readonly messageIds: readonly string[];
  /** The store's record ids, as extra detail: the reference's where its message record is gone, else the message record's. */
  readonly recordIds: readonly number[];
}

/**
 * What recovery could not place, told by destination and message id: the store's record ids alone
 * name nothing an operator can look up. A reference gives its queue; a message record gives its
 * own id and destination; a reference whose message record is lost leaves only its queue.
 */
export class UnplacedRecords {
  private readonly byDestination = new Map<string | null, PerDestination>();

  /** A reference whose message record the store does not hold: known by its queue, if that is held. */
  reference(queue: { readonly name: string; readonly kind: 'queue' | 'subscription' } | undefined, referenceId: number): void {
    const destination = queue === undefined ? null : `${queue.kind}://${queue.name}`;
    this.note(destination, undefined, referenceId, undefined);
  }

  /** A message record left unplaced (its reference's queue is gone, or it has no reference left). */
  message(recordId: number, message: { readonly id: string; readonly destination: Destination } | undefined): void {
    const destination = message === undefined ? null : `${message.destination.kind}://${message.destination.name}`;
    this.note(destination, message?.id, recordId, recordId);
  }

  get empty(): boolean {
    return this.byDestination.size === 0;
  }

  /** For the log line: the first destinations, each with its count and first ids, and how many destinations in all. */
  summary(): { destinations: number; unplaced: UnplacedDestination[] } {
    const unplaced: UnplacedDestination[] = [];
    for (const [destination, entry] of this.byDestination) {
      if (unplaced.length === DESTINATIONS) break;
      unplaced.push({ destination, count: entry.count, messageIds: entry.messageIds, recordIds: entry.recordIds });
    }
    return { destinations: this.byDestination.size, unplaced };
  }

  private note(destination: string | null, messageId: string | undefined, recordId: number, messageRecordId: number | undefined): void {
    let entry = this.byDestination.get(destination);
    if (entry === undefined) this.byDestination.set(destination, (entry = { count: 0, messageIds: [], recordIds: [], seen: new Set() }));
    if (messageRecordId !== undefined) {
      if (entry.seen.has(messageRecordId)) return;
      entry.seen.add(messageRecordId);
    }
    entry.count++;
    if (messageId !== undefined && entry.messageIds.length < LISTED) entry.messageIds.push(messageId);
    if (entry.recordIds.length < LISTED) entry.recordIds.push(recordId);
  }
}
