import type { StoreStats } from '../store.js';
import { compactSegments, compactionCandidates, type CompactionHost } from './compactor.js';
import type { JournalContext } from './context.js';
import { FrameKind } from './format.js';
import type { JournalReader } from './reader.js';
import type { JournalWriter } from './writer.js';

const DESCRIBE_IDS = 20;
/**
 * Emptied segments waiting for an older live one after which a compaction starts without waiting
 * for the timer (a queue record in the first segment would otherwise keep every later one).
 */
const BLOCKED_SEGMENTS_COMPACT = 2;
const MIN_COMPACTION_GAP_MS = 1000;

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
  /** Why writes are failing, while they are (they are retried, and acknowledgements kept in memory). */
  readonly failure: string | null;
  /** Why the watermarks (`maxSize`, `minFreeDisk`) refuse persistent sends, while they do. */
  readonly refusing?: string | null;
  /** Free bytes on the journal's disk when it watches them (`minFreeDisk`), else null. */
  readonly freeDiskBytes?: number | null;
  readonly segments: readonly JournalSegmentDescription[];
}

/**
 * Keeping disk use to the backlog: deletes segments whose records are all dead, compacts sparse
 * ones (on a timer, and when emptied segments wait for an old one), and says what is on disk.
 * Reclaim and compaction run one at a time on one chain.
 */
export class JournalMaintenance {
  private chain: Promise<void> = Promise.resolve();
  private reclaimQueued = false;
  private compacting = false;
  private lastCompaction = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly journal: JournalContext,
    private readonly writer: JournalWriter,
    private readonly reader: JournalReader,
    private readonly compactBelow: number,
    private readonly compactInterval: number,
    /** Files were deleted: the disk has more room. */
    private readonly reclaimed: () => void,
  ) {}

  /** Once open: reclaims what recovery left, and compacts in the background from now on. */
  start(): void {
    this.queueReclaim();
    if (this.compactInterval > 0) {
      this.timer = setInterval(() => this.compactInBackground(), this.compactInterval);
      this.timer.unref();
    }
  }

  stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Resolves once the reclaim or compaction under way (and any queued) has ended. */
  idle(): Promise<void> {
    return this.chain;
  }

  async compact(): Promise<void> {
    if (this.journal.phase !== 'open') throw this.journal.notOpen();
    // the ledger does not know the older segments' records yet (see JournalContext.loading)
    if (this.journal.loading) return;
    const run = this.chain.then(() => this.compactNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  queueReclaim(): void {
    if (this.reclaimQueued || this.journal.phase !== 'open' || this.journal.loading) return;
    this.reclaimQueued = true;
    this.chain = this.chain
      .then(() => {
        this.reclaimQueued = false;
        return this.reclaim();
      })
      .catch((err: unknown) => this.journal.emit({ event: 'journal.reclaim.failed', error: (err as Error).message }));
  }

  stats(): StoreStats {
    const ledger = this.journal.ledger;
    return { records: ledger.records.size, bytes: ledger.dataBytes };
  }

  describe(): JournalDescription {
    const journal = this.journal;
    const ledger = journal.ledger;
    const perSegment = new Map<number, { records: number; byType: Record<number, number>; ids: number[] }>();
    for (const row of ledger.records.rows()) {
      const id = ledger.records.ids[row]!;
      const type = ledger.records.types[row]!;
      const segs = ledger.pinnedSegments(row);
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i]!;
        if (segs.indexOf(s) !== i) continue;
        let entry = perSegment.get(s);
        if (entry === undefined) perSegment.set(s, (entry = { records: 0, byType: {}, ids: [] }));
        entry.records++;
        entry.byType[type] = (entry.byType[type] ?? 0) + 1;
        if (entry.ids.length < DESCRIBE_IDS) entry.ids.push(id);
      }
    }
    const segments: JournalSegmentDescription[] = [];
    let diskBytes = 0;
    for (const segment of [...journal.segments.values()].sort((a, b) => a.number - b.number)) {
      const entry = perSegment.get(segment.number);
      diskBytes += segment.size;
      segments.push({
        file: segment.file,
        current: segment === journal.current,
        size: segment.size,
        liveBytes: segment.liveBytes,
        deadBytes: segment.deadBytes,
        liveRecords: entry?.records ?? 0,
        liveRecordsByType: entry?.byType ?? {},
        keptAliveBy: entry?.ids ?? [],
        openTransactionFrames: segment.openTxFrames,
        waitsFor: [...segment.mustOutlive].filter((n) => journal.segments.has(n)).map((n) => journal.segments.get(n)!.file),
      });
    }
    return {
      dir: journal.dir,
      segmentSize: journal.segmentSize,
      syncOnWrite: journal.syncOnWrite,
      records: ledger.records.size,
      bytes: ledger.dataBytes,
      diskBytes,
      openTransactions: ledger.transactions.size,
      failure: journal.stalled?.message ?? null,
      segments,
    };
  }

  /**
   * Deletes emptied segments, oldest first. A segment that must outlive another waits for it, and
   * for the folder sync that makes the other's removal durable: a crash must never leave a file
   * of records without the file of their deletes.
   */
  private async reclaim(): Promise<void> {
    const journal = this.journal;
    const emptied = journal.ledger.emptied;
    if (emptied.size === 0) return;
    const candidates = [...emptied].sort((a, b) => a.number - b.number);
    const unsynced = new Set<number>();
    let blockedCount = 0;
    for (const segment of candidates) {
      if (segment.deleted || segment.liveCount > 0) {
        emptied.delete(segment);
        continue;
      }
      const durableSeq = this.writer.durableSeq;
      if (segment === journal.current || segment.deadAt > durableSeq || segment.lastSeq > durableSeq || segment.readers > 0) continue;
      let blocked = false;
      let needsDirSync = false;
      for (const other of segment.mustOutlive) {
        if (journal.segments.has(other)) blocked = true;
        else if (unsynced.has(other)) needsDirSync = true;
        else segment.mustOutlive.delete(other);
      }
      if (blocked) {
        blockedCount++;
        continue;
      }
      if (needsDirSync) {
        await journal.syncDir();
        unsynced.clear();
      }
      if (segment.fd >= 0) {
        const fd = segment.fd;
        segment.fd = -1;
        this.reader.forget(segment);
        await journal.fs.close(fd);
      }
      // off the list first: a crash between leaves a file that is read as usual, never a listed one gone
      await journal.manifest.removing(segment.number);
      await journal.fs.unlink(segment.path);
      segment.deleted = true;
      journal.segments.delete(segment.number);
      emptied.delete(segment);
      unsynced.add(segment.number);
      journal.emit({ event: 'journal.segment.deleted', file: segment.file, size: segment.size });
    }
    if (unsynced.size > 0) {
      await journal.syncDir();
      this.reclaimed();
    }
    if (blockedCount >= BLOCKED_SEGMENTS_COMPACT && this.compactInterval > 0 && performance.now() - this.lastCompaction > MIN_COMPACTION_GAP_MS) {
      this.compactInBackground();
    }
  }

  private compactInBackground(): void {
    if (this.compacting || this.journal.phase !== 'open' || this.journal.loading) return;
    this.compact().catch((err: unknown) => this.journal.emit({ event: 'journal.compaction.failed', error: (err as Error).message }));
  }

  private async compactNow(): Promise<void> {
    if (this.journal.phase !== 'open') return;
    this.compacting = true;
    const started = (this.lastCompaction = performance.now());
    try {
      const host = this.compactionHost();
      const candidates = compactionCandidates(host, this.compactBelow);
      if (candidates.length > 0) {
        const result = await compactSegments(host, candidates);
        if (result.moved > 0 || result.segments.length > 0) {
          this.journal.emit({ event: 'journal.compacted', segments: result.segments, moved: result.moved, bytes: result.bytes, ms: Math.round(performance.now() - started) });
        }
      }
      await this.reclaim();
    } finally {
      this.compacting = false;
    }
  }

  private compactionHost(): CompactionHost {
    const journal = this.journal;
    return {
      get ledger() {
        return journal.ledger;
      },
      get segments() {
        return journal.segments;
      },
      get current() {
        return journal.current!;
      },
      stopped: () => journal.phase !== 'open' || journal.stalled !== undefined,
      readRecords: (ids) => this.reader.records.readMany(ids),
      rewrite: (id: number, type: number, data: Buffer, asAdd: boolean) => {
        if (asAdd) {
          const at = this.writer.append(FrameKind.Add, 0, id, type, data);
          journal.ledger.add(id, type, at.seg, at.pos, data.length, at.bytes);
        } else {
          const at = this.writer.append(FrameKind.Update, 0, id, type, data);
          journal.ledger.update(id, type, at.seg, at.pos, data.length, at.bytes);
        }
      },
      // a compaction under way when writes fail gives up, and runs again later
      sync: () => this.writer.sync(true),
    };
  }
}
