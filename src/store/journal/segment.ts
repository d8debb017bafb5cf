import { join } from 'node:path';
import { segmentFileName } from './format.js';

/**
 * One segment file and what the journal knows about it: its size, and how many of its frames
 * recovery still needs (live) — a segment with none left can go once nothing newer depends on it.
 */
export class JournalSegment {
  readonly file: string;
  readonly path: string;
  /**
   * -1 while the file is not open: a segment rolled to is created by the write that first reaches
   * it; a sealed segment is opened for reads on demand, and closed again when others are read.
   */
  fd = -1;
  opening: Promise<number> | undefined;
  /** Bytes in the segment including those appended but not yet written. */
  size = 0;
  /** Bytes written to the file. */
  writtenSize = 0;
  /** Record frames in the segment; a segment with none takes a record of any size. */
  frames = 0;
  /** Frames that replay needs: live adds and updates, commits of live transactional records, frames of open transactions. */
  liveCount = 0;
  /** Bytes of those frames. */
  liveBytes = 0;
  /** Frames of transactions neither committed nor rolled back; compaction leaves such a segment alone. */
  openTxFrames = 0;
  /**
   * Segments (nearly always older ones) that must be gone before this one may go: this segment
   * holds a delete, or the commit or rollback, that cancels a record in them, and replaying them
   * without it would bring the record back.
   */
  readonly mustOutlive = new Set<number>();
  /** Append sequence at which the live count last reached 0, and of the last frame appended. */
  deadAt = 0;
  lastSeq = 0;
  /** Reads in flight on the file; the file is not closed under them. */
  readers = 0;
  deleted = false;

  constructor(
    readonly number: number,
    dir: string,
    /** Highest id used when the segment was created, from its header. */
    readonly maxIdAtCreation: number,
  ) {
    this.file = segmentFileName(number);
    this.path = join(dir, this.file);
  }

  get deadBytes(): number {
    return this.size - this.liveBytes;
  }
}
