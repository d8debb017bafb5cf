import { join } from 'node:path';
import { EarlyOp, EarlyRecords, type Catalog } from './catalog.js';
import { readFully, type JournalFileSystem } from './file-system.js';
import { FrameKind, SEGMENT_HEADER_SIZE, decodeFrame, decodeSegmentHeader, emptyFrame, findBatchFrame, segmentFileName } from './format.js';
import type { JournalEventSink } from './recovery.js';

export interface TailScan {
  /** The live records of early types, and the early operations of transactions still open. */
  readonly early: EarlyRecords;
  /** Highest record or transaction id used, in the catalog or after it. */
  readonly maxId: number;
  /** About how many live records of the other types there are. */
  readonly lateRecords: number;
  /** The highest segment number in the folder (0 when there is none). */
  readonly lastSegment: number;
}

/**
 * Brings the catalog up to the end of the journal: its records (those whose anchor segments are
 * still there), then every frame after its position. A torn tail is cut off, as a full replay
 * would. Returns why the catalog cannot be used instead when it does not stand for the journal, or
 * when what follows it needs a full replay: damage (which a full replay reports or repairs), or a
 * transaction prepared (its operations may touch records of every type).
 */
export async function scanTail(
  fsys: JournalFileSystem,
  dir: string,
  numbers: readonly number[],
  catalog: Catalog,
  early: (type: number) => boolean,
  emit: JournalEventSink,
): Promise<TailScan | string> {
  if (catalog.prepared) return 'a transaction was prepared and not ended when it was written';
  const { segment: from, offset } = catalog.position;
  const present = new Set(numbers);
  const records = new EarlyRecords(early);
  for (const r of catalog.records) {
    if (!present.has(r.anchorSeg) || (r.anchorCommit >= 0 && !present.has(r.anchorCommit))) continue;
    records.records.set(r.id, { type: r.type, data: r.data });
  }
  for (const [txId, ops] of catalog.transactions) records.transactions.set(txId, [...ops]);
  let maxId = catalog.maxId;
  let late = catalog.lateRecords;
  const frame = emptyFrame();
  const tail = numbers.filter((n) => n >= from);
  for (let i = 0; i < tail.length; i++) {
    const number = tail[i]!;
    const last = i === tail.length - 1;
    const file = segmentFileName(number);
    const fd = await fsys.open(join(dir, file), 'r');
    let buf: Buffer;
    try {
      const size = await fsys.size(fd);
      buf = Buffer.allocUnsafe(size);
      await readFully(fsys, fd, buf, size, 0);
    } finally {
      await fsys.close(fd);
    }
    const header = decodeSegmentHeader(buf);
    if (!header.ok || header.number !== number) return `segment ${file} after it has a bad header`;
    if (header.maxId > maxId) maxId = header.maxId;
    let pos = SEGMENT_HEADER_SIZE;
    if (number === from) {
      if (offset > buf.length) return `its position is past the end of segment ${file}`;
      pos = Math.max(pos, offset);
    }
    while (pos < buf.length) {
      const problem = decodeFrame(buf, pos, frame, header.version);
      if (problem !== undefined) {
        if (!last || findBatchFrame(buf, pos + 1, header.version) >= 0) return `segment ${file} is damaged at offset ${pos} after it: ${problem}`;
        // a torn write, cut off as a full replay cuts it
        const fdw = await fsys.open(join(dir, file), 'r+');
        try {
          await fsys.ftruncate(fdw, pos);
          await fsys.fdatasync(fdw);
        } finally {
          await fsys.close(fdw);
        }
        emit({ event: 'journal.truncated', file, offset: pos, bytes: buf.length - pos, reason: problem, ids: [] });
        break;
      }
      if (frame.id > maxId) maxId = frame.id;
      if (frame.txId > maxId) maxId = frame.txId;
      const data = buf.subarray(frame.dataStart, frame.dataEnd);
      switch (frame.kind) {
        case FrameKind.Add:
          if (early(frame.type)) records.add(frame.id, frame.type, data);
          else late++;
          break;
        case FrameKind.Update:
          records.update(frame.id, frame.type, data);
          break;
        case FrameKind.Delete:
          if (records.records.has(frame.id)) records.delete(frame.id);
          else if (late > 0) late--;
          break;
        case FrameKind.TxAdd:
          records.operation(frame.txId, EarlyOp.Add, frame.id, frame.type, data);
          break;
        case FrameKind.TxUpdate:
          records.operation(frame.txId, EarlyOp.Update, frame.id, frame.type, data);
          break;
        case FrameKind.TxDelete:
          records.operation(frame.txId, EarlyOp.Delete, frame.id, 0, undefined);
          break;
        case FrameKind.Prepare:
          return `a transaction was prepared in segment ${file} after it`;
        case FrameKind.Commit:
          records.commit(frame.txId);
          break;
        case FrameKind.Rollback:
          records.rollback(frame.txId);
          break;
      }
      pos = frame.end;
    }
  }
  records.dropUnprepared();
  return { early: records, maxId, lateRecords: late, lastSegment: numbers.length === 0 ? 0 : numbers[numbers.length - 1]! };
}
