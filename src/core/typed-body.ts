/**
 * The map and stream bodies of JMS (MapMessage, StreamMessage) as typed values. Core keeps such a
 * body in the encoding of the protocol that sent it, so a consumer of that protocol gets its bytes
 * unchanged; a consumer of another protocol gets the same entries in its own encoding, read through
 * the readers each protocol adds here for its encoding.
 */

/** A value as JMS typed it: a map body's entries and a stream body's items keep their Java type. */
export type TypedValue =
  | { readonly t: 'null' }
  | { readonly t: 'boolean'; readonly v: boolean }
  | { readonly t: 'byte' | 'short' | 'int' | 'float' | 'double'; readonly v: number }
  | { readonly t: 'long'; readonly v: bigint }
  | { readonly t: 'char' | 'string'; readonly v: string }
  | { readonly t: 'bytes'; readonly v: Buffer }
  | { readonly t: 'map'; readonly v: Map<string, TypedValue> }
  | { readonly t: 'list'; readonly v: TypedValue[] };

/** Reads one protocol's encoding of map and stream bodies; undefined for a body not in it. */
export interface TypedBodyReader {
  mapEntries(body: Buffer): Map<string, TypedValue> | undefined;
  streamItems(body: Buffer): TypedValue[] | undefined;
}

const readers = new Set<TypedBodyReader>();

/** Adds a protocol's reader; a protocol module adds its own when it is loaded. */
export function addTypedBodyReader(reader: TypedBodyReader): void {
  readers.add(reader);
}

/** The entries of a map body in any protocol's encoding; undefined when no reader knows it. */
export function mapBodyEntries(body: Buffer): Map<string, TypedValue> | undefined {
  for (const reader of readers) {
    const entries = reader.mapEntries(body);
    if (entries !== undefined) return entries;
  }
  return undefined;
}

/** The items of a stream body in any protocol's encoding; undefined when no reader knows it. */
export function streamBodyItems(body: Buffer): TypedValue[] | undefined {
  for (const reader of readers) {
    const items = reader.streamItems(body);
    if (items !== undefined) return items;
  }
  return undefined;
}
