import fc from 'fast-check';

/**
 * A valid frame to start from, with where its length fields are, so that a mutation can change a
 * length the decoder trusts rather than only bytes it may ignore.
 */
export interface Seed {
  readonly name: string;
  readonly bytes: Buffer;
  readonly lengths?: readonly LengthField[];
}

/**
 * A length in a frame: `uint` of 1, 2 or 4 bytes big-endian, MQTT's `varint` (1 to 4 bytes of 7
 * bits), or `decimal` digits (STOMP's content-length). `outer` marks the length that frames the
 * whole frame: a huge value there must be refused from the header, before any body is read.
 */
export interface LengthField {
  readonly at: number;
  readonly kind: 'uint' | 'varint' | 'decimal';
  readonly width?: 1 | 2 | 4;
  readonly outer?: boolean;
}

export type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'length'; readonly field: number; readonly value: LengthValue }
  | { readonly op: 'repeat'; readonly at: number; readonly size: number; readonly times: number }
  | { readonly op: 'repeat-line'; readonly line: number; readonly times: number }
  | { readonly op: 'remove'; readonly at: number; readonly size: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array };

/** What a length becomes: one off either way, none, double, the largest the field holds, or any. */
export type LengthValue = 'zero' | 'minus-one' | 'plus-one' | 'double' | 'huge' | { readonly any: number };

/** One frame as a case sends it: a seed, changed by zero or more mutations. */
export interface FrameSpec {
  readonly seed: number;
  readonly mutations: readonly Mutation[];
}

/** Bytes a fuzz case sends: mutated seeds in order, or random bytes. */
export type Payload = { readonly kind: 'frames'; readonly frames: readonly FrameSpec[] } | { readonly kind: 'random'; readonly bytes: Uint8Array };

/**
 * A case: `before` replaces the handshake with its payload (the handshake's own frames are its
 * seeds), `after` sends the payload once the handshake has been answered.
 */
export interface FuzzCase {
  readonly phase: 'before' | 'after';
  readonly payload: Payload;
}

/** Bytes that decoders treat specially: ends of strings and frames, signs, escapes, continuation bits. */
const INTERESTING = [0x00, 0x01, 0x0a, 0x0d, 0x3a, 0x5c, 0x7f, 0x80, 0xfe, 0xff];

/** Positions are drawn large and taken modulo the frame's size, so one arbitrary serves every seed. */
const position = fc.nat({ max: 1 << 20 });

const lengthValue: fc.Arbitrary<LengthValue> = fc.oneof(
  fc.constantFrom<LengthValue>('zero', 'minus-one', 'plus-one', 'double', 'huge'),
  fc.nat({ max: 0x7fffffff }).map((any) => ({ any })),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat({ max: 255 })) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('length' as const), field: fc.nat({ max: 15 }), value: lengthValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('repeat' as const), at: position, size: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('repeat-line' as const), line: fc.nat({ max: 31 }), times: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), at: position, size: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
);

/**
 * Cases over `seeds` (the frames after the handshake) and `handshake` (its frames): mostly a few
 * valid frames of which at least one is mutated, sometimes bytes that are not frames at all.
 */
export function fuzzCases(handshakeSeeds: number, seeds: number, framesPerCase: number): fc.Arbitrary<FuzzCase> {
  const frameSpecs = (count: number, mutated: boolean): fc.Arbitrary<FrameSpec> =>
    fc.record({ seed: fc.nat({ max: count - 1 }), mutations: fc.array(mutation, { minLength: mutated ? 1 : 0, maxLength: 3 }) });
  const sequence = (count: number): fc.Arbitrary<Payload> =>
    fc
      .tuple(fc.array(frameSpecs(count, false), { maxLength: framesPerCase - 1 }), frameSpecs(count, true), fc.nat())
      .map(([valid, mutated, at]) => {
        const frames = [...valid];
        frames.splice(at % (frames.length + 1), 0, mutated);
        return { kind: 'frames' as const, frames };
      });
  const random: fc.Arbitrary<Payload> = fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => ({ kind: 'random' as const, bytes }));
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ phase: fc.constant('after' as const), payload: sequence(seeds) }) },
    { weight: 2, arbitrary: fc.record({ phase: fc.constant('before' as const), payload: handshakeSequence(handshakeSeeds) }) },
    { weight: 1, arbitrary: fc.record({ phase: fc.constantFrom('before' as const, 'after' as const), payload: random }) },
  );
}

/** The handshake's frames in their order, one of them mutated. */
function handshakeSequence(count: number): fc.Arbitrary<Payload> {
  return fc.tuple(fc.nat({ max: count - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([which, mutations]) => ({
    kind: 'frames' as const,
    frames: Array.from({ length: count }, (_, seed) => ({ seed, mutations: seed === which ? mutations : [] })),
  }));
}

/** The bytes of a payload, and whether one of its mutations made an outer length huge where the decoder must meet it. */
export function render(payload: Payload, seeds: readonly Seed[]): { bytes: Buffer; frames: number; hugeOuterLength: boolean } {
  if (payload.kind === 'random') return { bytes: Buffer.from(payload.bytes), frames: 1, hugeOuterLength: false };
  let huge = false;
  // a huge length counts only where the decoder surely reaches it: an earlier mutated frame may
  // announce a length of its own that the decoder is still waiting to fill
  let earlierIntact = true;
  const parts = payload.frames.map((spec) => {
    const seed = seeds[spec.seed % seeds.length]!;
    const { bytes, hugeOuterLength } = mutate(seed, spec.mutations);
    huge ||= hugeOuterLength && earlierIntact;
    earlierIntact &&= spec.mutations.length === 0;
    return bytes;
  });
  return { bytes: Buffer.concat(parts), frames: parts.length, hugeOuterLength: huge };
}

/**
 * Applies mutations in order. Length fields are found by the offsets the seed gives while the
 * bytes before them are unchanged in size; once a mutation moves bytes, later length mutations
 * act on what is there, which is still a mutation.
 */
export function mutate(seed: Seed, mutations: readonly Mutation[]): { bytes: Buffer; hugeOuterLength: boolean } {
  let bytes: Buffer = Buffer.from(seed.bytes);
  let hugeOuterLength = false;
  let moved = false;
  // the lowest offset a flip or a set changed: a change before a length may have changed what the
  // length is (WebSocket's 7-bit length picks the form of the extended length after it)
  let lowestChanged = Infinity;
  for (const m of mutations) {
    if (bytes.length === 0) break;
    // a later mutation may move or change the huge length (an insert before it): only a length left
    // as set is one the decoder must refuse from the header
    hugeOuterLength = false;
    switch (m.op) {
      case 'flip': {
        const at = m.at % bytes.length;
        lowestChanged = Math.min(lowestChanged, at);
        bytes[at] = bytes[at]! ^ (1 << m.bit);
        break;
      }
      case 'set':
        lowestChanged = Math.min(lowestChanged, m.at % bytes.length);
        bytes[m.at % bytes.length] = m.value;
        break;
      case 'truncate':
        bytes = bytes.subarray(0, m.at % bytes.length);
        moved = true;
        break;
      case 'length': {
        const fields = seed.lengths ?? [];
        const field = fields[m.field % Math.max(1, fields.length)];
        if (field === undefined || moved) {
          bytes[m.field % bytes.length] = 0xff;
          break;
        }
        const changed = setLength(bytes, field, m.value);
        if (changed.length !== bytes.length) moved = true;
        bytes = changed;
        if (field.outer === true && m.value === 'huge' && lowestChanged >= field.at) hugeOuterLength = true;
        // a length changed here may leave its frame unfinished, so that the decoder never reaches a
        // length after it: like a flip, it counts as a change at its offset
        lowestChanged = Math.min(lowestChanged, field.at);
        break;
      }
      case 'repeat': {
        const at = m.at % bytes.length;
        const slice = bytes.subarray(at, Math.min(bytes.length, at + m.size));
        bytes = Buffer.concat([bytes.subarray(0, at + slice.length), ...Array<Buffer>(m.times).fill(slice), bytes.subarray(at + slice.length)]);
        moved = true;
        break;
      }
      case 'repeat-line': {
        // STOMP's repeated headers (and any text protocol's): a whole line again, as a client that
        // merges header maps badly would send it
        const lines = lineStarts(bytes);
        if (lines.length < 2) break;
        const i = m.line % (lines.length - 1);
        const line = bytes.subarray(lines[i]!, lines[i + 1]!);
        bytes = Buffer.concat([bytes.subarray(0, lines[i + 1]!), ...Array<Buffer>(m.times).fill(line), bytes.subarray(lines[i + 1]!)]);
        moved = true;
        break;
      }
      case 'remove': {
        const at = m.at % bytes.length;
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.size)]);
        moved = true;
        break;
      }
      case 'insert': {
        const at = m.at % (bytes.length + 1);
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
        moved = true;
        break;
      }
    }
  }
  return { bytes, hugeOuterLength };
}

function lineStarts(bytes: Buffer): number[] {
  const starts = [0];
  for (let i = bytes.indexOf(0x0a); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0x0a, i + 1)) starts.push(i + 1);
  return starts;
}

function setLength(bytes: Buffer, field: LengthField, value: LengthValue): Buffer {
  switch (field.kind) {
    case 'uint': {
      const width = field.width ?? 4;
      if (field.at + width > bytes.length) return bytes;
      const max = width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
      const now = bytes.readUIntBE(field.at, width);
      bytes.writeUIntBE(Math.min(max, newLength(now, value, max)), field.at, width);
      return bytes;
    }
    case 'varint': {
      let now = 0;
      let end = field.at;
      for (let shift = 0; end < bytes.length && end < field.at + 4; shift += 7) {
        const b = bytes[end++]!;
        now += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) break;
      }
      // the largest MQTT length is 268,435,455; 'huge' also tries a fifth continuation byte, which no length may have
      const encoded = value === 'huge' ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]) : varint(Math.min(268_435_455, newLength(now, value, 268_435_455)));
      return Buffer.concat([bytes.subarray(0, field.at), encoded, bytes.subarray(end)]);
    }
    case 'decimal': {
      let end = field.at;
      while (end < bytes.length && bytes[end]! >= 0x30 && bytes[end]! <= 0x39) end++;
      const now = Number(bytes.toString('latin1', field.at, end) || '0');
      const text = value === 'huge' ? '99999999999999999999' : String(newLength(now, value, 0x7fffffff));
      return Buffer.concat([bytes.subarray(0, field.at), Buffer.from(text, 'latin1'), bytes.subarray(end)]);
    }
  }
}

function newLength(now: number, value: LengthValue, max: number): number {
  if (typeof value === 'object') return value.any % (max + 1);
  switch (value) {
    case 'zero':
      return 0;
    case 'minus-one':
      return Math.max(0, now - 1);
    case 'plus-one':
      return now + 1;
    case 'double':
      return now * 2;
    case 'huge':
      return max;
  }
}

export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A case in a line for a failure message: what it is, and its bytes to replay by hand. */
export function describeCase(c: FuzzCase, bytes: Buffer): string {
  const what =
    c.payload.kind === 'random'
      ? 'random bytes'
      : c.payload.frames.map((f) => `seed ${f.seed}${f.mutations.length > 0 ? ` ${JSON.stringify(f.mutations)}` : ''}`).join(', ');
  const hex = bytes.length > 600 ? `${bytes.subarray(0, 600).toString('hex')}...(${bytes.length} bytes)` : bytes.toString('hex');
  return `${c.phase} the handshake: ${what}; bytes ${hex}`;
}
