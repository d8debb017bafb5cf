import { FerryError } from '../errors.js';
import type { PreparedTransaction, RecoveredState, Store, StoreRecord, StoreStats, TransactionOperation } from './store.js';

interface OpenTransaction {
  operations: TransactionOperation[];
  prepared: Buffer | undefined;
}

/**
 * Keeps records in memory. Nothing survives the process, but an instance can be closed and opened
 * again, which is how tests restart a broker on the same records without a disk.
 */
export class MemoryStore implements Store {
  readonly keepsAppendsAtOnce = true;
  private readonly records = new Map<number, StoreRecord>();
  private readonly transactions = new Map<number, OpenTransaction>();
  private maxId = 0;
  private bytes = 0;
  private opened = false;

  async open(): Promise<RecoveredState> {
    this.opened = true;
    const prepared: PreparedTransaction[] = [];
    for (const [txId, tx] of this.transactions) {
      if (tx.prepared === undefined) this.transactions.delete(txId);
      else prepared.push({ txId, data: tx.prepared, operations: [...tx.operations] });
    }
    return { records: [...this.records.values()], prepared, maxId: this.maxId };
  }

  add(id: number, type: number, data: Buffer, txId?: number): void {
    this.append({ op: 'add', record: { id, type, data } }, txId);
  }

  update(id: number, type: number, data: Buffer, txId?: number): void {
    this.append({ op: 'update', record: { id, type, data } }, txId);
  }

  delete(id: number, txId?: number): void {
    this.append({ op: 'delete', id }, txId);
  }

  prepare(txId: number, data: Buffer): void {
    this.transaction(txId).prepared = data;
  }

  commit(txId: number): void {
    const tx = this.transactions.get(txId);
    this.transactions.delete(txId);
    if (tx !== undefined) for (const operation of tx.operations) this.apply(operation);
  }

  rollback(txId: number): void {
    this.transactions.delete(txId);
  }

  sync(): Promise<void> {
    this.assertOpen();
    return Promise.resolve();
  }

  async compact(): Promise<void> {}

  stats(): StoreStats {
    return { records: this.records.size, bytes: this.bytes };
  }

  async close(): Promise<void> {
    this.opened = false;
  }

  private append(operation: TransactionOperation, txId: number | undefined): void {
    this.assertOpen();
    const id = operation.op === 'delete' ? operation.id : operation.record.id;
    if (id > this.maxId) this.maxId = id;
    if (txId === undefined) this.apply(operation);
    else this.transaction(txId).operations.push(operation);
  }

  private transaction(txId: number): OpenTransaction {
    if (txId > this.maxId) this.maxId = txId;
    let tx = this.transactions.get(txId);
    if (tx === undefined) {
      tx = { operations: [], prepared: undefined };
      this.transactions.set(txId, tx);
    }
    return tx;
  }

  private apply(operation: TransactionOperation): void {
    if (operation.op === 'delete') {
      const old = this.records.get(operation.id);
      if (old !== undefined) this.bytes -= old.data.length;
      this.records.delete(operation.id);
      return;
    }
    const old = this.records.get(operation.record.id);
    if (old !== undefined) this.bytes -= old.data.length;
    else if (operation.op === 'update') return;
    this.bytes += operation.record.data.length;
    // an update keeps the record's place in the recovery order, as a journal replay would
    this.records.set(operation.record.id, operation.record);
  }

  private assertOpen(): void {
    if (!this.opened) throw new FerryError('FERRY_STORE_FAILED', 'the memory store is not open');
  }
}
