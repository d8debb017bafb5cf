import zlib from 'node:zlib';

/**
 * The journal's bytes on disk. All integers are little-endian.
 *
 * Segment file `NNNNNNNN.jnl`, starting with a 32-byte header:
 *
 *   0  magic "FRYJ"
 *   4  u16 format version
 *   6  u16 header size (32)
 *   8  u32 segment number (the same as the file name)
 *  12  u32 reserved, 0
 *  16  u64 highest record or transaction id used when the segment was created
 *  24  u32 reserved, 0
 *  28  u32 CRC32 of bytes 0..27
 *
 * then frames, back to back. Format versions 2 and 3 (3: every segment this build creates):
 *
 *   0  u32 frame magic "FRYR"
 *   4  u32 CRC32 of bytes 8..end (the length and the body)
 *   8  u32 body length
 *  12  body: u8 kind, then by kind
 *        Batch               u32 bytes of frames that follow in the same write
 *        Add, Update         u64 id, u32 type, data
 *        Delete              u64 id
 *        TxAdd, TxUpdate     u64 txId, u64 id, u32 type, data
 *        TxDelete            u64 txId, u64 id
 *        Prepare             u64 txId, data
 *        Commit, Rollback    u64 txId
 *        Padding             data (ignored: what repair wrote over a damaged record)
 *
 * Version 1 (still read) has no magic: u32 body length, u32 CRC32 of the body, body.
 *
 * Versions 2 and 3 frame alike; 3 says the records in its frames may have the layouts core writes
 * since (returns in a reference, a scheduled job's own id, map and list properties), which a build
 * that reads up to 2 would misread as damage: such a build refuses the segment as newer instead.
 * The version goes up whenever a record's layout changes in a way an older build cannot read
 * (test/unit/record-layout.test.ts trips when one does).
 *
 * Every write to a segment starts with a Batch frame. Recovery uses it to tell a torn tail (the
 * last write did not reach the disk whole: nothing valid follows) from damage in the middle (a
 * later write follows the bad frame, so the bad frame had been written and synced before). The
 * magic, with the CRC over the length, is what lets repair find the next whole record after a
 * damaged one (in version 1, the next write's Batch frame), so damage costs only what it hit.
 */
export const SEGMENT_MAGIC = 0x4a595246; // "FRYJ" read as a little-endian u32
export const FORMAT_VERSION = 3;
export const FRAME_MAGIC = 0x52595246; // "FRYR" read as a little-endian u32
export const SEGMENT_HEADER_SIZE = 32;
/** Frame prefix of versions 2 and later: magic, CRC, length. */
export const FRAME_PREFIX_SIZE = 12;
const V1_PREFIX_SIZE = 8;
/** The largest data a record may carry; a segment file must fit in one Buffer at recovery. */
export const MAX_RECORD_DATA = 512 * 1024 * 1024;

export const FrameKind = {
  Batch: 1,
  Add: 2,
  Update: 3,
  Delete: 4,
  TxAdd: 5,
  TxUpdate: 6,
  TxDelete: 7,
  Prepare: 8,
  Commit: 9,
  Rollback: 10,
  Padding: 11,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const kindNames: Record<number, string> = {
  1: 'batch',
  2: 'add',
  3: 'update',
  4: 'delete',
  5: 'tx-add',
  6: 'tx-update',
  7: 'tx-delete',
  8: 'prepare',
  9: 'commit',
  10: 'rollback',
  11: 'padding',
};

export function frameKindName(kind: number): string {
  return kindNames[kind] ?? `unknown(${kind})`;
}

/** Body bytes before the data, by kind; the data (if the kind has any) follows. */
const fixedBodySize: readonly number[] = [0, 5, 13, 13, 9, 21, 21, 17, 9, 9, 9, 1];
const kindHasData: readonly boolean[] = [false, false, true, true, false, true, true, false, true, false, false, true];

export const BATCH_FRAME_SIZE = FRAME_PREFIX_SIZE + 5;

export function frameSize(kind: FrameKind, dataLength: number): number {
  return FRAME_PREFIX_SIZE + fixedBodySize[kind]! + dataLength;
}

/** Where the data starts, counted from the start of the frame. */
export function dataOffset(kind: FrameKind): number {
  return FRAME_PREFIX_SIZE + fixedBodySize[kind]!;
}

const tableCrc = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return (data: Uint8Array): number => {
    let crc = -1;
    for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
    return (crc ^ -1) >>> 0;
  };
})();

/** zlib.crc32 arrived in Node 20.15; the table version keeps older 20.x releases working. */
export const crc32: (data: Uint8Array) => number = typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc;

const TWO_32 = 0x1_0000_0000;

export function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32LE(value % TWO_32, at);
  buf.writeUInt32LE(Math.floor(value / TWO_32), at + 4);
}

export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32;
}

export function segmentFileName(number: number): string {
  return `${String(number).padStart(8, '0')}.jnl`;
}

const segmentNamePattern = /^(\d{8,})\.jnl$/;

export function parseSegmentFileName(name: string): number | undefined {
  const match = segmentNamePattern.exec(name);
  return match === null ? undefined : Number(match[1]);
}

export function encodeSegmentHeader(number: number, maxId: number): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt16LE(SEGMENT_HEADER_SIZE, 6);
  buf.writeUInt32LE(number, 8);
  writeU64(buf, maxId, 16);
  buf.writeUInt32LE(crc32(buf.subarray(0, 28)), 28);
  return buf;
}

/**
 * `newer`: the header is whole (magic and checksum good) but its format version is past this
 * build's: a newer Ferry wrote it, and it is neither a torn write nor damage.
 */
export type SegmentHeader =
  | { readonly ok: true; readonly number: number; readonly maxId: number; readonly version: number }
  | { readonly ok: false; readonly reason: string; readonly newer?: number };

export function decodeSegmentHeader(buf: Buffer): SegmentHeader {
  if (buf.length < SEGMENT_HEADER_SIZE) return { ok: false, reason: `the file is shorter (${buf.length} bytes) than a segment header` };
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC) return { ok: false, reason: 'the file does not start with the journal magic bytes' };
  if (buf.readUInt32LE(28) !== crc32(buf.subarray(0, 28))) return { ok: false, reason: 'the segment header checksum does not match' };
  const version = buf.readUInt16LE(4);
  if (version > FORMAT_VERSION) return { ok: false, reason: `segment format version ${version} is newer than this build reads (up to ${FORMAT_VERSION})`, newer: version };
  if (version < 1) return { ok: false, reason: `segment format version ${version} is not supported (this build reads versions 1 to ${FORMAT_VERSION})` };
  return { ok: true, number: buf.readUInt32LE(8), maxId: readU64(buf, 16), version };
}

/**
 * A growing buffer that frames are encoded into, in append order; one arena is one write.
 */
export class FrameArena {
  buf: Buffer;
  length = 0;

  /** `spare`: a buffer of an earlier write, at least `initial` long, to fill again. */
  constructor(initial: number, spare?: Buffer) {
    this.buf = spare ?? Buffer.allocUnsafe(initial);
  }

  /** Makes room for `n` more bytes and returns where they start. */
  reserve(n: number): number {
    const at = this.length;
    const need = at + n;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, need));
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.length = need;
    return at;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Encodes a frame at the end of the arena and returns its start in the arena. Unused id fields
 * are passed as 0.
 */
export function encodeFrame(arena: FrameArena, kind: FrameKind, txId: number, id: number, type: number, data: Buffer | undefined): number {
  const dataLength = data === undefined ? 0 : data.length;
  const size = frameSize(kind, dataLength);
  const at = arena.reserve(size);
  const buf = arena.buf;
  let p = at + FRAME_PREFIX_SIZE;
  buf[p++] = kind;
  switch (kind) {
    case FrameKind.Add:
    case FrameKind.Update:
      writeU64(buf, id, p);
      buf.writeUInt32LE(type, p + 8);
      p += 12;
      break;
    case FrameKind.Delete:
      writeU64(buf, id, p);
      p += 8;
      break;
    case FrameKind.TxAdd:
    case FrameKind.TxUpdate:
      writeU64(buf, txId, p);
      writeU64(buf, id, p + 8);
      buf.writeUInt32LE(type, p + 16);
      p += 20;
      break;
    case FrameKind.TxDelete:
      writeU64(buf, txId, p);
      writeU64(buf, id, p + 8);
      p += 16;
      break;
    case FrameKind.Prepare:
    case FrameKind.Commit:
    case FrameKind.Rollback:
      writeU64(buf, txId, p);
      p += 8;
      break;
    case FrameKind.Batch:
      // the byte count is filled in by sealBatchFrame once the write is complete
      buf.writeUInt32LE(0, p);
      p += 4;
      break;
  }
  if (data !== undefined && dataLength > 0) data.copy(buf, p);
  sealFrame(buf, at, size);
  return at;
}

function sealFrame(buf: Buffer, at: number, size: number): void {
  buf.writeUInt32LE(FRAME_MAGIC, at);
  buf.writeUInt32LE(size - FRAME_PREFIX_SIZE, at + 8);
  buf.writeUInt32LE(crc32(buf.subarray(at + 8, at + size)), at + 4);
}

/** Writes the byte count of the frames after a Batch frame and seals it. */
export function sealBatchFrame(buf: Buffer, at: number, followingBytes: number): void {
  buf.writeUInt32LE(followingBytes, at + FRAME_PREFIX_SIZE + 1);
  sealFrame(buf, at, BATCH_FRAME_SIZE);
}

/** The smallest frame of a segment's format version: a Padding frame can fill no less. */
export function minFrameSize(version: number): number {
  return (version === 1 ? V1_PREFIX_SIZE : FRAME_PREFIX_SIZE) + fixedBodySize[FrameKind.Padding]!;
}

/** A Padding frame of exactly `size` bytes (at least `minFrameSize`), in the segment's format version. */
export function encodePadding(size: number, version: number): Buffer {
  const buf = Buffer.alloc(size);
  const prefix = version === 1 ? V1_PREFIX_SIZE : FRAME_PREFIX_SIZE;
  buf[prefix] = FrameKind.Padding;
  if (version === 1) {
    buf.writeUInt32LE(size - prefix, 0);
    buf.writeUInt32LE(crc32(buf.subarray(prefix)), 4);
  } else sealFrame(buf, 0, size);
  return buf;
}

export interface DecodedFrame {
  kind: FrameKind;
  txId: number;
  id: number;
  type: number;
  /** Start and end of the data in the buffer read. */
  dataStart: number;
  dataEnd: number;
  /** The Batch frame's count of following bytes. */
  batchBytes: number;
  /** Where the next frame starts. */
  end: number;
}

/**
 * Decodes the frame at `at` in a segment of format `version`, or returns why it is not a valid
 * frame: no magic, too short, a length that runs past the end, a checksum that does not match, an
 * unknown kind.
 */
export function decodeFrame(buf: Buffer, at: number, out: DecodedFrame, version = FORMAT_VERSION): string | undefined {
  let bodyLength: number;
  let bodyStart: number;
  if (version === 1) {
    if (at + V1_PREFIX_SIZE > buf.length) return `only ${buf.length - at} bytes left, fewer than a frame header`;
    bodyLength = buf.readUInt32LE(at);
    bodyStart = at + V1_PREFIX_SIZE;
  } else {
    if (at + FRAME_PREFIX_SIZE > buf.length) return `only ${buf.length - at} bytes left, fewer than a frame header`;
    if (buf.readUInt32LE(at) !== FRAME_MAGIC) return 'no frame magic';
    bodyLength = buf.readUInt32LE(at + 8);
    bodyStart = at + FRAME_PREFIX_SIZE;
  }
  if (bodyLength === 0) return 'a frame length of 0';
  const end = bodyStart + bodyLength;
  if (end > buf.length) return `a frame length of ${bodyLength} bytes that runs past the end of the file`;
  const crc = version === 1 ? crc32(buf.subarray(bodyStart, end)) : crc32(buf.subarray(at + 8, end));
  if (buf.readUInt32LE(at + 4) !== crc) return 'a checksum that does not match';
  const kind = buf[bodyStart]!;
  const fixed = fixedBodySize[kind];
  if (kind === 0 || fixed === undefined) return `an unknown frame kind ${kind}`;
  if (bodyLength < fixed || (!kindHasData[kind] && bodyLength !== fixed)) return `a ${frameKindName(kind)} frame of the wrong length ${bodyLength}`;
  readBody(buf, bodyStart, kind, out);
  out.dataStart = bodyStart + fixed;
  out.dataEnd = end;
  out.end = end;
  return undefined;
}

function readBody(buf: Buffer, bodyStart: number, kind: number, out: DecodedFrame): void {
  const p = bodyStart + 1;
  out.kind = kind as FrameKind;
  out.txId = 0;
  out.id = 0;
  out.type = 0;
  out.batchBytes = 0;
  switch (kind) {
    case FrameKind.Batch:
      out.batchBytes = buf.readUInt32LE(p);
      break;
    case FrameKind.Add:
    case FrameKind.Update:
    case FrameKind.Delete:
      out.id = readU64(buf, p);
      if (kind !== FrameKind.Delete) out.type = buf.readUInt32LE(p + 8);
      break;
    case FrameKind.TxAdd:
    case FrameKind.TxUpdate:
    case FrameKind.TxDelete:
      out.txId = readU64(buf, p);
      out.id = readU64(buf, p + 8);
      if (kind !== FrameKind.TxDelete) out.type = buf.readUInt32LE(p + 16);
      break;
    case FrameKind.Padding:
      break;
    default:
      out.txId = readU64(buf, p);
      break;
  }
}

/**
 * The record ids that the damaged frames in `from..to` name, as far as their unchecked headers can
 * be read (a flipped byte in a record's data leaves its id readable): what repair reports lost.
 */
export function damagedRecordIds(buf: Buffer, from: number, to: number, version: number): number[] {
  const ids: number[] = [];
  const out = emptyFrame();
  const prefix = version === 1 ? V1_PREFIX_SIZE : FRAME_PREFIX_SIZE;
  let at = from;
  while (at + prefix < to) {
    if (version !== 1 && buf.readUInt32LE(at) !== FRAME_MAGIC) break;
    const bodyLength = buf.readUInt32LE(version === 1 ? at : at + 8);
    const bodyStart = at + prefix;
    const kind = buf[bodyStart]!;
    const fixed = fixedBodySize[kind];
    if (kind === 0 || fixed === undefined || bodyLength < fixed || bodyStart + bodyLength > to) break;
    readBody(buf, bodyStart, kind, out);
    if (kind !== FrameKind.Batch && kind !== FrameKind.Padding && kind !== FrameKind.Prepare && kind !== FrameKind.Commit && kind !== FrameKind.Rollback) ids.push(out.id);
    at = bodyStart + bodyLength;
  }
  return ids;
}

export function emptyFrame(): DecodedFrame {
  return { kind: FrameKind.Batch, txId: 0, id: 0, type: 0, dataStart: 0, dataEnd: 0, batchBytes: 0, end: 0 };
}

/** Finds the next valid Batch frame at or after `from`: evidence that a later write followed. */
export function findBatchFrame(buf: Buffer, from: number, version = FORMAT_VERSION): number {
  const frame = emptyFrame();
  const prefix = version === 1 ? V1_PREFIX_SIZE : FRAME_PREFIX_SIZE;
  const size = prefix + fixedBodySize[FrameKind.Batch]!;
  const lengthAt = version === 1 ? 0 : 8;
  for (let at = from; at + size <= buf.length; at++) {
    if (buf.readUInt32LE(at + lengthAt) !== size - prefix || buf[at + prefix] !== FrameKind.Batch) continue;
    if (decodeFrame(buf, at, frame, version) === undefined) return at;
  }
  return -1;
}

/**
 * Finds the next whole frame at or after `from`, where replay can pick up after damage: in
 * version 2 any frame (found by its magic, checked by its CRC), in version 1 the next write's
 * Batch frame, the only place a frame is known to start.
 */
export function findNextFrame(buf: Buffer, from: number, version: number): number {
  if (version === 1) return findBatchFrame(buf, from, 1);
  const frame = emptyFrame();
  for (let at = buf.indexOf(MAGIC_BYTES, from); at >= 0; at = buf.indexOf(MAGIC_BYTES, at + 1)) {
    if (decodeFrame(buf, at, frame, version) === undefined) return at;
  }
  return -1;
}

const MAGIC_BYTES = Buffer.from([0x46, 0x52, 0x59, 0x52]);
