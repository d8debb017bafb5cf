import { addTypedBodyReader, type TypedValue } from '../../core/index.js';
import { AmqpReader, AmqpWriter, isSingleValue } from './codec.js';

/**
 * AMQP 1.0's encoding of JMS map and stream bodies (the AMQP JMS Mapping): a MapMessage is an
 * amqp-value map with string keys, a StreamMessage an amqp-value list or amqp-sequence sections.
 * Core keeps such a body as the AMQP client sent it; this reads its entries for other protocols
 * and writes theirs for AMQP consumers.
 */

export const MAP_CODES: ReadonlySet<number> = new Set([0xc1, 0xd1]);
export const LIST_CODES: ReadonlySet<number> = new Set([0x45, 0xc0, 0xd0]);
const SEQUENCE_DESCRIPTOR = 0x76;
/** Maps and lists inside a body nest at most this deep, as OpenWire's own limit. */
const MAX_DEPTH = 16;

/**
 * One value with the JMS type it maps to: unsigned types widen to the next signed one that holds
 * them, as ActiveMQ's AMQP transport maps them; undefined for what JMS cannot type (a ulong over
 * 2^63, a described value, a decimal, a map with other than string keys, nesting too deep).
 */
function readTyped(r: AmqpReader, depth: number): TypedValue | undefined {
  const code = r.peekFormat();
  if (code === 0xc1 || code === 0xd1 || code === 0xc0 || code === 0xd0 || code === 0x45) {
    if (depth >= MAX_DEPTH) return undefined;
    const isMap = code === 0xc1 || code === 0xd1;
    const count = r.compoundHead(isMap);
    if (isMap) {
      const entries = new Map<string, TypedValue>();
      for (let i = 0; i < count; i += 2) {
        const key = r.read();
        const value = readTyped(r, depth + 1);
        if (typeof key !== 'string' || value === undefined) return undefined;
        entries.set(key, value);
      }
      return { t: 'map', v: entries };
    }
    const items: TypedValue[] = [];
    for (let i = 0; i < count; i++) {
      const item = readTyped(r, depth + 1);
      if (item === undefined) return undefined;
      items.push(item);
    }
    return { t: 'list', v: items };
  }
  const value = r.read();
  switch (code) {
    case 0x40:
      return { t: 'null' };
    case 0x41:
    case 0x42:
    case 0x56:
      return { t: 'boolean', v: value as boolean };
    case 0x51:
      return { t: 'byte', v: value as number };
    case 0x50:
    case 0x61:
      return { t: 'short', v: value as number };
    case 0x60:
    case 0x54:
    case 0x71:
      return { t: 'int', v: value as number };
    case 0x43:
    case 0x52:
    case 0x70:
    case 0x83:
      return { t: 'long', v: BigInt(value as number) };
    case 0x44:
    case 0x53:
    case 0x55:
    case 0x80:
    case 0x81:
      return (value as bigint) > 0x7fff_ffff_ffff_ffffn ? undefined : { t: 'long', v: value as bigint };
    case 0x72:
      return { t: 'float', v: value as number };
    case 0x82:
      return { t: 'double', v: value as number };
    case 0x73:
      return { t: 'char', v: value as string };
    case 0xa1:
    case 0xb1:
    case 0x98:
      return { t: 'string', v: value as string };
    case 0xa3:
    case 0xb3:
      return { t: 'string', v: (value as { name: string }).name };
    case 0xa0:
    case 0xb0:
      return { t: 'bytes', v: Buffer.from(value as Buffer) };
    default:
      return undefined;
  }
}

/** The one value `body` holds, typed; undefined when JMS cannot type it. */
function readWhole(body: Buffer): TypedValue | undefined {
  try {
    return readTyped(new AmqpReader(body), 0);
  } catch {
    return undefined;
  }
}

/** The items of amqp-sequence sections, one after another. */
function sequenceItems(body: Buffer): TypedValue[] | undefined {
  if (body.length < 4 || body[0] !== 0x00) return undefined;
  try {
    const r = new AmqpReader(body);
    const items: TypedValue[] = [];
    while (r.remaining > 0) {
      if (r.u8() !== 0x00 || r.descriptor() !== SEQUENCE_DESCRIPTOR) return undefined;
      const list = readTyped(r, 0);
      if (list?.t !== 'list') return undefined;
      items.push(...list.v);
    }
    return items;
  } catch {
    return undefined;
  }
}

const amqpTypedBodies = {
  mapEntries(body: Buffer): Map<string, TypedValue> | undefined {
    if (!isSingleValue(body, (c) => MAP_CODES.has(c))) return undefined;
    const value = readWhole(body);
    return value?.t === 'map' ? value.v : undefined;
  },
  streamItems(body: Buffer): TypedValue[] | undefined {
    if (!isSingleValue(body, (c) => LIST_CODES.has(c))) return sequenceItems(body);
    const value = readWhole(body);
    return value?.t === 'list' ? value.v : undefined;
  },
};
addTypedBodyReader(amqpTypedBodies);

function writeTyped(w: AmqpWriter, value: TypedValue): void {
  switch (value.t) {
    case 'null':
      return w.null();
    case 'boolean':
      return w.boolean(value.v);
    case 'byte':
      return w.byte(value.v);
    case 'short':
      return w.short(value.v);
    case 'int':
      return w.int(value.v);
    case 'long':
      return w.long(value.v);
    case 'float':
      return w.float(value.v);
    case 'double':
      return w.double(value.v);
    case 'char':
      return w.char(value.v);
    case 'string':
      return w.string(value.v);
    case 'bytes':
      return w.binary(value.v);
    case 'map': {
      const entries = value.v;
      return w.compound(true, () => {
        for (const [key, item] of entries) {
          w.string(key);
          writeTyped(w, item);
        }
        return entries.size * 2;
      });
    }
    case 'list': {
      const items = value.v;
      return w.compound(false, () => {
        for (const item of items) writeTyped(w, item);
        return items.length;
      });
    }
  }
}

/** A map body's entries as an amqp-value map; a stream body's items as a list. */
export function encodeTypedBody(value: Extract<TypedValue, { t: 'map' | 'list' }>): Buffer {
  const w = new AmqpWriter(256);
  writeTyped(w, value);
  return Buffer.from(w.toBuffer());
}
