import { FerryError } from '../../errors.js';
import { schemas, type DataStructure, type Field, type WireThrowable } from './commands.js';
import { DataReader, DataWriter } from './data-stream.js';

/** "ActiveMQ", the first bytes of every WireFormatInfo. */
export const MAGIC = Buffer.from('ActiveMQ', 'latin1');
const NULL_TYPE = 0;
/** Nesting deeper than this is an attack, not a command (a Throwable's causes, nested structures). */
const MAX_DEPTH = 32;

/**
 * OpenWire's loose encoding of one version: every structure is its type byte and then its fields in
 * order (see `commands.ts`). Tight encoding and the marshalling cache are negotiated off, so this is
 * all the wire ever carries after the WireFormatInfo exchange. Stack traces are negotiated off too:
 * a Throwable is its class name and message only, and is never turned into a class.
 */
export class LooseCodec {
  constructor(readonly version: number) {}

  /** One command's bytes (after the size prefix) to a structure; null for OpenWire's NULL command. */
  decode(buffer: Buffer, start: number, end: number): DataStructure | null {
    const reader = new DataReader(buffer, start, end);
    const type = reader.byte();
    if (type === NULL_TYPE) return null;
    const structure = this.readBody(reader, type, 0);
    if (reader.remaining !== 0) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `${reader.remaining} bytes left over after a command of type ${type}`);
    return structure;
  }

  /** A command with its 4-byte size prefix. */
  encode(structure: DataStructure): Buffer {
    const writer = new DataWriter();
    writer.int(0);
    writer.byte(structure.type);
    this.writeBody(writer, structure, 0);
    writer.patchInt(0, writer.offset - 4);
    return writer.finish();
  }

  private readBody(reader: DataReader, type: number, depth: number): DataStructure {
    const fields = schemas.get(type);
    if (fields === undefined) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `unknown data structure type ${type}`);
    if (depth > MAX_DEPTH) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `structures nested deeper than ${MAX_DEPTH}`);
    const structure: DataStructure = { type };
    for (const field of fields) {
      if (field.since > this.version) continue;
      structure[field.name] = this.readField(reader, field, depth);
    }
    return structure;
  }

  private readField(reader: DataReader, field: Field, depth: number): unknown {
    switch (field.kind) {
      case 'bool':
        return reader.bool();
      case 'byte':
        return reader.byte();
      case 'short':
        return reader.short();
      case 'int':
        return reader.int();
      case 'long':
        return reader.long();
      case 'string':
        return reader.bool() ? reader.utf() : null;
      case 'nested':
      case 'cached':
        return this.readNested(reader, depth);
      case 'throwable':
        return this.readThrowable(reader);
      case 'bytes':
        return reader.bool() ? reader.bytes(reader.int()) : null;
      case 'array': {
        if (!reader.bool()) return null;
        const size = reader.short();
        if (size < 0) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `array of ${size} elements`);
        const items: (DataStructure | null)[] = [];
        for (let i = 0; i < size; i++) items.push(this.readNested(reader, depth));
        return items;
      }
      case 'magic': {
        const magic = reader.bytes(MAGIC.length);
        if (!magic.equals(MAGIC)) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'WireFormatInfo without the ActiveMQ magic');
        return magic;
      }
    }
  }

  private readNested(reader: DataReader, depth: number): DataStructure | null {
    if (!reader.bool()) return null;
    return this.readBody(reader, reader.byte(), depth + 1);
  }

  /** Class name and message only: with stack traces off, that is all loose encoding carries. */
  private readThrowable(reader: DataReader): WireThrowable | null {
    if (!reader.bool()) return null;
    const className = reader.bool() ? reader.utf() : null;
    const message = reader.bool() ? reader.utf() : null;
    return { className, message };
  }

  private writeBody(writer: DataWriter, structure: DataStructure, depth: number): void {
    const fields = schemas.get(structure.type);
    if (fields === undefined) throw new Error(`no schema for data structure type ${structure.type}`);
    if (depth > MAX_DEPTH) throw new Error('structure nested too deep to encode');
    for (const field of fields) {
      if (field.since > this.version) continue;
      this.writeField(writer, field, structure[field.name], depth);
    }
  }

  private writeField(writer: DataWriter, field: Field, value: unknown, depth: number): void {
    switch (field.kind) {
      case 'bool':
        return writer.bool(value === true);
      case 'byte':
        return writer.byte((value as number | undefined) ?? 0);
      case 'short':
        return writer.short((value as number | undefined) ?? 0);
      case 'int':
        return writer.int((value as number | undefined) ?? 0);
      case 'long':
        return writer.long((value as number | undefined) ?? 0);
      case 'string':
        writer.bool(value != null);
        if (value != null) writer.utf(value as string);
        return;
      case 'nested':
      case 'cached':
        return this.writeNested(writer, value as DataStructure | null | undefined, depth);
      case 'throwable': {
        const throwable = value as WireThrowable | null | undefined;
        writer.bool(throwable != null);
        if (throwable == null) return;
        for (const text of [throwable.className, throwable.message]) {
          writer.bool(text !== null);
          if (text !== null) writer.utf(text);
        }
        return;
      }
      case 'bytes': {
        const bytes = value as Buffer | null | undefined;
        writer.bool(bytes != null);
        if (bytes == null) return;
        writer.int(bytes.length);
        writer.bytes(bytes);
        return;
      }
      case 'array': {
        const items = value as (DataStructure | null)[] | null | undefined;
        writer.bool(items != null);
        if (items == null) return;
        writer.short(items.length);
        for (const item of items) this.writeNested(writer, item, depth);
        return;
      }
      case 'magic':
        return writer.bytes(MAGIC);
    }
  }

  private writeNested(writer: DataWriter, value: DataStructure | null | undefined, depth: number): void {
    writer.bool(value != null);
    if (value == null) return;
    writer.byte(value.type);
    this.writeBody(writer, value, depth + 1);
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
