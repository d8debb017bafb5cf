import type { Store } from '../store/index.js';
import type { Message } from './message.js';
import type { QueueEntry, StoredMessage } from './queue-entry.js';
import type { BodyCache } from './body-cache.js';
import { RecordType, decodeSequenceCeiling, encodeReference, encodeSequenceCeiling, encodeStoredMessage } from './records.js';
import { bodyState } from './message.js';

/** How far past the sequence number that reaches it the ceiling is raised: one record per this many references. */
const CEILING_STEP = 1 << 20;

/**
 * Turns core's state changes into store records: one message record per persistent message, one
 * reference record per queue it waits in, deleted as each queue acknowledges it, and the message
 * record deleted with its last reference.
 */
/** When the queue's message TTL expires the entry, if that comes before the message's own expiry (see `ReferenceRecord`). */
function queueExpiry(entry: QueueEntry): number {
  return entry.expiresAt !== entry.message.expiration ? entry.expiresAt : 0;
}

export class Persistence {
  private nextId: number;
  /** While set, every message record stored is listed here (see `storedBy`). */
  private collecting: StoredMessage[] | undefined;
  /**
   * Above the sequence number of every reference in the store, and its record (0: none yet). A
   * reference that reaches it raises it first, in an earlier append: the store keeps a prefix of
   * what was appended, so whatever a crash leaves, the ceiling recovered is above every sequence
   * number recovered.
   */
  private ceiling = 0;
  private ceilingRecordId = 0;

  constructor(
    readonly store: Store,
    maxRecoveredId: number,
    readonly bodies: BodyCache,
    /** See `BrokerOptions.confirmConsumed`. */
    private readonly confirmConsumed = true,
  ) {
    this.nextId = maxRecoveredId + 1;
  }

  allocateId(): number {
    return this.nextId++;
  }

  storeMessage(message: Message, txId?: number): StoredMessage {
    const recordId = this.allocateId();
    this.store.add(recordId, RecordType.StoredMessage, encodeStoredMessage(message), txId);
    this.bodies.stored(message, recordId);
    const stored: StoredMessage = { recordId, references: 0, whenConsumed: undefined };
    this.collecting?.push(stored);
    return stored;
  }

  /** Runs `route` and lists the message records it stored into `stored`; returns what `route` did. */
  storedBy(stored: StoredMessage[], route: () => boolean): boolean {
    this.collecting = stored;
    try {
      return route();
    } finally {
      this.collecting = undefined;
    }
  }

  /**
   * Writes a non-persistent message waiting in one queue to the store, so that the body cache may
   * let its body leave memory as it does persistent ones' (memoryPolicy page past a memory limit).
   * Nothing waits for the write: the message does not outlive the broker anyway. The record goes
   * when the queue lets the message go (`unpage`), or at the next start.
   */
  page(message: Message): void {
    const m = bodyState(message);
    if (!this.bodies.enabled || m.bodyRecordId !== 0 || m.residentBody === null) return;
    const recordId = this.allocateId();
    this.store.add(recordId, RecordType.PagedMessage, encodeStoredMessage(message));
    this.bodies.stored(message, recordId);
    m.paged = true;
    this.bodies.offer(message);
  }

  /** The queue a paged message waited in let it go: its record goes. */
  unpage(message: Message): void {
    const m = bodyState(message);
    if (!m.paged) return;
    m.paged = false;
    // a body still needed elsewhere (a dead-letter copy is made before) was read already
    if (m.bodyRecordId !== 0) this.store.delete(m.bodyRecordId);
    this.bodies.released(message);
  }

  /** A ceiling record from the store (see `ceiling`); of two, the higher stays. */
  recoverSequenceCeiling(recordId: number, data: Buffer): void {
    const value = decodeSequenceCeiling(data);
    if (this.ceilingRecordId !== 0) this.store.delete(value > this.ceiling ? this.ceilingRecordId : recordId);
    if (value <= this.ceiling) return;
    this.ceiling = value;
    this.ceilingRecordId = recordId;
  }

  /** The ceiling recovered, if the store held one: every stored reference's sequence number is below it. */
  get sequenceCeiling(): number | undefined {
    return this.ceilingRecordId === 0 ? undefined : this.ceiling;
  }

  /** Every sequence number up to `seq` may be in the store from now on: raises the ceiling past it if needed. */
  coverSequence(seq: number): void {
    if (seq < this.ceiling) return;
    this.ceiling = seq + CEILING_STEP;
    if (this.ceilingRecordId === 0) {
      this.ceilingRecordId = this.allocateId();
      this.store.add(this.ceilingRecordId, RecordType.SequenceCeiling, encodeSequenceCeiling(this.ceiling));
    } else this.store.update(this.ceilingRecordId, RecordType.SequenceCeiling, encodeSequenceCeiling(this.ceiling));
  }

  addReference(queueId: number, entry: QueueEntry, txId?: number): void {
    const stored = entry.stored!;
    if (entry.seq >= this.ceiling) this.coverSequence(entry.seq);
    entry.referenceId = this.allocateId();
    stored.references++;
    this.store.add(
      entry.referenceId,
      RecordType.Reference,
      encodeReference({ queueId, messageRecordId: stored.recordId, seq: entry.seq, deliveryCount: entry.redeliveries, delayed: false, returns: entry.returns, queueExpiry: queueExpiry(entry) }),
      txId,
    );
  }

  /** Stores the entry's counts; `delayed` while it waits out a redelivery delay (see `ReferenceRecord.delayed`). */
  updateDeliveryCount(queueId: number, entry: QueueEntry, delayed = false): void {
    if (entry.referenceId === 0) return;
    this.store.update(
      entry.referenceId,
      RecordType.Reference,
      encodeReference({ queueId, messageRecordId: entry.stored!.recordId, seq: entry.seq, deliveryCount: entry.redeliveries, delayed, returns: entry.returns, queueExpiry: queueExpiry(entry) }),
    );
  }

  /**
   * The entry holds `copy` of its message from now on (a consumer changed its properties). When the
   * entry is stored, the copy is stored as a message record of its own and the entry's reference
   * moves to it, in one transaction, so that a crash leaves the reference on one whole message or
   * the other; the old record goes with its last reference, as it does on an acknowledgement. The
   * message may wait in other queues too, which keep it as it was.
   */
  replaceMessage(queueId: number, entry: QueueEntry, copy: Message): void {
    const old = entry.stored;
    const message = entry.message;
    entry.message = copy;
    if (old === null || entry.referenceId === 0) {
      entry.stored = null;
      // a non-persistent message written out past a memory limit: the copy is in memory
      this.unpage(message);
      return;
    }
    const txId = this.allocateId();
    const stored = this.storeMessage(copy, txId);
    stored.references = 1;
    entry.stored = stored;
    this.store.update(
      entry.referenceId,
      RecordType.Reference,
      encodeReference({ queueId, messageRecordId: stored.recordId, seq: entry.seq, deliveryCount: entry.redeliveries, delayed: false, returns: entry.returns, queueExpiry: queueExpiry(entry) }),
      txId,
    );
    if (--old.references === 0) {
      this.store.delete(old.recordId, txId);
      // its producer's confirmation may be waiting for the message to be consumed: it now is the copy
      stored.whenConsumed = old.whenConsumed;
      old.whenConsumed = undefined;
    }
    this.store.commit(txId);
    if (old.references === 0) this.bodies.released(message);
  }

  removeReference(entry: QueueEntry, txId?: number): void {
    if (entry.referenceId === 0) return;
    this.store.delete(entry.referenceId, txId);
    entry.referenceId = 0;
    const stored = entry.stored!;
    if (--stored.references === 0) {
      this.store.delete(stored.recordId, txId);
      this.bodies.released(entry.message);
    }
  }

  /**
   * Resolves once the message records are durable, or once consumers have acknowledged them
   * everywhere they were stored, whichever comes first: a message consumed before its write is
   * synced needs no disk to keep its promise (it was delivered), so its producer does not wait for
   * one. ActiveMQ (concurrent store and dispatch) and RabbitMQ (a confirm for a consumed message) do
   * the same. Sends that carry duplicate-detection ids, transactions and retained messages always
   * wait for the disk: what they promise outlives the delivery.
   */
  durableOrConsumed(stored: readonly StoredMessage[]): Promise<void> {
    const durable = this.store.sync();
    if (stored.length === 0 || !this.confirmConsumed) return durable;
    return new Promise<void>((resolve, reject) => {
      let waiting = 0;
      const consumed = (): void => {
        if (--waiting === 0) resolve();
      };
      // once on disk the hook is let go: a backlog of a million messages would otherwise keep a
      // million closures until each is consumed
      const forget = (): void => {
        for (const record of stored) if (record.whenConsumed === consumed) record.whenConsumed = undefined;
      };
      durable.then(
        () => {
          forget();
          resolve();
        },
        (err: unknown) => {
          forget();
          reject(err);
        },
      );
      for (const record of stored) {
        if (record.references === 0) continue;
        waiting++;
        record.whenConsumed = consumed;
      }
      if (waiting === 0) resolve();
    });
  }
}
