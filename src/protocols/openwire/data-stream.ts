import { FerryError } from '../../errors.js';

/**
 * Java's `DataInput` over one command's bytes: big-endian numbers and "modified UTF-8" strings
 * (a NUL as two bytes, characters outside the BMP as two three-byte surrogates), the encoding every
 * OpenWire string uses. Reading past the end is a malformed command, never a partial read.
 */
export class DataReader {
  offset: number;

  constructor(
    private readonly buffer: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.offset = start;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(bytes: number): number {
    const at = this.offset;
    if (bytes < 0 || at + bytes > this.end) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `command ends early: ${bytes} more bytes needed at offset ${at}, ${this.end - at} left`);
    this.offset = at + bytes;
    return at;
  }

  bool(): boolean {
    return this.buffer[this.need(1)] !== 0;
  }

  byte(): number {
    return this.buffer.readInt8(this.need(1));
  }

  short(): number {
    return this.buffer.readInt16BE(this.need(2));
  }

  unsignedShort(): number {
    return this.buffer.readUInt16BE(this.need(2));
  }

  int(): number {
    return this.buffer.readInt32BE(this.need(4));
  }

  /** Java longs as numbers: ids, sequence numbers and times all stay far below 2^53. */
  long(): number {
    const at = this.need(8);
    return this.buffer.readInt32BE(at) * 0x1_0000_0000 + this.buffer.readUInt32BE(at + 4);
  }

  /** A long a client may set to anything: a number while it is exactly one, a bigint past 2^53. */
  exactLong(): number | bigint {
    const at = this.need(8);
    const high = this.buffer.readInt32BE(at);
    // a high word within ±2^21 is a value within ±2^53
    if (high >= -0x20_0000 && high < 0x20_0000) return high * 0x1_0000_0000 + this.buffer.readUInt32BE(at + 4);
    return this.buffer.readBigInt64BE(at);
  }

  /** A long property value keeps all 64 bits. */
  bigLong(): bigint {
    return this.buffer.readBigInt64BE(this.need(8));
  }

  float(): number {
    return this.buffer.readFloatBE(this.need(4));
  }

  double(): number {
    return this.buffer.readDoubleBE(this.need(8));
  }

  char(): string {
    return String.fromCharCode(this.buffer.readUInt16BE(this.need(2)));
  }

  bytes(length: number): Buffer {
    const at = this.need(length);
    return this.buffer.subarray(at, at + length);
  }

  /** `readUTF`: an unsigned 16-bit byte count, then modified UTF-8. */
  utf(): string {
    return this.utfBytes(this.unsignedShort());
  }

  utfBytes(length: number): string {
    const at = this.need(length);
    return decodeModifiedUtf8(this.buffer, at, at + length);
  }
}

/**
 * Builds one command, in a buffer given to it (then `grew` says whether it had to leave that
 * buffer) or one of its own; grows as needed and hands back exactly what was written.
 */
export class DataWriter {
  private buffer: Buffer;
  offset = 0;
  grew = false;

  constructor(initial: number | Buffer = 256) {
    this.buffer = typeof initial === 'number' ? Buffer.allocUnsafe(initial) : initial;
  }

  /** Makes room and returns where to write; it may replace `this.buffer`, so callers read `this.buffer` after it. */
  private room(bytes: number): number {
    const at = this.offset;
    if (at + bytes > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, at + bytes));
      this.buffer.copy(grown, 0, 0, at);
      this.buffer = grown;
      this.grew = true;
    }
    this.offset = at + bytes;
    return at;
  }

  bool(value: boolean): void {
    const at = this.room(1);
    this.buffer[at] = value ? 1 : 0;
  }

  byte(value: number): void {
    const at = this.room(1);
    this.buffer.writeInt8(value, at);
  }

  short(value: number): void {
    const at = this.room(2);
    this.buffer.writeInt16BE(value, at);
  }

  int(value: number): void {
    const at = this.room(4);
    this.buffer.writeInt32BE(value | 0, at);
  }

  long(value: number): void {
    const at = this.room(8);
    const high = Math.floor(value / 0x1_0000_0000);
    this.buffer.writeInt32BE(high, at);
    this.buffer.writeUInt32BE(value - high * 0x1_0000_0000, at + 4);
  }

  exactLong(value: number | bigint): void {
    if (typeof value === 'bigint') this.bigLong(value);
    else this.long(value);
  }

  bigLong(value: bigint): void {
    const at = this.room(8);
    this.buffer.writeBigInt64BE(BigInt.asIntN(64, value), at);
  }

  float(value: number): void {
    const at = this.room(4);
    this.buffer.writeFloatBE(value, at);
  }

  double(value: number): void {
    const at = this.room(8);
    this.buffer.writeDoubleBE(value, at);
  }

  char(value: string): void {
    const at = this.room(2);
    this.buffer.writeUInt16BE(value.charCodeAt(0), at);
  }

  bytes(value: Buffer): void {
    const at = this.room(value.length);
    value.copy(this.buffer, at);
  }

  /** `writeUTF`: refused over 65,535 encoded bytes, as Java refuses it. */
  utf(value: string): void {
    const length = utfLength(value);
    const at = this.room(2);
    this.buffer.writeUInt16BE(length, at);
    this.utfBytes(value, length);
  }

  /** The string's modified UTF-8 without a length; `length` is `modifiedUtf8Length(value)`. */
  utfBytes(value: string, length: number): void {
    const at = this.room(length);
    if (length === value.length) {
      this.buffer.write(value, at, length, 'latin1');
      return;
    }
    encodeModifiedUtf8(value, this.buffer, at);
  }

  finish(): Buffer {
    return this.buffer.subarray(0, this.offset);
  }
}

/** The length `utf` writes before the string: refused over 65,535 bytes, as Java's `writeUTF` refuses it. */
export function utfLength(value: string): number {
  const length = modifiedUtf8Length(value);
  if (length > 0xffff) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `a string of ${length} encoded bytes does not fit a 16-bit length`);
  return length;
}

/** True when `utf` can write the string: at most 65,535 encoded bytes (a string of up to 21,845 units always fits). */
export function fitsUtf(value: string): boolean {
  return value.length <= 0x5555 || modifiedUtf8Length(value) <= 0xffff;
}

export function modifiedUtf8Length(value: string): number {
  let length = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0 && c <= 0x7f) length += 1;
    else if (c <= 0x7ff) length += 2;
    else length += 3;
  }
  return length;
}

function encodeModifiedUtf8(value: string, buffer: Buffer, start: number): void {
  let at = start;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0 && c <= 0x7f) {
      buffer[at++] = c;
    } else if (c <= 0x7ff) {
      buffer[at++] = 0xc0 | (c >> 6);
      buffer[at++] = 0x80 | (c & 0x3f);
    } else {
      buffer[at++] = 0xe0 | (c >> 12);
      buffer[at++] = 0x80 | ((c >> 6) & 0x3f);
      buffer[at++] = 0x80 | (c & 0x3f);
    }
  }
}

export function encodeModifiedUtf8String(value: string): Buffer {
  const length = modifiedUtf8Length(value);
  const buffer = Buffer.allocUnsafe(length);
  if (length === value.length) buffer.write(value, 0, length, 'latin1');
  else encodeModifiedUtf8(value, buffer, 0);
  return buffer;
}

export function decodeModifiedUtf8(buffer: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buffer[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buffer.toString('latin1', start, end);
  const units: number[] = [];
  let i = start;
  while (i < end) {
    const a = buffer[i]!;
    if (a < 0x80) {
      units.push(a);
      i += 1;
    } else if ((a & 0xe0) === 0xc0 && i + 1 < end && (buffer[i + 1]! & 0xc0) === 0x80) {
      units.push(((a & 0x1f) << 6) | (buffer[i + 1]! & 0x3f));
      i += 2;
    } else if ((a & 0xf0) === 0xe0 && i + 2 < end && (buffer[i + 1]! & 0xc0) === 0x80 && (buffer[i + 2]! & 0xc0) === 0x80) {
      units.push(((a & 0x0f) << 12) | ((buffer[i + 1]! & 0x3f) << 6) | (buffer[i + 2]! & 0x3f));
      i += 3;
    } else {
      throw new FerryError('FERRY_OPENWIRE_MALFORMED', `malformed modified UTF-8 at byte ${i - start} of a string`);
    }
  }
  let text = '';
  for (let from = 0; from < units.length; from += 8192) text += String.fromCharCode(...units.slice(from, from + 8192));
  return text;
}
