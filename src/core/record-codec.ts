import { FerryError } from '../errors.js';

/** The byte layouts' primitives for core's store records (see records.ts), little-endian. */

export class Writer {
  private buf: Buffer;
  private pos = 0;

  /** `expected`: the size it will likely reach, so that a message record is not copied as it grows. */
  constructor(expected = 256) {
    this.buf = Buffer.allocUnsafe(expected);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  i64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(v, this.pos);
    this.pos += 8;
  }

  bytes(v: Buffer): void {
    this.u32(v.length);
    this.ensure(v.length);
    v.copy(this.buf, this.pos);
    this.pos += v.length;
  }

  str(v: string): void {
    // Short ASCII strings (ids, names, most property values) are copied by hand: Buffer's
    // byteLength and write cost more per call than the copy itself, and a message has a dozen.
    const n = v.length;
    if (n <= 64) {
      this.ensure(4 + n);
      const buf = this.buf;
      const at = this.pos + 4;
      let i = 0;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === n) {
        buf.writeUInt32LE(n, this.pos);
        this.pos = at + n;
        return;
      }
    }
    const len = Buffer.byteLength(v);
    this.u32(len);
    this.ensure(len);
    this.buf.write(v, this.pos, len, 'utf8');
    this.pos += len;
  }

  optStr(v: string | undefined): void {
    if (v === undefined) this.u8(0);
    else {
      this.u8(1);
      this.str(v);
    }
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new FerryError('FERRY_STORE_CORRUPT', 'record ends before its last field');
  }

  peekU8(): number {
    this.need(1);
    return this.buf[this.pos]!;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * A view, not a copy: a record's data is its own buffer (stores hand each record its own), so a
   * recovered body pins only the record it came from, and a million recovered messages are not
   * copied twice.
   */
  bytes(): Buffer {
    const len = this.u32();
    this.need(len);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  str(): string {
    const len = this.u32();
    this.need(len);
    const v = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  optStr(): string | undefined {
    return this.u8() === 0 ? undefined : this.str();
  }

  remaining(): number {
    return this.buf.length - this.pos;
  }
}
