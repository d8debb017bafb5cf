type Column = Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | Uint32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

/**
 * A typed-array column grown to `capacity` rows with its values kept: what the journal's record
 * table and recovery's columns (core's references and messages by id) grow by.
 */
export function grown<T extends Column>(old: T, capacity: number): T {
  const next = new (old.constructor as new (length: number) => T)(capacity);
  next.set(old as never);
  return next;
}
