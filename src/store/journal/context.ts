import { FerryError } from '../../errors.js';
import { syncDirectory, type JournalFileSystem } from './file-system.js';
import { JournalLedger } from './ledger.js';
import { SegmentManifest } from './manifest.js';
import type { JournalSegment } from './segment.js';

export interface JournalEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export type Phase = 'new' | 'opening' | 'open' | 'closing' | 'closed';

/**
 * What the journal's writer, reader and maintenance share: its folder, its segments and the
 * ledger of live records (both replaced when `open()` recovers them), the segment appends go to,
 * and whether the journal is open or has failed.
 */
export class JournalContext {
  phase: Phase = 'new';
  /**
   * Set while writes fail (a full disk, EIO): appends are kept in memory and written again, and
   * the store refuses persistent sends; cleared by the first write that succeeds.
   */
  stalled: FerryError | undefined;
  segments = new Map<number, JournalSegment>();
  ledger = new JournalLedger(this.segments);
  current: JournalSegment | undefined;
  recoveredMaxId = 0;
  /**
   * True while the segments the journal opened with are replayed in the background (it opened from
   * its catalog): the ledger does not know their records yet, so nothing is deleted or compacted.
   */
  loading = false;
  /** The segment files the journal holds, kept so that one removed behind its back is noticed at open. */
  readonly manifest: SegmentManifest;

  constructor(
    readonly dir: string,
    readonly fs: JournalFileSystem,
    readonly segmentSize: number,
    readonly syncOnWrite: boolean,
    private readonly onEvent: ((event: JournalEvent) => void) | undefined,
  ) {
    this.manifest = new SegmentManifest(fs, dir, syncOnWrite);
  }

  get readable(): boolean {
    return this.phase === 'open' || this.phase === 'closing';
  }

  assertWritable(): void {
    if (this.phase !== 'open') throw this.notOpen();
  }

  assertReadable(): void {
    if (!this.readable) throw this.notOpen();
  }

  notOpen(): FerryError {
    return new FerryError('FERRY_STORE_FAILED', `the journal in ${this.dir} is ${this.phase === 'new' || this.phase === 'opening' ? 'not open yet' : 'closed'}`);
  }

  async syncDir(): Promise<void> {
    if (this.syncOnWrite) await syncDirectory(this.fs, this.dir);
  }

  emit(event: JournalEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch {
      // a logger that throws must not take the journal down
    }
  }
}
