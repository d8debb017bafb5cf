import fs from 'node:fs';
import { FerryError } from '../../errors.js';
import type { RecordReader } from '../store.js';

/** The journal reads synchronously too, and every record it is asked for was live when asked. */
export type JournalRecordReader = Omit<Required<RecordReader>, 'readMany'> & { readMany(ids: readonly number[]): Promise<Buffer[]> };
import type { JournalContext } from './context.js';
import { readFully } from './file-system.js';
import type { JournalSegment } from './segment.js';
import type { JournalWriter } from './writer.js';

/** Sealed segments kept open for reads; a journal of thousands of segments must not hold thousands of descriptors. */
const MAX_OPEN_SEALED = 32;
/** Records this close together in a segment are read back in one read. */
const READ_GAP = 64 * 1024;
const READ_SPAN = 4 * 1024 * 1024;

/**
 * Reads live records back: one at a time, many grouped into as few reads as the files allow, or
 * synchronously for a delivery that cannot wait. Keeps a bounded set of sealed segments open.
 */
export class JournalReader {
  private readonly reads = new Set<Promise<unknown>>();
  /** Sealed segments with an open descriptor, least recently used first. */
  private readonly openSealed = new Set<JournalSegment>();

  constructor(
    private readonly journal: JournalContext,
    private readonly writer: JournalWriter,
  ) {}

  /** The store's `RecordReader`: the body cache uses it to leave message bodies on disk. */
  readonly records: JournalRecordReader = {
    has: (id) => this.journal.readable && this.journal.ledger.records.has(id),
    readMany: (ids) => this.tracked(this.readMany(ids)),
    readSync: (id) => this.readSync(id),
  };

  /** Reads a live record's data back from disk (waiting for it to be written if it was just appended). */
  read(id: number): Promise<Buffer> {
    return this.tracked(this.readRecord(id));
  }

  /** Resolves once every read in progress has ended; close waits for them. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.reads]);
  }

  /** A sealed segment's descriptor was used: it becomes the most recently used, and the least recently used beyond the limit are closed. */
  usedSealed(segment: JournalSegment): void {
    if (segment === this.journal.current || segment.fd < 0) return;
    this.openSealed.delete(segment);
    this.openSealed.add(segment);
    if (this.openSealed.size <= MAX_OPEN_SEALED) return;
    for (const old of this.openSealed) {
      if (this.openSealed.size <= MAX_OPEN_SEALED) break;
      // not while a read holds it, nor while a write or its sync may still be in flight
      if (old.readers > 0 || old.lastSeq > this.writer.durableSeq || old === segment) continue;
      this.openSealed.delete(old);
      const fd = old.fd;
      old.fd = -1;
      this.journal.fs.close(fd).catch((err: unknown) => this.journal.emit({ event: 'journal.close.failed', file: old.file, error: (err as Error).message }));
    }
  }

  /** The segment's descriptor is being closed by someone else (deletion, close). */
  forget(segment: JournalSegment): void {
    this.openSealed.delete(segment);
  }

  forgetAll(): void {
    this.openSealed.clear();
  }

  private tracked<T>(reading: Promise<T>): Promise<T> {
    this.reads.add(reading);
    const forget = (): void => void this.reads.delete(reading);
    reading.then(forget, forget);
    return reading;
  }

  private async readRecord(id: number): Promise<Buffer> {
    for (;;) {
      this.journal.assertReadable();
      const record = this.liveRecord(id);
      if (record.length === 0) return Buffer.alloc(0);
      const segment = this.journal.segments.get(record.seg)!;
      if (record.pos + record.length > segment.writtenSize) {
        // appended but not yet written: copied from the batch (which a stalled journal keeps
        // until it can write it), else wait for the write and look again (it may have moved)
        const data = Buffer.allocUnsafe(record.length);
        if (this.writer.copyUnwritten(segment, record.pos, data)) return data;
        await this.writer.sync();
        continue;
      }
      return this.readSpan(record.seg, record.pos, record.length, `record ${id}`);
    }
  }

  /** Where a live record's data is now (it may move once the caller awaits). */
  private liveRecord(id: number): { readonly seg: number; readonly pos: number; readonly length: number } {
    const records = this.journal.ledger.records;
    const row = records.rowOf(id);
    if (row < 0) throw new FerryError('FERRY_STORE_FAILED', `record ${id} is not live in the journal`);
    return { seg: records.segs[row]!, pos: records.positions[row]!, length: records.lengths[row]! };
  }

  /**
   * Reads records grouped into as few reads as the file layout allows: records of one segment that
   * lie close together (messages sent one after another) come back in one read.
   */
  private async readMany(ids: readonly number[]): Promise<Buffer[]> {
    this.journal.assertReadable();
    const out: Buffer[] = new Array<Buffer>(ids.length);
    const located: { at: number; seg: number; pos: number; length: number }[] = [];
    const waiting: Promise<void>[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const record = this.liveRecord(id);
      const segment = this.journal.segments.get(record.seg)!;
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
    const segment = this.journal.segments.get(seg);
    if (segment === undefined) throw new FerryError('FERRY_STORE_FAILED', `journal segment ${seg} is gone`);
    const data = Buffer.allocUnsafe(length);
    segment.readers++;
    try {
      await readFully(this.journal.fs, await this.descriptor(segment), data, length, pos);
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
    this.journal.assertReadable();
    const record = this.liveRecord(id);
    const data = Buffer.allocUnsafe(record.length);
    if (record.length === 0) return data;
    const segment = this.journal.segments.get(record.seg)!;
    if (record.pos + record.length > segment.writtenSize && this.writer.copyUnwritten(segment, record.pos, data)) return data;
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
    segment.opening ??= this.journal.fs.open(segment.path, 'r').then(
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
}
