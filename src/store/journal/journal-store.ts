import { FerryError, isFerryError } from '../../errors.js';
import type { OpenOptions, RecoveredState, Store, StoreObserver, StoreStats } from '../store.js';
import { JournalContext, type JournalEvent } from './context.js';
import { nodeFileSystem, writeFully, type JournalFileSystem } from './file-system.js';
import { BATCH_FRAME_SIZE, FrameKind, SEGMENT_HEADER_SIZE, encodeSegmentHeader } from './format.js';
import { TxOp } from './ledger.js';
import { JournalMaintenance, type JournalDescription } from './maintenance.js';
import { JournalReader, type JournalRecordReader } from './reader.js';
import { recoverJournal, unchangedSince, type RecoveryReport, type RecoveryResult } from './recovery.js';
import { JournalSegment } from './segment.js';
import { JournalSpace, statfsProbe, type FreeSpaceProbe } from './space.js';
import { JournalWriter } from './writer.js';

export type { JournalEvent } from './context.js';
export type { JournalDescription, JournalSegmentDescription } from './maintenance.js';

const DEFAULT_SEGMENT_SIZE = 32 * 1024 * 1024;

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
   * `open()` with FERRY_STORE_CORRUPT. With true, `open()` drops the damaged records (up to the
   * next whole frame; in a version 1 segment, up to the next write), reports them with their ids in
   * `lastRecovery`, and carries on.
   */
  readonly repair?: boolean | undefined;
  /** Bytes of segment files past which persistent sends are refused (`writeRefusal`); 0, the default: no limit. */
  readonly maxSize?: number | undefined;
  /** Free bytes on the journal's disk under which persistent sends are refused; 0, the default: not checked. */
  readonly minFreeDisk?: number | undefined;
  /** How free space is measured; tests pass their own. */
  readonly freeSpace?: FreeSpaceProbe | undefined;
  /**
   * Receives the journal's events: journal.truncated, journal.repaired, journal.segment.deleted,
   * journal.compacted, journal.stalled and journal.resumed (writes failing and succeeding again),
   * journal.space.exhausted and journal.space.available (the watermarks).
   */
  readonly onEvent?: ((event: JournalEvent) => void) | undefined;
  /** File operations; tests pass their own. */
  readonly fileSystem?: JournalFileSystem | undefined;
}

/**
 * Ferry's embedded durable store: segmented, append-only, checksummed files in one folder.
 *
 * Appends are synchronous and join the current batch; at most one write (and fdatasync) is in
 * flight, and everything appended meanwhile goes out together in the next one (group commit:
 * `JournalWriter`). The journal keeps an index of where each live record is, not its data;
 * `read(id)` fetches the data back (`JournalReader`). Segments whose records are all dead are
 * deleted, and sparse ones are compacted (`JournalMaintenance`). This class opens, closes, and
 * turns the `Store` calls into frames and ledger entries.
 */
export class JournalStore implements Store {
  /** What the last `open()` replayed and dropped. */
  lastRecovery: RecoveryReport | undefined;

  private readonly journal: JournalContext;
  private readonly repair: boolean;
  private readonly writer: JournalWriter;
  private readonly reading: JournalReader;
  private readonly maintenance: JournalMaintenance;
  private readonly space: JournalSpace;
  /** A replay made before `open` by `readAhead`, and whether it is still wanted. */
  private ahead: ReadAhead | undefined;

  constructor(options: JournalOptions) {
    const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    const compactBelow = options.compactBelow ?? 0.3;
    this.repair = options.repair ?? false;
    if (!(segmentSize >= SEGMENT_HEADER_SIZE + BATCH_FRAME_SIZE + 64)) throw new RangeError(`journal segmentSize ${segmentSize} is too small`);
    if (!(compactBelow >= 0 && compactBelow <= 1)) throw new RangeError(`journal compactBelow ${compactBelow} must be between 0 and 1`);
    this.journal = new JournalContext(options.dir, options.fileSystem ?? nodeFileSystem, segmentSize, options.syncOnWrite ?? true, options.onEvent);
    this.space = new JournalSpace(this.journal, { maxSize: options.maxSize ?? 0, minFreeDisk: options.minFreeDisk ?? 0 }, options.freeSpace ?? statfsProbe);
    this.writer = new JournalWriter(this.journal, {
      sealedInUse: (segment) => this.reading.usedSealed(segment),
      batchWritten: (bytes) => {
        this.space.written(bytes);
        if (this.journal.ledger.emptied.size > 0) this.maintenance.queueReclaim();
      },
      stalled: (error) => {
        if (error !== undefined) this.journal.emit({ event: 'journal.stalled', error: error.message });
        else this.journal.emit({ event: 'journal.resumed' });
      },
    });
    this.reading = new JournalReader(this.journal, this.writer);
    this.maintenance = new JournalMaintenance(this.journal, this.writer, this.reading, compactBelow, options.compactInterval ?? 30_000, () => {
      this.space.evaluate();
      void this.space.look();
      // deleted files may be the room a failed write was waiting for
      this.writer.retryNow();
    });
    this.reader = this.reading.records;
  }

  observe(observer: StoreObserver | undefined): void {
    this.writer.observer = observer;
  }

  /** Reads live records back; the body cache uses it to leave message bodies on disk. */
  readonly reader: JournalRecordReader;

  /**
   * Replays the folder now, writing nothing, for `open` to use if no segment file has changed by
   * then: an HA backup whose primary has stopped renewing its lease reads the journal while the
   * lease runs out. A cut or repair the replay finds is made by `open`. Once `dropReadAhead`, or
   * when the files changed (the primary was alive after all), `open` replays again. Resolves when
   * the replay has ended, whether or not it succeeded.
   */
  readAhead(options?: OpenOptions): Promise<void> {
    const journal = this.journal;
    if (journal.phase !== 'new') return Promise.resolve();
    if (this.ahead !== undefined) return this.ahead.result.then(() => undefined);
    const ahead: ReadAhead = {
      wanted: true,
      // a replay that failed or was abandoned leaves `open` to replay afresh, and says why then if it fails again
      result: recoverJournal(journal.fs, journal.dir, this.repair, (event) => journal.emit(event), options?.keep, { readOnly: true, wanted: (): boolean => ahead.wanted }).catch(() => undefined),
    };
    this.ahead = ahead;
    return ahead.result.then(() => undefined);
  }

  /** Forgets a replay made ahead, ending it if it is still under way. */
  dropReadAhead(): void {
    if (this.ahead !== undefined) this.ahead.wanted = false;
    this.ahead = undefined;
  }

  /** The replay made ahead, if the folder is as it was when it was read; its cuts and repairs are made now. */
  private async adoptReadAhead(): Promise<RecoveryResult | undefined> {
    const ahead = this.ahead;
    this.ahead = undefined;
    const result = await ahead?.result;
    if (result === undefined) return undefined;
    const journal = this.journal;
    if (!(await unchangedSince(journal.fs, journal.dir, result.files))) {
      journal.emit({ event: 'journal.read-ahead-stale', segments: result.files.size });
      return undefined;
    }
    for (const step of result.deferred) await step();
    journal.emit({ event: 'journal.read-ahead-used', segments: result.files.size, records: result.report.records });
    return result;
  }

  async open(options?: OpenOptions): Promise<RecoveredState> {
    const journal = this.journal;
    if (journal.phase !== 'new') throw new FerryError('FERRY_STORE_FAILED', 'a JournalStore opens once; make a new one to open the folder again');
    journal.phase = 'opening';
    try {
      await journal.fs.mkdir(journal.dir);
      const recovered = (await this.adoptReadAhead()) ?? (await recoverJournal(journal.fs, journal.dir, this.repair, (event) => journal.emit(event), options?.keep));
      journal.segments = recovered.segments;
      journal.ledger = recovered.ledger;
      journal.recoveredMaxId = recovered.state.maxId;
      this.lastRecovery = recovered.report;

      // Appends go to a fresh segment: the last one may end where a torn write was cut off. Its
      // header carries the highest id so far, so ids stay unique even after older segments go.
      let last = 0;
      for (const number of journal.segments.keys()) if (number > last) last = number;
      const segment = new JournalSegment(last + 1, journal.dir, journal.recoveredMaxId);
      segment.fd = await journal.fs.open(segment.path, 'wx+');
      journal.segments.set(segment.number, segment);
      const header = encodeSegmentHeader(segment.number, journal.recoveredMaxId);
      await writeFully(journal.fs, segment.fd, header, header.length, 0);
      await journal.fs.fdatasync(segment.fd);
      await journal.syncDir();
      segment.size = segment.writtenSize = SEGMENT_HEADER_SIZE;
      journal.current = segment;

      journal.phase = 'open';
      await this.space.start();
      this.maintenance.start();
      return recovered.state;
    } catch (err) {
      journal.phase = 'closed';
      for (const segment of journal.segments.values()) if (segment.fd >= 0) await journal.fs.close(segment.fd).catch(() => undefined);
      if (isFerryError(err)) throw err;
      throw new FerryError('FERRY_STORE_FAILED', `the journal in ${journal.dir} could not be opened: ${(err as Error).message}`, { cause: err });
    }
  }

  add(id: number, type: number, data: Buffer, txId?: number): void {
    checkId(id, type, txId);
    const ledger = this.journal.ledger;
    if (txId === undefined) {
      const at = this.writer.append(FrameKind.Add, 0, id, type, data);
      ledger.add(id, type, at.seg, at.pos, data.length, at.bytes);
    } else {
      const at = this.writer.append(FrameKind.TxAdd, txId, id, type, data);
      ledger.operation(txId, TxOp.Add, id, type, at.seg, at.pos, data.length, at.bytes);
    }
  }

  update(id: number, type: number, data: Buffer, txId?: number): void {
    checkId(id, type, txId);
    const ledger = this.journal.ledger;
    if (txId === undefined) {
      const at = this.writer.append(FrameKind.Update, 0, id, type, data);
      ledger.update(id, type, at.seg, at.pos, data.length, at.bytes);
    } else {
      const at = this.writer.append(FrameKind.TxUpdate, txId, id, type, data);
      ledger.operation(txId, TxOp.Update, id, type, at.seg, at.pos, data.length, at.bytes);
    }
  }

  delete(id: number, txId?: number): void {
    checkId(id, 0, txId);
    const ledger = this.journal.ledger;
    if (txId === undefined) {
      const at = this.writer.append(FrameKind.Delete, 0, id, 0, undefined);
      ledger.delete(id, at.seg);
    } else {
      const at = this.writer.append(FrameKind.TxDelete, txId, id, 0, undefined);
      ledger.operation(txId, TxOp.Delete, id, 0, at.seg, at.pos, 0, at.bytes);
    }
  }

  prepare(txId: number, data: Buffer): void {
    checkId(txId, 0, undefined);
    const at = this.writer.append(FrameKind.Prepare, txId, 0, 0, data);
    this.journal.ledger.prepare(txId, at.seg, at.bytes);
  }

  commit(txId: number): void {
    this.journal.assertWritable();
    // a transaction with nothing in it leaves nothing to replay
    if (!this.journal.ledger.transactions.has(txId)) return;
    const at = this.writer.append(FrameKind.Commit, txId, 0, 0, undefined);
    this.journal.ledger.commit(txId, at.seg);
  }

  rollback(txId: number): void {
    this.journal.assertWritable();
    if (!this.journal.ledger.transactions.has(txId)) return;
    const at = this.writer.append(FrameKind.Rollback, txId, 0, 0, undefined);
    this.journal.ledger.rollback(txId, at.seg);
  }

  sync(): Promise<void> {
    return this.writer.sync();
  }

  /** Why persistent sends are refused now: writes failing (a full disk), or a watermark passed. */
  writeRefusal(): FerryError | undefined {
    return this.journal.stalled ?? this.space.refusing;
  }

  /** Reads a live record's data back from disk (waiting for it to be written if it was just appended). */
  read(id: number): Promise<Buffer> {
    return this.reading.read(id);
  }

  compact(): Promise<void> {
    return this.maintenance.compact();
  }

  stats(): StoreStats {
    return this.maintenance.stats();
  }

  describe(): JournalDescription {
    const free = this.space.free;
    return { ...this.maintenance.describe(), refusing: this.space.refusing?.message ?? null, freeDiskBytes: free === Number.POSITIVE_INFINITY ? null : free };
  }

  async close(): Promise<void> {
    const journal = this.journal;
    this.dropReadAhead();
    if (journal.phase === 'new' || journal.phase === 'closed') {
      journal.phase = 'closed';
      return;
    }
    if (journal.phase === 'closing') throw new FerryError('FERRY_STORE_FAILED', 'the journal is already closing');
    journal.phase = 'closing';
    this.maintenance.stopTimer();
    this.space.stop();
    let error: unknown;
    await this.writer.drain().catch((err: unknown) => (error = err));
    await this.maintenance.idle();
    await this.reading.settled();
    journal.phase = 'closed';
    this.reading.forgetAll();
    for (const segment of journal.segments.values()) {
      if (segment.fd < 0) continue;
      const fd = segment.fd;
      segment.fd = -1;
      await journal.fs.close(fd).catch((err: unknown) => (error ??= err));
    }
    if (error !== undefined) throw error;
  }
}

function checkId(id: number, type: number, txId: number | undefined): void {
  if (!Number.isSafeInteger(id) || id < 0) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${id}`);
  if (txId !== undefined && (!Number.isSafeInteger(txId) || txId < 0)) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${txId}`);
  if (!Number.isInteger(type) || type < 0 || type > 0xffff_ffff) throw new FerryError('FERRY_STORE_FAILED', `record types are 32-bit unsigned integers, not ${type}`);
}

/** A replay made ahead of `open` (undefined when it failed or was abandoned), and whether it is still wanted. */
interface ReadAhead {
  readonly result: Promise<RecoveryResult | undefined>;
  wanted: boolean;
}
