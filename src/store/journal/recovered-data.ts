import { grown } from '../typed-columns.js';

/**
 * The data replay keeps of each live record until recovery hands it back, by ledger row: copied out
 * of the segment's read buffer into shared slabs, and noted as slab, offset and length in typed
 * arrays. A view per record would be two million objects for a million waiting messages, all
 * alive until the end of recovery; the views are made as the records are handed back.
 */
export class RecoveredData {
  private static readonly SLAB = 256 * 1024;
  private readonly slabs: Buffer[] = [];
  private slab = Buffer.allocUnsafeSlow(0);
  /** The slab small records are copied into now, as index + 1 in `slabs`. */
  private slabNumber = 0;
  private used = 0;
  /** Slab index + 1 per row (0: nothing kept). */
  private slabOf = new Int32Array(0);
  private offsets = new Int32Array(0);
  private lengths = new Int32Array(0);

  /** Keeps a copy of `from[start, end)` as the data of `row`. */
  copy(row: number, from: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length > RecoveredData.SLAB / 4) {
      this.note(row, this.slabs.push(Buffer.from(from.subarray(start, end))), 0, length);
      return;
    }
    if (this.used + length > this.slab.length || this.slabNumber === 0) {
      this.slab = Buffer.allocUnsafeSlow(RecoveredData.SLAB);
      this.slabNumber = this.slabs.push(this.slab);
      this.used = 0;
    }
    const slab = this.slab;
    const at = this.used;
    // most kept records are short (references, message headers), where the per-call cost of
    // Buffer#copy is most of the work
    if (length <= 64) for (let i = 0; i < length; i++) slab[at + i] = from[start + i]!;
    else from.copy(slab, at, start, end);
    this.note(row, this.slabNumber, at, length);
    this.used += length;
  }

  /** Keeps `data` itself (already a copy) as the data of `row`. */
  keep(row: number, data: Buffer): void {
    this.note(row, this.slabs.push(data), 0, data.length);
  }

  drop(row: number): void {
    if (row < this.slabOf.length) this.slabOf[row] = 0;
  }

  move(from: number, to: number): void {
    if (from >= this.slabOf.length) {
      this.drop(to);
      return;
    }
    this.slabOf[to] = this.slabOf[from]!;
    this.offsets[to] = this.offsets[from]!;
    this.lengths[to] = this.lengths[from]!;
    this.slabOf[from] = 0;
  }

  /** The data kept for `row` (a view into a slab), or undefined. */
  get(row: number): Buffer | undefined {
    if (row >= this.slabOf.length) return undefined;
    const slab = this.slabOf[row]!;
    if (slab === 0) return undefined;
    const at = this.offsets[row]!;
    return this.slabs[slab - 1]!.subarray(at, at + this.lengths[row]!);
  }

  private note(row: number, slab: number, offset: number, length: number): void {
    if (row >= this.slabOf.length) this.grow(row);
    this.slabOf[row] = slab;
    this.offsets[row] = offset;
    this.lengths[row] = length;
  }

  private grow(row: number): void {
    let capacity = Math.max(1024, this.slabOf.length * 2);
    while (capacity <= row) capacity *= 2;
    this.slabOf = grown(this.slabOf, capacity);
    this.offsets = grown(this.offsets, capacity);
    this.lengths = grown(this.lengths, capacity);
  }
}
