import { join } from 'node:path';
import { FerryError } from '../../errors.js';
import type { PreparedTransaction, RecoveredState, StoreRecord, TransactionOperation } from '../store.js';
import {
  FORMAT_VERSION,
  SEGMENT_HEADER_SIZE,
  FrameKind,
  damagedRecordIds,
  decodeFrame,
  decodeSegmentHeader,
  emptyFrame,
  encodePadding,
  findBatchFrame,
  findNextFrame,
  minFrameSize,
  parseSegmentFileName,
  segmentFileName,
} from './format.js';
import { readFully, writeFully, type JournalFileSystem } from './file-system.js';
import { JournalLedger, TxOp } from './ledger.js';
import type { RecoveredData } from './recovered-data.js';
import { JournalSegment } from './segment.js';

/** Bytes recovery dropped from one segment file. */
export interface RecoveryDrop {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
  /** `torn-tail`: the last write did not reach the disk whole (expected after a crash). `repaired`: damage in the middle, dropped because `repair` was on. */
  readonly kind: 'torn-tail' | 'repaired';
  /** The ids of the records lost, as far as the damaged bytes still name them. */
  readonly ids: readonly number[];
}

export interface RecoveryReport {
  readonly segments: number;
  readonly frames: number;
  readonly records: number;
  readonly prepared: number;
  readonly maxId: number;
  readonly dropped: readonly RecoveryDrop[];
  readonly durationMs: number;
}

export interface RecoveryResult {
  readonly state: RecoveredState;
  readonly ledger: JournalLedger;
  readonly segments: Map<number, JournalSegment>;
  readonly report: RecoveryReport;
  /** Each segment file read, with the size it had: a replay that wrote nothing holds while these are unchanged. */
  readonly files: ReadonlyMap<string, number>;
  /**
   * A replay that may not write (`readOnly`) leaves the cutting of a torn tail and any repair here,
   * with the events that say so, for whoever holds the folder to carry out.
   */
  readonly deferred: readonly (() => Promise<void>)[];
}

export interface RecoveryMode {
  /** Write nothing: cuts and repairs are left in `deferred`. */
  readonly readOnly?: boolean;
  /** Asked at each turn given to the event loop; false abandons the replay (FERRY_STORE_FAILED). */
  readonly wanted?: () => boolean;
  /**
   * Replay in the background of a journal that is open already (see `JournalStore.open`): into its
   * ledger (`startRecovery` called, with what it returned), the segments numbered below `below`
   * only. Records and transactions with ids above `ownedAbove` are those appended since: they are
   * not handed back, and their open transactions are not dropped. Only records `handBack` accepts
   * are handed back (the others were handed back from the catalog).
   */
  readonly into?: {
    readonly ledger: JournalLedger;
    readonly kept: RecoveredData;
    readonly below: number;
    readonly ownedAbove: number;
    readonly handBack: (type: number) => boolean;
  };
}

export type JournalEventSink = (event: { readonly event: string; readonly [key: string]: unknown }) => void;

/**
 * Replays every segment in order into a fresh ledger. A record that does not check out at the
 * very end of the last segment is a torn write and is cut off; anywhere else it is damage, which
 * stops the open unless `repair` is set. Repair drops the damaged bytes up to the next whole frame
 * (overwriting them with padding) and replays on from there.
 */
export async function recoverJournal(
  fsys: JournalFileSystem,
  dir: string,
  repair: boolean,
  emit: JournalEventSink,
  keep: ((type: number, data: Buffer, start: number, end: number) => number) | undefined,
  mode: RecoveryMode = {},
): Promise<RecoveryResult> {
  const started = performance.now();
  const files = new Map<string, number>();
  const deferred: (() => Promise<void>)[] = [];
  const into = mode.into;
  const numbers = (await segmentNumbers(fsys, dir)).filter((n) => into === undefined || n < into.below);

  const ledger = into?.ledger ?? new JournalLedger(new Map());
  const segments = ledger.segments;
  const kept = into?.kept ?? ledger.startRecovery();
  const dropped: RecoveryDrop[] = [];
  let headerMaxId = 0;
  let frames = 0;
  // Two read buffers, reused: the next segment is read into one while the other is replayed. A
  // fresh buffer per segment would grow the process's memory outside the heap by a segment at a
  // time, and each such growth makes V8 run a full collection.
  const readBuffers = [Buffer.allocUnsafeSlow(0), Buffer.allocUnsafeSlow(0)];
  const load = async (i: number): Promise<{ fd: number; buf: Buffer }> => {
    // read-only: reading needs no lease (an HA backup's file system refuses a writable open without
    // one); a segment that needs a repair is opened for writing then
    const fd = await fsys.open(join(dir, segmentFileName(numbers[i]!)), 'r');
    try {
      const size = await fsys.size(fd);
      files.set(segmentFileName(numbers[i]!), size);
      if (size > readBuffers[i & 1]!.length) readBuffers[i & 1] = Buffer.allocUnsafeSlow(size);
      const buf = readBuffers[i & 1]!.subarray(0, size);
      await readFully(fsys, fd, buf, size, 0);
      return { fd, buf };
    } catch (err) {
      await fsys.close(fd);
      throw err;
    }
  };
  let next = numbers.length > 0 ? load(0) : undefined;
  // what changes the folder happens now, or (read-only) later, by whoever holds it
  const change = async (step: () => Promise<void>): Promise<void> => {
    if (mode.readOnly === true) deferred.push(step);
    else await step();
  };
  const rewrite = (path: string, edit: (fd: number) => Promise<void>): Promise<void> =>
    change(async () => {
      const fd = await fsys.open(path, 'r+');
      try {
        await edit(fd);
      } finally {
        await fsys.close(fd);
      }
    });

  const drop = (entry: RecoveryDrop): void => {
    dropped.push(entry);
    void change(async () => emit({ event: entry.kind === 'torn-tail' ? 'journal.truncated' : 'journal.repaired', file: entry.file, offset: entry.offset, bytes: entry.bytes, reason: entry.reason, recordIds: entry.ids }));
  };
  const stillWanted = (): void => {
    if (mode.wanted?.() === false) throw new FerryError('FERRY_STORE_FAILED', `the replay of ${dir} was abandoned`);
  };

  try {
    for (let i = 0; i < numbers.length; i++) {
      const number = numbers[i]!;
      const last = i === numbers.length - 1;
      const file = segmentFileName(number);
      const path = join(dir, file);
      const { fd, buf } = await next!;
      next = last ? undefined : load(i + 1);
      // awaited at the next turn of this loop; until then a failure is not unhandled
      next?.catch(() => undefined);
      try {
        const size = buf.length;

        const header = decodeSegmentHeader(buf);
        // whole, but in a format past this build's: neither a torn write to cut nor damage to repair
        if (!header.ok && header.newer !== undefined) throw newerFormat(file, header.newer);
        const headerProblem = !header.ok ? header.reason : header.number !== number ? `the header says segment ${header.number}` : undefined;
        if (header.ok === false || headerProblem !== undefined) {
          // the header goes out with the segment's first write: if no later write follows, that write was torn
          const torn = last && findBatchFrame(buf, SEGMENT_HEADER_SIZE) < 0 && findBatchFrame(buf, SEGMENT_HEADER_SIZE, 1) < 0;
          if (!torn && !repair) throw corrupt(file, 0, headerProblem ?? 'a bad header');
          await change(() => fsys.unlink(path));
          drop({ file, offset: 0, bytes: size, reason: headerProblem ?? 'a bad header', kind: torn ? 'torn-tail' : 'repaired', ids: [] });
          continue;
        }
        if (header.maxId > headerMaxId) headerMaxId = header.maxId;

        const segment = new JournalSegment(number, dir, header.maxId);
        segments.set(number, segment);
        const version = header.version;
        const frame = emptyFrame();
        let pos = SEGMENT_HEADER_SIZE;
        let end = size;
        while (pos < end) {
          const problem = decodeFrame(buf, pos, frame, version);
          if (problem !== undefined) {
            // a later write after the bad frame means the bad frame had been synced: damage, not a torn write
            const torn = last && findBatchFrame(buf, pos + 1, version) < 0;
            if (!torn && !repair) throw corrupt(file, pos, problem);
            const next = torn ? -1 : findNextFrame(buf, pos + 1, version);
            if (next < 0 || next - pos < minFrameSize(version)) {
              await rewrite(path, async (wfd) => {
                await fsys.ftruncate(wfd, pos);
                await fsys.fdatasync(wfd);
              });
              drop({ file, offset: pos, bytes: end - pos, reason: problem, kind: torn ? 'torn-tail' : 'repaired', ids: damagedRecordIds(buf, pos, end, version) });
              end = pos;
              break;
            }
            // repair: what lies between the bad frame and the next whole one becomes padding on disk,
            // so the segment reads cleanly from now on, and replay picks up at the next frame
            const ids = damagedRecordIds(buf, pos, next, version);
            await rewrite(path, async (wfd) => {
              await writeFully(fsys, wfd, encodePadding(next - pos, version), next - pos, pos);
              await fsys.fdatasync(wfd);
            });
            drop({ file, offset: pos, bytes: next - pos, reason: problem, kind: 'repaired', ids });
            pos = next;
            continue;
          }
          if (frame.kind !== FrameKind.Batch && frame.kind !== FrameKind.Padding) {
            // a turn for the event loop now and then: an HA primary renews its lease while it recovers
            if ((frames & 0x7ff) === 0x7ff) {
              await new Promise((resolve) => setImmediate(resolve));
              stillWanted();
            }
            replay(ledger, number, buf, pos, frame.end, frame.kind, frame.txId, frame.id, frame.type, frame.dataStart, frame.dataEnd, keep);
            segment.frames++;
            frames++;
          }
          pos = frame.end;
        }
        segment.size = end;
        segment.writtenSize = end;
      } finally {
        // sealed segments are opened again when a read needs them
        await fsys.close(fd);
      }
    }
  } finally {
    // a damaged segment stops the open: the one read ahead is closed unread
    if (next !== undefined) await next.then(({ fd }) => fsys.close(fd), () => undefined);
  }

  ledger.dropUnprepared(into?.ownedAbove);
  ledger.replayed();
  const stream = handBack(ledger, kept, into === undefined ? undefined : (id, type) => id <= into.ownedAbove && into.handBack(type));
  let records: StoreRecord[] | undefined;
  const prepared: PreparedTransaction[] = [];
  for (const [txId, tx] of ledger.transactions) {
    if (into !== undefined && txId > into.ownedAbove) continue;
    const operations: TransactionOperation[] = tx.ops.map((op) => {
      const data = op.data ?? Buffer.alloc(0);
      op.data = undefined;
      return op.op === TxOp.Delete ? { op: 'delete', id: op.id } : { op: op.op === TxOp.Add ? 'add' : 'update', record: { id: op.id, type: op.type, data } };
    });
    prepared.push({ txId, data: tx.prepareData ?? Buffer.alloc(0), operations });
    tx.prepareData = undefined;
  }
  const maxId = Math.max(ledger.maxId, headerMaxId);
  // segments that replay never pinned (only deletes, or empty) are candidates for removal too
  for (const segment of segments.values()) if (segment.liveCount === 0) ledger.emptied.add(segment);

  const report: RecoveryReport = {
    segments: segments.size,
    frames,
    records: ledger.records.size,
    prepared: prepared.length,
    maxId,
    dropped,
    durationMs: Math.round(performance.now() - started),
  };
  const state: RecoveredState = {
    get records() {
      return (records ??= [...stream]);
    },
    stream,
    prepared,
    maxId,
  };
  return { state, ledger, segments, report, files, deferred };
}

/** True when the folder holds exactly the segment files `files` names, each still of the size it had. */
export async function unchangedSince(fsys: JournalFileSystem, dir: string, files: ReadonlyMap<string, number>): Promise<boolean> {
  const numbers = await segmentNumbers(fsys, dir);
  if (numbers.length !== files.size) return false;
  for (const name of numbers.map(segmentFileName)) {
    const size = files.get(name);
    if (size === undefined) return false;
    const fd = await fsys.open(join(dir, name), 'r');
    try {
      if ((await fsys.size(fd)) !== size) return false;
    } finally {
      await fsys.close(fd);
    }
  }
  return true;
}

/**
 * The live records, each made as it is taken, in the order of first adds (rows are while
 * recovering); the ledger keeps their data until the last is taken. Records the caller deletes or
 * adds meanwhile are neither handed back nor mistaken for recovered ones.
 */
function* handBack(ledger: JournalLedger, kept: RecoveredData, only?: (id: number, type: number) => boolean): Generator<StoreRecord> {
  const table = ledger.records;
  const none = Buffer.alloc(0);
  const end = table.high;
  try {
    for (let row = 0; row < end; row++) {
      if (!table.isLive(row)) continue;
      if (only !== undefined && !only(table.ids[row]!, table.types[row]!)) continue;
      yield { id: table.ids[row]!, type: table.types[row]!, data: kept.get(row) ?? none };
    }
  } finally {
    ledger.endRecovery();
  }
}

function newerFormat(file: string, version: number): FerryError {
  return new FerryError(
    'FERRY_STORE_FAILED',
    `journal segment ${file} was written by a newer Ferry, in journal format ${version}; this build reads formats up to ${FORMAT_VERSION}. ` +
      'Nothing was changed: start a Ferry as new as the one that wrote it.',
  );
}

function corrupt(file: string, offset: number, reason: string): FerryError {
  return new FerryError(
    'FERRY_STORE_CORRUPT',
    `journal segment ${file} is damaged at offset ${offset}: ${reason}, and valid records follow, so this is not a torn write from a crash. ` +
      'To open the journal anyway, copy the data folder aside, then start with store.journal.repair: true (ferry start, in the configuration file): ' +
      'it drops the damaged records only (journal.repaired gives where they were), names the messages left without them by destination and id (store.orphans), and keeps everything else.',
  );
}

function replay(
  ledger: JournalLedger,
  seg: number,
  buf: Buffer,
  at: number,
  end: number,
  kind: FrameKind,
  txId: number,
  id: number,
  type: number,
  dataStart: number,
  dataEnd: number,
  keep: ((type: number, data: Buffer, start: number, end: number) => number) | undefined,
): void {
  const bytes = end - at;
  const length = dataEnd - dataStart;
  switch (kind) {
    case FrameKind.Add: {
      // the caller may leave the rest of a record on disk, to be read back when needed
      const kept = keep === undefined ? length : Math.min(length, keep(type, buf, dataStart, dataEnd));
      ledger.add(id, type, seg, dataStart, length, bytes, buf, dataStart, dataStart + kept);
      break;
    }
    case FrameKind.Update:
      ledger.update(id, type, seg, dataStart, length, bytes, buf, dataStart, dataEnd);
      break;
    case FrameKind.Delete:
      ledger.delete(id, seg);
      break;
    case FrameKind.TxAdd:
      ledger.operation(txId, TxOp.Add, id, type, seg, dataStart, length, bytes, copyOf(buf, dataStart, dataEnd));
      break;
    case FrameKind.TxUpdate:
      ledger.operation(txId, TxOp.Update, id, type, seg, dataStart, length, bytes, copyOf(buf, dataStart, dataEnd));
      break;
    case FrameKind.TxDelete:
      ledger.operation(txId, TxOp.Delete, id, type, seg, dataStart, length, bytes, undefined);
      break;
    case FrameKind.Prepare:
      ledger.prepare(txId, seg, bytes, copyOf(buf, dataStart, dataEnd));
      break;
    case FrameKind.Commit:
      ledger.commit(txId, seg);
      break;
    case FrameKind.Rollback:
      ledger.rollback(txId, seg);
      break;
    case FrameKind.Batch:
    case FrameKind.Padding:
      break;
  }
}

/** A copy, so that the file's buffer is not kept alive by the records recovered from it. */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  return Buffer.from(buf.subarray(start, end));
}

/** The numbers of the segment files in `dir`, ascending; other files are not the journal's. */
export async function segmentNumbers(fsys: JournalFileSystem, dir: string): Promise<number[]> {
  const numbers: number[] = [];
  for (const name of await fsys.readdir(dir)) {
    const number = parseSegmentFileName(name);
    if (number !== undefined && segmentFileName(number) === name) numbers.push(number);
  }
  return numbers.sort((a, b) => a - b);
}
