import { join } from 'node:path';
import { FerryError } from '../../errors.js';
import type { JournalFileSystem } from './file-system.js';
import { readFully, syncDirectory, writeFully } from './file-system.js';
import { crc32, segmentFileName } from './format.js';

/**
 * The segment files the journal holds, in file `segments` of its folder. Gaps in the numbering are
 * normal (the reclaimer deletes any segment whose records are all dead once the older ones it must
 * outlive are gone, not only the oldest), and records rarely say which file held the ones they
 * refer to, so neither the folder nor the segments can tell a file removed by Ferry from one lost
 * by an operator, a restore or the file system. The list can: a segment is listed once its file is
 * made and before anything in it is acknowledged, and taken off the list before its file is
 * deleted. A crash between either pair leaves a file on disk that is not listed, which is read as
 * usual; a listed file that is absent was removed by something other than Ferry.
 *
 * Written whole to `segments.tmp`, synced, then renamed over the old one (little-endian):
 *
 *   0  magic "FRYS"
 *   4  u16 version (1), u16 reserved 0
 *   8  u32 count, then as many u32 segment numbers, ascending
 *   .  u32 CRC32 of everything before
 */
export const MANIFEST_FILE = 'segments';
const MAGIC = 0x53595246; // "FRYS" read as a little-endian u32
const VERSION = 1;

export class SegmentManifest {
  private readonly numbers = new Set<number>();
  /** Writes go out one after another, each with the list as it is when it starts. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly fs: JournalFileSystem,
    private readonly dir: string,
    private readonly sync: boolean,
  ) {}

  /**
   * Compares the list with the segment files `present` in the folder, and from now on lists those.
   * Listed files that are absent stop the open (FERRY_STORE_CORRUPT, nothing changed) unless
   * `repair`; they are returned then, for the caller to report. A folder without a list (new, or
   * written by a Ferry before the list) is taken as it is.
   */
  async check(present: readonly number[], repair: boolean, unusable: (reason: string) => void): Promise<number[]> {
    const listed = await this.read();
    this.numbers.clear();
    for (const n of present) this.numbers.add(n);
    if (listed === undefined) return [];
    if (typeof listed === 'string') {
      unusable(listed);
      return [];
    }
    const have = new Set(present);
    const missing = listed.filter((n) => !have.has(n));
    if (missing.length > 0 && !repair) throw missingSegments(this.dir, missing, listed.length);
    return missing;
  }

  /** Segment `number`'s file has been made: listed before anything written to it is acknowledged. */
  created(number: number): Promise<void> {
    this.numbers.add(number);
    return this.write();
  }

  /** Segment `number`'s file is about to be deleted (or was dropped by recovery): off the list first. */
  removing(number: number): Promise<void> {
    if (!this.numbers.delete(number)) return this.writing;
    return this.write();
  }

  private write(): Promise<void> {
    const run = this.writing.catch(() => undefined).then(() => this.writeNow());
    this.writing = run;
    return run;
  }

  private async writeNow(): Promise<void> {
    const numbers = [...this.numbers].sort((a, b) => a - b);
    const buf = Buffer.alloc(12 + numbers.length * 4 + 4);
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt16LE(VERSION, 4);
    buf.writeUInt32LE(numbers.length, 8);
    numbers.forEach((n, i) => buf.writeUInt32LE(n, 12 + i * 4));
    buf.writeUInt32LE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4);
    const temporary = join(this.dir, `${MANIFEST_FILE}.tmp`);
    const fd = await this.fs.open(temporary, 'w');
    try {
      await writeFully(this.fs, fd, buf, buf.length, 0);
      if (this.sync) await this.fs.fdatasync(fd);
    } finally {
      await this.fs.close(fd);
    }
    await this.fs.rename(temporary, join(this.dir, MANIFEST_FILE));
    if (!this.sync) return;
    // the rename, and a segment file made just before, are durable once the folder is
    await syncDirectory(this.fs, this.dir);
  }

  /** The listed segment numbers; undefined when there is no list, a string saying why when it cannot be used. */
  private async read(): Promise<number[] | string | undefined> {
    let fd: number;
    try {
      fd = await this.fs.open(join(this.dir, MANIFEST_FILE), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const size = await this.fs.size(fd);
      const buf = Buffer.alloc(size);
      await readFully(this.fs, fd, buf, size, 0);
      if (size < 16 || buf.readUInt32LE(0) !== MAGIC) return 'it does not start with the list magic';
      if (buf.readUInt16LE(4) !== VERSION) return `its version ${buf.readUInt16LE(4)} is not known`;
      const count = buf.readUInt32LE(8);
      if (size !== 16 + count * 4) return 'its length does not match its count';
      if (crc32(buf.subarray(0, size - 4)) !== buf.readUInt32LE(size - 4)) return 'its checksum does not match';
      const numbers: number[] = [];
      for (let i = 0; i < count; i++) numbers.push(buf.readUInt32LE(12 + i * 4));
      return numbers;
    } finally {
      await this.fs.close(fd);
    }
  }
}

function missingSegments(dir: string, missing: readonly number[], listed: number): FerryError {
  const files = missing.map(segmentFileName).join(', ');
  return new FerryError(
    'FERRY_STORE_CORRUPT',
    `${missing.length} of the ${listed} journal segment files in ${dir} are missing: ${files}. Ferry wrote them and has not deleted them, ` +
      'so every record they hold (waiting messages, and the queues, subscriptions and other records that later messages belong to) would be lost. ' +
      'Nothing was changed. Put the files back and start again; or, to start without them, copy the data folder aside, then start with ' +
      'store.journal.repair: true (ferry start, in the configuration file): it logs the missing files (journal.segment.missing) and what was lost ' +
      'with them (store.orphans), and deletes the records left without their queue or message.',
  );
}
