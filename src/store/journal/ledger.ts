import type { JournalSegment } from './segment.js';

/**
 * A live record: where its data is, and which frames a replay needs to rebuild it. Kept small
 * (plain number fields, no arrays in the common case): there is one per message and reference.
 */
export class LiveRecord {
  /** Segments of add frames of this id other than the anchor's (left behind by compaction), if any. */
  olderAdds: number[] | undefined = undefined;
  /** Only during recovery: the record's data, handed back once (a field rather than a second map of every id: fewer objects for the collector). */
  data: Buffer | undefined = undefined;

  constructor(
    public type: number,
    /** Segment and file offset of the current data, and its length. */
    public seg: number,
    public pos: number,
    public length: number,
    /** The add frame that creates the record on replay, and the commit frame if it was transactional (-1 if not). */
    public anchorSeg: number,
    public anchorBytes: number,
    public anchorCommit: number,
    /** The frame of its latest update (-1 if none), and that update's commit frame (-1 if not transactional). */
    public latestSeg: number,
    public latestBytes: number,
    public latestCommit: number,
  ) {}
}

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
  readonly records = new Map<number, LiveRecord>();
  readonly transactions = new Map<number, OpenTransaction>();
  /** Records that an open transaction touches, with how many of its operations do; compaction leaves them be. */
  readonly pendingTargets = new Map<number, number>();
  /** Segments whose live count reached 0, for the reclaimer to look at. */
  readonly emptied = new Set<JournalSegment>();
  /** Only during recovery: live records keep their data (`LiveRecord.data`) to be handed back once. */
  recovering = false;
  maxId = 0;
  dataBytes = 0;
  /** Append sequence of the frame being applied; stamped on segments as they empty. */
  seq = 0;

  constructor(private readonly segments: ReadonlyMap<number, JournalSegment>) {}

  add(id: number, type: number, seg: number, pos: number, length: number, bytes: number, data: Buffer | undefined): void {
    this.seen(id);
    this.put(id, type, seg, pos, length, bytes, -1, data);
  }

  update(id: number, type: number, seg: number, pos: number, length: number, bytes: number, data: Buffer | undefined): void {
    this.seen(id);
    this.replace(id, type, seg, pos, length, bytes, -1, data);
  }

  delete(id: number, seg: number): void {
    this.seen(id);
    this.remove(id, seg, seg);
  }

  operation(txId: number, op: TxOp, id: number, type: number, seg: number, pos: number, length: number, bytes: number, data: Buffer | undefined): void {
    this.seen(id);
    const tx = this.transaction(txId);
    tx.ops.push({ op, id, type, seg, pos, length, bytes, data });
    this.pendingTargets.set(id, (this.pendingTargets.get(id) ?? 0) + 1);
    this.holdTxFrame(tx, seg, bytes);
  }

  prepare(txId: number, seg: number, bytes: number, data: Buffer | undefined): void {
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
      if (op.op === TxOp.Add) this.put(op.id, op.type, op.seg, op.pos, op.length, op.bytes, seg, op.data);
      else if (op.op === TxOp.Update) this.replace(op.id, op.type, op.seg, op.pos, op.length, op.bytes, seg, op.data);
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

  /** At the end of replay: a transaction neither prepared nor ended never happened. */
  dropUnprepared(): void {
    for (const [txId, tx] of this.transactions) {
      if (tx.prepared) continue;
      this.transactions.delete(txId);
      this.endTransaction(tx);
    }
  }

  /** Segments whose frames this record pins (at most four, may repeat). */
  pinnedSegments(record: LiveRecord): number[] {
    const out = [record.anchorSeg];
    if (record.anchorCommit >= 0) out.push(record.anchorCommit);
    if (record.latestSeg >= 0) out.push(record.latestSeg);
    if (record.latestCommit >= 0) out.push(record.latestCommit);
    return out;
  }

  /** Segments holding an add frame of this record: its delete must outlive them all. */
  addSegments(record: LiveRecord): readonly number[] {
    return record.olderAdds === undefined ? [record.anchorSeg] : [record.anchorSeg, ...record.olderAdds];
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

  private put(id: number, type: number, seg: number, pos: number, length: number, bytes: number, commit: number, data: Buffer | undefined): void {
    this.pin(seg, bytes);
    if (commit >= 0) this.pin(commit, 0);
    const old = this.records.get(id);
    if (old === undefined) {
      const record = new LiveRecord(type, seg, pos, length, seg, bytes, commit, -1, 0, -1);
      if (this.recovering) record.data = data;
      this.records.set(id, record);
    } else {
      // a second add of a live id is how compaction moves a record: replay replaces it in place
      this.releaseAnchor(old);
      this.releaseLatest(old);
      this.dataBytes -= old.length;
      if (old.anchorSeg !== seg && !(old.olderAdds?.includes(old.anchorSeg) ?? false)) (old.olderAdds ??= []).push(old.anchorSeg);
      old.type = type;
      old.seg = seg;
      old.pos = pos;
      old.length = length;
      old.anchorSeg = seg;
      old.anchorBytes = bytes;
      old.anchorCommit = commit;
      if (this.recovering) old.data = data;
    }
    this.dataBytes += length;
  }

  private replace(id: number, type: number, seg: number, pos: number, length: number, bytes: number, commit: number, data: Buffer | undefined): void {
    const record = this.records.get(id);
    // an update of a record that is not live is ignored, here as on replay
    if (record === undefined) return;
    this.pin(seg, bytes);
    if (commit >= 0) this.pin(commit, 0);
    this.releaseLatest(record);
    this.dataBytes += length - record.length;
    record.type = type;
    record.seg = seg;
    record.pos = pos;
    record.length = length;
    record.latestSeg = seg;
    record.latestBytes = bytes;
    record.latestCommit = commit;
    if (this.recovering) record.data = data;
  }

  /** Removes a live record; the frames cancelling it (in segments `a` and `b`) must outlive its adds. */
  private remove(id: number, a: number, b: number): void {
    const record = this.records.get(id);
    if (record === undefined) return;
    this.records.delete(id);
    record.data = undefined;
    this.dataBytes -= record.length;
    this.releaseAnchor(record);
    this.releaseLatest(record);
    for (const s of this.addSegments(record)) {
      this.outlive(a, s);
      this.outlive(b, s);
    }
  }

  private releaseAnchor(record: LiveRecord): void {
    this.unpin(record.anchorSeg, record.anchorBytes);
    if (record.anchorCommit >= 0) this.unpin(record.anchorCommit, 0);
  }

  private releaseLatest(record: LiveRecord): void {
    if (record.latestSeg < 0) return;
    this.unpin(record.latestSeg, record.latestBytes);
    if (record.latestCommit >= 0) this.unpin(record.latestCommit, 0);
    record.latestSeg = -1;
    record.latestBytes = 0;
    record.latestCommit = -1;
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
