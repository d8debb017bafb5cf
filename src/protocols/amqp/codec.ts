import { FerryError } from '../../errors.js';

/**
 * The AMQP 1.0 type system (part 1 of the specification): a reader that decodes one value at a
 * time or measures it without decoding, and a writer. Performatives (frames.ts) and message
 * sections (mapping.ts) are both read and written with it; message sections keep the exact types
 * and byte spans that the mapping to core needs, and are decoded once when a message arrives and
 * encoded once however many consumers it has.
 */

/** A described value whose descriptor this codec does not interpret. */
export class Described {
  constructor(
    /**
     * A numeric descriptor (domain << 32 | id) as a number, exact for every domain below 2^21 (all
     * assigned ones), or a symbolic one.
     */
    readonly descriptor: number | string,
    readonly value: AmqpValue,
  ) {}
}

/** A symbol, kept apart from strings so that an encoder writes it back as a symbol. */
export class AmqpSymbol {
  constructor(readonly name: string) {}
}

export type AmqpValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | AmqpSymbol
  | Described
  | AmqpValue[]
  | Map<AmqpValue, AmqpValue>;

function decodeError(message: string): FerryError {
  return new FerryError('FERRY_AMQP_DECODE', message);
}

/**
 * Compound and described values nested deeper than this are refused: each level is a call, and a
 * few thousand levels in one frame would exhaust the stack before anything else noticed.
 */
const MAX_DEPTH = 256;

function uuidText(buf: Buffer, at: number): string {
  const hex = buf.toString('hex', at, at + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Reads values from `buf` between `offset` and `end`. Every read checks its bounds, so a truncated
 * or lying size field gives FERRY_AMQP_DECODE, never a RangeError or a read past the section.
 */
export class AmqpReader {
  offset: number;
  readonly end: number;
  /** Compound and described values being read or skipped, one inside the other. */
  private depth = 0;

  constructor(
    readonly buf: Buffer,
    offset = 0,
    end = buf.length,
  ) {
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number): void {
    if (this.offset + n > this.end) throw decodeError(`value runs past the end of its section (needs ${n} more bytes at offset ${this.offset})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  peekFormat(): number {
    this.need(1);
    return this.buf[this.offset]!;
  }

  /** Size and count of a compound (list or map) or array after its format code. */
  private sizeCount(wide: boolean): { size: number; count: number } {
    const size = wide ? this.u32() : this.u8();
    this.need(size);
    if (size < (wide ? 4 : 1)) throw decodeError(`compound size ${size} is too small for its count`);
    const count = wide ? this.u32() : this.u8();
    return { size, count };
  }

  /**
   * Reads the head of a list (or, with `map`, a map) and returns its element count; the elements
   * follow. Null counts as an empty list, as the specification allows for composite types.
   */
  compoundHead(map: boolean): number {
    const code = this.u8();
    if (code === 0x40 || (!map && code === 0x45)) return 0;
    if (code === (map ? 0xc1 : 0xc0)) return this.sizeCount(false).count;
    if (code === (map ? 0xd1 : 0xd0)) return this.sizeCount(true).count;
    throw decodeError(`expected a ${map ? 'map' : 'list'}, got format code 0x${code.toString(16)}`);
  }

  /** Offset just after the value that starts at the current offset; the offset does not move. */
  valueEnd(): number {
    const start = this.offset;
    this.skip();
    const end = this.offset;
    this.offset = start;
    return end;
  }

  /** Moves past one value (described ones included) without decoding it. */
  skip(): void {
    const code = this.u8();
    if (code === 0x00) {
      this.deeper();
      try {
        this.skip();
        this.skip();
      } finally {
        this.depth--;
      }
      return;
    }
    const width = fixedWidth(code);
    if (width >= 0) {
      this.need(width);
      this.offset += width;
      return;
    }
    const sizeWidth = (code & 0x10) === 0 ? 1 : 4;
    const size = sizeWidth === 1 ? this.u8() : this.u32();
    this.need(size);
    this.offset += size;
  }

  /** The descriptor of a described value: a numeric code (numbers, not bigints: no allocation per section) or a symbol name. */
  descriptor(): number | string {
    const code = this.u8();
    switch (code) {
      case 0x53:
        return this.u8();
      case 0x44:
        return 0;
      case 0x80:
        this.need(8);
        this.offset += 8;
        return this.buf.readUInt32BE(this.offset - 8) * 0x100000000 + this.buf.readUInt32BE(this.offset - 4);
      case 0xa3:
      case 0xb3: {
        const size = code === 0xa3 ? this.u8() : this.u32();
        this.need(size);
        this.offset += size;
        return this.buf.toString('latin1', this.offset - size, this.offset);
      }
      default:
        throw decodeError(`a descriptor must be a ulong or a symbol, got format code 0x${code.toString(16)}`);
    }
  }

  read(): AmqpValue {
    const code = this.u8();
    return this.readAfter(code);
  }

  /**
   * A map key: as `read`, except that a short ASCII str8 comes from a small table of names seen
   * before. Application-property names repeat from message to message, and a string taken from the
   * table is neither decoded nor hashed again when it goes into the message's property map.
   */
  readKey(): AmqpValue {
    const b = this.buf;
    const at = this.offset;
    if (at + 2 > this.end || b[at] !== 0xa1) return this.read();
    const size = b[at + 1]!;
    const start = at + 2;
    if (size > KEY_MAX || start + size > this.end) return this.read();
    let hash = size;
    let bits = 0;
    for (let i = start; i < start + size; i++) {
      hash = (Math.imul(hash, 31) + b[i]!) | 0;
      bits |= b[i]!;
    }
    const slot = hash & (KEY_SLOTS - 1);
    const known = keyTable[slot];
    this.offset = start + size;
    if (known !== undefined && known.length === size) {
      let i = 0;
      while (i < size && known.charCodeAt(i) === b[start + i]) i++;
      if (i === size) return known;
    }
    const key = b.toString('utf8', start, start + size);
    // only ASCII names go in: one character per byte, which the comparison above relies on
    if (bits < 0x80) keyTable[slot] = key;
    return key;
  }

  private readAfter(code: number): AmqpValue {
    // scalars, the common case, nest nothing
    if (code !== 0x00 && code < 0xc0) return this.readValue(code);
    this.deeper();
    try {
      return this.readValue(code);
    } finally {
      this.depth--;
    }
  }

  private deeper(): void {
    if (++this.depth > MAX_DEPTH) {
      this.depth--;
      throw decodeError(`values nested more than ${MAX_DEPTH} deep`);
    }
  }

  private readValue(code: number): AmqpValue {
    const b = this.buf;
    switch (code) {
      case 0x00: {
        const descriptor = this.descriptor();
        return new Described(descriptor, this.read());
      }
      case 0x40:
        return null;
      case 0x41:
        return true;
      case 0x42:
        return false;
      case 0x56:
        return this.u8() !== 0;
      case 0x43:
        return 0;
      case 0x44:
        return 0n;
      case 0x45:
        return [];
      case 0x50:
      case 0x52:
        return this.u8();
      case 0x51:
      case 0x54: {
        const v = this.u8();
        return v > 127 ? v - 256 : v;
      }
      case 0x53:
        return BigInt(this.u8());
      case 0x55: {
        const v = this.u8();
        return BigInt(v > 127 ? v - 256 : v);
      }
      case 0x60:
        this.need(2);
        this.offset += 2;
        return b.readUInt16BE(this.offset - 2);
      case 0x61:
        this.need(2);
        this.offset += 2;
        return b.readInt16BE(this.offset - 2);
      case 0x70:
        return this.u32();
      case 0x71:
        this.need(4);
        this.offset += 4;
        return b.readInt32BE(this.offset - 4);
      case 0x72:
        this.need(4);
        this.offset += 4;
        return b.readFloatBE(this.offset - 4);
      case 0x73:
        this.need(4);
        this.offset += 4;
        return String.fromCodePoint(Math.min(0x10ffff, b.readUInt32BE(this.offset - 4)));
      case 0x80:
        this.need(8);
        this.offset += 8;
        return b.readBigUInt64BE(this.offset - 8);
      case 0x81:
        this.need(8);
        this.offset += 8;
        return b.readBigInt64BE(this.offset - 8);
      case 0x82:
        this.need(8);
        this.offset += 8;
        return b.readDoubleBE(this.offset - 8);
      case 0x83:
        this.need(8);
        this.offset += 8;
        // the halves summed round as Number(BigInt) would, without a BigInt per timestamp
        return b.readInt32BE(this.offset - 8) * 0x100000000 + b.readUInt32BE(this.offset - 4);
      case 0x74:
      case 0x84:
      case 0x94: {
        const width = code === 0x74 ? 4 : code === 0x84 ? 8 : 16;
        this.need(width);
        this.offset += width;
        return Buffer.from(b.subarray(this.offset - width, this.offset));
      }
      case 0x98:
        this.need(16);
        this.offset += 16;
        return uuidText(b, this.offset - 16);
      case 0xa0:
      case 0xb0: {
        const size = code === 0xa0 ? this.u8() : this.u32();
        this.need(size);
        this.offset += size;
        return b.subarray(this.offset - size, this.offset);
      }
      case 0xa1:
      case 0xb1: {
        const size = code === 0xa1 ? this.u8() : this.u32();
        this.need(size);
        this.offset += size;
        return b.toString('utf8', this.offset - size, this.offset);
      }
      case 0xa3:
      case 0xb3: {
        const size = code === 0xa3 ? this.u8() : this.u32();
        this.need(size);
        this.offset += size;
        return new AmqpSymbol(b.toString('latin1', this.offset - size, this.offset));
      }
      case 0xc0:
      case 0xd0: {
        const { size, count } = this.sizeCount(code === 0xd0);
        const end = this.offset + size - (code === 0xd0 ? 4 : 1);
        const items: AmqpValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.readWithin(end));
        this.offset = end;
        return items;
      }
      case 0xc1:
      case 0xd1: {
        const { size, count } = this.sizeCount(code === 0xd1);
        if (count % 2 !== 0) throw decodeError(`a map needs an even number of elements, got ${count}`);
        const end = this.offset + size - (code === 0xd1 ? 4 : 1);
        const map = new Map<AmqpValue, AmqpValue>();
        for (let i = 0; i < count; i += 2) {
          const key = this.readWithin(end);
          map.set(key instanceof AmqpSymbol ? key.name : key, this.readWithin(end));
        }
        this.offset = end;
        return map;
      }
      case 0xe0:
      case 0xf0: {
        const { size, count } = this.sizeCount(code === 0xf0);
        // elements of a zero-width type (null, true, an empty list...) take no bytes at all: without
        // this bound a 14-byte array could ask for four billion of them
        if (count > size) throw decodeError(`an array of ${size} bytes cannot hold ${count} elements`);
        const end = this.offset + size - (code === 0xf0 ? 4 : 1);
        let element = this.u8();
        let descriptor: number | string | undefined;
        if (element === 0x00) {
          descriptor = this.descriptor();
          element = this.u8();
        }
        const items: AmqpValue[] = [];
        for (let i = 0; i < count; i++) {
          if (this.offset > end) throw decodeError('array elements run past the array');
          const value = this.readAfter(element);
          items.push(descriptor === undefined ? value : new Described(descriptor, value));
        }
        if (this.offset > end) throw decodeError('array elements run past the array');
        this.offset = end;
        return items;
      }
      default:
        throw decodeError(`unknown format code 0x${code.toString(16)}`);
    }
  }

  private readWithin(end: number): AmqpValue {
    if (this.offset >= end) throw decodeError('a compound has fewer elements than its count says');
    const value = this.read();
    if (this.offset > end) throw decodeError('an element runs past the end of its compound');
    return value;
  }
}

/** Bytes after the format code for fixed-width types; -1 for variable-width and compound ones. */
function fixedWidth(code: number): number {
  switch (code >> 4) {
    case 0x4:
      return 0;
    case 0x5:
      return 1;
    case 0x6:
      return 2;
    case 0x7:
      return 4;
    case 0x8:
      return 8;
    case 0x9:
      return 16;
    case 0xa:
    case 0xb:
    case 0xc:
    case 0xd:
    case 0xe:
    case 0xf:
      return -1;
    default:
      throw decodeError(`unknown format code 0x${code.toString(16)}`);
  }
}

/** True when `buf` holds exactly one well-formed value whose format code passes `accept`. */
export function isSingleValue(buf: Buffer, accept: (formatCode: number) => boolean): boolean {
  if (buf.length === 0 || !accept(buf[0]!)) return false;
  try {
    const reader = new AmqpReader(buf);
    reader.read();
    return reader.offset === buf.length;
  } catch {
    return false;
  }
}

/** The longest map key `AmqpReader.readKey` looks up among the keys it has seen. */
const KEY_MAX = 32;
/** Slots of that table (a power of two); a key whose slot another took is decoded again, nothing worse. */
const KEY_SLOTS = 512;
const keyTable: (string | undefined)[] = new Array<string | undefined>(KEY_SLOTS).fill(undefined);

const INT32_MIN = -0x80000000;
/** The longest string `AmqpWriter.string` tries to write as ASCII in JavaScript. */
const SHORT_ASCII = 64;
const INT32_MAX = 0x7fffffff;

/**
 * Appends values to a growing buffer. Lists and maps are always written in their 32-bit form: their
 * size is known only after their elements, and three bytes more per section cost less than a
 * second pass.
 */
export class AmqpWriter {
  private buf: Buffer;
  offset = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private room(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + n));
    this.buf.copy(bigger, 0, 0, this.offset);
    this.buf = bigger;
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.offset++] = v;
  }

  private u32At(at: number, v: number): void {
    this.buf.writeUInt32BE(v, at);
  }

  bytes(data: Buffer): void {
    this.room(data.length);
    data.copy(this.buf, this.offset);
    this.offset += data.length;
  }

  null(): void {
    this.u8(0x40);
  }

  boolean(v: boolean): void {
    this.u8(v ? 0x41 : 0x42);
  }

  ubyte(v: number): void {
    this.room(2);
    this.buf[this.offset++] = 0x50;
    this.buf[this.offset++] = v & 0xff;
  }

  byte(v: number): void {
    this.room(2);
    this.buf[this.offset++] = 0x51;
    this.buf.writeInt8(v, this.offset++);
  }

  uint(v: number): void {
    if (v === 0) return this.u8(0x43);
    if (v < 256) {
      this.room(2);
      this.buf[this.offset++] = 0x52;
      this.buf[this.offset++] = v;
      return;
    }
    this.room(5);
    this.buf[this.offset++] = 0x70;
    this.buf.writeUInt32BE(v >>> 0, this.offset);
    this.offset += 4;
  }

  int(v: number): void {
    if (v >= -128 && v <= 127) {
      this.room(2);
      this.buf[this.offset++] = 0x54;
      this.buf.writeInt8(v, this.offset++);
      return;
    }
    this.room(5);
    this.buf[this.offset++] = 0x71;
    this.buf.writeInt32BE(v, this.offset);
    this.offset += 4;
  }

  long(v: bigint): void {
    if (v >= -128n && v <= 127n) {
      this.room(2);
      this.buf[this.offset++] = 0x55;
      this.buf.writeInt8(Number(v), this.offset++);
      return;
    }
    this.room(9);
    this.buf[this.offset++] = 0x81;
    this.buf.writeBigInt64BE(BigInt.asIntN(64, v), this.offset);
    this.offset += 8;
  }

  ulong(v: bigint): void {
    if (v === 0n) return this.u8(0x44);
    if (v < 256n) {
      this.room(2);
      this.buf[this.offset++] = 0x53;
      this.buf[this.offset++] = Number(v);
      return;
    }
    this.room(9);
    this.buf[this.offset++] = 0x80;
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.offset);
    this.offset += 8;
  }

  ushort(v: number): void {
    this.room(3);
    this.buf[this.offset++] = 0x60;
    this.buf.writeUInt16BE(v, this.offset);
    this.offset += 2;
  }

  short(v: number): void {
    this.room(3);
    this.buf[this.offset++] = 0x61;
    this.buf.writeInt16BE(v, this.offset);
    this.offset += 2;
  }

  float(v: number): void {
    this.room(5);
    this.buf[this.offset++] = 0x72;
    this.buf.writeFloatBE(v, this.offset);
    this.offset += 4;
  }

  /** One UTF-32 character. */
  char(c: string): void {
    this.room(5);
    this.buf[this.offset++] = 0x73;
    this.buf.writeUInt32BE(c.codePointAt(0) ?? 0, this.offset);
    this.offset += 4;
  }

  double(v: number): void {
    this.room(9);
    this.buf[this.offset++] = 0x82;
    this.buf.writeDoubleBE(v, this.offset);
    this.offset += 8;
  }

  timestamp(ms: number): void {
    this.room(9);
    this.buf[this.offset++] = 0x83;
    // two 32-bit halves instead of a BigInt per timestamp (two of them in every message's properties)
    const t = Math.trunc(ms);
    const high = Math.floor(t / 0x100000000);
    this.buf.writeInt32BE(high | 0, this.offset);
    this.buf.writeUInt32BE(t - high * 0x100000000, this.offset + 4);
    this.offset += 8;
  }

  /** A JavaScript number as the narrowest of int, long or double that holds it exactly. */
  number(v: number): void {
    if (Number.isInteger(v)) {
      if (v >= INT32_MIN && v <= INT32_MAX) return this.int(v);
      if (Number.isSafeInteger(v)) return this.long(BigInt(v));
    }
    this.double(v);
  }

  uuid(text: string): void {
    const hex = text.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new FerryError('FERRY_AMQP_DECODE', `"${text}" is not a UUID`);
    this.u8(0x98);
    this.bytes(Buffer.from(hex, 'hex'));
  }

  /**
   * Only the head (format code and size) of a variable-width value of `size` bytes, the 8-bit form
   * when it fits: the bytes themselves are written elsewhere (a delivery's body, after its head).
   */
  sizeHead(short: number, long: number, size: number): void {
    this.room(5);
    if (size < 256) {
      this.buf[this.offset++] = short;
      this.buf[this.offset++] = size;
    } else {
      this.buf[this.offset++] = long;
      this.buf.writeUInt32BE(size, this.offset);
      this.offset += 4;
    }
  }

  /** A variable-width value of `size` bytes: the 8-bit form when it fits. */
  private variableHead(short: number, long: number, size: number): void {
    if (size < 256) {
      this.room(2 + size);
      this.buf[this.offset++] = short;
      this.buf[this.offset++] = size;
    } else {
      this.room(5 + size);
      this.buf[this.offset++] = long;
      this.buf.writeUInt32BE(size, this.offset);
      this.offset += 4;
    }
  }

  string(v: string): void {
    const n = v.length;
    if (n <= SHORT_ASCII) {
      // short ASCII strings (property names and values, ids) are copied a character at a time:
      // cheaper than measuring and writing them through Buffer's native calls
      this.room(2 + n);
      const buf = this.buf;
      const at = this.offset + 2;
      let i = 0;
      while (i < n) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at + i++] = c;
      }
      if (i === n) {
        buf[at - 2] = 0xa1;
        buf[at - 1] = n;
        this.offset = at + n;
        return;
      }
    }
    const size = Buffer.byteLength(v, 'utf8');
    this.variableHead(0xa1, 0xb1, size);
    this.offset += this.buf.write(v, this.offset, 'utf8');
  }

  /** A string whose UTF-8 bytes are already at hand: copied as they are, never decoded. */
  stringBytes(utf8: Buffer): void {
    this.variableHead(0xa1, 0xb1, utf8.length);
    utf8.copy(this.buf, this.offset);
    this.offset += utf8.length;
  }

  symbol(v: string): void {
    const size = Buffer.byteLength(v, 'latin1');
    this.variableHead(0xa3, 0xb3, size);
    this.offset += this.buf.write(v, this.offset, 'latin1');
  }

  binary(v: Buffer): void {
    this.variableHead(0xa0, 0xb0, v.length);
    v.copy(this.buf, this.offset);
    this.offset += v.length;
  }

  /** Starts a described value with a numeric descriptor in the small-ulong form (codes below 256). */
  descriptor(code: number): void {
    this.room(3);
    this.buf[this.offset++] = 0x00;
    this.buf[this.offset++] = 0x53;
    this.buf[this.offset++] = code;
  }

  /** Writes a list32 or map32 whose elements `body` writes; `body` returns how many it wrote. */
  compound(map: boolean, body: () => number): void {
    this.room(9);
    this.buf[this.offset++] = map ? 0xd1 : 0xd0;
    const sizeAt = this.offset;
    this.offset += 8;
    const count = body();
    this.u32At(sizeAt, this.offset - sizeAt - 4);
    this.u32At(sizeAt + 4, count);
  }

  /** Any decoded value, written back with the type it was read as where that type is kept. */
  value(v: AmqpValue): void {
    if (v === null) return this.null();
    switch (typeof v) {
      case 'boolean':
        return this.boolean(v);
      case 'number':
        return this.number(v);
      case 'bigint':
        return this.long(v);
      case 'string':
        return this.string(v);
      default:
        break;
    }
    if (Buffer.isBuffer(v)) return this.binary(v);
    if (v instanceof AmqpSymbol) return this.symbol(v.name);
    if (v instanceof Described) {
      this.u8(0x00);
      if (typeof v.descriptor === 'string') this.symbol(v.descriptor);
      else this.ulong(BigInt(v.descriptor));
      return this.value(v.value);
    }
    if (Array.isArray(v)) {
      const items = v;
      return this.compound(false, () => {
        for (const item of items) this.value(item);
        return items.length;
      });
    }
    const map = v;
    this.compound(true, () => {
      for (const [key, value] of map) {
        this.value(key);
        this.value(value);
      }
      return map.size * 2;
    });
  }
}
