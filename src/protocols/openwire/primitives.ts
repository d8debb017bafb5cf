import { FerryError } from '../../errors.js';
import { isNumberWireType, type PropertyValue, type PropertyWireType, type TypedValue } from '../../core/index.js';
import { DataReader, DataWriter, fitsUtf, modifiedUtf8Length } from './data-stream.js';

/**
 * ActiveMQ's typed values (`MarshallingSupport`): message properties, the WireFormatInfo options, a
 * MapMessage's body and a StreamMessage's items. Each value is a type byte and the value.
 */
const P = { NULL: 0, BOOLEAN: 1, BYTE: 2, CHAR: 3, SHORT: 4, INTEGER: 5, LONG: 6, DOUBLE: 7, FLOAT: 8, STRING: 9, BYTE_ARRAY: 10, MAP: 11, LIST: 12, BIG_STRING: 13 } as const;

/** Maps and lists inside values (allowed in MapMessage bodies) nest at most this deep. */
const MAX_DEPTH = 16;

export function readTypedValue(reader: DataReader, depth = 0): TypedValue {
  const type = reader.byte();
  switch (type) {
    case P.NULL:
      return { t: 'null' };
    case P.BOOLEAN:
      return { t: 'boolean', v: reader.bool() };
    case P.BYTE:
      return { t: 'byte', v: reader.byte() };
    case P.CHAR:
      return { t: 'char', v: reader.char() };
    case P.SHORT:
      return { t: 'short', v: reader.short() };
    case P.INTEGER:
      return { t: 'int', v: reader.int() };
    case P.LONG:
      return { t: 'long', v: reader.bigLong() };
    case P.DOUBLE:
      return { t: 'double', v: reader.double() };
    case P.FLOAT:
      return { t: 'float', v: reader.float() };
    case P.STRING:
      return { t: 'string', v: reader.utf() };
    case P.BIG_STRING:
      return { t: 'string', v: reader.utfBytes(lengthOf(reader)) };
    case P.BYTE_ARRAY:
      return { t: 'bytes', v: Buffer.from(reader.bytes(lengthOf(reader))) };
    case P.MAP:
      if (depth >= MAX_DEPTH) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `maps nested deeper than ${MAX_DEPTH}`);
      return { t: 'map', v: readTypedMap(reader, depth + 1) ?? new Map() };
    case P.LIST: {
      if (depth >= MAX_DEPTH) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `lists nested deeper than ${MAX_DEPTH}`);
      const size = lengthOf(reader);
      const items: TypedValue[] = [];
      for (let i = 0; i < size; i++) items.push(readTypedValue(reader, depth + 1));
      return { t: 'list', v: items };
    }
    default:
      throw new FerryError('FERRY_OPENWIRE_MALFORMED', `unknown primitive type ${type}`);
  }
}

function lengthOf(reader: DataReader): number {
  const length = reader.int();
  if (length < 0 || length > reader.remaining) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `a length of ${length} with ${reader.remaining} bytes left`);
  return length;
}

/** A map: its size (-1 for none), then name and value pairs. */
export function readTypedMap(reader: DataReader, depth = 0): Map<string, TypedValue> | undefined {
  const size = reader.int();
  if (size < 0) return undefined;
  if (size > reader.remaining) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `a map of ${size} entries with ${reader.remaining} bytes left`);
  const map = new Map<string, TypedValue>();
  for (let i = 0; i < size; i++) {
    const name = reader.utf();
    map.set(name, readTypedValue(reader, depth));
  }
  return map;
}

export function writeTypedValue(writer: DataWriter, value: TypedValue): void {
  switch (value.t) {
    case 'null':
      return writer.byte(P.NULL);
    case 'boolean':
      writer.byte(P.BOOLEAN);
      return writer.bool(value.v);
    case 'byte':
      writer.byte(P.BYTE);
      return writer.byte(value.v);
    case 'char':
      writer.byte(P.CHAR);
      return writer.char(value.v);
    case 'short':
      writer.byte(P.SHORT);
      return writer.short(value.v);
    case 'int':
      writer.byte(P.INTEGER);
      return writer.int(value.v);
    case 'long':
      writer.byte(P.LONG);
      return writer.bigLong(value.v);
    case 'float':
      writer.byte(P.FLOAT);
      return writer.float(value.v);
    case 'double':
      writer.byte(P.DOUBLE);
      return writer.double(value.v);
    case 'string': {
      // as ActiveMQ writes them: short strings with a 16-bit length, long ones with a 32-bit one
      if (value.v.length < 8191) {
        writer.byte(P.STRING);
        return writer.utf(value.v);
      }
      writer.byte(P.BIG_STRING);
      const length = modifiedUtf8Length(value.v);
      writer.int(length);
      return writer.utfBytes(value.v, length);
    }
    case 'bytes':
      writer.byte(P.BYTE_ARRAY);
      writer.int(value.v.length);
      return writer.bytes(value.v);
    case 'map':
      writer.byte(P.MAP);
      return writeTypedMap(writer, value.v);
    case 'list':
      writer.byte(P.LIST);
      writer.int(value.v.length);
      for (const item of value.v) writeTypedValue(writer, item);
      return;
  }
}

export function writeTypedMap(writer: DataWriter, map: ReadonlyMap<string, TypedValue>): void {
  writer.int(map.size);
  for (const [name, value] of map) {
    writer.utf(name);
    writeTypedValue(writer, value);
  }
}

/**
 * A typed value as a core property: integers up to int as numbers, long as bigint, float and double
 * as numbers, char as a one-character string. A map or list (which ActiveMQ's client allows as a
 * property) is its own encoding, as bytes that core keeps with the wire type `map` or `list`
 * (`structuredBytes`), so that it reaches a JMS consumer as the map or list it was.
 */
export function toPropertyValue(value: TypedValue): PropertyValue {
  switch (value.t) {
    case 'null':
      return null;
    case 'map':
    case 'list':
      return structuredBytes(value);
    default:
      return value.v;
  }
}

/** A map as `writeTypedMap` writes it, a list as its size and items: the value after its type byte. */
function structuredBytes(value: TypedValue & { t: 'map' | 'list' }): Buffer {
  const writer = new DataWriter();
  if (value.t === 'map') writeTypedMap(writer, value.v);
  else {
    writer.int(value.v.length);
    for (const item of value.v) writeTypedValue(writer, item);
  }
  return writer.finish();
}

/** The map or list that `structuredBytes` made; undefined for bytes that are not one, which go out as bytes. */
function structuredValue(bytes: Buffer, type: 'map' | 'list'): TypedValue | undefined {
  try {
    const reader = new DataReader(bytes, 0, bytes.length);
    let value: TypedValue | undefined;
    if (type === 'map') {
      const map = readTypedMap(reader);
      value = map === undefined ? undefined : { t: 'map', v: map };
    } else {
      const size = lengthOf(reader);
      const items: TypedValue[] = [];
      for (let i = 0; i < size; i++) items.push(readTypedValue(reader, 1));
      value = { t: 'list', v: items };
    }
    return reader.remaining === 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The reverse: a property keeps the wire type it came with (`type`, kept by core when it differs from
 * the guess); otherwise a number is an int when it is a whole number an int holds, a double otherwise.
 */
export function fromPropertyValue(value: PropertyValue, type?: PropertyWireType): TypedValue {
  if (value === null) return { t: 'null' };
  if (Buffer.isBuffer(value)) {
    const structured = type === 'map' || type === 'list' ? structuredValue(value, type) : undefined;
    return structured ?? { t: 'bytes', v: value };
  }
  switch (typeof value) {
    case 'string':
      return type === 'char' && value.length === 1 ? { t: 'char', v: value } : { t: 'string', v: value };
    case 'boolean':
      return { t: 'boolean', v: value };
    case 'bigint':
      return { t: 'long', v: value };
    case 'number':
      if (type !== undefined && isNumberWireType(type)) return { t: type, v: value };
      if (type !== undefined) {
        const unsigned = jmsOfUnsigned(value, type);
        if (unsigned !== undefined) return unsigned;
      }
      if (Number.isInteger(value) && !Object.is(value, -0)) {
        // a whole number from another protocol (an AMQP uint or timestamp) reads as a JMS Long, as the AMQP JMS mapping has it
        if (value >= -0x8000_0000 && value <= 0x7fff_ffff) return { t: 'int', v: value };
        if (Number.isSafeInteger(value)) return { t: 'long', v: BigInt(value) };
      }
      return { t: 'double', v: value };
  }
}

/**
 * An AMQP unsigned number as the narrowest JMS type that holds it (a ubyte up to 127 a byte, past it
 * a short, and so on), as ActiveMQ's and Artemis's AMQP transports give it to JMS; a timestamp is
 * epoch milliseconds, a long.
 */
function jmsOfUnsigned(value: number, type: PropertyWireType): TypedValue | undefined {
  if (!Number.isInteger(value)) return undefined;
  switch (type) {
    case 'ubyte':
      return value <= 0x7f ? { t: 'byte', v: value } : { t: 'short', v: value };
    case 'ushort':
      return value <= 0x7fff ? { t: 'short', v: value } : { t: 'int', v: value };
    case 'uint':
      return value <= 0x7fff_ffff ? { t: 'int', v: value } : { t: 'long', v: BigInt(value) };
    case 'timestamp':
      return Number.isSafeInteger(value) ? { t: 'long', v: BigInt(value) } : undefined;
    default:
      return undefined;
  }
}

/**
 * Decodes marshalled properties into core properties, with the wire types core must keep because
 * `fromPropertyValue` would not guess them back (a byte, a short, a float, a whole double, a char,
 * a map, a list).
 */
export function readProperties(bytes: Buffer): { properties: Map<string, PropertyValue>; types: Map<string, PropertyWireType> | undefined } {
  const reader = new DataReader(bytes, 0, bytes.length);
  const map = readTypedMap(reader);
  const properties = new Map<string, PropertyValue>();
  let types: Map<string, PropertyWireType> | undefined;
  if (map === undefined) return { properties, types };
  for (const [name, value] of map) {
    const property = toPropertyValue(value);
    properties.set(name, property);
    if (value.t === 'map' || value.t === 'list') (types ??= new Map()).set(name, value.t);
    else if (value.t === 'byte' || value.t === 'short' || value.t === 'float' || value.t === 'double' || value.t === 'char') {
      if (fromPropertyValue(property).t !== value.t) (types ??= new Map()).set(name, value.t);
    }
  }
  return { properties, types };
}

export function writeProperties(properties: Iterable<readonly [string, PropertyValue]>, types?: ReadonlyMap<string, PropertyWireType>): Buffer {
  const writer = new DataWriter();
  const map = new Map<string, TypedValue>();
  for (const [name, value] of properties) {
    // a name over `writeUTF`'s 65,535 bytes, from another protocol, cannot be written: it is left out
    if (!fitsUtf(name)) continue;
    map.set(name, fromPropertyValue(value, types?.get(name)));
  }
  writeTypedMap(writer, map);
  return writer.finish();
}
