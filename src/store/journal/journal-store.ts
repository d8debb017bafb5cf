import fs from 'node:fs';
import { FerryError, isFerryError } from '../../errors.js';
import type { OpenOptions, RecordReader, RecoveredState, Store, StoreStats } from '../store.js';
import { compactSegments, compactionCandidates, type CompactionHost } from './compactor.js';
import { nodeFileSystem, readFully, writeFully, type JournalFileSystem } from './file-system.js';
import {
  BATCH_FRAME_SIZE,
  FrameArena,
  FrameKind,
  MAX_RECORD_DATA,
  SEGMENT_HEADER_SIZE,
  dataOffset,
  encodeFrame,
  encodeSegmentHeader,
  frameSize,
  sealBatchFrame,
} from './format.js';
import { JournalLedger, TxOp, type LiveRecord } from './ledger.js';
import { recoverJournal, type RecoveryReport } from './recovery.js';
import { JournalSegment } from './segment.js';

export interface JournalEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface JournalOptions {
  /** The folder of segment files; created if missing. */
  readonly dir: string;
  /** Bytes after which appends roll to a new segment file (a larger record gets a segment of its own). Default 32 MiB. */
  readonly segmentSize?: number | undefined;
  /**
   * Default true: every write is followed by fdatasync before `sync()` resolves, so a record is
   * on disk when its sync resolves. With false, `sync()` resolves once the write reaches the
   * operating system: a broker crash loses nothing, but a power loss or kernel crash loses up to
   * the last few seconds of records (whatever the OS had not flushed) and may leave damage that
   * needs `repair` to open.
   */
  readonly syncOnWrite?: boolean | undefined;
  /** Sealed segments whose live bytes are below this fraction of their size are compacted. Default 0.3. */
  readonly compactBelow?: number | undefined;
  /** Milliseconds between background compactions; 0 turns them off. Default 30 000. */
  readonly compactInterval?: number | undefined;
  /**
   * Default false: damage in the middle of the journal (a bad record followed by good ones) stops
   * `open()` with FERRY_STORE_CORRUPT. With true, `open()` drops the rest of the damaged segment,
   * reports it in `lastRecovery`, and carries on.
   */
  readonly repair?: boolean | undefined;
  /** Receives the journal's events: journal.truncated, journal.repaired, journal.segment.deleted, journal.compacted, journal.failed. */
  readonly onEvent?: ((event: JournalEvent) => void) | undefined;
  /** File operations; tests pass their own. */
  readonly fileSystem?: JournalFileSystem | undefined;
}

export interface JournalSegmentDescription {
  readonly file: string;
  readonly current: boolean;
  readonly size: number;
  readonly liveBytes: number;
  readonly deadBytes: number;
  readonly liveRecords: number;
  readonly liveRecordsByType: Readonly<Record<number, number>>;
  /** Up to 20 ids of live records that keep the segment on disk. */
  readonly keptAliveBy: readonly number[];
  readonly openTransactionFrames: number;
  /** Older files that must be deleted before this one can be: it holds deletes of their records. */
  readonly waitsFor: readonly string[];
}

export interface JournalDescription {
  readonly dir: string;
  readonly segmentSize: number;
  readonly syncOnWrite: boolean;
  readonly records: number;
  readonly bytes: number;
  readonly diskBytes: number;
  readonly openTransactions: number;
  /** Why the journal stopped accepting records, if it did. */
  readonly failure: string | null;
  readonly segments: readonly JournalSegmentDescription[];
}

/** One write: the frames appended to one segment since the last write began. */
interface WriteChunk {
  readonly segment: JournalSegment;
  readonly arena: FrameArena;
  /** File offset of the arena's first byte. */
  readonly start: number;
  /** Arena offset of the Batch frame that opens the write. */
  readonly batchAt: number;
  /** The write creates the segment file (it starts with the header). */
  readonly createsFile: boolean;
}

interface SyncWaiter {
  /** Resolved once everything up to this append is durable; raised while the waiter is shared. */
  seq: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly promise: Promise<void>;
  /** The batch its appends are in: syncs asked before that batch is taken share one waiter. */
  readonly batch: number;
}

interface Placed {
  readonly seg: number;
  readonly pos: number;
  readonly bytes: number;
}

const DEFAULT_SEGMENT_SIZE = 32 * 1024 * 1024;
const DESCRIBE_IDS = 20;
const ARENA_INITIAL = 16 * 1024;
const ARENA_MAX_HINT = 4 * 1024 * 1024;
/** Sealed segments kept open for reads; a journal of thousands of segments must not hold thousands of descriptors. */
const MAX_OPEN_SEALED = 32;
/**
 * Emptied segments waiting for an older live one after which a compaction starts without waiting
 * for the timer (a queue record in the first segment would otherwise keep every later one).
 */
const BLOCKED_SEGMENTS_COMPACT = 2;
const MIN_COMPACTION_GAP_MS = 1000;
/** Records this close together in a segment are read back in one read. */
const READ_GAP = 64 * 1024;
const READ_SPAN = 4 * 1024 * 1024;

type Phase = 'new' | 'opening' | 'open' | 'closing' | 'closed';

/**
 * Ferry's embedded durable store: segmented, append-only, checksummed files in one folder.
 *
 * Appends are synchronous and join the current batch; at most one write (and fdatasync) is in
 * flight, and everything appended meanwhile goes out together in the next one (group commit).
 * The journal keeps an index of where each live record is, not its data; `read(id)` fetches the
 * data back. Segments whose records are all dead are deleted, and sparse ones are compacted.
 */
export class JournalStore implements Store {
  /** What the last `open()` replayed and dropped. */
  lastRecovery: RecoveryReport | undefined;

  private readonly dir: string;
  private readonly segmentSize: number;
  private readonly syncOnWrite: boolean;
  private readonly compactBelow: number;
  private readonly compactInterval: number;
  private readonly repair: boolean;
  private readonly onEvent: ((event: JournalEvent) => void) | undefined;
  private readonly fs: JournalFileSystem;

  private phase: Phase = 'new';
  private failure: FerryError | undefined;
  private segments = new Map<number, JournalSegment>();
  private ledger = new JournalLedger(this.segments);
  private currentSegment: JournalSegment | undefined;
  private recoveredMaxId = 0;

  private pending: WriteChunk[] = [];
  /** The batch being written: its records are read from here until the write is done. */
  private writing: WriteChunk[] = [];
  private flushing = false;
  private flushScheduled = false;
  private appendSeq = 0;
  private durableSeq = 0;
  private waiters: SyncWaiter[] = [];
  private batchesTaken = 0;
  private arenaHint = ARENA_INITIAL;

  /** Reclaim and compaction run one at a time on this chain. */
  private maintenance: Promise<void> = Promise.resolve();
  private reclaimQueued = false;
  private compacting = false;
  private lastCompaction = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly reads = new Set<Promise<unknown>>();
  /** Sealed segments with an open descriptor, least recently used first. */
  private readonly openSealed = new Set<JournalSegment>();

  constructor(options: JournalOptions) {
    this.dir = options.dir;
    this.segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.syncOnWrite = options.syncOnWrite ?? true;
    this.compactBelow = options.compactBelow ?? 0.3;
    this.compactInterval = options.compactInterval ?? 30_000;
    this.repair = options.repair ?? false;
    this.onEvent = options.onEvent;
    this.fs = options.fileSystem ?? nodeFileSystem;
    if (!(this.segmentSize >= SEGMENT_HEADER_SIZE + BATCH_FRAME_SIZE + 64)) throw new RangeError(`journal segmentSize ${this.segmentSize} is too small`);
    if (!(this.compactBelow >= 0 && this.compactBelow <= 1)) throw new RangeError(`journal compactBelow ${this.compactBelow} must be between 0 and 1`);
  }

  /** Reads live records back; the body cache uses it to leave message bodies on disk. */
  readonly reader: RecordReader = {
    has: (id) => (this.phase === 'open' || this.phase === 'closing') && this.ledger.records.has(id),
    readMany: (ids) => this.tracked(this.readMany(ids)),
    readSync: (id) => this.readSync(id),
  };

  async open(options?: OpenOptions): Promise<RecoveredState> {
    if (this.phase !== 'new') throw new FerryError('FERRY_STORE_FAILED', 'a JournalStore opens once; make a new one to open the folder again');
    this.phase = 'opening';
    try {
      await this.fs.mkdir(this.dir);
      const recovered = await recoverJournal(this.fs, this.dir, this.repair, (event) => this.emit(event), options?.keep);
      this.segments = recovered.segments;
      this.ledger = recovered.ledger;
      this.recoveredMaxId = recovered.state.maxId;
      this.lastRecovery = recovered.report;

      // Appends go to a fresh segment: the last one may end where a torn write was cut off. Its
      // header carries the highest id so far, so ids stay unique even after older segments go.
      let last = 0;
      for (const number of this.segments.keys()) if (number > last) last = number;
      const segment = new JournalSegment(last + 1, this.dir, this.recoveredMaxId);
      segment.fd = await this.fs.open(segment.path, 'wx+');
      this.segments.set(segment.number, segment);
      const header = encodeSegmentHeader(segment.number, this.recoveredMaxId);
      await writeFully(this.fs, segment.fd, header, header.length, 0);
      await this.fs.fdatasync(segment.fd);
      await this.syncDir();
      segment.size = segment.writtenSize = SEGMENT_HEADER_SIZE;
      this.currentSegment = segment;

      this.phase = 'open';
      this.queueReclaim();
      if (this.compactInterval > 0) {
        this.timer = setInterval(() => this.compactInBackground(), this.compactInterval);
        this.timer.unref();
      }
      return recovered.state;
    } catch (err) {
      this.phase = 'closed';
      for (const segment of this.segments.values()) if (segment.fd >= 0) await this.fs.close(segment.fd).catch(() => undefined);
      if (isFerryError(err)) throw err;
      throw new FerryError('FERRY_STORE_FAILED', `the journal in ${this.dir} could not be opened: ${(err as Error).message}`, { cause: err });
    }
  }

  add(id: number, type: number, data: Buffer, txId?: number): void {
    checkId(id, type, txId);
    if (txId === undefined) {
      const at = this.append(FrameKind.Add, 0, id, type, data);
      this.ledger.add(id, type, at.seg, at.pos, data.length, at.bytes, undefined);
    } else {
      const at = this.append(FrameKind.TxAdd, txId, id, type, data);
      this.ledger.operation(txId, TxOp.Add, id, type, at.seg, at.pos, data.length, at.bytes, undefined);
    }
  }

  update(id: number, type: number, data: Buffer, txId?: number): void {
    checkId(id, type, txId);
    if (txId === undefined) {
      const at = this.append(FrameKind.Update, 0, id, type, data);
      this.ledger.update(id, type, at.seg, at.pos, data.length, at.bytes, undefined);
    } else {
      const at = this.append(FrameKind.TxUpdate, txId, id, type, data);
      this.ledger.operation(txId, TxOp.Update, id, type, at.seg, at.pos, data.length, at.bytes, undefined);
    }
  }

  delete(id: number, txId?: number): void {
    checkId(id, 0, txId);
    if (txId === undefined) {
      const at = this.append(FrameKind.Delete, 0, id, 0, undefined);
      this.ledger.delete(id, at.seg);
    } else {
      const at = this.append(FrameKind.TxDelete, txId, id, 0, undefined);
      this.ledger.operation(txId, TxOp.Delete, id, 0, at.seg, at.pos, 0, at.bytes, undefined);
    }
  }

  prepare(txId: number, data: Buffer): void {
    checkId(txId, 0, undefined);
    const at = this.append(FrameKind.Prepare, txId, 0, 0, data);
    this.ledger.prepare(txId, at.seg, at.bytes, undefined);
  }

  commit(txId: number): void {
    this.assertWritable();
    // a transaction with nothing in it leaves nothing to replay
    if (!this.ledger.transactions.has(txId)) return;
    const at = this.append(FrameKind.Commit, txId, 0, 0, undefined);
    this.ledger.commit(txId, at.seg);
  }

  rollback(txId: number): void {
    this.assertWritable();
    if (!this.ledger.transactions.has(txId)) return;
    const at = this.append(FrameKind.Rollback, txId, 0, 0, undefined);
    this.ledger.rollback(txId, at.seg);
  }

  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.phase !== 'open' && this.phase !== 'closing') return Promise.reject(this.notOpen());
    if (this.appendSeq === this.durableSeq) return Promise.resolve();
    // every append since the last batch was taken goes out in the next write: one promise serves
    // all who wait for it (thousands of producers' receipts in one turn)
    const last = this.waiters[this.waiters.length - 1];
    if (last !== undefined && last.batch === this.batchesTaken) {
      last.seq = this.appendSeq;
      return last.promise;
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.waiters.push({ seq: this.appendSeq, resolve, reject, promise, batch: this.batchesTaken });
    this.scheduleFlush();
    return promise;
  }

  /** Reads a live record's data back from disk (waiting for it to be written if it was just appended). */
  read(id: number): Promise<Buffer> {
    return this.tracked(this.readRecord(id));
  }

  /** Close waits for reads in progress. */
  private tracked<T>(reading: Promise<T>): Promise<T> {
    this.reads.add(reading);
    const forget = (): void => void this.reads.delete(reading);
    reading.then(forget, forget);
    return reading;
  }

  async compact(): Promise<void> {
    if (this.phase !== 'open') throw this.failure ?? this.notOpen();
    const run = this.maintenance.then(() => this.compactNow());
    this.maintenance = run.catch(() => undefined);
    return run;
  }

  stats(): StoreStats {
    return { records: this.ledger.records.size, bytes: this.ledger.dataBytes };
  }

  describe(): JournalDescription {
    const perSegment = new Map<number, { records: number; byType: Record<number, number>; ids: number[] }>();
    for (const [id, record] of this.ledger.records) {
      const segs = this.ledger.pinnedSegments(record);
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i]!;
        if (segs.indexOf(s) !== i) continue;
        let entry = perSegment.get(s);
        if (entry === undefined) perSegment.set(s, (entry = { records: 0, byType: {}, ids: [] }));
        entry.records++;
        entry.byType[record.type] = (entry.byType[record.type] ?? 0) + 1;
        if (entry.ids.length < DESCRIBE_IDS) entry.ids.push(id);
      }
    }
    const segments: JournalSegmentDescription[] = [];
    let diskBytes = 0;
    for (const segment of [...this.segments.values()].sort((a, b) => a.number - b.number)) {
      const entry = perSegment.get(segment.number);
      diskBytes += segment.size;
      segments.push({
        file: segment.file,
        current: segment === this.currentSegment,
        size: segment.size,
        liveBytes: segment.liveBytes,
        deadBytes: segment.deadBytes,
        liveRecords: entry?.records ?? 0,
        liveRecordsByType: entry?.byType ?? {},
        keptAliveBy: entry?.ids ?? [],
        openTransactionFrames: segment.openTxFrames,
        waitsFor: [...segment.mustOutlive].filter((n) => this.segments.has(n)).map((n) => this.segments.get(n)!.file),
      });
    }
    return {
      dir: this.dir,
      segmentSize: this.segmentSize,
      syncOnWrite: this.syncOnWrite,
      records: this.ledger.records.size,
      bytes: this.ledger.dataBytes,
      diskBytes,
      openTransactions: this.ledger.transactions.size,
      failure: this.failure?.message ?? null,
      segments,
    };
  }

  async close(): Promise<void> {
    if (this.phase === 'new' || this.phase === 'closed') {
      this.phase = 'closed';
      return;
    }
    if (this.phase === 'closing') throw new FerryError('FERRY_STORE_FAILED', 'the journal is already closing');
    this.phase = 'closing';
    if (this.timer !== undefined) clearInterval(this.timer);
    let error: unknown;
    if (this.failure === undefined) await this.sync().catch((err: unknown) => (error = err));
    await this.maintenance;
    await Promise.allSettled([...this.reads]);
    this.phase = 'closed';
    this.openSealed.clear();
    for (const segment of this.segments.values()) {
      if (segment.fd < 0) continue;
      const fd = segment.fd;
      segment.fd = -1;
      await this.fs.close(fd).catch((err: unknown) => (error ??= err));
    }
    if (error !== undefined) throw error;
  }

  // --- appending and group commit ---

  private append(kind: FrameKind, txId: number, id: number, type: number, data: Buffer | undefined): Placed {
    this.assertWritable();
    const dataLength = data === undefined ? 0 : data.length;
    if (dataLength > MAX_RECORD_DATA) {
      throw new FerryError('FERRY_STORE_FAILED', `a record of ${dataLength} bytes is larger than the journal takes (${MAX_RECORD_DATA} bytes)`);
    }
    const size = frameSize(kind, dataLength);
    const chunk = this.chunkFor(size);
    const at = encodeFrame(chunk.arena, kind, txId, id, type, data);
    const segment = chunk.segment;
    segment.size += size;
    segment.frames++;
    const seq = ++this.appendSeq;
    segment.lastSeq = seq;
    this.ledger.seq = seq;
    this.scheduleFlush();
    return { seg: segment.number, pos: chunk.start + at + dataOffset(kind), bytes: size };
  }

  private chunkFor(frameBytes: number): WriteChunk {
    let segment = this.currentSegment!;
    let chunk = this.pending[this.pending.length - 1];
    const opening = chunk === undefined || chunk.segment !== segment ? BATCH_FRAME_SIZE : 0;
    if (segment.frames > 0 && segment.size + opening + frameBytes > this.segmentSize) {
      segment = this.roll();
      chunk = undefined;
    }
    if (chunk === undefined || chunk.segment !== segment) {
      const createsFile = segment.size === 0;
      // sized like the last write, so that a steady load does not copy the arena as it grows
      const arena = new FrameArena(Math.max(this.arenaHint, frameBytes + SEGMENT_HEADER_SIZE + BATCH_FRAME_SIZE));
      if (createsFile) encodeSegmentHeader(segment.number, segment.maxIdAtCreation).copy(arena.buf, arena.reserve(SEGMENT_HEADER_SIZE));
      const batchAt = encodeFrame(arena, FrameKind.Batch, 0, 0, 0, undefined);
      chunk = { segment, arena, start: segment.size, batchAt, createsFile };
      segment.size += arena.length;
      this.pending.push(chunk);
    }
    return chunk;
  }

  private roll(): JournalSegment {
    const previous = this.currentSegment!;
    const next = new JournalSegment(previous.number + 1, this.dir, Math.max(this.recoveredMaxId, this.ledger.maxId));
    this.segments.set(next.number, next);
    this.currentSegment = next;
    if (previous.liveCount === 0) this.ledger.emptied.add(previous);
    this.usedSealed(previous);
    return next;
  }

  private scheduleFlush(): void {
    if (this.flushing || this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every append of this turn of the event loop (all the
    // sockets read in it) joins the same write
    setImmediate(this.startFlush);
  }

  private readonly startFlush = (): void => {
    this.flushScheduled = false;
    void this.flush();
  };

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && this.failure === undefined) {
        const batch = this.pending;
        this.pending = [];
        this.batchesTaken++;
        this.writing = batch;
        const seq = this.appendSeq;
        for (const chunk of batch) await this.writeChunk(chunk);
        this.writing = [];
        this.durableSeq = seq;
        this.settleWaiters();
        if (this.ledger.emptied.size > 0) this.queueReclaim();
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.flushing = false;
    }
  }

  private async writeChunk(chunk: WriteChunk): Promise<void> {
    const segment = chunk.segment;
    if (chunk.createsFile) {
      segment.fd = await this.fs.open(segment.path, 'wx+');
      // rolled past already, within one batch: a sealed segment like the others from now on
      if (segment !== this.currentSegment) this.usedSealed(segment);
    }
    const bytes = chunk.arena.bytes();
    this.arenaHint = Math.min(ARENA_MAX_HINT, Math.max(ARENA_INITIAL, bytes.length + (bytes.length >> 2)));
    sealBatchFrame(bytes, chunk.batchAt, bytes.length - chunk.batchAt - BATCH_FRAME_SIZE);
    await writeFully(this.fs, segment.fd, bytes, bytes.length, chunk.start);
    segment.writtenSize = chunk.start + bytes.length;
    if (!this.syncOnWrite) return;
    // A segment is synced before the next one is written: a torn write is then always at the
    // tail of the last segment, which is what recovery may cut off without asking.
    await this.fs.fdatasync(segment.fd);
    if (chunk.createsFile) await this.syncDir();
  }

  private settleWaiters(): void {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= this.durableSeq) this.waiters[n++]!.resolve();
    if (n > 0) this.waiters.splice(0, n);
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    const reason = err instanceof Error ? err.message : String(err);
    this.failure = new FerryError('FERRY_STORE_FAILED', `the journal in ${this.dir} could not write or sync (${reason}); it takes no more records until it is reopened`, { cause: err });
    this.pending = [];
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(this.failure);
    this.emit({ event: 'journal.failed', error: reason });
  }

  private assertWritable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.phase !== 'open') throw this.notOpen();
  }

  private notOpen(): FerryError {
    return new FerryError('FERRY_STORE_FAILED', `the journal in ${this.dir} is ${this.phase === 'new' || this.phase === 'opening' ? 'not open yet' : 'closed'}`);
  }

  // --- reading back ---

  private async readRecord(id: number): Promise<Buffer> {
    for (;;) {
      if (this.phase !== 'open' && this.phase !== 'closing') throw this.notOpen();
      const record = this.liveRecord(id);
      if (record.length === 0) return Buffer.alloc(0);
      const segment = this.segments.get(record.seg)!;
      if (record.pos + record.length > segment.writtenSize) {
        // appended but not yet written: wait for the write, then look again (it may have moved)
        await this.sync();
        continue;
      }
      return this.readSpan(record.seg, record.pos, record.length, `record ${id}`);
    }
  }

  private liveRecord(id: number): LiveRecord {
    const record = this.ledger.records.get(id);
    if (record === undefined) throw new FerryError('FERRY_STORE_FAILED', `record ${id} is not live in the journal`);
    return record;
  }

  /**
   * Reads records grouped into as few reads as the file layout allows: records of one segment that
   * lie close together (messages sent one after another) come back in one read.
   */
  private async readMany(ids: readonly number[]): Promise<Buffer[]> {
    if (this.phase !== 'open' && this.phase !== 'closing') throw this.notOpen();
    const out: Buffer[] = new Array<Buffer>(ids.length);
    const located: { at: number; seg: number; pos: number; length: number }[] = [];
    const waiting: Promise<void>[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const record = this.liveRecord(id);
      const segment = this.segments.get(record.seg)!;
      if (record.length === 0) out[i] = Buffer.alloc(0);
      else if (record.pos + record.length > segment.writtenSize) {
        waiting.push(this.readRecord(id).then((data) => void (out[i] = data)));
      } else located.push({ at: i, seg: record.seg, pos: record.pos, length: record.length });
    }
    located.sort((a, b) => a.seg - b.seg || a.pos - b.pos);
    let first = 0;
    while (first < located.length) {
      const seg = located[first]!.seg;
      const start = located[first]!.pos;
      let end = start + located[first]!.length;
      let last = first + 1;
      while (last < located.length) {
        const next = located[last]!;
        if (next.seg !== seg || next.pos - end > READ_GAP || next.pos + next.length - start > READ_SPAN) break;
        end = Math.max(end, next.pos + next.length);
        last++;
      }
      const span = located.slice(first, last);
      waiting.push(
        this.readSpan(seg, start, end - start, `${end - start} bytes`).then((buf) => {
          for (const r of span) out[r.at] = buf.subarray(r.pos - start, r.pos - start + r.length);
        }),
      );
      first = last;
    }
    await Promise.all(waiting);
    return out;
  }

  /** `length` bytes at `pos` of a segment; `what` names them in an error. */
  private async readSpan(seg: number, pos: number, length: number, what: string): Promise<Buffer> {
    const segment = this.segments.get(seg);
    if (segment === undefined) throw new FerryError('FERRY_STORE_FAILED', `journal segment ${seg} is gone`);
    const data = Buffer.allocUnsafe(length);
    segment.readers++;
    try {
      await readFully(this.fs, await this.descriptor(segment), data, length, pos);
    } catch (err) {
      throw new FerryError('FERRY_STORE_FAILED', `${what} could not be read from ${segment.file}: ${(err as Error).message}`, { cause: err });
    } finally {
      segment.readers--;
    }
    return data;
  }

  /**
   * One record, read before returning. A record not yet written is copied from the batch that holds
   * it; a sealed segment whose descriptor was closed is opened for this read only.
   */
  private readSync(id: number): Buffer {
    if (this.phase !== 'open' && this.phase !== 'closing') throw this.notOpen();
    const record = this.liveRecord(id);
    const data = Buffer.allocUnsafe(record.length);
    if (record.length === 0) return data;
    const segment = this.segments.get(record.seg)!;
    if (record.pos + record.length > segment.writtenSize) {
      for (const chunk of [...this.writing, ...this.pending]) {
        if (chunk.segment !== segment || record.pos < chunk.start || record.pos + record.length > chunk.start + chunk.arena.length) continue;
        chunk.arena.buf.copy(data, 0, record.pos - chunk.start, record.pos - chunk.start + record.length);
        return data;
      }
    }
    const own = segment.fd < 0 ? fs.openSync(segment.path, 'r') : -1;
    try {
      const fd = own >= 0 ? own : segment.fd;
      let done = 0;
      while (done < record.length) {
        const n = fs.readSync(fd, data, done, record.length - done, record.pos + done);
        if (n === 0) throw new Error(`the file ends ${record.length - done} bytes before the record does`);
        done += n;
      }
    } catch (err) {
      throw new FerryError('FERRY_STORE_FAILED', `record ${id} could not be read from ${segment.file}: ${(err as Error).message}`, { cause: err });
    } finally {
      if (own >= 0) fs.closeSync(own);
    }
    return data;
  }

  /** The segment's descriptor, opened if need be; the caller holds `readers` so it stays open. */
  private async descriptor(segment: JournalSegment): Promise<number> {
    if (segment.fd >= 0) {
      this.usedSealed(segment);
      return segment.fd;
    }
    segment.opening ??= this.fs.open(segment.path, 'r').then(
      (fd) => {
        segment.opening = undefined;
        segment.fd = fd;
        this.usedSealed(segment);
        return fd;
      },
      (err: unknown) => {
        segment.opening = undefined;
        throw err;
      },
    );
    return segment.opening;
  }

  private usedSealed(segment: JournalSegment): void {
    if (segment === this.currentSegment || segment.fd < 0) return;
    this.openSealed.delete(segment);
    this.openSealed.add(segment);
    if (this.openSealed.size <= MAX_OPEN_SEALED) return;
    for (const old of this.openSealed) {
      if (this.openSealed.size <= MAX_OPEN_SEALED) break;
      // not while a read holds it, nor while a write or its sync may still be in flight
      if (old.readers > 0 || old.lastSeq > this.durableSeq || old === segment) continue;
      this.openSealed.delete(old);
      const fd = old.fd;
      old.fd = -1;
      this.fs.close(fd).catch((err: unknown) => this.emit({ event: 'journal.close.failed', file: old.file, error: (err as Error).message }));
    }
  }

  // --- reclaiming space ---

  private queueReclaim(): void {
    if (this.reclaimQueued || this.phase !== 'open') return;
    this.reclaimQueued = true;
    this.maintenance = this.maintenance
      .then(() => {
        this.reclaimQueued = false;
        return this.reclaim();
      })
      .catch((err: unknown) => this.emit({ event: 'journal.reclaim.failed', error: (err as Error).message }));
  }

  /**
   * Deletes emptied segments, oldest first. A segment that must outlive another waits for it, and
   * for the folder sync that makes the other's removal durable: a crash must never leave a file
   * of records without the file of their deletes.
   */
  private async reclaim(): Promise<void> {
    const emptied = this.ledger.emptied;
    if (emptied.size === 0) return;
    const candidates = [...emptied].sort((a, b) => a.number - b.number);
    const unsynced = new Set<number>();
    let blockedCount = 0;
    for (const segment of candidates) {
      if (segment.deleted || segment.liveCount > 0) {
        emptied.delete(segment);
        continue;
      }
      if (segment === this.currentSegment || segment.deadAt > this.durableSeq || segment.lastSeq > this.durableSeq || segment.readers > 0) continue;
      let blocked = false;
      let needsDirSync = false;
      for (const other of segment.mustOutlive) {
        if (this.segments.has(other)) blocked = true;
        else if (unsynced.has(other)) needsDirSync = true;
        else segment.mustOutlive.delete(other);
      }
      if (blocked) {
        blockedCount++;
        continue;
      }
      if (needsDirSync) {
        await this.syncDir();
        unsynced.clear();
      }
      if (segment.fd >= 0) {
        const fd = segment.fd;
        segment.fd = -1;
        this.openSealed.delete(segment);
        await this.fs.close(fd);
      }
      await this.fs.unlink(segment.path);
      segment.deleted = true;
      this.segments.delete(segment.number);
      emptied.delete(segment);
      unsynced.add(segment.number);
      this.emit({ event: 'journal.segment.deleted', file: segment.file, size: segment.size });
    }
    if (unsynced.size > 0) await this.syncDir();
    if (blockedCount >= BLOCKED_SEGMENTS_COMPACT && this.compactInterval > 0 && performance.now() - this.lastCompaction > MIN_COMPACTION_GAP_MS) {
      this.compactInBackground();
    }
  }

  private compactInBackground(): void {
    if (this.compacting || this.phase !== 'open') return;
    this.compact().catch((err: unknown) => this.emit({ event: 'journal.compaction.failed', error: (err as Error).message }));
  }

  private async compactNow(): Promise<void> {
    if (this.phase !== 'open') return;
    this.compacting = true;
    const started = (this.lastCompaction = performance.now());
    try {
      const host = this.compactionHost();
      const candidates = compactionCandidates(host, this.compactBelow);
      if (candidates.length > 0) {
        const result = await compactSegments(host, candidates);
        if (result.moved > 0 || result.segments.length > 0) {
          this.emit({ event: 'journal.compacted', segments: result.segments, moved: result.moved, bytes: result.bytes, ms: Math.round(performance.now() - started) });
        }
      }
      await this.reclaim();
    } finally {
      this.compacting = false;
    }
  }

  private compactionHost(): CompactionHost {
    const journal = this;
    return {
      get ledger() {
        return journal.ledger;
      },
      get segments() {
        return journal.segments;
      },
      get current() {
        return journal.currentSegment!;
      },
      stopped: () => this.phase !== 'open' || this.failure !== undefined,
      readSegment: async (segment) => {
        const buf = Buffer.allocUnsafe(segment.size);
        segment.readers++;
        try {
          await readFully(this.fs, await this.descriptor(segment), buf, segment.size, 0);
        } finally {
          segment.readers--;
        }
        return buf;
      },
      readRecord: (id) => this.read(id),
      rewrite: (id: number, record: LiveRecord, data: Buffer, asAdd: boolean) => {
        if (asAdd) {
          const at = this.append(FrameKind.Add, 0, id, record.type, data);
          this.ledger.add(id, record.type, at.seg, at.pos, data.length, at.bytes, undefined);
        } else {
          const at = this.append(FrameKind.Update, 0, id, record.type, data);
          this.ledger.update(id, record.type, at.seg, at.pos, data.length, at.bytes, undefined);
        }
      },
      sync: () => this.sync(),
    };
  }

  private async syncDir(): Promise<void> {
    if (!this.syncOnWrite) return;
    const fd = await this.fs.open(this.dir, 'r');
    try {
      await this.fs.fsync(fd);
    } finally {
      await this.fs.close(fd);
    }
  }

  private emit(event: JournalEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch {
      // a logger that throws must not take the journal down
    }
  }
}

function checkId(id: number, type: number, txId: number | undefined): void {
  if (!Number.isSafeInteger(id) || id < 0) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${id}`);
  if (txId !== undefined && (!Number.isSafeInteger(txId) || txId < 0)) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${txId}`);
  if (!Number.isInteger(type) || type < 0 || type > 0xffff_ffff) throw new FerryError('FERRY_STORE_FAILED', `record types are 32-bit unsigned integers, not ${type}`);
}
