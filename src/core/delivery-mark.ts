import type { Store } from '../store/index.js';
import type { Persistence } from './persistence.js';
import { RecordType, encodeDeliveryMark } from './records.js';

/**
 * How far past a persistent message about to go out a queue's delivery mark is written. After a
 * crash, every message still waiting at or below the mark comes back flagged redelivered, so up to
 * this many messages that had not gone out yet may be flagged too; in return one small record and
 * one sync cover this many deliveries, written while the earlier half of the window goes out.
 */
export const DELIVERY_MARK_WINDOW = 1024;

/**
 * Writes `seq` as the queue's delivery mark; resolves when it is durable, or returns undefined when
 * the store keeps what it is given at once (or there is nothing to keep).
 */
export type DeliveryMarkWriter = (seq: number) => Promise<void> | undefined;

/**
 * A queue's delivery mark: the highest sequence of its persistent messages that may have reached a
 * consumer. It is written ahead of the deliveries it covers and synced before they go out, so that
 * a crash at any moment leaves a mark at or past every persistent message a consumer may have seen:
 * each of them comes back flagged redelivered, never as a first delivery (JMS's JMSRedelivered,
 * STOMP's `redelivered`, MQTT's DUP, AMQP's delivery count).
 */
export class DeliveryMark {
  /** Store record holding the mark, 0 until first written. */
  recordId = 0;
  /** The highest mark written, synced or not. */
  written = 0;
  /** The highest mark known durable: persistent messages up to it may go out. */
  private durable = 0;
  private writing = false;

  constructor(
    private readonly write: DeliveryMarkWriter,
    /** Called when a write that held deliveries back is durable. */
    private readonly resume: () => void,
  ) {}

  /** After a crash: the mark the store kept. */
  recovered(recordId: number, seq: number): void {
    this.recordId = recordId;
    this.written = seq;
    this.durable = seq;
  }

  /** The record is gone (a clean stop, a deleted queue): what comes later starts from nothing. */
  forget(): void {
    this.recordId = 0;
  }

  /** Forgets the record, and deletes it from `store` when given. */
  drop(store: Pick<Store, 'delete'> | undefined): void {
    if (store !== undefined && this.recordId !== 0) store.delete(this.recordId);
    this.forget();
  }

  /**
   * True when the persistent message with this sequence may go out now. Otherwise a write that
   * covers it is under way, and `resume` is called once it is durable.
   */
  covers(seq: number): boolean {
    if (seq <= this.durable) {
      // the next window is written while this one goes out, so a steady flow never waits for a sync
      if (seq > this.durable - DELIVERY_MARK_WINDOW / 2) this.advance(seq);
      return true;
    }
    this.advance(seq);
    return seq <= this.durable;
  }

  private advance(seq: number): void {
    if (this.writing) return;
    const target = Math.max(seq, this.written) + DELIVERY_MARK_WINDOW;
    this.written = target;
    const durable = this.write(target);
    if (durable === undefined) {
      this.durable = target;
      return;
    }
    this.writing = true;
    const done = (): void => {
      this.writing = false;
      if (target > this.durable) this.durable = target;
      this.resume();
    };
    // a store whose writes fail keeps the record and writes it again; deliveries go on meanwhile,
    // and the store's own refusal is what producers see (holding consumers back would free no space)
    durable.then(done, done);
  }
}

/** Writes `seq` as the mark of the queue whose record is `queueId`: added the first time, updated after. */
export function writeDeliveryMark(persistence: Persistence, mark: DeliveryMark, queueId: number, seq: number): Promise<void> | undefined {
  const store = persistence.store;
  const data = encodeDeliveryMark({ queueId, seq });
  if (mark.recordId === 0) {
    mark.recordId = persistence.allocateId();
    store.add(mark.recordId, RecordType.DeliveryMark, data);
  } else store.update(mark.recordId, RecordType.DeliveryMark, data);
  // a store whose writes fail does not hold deliveries back for the mark (see `advance`)
  return store.keepsAppendsAtOnce === true ? undefined : store.sync(true);
}
