import { FerryError } from '../../errors.js';
import type { TransactionOperation } from '../store.js';

/**
 * What one commit does to a record: write it (insert, or replace the data of the row that has the
 * id) or delete it. `fresh` means no row with the id can be in the database, so a delete of it
 * needs no statement at all.
 */
export type RecordChange =
  | { readonly put: true; readonly type: number; readonly data: Buffer; readonly seq: number; readonly fresh: boolean }
  | { readonly put: false };

export type PreparedChange = { readonly put: true; readonly data: Buffer; readonly operations: Buffer; readonly fresh: boolean } | { readonly put: false };

/**
 * The appends of one turn of the event loop, folded by id: only the last state of each record
 * reaches the database, and a record added and deleted before its batch is taken never does.
 * Every change is idempotent (a write by id, a delete by id), so a batch whose commit failed can be
 * folded with the next one and sent again, whether or not the failed commit had reached the disk.
 */
export class PendingBatch {
  readonly records = new Map<number, RecordChange>();
  readonly prepared = new Map<number, PreparedChange>();

  get empty(): boolean {
    return this.records.size === 0 && this.prepared.size === 0;
  }

  putRecord(id: number, type: number, data: Buffer, seq: number, fresh: boolean): void {
    const old = this.records.get(id);
    // the first write of a record gives it its place in the recovery order; a later one keeps it
    if (old?.put === true) this.records.set(id, { put: true, type, data, seq: old.seq, fresh: old.fresh });
    else this.records.set(id, { put: true, type, data, seq, fresh: fresh && old === undefined });
  }

  deleteRecord(id: number): void {
    const old = this.records.get(id);
    if (old?.put === true && old.fresh) this.records.delete(id);
    else this.records.set(id, { put: false });
  }

  putPrepared(txId: number, data: Buffer, operations: Buffer, fresh: boolean): void {
    const old = this.prepared.get(txId);
    this.prepared.set(txId, { put: true, data, operations, fresh: old === undefined ? fresh : old.put && old.fresh });
  }

  deletePrepared(txId: number): void {
    const old = this.prepared.get(txId);
    if (old?.put === true && old.fresh) this.prepared.delete(txId);
    else this.prepared.set(txId, { put: false });
  }

  /**
   * This batch's commit failed, and the database may or may not have it: nothing in it is fresh any
   * more, so a later delete of one of its records reaches the database.
   */
  unsure(): void {
    for (const [id, change] of this.records) if (change.put && change.fresh) this.records.set(id, { ...change, fresh: false });
    for (const [txId, change] of this.prepared) if (change.put && change.fresh) this.prepared.set(txId, { ...change, fresh: false });
  }

  /** Folds the changes of a newer batch over this one's. */
  absorb(newer: PendingBatch): void {
    for (const [id, change] of newer.records) {
      if (change.put) this.putRecord(id, change.type, change.data, change.seq, change.fresh);
      else this.deleteRecord(id);
    }
    for (const [txId, change] of newer.prepared) {
      if (change.put) this.putPrepared(txId, change.data, change.operations, change.fresh);
      else this.deletePrepared(txId);
    }
  }
}

const OP_ADD = 1;
const OP_UPDATE = 2;
const OP_DELETE = 3;
/** op (1), id (8), type (4), data length (4) */
const OP_HEADER = 17;

/** A prepared transaction's operations as one value of its row. */
export function encodeOperations(operations: readonly TransactionOperation[]): Buffer {
  let size = 0;
  for (const op of operations) size += OP_HEADER + (op.op === 'delete' ? 0 : op.record.data.length);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const op of operations) {
    out.writeUInt8(op.op === 'add' ? OP_ADD : op.op === 'update' ? OP_UPDATE : OP_DELETE, at);
    if (op.op === 'delete') {
      out.writeBigUInt64BE(BigInt(op.id), at + 1);
      out.writeUInt32BE(0, at + 9);
      out.writeUInt32BE(0, at + 13);
      at += OP_HEADER;
      continue;
    }
    const { id, type, data } = op.record;
    out.writeBigUInt64BE(BigInt(id), at + 1);
    out.writeUInt32BE(type, at + 9);
    out.writeUInt32BE(data.length, at + 13);
    data.copy(out, at + OP_HEADER);
    at += OP_HEADER + data.length;
  }
  return out;
}

export function decodeOperations(txId: number, bytes: Buffer): TransactionOperation[] {
  const operations: TransactionOperation[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + OP_HEADER > bytes.length) throw corrupt(txId, at);
    const kind = bytes.readUInt8(at);
    const id = Number(bytes.readBigUInt64BE(at + 1));
    const type = bytes.readUInt32BE(at + 9);
    const length = bytes.readUInt32BE(at + 13);
    const end = at + OP_HEADER + length;
    if (end > bytes.length || !Number.isSafeInteger(id)) throw corrupt(txId, at);
    if (kind === OP_DELETE) operations.push({ op: 'delete', id });
    else if (kind === OP_ADD || kind === OP_UPDATE) operations.push({ op: kind === OP_ADD ? 'add' : 'update', record: { id, type, data: Buffer.from(bytes.subarray(at + OP_HEADER, end)) } });
    else throw corrupt(txId, at);
    at = end;
  }
  return operations;
}

function corrupt(txId: number, at: number): FerryError {
  return new FerryError('FERRY_STORE_CORRUPT', `the operations of prepared transaction ${txId} in PostgreSQL do not decode (at byte ${at})`);
}
