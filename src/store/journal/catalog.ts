import { join } from 'node:path';
import type { JournalFileSystem } from './file-system.js';
import { readFully, writeFully } from './file-system.js';
import { crc32, readU64, writeU64 } from './format.js';

/**
 * The catalog: the journal's records of the types its owner needs before it can serve (queues,
 * subscriptions, duplicate ids... everything but waiting messages), as they stood at one position
 * of the journal. With it, `open` reads the catalog and the journal written after it, and serves,
 * while the rest of the journal is replayed in the background; a restart or a takeover no longer
 * waits for a replay that grows with the backlog.
 *
 * File `catalog` in the journal's folder, written whole to `catalog.tmp`, synced, then renamed over
 * the old one. Integers are little-endian:
 *
 *   0  magic "FRYC"
 *   4  u16 version (2; 1 is still read: 2 says its records may have the layouts of journal format 3)
 *   6  u16 flags: bit 0, a transaction was prepared and not ended (the catalog is not used then)
 *   8  u32 segment number of the position
 *  12  u32 reserved, 0
 *  16  u64 file offset of the position: every frame before it is in the catalog, none after it
 *  24  u64 highest record or transaction id used
 *  32  u64 live records of the other types (the backlog the background replay puts back)
 *  40  u32 records, then as many: u64 id, u32 type, i32 anchor segment, i32 anchor commit
 *      segment (-1: none), u32 length, data
 *   .  u32 operations of open transactions, then as many: u64 txId, u8 op (0 add, 1 update,
 *      2 delete), u64 id, u32 type, u32 length, data
 *   .  u32 CRC32 of everything before
 *
 * A record's anchor segments are those of the frames that create it on replay. Recovery keeps a
 * record only while they exist: a segment is deleted only once everything it holds is dead, and the
 * frame that deleted a record outlives the record's own, so a record whose anchor is gone was
 * deleted (or moved, and the move is in the journal after the position).
 */
const MAGIC = 0x43595246; // "FRYC" read as a little-endian u32
const VERSION = 2;
const FLAG_PREPARED = 1;
const HEADER_SIZE = 40;
export const CATALOG_FILE = 'catalog';

export const EarlyOp = { Add: 0, Update: 1, Delete: 2 } as const;
export type EarlyOp = (typeof EarlyOp)[keyof typeof EarlyOp];

export interface EarlyRecord {
  readonly type: number;
  readonly data: Buffer;
}

export interface EarlyTxOp {
  readonly op: EarlyOp;
  readonly id: number;
  readonly type: number;
  readonly data: Buffer | undefined;
}

/**
 * The live records of early types and the early operations of open transactions, kept with the
 * same rules as the ledger (an add of a live id replaces it, an update of a record that is not live
 * is ignored, a transaction's operations apply at its commit): at run time for the next catalog,
 * and at open to replay the journal after the catalog's position.
 */
export class EarlyRecords {
  readonly records = new Map<number, EarlyRecord>();
  readonly transactions = new Map<number, EarlyTxOp[]>();
  /** Transactions prepared and not ended. */
  readonly prepared = new Set<number>();

  constructor(readonly early: (type: number) => boolean) {}

  add(id: number, type: number, data: Buffer): void {
    if (this.early(type)) this.records.set(id, { type, data: copy(data) });
  }

  update(id: number, type: number, data: Buffer): void {
    if (this.records.has(id)) this.records.set(id, { type, data: copy(data) });
  }

  delete(id: number): void {
    this.records.delete(id);
  }

  operation(txId: number, op: EarlyOp, id: number, type: number, data: Buffer | undefined): void {
    // Only what can change an early record: the others are the background replay's. A delete
    // matters only for a record live now or added earlier in the transaction (ids are never
    // reused), which spares a transaction of acknowledgements a list of them.
    if (op !== EarlyOp.Delete ? !this.early(type) : !this.records.has(id) && !this.transactions.get(txId)?.some((o) => o.id === id)) return;
    let ops = this.transactions.get(txId);
    if (ops === undefined) this.transactions.set(txId, (ops = []));
    ops.push({ op, id, type, data: data === undefined ? undefined : copy(data) });
  }

  prepare(txId: number): void {
    this.prepared.add(txId);
  }

  commit(txId: number): void {
    const ops = this.transactions.get(txId);
    this.transactions.delete(txId);
    this.prepared.delete(txId);
    for (const op of ops ?? []) {
      if (op.op === EarlyOp.Add) this.add(op.id, op.type, op.data!);
      else if (op.op === EarlyOp.Update) this.update(op.id, op.type, op.data!);
      else this.delete(op.id);
    }
  }

  rollback(txId: number): void {
    this.transactions.delete(txId);
    this.prepared.delete(txId);
  }

  /** At the end of a replay: a transaction neither prepared nor ended never happened. */
  dropUnprepared(): void {
    for (const txId of this.transactions.keys()) if (!this.prepared.has(txId)) this.transactions.delete(txId);
  }
}

/** A record's data is kept as its own copy: the caller's buffer may be a view into a larger one, or reused. */
function copy(data: Buffer): Buffer {
  return Buffer.from(data);
}

export interface CatalogPosition {
  readonly segment: number;
  readonly offset: number;
}

export interface CatalogRecord extends EarlyRecord {
  readonly id: number;
  readonly anchorSeg: number;
  readonly anchorCommit: number;
}

export interface Catalog {
  readonly position: CatalogPosition;
  readonly prepared: boolean;
  readonly maxId: number;
  readonly lateRecords: number;
  readonly records: readonly CatalogRecord[];
  readonly transactions: ReadonlyMap<number, readonly EarlyTxOp[]>;
}

export function encodeCatalog(catalog: Catalog): Buffer {
  let size = HEADER_SIZE + 4 + 4 + 4;
  for (const r of catalog.records) size += 24 + r.data.length;
  for (const ops of catalog.transactions.values()) for (const op of ops) size += 25 + (op.data?.length ?? 0);
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt16LE(VERSION, 4);
  buf.writeUInt16LE(catalog.prepared ? FLAG_PREPARED : 0, 6);
  buf.writeUInt32LE(catalog.position.segment, 8);
  writeU64(buf, catalog.position.offset, 16);
  writeU64(buf, catalog.maxId, 24);
  writeU64(buf, catalog.lateRecords, 32);
  let at = HEADER_SIZE;
  buf.writeUInt32LE(catalog.records.length, at);
  at += 4;
  for (const r of catalog.records) {
    writeU64(buf, r.id, at);
    buf.writeUInt32LE(r.type, at + 8);
    buf.writeInt32LE(r.anchorSeg, at + 12);
    buf.writeInt32LE(r.anchorCommit, at + 16);
    buf.writeUInt32LE(r.data.length, at + 20);
    r.data.copy(buf, at + 24);
    at += 24 + r.data.length;
  }
  let opCount = 0;
  for (const ops of catalog.transactions.values()) opCount += ops.length;
  buf.writeUInt32LE(opCount, at);
  at += 4;
  for (const [txId, ops] of catalog.transactions) {
    for (const op of ops) {
      writeU64(buf, txId, at);
      buf.writeUInt8(op.op, at + 8);
      writeU64(buf, op.id, at + 9);
      buf.writeUInt32LE(op.type, at + 17);
      const length = op.data?.length ?? 0;
      buf.writeUInt32LE(length, at + 21);
      op.data?.copy(buf, at + 25);
      at += 25 + length;
    }
  }
  buf.writeUInt32LE(crc32(buf.subarray(0, at)), at);
  return buf;
}

/** The catalog in `buf`, or why it cannot be used. */
export function decodeCatalog(buf: Buffer): Catalog | string {
  if (buf.length < HEADER_SIZE + 12) return 'it is too short';
  if (buf.readUInt32LE(0) !== MAGIC) return 'it does not start with the catalog magic';
  if (buf.readUInt16LE(4) !== VERSION && buf.readUInt16LE(4) !== 1) return `its version ${buf.readUInt16LE(4)} is not known`;
  const end = buf.length - 4;
  if (crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) return 'its checksum does not match';
  try {
    const records: CatalogRecord[] = [];
    let at = HEADER_SIZE;
    const count = buf.readUInt32LE(at);
    at += 4;
    for (let i = 0; i < count; i++) {
      const length = buf.readUInt32LE(at + 20);
      if (at + 24 + length > end) return 'a record runs past its end';
      records.push({
        id: readU64(buf, at),
        type: buf.readUInt32LE(at + 8),
        anchorSeg: buf.readInt32LE(at + 12),
        anchorCommit: buf.readInt32LE(at + 16),
        data: Buffer.from(buf.subarray(at + 24, at + 24 + length)),
      });
      at += 24 + length;
    }
    const transactions = new Map<number, EarlyTxOp[]>();
    const opCount = buf.readUInt32LE(at);
    at += 4;
    for (let i = 0; i < opCount; i++) {
      const txId = readU64(buf, at);
      const op = buf.readUInt8(at + 8);
      if (op > EarlyOp.Delete) return `an operation of kind ${op} is not known`;
      const length = buf.readUInt32LE(at + 21);
      if (at + 25 + length > end) return 'an operation runs past its end';
      let ops = transactions.get(txId);
      if (ops === undefined) transactions.set(txId, (ops = []));
      ops.push({ op: op as EarlyOp, id: readU64(buf, at + 9), type: buf.readUInt32LE(at + 17), data: op === EarlyOp.Delete ? undefined : Buffer.from(buf.subarray(at + 25, at + 25 + length)) });
      at += 25 + length;
    }
    if (at !== end) return 'it has bytes past its last entry';
    return {
      position: { segment: buf.readUInt32LE(8), offset: readU64(buf, 16) },
      prepared: (buf.readUInt16LE(6) & FLAG_PREPARED) !== 0,
      maxId: readU64(buf, 24),
      lateRecords: readU64(buf, 32),
      records,
      transactions,
    };
  } catch (err) {
    return (err as Error).message;
  }
}

/** The catalog in `dir`: undefined when there is none, a string saying why when it cannot be used. */
export async function readCatalog(fsys: JournalFileSystem, dir: string): Promise<Catalog | string | undefined> {
  let fd: number;
  try {
    fd = await fsys.open(join(dir, CATALOG_FILE), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const size = await fsys.size(fd);
    const buf = Buffer.allocUnsafe(size);
    await readFully(fsys, fd, buf, size, 0);
    return decodeCatalog(buf);
  } finally {
    await fsys.close(fd);
  }
}

/** Replaces the catalog in `dir`, durably when `sync`: a crash leaves the old one or the new one whole. */
export async function writeCatalog(fsys: JournalFileSystem, dir: string, catalog: Catalog, sync: boolean): Promise<void> {
  const data = encodeCatalog(catalog);
  const temporary = join(dir, `${CATALOG_FILE}.tmp`);
  const fd = await fsys.open(temporary, 'w');
  try {
    await writeFully(fsys, fd, data, data.length, 0);
    if (sync) await fsys.fdatasync(fd);
  } finally {
    await fsys.close(fd);
  }
  await fsys.rename(temporary, join(dir, CATALOG_FILE));
}

/** Removes the catalog: what it says no longer holds (a repair dropped records it may list). */
export async function removeCatalog(fsys: JournalFileSystem, dir: string): Promise<void> {
  await fsys.unlink(join(dir, CATALOG_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
