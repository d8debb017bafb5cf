import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { Persistence } from './persistence.js';
import type { QueueEntry } from './queue-entry.js';
import { RecordType, decodeMessage, encodeMessage, encodePrepared, type PreparedRecord } from './records.js';
import { Transaction } from './transaction.js';

/** The broker's prepared transactions, by the id their transaction manager gave them. */
export interface PreparedTransactionsAccess {
  commit(xid: string): Promise<void> | null;
  rollback(xid: string): void;
  xids(): string[];
  has(xid: string): boolean;
}

/** What completing a prepared transaction needs of the broker. */
export interface PreparedHost {
  /** Commits `tx` as a local commit does, with `within` written inside the same store transaction. */
  commit(tx: Transaction, within: (storeTx: number) => void): Promise<void> | null;
  rollback(tx: Transaction): void;
}

/**
 * Transactions a transaction manager has prepared (XA's first phase) and not yet completed. A
 * prepared transaction belongs to the broker, not to the connection that made it: it survives the
 * connection, and a broker restart, until someone commits or rolls it back by its id. The broker
 * never decides its outcome itself (no heuristic completion).
 */
export class PreparedTransactions {
  private readonly byXid = new Map<string, { tx: Transaction; recordId: number }>();

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
    private readonly host: PreparedHost,
  ) {}

  /**
   * Writes what the transaction will do (its persistent sends, the references it consumes) and
   * resolves once that is on disk: from then on, commit and rollback are both still possible.
   */
  prepare(tx: Transaction): Promise<void> {
    if (this.byXid.has(tx.id)) throw new FerryError('FERRY_TX_EXISTS', `transaction "${tx.id}" is already prepared`);
    const record: PreparedRecord = {
      xid: tx.id,
      sends: tx.sends.filter((m) => m.persistent).map((m) => encodeMessage(m)),
      acknowledged: tx.acknowledged.map((e) => e.referenceId).filter((id) => id !== 0),
      rejected: tx.rejected.map((e) => e.referenceId).filter((id) => id !== 0),
    };
    const storeTx = this.persistence.allocateId();
    const recordId = this.persistence.allocateId();
    this.store.add(recordId, RecordType.Prepared, encodePrepared(record), storeTx);
    this.store.commit(storeTx);
    this.byXid.set(tx.id, { tx, recordId });
    return this.store.sync();
  }

  /** XA's second phase: the transaction's work and the removal of its record commit together. */
  commit(xid: string): Promise<void> | null {
    const { tx, recordId } = this.take(xid);
    return this.host.commit(tx, (storeTx) => this.store.delete(recordId, storeTx));
  }

  rollback(xid: string): void {
    const { tx, recordId } = this.take(xid);
    this.store.delete(recordId);
    this.host.rollback(tx);
  }

  xids(): string[] {
    return [...this.byXid.keys()];
  }

  has(xid: string): boolean {
    return this.byXid.has(xid);
  }

  /** Rebuilds a prepared transaction after a restart; `entries` are the queue entries its references name. */
  recover(recordId: number, record: PreparedRecord, entries: ReadonlyMap<number, QueueEntry>): void {
    const tx = new Transaction(record.xid);
    for (const send of record.sends) tx.holdSend(decodeMessage(send));
    for (const id of record.acknowledged) {
      const entry = entries.get(id);
      if (entry !== undefined) tx.holdAcknowledged(entry);
    }
    for (const id of record.rejected) {
      const entry = entries.get(id);
      if (entry !== undefined) tx.holdRejected(entry);
    }
    this.byXid.set(record.xid, { tx, recordId });
  }

  private take(xid: string): { tx: Transaction; recordId: number } {
    const prepared = this.byXid.get(xid);
    if (prepared === undefined) throw new FerryError('FERRY_TX_NOT_FOUND', `no prepared transaction "${xid}"`);
    this.byXid.delete(xid);
    return prepared;
  }
}
