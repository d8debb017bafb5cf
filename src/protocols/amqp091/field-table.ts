import { Amqp091Error } from './errors.js';

/**
 * A field value as Ferry holds it. Plain JavaScript values for the types a reader expects (a string,
 * a number, a bigint for 64-bit integers, a Buffer for a byte array, null for void), `Map`s for tables
 * and arrays for arrays; `Typed` keeps a value's exact wire type where the plain value would be
 * encoded as another (a signed 8-bit integer, a float, an unsigned 32-bit integer), and `Decimal`
 * and `Timestamp` have no plain counterpart.
 */
export type FieldValue = boolean | number | bigint | string | Buffer | null | FieldValue[] | FieldTable | Typed | Decimal | Timestamp;
export type FieldTable = Map<string, FieldValue>;

/** Every field-value type RabbitMQ's clients send (RabbitMQ's errata to the 0-9-1 specification's table). */
export type FieldType = 't' | 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'l' | 'f' | 'd' | 'D' | 'S' | 'A' | 'T' | 'F' | 'V' | 'x';

/** A number kept with its wire type, so that it is written back as it came. */
export class Typed {
  constructor(
    readonly type: 'b' | 'B' | 's' | 'u' | 'i' | 'f',
    readonly value: number,
  ) {}
}

export class Decimal {
  constructor(
    readonly scale: number,
    readonly value: number,
  ) {}
}

/** Seconds since the epoch (AMQP's 64-bit timestamp). */
export class Timestamp {
  constructor(readonly seconds: bigint) {}
}

/** Nesting deeper than this is refused: a hostile table cannot take the stack. */
const MAX_DEPTH = 32;

function syntax(text: string): Amqp091Error {
  return new Amqp091Error('FERRY_AMQP091_SYNTAX', 502, text);
}

/** Reads field tables and arrays from one buffer; every read checks its bounds. */
export class FieldReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  need(n: number): void {
    if (this.pos + n > this.end) throw syntax('a field runs past the end of its frame');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  shortstr(): string {
    const n = this.u8();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  longstrBytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  table(depth = 0): FieldTable {
    if (depth > MAX_DEPTH) throw syntax('field tables nested too deeply');
    const n = this.u32();
    this.need(n);
    const end = this.pos + n;
    const table: FieldTable = new Map();
    const inner = new FieldReader(this.buf, this.pos, end);
    while (inner.pos < end) {
      const name = inner.shortstr();
      table.set(name, inner.value(depth));
    }
    this.pos = end;
    return table;
  }

  array(depth: number): FieldValue[] {
    if (depth > MAX_DEPTH) throw syntax('field arrays nested too deeply');
    const n = this.u32();
    this.need(n);
    const end = this.pos + n;
    const items: FieldValue[] = [];
    const inner = new FieldReader(this.buf, this.pos, end);
    while (inner.pos < end) items.push(inner.value(depth));
    this.pos = end;
    return items;
  }

  value(depth: number): FieldValue {
    const type = this.u8();
    switch (type) {
      case 0x74: // t
        return this.u8() !== 0;
      case 0x62: // b
        this.need(1);
        return new Typed('b', this.buf.readInt8(this.pos++));
      case 0x42: // B
        return new Typed('B', this.u8());
      case 0x73: // s (RabbitMQ's signed 16-bit)
      case 0x55: {
        // U: the specification's letter for it
        this.need(2);
        const v = this.buf.readInt16BE(this.pos);
        this.pos += 2;
        return new Typed('s', v);
      }
      case 0x75: // u
        return new Typed('u', this.u16());
      case 0x49: {
        // I
        this.need(4);
        const v = this.buf.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }
      case 0x69: // i
        return new Typed('i', this.u32());
      case 0x6c: {
        // l
        this.need(8);
        const v = this.buf.readBigInt64BE(this.pos);
        this.pos += 8;
        return v;
      }
      case 0x4c: // L: the specification's unsigned 64-bit
        return this.u64();
      case 0x66: {
        // f
        this.need(4);
        const v = this.buf.readFloatBE(this.pos);
        this.pos += 4;
        return new Typed('f', v);
      }
      case 0x64: {
        // d
        this.need(8);
        const v = this.buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      case 0x44: {
        // D
        const scale = this.u8();
        this.need(4);
        const v = this.buf.readInt32BE(this.pos);
        this.pos += 4;
        return new Decimal(scale, v);
      }
      case 0x53: // S
        return this.longstrBytes().toString('utf8');
      case 0x41: // A
        return this.array(depth + 1);
      case 0x54: // T
        return new Timestamp(this.u64());
      case 0x46: // F
        return this.table(depth + 1);
      case 0x56: // V
        return null;
      case 0x78: // x
        return Buffer.from(this.longstrBytes());
      default:
        throw syntax(`unknown field type 0x${type.toString(16)}`);
    }
  }
}

/** Decodes a whole field table (its length prefix included) from `buf`. */
export function decodeTable(buf: Buffer): FieldTable {
  const r = new FieldReader(buf, 0, buf.length);
  const t = r.table();
  if (r.pos !== buf.length) throw syntax('bytes left after a field table');
  return t;
}

/** Writes field values into a growing buffer. */
export class FieldWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: bigint | number): void {
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
  }

  shortstr(s: string): void {
    const n = Buffer.byteLength(s);
    if (n > 255) throw new Amqp091Error('FERRY_AMQP091_SYNTAX', 502, `a short string is at most 255 bytes, "${s.slice(0, 40)}..." has ${n}`);
    this.room(1 + n);
    this.buf[this.pos++] = n;
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }

  longstr(s: string | Buffer): void {
    if (typeof s === 'string') {
      const n = Buffer.byteLength(s);
      this.room(4 + n);
      this.buf.writeUInt32BE(n, this.pos);
      this.buf.write(s, this.pos + 4, 'utf8');
      this.pos += 4 + n;
    } else {
      this.room(4 + s.length);
      this.buf.writeUInt32BE(s.length, this.pos);
      s.copy(this.buf, this.pos + 4);
      this.pos += 4 + s.length;
    }
  }

  table(t: FieldTable): void {
    this.room(4);
    const at = this.pos;
    this.pos += 4;
    for (const [name, value] of t) {
      this.shortstr(name);
      this.value(value);
    }
    this.buf.writeUInt32BE(this.pos - at - 4, at);
  }

  array(items: readonly FieldValue[]): void {
    this.room(4);
    const at = this.pos;
    this.pos += 4;
    for (const v of items) this.value(v);
    this.buf.writeUInt32BE(this.pos - at - 4, at);
  }

  value(v: FieldValue): void {
    if (v === null) return this.u8(0x56);
    switch (typeof v) {
      case 'boolean':
        this.u8(0x74);
        return this.u8(v ? 1 : 0);
      case 'string':
        this.u8(0x53);
        return this.longstr(v);
      case 'bigint':
        this.u8(0x6c);
        this.room(8);
        this.buf.writeBigInt64BE(BigInt.asIntN(64, v), this.pos);
        this.pos += 8;
        return;
      case 'number':
        if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
          this.u8(0x49);
          this.room(4);
          this.buf.writeInt32BE(v, this.pos);
          this.pos += 4;
        } else if (Number.isSafeInteger(v)) {
          this.u8(0x6c);
          this.room(8);
          this.buf.writeBigInt64BE(BigInt(v), this.pos);
          this.pos += 8;
        } else {
          this.u8(0x64);
          this.room(8);
          this.buf.writeDoubleBE(v, this.pos);
          this.pos += 8;
        }
        return;
    }
    if (Buffer.isBuffer(v)) {
      this.u8(0x78);
      return this.longstr(v);
    }
    if (Array.isArray(v)) {
      this.u8(0x41);
      return this.array(v);
    }
    if (v instanceof Map) {
      this.u8(0x46);
      return this.table(v);
    }
    if (v instanceof Typed) return this.typed(v);
    if (v instanceof Decimal) {
      this.u8(0x44);
      this.u8(v.scale);
      this.room(4);
      this.buf.writeInt32BE(v.value, this.pos);
      this.pos += 4;
      return;
    }
    this.u8(0x54);
    this.u64(BigInt.asUintN(64, v.seconds));
  }

  private typed(v: Typed): void {
    this.u8(v.type.charCodeAt(0));
    this.room(4);
    switch (v.type) {
      case 'b':
        this.buf.writeInt8(v.value, this.pos);
        this.pos += 1;
        return;
      case 'B':
        this.buf.writeUInt8(v.value, this.pos);
        this.pos += 1;
        return;
      case 's':
        this.buf.writeInt16BE(v.value, this.pos);
        this.pos += 2;
        return;
      case 'u':
        this.buf.writeUInt16BE(v.value, this.pos);
        this.pos += 2;
        return;
      case 'i':
        this.buf.writeUInt32BE(v.value, this.pos);
        this.pos += 4;
        return;
      case 'f':
        this.buf.writeFloatBE(v.value, this.pos);
        this.pos += 4;
        return;
    }
  }

  take(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export function encodeTable(t: FieldTable): Buffer {
  const w = new FieldWriter();
  w.table(t);
  return w.take();
}

/** A table from an object literal, for the broker's own tables (server properties). */
export function tableOf(entries: Record<string, FieldValue>): FieldTable {
  return new Map(Object.entries(entries));
}
