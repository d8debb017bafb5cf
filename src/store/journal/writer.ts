import { FerryError } from '../../errors.js';
import type { JournalContext } from './context.js';
import { writeFully } from './file-system.js';
import { BATCH_FRAME_SIZE, FrameArena, FrameKind, MAX_RECORD_DATA, SEGMENT_HEADER_SIZE, dataOffset, encodeFrame, encodeSegmentHeader, frameSize, sealBatchFrame } from './format.js';
import { JournalSegment } from './segment.js';
import type { StoreObserver } from '../store.js';

const ARENA_INITIAL = 16 * 1024;
const ARENA_MAX_HINT = 4 * 1024 * 1024;
/**
 * An arena that would grow past this starts another chunk (its own write and fdatasync) instead.
 * Grown by doubling, a burst's one arena (a hundred thousand scheduled messages falling due) was
 * copied again at each doubling into memory never touched before, and those copies and page faults
 * took a fifth of the broker's time in the burst.
 */
const ARENA_MAX = 4 * 1024 * 1024;
/**
 * Written arenas kept for the next writes, whatever their size. Each page of a fresh large buffer
 * costs a page fault when first written, which made copying a burst's records into new arenas run at
 * a fraction of the memory's speed. And every fresh arena, small ones too, is a buffer of its own
 * that V8 counts against the heap's limit until the next full collection: at light load a new 16 KiB
 * arena per write added up to 7 MB a second, which kept V8 starting a full collection every 0.6 s
 * (pauses of 3 to 10 ms) once the heap's limit had settled (bench/README.md, "light load").
 */
const SPARE_ARENAS = 2;
/** First wait before a failed write is tried again, doubling up to the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;
/**
 * How long appends that nobody waits for (the deletes of acknowledgements, paged bodies) may stay in
 * memory before they are written anyway. Under load a producer's sync comes long before and takes
 * them along in its write; they never cost a sync of their own.
 */
const UNWAITED_WRITE_MS = 20;
/** Appends nobody waits for are written at once past this many bytes, so memory stays bounded. */
const UNWAITED_MAX_BYTES = 1024 * 1024;
/** Errors that say the disk is full, rather than failing. */
const NO_SPACE: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

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
  /** Rejected when writes fail, instead of waiting for them to go in (see `sync`). */
  readonly givesUp: boolean;
}

/** Where an appended frame's data lies: segment number, file offset, and the frame's size. */
export interface Placed {
  readonly seg: number;
  readonly pos: number;
  readonly bytes: number;
}

/** What the writer tells the rest of the journal. */
export interface WriterEvents {
  /** A sealed segment's descriptor was used (or opened), for the reader's cache of open files. */
  sealedInUse(segment: JournalSegment): void;
  /** A batch of `bytes` is durable. */
  batchWritten(bytes: number): void;
  /** A write or sync failed (with the error) and will be tried again, or (undefined) writing has resumed. */
  stalled(error: FerryError | undefined): void;
}

/**
 * Appends and group commit. Appends are synchronous and join the current batch; at most one write
 * (and fdatasync) is in flight, and everything appended meanwhile goes out together in the next
 * one. A sync resolves once the batch holding the appends before it is durable.
 *
 * A batch is written as soon as someone waits for it (`sync`). Appends nobody waits for wait up to
 * UNWAITED_WRITE_MS for one who does: an acknowledgement's delete then rides in the next send's
 * write instead of costing a write and a sync of its own, which with one synchronous producer was
 * every other sync. Such an append is not promised to anyone, so a crash in that window only
 * brings back a message its consumer had acknowledged, flagged redelivered.
 *
 * A write that fails (ENOSPC, EIO) stalls the journal rather than ending it: the batch stays in
 * memory and is written again, from its start, on a backing-off timer, and appends go on joining it
 * meanwhile (a consumer's acknowledgement must never throw). The syncs waiting for it go on waiting:
 * what they wait for is already routed and will be on disk, so refusing it would tell a producer
 * that a message it may then send again was not taken. New persistent sends are refused meanwhile
 * (see JournalStore.writeRefusal). Nothing is written after the failed batch until it
 * is on disk, so whatever a crash leaves torn is still the tail of the newest segment.
 */
export class JournalWriter {
  private pending: WriteChunk[] = [];
  /** The batch being written: its records are read from here until the write is done. */
  private writing: WriteChunk[] = [];
  private flushing = false;
  private flushScheduled = false;
  private appendSeq = 0;
  /** Every append up to this one is durable. */
  durableSeq = 0;
  private waiters: SyncWaiter[] = [];
  private batchesTaken = 0;
  private arenaHint = ARENA_INITIAL;
  private readonly spareArenas: Buffer[] = [];
  /** Records appended since the last batch was taken, and their bytes. */
  private pendingRecords = 0;
  private pendingBytes = 0;
  /** Writes appends nobody has waited for yet, UNWAITED_WRITE_MS after the first of them. */
  private unwaitedTimer: NodeJS.Timeout | undefined;
  /** Hears of each sync and batch (metrics); unset, nothing is measured. */
  observer: StoreObserver | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = RETRY_FIRST_MS;

  constructor(
    private readonly journal: JournalContext,
    private readonly events: WriterEvents,
  ) {}

  append(kind: FrameKind, txId: number, id: number, type: number, data: Buffer | undefined): Placed {
    this.journal.assertWritable();
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
    this.pendingRecords++;
    this.pendingBytes += size;
    const seq = ++this.appendSeq;
    segment.lastSeq = seq;
    this.journal.ledger.seq = seq;
    this.scheduleFlush(this.wanted());
    return { seg: segment.number, pos: chunk.start + at + dataOffset(kind), bytes: size };
  }

  /**
   * Resolves once everything appended so far is on disk. While writes fail it waits for them to go
   * in, unless `giveUpOnStall`: then it is rejected with the failure (the journal's own work, such
   * as a compaction, which is tried again later).
   */
  sync(giveUpOnStall = false): Promise<void> {
    const journal = this.journal;
    if (!journal.readable) return Promise.reject(journal.notOpen());
    if (this.appendSeq === this.durableSeq) return Promise.resolve();
    if (giveUpOnStall && journal.stalled !== undefined) return Promise.reject(journal.stalled);
    // every append since the last batch was taken goes out in the next write: one promise serves
    // all who wait for it (thousands of producers' receipts in one turn)
    const last = this.waiters[this.waiters.length - 1];
    if (last !== undefined && last.batch === this.batchesTaken && last.givesUp === giveUpOnStall) {
      last.seq = this.appendSeq;
      return last.promise;
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.waiters.push({ seq: this.appendSeq, resolve, reject, promise, batch: this.batchesTaken, givesUp: giveUpOnStall });
    this.scheduleFlush(true);
    return promise;
  }

  /** Copies `data.length` bytes at `pos` of `segment` from a batch not yet written; false when no batch holds them. */
  copyUnwritten(segment: JournalSegment, pos: number, data: Buffer): boolean {
    for (const chunk of [...this.writing, ...this.pending]) {
      if (chunk.segment !== segment || pos < chunk.start || pos + data.length > chunk.start + chunk.arena.length) continue;
      chunk.arena.buf.copy(data, 0, pos - chunk.start, pos - chunk.start + data.length);
      return true;
    }
    return false;
  }

  private chunkFor(frameBytes: number): WriteChunk {
    let segment = this.journal.current!;
    let chunk = this.pending[this.pending.length - 1];
    let fresh = chunk === undefined || chunk.segment !== segment || chunk.arena.length + frameBytes > ARENA_MAX;
    // a new chunk opens with a Batch frame of its own
    if (segment.frames > 0 && segment.size + (fresh ? BATCH_FRAME_SIZE : 0) + frameBytes > this.journal.segmentSize) {
      segment = this.roll();
      fresh = true;
    }
    if (!fresh && chunk !== undefined) return chunk;
    const createsFile = segment.size === 0;
    // sized like the last write, so that a steady load does not copy the arena as it grows
    const size = Math.max(this.arenaHint, frameBytes + SEGMENT_HEADER_SIZE + BATCH_FRAME_SIZE);
    const arena = new FrameArena(size, this.takeSpareArena(size));
    if (createsFile) encodeSegmentHeader(segment.number, segment.maxIdAtCreation).copy(arena.buf, arena.reserve(SEGMENT_HEADER_SIZE));
    const batchAt = encodeFrame(arena, FrameKind.Batch, 0, 0, 0, undefined);
    chunk = { segment, arena, start: segment.size, batchAt, createsFile };
    segment.size += arena.length;
    this.pending.push(chunk);
    return chunk;
  }

  private takeSpareArena(size: number): Buffer | undefined {
    const at = this.spareArenas.findIndex((buf) => buf.length >= size);
    return at < 0 ? undefined : this.spareArenas.splice(at, 1)[0];
  }

  /** A full set keeps its larger arenas: a burst's are the costly ones to build again. */
  private keepSpareArena(buf: Buffer): void {
    const spares = this.spareArenas;
    if (spares.length < SPARE_ARENAS) {
      spares.push(buf);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < spares.length; i++) if (spares[i]!.length < spares[smallest]!.length) smallest = i;
    if (spares[smallest]!.length < buf.length) spares[smallest] = buf;
  }

  private roll(): JournalSegment {
    const journal = this.journal;
    const previous = journal.current!;
    const next = new JournalSegment(previous.number + 1, journal.dir, Math.max(journal.recoveredMaxId, journal.ledger.maxId));
    journal.segments.set(next.number, next);
    journal.current = next;
    if (previous.liveCount === 0) journal.ledger.emptied.add(previous);
    this.events.sealedInUse(previous);
    return next;
  }

  /** Writes what waits now, when a stalled journal has reason to think the disk has room again. */
  retryNow(): void {
    if (this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.retry();
  }

  /** For close: stops the retry timer and tries once more; rejects if appends are still unwritten. */
  async drain(): Promise<void> {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.clearUnwaitedTimer();
    while (this.flushing) await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.pending.length > 0) await this.flush('all');
    if (this.pending.length > 0) {
      const failure = this.journal.stalled ?? new FerryError('FERRY_STORE_FAILED', 'the journal closed with records unwritten');
      // closing for good: what they wait for will not be written by this process
      for (const waiter of this.waiters.splice(0)) waiter.reject(failure);
      throw failure;
    }
  }

  private readonly retry = (): void => {
    this.retryTimer = undefined;
    if (this.flushing || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.startFlush);
  };

  /** Someone waits for the appends not yet taken, or they are too many to keep waiting. */
  private wanted(): boolean {
    return this.waiters.length > 0 || this.pendingBytes >= UNWAITED_MAX_BYTES;
  }

  private scheduleFlush(now: boolean): void {
    if (this.flushing || this.flushScheduled || this.retryTimer !== undefined) return;
    if (!now) {
      this.unwaitedTimer ??= setTimeout(this.writeUnwaited, UNWAITED_WRITE_MS);
      return;
    }
    this.clearUnwaitedTimer();
    this.flushScheduled = true;
    // setImmediate, not a microtask: every append of this turn of the event loop (all the
    // sockets read in it) joins the same write
    setImmediate(this.startFlush);
  }

  private clearUnwaitedTimer(): void {
    if (this.unwaitedTimer === undefined) return;
    clearTimeout(this.unwaitedTimer);
    this.unwaitedTimer = undefined;
  }

  private readonly startFlush = (): void => {
    this.flushScheduled = false;
    void this.flush('one');
  };

  private readonly writeUnwaited = (): void => {
    this.unwaitedTimer = undefined;
    if (this.flushing || this.flushScheduled || this.retryTimer !== undefined) return;
    void this.flush('one');
  };

  /**
   * Writes the appends waiting: `one` batch and then as long as someone waits, or `all` of them
   * (closing). What is left for nobody waits for the timer, or for the next sync.
   */
  private async flush(mode: 'one' | 'all'): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    let first = true;
    try {
      while (this.pending.length > 0 && this.journal.phase !== 'closed' && (first || mode === 'all' || this.wanted())) {
        first = false;
        const batch = this.pending;
        this.pending = [];
        this.batchesTaken++;
        this.writing = batch;
        const seq = this.appendSeq;
        const records = this.pendingRecords;
        this.pendingRecords = 0;
        this.pendingBytes = 0;
        let written = 0;
        let bytes = 0;
        for (const chunk of batch) bytes += chunk.arena.length;
        try {
          for (const chunk of batch) {
            await this.writeChunk(chunk);
            written++;
          }
        } catch (err) {
          // the chunks not on disk go back in front of what was appended since, in order
          this.pending = [...batch.slice(written), ...this.pending];
          this.pendingRecords += records;
          for (const chunk of batch.slice(written)) this.pendingBytes += chunk.arena.length;
          this.writing = [];
          this.stall(err);
          return;
        }
        this.writing = [];
        // on disk now: nothing reads these arenas any more
        for (const chunk of batch) this.keepSpareArena(chunk.arena.buf);
        this.durableSeq = seq;
        this.observer?.batchWritten(records);
        if (this.journal.stalled !== undefined) this.resume();
        this.settleWaiters();
        this.events.batchWritten(bytes);
      }
    } finally {
      this.flushing = false;
    }
    if (this.pending.length > 0 && this.journal.phase !== 'closed' && this.journal.stalled === undefined) this.scheduleFlush(this.wanted());
  }

  private async writeChunk(chunk: WriteChunk): Promise<void> {
    const journal = this.journal;
    const segment = chunk.segment;
    if (chunk.createsFile && segment.fd < 0) {
      // a retry after a failed open: the file was not made, so it is opened (made) again
      segment.fd = await journal.fs.open(segment.path, 'wx+');
      // rolled past already, within one batch: a sealed segment like the others from now on
      if (segment !== journal.current) this.events.sealedInUse(segment);
    }
    // listed before anything in it is acknowledged: from then on, its absence at open is a loss
    if (chunk.createsFile) await journal.manifest.created(segment.number);
    const bytes = chunk.arena.bytes();
    this.arenaHint = Math.min(ARENA_MAX_HINT, Math.max(ARENA_INITIAL, bytes.length + (bytes.length >> 2)));
    sealBatchFrame(bytes, chunk.batchAt, bytes.length - chunk.batchAt - BATCH_FRAME_SIZE);
    await writeFully(journal.fs, segment.fd, bytes, bytes.length, chunk.start);
    segment.writtenSize = chunk.start + bytes.length;
    if (!journal.syncOnWrite) return;
    // Each chunk is synced before the next is written, also within one segment: a torn write is
    // then always at the tail of the last segment, which is what recovery may cut off without
    // asking (a whole Batch frame after a bad one says the bad one had been synced).
    const started = this.observer === undefined ? 0 : performance.now();
    await journal.fs.fdatasync(segment.fd);
    this.observer?.synced((performance.now() - started) / 1000);
    if (chunk.createsFile) await journal.syncDir();
  }

  private settleWaiters(): void {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= this.durableSeq) this.waiters[n++]!.resolve();
    if (n > 0) this.waiters.splice(0, n);
  }

  private stall(err: unknown): void {
    const journal = this.journal;
    const first = journal.stalled === undefined;
    const reason = err instanceof Error ? err.message : String(err);
    // a full disk is the producer's FERRY_STORE_FULL; anything else (EIO, a fenced HA primary) is a failed store
    const full = NO_SPACE.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
    journal.stalled = new FerryError(
      full ? 'FERRY_STORE_FULL' : 'FERRY_STORE_FAILED',
      `the journal in ${journal.dir} could not write or sync (${reason}); persistent sends are refused and acknowledgements kept in memory until a write succeeds`,
      { cause: err },
    );
    const givingUp = this.waiters.filter((waiter) => waiter.givesUp);
    if (givingUp.length > 0) {
      this.waiters = this.waiters.filter((waiter) => !waiter.givesUp);
      for (const waiter of givingUp) waiter.reject(journal.stalled);
    }
    if (first) {
      this.retryDelay = RETRY_FIRST_MS;
      this.events.stalled(journal.stalled);
    } else this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2);
    if (journal.phase !== 'open') return;
    // not unref'd: records wait in memory for it; close() stops it
    this.retryTimer = setTimeout(this.retry, this.retryDelay);
  }

  private resume(): void {
    this.journal.stalled = undefined;
    this.retryDelay = RETRY_FIRST_MS;
    this.events.stalled(undefined);
  }
}
