import type { Store } from '../store/index.js';
import type { Message } from './message.js';
import type { Persistence } from './persistence.js';
import { RecordType, decodeDuplicateId, encodeDuplicateId } from './records.js';

/** The property a producer sets to a unique id so that a resend of the same message is dropped. */
export const DUPLICATE_ID_PROPERTY = '_AMQ_DUPL_ID';

/** The message's duplicate-detection id: the one the broker gave it (a network link's), else its producer's, if any. */
export function duplicateIdOf(message: Message): string | undefined {
  const value = message.brokerProperties?.get(DUPLICATE_ID_PROPERTY) ?? message.properties.get(DUPLICATE_ID_PROPERTY);
  return value === undefined || value === null ? undefined : String(value);
}

/**
 * Remembers, per destination, the last `window` duplicate-detection ids, in the store, so a
 * producer that resends after a failure (even across a broker restart) does not enqueue twice.
 * A producer's own ids (`SendOptions.producerId`) are kept the same way, under `producer:<client id>`,
 * until the producer says it is done with them.
 */
export class DuplicateDetector {
  /** destination -> (id -> record id, 0 when kept in memory only, and its message's timestamp), oldest first. */
  private readonly seen = new Map<string, Map<string, Remembered>>();

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
  ) {}

  isDuplicate(destination: string, id: string): boolean {
    return this.seen.get(destination)?.has(id) === true;
  }

  /**
   * Remembers `id`, forgetting the oldest beyond `window`; persisted ones inside `txId`. A message
   * older (by `timestamp`) than every id a full window holds is taken without being remembered: a
   * backlog of copies arriving late along a second path of a network, in their original order,
   * would otherwise push out, one by one, the ids of the originals just ahead of them, and every
   * copy would get through, not only those older than the window.
   */
  remember(destination: string, id: string, window: number, persist: boolean, txId?: number, timestamp = Number.POSITIVE_INFINITY): void {
    let ids = this.seen.get(destination);
    if (ids === undefined) this.seen.set(destination, (ids = new Map()));
    if (ids.size >= window && ids.size > 0 && timestamp < (ids.values().next().value as Remembered).timestamp) return;
    let recordId = 0;
    if (persist) {
      recordId = this.persistence.allocateId();
      this.store.add(recordId, RecordType.DuplicateId, encodeDuplicateId({ destination, duplicateId: id }), txId);
    }
    ids.set(id, { recordId, timestamp });
    while (ids.size > window) {
      const [oldest, { recordId: oldestRecord }] = ids.entries().next().value as [string, Remembered];
      ids.delete(oldest);
      if (oldestRecord !== 0) this.store.delete(oldestRecord, txId);
    }
  }

  idsOf(destination: string): string[] {
    return [...(this.seen.get(destination)?.keys() ?? [])];
  }

  /** The destinations (scopes) starting with `prefix` that hold ids. */
  destinationsStartingWith(prefix: string): string[] {
    return [...this.seen.keys()].filter((destination) => destination.startsWith(prefix));
  }

  /** Forgets one id (its producer has finished with it). */
  forget(destination: string, id: string): boolean {
    const ids = this.seen.get(destination);
    const recordId = ids?.get(id)?.recordId;
    if (recordId === undefined) return false;
    ids!.delete(id);
    if (ids!.size === 0) this.seen.delete(destination);
    if (recordId !== 0) this.store.delete(recordId);
    return true;
  }

  /** Forgets every id under `destination`. */
  forgetAll(destination: string): void {
    const ids = this.seen.get(destination);
    if (ids === undefined) return;
    this.seen.delete(destination);
    for (const { recordId } of ids.values()) if (recordId !== 0) this.store.delete(recordId);
  }

  recover(recordId: number, data: Buffer): void {
    const { destination, duplicateId } = decodeDuplicateId(data);
    let ids = this.seen.get(destination);
    if (ids === undefined) this.seen.set(destination, (ids = new Map()));
    // its message's time is not stored: it counts as older than nothing
    ids.set(duplicateId, { recordId, timestamp: Number.NEGATIVE_INFINITY });
  }
}

interface Remembered {
  readonly recordId: number;
  readonly timestamp: number;
}
