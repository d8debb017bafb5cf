import { statfs } from 'node:fs';
import { FerryError } from '../../errors.js';
import type { JournalContext } from './context.js';

/** How often the free space of the journal's disk is looked at when little is written. */
const STATFS_INTERVAL_MS = 1000;
/** Written bytes after which the free space is looked at again without waiting for the timer. */
const STATFS_AFTER_BYTES = 4 * 1024 * 1024;

export interface SpaceLimits {
  /** Bytes of segment files past which persistent sends are refused; 0: no limit. */
  readonly maxSize: number;
  /** Free bytes on the journal's disk under which persistent sends are refused; 0: not checked. */
  readonly minFreeDisk: number;
}

/** Free bytes available to the broker on the file system of `dir`. */
export type FreeSpaceProbe = (dir: string) => Promise<number>;

export const statfsProbe: FreeSpaceProbe = (dir) =>
  new Promise((resolve, reject) => statfs(dir, (err, stats) => (err === null ? resolve(stats.bavail * stats.bsize) : reject(err))));

/**
 * The journal's two watermarks: its own size (`store.journal.maxSize`) and the free space left on
 * its disk (`store.journal.minFreeDisk`). Past either, persistent sends are refused while the
 * deletes that consumers' acknowledgements write still go in: the headroom is what lets a full
 * journal drain without ever hitting ENOSPC. The verdict is kept, not computed per send: it is
 * looked at again after each batch, each deleted file and each look at the disk.
 */
export class JournalSpace {
  private freeBytes = Number.POSITIVE_INFINITY;
  private writtenSinceLook = 0;
  private looking = false;
  private timer: NodeJS.Timeout | undefined;
  /** Why persistent sends are refused by the watermarks now, if they are. */
  refusing: FerryError | undefined;

  constructor(
    private readonly journal: JournalContext,
    private readonly limits: SpaceLimits,
    private readonly probe: FreeSpaceProbe,
  ) {}

  async start(): Promise<void> {
    if (this.limits.minFreeDisk > 0) {
      await this.look();
      this.timer = setInterval(() => void this.look(), STATFS_INTERVAL_MS);
      this.timer.unref();
    }
    this.evaluate();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A batch of `bytes` was written. */
  written(bytes: number): void {
    if (this.limits.minFreeDisk > 0) {
      this.writtenSinceLook += bytes;
      if (this.writtenSinceLook >= Math.min(STATFS_AFTER_BYTES, this.limits.minFreeDisk / 4)) void this.look();
    }
    this.evaluate();
  }

  /** Looks at the disk's free space now (after files were deleted, say). */
  async look(): Promise<void> {
    if (this.looking || this.limits.minFreeDisk === 0) return;
    this.looking = true;
    this.writtenSinceLook = 0;
    try {
      this.freeBytes = await this.probe(this.journal.dir);
    } catch (err) {
      // a disk that cannot say how full it is does not stop sends; writes will say it if they fail
      this.journal.emit({ event: 'journal.statfs.failed', error: (err as Error).message });
      this.freeBytes = Number.POSITIVE_INFINITY;
    } finally {
      this.looking = false;
    }
    this.evaluate();
  }

  diskBytes(): number {
    let bytes = 0;
    for (const segment of this.journal.segments.values()) bytes += segment.size;
    return bytes;
  }

  get free(): number {
    return this.freeBytes;
  }

  evaluate(): void {
    const { maxSize, minFreeDisk } = this.limits;
    let reason: string | undefined;
    if (maxSize > 0) {
      const size = this.diskBytes();
      if (size >= maxSize) reason = `the journal in ${this.journal.dir} holds ${size} bytes, at its limit store.journal.maxSize (${maxSize})`;
    }
    if (reason === undefined && minFreeDisk > 0 && this.freeBytes < minFreeDisk) {
      reason = `${this.freeBytes} bytes are free on the journal's disk (${this.journal.dir}), under store.journal.minFreeDisk (${minFreeDisk})`;
    }
    const was = this.refusing;
    if (reason === undefined) {
      this.refusing = undefined;
      if (was !== undefined) this.journal.emit({ event: 'journal.space.available', diskBytes: this.diskBytes(), freeBytes: this.freeBytes });
      return;
    }
    if (was !== undefined && was.message === reason) return;
    this.refusing = new FerryError('FERRY_STORE_FULL', `persistent sends are refused: ${reason}; consumers go on and free space as they acknowledge`);
    if (was === undefined) this.journal.emit({ event: 'journal.space.exhausted', reason });
  }
}
