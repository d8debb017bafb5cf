import type { JournalLedger } from './ledger.js';
import type { JournalSegment } from './segment.js';

/** What compaction needs from the journal it runs in. */
export interface CompactionHost {
  readonly ledger: JournalLedger;
  readonly segments: ReadonlyMap<number, JournalSegment>;
  readonly current: JournalSegment;
  /** True once the journal is closing or has failed: compaction stops at the next slice. */
  stopped(): boolean;
  /** The live records' current data, read in as few reads as their layout allows. */
  readRecords(ids: readonly number[]): Promise<Buffer[]>;
  /** Appends the record again at the head: as an add if its creating frames move, else as an update. */
  rewrite(id: number, type: number, data: Buffer, asAdd: boolean): void;
  sync(): Promise<void>;
}

export interface CompactionResult {
  readonly segments: readonly string[];
  readonly moved: number;
  readonly bytes: number;
}

/** Records looked at, and records read and moved, between two yields to the event loop. */
const SLICE_RECORDS = 2000;
/** Bytes of live records read and moved at once. */
const SLICE_BYTES = 1024 * 1024;
/** Moved bytes after which compaction waits for them to be written, so its batch stays bounded. */
const SYNC_BYTES = 16 * 1024 * 1024;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Segments worth rewriting: sealed (not the one appended to), fully written, holding no frame of
 * an open transaction, and with live bytes below `compactBelow` of their size. Oldest first, so
 * that the segments newer ones must outlive go first.
 */
export function compactionCandidates(host: CompactionHost, compactBelow: number): JournalSegment[] {
  const ordered = [...host.segments.values()].sort((a, b) => a.number - b.number);
  // An empty segment that must outlive older, still live ones is freed only when they go; its
  // size counts towards theirs, so that a segment holding a few live records and keeping a chain
  // of empty ones on disk gets compacted even when it is itself mostly live.
  const liveBlockers = new Map<number, number[]>();
  const credit = new Map<number, number>();
  for (const segment of ordered) {
    if (segment.liveCount > 0 || segment.deleted) continue;
    const blockers = new Set<number>();
    for (const older of segment.mustOutlive) {
      const blocker = host.segments.get(older);
      if (blocker === undefined || blocker.deleted) continue;
      if (blocker.liveCount > 0) blockers.add(older);
      else for (const b of liveBlockers.get(older) ?? []) blockers.add(b);
    }
    if (blockers.size === 0) continue;
    liveBlockers.set(segment.number, [...blockers]);
    for (const b of blockers) credit.set(b, (credit.get(b) ?? 0) + segment.size / blockers.size);
  }
  const out: JournalSegment[] = [];
  for (const segment of ordered) {
    if (segment === host.current || segment.deleted || segment.liveCount === 0 || segment.openTxFrames > 0) continue;
    if (segment.writtenSize !== segment.size) continue;
    if (segment.liveBytes / (segment.size + (credit.get(segment.number) ?? 0)) < compactBelow) out.push(segment);
  }
  return out;
}

/**
 * Moves the live records of the candidates to the head of the journal, in slices, so appends keep
 * flowing. Once the moved records are synced the candidates hold nothing live and the reclaimer
 * deletes them.
 */
export async function compactSegments(host: CompactionHost, candidates: readonly JournalSegment[]): Promise<CompactionResult> {
  const { ledger } = host;
  const chosen = new Set(candidates.map((s) => s.number));
  const owned = new Map<number, number[]>();
  let looked = 0;
  // the walk over rows tolerates the appends and deletes that happen while this yields
  for (const row of ledger.records.rows()) {
    const owner = lowestChosen(ledger.pinnedSegments(row), chosen);
    if (owner >= 0) {
      let ids = owned.get(owner);
      if (ids === undefined) owned.set(owner, (ids = []));
      ids.push(ledger.records.ids[row]!);
    }
    if (++looked % SLICE_RECORDS === 0) {
      await yieldToLoop();
      if (host.stopped()) return { segments: [], moved: 0, bytes: 0 };
    }
  }

  let moved = 0;
  let bytes = 0;
  let unsynced = 0;
  const done: string[] = [];
  for (const segment of candidates) {
    const ids = owned.get(segment.number);
    if (ids === undefined || host.stopped()) continue;
    // Only the live records are read, a slice at a time: a segment is compacted because little of
    // it is live, and reading the whole file would allocate its full size at once (32 MB by default).
    let next = 0;
    while (next < ids.length && !host.stopped()) {
      const slice: number[] = [];
      const generations: number[] = [];
      let sliceBytes = 0;
      for (; next < ids.length && slice.length < SLICE_RECORDS && sliceBytes < SLICE_BYTES; next++) {
        const id = ids[next]!;
        const row = ledger.records.rowOf(id);
        if (row < 0 || ledger.pendingTargets.has(id) || !ledger.pins(row, segment.number)) continue;
        slice.push(id);
        generations.push(ledger.records.generations[row]!);
        sliceBytes += ledger.records.lengths[row]!;
      }
      if (slice.length === 0) continue;
      const data = await host.readRecords(slice);
      for (let i = 0; i < slice.length; i++) {
        const id = slice[i]!;
        const records = ledger.records;
        const row = records.rowOf(id);
        // changed, deleted or claimed by a transaction while it was read
        if (row < 0 || records.generations[row] !== generations[i] || ledger.pendingTargets.has(id) || !ledger.pins(row, segment.number)) continue;
        host.rewrite(id, records.types[row]!, data[i]!, anchoredIn(ledger, row, chosen));
        moved++;
        bytes += data[i]!.length;
        unsynced += data[i]!.length;
      }
      if (unsynced >= SYNC_BYTES) {
        unsynced = 0;
        await host.sync();
      }
    }
    done.push(segment.file);
  }
  await host.sync();
  return { segments: done, moved, bytes };
}

function lowestChosen(segs: readonly number[], chosen: ReadonlySet<number>): number {
  let lowest = -1;
  for (const s of segs) if (chosen.has(s) && (lowest < 0 || s < lowest)) lowest = s;
  return lowest;
}

function anchoredIn(ledger: JournalLedger, row: number, chosen: ReadonlySet<number>): boolean {
  const anchor = ledger.records.anchorSegs[row]!;
  const commit = ledger.records.anchorCommits[row]!;
  return chosen.has(anchor) || (commit >= 0 && chosen.has(commit));
}
