import type { JournalSegment } from './segment.js';
import { RecordTable } from './record-table.js';
import { RecoveredData } from './recovered-data.js';

export const TxOp = { Add: 0, Update: 1, Delete: 2 } as const;
export type TxOp = (typeof TxOp)[keyof typeof TxOp];

export interface TxOperation {
  readonly op: TxOp;
  readonly id: number;
  readonly type: number;
  readonly seg: number;
  readonly pos: number;
  readonly length: number;
  readonly bytes: number;
  data: Buffer | undefined;
}

export interface OpenTransaction {
  readonly ops: TxOperation[];
  /** Frames of the transaction (operations and prepare), pinned until it ends. */
  readonly frames: number[];
  prepared: boolean;
  prepareSeg: number;
  prepareData: Buffer | undefined;
}

/**
 * The journal's bookkeeping, fed the same way by replay at recovery and by appends at run time:
 * the index of live records (without their data), open transactions, and for every segment how
 * many of its frames are still needed and which older segments it must outlive.
 *
 * The invariant that keeps recovery right while segments are deleted: a frame that cancels a
 * record (a delete, or the commit or rollback ending a prepared transaction) lives in a segment
 * that is deleted only after every older segment holding what it cancels is gone.
 */
export class JournalLedger {
  /** Live records: where each one's data is, and which frames a replay needs to rebuild it. */
  readonly records = new RecordTable();
  /** Segments of add frames of a record other than its anchor's (left behind by compaction), by id; rare. */
  private readonly olderAdds = new Map<number, number[]>();
  readonly transactions = new Map<number, OpenTransaction>();
  /** Records that an open transaction touches, with how many of its operations do; compaction leaves them be. */
  readonly pendingTargets = new Map<number, number>();
  /** Segments whose live count reached 0, for the reclaimer to look at. */
  readonly emptied = new Set<JournalSegment>();
  /** Only during recovery: live records' data, to be handed back once. */
  recovered: RecoveredData | undefined;
  maxId = 0;
  dataBytes = 0;
  /** Append sequence of the frame being applied; stamped on segments as they empty. */
  seq = 0;

  constructor(readonly segments: Map<number, JournalSegment>) {}

  /** Starts a replay: records keep their data until `endRecovery`, and rows keep the order of first adds. */
  startRecovery(): RecoveredData {
    this.records.appendOnly = true;
    this.records.squeezable = true;
    const recovered = new RecoveredData();
    this.recovered = recovered;
    this.records.moved = (from, to) => recovered.move(from, to);
    return recovered;
  }

  /**
   * Replay is over; the records are being handed back by row number, so rows stay where they are
   * and removed ones are not reused until `endRecovery`.
   */
  replayed(): void {
    this.records.squeezable = false;
    this.records.moved = undefined;
  }

  /** From here on the journal keeps only where the data is. */
  endRecovery(): void {
    this.recovered = undefined;
    this.records.moved = undefined;
    this.records.reuseRemoved();
  }

  /** Adds a record; during recovery, `data` is what to keep of it, copied from `from[start, end)`. */
  add(id: number, type: number, seg: number, pos: number, length: number, bytes: number, from?: Buffer, start = 0, end = 0): void {
    this.seen(id);
    const row = this.put(id, type, seg, pos, length, bytes, -1);
    if (from !== undefined) this.recovered?.copy(row, from, start, end);
  }

  update(id: number, type: number, seg: number, pos: number, length: number, bytes: number, from?: Buffer, start = 0, end = 0): void {
    this.seen(id);
    const row = this.replace(id, type, seg, pos, length, bytes, -1);
    if (row >= 0 && from !== undefined) this.recovered?.copy(row, from, start, end);
  }

  delete(id: number, seg: number): void {
    this.seen(id);
    this.remove(id, seg, seg);
  }

  operation(txId: number, op: TxOp, id: number, type: number, seg: number, pos: number, length: number, bytes: number, data?: Buffer): void {
    this.seen(id);
    const tx = this.transaction(txId);
    tx.ops.push({ op, id, type, seg, pos, length, bytes, data });
    this.pendingTargets.set(id, (this.pendingTargets.get(id) ?? 0) + 1);
    this.holdTxFrame(tx, seg, bytes);
  }

  prepare(txId: number, seg: number, bytes: number, data?: Buffer): void {
    const tx = this.transaction(txId);
    tx.prepared = true;
    tx.prepareSeg = seg;
    tx.prepareData = data;
    this.holdTxFrame(tx, seg, bytes);
  }

  commit(txId: number, seg: number): void {
    this.seen(txId);
    const tx = this.transactions.get(txId);
    if (tx === undefined) return;
    this.transactions.delete(txId);
    for (const op of tx.ops) {
      if (op.op === TxOp.Add) this.keep(this.put(op.id, op.type, op.seg, op.pos, op.length, op.bytes, seg), op.data);
      else if (op.op === TxOp.Update) this.keep(this.replace(op.id, op.type, op.seg, op.pos, op.length, op.bytes, seg), op.data);
      // replay applies the delete only if both the operation and the commit are there
      else this.remove(op.id, op.seg, seg);
    }
    // without the commit, the prepare alone would bring the transaction back as in doubt
    if (tx.prepared) this.outlive(seg, tx.prepareSeg);
    this.endTransaction(tx);
  }

  rollback(txId: number, seg: number): void {
    this.seen(txId);
    const tx = this.transactions.get(txId);
    if (tx === undefined) return;
    this.transactions.delete(txId);
    if (tx.prepared) this.outlive(seg, tx.prepareSeg);
    this.endTransaction(tx);
  }

  /**
   * At the end of replay: a transaction neither prepared nor ended never happened. Those above
   * `ownedAbove` were begun since the journal opened (a replay in the background) and go on.
   */
  dropUnprepared(ownedAbove = Number.POSITIVE_INFINITY): void {
    for (const [txId, tx] of this.transactions) {
      if (tx.prepared || txId > ownedAbove) continue;
      this.transactions.delete(txId);
      this.endTransaction(tx);
    }
  }

  /** Segments whose frames the record in `row` pins (at most four, may repeat). */
  pinnedSegments(row: number): number[] {
    const r = this.records;
    const out = [r.anchorSegs[row]!];
    if (r.anchorCommits[row]! >= 0) out.push(r.anchorCommits[row]!);
    if (r.latestSegs[row]! >= 0) out.push(r.latestSegs[row]!);
    if (r.latestCommits[row]! >= 0) out.push(r.latestCommits[row]!);
    return out;
  }

  /** True when the record in `row` pins a frame in segment `seg`. */
  pins(row: number, seg: number): boolean {
    const r = this.records;
    return r.anchorSegs[row] === seg || r.anchorCommits[row] === seg || r.latestSegs[row] === seg || r.latestCommits[row] === seg;
  }

  private keep(row: number, data: Buffer | undefined): void {
    if (row >= 0 && data !== undefined) this.recovered?.keep(row, data);
  }

  private seen(id: number): void {
    if (id > this.maxId) this.maxId = id;
  }

  private transaction(txId: number): OpenTransaction {
    this.seen(txId);
    let tx = this.transactions.get(txId);
    if (tx === undefined) {
      tx = { ops: [], frames: [], prepared: false, prepareSeg: 0, prepareData: undefined };
      this.transactions.set(txId, tx);
    }
    return tx;
  }

  private holdTxFrame(tx: OpenTransaction, seg: number, bytes: number): void {
    tx.frames.push(seg, bytes);
    this.pin(seg, bytes);
    this.segment(seg).openTxFrames++;
  }

  private endTransaction(tx: OpenTransaction): void {
    for (const op of tx.ops) {
      const n = (this.pendingTargets.get(op.id) ?? 1) - 1;
      if (n === 0) this.pendingTargets.delete(op.id);
      else this.pendingTargets.set(op.id, n);
    }
    for (let i = 0; i < tx.frames.length; i += 2) {
      this.segment(tx.frames[i]!).openTxFrames--;
      this.unpin(tx.frames[i]!, tx.frames[i + 1]!);
    }
  }

  /** The record's row. */
  private put(id: number, type: number, seg: number, pos: number, length: number, bytes: number, commit: number): number {
    this.pin(seg, bytes);
    if (commit >= 0) this.pin(commit, 0);
    const r = this.records;
    let row = r.rowOf(id);
    if (row < 0) {
      row = r.insert(id);
      r.latestSegs[row] = -1;
      r.latestBytes[row] = 0;
      r.latestCommits[row] = -1;
    } else {
      // a second add of a live id is how compaction moves a record: replay replaces it in place
      this.releaseAnchor(row);
      this.releaseLatest(row);
      this.dataBytes -= r.lengths[row]!;
      const anchor = r.anchorSegs[row]!;
      if (anchor !== seg) {
        const older = this.olderAdds.get(id);
        if (older === undefined) this.olderAdds.set(id, [anchor]);
        else if (!older.includes(anchor)) older.push(anchor);
      }
    }
    this.locate(row, type, seg, pos, length);
    r.anchorSegs[row] = seg;
    r.anchorBytes[row] = bytes;
    r.anchorCommits[row] = commit;
    this.dataBytes += length;
    return row;
  }

  /** The record's row, or -1: an update of a record that is not live is ignored, here as on replay. */
  private replace(id: number, type: number, seg: number, pos: number, length: number, bytes: number, commit: number): number {
    const r = this.records;
    const row = r.rowOf(id);
    if (row < 0) return -1;
    this.pin(seg, bytes);
    if (commit >= 0) this.pin(commit, 0);
    this.releaseLatest(row);
    this.dataBytes += length - r.lengths[row]!;
    this.locate(row, type, seg, pos, length);
    r.latestSegs[row] = seg;
    r.latestBytes[row] = bytes;
    r.latestCommits[row] = commit;
    return row;
  }

  /** Where the record in `row` now reads its data from. */
  private locate(row: number, type: number, seg: number, pos: number, length: number): void {
    const r = this.records;
    r.types[row] = type;
    r.segs[row] = seg;
    r.positions[row] = pos;
    r.lengths[row] = length;
  }

  /** Removes a live record; the frames cancelling it (in segments `a` and `b`) must outlive its adds. */
  private remove(id: number, a: number, b: number): void {
    const r = this.records;
    const row = r.rowOf(id);
    if (row < 0) return;
    this.recovered?.drop(row);
    this.dataBytes -= r.lengths[row]!;
    this.releaseAnchor(row);
    this.releaseLatest(row);
    const anchor = r.anchorSegs[row]!;
    r.remove(row);
    this.outlive(a, anchor);
    this.outlive(b, anchor);
    const older = this.olderAdds.get(id);
    if (older !== undefined) {
      this.olderAdds.delete(id);
      for (const s of older) {
        this.outlive(a, s);
        this.outlive(b, s);
      }
    }
  }

  private releaseAnchor(row: number): void {
    const r = this.records;
    this.unpin(r.anchorSegs[row]!, r.anchorBytes[row]!);
    if (r.anchorCommits[row]! >= 0) this.unpin(r.anchorCommits[row]!, 0);
  }

  private releaseLatest(row: number): void {
    const r = this.records;
    const latest = r.latestSegs[row]!;
    if (latest < 0) return;
    this.unpin(latest, r.latestBytes[row]!);
    if (r.latestCommits[row]! >= 0) this.unpin(r.latestCommits[row]!, 0);
    r.latestSegs[row] = -1;
    r.latestBytes[row] = 0;
    r.latestCommits[row] = -1;
  }

  private outlive(canceller: number, cancelled: number): void {
    // Usually the cancelled segment is the older one. It can be newer when a transaction's delete
    // was written before the record's add; the rule holds either way.
    if (canceller !== cancelled) this.segment(canceller).mustOutlive.add(cancelled);
  }

  private pin(seg: number, bytes: number): void {
    const segment = this.segment(seg);
    segment.liveCount++;
    segment.liveBytes += bytes;
  }

  private unpin(seg: number, bytes: number): void {
    const segment = this.segment(seg);
    segment.liveBytes -= bytes;
    if (--segment.liveCount === 0) {
      segment.deadAt = this.seq;
      this.emptied.add(segment);
    }
  }

  private segment(number: number): JournalSegment {
    const segment = this.segments.get(number);
    if (segment === undefined) throw new Error(`journal bookkeeping refers to segment ${number}, which is not open`);
    return segment;
  }
}
