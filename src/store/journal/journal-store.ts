import { FerryError, isFerryError } from '../../errors.js';
import type { OpenOptions, RecoveredState, Store, StoreObserver, StoreRecord, StoreStats } from '../store.js';
import { EarlyOp, EarlyRecords, readCatalog, removeCatalog } from './catalog.js';
import { CatalogKeeper } from './catalog-keeper.js';
import { HeldChanges } from './held-changes.js';
import { scanTail } from './tail.js';
import { JournalContext, type JournalEvent } from './context.js';
import { nodeFileSystem, writeFully, type JournalFileSystem } from './file-system.js';
import { BATCH_FRAME_SIZE, FrameKind, SEGMENT_HEADER_SIZE, encodeSegmentHeader, parseSegmentFileName, segmentFileName } from './format.js';
import { TxOp, type JournalLedger } from './ledger.js';
import { JournalMaintenance, type JournalDescription } from './maintenance.js';
import { JournalReader, type JournalRecordReader } from './reader.js';
import type { RecoveredData } from './recovered-data.js';
import { recoverJournal, segmentNumbers, unchangedSince, type RecoveryReport, type RecoveryResult } from './recovery.js';
import { JournalSegment } from './segment.js';
import { JournalSpace, statfsProbe, type FreeSpaceProbe } from './space.js';
import { JournalWriter } from './writer.js';

export type { JournalEvent } from './context.js';
export type { JournalDescription, JournalSegmentDescription } from './maintenance.js';

const DEFAULT_SEGMENT_SIZE = 32 * 1024 * 1024;
const DEFAULT_CATALOG_EVERY = 64 * 1024 * 1024;

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
   * `lastRecovery`, and carries on. The same goes for segment files the journal lists as its own and
   * that are missing (FERRY_STORE_CORRUPT without repair; with it, journal.segment.missing).
   */
  readonly repair?: boolean | undefined;
  /** Bytes of segment files past which persistent sends are refused (`writeRefusal`); 0, the default: no limit. */
  readonly maxSize?: number | undefined;
  /** Free bytes on the journal's disk under which persistent sends are refused; 0, the default: not checked. */
  readonly minFreeDisk?: number | undefined;
  /** How free space is measured; tests pass their own. */
  readonly freeSpace?: FreeSpaceProbe | undefined;
  /**
   * Receives the journal's events: journal.truncated, journal.repaired, journal.segment.missing, journal.segment.deleted,
   * journal.compacted, journal.stalled and journal.resumed (writes failing and succeeding again),
   * journal.space.exhausted and journal.space.available (the watermarks).
   */
  readonly onEvent?: ((event: JournalEvent) => void) | undefined;
  /** File operations; tests pass their own. */
  readonly fileSystem?: JournalFileSystem | undefined;
  /**
   * Journal bytes written between two catalogs, when the store is opened with `OpenOptions.later`
   * (see `catalog.ts`); 0 keeps no catalog. Default 64 MiB: an open from the catalog reads about
   * that much of the journal before it serves.
   */
  readonly catalogEvery?: number | undefined;
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
  /** What the last `open()` replayed and dropped (opened from the catalog: once the replay in the background is over). */
  lastRecovery: RecoveryReport | undefined;
  /** True when the last `open()` served from the catalog, the rest of the journal replayed in the background. */
  openedFromCatalog = false;

  private readonly journal: JournalContext;
  private readonly repair: boolean;
  private readonly writer: JournalWriter;
  private readonly reading: JournalReader;
  private readonly maintenance: JournalMaintenance;
  private readonly space: JournalSpace;
  /** A replay made before `open` by `readAhead`, and whether it is still wanted. */
  private ahead: ReadAhead | undefined;
  private readonly catalog: CatalogKeeper;
  /** Ledger changes waiting for the replay in the background (opened from the catalog). */
  private held: HeldChanges | undefined;
  /** That replay, while it runs. */
  private background: Promise<unknown> | undefined;

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
        this.catalog.written(bytes);
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
    this.catalog = new CatalogKeeper(this.journal, this.writer, options.catalogEvery ?? DEFAULT_CATALOG_EVERY);
  }

  get repairing(): boolean {
    return this.repair;
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
      done: false,
      // a replay that failed or was abandoned leaves `open` to replay afresh, and says why then if it fails again
      result: recoverJournal(journal.fs, journal.dir, this.repair, (event) => journal.emit(event), keepOf(options), { readOnly: true, wanted: (): boolean => ahead.wanted })
        .catch(() => undefined)
        .finally(() => (ahead.done = true)),
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
      await this.checkSegments();
      const later = this.catalog.kept ? options?.later : undefined;
      const early = later === undefined ? undefined : earlyTypes(later.types);
      // a replay made ahead, finished and still true, gives every record at once; one still under way is not waited for
      const ahead = this.ahead?.done === true ? await this.adoptReadAhead() : undefined;
      if (ahead === undefined && early !== undefined && later !== undefined && Number.isFinite(later.above)) {
        const opened = await this.openFromCatalog(options, early, later.above);
        if (opened !== undefined) {
          this.dropReadAhead();
          return opened;
        }
      }
      const recovered = ahead ?? (await this.adoptReadAhead()) ?? (await recoverJournal(journal.fs, journal.dir, this.repair, (event) => journal.emit(event), keepOf(options)));
      journal.segments = recovered.segments;
      journal.ledger = recovered.ledger;
      journal.recoveredMaxId = recovered.state.maxId;
      this.lastRecovery = recovered.report;
      // a repair may have dropped records that the catalog lists
      if (recovered.report.dropped.some((drop) => drop.kind === 'repaired')) await removeCatalog(journal.fs, journal.dir);
      await unlistDropped(journal, recovered.report);

      let last = 0;
      for (const number of journal.segments.keys()) if (number > last) last = number;
      await this.startAppending(last);
      journal.phase = 'open';
      await this.space.start();
      this.maintenance.start();
      if (early === undefined) return recovered.state;
      return this.followEarly(recovered.state, early);
    } catch (err) {
      journal.phase = 'closed';
      for (const segment of journal.segments.values()) if (segment.fd >= 0) await journal.fs.close(segment.fd).catch(() => undefined);
      if (isFerryError(err)) throw err;
      throw new FerryError('FERRY_STORE_FAILED', `the journal in ${journal.dir} could not be opened: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Segment files listed as the journal's and absent from its folder stop the open before anything
   * is read or changed, unless `repair`: records in later files may belong to what they held (a
   * queue's messages, its declaration), and an open without them would serve a part as the whole.
   */
  private async checkSegments(): Promise<void> {
    const journal = this.journal;
    const present = await segmentNumbers(journal.fs, journal.dir);
    const missing = await journal.manifest.check(present, this.repair, (reason) => journal.emit({ event: 'journal.manifest.unused', reason }));
    if (missing.length === 0) return;
    journal.emit({ event: 'journal.segment.missing', files: missing.map(segmentFileName), present: present.length });
    // what the missing files held may be in the catalog, which would bring part of it back
    await removeCatalog(journal.fs, journal.dir);
  }

  /**
   * Appends go to a fresh segment after segment `last`: the last one may end where a torn write
   * was cut off. Its header carries the highest id so far, so ids stay unique even after older
   * segments go.
   */
  private async startAppending(last: number): Promise<void> {
    const journal = this.journal;
    const segment = new JournalSegment(last + 1, journal.dir, journal.recoveredMaxId);
    segment.fd = await journal.fs.open(segment.path, 'wx+');
    journal.segments.set(segment.number, segment);
    const header = encodeSegmentHeader(segment.number, journal.recoveredMaxId);
    await writeFully(journal.fs, segment.fd, header, header.length, 0);
    await journal.fs.fdatasync(segment.fd);
    await journal.manifest.created(segment.number);
    segment.size = segment.writtenSize = SEGMENT_HEADER_SIZE;
    journal.current = segment;
  }

  /** The early records of a full replay are followed for the catalog from now on, as they are handed back. */
  private followEarly(state: RecoveredState, early: (type: number) => boolean): RecoveredState {
    const records = new EarlyRecords(early);
    // a prepared transaction's early operations apply if it commits
    for (const tx of state.prepared) {
      for (const op of tx.operations) {
        if (op.op === 'delete') records.operation(tx.txId, EarlyOp.Delete, op.id, 0, undefined);
        else records.operation(tx.txId, op.op === 'add' ? EarlyOp.Add : EarlyOp.Update, op.record.id, op.record.type, op.record.data);
      }
      records.prepare(tx.txId);
    }
    this.catalog.follow(records, false);
    const stream = this.catalog.collect(state.stream ?? state.records);
    let taken: StoreRecord[] | undefined;
    return {
      get records() {
        return (taken ??= [...stream]);
      },
      stream,
      prepared: state.prepared,
      maxId: state.maxId,
    };
  }

  /**
   * Opens from the catalog when there is one that stands for the journal and more than `above`
   * records of the other types: reads the catalog and the journal after it, starts appending, and
   * replays the segments it opened with in the background; undefined otherwise.
   */
  private async openFromCatalog(options: OpenOptions | undefined, early: (type: number) => boolean, above: number): Promise<RecoveredState | undefined> {
    const journal = this.journal;
    const emit = (event: JournalEvent): void => journal.emit(event);
    const catalog = await readCatalog(journal.fs, journal.dir);
    if (catalog === undefined) return undefined;
    if (typeof catalog === 'string') {
      emit({ event: 'journal.catalog.unused', reason: `it cannot be read: ${catalog}` });
      return undefined;
    }
    const numbers = await segmentNumbers(journal.fs, journal.dir);
    const scan = await scanTail(journal.fs, journal.dir, numbers, catalog, early, emit);
    if (typeof scan === 'string') {
      emit({ event: 'journal.catalog.unused', reason: scan });
      return undefined;
    }
    if (scan.lateRecords <= above) return undefined;

    const ledger = journal.ledger;
    const kept = ledger.startRecovery();
    journal.recoveredMaxId = scan.maxId;
    this.held = new HeldChanges(scan.maxId);
    journal.loading = true;
    await this.startAppending(scan.lastSegment);
    journal.phase = 'open';
    await this.space.start();
    this.catalog.follow(scan.early, false);
    const later = this.replayInBackground(ledger, kept, keepOf(options), early, scan.lastSegment + 1, scan.maxId);
    this.background = later.catch(() => undefined);
    const records: StoreRecord[] = [...scan.early.records].sort((a, b) => a[0] - b[0]).map(([id, { type, data }]) => ({ id, type, data }));
    this.openedFromCatalog = true;
    emit({ event: 'journal.opened-from-catalog', records: records.length, later: scan.lateRecords, segments: numbers.length });
    return { records, stream: records, prepared: [], maxId: scan.maxId, later };
  }

  /** Replays the segments numbered below `below` into the ledger while the journal takes appends; resolves to the records to hand back. */
  private async replayInBackground(
    ledger: JournalLedger,
    kept: RecoveredData,
    keep: OpenOptions['keep'],
    early: (type: number) => boolean,
    below: number,
    ownedAbove: number,
  ): Promise<Iterable<StoreRecord>> {
    const journal = this.journal;
    // the owner starts serving before the replay begins
    await new Promise((resolve) => setImmediate(resolve));
    const recovered = await recoverJournal(journal.fs, journal.dir, this.repair, (event) => journal.emit(event), keep, {
      wanted: () => journal.phase === 'open',
      into: { ledger, kept, below, ownedAbove, handBack: (type) => !early(type) },
    });
    if (recovered.state.prepared.length > 0) throw new FerryError('FERRY_STORE_FAILED', `the journal in ${journal.dir} holds a prepared transaction that its catalog did not list`);
    if (recovered.report.dropped.some((drop) => drop.kind === 'repaired')) await removeCatalog(journal.fs, journal.dir);
    await unlistDropped(journal, recovered.report);
    this.held?.applyTo(ledger);
    this.held = undefined;
    this.lastRecovery = recovered.report;
    journal.emit({ event: 'journal.replayed', records: recovered.report.records, ms: recovered.report.durationMs });
    return this.afterLoading(recovered.state.stream ?? recovered.state.records);
  }

  /** The records replayed in the background; once the last is taken, the journal is whole and maintained again. */
  private *afterLoading(stream: Iterable<StoreRecord>): Generator<StoreRecord> {
    try {
      yield* stream;
    } finally {
      this.journal.loading = false;
      this.background = undefined;
      this.catalog.completed();
      if (this.journal.phase === 'open') this.maintenance.start();
    }
  }

  add(id: number, type: number, data: Buffer, txId?: number): void {
    checkId(id, type, txId);
    const early = this.catalog.early;
    if (txId === undefined) {
      const at = this.writer.append(FrameKind.Add, 0, id, type, data);
      const ledger = this.ledgerFor(id, undefined);
      if (ledger !== undefined) ledger.add(id, type, at.seg, at.pos, data.length, at.bytes);
      else this.held!.hold((held) => held.add(id, type, at.seg, at.pos, data.length, at.bytes));
      early?.add(id, type, data);
    } else {
      const at = this.writer.append(FrameKind.TxAdd, txId, id, type, data);
      const ledger = this.ledgerFor(id, txId);
      if (ledger !== undefined) ledger.operation(txId, TxOp.Add, id, type, at.seg, at.pos, data.length, at.bytes);
      else this.held!.hold((held) => held.operation(txId, TxOp.Add, id, type, at.seg, at.pos, data.length, at.bytes));
      early?.operation(txId, EarlyOp.Add, id, type, data);
    }
  }

  update(id: number, type: number, data: Buffer, txId?: number): void {
    checkId(id, type, txId);
    const early = this.catalog.early;
    if (txId === undefined) {
      const at = this.writer.append(FrameKind.Update, 0, id, type, data);
      const ledger = this.ledgerFor(id, undefined);
      if (ledger !== undefined) ledger.update(id, type, at.seg, at.pos, data.length, at.bytes);
      else this.held!.hold((held) => held.update(id, type, at.seg, at.pos, data.length, at.bytes));
      early?.update(id, type, data);
    } else {
      const at = this.writer.append(FrameKind.TxUpdate, txId, id, type, data);
      const ledger = this.ledgerFor(id, txId);
      if (ledger !== undefined) ledger.operation(txId, TxOp.Update, id, type, at.seg, at.pos, data.length, at.bytes);
      else this.held!.hold((held) => held.operation(txId, TxOp.Update, id, type, at.seg, at.pos, data.length, at.bytes));
      early?.operation(txId, EarlyOp.Update, id, type, data);
    }
  }

  delete(id: number, txId?: number): void {
    checkId(id, 0, txId);
    const early = this.catalog.early;
    if (txId === undefined) {
      const at = this.writer.append(FrameKind.Delete, 0, id, 0, undefined);
      const ledger = this.ledgerFor(id, undefined);
      if (ledger !== undefined) ledger.delete(id, at.seg);
      else this.held!.hold((held) => held.delete(id, at.seg));
      early?.delete(id);
    } else {
      const at = this.writer.append(FrameKind.TxDelete, txId, id, 0, undefined);
      const ledger = this.ledgerFor(id, txId);
      if (ledger !== undefined) ledger.operation(txId, TxOp.Delete, id, 0, at.seg, at.pos, 0, at.bytes);
      else this.held!.hold((held) => held.operation(txId, TxOp.Delete, id, 0, at.seg, at.pos, 0, at.bytes));
      early?.operation(txId, EarlyOp.Delete, id, 0, undefined);
    }
  }

  prepare(txId: number, data: Buffer): void {
    checkId(txId, 0, undefined);
    const at = this.writer.append(FrameKind.Prepare, txId, 0, 0, data);
    const ledger = this.ledgerForTransaction(txId);
    if (ledger !== undefined) ledger.prepare(txId, at.seg, at.bytes);
    else this.held!.hold((held) => held.prepare(txId, at.seg, at.bytes));
    this.catalog.early?.prepare(txId);
  }

  commit(txId: number): void {
    this.journal.assertWritable();
    // a transaction with nothing in it leaves nothing to replay
    if (!this.hasTransaction(txId)) return;
    const at = this.writer.append(FrameKind.Commit, txId, 0, 0, undefined);
    const ledger = this.ledgerForTransaction(txId);
    if (ledger !== undefined) ledger.commit(txId, at.seg);
    else this.held!.hold((held) => held.commit(txId, at.seg));
    this.catalog.early?.commit(txId);
  }

  rollback(txId: number): void {
    this.journal.assertWritable();
    if (!this.hasTransaction(txId)) return;
    const at = this.writer.append(FrameKind.Rollback, txId, 0, 0, undefined);
    const ledger = this.ledgerForTransaction(txId);
    if (ledger !== undefined) ledger.rollback(txId, at.seg);
    else this.held!.hold((held) => held.rollback(txId, at.seg));
    this.catalog.early?.rollback(txId);
  }

  /**
   * The ledger to change now for record `id` (in transaction `txId`), or undefined when the change
   * waits for the replay in the background (see `HeldChanges`): the caller then holds it.
   */
  private ledgerFor(id: number, txId: number | undefined): JournalLedger | undefined {
    return this.held?.holds(id, txId) === true ? undefined : this.journal.ledger;
  }

  private ledgerForTransaction(txId: number): JournalLedger | undefined {
    return this.held?.holdsTransaction(txId) === true ? undefined : this.journal.ledger;
  }

  private hasTransaction(txId: number): boolean {
    return this.journal.ledger.transactions.has(txId) || this.held?.holdsTransaction(txId) === true;
  }

  sync(giveUpOnFailure = false): Promise<void> {
    return this.writer.sync(giveUpOnFailure);
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
    // a replay in the background gives up at its next turn
    await this.background;
    await this.writer.drain().catch((err: unknown) => (error = err));
    await this.maintenance.idle();
    await this.catalog.settled();
    // the next open starts from here, without a replay of the whole journal
    if (error === undefined && journal.stalled === undefined) {
      await this.catalog.write().catch((err: unknown) => journal.emit({ event: 'journal.catalog.failed', error: (err as Error).message }));
    }
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

/** Whole segment files recovery dropped (a bad header: the only drop at offset 0) are off the list of segments. */
async function unlistDropped(journal: JournalContext, report: RecoveryReport): Promise<void> {
  for (const drop of report.dropped) {
    const number = drop.offset === 0 ? parseSegmentFileName(drop.file) : undefined;
    if (number !== undefined) await journal.manifest.removing(number);
  }
}

function checkId(id: number, type: number, txId: number | undefined): void {
  if (!Number.isSafeInteger(id) || id < 0) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${id}`);
  if (txId !== undefined && (!Number.isSafeInteger(txId) || txId < 0)) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${txId}`);
  if (!Number.isInteger(type) || type < 0 || type > 0xffff_ffff) throw new FerryError('FERRY_STORE_FAILED', `record types are 32-bit unsigned integers, not ${type}`);
}

/** A replay made ahead of `open` (undefined when it failed or was abandoned), whether it is still wanted, and whether it has ended. */
interface ReadAhead {
  readonly result: Promise<RecoveryResult | undefined>;
  wanted: boolean;
  done: boolean;
}

/**
 * What to keep of each recovered record: the caller's choice, but all of an early one, which the
 * catalog keeps whole.
 */
function keepOf(options: OpenOptions | undefined): OpenOptions['keep'] {
  const keep = options?.keep;
  const later = options?.later?.types;
  if (keep === undefined || later === undefined) return keep;
  const early = earlyTypes(later);
  return (type, data, start, end) => (early(type) ? end - start : keep(type, data, start, end));
}

/** The record types the catalog keeps: all but those the owner can take later. */
function earlyTypes(later: readonly number[]): (type: number) => boolean {
  const late = new Set(later);
  return (type) => !late.has(type);
}
