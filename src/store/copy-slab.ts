/**
 * Copies recovered record data out of the buffer it was read into (a journal segment's, or a
 * database row's, which node-postgres may cut from a buffer pool shared with other rows) into
 * shared slabs, so that buffer can go while the records stay: one copy and one view per record,
 * without the per-call work of Buffer.from. A slab lives as long as any record copied into it;
 * slabs are small so a few long-lived records do not hold much.
 */
export class CopySlab {
  private static readonly SIZE = 64 * 1024;
  private slab = Buffer.allocUnsafeSlow(0);
  private used = 0;

  copy(from: Buffer, start: number, end: number): Buffer {
    const length = end - start;
    if (length > CopySlab.SIZE / 4) return Buffer.from(from.subarray(start, end));
    if (this.used + length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(CopySlab.SIZE);
      this.used = 0;
    }
    const at = this.used;
    from.copy(this.slab, at, start, end);
    this.used += length;
    return this.slab.subarray(at, at + length);
  }
}
