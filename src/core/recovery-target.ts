import type { Declarations } from './declarations.js';
import type { Destinations } from './destinations.js';
import type { QueueEntry } from './queue-entry.js';
import type { PreparedRecord } from './records.js';
import type { RecoveryTarget } from './recovery.js';
import type { TopicSubscriptions } from './subscriptions.js';

/** What keeps records of its own among the parts a broker makes once its store is open. */
export interface RecoveringParts {
  readonly scheduler: { recover(recordId: number, data: Buffer): void };
  readonly duplicates: { recover(recordId: number, data: Buffer): void };
  readonly retained: { recover(recordId: number, data: Buffer): void };
  readonly marks: { recover(recordId: number, data: Buffer): void };
  readonly prepared: { recover(recordId: number, record: PreparedRecord, entries: ReadonlyMap<number, QueueEntry>): void };
  readonly persistence: { recoverSequenceCeiling(recordId: number, data: Buffer): void; readonly sequenceCeiling: number | undefined; coverSequence(seq: number): void };
}

/** How recovery puts the store's records back into a starting broker. */
export function recoveryTarget(destinations: Destinations, declarations: Declarations, subscriptions: TopicSubscriptions, parts: RecoveringParts): RecoveryTarget {
  return {
    recoverQueue: (recordId, record) => {
      const queue = destinations.recoverQueue(recordId, record.name);
      if (record.spec !== undefined) declarations.adopt(queue, record.spec, undefined);
      return queue;
    },
    recoverExchange: (recordId, spec) => declarations.recoverExchange(recordId, spec),
    recoverBinding: (recordId, spec) => declarations.recoverBinding(recordId, spec),
    recoverDurable: (recordId, subscription) => subscriptions.recoverDurable(recordId, subscription),
    recoverScheduled: (recordId, data) => parts.scheduler.recover(recordId, data),
    recoverDuplicateId: (recordId, data) => parts.duplicates.recover(recordId, data),
    recoverRetained: (recordId, data) => parts.retained.recover(recordId, data),
    recoverSequenceMark: (recordId, data) => parts.marks.recover(recordId, data),
    recoverSequenceCeiling: (recordId, data) => parts.persistence.recoverSequenceCeiling(recordId, data),
    sequenceCeiling: () => parts.persistence.sequenceCeiling,
    coverSequence: (seq) => parts.persistence.coverSequence(seq),
    recoverPrepared: (recordId, record, entries) => parts.prepared.recover(recordId, record, entries),
  };
}
