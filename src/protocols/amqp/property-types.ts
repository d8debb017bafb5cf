import type { PropertyValue, PropertyWireType } from '../../core/index.js';
import type { AmqpReader, AmqpWriter } from './codec.js';

/**
 * Application property values with their AMQP type: core's value says a string, a number or a
 * bigint, and the wire type kept beside it says which of AMQP's types it was, so that a .NET or Java
 * AMQP consumer reads a ubyte back as a ubyte, not as the int a plain number is written as. An int,
 * a long, a string, a boolean, binary and null need no wire type: the value alone says them.
 */

const LONG_MAX = 2n ** 63n - 1n;

/** The wire type a value of format `code` keeps, when its core value would be written back as another type. */
function wireTypeOf(code: number, value: PropertyValue): PropertyWireType | undefined {
  switch (code) {
    case 0x50:
      return 'ubyte';
    case 0x51:
      return 'byte';
    case 0x60:
      return 'ushort';
    case 0x61:
      return 'short';
    case 0x43:
    case 0x52:
    case 0x70:
      return 'uint';
    case 0x44:
    case 0x53:
    case 0x80:
      return 'ulong';
    case 0x72:
      return 'float';
    // a whole double would go back as an int
    case 0x82:
      return typeof value === 'number' && Number.isInteger(value) ? 'double' : undefined;
    case 0x73:
      return 'char';
    case 0x83:
      return 'timestamp';
    case 0x98:
      return 'uuid';
    case 0xa3:
    case 0xb3:
      return 'symbol';
    default:
      return undefined;
  }
}

/** Reads one property value with `convert`, and the wire type it keeps (see wireTypeOf). */
export function readTypedProperty(reader: AmqpReader, convert: (value: ReturnType<AmqpReader['read']>) => PropertyValue | undefined): { value: PropertyValue | undefined; type: PropertyWireType | undefined } {
  const code = reader.peekFormat();
  const value = convert(reader.read());
  return { value, type: value === undefined ? undefined : wireTypeOf(code, value) };
}

function isUnsigned(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

function isSigned(value: number, bits: number): boolean {
  return Number.isInteger(value) && value >= -(2 ** (bits - 1)) && value < 2 ** (bits - 1);
}

/** Writes a value in its wire type when it has one that holds it, otherwise as its value says. */
export function writeTypedProperty(w: AmqpWriter, value: PropertyValue, type: PropertyWireType | undefined): void {
  if (type !== undefined && writeAsType(w, value, type)) return;
  if (value === null) w.null();
  else if (typeof value === 'string') w.string(value);
  else if (typeof value === 'number') w.number(value);
  // a ulong past a long's range goes back as the ulong it came as, not wrapped to a negative long
  else if (typeof value === 'bigint') value > LONG_MAX ? w.ulong(value) : w.long(value);
  else if (typeof value === 'boolean') w.boolean(value);
  else w.binary(value);
}

/** False when the value is not one the type holds (a type kept from another protocol that does not fit). */
function writeAsType(w: AmqpWriter, value: PropertyValue, type: PropertyWireType): boolean {
  if (typeof value === 'number') {
    switch (type) {
      case 'ubyte':
        return isUnsigned(value, 0xff) && (w.ubyte(value), true);
      case 'ushort':
        return isUnsigned(value, 0xffff) && (w.ushort(value), true);
      case 'uint':
        return isUnsigned(value, 0xffff_ffff) && (w.uint(value), true);
      case 'byte':
        return isSigned(value, 8) && (w.byte(value), true);
      case 'short':
        return isSigned(value, 16) && (w.short(value), true);
      case 'float':
        return (w.float(value), true);
      case 'double':
        return (w.double(value), true);
      case 'timestamp':
        return Number.isSafeInteger(value) && (w.timestamp(value), true);
      default:
        return false;
    }
  }
  if (typeof value === 'bigint') return type === 'ulong' && value >= 0n && value < 2n ** 64n && (w.ulong(value), true);
  if (typeof value === 'string') {
    switch (type) {
      case 'symbol':
        return (w.symbol(value), true);
      case 'char':
        return [...value].length === 1 && (w.char(value), true);
      case 'uuid':
        return /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(value) && (w.uuid(value), true);
      default:
        return false;
    }
  }
  return false;
}
