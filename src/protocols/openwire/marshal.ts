import { FerryError } from '../../errors.js';
import { nestedTypes, schemas, type DataStructure, type Field, type WireThrowable } from './commands.js';
import { DataReader, DataWriter, utfLength } from './data-stream.js';

/** "ActiveMQ", the first bytes of every WireFormatInfo. */
export const MAGIC = Buffer.from('ActiveMQ', 'latin1');
const NULL_TYPE = 0;
/** Nesting deeper than this is an attack, not a command (a Throwable's causes, nested structures). */
const MAX_DEPTH = 32;

type BodyReader = (reader: DataReader, codec: LooseCodec, depth: number) => DataStructure;
type BodyWriter = (writer: DataWriter, structure: DataStructure, codec: LooseCodec, depth: number) => void;
type BodySizer = (structure: DataStructure, codec: LooseCodec, depth: number) => number;

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9]*$/;

/** A nested field that may hold only some data structure types. */
interface NestedField {
  readonly name: string;
  readonly types: ReadonlySet<number>;
}

/**
 * How one field is read, as an expression over `r` (the reader), `c` (the codec), `d` (the depth)
 * and `k`, the structure's nested fields whose types are checked (`at` is this field's place there).
 */
function readExpression(field: Field, at: number): string {
  switch (field.kind) {
    case 'bool':
      return 'r.bool()';
    case 'byte':
      return 'r.byte()';
    case 'short':
      return 'r.short()';
    case 'int':
      return 'r.int()';
    case 'long':
      return 'r.long()';
    case 'exactLong':
      return 'r.exactLong()';
    case 'string':
      return '(r.bool() ? r.utf() : null)';
    case 'nested':
    case 'cached':
      return at < 0 ? 'c.readNested(r, d)' : `c.readNested(r, d, k[${at}])`;
    case 'throwable':
      return 'c.readThrowable(r)';
    case 'bytes':
      return '(r.bool() ? r.bytes(r.int()) : null)';
    case 'array':
      return 'c.readArray(r, d)';
    case 'magic':
      return 'c.readMagic(r)';
  }
}

/** How one field is written, as a statement over `w` (the writer), `v` (its value), `c` and `d`. */
function writeStatement(field: Field): string {
  switch (field.kind) {
    case 'bool':
      return 'w.bool(v === true);';
    case 'byte':
    case 'short':
    case 'int':
    case 'long':
    case 'exactLong':
      return `w.${field.kind}(v ?? 0);`;
    case 'string':
      return 'w.bool(v != null); if (v != null) w.utf(v);';
    case 'nested':
    case 'cached':
      return 'c.writeNested(w, v, d);';
    case 'throwable':
      return 'c.writeThrowable(w, v);';
    case 'bytes':
      return 'w.bool(v != null); if (v != null) { w.int(v.length); w.bytes(v); }';
    case 'array':
      return 'c.writeArray(w, v, d);';
    case 'magic':
      return 'w.bytes(c.magic);';
  }
}

/** How many bytes one field takes when written, as an expression over `v` (its value), `c` and `d`. */
function sizeExpression(field: Field): string {
  switch (field.kind) {
    case 'bool':
    case 'byte':
      return '1';
    case 'short':
      return '2';
    case 'int':
      return '4';
    case 'long':
    case 'exactLong':
      return '8';
    case 'string':
      return '(v != null ? 3 + c.utfLength(v) : 1)';
    case 'nested':
    case 'cached':
      return 'c.nestedSize(v, d)';
    case 'throwable':
      return 'c.throwableSize(v)';
    case 'bytes':
      return '(v != null ? 5 + v.length : 1)';
    case 'array':
      return 'c.arraySize(v, d)';
    case 'magic':
      return 'c.magic.length';
  }
}

/**
 * A reader, a writer and a sizer for every structure of one version, compiled from the table in
 * `commands.ts`: each reader builds its structure in one object literal, fields in wire order, so
 * every structure of a type has one shape and the hot paths (messages, acknowledgements) stay
 * monomorphic. Measured at about half the broker's time per message when a generic loop added the
 * fields one by one. The generated code comes from the table only, never from the wire.
 */
function compile(version: number): { readers: Map<number, BodyReader>; writers: Map<number, BodyWriter>; sizers: Map<number, BodySizer> } {
  const readers = new Map<number, BodyReader>();
  const writers = new Map<number, BodyWriter>();
  const sizers = new Map<number, BodySizer>();
  for (const [type, all] of schemas) {
    const fields = all.filter((f) => f.since <= version);
    for (const f of fields) if (!IDENTIFIER.test(f.name)) throw new Error(`field name "${f.name}" is not an identifier`);
    const checked: NestedField[] = [];
    const expressions = fields.map((f) => {
      const types = f.kind === 'nested' || f.kind === 'cached' ? nestedTypes.get(f.name) : undefined;
      if (types === undefined) return readExpression(f, -1);
      checked.push({ name: f.name, types });
      return readExpression(f, checked.length - 1);
    });
    const literal = [`type: ${type}`, ...fields.map((f, i) => `${f.name}: ${expressions[i]!}`)].join(', ');
    readers.set(type, (new Function('k', `return function (r, c, d) { return { ${literal} }; };`) as (k: NestedField[]) => BodyReader)(checked));
    const statements = fields.map((f) => `{ const v = s.${f.name}; ${writeStatement(f)} }`).join('\n');
    writers.set(type, new Function('w', 's', 'c', 'd', statements) as BodyWriter);
    const sizes = fields.map((f) => `{ const v = s.${f.name}; n += ${sizeExpression(f)}; }`).join('\n');
    sizers.set(type, new Function('s', 'c', 'd', `let n = 0;\n${sizes}\nreturn n;`) as BodySizer);
  }
  return { readers, writers, sizers };
}

const compiled = new Map<number, ReturnType<typeof compile>>();

/**
 * OpenWire's loose encoding of one version: every structure is its type byte and then its fields in
 * order (see `commands.ts`). Tight encoding and the marshalling cache are negotiated off, so this is
 * all the wire ever carries after the WireFormatInfo exchange. Stack traces are negotiated off too:
 * a Throwable is its class name and message only, and is never turned into a class.
 */
export class LooseCodec {
  private readonly readers: Map<number, BodyReader>;
  private readonly writers: Map<number, BodyWriter>;
  private readonly sizers: Map<number, BodySizer>;
  /** @internal for the compiled writers */
  readonly magic = MAGIC;
  /** @internal for the compiled sizers: a string too long to write is refused here, before any room is taken */
  readonly utfLength = utfLength;

  constructor(readonly version: number) {
    let tables = compiled.get(version);
    if (tables === undefined) compiled.set(version, (tables = compile(version)));
    this.readers = tables.readers;
    this.writers = tables.writers;
    this.sizers = tables.sizers;
  }

  /** One command's bytes (after the size prefix) to a structure; null for OpenWire's NULL command. */
  decode(buffer: Buffer, start: number, end: number): DataStructure | null {
    const reader = new DataReader(buffer, start, end);
    const type = reader.byte();
    if (type === NULL_TYPE) return null;
    const structure = this.readBody(reader, type, 0);
    if (reader.remaining !== 0) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `${reader.remaining} bytes left over after a command of type ${type}`);
    return structure;
  }

  /** How many bytes `encode` makes of a command, its size prefix included. */
  size(structure: DataStructure): number {
    return 5 + this.bodySize(structure, 0);
  }

  /** A command with its 4-byte size prefix. */
  encode(structure: DataStructure, size = this.size(structure)): Buffer {
    const buffer = Buffer.allocUnsafe(size);
    this.encodeInto(structure, buffer);
    return buffer;
  }

  /**
   * Writes a command with its size prefix into `target`, which is exactly `size(structure)` long
   * (room a transport reserved, so a dispatch is not built apart and then copied).
   */
  encodeInto(structure: DataStructure, target: Buffer): void {
    const writer = new DataWriter(target);
    writer.int(target.length - 4);
    writer.byte(structure.type);
    this.writeBody(writer, structure, 0);
    if (writer.offset !== target.length || writer.grew) throw new Error(`OpenWire structure of type ${structure.type} sized ${target.length} bytes, written ${writer.offset}`);
  }

  private readBody(reader: DataReader, type: number, depth: number): DataStructure {
    const read = this.readers.get(type);
    if (read === undefined) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `unknown data structure type ${type}`);
    if (depth > MAX_DEPTH) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `structures nested deeper than ${MAX_DEPTH}`);
    return read(reader, this, depth);
  }

  /** @internal for the compiled readers; `field` names the types the field may hold. */
  readNested(reader: DataReader, depth: number, field?: NestedField): DataStructure | null {
    if (!reader.bool()) return null;
    const type = reader.byte();
    if (field !== undefined && !field.types.has(type)) {
      throw new FerryError('FERRY_OPENWIRE_MALFORMED', `a structure of type ${type} as ${field.name}, which holds type ${[...field.types].join(' or ')}`);
    }
    return this.readBody(reader, type, depth + 1);
  }

  /** @internal Class name and message only: with stack traces off, that is all loose encoding carries. */
  readThrowable(reader: DataReader): WireThrowable | null {
    if (!reader.bool()) return null;
    const className = reader.bool() ? reader.utf() : null;
    const message = reader.bool() ? reader.utf() : null;
    return { className, message };
  }

  /** @internal */
  readArray(reader: DataReader, depth: number): (DataStructure | null)[] | null {
    if (!reader.bool()) return null;
    const size = reader.short();
    if (size < 0) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `array of ${size} elements`);
    const items: (DataStructure | null)[] = [];
    for (let i = 0; i < size; i++) items.push(this.readNested(reader, depth));
    return items;
  }

  /** @internal */
  readMagic(reader: DataReader): Buffer {
    const magic = reader.bytes(MAGIC.length);
    if (!magic.equals(MAGIC)) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'WireFormatInfo without the ActiveMQ magic');
    return magic;
  }

  private writeBody(writer: DataWriter, structure: DataStructure, depth: number): void {
    const write = this.writers.get(structure.type);
    if (write === undefined) throw new Error(`no schema for data structure type ${structure.type}`);
    if (depth > MAX_DEPTH) throw new Error('structure nested too deep to encode');
    write(writer, structure, this, depth);
  }

  private bodySize(structure: DataStructure, depth: number): number {
    const size = this.sizers.get(structure.type);
    if (size === undefined) throw new Error(`no schema for data structure type ${structure.type}`);
    if (depth > MAX_DEPTH) throw new Error('structure nested too deep to encode');
    return size(structure, this, depth);
  }

  /** @internal */
  nestedSize(value: DataStructure | null | undefined, depth: number): number {
    return value == null ? 1 : 2 + this.bodySize(value, depth + 1);
  }

  /** @internal */
  throwableSize(throwable: WireThrowable | null | undefined): number {
    if (throwable == null) return 1;
    let size = 1;
    for (const text of [throwable.className, throwable.message]) size += text === null ? 1 : 3 + utfLength(text);
    return size;
  }

  /** @internal */
  arraySize(items: (DataStructure | null)[] | null | undefined, depth: number): number {
    if (items == null) return 1;
    let size = 3;
    for (const item of items) size += this.nestedSize(item, depth);
    return size;
  }

  /** @internal */
  writeNested(writer: DataWriter, value: DataStructure | null | undefined, depth: number): void {
    writer.bool(value != null);
    if (value == null) return;
    writer.byte(value.type);
    this.writeBody(writer, value, depth + 1);
  }

  /** @internal */
  writeThrowable(writer: DataWriter, throwable: WireThrowable | null | undefined): void {
    writer.bool(throwable != null);
    if (throwable == null) return;
    for (const text of [throwable.className, throwable.message]) {
      writer.bool(text !== null);
      if (text !== null) writer.utf(text);
    }
  }

  /** @internal */
  writeArray(writer: DataWriter, items: (DataStructure | null)[] | null | undefined, depth: number): void {
    writer.bool(items != null);
    if (items == null) return;
    writer.short(items.length);
    for (const item of items) this.writeNested(writer, item, depth);
  }
}

/**
 * Splits the byte stream into commands by their 4-byte size prefix. A size over the limit is refused
 * from the prefix alone, before its bytes are buffered.
 */
export class CommandSplitter {
  /** The start of an unfinished command, in the chunks it came in, and how many bytes it needs in all. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private needed = 0;

  constructor(
    private readonly maxFrameSize: number,
    private readonly onCommand: (buffer: Buffer, start: number, end: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let buffer = chunk;
    if (this.heldBytes > 0) {
      // a large message arrives in many chunks: they are joined once, when the command is whole
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < this.needed) return;
      buffer = Buffer.concat(this.held, this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
    }
    let at = 0;
    this.needed = 4;
    while (buffer.length - at >= 4) {
      const size = buffer.readInt32BE(at);
      if (size < 1 || size > this.maxFrameSize) {
        throw new FerryError('FERRY_OPENWIRE_FRAME_TOO_LARGE', `a command of ${size} bytes${size > this.maxFrameSize ? `, over the limit of ${this.maxFrameSize} (openwire.maxFrameSize)` : ''}`);
      }
      if (buffer.length - at - 4 < size) {
        this.needed = 4 + size;
        break;
      }
      this.onCommand(buffer, at + 4, at + 4 + size);
      at += 4 + size;
    }
    if (at < buffer.length) {
      const rest = buffer.subarray(at);
      // a partial command keeps only its own bytes, not the whole chunk it arrived in
      this.held.push(rest.length * 2 < rest.buffer.byteLength ? Buffer.from(rest) : rest);
      this.heldBytes = rest.length;
    }
  }
}
