import type { Store } from '../store/index.js';
import type { Persistence } from './persistence.js';
import { RecordType, decodeSequenceMark, encodeSequenceMark } from './records.js';

/** What a protocol sees of the marks: its own keys only (see `Broker.sequenceMarks`). */
export interface SequenceMarkBook {
  /** Every mark kept, oldest first. */
  entries(): Iterable<[string, number]>;
  /** Raises the mark of `key` to `value` (a lower one is ignored). */
  set(key: string, value: number): void;
  delete(key: string): void;
}

interface Mark {
  readonly recordId: number;
  value: number;
}

/**
 * The highest sequence numbers taken from producers, kept across restarts: OpenWire's failover
 * audit, so that a JMS client's resend after a crash is not taken twice even when the first copy
 * was consumed before the crash. A mark is appended after the message it covers and nothing waits
 * for it: the store keeps a prefix of what was appended, so a mark found after a crash covers only
 * messages the broker had taken, and a mark lost in a crash covers messages whose own records were
 * lost with it or still wait in their queues (where the audit finds them). At most `limit` marks are
 * kept; the one used longest ago goes first.
 */
export class SequenceMarks {
  private readonly marks = new Map<string, Mark>();

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
    private readonly limit = 65_536,
  ) {}

  recover(recordId: number, data: Buffer): void {
    const { key, value } = decodeSequenceMark(data);
    const kept = this.marks.get(key);
    if (kept !== undefined) {
      // one record per key is written; two can only mean a bug, and the higher is the safe one
      const [dropped, stays] = kept.value >= value ? [recordId, kept] : [kept.recordId, { recordId, value }];
      this.store.delete(dropped);
      this.marks.set(key, stays);
      return;
    }
    this.marks.set(key, { recordId, value });
  }

  /** The marks under `scope` (a protocol's name), keyed without it. */
  book(scope: string): SequenceMarkBook {
    const prefix = `${scope}\u0000`;
    return {
      entries: () => this.entriesUnder(prefix),
      set: (key, value) => this.set(prefix + key, value),
      delete: (key) => this.delete(prefix + key),
    };
  }

  private *entriesUnder(prefix: string): IterableIterator<[string, number]> {
    for (const [key, mark] of this.marks) if (key.startsWith(prefix)) yield [key.slice(prefix.length), mark.value];
  }

  private set(key: string, value: number): void {
    const data = (): Buffer => encodeSequenceMark({ key, value });
    const mark = this.marks.get(key);
    if (mark !== undefined) {
      if (value <= mark.value) return;
      mark.value = value;
      this.store.update(mark.recordId, RecordType.SequenceMark, data());
      // the most recently used last: the first in the map is the one to let go
      this.marks.delete(key);
      this.marks.set(key, mark);
      return;
    }
    const recordId = this.persistence.allocateId();
    this.store.add(recordId, RecordType.SequenceMark, data());
    this.marks.set(key, { recordId, value });
    if (this.marks.size > this.limit) this.delete(this.marks.keys().next().value!);
  }

  private delete(key: string): void {
    const mark = this.marks.get(key);
    if (mark === undefined) return;
    this.marks.delete(key);
    this.store.delete(mark.recordId);
  }
}
